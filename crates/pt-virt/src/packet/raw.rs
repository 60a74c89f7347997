// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The compact packet ([`RawPacket`]): a packet as its kind, length, opcode byte and the
//! bytes after the opcode, like libipt's `struct pt_packet` (type, size, payload), small
//! and `Copy`. Decoding one needs no dispatch on the packet kind for the packets with a
//! one-byte opcode (a 256-entry table on the first byte gives kind and length, and the
//! payload is one masked 8-byte load); encoding one writes opcode and payload
//! little-endian without looking at the kind. The typed fields come from
//! [`RawPacket::packet`], which parses the packet's image with the [`Decoder`]'s rules.
//!
//! [`Decoder`]: super::Decoder

use super::decode::{Parser, Strictness};
use super::error::Result;
use super::ip::IpCompression;
use super::opcode as op;
use super::repr::{Ip, Kind, Packet, PayloadSize};

/// A packet as kind, length and wire bytes (libipt's `struct pt_packet`: type, size and
/// payload).
///
/// The bytes after the opcode (the first byte, or the second after the `02h` escape)
/// are kept as they were on the wire, so encoding a `RawPacket` writes exactly the bytes
/// it was decoded from. Made by [`Decoder::next_raw`](super::Decoder::next_raw) or
/// [`RawPacket::new`]; written by [`Encoder::encode_raw`](super::Encoder::encode_raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawPacket {
    kind: Kind,
    len: u8,
    /// Whether the packet starts with the `02h` escape.
    ext: bool,
    /// The first byte, or the second after the escape.
    opcode: u8,
    /// The (up to) eight bytes after the opcode, little-endian, zero past the packet.
    payload: u64,
    /// The ninth byte after the opcode (MNT, EVD, a 10-byte CYC), else zero.
    tail: u8,
    /// The IPBytes of an IP packet, `000b` (no last-IP update) for the others: what
    /// the kind and the opcode byte give, kept so that the last-IP update of every
    /// packet needs no test of the kind.
    ip_bits: u8,
}

const _: () = assert!(core::mem::size_of::<RawPacket>() == 16);

/// Kind and length of a packet by its first byte, for the packets the table decodes:
/// `len == 0` for the others (the `02h` escape, MODE, reserved IPBytes, unknown
/// opcodes). A CYC with the Exp bit set has `len` 2 and `cyc_exp`: it is two bytes
/// long unless its second byte has the Exp bit too. `ip_bits` is the IPBytes field of
/// an IP packet, `000b` (no last-IP update) for the others.
#[derive(Debug, Clone, Copy)]
struct Class {
    kind: Kind,
    len: u8,
    cyc_exp: bool,
    ip_bits: u8,
}

/// The class of first byte `b0`, in the order of the decoder's dispatch (bit 0 clear,
/// then CYC, then the IP packets by bits 4:0, then TSC and MTC by value).
const fn class(b0: u8) -> Class {
    let general = Class {
        kind: Kind::Ext,
        len: 0,
        cyc_exp: false,
        ip_bits: 0,
    };
    if b0 == op::PAD {
        Class {
            kind: Kind::Pad,
            len: 1,
            cyc_exp: false,
            ip_bits: 0,
        }
    } else if b0 == op::EXT {
        general
    } else if b0 & 1 == 0 {
        Class {
            kind: Kind::Tnt8,
            len: 1,
            cyc_exp: false,
            ip_bits: 0,
        }
    } else if b0 & op::CYC == op::CYC {
        let cyc_exp = b0 & op::CYC_EXP != 0;
        Class {
            kind: Kind::Cyc,
            len: if cyc_exp { 2 } else { 1 },
            cyc_exp,
            ip_bits: 0,
        }
    } else {
        let kind = match b0 & op::IP_OPCODE_MASK {
            op::TIP => Kind::Tip,
            op::TIP_PGE => Kind::TipPge,
            op::TIP_PGD => Kind::TipPgd,
            op::FUP => Kind::Fup,
            _ => {
                return match b0 {
                    op::TSC => Class {
                        kind: Kind::Tsc,
                        len: 8,
                        cyc_exp: false,
                        ip_bits: 0,
                    },
                    op::MTC => Class {
                        kind: Kind::Mtc,
                        len: 2,
                        cyc_exp: false,
                        ip_bits: 0,
                    },
                    _ => general,
                };
            }
        };
        match IpCompression::from_bits(b0 >> op::IPBYTES_SHIFT) {
            #[allow(clippy::cast_possible_truncation)] // at most 8
            Some(ipc) => Class {
                kind,
                len: 1 + ipc.payload_len() as u8,
                cyc_exp: false,
                ip_bits: ipc.bits(),
            },
            None => general,
        }
    }
}

/// [`class`] of every first byte.
static CLASSES: [Class; 256] = {
    let mut table = [Class {
        kind: Kind::Ext,
        len: 0,
        cyc_exp: false,
        ip_bits: 0,
    }; 256];
    let mut b0 = 0;
    while b0 < 256 {
        #[allow(clippy::cast_possible_truncation)] // below 256
        let class = class(b0 as u8);
        table[b0] = class;
        b0 += 1;
    }
    table
};

/// Masks of the low `n` bytes, `n` in 0..=8 (index `n`).
const BYTE_MASKS: [u64; 16] = {
    let mut masks = [u64::MAX; 16];
    let mut n = 0;
    while n < 8 {
        masks[n] = (1u64 << (8 * n)) - 1;
        n += 1;
    }
    masks
};

/// Decodes the packet at the start of `window` if its first byte has a one-byte opcode
/// the table knows and it is valid, outside a BBP block; `None` for everything else
/// (and for a CYC of more than two bytes, a count of 4096 cycles or more). No branch on
/// the packet kind: the length comes from the table and the payload from one masked
/// load, so that the next packet's offset waits for two loads only.
#[inline(always)]
pub(crate) fn decode_hot(window: &[u8; op::MAX_LEN]) -> Option<RawPacket> {
    let [b0, rest @ ..] = *window;
    let class = CLASSES[usize::from(b0)];
    let [w0, w1, w2, w3, w4, w5, w6, w7, ..] = rest;
    if class.len == 0 || (class.cyc_exp && w0 & op::CYCX_EXP != 0) {
        return None;
    }
    let word = u64::from_le_bytes([w0, w1, w2, w3, w4, w5, w6, w7]);
    Some(RawPacket {
        kind: class.kind,
        len: class.len,
        ext: false,
        opcode: b0,
        payload: word & BYTE_MASKS[usize::from(class.len - 1) & 15],
        tail: 0,
        ip_bits: class.ip_bits,
    })
}

impl RawPacket {
    /// The compact form of `packet`, or the error [`Packet::emit`] gives for it.
    pub fn new(packet: &Packet) -> Result<Self> {
        let mut image = [0u8; op::MAX_LEN];
        let len = packet.emit(&mut image)?;
        Ok(Self::from_wire(
            packet.kind(),
            image.get(..len).unwrap_or_default(),
        ))
    }

    /// The packet of kind `kind` whose bytes are `bytes` (a decoded packet's).
    pub(crate) fn from_wire(kind: Kind, bytes: &[u8]) -> Self {
        let ext = bytes.first() == Some(&op::EXT);
        let at = 1 + usize::from(ext);
        let after = bytes.get(at..).unwrap_or_default();
        let mut payload = [0u8; 8];
        for (dst, src) in payload.iter_mut().zip(after) {
            *dst = *src;
        }
        let opcode = bytes.get(at - 1).copied().unwrap_or(0);
        let is_ip = matches!(kind, Kind::Tip | Kind::TipPge | Kind::TipPgd | Kind::Fup);
        Self {
            kind,
            len: u8::try_from(bytes.len()).unwrap_or(u8::MAX),
            ext,
            opcode,
            payload: u64::from_le_bytes(payload),
            tail: after.get(8).copied().unwrap_or(0),
            ip_bits: if is_ip {
                opcode >> op::IPBYTES_SHIFT
            } else {
                0
            },
        }
    }

    /// The packet's kind.
    #[inline(always)]
    pub const fn kind(&self) -> Kind {
        self.kind
    }

    /// The encoded length in bytes.
    #[inline(always)]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a packet has at least one byte (for clippy's `len` rule).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The IPBytes and raw payload of TIP, TIP.PGE, TIP.PGD and FUP.
    #[inline(always)]
    pub fn ip(&self) -> Option<Ip> {
        match self.kind {
            Kind::Tip | Kind::TipPge | Kind::TipPgd | Kind::Fup => Some(Ip {
                ipc: IpCompression::from_bits(self.opcode >> op::IPBYTES_SHIFT)?,
                payload: self.payload,
            }),
            _ => None,
        }
    }

    /// The IPBytes bits for the last-IP update: the packet's for an IP packet, `000b`
    /// (no update) for the others.
    #[inline(always)]
    pub(crate) const fn ip_bits(&self) -> u8 {
        self.ip_bits
    }

    /// The raw payload (the bytes after the opcode, little-endian).
    pub(crate) const fn payload(&self) -> u64 {
        self.payload
    }

    /// The payload size of a BBP (its SZ bit) or a BIP (its length).
    pub(crate) fn block_size(&self) -> PayloadSize {
        let four = match self.kind {
            Kind::Bbp => self.payload & u64::from(op::BBP_SZ) != 0,
            _ => self.len() == 1 + PayloadSize::Four.bytes(),
        };
        if four {
            PayloadSize::Four
        } else {
            PayloadSize::Eight
        }
    }

    /// Writes the packet's bytes at the start of `out` (and zeroes or scratch past
    /// them).
    #[inline(always)]
    pub(crate) fn write(&self, out: &mut [u8; op::MAX_LEN]) {
        if self.kind == Kind::Psb {
            for pair in out.chunks_exact_mut(2) {
                pair.copy_from_slice(&[op::EXT, op::EXT_PSB]);
            }
            return;
        }
        let at = usize::from(self.ext);
        out[0] = op::EXT;
        out[at] = self.opcode;
        if let Some(dst) = out.get_mut(at + 1..at + 9) {
            dst.copy_from_slice(&self.payload.to_le_bytes());
        }
        out[at + 9] = self.tail;
    }

    /// The packet with its fields, parsed from its bytes with `strictness`' rules.
    /// Fails only for a `RawPacket` decoded with other rules (e.g. a TMA with reserved
    /// bits that the lenient rules accepted, given the strict ones); an error's offset
    /// is 0.
    pub fn packet(&self, strictness: Strictness) -> Result<Packet> {
        let mut image = [0u8; op::MAX_LEN];
        self.write(&mut image);
        let bytes = image.get(..self.len()).unwrap_or_default();
        let block = (self.kind == Kind::Bip).then(|| self.block_size());
        let [b0, ..] = image;
        Parser::new(bytes, 0, strictness)
            .packet(b0, block)
            .map(|(packet, _)| packet)
    }
}

impl TryFrom<&Packet> for RawPacket {
    type Error = super::Error;

    fn try_from(packet: &Packet) -> Result<Self> {
        Self::new(packet)
    }
}
