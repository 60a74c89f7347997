// SPDX-License-Identifier: Apache-2.0 OR MIT
//! pmem_plan: where should the frame table of an emulated pmem file live?
//!
//! Splits a pmem file (a `memmap2`-mapped file standing in for persistent memory) into a
//! management namespace and data namespaces, prints the plan of every strategy (DRAM,
//! management superblock, per-namespace) as a table, says which one the planner
//! recommends and why, then carries the chosen one out on the file: writes the info
//! blocks or the management superblock, builds the frame table (with progress), unmaps,
//! maps the file again and reads everything back, then walks the range's lifecycle
//! (activation refused while the management domain maps it). Exits non-zero on any
//! mismatch.
//!
//! Run: `cargo run --release --example pmem_plan -- --help`

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Instant;

use frame_table::layout::{COMPAT_ALIGN_X86, PAGE_SIZE, SIZE_2M, SUPERBLOCK_OFFSET};
use frame_table::plan;
use frame_table::superblock::{self, Header, Range};
use frame_table::{
    Build, CostModel, Event, Lifecycle, Medium, Namespace, NamespaceGeometry, NamespaceLayout,
    PageSizes, PagingCost, Personality, PfnInfo, PfnMode, Progress, Request, Role, State, Strategy,
    Superblock,
};
use kvm_harness::report;
use memmap2::{Mmap, MmapMut};

const USAGE: &str = "\
usage: pmem_plan [--size SIZE] [--mgmt SIZE] [--namespaces N] [--align SIZE]
                 [--descriptor BYTES] [--reverse-map BYTES] [--dram-budget SIZE]
                 [--strategy auto|dram|management|per-namespace] [--file PATH]
                 [--plan-only]

Emulated pmem of --size bytes (default 1G; a temporary file unless --file is given) is
split into a management namespace of --mgmt bytes (default 64M) and --namespaces data
namespaces (default 1) with data alignment --align (default 2M). The frame table costs
--descriptor bytes (default 32, Xen page_info) plus --reverse-map bytes (default 8, Xen
M2P) per 4 KiB page; --descriptor 64 --reverse-map 0 is Linux's struct page, for which
the per-namespace info block is exactly Linux's fsdax --map=dev block. The DRAM budget
defaults to 1M, so the default run shows DRAM over budget.

Prints every strategy's plan, the recommendation and its reason, then carries out
--strategy (default auto: the recommendation) on the file and reads it back. Sizes take
K, M, G or T suffixes. --plan-only stops after the plans (for sizes no file here could
hold, e.g. --size 6T --mgmt 128G --dram-budget 16G --plan-only). Exits non-zero on any
mismatch.";

struct Args {
    size: u64,
    mgmt: u64,
    namespaces: u64,
    align: u64,
    cost: CostModel,
    dram_budget: u64,
    strategy: Option<Strategy>,
    file: Option<PathBuf>,
    plan_only: bool,
}

fn parse_size(flag: &str, value: &str) -> Result<u64, String> {
    let (digits, shift) = match value.as_bytes().last() {
        Some(b'K' | b'k') => (&value[..value.len() - 1], 10),
        Some(b'M' | b'm') => (&value[..value.len() - 1], 20),
        Some(b'G' | b'g') => (&value[..value.len() - 1], 30),
        Some(b'T' | b't') => (&value[..value.len() - 1], 40),
        _ => (value, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{flag}: not a size: {value}"))?;
    n.checked_mul(1 << shift)
        .ok_or(format!("{flag}: too large: {value}"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a = Args {
        size: 1 << 30,
        mgmt: 64 << 20,
        namespaces: 1,
        align: SIZE_2M,
        cost: CostModel::XEN,
        dram_budget: 1 << 20,
        strategy: None,
        file: None,
        plan_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--plan-only" {
            a.plan_only = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--size" => a.size = parse_size(&flag, &value)?,
            "--mgmt" => a.mgmt = parse_size(&flag, &value)?,
            "--namespaces" => a.namespaces = parse_size(&flag, &value)?,
            "--align" => a.align = parse_size(&flag, &value)?,
            "--descriptor" => a.cost.descriptor_size = parse_size(&flag, &value)?,
            "--reverse-map" => a.cost.reverse_map_entry = parse_size(&flag, &value)?,
            "--dram-budget" => a.dram_budget = parse_size(&flag, &value)?,
            "--file" => a.file = Some(PathBuf::from(value)),
            "--strategy" => {
                a.strategy = match value.as_str() {
                    "auto" => None,
                    "dram" => Some(Strategy::Dram),
                    "management" => Some(Strategy::ManagementSuperblock),
                    "per-namespace" => Some(Strategy::PerNamespace),
                    _ => return Err(format!("--strategy: unknown {value}")),
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.namespaces == 0 || a.mgmt >= a.size || !a.mgmt.is_multiple_of(SIZE_2M) {
        return Err("need --namespaces >= 1 and a 2M-aligned --mgmt below --size".into());
    }
    Ok(Some(a))
}

/// The namespaces: management first, then equal 2 MiB-aligned data namespaces.
fn namespaces(a: &Args) -> Result<Vec<Namespace>, String> {
    let each = (a.size - a.mgmt) / a.namespaces / SIZE_2M * SIZE_2M;
    if each == 0 {
        return Err("data namespaces would be empty".into());
    }
    let mut ns = vec![Namespace {
        base: 0,
        size: a.mgmt,
        align: a.align,
    }];
    ns.extend((0..a.namespaces).map(|i| Namespace {
        base: a.mgmt + i * each,
        size: each,
        align: a.align,
    }));
    Ok(ns)
}

fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return format!("{:.2}{name}", bytes as f64 / unit as f64);
        }
    }
    format!("{bytes}")
}

fn paging(p: PagingCost) -> String {
    let f = |v: Option<u64>| v.map_or("-".into(), human);
    format!("{}/{}/{}", f(p.with_4k), f(p.with_2m), f(p.with_1g))
}

fn print_plans(req: Request<'_>) {
    println!(
        "{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>24} {:>24} {:>6}",
        "strategy",
        "descr",
        "revmap",
        "DRAM",
        "pmem lost",
        "data",
        "paging pmem 4K/2M/1G",
        "paging table 4K/2M/1G",
        "budget"
    );
    for s in Strategy::ALL {
        match plan::plan(req, s) {
            Ok(p) => println!(
                "{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>24} {:>24} {:>6}",
                s.name(),
                human(p.descriptor_bytes),
                human(p.reverse_map_bytes),
                human(p.dram_bytes),
                human(p.pmem_overhead_bytes),
                human(p.data_bytes),
                paging(p.paging.pmem),
                paging(p.paging.table),
                if p.within_dram_budget { "ok" } else { "over" }
            ),
            Err(e) => println!("{:<14} impossible: {e}", s.name()),
        }
    }
}

fn open(a: &Args) -> Result<File, String> {
    let file = match &a.file {
        Some(path) => OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => tempfile::tempfile().map_err(|e| format!("temporary file: {e}"))?,
    };
    file.set_len(a.size).map_err(|e| format!("set_len: {e}"))?;
    Ok(file)
}

fn map_rw(file: &File) -> Result<MmapMut, String> {
    // SAFETY:
    // - the file is ours for the run (a fresh temporary file, or one the user named for
    //   this purpose); nothing else is expected to truncate it while mapped;
    // - this map is dropped before the file is mapped again.
    unsafe { MmapMut::map_mut(file) }.map_err(|e| format!("mmap: {e}"))
}

fn map_ro(file: &File) -> Result<Mmap, String> {
    // SAFETY: as in `map_rw`; no writable map exists when this is called.
    unsafe { Mmap::map(file) }.map_err(|e| format!("mmap: {e}"))
}

fn usize_of(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{v} does not fit in usize"))
}

/// What the carried-out plan wrote, for reading back.
enum Written {
    InfoBlock {
        at: u64,
        info: PfnInfo,
        geometry: NamespaceGeometry,
    },
    Superblock {
        at: u64,
        header: Header,
        ranges: Vec<Range>,
    },
    Table {
        at: u64,
        build: Build,
    },
}

fn progress_printer(label: String) -> impl FnMut(Progress) {
    let mut last_decile = 0;
    move |p: Progress| {
        let decile = p.done * 10 / p.total.max(1);
        if decile > last_decile || p.done == p.total {
            last_decile = decile;
            println!("  {label}: {} of {} descriptors", p.done, p.total);
        }
    }
}

fn carry_out(
    req: Request<'_>,
    strategy: Strategy,
    map: &mut [u8],
    dram: &mut Vec<u8>,
) -> Result<Vec<Written>, String> {
    let layouts: Vec<NamespaceLayout> = plan::layouts(req, strategy)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let ns = req.namespaces;
    let mut written = Vec::new();
    let mut ranges = Vec::new();
    let group = req.cost.group_pages().max(1);
    let dram_base = layouts
        .iter()
        .filter(|l| l.role == Role::Data)
        .map(|l| (ns[l.index].base + l.data_offset) / PAGE_SIZE / group * group)
        .min()
        .unwrap_or(0);
    for l in layouts.iter().filter(|l| l.role == Role::Data) {
        let n = ns[l.index];
        let table = l.table.ok_or("a data namespace without a table")?;
        let build = Build {
            descriptor_size: req.cost.descriptor_size,
            first_mfn: (n.base + l.data_offset) / PAGE_SIZE,
            pages: l.data_pages,
        };
        let label = format!("namespace {} ({})", l.index, strategy.name());
        let mut progress = progress_printer(label);
        let at = match table.medium {
            Medium::Dram => {
                // One array indexed by frame number from the first population group, as
                // Xen's frame_table: a group shared by two namespaces is one group.
                let off = usize_of((build.first_mfn - dram_base) * req.cost.descriptor_size)?;
                let end = off + build.table_len().map_err(|e| e.to_string())?;
                if dram.len() < end {
                    dram.resize(end, 0);
                }
                build.run(&mut dram[off..], &mut progress)
            }
            Medium::Namespace(i) => {
                let at = usize_of(ns[i].base + table.offset)?;
                build.run(&mut map[at..], &mut progress)
            }
        };
        at.map_err(|e| e.to_string())?;
        match table.medium {
            Medium::Dram => {}
            Medium::Namespace(i) => written.push(Written::Table {
                at: ns[i].base + table.offset,
                build,
            }),
        }
        match strategy {
            Strategy::PerNamespace => {
                let geometry = NamespaceGeometry {
                    start: n.base,
                    size: n.size,
                    uuid: [0; 16],
                    compat_align: COMPAT_ALIGN_X86,
                };
                let info = PfnInfo {
                    personality: Personality::Fsdax,
                    uuid: [0x50 + l.index as u8; 16],
                    parent_uuid: geometry.uuid,
                    flags: 0,
                    version_minor: 4,
                    dataoff: l.data_offset,
                    npfns: l.data_pages,
                    mode: PfnMode::Pmem,
                    start_pad: 0,
                    end_trunc: u32::try_from(l.end_trunc).map_err(|e| e.to_string())?,
                    align: u32::try_from(n.align.max(COMPAT_ALIGN_X86))
                        .map_err(|e| e.to_string())?,
                    page_size: 4096,
                    page_struct_size: u16::try_from(req.cost.per_page())
                        .map_err(|e| e.to_string())?,
                };
                let start = usize_of(n.base)?;
                info.emit_namespace(&mut map[start..])
                    .map_err(|e| e.to_string())?;
                written.push(Written::InfoBlock {
                    at: n.base,
                    info,
                    geometry,
                });
            }
            Strategy::ManagementSuperblock => ranges.push(Range {
                spa: n.base + l.data_offset,
                pages: l.data_pages,
                table_offset: table.offset,
                initialised: true,
            }),
            Strategy::Dram => {
                let off = usize_of((build.first_mfn - dram_base) * req.cost.descriptor_size)?;
                build.verify(&dram[off..]).map_err(|e| e.to_string())?;
                println!(
                    "  namespace {}: {} descriptors verified in DRAM ({} of descriptors so far)",
                    l.index,
                    build.pages,
                    human(dram.len() as u64)
                );
            }
        }
    }
    if strategy == Strategy::ManagementSuperblock {
        let m = req.management.ok_or("no management namespace")?;
        let header = Header {
            uuid: [0x4d; 16],
            version_minor: 0,
            seq: 1,
            namespace_size: ns[m].size,
            table_start: plan::first_table_offset(ranges.len() as u64)
                .map_err(|e| e.to_string())?,
            cost: req.cost,
        };
        let at = ns[m].base + SUPERBLOCK_OFFSET;
        superblock::emit(&header, &ranges, &mut map[usize_of(at)?..]).map_err(|e| e.to_string())?;
        println!(
            "  superblock: {} ranges at offset {at:#x}; label claim GUID {}",
            ranges.len(),
            frame_table::MGMT_CLAIM_GUID
        );
        written.push(Written::Superblock { at, header, ranges });
    }
    Ok(written)
}

/// Reads back everything `carry_out` wrote; returns whether all of it matched.
fn read_back(map: &[u8], written: &[Written]) -> Result<bool, String> {
    let mut ok = true;
    for w in written {
        match w {
            Written::InfoBlock { at, info, geometry } => {
                let read = PfnInfo::parse_namespace(&map[usize_of(*at)?..]);
                if read.as_ref() != Ok(info) {
                    println!("  MISMATCH: info block at {at:#x}: {read:?}");
                    ok = false;
                    continue;
                }
                match info.validate(geometry) {
                    Ok(()) => println!(
                        "  info block at {at:#x}: read back; Linux would accept it (fsdax, dataoff {:#x})",
                        info.dataoff
                    ),
                    Err(e) => println!(
                        "  info block at {at:#x}: read back; Linux would refuse it ({e}): the \
                         namespace is reserved for the hypervisor"
                    ),
                }
            }
            Written::Superblock { at, header, ranges } => {
                match Superblock::parse(&map[usize_of(*at)?..]) {
                    Ok(sb) if sb.header() == header && sb.ranges().eq(ranges.iter().copied()) => {
                        println!("  superblock at {at:#x}: read back, {} ranges", sb.len())
                    }
                    other => {
                        println!("  MISMATCH: superblock at {at:#x}: {other:?}");
                        ok = false;
                    }
                }
            }
            Written::Table { at, build } => match build.verify(&map[usize_of(*at)?..]) {
                Ok(()) => println!("  table at {at:#x}: {} descriptors read back", build.pages),
                Err(e) => {
                    println!("  MISMATCH: table at {at:#x}: {e}");
                    ok = false;
                }
            },
        }
    }
    Ok(ok)
}

/// The range's lifecycle around the build: the management domain mapped the file to
/// write it, so activation must be refused until it unmaps.
fn lifecycle() -> Result<bool, String> {
    let mut range = Lifecycle::new();
    let step = |range: &mut Lifecycle, e: Event| range.apply(e).map_err(|e| e.to_string());
    step(&mut range, Event::Dom0Map)?;
    step(&mut range, Event::Initialise)?;
    let refused = range.apply(Event::Activate(1));
    println!("  lifecycle: activate while the management domain maps the range: {refused:?}");
    if refused != Err(frame_table::LifecycleError::ManagementDomainMapped) {
        return Ok(false);
    }
    step(&mut range, Event::Dom0Unmap)?;
    step(&mut range, Event::Activate(1))?;
    let state = step(&mut range, Event::Map)?;
    println!("  lifecycle: after unmap, activate and map: {state:?}");
    Ok(state == State::Mapped { guest: 1 })
}

fn run(a: &Args) -> Result<bool, String> {
    let ns = namespaces(a)?;
    let req = Request {
        namespaces: &ns,
        cost: a.cost,
        dram_budget: a.dram_budget,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management: Some(0),
    };
    println!(
        "pmem: {} in {} namespaces (management {} + {} x {}), {} + {} bytes per 4 KiB page, DRAM budget {}",
        human(a.size),
        ns.len(),
        human(a.mgmt),
        a.namespaces,
        human(ns[1].size),
        a.cost.descriptor_size,
        a.cost.reverse_map_entry,
        human(a.dram_budget)
    );
    print_plans(req);
    let strategy = match plan::recommend(req) {
        Ok(r) => {
            println!(
                "recommended: {} because {}",
                r.plan.strategy.name(),
                r.reason
            );
            a.strategy.unwrap_or(r.plan.strategy)
        }
        Err(e) => {
            println!("no recommendation: {e}");
            a.strategy.ok_or("nothing fits and no --strategy given")?
        }
    };
    if a.plan_only {
        return Ok(true);
    }
    println!("carrying out: {}", strategy.name());
    let file = open(a)?;
    let start = Instant::now();
    let mut dram = Vec::new();
    let written = {
        let mut map = map_rw(&file)?;
        let w = carry_out(req, strategy, &mut map, &mut dram)?;
        map.flush().map_err(|e| format!("flush: {e}"))?;
        w
    };
    println!("written and flushed in {}", report::ms(start.elapsed()));
    let map = map_ro(&file)?;
    let ok = read_back(&map, &written)? && lifecycle()?;
    println!(
        "{}",
        if ok {
            "read back: all matched"
        } else {
            "read back: MISMATCH"
        }
    );
    Ok(ok)
}

fn main() -> std::process::ExitCode {
    report::main("pmem_plan", USAGE, parse_args, run)
}
