// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The fabricator: writes the packets a processor with Intel PT would have written for a
//! guest's control-flow events, for a hypervisor that performs those events itself
//! (emulated MOV CR3, emulated interrupt delivery, emulated far transfers) or that
//! traces a guest in software on a host without PT.
//!
//! A [`Fabricator`] is a state machine over the trace-relevant guest state (TraceEn, CPL,
//! CR3, execution mode, the TNT bits not yet written, the bytes since the last PSB), fed
//! one [`Event`] at a time, writing through the packet [`Encoder`]. Each rule follows the
//! Intel SDM vol. 3C, chapter "Intel Processor Trace" (chapter 36 in the revisions that
//! number its table "Table 36-50", chapter 33 in current ones); case numbers refer to its
//! table "Packet Generation under Different Enable Conditions":
//!
//! | event | packets (PacketEn before → after) | SDM |
//! |---|---|---|
//! | [`Event::Enable`] | `PSB, PIP?, CBR?, PSBEND`, then if ContextEn `MODE.Exec, TIP.PGE(NLIP)` | cases 2b, 2d; "Packet Stream Boundary (PSB)" |
//! | [`Event::Disable`] | 1 → 0: `FUP(CLIP), TIP.PGD()` | case 3b |
//! | [`Event::Branch`] | 1 → 1: one TNT bit; a TNT is written when full | cases 7d, 8d; "Taken/Not-taken (TNT) Packet" |
//! | [`Event::Indirect`] | 1 → 1: `TIP(BLIP)` | case 9d |
//! | [`Event::FarBranch`] | 1 → 1: `PIP?, MODE.Exec?, TIP(BLIP)`; 1 → 0: `TIP.PGD()`; 0 → 1: `PIP?, MODE.Exec?, TIP.PGE(BLIP)` | cases 10e, 10c, 10b |
//! | [`Event::Interrupt`] | 1 → 1: `FUP(src), PIP?, MODE.Exec?, TIP(BLIP)`; 1 → 0: `FUP(src), TIP.PGD()`; 0 → 1: `PIP?, MODE.Exec?, TIP.PGE(BLIP)` | cases 11–13 b, c, e |
//! | [`Event::Cr3Write`] | 1 → 1: `PIP(CR3, NR)`; 1 → 0: `TIP.PGD()`; 0 → 1: `PIP, MODE.Exec?, TIP.PGE(NLIP)` | cases 5d, 5c, 5b |
//! | [`Event::Overflow`] | `OVF`, then `FUP(resume)` if PacketEn | table "Compound Packet Event Summary", row Overflow |
//!
//! Further rules, each applied in one place below:
//!
//! - **Compound packets** (table "Compound Packet Event Summary"): a FUP only for
//!   asynchronous events, then PIP and MODE.Exec only when the operation changed the
//!   state they track, then the TIP or TIP.PGD. PIP needs `OS` = 1 and ContextEn
//!   ("PIP if CR3 is updated ... and OS=1"); its NR bit is set in VMX non-root operation.
//!   A task switch that loads the same CR3 writes no PIP.
//! - **MODE.Exec** before a TIP or TIP.PGE "if the mode has changed since the last
//!   MODE.Exec, or if no MODE.Exec since last PSB" (cases 5b, 9b, 10b; 10e and 11e: "if
//!   the operation changes CS.L/D or IA32_EFER.LMA").
//! - **ContextEn** (section "Context Filtering"): CPL 0 is traced when `OS` = 1, CPL > 0
//!   when `User` = 1, and with CR3 filtering only while CR3\[63:5\] equals
//!   `IA32_RTIT_CR3_MATCH`\[63:5\]. PacketEn = TraceEn ∧ ContextEn (FilterEn and BranchEn
//!   are taken as 1). A change of ContextEn is what turns a TIP into a TIP.PGE or
//!   TIP.PGD.
//! - **TNT** ("Taken/Not-taken (TNT) Packet"): results are packed oldest first, up to 6
//!   in a short TNT (or 47 in a long one, [`Config::long_tnt`]); pending results are
//!   written before any other packet, so the decoder sees them in program order
//!   (case 7f: "TNT, TIP.PGD()"). [`Fabricator::branches`] takes up to 64 results at
//!   once, as bits.
//! - **Periodic PSB** ("Packet Stream Boundary (PSB)", `IA32_RTIT_CTL.PSBFreq`): once
//!   `2 KiB << PSBFreq` bytes have been written since the last PSB, a
//!   `PSB, PIP?, CBR?, MODE.Exec, FUP(IP), PSBEND` is written at the next event boundary
//!   where the current IP is known (after an event that names it); the SDM calls the
//!   period approximate. A FUP inside PSB+ says where tracing stands.
//! - **IP compression** (table "Compressed IP Payload Format"): in a stream spliced into
//!   hardware's ([`Config::splice`]) every IP is uncompressed (IPBytes `011b` or `110b`),
//!   because the hardware's last IP is unknown to software; and [`Fabricator::end_splice`]
//!   tells the caller to make hardware start its next output with a PSB+ (which resets
//!   the last IP on both sides) by clearing `IA32_RTIT_STATUS.PacketByteCnt`. A stream the
//!   fabricator owns whole uses the shortest compression against its own last IP. The
//!   first IP after OVF is always uncompressed: whether hardware keeps its last IP across
//!   OVF is not documented, and libipt 2.0.5's query decoder forgets it (a compressed
//!   TIP.PGE after OVF decodes against 0; found by `peers/libipt-flow`).
//! - **Enable** always writes a PSB+ first, as processors without
//!   CPUID.(EAX=14H,ECX=0):EBX\[1\] do on every enable (case 2e with PacketByteCnt = 0),
//!   so every enable is a synchronisation point. The SDM prints case 2e as `MODE.Exec,
//!   TIP.PGE, PSB, PSBEND`; this writes the PSB+ first and then `MODE.Exec, TIP.PGE`, the
//!   order of cases 2b followed by 2d, which decoders read as "synchronised while
//!   disabled, then enabled".
//!
//! Not modelled: timing packets (TSC, MTC, TMA, CYC), IP filtering and TraceStop, TSX,
//! PTWRITE, power events, VMCS packets and the Event Trace packets (CFE, EVD), RET
//! compression (every near RET is an [`Event::Indirect`]).
//!
//! # Example
//!
//! ```
//! use pt_virt::fabricate::{Config, Event, ExecMode, Fabricator, GuestState};
//! use pt_virt::packet::{Decoder, Packet, Strictness};
//!
//! let state = GuestState { cpl: 0, cr3: 0x1000, mode: ExecMode::Bits64 };
//! let mut fab = Fabricator::new(Vec::new(), Config::default(), state)?;
//! fab.event(&Event::Enable { next: 0x40_1000 })?;
//! fab.event(&Event::Branch { taken: true })?;
//! fab.event(&Event::Indirect { target: 0x40_2000 })?;
//! fab.event(&Event::Cr3Write { cr3: 0x2000, next: 0x40_2003 })?;
//! let trace = fab.into_sink();
//!
//! let kinds: Vec<_> = Decoder::new(&trace, Strictness::Strict)
//!     .map(|d| d.map(|d| d.packet.kind()))
//!     .collect::<Result<_, _>>()?;
//! use pt_virt::packet::Kind::*;
//! assert_eq!(kinds, [Psb, Pip, PsbEnd, ModeExec, TipPge, Tnt8, Tip, Pip]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod event;

pub use error::{Error, Result};
pub use event::{Change, Config, Event, ExecMode, InterruptKind};

use crate::msr::RtitStatus;
use crate::packet::{Compression, Encoder, IpKind, Packet, Sink};

/// Short TNT capacity (SDM "Taken/Not-taken (TNT) Packet": 1 to 6 TNT bits).
const SHORT_TNT_BITS: u8 = 6;
/// Long TNT capacity (1 to 47 TNT bits).
const LONG_TNT_BITS: u8 = 47;

/// The trace-relevant guest state when fabrication starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GuestState {
    /// Current privilege level, 0..=3.
    pub cpl: u8,
    /// CR3.
    pub cr3: u64,
    /// Execution mode.
    pub mode: ExecMode,
}

/// What software must do after splicing fabricated packets into a stream that hardware
/// writes too: returned by [`Fabricator::end_splice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "hardware must resynchronise the decoder with a PSB+ after a splice"]
pub struct Resync;

impl Resync {
    /// The `IA32_RTIT_STATUS` value to write (with TraceEn = 0) before tracing is
    /// enabled again: `status` with PacketByteCnt cleared, so the processor starts its
    /// next output with a PSB+ and its last IP and the decoder's are both reset to 0
    /// (needs CPUID.(EAX=14H,ECX=0):EBX\[1\]; without it every enable writes a PSB).
    pub const fn status(self, status: u64) -> u64 {
        status & !RtitStatus::PACKET_BYTE_CNT.bits()
    }
}

/// The packet fabricator; see the [module documentation](self) for its rules.
#[derive(Debug)]
pub struct Fabricator<S> {
    enc: Encoder<S>,
    config: Config,
    trace_en: bool,
    cpl: u8,
    cr3: u64,
    mode: ExecMode,
    /// The mode of the last MODE.Exec since the last PSB.
    mode_sent: Option<ExecMode>,
    /// Pending TNT results, newest in bit 0, below a stop bit (as a TNT packet's
    /// payload holds them): 1 when none are pending.
    tnt: u64,
    /// Bytes written since the last PSB.
    since_psb: usize,
    /// The IP of the next instruction, when an event named it.
    ip: Option<u64>,
    /// PacketEn, recomputed whenever TraceEn, the CPL or CR3 changes: a conditional
    /// branch, most of a trace's events, only reads it.
    packet_en: bool,
    /// [`Fabricator::tnt`] with a full TNT pending: the stop bit above 6 results
    /// (short TNT) or 47 (long).
    tnt_full: u64,
    /// The next IP packet must not depend on the last IP (after OVF).
    uncompressed_next: bool,
}

impl<S: Sink> Fabricator<S> {
    /// A fabricator with tracing disabled (TraceEn = 0) writing into `sink`; an error
    /// for a PSBFreq above 15, a CBR ratio of 0 or a CPL above 3.
    pub fn new(sink: S, config: Config, state: GuestState) -> Result<Self> {
        if config.psb_freq > 15 {
            return Err(Error::BadPsbFreq(config.psb_freq));
        }
        if config.cbr == Some(0) {
            return Err(Error::ZeroCbr);
        }
        check_cpl(state.cpl)?;
        Ok(Self {
            enc: Encoder::new(sink),
            config,
            trace_en: false,
            cpl: state.cpl,
            cr3: state.cr3,
            mode: state.mode,
            mode_sent: None,
            tnt: 1,
            since_psb: 0,
            ip: None,
            packet_en: false,
            tnt_full: 1
                << if config.long_tnt {
                    LONG_TNT_BITS
                } else {
                    SHORT_TNT_BITS
                },
            uncompressed_next: false,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The guest state as the events so far left it.
    pub const fn state(&self) -> GuestState {
        GuestState {
            cpl: self.cpl,
            cr3: self.cr3,
            mode: self.mode,
        }
    }

    /// TraceEn.
    pub const fn trace_en(&self) -> bool {
        self.trace_en
    }

    /// ContextEn: the CPL and CR3 filters let the current context be traced.
    pub const fn context_en(&self) -> bool {
        let cpl_ok = if self.cpl == 0 {
            self.config.os
        } else {
            self.config.user
        };
        let cr3_ok = match self.config.cr3_match {
            Some(m) => (m ^ self.cr3) >> 5 == 0,
            None => true,
        };
        cpl_ok && cr3_ok
    }

    /// PacketEn = TraceEn ∧ ContextEn (FilterEn and BranchEn taken as 1).
    pub const fn packet_en(&self) -> bool {
        self.packet_en
    }

    /// Recomputes PacketEn after TraceEn, the CPL or CR3 changed.
    fn update_packet_en(&mut self) {
        self.packet_en = self.trace_en && self.context_en();
    }

    /// The sink.
    pub const fn sink(&self) -> &S {
        self.enc.sink()
    }

    /// The sink, mutably (e.g. to drain it).
    pub fn sink_mut(&mut self) -> &mut S {
        self.enc.sink_mut()
    }

    /// Writes the pending TNT results and gives the sink back.
    pub fn finish(mut self) -> Result<S> {
        self.flush()?;
        Ok(self.enc.into_sink())
    }

    /// Gives the sink back; pending TNT results are dropped (use [`finish`](Self::finish)
    /// to write them).
    pub fn into_sink(self) -> S {
        self.enc.into_sink()
    }

    /// Writes the pending TNT results, if any.
    #[inline(always)]
    pub fn flush(&mut self) -> Result<()> {
        let tnt = self.tnt;
        if tnt <= 1 {
            return Ok(());
        }
        if let Ok(short) = u8::try_from(tnt)
            && short >> SHORT_TNT_BITS <= 1
        {
            self.since_psb += self.enc.encode_tnt8(short)?;
        } else {
            #[allow(clippy::cast_possible_truncation, reason = "the stop bit's position")]
            let count = (63 - tnt.leading_zeros()) as u8;
            self.put(&Packet::Tnt64 {
                count,
                bits: tnt ^ 1 << count,
            })?;
        }
        self.tnt = 1;
        Ok(())
    }

    /// Ends a splice into a hardware-written stream: writes the pending TNT results and
    /// returns what software must do before hardware writes again.
    pub fn end_splice(&mut self) -> Result<Resync> {
        self.flush()?;
        Ok(Resync)
    }

    /// Writes the packets for `event` and applies it to the state.
    #[inline(always)]
    pub fn event(&mut self, event: &Event) -> Result<()> {
        // A conditional branch, most of a trace's events, inline in the caller; every
        // other event through one call, so that a caller's loop over events stays
        // small.
        if let Event::Branch { taken } = *event {
            return self.branch(taken);
        }
        self.dispatch(event)
    }

    /// Conditional branches, `count` of them (at most 64), their results in the low
    /// `count` bits of `taken` (1 = taken), newest in bit 0, as a shift register
    /// `taken = taken << 1 | result` collects them and as a TNT packet's payload holds
    /// them; higher bits are ignored. The same as `count` [`Event::Branch`] events
    /// (cases 7 and 8): the TNTs are written as they fill.
    ///
    /// The fast way to feed a run of conditional branches: a tracer that keeps their
    /// results as bits hands them over without building an event for each, and with
    /// short TNTs a TNT's six results are taken at once.
    ///
    /// An error for a `count` above 64, with nothing changed. When a TNT cannot be
    /// written (the sink is full), the results up to it are taken, it stays pending,
    /// the later ones are dropped and the sink's error is returned.
    #[inline]
    pub fn branches(&mut self, taken: u64, count: u32) -> Result<()> {
        if !(1..=64).contains(&count)
            || !self.packet_en
            || self.config.long_tnt
            || self.tnt >= self.tnt_full
        {
            return self.branches_one_by_one(taken, count);
        }
        self.ip = None;
        // Short TNTs, fewer than 6 results pending below the stop bit.
        let mut tnt = self.tnt;
        let mut left = count;
        loop {
            let room = u32::from(SHORT_TNT_BITS) + tnt.leading_zeros() - 63;
            if left < room {
                self.tnt = tnt << left | (taken & ((1 << left) - 1));
                return Ok(());
            }
            left -= room;
            let full = tnt << room | (taken >> left & ((1 << room) - 1));
            // Pending, should the write fail.
            self.tnt = full;
            #[allow(
                clippy::cast_possible_truncation,
                reason = "a full short TNT is below 0x80"
            )]
            let written = self.enc.encode_tnt8(full as u8)?;
            self.since_psb += written;
            tnt = 1;
        }
    }

    /// [`Fabricator::branches`] one result at a time, out of line: none, too many,
    /// while PacketEn = 0, with long TNTs, or after a TNT whose write failed.
    #[inline(never)]
    fn branches_one_by_one(&mut self, taken: u64, count: u32) -> Result<()> {
        if count > 64 {
            return Err(Error::BranchCount(count));
        }
        for shift in (0..count).rev() {
            self.branch(taken >> shift & 1 != 0)?;
        }
        Ok(())
    }

    /// [`Fabricator::event`] out of line, for the events that are not conditional
    /// branches (and for those too, as the match has every event).
    #[inline(never)]
    fn dispatch(&mut self, event: &Event) -> Result<()> {
        match *event {
            Event::Enable { next } => self.enable(next)?,
            Event::Disable { at } => self.disable(at)?,
            // A branch leaves the IP unknown, so no periodic PSB can follow it.
            Event::Branch { taken } => return self.branch(taken),
            Event::Indirect { target } => {
                if self.packet_en() {
                    self.flush()?;
                    self.put_ip(IpKind::Tip, target)?;
                }
                self.ip = Some(target);
            }
            Event::FarBranch { target, change } => self.transfer(None, target, change)?,
            Event::Interrupt {
                from,
                target,
                change,
                ..
            } => self.transfer(Some(from), target, change)?,
            Event::Cr3Write { cr3, next } => self.cr3_write(cr3, next)?,
            Event::Overflow { resume } => self.overflow(resume)?,
        }
        self.periodic_psb()
    }

    /// TraceEn 0 → 1 (cases 2b and 2d; see the module documentation for the order).
    fn enable(&mut self, next: u64) -> Result<()> {
        if self.trace_en {
            return Ok(());
        }
        self.trace_en = true;
        self.update_packet_en();
        self.ip = Some(next);
        self.psb_plus(None)?;
        if self.packet_en() {
            self.put_mode()?;
            self.put_ip(IpKind::TipPge, next)?;
        }
        Ok(())
    }

    /// TraceEn 1 → 0 (case 3b: `FUP(CLIP), TIP.PGD()` when PacketEn was 1, else nothing).
    fn disable(&mut self, at: u64) -> Result<()> {
        if self.packet_en() {
            self.flush()?;
            self.put_ip(IpKind::Fup, at)?;
            self.put(&Packet::TipPgd(crate::packet::Ip::SUPPRESSED))?;
        }
        self.trace_en = false;
        self.update_packet_en();
        self.ip = None;
        Ok(())
    }

    /// A conditional branch (cases 7 and 8): one TNT bit while PacketEn; the TNT is
    /// written when full (cases 7d, 8d). A full TNT whose write failed (the sink was
    /// full) is written before the result is taken, so that no more than one TNT's
    /// results are ever pending: while it cannot be written, branches are refused
    /// with the sink's error and not recorded.
    #[inline(always)]
    fn branch(&mut self, taken: bool) -> Result<()> {
        self.ip = None;
        if !self.packet_en() {
            return Ok(());
        }
        if self.tnt >= self.tnt_full {
            self.flush()?;
        }
        self.tnt = self.tnt << 1 | u64::from(taken);
        if self.tnt >= self.tnt_full {
            self.flush()?;
        }
        Ok(())
    }

    /// A far branch (`from` = `None`, case 10) or an interrupt or exception (`from` = the
    /// FUP's source IP, cases 11 to 13).
    #[inline]
    fn transfer(&mut self, from: Option<u64>, target: u64, change: Change) -> Result<()> {
        if let Some(cpl) = change.cpl {
            check_cpl(cpl)?;
        }
        let before = self.packet_en();
        let cr3_changed = change.cr3.is_some_and(|cr3| cr3 != self.cr3);
        if let Some(cr3) = change.cr3 {
            self.cr3 = cr3;
        }
        if let Some(mode) = change.mode {
            self.mode = mode;
        }
        if let Some(cpl) = change.cpl {
            self.cpl = cpl;
        }
        self.update_packet_en();
        let after = self.packet_en();
        self.ip = Some(target);
        if before {
            self.flush()?;
            if let Some(from) = from {
                self.put_ip(IpKind::Fup, from)?;
            }
        }
        match (before, after) {
            (true, true) => {
                self.put_pip_if(cr3_changed)?;
                self.put_mode_if_changed()?;
                self.put_ip(IpKind::Tip, target)?;
            }
            (true, false) => self.put(&Packet::TipPgd(crate::packet::Ip::SUPPRESSED))?,
            (false, true) => self.put_pge(cr3_changed, target)?,
            (false, false) => {}
        }
        Ok(())
    }

    /// MOV to CR3 (case 5).
    fn cr3_write(&mut self, cr3: u64, next: u64) -> Result<()> {
        let before = self.packet_en();
        self.cr3 = cr3;
        self.update_packet_en();
        let after = self.packet_en();
        self.ip = Some(next);
        match (before, after) {
            (true, true) => {
                self.flush()?;
                self.put_pip_if(true)?;
            }
            (true, false) => {
                self.flush()?;
                self.put(&Packet::TipPgd(crate::packet::Ip::SUPPRESSED))?;
            }
            (false, true) => self.put_pge(true, next)?,
            (false, false) => {}
        }
        Ok(())
    }

    /// Overflow (table "Compound Packet Event Summary": `OVF`, then `FUP` if the overflow
    /// resolves while PacketEn = 1, else the next enable's TIP.PGE).
    fn overflow(&mut self, resume: u64) -> Result<()> {
        if !self.trace_en {
            return Ok(());
        }
        self.flush()?;
        self.put(&Packet::Ovf)?;
        self.uncompressed_next = true;
        self.ip = Some(resume);
        if self.packet_en() {
            self.put_ip(IpKind::Fup, resume)?;
        }
        Ok(())
    }

    /// A PSB+ once the PSBFreq period has passed, at a point where the IP is known.
    fn periodic_psb(&mut self) -> Result<()> {
        let period = 2048usize << self.config.psb_freq;
        match self.ip {
            Some(ip) if self.packet_en() && self.since_psb >= period => {
                self.flush()?;
                self.psb_plus(Some(ip))
            }
            _ => Ok(()),
        }
    }

    /// `PSB, PIP?, CBR?, [MODE.Exec, FUP(ip)], PSBEND`. The FUP and its MODE.Exec only
    /// while PacketEn (`at` = `Some`): "FUP ... only if PacketEn=1".
    fn psb_plus(&mut self, at: Option<u64>) -> Result<()> {
        self.since_psb = 0;
        self.mode_sent = None;
        self.put(&Packet::Psb)?;
        self.put_pip_if(true)?;
        if let Some(ratio) = self.config.cbr {
            self.put(&Packet::Cbr { ratio })?;
        }
        if let Some(ip) = at {
            self.put_mode()?;
            self.put_ip(IpKind::Fup, ip)?;
        }
        self.put(&Packet::PsbEnd)
    }

    /// A PIP for the current CR3 if `changed`, ContextEn and `OS`.
    /// Packet generation resumes at `ip`: PIP (when the CR3 changed), MODE.Exec (when the
    /// mode changed) and TIP.PGE.
    fn put_pge(&mut self, cr3_changed: bool, ip: u64) -> Result<()> {
        self.put_pip_if(cr3_changed)?;
        self.put_mode_if_changed()?;
        self.put_ip(IpKind::TipPge, ip)
    }

    fn put_pip_if(&mut self, changed: bool) -> Result<()> {
        if changed && self.config.os && self.context_en() {
            self.put(&Packet::Pip {
                cr3: self.cr3 & 0x000F_FFFF_FFFF_FFE0,
                nr: self.config.non_root,
            })?;
        }
        Ok(())
    }

    /// MODE.Exec unless the last one since PSB reported the current mode.
    fn put_mode_if_changed(&mut self) -> Result<()> {
        if self.mode_sent == Some(self.mode) {
            return Ok(());
        }
        self.put_mode()
    }

    fn put_mode(&mut self) -> Result<()> {
        let (csl, csd) = self.mode.csl_csd();
        self.put(&Packet::ModeExec {
            csl,
            csd,
            iflag: false,
        })?;
        self.mode_sent = Some(self.mode);
        Ok(())
    }

    #[inline(always)]
    fn put_ip(&mut self, kind: IpKind, ip: u64) -> Result<()> {
        let policy = if self.config.splice || self.uncompressed_next {
            Compression::Independent
        } else {
            Compression::Shortest
        };
        let payload = self.enc.encode_ip(kind, ip, policy)?;
        self.since_psb += 1 + payload.ipc.payload_len();
        self.uncompressed_next = false;
        Ok(())
    }

    #[inline(always)]
    fn put(&mut self, packet: &Packet) -> Result<()> {
        self.since_psb += self.enc.encode(packet)?;
        Ok(())
    }
}

fn check_cpl(cpl: u8) -> Result<()> {
    if cpl > 3 {
        return Err(Error::BadCpl(cpl));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
