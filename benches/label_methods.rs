// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `nvdimm-label` label-method handler benchmark: serving a whole 128 KiB label area to
//! a guest in max-transfer (4076-byte, QEMU's) chunks, through `_LSR`
//! (`LabelMethods::lsr`), through Intel `_DSM` function 5 (`LabelMethods::dsm`) and
//! through the trapping transport's shared page (`serve_dsm_page`), beside a plain copy
//! of the same bytes in the same chunks. After the criterion group, an interleaved run
//! prints the median ratio of each to the copy.
#![allow(missing_docs)]

#[path = "support/interleaved.rs"]
mod interleaved;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use nvdimm_label::methods::{
    DSM_PAGE_MAX_TRANSFER, DSM_PAGE_SIZE, LabelMethods, LsStatus, serve_dsm_page,
};

const AREA: usize = 128 << 10;
const CHUNK: usize = DSM_PAGE_MAX_TRANSFER as usize;

/// One read of the whole area into `out`; returns something to keep.
type Pass = fn(&mut LabelMethods<Vec<u8>>, &mut [u8]) -> u64;

fn area() -> Vec<u8> {
    (0..AREA).map(|i| (i * 31 % 251) as u8).collect()
}

/// The baseline: the same bytes copied in the same chunks.
fn plain_copy(m: &mut LabelMethods<Vec<u8>>, out: &mut [u8]) -> u64 {
    let src = m.storage();
    for (dst, src) in out.chunks_mut(CHUNK).zip(src.chunks(CHUNK)) {
        dst.copy_from_slice(src);
    }
    u64::from(out[AREA - 1])
}

fn lsr(m: &mut LabelMethods<Vec<u8>>, out: &mut [u8]) -> u64 {
    for (i, dst) in out.chunks_mut(CHUNK).enumerate() {
        let status = m.lsr((i * CHUNK) as u64, dst.len() as u64, dst);
        debug_assert_eq!(status, LsStatus::Success);
    }
    u64::from(out[AREA - 1])
}

fn dsm(m: &mut LabelMethods<Vec<u8>>, out: &mut [u8]) -> u64 {
    let mut reply = [0u8; 4 + CHUNK];
    for (i, dst) in out.chunks_mut(CHUNK).enumerate() {
        let mut arg = [0u8; 8];
        arg[..4].copy_from_slice(&((i * CHUNK) as u32).to_le_bytes());
        arg[4..].copy_from_slice(&(dst.len() as u32).to_le_bytes());
        let n = m.dsm(1, 5, &arg, &mut reply);
        dst.copy_from_slice(&reply[4..n]);
    }
    u64::from(out[AREA - 1])
}

fn page(m: &mut LabelMethods<Vec<u8>>, out: &mut [u8]) -> u64 {
    let mut page = [0u8; DSM_PAGE_SIZE];
    for (i, dst) in out.chunks_mut(CHUNK).enumerate() {
        page[..4].copy_from_slice(&1u32.to_le_bytes());
        page[4..8].copy_from_slice(&1u32.to_le_bytes());
        page[8..12].copy_from_slice(&5u32.to_le_bytes());
        page[12..16].copy_from_slice(&((i * CHUNK) as u32).to_le_bytes());
        page[16..20].copy_from_slice(&(dst.len() as u32).to_le_bytes());
        serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut *m));
        dst.copy_from_slice(&page[8..8 + dst.len()]);
    }
    u64::from(out[AREA - 1])
}

const PASSES: [(&str, Pass); 4] = [
    ("plain copy", plain_copy),
    ("LabelMethods::lsr", lsr),
    ("LabelMethods::dsm fn 5", dsm),
    ("serve_dsm_page fn 5", page),
];

fn methods() -> LabelMethods<Vec<u8>> {
    LabelMethods::new(area(), DSM_PAGE_MAX_TRANSFER).expect("128 KiB area")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("label_methods");
    group.throughput(Throughput::Bytes(AREA as u64));
    let mut m = methods();
    let mut out = vec![0u8; AREA];
    for (name, pass) in PASSES {
        assert_eq!(pass(&mut m, &mut out), u64::from(area()[AREA - 1]));
        assert_eq!(out, area(), "{name} read the area");
        group.bench_function(format!("{name}/128KiB"), |b| {
            b.iter(|| pass(black_box(&mut m), black_box(&mut out)));
        });
    }
    group.finish();
}

/// Interleaved runs of each pass and the plain copy; prints the median ratio.
fn print_ratio() {
    const ITERS: u32 = 2000;
    let mut m = methods();
    let mut out = vec![0u8; AREA];
    for (what, pass) in &PASSES[1..] {
        let r = interleaved::ratio(
            ITERS,
            &mut (&mut m, &mut out),
            |(m, out)| plain_copy(m, out),
            |(m, out)| pass(m, out),
        );
        println!(
            "nvdimm-label: 128 KiB in {CHUNK}-byte chunks, {what} / plain copy: median ratio {:.2} over 7 interleaved runs of {ITERS} (min {:.2}, max {:.2}; ours {:.0} ns, copy {:.0} ns)",
            r.median, r.min, r.max, r.ours_ns, r.base_ns
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    if std::env::args().all(|a| a != "--list") {
        print_ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
