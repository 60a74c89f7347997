// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The event layer: turns packets back into the control-flow events a trace carries —
//! the fabricator's twin, and the job of libipt's query decoder (`pt_qry_*`).
//!
//! An [`EventDecoder`] reads a byte slice through the packet [`Decoder`] and yields
//! [`Record`]s: each conditional branch (one per TNT bit, oldest first, across short and
//! long TNTs), each indirect branch target (TIP, with the last IP reconstructed), and
//! the events libipt's query decoder reports, with the same binding rules
//! (`libipt/src/pt_query_decoder.c` of libipt 2.0.5, whose event part libipt 2.1 moved
//! to `pt_event_decoder.c`):
//!
//! | packets | records |
//! |---|---|
//! | `TNT` | one [`Event::Branch`] per bit |
//! | `MODE.Exec*, TIP` | [`Event::ExecMode`] (IP = the TIP's), then [`Event::Indirect`] |
//! | `TIP.PGE` (+ waiting MODE.Exec) | [`Event::Enabled`], then [`Event::ExecMode`] at its IP |
//! | `TIP.PGD` | [`Event::Disabled`] |
//! | `FUP, [PIP], [VMCS], [MODE.Exec], TIP` | [`Event::AsyncBranch`], [`Event::AsyncPaging`], [`Event::AsyncVmcs`], [`Event::ExecMode`] (IP = the TIP's) |
//! | `FUP, …, TIP.PGD` | [`Event::AsyncDisabled`], then the others with no IP |
//! | `PIP` (no FUP waiting) | [`Event::Paging`] |
//! | `MODE.TSX, FUP` | [`Event::Tsx`] at the FUP's IP (at once while disabled) |
//! | `OVF, FUP` / `OVF` + anything else | [`Event::Overflow`] with / without the resume IP |
//! | `PSB … PSBEND` | status updates ([`Record::status_update`]): [`Event::Enabled`] at the FUP's IP when PSB+ has one, then [`Event::ExecMode`], [`Event::Tsx`], [`Event::AsyncPaging`], [`Event::AsyncVmcs`] (at the FUP's IP), [`Event::Cbr`] |
//! | `PTW`, `EXSTOP`, `CFE`, `BEP` with the IP bit, then `FUP` | [`Event::Other`] at the FUP's IP |
//!
//! A TNT or TIP while packet generation is disabled, or a control-flow packet inside
//! PSB+, is an [`Error::BadContext`]. After any error the decoder yields nothing until
//! [`EventDecoder::sync_forward`] moves it to the next PSB (or
//! [`EventDecoder::set_offset`] somewhere else), the packet decoder's resync rule;
//! synchronising resets every state except the time calibration.
//!
//! Timing packets (TSC, TMA, MTC, CYC, CBR) feed a [`Time`] estimate that every record
//! carries ([`Record::tsc`]).
//!
//! Zero allocation: waiting events live in fixed arrays (sizes in the `queue` module).
//!
//! Internal iteration (`for_each`, `fold`, `count`, ...) hands out the same records as
//! `next` in the same order, faster: the branch bits of a TNT run and the targets of
//! TIPs go to the closure straight from the hot path's loop, where `next` (and a `for`
//! loop) returns from it for each one.
//!
//! Deliberate differences from libipt: no errata workarounds; a PSB+ without FUP
//! produces no "disabled" status update (libipt 2.0.5 neither); timing anomalies never
//! stop decoding (they are counted in [`Time`]); MWAIT, PWRE, PWRX, EVD, MNT, BBP and BIP
//! pass through as [`Event::Other`].
//!
//! # Example
//!
//! ```
//! use pt_virt::fabricate::{Config, Event as In, ExecMode, Fabricator, GuestState};
//! use pt_virt::query::{Event, EventDecoder};
//!
//! let state = GuestState { cpl: 0, cr3: 0x1000, mode: ExecMode::Bits64 };
//! let mut fab = Fabricator::new(Vec::new(), Config::default(), state)?;
//! fab.event(&In::Enable { next: 0x40_1000 })?;
//! fab.event(&In::Branch { taken: true })?;
//! fab.event(&In::Indirect { target: 0x40_2000 })?;
//! let trace = fab.finish()?;
//!
//! let mut dec = EventDecoder::new(&trace, Default::default());
//! dec.sync_forward()?;
//! let events: Vec<Event> = dec
//!     .filter_map(|r| r.map(|r| (!r.status_update).then_some(r.event)).transpose())
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(
//!     events,
//!     [
//!         Event::Enabled { ip: 0x40_1000 },
//!         Event::ExecMode { mode: Some(ExecMode::Bits64), ip: Some(0x40_1000) },
//!         Event::Branch { taken: true },
//!         Event::Indirect { target: Some(0x40_2000) },
//!     ]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Checking a fabricated splice
//!
//! A hypervisor that performs a guest event itself (emulated interrupt delivery, an
//! emulated MOV CR3 or far transfer) writes the packets hardware would have written
//! with the [fabricator](crate::fabricate) and splices them into the guest's trace
//! output. Before the guest (or a dom0 tool) reads that output, the hypervisor can check
//! that a decoder sees exactly what hardware would have shown:
//!
//! 1. Decode the splice alone: [`EventDecoder::set_offset`] at its first byte, with
//!    `enabled` = PacketEn before the event. With [`Config::splice`](crate::fabricate::Config::splice)
//!    every IP is uncompressed, so nothing depends on the hardware's last IP, which
//!    software cannot know; a compressed IP shows up as [`Error::NoIp`].
//! 2. Compare the records with the event: for an interrupt delivered while tracing, one
//!    [`Event::AsyncBranch`] from the guest RIP at delivery to the handler, an
//!    [`Event::AsyncPaging`] if the task switch loaded a new CR3, an [`Event::ExecMode`]
//!    if CS.L/CS.D changed — all at the handler's IP — and nothing else.
//! 3. [`EventDecoder::enabled`] afterwards is PacketEn after the event, and
//!    [`EventDecoder::last_ip`] the IP the decoder will reconstruct the hardware's next
//!    compressed IP against. It is the handler's address here, while the processor's
//!    own last IP is still whatever it last wrote: so the hypervisor must apply the
//!    [`Resync`](crate::fabricate::Resync) that [`Fabricator::end_splice`](crate::fabricate::Fabricator::end_splice)
//!    returns (clear `IA32_RTIT_STATUS.PacketByteCnt`), making hardware start with a
//!    PSB+, which resets both last IPs to 0.
//!
//! ```
//! use pt_virt::fabricate::{Change, Config, Event as In, ExecMode, Fabricator, GuestState, InterruptKind};
//! use pt_virt::query::{self, Event, EventDecoder};
//!
//! // The guest runs traced; the hypervisor delivers an interrupt to a 32-bit handler.
//! let state = GuestState { cpl: 3, cr3: 0x1000, mode: ExecMode::Bits64 };
//! let mut fab = Fabricator::new(Vec::new(), Config::default(), state)?;
//! fab.event(&In::Enable { next: 0x40_0000 })?; // pretend: hardware traced up to here
//! fab.flush()?;
//! let start = fab.sink().len();
//! fab.event(&In::Interrupt {
//!     kind: InterruptKind::Hardware,
//!     from: 0x40_0123,
//!     target: 0xffff_8000_0000_1000,
//!     change: Change { cr3: Some(0x2000), mode: Some(ExecMode::Bits32), cpl: Some(0) },
//! })?;
//! let resync = fab.end_splice()?;
//! let trace = fab.into_sink();
//!
//! let mut dec = EventDecoder::new(&trace, query::Config::default());
//! dec.set_offset(start, true);
//! let seen: Vec<Event> = dec.by_ref().map(|r| r.map(|r| r.event)).collect::<Result<_, _>>()?;
//! let handler = Some(0xffff_8000_0000_1000);
//! assert_eq!(
//!     seen,
//!     [
//!         Event::AsyncBranch { from: 0x40_0123, to: handler },
//!         Event::AsyncPaging { cr3: 0x2000, nr: false, ip: handler },
//!         Event::ExecMode { mode: Some(ExecMode::Bits32), ip: handler },
//!     ]
//! );
//! assert!(dec.enabled());
//! assert_eq!(dec.last_ip(), handler);
//! // Hardware's next output must start with a PSB+: clear PacketByteCnt.
//! assert_eq!(resync.status(0x3_0000_0004), 0x4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod queue;
mod time;

pub use error::{Error, Result};
pub use time::{Time, TimeConfig};

use crate::fabricate::ExecMode;
use crate::packet::{Decoded, Decoder, IpCompression, Kind, Packet, Strictness, opcode as op};
use core::convert::Infallible;
use core::ops::ControlFlow;
use queue::{Bind, READY, Ready, WAITING, Waiting};

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Config {
    /// The packet decoder's rules.
    pub strictness: Strictness,
    /// What converts timing packets to TSC ticks.
    pub time: TimeConfig,
}

/// One thing a trace says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A conditional branch (or compressed RET): one TNT bit.
    Branch {
        /// Taken.
        taken: bool,
    },
    /// An indirect branch or far transfer to `target` (TIP; `None` when suppressed).
    Indirect {
        /// The target.
        target: Option<u64>,
    },
    /// Packet generation enabled at `ip` (TIP.PGE, or a FUP inside PSB+).
    Enabled {
        /// Where tracing resumes.
        ip: u64,
    },
    /// Packet generation disabled (TIP.PGD without a FUP).
    Disabled {
        /// The TIP.PGD's IP, usually suppressed.
        ip: Option<u64>,
    },
    /// Packet generation disabled by an asynchronous event at `at` (FUP + TIP.PGD).
    AsyncDisabled {
        /// The FUP's IP.
        at: u64,
        /// The TIP.PGD's IP, usually suppressed.
        ip: Option<u64>,
    },
    /// An asynchronous transfer (interrupt, exception, VM exit) from `from` to `to`
    /// (FUP + TIP).
    AsyncBranch {
        /// The FUP's IP.
        from: u64,
        /// The TIP's IP (`None` when suppressed).
        to: Option<u64>,
    },
    /// A CR3 write (PIP).
    Paging {
        /// CR3 bits 51:5.
        cr3: u64,
        /// NR: in VMX non-root operation.
        nr: bool,
    },
    /// A CR3 load as part of an asynchronous transfer (PIP between FUP and TIP); takes
    /// effect at `ip`.
    AsyncPaging {
        /// CR3 bits 51:5.
        cr3: u64,
        /// NR: in VMX non-root operation.
        nr: bool,
        /// The TIP's IP.
        ip: Option<u64>,
    },
    /// A VMPTRLD, or the current VMCS in PSB+ (VMCS packet).
    Vmcs {
        /// VMCS pointer bits 51:12.
        base: u64,
    },
    /// A VMCS load as part of an asynchronous transfer; takes effect at `ip`.
    AsyncVmcs {
        /// VMCS pointer bits 51:12.
        base: u64,
        /// The TIP's IP.
        ip: Option<u64>,
    },
    /// The execution mode from `ip` on (MODE.Exec; `mode` is `None` for the invalid CS.L
    /// = CS.D = 1).
    ExecMode {
        /// The mode.
        mode: Option<ExecMode>,
        /// Where it applies: the IP of the TIP, TIP.PGE or PSB+ FUP it binds to.
        ip: Option<u64>,
    },
    /// Transaction state (MODE.TSX) from `ip` on.
    Tsx {
        /// InTX: inside a transaction.
        intx: bool,
        /// TXAbort: the transaction aborted.
        abort: bool,
        /// The FUP's IP; `None` while tracing is disabled.
        ip: Option<u64>,
    },
    /// Internal buffer overflow: packets were lost. Tracing resumes at `ip`, or stays
    /// disabled (`None`) until a TIP.PGE. Handed out when it resolves: one that resolves
    /// disabled carries its OVF packet's offset and can follow the timing events (CBR,
    /// ...) decoded while it was pending.
    Overflow {
        /// The FUP's IP.
        ip: Option<u64>,
    },
    /// Core:bus ratio (CBR).
    Cbr {
        /// The ratio.
        ratio: u8,
    },
    /// TraceStop.
    Stop,
    /// A packet the event layer passes through: PTW, EXSTOP, CFE, BEP (with the IP of
    /// the FUP they bind to when their IP bit is set), MWAIT, PWRE, PWRX, EVD, MNT, BBP,
    /// BIP.
    Other {
        /// The packet.
        packet: Packet,
        /// The bound FUP's IP.
        ip: Option<u64>,
    },
}

/// An event and where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record {
    /// The event.
    pub event: Event,
    /// Offset of the packet that completed the event; for a branch, of the first TNT of
    /// the run of adjacent short TNTs (and PADs) its bit came with, which the decoder
    /// reads in one go.
    pub offset: usize,
    /// The event restates the state at a PSB (libipt `status_update`): it is no change.
    pub status_update: bool,
    /// The time estimate when the event was completed ([`Time::tsc`]).
    pub tsc: Option<u64>,
}

impl Record {
    const EMPTY: Self = Self {
        event: Event::Stop,
        offset: 0,
        status_update: false,
        tsc: None,
    };
}

/// What [`EventDecoder::general`] did with the next packet.
enum Step {
    /// Handled it (its records, if any, are in the ready queue).
    Continue,
    /// The end of the input, with nothing pending.
    End,
    /// The packet or its handling failed.
    Failed(Error),
}

/// What [`EventDecoder::hot`] hands out.
#[derive(Debug, Clone, Copy)]
enum Hot {
    /// A run of adjacent short TNTs (and PADs) at `offset`: `count` branch bits, the
    /// oldest at bit `count - 1`.
    Branches {
        /// The bits.
        bits: u64,
        /// How many.
        count: u8,
        /// The first TNT's offset.
        offset: usize,
    },
    /// A TIP that releases no waiting event: [`Event::Indirect`].
    Indirect {
        /// The TIP's IP.
        target: Option<u64>,
        /// The TIP's offset.
        offset: usize,
    },
}

/// The state of an overflow not resolved yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingOverflow {
    offset: usize,
}

/// The event layer's decoder; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct EventDecoder<'a> {
    packets: Decoder<'a>,
    config: Config,
    /// PacketEn as far as the trace tells.
    enabled: bool,
    /// Inside PSB+, with the FUP's IP once seen (`Some(None)`: no FUP yet).
    psb: Option<Option<u64>>,
    /// TNT bits not handed out: the oldest at bit `tnt_count - 1`.
    tnt_bits: u64,
    tnt_count: u8,
    tnt_offset: usize,
    overflow: Option<PendingOverflow>,
    waiting: Waiting,
    ready: Ready,
    time: Time,
    failed: bool,
    /// The error of a packet that first released earlier events: handed out after them.
    unreported: Option<Error>,
}

impl<'a> EventDecoder<'a> {
    /// A decoder at the start of `buf`, not synchronised: call
    /// [`sync_forward`](Self::sync_forward) to start at the first PSB, or
    /// [`set_offset`](Self::set_offset).
    pub fn new(buf: &'a [u8], config: Config) -> Self {
        Self {
            packets: Decoder::new(buf, config.strictness),
            config,
            enabled: false,
            psb: None,
            tnt_bits: 0,
            tnt_count: 0,
            tnt_offset: 0,
            overflow: None,
            waiting: Waiting::new(),
            ready: Ready::new(),
            time: Time::default(),
            failed: false,
            unreported: None,
        }
    }

    /// Offset of the next packet to decode (events already decoded may still be
    /// waiting to be handed out).
    pub const fn offset(&self) -> usize {
        self.packets.offset()
    }

    /// The time estimate after the packets decoded so far.
    pub const fn time(&self) -> &Time {
        &self.time
    }

    /// Whether packet generation is enabled after the packets decoded so far.
    pub const fn enabled(&self) -> bool {
        self.enabled
    }

    /// The last IP after the packets decoded so far (what the next compressed IP is
    /// reconstructed against).
    pub const fn last_ip(&self) -> Option<u64> {
        self.packets.last_ip().get()
    }

    /// Moves to the next PSB (libipt `pt_qry_sync_forward`) and returns its offset.
    pub fn sync_forward(&mut self) -> Result<usize> {
        let at = self.packets.sync_forward()?;
        self.reset(false);
        Ok(at)
    }

    /// Continues at `offset` with packet generation `enabled` or not and an unknown last
    /// IP: for a snippet that does not start at a PSB, such as fabricated packets spliced
    /// into a hardware stream (libipt `pt_qry_sync_set`).
    pub fn set_offset(&mut self, offset: usize, enabled: bool) {
        self.packets.set_offset(offset);
        self.reset(enabled);
    }

    fn reset(&mut self, enabled: bool) {
        self.enabled = enabled;
        self.psb = None;
        self.tnt_count = 0;
        self.overflow = None;
        self.waiting.clear();
        self.ready.clear();
        self.time = self.time.after_resync();
        self.failed = false;
        self.unreported = None;
    }

    /// The next record, `None` at the end of the input or after an error.
    #[inline(always)]
    pub fn next_record(&mut self) -> Option<Result<Record>> {
        loop {
            if self.tnt_count > 0 {
                self.tnt_count -= 1;
                let tsc = self.time.tsc();
                return Some(Ok(branch(
                    self.tnt_bits,
                    self.tnt_count,
                    self.tnt_offset,
                    tsc,
                )));
            }
            if let Some(r) = self.ready.pop() {
                return Some(Ok(r));
            }
            if self.failed {
                // The error of a packet whose released events went out first.
                return self.unreported.take().map(Err);
            }
            match self.hot((), |(), hot, _| ControlFlow::Break(hot)) {
                ControlFlow::Break(Hot::Branches {
                    bits,
                    count,
                    offset,
                }) => {
                    self.tnt_bits = bits;
                    self.tnt_count = count;
                    self.tnt_offset = offset;
                }
                ControlFlow::Break(Hot::Indirect { target, offset }) => {
                    return Some(Ok(indirect(target, offset, self.time.tsc())));
                }
                ControlFlow::Continue(()) => match self.general() {
                    Step::Continue => {}
                    Step::End => return None,
                    Step::Failed(e) => return Some(Err(e)),
                },
            }
        }
    }

    /// The packets of the hot path, from the decoder's compact table without a
    /// [`Packet`]: PAD, CYC and MTC (the same in every state); while tracing outside
    /// PSB+ and overflow, a short TNT (with the run of short TNTs after it) and a TIP
    /// that releases no waiting event (so completes no FUP either), with a known last
    /// IP. What they give goes to `emit` with the accumulator `acc` and the time
    /// estimate ([`Time::tsc`]), as long as it continues: not through the ready queue,
    /// because a record stored there and loaded back at once stalls (the loads are
    /// wider than the stores). Returns at the first packet left to
    /// [`EventDecoder::general`], at the end of the input or after an error
    /// (`Continue`), or when `emit` breaks (`Break`). Out of line, and `self` is not
    /// reachable from `emit`: the decoder's state stays in registers across the records
    /// `emit` hands out.
    #[inline(never)]
    fn hot<R, B>(
        &mut self,
        mut acc: B,
        mut emit: impl FnMut(B, Hot, Option<u64>) -> ControlFlow<R, B>,
    ) -> ControlFlow<R, B> {
        loop {
            let Some((b0, hot)) = self.packets.peek_hot() else {
                return ControlFlow::Continue(acc);
            };
            let raw = hot.raw;
            let config = &self.config.time;
            // The most frequent packets by their first byte (SDM opcode figures), not
            // by the table's kind: a branch on the byte resolves before the table load.
            // Bit 0 clear: PAD or a short TNT (the table leaves the 02h escape out).
            if b0 & 1 == 0 {
                if b0 != op::PAD {
                    if !self.plain() {
                        return ControlFlow::Continue(acc);
                    }
                    let offset = self.packets.offset();
                    // A local, so that the run's bits stay in a register.
                    let mut bits = 0;
                    let count = self.packets.append_short_tnts(&mut bits, 0);
                    let run = Hot::Branches {
                        bits,
                        count,
                        offset,
                    };
                    acc = emit(acc, run, self.time.tsc())?;
                    continue;
                }
                self.packets.take_hot_without_ip(&hot);
                continue;
            }
            if b0 & op::CYC == op::CYC {
                self.packets.take_hot_without_ip(&hot);
                self.time.on_cyc(config, || cyc_value(b0, raw.payload()));
                continue;
            }
            match raw.kind() {
                Kind::Mtc => {
                    self.packets.take_hot_without_ip(&hot);
                    self.time.on_mtc(config, raw.payload().to_le_bytes()[0]);
                }
                Kind::Tip
                    if self.plain()
                        && self.waiting.is_empty()
                        && self.packets.last_ip().get().is_some() =>
                {
                    let offset = self.packets.offset();
                    self.packets.take_hot(&hot);
                    let target = if raw.ip_bits() == 0 {
                        None
                    } else {
                        self.packets.last_ip().get()
                    };
                    acc = emit(acc, Hot::Indirect { target, offset }, self.time.tsc())?;
                }
                _ => return ControlFlow::Continue(acc),
            }
        }
    }

    /// Tracing, outside PSB+ and overflow: where TNT and TIP need nothing else.
    #[inline(always)]
    const fn plain(&self) -> bool {
        self.enabled && self.psb.is_none() && self.overflow.is_none()
    }

    /// Every packet [`EventDecoder::hot`] leaves: decoded as a [`Packet`] and handled;
    /// its records go to the ready queue. Out of line, so that the hot path keeps its
    /// state in registers.
    #[inline(never)]
    fn general(&mut self) -> Step {
        let decoded = match self.packets.next_packet() {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Step::Failed(self.fail(e.into())),
            None => {
                // An overflow at the end of the trace resolves disabled.
                let Some(o) = self.overflow.take() else {
                    return Step::End;
                };
                self.enabled = false;
                return match self.emit(Event::Overflow { ip: None }, o.offset, false) {
                    Ok(()) => Step::Continue,
                    Err(e) => Step::Failed(self.fail(e)),
                };
            }
        };
        if let Err(e) = self.packet(&decoded) {
            // Events the failing packet released precede it: they go out first.
            let e = self.fail(e);
            if self.ready.is_empty() {
                return Step::Failed(e);
            }
            self.unreported = Some(e);
        }
        Step::Continue
    }

    #[cold]
    fn fail(&mut self, e: Error) -> Error {
        self.failed = true;
        e
    }

    #[inline]
    fn record(&self, event: Event, offset: usize, status_update: bool) -> Record {
        Record {
            event,
            offset,
            status_update,
            tsc: self.time.tsc(),
        }
    }

    /// Hands out `event` now.
    #[inline]
    fn emit(&mut self, event: Event, offset: usize, status_update: bool) -> Result<()> {
        let r = self.record(event, offset, status_update);
        if self.ready.push(r) {
            Ok(())
        } else {
            Err(Error::QueueFull {
                offset,
                capacity: READY,
            })
        }
    }

    /// Keeps `event` until its binding packet.
    #[inline]
    fn wait(&mut self, event: Event, bind: Bind, offset: usize) -> Result<()> {
        if self.waiting.push(event, bind) {
            Ok(())
        } else {
            Err(Error::QueueFull {
                offset,
                capacity: WAITING,
            })
        }
    }

    /// Hands out the events bound to `bind`, each given `ip` where it takes one. A
    /// waiting asynchronous branch is dropped: the caller reports it.
    #[inline]
    fn release(&mut self, bind: Bind, ip: Option<u64>, d: &Decoded, status: bool) -> Result<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        let tsc = self.time.tsc();
        let ready = &mut self.ready;
        let mut full = false;
        self.waiting.drain(bind, |event| {
            if !matches!(event, Event::AsyncBranch { .. }) {
                full |= !ready.push(Record {
                    event: with_ip(event, ip),
                    offset: d.offset,
                    status_update: status,
                    tsc,
                });
            }
        });
        if full {
            return Err(Error::QueueFull {
                offset: d.offset,
                capacity: READY,
            });
        }
        Ok(())
    }

    #[inline]
    fn packet(&mut self, d: &Decoded) -> Result<()> {
        if self.psb.is_some() {
            return self.in_psb(d);
        }
        if let Some(o) = self.overflow {
            match d.packet {
                Packet::Pad
                | Packet::Tsc { .. }
                | Packet::Tma { .. }
                | Packet::Mtc { .. }
                | Packet::Cyc { .. }
                | Packet::Cbr { .. } => {}
                Packet::Fup(_) => {
                    self.overflow = None;
                    self.enabled = true;
                    let ip = needed_ip(d)?;
                    return self.emit(Event::Overflow { ip: Some(ip) }, d.offset, false);
                }
                _ => {
                    self.overflow = None;
                    self.enabled = false;
                    self.emit(Event::Overflow { ip: None }, o.offset, false)?;
                }
            }
        }
        match d.packet {
            Packet::Pad | Packet::PsbEnd => Ok(()),
            Packet::Tnt8 { count, bits } => self.tnt(d, count, bits.into()),
            Packet::Tnt64 { count, bits } => self.tnt(d, count, bits),
            Packet::Tip(_) => {
                if !self.enabled {
                    return Err(bad_context(d));
                }
                let ip = ip_of(d)?;
                let from = self.async_branch_from();
                if let Some(from) = from {
                    self.emit(Event::AsyncBranch { from, to: ip }, d.offset, false)?;
                }
                self.release(Bind::Tip, ip, d, false)?;
                if from.is_none() {
                    self.emit(Event::Indirect { target: ip }, d.offset, false)?;
                }
                Ok(())
            }
            Packet::TipPge(_) => {
                if self.async_branch_from().is_some() {
                    return Err(bad_context(d));
                }
                let ip = needed_ip(d)?;
                self.enabled = true;
                self.emit(Event::Enabled { ip }, d.offset, false)?;
                self.release(Bind::Tip, Some(ip), d, false)
            }
            Packet::TipPgd(_) => {
                let ip = ip_of(d)?;
                self.enabled = false;
                match self.async_branch_from() {
                    Some(at) => {
                        self.emit(Event::AsyncDisabled { at, ip }, d.offset, false)?;
                        self.release(Bind::Tip, None, d, false)
                    }
                    None => {
                        self.release(Bind::Tip, None, d, false)?;
                        self.emit(Event::Disabled { ip }, d.offset, false)
                    }
                }
            }
            Packet::Fup(_) => {
                let ip = needed_ip(d)?;
                if self.waiting.find_map(Bind::Fup, |_| Some(())).is_some() {
                    return self.release(Bind::Fup, Some(ip), d, false);
                }
                if self.async_branch_from().is_some() {
                    return Err(bad_context(d));
                }
                self.wait(
                    Event::AsyncBranch { from: ip, to: None },
                    Bind::Tip,
                    d.offset,
                )
            }
            Packet::Pip { cr3, nr } => {
                if self.async_branch_from().is_some() {
                    self.wait(
                        Event::AsyncPaging { cr3, nr, ip: None },
                        Bind::Tip,
                        d.offset,
                    )
                } else {
                    self.emit(Event::Paging { cr3, nr }, d.offset, false)
                }
            }
            Packet::Vmcs { base } => {
                if self.async_branch_from().is_some() {
                    self.wait(Event::AsyncVmcs { base, ip: None }, Bind::Tip, d.offset)
                } else {
                    self.emit(Event::Vmcs { base }, d.offset, false)
                }
            }
            Packet::ModeExec { csl, csd, .. } => self.wait(
                Event::ExecMode {
                    mode: ExecMode::from_csl_csd(csl, csd),
                    ip: None,
                },
                Bind::Tip,
                d.offset,
            ),
            Packet::ModeTsx { intx, abort } => {
                let event = Event::Tsx {
                    intx,
                    abort,
                    ip: None,
                };
                if self.enabled {
                    self.wait(event, Bind::Fup, d.offset)
                } else {
                    self.emit(event, d.offset, false)
                }
            }
            Packet::Ovf => self.ovf(d),
            Packet::Psb => {
                if !self.waiting.is_empty() {
                    return Err(bad_context(d));
                }
                self.enabled = false;
                self.psb = Some(None);
                Ok(())
            }
            Packet::Tsc { .. } | Packet::Tma { .. } | Packet::Mtc { .. } | Packet::Cyc { .. } => {
                self.timing(&d.packet);
                Ok(())
            }
            Packet::Cbr { ratio } => {
                self.time.on_cbr(&self.config.time, ratio);
                self.emit(Event::Cbr { ratio }, d.offset, false)
            }
            Packet::Stop => self.emit(Event::Stop, d.offset, false),
            Packet::Ptw { ip: true, .. }
            | Packet::Exstop { ip: true }
            | Packet::Bep { ip: true }
            | Packet::Cfe { ip: true, .. } => self.wait(
                Event::Other {
                    packet: d.packet,
                    ip: None,
                },
                Bind::Fup,
                d.offset,
            ),
            packet => self.emit(Event::Other { packet, ip: None }, d.offset, false),
        }
    }

    /// A TSC, TMA, MTC or CYC packet: the time estimate moves.
    #[inline]
    fn timing(&mut self, packet: &Packet) {
        let config = &self.config.time;
        match *packet {
            Packet::Tsc { tsc } => self.time.on_tsc(tsc),
            Packet::Tma { ctc, fc } => self.time.on_tma(config, ctc, fc),
            Packet::Mtc { ctc } => self.time.on_mtc(config, ctc),
            Packet::Cyc { value } => self.time.on_cyc(config, || value),
            _ => {}
        }
    }

    #[inline]
    fn tnt(&mut self, d: &Decoded, count: u8, bits: u64) -> Result<()> {
        if !self.enabled {
            return Err(bad_context(d));
        }
        self.tnt_bits = bits;
        self.tnt_count = self.packets.append_short_tnts(&mut self.tnt_bits, count);
        self.tnt_offset = d.offset;
        Ok(())
    }

    /// The source IP of a FUP waiting for its TIP.
    #[inline]
    fn async_branch_from(&self) -> Option<u64> {
        if self.waiting.is_empty() {
            return None;
        }
        self.waiting.find_map(Bind::Tip, |e| match *e {
            Event::AsyncBranch { from, .. } => Some(from),
            _ => None,
        })
    }

    /// OVF: drops what waited for a TIP or FUP that is lost, and waits for the FUP that
    /// says where tracing resumes.
    fn ovf(&mut self, d: &Decoded) -> Result<()> {
        self.waiting.clear();
        self.overflow = Some(PendingOverflow { offset: d.offset });
        Ok(())
    }

    /// A packet inside PSB+.
    fn in_psb(&mut self, d: &Decoded) -> Result<()> {
        let status = |event| (event, Bind::PsbEnd);
        let (event, bind) = match d.packet {
            Packet::Pad => return Ok(()),
            Packet::Fup(_) => {
                let ip = if d
                    .packet
                    .ip()
                    .is_some_and(|ip| ip.ipc == IpCompression::Suppressed)
                {
                    None
                } else {
                    Some(needed_ip(d)?)
                };
                self.psb = Some(ip);
                return Ok(());
            }
            Packet::PsbEnd => return self.psb_end(d),
            Packet::Ovf => {
                self.psb_end(d)?;
                return self.ovf(d);
            }
            Packet::ModeExec { csl, csd, .. } => status(Event::ExecMode {
                mode: ExecMode::from_csl_csd(csl, csd),
                ip: None,
            }),
            Packet::ModeTsx { intx, abort } => status(Event::Tsx {
                intx,
                abort,
                ip: None,
            }),
            Packet::Pip { cr3, nr } => status(Event::AsyncPaging { cr3, nr, ip: None }),
            Packet::Vmcs { base } => status(Event::AsyncVmcs { base, ip: None }),
            Packet::Cbr { ratio } => {
                self.time.on_cbr(&self.config.time, ratio);
                status(Event::Cbr { ratio })
            }
            Packet::Mnt { .. } => status(Event::Other {
                packet: d.packet,
                ip: None,
            }),
            Packet::Tsc { .. } | Packet::Tma { .. } | Packet::Mtc { .. } | Packet::Cyc { .. } => {
                self.timing(&d.packet);
                return Ok(());
            }
            _ => return Err(bad_context(d)),
        };
        self.wait(event, bind, d.offset)
    }

    /// PSBEND (or an OVF ending PSB+): the status updates, "enabled" first.
    fn psb_end(&mut self, d: &Decoded) -> Result<()> {
        let ip = self.psb.take().flatten();
        self.enabled = ip.is_some();
        if let Some(ip) = ip {
            self.emit(Event::Enabled { ip }, d.offset, true)?;
        }
        self.release(Bind::PsbEnd, ip, d, true)
    }
}

impl Iterator for EventDecoder<'_> {
    type Item = Result<Record>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }

    /// The records [`EventDecoder::next_record`] would hand out, in the same order: the
    /// internal iteration behind `for_each`, `count` and the like. The records of
    /// TNT runs and of TIPs that complete nothing else go to `f` from inside the
    /// decoder's loop over the frequent packets, which `next` leaves for each of them.
    #[inline]
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            // What `next` left pending goes first; then the hot packets, which only
            // run when nothing else waits.
            if self.tnt_count == 0 && self.ready.is_empty() && !self.failed {
                let each = |acc, hot, tsc| {
                    ControlFlow::<Infallible, B>::Continue(match hot {
                        Hot::Branches {
                            bits,
                            count,
                            offset,
                        } => (0..count)
                            .rev()
                            .fold(acc, |acc, i| f(acc, Ok(branch(bits, i, offset, tsc)))),
                        Hot::Indirect { target, offset } => {
                            f(acc, Ok(indirect(target, offset, tsc)))
                        }
                    })
                };
                let ControlFlow::Continue(next) = self.hot(acc, each);
                acc = next;
            }
            match self.next_record() {
                Some(r) => acc = f(acc, r),
                None => return acc,
            }
        }
    }
}

impl core::iter::FusedIterator for EventDecoder<'_> {}

/// The record of bit `i` (bit 0 = the newest) of the TNT run `bits` found at `offset`.
#[inline(always)]
const fn branch(bits: u64, i: u8, offset: usize, tsc: Option<u64>) -> Record {
    Record {
        event: Event::Branch {
            taken: bits >> i & 1 != 0,
        },
        offset,
        status_update: false,
        tsc,
    }
}

/// The record of a TIP at `offset` that completes nothing else.
#[inline(always)]
const fn indirect(target: Option<u64>, offset: usize, tsc: Option<u64>) -> Record {
    Record {
        event: Event::Indirect { target },
        offset,
        status_update: false,
        tsc,
    }
}

/// `event` completed with the binding packet's IP.
#[inline]
fn with_ip(event: Event, at: Option<u64>) -> Event {
    match event {
        Event::AsyncPaging { cr3, nr, .. } => Event::AsyncPaging { cr3, nr, ip: at },
        Event::AsyncVmcs { base, .. } => Event::AsyncVmcs { base, ip: at },
        Event::ExecMode { mode, .. } => Event::ExecMode { mode, ip: at },
        Event::Tsx { intx, abort, .. } => Event::Tsx {
            intx,
            abort,
            ip: at,
        },
        Event::Other { packet, .. } => Event::Other { packet, ip: at },
        other => other,
    }
}

/// The cycle count of a CYC packet whose first byte is `b0` and whose continuation
/// bytes are the low bytes of `payload` (zero past the packet): 5 bits from the first
/// byte (bits 7:3), then 7 from each continuation byte (bits 7:1), lowest first (SDM
/// vol. 3C, "Cycle Count (CYC) Packet").
#[inline]
fn cyc_value(b0: u8, payload: u64) -> u64 {
    let mut value = u64::from(b0 >> 3);
    let (mut rest, mut shift) = (payload, 5);
    while rest != 0 {
        value |= ((rest & 0xFF) >> 1) << shift;
        rest >>= 8;
        shift += 7;
    }
    value
}

#[cold]
fn bad_context(d: &Decoded) -> Error {
    Error::BadContext {
        offset: d.offset,
        kind: d.packet.kind(),
    }
}

/// The packet's IP: `None` when suppressed, an error when it is compressed against an
/// unknown last IP.
#[inline]
fn ip_of(d: &Decoded) -> Result<Option<u64>> {
    match (d.ip, d.packet.ip()) {
        (Some(ip), _) => Ok(Some(ip)),
        (None, Some(ip)) if ip.ipc == IpCompression::Suppressed => Ok(None),
        _ => Err(Error::NoIp {
            offset: d.offset,
            kind: d.packet.kind(),
        }),
    }
}

/// The packet's IP, which the event cannot do without.
#[inline]
fn needed_ip(d: &Decoded) -> Result<u64> {
    d.ip.ok_or(Error::NoIp {
        offset: d.offset,
        kind: d.packet.kind(),
    })
}

#[cfg(all(test, feature = "std"))]
mod tests;
