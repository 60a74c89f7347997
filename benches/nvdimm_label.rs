// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `nvdimm-label` benchmark: parse and fully validate a 128 KiB label area with every
//! slot in use (v1.1: 1020 labels, v1.2: 510 labels) — both index checksums, every
//! label's slot field and checksum, namespace grouping and diagnostics — beside a plain
//! pass over the same bytes (summing them) in the same run. After the criterion group,
//! an interleaved run prints the median ratio.
#![allow(missing_docs)]

#[path = "support/interleaved.rs"]
mod interleaved;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use nvdimm_label::{
    ClaimClass, InitStyle, Label, LabelVersion, Lsa, Name, NamespaceLabel, Uuid, active_slots,
    fletcher64_skipping, index, init, layout::PMEM_TYPE_GUID,
};

const AREA: usize = 128 << 10;

/// A pass over an area returning something to keep.
type Pass = fn(&[u8]) -> u64;

/// A 128 KiB area of `version` whose every slot holds an active label.
fn full_area(version: LabelVersion) -> Vec<u8> {
    let mut area = vec![0u8; AREA];
    init(&mut area, version, InitStyle::Kernel).expect("init");
    let lsa = Lsa::parse(&area).expect("valid");
    let nslot = lsa.index().nslot();
    let size = version.label_size();
    for slot in 0..nslot {
        let mut uuid = [0u8; 16];
        uuid[..4].copy_from_slice(&slot.to_be_bytes());
        let label = Label::Namespace(NamespaceLabel {
            uuid: Uuid(uuid),
            name: Name::new(&format!("namespace{slot}")).expect("short"),
            flags: 0,
            nlabel: 1,
            position: 0,
            isetcookie: 0x00ba_9012_0012_b4dc,
            lbasize: 512,
            dpa: u64::from(slot) << 21,
            rawsize: 2 << 20,
            slot,
            align: 0,
            type_guid: (version == LabelVersion::V1_2).then_some(PMEM_TYPE_GUID),
            claim: (version != LabelVersion::V1_1).then_some(ClaimClass::Pfn),
            region_uuid: None,
        });
        let at = 512 + slot as usize * size;
        label.emit(version, &mut area[at..at + size]).expect("emit");
        area[72 + slot as usize / 8] &= !(1 << (slot % 8));
    }
    let sum = fletcher64_skipping(&area[..256], 64);
    area[64..72].copy_from_slice(&sum.to_le_bytes());
    let lsa = Lsa::parse(&area).expect("valid");
    assert_eq!(lsa.namespaces().len(), nslot as usize);
    assert!(lsa.diagnostics().is_empty());
    area
}

/// The baseline: every byte added into a 32-bit sum (which LLVM vectorises; a `u64`
/// sum of bytes stays scalar on the x86-64 baseline target).
fn byte_sum(area: &[u8]) -> u64 {
    u64::from(
        area.iter()
            .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b))),
    )
}

fn parse_all(area: &[u8]) -> u64 {
    Lsa::parse(area).expect("valid").namespaces().len() as u64
}

/// `Lsa::parse`, then every namespace built from its labels and every label decoded
/// (what a caller reading all of them pays on top of the parse).
fn parse_and_read(area: &[u8]) -> u64 {
    let lsa = Lsa::parse(area).expect("valid");
    let sizes: u64 = lsa.namespaces().iter().map(|ns| ns.size()).sum();
    let slots: u64 = lsa.labels().iter().map(|l| u64::from(l.slot())).sum();
    sizes.wrapping_add(slots)
}

/// The allocation-free core: select the index, then validate every slot in use.
fn validate_no_alloc(area: &[u8]) -> u64 {
    let selection = index::select(area).expect("valid");
    active_slots(area, &selection.current)
        .map(|(_, label)| u64::from(label.is_ok()))
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("nvdimm_label");
    group.throughput(Throughput::Bytes(AREA as u64));
    for (name, version) in [("v1_1", LabelVersion::V1_1), ("v1_2", LabelVersion::V1_2)] {
        let area = full_area(version);
        group.bench_function(format!("Lsa::parse/{name}"), |b| {
            b.iter(|| parse_all(black_box(&area)));
        });
        group.bench_function(format!("Lsa::parse+read/{name}"), |b| {
            b.iter(|| parse_and_read(black_box(&area)));
        });
        group.bench_function(format!("active_slots/{name}"), |b| {
            b.iter(|| validate_no_alloc(black_box(&area)));
        });
        group.bench_function(format!("byte_sum/{name}"), |b| {
            b.iter(|| byte_sum(black_box(&area)));
        });
    }
    group.finish();
}

/// Interleaved runs of both passes; prints the median ratio of the per-pass times.
fn print_ratio() {
    const ITERS: u32 = 2000;
    for (name, version) in [("v1.1", LabelVersion::V1_1), ("v1.2", LabelVersion::V1_2)] {
        let area = full_area(version);
        let passes: [(&str, Pass); 3] = [
            ("Lsa::parse", parse_all),
            ("Lsa::parse + read all", parse_and_read),
            ("no-alloc active_slots", validate_no_alloc),
        ];
        for (what, pass) in passes {
            let r = interleaved::ratio(
                ITERS,
                &mut (),
                |()| byte_sum(black_box(&area)),
                |()| pass(black_box(&area)),
            );
            println!(
                "nvdimm-label {name}: full 128 KiB {what} / byte sum: median ratio {:.2} over 7 interleaved runs of {ITERS} (min {:.2}, max {:.2}; ours {:.0} ns, sum {:.0} ns)",
                r.median, r.min, r.max, r.ours_ns, r.base_ns
            );
        }
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
