// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `acpi` half of the proof: one call into each table builder that rests on rust-vmm's
//! `acpi_tables`, so their code (and that crate's) is compiled into the artifact without
//! `std`. The allocator is [`crate::with_alloc::NoHeap`].

use nvdimm_label::aml::{AmlDimm, LabelInterface, SsdtBuilder, Transport};
use x2apic_virt::acpi::Machine;
use x2apic_virt::acpi::dmar::Dmar;
use x2apic_virt::acpi::madt::Madt;
use x2apic_virt::policy::{IdScheme, Plan};

/// Builds the MADT and DMAR of a `vcpus`-CPU q35 machine and the NVDIMM SSDT of one DIMM,
/// and returns their total length. Exported unmangled so that the code is compiled into
/// the staticlib; it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn hugevm_nostd_acpi_exercise(vcpus: u32) -> usize {
    let Ok(plan) = Plan::new(vcpus, IdScheme::Dense) else {
        return 0;
    };
    let machine = Machine::q35(&plan);
    let madt = Madt::for_plan(&plan, &machine).and_then(|madt| madt.emit());
    let dmar = Dmar::for_plan(&plan, &machine);
    let dimm = AmlDimm {
        handle: 1,
        label_size: 128 * 1024,
        label_gpa: 0x1_0000_0000,
    };
    let ssdt = SsdtBuilder::new(&[dimm], LabelInterface::IntelDsm, Transport::ZeroExit).aml();
    madt.map_or(0, |t| t.len())
        + dmar
            .ok()
            .flatten()
            .and_then(|d| d.emit().ok())
            .map_or(0, |t| t.len())
        + ssdt.map_or(0, |t| t.len())
}
