// SPDX-License-Identifier: Apache-2.0 OR MIT
//! MADT interrupt controller structures for processors and their NMI wiring (ACPI 6.5
//! §5.2.12, Tables 5.23 "Processor Local APIC Structure", 5.28 "Local APIC NMI
//! Structure", 5.37 "Processor Local x2APIC Structure" and 5.38 "Local x2APIC NMI
//! Structure").
//!
//! The rule a VMM must follow (ACPI 6.5 §5.2.12.12): processors with an APIC ID below
//! 255 are described with type 0, those with 255 and above with type 9; NMI wiring for
//! x2APIC processors needs type 0xA. Byte layouts are zerocopy structs with compile-time
//! size and offset checks; [`Entry`] is the validated twin with `parse`/`emit`.
#![allow(
    clippy::cast_possible_truncation,
    reason = "bit fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::Error;

/// Type 0, Processor Local APIC (ACPI 6.5, Table 5.23).
pub const TYPE_LOCAL_APIC: u8 = 0;
/// Type 4, Local APIC NMI (ACPI 6.5, Table 5.28).
pub const TYPE_LOCAL_APIC_NMI: u8 = 4;
/// Type 9, Processor Local x2APIC (ACPI 6.5, Table 5.37).
pub const TYPE_LOCAL_X2APIC: u8 = 9;
/// Type 0xA, Local x2APIC NMI (ACPI 6.5, Table 5.38).
pub const TYPE_LOCAL_X2APIC_NMI: u8 = 0xA;
/// Local APIC flags bit 0, Enabled (ACPI 6.5, Table 5.24).
pub const FLAG_ENABLED: u32 = 1;
/// Local APIC flags bit 1, Online Capable (ACPI 6.5, Table 5.24).
pub const FLAG_ONLINE_CAPABLE: u32 = 2;
/// The highest APIC ID a type 0 entry may describe (ACPI 6.5 §5.2.12.12: 255 and above
/// need type 9).
pub const MAX_LOCAL_APIC_ID: u32 = 254;
/// Type 4 processor UID meaning "all processors" (ACPI 6.5, Table 5.28).
pub const ALL_PROCESSORS_U8: u8 = 0xFF;
/// Type 0xA processor UID meaning "all processors" (ACPI 6.5, Table 5.38).
pub const ALL_PROCESSORS_U32: u32 = 0xFFFF_FFFF;

/// Type 0: Processor Local APIC, 8 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LocalApic {
    /// Type, 0.
    pub r#type: u8,
    /// Length, 8.
    pub length: u8,
    /// ACPI Processor UID.
    pub acpi_processor_uid: u8,
    /// APIC ID.
    pub apic_id: u8,
    /// Flags (Enabled, Online Capable).
    pub flags: U32,
}
const _: () = assert!(size_of::<LocalApic>() == 8);
const _: () = assert!(core::mem::offset_of!(LocalApic, apic_id) == 3);
const _: () = assert!(core::mem::offset_of!(LocalApic, flags) == 4);

/// Type 9: Processor Local x2APIC, 16 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LocalX2apic {
    /// Type, 9.
    pub r#type: u8,
    /// Length, 16.
    pub length: u8,
    /// Reserved, 0.
    pub reserved: U16,
    /// X2APIC ID.
    pub x2apic_id: U32,
    /// Flags (as type 0).
    pub flags: U32,
    /// ACPI Processor UID.
    pub acpi_processor_uid: U32,
}
const _: () = assert!(size_of::<LocalX2apic>() == 16);
const _: () = assert!(core::mem::offset_of!(LocalX2apic, x2apic_id) == 4);
const _: () = assert!(core::mem::offset_of!(LocalX2apic, flags) == 8);
const _: () = assert!(core::mem::offset_of!(LocalX2apic, acpi_processor_uid) == 12);

/// Type 4: Local APIC NMI, 6 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LocalApicNmi {
    /// Type, 4.
    pub r#type: u8,
    /// Length, 6.
    pub length: u8,
    /// ACPI Processor UID (0xFF: all).
    pub acpi_processor_uid: u8,
    /// MPS INTI flags (polarity 1:0, trigger mode 3:2).
    pub flags: U16,
    /// Local APIC LINT# the NMI is connected to.
    pub local_apic_lint: u8,
}
const _: () = assert!(size_of::<LocalApicNmi>() == 6);
const _: () = assert!(core::mem::offset_of!(LocalApicNmi, flags) == 3);
const _: () = assert!(core::mem::offset_of!(LocalApicNmi, local_apic_lint) == 5);

/// Type 0xA: Local x2APIC NMI, 12 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LocalX2apicNmi {
    /// Type, 0xA.
    pub r#type: u8,
    /// Length, 12.
    pub length: u8,
    /// MPS INTI flags.
    pub flags: U16,
    /// ACPI Processor UID (0xFFFF_FFFF: all).
    pub acpi_processor_uid: U32,
    /// Local x2APIC LINT# the NMI is connected to.
    pub local_x2apic_lint: u8,
    /// Reserved, 0.
    pub reserved: [u8; 3],
}
const _: () = assert!(size_of::<LocalX2apicNmi>() == 12);
const _: () = assert!(core::mem::offset_of!(LocalX2apicNmi, acpi_processor_uid) == 4);
const _: () = assert!(core::mem::offset_of!(LocalX2apicNmi, local_x2apic_lint) == 8);

/// One of the four processor-related MADT entries, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Entry {
    /// Type 0.
    LocalApic {
        /// ACPI processor UID.
        uid: u8,
        /// APIC ID.
        apic_id: u8,
        /// Flags.
        flags: u32,
    },
    /// Type 9.
    LocalX2apic {
        /// ACPI processor UID.
        uid: u32,
        /// x2APIC ID.
        x2apic_id: u32,
        /// Flags.
        flags: u32,
    },
    /// Type 4.
    LocalApicNmi {
        /// ACPI processor UID (0xFF: all).
        uid: u8,
        /// MPS INTI flags.
        flags: u16,
        /// LINT input (0 or 1).
        lint: u8,
    },
    /// Type 0xA.
    LocalX2apicNmi {
        /// ACPI processor UID (0xFFFF_FFFF: all).
        uid: u32,
        /// MPS INTI flags.
        flags: u16,
        /// LINT input (0 or 1).
        lint: u8,
    },
}

impl Entry {
    /// The entry's length in bytes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Self::LocalApic { .. } => size_of::<LocalApic>(),
            Self::LocalX2apic { .. } => size_of::<LocalX2apic>(),
            Self::LocalApicNmi { .. } => size_of::<LocalApicNmi>(),
            Self::LocalX2apicNmi { .. } => size_of::<LocalX2apicNmi>(),
        }
    }

    /// Parses the entry at the start of `bytes`; returns it and the rest. The type and
    /// length bytes must agree and reserved fields must be zero.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        let (kind, len) = match bytes {
            [kind, len, ..] => (*kind, *len),
            _ => {
                return Err(Error::BadLength {
                    len: bytes.len(),
                    expected: 2,
                });
            }
        };
        let bad = Error::BadMadtEntry { kind, len };
        let short = |expected| Error::BadLength {
            len: bytes.len(),
            expected,
        };
        match (kind, usize::from(len)) {
            (TYPE_LOCAL_APIC, 8) => {
                let (e, rest) = LocalApic::read_from_prefix(bytes).map_err(|_| short(8))?;
                Ok((
                    Self::LocalApic {
                        uid: e.acpi_processor_uid,
                        apic_id: e.apic_id,
                        flags: e.flags.get(),
                    },
                    rest,
                ))
            }
            (TYPE_LOCAL_X2APIC, 16) => {
                let (e, rest) = LocalX2apic::read_from_prefix(bytes).map_err(|_| short(16))?;
                if e.reserved.get() != 0 {
                    return Err(bad);
                }
                Ok((
                    Self::LocalX2apic {
                        uid: e.acpi_processor_uid.get(),
                        x2apic_id: e.x2apic_id.get(),
                        flags: e.flags.get(),
                    },
                    rest,
                ))
            }
            (TYPE_LOCAL_APIC_NMI, 6) => {
                let (e, rest) = LocalApicNmi::read_from_prefix(bytes).map_err(|_| short(6))?;
                Ok((
                    Self::LocalApicNmi {
                        uid: e.acpi_processor_uid,
                        flags: e.flags.get(),
                        lint: e.local_apic_lint,
                    },
                    rest,
                ))
            }
            (TYPE_LOCAL_X2APIC_NMI, 12) => {
                let (e, rest) = LocalX2apicNmi::read_from_prefix(bytes).map_err(|_| short(12))?;
                if e.reserved != [0; 3] {
                    return Err(bad);
                }
                Ok((
                    Self::LocalX2apicNmi {
                        uid: e.acpi_processor_uid.get(),
                        flags: e.flags.get(),
                        lint: e.local_x2apic_lint,
                    },
                    rest,
                ))
            }
            _ => Err(bad),
        }
    }

    /// Writes the entry to the start of `buf`, which must hold [`Entry::buffer_len`]
    /// bytes; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BadLength {
                len: buf.len(),
                expected: len,
            });
        };
        // The lengths are the compile-time-checked sizes, all below 256.
        let length = len as u8;
        match *self {
            Self::LocalApic {
                uid,
                apic_id,
                flags,
            } => dst.copy_from_slice(
                LocalApic {
                    r#type: TYPE_LOCAL_APIC,
                    length,
                    acpi_processor_uid: uid,
                    apic_id,
                    flags: flags.into(),
                }
                .as_bytes(),
            ),
            Self::LocalX2apic {
                uid,
                x2apic_id,
                flags,
            } => dst.copy_from_slice(
                LocalX2apic {
                    r#type: TYPE_LOCAL_X2APIC,
                    length,
                    reserved: 0.into(),
                    x2apic_id: x2apic_id.into(),
                    flags: flags.into(),
                    acpi_processor_uid: uid.into(),
                }
                .as_bytes(),
            ),
            Self::LocalApicNmi { uid, flags, lint } => dst.copy_from_slice(
                LocalApicNmi {
                    r#type: TYPE_LOCAL_APIC_NMI,
                    length,
                    acpi_processor_uid: uid,
                    flags: flags.into(),
                    local_apic_lint: lint,
                }
                .as_bytes(),
            ),
            Self::LocalX2apicNmi { uid, flags, lint } => dst.copy_from_slice(
                LocalX2apicNmi {
                    r#type: TYPE_LOCAL_X2APIC_NMI,
                    length,
                    flags: flags.into(),
                    acpi_processor_uid: uid.into(),
                    local_x2apic_lint: lint,
                    reserved: [0; 3],
                }
                .as_bytes(),
            ),
        }
        Ok(len)
    }

    /// The processor entry ACPI requires for APIC ID `id` with processor UID `uid`:
    /// type 0 when both fit its one-byte fields and the ID is at most 254, type 9
    /// otherwise.
    pub fn processor(uid: u32, id: u32, flags: u32) -> Self {
        match (u8::try_from(uid), u8::try_from(id)) {
            (Ok(uid), Ok(apic_id)) if id <= MAX_LOCAL_APIC_ID => Self::LocalApic {
                uid,
                apic_id,
                flags,
            },
            _ => Self::LocalX2apic {
                uid,
                x2apic_id: id,
                flags,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let cases: [(Entry, &[u8]); 4] = [
            (
                Entry::LocalApic {
                    uid: 3,
                    apic_id: 6,
                    flags: 1,
                },
                &[0, 8, 3, 6, 1, 0, 0, 0],
            ),
            (
                Entry::LocalX2apic {
                    uid: 300,
                    x2apic_id: 0x258,
                    flags: 1,
                },
                &[9, 16, 0, 0, 0x58, 2, 0, 0, 1, 0, 0, 0, 0x2C, 1, 0, 0],
            ),
            (
                Entry::LocalApicNmi {
                    uid: 0xFF,
                    flags: 5,
                    lint: 1,
                },
                &[4, 6, 0xFF, 5, 0, 1],
            ),
            (
                Entry::LocalX2apicNmi {
                    uid: u32::MAX,
                    flags: 0,
                    lint: 1,
                },
                &[0xA, 12, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0],
            ),
        ];
        for (entry, bytes) in cases {
            let mut buf = [0xA5; 16];
            assert_eq!(entry.emit(&mut buf), Ok(bytes.len()));
            assert_eq!(&buf[..bytes.len()], bytes);
            assert_eq!(Entry::parse(bytes), Ok((entry, &[][..])));
        }
        assert_eq!(
            Entry::processor(254, 254, 1),
            Entry::LocalApic {
                uid: 254,
                apic_id: 254,
                flags: 1
            }
        );
        assert_eq!(
            Entry::processor(200, 255, 1),
            Entry::LocalX2apic {
                uid: 200,
                x2apic_id: 255,
                flags: 1
            }
        );
        assert_eq!(
            Entry::processor(256, 3, 1),
            Entry::LocalX2apic {
                uid: 256,
                x2apic_id: 3,
                flags: 1
            }
        );
        assert_eq!(
            Entry::parse(&[0, 9, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadMadtEntry { kind: 0, len: 9 })
        );
        assert_eq!(
            Entry::parse(&[9, 16, 0]),
            Err(Error::BadLength {
                len: 3,
                expected: 16
            })
        );
        assert!(
            Entry::LocalApic {
                uid: 0,
                apic_id: 0,
                flags: 0
            }
            .emit(&mut [0; 7])
            .is_err()
        );
    }

    fn entries() -> impl Strategy<Value = Entry> {
        prop_oneof![
            (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(uid, apic_id, flags)| {
                Entry::LocalApic {
                    uid,
                    apic_id,
                    flags,
                }
            }),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(uid, x2apic_id, flags)| {
                Entry::LocalX2apic {
                    uid,
                    x2apic_id,
                    flags,
                }
            }),
            (any::<u8>(), any::<u16>(), any::<u8>())
                .prop_map(|(uid, flags, lint)| Entry::LocalApicNmi { uid, flags, lint }),
            (any::<u32>(), any::<u16>(), any::<u8>())
                .prop_map(|(uid, flags, lint)| Entry::LocalX2apicNmi { uid, flags, lint }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn round_trip(e in entries()) {
            let mut buf = [0xA5u8; 16];
            let n = e.emit(&mut buf).unwrap();
            prop_assert_eq!(Entry::parse(&buf[..n]), Ok((e, &[][..])));
        }
    }

    /// Bytes to parse: a valid entry with up to two bits flipped, cut short or followed
    /// by other bytes; one case in eight is random bytes.
    fn mutated_entries() -> impl Strategy<Value = std::vec::Vec<u8>> {
        let mutated = (
            entries(),
            crate::reach::flips(128),
            prop_oneof![
                4 => Just(None),
                1 => (0usize..16).prop_map(Some),
            ],
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(e, mask, cut, tail)| {
                let mut buf = [0u8; 16];
                let n = e.emit(&mut buf).unwrap();
                let mut bytes = buf[..n].to_vec();
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b ^= (mask >> (8 * i)) as u8;
                }
                bytes.truncate(cut.unwrap_or(n));
                bytes.extend(tail);
                bytes
            });
        prop_oneof![
            7 => mutated,
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    /// Whatever `parse` accepts, `emit` writes back byte for byte, and the rest is what
    /// follows the entry.
    #[test]
    fn parse_then_emit_is_identity() {
        crate::reach::check("madt parse_then_emit", 1024, mutated_entries(), |bytes| {
            let Ok((e, rest)) = Entry::parse(&bytes) else {
                return Ok(false);
            };
            let n = e.buffer_len();
            prop_assert_eq!(rest, &bytes[n..]);
            let mut buf = [0u8; 16];
            prop_assert_eq!(e.emit(&mut buf), Ok(n));
            prop_assert_eq!(&buf[..n], &bytes[..n]);
            Ok(true)
        });
    }
}
