// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary sequences of guest and host RTIT MSR writes, reads and restores under an
//! arbitrary policy: nothing panics, a refused write changes nothing, and after every
//! step TraceEn=1 implies a valid output configuration.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pt_virt::cpuid::VmxPtSupport;
use pt_virt::msr::{Origin, PtVcpu, RtitState};
use pt_virt::policy::{HostPt, Policy};

#[derive(Debug, Arbitrary)]
enum Op {
    Write { msr: u8, value: u64, origin: Origin },
    Read { msr: u8 },
    Restore(RtitState),
}

#[derive(Debug, Arbitrary)]
struct Input {
    host: HostPt,
    maxphyaddr: u8,
    la57: bool,
    ops: Vec<Op>,
}

fn index(sel: u8) -> u32 {
    0x560 + u32::from(sel % 0x30)
}

fuzz_target!(|input: Input| {
    let maxphyaddr = 32 + input.maxphyaddr % 21;
    let linear = if input.la57 { 57 } else { 48 };
    // Mostly exposed policies: ranges within the four CTL fields, and a host with every
    // VMX facility; `hidden` ones come from caps without ToPA or single range.
    let mut caps = input.host.caps;
    caps.address_ranges %= 5;
    let vmx = VmxPtSupport::ALL;
    let host = HostPt {
        caps,
        vmx,
        maxphyaddr: 52,
        linear_address_bits: 57,
    };
    let policy = Policy::new(caps, &host, maxphyaddr, linear).unwrap_or(Policy::hidden());
    let mut vcpu = PtVcpu::new(policy);
    for op in input.ops {
        match op {
            Op::Write { msr, value, origin } => {
                let before = *vcpu.state();
                if vcpu.write(index(msr), value, origin).is_err() {
                    assert_eq!(*vcpu.state(), before, "a refused write changed state");
                }
            }
            Op::Read { msr } => {
                if let Ok(v) = vcpu.read(index(msr)) {
                    assert_eq!(v, vcpu.state().read(index(msr)));
                }
            }
            Op::Restore(state) => {
                if let Ok(restored) = PtVcpu::from_state(policy, &state) {
                    vcpu = restored;
                }
            }
        }
        if let Some(config) = vcpu.output() {
            assert!(config.is_ok(), "TraceEn=1 with {config:?}");
        }
    }
});
