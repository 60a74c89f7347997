// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Every table of the `acpi` module as ACPICA sees it: the MADT, SRAT and DMAR of a few
//! machines are disassembled with `iasl -d` (Debian `acpica-tools`, installed by
//! `scripts/deps.sh`), which must succeed without a checksum or length complaint and
//! decode as many subtables as we wrote, with the flags and IDs we meant. Without iasl
//! the test prints `SKIPPED` and passes, except under `CI`, where it fails.

use std::path::Path;
use std::process::Command;

use x2apic_virt::acpi::dmar::Dmar;
use x2apic_virt::acpi::madt::Madt;
use x2apic_virt::acpi::srat::Srat;
use x2apic_virt::acpi::{Machine, MemoryRange};
use x2apic_virt::policy::{IdScheme, Plan, Topology};

/// `iasl -d` of `bytes` (written as `dir/name.dat`): the `.dsl` text. With
/// `HUGEVM_ACPI_SEEDS=DIR` set, the tables of the small machines are also written to
/// `DIR/acpi_{madt,srat,dmar}/` (the fuzz seeds in `fuzz/seeds/` come from there).
fn disassemble(dir: &Path, name: &str, bytes: &[u8]) -> String {
    if let (Some(seeds), Some((machine, table))) =
        (std::env::var_os("HUGEVM_ACPI_SEEDS"), name.rsplit_once('-'))
        && !machine.starts_with("far")
    {
        let d = Path::new(&seeds).join(format!("acpi_{table}"));
        std::fs::create_dir_all(&d).expect("seed dir");
        std::fs::write(d.join(machine), bytes).expect("seed");
    }
    let table = dir.join(format!("{name}.dat"));
    std::fs::write(&table, bytes).expect("write table");
    let out = Command::new("iasl")
        .arg("-d")
        .arg(&table)
        .current_dir(dir)
        .output()
        .expect("running iasl");
    assert!(out.status.success(), "iasl -d {name}: {out:?}");
    let dsl = std::fs::read_to_string(dir.join(format!("{name}.dsl"))).expect("iasl output");
    for bad in ["Incorrect", "Invalid", "**** ", "Unknown"] {
        assert!(!dsl.contains(bad), "{name}: ACPICA says {bad}:\n{dsl}");
    }
    dsl
}

/// The values of every `field : value` line named `field`, as hex numbers.
fn values(dsl: &str, field: &str) -> Vec<u64> {
    dsl.lines()
        .filter_map(|l| l.split_once(" : "))
        .filter(|(left, _)| left.rsplit(']').next().map(str::trim) == Some(field))
        .map(|(_, right)| {
            let v = right.split_whitespace().next().unwrap_or("");
            u64::from_str_radix(v, 16).unwrap_or_else(|_| panic!("{field}: {right}"))
        })
        .collect()
}

fn machines() -> Vec<(&'static str, Plan, Machine)> {
    let two_sockets = Topology {
        threads: 2,
        cores: 4,
        modules: 1,
        dies: 1,
        sockets: 2,
    };
    let dense = Plan::new(16, IdScheme::Topology(two_sockets)).expect("plan");
    let mut numa = Machine::q35(&dense);
    numa.cpu_nodes = (0..16).map(|v| v / 8).collect();
    numa.memory = vec![
        MemoryRange {
            base: 0,
            length: 256 << 20,
            node: 0,
            hotpluggable: false,
            nonvolatile: false,
        },
        MemoryRange {
            base: 256 << 20,
            length: 256 << 20,
            node: 1,
            hotpluggable: false,
            nonvolatile: false,
        },
        MemoryRange {
            base: 1 << 32,
            length: 1 << 30,
            node: 1,
            hotpluggable: true,
            nonvolatile: false,
        },
        MemoryRange {
            base: 5 << 30,
            length: 1 << 28,
            node: 0,
            hotpluggable: false,
            nonvolatile: true,
        },
    ];
    let sparse_topo = Topology {
        threads: 1,
        cores: 256,
        modules: 1,
        dies: 1,
        sockets: 2,
    };
    let sparse = Plan::new(512, IdScheme::Topology(sparse_topo)).expect("plan");
    let mut sparse_m = Machine::q35(&sparse);
    sparse_m.present = vec![0, 256];
    sparse_m.cpu_nodes = (0..512).map(|v| v / 256).collect();
    // Xen's IDs (2 x index) pass 32767 with half the entries a dense plan needs.
    let far = Plan::new(16400, IdScheme::Xen).expect("plan");
    let mut far_m = Machine::q35(&far);
    far_m.present = vec![0, 16399];
    vec![
        ("dense16", dense, numa),
        ("sparse512", sparse, sparse_m),
        ("far32798", far, far_m),
    ]
}

#[test]
fn iasl_accepts_every_table() {
    if Command::new("iasl").arg("-v").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: iasl (acpica-tools) is missing"
        );
        println!("SKIPPED: no iasl (acpica-tools) for iasl_accepts_every_table");
        return;
    }
    let dir = std::env::temp_dir().join(format!("x2apic-acpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, plan, machine) in machines() {
        let madt = Madt::for_plan(&plan, &machine).expect("madt");
        let dsl = disassemble(&dir, &format!("{name}-madt"), &madt.emit().expect("emit"));
        let ids: Vec<u64> = values(&dsl, "Local Apic ID")
            .into_iter()
            .chain(values(&dsl, "Processor x2Apic ID"))
            .collect();
        let ours: Vec<u64> = madt.processors().map(|(id, _, _)| u64::from(id)).collect();
        assert_eq!(ids.len(), ours.len(), "{name}");
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ours, "{name}: ACPICA's processor IDs");
        assert_eq!(
            values(&dsl, "Subtable Type").len(),
            madt.structures.len(),
            "{name}"
        );
        assert_eq!(values(&dsl, "Address"), [0xFEC0_0000], "{name}: IOAPIC");

        if let Some(srat) = Srat::for_plan(&plan, &machine).expect("srat") {
            let dsl = disassemble(&dir, &format!("{name}-srat"), &srat.emit().expect("emit"));
            assert_eq!(
                values(&dsl, "Subtable Type").len(),
                srat.structures.len(),
                "{name}"
            );
            let mem_flags = values(&dsl, "Flags (decoded below)");
            if name == "dense16" {
                assert_eq!(&mem_flags[16..], [1, 1, 3, 5], "{name}: memory flags");
            }
        }

        let dmar = Dmar::for_plan(&plan, &machine)
            .expect("dmar")
            .expect("an IOMMU");
        let dsl = disassemble(&dir, &format!("{name}-dmar"), &dmar.emit().expect("emit"));
        assert_eq!(values(&dsl, "Host Address Width"), [47], "{name}");
        assert_eq!(
            values(&dsl, "Flags"),
            [1, 1],
            "{name}: table and DRHD flags"
        );
        assert_eq!(
            values(&dsl, "Register Base Address"),
            [0xFED9_0000],
            "{name}"
        );
        assert_eq!(values(&dsl, "Enumeration ID"), [0], "{name}");
        assert_eq!(values(&dsl, "PCI Bus Number"), [0xFF], "{name}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
