// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The compact decoder's tables: kind and length of a packet by its first byte, and by
//! its second byte after the `02h` escape, so that [`decode_hot`] decodes most packets
//! without a branch on their kind. Every packet a table does not settle (PSB, the block
//! packets, reserved encodings, a CYC of more than two bytes, an IP packet with a full
//! 8-byte IP, and packets whose validity depends on [`Strictness`](super::Strictness)
//! and does not hold under both rule sets) is left to the decoder's general path, which
//! reports the errors.
//!
//! Lengths and opcodes: Intel SDM vol. 3C, "Intel Processor Trace", section "Packet
//! Definitions" (the packet figures); the constants in [`super::opcode`].

use super::ip::{IpCompression, IpUpdate};
use super::opcode as op;
use super::raw::RawPacket;
use super::repr::Kind;

/// How the compact decoder decodes a packet by its opcode byte.
#[derive(Debug, Clone, Copy)]
struct Class {
    /// The packet with the mask of its payload bytes in place of its payload; `len == 0`
    /// for those left to the general path. (Everything but the payload is settled by the
    /// opcode, so a decoded packet is this one with its payload masked in.)
    template: RawPacket,
    /// The bits of the last IP it keeps ([`IpUpdate::kept`]): all for a packet
    /// without an IP.
    kept: u64,
    /// Bits of the byte after the opcode that must be clear (a two-byte CYC's Exp bit).
    clear_after: u8,
    /// What the bytes after the opcode must satisfy, beyond `clear_after`.
    check: Check,
}

// A power of two, so that indexing a table of classes is one shift.
const _: () = assert!(core::mem::size_of::<Class>() == 32);

/// Kind and length of a packet by its opcode byte, `len == 0` for those left to the
/// general path: what a [`Class`] is made from.
#[derive(Debug, Clone, Copy)]
struct Shape {
    kind: Kind,
    len: u8,
    /// The IPBytes field of an IP packet, `000b` (no last-IP update) for the others.
    ip_bits: u8,
    /// Bits of the byte after the opcode that must be clear.
    clear_after: u8,
    /// What the bytes after the opcode must satisfy.
    check: Check,
}

/// A condition on a packet's bytes after its opcode(s), beyond its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// None.
    None,
    /// A long TNT with at least one branch (one without is an error under libipt's
    /// rules): a payload above 1, the stop bit alone.
    NonEmptyTnt,
    /// TMA with its reserved bits clear (set, an error under libipt's rules).
    TmaReserved,
    /// The `C3h` escape: only MNT (`88h`) is known.
    Mnt,
}

const GENERAL: Shape = plain(Kind::Ext, 0);

/// A shape without an IP or a check.
const fn plain(kind: Kind, len: u8) -> Shape {
    Shape {
        kind,
        len,
        ip_bits: 0,
        clear_after: 0,
        check: Check::None,
    }
}

/// The class of a packet of shape `shape` whose opcode, `opcode`, is its byte
/// `opcode_len - 1` (after the `02h` escape when `opcode_len` is 2).
const fn class(shape: Shape, opcode: u8, opcode_len: u8) -> Class {
    let payload_len = shape.len.saturating_sub(opcode_len);
    Class {
        template: RawPacket {
            kind: shape.kind,
            len: shape.len,
            ext: opcode_len == 2,
            opcode,
            payload: BYTE_MASKS[payload_len as usize & 15],
            tail: 0,
            ip_bits: shape.ip_bits,
        },
        kept: IpUpdate::kept(shape.ip_bits),
        clear_after: shape.clear_after,
        check: shape.check,
    }
}

/// The shape of first byte `b0`, in the order of the decoder's dispatch (bit 0 clear,
/// then CYC, then the IP packets by bits 4:0, then MODE, TSC and MTC by value).
const fn first(b0: u8) -> Shape {
    if b0 == op::EXT {
        GENERAL
    } else if b0 == op::PAD {
        plain(Kind::Pad, 1)
    } else if b0 & 1 == 0 {
        plain(Kind::Tnt8, 1)
    } else if b0 & op::CYC == op::CYC {
        if b0 & op::CYC_EXP != 0 {
            // Two bytes long only if its second byte has no Exp bit.
            Shape {
                clear_after: op::CYCX_EXP,
                ..plain(Kind::Cyc, 2)
            }
        } else {
            plain(Kind::Cyc, 1)
        }
    } else {
        let kind = match b0 & op::IP_OPCODE_MASK {
            op::TIP => Kind::Tip,
            op::TIP_PGE => Kind::TipPge,
            op::TIP_PGD => Kind::TipPgd,
            op::FUP => Kind::Fup,
            _ => {
                return match b0 {
                    op::TSC => plain(Kind::Tsc, 8),
                    op::MTC => plain(Kind::Mtc, 2),
                    // MODE's kind is in its second byte: see `mode`.
                    _ => GENERAL,
                };
            }
        };
        match IpCompression::from_bits(b0 >> op::IPBYTES_SHIFT) {
            // A full IP (9 bytes) goes to the general path: the hot path takes the next
            // packet's first byte from the 8 bytes after the opcode.
            #[allow(clippy::cast_possible_truncation)] // below 8
            Some(ipc) if ipc.payload_len() < 8 => Shape {
                ip_bits: ipc.bits(),
                ..plain(kind, 1 + ipc.payload_len() as u8)
            },
            _ => GENERAL,
        }
    }
}

/// The shape of a MODE packet by its second byte: a known leaf, without both bits 1:0
/// set (an error under perf's rules, accepted under libipt's).
#[inline(always)]
fn mode(b1: u8) -> Shape {
    let kind = match b1 & op::MODE_LEAF_MASK {
        op::MODE_LEAF_EXEC => Kind::ModeExec,
        op::MODE_LEAF_TSX => Kind::ModeTsx,
        _ => return GENERAL,
    };
    if b1 & 3 == 3 { GENERAL } else { plain(kind, 2) }
}

/// The shape of second byte `b1` after the `02h` escape.
const fn escaped(b1: u8) -> Shape {
    if b1 & op::IP_OPCODE_MASK == op::EXT_PTW {
        return match (b1 >> 5) & 3 {
            0 => plain(Kind::Ptw, 6),
            1 => plain(Kind::Ptw, 10),
            _ => GENERAL,
        };
    }
    match b1 {
        op::EXT_PSBEND => plain(Kind::PsbEnd, 2),
        op::EXT_OVF => plain(Kind::Ovf, 2),
        op::EXT_STOP => plain(Kind::Stop, 2),
        op::EXT_TNT64 => Shape {
            check: Check::NonEmptyTnt,
            ..plain(Kind::Tnt64, 8)
        },
        op::EXT_PIP => plain(Kind::Pip, 8),
        op::EXT_CBR => plain(Kind::Cbr, 4),
        op::EXT_TMA => Shape {
            check: Check::TmaReserved,
            ..plain(Kind::Tma, 7)
        },
        op::EXT_VMCS => plain(Kind::Vmcs, 7),
        op::EXT_EXT2 => Shape {
            check: Check::Mnt,
            ..plain(Kind::Mnt, 11)
        },
        op::EXT_MWAIT => plain(Kind::Mwait, 10),
        op::EXT_PWRE => plain(Kind::Pwre, 4),
        op::EXT_PWRX => plain(Kind::Pwrx, 7),
        op::EXT_CFE => plain(Kind::Cfe, 4),
        op::EXT_EVD => plain(Kind::Evd, 11),
        b if b & !op::IP_BIT == op::EXT_EXSTOP => plain(Kind::Exstop, 2),
        b if b & !op::IP_BIT == op::EXT_BEP => plain(Kind::Bep, 2),
        // PSB (checked over 16 bytes, resets the last IP), BBP (opens a block) and
        // the reserved opcodes.
        _ => GENERAL,
    }
}

/// The classes of every byte: [`first`] or, with `escaped`, [`escaped`].
const fn table(escape: bool) -> [Class; 256] {
    let mut table = [class(GENERAL, 0, 1); 256];
    let mut b = 0;
    while b < 256 {
        #[allow(clippy::cast_possible_truncation)] // below 256
        let byte = b as u8;
        table[b] = if escape {
            class(escaped(byte), byte, 2)
        } else {
            class(first(byte), byte, 1)
        };
        b += 1;
    }
    table
}

/// [`first`] of every first byte. (A `const`, not a `static`: the callers' crates then
/// address it directly rather than through the global offset table, one load less a
/// packet.)
const FIRST: [Class; 256] = table(false);

/// The lengths of [`FIRST`]'s packets, on their own: the next packet's offset then
/// waits for one byte load (indexed by the carried first byte), without the scaling of
/// an index into `FIRST`. Every packet `FIRST` settles ends within the 8 bytes after
/// its opcode (TSC, and an IP packet with a 6-byte IP, are the longest), where
/// `decode_hot` finds the next packet's first byte: asserted here.
const FIRST_LENGTHS: [u8; 256] = {
    let mut lengths = [0; 256];
    let mut b = 0;
    while b < 256 {
        lengths[b] = FIRST[b].template.len;
        assert!(lengths[b] <= 8);
        // Hence no full IP, which `LastIp::apply_kept` does not take.
        assert!(FIRST[b].template.ip_bits != IpCompression::Full.bits());
        b += 1;
    }
    lengths
};

/// [`escaped`] of every byte after the escape.
const ESCAPED: [Class; 256] = table(true);

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

/// Whether `bytes` (those after the opcode, from the window) satisfy `check`.
#[inline(always)]
fn holds(check: Check, bytes: &[u8; 9]) -> bool {
    let [b0, b1, b2, b3, b4, b5, ..] = *bytes;
    match check {
        Check::None => true,
        Check::NonEmptyTnt => u64::from_le_bytes([b0, b1, b2, b3, b4, b5, 0, 0]) > 1,
        // Byte 4 of the packet, and bits 15:9 of its FastCounter field (bytes 5 and 6).
        Check::TmaReserved => b2 == 0 && b4 & 0xFE == 0,
        Check::Mnt => b0 == op::EXT2_MNT,
    }
}

/// A packet [`decode_hot`] settled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hot {
    pub(crate) raw: RawPacket,
    /// The bits of the last IP it keeps ([`LastIp::apply_kept`](super::ip::LastIp::apply_kept)
    /// takes them: no packet here has a full IP).
    pub(crate) kept: u64,
    /// Its length.
    pub(crate) len: usize,
    /// The byte after it: the next packet's first byte.
    pub(crate) next_first: u8,
}

/// Decodes the packet at the start of `window`, whose first byte is `b0`, outside a BBP
/// block if the first-byte table settles it; `None` for everything else.
///
/// No branch on the kind: the packet is the table's with the payload from one masked
/// load. The next packet's offset waits for one load only: the length comes from a
/// table of its own, indexed by `b0`, which the caller took from the packet before
/// ([`Hot::next_first`]: a shift of the bytes already loaded) rather than loading it.
#[inline(always)]
pub(crate) fn decode_hot(window: &[u8; op::MAX_LEN], b0: u8) -> Option<Hot> {
    let len = FIRST_LENGTHS[usize::from(b0)];
    let Class {
        template,
        kept,
        clear_after,
        ..
    } = FIRST[usize::from(b0)];
    let [_, after @ ..] = window;
    let word = u64::from_le_bytes(*after.first_chunk()?);
    #[allow(clippy::cast_possible_truncation)] // the low byte
    if len == 0 || (word as u8) & clear_after != 0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // the low byte
    let next_first = (word >> (8 * (len - 1))) as u8;
    let raw = RawPacket {
        payload: word & template.payload,
        ..template
    };
    Some(Hot {
        raw,
        kept,
        len: usize::from(len),
        next_first,
    })
}

/// Decodes the packet at the start of `window` outside a BBP block if its kind is in
/// its second byte (the packets after the `02h` escape, and MODE) and the escape table
/// settles it; `None` for everything else (see the module documentation).
#[inline(always)]
pub(crate) fn decode_second_byte(window: &[u8; op::MAX_LEN]) -> Option<RawPacket> {
    let [b0, b1, ..] = *window;
    let (class, opcode_len) = match b0 {
        op::EXT => (ESCAPED[usize::from(b1)], 2),
        op::MODE => (class(mode(b1), op::MODE, 1), 1),
        _ => return None,
    };
    let template = class.template;
    let after: &[u8; 9] = window.get(usize::from(opcode_len)..)?.first_chunk()?;
    if template.len == 0 || !holds(class.check, after) {
        return None;
    }
    let [w0, w1, w2, w3, w4, w5, w6, w7, tail] = *after;
    let word = u64::from_le_bytes([w0, w1, w2, w3, w4, w5, w6, w7]);
    Some(RawPacket {
        payload: word & template.payload,
        tail: if template.len - opcode_len > 8 {
            tail
        } else {
            0
        },
        ..template
    })
}
