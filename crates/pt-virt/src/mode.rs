// SPDX-License-Identifier: Apache-2.0 OR MIT
//! How the hypervisor runs Intel PT, and what must be switched on VM entry and exit.
//!
//! - [`PtMode::System`]: the host traces everything, guests included; a guest sees no PT
//!   (CPUID.(7,0):EBX\[25\] = 0, every `IA32_RTIT_*` access #GPs). Nothing is switched.
//!   This is Linux KVM's default `pt_mode=0` and the "SYSTEM" mode of the Xen 2018
//!   design session.
//! - [`PtMode::HostGuest`]: the guest owns PT while it runs, with its own output buffers
//!   addressed by guest-physical address (walked through EPT). The VMCS loads the guest's
//!   `IA32_RTIT_CTL` on entry and clears it on exit; the other RTIT MSRs are switched by
//!   software around entry and exit when the guest traces (KVM `pt_mode=1`,
//!   `pt_guest_enter()` / `pt_guest_exit()`).
//!
//! This module is a description the VMM acts on ([`vmcs_controls`], [`entry_switch`],
//! [`exit_switch`]); it performs no hardware access. Control bit positions: Intel SDM
//! vol. 3C, "VM-Entry Controls", "VM-Exit Controls", "Secondary Processor-Based
//! VM-Execution Controls", confirmed against Linux `arch/x86/include/asm/vmx.h` and
//! `vmxfeatures.h`.

use crate::cpuid::{Caps, VmxPtSupport};
use crate::msr::{self, RtitCtl, RtitState};

/// IA32_VMX_MISC (MSR 0x485) bit 14: Intel PT can be used in VMX operation (SDM vol. 3D,
/// "Miscellaneous Data"; Linux `MSR_IA32_VMX_MISC_INTEL_PT`).
pub const VMX_MISC_INTEL_PT: u64 = 1 << 14;
/// Secondary processor-based control bit 19: conceal VMX from PT (no PIP.NR, VMCS or
/// VM-entry/exit packets; Linux `SECONDARY_EXEC_PT_CONCEAL_VMX`, `VMX_FEATURE_PT_CONCEAL_VMX`
/// = 2*32+19).
pub const SECONDARY_PT_CONCEAL_VMX: u32 = 1 << 19;
/// Secondary processor-based control bit 24: Intel PT uses guest-physical addresses
/// (output and ToPA addresses go through EPT; Linux `SECONDARY_EXEC_PT_USE_GPA`,
/// `VMX_FEATURE_PT_USE_GPA` = 2*32+24).
pub const SECONDARY_PT_USE_GPA: u32 = 1 << 24;
/// VM-entry control bit 17: conceal VM entries from PT (Linux `VM_ENTRY_PT_CONCEAL_PIP`,
/// 0x00020000).
pub const ENTRY_PT_CONCEAL: u32 = 1 << 17;
/// VM-entry control bit 18: load `IA32_RTIT_CTL` from the guest-state area (Linux
/// `VM_ENTRY_LOAD_IA32_RTIT_CTL`, 0x00040000).
pub const ENTRY_LOAD_RTIT_CTL: u32 = 1 << 18;
/// VM-exit control bit 24: conceal VM exits from PT (Linux `VM_EXIT_PT_CONCEAL_PIP`,
/// 0x01000000).
pub const EXIT_PT_CONCEAL: u32 = 1 << 24;
/// VM-exit control bit 25: clear `IA32_RTIT_CTL` on exit (Linux
/// `VM_EXIT_CLEAR_IA32_RTIT_CTL`, 0x02000000).
pub const EXIT_CLEAR_RTIT_CTL: u32 = 1 << 25;
/// VMCS field encoding of the guest `IA32_RTIT_CTL` (Linux `GUEST_IA32_RTIT_CTL` =
/// 0x00002814).
pub const VMCS_GUEST_IA32_RTIT_CTL: u32 = 0x2814;

/// How the hypervisor uses Intel PT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PtMode {
    /// The host traces, guests see no PT.
    System,
    /// Guests own PT while they run, through their own policy.
    HostGuest,
}

/// Host/guest mode was asked for on a host that cannot do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "host/guest PT mode needs VMX_MISC[14], PT_USE_GPA and load/clear RTIT_CTL: host has {0:?}"
)]
pub struct ModeError(pub VmxPtSupport);

impl PtMode {
    /// Checks that the host can run this mode.
    pub fn check(self, vmx: &VmxPtSupport) -> Result<Self, ModeError> {
        match self {
            PtMode::System => Ok(self),
            PtMode::HostGuest if vmx.supports_host_guest() => Ok(self),
            PtMode::HostGuest => Err(ModeError(*vmx)),
        }
    }
}

/// The VMCS control bits PT needs in a mode: OR `set` into, and clear `clear` from, each
/// control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmcsControls {
    /// Secondary processor-based controls to set.
    pub secondary_set: u32,
    /// Secondary processor-based controls to clear.
    pub secondary_clear: u32,
    /// VM-entry controls to set.
    pub entry_set: u32,
    /// VM-entry controls to clear.
    pub entry_clear: u32,
    /// VM-exit controls to set.
    pub exit_set: u32,
    /// VM-exit controls to clear.
    pub exit_clear: u32,
}

/// The VMCS controls for a mode. System mode clears every PT control so the host trace
/// shows the guest (PIP with NR=1, VMCS packets); host/guest mode uses guest-physical
/// output addresses, conceals VMX transitions from the guest's trace and lets the VMCS
/// load and clear `IA32_RTIT_CTL` (as KVM does in `vmx_secondary_exec_control()`,
/// `vmx_vmentry_ctrl()`, `vmx_vmexit_ctrl()`).
pub const fn vmcs_controls(mode: PtMode) -> VmcsControls {
    let secondary = SECONDARY_PT_USE_GPA | SECONDARY_PT_CONCEAL_VMX;
    let entry = ENTRY_LOAD_RTIT_CTL | ENTRY_PT_CONCEAL;
    let exit = EXIT_CLEAR_RTIT_CTL | EXIT_PT_CONCEAL;
    match mode {
        PtMode::System => VmcsControls {
            secondary_set: 0,
            secondary_clear: secondary,
            entry_set: 0,
            entry_clear: entry,
            exit_set: 0,
            exit_clear: exit,
        },
        PtMode::HostGuest => VmcsControls {
            secondary_set: secondary,
            secondary_clear: 0,
            entry_set: entry,
            entry_clear: 0,
            exit_set: exit,
            exit_clear: 0,
        },
    }
}

/// What to do before a VM entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySwitch {
    /// Value to write to the VMCS field [`VMCS_GUEST_IA32_RTIT_CTL`] (`None` in system
    /// mode: the field is unused).
    pub guest_rtit_ctl: Option<u64>,
    /// Write 0 to `IA32_RTIT_CTL` first: the host is tracing and the MSRs are about to
    /// be replaced (the SDM forbids writing them while TraceEn=1).
    pub stop_host_trace: bool,
    /// Save the host's values of [`switched_msrs`] and load the guest's.
    pub swap_msrs: bool,
}

/// What to do after a VM exit (the VMCS has already cleared `IA32_RTIT_CTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitSwitch {
    /// Save the guest's values of [`switched_msrs`] (the processor advanced STATUS,
    /// OUTPUT_BASE and OUTPUT_MASK_PTRS) into its [`RtitState`] with host-initiated
    /// writes, then load the host's.
    pub swap_msrs: bool,
    /// Rewrite the host's `IA32_RTIT_CTL` (it was tracing before the entry).
    pub restore_host_ctl: Option<u64>,
}

/// The entry half of the switch for a vCPU whose RTIT state is `guest`, the host's
/// `IA32_RTIT_CTL` being `host_ctl`.
pub fn entry_switch(mode: PtMode, host_ctl: u64, guest: &RtitState) -> EntrySwitch {
    match mode {
        PtMode::System => EntrySwitch {
            guest_rtit_ctl: None,
            stop_host_trace: false,
            swap_msrs: false,
        },
        PtMode::HostGuest => {
            let tracing = guest.is_tracing();
            EntrySwitch {
                guest_rtit_ctl: Some(guest.ctl),
                stop_host_trace: tracing
                    && RtitCtl::from_bits_retain(host_ctl).contains(RtitCtl::TRACE_EN),
                swap_msrs: tracing,
            }
        }
    }
}

/// The exit half of the switch, matching [`entry_switch`] for the same arguments.
pub fn exit_switch(mode: PtMode, host_ctl: u64, guest: &RtitState) -> ExitSwitch {
    match mode {
        PtMode::System => ExitSwitch {
            swap_msrs: false,
            restore_host_ctl: None,
        },
        PtMode::HostGuest => ExitSwitch {
            swap_msrs: guest.is_tracing(),
            restore_host_ctl: (RtitCtl::from_bits_retain(host_ctl).contains(RtitCtl::TRACE_EN))
                .then_some(host_ctl),
        },
    }
}

/// The MSRs software switches in host/guest mode for a policy's capabilities:
/// OUTPUT_BASE, OUTPUT_MASK_PTRS and STATUS always, CR3_MATCH with CR3 filtering, and
/// ADDRn_A/B for each usable range (`IA32_RTIT_CTL` is switched by the VMCS).
pub fn switched_msrs(caps: &Caps) -> impl Iterator<Item = u32> + use<> {
    let cr3 = caps
        .features
        .contains(crate::cpuid::Features::CR3_FILTER)
        .then_some(msr::IA32_RTIT_CR3_MATCH);
    let ranges = u32::from(caps.usable_ranges());
    [
        msr::IA32_RTIT_STATUS,
        msr::IA32_RTIT_OUTPUT_BASE,
        msr::IA32_RTIT_OUTPUT_MASK_PTRS,
    ]
    .into_iter()
    .chain(cr3)
    .chain((0..ranges * 2).map(|i| msr::IA32_RTIT_ADDR0_A + i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpuid::Features;

    #[test]
    fn control_bits_match_linux_values() {
        assert_eq!(ENTRY_PT_CONCEAL, 0x0002_0000);
        assert_eq!(ENTRY_LOAD_RTIT_CTL, 0x0004_0000);
        assert_eq!(EXIT_PT_CONCEAL, 0x0100_0000);
        assert_eq!(EXIT_CLEAR_RTIT_CTL, 0x0200_0000);
        assert_eq!(SECONDARY_PT_CONCEAL_VMX, 0x0008_0000);
        assert_eq!(SECONDARY_PT_USE_GPA, 0x0100_0000);
    }

    #[test]
    fn system_mode_switches_nothing_and_clears_controls() {
        let c = vmcs_controls(PtMode::System);
        assert_eq!(c.entry_set | c.exit_set | c.secondary_set, 0);
        assert_eq!(c.entry_clear, ENTRY_LOAD_RTIT_CTL | ENTRY_PT_CONCEAL);
        let guest = RtitState {
            ctl: (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(),
            ..RtitState::default()
        };
        let e = entry_switch(PtMode::System, RtitCtl::TRACE_EN.bits(), &guest);
        assert_eq!(
            e,
            EntrySwitch {
                guest_rtit_ctl: None,
                stop_host_trace: false,
                swap_msrs: false
            }
        );
        assert_eq!(
            exit_switch(PtMode::System, RtitCtl::TRACE_EN.bits(), &guest).restore_host_ctl,
            None
        );
    }

    #[test]
    fn host_guest_switch_table() {
        // (host tracing, guest tracing) -> (stop host, swap, restore host ctl)
        let host_on = (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits();
        for (host, guest_on, stop, swap, restore) in [
            (0, false, false, false, None),
            (0, true, false, true, None),
            (host_on, false, false, false, Some(host_on)),
            (host_on, true, true, true, Some(host_on)),
        ] {
            let mut guest = RtitState::default();
            if guest_on {
                guest.ctl = (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits();
            }
            let e = entry_switch(PtMode::HostGuest, host, &guest);
            assert_eq!(e.guest_rtit_ctl, Some(guest.ctl));
            assert_eq!((e.stop_host_trace, e.swap_msrs), (stop, swap));
            let x = exit_switch(PtMode::HostGuest, host, &guest);
            assert_eq!((x.swap_msrs, x.restore_host_ctl), (swap, restore));
        }
    }

    #[test]
    fn host_guest_needs_every_vmx_facility() {
        let all = VmxPtSupport::ALL;
        assert_eq!(PtMode::HostGuest.check(&all), Ok(PtMode::HostGuest));
        for missing in 0..4 {
            let mut v = all;
            match missing {
                0 => v.pt_in_vmx = false,
                1 => v.use_gpa = false,
                2 => v.load_rtit_ctl = false,
                _ => v.clear_rtit_ctl = false,
            }
            assert_eq!(PtMode::HostGuest.check(&v), Err(ModeError(v)));
            assert_eq!(PtMode::System.check(&v), Ok(PtMode::System));
        }
    }

    #[test]
    fn switched_msr_list_follows_caps() {
        let mut caps = crate::policy::tests::cascade_lake().caps;
        let list: [u32; 8] = [0x571, 0x560, 0x561, 0x572, 0x580, 0x581, 0x582, 0x583];
        assert!(switched_msrs(&caps).eq(list));
        caps.features = caps.features.difference(Features::CR3_FILTER);
        caps.address_ranges = 0;
        assert!(switched_msrs(&caps).eq([0x571, 0x560, 0x561]));
    }
}
