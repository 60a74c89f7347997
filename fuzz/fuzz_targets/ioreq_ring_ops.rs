// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary push/pop sequences on the buffered ring against a FIFO model: whatever the
//! starting pointers and canonicalisation mode, accepted requests come out in order and
//! intact, and a full ring refuses exactly when the model says it is full.
#![no_main]

use arbitrary::Arbitrary;
use ioreq::{BufRequest, BufferedPage, BufferedRing, Canonicalise, Error};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;

#[derive(Debug, Arbitrary)]
enum Op {
    Push(BufRequest, bool),
    Pop,
}

#[derive(Debug, Arbitrary)]
struct Input {
    start: u32,
    ops: Vec<Op>,
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

fuzz_target!(|input: Input| {
    // Both pointers start at the same arbitrary value: an empty ring anywhere in its run.
    let mut bytes = Page([0; 4096]);
    bytes.0[..4].copy_from_slice(&input.start.to_le_bytes());
    bytes.0[4..8].copy_from_slice(&input.start.to_le_bytes());
    let pages = BufferedPage::from_bytes(&mut bytes.0, 1).expect("aligned page");
    let ring = BufferedRing::new(&pages[0]);
    let mut model: VecDeque<BufRequest> = VecDeque::new();
    let mut used = 0u32;
    for op in input.ops {
        match op {
            Op::Push(mut request, canonicalise) => {
                if request.size_log2 < 3 {
                    request.data &= 0xffff_ffff;
                }
                let mode = if canonicalise {
                    Canonicalise::Yes
                } else {
                    Canonicalise::No
                };
                let entries = if request.is_qword() { 2 } else { 1 };
                match ring.push(&request, mode) {
                    Ok(()) => {
                        used += entries;
                        model.push_back(request);
                    }
                    Err(Error::RingFull) => {
                        // Full, or a legacy ring across 2^32 whose next slot is taken.
                        let (read, write) = ring.pointers().expect("consistent");
                        assert!(used + entries > 511 || write < read);
                    }
                    Err(Error::NotBufferable { .. }) => {
                        assert!(request.addr > ioreq::BUF_ADDR_MAX || request.size_log2 > 3)
                    }
                    Err(e) => panic!("push: {e}"),
                }
            }
            Op::Pop => {
                let got = ring.pop().expect("a ring only we wrote is consistent");
                let want = model.pop_front();
                if let Some(r) = &want {
                    used -= if r.is_qword() { 2 } else { 1 };
                }
                assert_eq!(got, want);
            }
        }
    }
});
