// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Differential tests of interrupt destinations: the `x2apic-virt` destination map and
//! MSI decoding against where KVM's in-kernel LAPIC actually delivers.
//!
//! A guest vCPU sends fixed IPIs (x2APIC ICR MSR, or the xAPIC ICR through MMIO) and the
//! VMM signals MSIs; every vCPU's IRR is then read with `KVM_GET_LAPIC`. The set of
//! vCPUs holding the vector must be exactly what `DestinationMap::lookup` returns for the
//! same destination. Guests run with IF=0, so delivered vectors stay pending in the IRR.
//!
//! Without `/dev/kvm` the tests fail under CI and skip loudly (counted) elsewhere.

mod common;

use common::plan_vcpu;
use kvm_x2apic::{Machine, Outcome, PACKED_300, Vcpu, open};
use x2apic_virt::lookup::{ApicState, Destination, DestinationMap};
use x2apic_virt::msi::{CompatMsi, Msi, decode, encode, kvm_msi_address};
use x2apic_virt::policy::{IdScheme, Plan};
use x2apic_virt::{Effect, Lapic};

fn machine(test: &str) -> Option<Machine> {
    let kvm = open(test).expect("opening /dev/kvm")?;
    Some(Machine::new(kvm, true).expect("creating the VM"))
}

/// Every vCPU of `plan`, created as the VMM would (CPUID and host-initiated
/// `IA32_APIC_BASE` from the plan), with the model of each. Each guest then
/// software-enables its APIC (SVR = 0x1FF, by WRMSR in x2APIC mode or MMIO in xAPIC
/// mode), so it accepts fixed interrupts.
fn build(m: &Machine, plan: &Plan) -> (Vec<Vcpu>, Vec<Lapic>) {
    let cpuid = m.cpuid_with_x2apic(true);
    let mut vcpus = Vec::new();
    let mut models = Vec::new();
    for v in 0..plan.vcpus() {
        let (_, mut vcpu, mut model) = plan_vcpu(m, plan, v, &cpuid);
        if plan.starts_in_x2apic() {
            assert_eq!(vcpu.wrmsr(0x80F, 0x1FF).expect("wrmsr"), Outcome::Done(0));
            model.write_msr(0x80F, 0x1FF).expect("SVR");
        } else {
            mmio(&mut vcpu, &mut model, 0xF0, 0x1FF);
        }
        vcpus.push(vcpu);
        models.push(model);
    }
    (vcpus, models)
}

/// An xAPIC MMIO store on both; returns the model's effect.
fn mmio(vcpu: &mut Vcpu, model: &mut Lapic, offset: u16, value: u32) -> Effect {
    let kvm = vcpu
        .store(0xFEE0_0000 + u32::from(offset), value)
        .expect("store");
    assert_eq!(kvm, Outcome::Done(0));
    model.mmio_write(offset, value).expect("xAPIC mode")
}

/// The vCPUs whose IRR holds `vector`, by index.
fn holders(vcpus: &[Vcpu], vector: u8) -> Vec<u32> {
    (0..)
        .zip(vcpus)
        .filter(|(_, v)| {
            v.pending_vectors()
                .expect("KVM_GET_LAPIC")
                .contains(&vector)
        })
        .map(|(i, _)| i)
        .collect()
}

fn expected(map: &DestinationMap, dest: Destination) -> Vec<u32> {
    let mut v: Vec<u32> = map.lookup(dest).iter().collect();
    v.sort_unstable();
    v
}

fn destination(effect: Effect) -> Destination {
    let Effect::SendIpi(icr) = effect else {
        panic!("an ICR write sends an IPI, got {effect:?}");
    };
    Destination {
        logical: icr.is_logical(),
        dest: icr.destination(),
        wide: icr.is_x2apic(),
    }
}

#[test]
fn x2apic_ipis_reach_exactly_the_looked_up_vcpus() {
    let Some(m) = machine("x2apic_ipis_reach_exactly_the_looked_up_vcpus") else {
        return;
    };
    let plan = Plan::new(300, IdScheme::Topology(PACKED_300)).expect("plan");
    let (mut vcpus, mut models) = build(&m, &plan);
    let map = DestinationMap::build(&models.iter().map(ApicState::of).collect::<Vec<_>>());
    // (logical, destination): physical IDs present, in a hole, past the end; broadcast;
    // clusters with various member masks, and an empty cluster.
    let dests: &[(bool, u32)] = &[
        (false, 0),
        (false, 300),
        (false, 3),
        (false, 626),
        (false, 627),
        (false, u32::MAX),
        (true, 0x0000_FFFF),
        (true, 0x0011_8421),
        (true, 0x0027_0004),
        (true, 0x0003_0001),
        (true, 0x03E8_FFFF),
        (true, u32::MAX),
    ];
    let sender = 1;
    for (k, &(logical, dest)) in dests.iter().enumerate() {
        let vector = 0x40 + u8::try_from(k).expect("few cases");
        let icr = u64::from(dest) << 32 | u64::from(logical) << 11 | u64::from(vector);
        let kvm = vcpus[sender].wrmsr(0x830, icr).expect("wrmsr");
        assert_eq!(kvm, Outcome::Done(0));
        let effect = models[sender].write_msr(0x830, icr).expect("valid ICR");
        let d = destination(effect);
        let want = expected(&map, d);
        assert_eq!(holders(&vcpus, vector), want, "{d:x?}");
        if dest != u32::MAX {
            assert!(want.len() < 300, "{d:x?} is not a broadcast");
        }
    }
}

/// One xAPIC addressing set-up: the DFR, each vCPU's 8-bit logical ID, and the
/// `(logical, destination)` pairs to send.
type Phase = (u32, fn(u32) -> u32, &'static [(bool, u32)]);

#[test]
fn xapic_logical_ipis_reach_exactly_the_looked_up_vcpus() {
    let Some(m) = machine("xapic_logical_ipis_reach_exactly_the_looked_up_vcpus") else {
        return;
    };
    let plan = Plan::new(20, IdScheme::Dense).expect("plan");
    let (mut vcpus, mut models) = build(&m, &plan);
    let sender = 1;
    let mut vector = 0x40;
    // Flat model: vCPUs 0..8 own one LDR bit each, the rest none.
    // Cluster model: vCPU i in cluster i / 4, member bit i % 4.
    let phases: [Phase; 2] = [
        (
            0xFFFF_FFFF,
            |i| if i < 8 { 1 << i } else { 0 },
            &[
                (true, 0x01),
                (true, 0x81),
                (true, 0x30),
                (true, 0xFF),
                (false, 3),
                (false, 19),
                (false, 0xFF),
            ],
        ),
        (
            0x0FFF_FFFF,
            |i| (i / 4) << 4 | 1 << (i % 4),
            &[
                (true, 0x1F),
                (true, 0x23),
                (true, 0x41),
                (true, 0x59),
                (true, 0xFF),
            ],
        ),
    ];
    for (dfr, ldr, dests) in phases {
        for (i, (vcpu, model)) in (0..).zip(vcpus.iter_mut().zip(models.iter_mut())) {
            mmio(vcpu, model, 0xE0, dfr);
            mmio(vcpu, model, 0xD0, ldr(i) << 24);
        }
        let map = DestinationMap::build(&models.iter().map(ApicState::of).collect::<Vec<_>>());
        for &(logical, dest) in dests {
            vector += 1;
            mmio(&mut vcpus[sender], &mut models[sender], 0x310, dest << 24);
            let low = u32::from(vector) | u32::from(logical) << 11;
            let effect = mmio(&mut vcpus[sender], &mut models[sender], 0x300, low);
            let d = destination(effect);
            assert_eq!(
                holders(&vcpus, vector),
                expected(&map, d),
                "DFR {dfr:#x} {d:x?}"
            );
        }
    }
}

#[test]
fn extended_destination_msis_need_the_vmm_translation() {
    let Some(m) = machine("extended_destination_msis_need_the_vmm_translation") else {
        return;
    };
    let plan = Plan::new(300, IdScheme::Dense).expect("plan");
    let (vcpus, models) = build(&m, &plan);
    let map = DestinationMap::build(&models.iter().map(ApicState::of).collect::<Vec<_>>());
    for (k, target) in [5u32, 255, 256, 299].into_iter().enumerate() {
        let vector = 0x60 + 2 * u8::try_from(k).expect("few cases");
        // What a Linux guest with the extended destination ID writes into a device.
        let msi = Msi::Compat(CompatMsi {
            dest: target,
            logical: false,
            redirection_hint: false,
            vector,
            delivery_mode: 0,
            assert: false,
            level_triggered: false,
        });
        let (addr, data) = encode(&msi, true).expect("15 bits");
        let Ok(Msi::Compat(decoded)) = decode(addr, data, true) else {
            panic!("decodes");
        };
        assert_eq!(decoded.dest, target);
        // The VMM's translation to KVM's 32-bit-ID form.
        let (lo, hi) = kvm_msi_address(&decoded);
        assert_eq!(m.signal_msi(lo, hi, data).expect("KVM_SIGNAL_MSI"), 1);
        let d = Destination {
            logical: false,
            dest: target,
            wide: true,
        };
        assert_eq!(holders(&vcpus, vector), expected(&map, d));
        assert_eq!(expected(&map, d), [target]);

        // Untranslated, KVM reads only address bits 19:12: the MSI lands on
        // `target & 0xFF` (the guest meant `target`).
        let raw_vector = vector + 1;
        let lo = u32::try_from(addr).expect("32-bit address");
        assert_eq!(
            m.signal_msi(lo, 0, u32::from(raw_vector))
                .expect("KVM_SIGNAL_MSI"),
            1
        );
        assert_eq!(holders(&vcpus, raw_vector), [target & 0xFF]);
    }
}
