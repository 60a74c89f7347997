// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Model tests (loom) of the two shared-memory protocols:
//! - one slot's request/response protocol: every interleaving of an emulator and a device
//!   model passing two requests through the same slot must deliver each response exactly
//!   once, with the data the device model wrote;
//! - the buffered ring: every interleaving of a producer and a consumer must deliver each
//!   request exactly once, in order, with its data, when a two-entry (8-byte) request
//!   straddles the end of the ring, when the producer canonicalises the pointers while
//!   the consumer advances them, and when legacy pointers run across 2^32.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ioreq --profile loom --test loom`
//! (scripts/test.sh does).
#![cfg(loom)]

use ioreq::{
    BufRequest, BufferedPage, BufferedRing, Canonicalise, Direction, Request, RequestType, Slot,
    SlotCell, State,
};
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

fn buffered(size_log2: u8, data: u64) -> BufRequest {
    BufRequest {
        kind: RequestType::Mmio,
        dir: Direction::Write,
        size_log2,
        addr: 0xa_0000,
        data,
    }
}

/// On an empty ring at pointers `(start, start)`, a producer pushes `sent` while a
/// consumer pops until it has them all: it must get every request once, in order, and
/// leave the ring empty.
fn producer_and_consumer(start: u32, sent: [BufRequest; 2], mode: Canonicalise) {
    // Built on a thread with a stack that holds the page (1023 loom atomics, far larger
    // than the 4 KiB page they model). Not on the consumer's thread: loom never lets a
    // thread that yielded read a value older than one it saw before yielding, and a
    // thread sees the values it creates, so stale reads of the entries would go
    // unexplored.
    let page = thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || Arc::new(BufferedPage::with_pointers(start, start)))
        .expect("thread to build the page")
        .join()
        .expect("page");
    let ring = BufferedRing::new(&page);
    let producer_page = Arc::clone(&page);
    let producer = thread::spawn(move || {
        let ring = BufferedRing::new(&producer_page);
        for r in &sent {
            ring.push(r, mode).expect("room for two requests");
        }
    });
    let mut received = Vec::new();
    while received.len() < sent.len() {
        match ring.pop().expect("pointers and entries stay consistent") {
            Some(r) => received.push(r),
            None => thread::yield_now(),
        }
    }
    producer.join().expect("producer thread");
    assert_eq!(ring.pop(), Ok(None));
    assert_eq!(received, sent);
    let (read, write) = ring.pointers().expect("consistent");
    assert_eq!(read, write);
}

/// An 8-byte request in slots 510 and 0, then a 1-byte one; with canonicalisation the
/// producer's second push subtracts 511 from both pointers exactly when the consumer has
/// already moved `read_pointer` past 511, racing with the consumer's own update.
#[test]
fn buffered_ring_wraps_and_canonicalises() {
    loom::model(|| {
        producer_and_consumer(
            510,
            [buffered(3, 0xdead_beef_0123_4567), buffered(0, 0x5a)],
            Canonicalise::Yes,
        );
    });
}

/// Legacy pointers (no canonicalisation) running across 2^32: an 8-byte request at
/// pointers 2^32 - 1 and 0 (slots 31 and 0, since 2^32 = 32 mod 511), then a 2-byte one
/// at pointer 1.
#[test]
fn buffered_ring_legacy_pointers_cross_2_pow_32() {
    loom::model(|| {
        producer_and_consumer(
            u32::MAX,
            [buffered(3, 0x0011_2233_4455_6677), buffered(1, 0xbeef)],
            Canonicalise::No,
        );
    });
}
