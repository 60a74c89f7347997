// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `x2apic-virt` destination-lookup benchmarks for 4096 vCPUs, each mode beside the
//! linear scan over all vCPUs (`DestinationMap::scan`, the reference semantics) in the
//! same run, plus the map rebuild time:
//!
//! - `lookup/physical`: x2APIC physical destinations (IDs 0..4096);
//! - `lookup/x2apic_cluster`: x2APIC logical cluster destinations (16 members each);
//! - `lookup/xapic_flat`, `lookup/xapic_cluster`: xAPIC logical destinations among 4096
//!   xAPIC vCPUs, of which the mode can address 8 (flat) or 60 (cluster);
//! - `lookup/broadcast`: every vCPU (both sides enumerate 4096);
//! - `lookup/lowest_priority`: the candidates of a cluster destination, then arbitration;
//! - `rebuild`: `DestinationMap::build` for 4096 vCPUs, and `set` of one changed ID.
//!
//! Each lookup iteration resolves the same 64 destinations and sums the selected vCPU
//! indices, so neither side can skip work. After the criterion groups an interleaved run
//! prints the scan/map ratio per mode.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group};
use std::hint::black_box;
use std::time::Instant;
use x2apic_virt::lookup::{ApicState, DFR_CLUSTER, DFR_FLAT, Destination, DestinationMap};

const VCPUS: u32 = 4096;

/// A deterministic spread of 64 values below `n` (a multiplicative walk, no RNG crate).
fn spread(n: u32) -> impl Iterator<Item = u32> {
    (0..64u32).map(move |i| i.wrapping_mul(2_654_435_761) % n)
}

struct Case {
    name: &'static str,
    map: DestinationMap,
    dests: Vec<Destination>,
}

fn cases() -> Vec<Case> {
    let x2_states: Vec<ApicState> = (0..VCPUS).map(ApicState::x2apic).collect();
    let x2_map = DestinationMap::build(&x2_states);
    let phys = |dest| Destination {
        logical: false,
        dest,
        wide: true,
    };
    let logical = |dest, wide| Destination {
        logical: true,
        dest,
        wide,
    };
    let flat: Vec<ApicState> = (0..VCPUS)
        .map(|i| ApicState::xapic(i, if i < 8 { 1 << i } else { 0 }, DFR_FLAT))
        .collect();
    let cluster: Vec<ApicState> = (0..VCPUS)
        .map(|i| {
            let ldr = if i < 60 {
                (i / 4) << 4 | 1 << (i % 4)
            } else {
                0
            };
            ApicState::xapic(i, ldr, DFR_CLUSTER)
        })
        .collect();
    vec![
        Case {
            name: "physical",
            map: x2_map.clone(),
            dests: spread(VCPUS).map(phys).collect(),
        },
        Case {
            name: "x2apic_cluster",
            map: x2_map.clone(),
            dests: spread(VCPUS / 16)
                .zip(spread(0xFFFF))
                .map(|(c, m)| logical(c << 16 | (m + 1), true))
                .collect(),
        },
        Case {
            name: "xapic_flat",
            map: DestinationMap::build(&flat),
            dests: spread(0xFE).map(|d| logical(d + 1, false)).collect(),
        },
        Case {
            name: "xapic_cluster",
            map: DestinationMap::build(&cluster),
            dests: spread(15)
                .zip(spread(15))
                .map(|(c, m)| logical(c << 4 | (m + 1), false))
                .collect(),
        },
        Case {
            name: "broadcast",
            map: x2_map,
            dests: (0..64).map(|_| phys(u32::MAX)).collect(),
        },
    ]
}

fn via_map(map: &DestinationMap, dests: &[Destination]) -> u64 {
    dests
        .iter()
        .map(|&d| map.lookup(d).iter().map(u64::from).sum::<u64>())
        .sum()
}

fn via_scan(map: &DestinationMap, dests: &[Destination]) -> u64 {
    dests
        .iter()
        .map(|&d| map.scan(d).map(u64::from).sum::<u64>())
        .sum()
}

fn lowest(map: &DestinationMap, dests: &[Destination], scan: bool) -> u64 {
    let prio = |v: u32| v.wrapping_mul(40503) & 0xFF;
    dests
        .iter()
        .filter_map(|&d| {
            if scan {
                map.scan(d)
                    .filter(|&v| map.state(v).is_some_and(|s| s.software_enabled))
                    .map(|v| (prio(v), v))
                    .min()
                    .map(|(_, v)| v)
            } else {
                map.lowest_priority(&map.lookup(d), prio)
            }
        })
        .map(u64::from)
        .sum()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for case in cases() {
        // The two sides must agree before they are timed.
        assert_eq!(
            via_map(&case.map, &case.dests),
            via_scan(&case.map, &case.dests)
        );
        group.bench_with_input(
            BenchmarkId::new("DestinationMap::lookup", case.name),
            &case,
            |b, case| b.iter(|| black_box(via_map(black_box(&case.map), &case.dests))),
        );
        group.bench_with_input(
            BenchmarkId::new("linear_scan", case.name),
            &case,
            |b, case| b.iter(|| black_box(via_scan(black_box(&case.map), &case.dests))),
        );
    }
    let case = &cases()[1];
    assert_eq!(
        lowest(&case.map, &case.dests, false),
        lowest(&case.map, &case.dests, true)
    );
    group.bench_function(
        BenchmarkId::new("DestinationMap::lookup", "lowest_priority"),
        |b| b.iter(|| black_box(lowest(black_box(&case.map), &case.dests, false))),
    );
    group.bench_function(BenchmarkId::new("linear_scan", "lowest_priority"), |b| {
        b.iter(|| black_box(lowest(black_box(&case.map), &case.dests, true)))
    });
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebuild");
    let states: Vec<ApicState> = (0..VCPUS).map(ApicState::x2apic).collect();
    group.bench_function("DestinationMap::build/4096", |b| {
        b.iter(|| black_box(DestinationMap::build(black_box(&states))))
    });
    let mut map = DestinationMap::build(&states);
    let mut flip = false;
    group.bench_function("DestinationMap::set/4096", |b| {
        b.iter(|| {
            flip = !flip;
            let id = if flip { 5000 } else { 7 };
            black_box(map.set(7, ApicState::x2apic(id)))
        })
    });
    group.finish();
}

/// Interleaved runs of map and scan per mode; prints the median scan/map time ratio.
fn print_ratios() {
    const REPS: u32 = 200;
    let mut all = cases();
    let lp = cases().swap_remove(1);
    all.push(Case {
        name: "lowest_priority",
        ..lp
    });
    for case in &all {
        let time = |scan: bool| {
            let start = Instant::now();
            for _ in 0..REPS {
                let r = match (case.name, scan) {
                    ("lowest_priority", s) => lowest(&case.map, &case.dests, s),
                    (_, true) => via_scan(&case.map, &case.dests),
                    (_, false) => via_map(&case.map, &case.dests),
                };
                black_box(r);
            }
            start.elapsed().as_secs_f64() / f64::from(REPS * 64)
        };
        let mut runs: Vec<(f64, f64)> = (0..7).map(|_| (time(false), time(true))).collect();
        runs.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
        let (map_s, scan_s) = runs[3];
        println!(
            "x2apic lookup {:<16} 4096 vCPUs: map {:>9.1} ns, linear scan {:>10.1} ns per destination: ratio {:.1}x (median of 7 interleaved runs; min {:.1}x, max {:.1}x)",
            case.name,
            map_s * 1e9,
            scan_s * 1e9,
            scan_s / map_s,
            runs[0].1 / runs[0].0,
            runs[6].1 / runs[6].0
        );
    }
}

criterion_group!(benches, lookup, rebuild);

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
