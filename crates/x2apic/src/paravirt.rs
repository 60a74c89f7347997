// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The hypervisor CPUID leaves (0x4000_0000 upwards) that advertise the MSI extended
//! destination ID to a guest: KVM's `KVM_FEATURE_MSI_EXT_DEST_ID` or Xen's
//! `XEN_HVM_CPUID_EXT_DEST_ID`.
//!
//! Linux finds a hypervisor by scanning CPUID 0x4000_0000 to 0x4000_FF00 in steps of
//! 0x100 for its signature (`arch/x86/kernel/cpu/hypervisor.c`,
//! `hypervisor_cpuid_base`), and only when CPUID.1:ECX bit 31 says a hypervisor is
//! present (`X86_FEATURE_HYPERVISOR`). [`advertise_ext_dest_id`] sets the feature bit in
//! the leaves the table already has for the chosen interface, or adds them at the first
//! free base.

use alloc::vec::Vec;

use crate::cpuid::CpuidLeaf;

/// `KVM_FEATURE_MSI_EXT_DEST_ID`: CPUID 0x4000_0001 EAX bit 15 (Linux
/// `arch/x86/include/uapi/asm/kvm_para.h`).
pub const KVM_FEATURE_MSI_EXT_DEST_ID: u32 = 1 << 15;
/// `XEN_HVM_CPUID_EXT_DEST_ID`: CPUID leaf base+4 EAX bit 5 (Xen
/// `public/arch-x86/cpuid.h`).
pub const XEN_HVM_CPUID_EXT_DEST_ID: u32 = 1 << 5;

/// The first candidate base (Linux `arch/x86/include/asm/processor.h`,
/// `hypervisor_cpuid_base`: the scan starts at 0x40000000).
pub const HYPERVISOR_BASE: u32 = 0x4000_0000;
/// The step between candidate bases (Linux `hypervisor_cpuid_base`: `base += 0x100`).
pub const BASE_STEP: u32 = 0x100;
/// The last candidate base (Linux `hypervisor_cpuid_base`: `base < 0x40010000`).
pub const LAST_BASE: u32 = 0x4000_FF00;
/// CPUID.1:ECX bit 31, hypervisor present (Linux `X86_FEATURE_HYPERVISOR`,
/// `arch/x86/include/asm/cpufeatures.h`).
pub const CPUID_1_ECX_HYPERVISOR: u32 = 1 << 31;
/// `KVM_CPUID_SIGNATURE` "KVMKVMKVM\0\0\0" as EBX, ECX, EDX (Linux
/// `arch/x86/include/uapi/asm/kvm_para.h`).
pub const KVM_SIGNATURE: [u32; 3] = [0x4B4D_564B, 0x564B_4D56, 0x0000_004D];
/// Xen's signature "XenVMMXenVMM" as EBX, ECX, EDX (Xen `public/arch-x86/cpuid.h`,
/// `XEN_CPUID_SIGNATURE_E*X`).
pub const XEN_SIGNATURE: [u32; 3] = [0x566E_6558, 0x6558_4D4D, 0x4D4D_566E];
/// The HVM-specific Xen leaf: base + 4 (Xen `public/arch-x86/cpuid.h`, "Leaf 5 (0x40000x04)
/// HVM-specific features").
pub const XEN_HVM_LEAF: u32 = 4;
/// `KVM_CPUID_FEATURES`: base + 1 (Linux `arch/x86/include/uapi/asm/kvm_para.h`).
pub const KVM_FEATURES_LEAF: u32 = 1;

/// The paravirtual interface whose leaves carry the advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Interface {
    /// KVM: `KVM_FEATURE_MSI_EXT_DEST_ID` in base+1 EAX.
    #[default]
    Kvm,
    /// Xen HVM: `XEN_HVM_CPUID_EXT_DEST_ID` in base+4 EAX.
    Xen,
}

impl Interface {
    /// The signature as EBX, ECX, EDX of the base leaf.
    pub const fn signature(self) -> [u32; 3] {
        match self {
            Self::Kvm => KVM_SIGNATURE,
            Self::Xen => XEN_SIGNATURE,
        }
    }

    /// (offset from the base, EAX bit) of the extended destination ID feature.
    pub const fn feature(self) -> (u32, u32) {
        match self {
            Self::Kvm => (KVM_FEATURES_LEAF, KVM_FEATURE_MSI_EXT_DEST_ID),
            Self::Xen => (XEN_HVM_LEAF, XEN_HVM_CPUID_EXT_DEST_ID),
        }
    }
}

fn leaf(leaves: &[CpuidLeaf], function: u32) -> Option<&CpuidLeaf> {
    leaves.iter().find(|l| l.function == function)
}

/// The base at which `leaves` holds `interface`'s signature, as Linux would find it.
pub fn find_base(leaves: &[CpuidLeaf], interface: Interface) -> Option<u32> {
    (HYPERVISOR_BASE..=LAST_BASE)
        .step_by(BASE_STEP as usize)
        .find(|&base| {
            leaf(leaves, base).is_some_and(|l| [l.ebx, l.ecx, l.edx] == interface.signature())
        })
}

/// Sets `interface`'s extended destination ID bit in `leaves`: in the existing feature
/// leaf when the table has the interface's base leaf (raising the base's maximum leaf
/// if needed), else in new base and feature leaves at the first base no leaf occupies.
/// Also sets CPUID.1:ECX bit 31. Returns the base used, `None` when every base is
/// taken by something else.
pub fn advertise_ext_dest_id(leaves: &mut Vec<CpuidLeaf>, interface: Interface) -> Option<u32> {
    let base = match find_base(leaves, interface) {
        Some(base) => base,
        None => {
            let base = (HYPERVISOR_BASE..=LAST_BASE)
                .step_by(BASE_STEP as usize)
                .find(|&b| !leaves.iter().any(|l| l.function & !0xFF == b))?;
            let [ebx, ecx, edx] = interface.signature();
            leaves.push(CpuidLeaf {
                function: base,
                index: 0,
                eax: base,
                ebx,
                ecx,
                edx,
            });
            base
        }
    };
    let (offset, bit) = interface.feature();
    let function = base | offset;
    for l in leaves.iter_mut() {
        if l.function == base {
            l.eax = l.eax.max(function);
        }
        if l.function == 1 {
            l.ecx |= CPUID_1_ECX_HYPERVISOR;
        }
    }
    match leaves.iter_mut().find(|l| l.function == function) {
        Some(l) => l.eax |= bit,
        None => leaves.push(CpuidLeaf {
            function,
            eax: bit,
            ..CpuidLeaf::default()
        }),
    }
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_spell_the_names() {
        let bytes = |s: [u32; 3]| -> Vec<u8> { s.iter().flat_map(|w| w.to_le_bytes()).collect() };
        assert_eq!(bytes(KVM_SIGNATURE), b"KVMKVMKVM\0\0\0");
        assert_eq!(bytes(XEN_SIGNATURE), b"XenVMMXenVMM");
    }

    #[test]
    fn existing_kvm_leaves_gain_the_bit() {
        let [ebx, ecx, edx] = KVM_SIGNATURE;
        let mut t = alloc::vec![
            CpuidLeaf {
                function: 1,
                ..Default::default()
            },
            CpuidLeaf {
                function: 0x4000_0000,
                eax: 0x4000_0001,
                ebx,
                ecx,
                edx,
                ..Default::default()
            },
            CpuidLeaf {
                function: 0x4000_0001,
                eax: 0x0100_0001,
                ..Default::default()
            },
        ];
        assert_eq!(
            advertise_ext_dest_id(&mut t, Interface::Kvm),
            Some(0x4000_0000)
        );
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].eax, 0x0100_0001 | 1 << 15);
        assert_eq!(t[0].ecx, 1 << 31);
    }

    #[test]
    fn xen_leaves_go_after_a_foreign_base() {
        // Hyper-V's base at 0x4000_0000 (Xen with Viridian moves its own to 0x100).
        let mut t = alloc::vec![CpuidLeaf {
            function: 0x4000_0000,
            eax: 0x4000_0005,
            ebx: 0x7263_694D,
            ..Default::default()
        }];
        assert_eq!(
            advertise_ext_dest_id(&mut t, Interface::Xen),
            Some(0x4000_0100)
        );
        assert_eq!(find_base(&t, Interface::Xen), Some(0x4000_0100));
        let base = leaf(&t, 0x4000_0100).unwrap();
        assert_eq!(base.eax, 0x4000_0104);
        assert_eq!(leaf(&t, 0x4000_0104).unwrap().eax, 1 << 5);
        // Idempotent.
        let before = t.clone();
        advertise_ext_dest_id(&mut t, Interface::Xen);
        assert_eq!(t, before);
    }
}
