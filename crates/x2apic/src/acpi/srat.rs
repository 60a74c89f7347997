// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The SRAT (System Resource Affinity Table, ACPI 6.5 §5.2.16): which proximity domain
//! each processor and memory range belongs to.
//!
//! Processors with an APIC ID up to 254 get a type 0 (Processor Local APIC Affinity)
//! structure, the others type 2 (x2APIC Affinity), every possible CPU marked Enabled
//! (Linux ignores disabled ones, `acpi_numa_x2apic_affinity_init`, and needs the node of
//! a hot-plug slot too). Memory ranges become type 1 structures, written by
//! `acpi_tables`' `MemoryAffinity`. The table is emitted at revision 3, where the type 0
//! domain has 32 bits (Linux reads its high 24 bits only from revision 2,
//! `acpi_numa_processor_affinity_init`).

use alloc::vec::Vec;

use acpi_tables::Aml;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{Error, HEADER_LEN, Header, Machine, Result, emit_table, parse_table, structures};
use crate::madt::MAX_LOCAL_APIC_ID;
use crate::policy::Plan;

/// The table signature (ACPI 6.5, Table 5.5).
pub const SIGNATURE: [u8; 4] = *b"SRAT";
/// SRAT revision 3 (ACPI 6.5, Table 5.67).
pub const REVISION: u8 = 3;
/// The first reserved field's required value, 1 (ACPI 6.5, Table 5.67, "for backward
/// compatibility").
pub const RESERVED1: u32 = 1;
/// Type 0, Processor Local APIC/SAPIC Affinity (ACPI 6.5, Table 5.69).
pub const TYPE_APIC: u8 = 0;
/// Type 1, Memory Affinity (ACPI 6.5, Table 5.71).
pub const TYPE_MEMORY: u8 = 1;
/// Type 2, Processor Local x2APIC Affinity (ACPI 6.5, Table 5.73).
pub const TYPE_X2APIC: u8 = 2;
/// Processor affinity flags bit 0, Enabled (ACPI 6.5, Tables 5.70 and 5.74).
pub const CPU_ENABLED: u32 = 1;
/// Memory affinity flags bit 0, Enabled (ACPI 6.5, Table 5.72).
pub const MEM_ENABLED: u32 = 1;
/// Memory affinity flags bit 1, Hot Pluggable (ACPI 6.5, Table 5.72).
pub const MEM_HOT_PLUGGABLE: u32 = 2;
/// Memory affinity flags bit 2, NonVolatile (ACPI 6.5, Table 5.72).
pub const MEM_NON_VOLATILE: u32 = 4;

/// The SRAT's own fields after the header (ACPI 6.5, Table 5.67).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Fixed {
    /// Reserved, 1.
    pub reserved1: U32,
    /// Reserved, 0.
    pub reserved2: U64,
}
const _: () = assert!(size_of::<Fixed>() == 12);

/// Type 0: Processor Local APIC/SAPIC Affinity, 16 bytes (ACPI 6.5, Table 5.69).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ApicAffinity {
    /// Type, 0.
    pub r#type: u8,
    /// Length, 16.
    pub length: u8,
    /// Proximity Domain \[7:0\].
    pub proximity_domain_lo: u8,
    /// APIC ID.
    pub apic_id: u8,
    /// Flags.
    pub flags: U32,
    /// Local SAPIC EID.
    pub local_sapic_eid: u8,
    /// Proximity Domain \[31:8\].
    pub proximity_domain_hi: [u8; 3],
    /// Clock Domain.
    pub clock_domain: U32,
}
const _: () = assert!(size_of::<ApicAffinity>() == 16);
const _: () = assert!(core::mem::offset_of!(ApicAffinity, flags) == 4);
const _: () = assert!(core::mem::offset_of!(ApicAffinity, proximity_domain_hi) == 9);
const _: () = assert!(core::mem::offset_of!(ApicAffinity, clock_domain) == 12);

/// Type 1: Memory Affinity, 40 bytes (ACPI 6.5, Table 5.71).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MemoryAffinityLayout {
    /// Type, 1.
    pub r#type: u8,
    /// Length, 40.
    pub length: u8,
    /// Proximity Domain.
    pub proximity_domain: U32,
    /// Reserved, 0.
    pub reserved1: U16,
    /// Base Address.
    pub base_address: U64,
    /// Length of the range.
    pub range_length: U64,
    /// Reserved, 0.
    pub reserved2: U32,
    /// Flags.
    pub flags: U32,
    /// Reserved, 0.
    pub reserved3: U64,
}
const _: () = assert!(size_of::<MemoryAffinityLayout>() == 40);
const _: () = assert!(core::mem::offset_of!(MemoryAffinityLayout, base_address) == 8);
const _: () = assert!(core::mem::offset_of!(MemoryAffinityLayout, flags) == 28);

/// Type 2: Processor Local x2APIC Affinity, 24 bytes (ACPI 6.5, Table 5.73).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct X2apicAffinity {
    /// Type, 2.
    pub r#type: u8,
    /// Length, 24.
    pub length: u8,
    /// Reserved, 0.
    pub reserved1: U16,
    /// Proximity Domain.
    pub proximity_domain: U32,
    /// X2APIC ID.
    pub x2apic_id: U32,
    /// Flags.
    pub flags: U32,
    /// Clock Domain.
    pub clock_domain: U32,
    /// Reserved, 0.
    pub reserved2: U32,
}
const _: () = assert!(size_of::<X2apicAffinity>() == 24);
const _: () = assert!(core::mem::offset_of!(X2apicAffinity, x2apic_id) == 8);
const _: () = assert!(core::mem::offset_of!(X2apicAffinity, clock_domain) == 16);

/// One SRAT structure, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Affinity {
    /// Type 0.
    Apic {
        /// Proximity domain (32 bits from its two fields).
        node: u32,
        /// APIC ID.
        apic_id: u8,
        /// Flags.
        flags: u32,
        /// Local SAPIC EID.
        sapic_eid: u8,
        /// Clock domain.
        clock_domain: u32,
    },
    /// Type 1.
    Memory {
        /// Proximity domain.
        node: u32,
        /// Base address.
        base: u64,
        /// Length.
        length: u64,
        /// Flags.
        flags: u32,
    },
    /// Type 2.
    X2apic {
        /// Proximity domain.
        node: u32,
        /// x2APIC ID.
        x2apic_id: u32,
        /// Flags.
        flags: u32,
        /// Clock domain.
        clock_domain: u32,
    },
}

fn reserved(at: usize, value: u64) -> Result<()> {
    if value == 0 {
        Ok(())
    } else {
        Err(Error::Reserved { at, value })
    }
}

impl Affinity {
    fn parse(at: usize, kind: u16, bytes: &[u8]) -> Result<Self> {
        let bad = Error::BadStructure {
            at,
            kind,
            length: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
        };
        match u8::try_from(kind).map_err(|_| bad)? {
            TYPE_APIC => {
                let e = ApicAffinity::read_from_bytes(bytes).map_err(|_| bad)?;
                let [a, b, c] = e.proximity_domain_hi;
                Ok(Self::Apic {
                    node: u32::from_le_bytes([e.proximity_domain_lo, a, b, c]),
                    apic_id: e.apic_id,
                    flags: e.flags.get(),
                    sapic_eid: e.local_sapic_eid,
                    clock_domain: e.clock_domain.get(),
                })
            }
            TYPE_MEMORY => {
                let e = MemoryAffinityLayout::read_from_bytes(bytes).map_err(|_| bad)?;
                reserved(at + 6, e.reserved1.get().into())?;
                reserved(at + 24, e.reserved2.get().into())?;
                reserved(at + 32, e.reserved3.get())?;
                Ok(Self::Memory {
                    node: e.proximity_domain.get(),
                    base: e.base_address.get(),
                    length: e.range_length.get(),
                    flags: e.flags.get(),
                })
            }
            TYPE_X2APIC => {
                let e = X2apicAffinity::read_from_bytes(bytes).map_err(|_| bad)?;
                reserved(at + 2, e.reserved1.get().into())?;
                reserved(at + 20, e.reserved2.get().into())?;
                Ok(Self::X2apic {
                    node: e.proximity_domain.get(),
                    x2apic_id: e.x2apic_id.get(),
                    flags: e.flags.get(),
                    clock_domain: e.clock_domain.get(),
                })
            }
            _ => Err(bad),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Apic {
                node,
                apic_id,
                flags,
                sapic_eid,
                clock_domain,
            } => {
                let [lo, a, b, c] = node.to_le_bytes();
                out.extend_from_slice(
                    ApicAffinity {
                        r#type: TYPE_APIC,
                        length: size_of::<ApicAffinity>() as u8,
                        proximity_domain_lo: lo,
                        apic_id,
                        flags: flags.into(),
                        local_sapic_eid: sapic_eid,
                        proximity_domain_hi: [a, b, c],
                        clock_domain: clock_domain.into(),
                    }
                    .as_bytes(),
                );
            }
            Self::Memory {
                node,
                base,
                length,
                flags,
            } => {
                // acpi_tables' builder sets only the three flags it knows; any other
                // flag bits (specific-purpose, reserved) are written by our layout.
                let known = MEM_ENABLED | MEM_HOT_PLUGGABLE | MEM_NON_VOLATILE;
                if flags & !known == 0 {
                    let mut m = acpi_tables::srat::MemoryAffinity::new(node, base, length);
                    if flags & MEM_ENABLED != 0 {
                        m = m.enabled();
                    }
                    if flags & MEM_HOT_PLUGGABLE != 0 {
                        m = m.hotpluggable();
                    }
                    if flags & MEM_NON_VOLATILE != 0 {
                        m = m.nonvolatile();
                    }
                    m.to_aml_bytes(out);
                } else {
                    out.extend_from_slice(
                        MemoryAffinityLayout {
                            r#type: TYPE_MEMORY,
                            length: size_of::<MemoryAffinityLayout>() as u8,
                            proximity_domain: node.into(),
                            reserved1: 0.into(),
                            base_address: base.into(),
                            range_length: length.into(),
                            reserved2: 0.into(),
                            flags: flags.into(),
                            reserved3: 0.into(),
                        }
                        .as_bytes(),
                    );
                }
            }
            Self::X2apic {
                node,
                x2apic_id,
                flags,
                clock_domain,
            } => out.extend_from_slice(
                X2apicAffinity {
                    r#type: TYPE_X2APIC,
                    length: size_of::<X2apicAffinity>() as u8,
                    reserved1: 0.into(),
                    proximity_domain: node.into(),
                    x2apic_id: x2apic_id.into(),
                    flags: flags.into(),
                    clock_domain: clock_domain.into(),
                    reserved2: 0.into(),
                }
                .as_bytes(),
            ),
        }
    }
}

/// A whole SRAT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Srat {
    /// Header fields.
    pub header: Header,
    /// The structures in table order.
    pub structures: Vec<Affinity>,
}

impl Srat {
    /// Parses a whole SRAT; the reserved fields must be 1 and 0.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (header, fixed, body) = parse_table::<Fixed>(bytes, SIGNATURE)?;
        if fixed.reserved1.get() != RESERVED1 {
            return Err(Error::Reserved {
                at: HEADER_LEN,
                value: fixed.reserved1.get().into(),
            });
        }
        reserved(HEADER_LEN + 4, fixed.reserved2.get())?;
        let structures = structures(body, HEADER_LEN + size_of::<Fixed>(), false)
            .map(|s| s.and_then(|(at, kind, bytes)| Affinity::parse(at, kind, bytes)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { header, structures })
    }

    /// The table's bytes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let fixed = Fixed {
            reserved1: RESERVED1.into(),
            reserved2: 0.into(),
        };
        let mut body = Vec::new();
        for s in &self.structures {
            s.emit(&mut body);
        }
        emit_table(SIGNATURE, &self.header, fixed.as_bytes(), &body)
    }

    /// The SRAT of `machine` running `plan`, or `None` when the machine has no NUMA
    /// nodes (`cpu_nodes` empty).
    pub fn for_plan(plan: &Plan, machine: &Machine) -> Result<Option<Self>> {
        machine.check(plan)?;
        if machine.cpu_nodes.is_empty() {
            return Ok(None);
        }
        let mut structures: Vec<Affinity> = plan
            .apic_ids()
            .iter()
            .zip(&machine.cpu_nodes)
            .map(|(&id, &node)| match u8::try_from(id) {
                Ok(apic_id) if id <= MAX_LOCAL_APIC_ID => Affinity::Apic {
                    node,
                    apic_id,
                    flags: CPU_ENABLED,
                    sapic_eid: 0,
                    clock_domain: 0,
                },
                _ => Affinity::X2apic {
                    node,
                    x2apic_id: id,
                    flags: CPU_ENABLED,
                    clock_domain: 0,
                },
            })
            .collect();
        structures.extend(machine.memory.iter().map(|m| Affinity::Memory {
            node: m.node,
            base: m.base,
            length: m.length,
            flags: MEM_ENABLED
                | if m.hotpluggable { MEM_HOT_PLUGGABLE } else { 0 }
                | if m.nonvolatile { MEM_NON_VOLATILE } else { 0 },
        }));
        Ok(Some(Self {
            header: Header {
                revision: REVISION,
                ..machine.oem
            },
            structures,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::MemoryRange;
    use crate::policy::IdScheme;
    use proptest::prelude::*;

    #[test]
    fn two_nodes_with_hotplug_and_nvdimm() {
        let plan = Plan::new(300, IdScheme::Dense).unwrap();
        let mut m = Machine::q35(&plan);
        m.cpu_nodes = (0..300).map(|v| v / 150).collect();
        m.memory = alloc::vec![
            MemoryRange {
                base: 0,
                length: 1 << 30,
                node: 0,
                hotpluggable: false,
                nonvolatile: false
            },
            MemoryRange {
                base: 1 << 32,
                length: 1 << 30,
                node: 1,
                hotpluggable: true,
                nonvolatile: false
            },
            MemoryRange {
                base: 1 << 33,
                length: 1 << 28,
                node: 1,
                hotpluggable: false,
                nonvolatile: true
            },
        ];
        let srat = Srat::for_plan(&plan, &m).unwrap().unwrap();
        let bytes = srat.emit().unwrap();
        assert_eq!(bytes.len(), 48 + 255 * 16 + 45 * 24 + 3 * 40);
        assert_eq!(Srat::parse(&bytes).unwrap(), srat);
        assert_eq!(
            srat.structures[299],
            Affinity::X2apic {
                node: 1,
                x2apic_id: 299,
                flags: 1,
                clock_domain: 0
            }
        );
        assert!(matches!(
            srat.structures[301],
            Affinity::Memory { flags: 3, .. }
        ));
        assert!(matches!(
            srat.structures[302],
            Affinity::Memory { flags: 5, .. }
        ));
        m.cpu_nodes.clear();
        assert_eq!(Srat::for_plan(&plan, &m), Ok(None));
    }

    fn affinity() -> impl Strategy<Value = Affinity> {
        prop_oneof![
            (
                any::<u32>(),
                any::<u8>(),
                any::<u32>(),
                any::<u8>(),
                any::<u32>()
            )
                .prop_map(|(node, apic_id, flags, sapic_eid, clock_domain)| {
                    Affinity::Apic {
                        node,
                        apic_id,
                        flags,
                        sapic_eid,
                        clock_domain,
                    }
                }),
            (
                any::<u32>(),
                any::<u64>(),
                any::<u64>(),
                prop_oneof![0u32..8, any::<u32>()]
            )
                .prop_map(|(node, base, length, flags)| Affinity::Memory {
                    node,
                    base,
                    length,
                    flags
                }),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
                |(node, x2apic_id, flags, clock_domain)| Affinity::X2apic {
                    node,
                    x2apic_id,
                    flags,
                    clock_domain
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trip(
            header in crate::acpi::madt::tests::header(),
            structures in proptest::collection::vec(affinity(), 0..40),
        ) {
            let srat = Srat { header, structures };
            let bytes = srat.emit().unwrap();
            prop_assert_eq!(Srat::parse(&bytes).unwrap(), srat);
        }
    }
}
