// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Real-thread stress tests: an emulator thread and a device-model thread exchange many
//! requests through several slots, and a producer and a consumer stream through the
//! buffered ring. Nothing may be lost, duplicated, reordered or corrupted.
//!
//! Counts: a million round trips in release builds; fewer in debug, to keep
//! `cargo test` quick.

use core::sync::atomic::{AtomicBool, Ordering};
use ioreq::{
    BufRequest, BufferedPage, BufferedRing, Canonicalise, Direction, IoreqPage, PageLayout,
    Request, RequestType, SyncPages,
};
use std::thread;

const ROUND_TRIPS: u64 = if cfg!(debug_assertions) {
    60_000
} else {
    1_000_000
};
const VCPUS: u32 = 160; // two pages

fn response_for(addr: u64) -> u64 {
    addr.rotate_left(17) ^ 0x5a5a_5a5a
}

#[test]
fn sync_round_trips_are_exact() {
    let layout = PageLayout::new(VCPUS).expect("valid");
    let pages: Vec<IoreqPage> = (0..layout.sync_pages())
        .map(|_| IoreqPage::default())
        .collect();
    let pages = SyncPages::contiguous(layout, &pages).expect("enough pages");
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let device_model = s.spawn(|| {
            let mut next_seq = vec![0u64; VCPUS as usize];
            let mut served = 0u64;
            while !done.load(Ordering::Acquire) || pages.ready().next().is_some() {
                for vcpu in pages.ready() {
                    let slot = pages.slot(vcpu).expect("in range");
                    let r = slot.take().expect("well formed").expect("was ready");
                    // addr = vcpu << 40 | sequence: each vCPU's requests arrive in order,
                    // once each.
                    assert_eq!(r.addr >> 40, u64::from(vcpu));
                    let seq = r.addr & ((1 << 40) - 1);
                    assert_eq!(
                        seq, next_seq[vcpu as usize],
                        "vCPU {vcpu}: lost or duplicated"
                    );
                    next_seq[vcpu as usize] += 1;
                    slot.complete(response_for(r.addr)).expect("claimed");
                    served += 1;
                }
                core::hint::spin_loop();
            }
            served
        });
        let mut seq = vec![0u64; VCPUS as usize];
        let mut in_flight = vec![false; VCPUS as usize];
        let mut posted = 0u64;
        let mut completed = 0u64;
        while completed < ROUND_TRIPS {
            for vcpu in 0..VCPUS {
                let slot = pages.slot(vcpu).expect("in range");
                let v = vcpu as usize;
                if in_flight[v] {
                    if let Some(data) = slot.poll_response().expect("sane state") {
                        let addr = u64::from(vcpu) << 40 | seq[v];
                        assert_eq!(data, response_for(addr), "vCPU {vcpu}: wrong response");
                        seq[v] += 1;
                        in_flight[v] = false;
                        completed += 1;
                    }
                } else if posted < ROUND_TRIPS {
                    let addr = u64::from(vcpu) << 40 | seq[v];
                    let request = Request {
                        vp_eport: vcpu,
                        ..Request::mmio(Direction::Read, addr, 8, 0)
                    };
                    slot.post(&request).expect("free slot");
                    in_flight[v] = true;
                    posted += 1;
                }
            }
        }
        done.store(true, Ordering::Release);
        assert_eq!(device_model.join().expect("device model"), ROUND_TRIPS);
    });
}

#[test]
fn buffered_ring_streams_in_order() {
    let page = Box::<BufferedPage>::default();
    let ring = BufferedRing::new(&page);
    let total = ROUND_TRIPS;
    thread::scope(|s| {
        s.spawn(|| {
            let mut next = 0u64;
            while next < total {
                let qword = next.is_multiple_of(3);
                let r = BufRequest {
                    kind: RequestType::Mmio,
                    dir: Direction::Write,
                    size_log2: if qword { 3 } else { 2 },
                    addr: (next % 0x10_0000) as u32,
                    data: if qword {
                        next << 32 | next
                    } else {
                        next & 0xffff_ffff
                    },
                };
                match ring.push(&r, Canonicalise::Yes) {
                    Ok(()) => next += 1,
                    Err(ioreq::Error::RingFull) => core::hint::spin_loop(),
                    Err(e) => panic!("producer: {e}"),
                }
            }
        });
        let mut expect = 0u64;
        while expect < total {
            match ring.pop().expect("consistent ring") {
                Some(r) => {
                    assert_eq!(u64::from(r.addr), expect % 0x10_0000);
                    let want = if r.is_qword() {
                        expect << 32 | expect
                    } else {
                        expect & 0xffff_ffff
                    };
                    assert_eq!(r.data, want, "entry {expect}");
                    expect += 1;
                }
                None => core::hint::spin_loop(),
            }
        }
    });
    assert_eq!(ring.pop(), Ok(None));
}
