// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The encoder: writes packets into a [`Sink`] while keeping the state a decoder of its
//! output will have (last IP, BBP block), and picks IP compressions against it.
//!
//! Zero allocation: each packet is built in a 16-byte scratch array and handed to the sink
//! whole, so a full sink leaves nothing half-written.

use super::error::{Error, Result};
use super::ip::{Compression, IpCompression, LastIp};
use super::opcode as op;
use super::raw::RawPacket;
use super::repr::{Ip, Kind, Packet, PayloadSize, Track, ends_block};

/// Where encoded packets go.
pub trait Sink {
    /// Appends all of `bytes`, or nothing and an error ([`Error::BufferFull`]).
    fn write_all(&mut self, bytes: &[u8]) -> Result<()>;

    /// A 16-byte window at the end of the output that the encoder may build the next
    /// packet in, or `None` (the default) to have packets passed to
    /// [`Sink::write_all`]. Bytes written there are not output until
    /// [`Sink::commit`].
    #[inline]
    fn window(&mut self) -> Option<&mut [u8; op::MAX_LEN]> {
        None
    }

    /// Appends the first `len` bytes (`len <= 16`) of the window the last
    /// [`Sink::window`] call returned. Never called when that returned `None`.
    #[inline]
    fn commit(&mut self, len: usize) {
        let _ = len;
    }
}

/// A sink over a caller's buffer.
///
/// Bytes of `buf` past [`SliceSink::len`] are scratch: the encoder builds each packet in
/// place in the 16 bytes after it (when they exist), so up to 15 bytes past the output,
/// or a refused packet's partial image, may be stored there. Only
/// [`SliceSink::written`] is the output.
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
    fn window(&mut self) -> Option<&mut [u8; op::MAX_LEN]> {
        self.buf
            .get_mut(self.len..)
            .and_then(|rest| rest.first_chunk_mut())
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        // `self.len <= self.buf.len() <= isize::MAX`: the sum cannot overflow.
        self.len = (self.len + len.min(op::MAX_LEN)).min(self.buf.len());
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

#[cfg(feature = "std")]
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
    fn window(&mut self) -> Option<&mut [u8; op::MAX_LEN]> {
        (**self).window()
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        (**self).commit(len)
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

    /// The opcode (bits 4:0 of the header byte).
    const fn opcode(self) -> u8 {
        match self {
            Self::Tip => op::TIP,
            Self::TipPge => op::TIP_PGE,
            Self::TipPgd => op::TIP_PGD,
            Self::Fup => op::FUP,
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
    #[inline(always)]
    pub fn encode(&mut self, packet: &Packet) -> Result<usize> {
        if let Some(window) = self.sink.window() {
            // `image` changes the state only once the packet is complete, and nothing
            // can fail after it here: update in place.
            let mut state = InPlace {
                last_ip: &mut self.last_ip,
                block: &mut self.block,
            };
            let len = packet.image(window, &mut state)?;
            self.sink.commit(len);
            return Ok(len);
        }
        let (mut last_ip, mut block) = (self.last_ip, self.block);
        let mut scratch = [0u8; op::MAX_LEN];
        let len = packet.image(
            &mut scratch,
            &mut InPlace {
                last_ip: &mut last_ip,
                block: &mut block,
            },
        )?;
        self.sink
            .write_all(scratch.get(..len).unwrap_or_default())?;
        self.last_ip = last_ip;
        self.block = block;
        Ok(len)
    }

    /// Writes a compact packet (its bytes as decoded or built by [`RawPacket::new`])
    /// and updates the state as [`Encoder::encode`] does; returns the length. Outside a
    /// BBP block and for every packet but PSB, BBP and BIP, the bytes are written
    /// without looking at the kind.
    #[inline(always)]
    pub fn encode_raw(&mut self, raw: &RawPacket) -> Result<usize> {
        if self.block.is_none()
            && !matches!(raw.kind(), Kind::Psb | Kind::Bbp | Kind::Bip)
            && let Some(window) = self.sink.window()
        {
            raw.write(window);
            self.last_ip.apply_bits(raw.ip_bits(), raw.payload());
            self.sink.commit(raw.len());
            return Ok(raw.len());
        }
        self.encode_raw_general(raw)
    }

    /// [`Encoder::encode_raw`] for PSB, the block packets, a packet inside a block, or
    /// a sink without a window: checks the block context and writes through a scratch.
    /// Inline, although rarely taken: a call taking `&mut self` would keep the
    /// encoder's state (last IP, the sink's length) in memory for every packet
    /// (measured: compact encode 0.88x..1.11x the enum loop on the realistic stream out
    /// of line, 1.06x..1.16x inline).
    #[inline(always)]
    fn encode_raw_general(&mut self, raw: &RawPacket) -> Result<usize> {
        let block = match (raw.kind(), self.block) {
            (Kind::Bbp, _) => Some(raw.block_size()),
            (Kind::Bip, block) if block == Some(raw.block_size()) => block,
            (Kind::Bip, block) => {
                return Err(Error::BipContext {
                    size: raw.block_size(),
                    block,
                });
            }
            (Kind::Tnt8, Some(_)) => {
                // The TNT byte reads as a BIP inside a block when its bits 2:0 are 100b.
                let [byte, ..] = raw_bytes(raw);
                if byte & op::BIP_MASK == op::BIP {
                    let count = u8::try_from(7 - (byte >> 1).leading_zeros()).unwrap_or(0);
                    return Err(Error::TntInBlock {
                        count,
                        bits: (byte >> 1) & !(1 << count),
                    });
                }
                None
            }
            (kind, _) if ends_block(kind) => None,
            (_, block) => block,
        };
        let image = raw_bytes(raw);
        self.sink
            .write_all(image.get(..raw.len()).unwrap_or_default())?;
        if raw.kind() == Kind::Psb {
            self.last_ip.reset();
        }
        self.last_ip.apply_bits(raw.ip_bits(), raw.payload());
        self.block = block;
        Ok(raw.len())
    }

    /// Writes an IP packet for `ip` with the compression `policy` picks against the
    /// last IP; returns the payload written.
    #[inline(always)]
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
        if self.block.is_none()
            && let Some(window) = self.sink.window()
        {
            // Outside a BBP block an IP packet leaves it closed, and `choose` picked a
            // form that reconstructs `ip`: header, payload and last IP directly.
            let [header, rest @ ..] = window;
            *header = (ipc.bits() << op::IPBYTES_SHIFT) | kind.opcode();
            if let Some(dst) = rest.first_chunk_mut::<8>() {
                *dst = payload.payload.to_le_bytes();
            }
            self.last_ip = LastIp::known(ip);
            self.sink.commit(1 + ipc.payload_len());
            return Ok(payload);
        }
        self.encode(&kind.packet(payload))?;
        Ok(payload)
    }

    /// Writes a short TNT from its results below a stop bit (`(1 << count) | bits`;
    /// the packet's byte is this shifted left by one), as [`Encoder::encode`] writes
    /// `Packet::Tnt8`, errors included: the fabricator's path for its pending results.
    #[inline(always)]
    pub(crate) fn encode_tnt8(&mut self, stop_and_bits: u8) -> Result<usize> {
        // 1 to 6 results.
        if (2..0x80).contains(&stop_and_bits)
            && self.block.is_none()
            && let Some(window) = self.sink.window()
        {
            // Outside a block a TNT leaves it closed.
            let [byte, ..] = window;
            *byte = stop_and_bits << 1;
            self.sink.commit(1);
            return Ok(1);
        }
        self.encode_tnt8_general(stop_and_bits)
    }

    /// [`Encoder::encode_tnt8`] without a window, inside a block or for a bad count, out
    /// of line (it would swell the fabricator's hot paths).
    #[inline(never)]
    fn encode_tnt8_general(&mut self, stop_and_bits: u8) -> Result<usize> {
        let count = u8::try_from(7u32.saturating_sub(stop_and_bits.leading_zeros())).unwrap_or(0);
        self.encode(&Packet::Tnt8 {
            count,
            bits: stop_and_bits & !(1 << count),
        })
    }

    /// Writes an IP packet with a suppressed IP (IPBytes `000b`), e.g. `TIP.PGD()`.
    pub fn encode_suppressed(&mut self, kind: IpKind) -> Result<usize> {
        self.encode(&kind.packet(Ip::SUPPRESSED))
    }
}

/// The bytes of `raw` in a zeroed scratch.
fn raw_bytes(raw: &RawPacket) -> [u8; op::MAX_LEN] {
    let mut image = [0u8; op::MAX_LEN];
    raw.write(&mut image);
    image
}

/// The BIP payload size after `packet`, given the one before.
#[inline]
pub(crate) fn next_block(block: Option<PayloadSize>, packet: &Packet) -> Option<PayloadSize> {
    match packet {
        Packet::Bbp { size, .. } => Some(*size),
        other if super::repr::ends_block(other.kind()) => None,
        _ => block,
    }
}

/// The encoder's state as [`Packet::image`] updates it.
struct InPlace<'a> {
    last_ip: &'a mut LastIp,
    block: &'a mut Option<PayloadSize>,
}

impl Track for InPlace<'_> {
    #[inline(always)]
    fn check_tnt8(&self, byte: u8, count: u8, bits: u8) -> Result<()> {
        if self.block.is_some() && byte & op::BIP_MASK == op::BIP {
            Err(Error::TntInBlock { count, bits })
        } else {
            Ok(())
        }
    }

    #[inline(always)]
    fn check_bip(&self, size: PayloadSize) -> Result<()> {
        if *self.block == Some(size) {
            Ok(())
        } else {
            Err(Error::BipContext {
                size,
                block: *self.block,
            })
        }
    }

    #[inline(always)]
    fn ip(&mut self, ip: Ip) {
        self.last_ip.apply(ip.ipc, ip.payload);
    }

    #[inline(always)]
    fn psb(&mut self) {
        self.last_ip.reset();
    }

    #[inline(always)]
    fn bbp(&mut self, size: PayloadSize) {
        *self.block = Some(size);
    }

    #[inline(always)]
    fn in_block(&self) -> bool {
        self.block.is_some()
    }

    #[inline(always)]
    fn end_block(&mut self) {
        *self.block = None;
    }
}
