// SPDX-License-Identifier: Apache-2.0 OR MIT
//! ndctl managing an NVDIMM's labels through our zero-exit label methods (`_LSI`,
//! `_LSR`, `_LSW` copying from a guest-memory window, from our ACPI blob) beside QEMU's
//! own trapping path (QEMU's NVDIMM with `label-size` and its own NFIT and SSDT, whose
//! methods hand every chunk to QEMU through its page and port), on Linux 6.12 under QEMU
//! 10 (TCG), for label areas of 128 KiB and 1 MiB.
//!
//! Each round boots both variants once, in an order that rotates from round to round.
//! In each boot the guest times (uptime, 10 ms resolution) 10 each of `ndctl
//! init-labels` (reads and writes only the two index blocks), `ndctl read-labels` (reads
//! the whole area), `ndctl zero-labels` (writes the whole area) and `ndctl read-labels
//! -s 8`: ndctl's own work around one 8-byte label read, which no transport can take
//! away from a `read-labels`, so QEMU's read-labels time over this floor bounds any
//! transport's ratio. Printed per
//! size: each variant's median times and the per-round ratio QEMU's / ours, median
//! (min-max).
//!
//! `cargo bench --bench label_transport` (root package; `HUGEVM_LABEL_ROUNDS`, default
//! 3; with `NVDIMM_LINUX_ICOUNT=0` guest time counts guest instructions, 1 ns each, so
//! the figures stop depending on the host's load and leave out QEMU's device work).
//! Needs QEMU, a Linux kernel with the NVDIMM modules and ndctl (`scripts/deps.sh`);
//! skips without them.

#[path = "../crates/nvdimm-label/tests/linux_support/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "support/rounds.rs"]
mod rounds;
#[path = "../crates/nvdimm-label/tests/linux_support/tables.rs"]
mod tables;

use std::fs;

use harness::{Boot, Outcome};
use nvdimm_label::aml::{LabelInterface, Transport, ZERO_EXIT_MAX_TRANSFER};
use rounds::{rounds, spread};
use tables::Methods;

/// The guest's timed loops; timing.txt holds the uptime before, between and after them.
const GUEST: &str = r#"set -e
ndctl disable-region all
ndctl init-labels -f -V 1.2 nmem0
up() { cut -d' ' -f1 /proc/uptime; }
ten() { for i in 1 2 3 4 5 6 7 8 9 10; do "$@" >/dev/null; done; }
t0=$(up)
ten ndctl init-labels -f -V 1.2 nmem0
t1=$(up)
ten ndctl read-labels nmem0
t2=$(up)
ten ndctl zero-labels nmem0
t3=$(up)
ten ndctl read-labels -s 8 nmem0
t4=$(up)
echo "$t0 $t1 $t2 $t3 $t4" > /out/timing.txt
"#;

/// What one boot's guest measured, in seconds.
#[derive(Debug, Clone, Copy)]
struct Times {
    init_labels: f64,
    read_labels: f64,
    zero_labels: f64,
    floor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    QemuTrapping,
    OursZeroExit,
}

/// Boots one variant with a `label_size`-byte label area; `None` if the harness skipped.
fn boot(tag: &str, label_size: u32, variant: Variant) -> Option<Times> {
    let mut boot = Boot::new(tag, GUEST);
    boot.add_dimm(&vec![0u8; label_size as usize]);
    let dir = boot
        .dimm_path(0)
        .parent()
        .expect("the boot directory")
        .to_owned();
    let zero_exit = variant == Variant::OursZeroExit;
    if zero_exit {
        let methods = Methods {
            interface: LabelInterface::LabelMethods,
            transport: Transport::ZeroExit,
            max_transfer: ZERO_EXIT_MAX_TRANSFER,
        };
        let (_, blob) = tables::one_dimm(label_size, methods);
        fs::write(dir.join("acpi.bin"), blob).expect("write acpi.bin");
    }
    let (args, cmdline) = tables::guest_memory(&dir.join("ram.img"), label_size, zero_exit, None);
    fs::write(dir.join("qemu.args"), args).expect("write qemu.args");
    fs::write(dir.join("cmdline.extra"), cmdline).expect("write cmdline.extra");
    if let Outcome::Skipped = boot.run() {
        return None;
    }
    let ram = dir.join("ram.img");
    assert!(
        !zero_exit || tables::guards_untouched(&ram, label_size),
        "{tag}: a write left the label area"
    );
    let t: Vec<f64> = boot
        .out("timing.txt")
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    let [t0, t1, t2, t3, t4] = t[..] else {
        panic!("{tag}: timing.txt {t:?}");
    };
    Some(Times {
        init_labels: t1 - t0,
        read_labels: t2 - t1,
        zero_labels: t3 - t2,
        floor: t4 - t3,
    })
}

fn main() {
    let Some(rounds) = rounds("HUGEVM_LABEL_ROUNDS", 3) else {
        return;
    };
    let variants = [Variant::QemuTrapping, Variant::OursZeroExit];
    for label_size in [128 << 10, 1 << 20] {
        // times[round][variant]
        let mut times: Vec<[Times; 2]> = Vec::new();
        for round in 0..rounds {
            let mut row = [None; 2];
            for k in 0..variants.len() {
                let v = (round + k) % variants.len();
                let tag = format!("bench-{}k-{v}", label_size >> 10);
                let Some(t) = boot(&tag, label_size, variants[v]) else {
                    println!("label_transport: SKIPPED (see the line above)");
                    return;
                };
                row[v] = Some(t);
            }
            times.push(row.map(|t| t.expect("every variant booted")));
        }
        println!(
            "label area {} KiB, {rounds} rounds: median guest seconds; ratio QEMU's / ours per round, median (min-max)",
            label_size >> 10
        );
        let report = |name: &str, f: fn(&Times) -> f64| {
            let col = |v: usize| spread(times.iter().map(|r| f(&r[v])).collect()).0;
            let (m, lo, hi) = spread(times.iter().map(|r| f(&r[0]) / f(&r[1])).collect());
            println!(
                "  {name:<26} QEMU's {:6.3} s  ours {:6.3} s  ratio {m:.2} ({lo:.2}-{hi:.2})",
                col(0),
                col(1)
            );
        };
        report("10x ndctl init-labels", |t| t.init_labels);
        report("10x ndctl read-labels", |t| t.read_labels);
        report("10x ndctl zero-labels", |t| t.zero_labels);
        report("10x read-labels -s 8", |t| t.floor);
        let bound = spread(
            times
                .iter()
                .map(|r| r[0].read_labels / r[1].floor)
                .collect(),
        );
        println!(
            "  bound on any transport's read-labels ratio (QEMU's read-labels / our floor): {:.2} ({:.2}-{:.2})",
            bound.0, bound.1, bound.2
        );
    }
}
