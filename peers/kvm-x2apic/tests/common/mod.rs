// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Set-up shared by the differential tests.

use kvm_bindings::CpuId;
use kvm_harness::kvm::plan_cpuid;
use kvm_x2apic::{Machine, Vcpu};
use x2apic_virt::policy::Plan;
use x2apic_virt::{Initiator, Lapic};

/// vCPU `v` of `plan`, created as the VMM would: vCPU ID = APIC ID (as KVM requires), the
/// plan's CPUID built from `base_cpuid`, and a host-initiated write of the plan's
/// `IA32_APIC_BASE`. Returns its APIC ID, the vCPU, and the model in the same state.
pub(crate) fn plan_vcpu(
    m: &Machine,
    plan: &Plan,
    v: u32,
    base_cpuid: &CpuId,
) -> (u32, Vcpu, Lapic) {
    let id = plan.apic_id(v).expect("in the plan");
    let c = plan_cpuid(plan, v, base_cpuid).expect("CPUID table");
    let vcpu = m.vcpu(id, &c).expect("creating the vCPU");
    assert!(vcpu.host_set_base(plan.apic_base(v)).expect("KVM_SET_MSRS"));
    let mut model = Lapic::new(m.model_config(&c), id, v == 0);
    model
        .set_base(plan.apic_base(v), Initiator::Host)
        .expect("the model takes the plan's base");
    (id, vcpu, model)
}
