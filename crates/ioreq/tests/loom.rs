// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Model test (loom) of one slot's request/response protocol: every interleaving of an
//! emulator and a device model passing two requests through the same slot must deliver
//! each response exactly once, with the data the device model wrote.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ioreq --profile loom --test loom`
//! (scripts/test.sh does).
#![cfg(loom)]

use ioreq::{Direction, Request, Slot, SlotCell, State};
use loom::sync::Arc;
use loom::thread;

fn request(addr: u64) -> Request {
    Request {
        vp_eport: 1,
        ..Request::mmio(Direction::Read, addr, 4, 0)
    }
}

#[test]
fn two_round_trips_through_one_slot() {
    loom::model(|| {
        let cell = Arc::new(SlotCell::new());
        let device_cell = Arc::clone(&cell);
        let device_model = thread::spawn(move || {
            let slot = Slot::new(&device_cell, 0);
            let mut served = 0;
            while served < 2 {
                match slot.take().expect("well-formed request") {
                    Some(r) => {
                        slot.complete(r.addr * 10).expect("claimed by us");
                        served += 1;
                    }
                    None => thread::yield_now(),
                }
            }
        });
        let slot = Slot::new(&cell, 0);
        for addr in [1, 2] {
            slot.post(&request(addr)).expect("slot is free");
            loop {
                match slot.poll_response().expect("state never goes backwards") {
                    Some(data) => {
                        assert_eq!(data, addr * 10);
                        break;
                    }
                    None => thread::yield_now(),
                }
            }
        }
        device_model.join().expect("device model thread");
        assert_eq!(slot.state(), Ok(State::None));
    });
}
