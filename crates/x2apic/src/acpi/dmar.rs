// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The DMAR (DMA Remapping Reporting table, Intel VT-d specification §8.1): the
//! remapping units and which devices each covers. `acpi_tables` has no DMAR, so the
//! layouts here are ours, from the VT-d specification and Linux `include/acpi/actbl1.h`.
//!
//! For a plan: one DRHD (§8.3) with INCLUDE_PCI_ALL covering the IOAPIC through an
//! IOAPIC device scope (§8.3.1) whose start bus and path give the IOAPIC's requester ID
//! (Linux `ir_parse_one_ioapic_scope` takes it as the source-id every IOAPIC interrupt
//! carries; an IOAPIC without a scope disables remapping), and the INTR_REMAP flag;
//! X2APIC_OPT_OUT when the machine asks for it.
//!
//! Parsing takes what firmware writes: DRHDs first, then the other remapping structures
//! (RMRR, ATSR, RHSA, ANDD, SATC, ...), which are kept as they are ([`OtherStructure`])
//! so that a host's table round-trips byte for byte.

use alloc::vec::Vec;

use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{Error, HEADER_LEN, Header, Machine, Result, emit_table, parse_table, structures};
use crate::policy::Plan;

/// The table signature (VT-d §8.1).
pub const SIGNATURE: [u8; 4] = *b"DMAR";
/// DMAR revision 1 (VT-d §8.1, Table "DMA Remapping Reporting Structure": Revision 1).
pub const REVISION: u8 = 1;
/// Flags bit 0, INTR_REMAP (VT-d §8.1; Linux `DMAR_INTR_REMAP`).
pub const INTR_REMAP: u8 = 1;
/// Flags bit 1, X2APIC_OPT_OUT (VT-d §8.1; Linux `DMAR_X2APIC_OPT_OUT`).
pub const X2APIC_OPT_OUT: u8 = 2;
/// Structure type 0, DRHD (VT-d §8.2, Table "Remapping Structure Types").
pub const TYPE_DRHD: u16 = 0;
/// DRHD flags bit 0, INCLUDE_PCI_ALL (VT-d §8.3; Linux `ACPI_DMAR_INCLUDE_ALL`).
pub const INCLUDE_PCI_ALL: u8 = 1;
/// Device scope type 3, IOAPIC (VT-d §8.3.1; Linux `ACPI_DMAR_SCOPE_TYPE_IOAPIC`).
pub const SCOPE_IOAPIC: u8 = 3;
/// Device scope type 4, MSI-capable HPET (VT-d §8.3.1; Linux `ACPI_DMAR_SCOPE_TYPE_HPET`).
pub const SCOPE_HPET: u8 = 4;

/// The DMAR's own fields after the header (VT-d §8.1).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Fixed {
    /// Host Address Width: the DMA address width minus one.
    pub width: u8,
    /// Flags.
    pub flags: u8,
    /// Reserved, 0.
    pub reserved: [u8; 10],
}
const _: () = assert!(size_of::<Fixed>() == 12);

/// DRHD (DMA Remapping Hardware Unit Definition) without its scopes, 16 bytes (VT-d
/// §8.3; Linux `struct acpi_dmar_hardware_unit`).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DrhdLayout {
    /// Type, 0.
    pub r#type: U16,
    /// Length including the device scopes.
    pub length: U16,
    /// Flags.
    pub flags: u8,
    /// Size of the register set, 2^size pages (reserved before VT-d 3.x; QEMU writes 0).
    pub size: u8,
    /// PCI Segment Number.
    pub segment: U16,
    /// Register Base Address.
    pub address: U64,
}
const _: () = assert!(size_of::<DrhdLayout>() == 16);
const _: () = assert!(core::mem::offset_of!(DrhdLayout, flags) == 4);
const _: () = assert!(core::mem::offset_of!(DrhdLayout, segment) == 6);
const _: () = assert!(core::mem::offset_of!(DrhdLayout, address) == 8);

/// Device scope header, 6 bytes before the path (VT-d §8.3.1; Linux `struct
/// acpi_dmar_device_scope`).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ScopeLayout {
    /// Device scope type.
    pub entry_type: u8,
    /// Length, 6 + 2 per path element.
    pub length: u8,
    /// Flags (VT-d 3.x; reserved before).
    pub flags: u8,
    /// Reserved, 0.
    pub reserved: u8,
    /// Enumeration ID (the IOAPIC ID for an IOAPIC scope).
    pub enumeration_id: u8,
    /// Start Bus Number.
    pub bus: u8,
}
const _: () = assert!(size_of::<ScopeLayout>() == 6);
const _: () = assert!(core::mem::offset_of!(ScopeLayout, enumeration_id) == 4);

/// One device scope, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceScope {
    /// Device scope type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Enumeration ID.
    pub enumeration_id: u8,
    /// Start bus.
    pub bus: u8,
    /// (device, function) pairs from the start bus down.
    pub path: Vec<(u8, u8)>,
}

impl DeviceScope {
    /// The requester ID of a one-element path: bus << 8 | device << 3 | function
    /// (Linux `ir_parse_one_ioapic_scope`; deeper paths need the bridges' secondary
    /// bus numbers, which only config space has).
    pub fn source_id(&self) -> Option<u16> {
        match self.path.as_slice() {
            [(dev, func)] => {
                Some(u16::from(self.bus) << 8 | u16::from(dev & 0x1F) << 3 | u16::from(func & 7))
            }
            _ => None,
        }
    }

    fn buffer_len(&self) -> usize {
        size_of::<ScopeLayout>() + 2 * self.path.len()
    }
}

/// One DRHD, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Drhd {
    /// Flags ([`INCLUDE_PCI_ALL`]).
    pub flags: u8,
    /// Size field.
    pub size: u8,
    /// PCI segment.
    pub segment: u16,
    /// Register base.
    pub address: u64,
    /// Device scopes.
    pub scopes: Vec<DeviceScope>,
}

impl Drhd {
    fn buffer_len(&self) -> usize {
        size_of::<DrhdLayout>()
            + self
                .scopes
                .iter()
                .map(DeviceScope::buffer_len)
                .sum::<usize>()
    }

    fn parse(at: usize, bytes: &[u8]) -> Result<Self> {
        let bad = Error::BadStructure {
            at,
            kind: TYPE_DRHD,
            length: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
        };
        let (d, mut rest) = DrhdLayout::read_from_prefix(bytes).map_err(|_| bad)?;
        let mut scopes = Vec::new();
        let mut off = at + size_of::<DrhdLayout>();
        while !rest.is_empty() {
            let (s, _) = ScopeLayout::read_from_prefix(rest).map_err(|_| Error::Truncated {
                at: off,
                need: size_of::<ScopeLayout>(),
                have: rest.len(),
            })?;
            let len = usize::from(s.length);
            let bad_scope = Error::BadStructure {
                at: off,
                kind: s.entry_type.into(),
                length: s.length.into(),
            };
            if len < size_of::<ScopeLayout>() + 2 || len % 2 != 0 {
                return Err(bad_scope);
            }
            let path_bytes = rest.get(size_of::<ScopeLayout>()..len).ok_or(bad_scope)?;
            if s.reserved != 0 {
                return Err(Error::Reserved {
                    at: off + 3,
                    value: s.reserved.into(),
                });
            }
            scopes.push(DeviceScope {
                kind: s.entry_type,
                flags: s.flags,
                enumeration_id: s.enumeration_id,
                bus: s.bus,
                path: path_bytes
                    .chunks_exact(2)
                    .filter_map(|p| match p {
                        [dev, func] => Some((*dev, *func)),
                        _ => None,
                    })
                    .collect(),
            });
            rest = rest.get(len..).unwrap_or_default();
            off += len;
        }
        Ok(Self {
            flags: d.flags,
            size: d.size,
            segment: d.segment.get(),
            address: d.address.get(),
            scopes,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = self.buffer_len();
        let length = u16::try_from(len).map_err(|_| Error::TooLarge { len })?;
        out.extend_from_slice(
            DrhdLayout {
                r#type: TYPE_DRHD.into(),
                length: length.into(),
                flags: self.flags,
                size: self.size,
                segment: self.segment.into(),
                address: self.address.into(),
            }
            .as_bytes(),
        );
        for s in &self.scopes {
            let len = s.buffer_len();
            let length = u8::try_from(len).map_err(|_| Error::TooLarge { len })?;
            out.extend_from_slice(
                ScopeLayout {
                    entry_type: s.kind,
                    length,
                    flags: s.flags,
                    reserved: 0,
                    enumeration_id: s.enumeration_id,
                    bus: s.bus,
                }
                .as_bytes(),
            );
            for &(dev, func) in &s.path {
                out.extend_from_slice(&[dev, func]);
            }
        }
        Ok(())
    }
}

/// A remapping structure other than a DRHD (RMRR, ATSR, RHSA, ANDD, SATC: VT-d §8.4 to
/// §8.9), kept undecoded: its type and the bytes after its 4-byte type/length header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct OtherStructure {
    /// Structure type (VT-d §8.2, Table "Remapping Structure Types"), never [`TYPE_DRHD`].
    pub kind: u16,
    /// The bytes after the type and length fields.
    pub body: Vec<u8>,
}

impl OtherStructure {
    fn emit(&self, at: usize, out: &mut Vec<u8>) -> Result<()> {
        let len = 4 + self.body.len();
        let length = u16::try_from(len).map_err(|_| Error::TooLarge { len })?;
        if self.kind == TYPE_DRHD {
            return Err(Error::BadStructure {
                at,
                kind: self.kind,
                length,
            });
        }
        out.extend_from_slice(&self.kind.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&self.body);
        Ok(())
    }
}

/// A whole DMAR: DRHD structures, then any others in table order. VT-d §8.2 has firmware
/// report the structures in ascending type order, so [`Dmar::parse`] refuses a DRHD
/// after another type ([`Error::BadStructure`]); the order among the others is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Dmar {
    /// Header fields.
    pub header: Header,
    /// DMA address width in bits (the table holds width − 1).
    pub address_width: u8,
    /// Flags ([`INTR_REMAP`], [`X2APIC_OPT_OUT`], ...).
    pub flags: u8,
    /// Remapping units.
    pub units: Vec<Drhd>,
    /// The structures after the DRHDs, undecoded.
    pub others: Vec<OtherStructure>,
}

impl Dmar {
    /// Parses a whole DMAR.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (header, fixed, body) = parse_table::<Fixed>(bytes, SIGNATURE)?;
        if fixed.reserved != [0; 10] {
            return Err(Error::Reserved {
                at: HEADER_LEN + 2,
                value: fixed
                    .reserved
                    .iter()
                    .fold(0u64, |a, &b| a << 8 | u64::from(b)),
            });
        }
        let mut units = Vec::new();
        let mut others = Vec::new();
        for s in structures(body, HEADER_LEN + size_of::<Fixed>(), true) {
            let (at, kind, bytes) = s?;
            match kind {
                TYPE_DRHD if others.is_empty() => units.push(Drhd::parse(at, bytes)?),
                TYPE_DRHD => {
                    return Err(Error::BadStructure {
                        at,
                        kind,
                        length: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
                    });
                }
                _ => others.push(OtherStructure {
                    kind,
                    body: bytes.get(4..).unwrap_or_default().to_vec(),
                }),
            }
        }
        Ok(Self {
            header,
            address_width: fixed.width.wrapping_add(1),
            flags: fixed.flags,
            units,
            others,
        })
    }

    /// The table's bytes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let fixed = Fixed {
            width: self.address_width.wrapping_sub(1),
            flags: self.flags,
            reserved: [0; 10],
        };
        let mut body = Vec::new();
        for u in &self.units {
            u.emit(&mut body)?;
        }
        for o in &self.others {
            o.emit(HEADER_LEN + size_of::<Fixed>() + body.len(), &mut body)?;
        }
        emit_table(SIGNATURE, &self.header, fixed.as_bytes(), &body)
    }

    /// The DMAR of `machine` running `plan`, or `None` when it has no remapping unit.
    pub fn for_plan(plan: &Plan, machine: &Machine) -> Result<Option<Self>> {
        machine.check(plan)?;
        let Some(iommu) = machine.iommu else {
            return Ok(None);
        };
        let io = machine.ioapic;
        let [bus, devfn] = io.source_id.to_be_bytes();
        Ok(Some(Self {
            header: Header {
                revision: REVISION,
                ..machine.oem
            },
            address_width: iommu.address_width,
            flags: INTR_REMAP
                | if iommu.x2apic_opt_out {
                    X2APIC_OPT_OUT
                } else {
                    0
                },
            units: alloc::vec![Drhd {
                flags: INCLUDE_PCI_ALL,
                size: 0,
                segment: 0,
                address: iommu.register_base,
                scopes: alloc::vec![DeviceScope {
                    kind: SCOPE_IOAPIC,
                    flags: 0,
                    enumeration_id: io.id,
                    bus,
                    path: alloc::vec![(devfn >> 3, devfn & 7)],
                }],
            }],
            others: Vec::new(),
        }))
    }

    /// The requester ID the table gives the IOAPIC with ID `ioapic_id`.
    pub fn ioapic_source_id(&self, ioapic_id: u8) -> Option<u16> {
        self.units
            .iter()
            .flat_map(|u| &u.scopes)
            .find(|s| s.kind == SCOPE_IOAPIC && s.enumeration_id == ioapic_id)
            .and_then(DeviceScope::source_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::IdScheme;
    use proptest::prelude::*;

    #[test]
    fn q35_dmar() {
        let plan = Plan::new(2, IdScheme::Dense).unwrap();
        let dmar = Dmar::for_plan(&plan, &Machine::q35(&plan))
            .unwrap()
            .unwrap();
        let bytes = dmar.emit().unwrap();
        assert_eq!(bytes.len(), 48 + 16 + 8);
        assert_eq!((bytes[36], bytes[37]), (47, INTR_REMAP));
        // The IOAPIC scope as QEMU writes it: type 3, length 8, enumeration 0, bus 0xFF,
        // path (0, 0).
        assert_eq!(&bytes[64..72], &[3, 8, 0, 0, 0, 0xFF, 0, 0]);
        assert_eq!(Dmar::parse(&bytes).unwrap(), dmar);
        assert_eq!(dmar.ioapic_source_id(0), Some(0xFF00));
        assert_eq!(dmar.ioapic_source_id(1), None);
    }

    fn scope() -> impl Strategy<Value = DeviceScope> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<(u8, u8)>(), 1..5),
        )
            .prop_map(|(kind, flags, enumeration_id, bus, path)| DeviceScope {
                kind,
                flags,
                enumeration_id,
                bus,
                path,
            })
    }

    fn drhd() -> impl Strategy<Value = Drhd> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u64>(),
            proptest::collection::vec(scope(), 0..5),
        )
            .prop_map(|(flags, size, segment, address, scopes)| Drhd {
                flags,
                size,
                segment,
                address,
                scopes,
            })
    }

    fn other() -> impl Strategy<Value = OtherStructure> {
        (1..=u16::MAX, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(kind, body)| OtherStructure { kind, body })
    }

    /// An RMRR (VT-d §8.4: reserved, segment, base, limit, one PCI endpoint scope) after
    /// the DRHD, as host firmware writes them: kept and emitted byte for byte; a DRHD
    /// after it is refused; an `OtherStructure` claiming type 0 is not emitted.
    #[test]
    fn rmrr_kept_and_order_checked() {
        let plan = Plan::new(2, IdScheme::Dense).unwrap();
        let mut dmar = Dmar::for_plan(&plan, &Machine::q35(&plan))
            .unwrap()
            .unwrap();
        let mut rmrr = alloc::vec![0u8, 0, 0, 0];
        rmrr.extend_from_slice(&0x7D00_0000u64.to_le_bytes());
        rmrr.extend_from_slice(&0x7D7F_FFFFu64.to_le_bytes());
        rmrr.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0x14, 0]);
        dmar.others.push(OtherStructure {
            kind: 1,
            body: rmrr.clone(),
        });
        let bytes = dmar.emit().unwrap();
        assert_eq!(&bytes[72..76], &[1, 0, 32, 0]);
        assert_eq!(&bytes[76..], &rmrr[..]);
        assert_eq!(Dmar::parse(&bytes).unwrap(), dmar);

        let mut swapped = dmar.clone();
        swapped.others[0].kind = 0;
        assert!(matches!(
            swapped.emit(),
            Err(Error::BadStructure {
                at: 72,
                kind: 0,
                ..
            })
        ));
        // The RMRR first, the DRHD after it: out of VT-d's order.
        let mut reordered = bytes[..48].to_vec();
        reordered.extend_from_slice(&bytes[72..]);
        reordered.extend_from_slice(&bytes[48..72]);
        let sum = reordered.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        reordered[9] = reordered[9].wrapping_sub(sum);
        assert!(matches!(
            Dmar::parse(&reordered),
            Err(Error::BadStructure {
                at: 80,
                kind: 0,
                ..
            })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trip(
            header in crate::acpi::madt::tests::header(), address_width in any::<u8>(),
            flags in any::<u8>(), units in proptest::collection::vec(drhd(), 0..4),
            others in proptest::collection::vec(other(), 0..4),
        ) {
            let dmar = Dmar { header, address_width, flags, units, others };
            let bytes = dmar.emit().unwrap();
            prop_assert_eq!(Dmar::parse(&bytes).unwrap(), dmar);
        }

        /// The scope's requester ID survives the table for any IOAPIC.
        #[test]
        fn ioapic_source_id(id in any::<u8>(), sid in any::<u16>()) {
            let plan = Plan::new(2, IdScheme::Dense).unwrap();
            let mut m = Machine::q35(&plan);
            m.ioapic.id = id;
            m.ioapic.source_id = sid;
            let dmar = Dmar::for_plan(&plan, &m).unwrap().unwrap();
            let back = Dmar::parse(&dmar.emit().unwrap()).unwrap();
            prop_assert_eq!(back.ioapic_source_id(id), Some(sid));
        }
    }
}
