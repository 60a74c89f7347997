// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The switch policy: from a VM's vCPU count and topology, the APIC IDs, whether the guest
//! must start in x2APIC mode, the CPUID leaves that tell the guest its IDs, the MADT
//! processor entries, and the interrupt routing the guest then needs.
//!
//! The VMM applies the switch (the design notes: not a program in the guest): it writes
//! [`Plan::apic_base`] with a host-initiated `IA32_APIC_BASE` write before the vCPU first
//! runs, together with the CPUID from [`Plan::apply_cpuid`].
//!
//! ID schemes:
//!
//! - [`IdScheme::Dense`]: vCPU `i` has ID `i` (KVM's default: the x2APIC ID *is* the
//!   `KVM_CREATE_VCPU` id; cloud-hypervisor without a topology).
//! - [`IdScheme::Xen`]: ID `2 i` (Xen `vlapic.c`/`cpuid.c`), as two threads per core with
//!   only the first present.
//! - [`IdScheme::Topology`]: QEMU's packing (`include/hw/i386/topology.h`,
//!   `x86_apicid_from_cpu_idx`): each level gets `ceil(log2(count))` bits, thread lowest,
//!   then core, module, die and package, so IDs have holes when counts are not powers of
//!   two.

use alloc::vec::Vec;

use crate::base::{BSP, DEFAULT_BASE_ADDRESS, EN, EXTD};
pub use crate::cpuid::CpuidLeaf;
use crate::error::Error;
use crate::madt::{ALL_PROCESSORS_U8, ALL_PROCESSORS_U32, Entry, FLAG_ENABLED};
use crate::paravirt::{Interface, advertise_ext_dest_id};
pub use crate::paravirt::{KVM_FEATURE_MSI_EXT_DEST_ID, XEN_HVM_CPUID_EXT_DEST_ID};

/// The most vCPUs a plan covers (bounds the ID table; KVM allows at most 4096).
pub const MAX_VCPUS: u32 = 1 << 20;
/// CPUID.1:ECX bit 21, x2APIC (SDM vol. 2A, Table 3-10).
pub const CPUID_1_ECX_X2APIC: u32 = 1 << 21;
/// The largest APIC ID an xAPIC can have: 255 is the broadcast ID (SDM vol. 3A
/// §11.6.2.1), so IDs of 255 and above need x2APIC mode.
pub const MAX_XAPIC_ID: u32 = 254;
/// Level types of CPUID leaves 0xB/0x1F ECX\[15:8\] (SDM vol. 2A, CPUID leaf 1FH; the
/// values as Linux `arch/x86/kernel/cpu/topology_ext.c` `enum topo_types` has them:
/// invalid 0, SMT 1, core 2, module 3, tile 4, die 5, die group 6).
pub const LEVEL_INVALID: u32 = 0;
/// SMT level type.
pub const LEVEL_SMT: u32 = 1;
/// Core level type.
pub const LEVEL_CORE: u32 = 2;
/// Module level type (leaf 0x1F only).
pub const LEVEL_MODULE: u32 = 3;
/// Die level type (leaf 0x1F only).
pub const LEVEL_DIE: u32 = 5;

/// A CPU topology: counts per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Topology {
    /// Threads per core.
    pub threads: u32,
    /// Cores per module.
    pub cores: u32,
    /// Modules per die.
    pub modules: u32,
    /// Dies per package.
    pub dies: u32,
    /// Packages (sockets).
    pub sockets: u32,
}

/// How APIC IDs are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum IdScheme {
    /// ID = vCPU index.
    Dense,
    /// ID = 2 x vCPU index (Xen).
    Xen,
    /// QEMU's topology packing.
    Topology(Topology),
}

/// The interrupt routing a guest needs to reach every vCPU with device interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Routing {
    /// All IDs are at most 254: plain 8-bit MSI and IOAPIC destinations reach them.
    Legacy,
    /// IDs up to 32767: advertise the extended destination ID
    /// ([`KVM_FEATURE_MSI_EXT_DEST_ID`] or [`XEN_HVM_CPUID_EXT_DEST_ID`]) so MSIs and
    /// IOAPIC entries carry 15 bits, or provide interrupt remapping. Without either,
    /// Linux brings up no CPU whose ID is above 255 (`try_to_enable_x2apic`).
    ExtendedDestinationId,
    /// An ID above 32767: only interrupt remapping (a vIOMMU with x2APIC-mode remapping,
    /// VT-d EIM) reaches it.
    InterruptRemapping,
}

/// Bits an ID field needs for `count` values (QEMU `apicid_bitwidth_for_count`).
const fn width(count: u32) -> u32 {
    if count <= 1 {
        0
    } else {
        32 - (count - 1).leading_zeros()
    }
}

/// Per-level shifts and counts, for the ID formula and the topology leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Levels {
    topo: Topology,
    /// Bits of the thread ID (the core level's shift).
    core_offset: u32,
    module_offset: u32,
    die_offset: u32,
    pkg_offset: u32,
    /// Threads the guest is told a core has (Xen's scheme reserves 2, reports 1).
    reported_threads: u32,
}

impl Levels {
    fn new(topo: Topology, reported_threads: u32) -> Self {
        let core_offset = width(topo.threads);
        let module_offset = core_offset + width(topo.cores);
        let die_offset = module_offset + width(topo.modules);
        let pkg_offset = die_offset + width(topo.dies);
        Self {
            topo,
            core_offset,
            module_offset,
            die_offset,
            pkg_offset,
            reported_threads,
        }
    }

    fn per_package(&self) -> u64 {
        u64::from(self.topo.threads)
            * u64::from(self.topo.cores)
            * u64::from(self.topo.modules)
            * u64::from(self.topo.dies)
    }

    /// The APIC ID of logical processor `i` (QEMU `x86_topo_ids_from_idx` then
    /// `x86_apicid_from_topo_ids`), in 64 bits so overflow is visible.
    fn id(&self, i: u32) -> u64 {
        let t = self.topo;
        let i = u64::from(i);
        let (th, co, mo, di) = (
            u64::from(t.threads),
            u64::from(t.cores),
            u64::from(t.modules),
            u64::from(t.dies),
        );
        let pkg = i / (th * co * mo * di);
        let die = i / (th * co * mo) % di;
        let module = i / (th * co) % mo;
        let core = i / th % co;
        let smt = i % th;
        pkg << self.pkg_offset
            | die << self.die_offset
            | module << self.module_offset
            | core << self.core_offset
            | smt
    }
}

/// APIC IDs and everything derived from them for one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    ids: Vec<u32>,
    levels: Levels,
    force_x2apic: bool,
    interface: Interface,
}

impl Plan {
    /// Assigns APIC IDs to `vcpus` vCPUs.
    pub fn new(vcpus: u32, scheme: IdScheme) -> Result<Self, Error> {
        if vcpus == 0 || vcpus > MAX_VCPUS {
            return Err(Error::BadVcpuCount {
                count: vcpus,
                max: MAX_VCPUS,
            });
        }
        let flat = |threads| Topology {
            threads,
            cores: vcpus,
            modules: 1,
            dies: 1,
            sockets: 1,
        };
        let levels = match scheme {
            IdScheme::Dense => Levels::new(flat(1), 1),
            IdScheme::Xen => Levels::new(flat(2), 1),
            IdScheme::Topology(t) => {
                let l = Levels::new(t, t.threads);
                let bad = Error::BadTopology {
                    threads: t.threads,
                    cores: t.cores,
                    dies: t.dies,
                    sockets: t.sockets,
                    vcpus,
                };
                let zero = [t.threads, t.cores, t.modules, t.dies, t.sockets].contains(&0);
                if zero || l.per_package() * u64::from(t.sockets) < u64::from(vcpus) {
                    return Err(bad);
                }
                l
            }
        };
        let mut ids = Vec::with_capacity(vcpus as usize);
        for v in 0..vcpus {
            let id = match scheme {
                IdScheme::Xen => 2 * u64::from(v),
                _ => levels.id(v),
            };
            match u32::try_from(id) {
                Ok(id) if id != u32::MAX => ids.push(id),
                _ => return Err(Error::IdOverflow(v)),
            }
        }
        Ok(Self {
            ids,
            levels,
            force_x2apic: false,
            interface: Interface::default(),
        })
    }

    /// The number of vCPUs.
    pub fn vcpus(&self) -> u32 {
        // `new` bounds the count by MAX_VCPUS.
        u32::try_from(self.ids.len()).unwrap_or(MAX_VCPUS)
    }

    /// Every vCPU's APIC ID, by vCPU index.
    pub fn apic_ids(&self) -> &[u32] {
        &self.ids
    }

    /// vCPU `vcpu`'s APIC ID.
    pub fn apic_id(&self, vcpu: u32) -> Option<u32> {
        self.ids.get(vcpu as usize).copied()
    }

    /// The highest APIC ID (IDs increase with the vCPU index in every scheme).
    pub fn max_apic_id(&self) -> u32 {
        self.ids.last().copied().unwrap_or(0)
    }

    /// Whether the guest must start in x2APIC mode: some ID is above 254.
    pub fn needs_x2apic(&self) -> bool {
        self.max_apic_id() > MAX_XAPIC_ID
    }

    /// Starts the guest in x2APIC mode even when no ID needs it (x2APIC MSR accesses
    /// are cheaper to virtualise than xAPIC MMIO).
    #[must_use]
    pub fn force_x2apic(mut self) -> Self {
        self.force_x2apic = true;
        self
    }

    /// The paravirtual interface whose CPUID leaves [`Plan::apply_cpuid`] uses to
    /// advertise the extended destination ID (default [`Interface::Kvm`]).
    #[must_use]
    pub fn with_interface(mut self, interface: Interface) -> Self {
        self.interface = interface;
        self
    }

    /// Whether the VMM starts the vCPUs in x2APIC mode: [`Plan::needs_x2apic`], or
    /// [`Plan::force_x2apic`] was asked for.
    pub fn starts_in_x2apic(&self) -> bool {
        self.force_x2apic || self.needs_x2apic()
    }

    /// The `IA32_APIC_BASE` value the VMM writes (host-initiated) before vCPU `vcpu`
    /// first runs: enabled at the default base, EXTD when [`Plan::starts_in_x2apic`],
    /// BSP for vCPU 0.
    pub fn apic_base(&self, vcpu: u32) -> u64 {
        DEFAULT_BASE_ADDRESS
            | EN
            | if self.starts_in_x2apic() { EXTD } else { 0 }
            | if vcpu == 0 { BSP } else { 0 }
    }

    /// The routing device interrupts need.
    pub fn routing(&self) -> Routing {
        match self.max_apic_id() {
            0..=MAX_XAPIC_ID => Routing::Legacy,
            id if id <= crate::msi::MAX_EXT_DEST_ID => Routing::ExtendedDestinationId,
            _ => Routing::InterruptRemapping,
        }
    }

    /// Leaf 0xB (`function` 0xB) or 0x1F sub-leaf `index` for vCPU `vcpu`: shift to the
    /// next level's ID in EAX\[4:0\], logical processors at that level in EBX\[15:0\],
    /// sub-leaf and level type in ECX, the full x2APIC ID in EDX (SDM vol. 2A, CPUID
    /// leaves 0BH and 1FH). Leaf 0xB has SMT and core levels, the core level's shift
    /// reaching the package; leaf 0x1F adds module and die levels when present.
    pub fn topology_leaf(&self, vcpu: u32, function: u32, index: u32) -> CpuidLeaf {
        let l = &self.levels;
        let t = l.topo;
        let edx = self.apic_id(vcpu).unwrap_or(0);
        let per_core = l.reported_threads;
        let sat = |n: u64| u32::try_from(n.min(0xFFFF)).unwrap_or(0xFFFF);
        let mut levels: [(u32, u32, u64); 4] = [(0, 0, 0); 4];
        let mut n = 0;
        levels[n] = (LEVEL_SMT, l.core_offset, u64::from(per_core));
        n += 1;
        let per_module = u64::from(per_core) * u64::from(t.cores);
        if function == 0x1F {
            let per_die = per_module * u64::from(t.modules);
            if t.modules > 1 {
                levels[n] = (LEVEL_CORE, l.module_offset, per_module);
                n += 1;
                levels[n] = (LEVEL_MODULE, l.die_offset, per_die);
                n += 1;
            } else {
                levels[n] = (LEVEL_CORE, l.die_offset, per_die);
                n += 1;
            }
            if t.dies > 1 {
                levels[n] = (LEVEL_DIE, l.pkg_offset, per_die * u64::from(t.dies));
                n += 1;
            }
        } else {
            let per_pkg =
                u64::from(per_core) * u64::from(t.cores) * u64::from(t.modules) * u64::from(t.dies);
            levels[n] = (LEVEL_CORE, l.pkg_offset, per_pkg);
            n += 1;
        }
        let (kind, shift, count) =
            levels[..n]
                .get(index as usize)
                .copied()
                .unwrap_or((LEVEL_INVALID, 0, 0));
        CpuidLeaf {
            function,
            index,
            eax: shift & 0x1F,
            ebx: sat(count),
            ecx: (index & 0xFF) | kind << 8,
            edx,
        }
    }

    /// Rewrites a VMM's CPUID table for vCPU `vcpu`:
    ///
    /// - leaf 0 EAX is raised to 0xB if lower (so the topology leaf is visible);
    /// - leaf 1: ECX bit 21 (x2APIC) set, EBX\[31:24\] = the low 8 bits of the APIC ID;
    /// - leaves 0xB and 0x1F: every sub-leaf replaced by [`Plan::topology_leaf`], up to
    ///   and including the first invalid level (0x1F only if the table had it);
    /// - leaf 0x8000_001E (AMD extended APIC ID), if present: EAX = the APIC ID;
    /// - when [`Plan::routing`] is [`Routing::ExtendedDestinationId`]: the extended
    ///   destination ID bit of the plan's [`Interface`], with the hypervisor leaves it
    ///   needs ([`advertise_ext_dest_id`]).
    pub fn apply_cpuid(&self, vcpu: u32, leaves: &mut Vec<CpuidLeaf>) {
        let id = self.apic_id(vcpu).unwrap_or(0);
        let had_1f = leaves.iter().any(|l| l.function == 0x1F);
        leaves.retain(|l| l.function != 0xB && l.function != 0x1F);
        for leaf in leaves.iter_mut() {
            match leaf.function {
                0 => leaf.eax = leaf.eax.max(0xB),
                1 => {
                    leaf.ecx |= CPUID_1_ECX_X2APIC;
                    leaf.ebx = (leaf.ebx & 0x00FF_FFFF) | (id & 0xFF) << 24;
                }
                0x8000_001E => leaf.eax = id,
                _ => {}
            }
        }
        for function in [0xB, 0x1F] {
            if function == 0x1F && !had_1f {
                continue;
            }
            for index in 0..8 {
                let leaf = self.topology_leaf(vcpu, function, index);
                leaves.push(leaf);
                if leaf.ecx >> 8 & 0xFF == LEVEL_INVALID {
                    break;
                }
            }
        }
        if self.routing() == Routing::ExtendedDestinationId {
            advertise_ext_dest_id(leaves, self.interface);
        }
    }

    /// The MADT processor entries: one per vCPU in index order (UID = vCPU index; type 0
    /// for IDs up to 254, type 9 beyond), then LINT1 NMI for all processors: type 4,
    /// and type 0xA as well when any type 9 entry exists (ACPI 6.5 §5.2.12.12).
    pub fn madt_entries(&self) -> Vec<Entry> {
        self.madt_entries_with(|_| FLAG_ENABLED)
    }

    /// [`Plan::madt_entries`] with each processor's flags from `flags(vcpu)` (Enabled for
    /// present CPUs, Online Capable for hot-plug slots).
    pub fn madt_entries_with(&self, flags: impl Fn(u32) -> u32) -> Vec<Entry> {
        let mut entries: Vec<Entry> = (0..self.vcpus())
            .zip(&self.ids)
            .map(|(uid, &id)| Entry::processor(uid, id, flags(uid)))
            .collect();
        let any_x2 = entries
            .iter()
            .any(|e| matches!(e, Entry::LocalX2apic { .. }));
        let any_x = entries.iter().any(|e| matches!(e, Entry::LocalApic { .. }));
        if any_x {
            entries.push(Entry::LocalApicNmi {
                uid: ALL_PROCESSORS_U8,
                flags: 0,
                lint: 1,
            });
        }
        if any_x2 {
            entries.push(Entry::LocalX2apicNmi {
                uid: ALL_PROCESSORS_U32,
                flags: 0,
                lint: 1,
            });
        }
        entries
    }

    /// [`Plan::madt_entries`] as the bytes that follow the MADT header.
    pub fn madt_bytes(&self) -> Vec<u8> {
        let entries = self.madt_entries();
        let len = entries.iter().map(Entry::buffer_len).sum();
        let mut bytes = alloc::vec![0u8; len];
        let mut at = 0;
        for e in &entries {
            if let Some(dst) = bytes.get_mut(at..) {
                at += e.emit(dst).unwrap_or(0);
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(threads: u32, cores: u32, modules: u32, dies: u32, sockets: u32) -> IdScheme {
        IdScheme::Topology(Topology {
            threads,
            cores,
            modules,
            dies,
            sockets,
        })
    }

    #[test]
    fn schemes() {
        let dense = Plan::new(288, IdScheme::Dense).unwrap();
        assert_eq!(dense.apic_ids()[287], 287);
        assert!(dense.needs_x2apic());
        assert_eq!(dense.routing(), Routing::ExtendedDestinationId);
        assert_eq!(dense.apic_base(0), 0xFEE0_0D00);
        assert_eq!(dense.apic_base(1), 0xFEE0_0C00);
        let small = Plan::new(255, IdScheme::Dense).unwrap();
        assert!(!small.needs_x2apic(), "IDs 0..=254");
        assert_eq!(small.apic_base(3), 0xFEE0_0800);
        let forced = small.force_x2apic();
        assert!(forced.starts_in_x2apic() && !forced.needs_x2apic());
        assert_eq!(forced.apic_base(3), 0xFEE0_0C00);
        let xen = Plan::new(128, IdScheme::Xen).unwrap();
        assert_eq!(xen.max_apic_id(), 254);
        assert!(!xen.needs_x2apic());
        assert!(Plan::new(129, IdScheme::Xen).unwrap().needs_x2apic());
        // QEMU: 3 threads (2 bits), 5 cores (3 bits), 2 sockets.
        let q = Plan::new(30, topo(3, 5, 1, 1, 2)).unwrap();
        assert_eq!(&q.apic_ids()[..7], &[0, 1, 2, 4, 5, 6, 8]);
        assert_eq!(q.apic_id(15), Some(32));
        assert_eq!(q.apic_id(29), Some(32 + 18));
        assert!(matches!(
            Plan::new(31, topo(3, 5, 1, 1, 2)),
            Err(Error::BadTopology { .. })
        ));
        assert!(matches!(
            Plan::new(1, topo(0, 5, 1, 1, 2)),
            Err(Error::BadTopology { .. })
        ));
        assert!(matches!(
            Plan::new(0, IdScheme::Dense),
            Err(Error::BadVcpuCount { .. })
        ));
        assert_eq!(
            Plan::new(40000, IdScheme::Dense).unwrap().routing(),
            Routing::InterruptRemapping
        );
    }

    #[test]
    fn topology_leaves() {
        let q = Plan::new(30, topo(3, 5, 1, 1, 2)).unwrap();
        let l0 = q.topology_leaf(7, 0xB, 0);
        assert_eq!((l0.eax, l0.ebx, l0.ecx, l0.edx), (2, 3, 0x100, 9));
        let l1 = q.topology_leaf(7, 0xB, 1);
        assert_eq!((l1.eax, l1.ebx, l1.ecx, l1.edx), (5, 15, 0x201, 9));
        let l2 = q.topology_leaf(7, 0xB, 2);
        assert_eq!((l2.eax, l2.ebx, l2.ecx, l2.edx), (0, 0, 2, 9));
        // Leaf 0x1F with 2 dies of 2 modules.
        let d = Plan::new(32, topo(2, 2, 2, 2, 2)).unwrap();
        let kinds: Vec<(u32, u32, u32)> = (0..5)
            .map(|i| d.topology_leaf(0, 0x1F, i))
            .map(|l| (l.ecx >> 8, l.eax, l.ebx))
            .collect();
        assert_eq!(
            kinds,
            [(1, 1, 2), (2, 2, 4), (3, 3, 8), (5, 4, 16), (0, 0, 0)]
        );
        let xen = Plan::new(200, IdScheme::Xen).unwrap();
        let s = xen.topology_leaf(150, 0xB, 0);
        assert_eq!((s.eax, s.ebx, s.edx), (1, 1, 300));
    }

    #[test]
    fn cpuid_table_edits() {
        let p = Plan::new(300, IdScheme::Dense).unwrap();
        let mut t = alloc::vec![
            CpuidLeaf {
                function: 0,
                eax: 0xD,
                ..Default::default()
            },
            CpuidLeaf {
                function: 1,
                ebx: 0x0102_0800,
                ..Default::default()
            },
            CpuidLeaf {
                function: 0xB,
                index: 0,
                eax: 9,
                ..Default::default()
            },
            CpuidLeaf {
                function: 0x8000_001E,
                eax: 7,
                ..Default::default()
            },
        ];
        p.apply_cpuid(257, &mut t);
        assert_eq!(t[0].eax, 0xD);
        assert_eq!(t[1].ebx, 0x0102_0800 & 0xFFFFFF | 1 << 24);
        assert_eq!(
            t[1].ecx,
            CPUID_1_ECX_X2APIC | crate::paravirt::CPUID_1_ECX_HYPERVISOR
        );
        assert_eq!(t[2].eax, 257);
        let b: Vec<_> = t[3..]
            .iter()
            .map(|l| (l.function, l.index, l.edx, l.eax))
            .collect();
        // IDs up to 299 need the extended destination ID: KVM's leaves are added.
        assert_eq!(
            b,
            [
                (0xB, 0, 257, 0),
                (0xB, 1, 257, 9),
                (0xB, 2, 257, 0),
                (0x4000_0000, 0, 0x4D, 0x4000_0001),
                (0x4000_0001, 0, 0, KVM_FEATURE_MSI_EXT_DEST_ID),
            ]
        );
        assert_eq!(
            crate::paravirt::find_base(&t, Interface::Kvm),
            Some(0x4000_0000)
        );
        // Legacy and remapped routing leave the hypervisor leaves alone.
        for vcpus in [200, 40000] {
            let mut t = alloc::vec![CpuidLeaf {
                function: 1,
                ..Default::default()
            }];
            Plan::new(vcpus, IdScheme::Dense)
                .unwrap()
                .apply_cpuid(0, &mut t);
            assert!(t.iter().all(|l| l.function < 0x4000_0000), "{vcpus}");
        }
        // Xen guests get Xen's bit in base+4.
        let mut t = Vec::new();
        p.with_interface(Interface::Xen).apply_cpuid(0, &mut t);
        let xen = t.iter().find(|l| l.function == 0x4000_0004).unwrap();
        assert_eq!(xen.eax, XEN_HVM_CPUID_EXT_DEST_ID);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// For any topology: IDs strictly increase, and the shifts of leaves 0xB and
        /// 0x1F take every ID apart into the thread and the package it was built from.
        #[test]
        fn topology_ids_decompose(
            threads in 1u32..6, cores in 1u32..9, modules in 1u32..4, dies in 1u32..4,
            sockets in 1u32..5, fill in 0u32..1000,
        ) {
            let t = Topology { threads, cores, modules, dies, sockets };
            let per_pkg = threads * cores * modules * dies;
            let n = 1 + (per_pkg * sockets - 1) * fill / 1000;
            let plan = Plan::new(n, IdScheme::Topology(t)).unwrap();
            proptest::prop_assert!(plan.apic_ids().windows(2).all(|w| w[0] < w[1]));
            for v in 0..n {
                let id = plan.apic_ids()[v as usize];
                let smt = plan.topology_leaf(v, 0xB, 0);
                let core = plan.topology_leaf(v, 0xB, 1);
                proptest::prop_assert_eq!(smt.edx, id);
                proptest::prop_assert_eq!(id & ((1 << smt.eax) - 1), v % threads);
                proptest::prop_assert_eq!(id >> core.eax, v / per_pkg);
                // Leaf 0x1F: the last valid level reaches the package too.
                let last = (0..6)
                    .map(|i| plan.topology_leaf(v, 0x1F, i))
                    .take_while(|l| l.ecx >> 8 & 0xFF != LEVEL_INVALID)
                    .last()
                    .unwrap();
                proptest::prop_assert_eq!(last.eax, core.eax);
                proptest::prop_assert_eq!(last.ebx, per_pkg);
            }
        }
    }

    #[test]
    fn madt() {
        let p = Plan::new(256, IdScheme::Dense).unwrap();
        let e = p.madt_entries();
        assert_eq!(e.len(), 258);
        assert_eq!(
            e[254],
            Entry::LocalApic {
                uid: 254,
                apic_id: 254,
                flags: 1
            }
        );
        assert_eq!(
            e[255],
            Entry::LocalX2apic {
                uid: 255,
                x2apic_id: 255,
                flags: 1
            }
        );
        assert_eq!(
            e[256],
            Entry::LocalApicNmi {
                uid: 0xFF,
                flags: 0,
                lint: 1
            }
        );
        assert_eq!(
            e[257],
            Entry::LocalX2apicNmi {
                uid: u32::MAX,
                flags: 0,
                lint: 1
            }
        );
        let bytes = p.madt_bytes();
        assert_eq!(bytes.len(), 255 * 8 + 16 + 6 + 12);
        let mut rest = &bytes[..];
        let mut parsed = Vec::new();
        while !rest.is_empty() {
            let (entry, r) = Entry::parse(rest).unwrap();
            parsed.push(entry);
            rest = r;
        }
        assert_eq!(parsed, e);
        let small = Plan::new(4, IdScheme::Dense).unwrap().madt_entries();
        assert!(
            !small
                .iter()
                .any(|e| matches!(e, Entry::LocalX2apicNmi { .. }))
        );
    }
}
