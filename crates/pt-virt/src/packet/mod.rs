// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Intel PT packets: every packet of the current SDM as a value ([`Packet`]), a
//! zero-allocation [`Encoder`] that writes them into a [`Sink`] and chooses IP
//! compressions against its last-IP state, and a [`Decoder`] that iterates them over a
//! byte slice, synchronises to a PSB and reports every malformed or truncated packet as
//! an [`Error`]. [`RawPacket`] is a compact form (kind, length and wire bytes, like
//! libipt's `struct pt_packet`) that [`Decoder::next_raw`] and [`Encoder::encode_raw`]
//! handle without a dispatch on the kind for the common packets.
//!
//! Sources: Intel SDM vol. 3C, chapter "Intel Processor Trace", section "Packet
//! Descriptions"; libipt 2.0.5 (`intel-pt.h`, `pt_packet.c`, `pt_opcodes.h`) and Linux
//! perf's `intel-pt-pkt-decoder.c`, where the two reference decoders disagree (see
//! [`Strictness`]). Every encoding libipt 2.0.5 knows is compared byte for byte with it
//! in the test-only crate `peers/libipt`.
//!
//! # Example
//!
//! ```
//! use pt_virt::packet::{
//!     Compression, Decoder, Encoder, IpKind, Packet, SliceSink, Strictness,
//! };
//!
//! let mut buf = [0u8; 64];
//! let mut enc = Encoder::new(SliceSink::new(&mut buf));
//! enc.encode(&Packet::Psb)?;
//! enc.encode(&Packet::ModeExec { csl: true, csd: false, iflag: false })?;
//! enc.encode(&Packet::PsbEnd)?;
//! // Against the last IP 0 that PSB leaves, this IP needs the sign-extended 48-bit form.
//! enc.encode_ip(IpKind::TipPge, 0xffff_8000_0010_0000, Compression::Shortest)?;
//! // Only the low 16 bits change: a 3-byte TIP.
//! enc.encode_ip(IpKind::Tip, 0xffff_8000_0010_1234, Compression::Shortest)?;
//! let len = enc.sink().len();
//!
//! let ips: Vec<u64> = Decoder::new(&buf[..len], Strictness::Strict)
//!     .filter_map(|d| d.ok()?.ip)
//!     .collect();
//! assert_eq!(ips, [0xffff_8000_0010_0000, 0xffff_8000_0010_1234]);
//! assert_eq!(len, 16 + 2 + 2 + 7 + 3);
//! # Ok::<(), pt_virt::packet::Error>(())
//! ```

mod decode;
mod encode;
mod error;
mod ip;
pub mod opcode;
mod raw;
mod repr;
mod table;

pub use decode::{Decoded, Decoder, Strictness, decode_at};
pub use encode::{Encoder, IpKind, Sink, SliceSink};
pub use error::{Error, Result};
pub use ip::{Compression, IpCompression, LastIp, sext48};
pub use raw::RawPacket;
pub use repr::{Ip, Kind, Packet, PayloadSize};

#[cfg(all(test, feature = "std"))]
mod tests;
