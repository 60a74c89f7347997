// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The local APIC's mode (Intel SDM vol. 3A §11.12.5, Table 11-5), on its own so that
//! both the `IA32_APIC_BASE` rules ([`crate::base`], which also decodes a register value
//! with `Mode::of`) and the faults that name a mode ([`crate::Fault`]) can use it.

/// The APIC mode selected by EN and EXTD (SDM vol. 3A, Table 11-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mode {
    /// EN=0, EXTD=0: the local APIC is globally disabled.
    Disabled,
    /// EN=1, EXTD=0: xAPIC mode, registers in the MMIO page.
    Xapic,
    /// EN=1, EXTD=1: x2APIC mode, registers in MSRs 0x800-0x8FF.
    X2apic,
    /// EN=0, EXTD=1: not a state the APIC can be in.
    Invalid,
}

impl Mode {
    /// The mode for the EN (global enable) and EXTD (x2APIC enable) bits.
    pub const fn from_en_extd(en: bool, extd: bool) -> Self {
        match (en, extd) {
            (false, false) => Self::Disabled,
            (true, false) => Self::Xapic,
            (true, true) => Self::X2apic,
            (false, true) => Self::Invalid,
        }
    }
}
