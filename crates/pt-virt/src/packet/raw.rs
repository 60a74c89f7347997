// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The compact packet ([`RawPacket`]): a packet as its kind, length, opcode byte and the
//! bytes after the opcode, like libipt's `struct pt_packet` (type, size, payload), small
//! and `Copy`. Decoding one needs no dispatch on the packet kind for most packets (see
//! the `table` module); encoding one writes opcode and payload little-endian without
//! looking at the kind. The typed fields come from
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
/// (The fields are visible to the `table` module, which builds packets from its
/// tables.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawPacket {
    pub(super) kind: Kind,
    pub(super) len: u8,
    /// Whether the packet starts with the `02h` escape.
    pub(super) ext: bool,
    /// The first byte, or the second after the escape.
    pub(super) opcode: u8,
    /// The (up to) eight bytes after the opcode, little-endian, zero past the packet.
    pub(super) payload: u64,
    /// The ninth byte after the opcode (MNT, EVD, a 10-byte CYC), else zero.
    pub(super) tail: u8,
    /// The IPBytes of an IP packet, `000b` (no last-IP update) for the others: what
    /// the kind and the opcode byte give, kept so that the last-IP update of every
    /// packet needs no test of the kind.
    pub(super) ip_bits: u8,
}

const _: () = assert!(core::mem::size_of::<RawPacket>() == 16);

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
