// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `ioreq` benchmarks, each beside its baseline in the same run:
//!
//! - `sync_round_trip`: one request/response through a slot between two threads, beside
//!   a bare atomic ping-pong (the least any shared-memory round trip can cost). After the
//!   criterion groups, an interleaved run prints the ratio.
//! - `buffered_ring`: push then pop of 256 requests, beside copying the same number of
//!   8-byte words through a plain array.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use ioreq::{
    BufRequest, BufferedPage, BufferedRing, Canonicalise, Direction, Request, RequestType, Slot,
    SlotCell,
};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

fn request(addr: u64) -> Request {
    Request::mmio(Direction::Read, addr, 4, 0)
}

/// A responder thread for one of the two round-trip kinds, stopped on drop.
struct Responder {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("responder thread");
        }
    }
}

/// Bare ping-pong: the requester stores an odd value, the responder answers with the next
/// even one.
fn ping_pong_pair() -> (Arc<AtomicU64>, Responder) {
    let flag = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (f, s) = (Arc::clone(&flag), Arc::clone(&stop));
    let handle = thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let v = f.load(Ordering::Acquire);
            if v % 2 == 1 {
                f.store(v + 1, Ordering::Release);
            } else {
                std::hint::spin_loop();
            }
        }
    });
    (
        flag,
        Responder {
            stop,
            handle: Some(handle),
        },
    )
}

fn ping_pong(flag: &AtomicU64, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let v = flag.load(Ordering::Relaxed) + 1;
        flag.store(v, Ordering::Release);
        while flag.load(Ordering::Acquire) != v + 1 {
            std::hint::spin_loop();
        }
    }
    start.elapsed()
}

fn slot_pair() -> (Arc<SlotCell>, Responder) {
    let cell = Arc::new(SlotCell::new());
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (Arc::clone(&cell), Arc::clone(&stop));
    let handle = thread::spawn(move || {
        let slot = Slot::new(&c, 0);
        while !s.load(Ordering::Relaxed) {
            match slot.take().expect("well-formed") {
                Some(r) => slot.complete(r.addr).expect("claimed"),
                None => std::hint::spin_loop(),
            }
        }
    });
    (
        cell,
        Responder {
            stop,
            handle: Some(handle),
        },
    )
}

fn slot_round_trips(cell: &SlotCell, iters: u64) -> Duration {
    let slot = Slot::new(cell, 0);
    let start = Instant::now();
    for i in 0..iters {
        slot.post(&request(i)).expect("free");
        loop {
            if let Some(data) = slot.poll_response().expect("sane") {
                black_box(data);
                break;
            }
            std::hint::spin_loop();
        }
    }
    start.elapsed()
}

fn sync_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_round_trip");
    group.throughput(Throughput::Elements(1));
    {
        let (flag, _responder) = ping_pong_pair();
        group.bench_function("atomic_ping_pong (baseline)", |b| {
            b.iter_custom(|n| ping_pong(&flag, n))
        });
    }
    {
        let (cell, _responder) = slot_pair();
        group.bench_function("Slot::post+poll_response", |b| {
            b.iter_custom(|n| slot_round_trips(&cell, n))
        });
    }
    group.finish();
}

fn buffered_ring(c: &mut Criterion) {
    const BATCH: u64 = 256;
    let mut group = c.benchmark_group("buffered_ring");
    group.throughput(Throughput::Elements(BATCH));
    let mut plain = [0u64; BATCH as usize];
    group.bench_function("array copy (baseline)", |b| {
        b.iter(|| {
            for (i, slot) in plain.iter_mut().enumerate() {
                *slot = black_box(i as u64);
            }
            black_box(plain.iter().fold(0u64, |a, v| a ^ v))
        })
    });
    let page = Box::<BufferedPage>::default();
    let ring = BufferedRing::new(&page);
    group.bench_function("BufferedRing::push+pop", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                let r = BufRequest {
                    kind: RequestType::Mmio,
                    dir: Direction::Write,
                    size_log2: 2,
                    addr: 0xa0000,
                    data: i,
                };
                ring.push(black_box(&r), Canonicalise::Yes).expect("room");
            }
            let mut sum = 0u64;
            while let Some(r) = ring.pop().expect("consistent") {
                sum ^= r.data;
            }
            black_box(sum)
        })
    });
    group.finish();
}

/// Interleaved runs of both round trips; prints the median ratio of the per-trip times.
fn print_round_trip_ratio() {
    const TRIPS: u64 = 200_000;
    let (flag, ping_responder) = ping_pong_pair();
    let (cell, slot_responder) = slot_pair();
    let mut ratios: Vec<f64> = (0..7)
        .map(|_| {
            let base = ping_pong(&flag, TRIPS);
            let ours = slot_round_trips(&cell, TRIPS);
            ours.as_secs_f64() / base.as_secs_f64()
        })
        .collect();
    drop((ping_responder, slot_responder));
    ratios.sort_by(f64::total_cmp);
    let base_ns = ping_pong_pair_ns(TRIPS);
    println!(
        "ioreq sync round trip / bare atomic ping-pong: median ratio {:.2} over 7 interleaved runs of {TRIPS} trips (min {:.2}, max {:.2}; ping-pong {base_ns:.0} ns/trip)",
        ratios[3], ratios[0], ratios[6]
    );
}

fn ping_pong_pair_ns(trips: u64) -> f64 {
    let (flag, _responder) = ping_pong_pair();
    ping_pong(&flag, trips).as_nanos() as f64 / trips as f64
}

criterion_group!(benches, sync_round_trip, buffered_ring);

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_round_trip_ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
