// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The planner against known answers (Linux's `ndctl write-infoblock -s 1T` example, Xen's
//! frame-table costs) and against a naive per-page reference on small sizes.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use frame_table::infoblock::geometry::Params;
use frame_table::layout::{COMPAT_ALIGN_X86, SIZE_1G, SIZE_2M};
use frame_table::plan;
use frame_table::{
    CostModel, GeometryError, Medium, Namespace, PageSizes, PfnGeometry, Plan, PlanError as Error,
    Reason, Request, Role, Strategy, recommend,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use std::collections::BTreeSet;

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Linux's `nd_pfn_init` for a namespace at `start` with 64-byte `struct page`.
fn pfn_geometry(
    start: u64,
    size: u64,
    align: u64,
    in_namespace: bool,
) -> Result<PfnGeometry, GeometryError> {
    Params {
        start,
        size,
        align,
        compat_align: COMPAT_ALIGN_X86,
        per_page: 64,
        in_namespace,
    }
    .geometry()
}

/// The namespace of `size` bytes at `base`, aligned to `align`.
const fn namespace(base: u64, size: u64, align: u64) -> Namespace {
    Namespace { base, size, align }
}

fn request(namespaces: &[Namespace], cost: CostModel) -> Request<'_> {
    Request {
        namespaces,
        cost,
        dram_budget: u64::MAX,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management: None,
    }
}

#[test]
fn linux_one_tib_at_16_mib_alignment() {
    // ndctl Documentation/ndctl/ndctl-write-infoblock.txt: mode 2, dataoff 17196646400,
    // npfns 264237056, end_trunc 0, align 16777216.
    let ns = [namespace(0, TIB, 16 << 20)];
    let req = request(&ns, CostModel::LINUX);
    let l = plan::layouts(req, Strategy::PerNamespace)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(l.data_offset, 17_196_646_400);
    assert_eq!(l.data_pages, 264_237_056);
    assert_eq!(l.end_trunc, 0);
    let t = l.table.unwrap();
    assert_eq!((t.medium, t.offset), (Medium::Namespace(0), 8192));
    assert_eq!(t.descriptor_bytes, 64 * ((TIB - 8192) / 4096));
    let g = pfn_geometry(0, TIB, 16 << 20, true).unwrap();
    assert_eq!((g.dataoff, g.npfns), (17_196_646_400, 264_237_056));
    // The same namespace on x86 defaults (2 MiB): 16 GiB of 64-byte page structs plus
    // the 8 KiB prefix, rounded up to 2 MiB (Linux `drivers/nvdimm/pfn_devs.c`,
    // `nd_pfn_init`): 16 GiB + 2 MiB.
    let g = pfn_geometry(0, TIB, SIZE_2M, true).unwrap();
    assert_eq!(g.dataoff, 16 * GIB + SIZE_2M);
    // RAM mode: only the 8 KiB prefix, aligned.
    let g = pfn_geometry(0, TIB, SIZE_2M, false).unwrap();
    assert_eq!(g.dataoff, SIZE_2M);
}

#[test]
fn linux_refuses_misaligned_start_and_tiny_namespaces() {
    assert_eq!(
        pfn_geometry(4096, GIB, SIZE_2M, true),
        Err(GeometryError::MisalignedStart {
            start: 4096,
            align: COMPAT_ALIGN_X86
        })
    );
    assert!(matches!(
        pfn_geometry(0, SIZE_2M, SIZE_2M, true),
        Err(GeometryError::TooSmall { size: SIZE_2M, .. })
    ));
    assert!(matches!(
        pfn_geometry(0, 4096, SIZE_2M, true),
        Err(GeometryError::TooSmall { .. })
    ));
}

#[test]
fn xen_costs_in_dram() {
    // 32 B page_info + 8 B M2P per 4 KiB page, populated 256 MiB at a time.
    assert_eq!(CostModel::XEN.group_pages() * 4096, 256 << 20);
    let ns = [namespace(0, TIB, SIZE_2M)];
    let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
    assert_eq!(p.descriptor_bytes, 8 * GIB);
    assert_eq!(p.reverse_map_bytes, 2 * GIB);
    assert_eq!(p.dram_bytes, 10 * GIB);
    assert_eq!(p.data_bytes, TIB);
    assert_eq!(p.pmem_overhead_bytes, 0);

    // 2 MiB straddling a 256 MiB boundary populates two whole groups.
    let ns = [namespace((256 << 20) - SIZE_2M / 2, SIZE_2M, 4096)];
    let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
    assert_eq!(p.dram_bytes, 2 * 65536 * 40);

    // Two namespaces in one group share it.
    let ns = [
        namespace(0, SIZE_2M, 4096),
        namespace(64 << 20, SIZE_2M, 4096),
    ];
    let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
    assert_eq!(p.dram_bytes, 65536 * 40);
}

#[test]
fn paging_structures_for_one_tib() {
    let ns = [namespace(0, TIB, SIZE_2M)];
    let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
    // 4 KiB leaves: 524 288 page tables, 1024 directories, 2 pointer tables.
    assert_eq!(p.paging.pmem.with_4k, Some((524_288 + 1024 + 2) * 4096));
    assert_eq!(p.paging.pmem.with_2m, Some((1024 + 2) * 4096));
    assert_eq!(p.paging.pmem.with_1g, Some(2 * 4096));
    // The 10 GiB DRAM table, 2 MiB-aligned: 5120 PTs + 10 PDs + 1 PDPT with 4 KiB pages.
    assert_eq!(p.paging.table.with_4k, Some((5120 + 10 + 1) * 4096));
    assert_eq!(p.paging.table.with_1g, Some(4096));

    let mut req = request(&ns, CostModel::XEN);
    req.page_sizes = PageSizes::SIZE_4K | PageSizes::SIZE_2M;
    let p = plan::plan(req, Strategy::Dram).unwrap();
    assert_eq!(p.paging.pmem.with_1g, None);
    req.page_sizes = PageSizes::SIZE_2M;
    assert_eq!(plan::plan(req, Strategy::Dram), Err(Error::NoBasePageSize));
}

#[test]
fn management_superblock_layout() {
    let ns = [
        namespace(0, 64 * GIB, SIZE_2M),
        namespace(64 * GIB, TIB, SIZE_1G),
    ];
    let mut req = request(&ns, CostModel::XEN);
    assert_eq!(
        plan::plan(req, Strategy::ManagementSuperblock),
        Err(Error::NoManagementNamespace)
    );
    req.management = Some(0);
    let ls: Vec<_> = plan::layouts(req, Strategy::ManagementSuperblock)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ls[0].role, Role::Management);
    assert_eq!(ls[0].table, None);
    let t = ls[1].table.unwrap();
    assert_eq!(t.medium, Medium::Namespace(0));
    assert_eq!(t.offset, SIZE_2M);
    assert_eq!(t.descriptor_bytes, 8 * GIB);
    assert_eq!(t.reverse_map_bytes, 2 * GIB);
    assert_eq!(ls[1].data_offset, 0);
    let p = plan::plan(req, Strategy::ManagementSuperblock).unwrap();
    assert_eq!(p.dram_bytes, 0);
    assert_eq!(p.pmem_overhead_bytes, 64 * GIB);
    assert_eq!(p.data_bytes, TIB);

    let small = [namespace(0, 8 * GIB, SIZE_2M), ns[1]];
    let mut req = request(&small, CostModel::XEN);
    req.management = Some(0);
    assert_eq!(
        plan::plan(req, Strategy::ManagementSuperblock),
        Err(Error::ManagementTooSmall {
            needed: SIZE_2M + 10 * GIB,
            available: 8 * GIB
        })
    );
}

#[test]
fn recommendation_follows_budget_and_management() {
    let ns = [
        namespace(0, 64 * GIB, SIZE_2M),
        namespace(64 * GIB, TIB, SIZE_2M),
    ];
    let mut req = request(&ns, CostModel::XEN);
    req.dram_budget = 16 * GIB;
    let r = recommend(req).unwrap();
    assert_eq!(r.plan.strategy, Strategy::Dram);
    assert!(matches!(r.reason, Reason::FitsInDram { .. }));

    req.dram_budget = GIB;
    let r = recommend(req).unwrap();
    assert_eq!(r.plan.strategy, Strategy::PerNamespace);
    assert!(r.reason.to_string().contains("objected to upstream"));

    req.management = Some(0);
    let r = recommend(req).unwrap();
    assert_eq!(r.plan.strategy, Strategy::ManagementSuperblock);
    assert_eq!(
        r.reason,
        Reason::ManagementNamespace {
            dram_needed: 2 * (64 * GIB + TIB) / 4096 * 20,
            budget: GIB,
            used: SIZE_2M + 10 * GIB
        }
    );

    let tiny = [namespace(0, SIZE_2M, SIZE_2M)];
    let mut req = request(&tiny, CostModel::XEN);
    req.dram_budget = 0;
    assert_eq!(
        recommend(req),
        Err(Error::NothingFits {
            dram_needed: 65536 * 40,
            dram_budget: 0
        })
    );
}

#[test]
fn plan_yields_the_layouts_it_totals() {
    let ns = [
        namespace(0, 64 * GIB, SIZE_2M),
        namespace(64 * GIB, 4 * GIB, SIZE_2M),
        namespace(128 * GIB, 16 * GIB, SIZE_1G),
    ];
    let req = Request {
        management: Some(1),
        ..request(&ns, CostModel::XEN)
    };
    for strategy in Strategy::ALL {
        let p = plan::plan(req, strategy).unwrap();
        let from_plan: Vec<_> = p.layouts().collect();
        let direct: Vec<_> = plan::layouts(req, strategy)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(from_plan, direct, "{strategy:?}");
        assert_eq!(from_plan.len(), ns.len());
        let pages: u64 = from_plan.iter().map(|l| l.data_pages).sum();
        assert_eq!(
            pages, p.data_pages,
            "{strategy:?}: totals come from the layouts"
        );
    }
}

#[test]
fn sixty_four_tib_is_arithmetic() {
    let ns: Vec<Namespace> = (0..64)
        .map(|i| namespace(4 * TIB + i * TIB, TIB, SIZE_1G))
        .collect();
    let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
    assert_eq!(p.dram_bytes, 640 * GIB);
    assert_eq!(p.data_pages, 64 * TIB / 4096);
    let p = plan::plan(request(&ns, CostModel::LINUX), Strategy::PerNamespace).unwrap();
    // dataoff = ALIGN(8 KiB + 64 x (1 TiB - 8 KiB) / 4 KiB, 1 GiB) = 17 GiB per namespace.
    assert_eq!(p.data_pages, 64 * (1024 - 17) * 262_144);
}

#[test]
fn overflow_and_order_are_typed_errors() {
    let ns = [namespace(u64::MAX - 4095, 8192, 4096)];
    assert!(matches!(
        plan::plan(request(&ns, CostModel::XEN), Strategy::Dram),
        Err(Error::Overflow(_))
    ));
    let ns = [namespace(GIB, GIB, 4096), namespace(GIB + 4096, GIB, 4096)];
    assert_eq!(
        plan::plan(request(&ns, CostModel::XEN), Strategy::Dram),
        Err(Error::Unsorted {
            index: 1,
            base: GIB + 4096,
            prev_end: 2 * GIB
        })
    );
    let ns = [namespace(0, GIB, 3 << 12)];
    assert_eq!(
        plan::plan(request(&ns, CostModel::XEN), Strategy::Dram),
        Err(Error::BadAlign {
            index: 0,
            align: 3 << 12
        })
    );
    let bad = CostModel {
        descriptor_size: 48,
        reverse_map_entry: 8,
    };
    assert_eq!(
        plan::plan(request(&ns, bad), Strategy::Dram),
        Err(Error::BadDescriptorSize(48))
    );
}

// ---- the naive per-page reference ----

const PAGE: u64 = 4096;

/// Smallest multiple of `a` at or above `x`, found by stepping.
fn naive_up(x: u64, a: u64) -> u64 {
    let mut m = 0;
    while m < x {
        m += a;
    }
    m
}

/// Largest multiple of `a` at or below `x`, found by stepping.
fn naive_down(x: u64, a: u64) -> u64 {
    let mut m = 0;
    while m + a <= x {
        m += a;
    }
    m
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Naive {
    data_pages: u64,
    descriptor_bytes: u64,
    reverse_map_bytes: u64,
    dram_bytes: u64,
    /// (start, len) of every table backing, in order.
    tables: Vec<(u64, u64)>,
}

/// Returns `None` where the planner must refuse.
fn naive(ns: &[Namespace], cost: CostModel, strategy: Strategy, mgmt: usize) -> Option<Naive> {
    let mut out = Naive::default();
    let mut groups = BTreeSet::new();
    let group = 2 * 1024 * 1024 / cost.descriptor_size;
    let mut mgmt_cursor = naive_up(
        4096 + naive_up(128 + 32 * (ns.len() as u64 - 1), PAGE),
        SIZE_2M,
    );
    let mut mgmt_end = mgmt_cursor;
    let mut dram_cursor = 0;
    for (i, n) in ns.iter().enumerate() {
        let end = n.base + n.size;
        match strategy {
            Strategy::ManagementSuperblock if i == mgmt => continue,
            Strategy::PerNamespace => {
                if n.base % COMPAT_ALIGN_X86 != 0 {
                    return None;
                }
                let a = n.align.max(COMPAT_ALIGN_X86);
                let mut memmap_pages = 0;
                let mut p = n.base + 8192;
                while p + PAGE <= end {
                    memmap_pages += 1;
                    p += PAGE;
                }
                let reserve_end = n.base + 8192 + memmap_pages * cost.per_page();
                let data_start = naive_up(reserve_end, a);
                let data_end = naive_down(end, a);
                if data_start >= data_end {
                    return None;
                }
                out.data_pages += (data_start..data_end).step_by(PAGE as usize).count() as u64;
                out.descriptor_bytes += memmap_pages * cost.descriptor_size;
                out.reverse_map_bytes += memmap_pages * cost.reverse_map_entry;
                out.tables
                    .push((n.base + 8192, memmap_pages * cost.per_page()));
            }
            _ => {
                let data_start = naive_up(n.base, n.align);
                let data_end = naive_down(end, n.align);
                if data_start >= data_end || data_end <= n.base {
                    return None;
                }
                let pages = (data_start..data_end).step_by(PAGE as usize).count() as u64;
                out.data_pages += pages;
                if strategy == Strategy::Dram {
                    let before = groups.len() as u64;
                    for p in (data_start..data_end).step_by(PAGE as usize) {
                        groups.insert(p / PAGE / group);
                    }
                    let new = groups.len() as u64 - before;
                    let len = new * group * cost.per_page();
                    out.tables.push((dram_cursor, len));
                    dram_cursor += naive_up(len, SIZE_2M);
                } else {
                    let len = pages * cost.per_page();
                    out.tables.push((ns[mgmt].base + mgmt_cursor, len));
                    mgmt_end = mgmt_cursor + len;
                    mgmt_cursor = naive_up(mgmt_end, SIZE_2M);
                }
            }
        }
    }
    match strategy {
        Strategy::Dram => {
            let pages = groups.len() as u64 * group;
            out.descriptor_bytes = pages * cost.descriptor_size;
            out.reverse_map_bytes = pages * cost.reverse_map_entry;
            out.dram_bytes = pages * cost.per_page();
        }
        Strategy::ManagementSuperblock => {
            if mgmt_end > ns[mgmt].size {
                return None;
            }
            out.descriptor_bytes = out.data_pages * cost.descriptor_size;
            out.reverse_map_bytes = out.data_pages * cost.reverse_map_entry;
        }
        Strategy::PerNamespace => {}
    }
    Some(out)
}

/// Paging-structure bytes by walking every page of every range.
fn naive_paging(ranges: &[(u64, u64)], leaf: u64) -> u64 {
    let (mut pt, mut pd, mut pdpt) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for &(start, len) in ranges {
        if len == 0 {
            continue;
        }
        let s = start / PAGE * PAGE;
        let e = naive_up(start + len, PAGE);
        let mut p = s;
        while p < e {
            let g1 = p / SIZE_1G * SIZE_1G;
            let m2 = p / SIZE_2M * SIZE_2M;
            pdpt.insert(p / (512 * SIZE_1G));
            if leaf >= SIZE_1G && g1 >= s && g1 + SIZE_1G <= e {
                p = g1 + SIZE_1G;
                continue;
            }
            pd.insert(p / SIZE_1G);
            if leaf >= SIZE_2M && m2 >= s && m2 + SIZE_2M <= e {
                p = m2 + SIZE_2M;
                continue;
            }
            pt.insert(p / SIZE_2M);
            p += PAGE;
        }
    }
    (pt.len() + pd.len() + pdpt.len()) as u64 * 4096
}

fn namespaces() -> impl proptest::strategy::Strategy<Value = Vec<Namespace>> {
    let one = (
        0u64..4,    // gap in 2 MiB units
        0u64..3,    // extra gap in pages
        1u64..1200, // size in pages
        prop::sample::select(vec![PAGE, 16 * PAGE, SIZE_2M, 8 * SIZE_2M]),
    );
    prop::collection::vec(one, 1..5).prop_map(|v| {
        let mut base = 0;
        v.into_iter()
            .map(|(gap, extra, pages, align)| {
                let ns = Namespace {
                    base: base + gap * SIZE_2M + extra * PAGE,
                    size: pages * PAGE,
                    align,
                };
                base = ns.base + ns.size;
                ns
            })
            .collect()
    })
}

fn costs() -> impl proptest::strategy::Strategy<Value = CostModel> {
    (0u32..8, prop::sample::select(vec![0u64, 4, 8])).prop_map(|(d, r)| CostModel {
        descriptor_size: 1 << d,
        reverse_map_entry: r,
    })
}

fn check(ns: &[Namespace], cost: CostModel, strategy: Strategy, mgmt: usize) {
    let mut req = request(ns, cost);
    req.management = Some(mgmt);
    let got = plan::plan(req, strategy);
    let want = if strategy == Strategy::ManagementSuperblock && ns.len() < 2 {
        None
    } else {
        naive(ns, cost, strategy, mgmt)
    };
    let (got, want): (Plan, Naive) = match (got, want) {
        (Ok(g), Some(w)) => (g, w),
        (Err(_), None) => return,
        (g, w) => panic!("planner {g:?} vs naive {w:?} for {ns:?} {cost:?} {strategy:?}"),
    };
    assert_eq!(got.data_pages, want.data_pages);
    assert_eq!(got.descriptor_bytes, want.descriptor_bytes);
    assert_eq!(got.reverse_map_bytes, want.reverse_map_bytes);
    if strategy == Strategy::Dram {
        assert_eq!(got.dram_bytes, want.dram_bytes);
    } else {
        assert_eq!(got.dram_bytes, 0);
    }
    let total: u64 = ns.iter().map(|n| n.size).sum();
    assert_eq!(got.pmem_overhead_bytes, total - want.data_pages * PAGE);
    let pmem: Vec<(u64, u64)> = ns.iter().map(|n| (n.base, n.size)).collect();
    for (leaf, g, t) in [
        (PAGE, got.paging.pmem.with_4k, got.paging.table.with_4k),
        (SIZE_2M, got.paging.pmem.with_2m, got.paging.table.with_2m),
        (SIZE_1G, got.paging.pmem.with_1g, got.paging.table.with_1g),
    ] {
        assert_eq!(
            g,
            Some(naive_paging(&pmem, leaf)),
            "pmem paging, leaf {leaf:#x}"
        );
        assert_eq!(
            t,
            Some(naive_paging(&want.tables, leaf)),
            "table paging, leaf {leaf:#x}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn planner_matches_per_page_reference(
        ns in namespaces(),
        cost in costs(),
        mgmt in 0usize..4,
    ) {
        let mgmt = mgmt % ns.len();
        for strategy in Strategy::ALL {
            check(&ns, cost, strategy, mgmt);
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Ranges crossing 1 GiB and 512 GiB boundaries, for the large-leaf paths.
    #[test]
    fn paging_matches_per_page_reference_across_gib(
        start_pages in 0u64..600_000,
        len_pages in 1u64..600_000,
        far in any::<bool>(),
    ) {
        let base = if far { 512 * GIB - 300_000 * PAGE } else { 0 } + start_pages * PAGE;
        let ns = [namespace(base, len_pages * PAGE, PAGE)];
        let p = plan::plan(request(&ns, CostModel::XEN), Strategy::Dram).unwrap();
        let r = [(base, len_pages * PAGE)];
        prop_assert_eq!(p.paging.pmem.with_4k, Some(naive_paging(&r, PAGE)));
        prop_assert_eq!(p.paging.pmem.with_2m, Some(naive_paging(&r, SIZE_2M)));
        prop_assert_eq!(p.paging.pmem.with_1g, Some(naive_paging(&r, SIZE_1G)));
    }
}
