// SPDX-License-Identifier: Apache-2.0 OR MIT
//! rust-vmm glue (feature `kvm`): a vCPU's `IA32_RTIT_*` state as the `kvm-bindings` 0.14
//! MSR lists a VMM built on `kvm-ioctls` saves with `KVM_GET_MSRS` and restores with
//! `KVM_SET_MSRS`.
//!
//! - [`kvm_msr_indices`]: the request list for `KVM_GET_MSRS`: the RTIT MSRs the policy
//!   enumerates (CR3_MATCH with CR3 filtering, OUTPUT_* with ToPA or single-range
//!   output, ADDRn_A/B below the range count), the filter Linux applies to the host's
//!   capabilities in `kvm_probe_msr_to_save()` (`arch/x86/kvm/x86.c`) and to the guest's
//!   in `vmx_get_msr()`/`vmx_set_msr()` (`arch/x86/kvm/vmx/vmx.c`).
//! - [`PtVcpu::to_kvm_msrs`]: the saved values for `KVM_SET_MSRS`, `IA32_RTIT_CTL`
//!   last: KVM's `vmx_set_msr()` (`arch/x86/kvm/vmx/vmx.c`) refuses the other RTIT MSRs
//!   once TraceEn is set (`pt_can_write_msr()`), host-initiated or not.
//! - [`PtVcpu::from_kvm_msrs`]: a received list checked entry by entry (no foreign,
//!   duplicated, missing or non-enumerated MSR) and then value by value as a
//!   host-initiated restore ([`PtVcpu::from_state`]).
//!
//! ```
//! use pt_virt::cpuid::{Caps, CpuidRegs, VmxPtSupport};
//! use pt_virt::msr::{IA32_RTIT_CTL, IA32_RTIT_OUTPUT_BASE, Origin, PtVcpu, RtitCtl};
//! use pt_virt::policy::{HostPt, Policy};
//!
//! // CPUID leaf 0x14 of the host (a Cascade Lake Xeon) and the guest's policy.
//! let caps = Caps::from_host_cpuid(
//!     CpuidRegs { eax: 1, ebx: 0xf, ecx: 0x7, edx: 0 },
//!     CpuidRegs { eax: 0x0249_0002, ebx: 0x003f_3fff, ecx: 0, edx: 0 },
//! );
//! let host = HostPt { caps, vmx: VmxPtSupport::ALL, maxphyaddr: 46, linear_address_bits: 48 };
//! let policy = Policy::safe_default(&host)?;
//! // Source: what vcpu_fd.get_msrs(&mut msrs) fills in for this request list...
//! let mut msrs = pt_virt::kvm::kvm_msr_indices(&policy);
//! # let mut traced = PtVcpu::new(policy);
//! # traced.write(IA32_RTIT_OUTPUT_BASE, 0x10_0000, Origin::Guest)?;
//! # let ctl = RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN;
//! # traced.write(IA32_RTIT_CTL, ctl.bits(), Origin::Guest)?;
//! # for e in msrs.as_mut_slice() { e.data = traced.state().read(e.index) }
//! // ...checked and kept as the vCPU's state.
//! let vcpu = PtVcpu::from_kvm_msrs(policy, msrs.as_slice())?;
//! assert!(vcpu.state().is_tracing());
//! // Destination: the list for vcpu_fd.set_msrs(&msrs), IA32_RTIT_CTL last.
//! let msrs = vcpu.to_kvm_msrs();
//! assert_eq!(msrs.as_slice().last().map(|e| e.index), Some(IA32_RTIT_CTL));
//! # assert_eq!(vcpu, traced);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

extern crate alloc;

use alloc::vec::Vec;

use kvm_bindings::{KVM_MAX_MSR_ENTRIES, Msrs, kvm_msr_entry};

use crate::msr::{
    Gp, IA32_RTIT_ADDR3_B, IA32_RTIT_CTL, IA32_RTIT_OUTPUT_BASE, Msr, PtVcpu, RtitState,
};
use crate::policy::Policy;

/// The RTIT MSRs the SDM defines: OUTPUT_BASE, OUTPUT_MASK_PTRS, CTL, STATUS,
/// CR3_MATCH and ADDR0..3_A/B.
const RTIT_MSRS: usize = 13;
const _: () = assert!(RTIT_MSRS <= KVM_MAX_MSR_ENTRIES);

/// Why a received MSR list is not a vCPU's RTIT state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry that is not an `IA32_RTIT_*` MSR.
    #[error("MSR {0:#x} is not an IA32_RTIT_* MSR")]
    UnknownMsr(u32),
    /// An RTIT MSR the policy does not enumerate (KVM refuses it too).
    #[error("MSR {0:#x} is not enumerated by the guest's CPUID")]
    NotEnumerated(u32),
    /// An MSR listed twice.
    #[error("MSR {0:#x} is listed twice")]
    Duplicate(u32),
    /// An MSR the policy enumerates is missing from the list.
    #[error("MSR {0:#x} is missing")]
    Missing(u32),
    /// The values are not a state the policy allows (checked as a host-initiated
    /// restore).
    #[error("invalid saved state: {0}")]
    Invalid(#[from] Gp),
}

/// The RTIT MSR indices `policy` enumerates, `IA32_RTIT_CTL` last.
fn enumerated(policy: Policy) -> impl Iterator<Item = u32> {
    let vcpu = PtVcpu::new(policy);
    (IA32_RTIT_OUTPUT_BASE..=IA32_RTIT_ADDR3_B)
        .filter(|&i| i != IA32_RTIT_CTL)
        .chain([IA32_RTIT_CTL])
        .filter(move |&i| Msr::from_index(i).is_some() && vcpu.read(i).is_ok())
}

fn msr_list(entries: impl Iterator<Item = kvm_msr_entry>) -> Msrs {
    let entries: Vec<kvm_msr_entry> = entries.collect();
    // At most RTIT_MSRS entries, which the assertion above fits in the wrapper.
    Msrs::from_entries(&entries).expect("at most 13 RTIT MSRs")
}

/// The `KVM_GET_MSRS` request for a vCPU under `policy`: every RTIT MSR it enumerates
/// (none when Intel PT is hidden), `data` 0, `IA32_RTIT_CTL` last.
pub fn kvm_msr_indices(policy: &Policy) -> Msrs {
    msr_list(enumerated(*policy).map(|index| kvm_msr_entry {
        index,
        ..Default::default()
    }))
}

impl PtVcpu {
    /// The vCPU's RTIT MSRs as the `KVM_SET_MSRS` list: the MSRs its policy enumerates,
    /// `IA32_RTIT_CTL` last so that KVM accepts the others before TraceEn is set.
    pub fn to_kvm_msrs(&self) -> Msrs {
        let state = self.state();
        msr_list(enumerated(*self.policy()).map(|index| kvm_msr_entry {
            index,
            data: state.read(index),
            ..Default::default()
        }))
    }

    /// The vCPU whose RTIT MSRs `KVM_GET_MSRS` returned (or a migration stream carried),
    /// in any order. Every MSR the policy enumerates must be listed exactly once and
    /// nothing else; the values are then checked as [`PtVcpu::from_state`] does.
    pub fn from_kvm_msrs(policy: Policy, entries: &[kvm_msr_entry]) -> Result<Self, Error> {
        let probe = Self::new(policy);
        let mut state = RtitState::RESET;
        let mut seen = 0u64;
        for e in entries {
            let msr = Msr::from_index(e.index).ok_or(Error::UnknownMsr(e.index))?;
            probe
                .read(e.index)
                .map_err(|_| Error::NotEnumerated(e.index))?;
            let bit = 1u64 << (e.index - IA32_RTIT_OUTPUT_BASE);
            if seen & bit != 0 {
                return Err(Error::Duplicate(e.index));
            }
            seen |= bit;
            let slot = match msr {
                Msr::OutputBase => &mut state.output_base,
                Msr::OutputMaskPtrs => &mut state.output_mask_ptrs,
                Msr::Ctl => &mut state.ctl,
                Msr::Status => &mut state.status,
                Msr::Cr3Match => &mut state.cr3_match,
                Msr::AddrA(n) => &mut state.addr[usize::from(n & 3)][0],
                Msr::AddrB(n) => &mut state.addr[usize::from(n & 3)][1],
            };
            *slot = e.data;
        }
        if let Some(missing) =
            enumerated(policy).find(|&i| seen & (1u64 << (i - IA32_RTIT_OUTPUT_BASE)) == 0)
        {
            return Err(Error::Missing(missing));
        }
        Ok(Self::from_state(policy, &state)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpuid::Features;
    use crate::msr::{
        GpReason, IA32_RTIT_CR3_MATCH, IA32_RTIT_OUTPUT_MASK_PTRS, IA32_RTIT_STATUS, Origin,
        RtitCtl,
    };
    use crate::policy::tests::cascade_lake;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy::safe_default(&cascade_lake()).expect("fits")
    }

    fn indices(msrs: &Msrs) -> Vec<u32> {
        msrs.as_slice().iter().map(|e| e.index).collect()
    }

    /// A vCPU tracing to a ToPA table with every enumerated MSR non-zero.
    fn tracing() -> PtVcpu {
        let mut vcpu = PtVcpu::new(policy());
        let writes = [
            (IA32_RTIT_STATUS, 0x2a_0000_0000),
            (IA32_RTIT_OUTPUT_BASE, 0x10_0000),
            (IA32_RTIT_OUTPUT_MASK_PTRS, 0x40_0000_0000),
            (IA32_RTIT_CR3_MATCH, 0x1234_5000),
            (0x580, 0x7fff_0000_1000),
            (0x581, 0x7fff_0000_2000),
            (0x582, 0xffff_8000_0000_0000),
            (0x583, 0xffff_ffff_ffff_f000),
            (
                IA32_RTIT_CTL,
                (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN | RtitCtl::USER).bits()
                    | (1 << RtitCtl::ADDR_CFG_SHIFT),
            ),
        ];
        for (msr, value) in writes {
            vcpu.write(msr, value, Origin::Host).expect("valid");
        }
        vcpu
    }

    #[test]
    fn get_msrs_request_follows_the_enumeration() {
        let cascade = [
            0x560, 0x561, 0x571, 0x572, 0x580, 0x581, 0x582, 0x583, 0x570,
        ];
        let msrs = kvm_msr_indices(&policy());
        assert_eq!(indices(&msrs), cascade);
        assert!(msrs.as_slice().iter().all(|e| e.data == 0));
        // No CR3 filtering and no address ranges: only the four MSRs that always exist.
        let mut host = cascade_lake();
        host.caps.features = host.caps.features.difference(Features::CR3_FILTER);
        host.caps.address_ranges = 0;
        let small = Policy::safe_default(&host).expect("fits");
        assert_eq!(
            indices(&kvm_msr_indices(&small)),
            [0x560, 0x561, 0x571, 0x570]
        );
        assert!(kvm_msr_indices(&Policy::hidden()).as_slice().is_empty());
    }

    #[test]
    fn set_msrs_list_round_trips_in_any_order() {
        let vcpu = tracing();
        let msrs = vcpu.to_kvm_msrs();
        assert_eq!(indices(&msrs), indices(&kvm_msr_indices(&policy())));
        let entry = |index| {
            msrs.as_slice()
                .iter()
                .find(|e| e.index == index)
                .map(|e| e.data)
        };
        assert_eq!(entry(IA32_RTIT_CR3_MATCH), Some(0x1234_5000));
        assert_eq!(entry(0x583), Some(0xffff_ffff_ffff_f000));
        assert_eq!(PtVcpu::from_kvm_msrs(policy(), msrs.as_slice()), Ok(vcpu));
        let mut reversed = msrs.as_slice().to_vec();
        reversed.reverse();
        assert_eq!(PtVcpu::from_kvm_msrs(policy(), &reversed), Ok(vcpu));
        let hidden = PtVcpu::new(Policy::hidden());
        assert_eq!(
            PtVcpu::from_kvm_msrs(Policy::hidden(), hidden.to_kvm_msrs().as_slice()),
            Ok(hidden)
        );
    }

    #[test]
    fn restore_refuses_foreign_duplicate_missing_and_invalid_entries() {
        let good = tracing().to_kvm_msrs().as_slice().to_vec();
        let with = |index: u32, data: u64| {
            let mut list = good.clone();
            list.push(kvm_msr_entry {
                index,
                data,
                ..Default::default()
            });
            list
        };
        let set = |index: u32, data: u64| {
            let mut list = good.clone();
            for e in list.iter_mut().filter(|e| e.index == index) {
                e.data = data;
            }
            list
        };
        let restore = |list: &[kvm_msr_entry]| PtVcpu::from_kvm_msrs(policy(), list);
        assert_eq!(restore(&with(0x10, 1)), Err(Error::UnknownMsr(0x10)));
        assert_eq!(restore(&with(0x573, 0)), Err(Error::UnknownMsr(0x573)));
        // ADDR2_A: this policy has two ranges.
        assert_eq!(restore(&with(0x584, 0)), Err(Error::NotEnumerated(0x584)));
        assert_eq!(restore(&with(0x561, 0x7f)), Err(Error::Duplicate(0x561)));
        let missing: Vec<_> = good.iter().copied().filter(|e| e.index != 0x572).collect();
        assert_eq!(restore(&missing), Err(Error::Missing(0x572)));
        assert_eq!(restore(&[]), Err(Error::Missing(0x560)));
        assert_eq!(
            restore(&set(IA32_RTIT_CTL, RtitCtl::TRACE_EN.bits() | (1 << 18))),
            Err(Error::Invalid(Gp {
                msr: IA32_RTIT_CTL,
                reason: GpReason::ReservedBits(1 << 18)
            }))
        );
        assert!(matches!(
            restore(&set(IA32_RTIT_OUTPUT_BASE, 0x10_0080)),
            Err(Error::Invalid(Gp {
                msr: IA32_RTIT_CTL,
                reason: GpReason::InvalidOutput(_)
            }))
        ));
        assert_eq!(
            restore(&set(0x582, 0x8000_0000_0000)),
            Err(Error::Invalid(Gp {
                msr: 0x582,
                reason: GpReason::NonCanonical(0x8000_0000_0000)
            }))
        );
        assert_eq!(
            PtVcpu::from_kvm_msrs(Policy::hidden(), &good[..1]),
            Err(Error::NotEnumerated(0x560))
        );
    }

    proptest! {
        /// Whatever host writes a vCPU accepted, its list restores to the same vCPU.
        #[test]
        fn any_reachable_state_round_trips(
            writes in proptest::collection::vec((0usize..9, any::<u64>(), 0u32..64), 0..24)
        ) {
            let list = indices(&kvm_msr_indices(&policy()));
            let mut vcpu = PtVcpu::new(policy());
            for (i, value, shift) in writes {
                // Mix raw values with small ones, which pass the checks more often.
                let value = if shift < 32 { value } else { value >> shift };
                let _ = vcpu.write(list[i], value, Origin::Host);
            }
            let msrs = vcpu.to_kvm_msrs();
            prop_assert_eq!(PtVcpu::from_kvm_msrs(policy(), msrs.as_slice()), Ok(vcpu));
        }
    }
}
