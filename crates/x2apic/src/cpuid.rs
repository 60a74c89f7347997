// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A CPUID leaf as a VMM's CPUID table holds it: the input (function, sub-leaf) and the
//! four output registers (SDM vol. 2A, CPUID). The plan edits tables of these, the
//! paravirtual leaves are added as these, and the `kvm` feature converts them to and
//! from `kvm_cpuid_entry2`.

/// One CPUID leaf/sub-leaf, as VMM CPUID tables hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuidLeaf {
    /// EAX input.
    pub function: u32,
    /// ECX input (sub-leaf).
    pub index: u32,
    /// EAX output.
    pub eax: u32,
    /// EBX output.
    pub ebx: u32,
    /// ECX output.
    pub ecx: u32,
    /// EDX output.
    pub edx: u32,
}
