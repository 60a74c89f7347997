// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only peer: Debian's libipt 2.0.5 (`libipt-dev`) encoder and packet decoder,
//! through a small C shim (`src/shim.c`) that converts libipt's `struct pt_packet` (a
//! union with bitfields) to a flat struct of integers, so no bitfield layout is guessed on
//! the Rust side. The tests in `tests/` compare it with `pt_virt::packet`; the root
//! package's `benches/pt_packets.rs` times both. Not published; no library depends on it.
#![allow(unsafe_code)]

use pt_virt::packet::{Ip, IpCompression, Packet, PayloadSize};

/// One packet as the shim passes it: libipt's `enum pt_packet_type`, the size, and up to
/// three payload fields whose meaning depends on the type (see [`to_flat`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flat {
    /// `enum pt_packet_type` (`PPT_*`).
    pub kind: u32,
    /// `struct pt_packet.size` (decoder output only).
    pub size: u32,
    /// First field.
    pub a: u64,
    /// Second field.
    pub b: u64,
    /// Third field.
    pub c: u64,
}

/// Opaque `struct ipt_bench` of the shim.
#[repr(C)]
struct IptBench {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn ipt_shim_encode(
        pkts: *const Flat,
        n: usize,
        buf: *mut u8,
        cap: usize,
        failed: *mut usize,
    ) -> core::ffi::c_long;
    fn ipt_shim_decode(
        buf: *const u8,
        len: usize,
        sync: core::ffi::c_int,
        out: *mut Flat,
        offsets: *mut u64,
        cap: usize,
        count: *mut usize,
        err_offset: *mut u64,
    ) -> core::ffi::c_long;
    fn ipt_shim_resync(
        buf: *const u8,
        len: usize,
        start: u64,
        out: *mut RawEvent,
        cap: usize,
        count: *mut usize,
    ) -> core::ffi::c_long;
    fn ipt_shim_constants(n: *mut usize) -> *const u64;
    fn ipt_shim_library_version(out: *mut [u64; 3]);
    fn ipt_bench_new(
        pkts: *const Flat,
        n: usize,
        out: *mut u8,
        cap: usize,
        stream: *const u8,
        len: usize,
    ) -> *mut IptBench;
    fn ipt_bench_free(b: *mut IptBench);
    fn ipt_bench_encode(b: *mut IptBench) -> core::ffi::c_long;
    fn ipt_bench_decode(b: *mut IptBench) -> core::ffi::c_long;
}

/// `enum pt_packet_type` values of libipt 2.0.5 (`intel-pt.h`), asserted against the
/// header by `tests/libipt.rs`.
pub mod ppt {
    #![allow(missing_docs)]
    pub const PAD: u32 = 2;
    pub const PSB: u32 = 3;
    pub const PSBEND: u32 = 4;
    pub const FUP: u32 = 5;
    pub const TIP: u32 = 6;
    pub const TIP_PGE: u32 = 7;
    pub const TIP_PGD: u32 = 8;
    pub const TNT_8: u32 = 9;
    pub const TNT_64: u32 = 10;
    pub const MODE: u32 = 11;
    pub const PIP: u32 = 12;
    pub const VMCS: u32 = 13;
    pub const CBR: u32 = 14;
    pub const TSC: u32 = 15;
    pub const TMA: u32 = 16;
    pub const MTC: u32 = 17;
    pub const CYC: u32 = 18;
    pub const STOP: u32 = 19;
    pub const OVF: u32 = 20;
    pub const MNT: u32 = 21;
    pub const EXSTOP: u32 = 22;
    pub const MWAIT: u32 = 23;
    pub const PWRE: u32 = 24;
    pub const PWRX: u32 = 25;
    pub const PTW: u32 = 26;
    /// `pt_mol_exec`.
    pub const MOL_EXEC: u64 = 0x00;
    /// `pt_mol_tsx`.
    pub const MOL_TSX: u64 = 0x20;
}

/// libipt error codes (`enum pt_error_code`, negated in return values).
pub mod pte {
    /// `pte_eos`: end of stream (also a truncated packet).
    pub const EOS: i32 = 7;
    /// `pte_bad_opc`: unknown opcode.
    pub const BAD_OPC: i32 = 4;
    /// `pte_bad_packet`: unknown payload.
    pub const BAD_PACKET: i32 = 5;
}

/// The header's constants, in `shim.c`'s order (`ppt_*`, `pt_mol_*`, three `pte_*`,
/// header version).
pub fn header_constants() -> Vec<u64> {
    let mut n = 0usize;
    // SAFETY:
    // - `n` is a live `usize` the function writes once; the returned pointer is to a
    //   static array of `n` elements in shim.c.
    let ptr = unsafe { ipt_shim_constants(&mut n) };
    // SAFETY:
    // - `ptr` points to `n` initialised, immutable `uint64_t` with static lifetime.
    unsafe { core::slice::from_raw_parts(ptr, n) }.to_vec()
}

/// The linked library's version (`pt_library_version`).
pub fn library_version() -> [u64; 3] {
    let mut out = [0u64; 3];
    // SAFETY:
    // - `out` is a writable array of three `u64`, all the function writes.
    unsafe { ipt_shim_library_version(&mut out) };
    out
}

/// Whether libipt 2.0.5 writes `packet` exactly as the SDM does, so its bytes can be
/// compared with ours: it has no BBP/BIP/BEP, CFE or EVD, no MODE.Exec IF bit, and puts
/// PWRE's HW flag at bit 3 instead of the SDM's bit 7.
pub fn comparable(packet: &Packet) -> bool {
    match packet {
        Packet::Bbp { .. }
        | Packet::Bip { .. }
        | Packet::Bep { .. }
        | Packet::Cfe { .. }
        | Packet::Evd { .. } => false,
        Packet::ModeExec { iflag, .. } => !iflag,
        Packet::Pwre { hw, .. } => !hw,
        _ => true,
    }
}

/// The flat form of `packet`, `None` for packets libipt 2.0.5 lacks.
pub fn to_flat(packet: &Packet) -> Option<Flat> {
    let f = |kind, a, b, c| {
        Some(Flat {
            kind,
            size: 0,
            a,
            b,
            c,
        })
    };
    let ip = |kind, ip: &Ip| f(kind, u64::from(ip.ipc.bits()), ip.payload, 0);
    let plc = |size: &PayloadSize| match size {
        PayloadSize::Four => 0,
        PayloadSize::Eight => 1,
    };
    match packet {
        Packet::Pad => f(ppt::PAD, 0, 0, 0),
        Packet::Psb => f(ppt::PSB, 0, 0, 0),
        Packet::PsbEnd => f(ppt::PSBEND, 0, 0, 0),
        Packet::Ovf => f(ppt::OVF, 0, 0, 0),
        Packet::Stop => f(ppt::STOP, 0, 0, 0),
        Packet::Tnt8 { count, bits } => f(ppt::TNT_8, (*count).into(), (*bits).into(), 0),
        Packet::Tnt64 { count, bits } => f(ppt::TNT_64, (*count).into(), *bits, 0),
        Packet::Tip(p) => ip(ppt::TIP, p),
        Packet::TipPge(p) => ip(ppt::TIP_PGE, p),
        Packet::TipPgd(p) => ip(ppt::TIP_PGD, p),
        Packet::Fup(p) => ip(ppt::FUP, p),
        Packet::Pip { cr3, nr } => f(ppt::PIP, *cr3, (*nr).into(), 0),
        Packet::ModeExec { csl, csd, .. } => f(
            ppt::MODE,
            ppt::MOL_EXEC,
            u64::from(*csl) | u64::from(*csd) << 1,
            0,
        ),
        Packet::ModeTsx { intx, abort } => f(
            ppt::MODE,
            ppt::MOL_TSX,
            u64::from(*intx) | u64::from(*abort) << 1,
            0,
        ),
        Packet::Tsc { tsc } => f(ppt::TSC, *tsc, 0, 0),
        Packet::Mtc { ctc } => f(ppt::MTC, (*ctc).into(), 0, 0),
        Packet::Tma { ctc, fc } => f(ppt::TMA, (*ctc).into(), (*fc).into(), 0),
        Packet::Cyc { value } => f(ppt::CYC, *value, 0, 0),
        Packet::Cbr { ratio } => f(ppt::CBR, (*ratio).into(), 0, 0),
        Packet::Vmcs { base } => f(ppt::VMCS, *base, 0, 0),
        Packet::Mnt { payload } => f(ppt::MNT, *payload, 0, 0),
        Packet::Ptw { payload, size, ip } => f(ppt::PTW, *payload, plc(size), (*ip).into()),
        Packet::Exstop { ip } => f(ppt::EXSTOP, (*ip).into(), 0, 0),
        Packet::Mwait { hints, ext } => f(ppt::MWAIT, (*hints).into(), (*ext).into(), 0),
        Packet::Pwre {
            state,
            sub_state,
            hw,
        } => f(
            ppt::PWRE,
            (*state).into(),
            (*sub_state).into(),
            (*hw).into(),
        ),
        Packet::Pwrx {
            last,
            deepest,
            interrupt,
            store,
            autonomous,
        } => f(
            ppt::PWRX,
            (*last).into(),
            (*deepest).into(),
            u64::from(*interrupt) | u64::from(*store) << 1 | u64::from(*autonomous) << 2,
        ),
        Packet::Bbp { .. }
        | Packet::Bip { .. }
        | Packet::Bep { .. }
        | Packet::Cfe { .. }
        | Packet::Evd { .. } => None,
    }
}

/// The packet a flat libipt packet stands for, `None` for a type or field we do not map.
pub fn from_flat(f: &Flat) -> Option<Packet> {
    let byte = |v: u64| u8::try_from(v).ok();
    let bit = |v: u64, n: u32| (v >> n) & 1 != 0;
    let ip = || {
        let ipc = IpCompression::from_bits(byte(f.a)?)?;
        Some(Ip { ipc, payload: f.b })
    };
    Some(match f.kind {
        ppt::PAD => Packet::Pad,
        ppt::PSB => Packet::Psb,
        ppt::PSBEND => Packet::PsbEnd,
        ppt::OVF => Packet::Ovf,
        ppt::STOP => Packet::Stop,
        ppt::TNT_8 => Packet::Tnt8 {
            count: byte(f.a)?,
            bits: byte(f.b)?,
        },
        ppt::TNT_64 => Packet::Tnt64 {
            count: byte(f.a)?,
            bits: f.b,
        },
        ppt::TIP => Packet::Tip(ip()?),
        ppt::TIP_PGE => Packet::TipPge(ip()?),
        ppt::TIP_PGD => Packet::TipPgd(ip()?),
        ppt::FUP => Packet::Fup(ip()?),
        ppt::PIP => Packet::Pip {
            cr3: f.a,
            nr: bit(f.b, 0),
        },
        ppt::MODE if f.a == ppt::MOL_EXEC => Packet::ModeExec {
            csl: bit(f.b, 0),
            csd: bit(f.b, 1),
            iflag: false,
        },
        ppt::MODE if f.a == ppt::MOL_TSX => Packet::ModeTsx {
            intx: bit(f.b, 0),
            abort: bit(f.b, 1),
        },
        ppt::TSC => Packet::Tsc { tsc: f.a },
        ppt::MTC => Packet::Mtc { ctc: byte(f.a)? },
        ppt::TMA => Packet::Tma {
            ctc: u16::try_from(f.a).ok()?,
            fc: u16::try_from(f.b).ok()?,
        },
        ppt::CYC => Packet::Cyc { value: f.a },
        ppt::CBR => Packet::Cbr { ratio: byte(f.a)? },
        ppt::VMCS => Packet::Vmcs { base: f.a },
        ppt::MNT => Packet::Mnt { payload: f.a },
        ppt::PTW => Packet::Ptw {
            payload: f.a,
            size: match f.b {
                0 => PayloadSize::Four,
                1 => PayloadSize::Eight,
                _ => return None,
            },
            ip: bit(f.c, 0),
        },
        ppt::EXSTOP => Packet::Exstop { ip: bit(f.a, 0) },
        ppt::MWAIT => Packet::Mwait {
            hints: u32::try_from(f.a).ok()?,
            ext: u32::try_from(f.b).ok()?,
        },
        ppt::PWRE => Packet::Pwre {
            state: byte(f.a)?,
            sub_state: byte(f.b)?,
            hw: bit(f.c, 0),
        },
        ppt::PWRX => Packet::Pwrx {
            last: byte(f.a)?,
            deepest: byte(f.b)?,
            interrupt: bit(f.c, 0),
            store: bit(f.c, 1),
            autonomous: bit(f.c, 2),
        },
        _ => return None,
    })
}

/// libipt's encoder over `packets` (all must have a flat form). `Err((index, code))`
/// names the packet libipt refused and its (positive) error code.
pub fn encode(packets: &[Packet]) -> Result<Vec<u8>, (usize, i32)> {
    let flats: Vec<Flat> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| to_flat(p).ok_or((i, 2)))
        .collect::<Result<_, _>>()?;
    let mut buf = vec![0u8; 16 * flats.len() + 16];
    let mut failed = 0usize;
    // SAFETY:
    // - `flats` is a live slice of `flats.len()` `Flat`s (the C `struct flat`), only read.
    // - `buf` is writable for `buf.len()` bytes, the encoder's whole range.
    // - `failed` is a live `usize`.
    let ret = unsafe {
        ipt_shim_encode(
            flats.as_ptr(),
            flats.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut failed,
        )
    };
    match usize::try_from(ret) {
        Ok(len) => {
            buf.truncate(len);
            Ok(buf)
        }
        Err(_) => Err((failed, i32::try_from(-ret).unwrap_or(i32::MAX))),
    }
}

/// What libipt's packet decoder made of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// `(offset, size, flat packet)` for every packet before the end or the error.
    pub packets: Vec<(u64, u32, Flat)>,
    /// `None` at a clean end; else the positive error code and the failing offset
    /// (`u64::MAX` when synchronisation failed).
    pub error: Option<(i32, u64)>,
}

/// libipt's packet decoder over `bytes`, from offset 0 (`pt_pkt_sync_set`) or, with
/// `sync`, from the first PSB (`pt_pkt_sync_forward`).
pub fn decode(bytes: &[u8], sync: bool) -> Decoded {
    let cap = bytes.len() + 1;
    let mut out = vec![Flat::default(); cap];
    let mut offsets = vec![0u64; cap];
    let (mut count, mut err_offset) = (0usize, 0u64);
    // SAFETY:
    // - `bytes` is readable for `bytes.len()` bytes, the decoder's whole range.
    // - `out` and `offsets` are writable for `cap` elements, and the shim writes at most
    //   `cap` of each; `count` and `err_offset` are live.
    let ret = unsafe {
        ipt_shim_decode(
            bytes.as_ptr(),
            bytes.len(),
            sync.into(),
            out.as_mut_ptr(),
            offsets.as_mut_ptr(),
            cap,
            &mut count,
            &mut err_offset,
        )
    };
    let packets = offsets
        .into_iter()
        .zip(out)
        .take(count)
        .map(|(o, f)| (o, f.size, f))
        .collect();
    let error = (ret < 0).then(|| (i32::try_from(-ret).unwrap_or(i32::MAX), err_offset));
    Decoded { packets, error }
}

/// The shim's `struct event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct RawEvent {
    what: u32,
    code: i32,
    offset: u64,
    pkt: Flat,
}

/// One step of a decode with resynchronisation ([`decode_resync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Synchronised (or set) at this offset.
    Sync(u64),
    /// A packet: offset, size, flat form.
    Packet(u64, u32, Flat),
    /// `pt_pkt_next` failed: positive error code, offset of the failing packet (the
    /// buffer's length and `pte::EOS` at its clean end).
    Error(i32, u64),
    /// `pt_pkt_sync_forward` (or `pt_pkt_sync_set`) failed with this positive code; the
    /// decode ends.
    NoSync(i32),
}

/// libipt's packet decoder over `bytes` as a trace reader runs it after errors:
/// `pt_pkt_sync_forward` (or `pt_pkt_sync_set(start)`), `pt_pkt_next` until it fails,
/// `pt_pkt_sync_forward` again from there, until synchronisation fails.
pub fn decode_resync(bytes: &[u8], start: Option<usize>) -> Vec<Event> {
    // libipt 2.0.5's `pt_find_psb` may read the byte at the end of its range: give it a
    // padded copy, so that byte is ours (zero, not part of a PSB).
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(&[0; 16]);
    // Each sync is followed by at least one packet or error, and each PSB found is
    // after the previous sync, so a decode has at most one event per byte plus a few.
    let cap = 3 * bytes.len() + 8;
    let mut out = vec![RawEvent::default(); cap];
    let mut count = 0usize;
    let start = start.map_or(u64::MAX, |s| s as u64);
    // SAFETY:
    // - `padded` is readable for `bytes.len()` bytes (the decoder's range) and 16 more.
    // - `out` is writable for `cap` events and the shim writes at most `cap`; `count` is
    //   live.
    let ret = unsafe {
        ipt_shim_resync(
            padded.as_ptr(),
            bytes.len(),
            start,
            out.as_mut_ptr(),
            cap,
            &mut count,
        )
    };
    assert_eq!(ret, 0, "event buffer of {cap} too small");
    out.truncate(count);
    out.into_iter()
        .map(|e| match e.what {
            0 => Event::Sync(e.offset),
            1 => Event::Packet(e.offset, e.pkt.size, e.pkt),
            2 => Event::Error(-e.code, e.offset),
            _ => Event::NoSync(-e.code),
        })
        .collect()
}

/// libipt's side of the benchmark: the packets prepared as `struct pt_packet`s, an
/// encoder over an output buffer and a packet decoder over a stream.
#[derive(Debug)]
pub struct Bench {
    raw: *mut IptBench,
    _out: Vec<u8>,
    _stream: Vec<u8>,
}

impl Bench {
    /// Prepares `packets` (all with a flat form) and `stream` (the same packets encoded).
    pub fn new(packets: &[Packet], stream: &[u8]) -> Option<Self> {
        let flats: Vec<Flat> = packets.iter().map(to_flat).collect::<Option<_>>()?;
        let mut out = vec![0u8; stream.len() + 16];
        let stream = stream.to_vec();
        // SAFETY:
        // - `flats` is read during the call only (the shim copies it).
        // - `out` and `stream` are heap buffers owned by the returned `Bench`, so they
        //   outlive the encoder and decoder the shim keeps pointers into; moving the
        //   `Vec`s does not move their heap storage.
        let raw = unsafe {
            ipt_bench_new(
                flats.as_ptr(),
                flats.len(),
                out.as_mut_ptr(),
                out.len(),
                stream.as_ptr(),
                stream.len(),
            )
        };
        (!raw.is_null()).then_some(Self {
            raw,
            _out: out,
            _stream: stream,
        })
    }

    /// Encodes all packets with `pt_enc_next`; returns the bytes written.
    pub fn encode(&mut self) -> core::ffi::c_long {
        // SAFETY:
        // - `self.raw` came from `ipt_bench_new`, is non-null and not freed until drop.
        unsafe { ipt_bench_encode(self.raw) }
    }

    /// Decodes the stream with `pt_pkt_next`; returns the packet count.
    pub fn decode(&mut self) -> core::ffi::c_long {
        // SAFETY:
        // - `self.raw` came from `ipt_bench_new`, is non-null and not freed until drop.
        unsafe { ipt_bench_decode(self.raw) }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // SAFETY:
        // - `self.raw` came from `ipt_bench_new` and is freed exactly once, here.
        unsafe { ipt_bench_free(self.raw) }
    }
}
