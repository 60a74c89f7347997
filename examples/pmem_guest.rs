// SPDX-License-Identifier: Apache-2.0 OR MIT
//! pmem_guest: an emulated NVDIMM, labelled and reserved, backing a KVM guest's memory.
//!
//! The NVDIMM is one `memmap2`-mapped file laid out as QEMU lays out an `nvdimm` backend
//! with `label-size`: the persistent memory first, the label storage area (LSA) in the
//! file's last 128 KiB. The VMM, acting as the management domain:
//!
//! 1. initialises the LSA and creates namespaces in it (`nvdimm-label`, v1.2 labels);
//! 2. plans where the frame table goes and writes the reservation (`frame-table`):
//!    per-namespace (Linux's fsdax `--map=dev` info block and the table inside the data
//!    namespace) or a management namespace (our superblock and the table there);
//! 3. drives the data range through the lifecycle: initialised, activation refused while
//!    the management domain still maps the file, unmapped, active, mapped;
//! 4. maps the namespace's data area (after the reservation, aligned as planned) into a
//!    KVM guest as a memory slot; the guest writes a pattern over all of it;
//! 5. tears the VM down (unmapped, deactivated), reopens the file and checks that the
//!    labels parse to the same namespaces, the info block or superblock reads back, the
//!    frame table verifies, and every dword the guest wrote persisted.
//!
//! Run: `cargo run --release --example pmem_guest -- --help`

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use frame_table::layout::{COMPAT_ALIGN_X86, PAGE_SIZE, SIZE_2M, SUPERBLOCK_OFFSET};
use frame_table::plan;
use frame_table::superblock::{self, Header};
use frame_table::{
    Build, CostModel, Event, InitParams, Lifecycle, NamespaceGeometry, NamespaceLayout, PageSizes,
    Personality, PfnInfo, PfnMode, Request, Role, State, Strategy, Superblock, SuperblockRange,
};
use kvm_harness::asm::{Program, Reg};
use kvm_harness::kvm::{self, RealModeEntry, Vm};
use kvm_harness::report;
use kvm_ioctls::VcpuExit;
use memmap2::{Mmap, MmapMut, MmapOptions};
use nvdimm_label::aml::{AmlDimm, LabelInterface, SsdtBuilder, Transport};
use nvdimm_label::nfit::{DimmSpec, Nfit, NfitBuilder, Structure};
use nvdimm_label::{
    CLASSIFY_BYTES, ClaimClass, Content, InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region,
    Uuid, Writer,
};

/// Bytes of the label storage area at the end of the file: QEMU's minimum `label-size`
/// (`MIN_NAMESPACE_LABEL_SIZE`, `hw/mem/nvdimm.c`), which QEMU places right after the
/// pmem in the backend file.
const LSA_SIZE: u64 = 128 << 10;
/// Size of the management namespace (strategy `management`): the superblock at 4 KiB,
/// the first table on the next 2 MiB boundary, room for a 2 MiB table.
const MGMT_SIZE: u64 = 4 << 20;
/// Host physical address of the emulated NVDIMM's SPA range (where QEMU would place it,
/// above 4 GiB); frame numbers in the frame table count from here.
const NVDIMM_SPA: u64 = 0x1_0000_0000;
/// Interleave-set cookie of the emulated DIMM's region (there is no NFIT to compute
/// one from; the labels only need to carry the region's value).
const ISET_COOKIE: u64 = 0x4855_4745_564d_0001;
/// Label UUIDs (fixed, version 4 shaped, so runs are reproducible).
const MGMT_UUID: Uuid =
    Uuid::from_canonical(0x6d676d74, 0x0001, 0x4000, [0x80, 0, 0, 0, 0, 0, 0, 0x01]);
const DATA_UUID: Uuid =
    Uuid::from_canonical(0x64617461, 0x0001, 0x4000, [0x80, 0, 0, 0, 0, 0, 0, 0x02]);
/// UUID of the fsdax personality (the info block's `uuid`).
const PFN_UUID: [u8; 16] = *b"hugevm-fsdax-pfn";
/// The guest the data range is assigned to.
const GUEST: frame_table::GuestId = 1;

/// Guest-physical base of the data-area slot.
const PMEM_GPA: u32 = 0x1000_0000;
/// Where the guest program is loaded and starts.
const CODE_ADDR: u16 = 0x1000;
/// Guest RAM at GPA 0 (holds only the program).
const MEMORY_SIZE: usize = 64 * 1024;
/// Port the guest writes to when the pattern is written.
const PORT_DONE: u16 = 0x12;
/// Mixed into the pattern so a zero-filled or stale file cannot pass.
const SEED: u32 = 0x5EED_C0DE;

const USAGE: &str = "\
usage: pmem_guest [--size MIB] [--strategy per-namespace|management] [--file PATH] [--nfit]

An emulated NVDIMM as one file: the pmem, then a 128 KiB label storage area at its
end (QEMU's label-size layout). The VMM initialises the labels (v1.2) and creates a
data namespace of --size MiB (default 4, a multiple of 2), plus a 4 MiB management
namespace with --strategy management. It writes the frame-table reservation:
  per-namespace (default): Linux's fsdax --map=dev info block and a 64-byte-per-page
    table inside the data namespace; the data area starts at the planned dataoff;
  management: our superblock and a Xen-sized (32 + 8 bytes per page) table in the
    management namespace; the whole data namespace is the data area.
The data area becomes a KVM memory slot at GPA 0x10000000; the guest writes
(offset ^ 0x5EEDC0DE) into every dword. After VM teardown the VMM reopens the file
and checks labels, info block or superblock, frame table and data. The file is a
temporary one unless --file is given (then it is kept). Exits non-zero on any
mismatch; without /dev/kvm it fails when CI is set, else prints SKIPPED and exits 0.

--nfit prints, instead, the ACPI tables the VMM would hand a guest for this NVDIMM
(pmem at GPA 0x10000000, its label area right after it in guest memory) and exits:
the NFIT decoded by nvdimm-label's parser, and the NVDIMM SSDT (ACPI0012 root, one
DIMM device with _LSI/_LSR/_LSW over the zero-exit transport) disassembled by
`iasl -d` when acpica-tools is installed, else as hex.";

struct Args {
    size_mib: u64,
    strategy: Strategy,
    file: Option<PathBuf>,
    nfit: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        size_mib: 4,
        strategy: Strategy::PerNamespace,
        file: None,
        nfit: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--nfit" {
            args.nfit = true;
            continue;
        }
        if !matches!(flag.as_str(), "--size" | "--strategy" | "--file") {
            return Err(format!("unknown argument {flag}"));
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--size" => {
                args.size_mib = value
                    .parse()
                    .map_err(|_| format!("--size: not a number: {value}"))?;
            }
            "--strategy" => {
                args.strategy = match value.as_str() {
                    "per-namespace" => Strategy::PerNamespace,
                    "management" => Strategy::ManagementSuperblock,
                    _ => return Err(format!("--strategy: unknown {value}")),
                }
            }
            "--file" => args.file = Some(value.into()),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    // Namespaces are 2 MiB-aligned; the guest reaches the slot with 32-bit offsets.
    if args.size_mib < 2 || args.size_mib > 1024 || !args.size_mib.is_multiple_of(2) {
        return Err("--size must be an even number of MiB in 2..=1024".into());
    }
    Ok(Some(args))
}

/// Writes `offset ^ SEED` into each of `dwords` dwords from DS:0, then reports done.
fn guest_program(dwords: u32) -> Program {
    let mut p = Program::new();
    p.mov_imm32(Reg::Esi, 0).mov_imm32(Reg::Ecx, dwords);
    let top = p.label();
    p.mov(Reg::Eax, Reg::Esi)
        .xor_eax_imm32(SEED)
        .store_eax_at_esi()
        .add_imm8(Reg::Esi, 4)
        .dec(Reg::Ecx);
    p.jnz(top).expect("the loop body is a few bytes");
    p.mov_dx(PORT_DONE).out_dx_eax().hlt();
    p
}

/// Counts dwords of `data` that differ from the pattern.
fn mismatches(data: &[u8]) -> usize {
    data.chunks_exact(4)
        .zip((0u32..).step_by(4))
        .filter(|(word, offset)| **word != (offset ^ SEED).to_le_bytes())
        .count()
}

fn usize_of(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{v} does not fit in usize"))
}

fn byte_range(start: u64, len: u64) -> Result<Range<usize>, String> {
    Ok(usize_of(start)?..usize_of(start + len)?)
}

/// A namespace this run creates: its label and where it sits in the file.
#[derive(Debug, Clone, Copy)]
struct Ns {
    uuid: Uuid,
    name: &'static str,
    claim: ClaimClass,
    /// DPA, which is also the file offset (the pmem starts at offset 0).
    dpa: u64,
    size: u64,
}

/// The namespaces of `strategy`, management first (lowest DPA).
fn namespaces(a: &Args) -> Vec<Ns> {
    let data_size = a.size_mib << 20;
    let mut out = Vec::new();
    let data_claim = match a.strategy {
        Strategy::ManagementSuperblock => {
            // The management namespace carries frame-table's claim GUID, decoded from
            // the abstraction bytes a v1.2 label stores (EFI byte order); `run` checks
            // that nvdimm-label knows it as its own hugevm class.
            out.push(Ns {
                uuid: MGMT_UUID,
                name: "hugevm-mgmt",
                claim: ClaimClass::from_bytes(
                    frame_table::MGMT_CLAIM_GUID_BYTES,
                    LabelVersion::V1_2,
                ),
                dpa: 0,
                size: MGMT_SIZE,
            });
            // Its contents are the hypervisor's too: Linux exposes it raw and keeps off.
            ClaimClass::Hugevm
        }
        // Linux's fsdax claim class, which the info block written below satisfies.
        _ => ClaimClass::Pfn,
    };
    let dpa = out.iter().map(|n| n.dpa + n.size).max().unwrap_or(0);
    out.push(Ns {
        uuid: DATA_UUID,
        name: "guest-data",
        claim: data_claim,
        dpa,
        size: data_size,
    });
    out
}

/// Step 1: an empty v1.2 label area, then one label per namespace.
fn write_labels(lsa: &mut [u8], pmem_size: u64, ns: &[Ns]) -> Result<Lsa, String> {
    nvdimm_label::init(lsa, LabelVersion::V1_2, InitStyle::Kernel).map_err(|e| e.to_string())?;
    let mut writer = Writer::new(lsa, Region::pmem(pmem_size, ISET_COOKIE));
    for n in ns {
        let name = Name::new(n.name).ok_or("namespace name too long")?;
        let spec = NamespaceSpec {
            dpa: Some(n.dpa),
            claim: n.claim,
            ..NamespaceSpec::new(n.uuid, name, n.size)
        };
        writer
            .create(&spec)
            .map_err(|e| format!("create {}: {e}", n.name))?;
    }
    writer.read().map_err(|e| e.to_string())
}

/// Whether the parsed labels describe exactly `ns` (and nothing is damaged).
fn labels_match(lsa: &Lsa, ns: &[Ns]) -> bool {
    let mut want: Vec<Ns> = ns.to_vec();
    want.sort_by_key(|n| n.uuid);
    !lsa.is_damaged()
        && lsa.namespaces().len() == want.len()
        && lsa.namespaces().iter().zip(&want).all(|(got, n)| {
            got.uuid == n.uuid
                && got.name.as_str() == Some(n.name)
                && got.claim == Some(n.claim)
                && got.isetcookie == ISET_COOKIE
                && got.extents.len() == 1
                && got.extents.first().dpa == n.dpa
                && got.extents.first().size == n.size
        })
}

/// What step 2 wrote, to read back after the guest ran.
enum Reservation {
    InfoBlock {
        info: PfnInfo,
        geometry: NamespaceGeometry,
    },
    Superblock {
        at: u64,
        header: Header,
        ranges: Vec<SuperblockRange>,
    },
}

/// Step 2 result: where the data area is and what reserves it.
struct Written {
    reservation: Reservation,
    /// File offset of the frame table, and what it was built from.
    table_at: u64,
    build: Build,
    /// File range of the data area handed to the guest.
    data: Range<u64>,
}

/// Step 2: plans `strategy` over the labelled namespaces and writes the reservation and
/// the frame table into the mapped file.
fn write_reservation(map: &mut [u8], ns: &[Ns], strategy: Strategy) -> Result<Written, String> {
    let spans: Vec<frame_table::Namespace> = ns
        .iter()
        .map(|n| frame_table::Namespace {
            base: NVDIMM_SPA + n.dpa,
            size: n.size,
            align: SIZE_2M,
        })
        .collect();
    // Linux's 64-byte struct page for the in-namespace info block (so the block is
    // exactly what `ndctl create-namespace -m fsdax --map=dev` writes); Xen's 32-byte
    // page_info plus 8-byte M2P entry for the management namespace.
    let cost = match strategy {
        Strategy::PerNamespace => CostModel::LINUX,
        _ => CostModel::XEN,
    };
    let management = (strategy == Strategy::ManagementSuperblock).then_some(0);
    let req = Request {
        namespaces: &spans,
        cost,
        dram_budget: 0,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management,
    };
    let p = plan::plan(req, strategy).map_err(|e| format!("plan: {e}"))?;
    println!(
        "  plan ({}): {} B/page, table {} KiB in pmem, {} KiB of pmem given up, {} data pages",
        strategy.name(),
        cost.per_page(),
        (p.descriptor_bytes + p.reverse_map_bytes) >> 10,
        p.pmem_overhead_bytes >> 10,
        p.data_pages
    );
    let layouts: Vec<NamespaceLayout> = plan::layouts(req, strategy)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("plan: {e}"))?;
    let data = layouts
        .iter()
        .find(|l| l.role == Role::Data)
        .ok_or("no data namespace in the plan")?;
    let n = ns[data.index];
    let table = data.table.ok_or("the data namespace has no table")?;
    let frame_table::Medium::Namespace(holder) = table.medium else {
        return Err("the plan put the table in DRAM".into());
    };
    let build = Build {
        descriptor_size: cost.descriptor_size,
        first_mfn: (NVDIMM_SPA + n.dpa + data.data_offset) / PAGE_SIZE,
        pages: data.data_pages,
    };
    let table_at = ns[holder].dpa + table.offset;
    build
        .run(&mut map[usize_of(table_at)?..], &mut |_| {})
        .map_err(|e| format!("frame table: {e}"))?;
    let reservation = match strategy {
        Strategy::PerNamespace => {
            let geometry = NamespaceGeometry {
                start: NVDIMM_SPA + n.dpa,
                size: n.size,
                uuid: n.uuid.0,
                compat_align: COMPAT_ALIGN_X86,
            };
            let info = PfnInfo::init(&InitParams {
                personality: Personality::Fsdax,
                mode: PfnMode::Pmem,
                uuid: PFN_UUID,
                namespace: geometry,
                align: u32::try_from(SIZE_2M).map_err(|e| e.to_string())?,
            })
            .map_err(|e| format!("info block: {e}"))?;
            // Two computations of Linux's nd_pfn_init must agree: the planner's layout
            // and the info block's own.
            if (info.dataoff, info.npfns, u64::from(info.end_trunc))
                != (data.data_offset, data.data_pages, data.end_trunc)
            {
                return Err(format!(
                    "info block and plan disagree: {info:?} vs {data:?}"
                ));
            }
            info.emit_namespace(&mut map[byte_range(n.dpa, n.size)?])
                .map_err(|e| format!("info block: {e}"))?;
            println!(
                "  fsdax info block at {:#x}: dataoff {:#x}, npfns {}, table at {table_at:#x}",
                n.dpa + 4096,
                info.dataoff,
                info.npfns
            );
            Reservation::InfoBlock { info, geometry }
        }
        _ => {
            let m = ns[holder];
            let ranges = vec![SuperblockRange {
                spa: NVDIMM_SPA + n.dpa + data.data_offset,
                pages: data.data_pages,
                table_offset: table.offset,
                initialised: true,
            }];
            let header = Header {
                uuid: m.uuid.0,
                version_minor: 0,
                seq: 1,
                namespace_size: m.size,
                table_start: plan::first_table_offset(1).map_err(|e| e.to_string())?,
                cost,
            };
            let at = m.dpa + SUPERBLOCK_OFFSET;
            superblock::emit(
                &header,
                &ranges,
                &mut map[byte_range(at, m.size - SUPERBLOCK_OFFSET)?],
            )
            .map_err(|e| format!("superblock: {e}"))?;
            println!(
                "  management superblock at {at:#x}: 1 range of {} pages at SPA {:#x}, table at {table_at:#x}",
                data.data_pages,
                NVDIMM_SPA + n.dpa + data.data_offset
            );
            Reservation::Superblock { at, header, ranges }
        }
    };
    let start = n.dpa + data.data_offset;
    Ok(Written {
        reservation,
        table_at,
        build,
        data: start..start + data.data_pages * PAGE_SIZE,
    })
}

/// Applies a lifecycle event, printing the new state.
fn step(life: &mut Lifecycle, event: Event) -> Result<State, String> {
    let state = life
        .apply(event)
        .map_err(|e| format!("lifecycle {event:?}: {e}"))?;
    println!("  lifecycle: {event:?} -> {state:?}");
    Ok(state)
}

/// Steps 1 to 3 on the management domain's map of the whole file.
fn prepare(
    file: &File,
    a: &Args,
    ns: &[Ns],
    pmem_size: u64,
    life: &mut Lifecycle,
) -> Result<Written, String> {
    // SAFETY:
    // - the file is this run's NVDIMM image, created or truncated by us, and nothing
    //   else maps or resizes it while this map lives;
    // - its length was fixed before mapping, and the map is dropped before the guest's
    //   map of the data area is made.
    let mut map = unsafe { MmapMut::map_mut(file) }.map_err(|e| format!("mmap: {e}"))?;
    step(life, Event::Dom0Map)?;

    let t = Instant::now();
    let lsa = write_labels(&mut map[byte_range(pmem_size, LSA_SIZE)?], pmem_size, ns)?;
    if !labels_match(&lsa, ns) {
        return Err(format!("labels just written do not parse back: {lsa:?}"));
    }
    println!(
        "  labels: v1.2 area of {} slots at file offset {pmem_size:#x}, namespaces: {}, in {}",
        lsa.index().nslot(),
        lsa.namespaces().len(),
        report::ms(t.elapsed())
    );
    for n in ns {
        println!(
            "    {} {:<12} DPA {:#09x} size {:>5} KiB claim {}",
            n.uuid,
            n.name,
            n.dpa,
            n.size >> 10,
            n.claim.mode_name()
        );
    }

    let t = Instant::now();
    let written = write_reservation(&mut map, ns, a.strategy)?;
    step(life, Event::Initialise)?;
    println!(
        "  reservation and {} descriptors written in {}",
        written.build.pages,
        report::ms(t.elapsed())
    );

    // The design rule, enforced: no guest gets the range while dom0 still maps it.
    match life.apply(Event::Activate(GUEST)) {
        Err(frame_table::LifecycleError::ManagementDomainMapped) => {
            println!(
                "  lifecycle: Activate while the VMM still maps the file -> refused, as required"
            );
        }
        other => return Err(format!("activation while dom0 maps the range: {other:?}")),
    }
    map.flush().map_err(|e| format!("msync: {e}"))?;
    drop(map);
    step(life, Event::Dom0Unmap)?;
    Ok(written)
}

/// Step 4: the guest writes the pattern into the data area; returns when torn down.
fn run_guest(
    kvm: &kvm_ioctls::Kvm,
    file: &File,
    data: &Range<u64>,
    life: &mut Lifecycle,
) -> Result<(), String> {
    let len = usize_of(data.end - data.start)?;
    // SAFETY:
    // - the management domain's map is gone (lifecycle Dom0Unmap); this map of the data
    //   area is the only one, and the file keeps its length while it lives;
    // - `data.start` is a multiple of 2 MiB, so a valid mmap offset.
    let slot = unsafe { MmapOptions::new().offset(data.start).len(len).map_mut(file) }
        .map_err(|e| format!("mmap data area: {e}"))?;
    step(life, Event::Activate(GUEST))?;

    let started = Instant::now();
    let mut vm = Vm::new(kvm, MEMORY_SIZE).map_err(|e| e.to_string())?;
    vm.add_slot(u64::from(PMEM_GPA), slot)
        .map_err(|e| e.to_string())?;
    step(life, Event::Map)?;
    let dwords = u32::try_from(len / 4).map_err(|e| e.to_string())?;
    vm.load(u64::from(CODE_ADDR), guest_program(dwords).bytes())
        .map_err(|e| e.to_string())?;
    let entry = RealModeEntry {
        ip: CODE_ADDR,
        ds_base: PMEM_GPA,
    };
    let mut vcpu = kvm::create_x2apic_vcpu(kvm, &vm.fd, 0, entry).map_err(|e| e.to_string())?;
    match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
        VcpuExit::IoOut(PORT_DONE, _) => {}
        other => return Err(format!("unexpected exit {other:?}")),
    }
    let guest_time = started.elapsed();
    let t = Instant::now();
    drop(vcpu);
    let maps = vm.teardown();
    for map in &maps {
        map.flush().map_err(|e| format!("msync: {e}"))?;
    }
    drop(maps);
    println!(
        "  guest wrote {} KiB at GPA {PMEM_GPA:#x} in {} (VM creation included); torn down and flushed in {}",
        len >> 10,
        report::ms(guest_time),
        report::ms(t.elapsed())
    );
    step(life, Event::Unmap)?;
    step(life, Event::Deactivate)?;
    Ok(())
}

/// Step 5: reads everything back from a fresh read-only map; returns the failures.
fn verify(
    path: &std::path::Path,
    ns: &[Ns],
    pmem_size: u64,
    w: &Written,
) -> Result<Vec<String>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the VM and every writable map are gone, so nothing writes the file while
    // this read-only map lives; its length is unchanged.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| format!("mmap: {e}"))?;
    let mut failures = Vec::new();
    if map.len() as u64 != pmem_size + LSA_SIZE {
        return Ok(vec![format!(
            "file is {} bytes, expected {}",
            map.len(),
            pmem_size + LSA_SIZE
        )]);
    }

    match Lsa::parse(&map[byte_range(pmem_size, LSA_SIZE)?]) {
        Ok(lsa) if labels_match(&lsa, ns) => println!(
            "  labels: parse, same namespaces ({}; index seq {})",
            lsa.namespaces().len(),
            lsa.index().seq()
        ),
        other => failures.push(format!("labels: {other:?}")),
    }

    let data_ns = ns.last().ok_or("no namespaces")?;
    let start = &map[byte_range(data_ns.dpa, CLASSIFY_BYTES as u64)?];
    let content = nvdimm_label::classify(start, data_ns.uuid, Some(data_ns.claim), true);
    match &w.reservation {
        Reservation::InfoBlock { info, geometry } => {
            let read = PfnInfo::parse_namespace(&map[byte_range(data_ns.dpa, data_ns.size)?]);
            match read {
                Ok(r) if r == *info => match r.validate(geometry) {
                    Ok(()) => println!("  fsdax info block: reads back, Linux's checks pass"),
                    Err(e) => failures.push(format!("info block fails Linux's checks: {e}")),
                },
                other => failures.push(format!("info block: {other:?}")),
            }
            // The label crate's independent reader must see the same fsdax personality.
            match content {
                Content::Pfn(p) if p.dataoff == info.dataoff && p.npfns == info.npfns => {
                    println!(
                        "  nvdimm-label classifies the namespace as fsdax, dataoff {:#x}",
                        p.dataoff
                    );
                }
                other => failures.push(format!("nvdimm-label classify: {other:?}")),
            }
        }
        Reservation::Superblock { at, header, ranges } => {
            match Superblock::parse(&map[usize_of(*at)?..]) {
                Ok(sb) if sb.header() == header && sb.ranges().eq(ranges.iter().copied()) => {
                    println!("  management superblock: reads back, {} range", sb.len());
                }
                other => failures.push(format!("superblock: {other:?}")),
            }
            // A hypervisor-claimed namespace probes as raw: no Linux personality in it.
            if content != Content::Raw {
                failures.push(format!("hugevm namespace classified as {content:?}"));
            }
        }
    }

    match w.build.verify(&map[usize_of(w.table_at)?..]) {
        Ok(()) => println!(
            "  frame table: {} descriptors verify (MFN {:#x}..)",
            w.build.pages, w.build.first_mfn
        ),
        Err(e) => failures.push(format!("frame table: {e}")),
    }

    let t = Instant::now();
    let bad = mismatches(&map[byte_range(w.data.start, w.data.end - w.data.start)?]);
    println!(
        "  data: {} KiB checked in {}",
        (w.data.end - w.data.start) >> 10,
        report::ms(t.elapsed())
    );
    if bad != 0 {
        failures.push(format!(
            "{bad} dwords of the data area differ from what the guest wrote"
        ));
    }
    Ok(failures)
}

fn open_image(path: &std::path::Path, len: u64) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.set_len(len)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// `iasl -d` of an ACPI table, or `None` without acpica-tools.
fn iasl_decode(table: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("hugevm-acpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let dsl = std::fs::write(dir.join("t.dat"), table)
        .ok()
        .and_then(|()| {
            std::process::Command::new("iasl")
                .args(["-d", "t.dat"])
                .current_dir(&dir)
                .output()
                .ok()
        })
        .filter(|o| o.status.success())
        .and_then(|_| std::fs::read_to_string(dir.join("t.dsl")).ok());
    let _ = std::fs::remove_dir_all(&dir);
    dsl
}

/// Prints `table` decoded by iasl, else as hex.
fn print_decoded(table: &[u8]) {
    if let Some(text) = iasl_decode(table) {
        println!("{text}");
        return;
    }
    println!("(iasl not installed: apt-get install acpica-tools to decode; hex follows)");
    for line in table.chunks(16) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {}", hex.join(" "));
    }
}

/// Prints the NFIT and NVDIMM SSDT a guest of this NVDIMM would get (`--nfit`).
fn print_tables(pmem_size: u64) -> Result<bool, String> {
    let lsa_gpa = u64::from(PMEM_GPA) + pmem_size;
    let nfit = NfitBuilder::new()
        .dimm(DimmSpec::new(
            0,
            u64::from(PMEM_GPA),
            pmem_size,
            LSA_SIZE as u32,
        ))
        .build();
    let bytes = nfit.emit().map_err(|e| e.to_string())?;
    let parsed = Nfit::parse(&bytes).map_err(|e| e.to_string())?;
    println!(
        "NFIT ({} bytes), as nvdimm-label parses it back:",
        bytes.len()
    );
    for s in &parsed.structures {
        match s {
            Structure::Spa(r) => println!(
                "  SPA range {}: {:#x}+{:#x}, {}, flags {:#x}, attributes {:#x}",
                r.range_index, r.base, r.length, r.range_guid, r.flags, r.memory_mapping
            ),
            Structure::RegionMapping(m) => println!(
                "  mapping: handle {:#x} -> SPA range {}, control region {}, {:#x} bytes at DPA {:#x}, {} way(s)",
                m.device_handle,
                m.range_index,
                m.control_region_index,
                m.region_size,
                m.dpa,
                m.interleave_ways
            ),
            Structure::ControlRegion(c) => println!(
                "  control region {}: vendor {:#06x} device {:#x} serial {:#x} code {:#x}",
                c.region_index, c.vendor_id, c.device_id, c.serial_number, c.code
            ),
            other => println!("  {other:?}"),
        }
    }
    print_decoded(&bytes);
    let dimm = AmlDimm {
        handle: NfitBuilder::device_handle(0),
        label_size: LSA_SIZE as u32,
        label_gpa: lsa_gpa,
    };
    let ssdt = SsdtBuilder::new(&[dimm], LabelInterface::LabelMethods, Transport::ZeroExit)
        .ssdt()
        .map_err(|e| e.to_string())?;
    println!(
        "SSDT ({} bytes; zero-exit label area at GPA {lsa_gpa:#x}, to be reserved in the memory map):",
        ssdt.len()
    );
    print_decoded(ssdt.as_slice());
    Ok(true)
}

fn run(a: &Args) -> Result<bool, String> {
    if a.nfit {
        let pmem_size = namespaces(a)
            .iter()
            .map(|n| n.dpa + n.size)
            .max()
            .unwrap_or(0);
        return print_tables(pmem_size);
    }
    let Some(kvm) = kvm::open().map_err(|e| e.to_string())? else {
        report::skipped_no_kvm("pmem_guest");
        return Ok(true);
    };
    let ns = namespaces(a);
    // The two crates share no code, so the glue checks they agree on the claim GUID.
    if ns.iter().any(|n| matches!(n.claim, ClaimClass::Unknown(_))) {
        eprintln!(
            "FAIL: frame-table's MGMT_CLAIM_GUID {} is not nvdimm-label's hugevm claim class",
            frame_table::MGMT_CLAIM_GUID
        );
        return Ok(false);
    }
    let pmem_size = ns.iter().map(|n| n.dpa + n.size).max().unwrap_or(0);
    let temp = a.file.is_none();
    let path = a.file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hugevm-nvdimm-{}.img", std::process::id()))
    });
    println!(
        "pmem_guest: NVDIMM image {} ({} KiB pmem + {} KiB labels), strategy {}",
        path.display(),
        pmem_size >> 10,
        LSA_SIZE >> 10,
        a.strategy.name()
    );
    let total = Instant::now();
    let result = (|| {
        let file = open_image(&path, pmem_size + LSA_SIZE)?;
        let mut life = Lifecycle::new();
        let written = prepare(&file, a, &ns, pmem_size, &mut life)?;
        run_guest(&kvm, &file, &written.data, &mut life)?;
        drop(file);
        println!("reopened {}:", path.display());
        verify(&path, &ns, pmem_size, &written)
    })();
    if temp {
        // Best effort: the image may not exist if opening it failed.
        let _ = std::fs::remove_file(&path);
    }
    let failures = result?;
    for f in &failures {
        eprintln!("FAIL: {f}");
    }
    if !failures.is_empty() {
        return Ok(false);
    }
    println!(
        "OK: labels, reservation, frame table and guest data persisted across VM teardown ({} total)",
        report::ms(total.elapsed())
    );
    Ok(true)
}

fn main() -> ExitCode {
    report::main("pmem_guest", USAGE, parse_args, run)
}
