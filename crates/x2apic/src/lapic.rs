// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The local APIC register model: one vCPU's `IA32_APIC_BASE` and register page, its
//! x2APIC MSR and xAPIC MMIO interfaces, RESET and INIT, and what a mode switch converts
//! or resets.
//!
//! The model follows the Intel SDM where KVM and the SDM disagree (see the crate README
//! for the list): a write that sets a reserved bit of an x2APIC register raises #GP
//! (§11.12.1.3), and leaving x2APIC mode through the disabled state loses every register
//! but the ID (§11.12.5.1). It does not deliver interrupts or run the timer: a write that
//! asks for an action returns an [`Effect`] for the VMM to carry out.
#![allow(
    clippy::cast_possible_truncation,
    reason = "register fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

use crate::base::{ApicBase, BaseRules, IA32_APIC_BASE, Initiator, Mode, Transition, classify};
use crate::error::{Error, Fault};
use crate::icr::Icr;
use crate::regs::{
    Access, Features, LVT_MASKED, Register, SLOTS, SVR_ENABLE, VERSION_DIRECTED_EOI,
    X2APIC_MSR_BASE, X2APIC_MSR_LAST, x2apic_ldr,
};

/// The local APIC version KVM and Xen report (version register bits 7:0: 0x14, an
/// integrated APIC; SDM vol. 3A §11.4.8).
pub const INTEGRATED_APIC_VERSION: u8 = 0x14;

/// What the emulated processor supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    rules: BaseRules,
    features: Features,
    version: u8,
}

impl Config {
    /// A processor with `maxphyaddr` address bits, x2APIC advertised (or not) in CPUID,
    /// and the given register-file features; version 0x14.
    pub fn new(maxphyaddr: u8, x2apic: bool, features: Features) -> Result<Self, Error> {
        if !(6..=7).contains(&features.lvt_entries) {
            return Err(Error::BadLvtCount(features.lvt_entries));
        }
        Ok(Self {
            rules: BaseRules::new(maxphyaddr, x2apic)?,
            features,
            version: INTEGRATED_APIC_VERSION,
        })
    }

    /// What KVM's in-kernel LAPIC emulates with the in-kernel IOAPIC and no MCE setup:
    /// six LVT entries (no CMCI), no EOI-broadcast suppression, and the TSC-deadline
    /// mode as given (it follows the guest's CPUID).
    pub fn kvm(maxphyaddr: u8, tsc_deadline: bool) -> Result<Self, Error> {
        Self::new(
            maxphyaddr,
            true,
            Features {
                lvt_entries: 6,
                directed_eoi: false,
                tsc_deadline,
            },
        )
    }

    /// The `IA32_APIC_BASE` rules.
    pub const fn rules(&self) -> BaseRules {
        self.rules
    }

    /// The register-file features.
    pub const fn features(&self) -> Features {
        self.features
    }

    /// The version register: version, max LVT entry in bits 23:16, EOI-broadcast
    /// suppression in bit 24 (SDM vol. 3A, Figure 11-7).
    pub const fn version_register(&self) -> u32 {
        self.version as u32
            | ((self.features.lvt_entries as u32 - 1) << 16)
            | if self.features.directed_eoi {
                VERSION_DIRECTED_EOI
            } else {
                0
            }
    }
}

/// What the VMM must do after an accepted write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Nothing beyond the register update.
    None,
    /// `IA32_APIC_BASE` was written; the mode may have changed (rebuild destination maps
    /// when it did).
    Base(Transition),
    /// The ID or LDR changed through xAPIC MMIO (rebuild destination maps).
    Addressing,
    /// End of interrupt: the vector whose ISR bit was cleared, if any.
    Eoi(Option<u8>),
    /// Send this IPI.
    SendIpi(Icr),
    /// SELF IPI with this vector (x2APIC MSR 0x83F).
    SelfIpi(u8),
}

/// One vCPU's local APIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapic {
    config: Config,
    x2apic_id: u32,
    base: ApicBase,
    regs: [u32; SLOTS],
}

impl Lapic {
    /// A local APIC just out of RESET, whose hardware (x2APIC) ID is `x2apic_id`.
    pub fn new(config: Config, x2apic_id: u32, bsp: bool) -> Self {
        let mut lapic = Self {
            config,
            x2apic_id,
            base: ApicBase::reset(bsp),
            regs: [0; SLOTS],
        };
        lapic.power_up_registers();
        lapic
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The hardware-assigned x2APIC ID (its low 8 bits are the initial xAPIC ID).
    pub const fn x2apic_id(&self) -> u32 {
        self.x2apic_id
    }

    /// `IA32_APIC_BASE`.
    pub const fn base(&self) -> ApicBase {
        self.base
    }

    /// The current mode.
    pub const fn mode(&self) -> Mode {
        self.base.mode()
    }

    /// The raw 32-bit value of a register's slot in the register page (the ID in the
    /// current mode's format; for [`Register::Icr2`] the ICR's high word).
    pub const fn register(&self, reg: Register) -> u32 {
        self.regs[reg.slot()]
    }

    /// The APIC ID the current mode addresses this APIC by: the 32-bit x2APIC ID in
    /// x2APIC mode, otherwise the 8-bit xAPIC ID register.
    pub const fn apic_id(&self) -> u32 {
        match self.mode() {
            Mode::X2apic => self.regs[Register::Id.slot()],
            _ => self.regs[Register::Id.slot()] >> 24,
        }
    }

    /// The logical destination register (raw).
    pub const fn ldr(&self) -> u32 {
        self.regs[Register::Ldr.slot()]
    }

    /// Whether the SVR's software-enable bit is set.
    pub const fn is_software_enabled(&self) -> bool {
        self.regs[Register::Svr.slot()] & SVR_ENABLE != 0
    }

    /// RESET: xAPIC mode at the default base, every register at its power-up value
    /// (SDM vol. 3A §11.12.5.1). The BSP flag is kept: it is decided by the platform.
    pub fn reset(&mut self) {
        self.base = ApicBase::reset(self.base.is_bsp());
        self.power_up_registers();
    }

    /// INIT: the mode is kept; the ID is kept (all 32 bits in x2APIC mode), and in
    /// x2APIC mode so is the read-only LDR; everything else returns to its power-up
    /// value (SDM vol. 3A §11.12.5.1; Xen `vlapic_do_init`).
    pub fn init(&mut self) {
        let id = self.regs[Register::Id.slot()];
        let ldr = self.regs[Register::Ldr.slot()];
        self.power_up_registers();
        self.regs[Register::Id.slot()] = id;
        if self.mode() == Mode::X2apic {
            self.regs[Register::Ldr.slot()] = ldr;
        }
    }

    /// Accepts an interrupt into the IRR (and the TMR when level-triggered), as the
    /// VMM does when it delivers one.
    pub fn accept(&mut self, vector: u8, level: bool) {
        let (word, bit) = (usize::from(vector >> 5), 1u32 << (vector & 31));
        self.regs[Register::Irr(0).slot() + word] |= bit;
        let tmr = &mut self.regs[Register::Tmr(0).slot() + word];
        if level {
            *tmr |= bit;
        } else {
            *tmr &= !bit;
        }
    }

    fn power_up_registers(&mut self) {
        let f = self.config.features;
        self.regs = [0; SLOTS];
        self.regs[Register::Id.slot()] = (self.x2apic_id & 0xFF) << 24;
        self.regs[Register::Version.slot()] = self.config.version_register();
        self.regs[Register::Dfr.slot()] = u32::MAX;
        self.regs[Register::Svr.slot()] = 0xFF;
        for reg in Register::all() {
            if reg.is_lvt() && reg.xapic_access(f).is_some() {
                self.regs[reg.slot()] = LVT_MASKED;
            }
        }
    }

    /// Writes `IA32_APIC_BASE` and applies what the transition converts or resets:
    ///
    /// - into x2APIC mode: the ID register takes the 32-bit x2APIC ID and the LDR is
    ///   derived from it; other registers are kept;
    /// - into the disabled state (and on a host jump from x2APIC to xAPIC): every register
    ///   returns to its power-up value, the ID to the xAPIC format.
    pub fn set_base(&mut self, value: u64, initiator: Initiator) -> Result<Transition, Fault> {
        let (base, t) = classify(self.base, value, self.config.rules, initiator)?;
        self.base = base;
        match (t.from, t.to) {
            (Mode::Xapic | Mode::Disabled, Mode::X2apic) => {
                self.regs[Register::Id.slot()] = self.x2apic_id;
                self.regs[Register::Ldr.slot()] = x2apic_ldr(self.x2apic_id);
            }
            (Mode::Xapic | Mode::X2apic, Mode::Disabled) | (Mode::X2apic, Mode::Xapic) => {
                self.power_up_registers();
            }
            _ => {}
        }
        Ok(t)
    }

    /// Whether `msr` is one the local APIC answers: `IA32_APIC_BASE` or the x2APIC range.
    pub const fn is_apic_msr(msr: u32) -> bool {
        msr == IA32_APIC_BASE || (msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_LAST)
    }

    /// Looks up an x2APIC MSR for an access: the register and its access, or the #GP.
    fn x2apic_register(&self, msr: u32) -> Result<(Register, Access), Fault> {
        if !(X2APIC_MSR_BASE..=X2APIC_MSR_LAST).contains(&msr) {
            return Err(Fault::NoSuchRegister(msr));
        }
        if self.mode() != Mode::X2apic {
            return Err(Fault::NotX2apicMode {
                msr,
                mode: self.mode(),
            });
        }
        Register::from_msr(msr)
            .and_then(|r| r.x2apic_access(self.config.features).map(|a| (r, a)))
            .ok_or(Fault::NoSuchRegister(msr))
    }

    /// Guest RDMSR of `IA32_APIC_BASE` or an x2APIC MSR.
    pub fn read_msr(&self, msr: u32) -> Result<u64, Fault> {
        if msr == IA32_APIC_BASE {
            return Ok(self.base.raw());
        }
        let (reg, access) = self.x2apic_register(msr)?;
        if access == Access::WriteOnly {
            return Err(Fault::WriteOnly(msr));
        }
        Ok(match reg {
            Register::Icr => {
                u64::from(self.register(Register::Icr2)) << 32
                    | u64::from(self.register(Register::Icr))
            }
            Register::Ppr => u64::from(self.ppr()),
            _ => u64::from(self.register(reg)),
        })
    }

    /// Guest WRMSR of `IA32_APIC_BASE` or an x2APIC MSR.
    pub fn write_msr(&mut self, msr: u32, value: u64) -> Result<Effect, Fault> {
        if msr == IA32_APIC_BASE {
            return self.set_base(value, Initiator::Guest).map(Effect::Base);
        }
        let (reg, access) = self.x2apic_register(msr)?;
        if access == Access::ReadOnly {
            return Err(Fault::ReadOnly(msr));
        }
        let f = self.config.features;
        let valid = u64::from(reg.x2apic_valid_bits(f))
            | if reg == Register::Icr {
                u64::from(u32::MAX) << 32
            } else {
                0
            };
        let reserved = value & !valid;
        if reserved != 0 {
            return Err(Fault::Reserved {
                msr,
                value,
                reserved,
            });
        }
        let low = value as u32;
        Ok(match reg {
            Register::Icr => {
                self.regs[Register::Icr.slot()] = low & reg.stored_bits(f);
                self.regs[Register::Icr2.slot()] = (value >> 32) as u32;
                Effect::SendIpi(Icr::x2apic(value))
            }
            Register::SelfIpi => Effect::SelfIpi(low as u8),
            _ => self.write_common(reg, low),
        })
    }

    /// The register updates both interfaces share, for a value already checked (x2APIC)
    /// or already masked (xAPIC).
    fn write_common(&mut self, reg: Register, value: u32) -> Effect {
        let f = self.config.features;
        match reg {
            Register::Eoi => Effect::Eoi(self.eoi()),
            Register::Esr => {
                self.regs[reg.slot()] = 0;
                Effect::None
            }
            Register::Svr => {
                self.regs[reg.slot()] = value & reg.stored_bits(f);
                if value & SVR_ENABLE == 0 {
                    // SDM vol. 3A §11.4.7.2: a software-disabled APIC masks every LVT.
                    for lvt in Register::all().filter(|r| r.is_lvt()) {
                        self.regs[lvt.slot()] |= LVT_MASKED;
                    }
                }
                Effect::None
            }
            _ if reg.is_lvt() => {
                let keep = self.regs[reg.slot()] & !reg.stored_bits(f) & !LVT_MASKED;
                let mut v = keep | (value & reg.stored_bits(f));
                if !self.is_software_enabled() {
                    v |= LVT_MASKED;
                }
                self.regs[reg.slot()] = v;
                Effect::None
            }
            _ => {
                self.regs[reg.slot()] = value & reg.stored_bits(f);
                if reg == Register::Tpr {
                    self.regs[Register::Ppr.slot()] = self.ppr();
                }
                Effect::None
            }
        }
    }

    /// Clears the highest-priority ISR bit and returns its vector.
    fn eoi(&mut self) -> Option<u8> {
        let vector = self.highest_isr()?;
        self.regs[Register::Isr(0).slot() + usize::from(vector >> 5)] &= !(1 << (vector & 31));
        self.regs[Register::Ppr.slot()] = self.ppr();
        Some(vector)
    }

    fn highest_isr(&self) -> Option<u8> {
        (0..8u8).rev().find_map(|word| {
            let bits = self.regs[Register::Isr(word).slot()];
            (bits != 0).then(|| word * 32 + (31 - bits.leading_zeros() as u8))
        })
    }

    /// The processor priority from the TPR and the highest in-service vector (SDM vol.
    /// 3A §11.8.3.1).
    pub fn ppr(&self) -> u32 {
        let tpr = self.regs[Register::Tpr.slot()] & 0xFF;
        let isrv = u32::from(self.highest_isr().unwrap_or(0));
        if tpr & 0xF0 >= isrv & 0xF0 {
            tpr
        } else {
            isrv & 0xF0
        }
    }

    /// Guest read of the xAPIC MMIO page at `offset` (a 32-bit access), or `None` when
    /// the APIC is not in xAPIC mode (the page is then not the APIC's; SDM vol. 3A
    /// §11.12.2). Offsets that are no readable register read as zero.
    pub fn mmio_read(&self, offset: u16) -> Option<u32> {
        if self.mode() != Mode::Xapic {
            return None;
        }
        let Some(reg) = Register::from_offset(offset & !0xF).filter(|_| offset & 0xF == 0) else {
            return Some(0);
        };
        Some(match reg.xapic_access(self.config.features) {
            Some(Access::ReadOnly | Access::ReadWrite) if reg == Register::Ppr => self.ppr(),
            Some(Access::ReadOnly | Access::ReadWrite) => self.register(reg),
            _ => 0,
        })
    }

    /// Guest write of the xAPIC MMIO page at `offset` (a 32-bit access), or `None` when
    /// the APIC is not in xAPIC mode. Reserved bits are ignored and read-only registers
    /// ignore writes: xAPIC MMIO has no #GP.
    pub fn mmio_write(&mut self, offset: u16, value: u32) -> Option<Effect> {
        if self.mode() != Mode::Xapic {
            return None;
        }
        let f = self.config.features;
        let Some(reg) = Register::from_offset(offset).filter(|r| {
            matches!(
                r.xapic_access(f),
                Some(Access::WriteOnly | Access::ReadWrite)
            )
        }) else {
            return Some(Effect::None);
        };
        Some(match reg {
            // The xAPIC ID (SDM Figure 11-6) and logical ID (Figure 11-13): bits 31:24.
            Register::Id | Register::Ldr => {
                self.regs[reg.slot()] = value & 0xFF00_0000;
                Effect::Addressing
            }
            // DFR model, bits 31:28; bits 27:0 read as ones (Figure 11-14).
            Register::Dfr => {
                self.regs[reg.slot()] = value | 0x0FFF_FFFF;
                Effect::Addressing
            }
            Register::Icr2 => {
                self.regs[reg.slot()] = value & 0xFF00_0000;
                Effect::None
            }
            Register::Icr => {
                let low = value & Register::Icr.stored_bits(f);
                self.regs[reg.slot()] = low;
                Effect::SendIpi(Icr::xapic(low, self.register(Register::Icr2)))
            }
            _ => self.write_common(reg, value),
        })
    }

    /// Builds a local APIC from its parts (the inverse of [`Lapic::config`],
    /// [`Lapic::x2apic_id`], [`Lapic::base`] and the register page): used by the KVM page
    /// conversion.
    pub(crate) fn from_parts(
        config: Config,
        x2apic_id: u32,
        base: ApicBase,
        regs: [u32; SLOTS],
    ) -> Self {
        Self {
            config,
            x2apic_id,
            base,
            regs,
        }
    }

    pub(crate) const fn regs(&self) -> &[u32; SLOTS] {
        &self.regs
    }

    pub(crate) fn set_register(&mut self, reg: Register, value: u32) {
        self.regs[reg.slot()] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{EN, EXTD};
    use crate::icr::Shorthand;

    fn x2apic(id: u32) -> Lapic {
        let mut l = Lapic::new(Config::kvm(46, false).unwrap(), id, false);
        l.set_base(0xFEE0_0000 | EN | EXTD, Initiator::Guest)
            .unwrap();
        l
    }

    #[test]
    fn switch_keeps_the_id_and_derives_the_ldr() {
        let mut l = Lapic::new(Config::kvm(46, false).unwrap(), 0x123, false);
        assert_eq!(l.mmio_read(0x20), Some(0x2300_0000));
        assert_eq!(
            l.read_msr(0x802),
            Err(Fault::NotX2apicMode {
                msr: 0x802,
                mode: Mode::Xapic
            })
        );
        l.mmio_write(0x80, 0x20);
        l.set_base(0xFEE0_0000 | EN | EXTD, Initiator::Guest)
            .unwrap();
        assert_eq!(l.read_msr(0x802), Ok(0x123));
        assert_eq!(l.read_msr(0x80D), Ok(0x12_0008));
        assert_eq!(l.read_msr(0x808), Ok(0x20), "TPR survives the switch");
        assert_eq!(l.read_msr(0x803), Ok(0x5_0014));
        assert_eq!(l.mmio_read(0x20), None);
        // Back through disabled: everything but the ID is lost.
        assert!(l.set_base(0xFEE0_0000 | EN, Initiator::Guest).is_err());
        l.set_base(0xFEE0_0000, Initiator::Guest).unwrap();
        l.set_base(0xFEE0_0000 | EN, Initiator::Guest).unwrap();
        assert_eq!(l.mmio_read(0x80), Some(0));
        assert_eq!(l.mmio_read(0x20), Some(0x2300_0000));
        assert_eq!(l.mmio_read(0xD0), Some(0));
    }

    #[test]
    fn x2apic_access_rules() {
        let mut l = x2apic(5);
        for msr in [0x802, 0x803, 0x80A, 0x80D, 0x810, 0x820, 0x839] {
            assert_eq!(l.write_msr(msr, 0), Err(Fault::ReadOnly(msr)), "{msr:#x}");
        }
        for msr in [0x80B, 0x83F] {
            assert_eq!(l.read_msr(msr), Err(Fault::WriteOnly(msr)));
        }
        for msr in [
            0x800, 0x801, 0x809, 0x80C, 0x80E, 0x82F, 0x831, 0x840, 0xBFF,
        ] {
            assert_eq!(l.read_msr(msr), Err(Fault::NoSuchRegister(msr)), "{msr:#x}");
        }
        assert_eq!(
            l.write_msr(0x808, 0x100),
            Err(Fault::Reserved {
                msr: 0x808,
                value: 0x100,
                reserved: 0x100
            })
        );
        assert_eq!(
            l.write_msr(0x808, 1 << 32),
            Err(Fault::Reserved {
                msr: 0x808,
                value: 1 << 32,
                reserved: 1 << 32
            })
        );
        assert!(l.write_msr(0x80B, 1).is_err());
        assert_eq!(l.write_msr(0x80B, 0), Ok(Effect::Eoi(None)));
        assert!(l.write_msr(0x828, 1).is_err());
        assert!(l.write_msr(0x83F, 0x100).is_err());
        assert_eq!(l.write_msr(0x83F, 0x31), Ok(Effect::SelfIpi(0x31)));
        assert!(
            l.write_msr(0x830, 1 << 12).is_err(),
            "delivery status is reserved"
        );
        let Ok(Effect::SendIpi(icr)) = l.write_msr(0x830, 0x0000_0300_0008_0030) else {
            panic!("ICR write sends");
        };
        assert_eq!(icr.shorthand(), Shorthand::AllIncludingSelf);
        assert_eq!(icr.destination(), 0x300);
        assert_eq!(l.read_msr(0x830), Ok(0x0000_0300_0008_0030));
        assert_eq!(l.write_msr(0x83E, 0xB), Ok(Effect::None));
        assert!(l.write_msr(0x83E, 0x4).is_err());
    }

    #[test]
    fn lvt_masking_and_sw_disable() {
        let mut l = x2apic(1);
        // SVR = 0xFF after reset: software disabled, so LVTs stay masked.
        l.write_msr(0x835, 0x700).unwrap();
        assert_eq!(l.read_msr(0x835), Ok(0x1_0700));
        l.write_msr(0x80F, 0x1FF).unwrap();
        l.write_msr(0x835, 0x1700).unwrap();
        assert_eq!(l.read_msr(0x835), Ok(0x700), "delivery status is read-only");
        l.write_msr(0x80F, 0xFF).unwrap();
        assert_eq!(l.read_msr(0x835), Ok(0x1_0700));
    }

    #[test]
    fn init_keeps_mode_id_and_ldr() {
        let mut l = x2apic(0x42);
        l.write_msr(0x808, 0x30).unwrap();
        l.init();
        assert_eq!(l.mode(), Mode::X2apic);
        assert_eq!(l.read_msr(0x802), Ok(0x42));
        assert_eq!(l.read_msr(0x80D), Ok(u64::from(x2apic_ldr(0x42))));
        assert_eq!(l.read_msr(0x808), Ok(0));
        l.reset();
        assert_eq!(l.mode(), Mode::Xapic);
        assert_eq!(l.mmio_read(0x20), Some(0x4200_0000));
    }

    #[test]
    fn eoi_and_ppr() {
        let mut l = x2apic(0);
        l.regs[Register::Isr(1).slot()] = 1 << 3; // vector 0x23
        l.regs[Register::Isr(2).slot()] = 1 << 1; // vector 0x41
        assert_eq!(l.read_msr(0x80A), Ok(0x40));
        l.write_msr(0x808, 0x52).unwrap();
        assert_eq!(l.read_msr(0x80A), Ok(0x52));
        assert_eq!(l.write_msr(0x80B, 0), Ok(Effect::Eoi(Some(0x41))));
        assert_eq!(l.write_msr(0x80B, 0), Ok(Effect::Eoi(Some(0x23))));
        assert_eq!(l.write_msr(0x80B, 0), Ok(Effect::Eoi(None)));
        l.accept(0x80, true);
        assert_eq!(l.read_msr(0x824), Ok(1));
        assert_eq!(l.read_msr(0x81C), Ok(1));
    }

    #[test]
    fn xapic_mmio_addressing() {
        let mut l = Lapic::new(Config::kvm(46, false).unwrap(), 7, true);
        assert_eq!(l.mmio_write(0xD0, 0x0300_00FF), Some(Effect::Addressing));
        assert_eq!(l.ldr(), 0x0300_0000);
        l.mmio_write(0xE0, 0);
        assert_eq!(l.mmio_read(0xE0), Some(0x0FFF_FFFF));
        l.mmio_write(0x310, 0x0512_3456);
        assert_eq!(
            l.mmio_write(0x300, 0x4030),
            Some(Effect::SendIpi(Icr::xapic(0x4030, 0x0500_0000)))
        );
        assert_eq!(l.mmio_write(0x30, 0), Some(Effect::None));
        assert_eq!(l.mmio_read(0x30), Some(0x5_0014));
        assert_eq!(l.mmio_read(0x24), Some(0));
    }
}
