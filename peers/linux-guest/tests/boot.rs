// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Linux 6.12 under QEMU 10 (TCG) boots from `x2apic-virt`'s ACPI tables
//! (`linux_guest`, `scripts/linux-guest.sh`), for two shapes:
//!
//! - `dense_numa`: two sockets of two dies of one core, all present, one NUMA node per
//!   socket (MADT + SRAT + DMAR);
//! - `sparse_256`: two sockets of 256 cores with only CPUs 0 and 256 present, so one
//!   APIC ID is 256 and 510 CPUs are hot-plug slots (MADT + DMAR).
//!
//! Each is booted from our tables and from QEMU's. Checked: every planned CPU online
//! with the plan's APIC ID, package and core, CPUID leaf 0xB (and 0x1F when QEMU
//! offers it: its `qemu64` does not, see `Shape::qemu_args`) as the plan computes them
//! (QEMU is the topology peer), remapping enabled in x2APIC mode, every
//! remapped MSI of QEMU's `vtd_ir_*` trace reproduced by our VT-d model, and our tables
//! against QEMU's field by field, each difference named and explained.
//!
//! An APIC ID above 32767 is not tried: QEMU's q35 allows at most 4096 CPUs, and no
//! topology of at most 4096 CPUs packs an ID that high (each level takes
//! ceil(log2(count)) bits; the best split, 6 sockets of 5 x 5 x 5 x 5 threads, cores,
//! modules and dies, tops out at 5 << 12 | 2340 = 22820).
//!
//! Without QEMU, a kernel or busybox the test skips loudly and is counted
//! (`peer_skip::missing`), except under `CI`, where it fails.

use std::path::PathBuf;

use linux_guest::{self as guest, Boot, Shape, Tables};
use x2apic_virt::acpi::dmar::{Dmar, INCLUDE_PCI_ALL, SCOPE_IOAPIC};
use x2apic_virt::acpi::madt::{Madt, Structure};
use x2apic_virt::acpi::srat::{Affinity, Srat};
use x2apic_virt::madt::{Entry, FLAG_ENABLED, FLAG_ONLINE_CAPABLE};
use x2apic_virt::policy::Topology;

fn shapes() -> [Shape; 2] {
    [
        Shape {
            name: "dense_numa".into(),
            topology: Topology {
                threads: 1,
                cores: 1,
                modules: 1,
                dies: 2,
                sockets: 2,
            },
            present: (0..4).collect(),
            numa: true,
        },
        Shape {
            name: "sparse_256".into(),
            topology: Topology {
                threads: 1,
                cores: 256,
                modules: 1,
                dies: 1,
                sockets: 2,
            },
            present: vec![0, 256],
            numa: false,
        },
    ]
}

fn work(shape: &Shape, tables: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "linux-guest-test-{}/{}-{tables}",
        std::process::id(),
        shape.name
    ))
}

/// Boots or reports a skip (`None`); a skip under CI is a failure.
fn boot(shape: &Shape, tables: Tables, trace: bool) -> Option<Boot> {
    let dir = work(
        shape,
        if tables == Tables::Ours {
            "ours"
        } else {
            "qemu"
        },
    );
    match guest::boot(&dir, shape, tables, trace) {
        Ok(b) => Some(b),
        Err(guest::Error::Skipped(reason)) => {
            peer_skip::missing(&shape.name, &reason);
            None
        }
        Err(e) => panic!("{}: {e}", shape.name),
    }
}

/// What Linux saw matches the plan.
fn check_cpus(shape: &Shape, b: &Boot, label: &str) {
    let plan = shape.plan().expect("plan");
    let mut planned: Vec<u32> = shape
        .present
        .iter()
        .map(|&v| plan.apic_ids()[v as usize])
        .collect();
    planned.sort_unstable();
    let mut seen = b.apic_ids.clone();
    seen.sort_unstable();
    assert_eq!(seen, planned, "{label}: APIC IDs");
    assert_eq!(b.online as usize, planned.len(), "{label}: nproc");
    // Package and core IDs: Linux derives them from the topology leaf's shifts (the
    // core ID is the ID within the package above the SMT bits).
    let vcpu = |id: u32| {
        plan.apic_ids()
            .iter()
            .position(|&x| x == id)
            .map(|i| u32::try_from(i).expect("vCPU index"))
            .expect("planned ID")
    };
    let t = shape.topology;
    for &(id, pkg, core) in &b.topology {
        let v = vcpu(id);
        let (smt, top) = (
            plan.topology_leaf(v, 0xB, 0).eax,
            plan.topology_leaf(v, 0xB, 1).eax,
        );
        let per_pkg = t.dies * t.modules * t.cores * t.threads;
        assert_eq!(
            (pkg, core),
            (v / per_pkg, (id & ((1 << top) - 1)) >> smt),
            "{label}: topology of {id}"
        );
    }
    // CPUID leaves 0xB and (when QEMU offers it) 0x1F as the guest reads them equal the
    // plan's: QEMU is the topology peer.
    let max_leaf = b.cpuid.iter().find(|c| c.1 == 0).map_or(0, |c| c.3[0]);
    let mut compared = 0;
    for &(cpu, leaf, sub, regs) in &b.cpuid {
        if leaf == 0 || (leaf == 0x1F && max_leaf < 0x1F) {
            continue;
        }
        let l = plan.topology_leaf(vcpu(b.apic_ids[cpu as usize]), leaf, sub);
        assert_eq!(
            regs,
            [l.eax, l.ebx, l.ecx, l.edx],
            "{label}: CPU {cpu} leaf {leaf:#x}.{sub}"
        );
        compared += 1;
    }
    let per_cpu = if max_leaf >= 0x1F { 7 } else { 3 };
    assert_eq!(
        compared,
        per_cpu * planned.len(),
        "{label}: CPUID leaves compared"
    );
    assert!(
        b.dmesg
            .contains("DMAR-IR: Enabled IRQ remapping in x2apic mode"),
        "{label}: remapping not in x2APIC mode"
    );
}

/// Our MADT against QEMU's: equal but for the differences named here.
fn compare_madt(shape: &Shape, ours: &[u8], qemu: &[u8]) {
    let (o, q) = (
        Madt::parse(ours).expect("our MADT"),
        Madt::parse(qemu).expect("QEMU's MADT"),
    );
    // Revision: ours 5 (ACPI 6.3, Online Capable), QEMU's 3. OEM and creator IDs differ.
    assert_eq!((o.header.revision, q.header.revision), (5, 3));
    assert_eq!(
        (o.local_apic_address, o.flags),
        (q.local_apic_address, q.flags)
    );
    // Processors: the same IDs, UIDs and entry types in the same order; flags differ
    // only for hot-plug slots: QEMU writes 0, we write Online Capable (Linux counts
    // both as possible CPUs, with a FADT of 6.3 or later only ours).
    let (op, qp): (Vec<_>, Vec<_>) = (o.processors().collect(), q.processors().collect());
    assert_eq!(op.len(), qp.len());
    for ((oid, ouid, of), (qid, quid, qf)) in op.iter().zip(&qp) {
        assert_eq!((oid, ouid), (qid, quid));
        let present = shape.present.contains(ouid);
        assert_eq!(
            (*of, *qf),
            if present {
                (FLAG_ENABLED, FLAG_ENABLED)
            } else {
                (FLAG_ONLINE_CAPABLE, 0)
            }
        );
    }
    let kinds = |m: &Madt| -> Vec<u8> {
        m.structures
            .iter()
            .map(|s| match s {
                Structure::Processor(Entry::LocalApic { .. }) => 0,
                Structure::Processor(Entry::LocalX2apic { .. }) => 9,
                Structure::Processor(Entry::LocalApicNmi { .. }) => 4,
                Structure::Processor(Entry::LocalX2apicNmi { .. }) => 0xA,
                Structure::IoApic { .. } => 1,
                Structure::SourceOverride { .. } => 2,
            })
            .collect()
    };
    let others = |m: &Madt| -> Vec<Structure> {
        m.structures
            .iter()
            .filter(|s| {
                !matches!(
                    s,
                    Structure::Processor(Entry::LocalApic { .. } | Entry::LocalX2apic { .. })
                )
            })
            .copied()
            .collect()
    };
    // IOAPIC and source overrides are equal (the machine copies q35's).
    let io = |v: Vec<Structure>| -> Vec<Structure> {
        v.into_iter()
            .filter(|s| !matches!(s, Structure::Processor(_)))
            .collect()
    };
    assert_eq!(io(others(&o)), io(others(&q)));
    // NMI: QEMU writes one type 0xA entry when any ID is above 254, else one type 4;
    // we write type 4 for the type-0 processors and type 0xA for the type-9 ones (ACPI
    // 6.5 §5.2.12.12), both LINT1 for all processors.
    let nmis = |m: &Madt| -> Vec<u8> {
        kinds(m)
            .into_iter()
            .filter(|k| *k == 4 || *k == 0xA)
            .collect()
    };
    let mixed = op.iter().any(|p| p.0 > 254) && op.iter().any(|p| p.0 <= 254);
    assert_eq!(nmis(&o), if mixed { vec![4, 0xA] } else { vec![4] });
    assert_eq!(nmis(&q), if mixed { vec![0xA] } else { vec![4] });
}

/// Our DMAR against QEMU's.
fn compare_dmar(ours: &[u8], qemu: &[u8]) {
    let (o, q) = (
        Dmar::parse(ours).expect("our DMAR"),
        Dmar::parse(qemu).expect("QEMU's DMAR"),
    );
    assert_eq!(
        (o.header.revision, o.address_width, o.flags),
        (q.header.revision, q.address_width, q.flags)
    );
    assert_eq!(o.units.len(), 1);
    assert_eq!(q.units.len(), 1);
    // QEMU's intel-iommu (no device-iotlb) reports no RMRR, ATSR or other structure.
    assert_eq!((o.others.len(), q.others.len()), (0, 0));
    let (ou, qu) = (&o.units[0], &q.units[0]);
    assert_eq!(
        (ou.segment, ou.address, ou.size),
        (qu.segment, qu.address, qu.size)
    );
    // QEMU 10 lists each PCI device in a scope (DRHD flags 0); we set INCLUDE_PCI_ALL.
    assert_eq!((ou.flags, qu.flags), (INCLUDE_PCI_ALL, 0));
    // The IOAPIC scope (enumeration ID, requester ID 0xFF00) is the same.
    let ioapic = |u: &x2apic_virt::acpi::dmar::Drhd| {
        u.scopes.iter().find(|s| s.kind == SCOPE_IOAPIC).cloned()
    };
    assert_eq!(ioapic(ou), ioapic(qu));
    assert_eq!(o.ioapic_source_id(0), Some(guest::IOAPIC_SOURCE_ID));
    assert!(
        qu.scopes
            .iter()
            .all(|s| s.kind == SCOPE_IOAPIC || s.kind == 1 || s.kind == 2),
        "QEMU's others are PCI endpoint/bridge scopes"
    );
}

/// Our SRAT against QEMU's: the same node for every CPU; memory ranges cover the same
/// RAM per node.
fn compare_srat(ours: &[u8], qemu: &[u8]) {
    let (o, q) = (
        Srat::parse(ours).expect("our SRAT"),
        Srat::parse(qemu).expect("QEMU's SRAT"),
    );
    // Revision: ours 3 (32-bit domains in type 0), QEMU's 1.
    assert_eq!((o.header.revision, q.header.revision), (3, 1));
    let cpus = |s: &Srat| -> Vec<(u32, u32)> {
        s.structures
            .iter()
            .filter_map(|a| match *a {
                Affinity::Apic { node, apic_id, .. } => Some((u32::from(apic_id), node)),
                Affinity::X2apic {
                    node, x2apic_id, ..
                } => Some((x2apic_id, node)),
                Affinity::Memory { .. } => None,
            })
            .collect()
    };
    assert_eq!(cpus(&o), cpus(&q));
    // Enabled RAM per node: QEMU splits node 0 around the 640 KiB - 1 MiB hole and adds
    // zero-flag filler entries; the totals differ by that hole only.
    let ram = |s: &Srat, node: u32| -> u64 {
        s.structures
            .iter()
            .filter_map(|a| match *a {
                Affinity::Memory {
                    node: n,
                    length,
                    flags,
                    ..
                } if n == node && flags & 1 != 0 => Some(length),
                _ => None,
            })
            .sum()
    };
    assert_eq!(
        ram(&o, 0) - ram(&q, 0),
        384 << 10,
        "node 0: the legacy hole"
    );
    assert_eq!(ram(&o, 1), ram(&q, 1));
}

/// Every entry QEMU read, mutated the ways VT-d faults on, gives our typed fault — the
/// reason QEMU's `vtd_irte_get` order of checks yields for the same entry (P clear
/// 0x22; reserved bits 14:12, 31:24 or 127:84 0x24; another requester under SVT 1
/// 0x26, for SVT 1 with SQ 0) — and beyond a smaller table 0x21. Returns the number of mutants.
fn mutants(entries: &[(u32, u128)]) -> usize {
    use x2apic_virt::remap::{Config, FaultReason, Remapper, Request};
    let mut n = 0;
    for &(index, raw) in entries {
        let sid = u16::try_from(raw >> 64 & 0xFFFF).expect("16 bits");
        let msi = Request::Msi {
            address: 0xFEE0_0000
                | u64::from(index & 0x7FFF) << 5
                | u64::from(index >> 15) << 2
                | 1 << 4
                | 1 << 3,
            data: 0,
        };
        let config = Config {
            enabled: true,
            eim: true,
            size_field: 0xF,
            compat_allowed: true,
        };
        let mut cases = vec![
            (raw & !1, FaultReason::NotPresent, config),
            (raw | 1 << 13, FaultReason::EntryReserved, config),
            (raw | 1 << 24, FaultReason::EntryReserved, config),
            (raw | 1 << 100, FaultReason::EntryReserved, config),
            (
                raw,
                FaultReason::IndexBeyondTable,
                Config {
                    size_field: 0,
                    ..config
                },
            ),
        ];
        if raw >> 80 & 0xF == 0b0100 {
            cases.push((raw ^ 1 << 64, FaultReason::SourceId, config));
        }
        for (entry, reason, config) in cases {
            if reason == FaultReason::IndexBeyondTable && index < config.entries() {
                continue;
            }
            let read = |_| Some(entry);
            let got = Remapper::new(config).translate(&read, msi, sid);
            assert_eq!(
                got.map_err(|f| f.reason),
                Err(reason),
                "index {index} entry {entry:#x}"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn linux_boots_from_our_tables() {
    for shape in shapes() {
        let Some(ours) = boot(&shape, Tables::Ours, true) else {
            return;
        };
        let qemu = boot(&shape, Tables::Qemu, false).expect("QEMU boot after ours booted");
        check_cpus(&shape, &ours, &format!("{} ours", shape.name));
        check_cpus(&shape, &qemu, &format!("{} qemu", shape.name));
        assert!(
            ours.dmesg.contains("ACPI: RSDP 0x0000000010000000"),
            "{}: not our RSDP",
            shape.name
        );
        let r = guest::replay(
            ours.trace.as_deref().unwrap_or(""),
            true,
            guest::IOAPIC_SOURCE_ID,
        );
        assert!(
            r.msis > 0 && r.irte_reads >= r.msis,
            "{}: {r:?}",
            shape.name
        );
        assert_eq!(r.agreeing, r.msis, "{}: {:?}", shape.name, r.disagreements);
        let mutated = mutants(&r.entries);
        assert!(
            mutated >= 4 * r.entries.len(),
            "{}: {mutated} mutants",
            shape.name
        );
        compare_madt(&shape, &ours.tables["APIC"], &qemu.tables["APIC"]);
        compare_dmar(&ours.tables["DMAR"], &qemu.tables["DMAR"]);
        if shape.numa {
            compare_srat(&ours.tables["SRAT"], &qemu.tables["SRAT"]);
        }
        println!(
            "{}: {} of {} CPUs online (possible {}); boot {:.2} s ours, {:.2} s QEMU's tables (guest uptime); {} IRTE reads, {} remapped MSIs, {} agree; {} distinct entries, {mutated} mutants fault as expected",
            shape.name,
            ours.online,
            shape.present.len(),
            ours.possible,
            ours.uptime,
            qemu.uptime,
            r.irte_reads,
            r.msis,
            r.agreeing,
            r.entries.len()
        );
        std::fs::remove_dir_all(work(&shape, "ours").parent().expect("parent")).ok();
    }
}
