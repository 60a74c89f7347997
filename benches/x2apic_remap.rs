// SPDX-License-Identifier: Apache-2.0 OR MIT
//! VT-d interrupt remapping in front of destination lookup, 4096 vCPUs in x2APIC mode:
//!
//! - `remap/msi+lookup`: a remappable MSI (Linux's form: handle, SHV, sub-handle 0)
//!   through `Remapper::translate` (interrupt entry cache warm, as after the first
//!   delivery) to its IRTE, then `DestinationMap::lookup` of the IRTE's destination to
//!   the vCPU set;
//! - `remap/lookup`: the same destinations looked up alone (the baseline).
//!
//! The 64 MSIs per iteration go to a spread of entries, half physical (one vCPU), half
//! logical cluster destinations (16 vCPUs). The goal is that remapping at most doubles
//! the lookup; after the criterion group an interleaved run prints the ratio.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group};
use std::hint::black_box;
use std::time::Instant;
use x2apic_virt::lookup::{ApicState, Destination, DestinationMap};
use x2apic_virt::remap::{Config, Irte, Outcome, Remapper, Request};

const VCPUS: u32 = 4096;

struct Setup {
    map: DestinationMap,
    table: Vec<u128>,
    msis: Vec<Request>,
    dests: Vec<Destination>,
}

fn setup() -> Setup {
    let states: Vec<ApicState> = (0..VCPUS).map(ApicState::x2apic).collect();
    let map = DestinationMap::build(&states);
    // Entry i: vector 0x20 + i % 200, to vCPU i (even i) or to the 16 vCPUs of
    // cluster i / 16 (odd i, x2APIC logical: cluster << 16 | 0xFFFF).
    let irte = |i: u32| Irte {
        present: true,
        logical: i % 2 == 1,
        vector: 0x20 + (i % 200) as u8,
        destination: if i % 2 == 1 {
            (i / 16) << 16 | 0xFFFF
        } else {
            i
        },
        source_id: 0x0100,
        source_validation: 1,
        ..Irte::default()
    };
    let table: Vec<u128> = (0..VCPUS)
        .map(|i| irte(i).encode(true).expect("valid"))
        .collect();
    let picks: Vec<u32> = (0..64u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % VCPUS)
        .collect();
    let msis = picks
        .iter()
        .map(|&h| Request::Msi {
            address: 0xFEE0_0000 | u64::from(h & 0x7FFF) << 5 | 1 << 4 | 1 << 3,
            data: 0,
        })
        .collect();
    let dests = picks
        .iter()
        .map(|&h| {
            let e = irte(h);
            Destination {
                logical: e.logical,
                dest: e.destination,
                wide: true,
            }
        })
        .collect();
    Setup {
        map,
        table,
        msis,
        dests,
    }
}

fn remapped(s: &Setup, unit: &mut Remapper) -> u64 {
    let read = |i: u32| s.table.get(i as usize).copied();
    s.msis
        .iter()
        .map(|&m| match unit.translate(&read, m, 0x0100) {
            Ok(Outcome::Remapped { interrupt, .. }) => s
                .map
                .lookup(interrupt.destination())
                .iter()
                .map(u64::from)
                .sum::<u64>(),
            other => panic!("{other:?}"),
        })
        .sum()
}

fn alone(s: &Setup) -> u64 {
    s.dests
        .iter()
        .map(|&d| s.map.lookup(d).iter().map(u64::from).sum::<u64>())
        .sum()
}

fn unit() -> Remapper {
    Remapper::new(Config {
        enabled: true,
        eim: true,
        size_field: 0xF,
        compat_allowed: false,
    })
}

fn remap(c: &mut Criterion) {
    let s = setup();
    let mut u = unit();
    assert_eq!(
        remapped(&s, &mut u),
        alone(&s),
        "both sides reach the same vCPUs"
    );
    let mut g = c.benchmark_group("remap");
    g.bench_function("msi+lookup", |b| b.iter(|| black_box(remapped(&s, &mut u))));
    g.bench_function("lookup", |b| b.iter(|| black_box(alone(&s))));
    g.finish();
}

fn print_ratio() {
    const REPS: u32 = 2000;
    let s = setup();
    let mut u = unit();
    let mut time = |remap: bool| {
        let start = Instant::now();
        for _ in 0..REPS {
            black_box(if remap {
                remapped(&s, &mut u)
            } else {
                alone(&s)
            });
        }
        start.elapsed().as_secs_f64() / f64::from(REPS * 64)
    };
    let mut runs: Vec<(f64, f64)> = (0..7).map(|_| (time(false), time(true))).collect();
    runs.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
    let (lookup_s, remap_s) = runs[3];
    println!(
        "x2apic remap 4096 vCPUs: lookup alone {:.1} ns, remapped MSI + lookup {:.1} ns per interrupt: ratio {:.2}x (median of 7 interleaved runs; min {:.2}x, max {:.2}x)",
        lookup_s * 1e9,
        remap_s * 1e9,
        remap_s / lookup_s,
        runs[0].1 / runs[0].0,
        runs[6].1 / runs[6].0
    );
}

criterion_group!(benches, remap);

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
