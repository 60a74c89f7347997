// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `pt-virt` packet layer beside Debian's libipt 2.0.5, in the same run, on the same mixed
//! stream (about 16 K packets: short TNT-heavy, compressed TIPs, timing packets, a PSB+
//! every ~400 packets; only packets libipt 2.0.5 knows, so both write identical bytes):
//!
//! - `pt_encode`: our `Encoder` into a caller's buffer vs libipt's `pt_enc_next` loop
//!   (in C, over prepared `struct pt_packet`s).
//! - `pt_decode`: our `Decoder` iterator (strict mode, with last-IP reconstruction) vs
//!   libipt's `pt_pkt_next` loop (in C).
//!
//! After the criterion groups, interleaved runs print packets/s, bytes/s and the median
//! ratios ours/libipt.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use libipt_peer::Bench;
use pt_virt::packet::{
    Compression, Decoder, Encoder, IpKind, Packet, PayloadSize, SliceSink, Strictness,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The mixed stream as packets (IP compressions chosen by our encoder's shortest rule).
fn mixed_stream(n: usize) -> Vec<Packet> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut enc = Encoder::new(Vec::new());
    let mut out = Vec::with_capacity(n + 16);
    let mut ip = 0xffff_8000_0010_0000u64;
    let push = |enc: &mut Encoder<Vec<u8>>, p: Packet, out: &mut Vec<Packet>| {
        enc.encode(&p).expect("valid");
        out.push(p);
    };
    while out.len() < n {
        if out.len() % 400 == 0 {
            for p in [
                Packet::Psb,
                Packet::Tsc {
                    tsc: rng.next() >> 8,
                },
                Packet::Tma {
                    ctc: rng.next() as u16,
                    fc: (rng.next() & 0x1FF) as u16,
                },
                Packet::Cbr { ratio: 0x24 },
                Packet::ModeExec {
                    csl: true,
                    csd: false,
                    iflag: false,
                },
            ] {
                push(&mut enc, p, &mut out);
            }
            let fup = enc
                .encode_ip(IpKind::Fup, ip, Compression::Shortest)
                .expect("fup");
            out.push(Packet::Fup(fup));
            push(&mut enc, Packet::PsbEnd, &mut out);
            continue;
        }
        let r = rng.below(100);
        let p = match r {
            0..45 => {
                let count = 1 + rng.below(6) as u8;
                Packet::Tnt8 {
                    count,
                    bits: rng.next() as u8 & ((1 << count) - 1),
                }
            }
            45..50 => {
                let count = 1 + rng.below(47) as u8;
                Packet::Tnt64 {
                    count,
                    bits: rng.next() & ((1 << count) - 1),
                }
            }
            50..70 => {
                // Mostly near jumps, some far ones.
                ip = match rng.below(10) {
                    0..6 => (ip & !0xFFFF) | (rng.next() & 0xFFFF),
                    6..9 => (ip & !0xFFFF_FFFF) | (rng.next() & 0xFFFF_FFFF),
                    _ => 0xffff_8000_0000_0000 | (rng.next() & 0x7FFF_FFFF_FFFF),
                };
                let kind = match rng.below(20) {
                    0..15 => IpKind::Tip,
                    15..18 => IpKind::Fup,
                    18 => IpKind::TipPge,
                    _ => IpKind::TipPgd,
                };
                let payload = enc.encode_ip(kind, ip, Compression::Shortest).expect("ip");
                out.push(kind.packet(payload));
                continue;
            }
            70..78 => Packet::Mtc {
                ctc: rng.next() as u8,
            },
            78..88 => Packet::Cyc {
                value: rng.next() >> (40 + rng.below(24)),
            },
            88..91 => Packet::Tsc {
                tsc: rng.next() >> 8,
            },
            91..93 => Packet::ModeExec {
                csl: true,
                csd: false,
                iflag: false,
            },
            93..95 => Packet::Pip {
                cr3: (rng.next() & 0xF_FFFF_FFFF) << 12,
                nr: true,
            },
            95..96 => Packet::Ptw {
                payload: rng.next(),
                size: PayloadSize::Eight,
                ip: false,
            },
            96..97 => Packet::Vmcs {
                base: (rng.next() & 0xFF_FFFF_FFFF) << 12,
            },
            _ => Packet::Pad,
        };
        push(&mut enc, p, &mut out);
    }
    out
}

struct Setup {
    packets: Vec<Packet>,
    stream: Vec<u8>,
    out: Vec<u8>,
    libipt: Bench,
}

fn setup() -> Setup {
    let packets = mixed_stream(16_000);
    let mut stream = Vec::new();
    let mut enc = Encoder::new(&mut stream);
    for p in &packets {
        enc.encode(p).expect("valid");
    }
    let theirs = libipt_peer::encode(&packets).expect("libipt encodes the stream");
    assert_eq!(stream, theirs, "both encoders write the same bytes");
    let libipt = Bench::new(&packets, &stream).expect("libipt bench");
    let out = vec![0u8; stream.len()];
    Setup {
        packets,
        stream,
        out,
        libipt,
    }
}

fn ours_encode(packets: &[Packet], out: &mut [u8]) -> usize {
    let mut enc = Encoder::new(SliceSink::new(out));
    for p in black_box(packets) {
        enc.encode(p).expect("fits");
    }
    enc.sink().len()
}

fn ours_decode(stream: &[u8]) -> usize {
    let mut count = 0;
    for d in Decoder::new(black_box(stream), Strictness::Strict) {
        black_box(&d.expect("valid"));
        count += 1;
    }
    count
}

fn encode(c: &mut Criterion) {
    let mut s = setup();
    let mut group = c.benchmark_group("pt_encode");
    group.throughput(Throughput::Bytes(s.stream.len() as u64));
    group.bench_function("libipt pt_enc_next (baseline)", |b| {
        b.iter(|| assert_eq!(s.libipt.encode(), s.stream.len() as i64))
    });
    group.bench_function("Encoder::encode", |b| {
        b.iter(|| assert_eq!(ours_encode(&s.packets, &mut s.out), s.stream.len()))
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut s = setup();
    let mut group = c.benchmark_group("pt_decode");
    group.throughput(Throughput::Bytes(s.stream.len() as u64));
    group.bench_function("libipt pt_pkt_next (baseline)", |b| {
        b.iter(|| assert_eq!(s.libipt.decode(), s.packets.len() as i64))
    });
    group.bench_function("Decoder::next", |b| {
        b.iter(|| assert_eq!(ours_decode(&s.stream), s.packets.len()))
    });
    group.finish();
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`, first
/// field), so that time the scheduler gives to the machine's other processes is not
/// charged to the loop being timed; `None` where the file is missing.
fn on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Per-pass time of `reps` passes of `f`: on-CPU time where the kernel reports it,
/// wall-clock time otherwise.
fn time(reps: u32, mut f: impl FnMut()) -> Duration {
    let (start, cpu) = (Instant::now(), on_cpu_ns());
    for _ in 0..reps {
        f();
    }
    match (cpu, on_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)) / reps,
        _ => start.elapsed() / reps,
    }
}

/// Median, minimum and maximum of `values`.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// Interleaved runs: 15 rounds, each timing 2000 passes of all four loops back to back in
/// on-CPU time (the kernel advances that counter in scheduler ticks of a few
/// milliseconds, so each timed block runs for hundreds of milliseconds: with 200 passes
/// (about 30 ms) the ratios came out quantized to whole ticks, e.g. 8/7 = 1.14x); prints median throughputs and the median of the per-round ratios (a
/// round's ratio is taken between loops that ran milliseconds apart, which cancels most
/// of the load other processes put on a shared machine).
fn print_ratios() {
    const ROUNDS: usize = 15;
    const REPS: u32 = 2000;
    let mut s = setup();
    let (n, bytes) = (s.packets.len() as f64, s.stream.len() as f64);
    let rounds: Vec<[f64; 4]> = (0..ROUNDS)
        .map(|_| {
            [
                time(REPS, || assert!(s.libipt.encode() > 0)).as_secs_f64(),
                time(REPS, || assert!(ours_encode(&s.packets, &mut s.out) > 0)).as_secs_f64(),
                time(REPS, || assert!(s.libipt.decode() > 0)).as_secs_f64(),
                time(REPS, || assert!(ours_decode(&s.stream) > 0)).as_secs_f64(),
            ]
        })
        .collect();
    println!(
        "pt_packets: {} packets, {} bytes ({:.2} B/packet), {ROUNDS} interleaved rounds",
        s.packets.len(),
        s.stream.len(),
        bytes / n
    );
    let names = [
        "encode libipt pt_enc_next",
        "encode pt-virt Encoder",
        "decode libipt pt_pkt_next",
        "decode pt-virt Decoder",
    ];
    for (i, name) in names.iter().enumerate() {
        let (secs, _, _) = spread(rounds.iter().map(|r| r[i]).collect());
        println!(
            "{name:<28} {:>7.1} Mpackets/s {:>8.1} MiB/s (median)",
            n / secs / 1e6,
            bytes / secs / (1024.0 * 1024.0)
        );
    }
    for (what, base, ours) in [("encode", 0, 1), ("decode", 2, 3)] {
        let (median, min, max) = spread(rounds.iter().map(|r| r[base] / r[ours]).collect());
        println!(
            "{what} throughput ratio pt-virt/libipt: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
        );
    }
}

criterion_group!(benches, encode, decode);

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
