// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The local APIC register file: xAPIC MMIO offsets, x2APIC MSR numbers, which register
//! exists in which mode, its access, and the bits a write may set.
//!
//! Sources: Intel SDM vol. 3A Table 11-1 (xAPIC "Local APIC Register Address Map"),
//! Table 11-6 ("Local APIC Register Address Map Supported by x2APIC"), §11.12.1.2 (the
//! MSR is `0x800 + offset / 16`, bits 63:32 reserved except in the ICR), §11.12.1.3
//! (reserved bits raise #GP in x2APIC mode, read as zero), §11.12.9 (the 64-bit ICR),
//! §11.12.11 (SELF IPI), and the LVT layouts of Figure 11-8.
#![allow(
    clippy::cast_possible_truncation,
    reason = "register fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

/// The first x2APIC MSR (SDM vol. 3A §11.12.1.2).
pub const X2APIC_MSR_BASE: u32 = 0x800;
/// The last MSR the SDM reserves for the x2APIC (SDM vol. 3A §11.12.1.2: 0x800-0xBFF).
pub const X2APIC_MSR_LAST: u32 = 0xBFF;
/// Size of the register page `KVM_GET_LAPIC`/`KVM_SET_LAPIC` carry (Linux
/// `arch/x86/include/uapi/asm/kvm.h`, `KVM_APIC_REG_SIZE`).
pub const PAGE_LEN: usize = 0x400;
/// Registers in the page: one every 16 bytes.
pub const SLOTS: usize = PAGE_LEN / 16;

/// LVT mask bit 16 (SDM vol. 3A, Figure 11-8).
pub const LVT_MASKED: u32 = 1 << 16;
/// LVT delivery status bit 12, read-only (Figure 11-8).
pub const LVT_DELIVERY_STATUS: u32 = 1 << 12;
/// LVT remote IRR bit 14 of LINT0/LINT1, read-only (Figure 11-8).
pub const LVT_REMOTE_IRR: u32 = 1 << 14;
/// Vector bits 7:0.
pub const VECTOR: u32 = 0xFF;
/// Delivery mode bits 10:8.
pub const DELIVERY_MODE: u32 = 0x700;
/// Timer mode bits 18:17 of the LVT timer (bit 18: TSC-deadline, SDM §11.5.4.1).
pub const TIMER_MODE_PERIODIC: u32 = 1 << 17;
/// TSC-deadline timer mode, bit 18 of the LVT timer.
pub const TIMER_MODE_TSC_DEADLINE: u32 = 1 << 18;
/// SVR bit 8, APIC software enable (SDM vol. 3A, Figure 11-23).
pub const SVR_ENABLE: u32 = 1 << 8;
/// SVR bit 12, EOI-broadcast suppression (Figure 11-23), only when the version register
/// bit 24 advertises it.
pub const SVR_SUPPRESS_EOI_BROADCAST: u32 = 1 << 12;
/// Version register bit 24: EOI-broadcast suppression supported (Figure 11-7).
pub const VERSION_DIRECTED_EOI: u32 = 1 << 24;

/// The bits of the x2APIC ICR low word a WRMSR may set: vector, delivery mode,
/// destination mode, delivery status (bit 12, which WRMSR ignores: SDM vol. 3A, Figure
/// 11-28 and its footnote), level, trigger mode, shorthand. Bits 13, 17:16 and 31:20 are
/// reserved.
pub const ICR_X2APIC_VALID_LOW: u32 = 0x000C_DFFF;

/// A local APIC register, named as in SDM Table 11-1. The index of `Isr`, `Tmr` and `Irr`
/// (0..=7) is taken modulo 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Register {
    /// Local APIC ID (0x020).
    Id,
    /// Local APIC version (0x030).
    Version,
    /// Task priority, TPR (0x080).
    Tpr,
    /// Arbitration priority, APR (0x090); xAPIC only.
    Apr,
    /// Processor priority, PPR (0x0A0).
    Ppr,
    /// EOI (0x0B0).
    Eoi,
    /// Remote read, RRD (0x0C0): named in the offset map, absent on every processor
    /// since the Pentium 4 (SDM Table 11-1, note 1) and in KVM; it exists in no mode.
    Rrd,
    /// Logical destination, LDR (0x0D0).
    Ldr,
    /// Destination format, DFR (0x0E0); xAPIC only.
    Dfr,
    /// Spurious interrupt vector, SVR (0x0F0).
    Svr,
    /// In-service register, bits `32n..32n+31` (0x100 + 0x10 n).
    Isr(u8),
    /// Trigger mode register (0x180 + 0x10 n).
    Tmr(u8),
    /// Interrupt request register (0x200 + 0x10 n).
    Irr(u8),
    /// Error status, ESR (0x280).
    Esr,
    /// LVT corrected machine-check interrupt, CMCI (0x2F0).
    LvtCmci,
    /// Interrupt command, low half (0x300); in x2APIC mode the whole 64-bit ICR.
    Icr,
    /// Interrupt command, high half (0x310); xAPIC only.
    Icr2,
    /// LVT timer (0x320).
    LvtTimer,
    /// LVT thermal sensor (0x330).
    LvtThermal,
    /// LVT performance monitoring counters (0x340).
    LvtPerfmon,
    /// LVT LINT0 (0x350).
    LvtLint0,
    /// LVT LINT1 (0x360).
    LvtLint1,
    /// LVT error (0x370).
    LvtError,
    /// Timer initial count (0x380).
    TimerInitialCount,
    /// Timer current count (0x390).
    TimerCurrentCount,
    /// Timer divide configuration (0x3E0).
    TimerDivide,
    /// SELF IPI (0x3F0); x2APIC only.
    SelfIpi,
}

/// How a register may be accessed in a given mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only: a write raises #GP in x2APIC mode and is ignored in xAPIC mode.
    ReadOnly,
    /// Write only: a read raises #GP in x2APIC mode.
    WriteOnly,
    /// Read and write.
    ReadWrite,
}

/// Model parameters that change the register file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    /// LVT entries: 6 without CMCI, 7 with it (version register bits 23:16 hold this
    /// minus one).
    pub lvt_entries: u8,
    /// EOI-broadcast suppression (version bit 24, SVR bit 12).
    pub directed_eoi: bool,
    /// TSC-deadline timer mode (CPUID.1:ECX\[24\]; LVT timer bit 18).
    pub tsc_deadline: bool,
}

impl Features {
    /// The bits a WRMSR to `msr` stores (see [`Register::stored_bits`]); 0 for an MSR
    /// that names no register.
    pub fn stored_mask(self, msr: u32) -> u64 {
        Register::from_msr(msr).map_or(0, |r| u64::from(r.stored_bits(self)))
    }
}

impl Register {
    /// The xAPIC MMIO offset.
    pub const fn offset(self) -> u16 {
        match self {
            Self::Id => 0x20,
            Self::Version => 0x30,
            Self::Tpr => 0x80,
            Self::Apr => 0x90,
            Self::Ppr => 0xA0,
            Self::Eoi => 0xB0,
            Self::Rrd => 0xC0,
            Self::Ldr => 0xD0,
            Self::Dfr => 0xE0,
            Self::Svr => 0xF0,
            Self::Isr(n) => 0x100 + 0x10 * (n as u16 & 7),
            Self::Tmr(n) => 0x180 + 0x10 * (n as u16 & 7),
            Self::Irr(n) => 0x200 + 0x10 * (n as u16 & 7),
            Self::Esr => 0x280,
            Self::LvtCmci => 0x2F0,
            Self::Icr => 0x300,
            Self::Icr2 => 0x310,
            Self::LvtTimer => 0x320,
            Self::LvtThermal => 0x330,
            Self::LvtPerfmon => 0x340,
            Self::LvtLint0 => 0x350,
            Self::LvtLint1 => 0x360,
            Self::LvtError => 0x370,
            Self::TimerInitialCount => 0x380,
            Self::TimerCurrentCount => 0x390,
            Self::TimerDivide => 0x3E0,
            Self::SelfIpi => 0x3F0,
        }
    }

    /// The register's slot in the 1 KiB page (offset / 16).
    pub const fn slot(self) -> usize {
        (self.offset() >> 4) as usize
    }

    /// The register at an xAPIC MMIO offset (16-byte aligned, below 0x400).
    pub const fn from_offset(offset: u16) -> Option<Self> {
        if offset & 0xF != 0 {
            return None;
        }
        Some(match offset {
            0x20 => Self::Id,
            0x30 => Self::Version,
            0x80 => Self::Tpr,
            0x90 => Self::Apr,
            0xA0 => Self::Ppr,
            0xB0 => Self::Eoi,
            0xC0 => Self::Rrd,
            0xD0 => Self::Ldr,
            0xE0 => Self::Dfr,
            0xF0 => Self::Svr,
            0x100..=0x170 => Self::Isr(((offset - 0x100) >> 4) as u8),
            0x180..=0x1F0 => Self::Tmr(((offset - 0x180) >> 4) as u8),
            0x200..=0x270 => Self::Irr(((offset - 0x200) >> 4) as u8),
            0x280 => Self::Esr,
            0x2F0 => Self::LvtCmci,
            0x300 => Self::Icr,
            0x310 => Self::Icr2,
            0x320 => Self::LvtTimer,
            0x330 => Self::LvtThermal,
            0x340 => Self::LvtPerfmon,
            0x350 => Self::LvtLint0,
            0x360 => Self::LvtLint1,
            0x370 => Self::LvtError,
            0x380 => Self::TimerInitialCount,
            0x390 => Self::TimerCurrentCount,
            0x3E0 => Self::TimerDivide,
            0x3F0 => Self::SelfIpi,
            _ => return None,
        })
    }

    /// The x2APIC MSR number, `0x800 + offset / 16`, whether or not the register exists
    /// in x2APIC mode.
    pub const fn msr(self) -> u32 {
        X2APIC_MSR_BASE + (self.offset() as u32 >> 4)
    }

    /// The register an MSR in 0x800..=0x83F names by the offset rule (existence in
    /// x2APIC mode is [`Register::x2apic_access`]).
    pub const fn from_msr(msr: u32) -> Option<Self> {
        if msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_BASE + 0x3F {
            return None;
        }
        Self::from_offset(((msr - X2APIC_MSR_BASE) << 4) as u16)
    }

    /// Whether the register exists for these features at all (CMCI needs 7 LVT entries).
    const fn present(self, f: Features) -> bool {
        !matches!(self, Self::LvtCmci) || f.lvt_entries > 6
    }

    /// Access in xAPIC mode (SDM Table 11-1), or `None` if the offset is not a register.
    pub const fn xapic_access(self, f: Features) -> Option<Access> {
        if !self.present(f) {
            return None;
        }
        Some(match self {
            Self::Rrd => return None,
            Self::Version
            | Self::Apr
            | Self::Ppr
            | Self::Isr(_)
            | Self::Tmr(_)
            | Self::Irr(_)
            | Self::TimerCurrentCount => Access::ReadOnly,
            Self::Eoi => Access::WriteOnly,
            Self::SelfIpi => return None,
            _ => Access::ReadWrite,
        })
    }

    /// Access in x2APIC mode (SDM Table 11-6), or `None` where the MSR raises #GP for
    /// every access: APR, RRD, DFR and ICR2 do not exist in x2APIC mode, the ID and the
    /// LDR become read-only.
    pub const fn x2apic_access(self, f: Features) -> Option<Access> {
        if !self.present(f) {
            return None;
        }
        Some(match self {
            Self::Apr | Self::Rrd | Self::Dfr | Self::Icr2 => return None,
            Self::Id
            | Self::Version
            | Self::Ppr
            | Self::Ldr
            | Self::Isr(_)
            | Self::Tmr(_)
            | Self::Irr(_)
            | Self::TimerCurrentCount => Access::ReadOnly,
            Self::Eoi | Self::SelfIpi => Access::WriteOnly,
            _ => Access::ReadWrite,
        })
    }

    /// The bits of the low 32 a write may set without #GP in x2APIC mode (for the ICR,
    /// the low word; its high word is the destination and all valid). Read-only bits
    /// inside a writable register (delivery status, remote IRR) are accepted and
    /// ignored, as in Xen's `guest_wrmsr_x2apic`.
    pub const fn x2apic_valid_bits(self, f: Features) -> u32 {
        let lvt = VECTOR | LVT_DELIVERY_STATUS | LVT_MASKED;
        match self {
            Self::Tpr => 0xFF,
            Self::Svr => {
                0x3FF
                    | if f.directed_eoi {
                        SVR_SUPPRESS_EOI_BROADCAST
                    } else {
                        0
                    }
            }
            Self::LvtTimer => {
                lvt | TIMER_MODE_PERIODIC
                    | if f.tsc_deadline {
                        TIMER_MODE_TSC_DEADLINE
                    } else {
                        0
                    }
            }
            Self::LvtThermal | Self::LvtPerfmon | Self::LvtCmci => lvt | DELIVERY_MODE,
            // Polarity (13), remote IRR (14), trigger mode (15).
            Self::LvtLint0 | Self::LvtLint1 => lvt | DELIVERY_MODE | 0xE000,
            Self::LvtError => lvt,
            Self::TimerInitialCount => u32::MAX,
            // Divide value bits 0, 1 and 3 (SDM Figure 11-10).
            Self::TimerDivide => 0xB,
            Self::Icr => ICR_X2APIC_VALID_LOW,
            Self::SelfIpi => VECTOR,
            // EOI and ESR accept only zero; read-only registers accept nothing.
            _ => 0,
        }
    }

    /// The bits a write stores: the valid bits, minus the read-only delivery-status and
    /// remote-IRR bits of the LVT registers and the ICR.
    pub const fn stored_bits(self, f: Features) -> u32 {
        let valid = self.x2apic_valid_bits(f);
        if self.is_lvt() {
            valid & !(LVT_DELIVERY_STATUS | LVT_REMOTE_IRR)
        } else if matches!(self, Self::Icr) {
            // Bit 14 of the ICR is the level, not a remote IRR.
            valid & !LVT_DELIVERY_STATUS
        } else {
            valid
        }
    }

    /// Whether this is one of the LVT registers.
    pub const fn is_lvt(self) -> bool {
        matches!(
            self,
            Self::LvtCmci
                | Self::LvtTimer
                | Self::LvtThermal
                | Self::LvtPerfmon
                | Self::LvtLint0
                | Self::LvtLint1
                | Self::LvtError
        )
    }

    /// Every register, in offset order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..SLOTS as u16).filter_map(|s| Self::from_offset(s << 4))
    }
}

/// The x2APIC logical ID the hardware derives from an x2APIC ID: cluster `id >> 4` in
/// bits 31:16, a one-hot member bit `1 << (id & 0xF)` in bits 15:0 (SDM vol. 3A
/// §11.12.10.2; Linux `kvm_apic_calc_x2apic_ldr`, Xen `x2apic_ldr_from_id`).
pub const fn x2apic_ldr(id: u32) -> u32 {
    ((id >> 4) << 16) | (1 << (id & 0xF))
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Features = Features {
        lvt_entries: 6,
        directed_eoi: false,
        tsc_deadline: false,
    };

    #[test]
    fn msr_numbers_follow_the_offset_rule() {
        assert_eq!(Register::Id.msr(), 0x802);
        assert_eq!(Register::Tpr.msr(), 0x808);
        assert_eq!(Register::Eoi.msr(), 0x80B);
        assert_eq!(Register::Ldr.msr(), 0x80D);
        assert_eq!(Register::Isr(7).msr(), 0x817);
        assert_eq!(Register::Irr(0).msr(), 0x820);
        assert_eq!(Register::Icr.msr(), 0x830);
        assert_eq!(Register::TimerDivide.msr(), 0x83E);
        assert_eq!(Register::SelfIpi.msr(), 0x83F);
        for r in Register::all() {
            assert_eq!(Register::from_msr(r.msr()), Some(r));
            assert_eq!(Register::from_offset(r.offset()), Some(r));
        }
        assert_eq!(Register::all().count(), 48);
        assert_eq!(Register::from_msr(0x801), None);
        assert_eq!(Register::from_msr(0x840), None);
        assert_eq!(Register::from_offset(0x24), None);
    }

    #[test]
    fn existence_per_mode() {
        let x2: [Option<Access>; 4] = [
            Register::Dfr.x2apic_access(F),
            Register::Icr2.x2apic_access(F),
            Register::Apr.x2apic_access(F),
            Register::LvtCmci.x2apic_access(F),
        ];
        assert_eq!(x2, [None; 4]);
        assert_eq!(Register::SelfIpi.xapic_access(F), None);
        assert_eq!(Register::Rrd.xapic_access(F), None);
        assert_eq!(Register::Ldr.x2apic_access(F), Some(Access::ReadOnly));
        assert_eq!(Register::Ldr.xapic_access(F), Some(Access::ReadWrite));
        let cmci = Features {
            lvt_entries: 7,
            ..F
        };
        assert_eq!(
            Register::LvtCmci.x2apic_access(cmci),
            Some(Access::ReadWrite)
        );
    }

    #[test]
    fn ldr_vectors_from_the_reference_note() {
        let ids = [0, 1, 15, 16, 254, 255, 256, 0x123, 4095];
        let ldrs = [
            0x1, 0x2, 0x8000, 0x10001, 0xF4000, 0xF8000, 0x100001, 0x120008, 0xFF8000,
        ];
        for (id, ldr) in ids.into_iter().zip(ldrs) {
            assert_eq!(x2apic_ldr(id), ldr, "id {id}");
        }
    }
}
