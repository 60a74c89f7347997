// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Unit tests of the event layer on hand-written packet sequences.
#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::packet::{Encoder, Ip, Kind};
use std::vec::Vec;

const MODE64: Packet = Packet::ModeExec {
    csl: true,
    csd: false,
    iflag: false,
};

fn ip(ip: u64) -> Ip {
    Ip::full(ip)
}

fn bytes(packets: &[Packet]) -> Vec<u8> {
    let mut enc = Encoder::new(Vec::new());
    for p in packets {
        enc.encode(p).unwrap();
    }
    enc.into_sink()
}

/// All records from the first PSB (or from offset 0 with tracing `enabled` when `None`),
/// and the error that ended them. Checks on the way that the iterator's `fold` hands
/// out the same as `next`, from wherever `next` left off.
fn decode(trace: &[u8], enabled: Option<bool>) -> (Vec<Record>, Option<Error>) {
    let mut dec = EventDecoder::new(trace, Config::default());
    match enabled {
        None => {
            dec.sync_forward().unwrap();
        }
        Some(e) => dec.set_offset(0, e),
    }
    let mut by_next = dec.clone();
    let all: Vec<Result<Record>> = core::iter::from_fn(|| by_next.next()).collect();
    assert_eq!(all_by_fold(dec.clone()), all);
    for k in 1..=all.len() {
        let mut rest = dec.clone();
        for _ in 0..k {
            rest.next();
        }
        assert_eq!(all_by_fold(rest), all[k..], "fold after {k} records");
    }
    let mut out = Vec::new();
    for r in all {
        match r {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// What `dec`'s `fold` hands out.
fn all_by_fold(dec: EventDecoder<'_>) -> Vec<Result<Record>> {
    dec.fold(Vec::new(), |mut v, r| {
        v.push(r);
        v
    })
}

fn events(records: &[Record]) -> Vec<(Event, bool)> {
    records.iter().map(|r| (r.event, r.status_update)).collect()
}

#[test]
fn tnt_bits_oldest_first_across_short_and_long() {
    let trace = bytes(&[
        Packet::Tnt8 {
            count: 3,
            bits: 0b100,
        },
        Packet::Tnt64 {
            count: 9,
            bits: 0b1_0000_0011,
        },
    ]);
    let (records, err) = decode(&trace, Some(true));
    assert_eq!(err, None);
    let taken: Vec<bool> = records
        .iter()
        .map(|r| match r.event {
            Event::Branch { taken } => taken,
            other => panic!("{other:?}"),
        })
        .collect();
    let one = true;
    let o = false;
    assert_eq!(taken, [one, o, o, one, o, o, o, o, o, o, one, one]);
    assert_eq!(records.first().map(|r| r.offset), Some(0));
    assert_eq!(records.last().map(|r| r.offset), Some(1));
}

#[test]
fn adjacent_short_tnts_and_pads_are_read_in_one_go() {
    let trace = bytes(&[
        Packet::Tnt8 {
            count: 2,
            bits: 0b10,
        },
        Packet::Pad,
        Packet::Tnt8 { count: 1, bits: 1 },
        Packet::Tip(ip(0x1000)),
        Packet::Tnt8 { count: 1, bits: 0 },
    ]);
    let (records, err) = decode(&trace, Some(true));
    assert_eq!(err, None);
    let got: Vec<_> = records.iter().map(|r| (r.event, r.offset)).collect();
    let branch = |taken| Event::Branch { taken };
    assert_eq!(
        got,
        [
            (branch(true), 0),
            (branch(false), 0),
            (branch(true), 0),
            (
                Event::Indirect {
                    target: Some(0x1000)
                },
                3
            ),
            (branch(false), 10),
        ]
    );
}

#[test]
fn psb_plus_status_then_compressed_tip_and_async_branch() {
    let mut enc = Encoder::new(Vec::new());
    for p in [
        Packet::Psb,
        Packet::Tsc { tsc: 0x1234 },
        Packet::Pip {
            cr3: 0x5000,
            nr: true,
        },
        MODE64,
        Packet::Fup(ip(0xffff_8000_0000_1000)),
        Packet::Cbr { ratio: 0x20 },
        Packet::PsbEnd,
        Packet::Tnt8 { count: 1, bits: 1 },
        // Compressed against the FUP: only the low 16 bits.
        Packet::Tip(Ip {
            ipc: IpCompression::Update16,
            payload: 0x2000,
        }),
        Packet::Fup(ip(0xffff_8000_0000_2005)),
        Packet::Pip {
            cr3: 0x6000,
            nr: true,
        },
        Packet::ModeExec {
            csl: false,
            csd: true,
            iflag: false,
        },
        Packet::Tip(ip(0x40_0000)),
        Packet::Pip {
            cr3: 0x7000,
            nr: false,
        },
    ] {
        enc.encode(&p).unwrap();
    }
    let trace = enc.into_sink();
    let (records, err) = decode(&trace, None);
    assert_eq!(err, None);
    let kernel = Some(0xffff_8000_0000_1000);
    assert_eq!(
        events(&records),
        [
            (
                Event::Enabled {
                    ip: 0xffff_8000_0000_1000
                },
                true
            ),
            (
                Event::AsyncPaging {
                    cr3: 0x5000,
                    nr: true,
                    ip: kernel
                },
                true
            ),
            (
                Event::ExecMode {
                    mode: Some(ExecMode::Bits64),
                    ip: kernel
                },
                true
            ),
            (Event::Cbr { ratio: 0x20 }, true),
            (Event::Branch { taken: true }, false),
            (
                Event::Indirect {
                    target: Some(0xffff_8000_0000_2000)
                },
                false
            ),
            (
                Event::AsyncBranch {
                    from: 0xffff_8000_0000_2005,
                    to: Some(0x40_0000)
                },
                false
            ),
            (
                Event::AsyncPaging {
                    cr3: 0x6000,
                    nr: true,
                    ip: Some(0x40_0000)
                },
                false
            ),
            (
                Event::ExecMode {
                    mode: Some(ExecMode::Bits32),
                    ip: Some(0x40_0000)
                },
                false
            ),
            (
                Event::Paging {
                    cr3: 0x7000,
                    nr: false
                },
                false
            ),
        ]
    );
    assert!(records.iter().all(|r| r.tsc == Some(0x1234)));
}

#[test]
fn enable_disable_and_async_disable() {
    let trace = bytes(&[
        MODE64,
        Packet::TipPge(ip(0x1000)),
        Packet::TipPgd(Ip::SUPPRESSED),
        Packet::TipPge(ip(0x2000)),
        Packet::Fup(ip(0x2010)),
        Packet::TipPgd(Ip::SUPPRESSED),
    ]);
    let (records, err) = decode(&trace, Some(false));
    assert_eq!(err, None);
    assert_eq!(
        events(&records),
        [
            (Event::Enabled { ip: 0x1000 }, false),
            (
                Event::ExecMode {
                    mode: Some(ExecMode::Bits64),
                    ip: Some(0x1000)
                },
                false
            ),
            (Event::Disabled { ip: None }, false),
            (Event::Enabled { ip: 0x2000 }, false),
            (
                Event::AsyncDisabled {
                    at: 0x2010,
                    ip: None
                },
                false
            ),
        ]
    );
}

#[test]
fn overflow_resolves_at_a_fup_or_disabled() {
    let trace = bytes(&[
        Packet::Ovf,
        Packet::Mtc { ctc: 1 },
        Packet::Fup(ip(0x3000)),
        Packet::Tnt8 { count: 1, bits: 0 },
        Packet::Ovf,
        Packet::TipPge(ip(0x4000)),
        Packet::Ovf,
    ]);
    let (records, err) = decode(&trace, Some(true));
    assert_eq!(err, None);
    assert_eq!(
        events(&records),
        [
            (Event::Overflow { ip: Some(0x3000) }, false),
            (Event::Branch { taken: false }, false),
            (Event::Overflow { ip: None }, false),
            (Event::Enabled { ip: 0x4000 }, false),
            (Event::Overflow { ip: None }, false),
        ]
    );
}

/// A packet that resolves a pending overflow and then fails (a TNT once the overflow
/// left tracing disabled) hands out the overflow first, then its error, then nothing
/// (found by the `pt_events` fuzz target: the overflow came after the error).
#[test]
fn events_a_failing_packet_released_precede_its_error() {
    let trace = bytes(&[Packet::Ovf, Packet::Tnt8 { count: 1, bits: 0 }]);
    let mut dec = EventDecoder::new(&trace, Config::default());
    dec.set_offset(0, true);
    let first = dec.next().unwrap().unwrap();
    assert_eq!(
        (first.event, first.offset),
        (Event::Overflow { ip: None }, 0)
    );
    assert!(matches!(
        dec.next(),
        Some(Err(Error::BadContext { offset: 2, .. }))
    ));
    assert!(dec.next().is_none());
}

#[test]
fn tsx_and_ptwrite_bind_to_the_next_fup() {
    let trace = bytes(&[
        Packet::ModeTsx {
            intx: true,
            abort: false,
        },
        Packet::Fup(ip(0x5000)),
        Packet::Ptw {
            payload: 7,
            size: crate::packet::PayloadSize::Four,
            ip: true,
        },
        Packet::Fup(ip(0x5008)),
    ]);
    let (records, err) = decode(&trace, Some(true));
    assert_eq!(err, None);
    let ptw = Packet::Ptw {
        payload: 7,
        size: crate::packet::PayloadSize::Four,
        ip: true,
    };
    assert_eq!(
        events(&records),
        [
            (
                Event::Tsx {
                    intx: true,
                    abort: false,
                    ip: Some(0x5000)
                },
                false
            ),
            (
                Event::Other {
                    packet: ptw,
                    ip: Some(0x5008)
                },
                false
            ),
        ]
    );
}

#[test]
fn out_of_context_packets_and_resync() {
    // A TNT while disabled.
    let trace = bytes(&[Packet::Tnt8 { count: 1, bits: 1 }]);
    assert_eq!(
        decode(&trace, Some(false)).1,
        Some(Error::BadContext {
            offset: 0,
            kind: Kind::Tnt8
        })
    );
    // A TIP inside PSB+, then the next PSB+ decodes.
    let trace = bytes(&[
        Packet::Psb,
        Packet::Tip(ip(0x1000)),
        Packet::PsbEnd,
        Packet::Psb,
        Packet::Fup(ip(0x2000)),
        Packet::PsbEnd,
        Packet::Tnt8 { count: 1, bits: 1 },
    ]);
    let mut dec = EventDecoder::new(&trace, Config::default());
    assert_eq!(dec.sync_forward(), Ok(0));
    assert_eq!(
        dec.next(),
        Some(Err(Error::BadContext {
            offset: 16,
            kind: Kind::Tip
        }))
    );
    assert_eq!(dec.next(), None);
    assert_eq!(dec.sync_forward(), Ok(16 + 7 + 2));
    let rest: Vec<_> = dec.map(|r| r.map(|r| r.event)).collect();
    assert_eq!(
        rest,
        [
            Ok(Event::Enabled { ip: 0x2000 }),
            Ok(Event::Branch { taken: true })
        ]
    );
    // A compressed FUP with no last IP (not synchronised at a PSB).
    let trace = bytes(&[Packet::Fup(Ip {
        ipc: IpCompression::Update16,
        payload: 1,
    })]);
    assert_eq!(
        decode(&trace, Some(true)).1,
        Some(Error::NoIp {
            offset: 0,
            kind: Kind::Fup
        })
    );
}

#[test]
fn too_many_waiting_events_is_an_error() {
    let trace = bytes(&[MODE64; 40]);
    assert_eq!(
        decode(&trace, Some(true)).1,
        Some(Error::QueueFull {
            offset: 2 * WAITING,
            capacity: WAITING
        })
    );
}

#[test]
fn time_estimate_follows_mtc() {
    let trace = bytes(&[
        Packet::Psb,
        Packet::Tsc { tsc: 1000 },
        Packet::Tma { ctc: 0x100, fc: 0 },
        Packet::Fup(ip(0x1000)),
        Packet::PsbEnd,
        Packet::Mtc { ctc: 2 },
        Packet::Tnt8 { count: 1, bits: 1 },
    ]);
    let config = Config {
        time: TimeConfig {
            mtc_freq: 0,
            ctc_ratio: Some((1, 3)),
            nom_freq: 0,
        },
        ..Config::default()
    };
    let mut dec = EventDecoder::new(&trace, config);
    dec.sync_forward().unwrap();
    let tscs: Vec<_> = dec.map(|r| r.unwrap().tsc).collect();
    // CTC 0x100 -> 0x102: 2 ticks, 6 TSC ticks.
    assert_eq!(tscs, [Some(1000), Some(1006)]);
}

#[test]
fn cyc_counts_convert_alike_near_the_end_and_before_it() {
    // A 7-byte CYC; nominal ratio 8, core:bus ratio 4: two TSC ticks per cycle.
    const CYCLES: u64 = 0x1234_5678_9abc;
    let config = Config {
        time: TimeConfig {
            nom_freq: 8,
            ..TimeConfig::default()
        },
        ..Config::default()
    };
    let mut packets = std::vec![
        Packet::Psb,
        Packet::Tsc { tsc: 1000 },
        Packet::Cbr { ratio: 4 },
        Packet::Fup(ip(0x1000)),
        Packet::PsbEnd,
        Packet::Cyc { value: CYCLES },
        Packet::Tnt8 { count: 1, bits: 1 },
        Packet::Cyc { value: 3 },
        Packet::Tip(ip(0x2000)),
    ];
    let run = |packets: &[Packet]| {
        let trace = bytes(packets);
        let mut dec = EventDecoder::new(&trace, config);
        dec.sync_forward().unwrap();
        let records: Vec<_> = dec.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(dec.time().lost_cyc(), 0);
        records
    };
    // The last packets within a packet's maximum length of the end take the general
    // path; with PADs after them, the hot path.
    let general = run(&packets);
    packets.extend([Packet::Pad; 16]);
    let hot = run(&packets);
    assert_eq!(hot, general);
    let timed: Vec<_> = hot
        .iter()
        .filter(|r| !r.status_update)
        .map(|r| (r.event, r.tsc))
        .collect();
    let after = 1000 + 2 * CYCLES;
    assert_eq!(
        timed,
        [
            (Event::Branch { taken: true }, Some(after)),
            (
                Event::Indirect {
                    target: Some(0x2000)
                },
                Some(after + 6)
            ),
        ]
    );
}

#[test]
fn hot_path_and_general_path_give_the_same_records() {
    let upd16 = |ip: u64| Ip {
        ipc: IpCompression::Update16,
        payload: ip & 0xFFFF,
    };
    let tnt = |count, bits| Packet::Tnt8 { count, bits };
    // Each trace is shorter than a packet's maximum length, so that every packet takes
    // the general path; 16 PADs after it send every packet down the hot path.
    let traces: [(&[Packet], bool); 6] = [
        (
            &[
                Packet::Pad,
                tnt(2, 2),
                Packet::Pad,
                tnt(3, 5),
                Packet::Cyc { value: 300 },
                tnt(1, 1),
            ],
            true,
        ),
        (
            &[
                Packet::Tip(ip(0x40_1000)),
                Packet::Tip(upd16(0x40_2000)),
                tnt(1, 0),
            ],
            true,
        ),
        (&[Packet::Cyc { value: 3 }, tnt(1, 1)], false),
        (&[Packet::Mtc { ctc: 1 }, Packet::Tip(upd16(0x2000))], true),
        (
            &[
                Packet::Mtc { ctc: 2 },
                Packet::Pad,
                Packet::Tip(Ip::SUPPRESSED),
                tnt(6, 0x2A),
            ],
            true,
        ),
        (&[Packet::Ovf, tnt(1, 1)], true),
    ];
    for (packets, enabled) in traces {
        let mut trace = bytes(packets);
        assert!(trace.len() < 16, "{packets:?}");
        let general = decode(&trace, Some(enabled));
        trace.extend([0; 16]);
        assert_eq!(decode(&trace, Some(enabled)), general, "{packets:?}");
    }
}
