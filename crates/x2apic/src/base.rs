// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `IA32_APIC_BASE` and the APIC mode state machine (Intel SDM vol. 3A §11.4.4 and
//! §11.12.5, Figure 11-27 "Local x2APIC State Transitions").
//!
//! Four states from the EN and EXTD bits: disabled (0,0), xAPIC (1,0), x2APIC (1,1) and
//! the invalid (0,1). A guest WRMSR may go xAPIC -> x2APIC, xAPIC -> disabled,
//! x2APIC -> disabled and disabled -> xAPIC; x2APIC -> xAPIC, disabled -> x2APIC and any
//! write of the invalid state raise #GP. A *host* write (KVM's `host_initiated`, through
//! `KVM_SET_MSRS` or `KVM_SET_SREGS`) may also jump directly between xAPIC and x2APIC in
//! either direction and from disabled to x2APIC: that is how a VMM starts a guest in
//! x2APIC mode (Linux `arch/x86/kvm/lapic.c`, `kvm_apic_set_base`). Reserved bits and the
//! invalid state are refused for both.

use crate::error::Fault;
pub use crate::mode::Mode;

/// `IA32_APIC_BASE`, MSR 0x1B (SDM vol. 4, Table 2-2).
pub const IA32_APIC_BASE: u32 = 0x1B;
/// The architectural APIC base address after RESET (SDM vol. 3A §11.4.4).
pub const DEFAULT_BASE_ADDRESS: u64 = 0xFEE0_0000;

bitflags::bitflags! {
    /// The flag bits of `IA32_APIC_BASE` (SDM vol. 4, Table 2-2); the other bits are the
    /// base address and reserved bits ([`BaseRules::reserved`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct BaseFlags: u64 {
        /// Bit 8, BSP flag: this processor is the bootstrap processor (SDM vol. 4,
        /// Table 2-2, "BSP flag (R/W)").
        const BSP = 1 << 8;
        /// Bit 10, EXTD: x2APIC mode (SDM vol. 3A §11.12.1, Table 11-5).
        const EXTD = 1 << 10;
        /// Bit 11, EN: APIC global enable (SDM vol. 3A §11.4.4, Figure 11-5).
        const EN = 1 << 11;
    }
}

/// [`BaseFlags::BSP`] as a bare value.
pub const BSP: u64 = BaseFlags::BSP.bits();
/// [`BaseFlags::EXTD`] as a bare value.
pub const EXTD: u64 = BaseFlags::EXTD.bits();
/// [`BaseFlags::EN`] as a bare value.
pub const EN: u64 = BaseFlags::EN.bits();
/// Bits 7:0 and 9, always reserved (SDM vol. 4, Table 2-2; KVM's `0x2ff`).
pub const ALWAYS_RESERVED: u64 = 0x2FF;
/// The lowest bit of the base address field, `[MAXPHYADDR-1:12]` (SDM vol. 4, Table 2-2).
pub const ADDRESS_SHIFT: u32 = 12;

impl Mode {
    /// The mode an `IA32_APIC_BASE` value selects (EN and EXTD; the other bits do not
    /// matter).
    pub const fn of(value: u64) -> Self {
        let flags = BaseFlags::from_bits_truncate(value);
        Self::from_en_extd(
            flags.contains(BaseFlags::EN),
            flags.contains(BaseFlags::EXTD),
        )
    }
}

/// Who writes `IA32_APIC_BASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Initiator {
    /// The guest, with WRMSR: the SDM transition rules apply.
    Guest,
    /// The VMM (KVM's `host_initiated`): any jump between valid modes is allowed.
    Host,
}

/// What the processor supports, which decides the reserved bits of `IA32_APIC_BASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaseRules {
    maxphyaddr: u8,
    x2apic: bool,
}

impl BaseRules {
    /// Rules for a processor with `maxphyaddr` physical address bits (CPUID
    /// 0x8000_0008 EAX\[7:0\]) that does or does not advertise x2APIC (CPUID.1:ECX\[21\];
    /// without it EXTD is reserved).
    pub const fn new(maxphyaddr: u8, x2apic: bool) -> Result<Self, crate::Error> {
        if maxphyaddr < 32 || maxphyaddr > 52 {
            return Err(crate::Error::BadMaxPhysAddr(maxphyaddr));
        }
        Ok(Self { maxphyaddr, x2apic })
    }

    /// MAXPHYADDR.
    pub const fn maxphyaddr(self) -> u8 {
        self.maxphyaddr
    }

    /// Whether CPUID advertises x2APIC.
    pub const fn x2apic(self) -> bool {
        self.x2apic
    }

    /// The reserved bits: 7:0, 9, `[63:MAXPHYADDR]`, and EXTD without x2APIC.
    pub const fn reserved(self) -> u64 {
        let above = !0u64 << self.maxphyaddr;
        let extd = if self.x2apic { 0 } else { EXTD };
        ALWAYS_RESERVED | above | extd
    }
}

/// A valid `IA32_APIC_BASE` value: no reserved bit set, not the invalid state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApicBase(u64);

impl ApicBase {
    /// The value after RESET: xAPIC mode at [`DEFAULT_BASE_ADDRESS`], BSP as given
    /// (SDM vol. 3A §11.4.7.1 and §11.12.5.1).
    pub const fn reset(bsp: bool) -> Self {
        Self(DEFAULT_BASE_ADDRESS | EN | if bsp { BSP } else { 0 })
    }

    /// Checks `value` against `rules`.
    pub const fn new_checked(value: u64, rules: BaseRules) -> Result<Self, Fault> {
        let reserved = value & rules.reserved();
        if reserved != 0 {
            return Err(Fault::BaseReserved { value, reserved });
        }
        if matches!(Mode::of(value), Mode::Invalid) {
            return Err(Fault::InvalidState(value));
        }
        Ok(Self(value))
    }

    /// The raw MSR value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The mode it selects (never [`Mode::Invalid`]).
    pub const fn mode(self) -> Mode {
        Mode::of(self.0)
    }

    /// The base physical address of the xAPIC MMIO page.
    pub const fn address(self) -> u64 {
        self.0 & !((1 << ADDRESS_SHIFT) - 1) & !(EN | EXTD | BSP | ALWAYS_RESERVED)
    }

    /// Whether the BSP flag is set.
    pub const fn is_bsp(self) -> bool {
        self.flags().contains(BaseFlags::BSP)
    }

    /// The flag bits (BSP, EXTD, EN).
    pub const fn flags(self) -> BaseFlags {
        BaseFlags::from_bits_truncate(self.0)
    }
}

/// An accepted write of `IA32_APIC_BASE`: the mode before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The mode before the write.
    pub from: Mode,
    /// The mode after it.
    pub to: Mode,
}

impl Transition {
    /// Whether the mode changes.
    pub const fn changes_mode(self) -> bool {
        !matches!(
            (self.from, self.to),
            (Mode::Disabled, Mode::Disabled)
                | (Mode::Xapic, Mode::Xapic)
                | (Mode::X2apic, Mode::X2apic)
        )
    }
}

/// Classifies a write of `value` to `IA32_APIC_BASE` currently holding `current`: the
/// accepted base and its transition, or the #GP the write raises.
///
/// Order of checks (as KVM's `kvm_apic_set_base`): an unchanged value is accepted; then
/// reserved bits; then the invalid state; then, for guest writes only, the two illegal
/// transitions of SDM §11.12.5.1.
pub const fn classify(
    current: ApicBase,
    value: u64,
    rules: BaseRules,
    initiator: Initiator,
) -> Result<(ApicBase, Transition), Fault> {
    let from = current.mode();
    if value == current.0 {
        return Ok((current, Transition { from, to: from }));
    }
    let new = match ApicBase::new_checked(value, rules) {
        Ok(new) => new,
        Err(fault) => return Err(fault),
    };
    let to = new.mode();
    if matches!(initiator, Initiator::Guest)
        && matches!(
            (from, to),
            (Mode::X2apic, Mode::Xapic) | (Mode::Disabled, Mode::X2apic)
        )
    {
        return Err(Fault::IllegalTransition { from, to });
    }
    Ok((new, Transition { from, to }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: BaseRules = match BaseRules::new(46, true) {
        Ok(r) => r,
        Err(_) => panic!("valid"),
    };
    const B: u64 = DEFAULT_BASE_ADDRESS;

    fn base(mode: Mode) -> ApicBase {
        let v = match mode {
            Mode::Disabled => B,
            Mode::Xapic => B | EN,
            Mode::X2apic => B | EN | EXTD,
            Mode::Invalid => unreachable!(),
        };
        ApicBase::new_checked(v, RULES).unwrap()
    }

    #[test]
    fn every_guest_transition_matches_the_sdm_table() {
        use Mode::*;
        // (from, to, legal for a guest) - SDM vol. 3A §11.12.5.1.
        let table = [
            (Disabled, Disabled, true),
            (Disabled, Xapic, true),
            (Disabled, X2apic, false),
            (Xapic, Disabled, true),
            (Xapic, Xapic, true),
            (Xapic, X2apic, true),
            (X2apic, Disabled, true),
            (X2apic, Xapic, false),
            (X2apic, X2apic, true),
        ];
        for (from, to, legal) in table {
            let value = base(to).raw();
            let guest = classify(base(from), value, RULES, Initiator::Guest);
            assert_eq!(guest.is_ok(), legal, "{from:?} -> {to:?}");
            if !legal {
                assert_eq!(guest, Err(Fault::IllegalTransition { from, to }));
            }
            let host = classify(base(from), value, RULES, Initiator::Host).unwrap();
            assert_eq!(host.1, Transition { from, to });
            assert_eq!(host.1.changes_mode(), from != to);
        }
        for from in [Disabled, Xapic, X2apic] {
            for who in [Initiator::Guest, Initiator::Host] {
                assert_eq!(
                    classify(base(from), B | EXTD, RULES, who),
                    Err(Fault::InvalidState(B | EXTD))
                );
            }
        }
    }

    #[test]
    fn reserved_bits() {
        assert_eq!(RULES.reserved(), 0x2FF | !0u64 << 46);
        let no_x2apic = BaseRules::new(39, false).unwrap();
        assert_eq!(no_x2apic.reserved(), 0x2FF | EXTD | !0u64 << 39);
        for bit in [0, 7, 9, 46, 63] {
            let v = B | EN | 1 << bit;
            assert_eq!(
                classify(base(Mode::Xapic), v, RULES, Initiator::Host),
                Err(Fault::BaseReserved {
                    value: v,
                    reserved: 1 << bit
                })
            );
        }
        // BSP is read/write and the base may move (SDM vol. 4, Table 2-2).
        let moved = 0x1234_5000 | EN | BSP;
        let (nb, _) = classify(base(Mode::Xapic), moved, RULES, Initiator::Guest).unwrap();
        assert_eq!(nb.address(), 0x1234_5000);
        assert!(nb.is_bsp());
        assert_eq!(
            BaseRules::new(31, true),
            Err(crate::Error::BadMaxPhysAddr(31))
        );
        assert_eq!(
            BaseRules::new(53, true),
            Err(crate::Error::BadMaxPhysAddr(53))
        );
    }

    #[test]
    fn reset_value() {
        assert_eq!(ApicBase::reset(true).raw(), 0xFEE0_0900);
        assert_eq!(ApicBase::reset(false).raw(), 0xFEE0_0800);
        assert_eq!(ApicBase::reset(false).mode(), Mode::Xapic);
    }
}
