// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A trace listing in the format of libipt's `ptdump` (`ptdump/src/ptdump.c`), or as
//! JSON lines, packet by packet or event by event (through the [event layer](crate::query)):
//! what the `pt-virt` command-line tool prints, written into any [`core::fmt::Write`] so
//! it stays `no_std` and allocation-free.
//!
//! Packet lines follow ptdump's columns: the offset (16 hex digits), optionally the raw
//! bytes, the packet name (padded to 9 characters when a payload follows), the payload,
//! and a tracking column (`ip` with `--lastip`, `cr3` for PIP, `vmcs` for VMCS, `em`
//! with `--exec-mode`, `type` for CFE and EVD); fields are cut at ptdump's widths. A
//! decoding error prints ptdump's `[offset: error decoding packet: reason]` line with
//! libipt's reason text, and the listing continues at the next PSB, as ptdump does.
//!
//! Deliberate differences from ptdump: the last IP is reset to 0 at each PSB (hardware's
//! rule; ptdump carries its own across PSBs), a packet truncated by the end of the input
//! is reported instead of ending the listing silently, and BBP, BIP and BEP (which
//! libipt does not know) are listed as `bbp`, `bip` and `bep`.

use core::fmt::{self, Write};

use crate::fabricate::ExecMode;
use crate::packet::{self, Decoded, Decoder, IpCompression, Packet, PayloadSize, Strictness};
use crate::query::{self, Event, EventDecoder, Record};

/// What to list and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Options {
    /// The offset as the first column (ptdump: on unless `--no-offset`).
    pub offset: bool,
    /// The reconstructed IP after each IP packet (ptdump `--lastip`).
    pub last_ip: bool,
    /// Start at the first PSB; `false` decodes from offset 0 (ptdump `--no-sync`).
    pub sync: bool,
    /// The raw packet bytes (ptdump `--raw`).
    pub raw: bool,
    /// The execution mode on MODE.Exec packets (ptdump `--exec-mode`).
    pub exec_mode: bool,
    /// Leave out PAD packets (ptdump `--no-pad`).
    pub no_pad: bool,
    /// Leave out TSC, TMA, MTC, CYC and CBR packets (ptdump `--no-timing`).
    pub no_timing: bool,
    /// JSON lines instead of ptdump's columns.
    pub json: bool,
    /// The packet decoder's rules.
    pub strictness: Strictness,
    /// For events: what converts timing packets to TSC ticks.
    pub time: query::TimeConfig,
}

impl Default for Options {
    /// ptdump's defaults: offsets shown, synchronised at the first PSB, text.
    fn default() -> Self {
        Self {
            offset: true,
            last_ip: false,
            sync: true,
            raw: false,
            exec_mode: false,
            no_pad: false,
            no_timing: false,
            json: false,
            strictness: Strictness::Strict,
            time: query::TimeConfig::default(),
        }
    }
}

/// What a listing went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Summary {
    /// Packets (or events) listed.
    pub items: usize,
    /// Decoding errors, each followed by a resync.
    pub errors: usize,
}

/// A field of at most `N - 1` bytes: longer text is cut, as ptdump's `snprintf` into a
/// fixed buffer does.
struct Field<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Field<N> {
    const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or_default();
        // Only whole `str`s are appended (cut at a char boundary), so this always holds.
        core::str::from_utf8(bytes).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Write for Field<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N.saturating_sub(1).saturating_sub(self.len);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            s.as_bytes().get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
        Ok(())
    }
}

/// One packet's columns (ptdump `struct ptdump_buffer`, same sizes).
struct Line {
    raw: Field<33>,
    opcode: &'static str,
    payload: Field<48>,
    /// ptdump's extended payload (TNT): not padded, no tracking column.
    extended: bool,
    id: &'static str,
    tracking: Field<17>,
}

/// libipt's `pt_errstr` text for the error class of a packet error.
fn libipt_reason(e: &packet::Error) -> &'static str {
    match e {
        packet::Error::Truncated { .. } => "reached end of trace stream",
        packet::Error::UnknownOpcode { .. }
        | packet::Error::UnknownExtOpcode { .. }
        | packet::Error::UnknownExt2Opcode { .. } => "unknown opcode",
        packet::Error::NoPsb { .. } => "decoder out of sync",
        _ => "unknown packet",
    }
}

/// The offset a packet error names.
fn error_offset(e: &packet::Error) -> Option<usize> {
    match *e {
        packet::Error::Truncated { offset, .. }
        | packet::Error::UnknownOpcode { offset, .. }
        | packet::Error::UnknownExtOpcode { offset, .. }
        | packet::Error::UnknownExt2Opcode { offset, .. }
        | packet::Error::BadPsb { offset }
        | packet::Error::ReservedIpBytes { offset, .. }
        | packet::Error::EmptyTnt { offset }
        | packet::Error::BadModeLeaf { offset, .. }
        | packet::Error::BadModeBits { offset, .. }
        | packet::Error::ReservedTma { offset }
        | packet::Error::CycTooLong { offset, .. }
        | packet::Error::ReservedPtwSize { offset, .. } => Some(offset),
        _ => None,
    }
}

/// Writes `s` as a JSON string.
fn json_str<W: Write>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Lists the packets of `trace`, ptdump style; `on_error` sees every decoding error
/// (the tool prints the detail on stderr). Returns what was listed, or the writer's
/// error.
pub fn packets<W: Write>(
    trace: &[u8],
    options: &Options,
    out: &mut W,
    mut on_error: impl FnMut(&packet::Error),
) -> Result<Summary, fmt::Error> {
    let mut summary = Summary::default();
    let mut dec = Decoder::new(trace, options.strictness);
    if options.sync && dec.sync_forward().is_err() {
        return Ok(summary);
    }
    loop {
        match dec.next_packet() {
            None => return Ok(summary),
            Some(Ok(d)) => {
                if let Some(line) = packet_line(trace, &d, options) {
                    summary.items += 1;
                    write_packet(out, d.offset, &line, options)?;
                }
            }
            Some(Err(e)) => {
                summary.errors += 1;
                on_error(&e);
                let offset = error_offset(&e).unwrap_or(dec.offset());
                write_error(
                    out,
                    offset,
                    "error decoding packet",
                    libipt_reason(&e),
                    options,
                )?;
                if dec.sync_forward().is_err() {
                    return Ok(summary);
                }
            }
        }
    }
}

/// Lists the events of `trace` through the event layer; decoding errors print a line
/// and the listing continues at the next PSB.
pub fn events<W: Write>(
    trace: &[u8],
    options: &Options,
    out: &mut W,
    mut on_error: impl FnMut(&query::Error),
) -> Result<Summary, fmt::Error> {
    let mut summary = Summary::default();
    let config = query::Config {
        strictness: options.strictness,
        time: options.time,
    };
    let mut dec = EventDecoder::new(trace, config);
    if options.sync {
        if dec.sync_forward().is_err() {
            return Ok(summary);
        }
    } else {
        dec.set_offset(0, false);
    }
    loop {
        match dec.next_record() {
            None => return Ok(summary),
            Some(Ok(r)) => {
                summary.items += 1;
                write_event(out, &r, options)?;
            }
            Some(Err(e)) => {
                summary.errors += 1;
                on_error(&e);
                let offset = match &e {
                    query::Error::Packet(p) => error_offset(p),
                    query::Error::BadContext { offset, .. }
                    | query::Error::NoIp { offset, .. }
                    | query::Error::QueueFull { offset, .. } => Some(*offset),
                }
                .unwrap_or(dec.offset());
                let reason = match &e {
                    query::Error::Packet(p) => libipt_reason(p),
                    query::Error::BadContext { .. } => "unexpected packet context",
                    query::Error::NoIp { .. } => "no ip",
                    _ => "out of memory",
                };
                write_error(out, offset, "error decoding events", reason, options)?;
                if dec.sync_forward().is_err() {
                    return Ok(summary);
                }
            }
        }
    }
}

fn write_error<W: Write>(
    out: &mut W,
    offset: usize,
    what: &str,
    reason: &str,
    options: &Options,
) -> fmt::Result {
    if options.json {
        write!(out, "{{\"offset\":{offset},\"error\":")?;
        json_str(out, what)?;
        out.write_str(",\"reason\":")?;
        json_str(out, reason)?;
        out.write_str("}\n")
    } else {
        writeln!(out, "[{offset:x}: {what}: {reason}]")
    }
}

/// The columns of one packet, `None` when the options leave it out.
fn packet_line(trace: &[u8], d: &Decoded, options: &Options) -> Option<Line> {
    let mut line = Line {
        raw: Field::new(),
        opcode: "",
        payload: Field::new(),
        extended: false,
        id: "",
        tracking: Field::new(),
    };
    if options.raw {
        for b in trace.get(d.offset..d.offset + d.len).unwrap_or_default() {
            let _ = write!(line.raw, "{b:02x}");
        }
    }
    let p = &mut line.payload;
    let timing = matches!(
        d.packet,
        Packet::Tsc { .. }
            | Packet::Tma { .. }
            | Packet::Mtc { .. }
            | Packet::Cyc { .. }
            | Packet::Cbr { .. }
    );
    if (options.no_timing && timing) || (options.no_pad && d.packet == Packet::Pad) {
        return None;
    }
    // Writes into a `Field` never fail (they cut instead).
    let _ = match d.packet {
        Packet::Pad => {
            line.opcode = "pad";
            Ok(())
        }
        Packet::Psb => {
            line.opcode = "psb";
            Ok(())
        }
        Packet::PsbEnd => {
            line.opcode = "psbend";
            Ok(())
        }
        Packet::Ovf => {
            line.opcode = "ovf";
            Ok(())
        }
        Packet::Stop => {
            line.opcode = "stop";
            Ok(())
        }
        Packet::Tip(ip) | Packet::TipPge(ip) | Packet::TipPgd(ip) | Packet::Fup(ip) => {
            line.opcode = match d.packet {
                Packet::Tip(_) => "tip",
                Packet::TipPge(_) => "tip.pge",
                Packet::TipPgd(_) => "tip.pgd",
                _ => "fup",
            };
            if options.last_ip {
                line.id = "ip";
                let _ = match (ip.ipc, d.ip) {
                    (IpCompression::Suppressed, _) => line.tracking.write_str("<suppressed>"),
                    (_, Some(v)) => write!(line.tracking, "{v:016x}"),
                    (_, None) => line.tracking.write_str("<unavailable>"),
                };
            }
            let bits = ip.ipc.bits();
            match ip.ipc {
                IpCompression::Suppressed => write!(p, "{bits:x}: ????????????????"),
                IpCompression::Update16 => write!(p, "{bits:x}: ????????????{:04x}", ip.payload),
                IpCompression::Update32 => write!(p, "{bits:x}: ????????{:08x}", ip.payload),
                IpCompression::Update48 => write!(p, "{bits:x}: ????{:012x}", ip.payload),
                IpCompression::Sext48 => {
                    write!(p, "{bits:x}: {:016x}", packet::sext48(ip.payload))
                }
                IpCompression::Full => write!(p, "{bits:x}: {:016x}", ip.payload),
            }
        }
        Packet::Tnt8 { count, bits } => tnt(&mut line, "tnt.8", count, bits.into()),
        Packet::Tnt64 { count, bits } => tnt(&mut line, "tnt.64", count, bits),
        Packet::Pip { cr3, nr } => {
            line.opcode = "pip";
            line.id = "cr3";
            let _ = write!(line.tracking, "{cr3:016x}");
            write!(p, "{cr3:x}{}", if nr { ", nr" } else { "" })
        }
        Packet::Vmcs { base } => {
            line.opcode = "vmcs";
            line.id = "vmcs";
            let _ = write!(line.tracking, "{base:016x}");
            write!(p, "{base:x}")
        }
        Packet::ModeExec { csl, csd, iflag } => {
            line.opcode = "mode.exec";
            if options.exec_mode {
                line.id = "em";
                let _ = line
                    .tracking
                    .write_str(match ExecMode::from_csl_csd(csl, csd) {
                        Some(ExecMode::Bits64) => "64-bit",
                        Some(ExecMode::Bits32) => "32-bit",
                        Some(ExecMode::Bits16) => "16-bit",
                        None => "unknown",
                    });
            }
            let mut sep = "";
            let mut flag = |p: &mut Field<48>, on: bool, name: &str| {
                if on {
                    let _ = write!(p, "{sep}{name}");
                    sep = ", ";
                }
            };
            flag(p, csd, "cs.d");
            flag(p, csl, "cs.l");
            flag(p, iflag, "if");
            Ok(())
        }
        Packet::ModeTsx { intx, abort } => {
            line.opcode = "mode.tsx";
            let sep = if intx && abort { ", " } else { "" };
            write!(
                p,
                "{}{sep}{}",
                if intx { "intx" } else { "" },
                if abort { "abrt" } else { "" }
            )
        }
        Packet::Tsc { tsc } => {
            line.opcode = "tsc";
            write!(p, "{tsc:x}")
        }
        Packet::Cbr { ratio } => {
            line.opcode = "cbr";
            write!(p, "{ratio:x}")
        }
        Packet::Tma { ctc, fc } => {
            line.opcode = "tma";
            write!(p, "{ctc:x}, {fc:x}")
        }
        Packet::Mtc { ctc } => {
            line.opcode = "mtc";
            write!(p, "{ctc:x}")
        }
        Packet::Cyc { value } => {
            line.opcode = "cyc";
            write!(p, "{value:x}")
        }
        Packet::Mnt { payload } => {
            line.opcode = "mnt";
            write!(p, "{payload:x}")
        }
        Packet::Exstop { ip } => {
            line.opcode = "exstop";
            p.write_str(if ip { "ip" } else { "" })
        }
        Packet::Mwait { hints, ext } => {
            line.opcode = "mwait";
            write!(p, "{hints:08x}, {ext:08x}")
        }
        Packet::Pwre {
            state,
            sub_state,
            hw,
        } => {
            line.opcode = "pwre";
            write!(
                p,
                "c{}.{}{}",
                (state + 1) & 0xF,
                (sub_state + 1) & 0xF,
                if hw { ", hw" } else { "" }
            )
        }
        Packet::Pwrx {
            last,
            deepest,
            interrupt,
            store,
            autonomous,
        } => {
            line.opcode = "pwrx";
            // ptdump's wake-reason text, with its leading spaces.
            let wr = match (interrupt, store, autonomous) {
                (true, false, false) => "int",
                (false, true, false) => " st",
                (false, false, true) => " hw",
                _ => "bad",
            };
            write!(p, "{wr}: c{}, c{}", (last + 1) & 0xF, (deepest + 1) & 0xF)
        }
        Packet::Ptw { payload, size, ip } => {
            line.opcode = "ptw";
            let plc = match size {
                PayloadSize::Four => 0,
                PayloadSize::Eight => 1,
            };
            write!(p, "{plc:x}: {payload:x}{}", if ip { ", ip" } else { "" })
        }
        Packet::Cfe { ip, kind, vector } => {
            line.opcode = "cfe";
            line.id = "type";
            let _ = line.tracking.write_str(cfe_name(kind));
            let ip = if ip { ", ip" } else { "" };
            match kind {
                1 | 9 | 0xC | 0xE => write!(p, "{kind}: {vector}{ip}"),
                5 => write!(p, "{kind}: {vector:x}{ip}"),
                _ => write!(p, "{kind}{ip}"),
            }
        }
        Packet::Evd { kind, payload } => {
            line.opcode = "evd";
            line.id = "type";
            let _ = line.tracking.write_str(match kind {
                0 => "cr2",
                1 => "vmxq",
                2 => "vmxr",
                _ => "unknown",
            });
            write!(p, "{kind}: {payload:x}")
        }
        Packet::Bbp { size, kind } => {
            line.opcode = "bbp";
            write!(p, "sz{}: {kind:x}", size.bytes())
        }
        Packet::Bip { id, payload, .. } => {
            line.opcode = "bip";
            write!(p, "{id:x}: {payload:x}")
        }
        Packet::Bep { ip } => {
            line.opcode = "bep";
            p.write_str(if ip { "ip" } else { "" })
        }
    };
    Some(line)
}

/// libipt's names of the CFE types (`print_cfe_type`).
fn cfe_name(kind: u8) -> &'static str {
    match kind {
        1 => "intr",
        2 => "iret",
        3 => "smi",
        4 => "rsm",
        5 => "sipi",
        6 => "init",
        7 => "vmentry",
        8 => "vmexit",
        9 => "vmexit_intr",
        0xA => "shutdown",
        0xC => "uintr",
        0xD => "uiret",
        0xE => "swintr",
        0xF => "syscall",
        _ => "unknown",
    }
}

/// A TNT's bits, oldest first: `!` taken, `.` not taken.
fn tnt(line: &mut Line, name: &'static str, count: u8, bits: u64) -> fmt::Result {
    line.opcode = name;
    line.extended = true;
    for i in (0..count).rev() {
        line.payload
            .write_char(if bits >> i & 1 != 0 { '!' } else { '.' })?;
    }
    Ok(())
}

fn write_packet<W: Write>(
    out: &mut W,
    offset: usize,
    line: &Line,
    options: &Options,
) -> fmt::Result {
    if options.json {
        write!(out, "{{\"offset\":{offset},\"packet\":")?;
        json_str(out, line.opcode)?;
        out.write_str(",\"payload\":")?;
        json_str(out, line.payload.as_str())?;
        if options.raw {
            out.write_str(",\"raw\":")?;
            json_str(out, line.raw.as_str())?;
        }
        if !line.id.is_empty() {
            out.write_char(',')?;
            json_str(out, line.id)?;
            out.write_char(':')?;
            json_str(out, line.tracking.as_str())?;
        }
        return out.write_str("}\n");
    }
    // ptdump `print_buffer`: each column padded to its buffer size.
    let mut sep = "";
    if options.offset {
        write!(out, "{offset:016x} ")?;
        sep = " ";
    }
    if options.raw {
        write!(out, "{sep}{:<33}", line.raw.as_str())?;
        sep = " ";
    }
    if line.payload.is_empty() {
        write!(out, "{sep}{}", line.opcode)?;
    } else {
        write!(out, "{sep}{:<10}", line.opcode)?;
    }
    if line.extended {
        write!(out, " {}", line.payload.as_str())?;
    } else if !line.id.is_empty() {
        write!(
            out,
            " {:<25} {:<5}{}",
            line.payload.as_str(),
            line.id,
            line.tracking.as_str()
        )?;
    } else if !line.payload.is_empty() {
        write!(out, " {}", line.payload.as_str())?;
    }
    out.write_char('\n')
}

/// An event's name and its fields as `(name, value)` pairs.
fn event_fields(event: &Event) -> (&'static str, [(&'static str, Option<u64>); 3]) {
    let none = ("", None);
    match *event {
        Event::Branch { taken } => ("branch", [("taken", Some(taken.into())), none, none]),
        Event::Indirect { target } => ("tip", [("ip", target), none, none]),
        Event::Enabled { ip } => ("enabled", [("ip", Some(ip)), none, none]),
        Event::Disabled { ip } => ("disabled", [("ip", ip), none, none]),
        Event::AsyncDisabled { at, ip } => ("async_disabled", [("at", Some(at)), ("ip", ip), none]),
        Event::AsyncBranch { from, to } => {
            ("async_branch", [("from", Some(from)), ("to", to), none])
        }
        Event::Paging { cr3, nr } => (
            "paging",
            [("cr3", Some(cr3)), ("nr", Some(nr.into())), none],
        ),
        Event::AsyncPaging { cr3, nr, ip } => (
            "async_paging",
            [("cr3", Some(cr3)), ("nr", Some(nr.into())), ("ip", ip)],
        ),
        Event::Vmcs { base } => ("vmcs", [("base", Some(base)), none, none]),
        Event::AsyncVmcs { base, ip } => ("async_vmcs", [("base", Some(base)), ("ip", ip), none]),
        Event::ExecMode { mode, ip } => (
            "exec_mode",
            [
                (
                    "bits",
                    Some(match mode {
                        Some(ExecMode::Bits16) => 16,
                        Some(ExecMode::Bits32) => 32,
                        Some(ExecMode::Bits64) => 64,
                        None => 0,
                    }),
                ),
                ("ip", ip),
                none,
            ],
        ),
        Event::Tsx { intx, abort, ip } => (
            "tsx",
            [
                ("intx", Some(intx.into())),
                ("abort", Some(abort.into())),
                ("ip", ip),
            ],
        ),
        Event::Overflow { ip } => ("overflow", [("ip", ip), none, none]),
        Event::Cbr { ratio } => ("cbr", [("ratio", Some(ratio.into())), none, none]),
        Event::Stop => ("stop", [none, none, none]),
        Event::Other { ip, .. } => ("other", [("ip", ip), none, none]),
    }
}

/// Fields printed in decimal (counts, flags, mode bits); the rest are addresses.
fn decimal(name: &str) -> bool {
    matches!(name, "taken" | "nr" | "bits" | "intx" | "abort" | "ratio")
}

fn write_event<W: Write>(out: &mut W, r: &Record, options: &Options) -> fmt::Result {
    let (name, fields) = event_fields(&r.event);
    let fields = fields.iter().filter(|(n, _)| !n.is_empty());
    if options.json {
        write!(out, "{{\"offset\":{},\"event\":", r.offset)?;
        json_str(out, name)?;
        write!(out, ",\"status\":{}", r.status_update)?;
        for (n, v) in fields {
            match v {
                Some(v) if decimal(n) => write!(out, ",\"{n}\":{v}")?,
                Some(v) => write!(out, ",\"{n}\":\"{v:#x}\"")?,
                None => write!(out, ",\"{n}\":null")?,
            }
        }
        if let Event::Other { packet, .. } = r.event {
            out.write_str(",\"packet\":")?;
            json_str(out, packet_name(&packet))?;
        }
        match r.tsc {
            Some(t) => write!(out, ",\"tsc\":{t}")?,
            None => out.write_str(",\"tsc\":null")?,
        }
        return out.write_str("}\n");
    }
    if options.offset {
        write!(out, "{:016x}  ", r.offset)?;
    }
    write!(out, "{name:<14}")?;
    if let Event::Other { packet, .. } = r.event {
        write!(out, " {}", packet_name(&packet))?;
    }
    for (n, v) in fields {
        match v {
            Some(v) if decimal(n) => write!(out, " {n} {v}")?,
            Some(v) => write!(out, " {n} {v:016x}")?,
            None => write!(out, " {n} <suppressed>")?,
        }
    }
    if r.status_update {
        out.write_str(" (status)")?;
    }
    if let Some(t) = r.tsc.filter(|_| options.time.ctc_ratio.is_some()) {
        write!(out, " tsc {t:x}")?;
    }
    out.write_char('\n')
}

/// ptdump's name of a packet (the table lives in `packet_line`).
fn packet_name(p: &Packet) -> &'static str {
    let alone = Decoded {
        offset: 0,
        len: 0,
        packet: *p,
        ip: None,
    };
    packet_line(&[], &alone, &Options::default()).map_or("", |l| l.opcode)
}

#[cfg(all(test, feature = "std"))]
mod tests;
