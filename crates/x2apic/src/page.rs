// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Conversion to and from the 1 KiB register page of `KVM_GET_LAPIC`/`KVM_SET_LAPIC`
//! (`struct kvm_lapic_state { char regs[KVM_APIC_REG_SIZE]; }`, Linux
//! `arch/x86/include/uapi/asm/kvm.h`).
//!
//! The page is the xAPIC MMIO layout: each register a little-endian `u32` at its offset.
//! In x2APIC mode KVM keeps the userspace format split: the ICR's low word at 0x300 and
//! its high word (the 32-bit destination) at 0x310 (`kvm_apic_state_fixup`). The ID at
//! 0x20 depends on `KVM_CAP_X2APIC_API`:
//!
//! - [`IdFormat::Full`] (`KVM_X2APIC_API_USE_32BIT_IDS` set): the 32-bit x2APIC ID. On
//!   set, a different ID is refused (KVM returns EINVAL).
//! - [`IdFormat::Shifted`] (flag clear): `x2apic_id << 24`, so IDs past 255 lose their
//!   high bits; on set the ID is ignored and the vCPU's own is used.
//!
//! On set KVM also recomputes the LDR from the ID in x2APIC mode, the version register
//! and the PPR; the conversion here does the same. `IA32_APIC_BASE` travels separately
//! (`KVM_GET_MSRS` or `KVM_GET_SREGS`).

use crate::base::{ApicBase, Mode};
use crate::error::Error;
use crate::lapic::{Config, Lapic};
use crate::regs::{PAGE_LEN, Register, SLOTS, x2apic_ldr};

/// How the ID register travels in the page in x2APIC mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// `x2apic_id << 24` (without `KVM_X2APIC_API_USE_32BIT_IDS`).
    Shifted,
    /// The full 32-bit x2APIC ID (with `KVM_X2APIC_API_USE_32BIT_IDS`).
    Full,
}

impl Lapic {
    /// The `KVM_GET_LAPIC` page for this APIC.
    pub fn to_kvm_page(&self, format: IdFormat) -> [u8; PAGE_LEN] {
        let mut page = [0u8; PAGE_LEN];
        for (chunk, &value) in page.chunks_exact_mut(16).zip(self.regs()) {
            chunk[..4].copy_from_slice(&value.to_le_bytes());
        }
        if self.mode() == Mode::X2apic && format == IdFormat::Shifted {
            let id = self.x2apic_id() << 24;
            page[0x20..0x24].copy_from_slice(&id.to_le_bytes());
        }
        let ppr = self.ppr();
        page[0xA0..0xA4].copy_from_slice(&ppr.to_le_bytes());
        page
    }

    /// The APIC a `KVM_SET_LAPIC` page (of exactly 1024 bytes) gives a vCPU whose
    /// x2APIC ID is `x2apic_id` and whose `IA32_APIC_BASE` is `base`.
    pub fn from_kvm_page(
        config: Config,
        x2apic_id: u32,
        base: u64,
        page: &[u8],
        format: IdFormat,
    ) -> Result<Self, Error> {
        let base = ApicBase::new_checked(base, config.rules()).map_err(Error::BadBase)?;
        if page.len() != PAGE_LEN {
            return Err(Error::BadLength {
                len: page.len(),
                expected: PAGE_LEN,
            });
        }
        let mut regs = [0u32; SLOTS];
        for (value, chunk) in regs.iter_mut().zip(page.chunks_exact(16)) {
            *value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        if base.mode() == Mode::X2apic {
            let found = regs[Register::Id.slot()];
            if format == IdFormat::Full && found != x2apic_id {
                return Err(Error::IdMismatch {
                    found,
                    expected: x2apic_id,
                });
            }
            regs[Register::Id.slot()] = x2apic_id;
            regs[Register::Ldr.slot()] = x2apic_ldr(x2apic_id);
        }
        regs[Register::Version.slot()] = config.version_register();
        let mut lapic = Lapic::from_parts(config, x2apic_id, base, regs);
        let ppr = lapic.ppr();
        lapic.set_register(Register::Ppr, ppr);
        Ok(lapic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{EN, EXTD, Initiator};

    fn cfg() -> Config {
        Config::kvm(46, false).unwrap()
    }

    fn word(page: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(page[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn both_id_formats() {
        let mut l = Lapic::new(cfg(), 0x1_0203, false);
        let x = l.to_kvm_page(IdFormat::Full);
        assert_eq!(word(&x, 0x20), 0x0300_0000, "xAPIC mode: 8-bit ID in 31:24");
        l.set_base(0xFEE0_0000 | EN | EXTD, Initiator::Guest)
            .unwrap();
        l.write_msr(0x830, 0x0001_0203_0000_00F0).unwrap();
        let full = l.to_kvm_page(IdFormat::Full);
        let shifted = l.to_kvm_page(IdFormat::Shifted);
        assert_eq!(word(&full, 0x20), 0x1_0203);
        assert_eq!(word(&shifted, 0x20), 0x0300_0000);
        assert_eq!(word(&full, 0xD0), x2apic_ldr(0x1_0203));
        assert_eq!(word(&full, 0x300), 0xF0);
        assert_eq!(word(&full, 0x310), 0x1_0203);
        let base = l.base().raw();
        for (page, fmt) in [(full, IdFormat::Full), (shifted, IdFormat::Shifted)] {
            assert_eq!(
                Lapic::from_kvm_page(cfg(), 0x1_0203, base, &page, fmt),
                Ok(l.clone())
            );
        }
        assert_eq!(
            Lapic::from_kvm_page(cfg(), 0x1_0204, base, &full, IdFormat::Full),
            Err(Error::IdMismatch {
                found: 0x1_0203,
                expected: 0x1_0204
            })
        );
        assert_eq!(
            Lapic::from_kvm_page(cfg(), 0, base, &full[..100], IdFormat::Full),
            Err(Error::BadLength {
                len: 100,
                expected: 1024
            })
        );
        assert!(matches!(
            Lapic::from_kvm_page(cfg(), 0, 0xFEE0_0000 | EXTD, &full, IdFormat::Full),
            Err(Error::BadBase(_))
        ));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::base::{EN, EXTD, Initiator};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// parse(emit(x)) == x for APICs reached by arbitrary guest MSR writes, in both
        /// ID formats (the shifted one only where the ID fits in 8 bits or the APIC is
        /// not in x2APIC mode, since it drops the high bits by design).
        #[test]
        fn page_round_trip(
            id in any::<u32>(),
            x2 in any::<bool>(),
            writes in proptest::collection::vec((0x800u32..0x840, any::<u64>()), 0..24),
        ) {
            let cfg = Config::kvm(46, true).unwrap();
            let mut l = Lapic::new(cfg, id, false);
            if x2 {
                l.set_base(0xFEE0_0000 | EN | EXTD, Initiator::Guest).unwrap();
            }
            for (msr, value) in writes {
                let _ = l.write_msr(msr, value & 0xFFFF_FFFF);
            }
            let base = l.base().raw();
            let full = l.to_kvm_page(IdFormat::Full);
            prop_assert_eq!(Lapic::from_kvm_page(cfg, id, base, &full, IdFormat::Full), Ok(l.clone()));
            let shifted = l.to_kvm_page(IdFormat::Shifted);
            prop_assert_eq!(Lapic::from_kvm_page(cfg, id, base, &shifted, IdFormat::Shifted), Ok(l));
        }
    }
}
