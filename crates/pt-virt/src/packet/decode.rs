// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The decoder: an iterator of packets over a byte slice, with synchronisation to the
//! next PSB and the last-IP and BBP-block state that decoding needs.
//!
//! Opcode dispatch follows the SDM's packet figures in the order libipt and perf use:
//! BIP (only inside a BBP block, perf `intel_pt_do_get_packet`), then bit 0 clear (PAD,
//! the `02h` escape, short TNT), then bits 1:0 = `11b` (CYC), then the IP packets by bits
//! 4:0, then MODE, TSC and MTC by exact value.
//!
//! Arbitrary input never panics: every read is bounds-checked and a malformed or
//! truncated packet is an [`Error`] carrying its offset.

use super::encode::next_block;
use super::error::{Error, Result};
use super::ip::{IpCompression, LastIp};
use super::opcode as op;
use super::raw::RawPacket;
use super::repr::{Ip, Kind, Packet, PayloadSize};
use super::table::{Hot, decode_hot, decode_second_byte};

/// Which decoder's rules apply where Intel's two reference decoders disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Strictness {
    /// libipt's rules (`libipt/src/pt_packet.c`): reserved TMA bits and a long TNT
    /// without branches are errors, CYC is at most 9 bytes, MODE.Exec and MODE.TSX
    /// accept both bits 1:0 set, EVD's type is 5 bits.
    #[default]
    Strict,
    /// perf's rules (`tools/perf/util/intel-pt-decoder/intel-pt-pkt-decoder.c`):
    /// reserved TMA bits are ignored, a long TNT may carry no branch, CYC may be 10
    /// bytes, MODE.Exec and MODE.TSX with both bits 1:0 set are errors, EVD's type is 6
    /// bits.
    Lenient,
}

/// A decoded packet and where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decoded {
    /// Offset of the packet's first byte.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// The packet.
    pub packet: Packet,
    /// For TIP, TIP.PGE, TIP.PGD and FUP: the reconstructed IP (`None` when suppressed,
    /// or compressed against a last IP not known yet).
    pub ip: Option<u64>,
}

/// Decodes the packet at `pos` of `buf`; returns it with its length. `block` is the BIP
/// payload size of an open BBP block. `None` at the end of `buf`.
#[inline(always)]
pub fn decode_at(
    buf: &[u8],
    pos: usize,
    strictness: Strictness,
    block: Option<PayloadSize>,
) -> Option<Result<(Packet, usize)>> {
    let rest = buf.get(pos..)?;
    let b0 = *rest.first()?;
    Some(Parser::new(rest, pos, strictness).packet(b0, block))
}

/// One packet's bytes: everything from its first byte to the end of the input.
pub(crate) struct Parser<'a> {
    rest: &'a [u8],
    pos: usize,
    strictness: Strictness,
}

impl<'a> Parser<'a> {
    /// A parser of the packet that starts `rest` (at offset `pos` of the input).
    pub(crate) const fn new(rest: &'a [u8], pos: usize, strictness: Strictness) -> Self {
        Self {
            rest,
            pos,
            strictness,
        }
    }

    /// The input from the packet's first byte on, once it is known to hold `len` bytes;
    /// or a truncation error. Readers may look past `len` (never past the input).
    #[inline(always)]
    fn need(&self, kind: Kind, len: usize) -> Result<&'a [u8]> {
        if self.rest.len() >= len {
            Ok(self.rest)
        } else {
            Err(self.truncated(kind, len))
        }
    }

    #[cold]
    fn truncated(&self, kind: Kind, len: usize) -> Error {
        Error::Truncated {
            offset: self.pos,
            kind,
            needed: len,
            available: self.rest.len(),
        }
    }

    /// `n <= 8` little-endian bytes at `at`: one 8-byte load, masked, when the input
    /// has 8 bytes there, else byte by byte.
    #[inline(always)]
    fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
        let mask = if n >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        if let Some(Ok(word)) = bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
            return u64::from_le_bytes(word) & mask;
        }
        (0..n).fold(0, |v, i| {
            v | u64::from(Self::byte(bytes, at + i)) << (8 * i)
        })
    }

    /// Two little-endian bytes at `at` of a checked packet image.
    #[inline(always)]
    fn le16(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([Self::byte(bytes, at), Self::byte(bytes, at + 1)])
    }

    /// Four little-endian bytes at `at` of a checked packet image.
    #[inline(always)]
    fn le32(bytes: &[u8], at: usize) -> u32 {
        let word: [u8; 4] = core::array::from_fn(|i| Self::byte(bytes, at + i));
        u32::from_le_bytes(word)
    }

    /// Byte `at` of a checked packet image.
    #[inline(always)]
    fn byte(bytes: &[u8], at: usize) -> u8 {
        bytes.get(at).copied().unwrap_or(0)
    }

    /// Decodes the packet whose first byte is `b0`; `block` is the BIP payload size of
    /// an open BBP block.
    #[inline(always)]
    pub(crate) fn packet(&self, b0: u8, block: Option<PayloadSize>) -> Result<(Packet, usize)> {
        if let Some(size) = block
            && b0 & op::BIP_MASK == op::BIP
        {
            let len = 1 + size.bytes();
            let p = self.need(Kind::Bip, len)?;
            let payload = Self::le(p, 1, size.bytes());
            return Ok((
                Packet::Bip {
                    id: b0 >> 3,
                    payload,
                    size,
                },
                len,
            ));
        }
        if b0 & 1 == 0 {
            return match b0 {
                op::PAD => Ok((Packet::Pad, 1)),
                op::EXT => self.ext(),
                _ => {
                    let field = b0 >> 1;
                    let count = u8::try_from(7 - field.leading_zeros()).unwrap_or(0);
                    let bits = field & !(1 << count);
                    Ok((Packet::Tnt8 { count, bits }, 1))
                }
            };
        }
        if b0 & op::CYC == op::CYC {
            return self.cyc(b0);
        }
        match b0 & op::IP_OPCODE_MASK {
            op::TIP => self.ip(b0, Kind::Tip).map(|(ip, n)| (Packet::Tip(ip), n)),
            op::TIP_PGE => self
                .ip(b0, Kind::TipPge)
                .map(|(ip, n)| (Packet::TipPge(ip), n)),
            op::TIP_PGD => self
                .ip(b0, Kind::TipPgd)
                .map(|(ip, n)| (Packet::TipPgd(ip), n)),
            op::FUP => self.ip(b0, Kind::Fup).map(|(ip, n)| (Packet::Fup(ip), n)),
            _ => match b0 {
                op::MODE => self.mode(),
                op::TSC => {
                    let p = self.need(Kind::Tsc, 8)?;
                    Ok((
                        Packet::Tsc {
                            tsc: Self::le(p, 1, 7),
                        },
                        8,
                    ))
                }
                op::MTC => {
                    let p = self.need(Kind::Mtc, 2)?;
                    Ok((
                        Packet::Mtc {
                            ctc: Self::byte(p, 1),
                        },
                        2,
                    ))
                }
                _ => Err(Error::UnknownOpcode {
                    offset: self.pos,
                    opcode: b0,
                }),
            },
        }
    }

    #[inline(always)]
    fn ip(&self, b0: u8, kind: Kind) -> Result<(Ip, usize)> {
        let bits = b0 >> op::IPBYTES_SHIFT;
        let ipc = IpCompression::from_bits(bits).ok_or(Error::ReservedIpBytes {
            offset: self.pos,
            kind,
            bits,
        })?;
        let n = ipc.payload_len();
        let p = self.need(kind, 1 + n)?;
        Ok((
            Ip {
                ipc,
                payload: Self::le(p, 1, n),
            },
            1 + n,
        ))
    }

    #[inline(always)]
    fn mode(&self) -> Result<(Packet, usize)> {
        let p = self.need(Kind::Mode, 2)?;
        let b1 = Self::byte(p, 1);
        let both = b1 & 3 == 3 && self.strictness == Strictness::Lenient;
        let packet = match b1 & op::MODE_LEAF_MASK {
            op::MODE_LEAF_EXEC if both => {
                return Err(Error::BadModeBits {
                    offset: self.pos,
                    kind: Kind::ModeExec,
                });
            }
            op::MODE_LEAF_TSX if both => {
                return Err(Error::BadModeBits {
                    offset: self.pos,
                    kind: Kind::ModeTsx,
                });
            }
            op::MODE_LEAF_EXEC => Packet::ModeExec {
                csl: b1 & op::MODE_EXEC_CSL != 0,
                csd: b1 & op::MODE_EXEC_CSD != 0,
                iflag: b1 & op::MODE_EXEC_IF != 0,
            },
            op::MODE_LEAF_TSX => Packet::ModeTsx {
                intx: b1 & op::MODE_TSX_INTX != 0,
                abort: b1 & op::MODE_TSX_ABRT != 0,
            },
            _ => {
                return Err(Error::BadModeLeaf {
                    offset: self.pos,
                    leaf: b1,
                });
            }
        };
        Ok((packet, 2))
    }

    #[inline(always)]
    fn cyc(&self, b0: u8) -> Result<(Packet, usize)> {
        let max = match self.strictness {
            Strictness::Strict => op::CYC_MAX_LEN_STRICT,
            Strictness::Lenient => op::CYC_MAX_LEN_LENIENT,
        };
        let mut value = u64::from(b0 >> 3);
        let mut more = b0 & op::CYC_EXP != 0;
        let mut len = 1;
        let mut shift = 5u32;
        while more {
            // libipt reports the end of the input before the excess length; perf the
            // excess length first.
            if len >= max && self.strictness == Strictness::Lenient {
                return Err(Error::CycTooLong {
                    offset: self.pos,
                    max,
                });
            }
            let b = *self.rest.get(len).ok_or(Error::Truncated {
                offset: self.pos,
                kind: Kind::Cyc,
                needed: len + 1,
                available: self.rest.len(),
            })?;
            if len >= max {
                return Err(Error::CycTooLong {
                    offset: self.pos,
                    max,
                });
            }
            value |= u64::from(b >> 1) << shift;
            more = b & op::CYCX_EXP != 0;
            shift += 7;
            len += 1;
        }
        Ok((Packet::Cyc { value }, len))
    }

    #[inline(always)]
    fn ext(&self) -> Result<(Packet, usize)> {
        let b1 = Self::byte(self.need(Kind::Ext, 2)?, 1);
        if b1 & op::IP_OPCODE_MASK == op::EXT_PTW {
            let plc = (b1 >> 5) & 3;
            let size = match plc {
                0 => PayloadSize::Four,
                1 => PayloadSize::Eight,
                _ => {
                    return Err(Error::ReservedPtwSize {
                        offset: self.pos,
                        plc,
                    });
                }
            };
            let len = 2 + size.bytes();
            let p = self.need(Kind::Ptw, len)?;
            let payload = Self::le(p, 2, size.bytes());
            return Ok((
                Packet::Ptw {
                    payload,
                    size,
                    ip: b1 & op::IP_BIT != 0,
                },
                len,
            ));
        }
        let (packet, len) = match b1 {
            op::EXT_PSB => {
                let p = self.need(Kind::Psb, op::PSB_LEN)?;
                if p.get(..op::PSB_LEN)
                    .unwrap_or_default()
                    .chunks_exact(2)
                    .any(|pair| pair != [op::EXT, op::EXT_PSB])
                {
                    return Err(Error::BadPsb { offset: self.pos });
                }
                (Packet::Psb, op::PSB_LEN)
            }
            op::EXT_PSBEND => (Packet::PsbEnd, 2),
            op::EXT_OVF => (Packet::Ovf, 2),
            op::EXT_STOP => (Packet::Stop, 2),
            op::EXT_TNT64 => {
                let field = Self::le(self.need(Kind::Tnt64, 8)?, 2, 6);
                let count = 63u32.saturating_sub(field.leading_zeros());
                if count == 0 && self.strictness == Strictness::Strict {
                    return Err(Error::EmptyTnt { offset: self.pos });
                }
                let bits = field & ((1u64 << count) - 1);
                (
                    Packet::Tnt64 {
                        count: u8::try_from(count).unwrap_or(0),
                        bits,
                    },
                    8,
                )
            }
            op::EXT_PIP => {
                let field = Self::le(self.need(Kind::Pip, 8)?, 2, 6);
                (
                    Packet::Pip {
                        cr3: (field >> 1) << 5,
                        nr: field & 1 != 0,
                    },
                    8,
                )
            }
            op::EXT_CBR => (
                Packet::Cbr {
                    ratio: Self::byte(self.need(Kind::Cbr, 4)?, 2),
                },
                4,
            ),
            op::EXT_TMA => {
                let p = self.need(Kind::Tma, 7)?;
                let ctc = Self::le16(p, 2);
                let fc = Self::le16(p, 5);
                if self.strictness == Strictness::Strict && (fc >> 9 != 0 || Self::byte(p, 4) != 0)
                {
                    return Err(Error::ReservedTma { offset: self.pos });
                }
                (
                    Packet::Tma {
                        ctc,
                        fc: fc & 0x1FF,
                    },
                    7,
                )
            }
            op::EXT_VMCS => {
                let base = Self::le(self.need(Kind::Vmcs, 7)?, 2, 5) << 12;
                (Packet::Vmcs { base }, 7)
            }
            op::EXT_EXT2 => {
                let ext2 = Self::byte(self.need(Kind::Ext, 3)?, 2);
                if ext2 != op::EXT2_MNT {
                    return Err(Error::UnknownExt2Opcode {
                        offset: self.pos,
                        ext2,
                    });
                }
                (
                    Packet::Mnt {
                        payload: Self::le(self.need(Kind::Mnt, 11)?, 3, 8),
                    },
                    11,
                )
            }
            op::EXT_EXSTOP => (Packet::Exstop { ip: false }, 2),
            b if b == op::EXT_EXSTOP | op::IP_BIT => (Packet::Exstop { ip: true }, 2),
            op::EXT_MWAIT => {
                let p = self.need(Kind::Mwait, 10)?;
                let hints = Self::le32(p, 2);
                let ext = Self::le32(p, 6);
                (Packet::Mwait { hints, ext }, 10)
            }
            op::EXT_PWRE => {
                let p = self.need(Kind::Pwre, 4)?;
                let b3 = Self::byte(p, 3);
                let hw = Self::byte(p, 2) & op::PWRE_HW != 0;
                (
                    Packet::Pwre {
                        state: b3 >> 4,
                        sub_state: b3 & 0xF,
                        hw,
                    },
                    4,
                )
            }
            op::EXT_PWRX => {
                let p = self.need(Kind::Pwrx, 7)?;
                let (b2, b3) = (Self::byte(p, 2), Self::byte(p, 3));
                let packet = Packet::Pwrx {
                    last: b2 >> 4,
                    deepest: b2 & 0xF,
                    interrupt: b3 & op::PWRX_WR_INT != 0,
                    store: b3 & op::PWRX_WR_STORE != 0,
                    autonomous: b3 & op::PWRX_WR_HW != 0,
                };
                (packet, 7)
            }
            op::EXT_BBP => {
                let b2 = Self::byte(self.need(Kind::Bbp, 3)?, 2);
                let size = if b2 & op::BBP_SZ != 0 {
                    PayloadSize::Four
                } else {
                    PayloadSize::Eight
                };
                (
                    Packet::Bbp {
                        size,
                        kind: b2 & op::TYPE5_MASK,
                    },
                    3,
                )
            }
            op::EXT_BEP => (Packet::Bep { ip: false }, 2),
            b if b == op::EXT_BEP | op::IP_BIT => (Packet::Bep { ip: true }, 2),
            op::EXT_CFE => {
                let p = self.need(Kind::Cfe, 4)?;
                let b2 = Self::byte(p, 2);
                let packet = Packet::Cfe {
                    ip: b2 & op::IP_BIT != 0,
                    kind: b2 & op::TYPE5_MASK,
                    vector: Self::byte(p, 3),
                };
                (packet, 4)
            }
            op::EXT_EVD => {
                let p = self.need(Kind::Evd, 11)?;
                let mask = match self.strictness {
                    Strictness::Strict => op::TYPE5_MASK,
                    Strictness::Lenient => op::TYPE6_MASK,
                };
                let packet = Packet::Evd {
                    kind: Self::byte(p, 2) & mask,
                    payload: Self::le(p, 3, 8),
                };
                (packet, 11)
            }
            _ => {
                return Err(Error::UnknownExtOpcode {
                    offset: self.pos,
                    ext: b1,
                });
            }
        };
        Ok((packet, len))
    }
}

/// An iterator of packets over a byte slice.
///
/// It starts at offset 0 with an unknown last IP (use [`Decoder::sync_forward`] to start
/// at the first PSB instead, as libipt's `pt_pkt_sync_forward` does). After an error it
/// yields nothing until [`Decoder::sync_forward`] or [`Decoder::set_offset`] moves it.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The byte at `pos` (0 at the end of the input), or inside a BBP block the escape
    /// `02h`, which the first-byte table leaves to the general path: what the compact
    /// hot path decodes next. It takes it from the bytes of the packet before, already
    /// loaded, so that the next packet's offset waits for one load (of its length)
    /// rather than two, and it needs no test for a block. Every other move goes through
    /// [`Decoder::move_to`], which loads it.
    first: u8,
    strictness: Strictness,
    last_ip: LastIp,
    block: Option<PayloadSize>,
    sync: Option<usize>,
    failed: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub const fn new(buf: &'a [u8], strictness: Strictness) -> Self {
        Self {
            buf,
            pos: 0,
            first: match buf.first() {
                Some(&b) => b,
                None => 0,
            },
            strictness,
            last_ip: LastIp::unknown(),
            block: None,
            sync: None,
            failed: false,
        }
    }

    /// Offset of the next packet.
    pub const fn offset(&self) -> usize {
        self.pos
    }

    /// The last IP after the packets decoded so far.
    pub const fn last_ip(&self) -> LastIp {
        self.last_ip
    }

    /// The rules in use.
    pub const fn strictness(&self) -> Strictness {
        self.strictness
    }

    /// Continues at `offset` (libipt `pt_pkt_sync_set`), with an unknown last IP and no
    /// open block. As in libipt, the decoder counts as synchronised there, so a following
    /// [`Decoder::sync_forward`] looks for a PSB after `offset`.
    pub fn set_offset(&mut self, offset: usize) {
        self.block = None;
        self.move_to(offset.min(self.buf.len()));
        self.sync = Some(self.pos);
        self.last_ip = LastIp::unknown();
        self.failed = false;
    }

    /// Moves to `pos`, at most the input's length (after the block state is updated).
    #[inline(always)]
    fn move_to(&mut self, pos: usize) {
        self.pos = pos;
        self.first = self.first_at(pos);
    }

    /// What [`Decoder::first`] is at `pos` in the current block state.
    #[inline(always)]
    fn first_at(&self, pos: usize) -> u8 {
        match self.block {
            Some(_) => op::EXT,
            None => self.buf.get(pos).copied().unwrap_or(0),
        }
    }

    /// Moves to the next PSB and returns its offset, following libipt's
    /// `pt_pkt_sync_forward` (`libipt/src/pt_packet_decoder.c`):
    ///
    /// - if the decoder was synchronised at the current offset (by the previous call or
    ///   by [`Decoder::set_offset`]), the search starts one byte past it;
    /// - otherwise it starts up to a PSB's length less one byte (15 bytes) before the
    ///   current offset, never before the start of the buffer, so that after an error it
    ///   finds a PSB whose first bytes were read as part of the packet that failed, or of
    ///   the packets before it (libipt computes both cases as "add 16 when synchronised
    ///   here, then back up by 15");
    /// - the PSB found is the first that starts at or after that point. Where `02 82`
    ///   repeats longer than a PSB, the PSB is the last 16 bytes of the run, as in
    ///   libipt's `pt_find_psb` (`libipt/src/pt_sync.c`).
    pub fn sync_forward(&mut self) -> Result<usize> {
        let pos = if self.sync == Some(self.pos) {
            self.pos.saturating_add(op::PSB_LEN)
        } else {
            self.pos
        };
        let from = pos.saturating_sub(op::PSB_LEN - 1);
        let found = find_psb(self.buf, from).ok_or(Error::NoPsb { from })?;
        self.set_offset(found);
        Ok(found)
    }

    /// Consumes the short TNTs (and PADs) that follow, while their bits fit after the
    /// `count` bits of `bits` in 64: appends them (oldest first, as in a TNT packet's
    /// `bits`) and returns the new count. For the event layer, which reads TNT bits, not
    /// packets: one call instead of a packet each. Stops at anything else, and inside a
    /// BBP block (where a TNT byte may be a BIP header).
    #[inline]
    pub(crate) fn append_short_tnts(&mut self, bits: &mut u64, mut count: u8) -> u8 {
        if self.failed || self.block.is_some() {
            return count;
        }
        let mut pos = self.pos;
        while let Some(&b) = self.buf.get(pos) {
            if b == op::PAD {
                pos += 1;
                continue;
            }
            if b & 1 != 0 || b == op::EXT {
                break;
            }
            let field = b >> 1;
            let n = 7 - field.leading_zeros();
            if u32::from(count) + n > 64 {
                break;
            }
            *bits = (*bits << n) | u64::from(field & !(1 << n));
            count += u8::try_from(n).unwrap_or(0);
            pos += 1;
        }
        self.move_to(pos);
        count
    }

    /// The offset of the next packet and the input from there on; `None` after an
    /// error or at the end of the input.
    #[inline(always)]
    fn next_input(&self) -> Option<(usize, &'a [u8])> {
        debug_assert_eq!(
            self.first,
            self.first_at(self.pos),
            "the first byte is the one at the offset"
        );
        if self.failed {
            return None;
        }
        let rest = self.buf.get(self.pos..).filter(|rest| !rest.is_empty())?;
        Some((self.pos, rest))
    }

    /// Decodes the next packet.
    #[inline(always)]
    pub fn next_packet(&mut self) -> Option<Result<Decoded>> {
        let (offset, rest) = self.next_input()?;
        let hot = self
            .block
            .is_none()
            .then(|| self.one_byte_opcode(rest, offset))
            .flatten();
        let (packet, len, ip) = match hot {
            Some(parts) => parts,
            None => match self.general(offset)? {
                Ok(parts) => parts,
                Err(e) => return Some(Err(e)),
            },
        };
        self.move_to(offset + len);
        Some(Ok(Decoded {
            offset,
            len,
            packet,
            ip,
        }))
    }

    /// Decodes the next packet in compact form (see [`RawPacket`]), with the same
    /// state (last IP, block, errors) as [`Decoder::next_packet`]: the two can be
    /// mixed. The reconstructed IP of an IP packet is [`Decoder::last_ip`] after it.
    #[inline(always)]
    pub fn next_raw(&mut self) -> Option<Result<RawPacket>> {
        let (offset, rest) = self.next_input()?;
        let window = rest.first_chunk();
        // Inside a block `first` is the escape, which the table leaves to the rest.
        let hot = window.and_then(|window| decode_hot(window, self.first));
        // As in `next_packet`: the result is assembled once, after the join, so that
        // the hot path does not store the packet into the general path's return slot
        // (a store-forwarding stall when the caller copies it out).
        let raw = match hot {
            Some(hot) => {
                self.take_hot(&hot);
                hot.raw
            }
            None => {
                // The escape table's packets change no state outside a block.
                let escaped = window.filter(|_| self.block.is_none());
                let raw = match escaped.and_then(decode_second_byte) {
                    Some(raw) => raw,
                    None => match self.general_raw(offset)? {
                        Ok(raw) => raw,
                        Err(e) => return Some(Err(e)),
                    },
                };
                self.move_to(offset + raw.len());
                raw
            }
        };
        Some(Ok(raw))
    }

    /// [`Decoder::next_raw`] for everything but the table's packets.
    #[inline(always)]
    fn general_raw(&mut self, offset: usize) -> Option<Result<RawPacket>> {
        self.general_with(|buf, strictness, context| general_raw(buf, offset, strictness, context))
    }

    /// The packets of a trace's hot path: those with a one-byte opcode (short TNT,
    /// PAD, CYC, the IP packets, MODE, TSC, MTC), outside a BBP block, when valid.
    /// `None` for everything else, which [`Decoder::general`] decodes (and reports
    /// the errors of).
    #[inline(always)]
    fn one_byte_opcode(&mut self, rest: &[u8], offset: usize) -> Option<Parts> {
        let b0 = *rest.first()?;
        if b0 == op::EXT {
            return None;
        }
        let parser = Parser::new(rest, offset, self.strictness);
        let (packet, len) = parser.packet(b0, None).ok()?;
        let ip = packet
            .ip()
            .and_then(|ip| self.last_ip.apply(ip.ipc, ip.payload));
        Some((packet, len, ip))
    }

    /// Decodes the packet at `offset` in general: any packet, in or outside a block,
    /// and every error (after which the decoder yields nothing).
    #[inline(always)]
    fn general(&mut self, offset: usize) -> Option<Result<Parts>> {
        self.general_with(|buf, strictness, context| general(buf, offset, strictness, context))
    }

    /// Runs a general path `path` on the decoder's state and keeps the state it returns.
    #[inline(always)]
    fn general_with<T>(
        &mut self,
        path: impl FnOnce(&'a [u8], Strictness, Context) -> Option<(Result<T>, Context)>,
    ) -> Option<Result<T>> {
        let context = Context {
            last_ip: self.last_ip,
            block: self.block,
        };
        let (result, context) = path(self.buf, self.strictness, context)?;
        self.last_ip = context.last_ip;
        self.block = context.block;
        self.failed = result.is_err();
        Some(result)
    }
}

/// The decoder's state that a packet's decoding reads and changes.
#[derive(Debug, Clone, Copy)]
struct Context {
    last_ip: LastIp,
    block: Option<PayloadSize>,
}

/// [`Decoder`]'s general path: the packet at `offset`, any packet, in or outside a
/// block, and every error; with the state after it. Out of line, and taking and
/// returning the state by value rather than the decoder by reference, so that the
/// decoder's state can stay in registers across a caller's loop (a `&mut` to it here
/// would keep its offset in memory, and each packet's offset would wait for a store
/// and a load: measured on the realistic stream of `benches/pt_packets.rs`, the
/// compact loop took 11.7 to 12.8 ns a packet that way and 9.9 to 11.2 ns this way).
/// It returns the parts of a [`Decoded`] rather than one, so that the hot path's
/// packets are neither assembled from the bytes of every variant this path can return
/// nor stored into a shared slot and copied out of it with loads wider than the stores
/// (a store-forwarding stall per packet).
#[inline(never)]
fn general(
    buf: &[u8],
    offset: usize,
    strictness: Strictness,
    mut context: Context,
) -> Option<(Result<Parts>, Context)> {
    let (packet, len) = match decode_at(buf, offset, strictness, context.block)? {
        Ok(parts) => parts,
        Err(e) => return Some((Err(e), context)),
    };
    let ip = match packet {
        Packet::Tip(ip) | Packet::TipPge(ip) | Packet::TipPgd(ip) => {
            context.block = None;
            context.last_ip.apply(ip.ipc, ip.payload)
        }
        Packet::Fup(ip) => context.last_ip.apply(ip.ipc, ip.payload),
        Packet::Psb => {
            context.last_ip.reset();
            context.block = None;
            None
        }
        other => {
            if context.block.is_some() || matches!(other, Packet::Bbp { .. }) {
                context.block = next_block(context.block, &other);
            }
            None
        }
    };
    Some((Ok((packet, len, ip)), context))
}

/// [`general`] for [`Decoder::next_raw`]: the packet as a [`RawPacket`], from the
/// packet's bytes as parsed. Out of line for the same reason.
#[inline(never)]
fn general_raw(
    buf: &[u8],
    offset: usize,
    strictness: Strictness,
    context: Context,
) -> Option<(Result<RawPacket>, Context)> {
    let (result, context) = general(buf, offset, strictness, context)?;
    let raw = result.map(|(packet, len, _)| {
        let bytes = buf.get(offset..offset + len).unwrap_or_default();
        RawPacket::from_wire(packet.kind(), bytes)
    });
    Some((raw, context))
}

/// A decoded packet, its length and its reconstructed IP: a [`Decoded`] without its
/// offset.
type Parts = (Packet, usize, Option<u64>);

impl Iterator for Decoder<'_> {
    type Item = Result<Decoded>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_packet()
    }
}

impl core::iter::FusedIterator for Decoder<'_> {}

/// Offset of the first PSB that starts at or after `from`.
fn find_psb(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(rest) = buf.get(i..) {
        let start = rest.windows(2).position(|w| w == [op::EXT, op::EXT_PSB])?;
        let run_start = i + start;
        let run = buf
            .get(run_start..)?
            .chunks_exact(2)
            .take_while(|pair| *pair == [op::EXT, op::EXT_PSB])
            .count();
        let run_end = run_start + 2 * run;
        if run >= op::PSB_LEN / 2 {
            return Some(run_end - op::PSB_LEN);
        }
        i = run_end.max(run_start + 1);
    }
    None
}

/// The event layer's entry: the hot packets without a [`Packet`].
impl Decoder<'_> {
    /// The next packet and its first byte if the compact table decodes it
    /// ([`decode_hot`]: the valid packets with a one-byte opcode, outside a BBP block,
    /// not within the input's last 15 bytes), without consuming it; `None` for
    /// everything else (which [`Decoder::next_packet`] decodes and reports the errors
    /// of), at the end of the input and after an error.
    #[inline(always)]
    pub(crate) fn peek_hot(&self) -> Option<(u8, Hot)> {
        let (_, rest) = self.next_input()?;
        let window = rest.first_chunk::<{ op::MAX_LEN }>()?;
        // Inside a block `first` is the escape, which the table leaves to the rest.
        Some((self.first, decode_hot(window, self.first)?))
    }

    /// Consumes `hot`, which [`decode_hot`] returned for the packet at the
    /// current offset, as [`Decoder::next_raw`] does (the last IP is updated).
    #[inline(always)]
    pub(crate) fn take_hot(&mut self, hot: &Hot) {
        self.last_ip.apply_kept(hot.kept, hot.raw.payload());
        self.take_hot_without_ip(hot);
    }

    /// [`Decoder::take_hot`] for a packet without an IP (the caller knows it by the
    /// first byte, where the table's kind is not known yet): only the offset moves,
    /// and the next packet's first byte is the one `hot` carries (not loaded again).
    #[inline(always)]
    pub(crate) fn take_hot_without_ip(&mut self, hot: &Hot) {
        self.pos += hot.len;
        self.first = hot.next_first;
    }
}
