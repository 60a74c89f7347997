// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Whole ACPI tables for a [`Plan`]: the MADT ([`madt`]), the SRAT ([`srat`]) and the
//! DMAR ([`dmar`]), each as a validated `Repr` with `parse`/`emit` twins.
//!
//! Emission goes through rust-vmm's `acpi_tables` crate where it has the piece: its
//! `Sdt` keeps the header's length and checksum, and its `IoApic` and `MemoryAffinity`
//! structures are written as they are. Everything it lacks (the local x2APIC, NMI and
//! source-override structures, the APIC/x2APIC affinity structures, the whole DMAR) and
//! every parser is ours: zerocopy layouts with compile-time sizes and offsets.
//!
//! [`Machine`] describes what the tables must say beyond the plan (present CPUs, NUMA
//! nodes, memory ranges, the IOAPIC, the IOMMU); [`Machine::check`] refuses a plan the
//! tables cannot describe in a way Linux would accept.
//!
//! # Fuzzing
//!
//! Under `cfg(fuzzing)` the table checksum is not checked, so a fuzzer reaches the
//! structure parsers.
#![allow(
    clippy::cast_possible_truncation,
    reason = "lengths are checked against u32::MAX / u16::MAX before each cast"
)]

pub mod dmar;
pub mod madt;
pub mod srat;

use alloc::vec::Vec;

use acpi_tables::sdt::Sdt;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::policy::{Plan, Routing};

/// The system description table header, 36 bytes (ACPI 6.5 §5.2.6, Table 5.4).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SdtHeader {
    /// Signature.
    pub signature: [u8; 4],
    /// Length of the whole table.
    pub length: U32,
    /// Revision.
    pub revision: u8,
    /// Checksum: the whole table sums to 0.
    pub checksum: u8,
    /// OEMID.
    pub oem_id: [u8; 6],
    /// OEM Table ID.
    pub oem_table_id: [u8; 8],
    /// OEM Revision.
    pub oem_revision: U32,
    /// Creator ID.
    pub creator_id: [u8; 4],
    /// Creator Revision.
    pub creator_revision: U32,
}
const _: () = assert!(size_of::<SdtHeader>() == HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(SdtHeader, length) == 4);
const _: () = assert!(core::mem::offset_of!(SdtHeader, checksum) == 9);
const _: () = assert!(core::mem::offset_of!(SdtHeader, oem_table_id) == 16);
const _: () = assert!(core::mem::offset_of!(SdtHeader, creator_id) == 28);

/// Length of [`SdtHeader`] (ACPI 6.5, Table 5.4).
pub const HEADER_LEN: usize = 36;

/// The header fields a table carries besides its signature and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Header {
    /// Revision.
    pub revision: u8,
    /// OEMID.
    pub oem_id: [u8; 6],
    /// OEM Table ID.
    pub oem_table_id: [u8; 8],
    /// OEM Revision.
    pub oem_revision: u32,
    /// Creator ID.
    pub creator_id: [u8; 4],
    /// Creator Revision.
    pub creator_revision: u32,
}

impl Header {
    /// Our identity with `revision`: OEM "HUGEVM", table ID "X2APICVT", creator
    /// `acpi_tables`' "RVAT" revision 0x0100_0000 (its `CREATOR_ID`/`CREATOR_REVISION`).
    pub const fn ours(revision: u8) -> Self {
        Self {
            revision,
            oem_id: *b"HUGEVM",
            oem_table_id: *b"X2APICVT",
            oem_revision: 1,
            creator_id: acpi_tables::CREATOR_ID,
            creator_revision: u32::from_le_bytes(acpi_tables::CREATOR_REVISION),
        }
    }
}

/// What is wrong with a table, or why a plan cannot be described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the header or a structure needs.
    #[error("{have} bytes at offset {at}; {need} needed")]
    Truncated {
        /// Offset of the short item.
        at: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// Not the table asked for.
    #[error("signature {found:?}, expected {expected:?}")]
    BadSignature {
        /// The signature wanted.
        expected: [u8; 4],
        /// The signature found.
        found: [u8; 4],
    },
    /// The header's length is below the fixed part or beyond the bytes given.
    #[error("table length {stated}, {have} bytes given")]
    BadLength {
        /// The header's Length.
        stated: u32,
        /// The bytes given.
        have: usize,
    },
    /// The bytes do not sum to zero (ACPI 6.5 §5.2.6).
    #[error("checksum: the table sums to {sum:#04x}")]
    BadChecksum {
        /// The byte sum of the table.
        sum: u8,
    },
    /// A structure whose type is unknown or whose length does not fit its type.
    #[error("structure type {kind} of length {length} at offset {at}")]
    BadStructure {
        /// Offset in the table.
        at: usize,
        /// Its type.
        kind: u16,
        /// Its length.
        length: u16,
    },
    /// A reserved field that is not the value the spec requires.
    #[error("reserved field at offset {at} is {value:#x}")]
    Reserved {
        /// Offset in the table.
        at: usize,
        /// Its value.
        value: u64,
    },
    /// The table would exceed its 32-bit Length, or a structure its 8- or 16-bit one.
    #[error("{len} bytes do not fit the length field")]
    TooLarge {
        /// The length needed.
        len: usize,
    },
    /// A vCPU index beyond the plan.
    #[error("vCPU {vcpu} named, the plan has {vcpus}")]
    NoSuchVcpu {
        /// The index given.
        vcpu: u32,
        /// The plan's vCPU count.
        vcpus: u32,
    },
    /// No vCPU is present at boot.
    #[error("no vCPU is present at boot")]
    NoPresentVcpu,
    /// A CPU's APIC ID cannot receive device interrupts with this machine: above 32767
    /// without x2APIC-mode remapping (no DMAR, or its X2APIC_OPT_OUT flag set); Linux
    /// would not bring it up (`try_to_enable_x2apic`).
    #[error("APIC ID {apic_id:#x} needs {routing:?}, which the machine does not provide")]
    Unreachable {
        /// The APIC ID.
        apic_id: u32,
        /// The routing it needs.
        routing: Routing,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// The sum of `bytes` modulo 256.
fn byte_sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Splits a whole table into its header, its own fixed fields `F` and the bytes after
/// them (up to its Length), checking the signature, the length and (outside fuzzing)
/// the checksum.
fn parse_table<F: FromBytes + KnownLayout + Immutable + Unaligned>(
    bytes: &[u8],
    signature: [u8; 4],
) -> Result<(Header, F, &[u8])> {
    let (h, _) = SdtHeader::ref_from_prefix(bytes).map_err(|_| Error::Truncated {
        at: 0,
        need: HEADER_LEN,
        have: bytes.len(),
    })?;
    if h.signature != signature {
        return Err(Error::BadSignature {
            expected: signature,
            found: h.signature,
        });
    }
    let stated = h.length.get();
    let table = usize::try_from(stated)
        .ok()
        .filter(|&len| len >= HEADER_LEN + size_of::<F>())
        .and_then(|len| bytes.get(..len))
        .ok_or(Error::BadLength {
            stated,
            have: bytes.len(),
        })?;
    let sum = byte_sum(table);
    if sum != 0 && !cfg!(fuzzing) {
        return Err(Error::BadChecksum { sum });
    }
    let header = Header {
        revision: h.revision,
        oem_id: h.oem_id,
        oem_table_id: h.oem_table_id,
        oem_revision: h.oem_revision.get(),
        creator_id: h.creator_id,
        creator_revision: h.creator_revision.get(),
    };
    let rest = table.get(HEADER_LEN..).unwrap_or_default();
    let (fixed, body) = F::read_from_prefix(rest).map_err(|_| Error::Truncated {
        at: HEADER_LEN,
        need: size_of::<F>(),
        have: rest.len(),
    })?;
    Ok((header, fixed, body))
}

/// A whole table: `header`, then `fixed` (the table's own fields) and `body` (its
/// structures), with Length and checksum set by `acpi_tables`' `Sdt`.
fn emit_table(signature: [u8; 4], header: &Header, fixed: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    let len = HEADER_LEN + fixed.len() + body.len();
    if u32::try_from(len).is_err() {
        return Err(Error::TooLarge { len });
    }
    let mut sdt = Sdt::new(
        signature,
        (HEADER_LEN + fixed.len()) as u32,
        header.revision,
        header.oem_id,
        header.oem_table_id,
        header.oem_revision,
    );
    sdt.write_bytes(28, &header.creator_id);
    sdt.write_u32(32, header.creator_revision);
    sdt.write_bytes(HEADER_LEN, fixed);
    sdt.append_slice(body);
    Ok(sdt.as_slice().to_vec())
}

/// A `{type, length}` structure list walker: yields (offset in the table, type,
/// the structure's bytes) and stops with an error at a bad length. `first` is the
/// table offset of `bytes`; `wide` selects u16 type/length (DMAR) over u8 (MADT, SRAT).
fn structures(
    bytes: &[u8],
    first: usize,
    wide: bool,
) -> impl Iterator<Item = Result<(usize, u16, &[u8])>> {
    let mut rest = bytes;
    let mut at = first;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let head = if wide { 4 } else { 2 };
        let (kind, length) = match (wide, rest) {
            (true, [a, b, c, d, ..]) => {
                (u16::from_le_bytes([*a, *b]), u16::from_le_bytes([*c, *d]))
            }
            (false, [a, b, ..]) => (u16::from(*a), u16::from(*b)),
            _ => {
                let have = rest.len();
                rest = &[];
                return Some(Err(Error::Truncated {
                    at,
                    need: head,
                    have,
                }));
            }
        };
        let len = usize::from(length);
        match rest.get(..len).filter(|_| len >= head) {
            Some(s) => {
                let item = (at, kind, s);
                rest = rest.get(len..).unwrap_or_default();
                at += len;
                Some(Ok(item))
            }
            None => {
                rest = &[];
                Some(Err(Error::BadStructure { at, kind, length }))
            }
        }
    })
}

/// A memory range and its NUMA node, for the SRAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryRange {
    /// Guest physical base address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Proximity domain.
    pub node: u32,
    /// Hot-pluggable (a memory hot-plug window).
    pub hotpluggable: bool,
    /// Non-volatile (an NVDIMM range).
    pub nonvolatile: bool,
}

/// The IOAPIC the MADT and the DMAR describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoApic {
    /// IOAPIC ID (the DMAR scope's enumeration ID).
    pub id: u8,
    /// MMIO base.
    pub address: u32,
    /// First GSI.
    pub gsi_base: u32,
    /// The requester ID its interrupts carry (bus << 8 | device << 3 | function).
    pub source_id: u16,
}

/// The VT-d remapping unit the DMAR describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iommu {
    /// Register base (VT-d 4.x §8.3, Register Base Address).
    pub register_base: u64,
    /// DMA address width in bits (the DMAR holds width − 1).
    pub address_width: u8,
    /// Set X2APIC_OPT_OUT: the guest must not use x2APIC-mode remapping.
    pub x2apic_opt_out: bool,
}

/// An ISA interrupt routed to a different GSI, or with non-default polarity/trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceOverride {
    /// ISA IRQ.
    pub source: u8,
    /// GSI it arrives on.
    pub gsi: u32,
    /// MPS INTI flags (polarity 1:0, trigger 3:2).
    pub flags: u16,
}

/// How the MADT lists the vCPUs of a plan that are not present at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Slots {
    /// Online Capable (ACPI 6.5, Table 5.24, bit 1): the guest may hot-add them. Linux
    /// counts them as possible CPUs and sets up per-CPU state for each at boot.
    #[default]
    OnlineCapable,
    /// Neither enabled nor online capable (flags 0), as QEMU lists the CPUs it does not
    /// start with. Linux ignores such entries when the FADT is revision 6.3 or later
    /// (`acpi_tables`' is 6.5; `arch/x86/kernel/acpi/boot.c`, `acpi_is_processor_usable`):
    /// a cheaper boot, but the MADT alone offers no CPU hot-add.
    Disabled,
}

/// What the tables describe besides the plan's APIC IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The header identity every table gets (revisions are each table's own).
    pub oem: Header,
    /// vCPU indexes present at boot; every other vCPU of the plan is a hot-plug slot.
    pub present: Vec<u32>,
    /// How the MADT lists the hot-plug slots.
    pub slots: Slots,
    /// Proximity domain per vCPU index; empty means no SRAT.
    pub cpu_nodes: Vec<u32>,
    /// Memory ranges for the SRAT.
    pub memory: Vec<MemoryRange>,
    /// The IOAPIC.
    pub ioapic: IoApic,
    /// Interrupt source overrides.
    pub overrides: Vec<SourceOverride>,
    /// The remapping unit; `None` means no DMAR.
    pub iommu: Option<Iommu>,
}

/// QEMU q35's IOAPIC: ID 0 at 0xFEC0_0000, GSI 0, requester ID 0xFF00 (QEMU
/// `include/hw/i386/intel_iommu.h` `Q35_PSEUDO_BUS_PLATFORM` 0xFF, `Q35_PSEUDO_DEVFN_IOAPIC` 0).
pub const Q35_IOAPIC: IoApic = IoApic {
    id: 0,
    address: 0xFEC0_0000,
    gsi_base: 0,
    source_id: 0xFF00,
};

/// QEMU's remapping unit at 0xFED9_0000 (`hw/i386/intel_iommu.c` `Q35_HOST_BRIDGE_IOMMU_ADDR`)
/// with 48-bit DMA addresses (QEMU 10's default `aw-bits`).
pub const Q35_IOMMU: Iommu = Iommu {
    register_base: 0xFED9_0000,
    address_width: 48,
    x2apic_opt_out: false,
};

/// MPS INTI flags: active high (bits 1:0 = 1), level triggered (bits 3:2 = 3) (ACPI 6.5,
/// Table 5.28).
pub const INTI_LEVEL_HIGH: u16 = 0xD;

/// q35's interrupt source overrides as QEMU writes them (`hw/i386/acpi-common.c`,
/// `acpi_build_madt`): IRQ 0 on GSI 2, and the PCI interrupts 5, 9, 10 and 11
/// (`PCI_ISA_IRQ_MASK`) level triggered, active high.
pub const Q35_OVERRIDES: [SourceOverride; 5] = [
    SourceOverride {
        source: 0,
        gsi: 2,
        flags: 0,
    },
    SourceOverride {
        source: 5,
        gsi: 5,
        flags: INTI_LEVEL_HIGH,
    },
    SourceOverride {
        source: 9,
        gsi: 9,
        flags: INTI_LEVEL_HIGH,
    },
    SourceOverride {
        source: 10,
        gsi: 10,
        flags: INTI_LEVEL_HIGH,
    },
    SourceOverride {
        source: 11,
        gsi: 11,
        flags: INTI_LEVEL_HIGH,
    },
];

impl Machine {
    /// A q35-like machine: every vCPU of `plan` present (slots, if any are made,
    /// Online Capable), no NUMA, the q35 IOAPIC with q35's source overrides
    /// ([`Q35_OVERRIDES`]), and QEMU's remapping unit.
    pub fn q35(plan: &Plan) -> Self {
        Self {
            oem: Header::ours(0),
            present: (0..plan.vcpus()).collect(),
            slots: Slots::OnlineCapable,
            cpu_nodes: Vec::new(),
            memory: Vec::new(),
            ioapic: Q35_IOAPIC,
            overrides: Q35_OVERRIDES.to_vec(),
            iommu: Some(Q35_IOMMU),
        }
    }

    /// Refuses what the tables cannot describe for `plan`: a vCPU index beyond it, no
    /// present vCPU, a node list of the wrong length, or an APIC ID the machine's
    /// interrupts cannot reach (above 32767 without x2APIC-mode remapping; above 255
    /// needs the extended destination ID ([`Plan::apply_cpuid`]) or remapping, which
    /// the VMM provides, so only the first case is refused here).
    pub fn check(&self, plan: &Plan) -> Result<()> {
        let vcpus = plan.vcpus();
        if let Some(&vcpu) = self.present.iter().find(|&&v| v >= vcpus) {
            return Err(Error::NoSuchVcpu { vcpu, vcpus });
        }
        if self.present.is_empty() {
            return Err(Error::NoPresentVcpu);
        }
        if !self.cpu_nodes.is_empty() && self.cpu_nodes.len() != plan.apic_ids().len() {
            return Err(Error::NoSuchVcpu {
                vcpu: u32::try_from(self.cpu_nodes.len()).unwrap_or(u32::MAX),
                vcpus,
            });
        }
        let x2apic_remapping = self.iommu.is_some_and(|i| !i.x2apic_opt_out);
        if plan.routing() == Routing::InterruptRemapping && !x2apic_remapping {
            return Err(Error::Unreachable {
                apic_id: plan.max_apic_id(),
                routing: Routing::InterruptRemapping,
            });
        }
        Ok(())
    }

    /// Whether vCPU `vcpu` is present at boot.
    pub fn is_present(&self, vcpu: u32) -> bool {
        self.present.contains(&vcpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checksum() {
        let h = Header::ours(3);
        let t = emit_table(*b"TEST", &h, &[1, 2, 3, 4], &[9; 7]).unwrap();
        assert_eq!(t.len(), 36 + 11);
        assert_eq!(byte_sum(&t), 0);
        assert_eq!(&t[28..32], b"RVAT");
        let (back, fixed, rest) = parse_table::<[u8; 4]>(&t, *b"TEST").unwrap();
        assert_eq!(back, h);
        assert_eq!((fixed, rest), ([1, 2, 3, 4], &[9u8; 7][..]));
        let mut bad = t.clone();
        bad[40] ^= 1;
        assert!(matches!(
            parse_table::<[u8; 4]>(&bad, *b"TEST"),
            Err(Error::BadChecksum { .. })
        ));
        assert!(matches!(
            parse_table::<[u8; 4]>(&t, *b"APIC"),
            Err(Error::BadSignature { .. })
        ));
        assert!(matches!(
            parse_table::<[u8; 4]>(&t[..40], *b"TEST"),
            Err(Error::BadLength { stated: 47, .. })
        ));
        assert!(matches!(
            parse_table::<[u8; 12]>(&t, *b"TEST"),
            Err(Error::BadLength { .. })
        ));
    }

    #[test]
    fn refusals() {
        let far = Plan::new(40000, crate::policy::IdScheme::Dense).unwrap();
        let mut m = Machine::q35(&far);
        assert_eq!(m.check(&far), Ok(()));
        m.iommu = Some(Iommu {
            x2apic_opt_out: true,
            ..Q35_IOMMU
        });
        assert_eq!(
            m.check(&far),
            Err(Error::Unreachable {
                apic_id: 39999,
                routing: Routing::InterruptRemapping
            })
        );
        m.iommu = None;
        assert!(m.check(&far).is_err());
        let small = Plan::new(4, crate::policy::IdScheme::Dense).unwrap();
        let mut m = Machine::q35(&small);
        m.present = alloc::vec![4];
        assert_eq!(
            m.check(&small),
            Err(Error::NoSuchVcpu { vcpu: 4, vcpus: 4 })
        );
        m.present.clear();
        assert_eq!(m.check(&small), Err(Error::NoPresentVcpu));
    }
}
