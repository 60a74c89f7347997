// SPDX-License-Identifier: Apache-2.0 OR MIT
//! One test per rule: the exact packets (decoded back by our decoder) each event writes.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::vec::Vec;

use super::*;
use crate::packet::{Decoder, Ip, IpCompression, SliceSink, Strictness};

const K64: ExecMode = ExecMode::Bits64;
const CR3: u64 = 0x0012_3456_7000;

fn kernel() -> GuestState {
    GuestState {
        cpl: 0,
        cr3: CR3,
        mode: K64,
    }
}

fn run(config: Config, state: GuestState, events: &[Event]) -> Vec<Packet> {
    let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
    for e in events {
        fab.event(e).unwrap();
    }
    let trace = fab.finish().unwrap();
    Decoder::new(&trace, Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect()
}

/// [`run`] on a traced kernel context that first enables tracing at 0x1000.
fn run_enabled(config: Config, events: &[Event]) -> Vec<Packet> {
    let mut all = std::vec![Event::Enable { next: 0x1000 }];
    all.extend_from_slice(events);
    run(config, kernel(), &all)
}

fn full(ip: u64) -> Ip {
    Ip::full(ip)
}

fn pip(cr3: u64) -> Packet {
    Packet::Pip { cr3, nr: false }
}

fn mode(m: ExecMode) -> Packet {
    let (csl, csd) = m.csl_csd();
    Packet::ModeExec {
        csl,
        csd,
        iflag: false,
    }
}

const PGD: Packet = Packet::TipPgd(Ip::SUPPRESSED);

/// The packets `Enable { next }` writes for a traced kernel context.
fn enabled(next: u64) -> Vec<Packet> {
    std::vec![
        Packet::Psb,
        pip(CR3),
        Packet::PsbEnd,
        mode(K64),
        Packet::TipPge(full(next))
    ]
}

fn with(mut head: Vec<Packet>, tail: &[Packet]) -> Vec<Packet> {
    head.extend_from_slice(tail);
    head
}

#[test]
fn enable_writes_psb_plus_then_mode_and_tip_pge() {
    let got = run_enabled(Config::default(), &[]);
    assert_eq!(got, enabled(0x1000));
    // A second enable while TraceEn = 1 changes nothing.
    let twice = run_enabled(Config::default(), &[Event::Enable { next: 0x2000 }]);
    assert_eq!(twice, enabled(0x1000));
}

#[test]
fn enable_with_cbr_and_without_os_or_context() {
    let config = Config {
        cbr: Some(0x24),
        ..Config::default()
    };
    let got = run_enabled(config, &[]);
    assert_eq!(
        got,
        [
            Packet::Psb,
            pip(CR3),
            Packet::Cbr { ratio: 0x24 },
            Packet::PsbEnd,
            mode(K64),
            Packet::TipPge(full(0x1000))
        ]
    );
    // User-only tracing at CPL 0: PSB+ without PIP, and no TIP.PGE.
    let user_only = Config {
        os: false,
        ..Config::default()
    };
    let got = run_enabled(user_only, &[]);
    assert_eq!(got, [Packet::Psb, Packet::PsbEnd]);
}

#[test]
fn disable_writes_fup_and_suppressed_tip_pgd() {
    let got = run_enabled(
        Config::default(),
        &[
            Event::Branch { taken: true },
            Event::Disable { at: 0x1010 },
            Event::Branch { taken: true },
            Event::Indirect { target: 0x3000 },
        ],
    );
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tnt8 { count: 1, bits: 1 },
                Packet::Fup(full(0x1010)),
                PGD
            ]
        )
    );
}

/// A buffer with room for the packets of `Enable` in a traced kernel context only.
fn enable_only_room() -> Vec<u8> {
    let mut probe = Fabricator::new(Vec::new(), Config::default(), kernel()).unwrap();
    probe.event(&Event::Enable { next: 0x1000 }).unwrap();
    std::vec![0u8; probe.into_sink().len()]
}

/// A fabricator over `buf` that has enabled tracing in a traced kernel context.
fn enabled_in(buf: &mut [u8]) -> Fabricator<SliceSink<'_>> {
    let sink = SliceSink::new(buf);
    let mut fab = Fabricator::new(sink, Config::default(), kernel()).unwrap();
    fab.event(&Event::Enable { next: 0x1000 }).unwrap();
    fab
}

/// The packets `fab` writes once its sink is emptied and it is finished.
fn written_after_clearing(mut fab: Fabricator<SliceSink<'_>>) -> Vec<Packet> {
    fab.sink_mut().clear();
    let sink = fab.finish().unwrap();
    Decoder::new(sink.written(), Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect()
}

/// A sink that fills up: the full TNT whose write failed stays pending, later branches
/// are refused (not recorded, and the pending results never outgrow one TNT however
/// many come), and once the sink has room the pending TNT is written whole.
#[test]
fn a_full_sink_refuses_branches_and_keeps_one_tnt() {
    let mut buf = enable_only_room();
    let mut fab = enabled_in(&mut buf);
    let refused = (0..200)
        .filter(|i| fab.event(&Event::Branch { taken: i % 2 == 0 }).is_err())
        .count();
    // The sixth result fills the TNT, whose write fails; every later branch is refused.
    assert_eq!(refused, 200 - 5);
    let got = written_after_clearing(fab);
    assert_eq!(
        got,
        [Packet::Tnt8 {
            count: 6,
            bits: 0b101010
        }]
    );
}

/// [`Fabricator::branches`] into a sink that fills: the results up to the TNT whose
/// write failed are taken and that TNT stays pending, the later ones are dropped, and
/// further runs are refused until the sink has room.
#[test]
fn a_full_sink_keeps_the_first_tnt_of_a_run() {
    let mut buf = enable_only_room();
    let mut fab = enabled_in(&mut buf);
    // 20 results, oldest first 110100 ...
    let run = 0b1101_0011_1000_1111_0101u64;
    assert!(matches!(fab.branches(run, 20), Err(Error::Packet(_))));
    assert!(matches!(fab.branches(run, 3), Err(Error::Packet(_))));
    let got = written_after_clearing(fab);
    assert_eq!(
        got,
        [Packet::Tnt8 {
            count: 6,
            bits: 0b110100
        }]
    );
}

/// More than 64 results are refused with nothing changed (the IP stays known), and
/// none is nothing.
#[test]
fn branches_take_at_most_64_results() {
    let mut fab = Fabricator::new(Vec::new(), Config::default(), kernel()).unwrap();
    fab.event(&Event::Enable { next: 0x1000 }).unwrap();
    let before = fab.sink().len();
    assert_eq!(fab.branches(u64::MAX, 65), Err(Error::BranchCount(65)));
    fab.branches(u64::MAX, 0).unwrap();
    assert_eq!(fab.ip, Some(0x1000));
    fab.branches(u64::MAX, 64).unwrap();
    assert_eq!(fab.ip, None);
    let trace = fab.finish().unwrap();
    let tnts: Vec<Packet> = Decoder::new(&trace[before..], Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect();
    // 64 = 10 full TNTs and 4 pending, written by `finish`.
    let mut expected = std::vec![Packet::Tnt8 { count: 6, bits: 0x3F }; 10];
    expected.push(Packet::Tnt8 {
        count: 4,
        bits: 0xF,
    });
    assert_eq!(tnts, expected);
}

#[test]
fn tnt_packs_oldest_first_and_flushes_when_full() {
    let bits = [true, false, true, true, false, false, true, false];
    let events: Vec<Event> = core::iter::once(Event::Enable { next: 0x1000 })
        .chain(bits.iter().map(|&taken| Event::Branch { taken }))
        .collect();
    let got = run(Config::default(), kernel(), &events);
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tnt8 {
                    count: 6,
                    bits: 0b101100
                },
                Packet::Tnt8 {
                    count: 2,
                    bits: 0b10
                }
            ]
        )
    );
    let long = Config {
        long_tnt: true,
        ..Config::default()
    };
    let mut events = std::vec![Event::Enable { next: 0x1000 }];
    events.extend((0..50).map(|i| Event::Branch { taken: i % 3 == 0 }));
    let got = run(long, kernel(), &events);
    let first: u64 = (0..47).fold(0, |acc, i| acc << 1 | u64::from(i % 3 == 0));
    let rest: u64 = (47..50).fold(0, |acc, i| acc << 1 | u64::from(i % 3 == 0));
    #[allow(clippy::cast_possible_truncation)]
    let rest = rest as u8;
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tnt64 {
                    count: 47,
                    bits: first
                },
                Packet::Tnt8 {
                    count: 3,
                    bits: rest
                }
            ]
        )
    );
}

#[test]
fn indirect_branch_flushes_tnt_then_tip() {
    let got = run_enabled(
        Config::default(),
        &[
            Event::Branch { taken: false },
            Event::Indirect {
                target: 0xffff_8000_0000_1000,
            },
        ],
    );
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tnt8 { count: 1, bits: 0 },
                Packet::Tip(Ip {
                    ipc: IpCompression::Sext48,
                    payload: 0x8000_0000_1000
                })
            ]
        )
    );
}

#[test]
fn cr3_write_writes_pip_with_nr_in_non_root() {
    let config = Config {
        non_root: true,
        ..Config::default()
    };
    let got = run_enabled(
        config,
        &[Event::Cr3Write {
            cr3: 0xABC_D000 | 0x18,
            next: 0x1003,
        }],
    );
    let nr = |cr3| Packet::Pip { cr3, nr: true };
    assert_eq!(
        got,
        [
            Packet::Psb,
            nr(CR3),
            Packet::PsbEnd,
            mode(K64),
            Packet::TipPge(full(0x1000)),
            // CR3 bits 4:0 are not in the packet.
            nr(0xABC_D000)
        ]
    );
}

#[test]
fn cr3_filter_decides_tip_pge_and_tip_pgd() {
    let config = Config {
        cr3_match: Some(CR3),
        ..Config::default()
    };
    let got = run_enabled(
        config,
        &[
            // Leaves the filtered address space: TIP.PGD() without PIP (case 5c).
            Event::Cr3Write {
                cr3: 0x5000,
                next: 0x1003,
            },
            Event::Branch { taken: true },
            // Back: PIP, MODE.Exec (none since the PSB? one was sent), TIP.PGE (case 5b).
            Event::Cr3Write {
                cr3: CR3,
                next: 0x2003,
            },
        ],
    );
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[PGD, pip(CR3), Packet::TipPge(full(0x2003))]
        )
    );
}

#[test]
fn interrupt_writes_fup_pip_mode_tip() {
    let user = GuestState {
        cpl: 3,
        cr3: CR3,
        mode: ExecMode::Bits32,
    };
    let got = run(
        Config::default(),
        user,
        &[
            Event::Enable { next: 0x1000 },
            Event::Interrupt {
                kind: InterruptKind::Hardware,
                from: 0x1004,
                target: 0xffff_8000_0000_2000,
                change: Change {
                    cr3: Some(0x9000),
                    mode: Some(K64),
                    cpl: Some(0),
                },
            },
            // IRET back: far branch, mode changes again, no FUP.
            Event::FarBranch {
                target: 0x1004,
                change: Change {
                    cr3: None,
                    mode: Some(ExecMode::Bits32),
                    cpl: Some(3),
                },
            },
        ],
    );
    assert_eq!(
        got,
        [
            Packet::Psb,
            pip(CR3),
            Packet::PsbEnd,
            mode(ExecMode::Bits32),
            Packet::TipPge(full(0x1000)),
            Packet::Fup(full(0x1004)),
            pip(0x9000),
            mode(K64),
            Packet::Tip(full(0xffff_8000_0000_2000)),
            mode(ExecMode::Bits32),
            Packet::Tip(full(0x1004)),
        ]
    );
}

#[test]
fn a_task_switch_to_the_same_cr3_writes_no_pip_and_same_mode_no_mode_exec() {
    let got = run_enabled(
        Config::default(),
        &[Event::Interrupt {
            kind: InterruptKind::Exception,
            from: 0x1000,
            target: 0x2000,
            change: Change {
                cr3: Some(CR3),
                mode: Some(K64),
                cpl: Some(0),
            },
        }],
    );
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[Packet::Fup(full(0x1000)), Packet::Tip(full(0x2000))]
        )
    );
}

#[test]
fn cpl_filter_decides_tip_pge_and_tip_pgd() {
    let kernel_only = Config {
        user: false,
        ..Config::default()
    };
    let to_user = Change {
        cpl: Some(3),
        ..Change::default()
    };
    let to_kernel = Change {
        cpl: Some(0),
        ..Change::default()
    };
    let got = run_enabled(
        kernel_only,
        &[
            Event::Branch { taken: true },
            // SYSRET-like far branch to user: TNT, then TIP.PGD() (case 10c).
            Event::FarBranch {
                target: 0x4000,
                change: to_user,
            },
            Event::Branch { taken: true },
            Event::Indirect { target: 0x5000 },
            // An interrupt from user to kernel: TIP.PGE at the handler (case 11b), no FUP.
            Event::Interrupt {
                kind: InterruptKind::Hardware,
                from: 0x5004,
                target: 0x6000,
                change: to_kernel,
            },
            // An exception back to user (exotic, but exercises case 13c): FUP, TIP.PGD().
            Event::Interrupt {
                kind: InterruptKind::Exception,
                from: 0x6000,
                target: 0x7000,
                change: to_user,
            },
        ],
    );
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tnt8 { count: 1, bits: 1 },
                PGD,
                Packet::TipPge(full(0x6000)),
                Packet::Fup(full(0x6000)),
                PGD
            ]
        )
    );
}

#[test]
fn overflow_writes_ovf_then_an_uncompressed_fup() {
    let owned = Config {
        splice: false,
        ..Config::default()
    };
    let got = run_enabled(
        owned,
        &[
            Event::Indirect { target: 0x1010 },
            Event::Overflow { resume: 0x1020 },
        ],
    );
    let upd16 = |payload| Ip {
        ipc: IpCompression::Update16,
        payload,
    };
    assert_eq!(
        got,
        [
            Packet::Psb,
            pip(CR3),
            Packet::PsbEnd,
            mode(K64),
            // Owned stream: compressed against the last IP (0 after PSB, then 0x1000).
            Packet::TipPge(upd16(0x1000)),
            Packet::Tip(upd16(0x1010)),
            Packet::Ovf,
            // After OVF always uncompressed.
            Packet::Fup(full(0x1020))
        ]
    );
    // Overflow while disabled by the filter: only OVF; the next TIP.PGE resumes.
    let user_only = Config {
        os: false,
        ..Config::default()
    };
    let got = run_enabled(user_only, &[Event::Overflow { resume: 0x1020 }]);
    assert_eq!(got, [Packet::Psb, Packet::PsbEnd, Packet::Ovf]);
    // ... and that TIP.PGE is uncompressed even in an owned stream (libipt forgets its
    // last IP at OVF).
    let owned_user = Config {
        os: false,
        splice: false,
        ..Config::default()
    };
    let got = run_enabled(
        owned_user,
        &[
            Event::Overflow { resume: 0x1020 },
            Event::FarBranch {
                target: 0x1030,
                change: Change {
                    cpl: Some(3),
                    ..Change::default()
                },
            },
            Event::Indirect { target: 0x1040 },
        ],
    );
    assert_eq!(
        got,
        [
            Packet::Psb,
            Packet::PsbEnd,
            Packet::Ovf,
            mode(K64),
            Packet::TipPge(full(0x1030)),
            Packet::Tip(upd16(0x1040))
        ]
    );
    // Overflow with TraceEn = 0: nothing.
    assert!(run(owned, kernel(), &[Event::Overflow { resume: 1 }]).is_empty());
}

#[test]
fn periodic_psb_after_psbfreq_bytes_at_a_known_ip() {
    // PSBFreq 0: 2 KiB. Each TIP is 7 bytes (sext48), the enable 16 + 8 + 2 + 2 + 7.
    let mut events = std::vec![Event::Enable { next: 0x1000 }];
    events.extend((0..400u64).map(|i| Event::Indirect { target: 0x2000 + i }));
    let mut fab = Fabricator::new(Vec::new(), Config::default(), kernel()).unwrap();
    let mut psb_at = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let before = fab.sink().len();
        fab.event(e).unwrap();
        let after = fab.sink();
        if i > 0 && after[before..].windows(2).any(|w| w == [0x02, 0x82]) {
            psb_at.push((i, before));
        }
    }
    // 35 bytes of enable, then 7 per TIP: the 2048-byte mark is crossed by TIP 288.
    assert_eq!(psb_at, [(288, 35 + 7 * 287)]);
    let trace = fab.finish().unwrap();
    let packets: Vec<Packet> = Decoder::new(&trace, Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect();
    let psb = packets.iter().rposition(|p| *p == Packet::Psb).unwrap();
    assert_eq!(
        packets[psb - 1..psb + 5],
        [
            Packet::Tip(full(0x2000 + 287)),
            Packet::Psb,
            pip(CR3),
            mode(K64),
            Packet::Fup(full(0x2000 + 287)),
            Packet::PsbEnd
        ]
    );

    // PSBFreq 1 doubles the period.
    let config = Config {
        psb_freq: 1,
        ..Config::default()
    };
    let mut fab = Fabricator::new(Vec::new(), config, kernel()).unwrap();
    for e in &events {
        fab.event(e).unwrap();
    }
    let trace = fab.finish().unwrap();
    let psbs = Decoder::new(&trace, Strictness::Strict)
        .filter(|d| d.as_ref().unwrap().packet == Packet::Psb)
        .count();
    assert_eq!(psbs, 1);
}

#[test]
fn splice_uses_uncompressed_ips_and_asks_for_a_hardware_psb() {
    let mut fab = Fabricator::new(Vec::new(), Config::default(), kernel()).unwrap();
    fab.event(&Event::Enable { next: 0x1000 }).unwrap();
    fab.event(&Event::Indirect { target: 0x1002 }).unwrap();
    fab.event(&Event::Branch { taken: true }).unwrap();
    let resync = fab.end_splice().unwrap();
    let status = 0x0000_1234_0000_0003;
    assert_eq!(resync.status(status), 0x3);
    let trace = fab.into_sink();
    let got: Vec<Packet> = Decoder::new(&trace, Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect();
    assert_eq!(
        got,
        with(
            enabled(0x1000),
            &[
                Packet::Tip(full(0x1002)),
                Packet::Tnt8 { count: 1, bits: 1 }
            ]
        )
    );
}

#[test]
fn non_canonical_ips_use_the_full_form() {
    let got = run(
        Config::default(),
        kernel(),
        &[Event::Enable {
            next: 0x0001_0000_0000_0000,
        }],
    );
    assert_eq!(
        got.last(),
        Some(&Packet::TipPge(Ip {
            ipc: IpCompression::Full,
            payload: 0x0001_0000_0000_0000
        }))
    );
}

#[test]
fn bad_inputs_are_errors() {
    let bad_freq = Config {
        psb_freq: 16,
        ..Config::default()
    };
    assert_eq!(
        Fabricator::new(Vec::new(), bad_freq, kernel()).err(),
        Some(Error::BadPsbFreq(16))
    );
    let zero_cbr = Config {
        cbr: Some(0),
        ..Config::default()
    };
    assert_eq!(
        Fabricator::new(Vec::new(), zero_cbr, kernel()).err(),
        Some(Error::ZeroCbr)
    );
    let bad_cpl = GuestState { cpl: 4, ..kernel() };
    assert_eq!(
        Fabricator::new(Vec::new(), Config::default(), bad_cpl).err(),
        Some(Error::BadCpl(4))
    );
    let mut fab = Fabricator::new(Vec::new(), Config::default(), kernel()).unwrap();
    let far = Event::FarBranch {
        target: 0,
        change: Change {
            cpl: Some(7),
            ..Change::default()
        },
    };
    assert_eq!(fab.event(&far), Err(Error::BadCpl(7)));
    assert_eq!(fab.state(), kernel());
    // A full sink is reported, not a panic.
    let mut small = [0u8; 8];
    let mut fab = Fabricator::new(SliceSink::new(&mut small), Config::default(), kernel()).unwrap();
    assert!(matches!(
        fab.event(&Event::Enable { next: 0x1000 }),
        Err(Error::Packet(crate::packet::Error::BufferFull { .. }))
    ));
}

#[test]
fn a_full_sink_loses_packets_and_overflow_resumes() {
    let mut buf = [0u8; 48];
    let mut fab = Fabricator::new(SliceSink::new(&mut buf), Config::default(), kernel()).unwrap();
    fab.event(&Event::Enable { next: 0x1000 }).unwrap();
    let mut target = 0x2000;
    let err = loop {
        target += 0x10;
        match fab.event(&Event::Indirect { target }) {
            Ok(()) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(
        err,
        Error::Packet(crate::packet::Error::BufferFull { .. })
    ));
    // The sink is drained; the trace continues with OVF and an uncompressed FUP.
    fab.sink_mut().clear();
    fab.event(&Event::Overflow { resume: 0x3000 }).unwrap();
    let written = fab.sink().written().to_vec();
    let got: Vec<Packet> = Decoder::new(&written, Strictness::Strict)
        .map(|d| d.unwrap().packet)
        .collect();
    assert_eq!(got, [Packet::Ovf, Packet::Fup(full(0x3000))]);
}
