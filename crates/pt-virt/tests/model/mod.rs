// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A reference model of the fabricator's rules at the level a query decoder reports:
//! from events to the observations a decoder must make ([`expected`]), from decoded
//! packets to observations ([`observe`]), and proptest strategies for event sequences.
//! Shared (by `#[path]`) with the libipt differential test in `peers/libipt-flow`.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use pt_virt::fabricate::{Change, Config, Event, ExecMode, GuestState, InterruptKind};
use pt_virt::packet::{Decoded, Packet};

/// What a query decoder reports, status updates (packets inside PSB+) left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obs {
    /// TIP.PGE: tracing enabled at this IP.
    Enabled(u64),
    /// TIP.PGD without a FUP.
    Disabled,
    /// FUP + TIP.PGD: tracing disabled asynchronously at this IP.
    AsyncDisabled(u64),
    /// One conditional branch.
    Tnt(bool),
    /// TIP without FUP: an indirect or far branch target.
    Tip(u64),
    /// FUP + TIP: an asynchronous branch, observed at the FUP (before the PIP and
    /// MODE.Exec between the two).
    AsyncBranch { from: u64, to: u64 },
    /// PIP outside PSB+ (CR3 bits 51:5).
    Paging(u64),
    /// MODE.Exec outside PSB+.
    ExecMode(ExecMode),
    /// OVF, with the resume IP when tracing resumes enabled.
    Overflow(Option<u64>),
}

fn context_en(config: &Config, cpl: u8, cr3: u64) -> bool {
    let cpl_ok = if cpl == 0 { config.os } else { config.user };
    cpl_ok && config.cr3_match.is_none_or(|m| (m ^ cr3) >> 5 == 0)
}

const CR3_MASK: u64 = 0x000F_FFFF_FFFF_FFE0;

/// The observations the fabricator's packets must produce for `events`.
pub fn expected(config: &Config, state: GuestState, events: &[Event]) -> Vec<Obs> {
    let mut out = Vec::new();
    let (mut trace_en, mut cpl, mut cr3, mut mode) = (false, state.cpl, state.cr3, state.mode);
    let mut mode_sent: Option<ExecMode> = None;
    for e in events {
        let pe = trace_en && context_en(config, cpl, cr3);
        match *e {
            Event::Enable { next } => {
                if !trace_en {
                    trace_en = true;
                    mode_sent = None;
                    if context_en(config, cpl, cr3) {
                        out.push(Obs::ExecMode(mode));
                        mode_sent = Some(mode);
                        out.push(Obs::Enabled(next));
                    }
                }
            }
            Event::Disable { at } => {
                if pe {
                    out.push(Obs::AsyncDisabled(at));
                }
                trace_en = false;
            }
            Event::Branch { taken } => {
                if pe {
                    out.push(Obs::Tnt(taken));
                }
            }
            Event::Indirect { target } => {
                if pe {
                    out.push(Obs::Tip(target));
                }
            }
            Event::FarBranch { target, change } | Event::Interrupt { target, change, .. } => {
                let from = match *e {
                    Event::Interrupt { from, .. } => Some(from),
                    _ => None,
                };
                let changed = change.cr3.is_some_and(|c| c != cr3);
                cr3 = change.cr3.unwrap_or(cr3);
                mode = change.mode.unwrap_or(mode);
                cpl = change.cpl.unwrap_or(cpl);
                let after = trace_en && context_en(config, cpl, cr3);
                match (pe, after) {
                    (true, false) => out.push(match from {
                        Some(from) => Obs::AsyncDisabled(from),
                        None => Obs::Disabled,
                    }),
                    (_, true) => {
                        // The FUP comes first, so an asynchronous branch is observed there.
                        if let (true, Some(from)) = (pe, from) {
                            out.push(Obs::AsyncBranch { from, to: target });
                        }
                        if changed && config.os {
                            out.push(Obs::Paging(cr3 & CR3_MASK));
                        }
                        if mode_sent != Some(mode) {
                            out.push(Obs::ExecMode(mode));
                            mode_sent = Some(mode);
                        }
                        match (pe, from) {
                            (false, _) => out.push(Obs::Enabled(target)),
                            (true, Some(_)) => {}
                            (true, None) => out.push(Obs::Tip(target)),
                        }
                    }
                    (false, false) => {}
                }
            }
            Event::Cr3Write { cr3: new, next } => {
                cr3 = new;
                let after = trace_en && context_en(config, cpl, cr3);
                match (pe, after) {
                    (true, true) if config.os => out.push(Obs::Paging(cr3 & CR3_MASK)),
                    (true, true) => {}
                    (true, false) => out.push(Obs::Disabled),
                    (false, true) => {
                        if config.os {
                            out.push(Obs::Paging(cr3 & CR3_MASK));
                        }
                        if mode_sent != Some(mode) {
                            out.push(Obs::ExecMode(mode));
                            mode_sent = Some(mode);
                        }
                        out.push(Obs::Enabled(next));
                    }
                    (false, false) => {}
                }
            }
            Event::Overflow { resume } => {
                if trace_en {
                    out.push(Obs::Overflow(pe.then_some(resume)));
                }
            }
        }
    }
    out
}

/// The observations a decoder makes of `packets` (with their reconstructed IPs).
pub fn observe(packets: &[Decoded]) -> Vec<Obs> {
    let mut out = Vec::new();
    let mut in_psb = false;
    // The pending FUP: its IP and the index of its placeholder observation.
    let mut fup: Option<(u64, usize)> = None;
    let mut ovf = false;
    let mut enabled = false;
    for d in packets {
        match d.packet {
            Packet::Psb => in_psb = true,
            Packet::PsbEnd => in_psb = false,
            Packet::Fup(_) if in_psb => enabled = true,
            _ if in_psb => {}
            Packet::Ovf => {
                ovf = true;
                if !enabled {
                    out.push(Obs::Overflow(None));
                    ovf = false;
                }
            }
            Packet::Fup(_) if ovf => {
                out.push(Obs::Overflow(d.ip));
                ovf = false;
            }
            Packet::Fup(_) => {
                let from = d.ip.expect("FUP has an IP");
                fup = Some((from, out.len()));
                out.push(Obs::AsyncBranch { from, to: 0 });
            }
            Packet::Tnt8 { count, bits } => {
                out.extend((0..count).rev().map(|i| Obs::Tnt(bits >> i & 1 == 1)));
            }
            Packet::Tnt64 { count, bits } => {
                out.extend((0..count).rev().map(|i| Obs::Tnt(bits >> i & 1 == 1)));
            }
            Packet::Pip { cr3, .. } => out.push(Obs::Paging(cr3)),
            Packet::ModeExec { csl, csd, .. } => {
                out.push(Obs::ExecMode(
                    ExecMode::from_csl_csd(csl, csd).expect("valid mode"),
                ));
            }
            Packet::TipPge(_) => {
                enabled = true;
                out.push(Obs::Enabled(d.ip.expect("TIP.PGE has an IP")));
            }
            Packet::TipPgd(_) => {
                enabled = false;
                match fup.take() {
                    Some((at, i)) => out[i] = Obs::AsyncDisabled(at),
                    None => out.push(Obs::Disabled),
                }
            }
            Packet::Tip(_) => {
                let to = d.ip.expect("TIP has an IP");
                match fup.take() {
                    Some((from, i)) => out[i] = Obs::AsyncBranch { from, to },
                    None => out.push(Obs::Tip(to)),
                }
            }
            other => panic!("the fabricator wrote an unexpected {other:?}"),
        }
    }
    out
}

/// Canonical user and kernel addresses, and a few non-canonical ones.
pub fn ip() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0x1000u64..0x8000,
        2 => 0x0000_7fff_0000_0000u64..0x0000_7fff_0001_0000,
        2 => 0xffff_8000_0000_0000u64..0xffff_8000_0001_0000,
        1 => any::<u64>(),
    ]
}

pub fn exec_mode() -> impl Strategy<Value = ExecMode> {
    prop_oneof![
        Just(ExecMode::Bits16),
        Just(ExecMode::Bits32),
        Just(ExecMode::Bits64)
    ]
}

/// CR3 values from a small set, so filters match now and then.
pub fn cr3() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0x1000u64), Just(0x2000), Just(0x3018), (0u64..1 << 52)]
}

pub fn change() -> impl Strategy<Value = Change> {
    (
        proptest::option::of(cr3()),
        proptest::option::of(exec_mode()),
        proptest::option::of(0u8..4),
    )
        .prop_map(|(cr3, mode, cpl)| Change { cr3, mode, cpl })
}

pub fn event() -> impl Strategy<Value = Event> {
    let kind = prop_oneof![
        Just(InterruptKind::Hardware),
        Just(InterruptKind::Software),
        Just(InterruptKind::Exception)
    ];
    prop_oneof![
        2 => ip().prop_map(|next| Event::Enable { next }),
        1 => ip().prop_map(|at| Event::Disable { at }),
        12 => any::<bool>().prop_map(|taken| Event::Branch { taken }),
        4 => ip().prop_map(|target| Event::Indirect { target }),
        2 => (ip(), change()).prop_map(|(target, change)| Event::FarBranch { target, change }),
        2 => (kind, ip(), ip(), change())
            .prop_map(|(kind, from, target, change)| Event::Interrupt { kind, from, target, change }),
        2 => (cr3(), ip()).prop_map(|(cr3, next)| Event::Cr3Write { cr3, next }),
        1 => ip().prop_map(|resume| Event::Overflow { resume }),
    ]
}

pub fn config() -> impl Strategy<Value = Config> {
    (
        any::<(bool, bool, bool, bool, bool)>(),
        proptest::option::of(cr3()),
        0u8..3,
        proptest::option::of(1u8..),
    )
        .prop_map(
            |((os, user, non_root, long_tnt, splice), cr3_match, psb_freq, cbr)| Config {
                os,
                user,
                cr3_match,
                psb_freq,
                non_root,
                long_tnt,
                cbr,
                splice,
            },
        )
}

pub fn guest_state() -> impl Strategy<Value = GuestState> {
    (0u8..4, cr3(), exec_mode()).prop_map(|(cpl, cr3, mode)| GuestState { cpl, cr3, mode })
}
