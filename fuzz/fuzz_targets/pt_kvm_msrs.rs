// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary `KVM_GET_MSRS` lists (as a migration stream carries them) restored under an
//! arbitrary policy: nothing panics, and a list that restores is a vCPU whose TraceEn=1
//! has a valid output configuration and whose own list restores to it again.
#![no_main]

use arbitrary::Arbitrary;
use kvm_bindings::kvm_msr_entry;
use libfuzzer_sys::fuzz_target;
use pt_virt::cpuid::VmxPtSupport;
use pt_virt::kvm::kvm_msr_indices;
use pt_virt::msr::PtVcpu;
use pt_virt::policy::{HostPt, Policy};

#[derive(Debug, Arbitrary)]
enum Edit {
    /// Set entry `at`'s index to 0x558 + `sel` % 0x38 (RTIT MSRs, gaps and neighbours).
    Index {
        at: u8,
        sel: u8,
    },
    Remove {
        at: u8,
    },
    Duplicate {
        at: u8,
    },
    Swap {
        a: u8,
        b: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    host: HostPt,
    maxphyaddr: u8,
    la57: bool,
    /// Values for the policy's own request list, in order (then zeros).
    values: Vec<u64>,
    edits: Vec<Edit>,
}

fuzz_target!(|input: Input| {
    let mut caps = input.host.caps;
    caps.address_ranges %= 5;
    let host = HostPt {
        caps,
        vmx: VmxPtSupport::ALL,
        maxphyaddr: 52,
        linear_address_bits: 57,
    };
    let maxphyaddr = 32 + input.maxphyaddr % 21;
    let linear = if input.la57 { 57 } else { 48 };
    let policy = Policy::new(caps, &host, maxphyaddr, linear).unwrap_or(Policy::hidden());
    let mut list: Vec<kvm_msr_entry> = kvm_msr_indices(&policy).as_slice().to_vec();
    for (e, v) in list.iter_mut().zip(input.values) {
        e.data = v;
    }
    for edit in input.edits {
        let n = list.len().max(1);
        match edit {
            Edit::Index { at, sel } => {
                if let Some(e) = list.get_mut(usize::from(at) % n) {
                    e.index = 0x558 + u32::from(sel % 0x38);
                }
            }
            Edit::Remove { at } => {
                if !list.is_empty() {
                    list.remove(usize::from(at) % n);
                }
            }
            Edit::Duplicate { at } => {
                if let Some(&e) = list.get(usize::from(at) % n) {
                    list.push(e);
                }
            }
            Edit::Swap { a, b } => {
                if !list.is_empty() {
                    list.swap(usize::from(a) % n, usize::from(b) % n);
                }
            }
        }
    }
    if let Ok(vcpu) = PtVcpu::from_kvm_msrs(policy, &list) {
        if let Some(config) = vcpu.output() {
            assert!(config.is_ok(), "TraceEn=1 with {config:?}");
        }
        let again = PtVcpu::from_kvm_msrs(policy, vcpu.to_kvm_msrs().as_slice());
        assert_eq!(again, Ok(vcpu));
    }
});
