// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The packets as values ([`Packet`]) and their stateless byte images.
//!
//! Every variant carries the fields as encoded (raw IP payloads with their IPBytes, TNT
//! bits without the stop bit, CR3 and VMCS base already shifted into place), so that
//! `decode(emit(p)) == p` for every packet [`Packet::emit`] accepts. Layouts: Intel SDM
//! vol. 3C, chapter "Intel Processor Trace", section "Packet Descriptions" (one figure per
//! packet); field names follow libipt's `struct pt_packet` (`intel-pt.h`).

use super::error::{Error, Result};
use super::ip::IpCompression;
use super::opcode as op;

/// A packet's type, without its payload (for errors and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Kind {
    /// PAD.
    Pad,
    /// PSB.
    Psb,
    /// PSBEND.
    PsbEnd,
    /// OVF.
    Ovf,
    /// TraceStop.
    Stop,
    /// Short TNT (TNT-8).
    Tnt8,
    /// Long TNT (TNT-64).
    Tnt64,
    /// TIP.
    Tip,
    /// TIP.PGE.
    TipPge,
    /// TIP.PGD.
    TipPgd,
    /// FUP.
    Fup,
    /// PIP.
    Pip,
    /// MODE.Exec.
    ModeExec,
    /// MODE.TSX.
    ModeTsx,
    /// MODE with an unknown leaf (only in errors).
    Mode,
    /// TSC.
    Tsc,
    /// MTC.
    Mtc,
    /// TMA.
    Tma,
    /// CYC.
    Cyc,
    /// CBR.
    Cbr,
    /// VMCS.
    Vmcs,
    /// MNT.
    Mnt,
    /// PTW.
    Ptw,
    /// EXSTOP.
    Exstop,
    /// MWAIT.
    Mwait,
    /// PWRE.
    Pwre,
    /// PWRX.
    Pwrx,
    /// BBP.
    Bbp,
    /// BIP.
    Bip,
    /// BEP.
    Bep,
    /// CFE.
    Cfe,
    /// EVD.
    Evd,
    /// An extended opcode not known yet (only in errors).
    Ext,
}

/// The payload size of a PTW or BIP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PayloadSize {
    /// 4 bytes (PTW PayloadBytes `00b`; BBP SZ = 1).
    Four,
    /// 8 bytes (PTW PayloadBytes `01b`; BBP SZ = 0).
    Eight,
}

impl PayloadSize {
    /// Length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Four => 4,
            Self::Eight => 8,
        }
    }

    /// Mask of the payload bits.
    pub const fn mask(self) -> u64 {
        match self {
            Self::Four => 0xFFFF_FFFF,
            Self::Eight => u64::MAX,
        }
    }
}

/// The payload of TIP, TIP.PGE, TIP.PGD and FUP: IPBytes and the raw, zero-extended
/// payload (libipt `struct pt_packet_ip`). Reconstruct the IP with
/// [`IpCompression::reconstruct`] or [`LastIp`](super::LastIp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Ip {
    /// The IPBytes field.
    pub ipc: IpCompression,
    /// The payload bits (at most [`IpCompression::payload_mask`]).
    pub payload: u64,
}

impl Ip {
    /// A suppressed IP (IPBytes `000b`).
    pub const SUPPRESSED: Self = Self {
        ipc: IpCompression::Suppressed,
        payload: 0,
    };

    /// An uncompressed IP: `Sext48` when `ip` is canonical, `Full` otherwise.
    pub const fn full(ip: u64) -> Self {
        if super::ip::sext48(ip) == ip {
            Self {
                ipc: IpCompression::Sext48,
                payload: ip & 0xFFFF_FFFF_FFFF,
            }
        } else {
            Self {
                ipc: IpCompression::Full,
                payload: ip,
            }
        }
    }
}

/// One Intel PT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Packet {
    /// PAD (`00`): padding, no meaning.
    Pad,
    /// PSB (`02 82` x 8): the synchronisation point; resets the last IP.
    Psb,
    /// PSBEND (`02 23`): ends the status packets after a PSB.
    PsbEnd,
    /// OVF (`02 F3`): internal buffer overflow, packets were lost.
    Ovf,
    /// TraceStop (`02 83`): tracing stopped on a TraceStop range or a full ToPA region.
    Stop,
    /// Short TNT: 1 to 6 conditional-branch results in one byte.
    Tnt8 {
        /// Number of branches, 1..=6.
        count: u8,
        /// The results, bit `count - 1` = oldest branch, bit 0 = newest; 1 = taken.
        bits: u8,
    },
    /// Long TNT (`02 A3` + 6 bytes): 1 to 47 branch results.
    Tnt64 {
        /// Number of branches, 1..=47 (0 only from a lenient decode).
        count: u8,
        /// The results, bit `count - 1` = oldest branch, bit 0 = newest; 1 = taken.
        bits: u64,
    },
    /// TIP: target IP of an indirect branch, far transfer or interrupt.
    Tip(Ip),
    /// TIP.PGE: packet generation enabled at this IP.
    TipPge(Ip),
    /// TIP.PGD: packet generation disabled (IP of the next instruction, often suppressed).
    TipPgd(Ip),
    /// FUP: source IP of an asynchronous event, or the IP a PTW/EXSTOP/BEP/CFE binds to.
    Fup(Ip),
    /// PIP (`02 43` + 6 bytes): a CR3 write.
    Pip {
        /// CR3 bits 51:5 (bits 4:0 and 63:52 are zero).
        cr3: u64,
        /// NR: the write happened in VMX non-root operation.
        nr: bool,
    },
    /// MODE.Exec (`99` + leaf `000b`): execution mode at the next TIP/FUP/TIP.PGE.
    ModeExec {
        /// CS.L (bit 0).
        csl: bool,
        /// CS.D (bit 1).
        csd: bool,
        /// RFLAGS.IF (bit 2, Event Trace only).
        iflag: bool,
    },
    /// MODE.TSX (`99` + leaf `001b`): transaction state.
    ModeTsx {
        /// InTX (bit 0).
        intx: bool,
        /// TXAbort (bit 1).
        abort: bool,
    },
    /// TSC (`19` + 7 bytes).
    Tsc {
        /// TSC\[55:0\].
        tsc: u64,
    },
    /// MTC (`59` + 1 byte).
    Mtc {
        /// CTC\[N+7:N\], N = RTIT_CTL.MTCFreq.
        ctc: u8,
    },
    /// TMA (`02 73` + 5 bytes).
    Tma {
        /// CTC\[15:0\].
        ctc: u16,
        /// FastCounter\[8:0\].
        fc: u16,
    },
    /// CYC: cycles since the last CYC, variable length.
    Cyc {
        /// The count (at most 61 bits when encoded).
        value: u64,
    },
    /// CBR (`02 03` + 2 bytes).
    Cbr {
        /// Core:bus ratio.
        ratio: u8,
    },
    /// VMCS (`02 C8` + 5 bytes): a VMPTRLD, or the current VMCS in PSB+.
    Vmcs {
        /// VMCS pointer, bits 51:12 (bits 11:0 and 63:52 are zero).
        base: u64,
    },
    /// MNT (`02 C3 88` + 8 bytes): maintenance, model specific.
    Mnt {
        /// The payload.
        payload: u64,
    },
    /// PTW (`02 [IP|PayloadBytes|12h]` + 4 or 8 bytes): a PTWRITE operand.
    Ptw {
        /// The operand.
        payload: u64,
        /// Its size (PayloadBytes).
        size: PayloadSize,
        /// IP bit: a FUP with the PTWRITE's IP follows.
        ip: bool,
    },
    /// EXSTOP (`02 62`, `02 E2` with IP): execution stopped (C-state, HLT, ...).
    Exstop {
        /// IP bit: a FUP follows.
        ip: bool,
    },
    /// MWAIT (`02 C2` + 8 bytes).
    Mwait {
        /// MWAIT hints (EAX).
        hints: u32,
        /// MWAIT extensions (ECX).
        ext: u32,
    },
    /// PWRE (`02 22` + 2 bytes): power entry.
    Pwre {
        /// Resolved thread C-state (byte 3 bits 7:4).
        state: u8,
        /// Resolved thread sub C-state (byte 3 bits 3:0).
        sub_state: u8,
        /// HW: entry initiated by hardware (byte 2 bit 7, SDM; libipt 2.0.5 uses bit 3).
        hw: bool,
    },
    /// PWRX (`02 A2` + 5 bytes): power exit.
    Pwrx {
        /// Last core C-state (byte 2 bits 7:4).
        last: u8,
        /// Deepest core C-state (byte 2 bits 3:0).
        deepest: u8,
        /// Wake reason: interrupt (byte 3 bit 0).
        interrupt: bool,
        /// Wake reason: store to the monitored address (byte 3 bit 2).
        store: bool,
        /// Wake reason: hardware autonomous condition (byte 3 bit 3).
        autonomous: bool,
    },
    /// BBP (`02 63` + 1 byte): block begin (PEBS via PT).
    Bbp {
        /// SZ: size of the BIP payloads that follow.
        size: PayloadSize,
        /// Block type (bits 4:0).
        kind: u8,
    },
    /// BIP (`[ID<<3|100b]` + 4 or 8 bytes): block item, only between BBP and BEP.
    Bip {
        /// Item ID (bits 7:3).
        id: u8,
        /// The item.
        payload: u64,
        /// The payload size the enclosing BBP declared.
        size: PayloadSize,
    },
    /// BEP (`02 33`, `02 B3` with IP): block end.
    Bep {
        /// IP bit: a FUP follows.
        ip: bool,
    },
    /// CFE (`02 13` + 2 bytes): control-flow event (Event Trace).
    Cfe {
        /// IP bit: binds to the next FUP.
        ip: bool,
        /// Event type (bits 4:0).
        kind: u8,
        /// Vector, for the types that have one.
        vector: u8,
    },
    /// EVD (`02 53` + 9 bytes): event data (Event Trace).
    Evd {
        /// Data type (bits 5:0; libipt reads 4:0).
        kind: u8,
        /// The data.
        payload: u64,
    },
}

/// Rejects `value` if it has bits above `bits`.
#[inline(always)]
fn fits(packet: &Packet, field: &'static str, value: u64, bits: u32) -> Result<()> {
    if bits < 64 && value >> bits != 0 {
        Err(out_of_range(packet, field, value))
    } else {
        Ok(())
    }
}

#[cold]
fn out_of_range(packet: &Packet, field: &'static str, value: u64) -> Error {
    Error::FieldRange {
        kind: packet.kind(),
        field,
        value,
    }
}

/// Writes `v`, which fits in `n` bytes, little-endian at `out[at..]`. One 8-byte store
/// when the scratch has room (the bytes past `at + n` it zeroes are either past the
/// packet or written by a later field at a higher offset), else byte by byte.
#[inline(always)]
fn put_le(out: &mut [u8; op::MAX_LEN], at: usize, v: u64, n: usize) {
    if let Some(dst) = out.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_le_bytes());
    } else {
        for (dst, src) in out.iter_mut().skip(at).zip(v.to_le_bytes().iter().take(n)) {
            *dst = *src;
        }
    }
}

impl Packet {
    /// The packet's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Self::Pad => Kind::Pad,
            Self::Psb => Kind::Psb,
            Self::PsbEnd => Kind::PsbEnd,
            Self::Ovf => Kind::Ovf,
            Self::Stop => Kind::Stop,
            Self::Tnt8 { .. } => Kind::Tnt8,
            Self::Tnt64 { .. } => Kind::Tnt64,
            Self::Tip(_) => Kind::Tip,
            Self::TipPge(_) => Kind::TipPge,
            Self::TipPgd(_) => Kind::TipPgd,
            Self::Fup(_) => Kind::Fup,
            Self::Pip { .. } => Kind::Pip,
            Self::ModeExec { .. } => Kind::ModeExec,
            Self::ModeTsx { .. } => Kind::ModeTsx,
            Self::Tsc { .. } => Kind::Tsc,
            Self::Mtc { .. } => Kind::Mtc,
            Self::Tma { .. } => Kind::Tma,
            Self::Cyc { .. } => Kind::Cyc,
            Self::Cbr { .. } => Kind::Cbr,
            Self::Vmcs { .. } => Kind::Vmcs,
            Self::Mnt { .. } => Kind::Mnt,
            Self::Ptw { .. } => Kind::Ptw,
            Self::Exstop { .. } => Kind::Exstop,
            Self::Mwait { .. } => Kind::Mwait,
            Self::Pwre { .. } => Kind::Pwre,
            Self::Pwrx { .. } => Kind::Pwrx,
            Self::Bbp { .. } => Kind::Bbp,
            Self::Bip { .. } => Kind::Bip,
            Self::Bep { .. } => Kind::Bep,
            Self::Cfe { .. } => Kind::Cfe,
            Self::Evd { .. } => Kind::Evd,
        }
    }

    /// The IP payload of TIP, TIP.PGE, TIP.PGD and FUP.
    pub const fn ip(&self) -> Option<Ip> {
        match self {
            Self::Tip(ip) | Self::TipPge(ip) | Self::TipPgd(ip) | Self::Fup(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Pad => 1,
            Self::Psb => op::PSB_LEN,
            Self::PsbEnd | Self::Ovf | Self::Stop | Self::Exstop { .. } | Self::Bep { .. } => 2,
            Self::Tnt8 { .. } => 1,
            Self::Tnt64 { .. } | Self::Pip { .. } | Self::Tsc { .. } => 8,
            Self::Tip(ip) | Self::TipPge(ip) | Self::TipPgd(ip) | Self::Fup(ip) => {
                1 + ip.ipc.payload_len()
            }
            Self::ModeExec { .. } | Self::ModeTsx { .. } | Self::Mtc { .. } => 2,
            Self::Tma { .. } | Self::Vmcs { .. } | Self::Pwrx { .. } => 7,
            Self::Cyc { value } => cyc_len(*value),
            Self::Cbr { .. } | Self::Pwre { .. } | Self::Cfe { .. } => 4,
            Self::Mnt { .. } | Self::Evd { .. } => 11,
            Self::Ptw { size, .. } => 2 + size.bytes(),
            Self::Mwait { .. } => 10,
            Self::Bbp { .. } => 3,
            Self::Bip { size, .. } => 1 + size.bytes(),
        }
    }

    /// Checks the fields and builds the image in `out`; returns the length. `track`
    /// sees the packet's effect on the stream state in the same match (one dispatch per
    /// packet); it is called only once the image is complete, except for its checks.
    #[inline(always)]
    pub(crate) fn image<T: Track>(
        &self,
        out: &mut [u8; op::MAX_LEN],
        track: &mut T,
    ) -> Result<usize> {
        let len = match *self {
            Self::Pad => {
                out[0] = op::PAD;
                1
            }
            Self::Psb => {
                for pair in out.chunks_exact_mut(2) {
                    pair.copy_from_slice(&[op::EXT, op::EXT_PSB]);
                }
                track.psb();
                op::PSB_LEN
            }
            Self::PsbEnd => {
                *out = ext(op::EXT_PSBEND);
                2
            }
            Self::Ovf => {
                *out = ext(op::EXT_OVF);
                2
            }
            Self::Stop => {
                *out = ext(op::EXT_STOP);
                2
            }
            Self::Tnt8 { count, bits } => {
                if !(1..=6).contains(&count) {
                    return Err(Error::TntCount {
                        kind: self.kind(),
                        count,
                    });
                }
                fits(self, "bits", bits.into(), count.into())?;
                let byte = ((1u8 << count) | bits) << 1;
                track.check_tnt8(byte, count, bits)?;
                out[0] = byte;
                1
            }
            Self::Tnt64 { count, bits } => {
                if !(1..=47).contains(&count) {
                    return Err(Error::TntCount {
                        kind: self.kind(),
                        count,
                    });
                }
                fits(self, "bits", bits, count.into())?;
                *out = ext(op::EXT_TNT64);
                put_le(out, 2, (1u64 << count) | bits, 6);
                8
            }
            // One arm for the four IP packets (one jump target instead of four for the
            // dispatch to mispredict); the opcode comes from a branch-free lookup.
            Self::Tip(ip) | Self::TipPge(ip) | Self::TipPgd(ip) | Self::Fup(ip) => {
                let opcode = match self {
                    Self::TipPge(_) => op::TIP_PGE,
                    Self::TipPgd(_) => op::TIP_PGD,
                    Self::Fup(_) => op::FUP,
                    _ => op::TIP,
                };
                ip_image(out, self, opcode, ip)?;
                track.ip(ip);
                1 + ip.ipc.payload_len()
            }
            Self::Pip { cr3, nr } => {
                if cr3 & 0x1F != 0 {
                    return Err(Error::FieldRange {
                        kind: self.kind(),
                        field: "cr3",
                        value: cr3,
                    });
                }
                fits(self, "cr3", cr3, 52)?;
                *out = ext(op::EXT_PIP);
                put_le(out, 2, ((cr3 >> 5) << 1) | u64::from(nr), 6);
                8
            }
            Self::ModeExec { csl, csd, iflag } => {
                out[0] = op::MODE;
                out[1] = op::MODE_LEAF_EXEC
                    | bit(csl, op::MODE_EXEC_CSL)
                    | bit(csd, op::MODE_EXEC_CSD)
                    | bit(iflag, op::MODE_EXEC_IF);
                2
            }
            Self::ModeTsx { intx, abort } => {
                out[0] = op::MODE;
                out[1] = op::MODE_LEAF_TSX
                    | bit(intx, op::MODE_TSX_INTX)
                    | bit(abort, op::MODE_TSX_ABRT);
                2
            }
            Self::Tsc { tsc } => {
                fits(self, "tsc", tsc, 56)?;
                out[0] = op::TSC;
                put_le(out, 1, tsc, 7);
                8
            }
            Self::Mtc { ctc } => {
                out[0] = op::MTC;
                out[1] = ctc;
                2
            }
            Self::Tma { ctc, fc } => {
                fits(self, "fc", fc.into(), 9)?;
                *out = ext(op::EXT_TMA);
                put_le(out, 2, ctc.into(), 2);
                put_le(out, 5, fc.into(), 2);
                7
            }
            Self::Cyc { value } => {
                fits(self, "value", value, 61)?;
                let len = cyc_len(value);
                let more = |v: u64| u8::from(v != 0);
                let mut v = value >> 5;
                out[0] = ((value.to_le_bytes()[0] & 0x1F) << 3) | (more(v) << 2) | op::CYC;
                for byte in out.iter_mut().take(len).skip(1) {
                    let low = (v & 0x7F) as u8;
                    v >>= 7;
                    *byte = (low << 1) | more(v);
                }
                len
            }
            Self::Cbr { ratio } => {
                *out = ext(op::EXT_CBR);
                out[2] = ratio;
                4
            }
            Self::Vmcs { base } => {
                if base & 0xFFF != 0 {
                    return Err(Error::FieldRange {
                        kind: self.kind(),
                        field: "base",
                        value: base,
                    });
                }
                fits(self, "base", base, 52)?;
                *out = ext(op::EXT_VMCS);
                put_le(out, 2, base >> 12, 5);
                7
            }
            Self::Mnt { payload } => {
                *out = ext(op::EXT_EXT2);
                out[2] = op::EXT2_MNT;
                put_le(out, 3, payload, 8);
                11
            }
            Self::Ptw { payload, size, ip } => {
                if payload & !size.mask() != 0 {
                    return Err(Error::FieldRange {
                        kind: self.kind(),
                        field: "payload",
                        value: payload,
                    });
                }
                let plc: u8 = match size {
                    PayloadSize::Four => 0,
                    PayloadSize::Eight => 1,
                };
                *out = ext(bit(ip, op::IP_BIT) | (plc << 5) | op::EXT_PTW);
                put_le(out, 2, payload, size.bytes());
                2 + size.bytes()
            }
            Self::Exstop { ip } => {
                *out = ext(op::EXT_EXSTOP | bit(ip, op::IP_BIT));
                2
            }
            Self::Mwait { hints, ext: e } => {
                *out = ext(op::EXT_MWAIT);
                put_le(out, 2, hints.into(), 4);
                put_le(out, 6, e.into(), 4);
                10
            }
            Self::Pwre {
                state,
                sub_state,
                hw,
            } => {
                fits(self, "state", state.into(), 4)?;
                fits(self, "sub_state", sub_state.into(), 4)?;
                *out = ext(op::EXT_PWRE);
                out[2] = bit(hw, op::PWRE_HW);
                out[3] = (state << 4) | sub_state;
                4
            }
            Self::Pwrx {
                last,
                deepest,
                interrupt,
                store,
                autonomous,
            } => {
                fits(self, "last", last.into(), 4)?;
                fits(self, "deepest", deepest.into(), 4)?;
                *out = ext(op::EXT_PWRX);
                out[2] = (last << 4) | deepest;
                out[3] = bit(interrupt, op::PWRX_WR_INT)
                    | bit(store, op::PWRX_WR_STORE)
                    | bit(autonomous, op::PWRX_WR_HW);
                7
            }
            Self::Bbp { size, kind: k } => {
                fits(self, "kind", k.into(), 5)?;
                *out = ext(op::EXT_BBP);
                out[2] = bit(size == PayloadSize::Four, op::BBP_SZ) | k;
                track.bbp(size);
                3
            }
            Self::Bip { id, payload, size } => {
                track.check_bip(size)?;
                fits(self, "id", id.into(), 5)?;
                if payload & !size.mask() != 0 {
                    return Err(Error::FieldRange {
                        kind: self.kind(),
                        field: "payload",
                        value: payload,
                    });
                }
                out[0] = (id << 3) | op::BIP;
                put_le(out, 1, payload, size.bytes());
                1 + size.bytes()
            }
            Self::Bep { ip } => {
                *out = ext(op::EXT_BEP | bit(ip, op::IP_BIT));
                2
            }
            Self::Cfe {
                ip,
                kind: k,
                vector,
            } => {
                fits(self, "kind", k.into(), 5)?;
                *out = ext(op::EXT_CFE);
                out[2] = bit(ip, op::IP_BIT) | k;
                out[3] = vector;
                4
            }
            Self::Evd { kind: k, payload } => {
                fits(self, "kind", k.into(), 6)?;
                *out = ext(op::EXT_EVD);
                out[2] = k;
                put_le(out, 3, payload, 8);
                11
            }
        };
        if track.in_block() && !matches!(self, Self::Bbp { .. }) && ends_block(self.kind()) {
            track.end_block();
        }
        Ok(len)
    }

    /// Writes the packet into the start of `out` and returns its length. The packet is
    /// self-contained: no last-IP or block state is checked (the [`Encoder`] does that).
    /// On error nothing is written.
    ///
    /// [`Encoder`]: super::Encoder
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let mut scratch = [0u8; op::MAX_LEN];
        let len = self.image(&mut scratch, &mut Untracked)?;
        match (out.get_mut(..len), scratch.get(..len)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Ok(len)
            }
            _ => Err(Error::BufferFull {
                needed: len,
                available: out.len(),
            }),
        }
    }
}

/// The stream state [`Packet::image`] reports to (the encoder's last IP and block).
pub(crate) trait Track {
    /// Refuses a short TNT whose byte would read as a BIP in the current block.
    fn check_tnt8(&self, byte: u8, count: u8, bits: u8) -> Result<()>;
    /// Refuses a BIP outside a block or with another payload size than the block's.
    fn check_bip(&self, size: PayloadSize) -> Result<()>;
    /// An IP packet was written.
    fn ip(&mut self, ip: Ip);
    /// A PSB was written.
    fn psb(&mut self);
    /// A BBP was written.
    fn bbp(&mut self, size: PayloadSize);
    /// Whether a BBP block is open.
    fn in_block(&self) -> bool;
    /// A packet that closes the block was written.
    fn end_block(&mut self);
}

/// No state: for [`Packet::emit`].
struct Untracked;

impl Track for Untracked {
    fn check_tnt8(&self, _: u8, _: u8, _: u8) -> Result<()> {
        Ok(())
    }
    fn check_bip(&self, _: PayloadSize) -> Result<()> {
        Ok(())
    }
    fn ip(&mut self, _: Ip) {}
    fn psb(&mut self) {}
    fn bbp(&mut self, _: PayloadSize) {}
    fn in_block(&self) -> bool {
        false
    }
    fn end_block(&mut self) {}
}

/// Whether a packet closes a BBP block (perf `intel_pt_upd_pkt_ctx`: every packet but
/// PAD, TSC, TMA, MTC, FUP, CYC, CBR, MNT, EXSTOP, PWRE, PWRX, BIP and the Event Trace
/// packets resets the context).
pub(crate) const fn ends_block(kind: Kind) -> bool {
    !matches!(
        kind,
        Kind::Pad
            | Kind::Tsc
            | Kind::Tma
            | Kind::Mtc
            | Kind::Fup
            | Kind::Cyc
            | Kind::Cbr
            | Kind::Mnt
            | Kind::Exstop
            | Kind::Pwre
            | Kind::Pwrx
            | Kind::Bip
            | Kind::Cfe
            | Kind::Evd
    )
}

/// A zeroed scratch image starting `02 code`.
const fn ext(code: u8) -> [u8; op::MAX_LEN] {
    let mut out = [0u8; op::MAX_LEN];
    out[0] = op::EXT;
    out[1] = code;
    out
}

/// `mask` if `flag`, else 0.
const fn bit(flag: bool, mask: u8) -> u8 {
    if flag { mask } else { 0 }
}

/// Writes an IP packet's header and payload.
#[inline(always)]
fn ip_image(out: &mut [u8; op::MAX_LEN], packet: &Packet, opcode: u8, ip: Ip) -> Result<()> {
    if ip.payload & !ip.ipc.payload_mask() != 0 {
        return Err(out_of_range(packet, "payload", ip.payload));
    }
    out[0] = (ip.ipc.bits() << op::IPBYTES_SHIFT) | opcode;
    put_le(out, 1, ip.payload, ip.ipc.payload_len());
    Ok(())
}

/// Length of the CYC packet for `value`: 5 bits in the first byte, 7 in each next.
const fn cyc_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    if bits <= 5 {
        1
    } else {
        1 + (bits - 5).div_ceil(7)
    }
}
