// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Where Linux KVM's emulation of the RTIT MSRs differs from the Intel SDM (which this
//! crate follows), one test per difference.
//!
//! `Kvm` below restates KVM's checks as read in `arch/x86/kvm/vmx/vmx.c`
//! (`update_intel_pt_cfg()`, `vmx_rtit_ctl_check()`, `vmx_set_msr()` cases
//! `MSR_IA32_RTIT_*`, `pt_can_write_msr()`, `MSR_IA32_RTIT_STATUS_MASK`), torvalds/linux
//! plus the RTIT_CTL fix "KVM: VMX: Allow toggling bits in MSR_IA32_RTIT_CTL when enable
//! bit is cleared" (Adrian Hunter, applied by Sean Christopherson in 2024). Facts only:
//! each test writes the same value to both and shows the outcomes differ, with the SDM
//! rule that decides ours.

mod common;

use common::{ALL_CAPS, policy};
use pt_virt::cpuid::{Caps, Features, OutputSchemes};
use pt_virt::msr::*;

/// KVM's per-vCPU view: the guest's CPUID caps and the last accepted values.
struct Kvm {
    caps: Caps,
    ctl: u64,
    status: u64,
    mask: u64,
    cr3: u64,
    /// Before the 2024 fix: any change while TraceEn=1 #GPs, even one clearing TraceEn.
    pre_2024: bool,
}

impl Kvm {
    fn new(caps: Caps) -> Self {
        Self {
            caps,
            ctl: 0,
            status: 0,
            mask: 0,
            cr3: 0,
            pre_2024: false,
        }
    }

    /// `update_intel_pt_cfg()`: the bits KVM lets a guest set. EventEn, DisTNT and
    /// InjectPsbPmiOnEnable are never cleared from `ctl_bitmask`.
    fn ctl_allowed(&self) -> u64 {
        let f = self.caps.features;
        let mut ok = RtitCtl::ALWAYS.bits();
        if f.contains(Features::CR3_FILTER) {
            ok |= RtitCtl::CR3_FILTER.bits();
        }
        if f.contains(Features::PSB_CYC) {
            ok |= (RtitCtl::CYC_EN | RtitCtl::CYC_THRESH | RtitCtl::PSB_FREQ).bits();
        }
        if f.contains(Features::MTC) {
            ok |= (RtitCtl::MTC_EN | RtitCtl::MTC_FREQ).bits();
        }
        if f.contains(Features::PTWRITE) {
            ok |= (RtitCtl::FUP_ON_PTW | RtitCtl::PTW_EN).bits();
        }
        if f.contains(Features::POWER_EVENT) {
            ok |= RtitCtl::PWR_EVT_EN.bits();
        }
        if self.caps.output.contains(OutputSchemes::TOPA) {
            ok |= RtitCtl::TOPA.bits();
        }
        if self.caps.output.contains(OutputSchemes::TRANSPORT) {
            ok |= RtitCtl::FABRIC_EN.bits();
        }
        for n in 0..u32::from(self.caps.address_ranges) {
            ok |= 0xf << (32 + 4 * n);
        }
        ok
    }

    /// `vmx_rtit_ctl_check()` (encoding and ADDRn_CFG checks omitted: they agree).
    fn write_ctl(&mut self, data: u64) -> bool {
        if data & !self.ctl_allowed() != 0 {
            return false;
        }
        let on = self.ctl & RtitCtl::TRACE_EN.bits() != 0;
        let blocked = if self.pre_2024 {
            on && (self.ctl ^ data) & !RtitCtl::TRACE_EN.bits() != 0
        } else {
            on && data & RtitCtl::TRACE_EN.bits() != 0 && data != self.ctl
        };
        if blocked {
            return false;
        }
        if data & RtitCtl::TRACE_EN.bits() != 0
            && data & ((RtitCtl::TOPA | RtitCtl::FABRIC_EN).bits()) == 0
            && !self.caps.output.contains(OutputSchemes::SINGLE_RANGE)
        {
            return false;
        }
        self.ctl = data;
        true
    }

    /// `MSR_IA32_RTIT_STATUS`: `pt_can_write_msr()` then `MSR_IA32_RTIT_STATUS_MASK`, which
    /// permits FilterEn, ContextEn, TriggerEn, Error, Stopped and PacketByteCnt whatever
    /// the CPUID, and stores the value as written.
    fn write_status(&mut self, data: u64) -> bool {
        let allowed = (RtitStatus::PROCESSOR_OWNED
            | RtitStatus::ERROR
            | RtitStatus::STOPPED
            | RtitStatus::PACKET_BYTE_CNT)
            .bits();
        if self.ctl & RtitCtl::TRACE_EN.bits() != 0 || data & !allowed != 0 {
            return false;
        }
        self.status = data;
        true
    }

    /// `MSR_IA32_RTIT_CR3_MATCH`: only the capability is checked.
    fn write_cr3(&mut self, data: u64) -> bool {
        if self.ctl & RtitCtl::TRACE_EN.bits() != 0
            || !self.caps.features.contains(Features::CR3_FILTER)
        {
            return false;
        }
        self.cr3 = data;
        true
    }

    /// `MSR_IA32_RTIT_OUTPUT_MASK`: stored as written, no content check.
    fn write_mask(&mut self, data: u64) -> bool {
        if self.ctl & RtitCtl::TRACE_EN.bits() != 0 {
            return false;
        }
        self.mask = data;
        true
    }
}

fn guest(v: &mut PtVcpu, msr: u32, value: u64) -> bool {
    v.write(msr, value, Origin::Guest).is_ok()
}

/// SDM (CR3_MATCH): bits 4:0 are reserved. KVM accepts them.
#[test]
fn cr3_match_low_bits() {
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    let mut kvm = Kvm::new(ALL_CAPS);
    assert!(kvm.write_cr3(0x1234_5007));
    assert_eq!(kvm.cr3, 0x1234_5007);
    assert_eq!(
        ours.write(IA32_RTIT_CR3_MATCH, 0x1234_5007, Origin::Guest),
        Err(Gp {
            msr: IA32_RTIT_CR3_MATCH,
            reason: GpReason::ReservedBits(7)
        })
    );
}

/// SDM (STATUS): PendPSB and PendTopaPMI are writable when CPUID.14H.0:EBX[6] is set.
/// KVM's mask never allows them.
#[test]
fn status_pend_bits() {
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    let mut kvm = Kvm::new(ALL_CAPS);
    for bit in [
        RtitStatus::PEND_PSB.bits(),
        RtitStatus::PEND_TOPA_PMI.bits(),
    ] {
        assert!(!kvm.write_status(bit));
        assert!(guest(&mut ours, IA32_RTIT_STATUS, bit));
    }
}

/// SDM (STATUS): a non-zero PacketByteCnt needs CPUID.14H.0:EBX[1]. KVM accepts it
/// whatever the CPUID.
#[test]
fn status_packet_byte_cnt_without_psb_cyc() {
    let caps = common::without_features(Features::PSB_CYC);
    let mut ours = PtVcpu::new(policy(caps));
    let mut kvm = Kvm::new(caps);
    assert!(kvm.write_status(0x100 << 32));
    assert!(!guest(&mut ours, IA32_RTIT_STATUS, 0x100 << 32));
}

/// SDM (STATUS): FilterEn, ContextEn and TriggerEn are set by the processor; software
/// writes are ignored. KVM stores what the guest wrote, so it reads back.
#[test]
fn status_processor_bits_read_back() {
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    let mut kvm = Kvm::new(ALL_CAPS);
    assert!(kvm.write_status(RtitStatus::TRIGGER_EN.bits()));
    assert_eq!(kvm.status, RtitStatus::TRIGGER_EN.bits());
    assert!(guest(
        &mut ours,
        IA32_RTIT_STATUS,
        RtitStatus::TRIGGER_EN.bits()
    ));
    assert_eq!(ours.read(IA32_RTIT_STATUS), Ok(0));
}

/// SDM (CTL): EventEn (EBX[7]), DisTNT (EBX[8]) and InjectPsbPmiOnEnable (EBX[6]) are
/// writable when enumerated. KVM's `ctl_bitmask` never allows them.
#[test]
fn ctl_newer_feature_bits() {
    for bit in [
        RtitCtl::EVENT_EN.bits(),
        RtitCtl::DIS_TNT.bits(),
        RtitCtl::INJECT_PSB_PMI.bits(),
    ] {
        let mut ours = PtVcpu::new(policy(ALL_CAPS));
        let mut kvm = Kvm::new(ALL_CAPS);
        assert!(!kvm.write_ctl(bit), "{bit:#x}");
        assert!(guest(&mut ours, IA32_RTIT_CTL, bit), "{bit:#x}");
    }
}

/// SDM (CTL): changing bits while TraceEn=1 #GPs "unless the same write also clears
/// TraceEn". KVM before the 2024 fix (see the module doc) #GPed on any change in
/// `vmx_set_msr()`'s `MSR_IA32_RTIT_CTL` case; KVM after it agrees with the SDM (and
/// with us).
#[test]
fn ctl_change_that_clears_trace_en() {
    let on = (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits();
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    assert!(guest(&mut ours, IA32_RTIT_CTL, on));
    let mut old = Kvm {
        pre_2024: true,
        ..Kvm::new(ALL_CAPS)
    };
    let mut new = Kvm::new(ALL_CAPS);
    assert!(old.write_ctl(on) && new.write_ctl(on));
    assert!(
        !old.write_ctl(0),
        "pre-2024 KVM refused writing 0 to stop tracing"
    );
    assert!(new.write_ctl(0));
    assert!(guest(&mut ours, IA32_RTIT_CTL, 0));
}

/// SDM (OUTPUT_MASK_PTRS): LowerMask, bits 6:0, is forced to 1. KVM stores the value as
/// written, so a guest reads back zeros there.
#[test]
fn output_mask_lower_bits() {
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    let mut kvm = Kvm::new(ALL_CAPS);
    assert!(kvm.write_mask(0xff00));
    assert_eq!(kvm.mask, 0xff00);
    assert!(guest(&mut ours, IA32_RTIT_OUTPUT_MASK_PTRS, 0xff00));
    assert_eq!(ours.read(IA32_RTIT_OUTPUT_MASK_PTRS), Ok(0xff7f));
}

/// Not an SDM difference but a policy one: TraceEn=1 with a ToPA base whose bits 11:7
/// are set is accepted by hardware (and KVM), which then reports an operational error in
/// STATUS.Error; this crate refuses the enabling write.
#[test]
fn enable_with_operational_error_configuration() {
    let mut ours = PtVcpu::new(policy(ALL_CAPS));
    let mut kvm = Kvm::new(ALL_CAPS);
    assert!(guest(&mut ours, IA32_RTIT_OUTPUT_BASE, 0x10_0080));
    assert!(kvm.write_ctl((RtitCtl::TRACE_EN | RtitCtl::TOPA).bits()));
    assert_eq!(
        ours.write(
            IA32_RTIT_CTL,
            (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(),
            Origin::Guest
        ),
        Err(Gp {
            msr: IA32_RTIT_CTL,
            reason: GpReason::InvalidOutput(OutputError::TopaBaseMisaligned(0x10_0080))
        })
    );
}

/// The checks that agree: the same random CTL values get the same answer from both
/// when they avoid the bits and rules listed above.
#[test]
fn agreement_on_common_ctl_bits() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let caps = Caps {
        address_ranges: 2,
        ..ALL_CAPS
    };
    let known = (RtitCtl::TRACE_EN
        | RtitCtl::OS
        | RtitCtl::USER
        | RtitCtl::TSC_EN
        | RtitCtl::BRANCH_EN
        | RtitCtl::TOPA
        | RtitCtl::CR3_FILTER
        | RtitCtl::MTC_EN
        | RtitCtl::CYC_EN)
        .bits()
        | 0xffu64 << 32
        | 1 << 48
        | 1 << 18;
    for _ in 0..4096 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // TraceEn=1 only with ToPA, so that our output rule does not differ.
        let mut value = rng & known;
        if value & RtitCtl::TRACE_EN.bits() != 0 {
            value |= RtitCtl::TOPA.bits();
        }
        // Keep ADDRn_CFG values legal for both (0..=2 or reserved for n >= 2).
        let mut ours = PtVcpu::new(policy(caps));
        let mut kvm = Kvm::new(caps);
        let addr_ok = (0..2).all(|n| (value >> (32 + 4 * n)) & 0xf <= 2);
        let kvm_ok = kvm.write_ctl(value) && addr_ok;
        assert_eq!(guest(&mut ours, IA32_RTIT_CTL, value), kvm_ok, "{value:#x}");
    }
}
