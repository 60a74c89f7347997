// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Linux 6.12 booting under QEMU 10 (TCG) from our ACPI tables beside the same boot from
//! QEMU's own tables (`linux_guest::shapes`, untraced), in interleaved rounds: each
//! round boots every variant once, in an order that rotates from round to round, so a
//! noisy machine slows all of them alike.
//!
//! Measured per boot: the CPU time of the guest's processes (QEMU and the harness
//! script: the growth of this process's reaped children's user + system time,
//! `/proc/self/stat` fields 16 and 17), the guest's uptime when its script finished,
//! and QEMU's wall time. Printed: for each shape, the per-round ratios to QEMU's tables
//! (median, min, max) of each figure, and the possible CPUs Linux counted.
//!
//! Variants: QEMU's tables, ours, and for a shape with hot-plug slots ours with the
//! slots listed as QEMU lists them (`Tables::OursWithoutSlots`): Linux counts our
//! online-capable slots as possible CPUs and sets up per-CPU state for each, QEMU's
//! flag-0 entries it ignores, so this variant shows what the slots cost.
//!
//! `cargo bench --bench linux_boot` (root package; `HUGEVM_BOOT_ROUNDS`, default 5).
//! Needs QEMU, a Linux kernel and busybox (`scripts/deps.sh`); skips without them.

use std::path::Path;

use linux_guest::{self as guest, Shape, Tables};

#[path = "support/rounds.rs"]
mod rounds;
use rounds::{rounds, spread};

/// Reaped children's user + system CPU time in seconds.
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name in parentheses, which may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(f64::NAN))
        .collect();
    // `after` starts at field 3 (state): cutime is field 16, cstime field 17.
    let ticks =
        fields.get(13).copied().unwrap_or(f64::NAN) + fields.get(14).copied().unwrap_or(f64::NAN);
    ticks / USER_HZ
}

/// The unit of `/proc`'s times: USER_HZ, 100 on x86 (`include/asm-generic/param.h`).
const USER_HZ: f64 = 100.0;

/// One boot's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    cpu: f64,
    uptime: f64,
    wall: f64,
}

fn boot(work: &Path, shape: &Shape, tables: Tables) -> Result<(Figures, String), guest::Error> {
    let before = children_cpu_seconds();
    let b = guest::boot(work, shape, tables, false)?;
    let figures = Figures {
        cpu: children_cpu_seconds() - before,
        uptime: b.uptime,
        wall: b.wall_seconds,
    };
    Ok((figures, b.possible))
}

fn main() {
    let Some(rounds) = rounds("HUGEVM_BOOT_ROUNDS", 5) else {
        return;
    };
    let root = std::env::temp_dir().join(format!("linux-boot-bench-{}", std::process::id()));
    for shape in guest::shapes() {
        let mut variants = vec![Tables::Qemu, Tables::Ours];
        if shape.present.len() < shape.possible() as usize {
            variants.push(Tables::OursWithoutSlots);
        }
        // figures[round][variant]
        let mut figures: Vec<Vec<Figures>> = Vec::new();
        let mut possible = vec![String::new(); variants.len()];
        for round in 0..rounds {
            let mut row = vec![None; variants.len()];
            for k in 0..variants.len() {
                let v = (round + k) % variants.len();
                let work = root.join(format!("{}-{v}", shape.name));
                match boot(&work, &shape, variants[v]) {
                    Ok((f, p)) => {
                        row[v] = Some(f);
                        possible[v] = p;
                    }
                    Err(guest::Error::Skipped(reason)) => {
                        println!("linux_boot: SKIPPED: {reason}");
                        return;
                    }
                    Err(e) => panic!("{} {:?}: {e}", shape.name, variants[v]),
                }
            }
            figures.push(row.into_iter().flatten().collect());
        }
        println!(
            "{}: {rounds} rounds; per-round ratio to QEMU's tables, median (min-max)",
            shape.name
        );
        for v in 0..variants.len() {
            let col =
                |f: fn(&Figures) -> f64| -> Vec<f64> { figures.iter().map(|r| f(&r[v])).collect() };
            let ratio = |f: fn(&Figures) -> f64| {
                spread(figures.iter().map(|r| f(&r[v]) / f(&r[0])).collect())
            };
            let (cpu, uptime, wall) = (ratio(|f| f.cpu), ratio(|f| f.uptime), ratio(|f| f.wall));
            println!(
                "  {:<17} CPU {:5.2} s  ratio {:.3} ({:.3}-{:.3}) | uptime {:5.2} s  ratio {:.3} ({:.3}-{:.3}) | wall ratio {:.3} ({:.3}-{:.3}) | possible {}",
                format!("{:?}", variants[v]),
                spread(col(|f| f.cpu)).0,
                cpu.0,
                cpu.1,
                cpu.2,
                spread(col(|f| f.uptime)).0,
                uptime.0,
                uptime.1,
                uptime.2,
                wall.0,
                wall.1,
                wall.2,
                possible[v]
            );
        }
    }
    std::fs::remove_dir_all(&root).ok();
}
