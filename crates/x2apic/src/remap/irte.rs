// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The interrupt remapping table entry, remapped format (Intel VT-d spec §9.10,
//! "Interrupt Remapping Table Entry (IRTE) for Remapped Interrupts"; Linux
//! `include/linux/dmar.h` `struct irte`), as a validated [`Irte`] with
//! [`Irte::decode`]/[`Irte::encode`] twins.
//!
//! The destination field depends on the remapping unit's mode (IRTA_REG.EIME): in
//! x2APIC mode it is the full 32-bit x2APIC ID; in xAPIC mode bits 47:40 hold the 8-bit
//! APIC ID and bits 39:32 and 63:48 are reserved. The posted format (IM = 1) needs
//! posted-interrupt support (CAP_REG.PI), which this model does not offer, so IM is
//! a reserved bit here.
#![allow(
    clippy::cast_possible_truncation,
    reason = "bit fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

/// Bit 0, Present (VT-d §9.10).
pub const P: u128 = 1;
/// Bit 1, Fault Processing Disable.
pub const FPD: u128 = 1 << 1;
/// Bit 2, Destination Mode: logical when set.
pub const DM: u128 = 1 << 2;
/// Bit 3, Redirection Hint.
pub const RH: u128 = 1 << 3;
/// Bit 4, Trigger Mode: level when set.
pub const TM: u128 = 1 << 4;
/// Bit 15, IRTE Mode: posted when set (VT-d §9.11).
pub const IM: u128 = 1 << 15;
/// Reserved bits in either mode: 14:12, 15 (IM, without posted interrupts), 31:24 and
/// 127:84 (VT-d §9.10).
pub const RESERVED: u128 = (0x7 << 12) | IM | (0xFF << 24) | (!0u128 << 84);
/// Reserved destination bits in xAPIC mode: 39:32 and 63:48 (VT-d §9.10).
pub const RESERVED_XAPIC_DEST: u128 = (0xFF << 32) | (0xFFFF << 48);

/// Why bits cannot be an IRTE, or an IRTE cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reserved bits set (fault reason 0x24 when the entry is present).
    #[error("IRTE {raw:#034x}: reserved bits {reserved:#x} set")]
    Reserved {
        /// The entry.
        raw: u128,
        /// The reserved bits found set.
        reserved: u128,
    },
    /// A field value wider than its field (or an ID above 255 in xAPIC mode).
    #[error("IRTE field {field} cannot hold {value:#x}")]
    FieldRange {
        /// The field's name in the VT-d spec.
        field: &'static str,
        /// The value.
        value: u32,
    },
}

/// A remapped-format IRTE, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Irte {
    /// P.
    pub present: bool,
    /// FPD: faults through this entry are not recorded.
    pub fault_processing_disable: bool,
    /// DM: logical destination mode.
    pub logical: bool,
    /// RH.
    pub redirection_hint: bool,
    /// TM: level triggered.
    pub level_triggered: bool,
    /// DLM, bits 7:5.
    pub delivery_mode: u8,
    /// AVAIL, bits 11:8 (software's).
    pub available: u8,
    /// V, bits 23:16.
    pub vector: u8,
    /// DST: the x2APIC ID (EIME = 1) or the 8-bit APIC ID (EIME = 0).
    pub destination: u32,
    /// SID, bits 79:64: the requester ID checked under SVT.
    pub source_id: u16,
    /// SQ, bits 81:80.
    pub source_qualifier: u8,
    /// SVT, bits 83:82.
    pub source_validation: u8,
}

impl Irte {
    /// Decodes a 128-bit entry read in mode `eim` (x2APIC mode when true). Reserved
    /// bits are refused whether or not the entry is present; the caller decides which
    /// fault that is ([`super::FaultReason::NotPresent`] comes first).
    pub fn decode(raw: u128, eim: bool) -> Result<Self, Error> {
        let reserved = raw & (RESERVED | if eim { 0 } else { RESERVED_XAPIC_DEST });
        if reserved != 0 {
            return Err(Error::Reserved { raw, reserved });
        }
        let dst = (raw >> 32) as u32;
        Ok(Self {
            present: raw & P != 0,
            fault_processing_disable: raw & FPD != 0,
            logical: raw & DM != 0,
            redirection_hint: raw & RH != 0,
            level_triggered: raw & TM != 0,
            delivery_mode: (raw >> 5) as u8 & 7,
            available: (raw >> 8) as u8 & 0xF,
            vector: (raw >> 16) as u8,
            destination: if eim { dst } else { (dst >> 8) & 0xFF },
            source_id: (raw >> 64) as u16,
            source_qualifier: (raw >> 80) as u8 & 3,
            source_validation: (raw >> 82) as u8 & 3,
        })
    }

    /// Encodes the entry for mode `eim`; the inverse of [`Irte::decode`].
    pub fn encode(&self, eim: bool) -> Result<u128, Error> {
        let check = |field, value: u32, max: u32| {
            if value > max {
                Err(Error::FieldRange { field, value })
            } else {
                Ok(u128::from(value))
            }
        };
        let dlm = check("DLM", self.delivery_mode.into(), 7)?;
        let avail = check("AVAIL", self.available.into(), 0xF)?;
        let sq = check("SQ", self.source_qualifier.into(), 3)?;
        let svt = check("SVT", self.source_validation.into(), 3)?;
        let dst = if eim {
            u128::from(self.destination)
        } else {
            check("DST", self.destination, 0xFF)? << 8
        };
        let flag = |on: bool, bit: u128| if on { bit } else { 0 };
        Ok(flag(self.present, P)
            | flag(self.fault_processing_disable, FPD)
            | flag(self.logical, DM)
            | flag(self.redirection_hint, RH)
            | flag(self.level_triggered, TM)
            | dlm << 5
            | avail << 8
            | u128::from(self.vector) << 16
            | dst << 32
            | u128::from(self.source_id) << 64
            | sq << 80
            | svt << 82)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linux_entry() {
        // What Linux writes for vector 0x22, physical, fixed, edge, to x2APIC ID 256,
        // verifying SID 0xFF00 exactly (`prepare_irte` + `set_irte_sid(irte, 1, 0, sid)`).
        let raw: u128 = (0xFF00u128 << 64) | (1 << 82) | (256u128 << 32) | (0x22 << 16) | 1;
        let irte = Irte::decode(raw, true).unwrap();
        assert_eq!(
            irte,
            Irte {
                present: true,
                vector: 0x22,
                destination: 256,
                source_id: 0xFF00,
                source_validation: 1,
                ..Irte::default()
            }
        );
        assert_eq!(irte.encode(true), Ok(raw));
        // xAPIC mode reads DST bits 47:40 only: 256 << 32 reads as APIC ID 1, and an
        // x2APIC ID of 0x1_0000 sets reserved bit 48.
        assert_eq!(Irte::decode(raw, false).unwrap().destination, 1);
        assert!(matches!(
            Irte::decode(raw | 1 << 48, false),
            Err(Error::Reserved { reserved, .. }) if reserved == 1 << 48
        ));
        let x = Irte::decode((5u128 << 40) | 1, false).unwrap();
        assert_eq!(x.destination, 5);
        assert_eq!(
            irte.encode(false),
            Err(Error::FieldRange {
                field: "DST",
                value: 256
            })
        );
    }

    fn irte(eim: bool) -> impl Strategy<Value = Irte> {
        let dst = if eim {
            any::<u32>().boxed()
        } else {
            (0u32..256).boxed()
        };
        (
            any::<[bool; 5]>(),
            0u8..8,
            0u8..16,
            any::<u8>(),
            dst,
            any::<u16>(),
            0u8..4,
            0u8..4,
        )
            .prop_map(
                |([p, fpd, dm, rh, tm], dlm, avail, vector, destination, sid, sq, svt)| Irte {
                    present: p,
                    fault_processing_disable: fpd,
                    logical: dm,
                    redirection_hint: rh,
                    level_triggered: tm,
                    delivery_mode: dlm,
                    available: avail,
                    vector,
                    destination,
                    source_id: sid,
                    source_qualifier: sq,
                    source_validation: svt,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn round_trip_x2apic(e in irte(true)) {
            prop_assert_eq!(Irte::decode(e.encode(true).unwrap(), true), Ok(e));
        }

        #[test]
        fn round_trip_xapic(e in irte(false)) {
            prop_assert_eq!(Irte::decode(e.encode(false).unwrap(), false), Ok(e));
        }

        /// Any 128 bits: either a reserved-bit error naming exactly the reserved bits set,
        /// or an entry that encodes back to the same bits.
        #[test]
        fn raw_bits(lo in any::<u64>(), hi in any::<u64>(), keep in any::<bool>(), eim in any::<bool>()) {
            let mask = RESERVED | if eim { 0 } else { RESERVED_XAPIC_DEST };
            // Half the cases clear the reserved bits so most reach the round trip.
            let raw = (u128::from(hi) << 64 | u128::from(lo)) & if keep { !0 } else { !mask };
            match Irte::decode(raw, eim) {
                Ok(e) => prop_assert_eq!(e.encode(eim), Ok(raw)),
                Err(Error::Reserved { reserved, .. }) => prop_assert_eq!(reserved, raw & mask),
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
