// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `pt-virt` beside Debian's libipt 2.0.5, in the same run, on the same bytes, for two
//! streams:
//!
//! - **mixed** (about 16 K packets): a random mix, short-TNT-heavy, compressed TIPs,
//!   timing packets, a PSB+ every ~400 packets; only packets libipt 2.0.5 knows, so both
//!   encoders write identical bytes. Not a valid trace (TIPs while disabled etc.): used
//!   for the packet layer only.
//! - **realistic**: the fabricator driving an *assumed* branch mix (not measured from a
//!   published study): per control-flow event 82 % conditional branches (60 % taken),
//!   12 % near indirect branches and returns (RET compression off) within the same
//!   64 KiB, 2 % interrupts into the kernel and 2 % IRETs back (each with a MODE.Exec
//!   when the mode flips), 1 % CR3 writes, 1 % indirect branches far away; short TNTs,
//!   IPs compressed against the last IP, a PSB+ every 4 KiB (PSBFreq 1) with CBR. Timing
//!   packets are then inserted as with CYC and MTC enabled (assumed rates: a CYC before
//!   every TIP, FUP, TIP.PGE/PGD and every second TNT, 1 to 1000 cycles; an MTC every 100
//!   packets; TSC and TMA in every PSB+). A valid trace, so it also serves the event
//!   layer.
//!
//! Measured: `pt_encode` (our `Encoder` vs `pt_enc_next`), `pt_decode` (our `Decoder`
//! with last-IP reconstruction vs `pt_pkt_next`), both also for the compact packet
//! (`Encoder::encode_raw` of `RawPacket`s, `Decoder::next_raw`, which keeps the last IP
//! too), `pt_events` (our `EventDecoder`, iterated with `for_each` and with a `for`
//! loop, every record observed, vs libipt's query decoder driven by
//! `peers/libipt-flow`'s loop: events when pending, else a conditional branch, else an
//! indirect branch; counting, not storing), and
//! `pt_fabricate` (the fabricator over the realistic stream's events, one `event` call
//! each, or with each run of conditional branches handed over as bits through
//! `branches`, vs our encoder writing the same packets directly).
//!
//! After the criterion groups, interleaved runs print throughputs and, for each pair,
//! the median of the per-round ratios with their minimum and maximum.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use libipt_peer::Bench;
use pt_virt::fabricate::{self, Change, ExecMode, Fabricator, GuestState, InterruptKind};
use pt_virt::packet::{
    Compression, Decoder, Encoder, IpKind, Packet, PayloadSize, RawPacket, SliceSink, Strictness,
};
use pt_virt::query::{self, EventDecoder};
use std::hint::black_box;
use std::time::{Duration, Instant};

// Only `spread`: the rounds here are a fixed count, not read from the environment.
#[path = "support/rounds.rs"]
#[allow(dead_code)]
mod rounds;
use rounds::spread;

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

/// The realistic stream's events (see the module documentation for the mix).
fn realistic_events(n: usize) -> Vec<fabricate::Event> {
    use fabricate::Event as E;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let user = 0x0000_5555_0000_0000u64;
    let kernel = 0xffff_8000_0010_0000u64;
    let mut ip = user + 0x1000;
    let mut in_kernel = false;
    let mut events = vec![E::Enable { next: ip }];
    while events.len() < n {
        let r = rng.below(100);
        let near = |rng: &mut Rng, ip: u64| (ip & !0xFFFF) | (rng.next() & 0xFFF0);
        let e = match r {
            0..82 => E::Branch {
                taken: rng.below(100) < 60,
            },
            82..94 => {
                ip = near(&mut rng, ip);
                E::Indirect { target: ip }
            }
            94..96 if !in_kernel => {
                let from = ip;
                ip = kernel + (rng.next() & 0xFFF0);
                in_kernel = true;
                E::Interrupt {
                    kind: InterruptKind::Hardware,
                    from,
                    target: ip,
                    change: Change {
                        cpl: Some(0),
                        mode: Some(ExecMode::Bits64),
                        cr3: None,
                    },
                }
            }
            94..98 if in_kernel => {
                ip = user + (rng.next() & 0xFF_FFF0);
                in_kernel = false;
                E::FarBranch {
                    target: ip,
                    change: Change {
                        cpl: Some(3),
                        mode: Some(if rng.below(4) == 0 {
                            ExecMode::Bits32
                        } else {
                            ExecMode::Bits64
                        }),
                        cr3: None,
                    },
                }
            }
            98 => E::Cr3Write {
                cr3: (rng.next() & 0xF_FFFF) << 12,
                next: ip + 3,
            },
            _ => {
                ip = if in_kernel { kernel } else { user } + (rng.next() & 0xFFF_FFF0);
                E::Indirect { target: ip }
            }
        };
        events.push(e);
    }
    events
}

/// The realistic stream's fabricator configuration: both privilege levels, PSB+ every
/// 4 KiB with CBR, compressed IPs, short TNTs.
fn realistic_config() -> fabricate::Config {
    fabricate::Config {
        psb_freq: 1,
        cbr: Some(0x20),
        splice: false,
        ..fabricate::Config::default()
    }
}

const REALISTIC_START: GuestState = GuestState {
    cpl: 3,
    cr3: 0x1000,
    mode: ExecMode::Bits64,
};

/// The fabricator's packets for `events` (as decoded from its output).
fn fabricated(events: &[fabricate::Event]) -> (Vec<u8>, Vec<Packet>) {
    let mut fab = Fabricator::new(Vec::new(), realistic_config(), REALISTIC_START).expect("config");
    for e in events {
        fab.event(e).expect("event");
    }
    let bytes = fab.finish().expect("vec");
    let packets = Decoder::new(&bytes, Strictness::Strict)
        .map(|d| d.expect("fabricated").packet)
        .collect();
    (bytes, packets)
}

/// `packets` with timing packets inserted as with CYC and MTC enabled.
fn with_timing(packets: &[Packet]) -> Vec<Packet> {
    let mut rng = Rng(0x5851_F42D_4C95_7F2D);
    let mut out = Vec::with_capacity(packets.len() * 2);
    let (mut tsc, mut ctc, mut tnts) = (0x1_0000_0000u64, 0u16, 0u32);
    for p in packets {
        let cyc = match p {
            Packet::Tnt8 { .. } | Packet::Tnt64 { .. } => {
                tnts += 1;
                tnts % 2 == 0
            }
            Packet::Tip(_) | Packet::Fup(_) | Packet::TipPge(_) | Packet::TipPgd(_) => true,
            _ => false,
        };
        if cyc {
            out.push(Packet::Cyc {
                value: 1 + rng.below(1000),
            });
        }
        if out.len() % 100 == 0 {
            ctc = ctc.wrapping_add(1 << 8);
            out.push(Packet::Mtc {
                ctc: (ctc >> 8) as u8,
            });
        }
        out.push(*p);
        if *p == Packet::Psb {
            tsc += 10_000 + rng.below(1000);
            out.push(Packet::Tsc { tsc });
            out.push(Packet::Tma {
                ctc,
                fc: rng.below(0x200) as u16,
            });
        }
    }
    out
}

/// One stream, prepared for both libraries.
struct Stream {
    packets: Vec<Packet>,
    /// The same packets in compact form.
    raw: Vec<RawPacket>,
    bytes: Vec<u8>,
    out: Vec<u8>,
    libipt: Bench,
}

impl Stream {
    fn new(packets: Vec<Packet>) -> Self {
        let mut bytes = Vec::new();
        let mut enc = Encoder::new(&mut bytes);
        for p in &packets {
            enc.encode(p).expect("valid");
        }
        let theirs = libipt_peer::encode(&packets).expect("libipt encodes the stream");
        assert_eq!(bytes, theirs, "both encoders write the same bytes");
        let libipt = Bench::new(&packets, &bytes).expect("libipt bench");
        let out = vec![0u8; bytes.len()];
        let raw = packets
            .iter()
            .map(|p| RawPacket::new(p).expect("valid"))
            .collect();
        Self {
            packets,
            raw,
            bytes,
            out,
            libipt,
        }
    }
}

/// Both streams, and the realistic stream's events and fabricator output.
struct Setup {
    mixed: Stream,
    realistic: Stream,
    events: Vec<fabricate::Event>,
    /// `events` with each run of conditional branches as bits.
    fed: Vec<Fed>,
    /// The fabricator's packets for `events` (no timing packets) and their bytes.
    fab_packets: Vec<Packet>,
    fab_bytes: Vec<u8>,
    fab_out: Vec<u8>,
}

fn setup() -> Setup {
    let events = realistic_events(40_000);
    let (fab_bytes, fab_packets) = fabricated(&events);
    let realistic = Stream::new(with_timing(&fab_packets));
    // The realistic stream is a valid trace for both event decoders.
    let answers = libipt_flow_peer::query_count(&realistic.bytes).expect("libipt queries it");
    assert!(ours_events(&realistic.bytes) > 0 && answers > 0);
    // Branch runs as bits write the same bytes.
    let fed = branch_runs(&events);
    let mut out = vec![0u8; fab_bytes.len()];
    assert_eq!(ours_fabricate_runs(&fed, &mut out), fab_bytes.len());
    assert_eq!(out, fab_bytes);
    Setup {
        mixed: Stream::new(mixed_stream(16_000)),
        realistic,
        fab_out: vec![0u8; fab_bytes.len()],
        fed,
        events,
        fab_packets,
        fab_bytes,
    }
}

fn ours_encode(packets: &[Packet], out: &mut [u8]) -> usize {
    let mut enc = Encoder::new(SliceSink::new(out));
    for p in black_box(packets) {
        enc.encode(p).expect("fits");
    }
    // The last IP is part of the work (what the next `encode_ip` compresses against):
    // observed, so that the compiler cannot drop its updates.
    black_box(enc.last_ip());
    enc.sink().len()
}

fn ours_encode_raw(packets: &[RawPacket], out: &mut [u8]) -> usize {
    let mut enc = Encoder::new(SliceSink::new(out));
    for p in black_box(packets) {
        enc.encode_raw(p).expect("fits");
    }
    black_box(enc.last_ip());
    enc.sink().len()
}

fn ours_decode_raw(stream: &[u8]) -> usize {
    let mut dec = Decoder::new(black_box(stream), Strictness::Strict);
    let mut count = 0;
    while let Some(p) = dec.next_raw() {
        black_box(&p.expect("valid"));
        count += 1;
    }
    // The compact packet leaves the reconstructed IP in the decoder's state.
    black_box(dec.last_ip());
    count
}

fn ours_decode(stream: &[u8]) -> usize {
    let mut count = 0;
    for d in Decoder::new(black_box(stream), Strictness::Strict) {
        black_box(&d.expect("valid"));
        count += 1;
    }
    count
}

fn ours_events(stream: &[u8]) -> usize {
    let mut dec = EventDecoder::new(black_box(stream), query::Config::default());
    dec.sync_forward().expect("a PSB");
    let mut count = 0;
    dec.for_each(|r| {
        black_box(&r.expect("valid"));
        count += 1;
    });
    count
}

/// [`ours_events`] through `next` (a `for` loop) instead of `for_each`.
fn ours_events_next(stream: &[u8]) -> usize {
    let mut dec = EventDecoder::new(black_box(stream), query::Config::default());
    dec.sync_forward().expect("a PSB");
    let mut count = 0;
    for r in dec {
        black_box(&r.expect("valid"));
        count += 1;
    }
    count
}

/// What a tracer that keeps conditional branch results as bits feeds the fabricator.
enum Fed {
    /// Up to 64 conditional branches, newest in bit 0 (`Fabricator::branches`).
    Branches { taken: u64, count: u32 },
    /// Any other event (`Fabricator::event`).
    Event(fabricate::Event),
}

/// `events` with each run of conditional branches (up to 64) as one [`Fed::Branches`].
fn branch_runs(events: &[fabricate::Event]) -> Vec<Fed> {
    let mut fed = Vec::new();
    for e in events {
        match (*e, fed.last_mut()) {
            (fabricate::Event::Branch { taken: t }, Some(Fed::Branches { taken, count }))
                if *count < 64 =>
            {
                *taken = *taken << 1 | u64::from(t);
                *count += 1;
            }
            (fabricate::Event::Branch { taken }, _) => fed.push(Fed::Branches {
                taken: u64::from(taken),
                count: 1,
            }),
            (e, _) => fed.push(Fed::Event(e)),
        }
    }
    fed
}

fn ours_fabricate_runs(fed: &[Fed], out: &mut [u8]) -> usize {
    let mut fab =
        Fabricator::new(SliceSink::new(out), realistic_config(), REALISTIC_START).expect("config");
    for f in black_box(fed) {
        match f {
            Fed::Branches { taken, count } => fab.branches(*taken, *count).expect("fits"),
            Fed::Event(e) => fab.event(e).expect("fits"),
        }
    }
    fab.finish().expect("fits").len()
}

fn ours_fabricate(events: &[fabricate::Event], out: &mut [u8]) -> usize {
    let mut fab =
        Fabricator::new(SliceSink::new(out), realistic_config(), REALISTIC_START).expect("config");
    for e in black_box(events) {
        fab.event(e).expect("fits");
    }
    fab.finish().expect("fits").len()
}

fn packet_layer(c: &mut Criterion) {
    let mut s = setup();
    for (name, st) in [("mixed", &mut s.mixed), ("realistic", &mut s.realistic)] {
        let (len, count) = (st.bytes.len(), st.packets.len());
        let mut group = c.benchmark_group(format!("pt_encode/{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("libipt pt_enc_next (baseline)", |b| {
            b.iter(|| assert_eq!(st.libipt.encode(), len as i64))
        });
        group.bench_function("Encoder::encode", |b| {
            b.iter(|| assert_eq!(ours_encode(&st.packets, &mut st.out), len))
        });
        group.bench_function("Encoder::encode_raw (compact)", |b| {
            b.iter(|| assert_eq!(ours_encode_raw(&st.raw, &mut st.out), len))
        });
        group.finish();
        let mut group = c.benchmark_group(format!("pt_decode/{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("libipt pt_pkt_next (baseline)", |b| {
            b.iter(|| assert_eq!(st.libipt.decode(), count as i64))
        });
        group.bench_function("Decoder::next", |b| {
            b.iter(|| assert_eq!(ours_decode(&st.bytes), count))
        });
        group.bench_function("Decoder::next_raw (compact)", |b| {
            b.iter(|| assert_eq!(ours_decode_raw(&st.bytes), count))
        });
        group.finish();
    }
}

fn events_and_fabricator(c: &mut Criterion) {
    let mut s = setup();
    let mut group = c.benchmark_group("pt_events/realistic");
    group.throughput(Throughput::Bytes(s.realistic.bytes.len() as u64));
    group.bench_function("libipt pt_qry_* (baseline)", |b| {
        b.iter(|| libipt_flow_peer::query_count(&s.realistic.bytes).expect("valid"))
    });
    group.bench_function("EventDecoder::for_each", |b| {
        b.iter(|| ours_events(&s.realistic.bytes))
    });
    group.bench_function("EventDecoder::next", |b| {
        b.iter(|| ours_events_next(&s.realistic.bytes))
    });
    group.finish();
    let mut group = c.benchmark_group("pt_fabricate/realistic");
    group.throughput(Throughput::Elements(s.events.len() as u64));
    let len = s.fab_bytes.len();
    group.bench_function("Encoder::encode of the same packets (baseline)", |b| {
        b.iter(|| assert_eq!(ours_encode(&s.fab_packets, &mut s.fab_out), len))
    });
    group.bench_function("Fabricator::event", |b| {
        b.iter(|| assert_eq!(ours_fabricate(&s.events, &mut s.fab_out), len))
    });
    group.bench_function("Fabricator::branches for branch runs", |b| {
        b.iter(|| assert_eq!(ours_fabricate_runs(&s.fed, &mut s.fab_out), len))
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

/// Per-pass time of `reps` passes of `f`: on-CPU time where the kernel reports it and
/// `on_cpu`, wall-clock time otherwise.
fn time(reps: u32, on_cpu: bool, mut f: impl FnMut()) -> Duration {
    let (start, cpu) = (Instant::now(), on_cpu.then(on_cpu_ns).flatten());
    for _ in 0..reps {
        f();
    }
    match (cpu, on_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)) / reps,
        _ => start.elapsed() / reps,
    }
}

/// The loops of the interleaved rounds, baseline then ours for each pair.
const LOOPS: [&str; 18] = [
    "encode mixed: libipt pt_enc_next",
    "encode mixed: pt-virt Encoder",
    "decode mixed: libipt pt_pkt_next",
    "decode mixed: pt-virt Decoder",
    "encode realistic: libipt pt_enc_next",
    "encode realistic: pt-virt Encoder",
    "decode realistic: libipt pt_pkt_next",
    "decode realistic: pt-virt Decoder",
    "events realistic: libipt pt_qry_*",
    "events realistic: pt-virt for_each",
    "fabricate: Encoder on its packets",
    "fabricate: pt-virt Fabricator",
    "encode mixed: pt-virt encode_raw",
    "decode mixed: pt-virt next_raw",
    "encode realistic: pt-virt encode_raw",
    "decode realistic: pt-virt next_raw",
    "events realistic: pt-virt for loop",
    "fabricate: pt-virt, branch runs as bits",
];

/// One interleaved round: every loop of [`LOOPS`] for `reps[i]` passes, in order; the
/// per-pass times in seconds. Each loop body is its own closure (so the compiler inlines
/// ours into it, as in the criterion groups, instead of one function for all loops).
fn round(s: &mut Setup, reps: &[u32; 18], on_cpu: bool) -> [f64; 18] {
    macro_rules! timed {
        ($i:expr, $body:expr) => {
            time(reps[$i], on_cpu, || assert!($body > 0)).as_secs_f64()
        };
    }
    [
        timed!(0, s.mixed.libipt.encode()),
        timed!(1, ours_encode(&s.mixed.packets, &mut s.mixed.out)),
        timed!(2, s.mixed.libipt.decode()),
        timed!(3, ours_decode(&s.mixed.bytes)),
        timed!(4, s.realistic.libipt.encode()),
        timed!(5, ours_encode(&s.realistic.packets, &mut s.realistic.out)),
        timed!(6, s.realistic.libipt.decode()),
        timed!(7, ours_decode(&s.realistic.bytes)),
        timed!(
            8,
            libipt_flow_peer::query_count(&s.realistic.bytes).expect("valid")
        ),
        timed!(9, ours_events(&s.realistic.bytes)),
        timed!(10, ours_encode(&s.fab_packets, &mut s.fab_out)),
        timed!(11, ours_fabricate(&s.events, &mut s.fab_out)),
        timed!(12, ours_encode_raw(&s.mixed.raw, &mut s.mixed.out)),
        timed!(13, ours_decode_raw(&s.mixed.bytes)),
        timed!(14, ours_encode_raw(&s.realistic.raw, &mut s.realistic.out)),
        timed!(15, ours_decode_raw(&s.realistic.bytes)),
        timed!(16, ours_events_next(&s.realistic.bytes)),
        timed!(17, ours_fabricate_runs(&s.fed, &mut s.fab_out)),
    ]
}

/// Interleaved runs: 11 rounds; in each, every loop runs for about 200 ms, baseline and
/// ours back to back, timed in on-CPU time (the kernel advances that counter in
/// scheduler ticks of a few milliseconds, so much shorter blocks would quantize the
/// ratios). Prints median throughputs and, per pair, the median, minimum and maximum of
/// the per-round ratios (a round's ratio is taken between loops that ran milliseconds
/// apart, which cancels most of the load other processes put on a shared machine).
fn print_ratios() {
    const ROUNDS: usize = 11;
    let mut s = setup();
    // Passes per loop for about 200 ms each, from the median of 5 probes of 10 passes
    // in wall-clock time (the on-CPU counter is too coarse for one pass).
    let probe: Vec<[f64; 18]> = (0..5).map(|_| round(&mut s, &[10; 18], false)).collect();
    let reps: [u32; 18] = core::array::from_fn(|i| {
        let (one, _, _) = spread(probe.iter().map(|r| r[i]).collect());
        ((0.2 / one.max(1e-7)) as u32).clamp(10, 100_000)
    });
    let rounds: Vec<[f64; 18]> = (0..ROUNDS).map(|_| round(&mut s, &reps, true)).collect();
    let records = ours_events(&s.realistic.bytes);
    println!(
        "pt_packets: mixed {} packets / {} bytes; realistic {} packets / {} bytes \
         ({records} event records), fabricated from {} events ({} bytes without timing \
         packets); {ROUNDS} interleaved rounds",
        s.mixed.packets.len(),
        s.mixed.bytes.len(),
        s.realistic.packets.len(),
        s.realistic.bytes.len(),
        s.events.len(),
        s.fab_bytes.len(),
    );
    for (i, name) in LOOPS.iter().enumerate() {
        let (secs, _, _) = spread(rounds.iter().map(|r| r[i]).collect());
        let (items, unit, bytes) = match i {
            0..4 | 12..14 => (s.mixed.packets.len(), "Mpackets", s.mixed.bytes.len()),
            4..8 | 14..16 => (
                s.realistic.packets.len(),
                "Mpackets",
                s.realistic.bytes.len(),
            ),
            8..10 | 16 => (
                s.realistic.packets.len(),
                "Mpackets",
                s.realistic.bytes.len(),
            ),
            _ => (s.events.len(), "Mevents", s.fab_bytes.len()),
        };
        println!(
            "{name:<40} {:>7.1} {unit}/s {:>8.1} MiB/s (median)",
            items as f64 / secs / 1e6,
            bytes as f64 / secs / (1024.0 * 1024.0)
        );
    }
    for (k, what) in [
        "encode mixed",
        "decode mixed",
        "encode realistic",
        "decode realistic",
        "events realistic",
    ]
    .iter()
    .enumerate()
    {
        let (median, min, max) = spread(rounds.iter().map(|r| r[2 * k] / r[2 * k + 1]).collect());
        println!(
            "{what} throughput ratio pt-virt/libipt: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
        );
    }
    let (median, min, max) = spread(rounds.iter().map(|r| r[8] / r[16]).collect());
    println!(
        "events realistic (for loop) throughput ratio pt-virt/libipt: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
    );
    // The compact loops: against libipt, and against our enum loop on the same stream.
    for (k, what) in [
        "encode mixed",
        "decode mixed",
        "encode realistic",
        "decode realistic",
    ]
    .iter()
    .enumerate()
    {
        let (median, min, max) = spread(rounds.iter().map(|r| r[2 * k] / r[12 + k]).collect());
        println!(
            "{what} (compact) throughput ratio pt-virt/libipt: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
        );
        let (median, min, max) = spread(rounds.iter().map(|r| r[2 * k + 1] / r[12 + k]).collect());
        println!(
            "{what} (compact) throughput ratio compact/enum: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
        );
    }
    let (median, min, max) = spread(rounds.iter().map(|r| r[11] / r[10]).collect());
    println!(
        "fabricator time / direct encoding of the same packets: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
    );
    let (median, min, max) = spread(rounds.iter().map(|r| r[17] / r[10]).collect());
    println!(
        "fabricator time, branch runs as bits / direct encoding of the same packets: median {median:.2}x (min {min:.2}x, max {max:.2}x)"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = packet_layer, events_and_fabricator
}

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
