// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A reference model of the fabricator's rules at the level the event layer
//! (`pt_virt::query`) reports: from fabricator events to the query events a decoder must
//! give back ([`expected`]), and proptest strategies for event sequences. Shared (by
//! `#[path]`) with the libipt differential test in `peers/libipt-flow`.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use pt_virt::fabricate::{Change, Config, Event, ExecMode, GuestState, InterruptKind};
use pt_virt::query::Event as Q;

fn context_en(config: &Config, cpl: u8, cr3: u64) -> bool {
    let cpl_ok = if cpl == 0 { config.os } else { config.user };
    cpl_ok && config.cr3_match.is_none_or(|m| (m ^ cr3) >> 5 == 0)
}

const CR3_MASK: u64 = 0x000F_FFFF_FFFF_FFE0;

/// The events (status updates left out) the event layer must report for the packets the
/// fabricator writes for `events`, in the event layer's order: a TIP.PGE's enable before
/// the MODE.Exec bound to it, a TIP's MODE.Exec before the branch, an asynchronous
/// branch before the PIP and MODE.Exec between its FUP and TIP.
pub fn expected(config: &Config, state: GuestState, events: &[Event]) -> Vec<Q> {
    let mut out = Vec::new();
    let (mut trace_en, mut cpl, mut cr3, mut mode) = (false, state.cpl, state.cr3, state.mode);
    let mut mode_sent: Option<ExecMode> = None;
    let nr = config.non_root;
    for e in events {
        let pe = trace_en && context_en(config, cpl, cr3);
        match *e {
            Event::Enable { next } => {
                if !trace_en {
                    trace_en = true;
                    mode_sent = None;
                    if context_en(config, cpl, cr3) {
                        out.push(Q::Enabled { ip: next });
                        out.push(Q::ExecMode {
                            mode: Some(mode),
                            ip: Some(next),
                        });
                        mode_sent = Some(mode);
                    }
                }
            }
            Event::Disable { at } => {
                if pe {
                    out.push(Q::AsyncDisabled { at, ip: None });
                }
                trace_en = false;
            }
            Event::Branch { taken } => {
                if pe {
                    out.push(Q::Branch { taken });
                }
            }
            Event::Indirect { target } => {
                if pe {
                    out.push(Q::Indirect {
                        target: Some(target),
                    });
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
                let pip = changed && config.os;
                let new_mode = (mode_sent != Some(mode)).then_some(mode);
                match (pe, after, from) {
                    (true, false, Some(at)) => out.push(Q::AsyncDisabled { at, ip: None }),
                    (true, false, None) => out.push(Q::Disabled { ip: None }),
                    (true, true, Some(from)) => {
                        out.push(Q::AsyncBranch {
                            from,
                            to: Some(target),
                        });
                        if pip {
                            out.push(Q::AsyncPaging {
                                cr3: cr3 & CR3_MASK,
                                nr,
                                ip: Some(target),
                            });
                        }
                        if let Some(m) = new_mode {
                            out.push(Q::ExecMode {
                                mode: Some(m),
                                ip: Some(target),
                            });
                        }
                    }
                    (true, true, None) => {
                        if pip {
                            out.push(Q::Paging {
                                cr3: cr3 & CR3_MASK,
                                nr,
                            });
                        }
                        if let Some(m) = new_mode {
                            out.push(Q::ExecMode {
                                mode: Some(m),
                                ip: Some(target),
                            });
                        }
                        out.push(Q::Indirect {
                            target: Some(target),
                        });
                    }
                    (false, true, _) => {
                        if pip {
                            out.push(Q::Paging {
                                cr3: cr3 & CR3_MASK,
                                nr,
                            });
                        }
                        out.push(Q::Enabled { ip: target });
                        if let Some(m) = new_mode {
                            out.push(Q::ExecMode {
                                mode: Some(m),
                                ip: Some(target),
                            });
                        }
                    }
                    (false, false, _) => {}
                }
                if after {
                    mode_sent = Some(mode);
                }
            }
            Event::Cr3Write { cr3: new, next } => {
                cr3 = new;
                let after = trace_en && context_en(config, cpl, cr3);
                let paging = Q::Paging {
                    cr3: cr3 & CR3_MASK,
                    nr,
                };
                match (pe, after) {
                    (true, true) if config.os => out.push(paging),
                    (true, true) | (false, false) => {}
                    (true, false) => out.push(Q::Disabled { ip: None }),
                    (false, true) => {
                        if config.os {
                            out.push(paging);
                        }
                        out.push(Q::Enabled { ip: next });
                        if mode_sent != Some(mode) {
                            out.push(Q::ExecMode {
                                mode: Some(mode),
                                ip: Some(next),
                            });
                            mode_sent = Some(mode);
                        }
                    }
                }
            }
            Event::Overflow { resume } => {
                if trace_en {
                    out.push(Q::Overflow {
                        ip: pe.then_some(resume),
                    });
                }
            }
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
