// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The plan's MADT entries as ACPICA sees them: a whole MADT (header, local APIC address,
//! flags, then `Plan::madt_bytes`) is written to a file and disassembled with `iasl -d`
//! (Debian `acpica-tools`, installed by `scripts/deps.sh`); every subtable ACPICA
//! decodes must be the entry the plan meant, and ACPICA must find the table well formed.
//! Without the disassembler the test fails under CI and skips loudly elsewhere, counted
//! in the skip log (`peer_skip`).

use std::process::Command;

use x2apic_virt::madt::Entry;
use x2apic_virt::policy::{IdScheme, Plan, Topology};

/// A full MADT around `entries` (ACPI 6.5 §5.2.12, Table 5.19): the 36-byte system
/// description header, the local interrupt controller address and the PC-AT flag.
fn madt(entries: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"APIC");
    let len = u32::try_from(36 + 8 + entries.len()).expect("small");
    t.extend_from_slice(&len.to_le_bytes());
    t.extend_from_slice(&[5, 0]); // revision, checksum (below)
    t.extend_from_slice(b"HUGEVM");
    t.extend_from_slice(b"X2APICVT");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"HVM ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(entries);
    let sum = t.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    t[9] = 0u8.wrapping_sub(sum);
    t
}

/// The subtables of an `iasl -d` listing, as `(field, value)` pairs per subtable.
fn subtables(dsl: &str) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    for line in dsl.lines() {
        let Some((left, right)) = line.split_once(" : ") else {
            continue;
        };
        let Some(field) = left.rsplit(']').next().map(str::trim) else {
            continue;
        };
        let value = right.split_whitespace().next().unwrap_or("").to_string();
        if field == "Subtable Type" {
            out.push(Vec::new());
        }
        if let Some(current) = out.last_mut() {
            current.push((field.to_string(), value));
        }
    }
    out
}

fn hex(fields: &[(String, String)], name: &str) -> u32 {
    let v = fields
        .iter()
        .find(|(f, _)| f == name)
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"));
    u32::from_str_radix(&v.1, 16).unwrap_or_else(|_| panic!("{name}: {}", v.1))
}

/// The entry ACPICA decoded.
fn entry(fields: &[(String, String)]) -> Entry {
    let small = |name| u8::try_from(hex(fields, name)).expect("one byte");
    let flags16 = |name| u16::try_from(hex(fields, name)).expect("two bytes");
    match hex(fields, "Subtable Type") {
        0 => Entry::LocalApic {
            uid: small("Processor ID"),
            apic_id: small("Local Apic ID"),
            flags: hex(fields, "Flags (decoded below)"),
        },
        9 => Entry::LocalX2apic {
            uid: hex(fields, "Processor UID"),
            x2apic_id: hex(fields, "Processor x2Apic ID"),
            flags: hex(fields, "Flags (decoded below)"),
        },
        4 => Entry::LocalApicNmi {
            uid: small("Processor ID"),
            flags: flags16("Flags (decoded below)"),
            lint: small("Interrupt Input LINT"),
        },
        0xA => Entry::LocalX2apicNmi {
            uid: hex(fields, "Processor UID"),
            flags: flags16("Flags (decoded below)"),
            lint: small("Interrupt Input LINT"),
        },
        other => panic!("unexpected subtable type {other:#x}"),
    }
}

#[test]
fn acpica_decodes_the_plans_madt_entries() {
    if !peer_skip::command_exists("iasl", &["-v"]) {
        peer_skip::missing(
            "acpica_decodes_the_plans_madt_entries",
            "no iasl (acpica-tools; scripts/deps.sh installs it)",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("x2apic-madt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let packed = Topology {
        threads: 3,
        cores: 5,
        modules: 1,
        dies: 1,
        sockets: 20,
    };
    let plans = [
        ("dense300", Plan::new(300, IdScheme::Dense)),
        ("xen200", Plan::new(200, IdScheme::Xen)),
        ("packed300", Plan::new(300, IdScheme::Topology(packed))),
        ("small4", Plan::new(4, IdScheme::Dense)),
    ];
    for (name, plan) in plans {
        let plan = plan.expect("plan");
        let table = dir.join(format!("{name}.dat"));
        std::fs::write(&table, madt(&plan.madt_bytes())).expect("write table");
        let out = Command::new("iasl")
            .arg("-d")
            .arg(&table)
            .current_dir(&dir)
            .output()
            .expect("running iasl");
        assert!(out.status.success(), "iasl -d {name}: {out:?}");
        let dsl = std::fs::read_to_string(dir.join(format!("{name}.dsl"))).expect("iasl output");
        assert!(!dsl.contains("Incorrect"), "{name}: ACPICA objects: {dsl}");
        assert!(dsl.contains("[Multiple APIC Description Table (MADT)]"));
        let decoded: Vec<Entry> = subtables(&dsl).iter().map(|f| entry(f)).collect();
        assert_eq!(decoded.len(), plan.madt_entries().len(), "{name}");
        assert_eq!(decoded, plan.madt_entries(), "{name}");
        // scripts/fuzz-seeds.sh collects the entries ACPICA accepted as fuzz seeds.
        if let Some(seeds) = std::env::var_os("HUGEVM_FUZZ_SEEDS") {
            let seeds = std::path::Path::new(&seeds).join("x2apic_madt");
            std::fs::create_dir_all(&seeds).expect("seed dir");
            std::fs::write(seeds.join(name), plan.madt_bytes()).expect("write seed");
        }
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
