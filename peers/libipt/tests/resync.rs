// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Resynchronisation after decode errors, ours against Debian's libipt 2.0.5: both
//! decoders run as a trace reader does (synchronise forward, decode until an error,
//! synchronise forward from there, until no PSB is left) over truncated and corrupted
//! streams, including streams where a packet swallows the first bytes of a PSB, and must
//! agree on every synchronisation point, packet and error.

// Offsets and sizes of test streams are small; the host is 64-bit.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::{as_libipt_sees, code, comparable_packet, offset, ours};
use core::cell::RefCell;
use libipt_peer::{Event, decode_resync, from_flat, pte, to_flat};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use pt_virt::packet::{Decoder, Ip, IpCompression, Packet, Strictness};

/// One step of a decode with resynchronisation, in terms both sides share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Sync(u64),
    Packet(u64, u32, Packet),
    Error(i32, u64),
    NoSync,
}

/// libipt's steps.
fn theirs(bytes: &[u8], start: Option<usize>) -> Vec<Step> {
    decode_resync(bytes, start)
        .into_iter()
        .map(|e| match e {
            Event::Sync(at) => Step::Sync(at),
            Event::Packet(at, size, f) => {
                Step::Packet(at, size, from_flat(&f).expect("a packet we map"))
            }
            Event::Error(code, at) => Step::Error(code, at),
            Event::NoSync(_) => Step::NoSync,
        })
        .collect()
}

/// Our steps, and whether they stopped at a packet newer than libipt 2.0.5 (BBP, BEP,
/// CFE, EVD), which libipt reports as an unknown opcode. From there the two decoders'
/// positions differ by design (ours is past the packet), so the comparison ends there.
fn mine(bytes: &[u8], start: Option<usize>) -> (Vec<Step>, bool) {
    let mut dec = Decoder::new(bytes, Strictness::Strict);
    let mut steps = Vec::new();
    let mut sync = match start {
        Some(at) => {
            dec.set_offset(at);
            Ok(at)
        }
        None => dec.sync_forward(),
    };
    while let Ok(at) = sync {
        steps.push(Step::Sync(at as u64));
        loop {
            match dec.next() {
                None => {
                    steps.push(Step::Error(pte::EOS, bytes.len() as u64));
                    break;
                }
                Some(Err(e)) => {
                    steps.push(Step::Error(code(&e), offset(&e) as u64));
                    break;
                }
                Some(Ok(d)) if to_flat(&d.packet).is_none() => {
                    steps.push(Step::Error(pte::BAD_OPC, d.offset as u64));
                    return (steps, true);
                }
                Some(Ok(d)) => steps.push(Step::Packet(
                    d.offset as u64,
                    d.len as u32,
                    as_libipt_sees(d.packet, bytes, d.offset),
                )),
            }
        }
        sync = dec.sync_forward();
    }
    steps.push(Step::NoSync);
    (steps, false)
}

/// What one comparison saw.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Resynchronisations after an error (not counting the first sync).
    resyncs: usize,
    /// Of those, how many found a PSB that starts before the error's offset: the PSB
    /// whose first bytes the failing packet (or the ones before it) had swallowed.
    behind: usize,
    /// Compared only up to a packet newer than libipt 2.0.5.
    stopped: bool,
}

/// Runs both decoders over `bytes` and asserts they agree step for step.
fn check(bytes: &[u8], start: Option<usize>) -> Seen {
    let libipt = theirs(bytes, start);
    let (ours, stopped) = mine(bytes, start);
    let compared = if stopped {
        &libipt[..ours.len().min(libipt.len())]
    } else {
        &libipt[..]
    };
    assert_eq!(ours, compared, "{bytes:02x?} from {start:?}");
    let mut seen = Seen {
        stopped,
        ..Seen::default()
    };
    for pair in ours.windows(2) {
        if let [Step::Error(_, err), Step::Sync(at)] = *pair {
            seen.resyncs += 1;
            seen.behind += usize::from(at < err);
        }
    }
    seen
}

/// `PSB PSBEND <head> PSB PSBEND TNT`, where `head` is the start of a packet whose
/// payload takes the first bytes of the second PSB.
fn swallowed(head: &[u8]) -> Vec<u8> {
    let psb = ours(&[Packet::Psb]);
    let mut bytes = ours(&[Packet::Psb, Packet::PsbEnd]);
    bytes.extend_from_slice(head);
    bytes.extend_from_slice(&psb);
    bytes.extend(ours(&[Packet::PsbEnd, Packet::Tnt8 { count: 3, bits: 5 }]));
    bytes
}

/// Packet headers (with a little payload) that run into a following PSB.
const HEADS: &[&[u8]] = &[
    &[0xCD],                                     // TIP, 8-byte IP: swallows 8
    &[0xCD, 0x11, 0x22, 0x33],                   // TIP, 8-byte IP: swallows 5
    &[0x19],                                     // TSC: swallows 7
    &[0x19, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], // TSC: swallows 1
    &[0x02, 0x43],                               // PIP: swallows 6
    &[0x02, 0xC3, 0x88],                         // MNT: swallows 8
    &[0x02, 0xB2, 0x11],                         // PTW, 8-byte payload: swallows 7
    &[0x02, 0xC2, 0x11],                         // MWAIT: swallows 7
    &[0x02, 0xA3],                               // TNT-64: swallows 6
    &[0x59],                                     // MTC: swallows 1
    &[0x99],                                     // MODE: swallows 1 (a bad leaf)
    &[0x02], // the escape: `02 02` is an unknown extended opcode
];

#[test]
fn swallowed_psb_hand_picked() {
    let mut behind = 0;
    for head in HEADS {
        let bytes = swallowed(head);
        let seen = check(&bytes, None);
        assert!(!seen.stopped);
        behind += seen.behind;
        // Cut the stream anywhere too: every truncation of it agrees.
        for len in 0..bytes.len() {
            check(&bytes[..len], None);
        }
    }
    assert!(behind >= HEADS.len() / 2, "{behind} resyncs went back");
}

#[test]
fn set_offset_then_sync_forward() {
    let bytes = swallowed(&[0xCD]);
    for at in 0..=bytes.len() {
        check(&bytes, Some(at));
    }
}

/// A packet that may sit inside a PSB+.
fn status_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        any::<u64>().prop_map(|t| Packet::Tsc { tsc: t >> 8 }),
        any::<u8>().prop_map(|ratio| Packet::Cbr { ratio }),
        (any::<u64>(), any::<bool>()).prop_map(|(c, nr)| Packet::Pip {
            cr3: c & 0x000F_FFFF_FFFF_FFE0,
            nr
        }),
        any::<u64>().prop_map(|b| Packet::Vmcs {
            base: b & 0x000F_FFFF_FFFF_F000
        }),
        Just(Packet::ModeExec {
            csl: true,
            csd: false,
            iflag: false
        }),
        any::<u64>().prop_map(|ip| Packet::Fup(Ip {
            ipc: IpCompression::Full,
            payload: ip
        })),
    ]
}

/// Trace segments: `PSB, status packets, PSBEND`, then any packets.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let segment = (
        prop::collection::vec(status_packet(), 0..4),
        prop::collection::vec(comparable_packet(), 0..16),
    )
        .prop_map(|(status, body)| {
            let mut packets = vec![Packet::Psb];
            packets.extend(status);
            packets.push(Packet::PsbEnd);
            packets.extend(body);
            ours(&packets)
        });
    prop::collection::vec(segment, 2..6).prop_map(|s| s.concat())
}

/// A damage done to a stream; positions are fractions of its current length (in
/// 1/65536), so they apply to any length.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut the stream here.
    Truncate(u16),
    /// Remove `n` bytes here.
    Delete(u16, usize),
    /// Overwrite one byte.
    Overwrite(u16, u8),
    /// Insert bytes.
    Insert(u16, Vec<u8>),
    /// Insert `HEADS[head]` before one of the stream's PSBs after the first (chosen by
    /// a fraction of their number; the first PSB is where decoding starts, so a head
    /// before it is never read).
    Swallow(u16, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        1 => any::<u16>().prop_map(Damage::Truncate),
        2 => (any::<u16>(), 1usize..24).prop_map(|(at, n)| Damage::Delete(at, n)),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(at, b)| Damage::Overwrite(at, b)),
        2 => (any::<u16>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, b)| Damage::Insert(at, b)),
        5 => (any::<u16>(), 0..HEADS.len()).prop_map(|(at, h)| Damage::Swallow(at, h)),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    let at = |f: u16, len: usize| len * usize::from(f) / 65536;
    let len = bytes.len();
    match d {
        Damage::Truncate(f) => bytes.truncate(at(*f, len)),
        Damage::Delete(f, n) => {
            let a = at(*f, len);
            bytes.drain(a..(a + n).min(len));
        }
        Damage::Overwrite(f, b) => {
            if let Some(byte) = bytes.get_mut(at(*f, len)) {
                *byte = *b;
            }
        }
        Damage::Insert(f, b) => {
            let a = at(*f, len);
            bytes.splice(a..a, b.iter().copied());
        }
        Damage::Swallow(f, h) => {
            let psb = ours(&[Packet::Psb]);
            let starts: Vec<usize> = (0..len)
                .filter(|&i| bytes[i..].starts_with(&psb))
                .skip(1)
                .collect();
            if let Some(&p) = starts.get(at(*f, starts.len())) {
                bytes.splice(p..p, HEADS[*h].iter().copied());
            }
        }
    }
}

/// Totals over a property's cases.
#[derive(Debug, Default)]
struct Totals {
    cases: usize,
    resynced: usize,
    resyncs: usize,
    behind: usize,
    stopped: usize,
}

/// Damaged streams: both decoders agree on every step in every case; at least half
/// the cases resynchronise after an error (so the comparison covers resynchronisation,
/// not just decoding) and some resynchronise at a swallowed PSB.
#[test]
fn damaged_streams_agree() {
    const CASES: u32 = 2048;
    let totals = RefCell::new(Totals::default());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        source_file: Some(file!()),
        ..Config::default()
    });
    let strategy = (
        stream(),
        prop::collection::vec(damage(), 2..5),
        prop::option::weighted(0.2, any::<u16>()),
    );
    runner
        .run(&strategy, |(mut bytes, damages, start)| {
            for d in &damages {
                apply(&mut bytes, d);
            }
            let start = start.map(|f| bytes.len() * usize::from(f) / 65536);
            let seen = check(&bytes, start);
            let mut t = totals.borrow_mut();
            t.cases += 1;
            t.resynced += usize::from(seen.resyncs > 0);
            t.resyncs += seen.resyncs;
            t.behind += seen.behind;
            t.stopped += usize::from(seen.stopped);
            Ok(())
        })
        .expect("both decoders agree");
    let t = totals.into_inner();
    println!(
        "resync differential: {} cases agree; {} resynchronised after an error \
         ({} resyncs, {} at a PSB before the error); {} compared up to a packet newer \
         than libipt 2.0.5",
        t.cases, t.resynced, t.resyncs, t.behind, t.stopped
    );
    // Saved regressions run first, on top of the new cases.
    assert!(t.cases >= CASES as usize, "{t:?}");
    assert!(2 * t.resynced >= t.cases, "{t:?}");
    assert!(t.behind > 0, "{t:?}");
}
