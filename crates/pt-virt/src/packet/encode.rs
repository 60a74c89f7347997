// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The encoder: writes packets into a [`Sink`] while keeping the state a decoder of its
//! output will have (last IP, BBP block), and picks IP compressions against it.
//!
//! Zero allocation: each packet is built in a 16-byte scratch array and handed to the sink
//! whole, so a full sink leaves nothing half-written.

use super::error::{Error, Result};
use super::ip::{Compression, IpCompression, LastIp};
use super::opcode as op;
use super::repr::{Ip, Kind, Packet, PayloadSize};

/// Where encoded packets go.
pub trait Sink {
    /// Appends all of `bytes`, or nothing and an error ([`Error::BufferFull`]).
    fn write_all(&mut self, bytes: &[u8]) -> Result<()>;

    /// Appends the first `len` bytes of a packet image (`len <= 16`). The default calls
    /// [`Sink::write_all`]; a sink may store all 16 bytes when it has room past the
    /// packet, as [`SliceSink`] does, because bytes past its end are not yet written.
    #[inline]
    fn write_packet(&mut self, image: &[u8; op::MAX_LEN], len: usize) -> Result<()> {
        self.write_all(image.get(..len).unwrap_or_default())
    }
}

/// A sink over a caller's buffer.
///
/// Bytes of `buf` past [`SliceSink::len`] are scratch: writing a packet may store up to
/// 15 bytes beyond it (a fixed 16-byte copy is faster than a variable one), which later
/// packets overwrite. Only [`SliceSink::written`] is the output.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// An empty sink writing from the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Forgets what was written (the buffer is reused from its start).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn write_packet(&mut self, image: &[u8; op::MAX_LEN], len: usize) -> Result<()> {
        if let Some(dst) = self
            .buf
            .get_mut(self.len..self.len.saturating_add(op::MAX_LEN))
        {
            dst.copy_from_slice(image);
            self.len += len;
            Ok(())
        } else {
            self.write_all(image.get(..len).unwrap_or_default())
        }
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let available = self.buf.len().saturating_sub(self.len);
        let end = self.len.saturating_add(bytes.len());
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                Ok(())
            }
            None => Err(Error::BufferFull {
                needed: bytes.len(),
                available,
            }),
        }
    }
}

#[cfg(any(feature = "std", test))]
impl Sink for std::vec::Vec<u8> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        (**self).write_all(bytes)
    }

    #[inline]
    fn write_packet(&mut self, image: &[u8; op::MAX_LEN], len: usize) -> Result<()> {
        (**self).write_packet(image, len)
    }
}

/// The four packets with an IP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum IpKind {
    /// TIP.
    Tip,
    /// TIP.PGE.
    TipPge,
    /// TIP.PGD.
    TipPgd,
    /// FUP.
    Fup,
}

impl IpKind {
    /// The packet of this kind with payload `ip`.
    pub const fn packet(self, ip: Ip) -> Packet {
        match self {
            Self::Tip => Packet::Tip(ip),
            Self::TipPge => Packet::TipPge(ip),
            Self::TipPgd => Packet::TipPgd(ip),
            Self::Fup => Packet::Fup(ip),
        }
    }
}

/// A packet encoder over a sink.
///
/// It tracks what a decoder of its output tracks: the last IP (reset to 0 by PSB, set by
/// every IP packet that is not suppressed, SDM "Compressed IP Payload Format") and whether
/// a BBP block is open (BIP payload size). The state starts unknown, as at an arbitrary
/// point of a trace; [`Encoder::with_last_ip`] sets it.
#[derive(Debug)]
pub struct Encoder<S> {
    sink: S,
    last_ip: LastIp,
    block: Option<PayloadSize>,
}

impl<S: Sink> Encoder<S> {
    /// An encoder with an unknown last IP and no open block.
    pub const fn new(sink: S) -> Self {
        Self {
            sink,
            last_ip: LastIp::unknown(),
            block: None,
        }
    }

    /// Sets the last IP the next compressed IP is relative to.
    pub fn with_last_ip(mut self, last_ip: LastIp) -> Self {
        self.last_ip = last_ip;
        self
    }

    /// The last IP.
    pub const fn last_ip(&self) -> LastIp {
        self.last_ip
    }

    /// The sink.
    pub const fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably (e.g. to drain it).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Writes `packet` as given (its IPBytes included) and updates the state; returns
    /// the length. On error nothing is written and the state is unchanged. An update-form
    /// IP with an unknown last IP is written as given and leaves the last IP unknown, as
    /// a decoder would; [`Encoder::encode_ip`] never picks one.
    #[inline]
    pub fn encode(&mut self, packet: &Packet) -> Result<usize> {
        if let Packet::Bip { size, .. } = packet
            && self.block != Some(*size)
        {
            return Err(Error::BipContext {
                size: *size,
                block: self.block,
            });
        }
        let mut scratch = [0u8; op::MAX_LEN];
        let len = packet.image(&mut scratch)?;
        if let Packet::Tnt8 { count, bits } = *packet
            && self.block.is_some()
            && scratch[0] & op::BIP_MASK == op::BIP
        {
            return Err(Error::TntInBlock { count, bits });
        }
        self.sink.write_packet(&scratch, len)?;
        self.update(packet);
        Ok(len)
    }

    /// Writes an IP packet for `ip` with the compression `policy` picks against the
    /// last IP; returns the payload written.
    #[inline]
    pub fn encode_ip(&mut self, kind: IpKind, ip: u64, policy: Compression) -> Result<Ip> {
        let ipc = self
            .last_ip
            .choose(ip, policy)
            .ok_or(Error::IpNotRepresentable {
                ip,
                ipc: match policy {
                    Compression::Forced(ipc) => ipc,
                    _ => IpCompression::Full,
                },
                last: self.last_ip.get(),
            })?;
        let payload = Ip {
            ipc,
            payload: ip & ipc.payload_mask(),
        };
        self.encode(&kind.packet(payload))?;
        Ok(payload)
    }

    /// Writes an IP packet with a suppressed IP (IPBytes `000b`), e.g. `TIP.PGD()`.
    pub fn encode_suppressed(&mut self, kind: IpKind) -> Result<usize> {
        self.encode(&kind.packet(Ip::SUPPRESSED))
    }

    /// The state change a decoder makes for `packet` (one match on the hot path).
    #[inline(always)]
    fn update(&mut self, packet: &Packet) {
        match packet {
            Packet::Tip(ip) | Packet::TipPge(ip) | Packet::TipPgd(ip) => {
                self.last_ip.apply(ip.ipc, ip.payload);
                self.block = None;
            }
            Packet::Fup(ip) => {
                self.last_ip.apply(ip.ipc, ip.payload);
            }
            Packet::Psb => {
                self.last_ip.reset();
                self.block = None;
            }
            other => {
                if self.block.is_some() || matches!(other, Packet::Bbp { .. }) {
                    self.block = next_block(self.block, other);
                }
            }
        }
    }
}

/// The BIP payload size after `packet`, given the one before.
#[inline]
pub(crate) fn next_block(block: Option<PayloadSize>, packet: &Packet) -> Option<PayloadSize> {
    match packet {
        Packet::Bbp { size, .. } => Some(*size),
        other if ends_block(other.kind()) => None,
        _ => block,
    }
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
