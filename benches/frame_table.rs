// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `frame-table` benchmarks, each beside its baseline in the same run:
//!
//! - `build`: `Build::run` writing 32-byte (Xen `page_info`) and 64-byte (Linux
//!   `struct page`) descriptors for 2^20 data pages (4 GiB of pmem) into a `memmap2`-mapped
//!   file, beside a plain `memset` of the same bytes of the same map, twice: with zero
//!   (`fill(0)`, the natural baseline, since descriptors are mostly zero) and with a
//!   non-zero byte (`fill(0x5a)`; some machines store zeros much faster than other
//!   values, which a descriptor with a non-zero head cannot benefit from). After the
//!   criterion groups, interleaved runs print the median ratios (goal: at most 1.25).
//! - `plan`: planning 64 TiB in 64 namespaces, every strategy (no baseline: it is here
//!   to show that planning does not walk pages).
#![allow(missing_docs, clippy::unwrap_used, clippy::cast_possible_truncation)]

use criterion::{Criterion, Throughput, criterion_group};
use frame_table::layout::{COMPAT_ALIGN_X86, SIZE_1G};
use frame_table::plan;
use frame_table::{Build, CostModel, Namespace, PageSizes, Request, Strategy};
use memmap2::MmapMut;
use std::hint::black_box;
use std::time::{Duration, Instant};

const PAGES: u64 = 1 << 20;
/// Interleaved runs for the printed ratios.
const RUNS: usize = 31;

/// A mapped temporary file big enough for the largest table, pre-faulted. On tmpfs
/// (`/dev/shm`) when there is one, so page-cache writeback does not add noise.
fn mapped(len: usize) -> (std::fs::File, MmapMut) {
    let file = tempfile::tempfile_in("/dev/shm")
        .or_else(|_| tempfile::tempfile())
        .unwrap();
    file.set_len(len as u64).unwrap();
    // SAFETY:
    // - the file is a private temporary file; nothing else maps or truncates it;
    // - the map lives no longer than the returned file handle's owner keeps both.
    let mut map = unsafe { MmapMut::map_mut(&file) }.unwrap();
    map.fill(1);
    (file, map)
}

/// The build measured: `PAGES` descriptors of `size` bytes.
fn table_of(size: u64) -> Build {
    Build {
        descriptor_size: size,
        first_mfn: 1 << 30,
        pages: PAGES,
    }
}

fn build(c: &mut Criterion) {
    let (_file, mut map) = mapped((PAGES * 64) as usize);
    for size in [32u64, 64] {
        let b = table_of(size);
        let len = b.table_len().unwrap();
        let mut group = c.benchmark_group(format!("build/{size}B"));
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(20);
        group.bench_function("memset_zero", |bench| {
            bench.iter(|| black_box(&mut map[..len]).fill(0));
        });
        group.bench_function("memset_0x5a", |bench| {
            bench.iter(|| black_box(&mut map[..len]).fill(0x5a));
        });
        group.bench_function("Build::run", |bench| {
            bench.iter(|| {
                b.run(black_box(&mut map[..len]), &mut |p| _ = black_box(p))
                    .unwrap()
            });
        });
        group.finish();
    }
}

fn planning(c: &mut Criterion) {
    let ns: Vec<Namespace> = (0..64)
        .map(|i| Namespace {
            base: (4 + i) << 40,
            size: 1 << 40,
            align: SIZE_1G,
        })
        .collect();
    let req = Request {
        namespaces: &ns,
        cost: CostModel::XEN,
        dram_budget: 64 << 30,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management: Some(0),
    };
    c.bench_function("plan/64TiB_all_strategies", |bench| {
        bench.iter(|| {
            for s in Strategy::ALL {
                black_box(plan::plan(black_box(req), s).unwrap());
            }
        });
    });
}

criterion_group!(benches, build, planning);

fn time(f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Interleaved runs of build and memset on the same bytes; prints the median ratio.
fn print_ratio() {
    let (_file, mut map) = mapped((PAGES * 64) as usize);
    for size in [32u64, 64] {
        let b = table_of(size);
        let len = b.table_len().unwrap();
        let mut zero = Vec::new();
        let mut other = Vec::new();
        for _ in 0..RUNS {
            let z = time(&mut || black_box(&mut map[..len]).fill(0));
            let o = time(&mut || black_box(&mut map[..len]).fill(0x5a));
            let ours = time(&mut || b.run(black_box(&mut map[..len]), &mut |_| {}).unwrap());
            zero.push(ours.as_secs_f64() / z.as_secs_f64());
            other.push(ours.as_secs_f64() / o.as_secs_f64());
        }
        for (name, ratios) in [("memset(0)", &mut zero), ("memset(0x5a)", &mut other)] {
            ratios.sort_by(f64::total_cmp);
            println!(
                "frame-table build {size}B / {name} of the same {len} bytes of the same map: median ratio {:.2} over {RUNS} interleaved runs (min {:.2}, max {:.2})",
                ratios[RUNS / 2],
                ratios[0],
                ratios[RUNS - 1]
            );
        }
    }
}

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
