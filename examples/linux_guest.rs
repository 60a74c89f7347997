// SPDX-License-Identifier: Apache-2.0 OR MIT
//! linux_guest: Linux 6.12 under QEMU 10 (TCG) booted from ACPI tables that
//! `x2apic-virt` built: MADT, SRAT and DMAR for a CPU topology with present CPUs and
//! hot-plug slots, in a blob that replaces the firmware's tables (`linux_guest`,
//! `scripts/linux-guest.sh`).
//!
//! It prints what Linux saw: CPUs online against the plan, their APIC IDs against the
//! plan's, the remapping mode, the boot time, and how many of QEMU's interrupt
//! remappings our VT-d model reproduced. With `--compare` it boots the same machine
//! from QEMU's own tables too and prints the boot-time ratio.
//!
//! Without QEMU, a kernel or busybox it prints SKIPPED and exits 0, except under `CI`.
//!
//! Run: `cargo run --example linux_guest -- --help`

use std::process::ExitCode;

use kvm_harness::report;
use linux_guest::{self as guest, Boot, Shape, Tables};
use x2apic_virt::policy::Topology;

const USAGE: &str = "\
usage: linux_guest [--topology SOCKETSxCORESxTHREADS] [--vcpus N | --present I,J,..] [--numa]
                   [--compare] [--workdir DIR]

  --topology   possible CPUs (default 2x2x1: two sockets of two cores)
  --vcpus      the first N CPUs are present (default: all)
  --present    these CPU indexes are present, the others are hot-plug slots
               (e.g. --topology 2x256x1 --present 0,256 puts a CPU at APIC ID 256)
  --numa       one NUMA node per socket (SRAT)
  --compare    also boot from QEMU's own tables and print the boot-time ratio
  --workdir    where the guest's files go (default a directory under /tmp)";

struct Args {
    shape: Shape,
    compare: bool,
    workdir: std::path::PathBuf,
}

fn parse() -> Result<Option<Args>, String> {
    let mut topology = Topology {
        threads: 1,
        cores: 2,
        modules: 1,
        dies: 1,
        sockets: 2,
    };
    let (mut vcpus, mut present, mut numa, mut compare) = (None, None, false, false);
    let mut workdir = std::env::temp_dir().join(format!("linux-guest-{}", std::process::id()));
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--topology" => {
                let n: Vec<u32> = value()?
                    .split('x')
                    .map(|w| w.parse().map_err(|_| format!("bad count {w}")))
                    .collect::<Result<_, _>>()?;
                let [sockets, cores, threads] = n[..] else {
                    return Err("--topology wants SOCKETSxCORESxTHREADS".into());
                };
                topology = Topology {
                    threads,
                    cores,
                    modules: 1,
                    dies: 1,
                    sockets,
                };
            }
            "--vcpus" => vcpus = Some(value()?.parse::<u32>().map_err(|e| e.to_string())?),
            "--present" => {
                present = Some(
                    value()?
                        .split(',')
                        .map(|w| w.parse::<u32>().map_err(|e| e.to_string()))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            "--numa" => numa = true,
            "--compare" => compare = true,
            "--workdir" => workdir = value()?.into(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let mut shape = Shape {
        name: "cli".into(),
        topology,
        present: Vec::new(),
        numa,
    };
    shape.present = match (present, vcpus) {
        (Some(p), _) => p,
        (None, Some(n)) => (0..n).collect(),
        (None, None) => (0..shape.possible()).collect(),
    };
    Ok(Some(Args {
        shape,
        compare,
        workdir,
    }))
}

fn describe(label: &str, shape: &Shape, boot: &Boot) -> Result<bool, String> {
    let plan = shape.plan().map_err(|e| e.to_string())?;
    let mut planned: Vec<u32> = shape
        .present
        .iter()
        .filter_map(|&v| plan.apic_id(v))
        .collect();
    planned.sort_unstable();
    let mut seen = boot.apic_ids.clone();
    seen.sort_unstable();
    let mode = boot
        .dmesg
        .lines()
        .find_map(|l| l.split("Enabled IRQ remapping in ").nth(1))
        .unwrap_or("(remapping not enabled)");
    println!(
        "{label}: {} CPUs online of {} planned (possible {}), highest APIC ID {}, remapping {mode}",
        boot.online,
        planned.len(),
        boot.possible,
        seen.last().copied().unwrap_or(0)
    );
    println!(
        "{label}: boot {:.2} s guest uptime, {:.2} s QEMU wall time",
        boot.uptime, boot.wall_seconds
    );
    let ok = seen == planned;
    if !ok {
        println!("{label}: APIC IDs differ: Linux {seen:?}, plan {planned:?}");
    }
    Ok(ok)
}

fn run(args: &Args) -> Result<bool, String> {
    let shape = &args.shape;
    let ours = match guest::boot(&args.workdir.join("ours"), shape, Tables::Ours, true) {
        Err(guest::Error::Skipped(reason)) => {
            // Fails under CI; elsewhere prints SKIPPED and counts the skip.
            peer_skip::missing("linux_guest", &reason);
            return Ok(true);
        }
        other => other.map_err(|e| e.to_string())?,
    };
    let mut ok = describe("ours", shape, &ours)?;
    if let Some(trace) = &ours.trace {
        let r = guest::replay(trace, true, guest::IOAPIC_SOURCE_ID);
        println!(
            "ours: VT-d replay: {} IRTE reads, {} remapped MSIs, {} agree with QEMU",
            r.irte_reads, r.msis, r.agreeing
        );
        for d in &r.disagreements {
            println!("ours: disagreement {d}");
        }
        ok &= r.msis == r.agreeing;
    }
    if args.compare {
        // Traced like ours, so the boot-time ratio compares like with like (the
        // `linux_boot` benchmark times untraced boots over several rounds).
        let qemu = guest::boot(&args.workdir.join("qemu"), shape, Tables::Qemu, true)
            .map_err(|e| e.to_string())?;
        ok &= describe("qemu", shape, &qemu)?;
        println!(
            "boot time ours/QEMU's tables: {:.3} (guest uptime), {:.3} (wall)",
            ours.uptime / qemu.uptime,
            ours.wall_seconds / qemu.wall_seconds
        );
    }
    println!("files in {}", args.workdir.display());
    Ok(ok)
}

fn main() -> ExitCode {
    report::main("linux_guest", USAGE, parse, run)
}
