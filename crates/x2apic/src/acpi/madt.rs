// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The whole MADT (signature `APIC`, ACPI 6.5 §5.2.12): header, local interrupt
//! controller address and flags, then the processor entries of [`crate::madt`], the
//! IOAPIC and the interrupt source overrides.
//!
//! For a plan, every vCPU gets an entry (UID = vCPU index): Enabled when present at
//! boot, and a hot-plug slot Online Capable or, with [`Slots::Disabled`], flags 0
//! (ACPI 6.5, Table 5.24; Linux honours Online Capable only with a FADT of revision 6.3
//! or later, `acpi_parse_madt`).

use alloc::vec::Vec;

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{
    Error, HEADER_LEN, Header, Machine, Result, Slots, emit_table, parse_table, structures,
};
use crate::madt::{
    Entry, FLAG_ENABLED, FLAG_ONLINE_CAPABLE, TYPE_LOCAL_APIC, TYPE_LOCAL_APIC_NMI,
    TYPE_LOCAL_X2APIC, TYPE_LOCAL_X2APIC_NMI,
};
use crate::policy::Plan;

/// The table signature (ACPI 6.5, Table 5.5).
pub const SIGNATURE: [u8; 4] = *b"APIC";
/// MADT revision 5 (ACPI 6.3 §5.2.12, Table 5.43: the revision that added Online
/// Capable).
pub const REVISION: u8 = 5;
/// Flags bit 0, PCAT_COMPAT: dual 8259s present (ACPI 6.5, Table 5.20).
pub const PCAT_COMPAT: u32 = 1;
/// The local APIC's default MMIO base (SDM vol. 3A §11.4.1).
pub const LOCAL_APIC_ADDRESS: u32 = 0xFEE0_0000;
/// Type 1, I/O APIC (ACPI 6.5, Table 5.26).
pub const TYPE_IO_APIC: u8 = 1;
/// Type 2, Interrupt Source Override (ACPI 6.5, Table 5.27).
pub const TYPE_SOURCE_OVERRIDE: u8 = 2;

/// The MADT's own fields after the header (ACPI 6.5, Table 5.19).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Fixed {
    /// Local Interrupt Controller Address.
    pub local_apic_address: U32,
    /// Flags.
    pub flags: U32,
}
const _: () = assert!(size_of::<Fixed>() == 8);

/// Type 1: I/O APIC, 12 bytes (ACPI 6.5, Table 5.26).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IoApicLayout {
    /// Type, 1.
    pub r#type: u8,
    /// Length, 12.
    pub length: u8,
    /// I/O APIC ID.
    pub io_apic_id: u8,
    /// Reserved, 0.
    pub reserved: u8,
    /// I/O APIC Address.
    pub io_apic_address: U32,
    /// Global System Interrupt Base.
    pub global_system_interrupt_base: U32,
}
const _: () = assert!(size_of::<IoApicLayout>() == 12);
const _: () = assert!(core::mem::offset_of!(IoApicLayout, io_apic_address) == 4);
const _: () = assert!(core::mem::offset_of!(IoApicLayout, global_system_interrupt_base) == 8);

/// Type 2: Interrupt Source Override, 10 bytes (ACPI 6.5, Table 5.27).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SourceOverrideLayout {
    /// Type, 2.
    pub r#type: u8,
    /// Length, 10.
    pub length: u8,
    /// Bus, 0 (ISA).
    pub bus: u8,
    /// Source (bus-relative IRQ).
    pub source: u8,
    /// Global System Interrupt.
    pub global_system_interrupt: U32,
    /// MPS INTI Flags.
    pub flags: U16,
}
const _: () = assert!(size_of::<SourceOverrideLayout>() == 10);
const _: () = assert!(core::mem::offset_of!(SourceOverrideLayout, global_system_interrupt) == 4);
const _: () = assert!(core::mem::offset_of!(SourceOverrideLayout, flags) == 8);

/// One MADT structure, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Structure {
    /// A processor or NMI entry (types 0, 4, 9, 0xA).
    Processor(Entry),
    /// Type 1.
    IoApic {
        /// I/O APIC ID.
        id: u8,
        /// MMIO base.
        address: u32,
        /// First GSI.
        gsi_base: u32,
    },
    /// Type 2.
    SourceOverride {
        /// Bus (0 = ISA).
        bus: u8,
        /// Bus-relative IRQ.
        source: u8,
        /// GSI.
        gsi: u32,
        /// MPS INTI flags.
        flags: u16,
    },
}

impl Structure {
    fn parse(at: usize, kind: u16, bytes: &[u8]) -> Result<Self> {
        let bad = Error::BadStructure {
            at,
            kind,
            length: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
        };
        let kind8 = u8::try_from(kind).map_err(|_| bad)?;
        match kind8 {
            TYPE_LOCAL_APIC | TYPE_LOCAL_APIC_NMI | TYPE_LOCAL_X2APIC | TYPE_LOCAL_X2APIC_NMI => {
                Entry::parse(bytes)
                    .map(|(e, _)| Self::Processor(e))
                    .map_err(|_| bad)
            }
            TYPE_IO_APIC => {
                let e = IoApicLayout::read_from_bytes(bytes).map_err(|_| bad)?;
                if e.reserved != 0 {
                    return Err(Error::Reserved {
                        at: at + 3,
                        value: u64::from(e.reserved),
                    });
                }
                Ok(Self::IoApic {
                    id: e.io_apic_id,
                    address: e.io_apic_address.get(),
                    gsi_base: e.global_system_interrupt_base.get(),
                })
            }
            TYPE_SOURCE_OVERRIDE => {
                let e = SourceOverrideLayout::read_from_bytes(bytes).map_err(|_| bad)?;
                Ok(Self::SourceOverride {
                    bus: e.bus,
                    source: e.source,
                    gsi: e.global_system_interrupt.get(),
                    flags: e.flags.get(),
                })
            }
            _ => Err(bad),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Processor(e) => {
                let at = out.len();
                out.resize(at + e.buffer_len(), 0);
                // The slice holds exactly buffer_len() bytes, all `emit` needs.
                let _ = out.get_mut(at..).map(|dst| e.emit(dst));
            }
            Self::IoApic {
                id,
                address,
                gsi_base,
            } => out.extend_from_slice(
                acpi_tables::madt::IoApic::new(id, address, gsi_base).as_bytes(),
            ),
            Self::SourceOverride {
                bus,
                source,
                gsi,
                flags,
            } => out.extend_from_slice(
                SourceOverrideLayout {
                    r#type: TYPE_SOURCE_OVERRIDE,
                    length: size_of::<SourceOverrideLayout>() as u8,
                    bus,
                    source,
                    global_system_interrupt: gsi.into(),
                    flags: flags.into(),
                }
                .as_bytes(),
            ),
        }
    }
}

/// A whole MADT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Madt {
    /// Header fields.
    pub header: Header,
    /// Local Interrupt Controller Address.
    pub local_apic_address: u32,
    /// Flags ([`PCAT_COMPAT`]).
    pub flags: u32,
    /// The structures in table order.
    pub structures: Vec<Structure>,
}

impl Madt {
    /// Parses a whole MADT.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (header, fixed, body) = parse_table::<Fixed>(bytes, SIGNATURE)?;
        let structures = structures(body, HEADER_LEN + size_of::<Fixed>(), false)
            .map(|s| s.and_then(|(at, kind, bytes)| Structure::parse(at, kind, bytes)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            header,
            local_apic_address: fixed.local_apic_address.get(),
            flags: fixed.flags.get(),
            structures,
        })
    }

    /// The table's bytes.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let fixed = Fixed {
            local_apic_address: self.local_apic_address.into(),
            flags: self.flags.into(),
        };
        let mut body = Vec::new();
        for s in &self.structures {
            s.emit(&mut body);
        }
        emit_table(SIGNATURE, &self.header, fixed.as_bytes(), &body)
    }

    /// The MADT of `machine` running `plan`: processors (Enabled if present, else as
    /// `machine.slots` says), the IOAPIC, the source overrides, then the LINT1 NMI
    /// entries.
    pub fn for_plan(plan: &Plan, machine: &Machine) -> Result<Self> {
        machine.check(plan)?;
        let slot_flags = match machine.slots {
            Slots::OnlineCapable => FLAG_ONLINE_CAPABLE,
            Slots::Disabled => 0,
        };
        let entries = plan.madt_entries_with(|v| {
            if machine.is_present(v) {
                FLAG_ENABLED
            } else {
                slot_flags
            }
        });
        let is_cpu = |e: &Entry| matches!(e, Entry::LocalApic { .. } | Entry::LocalX2apic { .. });
        let mut structures: Vec<Structure> = entries
            .iter()
            .filter(|e| is_cpu(e))
            .map(|&e| Structure::Processor(e))
            .collect();
        let io = machine.ioapic;
        structures.push(Structure::IoApic {
            id: io.id,
            address: io.address,
            gsi_base: io.gsi_base,
        });
        structures.extend(machine.overrides.iter().map(|o| Structure::SourceOverride {
            bus: 0,
            source: o.source,
            gsi: o.gsi,
            flags: o.flags,
        }));
        structures.extend(
            entries
                .iter()
                .filter(|e| !is_cpu(e))
                .map(|&e| Structure::Processor(e)),
        );
        let madt = Self {
            header: Header {
                revision: REVISION,
                ..machine.oem
            },
            local_apic_address: LOCAL_APIC_ADDRESS,
            flags: PCAT_COMPAT,
            structures,
        };
        let len = madt.buffer_len();
        if u32::try_from(len).is_err() {
            return Err(Error::TooLarge { len });
        }
        Ok(madt)
    }

    /// The emitted length.
    pub fn buffer_len(&self) -> usize {
        let each = |s: &Structure| match s {
            Structure::Processor(e) => e.buffer_len(),
            Structure::IoApic { .. } => size_of::<IoApicLayout>(),
            Structure::SourceOverride { .. } => size_of::<SourceOverrideLayout>(),
        };
        HEADER_LEN + size_of::<Fixed>() + self.structures.iter().map(each).sum::<usize>()
    }

    /// (APIC ID, UID, flags) of every processor entry, in table order.
    pub fn processors(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.structures.iter().filter_map(|s| match *s {
            Structure::Processor(Entry::LocalApic {
                uid,
                apic_id,
                flags,
            }) => Some((u32::from(apic_id), u32::from(uid), flags)),
            Structure::Processor(Entry::LocalX2apic {
                uid,
                x2apic_id,
                flags,
            }) => Some((x2apic_id, uid, flags)),
            _ => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::{IdScheme, Topology};
    use proptest::prelude::*;

    #[test]
    fn sparse_two_socket_plan() {
        let t = Topology {
            threads: 1,
            cores: 256,
            modules: 1,
            dies: 1,
            sockets: 2,
        };
        let plan = Plan::new(512, IdScheme::Topology(t)).unwrap();
        let mut m = Machine::q35(&plan);
        m.present = alloc::vec![0, 256];
        let madt = Madt::for_plan(&plan, &m).unwrap();
        let bytes = madt.emit().unwrap();
        assert_eq!(bytes.len(), madt.buffer_len());
        assert_eq!(
            bytes.len(),
            44 + 255 * 8 + 257 * 16 + 12 + 5 * 10 + 6 + 12,
            "255 type 0, 257 type 9, IOAPIC, 5 ISOs, two NMIs"
        );
        assert_eq!(Madt::parse(&bytes).unwrap(), madt);
        let cpus: Vec<_> = madt.processors().collect();
        assert_eq!(cpus[0], (0, 0, FLAG_ENABLED));
        assert_eq!(cpus[1], (1, 1, FLAG_ONLINE_CAPABLE));
        assert_eq!(cpus[256], (256, 256, FLAG_ENABLED));
        assert_eq!(bytes[8], REVISION);

        m.slots = Slots::Disabled;
        let disabled = Madt::for_plan(&plan, &m).unwrap();
        let flags: Vec<u32> = disabled.processors().map(|p| p.2).collect();
        let expected: Vec<u32> = (0..512)
            .map(|v| if v == 0 || v == 256 { FLAG_ENABLED } else { 0 })
            .collect();
        assert_eq!(flags, expected);
    }

    /// Processor entries of both sizes (type 0 when the low bytes fit) and NMI entries.
    fn entry() -> impl Strategy<Value = Entry> {
        let ids = (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
        );
        (ids, 0u8..4).prop_map(|((uid, id, flags, nmi, lint), kind)| match kind {
            0 => Entry::processor(uid & 0xFF, id % 255, flags),
            1 => Entry::processor(uid, id, flags),
            2 => Entry::LocalApicNmi {
                uid: uid.to_le_bytes()[0],
                flags: nmi,
                lint,
            },
            _ => Entry::LocalX2apicNmi {
                uid,
                flags: nmi,
                lint,
            },
        })
    }

    pub(crate) fn header() -> impl Strategy<Value = Header> {
        (
            any::<u8>(),
            any::<[u8; 6]>(),
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<[u8; 4]>(),
            any::<u32>(),
        )
            .prop_map(
                |(revision, oem_id, oem_table_id, oem_revision, creator_id, creator_revision)| {
                    Header {
                        revision,
                        oem_id,
                        oem_table_id,
                        oem_revision,
                        creator_id,
                        creator_revision,
                    }
                },
            )
    }

    fn structure() -> impl Strategy<Value = Structure> {
        prop_oneof![
            entry().prop_map(Structure::Processor),
            (any::<u8>(), any::<u32>(), any::<u32>()).prop_map(|(id, address, gsi_base)| {
                Structure::IoApic {
                    id,
                    address,
                    gsi_base,
                }
            }),
            (any::<u8>(), any::<u8>(), any::<u32>(), any::<u16>()).prop_map(
                |(bus, source, gsi, flags)| Structure::SourceOverride {
                    bus,
                    source,
                    gsi,
                    flags
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trip(
            header in header(), local_apic_address in any::<u32>(), flags in any::<u32>(),
            structures in proptest::collection::vec(structure(), 0..40),
        ) {
            let madt = Madt { header, local_apic_address, flags, structures };
            let bytes = madt.emit().unwrap();
            prop_assert_eq!(bytes.len(), madt.buffer_len());
            prop_assert_eq!(Madt::parse(&bytes).unwrap(), madt);
        }

        /// Any plan with any present set: the MADT lists every vCPU once with its ID,
        /// Enabled exactly for the present ones.
        #[test]
        fn plans(vcpus in 1u32..600, present in proptest::collection::vec(any::<u32>(), 1..8)) {
            let plan = Plan::new(vcpus, IdScheme::Dense).unwrap();
            let mut m = Machine::q35(&plan);
            m.present = present.iter().map(|p| p % vcpus).collect();
            let madt = Madt::parse(&Madt::for_plan(&plan, &m).unwrap().emit().unwrap()).unwrap();
            let cpus: Vec<_> = madt.processors().collect();
            prop_assert_eq!(cpus.len(), vcpus as usize);
            for (v, (id, uid, flags)) in (0..).zip(cpus) {
                prop_assert_eq!((id, uid), (plan.apic_ids()[v as usize], v));
                prop_assert_eq!(flags == FLAG_ENABLED, m.present.contains(&v));
            }
        }
    }
}
