// SPDX-License-Identifier: Apache-2.0 OR MIT
//! IOAPIC redirection-table entries with the 15-bit extended destination ID.
//!
//! Layout (Intel 82093AA datasheet §3.2.4; Linux `arch/x86/include/asm/io_apic.h`,
//! `struct IO_APIC_route_entry`): bits 7:0 vector, 10:8 delivery mode, 11 destination
//! mode (logical when set), 12 delivery status (read-only), 13 polarity (low when set),
//! 14 remote IRR (read-only), 15 trigger mode (level when set), 16 mask, 47:17 reserved,
//! 48 remappable format, 63:56 destination bits 7:0. With the extended destination ID
//! (the same paravirtual convention as for MSIs), bits 55:49 carry destination bits
//! 14:8 (`virt_destid_8_14`); without it they are reserved.
//!
//! In the remappable format (bit 48 set; Intel VT-d spec §5.1.5.1) bits 63:49 are the
//! interrupt index's bits 14:0 and bit 11 its bit 15.
//!
//! Decoding ignores the read-only bits and rejects set reserved bits.

use crate::error::Error;

/// Bit 12, delivery status, and bit 14, remote IRR: read-only, ignored by decoding.
pub const READ_ONLY: u64 = (1 << 12) | (1 << 14);
/// Bit 48: the remappable (interrupt-remapping) format.
pub const REMAPPABLE: u64 = 1 << 48;
/// Bits 47:17, reserved in both formats.
pub const RESERVED: u64 = ((1 << 48) - 1) & !((1 << 17) - 1);

/// Where an entry sends its interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RteTarget {
    /// Compatibility format: a destination APIC ID or logical mask (8 bits, or 15 with
    /// the extended destination ID) and the destination mode.
    Apic {
        /// The destination.
        dest: u32,
        /// Logical destination mode.
        logical: bool,
        /// Delivery mode bits 10:8.
        delivery_mode: u8,
    },
    /// Remappable format: an index into the interrupt-remapping table.
    Remapped {
        /// The 16-bit interrupt index.
        index: u16,
    },
}

/// A decoded redirection-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Rte {
    /// Vector.
    pub vector: u8,
    /// Polarity: active low when true.
    pub active_low: bool,
    /// Trigger mode: level when true.
    pub level_triggered: bool,
    /// Masked.
    pub masked: bool,
    /// The destination.
    pub target: RteTarget,
}

/// Decodes a 64-bit redirection-table entry.
pub fn decode(raw: u64, ext_dest_id: bool) -> Result<Rte, Error> {
    let reserved = raw & RESERVED;
    let ext_bits = (raw >> 49) & 0x7F;
    let common = |target| Rte {
        vector: raw.to_le_bytes()[0],
        active_low: raw & (1 << 13) != 0,
        level_triggered: raw & (1 << 15) != 0,
        masked: raw & (1 << 16) != 0,
        target,
    };
    if raw & REMAPPABLE != 0 {
        // Delivery mode bits 10:8 are reserved in the remappable format.
        let reserved = reserved | (raw & 0x700);
        if reserved != 0 {
            return Err(Error::RteReserved { raw, reserved });
        }
        let index = ((raw >> 49) & 0x7FFF) | ((raw >> 11) & 1) << 15;
        return Ok(common(RteTarget::Remapped {
            index: u16::try_from(index).map_err(|_| Error::RteReserved { raw, reserved: 0 })?,
        }));
    }
    let reserved = reserved | if ext_dest_id { 0 } else { ext_bits << 49 };
    if reserved != 0 {
        return Err(Error::RteReserved { raw, reserved });
    }
    let low8 = u32::from(raw.to_le_bytes()[7]);
    let high7 = u32::try_from(ext_bits).map_err(|_| Error::RteReserved { raw, reserved: 0 })?;
    Ok(common(RteTarget::Apic {
        dest: low8 | high7 << 8,
        logical: raw & (1 << 11) != 0,
        delivery_mode: (raw.to_le_bytes()[1]) & 7,
    }))
}

/// Encodes an entry (read-only bits clear); the inverse of [`decode`] with the same
/// `ext_dest_id`.
pub fn encode(rte: &Rte, ext_dest_id: bool) -> Result<u64, Error> {
    let common = u64::from(rte.vector)
        | u64::from(rte.active_low) << 13
        | u64::from(rte.level_triggered) << 15
        | u64::from(rte.masked) << 16;
    match rte.target {
        RteTarget::Apic {
            dest,
            logical,
            delivery_mode,
        } => {
            let bits = if ext_dest_id { 15 } else { 8 };
            if dest >> bits != 0 {
                return Err(Error::DestinationTooWide { dest, bits });
            }
            if delivery_mode > 7 {
                return Err(Error::BadDeliveryMode(delivery_mode));
            }
            Ok(common
                | u64::from(delivery_mode) << 8
                | u64::from(logical) << 11
                | u64::from(dest & 0xFF) << 56
                | u64::from(dest >> 8) << 49)
        }
        RteTarget::Remapped { index } => Ok(common
            | REMAPPABLE
            | u64::from(index & 0x7FFF) << 49
            | u64::from(index >> 15) << 11),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extended_destination() {
        // Fixed, edge, physical, vector 0x31, destination 300 = 0x12C: bits 63:56 = 0x2C,
        // bits 55:49 = 1.
        let rte = Rte {
            vector: 0x31,
            active_low: false,
            level_triggered: false,
            masked: false,
            target: RteTarget::Apic {
                dest: 300,
                logical: false,
                delivery_mode: 0,
            },
        };
        let raw = 0x2C02_0000_0000_0031;
        assert_eq!(encode(&rte, true), Ok(raw));
        assert_eq!(decode(raw, true), Ok(rte));
        assert_eq!(
            decode(raw, false),
            Err(Error::RteReserved {
                raw,
                reserved: 1 << 49
            })
        );
        assert_eq!(
            encode(&rte, false),
            Err(Error::DestinationTooWide { dest: 300, bits: 8 })
        );
        assert_eq!(
            decode(raw | READ_ONLY, true),
            Ok(rte),
            "read-only bits are ignored"
        );
        assert!(decode(raw | 1 << 20, true).is_err());
        let remapped = Rte {
            target: RteTarget::Remapped { index: 0x8005 },
            ..rte
        };
        let r = encode(&remapped, false).unwrap();
        assert_eq!(r, 0x000B_0000_0000_0831);
        assert_eq!(decode(r, false), Ok(remapped));
        assert!(
            decode(r | 0x100, false).is_err(),
            "no delivery mode in the remappable format"
        );
    }

    fn rtes() -> impl Strategy<Value = (Rte, bool)> {
        let target = prop_oneof![
            (0u32..0x8000, any::<bool>(), 0u8..8).prop_map(|(dest, logical, delivery_mode)| {
                RteTarget::Apic {
                    dest,
                    logical,
                    delivery_mode,
                }
            }),
            any::<u16>().prop_map(|index| RteTarget::Remapped { index }),
        ];
        (
            any::<u8>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            target,
            any::<bool>(),
        )
            .prop_map(
                |(vector, active_low, level_triggered, masked, target, ext)| {
                    let target = match target {
                        RteTarget::Apic {
                            dest,
                            logical,
                            delivery_mode,
                        } if !ext => RteTarget::Apic {
                            dest: dest & 0xFF,
                            logical,
                            delivery_mode,
                        },
                        t => t,
                    };
                    (
                        Rte {
                            vector,
                            active_low,
                            level_triggered,
                            masked,
                            target,
                        },
                        ext,
                    )
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn round_trip((rte, ext) in rtes()) {
            prop_assert_eq!(decode(encode(&rte, ext).unwrap(), ext), Ok(rte));
        }
    }

    /// Whatever `decode` accepts, `encode` gives back but for the read-only bits. The
    /// inputs are valid entries (reserved bits 47:17 zero) with random read-only bits and
    /// up to two of their 64 bits flipped, so most decode.
    #[test]
    fn decode_then_encode_drops_only_read_only_bits() {
        let inputs = (
            rtes(),
            any::<bool>(),
            any::<bool>(),
            crate::reach::flips(64),
        )
            .prop_map(|((rte, ext), status, irr, mask)| {
                let read_only = u64::from(status) << 12 | u64::from(irr) << 14;
                (
                    encode(&rte, ext).unwrap() ^ read_only ^ u64::try_from(mask).unwrap(),
                    ext,
                )
            });
        crate::reach::check("ioapic decode_then_encode", 1024, inputs, |(raw, ext)| {
            let Ok(rte) = decode(raw, ext) else {
                return Ok(false);
            };
            prop_assert_eq!(encode(&rte, ext), Ok(raw & !READ_ONLY));
            Ok(true)
        });
    }
}
