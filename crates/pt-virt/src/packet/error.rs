// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Errors of the packet layer: malformed or truncated input to the decoder, and packets
//! or buffers the encoder cannot write.

use super::{IpCompression, Kind, PayloadSize};

/// An error from the packet encoder or decoder. Decoder errors carry the byte offset of
/// the packet's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside a packet (libipt `-pte_eos`, perf "need more bytes").
    #[error("{kind:?} packet at offset {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// Offset of the packet.
        offset: usize,
        /// The packet as far as its opcode tells.
        kind: Kind,
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// No packet has this first byte (libipt `-pte_bad_opc`).
    #[error("unknown opcode {opcode:#04x} at offset {offset}")]
    UnknownOpcode {
        /// Offset of the packet.
        offset: usize,
        /// The byte.
        opcode: u8,
    },
    /// No packet has this byte after the `02h` escape (libipt `-pte_bad_opc`).
    #[error("unknown extended opcode 02 {ext:02x} at offset {offset}")]
    UnknownExtOpcode {
        /// Offset of the packet.
        offset: usize,
        /// The second byte.
        ext: u8,
    },
    /// No packet has this byte after the `02 C3` escape (libipt `-pte_bad_opc`).
    #[error("unknown extended opcode 02 c3 {ext2:02x} at offset {offset}")]
    UnknownExt2Opcode {
        /// Offset of the packet.
        offset: usize,
        /// The third byte.
        ext2: u8,
    },
    /// `02 82` not followed by the rest of the PSB pattern (libipt `-pte_bad_packet`).
    #[error("broken PSB pattern at offset {offset}")]
    BadPsb {
        /// Offset of the packet.
        offset: usize,
    },
    /// IPBytes `101b` or `111b` (reserved; libipt and perf: bad packet).
    #[error("{kind:?} at offset {offset} has reserved IPBytes {bits:#05b}")]
    ReservedIpBytes {
        /// Offset of the packet.
        offset: usize,
        /// TIP, TIP.PGE, TIP.PGD or FUP.
        kind: Kind,
        /// The IPBytes field.
        bits: u8,
    },
    /// A long TNT without branches (strict mode; libipt `-pte_bad_packet`).
    #[error("long TNT without branch bits at offset {offset}")]
    EmptyTnt {
        /// Offset of the packet.
        offset: usize,
    },
    /// A MODE packet whose leaf (bits 7:5) is neither Exec nor TSX.
    #[error("MODE packet with reserved leaf {leaf:#04x} at offset {offset}")]
    BadModeLeaf {
        /// Offset of the packet.
        offset: usize,
        /// The payload byte.
        leaf: u8,
    },
    /// MODE.Exec or MODE.TSX with both bits 1:0 set (lenient mode; perf rejects them).
    #[error("{kind:?} with both bits 1:0 set at offset {offset}")]
    BadModeBits {
        /// Offset of the packet.
        offset: usize,
        /// MODE.Exec or MODE.TSX.
        kind: Kind,
    },
    /// TMA with reserved bits set (strict mode; libipt `-pte_bad_packet`).
    #[error("TMA with reserved bits set at offset {offset}")]
    ReservedTma {
        /// Offset of the packet.
        offset: usize,
    },
    /// A CYC packet longer than the mode allows (9 bytes strict, 10 lenient).
    #[error("CYC packet at offset {offset} longer than {max} bytes")]
    CycTooLong {
        /// Offset of the packet.
        offset: usize,
        /// The longest length the mode accepts.
        max: usize,
    },
    /// PTW with the reserved PayloadBytes `10b` or `11b`.
    #[error("PTW with reserved PayloadBytes {plc} at offset {offset}")]
    ReservedPtwSize {
        /// Offset of the packet.
        offset: usize,
        /// The PayloadBytes field.
        plc: u8,
    },
    /// No PSB at or after this offset (libipt `pt_pkt_sync_forward`: `-pte_eos`).
    #[error("no PSB at or after offset {from}")]
    NoPsb {
        /// Where the search began.
        from: usize,
    },
    /// The sink has no room for the packet; nothing was written.
    #[error("packet of {needed} bytes does not fit in the {available} bytes left")]
    BufferFull {
        /// The packet's length.
        needed: usize,
        /// Room left in the sink.
        available: usize,
    },
    /// A field value the packet cannot carry (the encoder never truncates).
    #[error("{kind:?} cannot carry {field} = {value:#x}")]
    FieldRange {
        /// The packet.
        kind: Kind,
        /// The field's name as in [`Packet`](super::Packet).
        field: &'static str,
        /// The value given.
        value: u64,
    },
    /// A TNT branch count outside 1..=6 (short) or 1..=47 (long).
    #[error("{kind:?} cannot carry {count} branches")]
    TntCount {
        /// TNT-8 or TNT-64.
        kind: Kind,
        /// The count given.
        count: u8,
    },
    /// A forced IP compression that does not reconstruct the IP from the last IP.
    #[error("{ipc:?} cannot express IP {ip:#x} against last IP {last:?}")]
    IpNotRepresentable {
        /// The IP.
        ip: u64,
        /// The forced compression.
        ipc: IpCompression,
        /// The encoder's last IP.
        last: Option<u64>,
    },
    /// A short TNT inside a BBP block whose byte reads as a BIP header there (bits 2:0 =
    /// `100b`, perf `intel_pt_do_get_packet`).
    #[error("short TNT ({count} bits {bits:#b}) would read as a BIP inside a block")]
    TntInBlock {
        /// Its branch count.
        count: u8,
        /// Its branch bits.
        bits: u8,
    },
    /// A BIP outside a BBP..BEP block, or with a size other than the BBP's SZ says.
    #[error("BIP with {size:?} payload does not match the block context {block:?}")]
    BipContext {
        /// The BIP's payload size.
        size: PayloadSize,
        /// The payload size the current block declares, `None` outside a block.
        block: Option<PayloadSize>,
    },
}

/// Shorthand for results of the packet layer.
pub type Result<T> = core::result::Result<T, Error>;
