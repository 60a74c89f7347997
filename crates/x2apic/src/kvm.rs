// SPDX-License-Identifier: Apache-2.0 OR MIT
//! rust-vmm glue (feature `kvm`): the crate's values as the `kvm-bindings` 0.14 types a
//! VMM built on `kvm-ioctls` hands to KVM, so it writes no conversion code of its own.
//!
//! - [`Plan::kvm_cpuid`]: the plan applied to `KVM_GET_SUPPORTED_CPUID`'s table, ready for
//!   `KVM_SET_CPUID2` (leaves 0xB and 0x1F marked `KVM_CPUID_FLAG_SIGNIFCANT_INDEX`).
//! - [`Plan::kvm_apic_base`]: the host-initiated `IA32_APIC_BASE` write as the
//!   `KVM_SET_MSRS` list.
//! - `CpuidLeaf` from and to `kvm_cpuid_entry2`.
//! - [`Lapic::to_kvm_lapic_state`] / [`Lapic::from_kvm_lapic_state`]: the register page
//!   as `KVM_GET_LAPIC`/`KVM_SET_LAPIC` carry it.
//! - [`kvm_msi`] and [`kvm_msi_routing`]: a compatibility or extended-destination MSI as
//!   `KVM_SIGNAL_MSI` and `KVM_SET_GSI_ROUTING` take it with
//!   `KVM_X2APIC_API_USE_32BIT_IDS`.
//!
//! ```
//! use kvm_bindings::{CpuId, kvm_cpuid_entry2};
//! use x2apic_virt::policy::{IdScheme, Plan};
//!
//! // What KVM_GET_SUPPORTED_CPUID returned (here: leaves 0 and 1 only).
//! let leaf = |function| kvm_cpuid_entry2 { function, eax: 0xD, ..Default::default() };
//! let supported = CpuId::from_entries(&[leaf(0), leaf(1)]).unwrap();
//! let plan = Plan::new(300, IdScheme::Dense)?;
//! let cpuid = plan.kvm_cpuid(299, &supported)?; // for vcpu_fd.set_cpuid2(&cpuid)
//! let leaf1 = cpuid.as_slice().iter().find(|e| e.function == 1).unwrap();
//! assert_ne!(leaf1.ecx & (1 << 21), 0); // x2APIC advertised
//! let msrs = plan.kvm_apic_base(299)?; // for vcpu_fd.set_msrs(&msrs), before KVM_RUN
//! assert_eq!(msrs.as_slice()[0].data, plan.apic_base(299));
//! # Ok::<(), x2apic_virt::kvm::Error>(())
//! ```

extern crate alloc;

use alloc::vec::Vec;

use kvm_bindings::{
    CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_IRQ_ROUTING_MSI, Msrs, kvm_cpuid_entry2,
    kvm_irq_routing_entry, kvm_irq_routing_entry__bindgen_ty_1, kvm_irq_routing_msi,
    kvm_lapic_state, kvm_msr_entry,
};

use crate::base::IA32_APIC_BASE;
use crate::lapic::{Config, Lapic};
use crate::msi::{CompatMsi, Msi, RemappableMsi, encode, kvm_msi_address};
use crate::page::IdFormat;
use crate::policy::{CpuidLeaf, Plan};

/// What cannot be handed to KVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The crate refused the input (a bad plan, page or MSI).
    #[error(transparent)]
    X2apic(#[from] crate::Error),
    /// The plan has no vCPU with this index.
    #[error("vCPU {0} is not in the plan")]
    NotInPlan(u32),
    /// A table longer than the `kvm-bindings` wrapper holds (`KVM_MAX_CPUID_ENTRIES`,
    /// `KVM_MAX_MSR_ENTRIES`).
    #[error("{len} entries do not fit the {what} list")]
    TooManyEntries {
        /// The list.
        what: &'static str,
        /// Entries it would have held.
        len: usize,
    },
    /// A remappable-format MSI: KVM's in-kernel irqchip does not remap, so the VMM looks
    /// up the interrupt-remapping entry first and hands KVM the MSI it gives.
    #[error("remappable MSI (entry {}) must be translated through the remapping table", .0.index())]
    Remappable(RemappableMsi),
}

impl From<&kvm_cpuid_entry2> for CpuidLeaf {
    fn from(e: &kvm_cpuid_entry2) -> Self {
        CpuidLeaf {
            function: e.function,
            index: e.index,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
        }
    }
}

impl CpuidLeaf {
    /// This leaf as a `kvm_cpuid_entry2` with KVM's `flags`
    /// (`KVM_CPUID_FLAG_SIGNIFCANT_INDEX` for leaves indexed by sub-leaf).
    pub fn to_kvm(&self, flags: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function: self.function,
            index: self.index,
            flags,
            eax: self.eax,
            ebx: self.ebx,
            ecx: self.ecx,
            edx: self.edx,
            ..Default::default()
        }
    }
}

impl Plan {
    /// `supported` (KVM's CPUID table) rewritten for vCPU `vcpu` by
    /// [`Plan::apply_cpuid`]; leaves 0xB and 0x1F, and any leaf `supported` marks so, are
    /// flagged as indexed by sub-leaf.
    pub fn kvm_cpuid(&self, vcpu: u32, supported: &CpuId) -> Result<CpuId, Error> {
        self.apic_id(vcpu).ok_or(Error::NotInPlan(vcpu))?;
        let entries = supported.as_slice();
        let mut leaves: Vec<CpuidLeaf> = entries.iter().map(CpuidLeaf::from).collect();
        self.apply_cpuid(vcpu, &mut leaves);
        let indexed = |function: u32| {
            function == 0xB
                || function == 0x1F
                || entries.iter().any(|e| {
                    e.function == function && e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX != 0
                })
        };
        let out: Vec<kvm_cpuid_entry2> = leaves
            .iter()
            .map(|l| {
                let flags = if indexed(l.function) {
                    KVM_CPUID_FLAG_SIGNIFCANT_INDEX
                } else {
                    0
                };
                l.to_kvm(flags)
            })
            .collect();
        CpuId::from_entries(&out).map_err(|_| Error::TooManyEntries {
            what: "KVM_SET_CPUID2",
            len: out.len(),
        })
    }

    /// The host-initiated `IA32_APIC_BASE` write for vCPU `vcpu` ([`Plan::apic_base`]):
    /// one entry for `KVM_SET_MSRS`, which must report one MSR written.
    pub fn kvm_apic_base(&self, vcpu: u32) -> Result<Msrs, Error> {
        self.apic_id(vcpu).ok_or(Error::NotInPlan(vcpu))?;
        Msrs::from_entries(&[kvm_msr_entry {
            index: IA32_APIC_BASE,
            data: self.apic_base(vcpu),
            ..Default::default()
        }])
        .map_err(|_| Error::TooManyEntries {
            what: "KVM_SET_MSRS",
            len: 1,
        })
    }
}

impl Lapic {
    /// [`Lapic::to_kvm_page`] as the `KVM_GET_LAPIC`/`KVM_SET_LAPIC` structure.
    pub fn to_kvm_lapic_state(&self, format: IdFormat) -> kvm_lapic_state {
        let mut state = kvm_lapic_state::default();
        for (dst, src) in state.regs.iter_mut().zip(self.to_kvm_page(format)) {
            *dst = src.cast_signed();
        }
        state
    }

    /// [`Lapic::from_kvm_page`] from the `KVM_GET_LAPIC` structure.
    pub fn from_kvm_lapic_state(
        config: Config,
        x2apic_id: u32,
        base: u64,
        state: &kvm_lapic_state,
        format: IdFormat,
    ) -> Result<Self, crate::Error> {
        let page: Vec<u8> = state.regs.iter().map(|b| b.cast_unsigned()).collect();
        Lapic::from_kvm_page(config, x2apic_id, base, &page, format)
    }
}

/// The MSI as `KVM_SIGNAL_MSI` takes it with `KVM_X2APIC_API_USE_32BIT_IDS`: the
/// destination split by [`kvm_msi_address`], the data as the guest wrote it. A
/// compatibility MSI's destination may have up to 32 bits here (an x2APIC ID, or a
/// 15-bit extended destination ID the VMM decoded with [`decode`](crate::msi::decode));
/// a remappable one is [`Error::Remappable`].
pub fn kvm_msi(msi: &Msi) -> Result<kvm_bindings::kvm_msi, Error> {
    let m = routing_msi(msi)?;
    Ok(kvm_bindings::kvm_msi {
        address_lo: m.address_lo,
        address_hi: m.address_hi,
        data: m.data,
        ..Default::default()
    })
}

/// The MSI as a `KVM_SET_GSI_ROUTING` entry for `gsi` (`KVM_IRQ_ROUTING_MSI`), with the
/// same address and data as [`kvm_msi`].
pub fn kvm_msi_routing(gsi: u32, msi: &Msi) -> Result<kvm_irq_routing_entry, Error> {
    Ok(kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_MSI,
        u: kvm_irq_routing_entry__bindgen_ty_1 {
            msi: routing_msi(msi)?,
        },
        ..Default::default()
    })
}

/// The address and data KVM takes, in the routing table's layout.
fn routing_msi(msi: &Msi) -> Result<kvm_irq_routing_msi, Error> {
    let m = match msi {
        Msi::Compat(m) => m,
        Msi::Remappable(r) => return Err(Error::Remappable(*r)),
    };
    // The data word does not depend on the destination: encode it with destination 0.
    let (_, data) = encode(&Msi::Compat(CompatMsi { dest: 0, ..*m }), false)?;
    let (address_lo, address_hi) = kvm_msi_address(m);
    Ok(kvm_irq_routing_msi {
        address_lo,
        address_hi,
        data,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::IdScheme;
    use kvm_bindings::KVM_MAX_CPUID_ENTRIES;

    fn supported() -> CpuId {
        let leaf = |function, index, flags| kvm_cpuid_entry2 {
            function,
            index,
            flags,
            eax: 0x1F,
            ebx: 0x00AB_CDEF,
            ..Default::default()
        };
        CpuId::from_entries(&[
            leaf(0, 0, 0),
            leaf(1, 0, 0),
            leaf(4, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
            leaf(0xB, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
            leaf(0x8000_001E, 0, 0),
        ])
        .unwrap()
    }

    #[test]
    fn plan_applied_to_a_kvm_cpuid_table() {
        let plan = Plan::new(300, IdScheme::Dense).unwrap();
        let cpuid = plan.kvm_cpuid(299, &supported()).unwrap();
        let id = plan.apic_id(299).unwrap();
        let find = |f, i| {
            cpuid
                .as_slice()
                .iter()
                .find(|e| e.function == f && e.index == i)
                .copied()
                .unwrap()
        };
        let leaf1 = find(1, 0);
        assert_ne!(leaf1.ecx & crate::policy::CPUID_1_ECX_X2APIC, 0);
        assert_eq!(leaf1.ebx >> 24, id & 0xFF);
        assert_eq!(leaf1.ebx & 0x00FF_FFFF, 0x00AB_CDEF, "other EBX bits kept");
        assert_eq!(leaf1.flags, 0);
        assert_eq!(find(4, 0).flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, "kept");
        for index in 0..2 {
            let e = find(0xB, index);
            assert_eq!(e.edx, id, "0xB.{index} EDX is the x2APIC ID");
            assert_eq!(e.flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
            assert_eq!(CpuidLeaf::from(&e), plan.topology_leaf(299, 0xB, index));
        }
        assert_eq!(find(0x8000_001E, 0).eax, id);
        assert_eq!(
            plan.kvm_cpuid(300, &supported()).err(),
            Some(Error::NotInPlan(300))
        );
    }

    #[test]
    fn cpuid_leaf_round_trips_through_kvm_cpuid_entry2() {
        let leaf = CpuidLeaf {
            function: 0xB,
            index: 1,
            eax: 1,
            ebx: 2,
            ecx: 3,
            edx: 4,
        };
        let e = leaf.to_kvm(KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
        assert_eq!(e.flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
        assert_eq!(CpuidLeaf::from(&e), leaf);
    }

    #[test]
    fn too_many_leaves_is_an_error() {
        let entries: Vec<kvm_cpuid_entry2> = (0x4000_0000u32..)
            .take(KVM_MAX_CPUID_ENTRIES)
            .map(|function| kvm_cpuid_entry2 {
                function,
                ..Default::default()
            })
            .collect();
        let full = CpuId::from_entries(&entries).unwrap();
        let plan = Plan::new(2, IdScheme::Dense).unwrap();
        assert!(matches!(
            plan.kvm_cpuid(0, &full),
            Err(Error::TooManyEntries {
                what: "KVM_SET_CPUID2",
                ..
            })
        ));
    }

    #[test]
    fn apic_base_as_kvm_msrs() {
        let plan = Plan::new(300, IdScheme::Dense).unwrap();
        let msrs = plan.kvm_apic_base(7).unwrap();
        let [entry] = msrs.as_slice() else {
            panic!("one entry")
        };
        assert_eq!(entry.index, 0x1B);
        assert_eq!(entry.data, plan.apic_base(7));
        assert_eq!(entry.data & crate::base::EXTD, crate::base::EXTD);
        assert_eq!(plan.kvm_apic_base(300).err(), Some(Error::NotInPlan(300)));
    }

    #[test]
    fn lapic_round_trips_through_kvm_lapic_state() {
        let plan = Plan::new(300, IdScheme::Dense).unwrap();
        let config = Config::kvm(46, true).unwrap();
        let id = plan.apic_id(299).unwrap();
        let mut lapic = Lapic::new(config, id, false);
        lapic
            .set_base(plan.apic_base(299), crate::base::Initiator::Host)
            .unwrap();
        for format in [IdFormat::Full, IdFormat::Shifted] {
            let state = lapic.to_kvm_lapic_state(format);
            let page = lapic.to_kvm_page(format);
            assert!(
                state
                    .regs
                    .iter()
                    .zip(page)
                    .all(|(&s, p)| s.cast_unsigned() == p)
            );
            let back = Lapic::from_kvm_lapic_state(config, id, plan.apic_base(299), &state, format)
                .unwrap();
            assert_eq!(back.to_kvm_page(format), page);
        }
    }

    #[test]
    fn msi_as_kvm_msi_and_routing_entry() {
        let m = CompatMsi {
            dest: 0x1_2345,
            logical: false,
            redirection_hint: false,
            vector: 0x41,
            delivery_mode: 0,
            assert: true,
            level_triggered: false,
        };
        let msi = kvm_msi(&Msi::Compat(m)).unwrap();
        // Destination bits 7:0 in address_lo 19:12, bits 31:8 in address_hi.
        assert_eq!(msi.address_lo, 0xFEE4_5000);
        assert_eq!(msi.address_hi, 0x1_2300);
        assert_eq!(msi.data, 0x4041);
        assert_eq!(msi.flags, 0);
        let r = routing_msi(&Msi::Compat(m)).unwrap();
        assert_eq!(
            (r.address_lo, r.address_hi, r.data),
            (msi.address_lo, msi.address_hi, msi.data)
        );
        let entry = kvm_msi_routing(24, &Msi::Compat(m)).unwrap();
        assert_eq!(
            (entry.gsi, entry.type_, entry.flags),
            (24, KVM_IRQ_ROUTING_MSI, 0)
        );
        let remapped = Msi::Remappable(RemappableMsi {
            handle: 3,
            subhandle: None,
        });
        assert!(matches!(kvm_msi(&remapped), Err(Error::Remappable(_))));
        assert!(matches!(
            kvm_msi_routing(0, &remapped),
            Err(Error::Remappable(_))
        ));
    }
}
