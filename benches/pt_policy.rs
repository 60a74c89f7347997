// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `pt-virt` policy benchmarks, each beside its baseline in the same run:
//!
//! - `topa_walk`: checking a 512-entry ToPA ring (one table, 4 KiB regions, END back to
//!   the start) with `topa::walk`, beside reading the same 513 words through the same
//!   `GuestMemory` and summing them (the least any walk must do).
//! - `msr_write`: a trapped guest `wrmsr` pair enabling and disabling tracing through
//!   `PtVcpu::write`, beside storing the two values into a plain field with no checks.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pt_virt::cpuid::VmxPtSupport;
use pt_virt::cpuid::{Caps, CpuidRegs};
use pt_virt::msr::{IA32_RTIT_CTL, IA32_RTIT_OUTPUT_BASE, Origin, PtVcpu, RtitCtl};
use pt_virt::output::topa::{self, Position, TopaEntry, WalkLimits};
use pt_virt::output::{Gpa, GuestMemory, MemType};
use pt_virt::policy::{HostPt, Policy};
use std::hint::black_box;

const ENTRIES: u64 = 512;
const TABLE: u64 = 0x1_0000;

/// Flat RAM starting at guest-physical 0.
struct Flat(Vec<u64>);

impl GuestMemory for Flat {
    fn read_u64(&self, gpa: Gpa) -> Option<u64> {
        self.0.get(usize::try_from(gpa.0 / 8).ok()?).copied()
    }
    fn classify(&self, _gpa: Gpa, _len: u64) -> MemType {
        MemType::Ram
    }
}

fn policy() -> Policy {
    let host = HostPt {
        caps: Caps::from_host_cpuid(
            CpuidRegs {
                eax: 1,
                ebx: 0xf,
                ecx: 0x7,
                edx: 0,
            },
            CpuidRegs {
                eax: 0x0249_0002,
                ebx: 0x003f_3fff,
                ecx: 0,
                edx: 0,
            },
        ),
        vmx: VmxPtSupport::ALL,
        maxphyaddr: 46,
        linear_address_bits: 48,
    };
    Policy::safe_default(&host).expect("baseline fits")
}

fn ring() -> Flat {
    let mut words = vec![0u64; usize::try_from((TABLE + (ENTRIES + 1) * 8) / 8).expect("small")];
    for i in 0..ENTRIES {
        let e = TopaEntry {
            base: 0x100_0000 + i * 4096,
            size: 0,
            end: false,
            int: false,
            stop: false,
        };
        words[usize::try_from(TABLE / 8 + i).expect("small")] = e.emit();
    }
    let end = TopaEntry {
        base: TABLE,
        size: 0,
        end: true,
        int: false,
        stop: false,
    };
    words[usize::try_from(TABLE / 8 + ENTRIES).expect("small")] = end.emit();
    Flat(words)
}

fn topa_walk(c: &mut Criterion) {
    let mem = ring();
    let p = policy();
    let start = Position {
        table: Gpa(TABLE),
        entry: 0,
        offset: 0,
        stopped: false,
    };
    let mut g = c.benchmark_group("topa_walk");
    g.throughput(Throughput::Elements(ENTRIES + 1));
    g.bench_function("baseline: read and sum 513 words", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for i in 0..=ENTRIES {
                sum = sum.wrapping_add(mem.read_u64(Gpa(black_box(TABLE) + 8 * i)).unwrap_or(0));
            }
            black_box(sum)
        })
    });
    g.bench_function("topa::walk", |b| {
        b.iter(|| {
            let mut bytes = 0u64;
            let s = topa::walk(&mem, &p, black_box(start), WalkLimits::default(), |r| {
                bytes += r.size
            });
            black_box((s, bytes))
        })
    });
    g.finish();
}

fn msr_write(c: &mut Criterion) {
    let mut vcpu = PtVcpu::new(policy());
    vcpu.write(IA32_RTIT_OUTPUT_BASE, TABLE, Origin::Guest)
        .expect("base");
    let on = (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN | RtitCtl::OS | RtitCtl::USER)
        .bits();
    let mut g = c.benchmark_group("msr_write");
    g.throughput(Throughput::Elements(2));
    let mut field = 0u64;
    g.bench_function("baseline: unchecked store", |b| {
        b.iter(|| {
            field = black_box(on);
            field = black_box(on & !RtitCtl::TRACE_EN.bits());
            black_box(field)
        })
    });
    g.bench_function("PtVcpu::write enable+disable", |b| {
        b.iter(|| {
            let a = vcpu.write(IA32_RTIT_CTL, black_box(on), Origin::Guest);
            let d = vcpu.write(
                IA32_RTIT_CTL,
                black_box(on & !RtitCtl::TRACE_EN.bits()),
                Origin::Guest,
            );
            black_box((a, d))
        })
    });
    g.finish();
}

criterion_group!(benches, topa_walk, msr_write);
criterion_main!(benches);
