// SPDX-License-Identifier: Apache-2.0 OR MIT
//! many_vcpus: a KVM guest with hundreds of vCPUs in x2APIC mode, switched by the VMM.
//!
//! The VMM creates a VM with the in-kernel irqchip and `KVM_CAP_X2APIC_API`, and N vCPUs
//! whose CPUID and `IA32_APIC_BASE` come from an `x2apic-virt` switch plan (dense APIC
//! IDs; x2APIC mode before the first instruction whenever an ID is above 254, and here
//! always; guest code never writes `IA32_APIC_BASE`). Every vCPU runs the same real-mode program: read its
//! own x2APIC ID with `rdmsr 0x802`, then for each round report it through port I/O and
//! MMIO, ask the device model for a reply with `in`, and store the reply through MMIO.
//!
//! Every exit travels as Xen does it: the vCPU thread (the emulator side) turns it into an
//! `ioreq_t` in the vCPU's slot of a multi-page shared area (the `ioreq` crate: 128 slots
//! a page, so 288 vCPUs use 3 pages), one device-model thread takes and completes it, and
//! the vCPU resumes with the response. The device model checks that each vCPU reported
//! its own ID, each ID exactly once, and the VMM prints timings.
//!
//! Run: `cargo run --release --example many_vcpus -- --help`

use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::thread::Thread;

use ioreq::{
    DeviceModel, Direction, Emulator, IoreqPage, Notify, PageLayout, Request, RequestType,
    SyncPages,
};
use kvm_harness::asm::{Program, Reg};
use kvm_harness::kvm::{self, RealModeEntry, Vm, X2APIC_ID_MSR};
use kvm_harness::report;
use kvm_ioctls::{VcpuExit, VcpuFd};
use memmap2::MmapMut;
use x2apic_virt::policy::{IdScheme, Plan, Topology};

/// Port the guest writes its x2APIC ID to.
const PORT_REPORT: u16 = 0x10;
/// Port the guest reads the device model's reply from.
const PORT_REPLY: u16 = 0x11;
/// Port the guest writes to when its rounds are done.
const PORT_DONE: u16 = 0x12;
/// Guest-physical base of the MMIO window (outside guest memory, so accesses exit).
const MMIO_BASE: u32 = 0xD_0000;
/// MMIO offset of the ID report.
const MMIO_REPORT: u16 = 0;
/// MMIO offset where the guest stores the reply it read.
const MMIO_REPLY: u16 = 4;
/// Where the guest program is loaded and starts.
const CODE_ADDR: u16 = 0x1000;
/// Guest memory size: the program only needs one page; 64 KiB covers real-mode CS.
const MEMORY_SIZE: usize = 64 * 1024;

const USAGE: &str = "\
usage: many_vcpus [--vcpus N] [--rounds R] [--ids dense|xen|packed]

A KVM VM with N vCPUs (default 288, at most KVM's maximum) switched to x2APIC by the VMM.
APIC IDs come from the x2apic-virt plan: dense (default, ID = vCPU index), xen
(2 x index) or packed (QEMU-style topology of 2 threads x 9 cores per socket, with holes).
Each vCPU reads its x2APIC ID with rdmsr 0x802 and does R rounds (default 100) of:
port-I/O report, MMIO report, port-I/O read of the device model's reply, MMIO store of
that reply. Exits non-zero if any vCPU reports a wrong ID or reply, or any ID is missing
or repeated. Without /dev/kvm it fails when CI is set, else prints SKIPPED and exits 0.";

struct Args {
    vcpus: usize,
    rounds: u32,
    ids: Ids,
}

/// The APIC ID scheme asked for.
#[derive(Clone, Copy, Debug)]
enum Ids {
    Dense,
    Xen,
    Packed,
}

impl Ids {
    /// The plan's scheme for `n` vCPUs (packed: 2 threads x 9 cores per socket, so each
    /// socket's 18 IDs sit in a 32-ID block).
    fn scheme(self, n: u32) -> IdScheme {
        match self {
            Self::Dense => IdScheme::Dense,
            Self::Xen => IdScheme::Xen,
            Self::Packed => IdScheme::Topology(Topology {
                threads: 2,
                cores: 9,
                modules: 1,
                dies: 1,
                sockets: n.div_ceil(18),
            }),
        }
    }
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        vcpus: 288,
        rounds: 100,
        ids: Ids::Dense,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--ids" => {
                args.ids = match it.next().as_deref() {
                    Some("dense") => Ids::Dense,
                    Some("xen") => Ids::Xen,
                    Some("packed") => Ids::Packed,
                    other => {
                        return Err(format!(
                            "--ids: expected dense, xen or packed, got {other:?}"
                        ));
                    }
                };
            }
            "--vcpus" | "--rounds" => {
                let value = it.next().ok_or(format!("{flag} needs a value"))?;
                let bad = |_| format!("{flag}: not a number: {value}");
                if flag == "--vcpus" {
                    args.vcpus = value.parse().map_err(bad)?;
                } else {
                    args.rounds = value.parse().map_err(bad)?;
                }
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.vcpus == 0 || args.rounds == 0 {
        return Err("--vcpus and --rounds must be at least 1".into());
    }
    Ok(Some(args))
}

/// The program every vCPU runs (real mode, DS = MMIO window).
fn guest_program(rounds: u32) -> Program {
    let mut p = Program::new();
    p.mov_imm32(Reg::Ecx, X2APIC_ID_MSR)
        .rdmsr()
        .mov(Reg::Ebx, Reg::Eax)
        .mov_imm32(Reg::Esi, rounds);
    let top = p.label();
    p.mov(Reg::Eax, Reg::Ebx)
        .mov_dx(PORT_REPORT)
        .out_dx_eax()
        .store_eax(MMIO_REPORT)
        .mov_dx(PORT_REPLY)
        .in_eax_dx()
        .store_eax(MMIO_REPLY)
        .dec(Reg::Esi);
    p.jnz(top).expect("the loop body is a few bytes");
    p.mov(Reg::Eax, Reg::Ebx)
        .mov_dx(PORT_DONE)
        .out_dx_eax()
        .hlt();
    p
}

/// The device model's answer to a vCPU that reported `id`.
fn reply_for(id: u32) -> u32 {
    !id
}

/// The device model's view of the run: what each vCPU reported, checked on its thread.
struct DeviceState {
    /// Per vCPU (= slot): port reports, MMIO reports, replies stored, done.
    counts: Vec<[u32; 4]>,
    /// Each vCPU's APIC ID from the plan, by vCPU index (strictly increasing).
    ids: Vec<u32>,
    /// How often each planned ID (by its vCPU index) was seen as some vCPU's first report.
    first_reports: Vec<u32>,
    /// vCPUs that have made their first report, and when the last one did.
    reported: usize,
    all_reported_at: Option<Instant>,
    /// Requests completed (each one VMM round trip through a slot).
    completed: u64,
    /// Everything that did not match, for the report.
    failures: Vec<String>,
}

/// Progress counters the main thread prints.
struct Progress {
    done: AtomicUsize,
    completed: AtomicUsize,
    stop: AtomicBool,
}

/// The device model: one thread serving every vCPU's `ioreq_t` slot. Returns its state
/// once every vCPU is done or `progress.stop` is set.
fn device_model(
    pages: SyncPages<'_>,
    vcpu_threads: &[OnceLock<Thread>],
    progress: &Progress,
    rounds: u32,
    ids: Vec<u32>,
) -> DeviceState {
    let n = vcpu_threads.len();
    let mut state = DeviceState {
        counts: vec![[0; 4]; n],
        ids,
        first_reports: vec![0; n],
        reported: 0,
        all_reported_at: None,
        completed: 0,
        failures: Vec::new(),
    };
    let wake_vcpu = |vcpu: u32| {
        if let Some(thread) = vcpu_threads.get(vcpu as usize).and_then(OnceLock::get) {
            thread.unpark();
        }
    };
    let dm = DeviceModel::new(pages, wake_vcpu);
    // Acquire pairs with the main thread's Release store after joining the vCPUs.
    while !progress.stop.load(Ordering::Acquire) {
        let ready: Vec<u32> = dm.pages().ready().collect();
        if ready.is_empty() {
            // A notification (unpark) that raced with the scan makes this return at once.
            std::thread::park_timeout(Duration::from_millis(10));
            continue;
        }
        for vcpu in ready {
            let request = match dm.take(vcpu) {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    state
                        .failures
                        .push(format!("vCPU {vcpu}: malformed request: {e}"));
                    let _ = dm.complete(vcpu, u64::MAX);
                    continue;
                }
            };
            let reply = serve(&mut state, vcpu, &request, rounds);
            if let Err(e) = dm.complete(vcpu, reply) {
                state.failures.push(format!("vCPU {vcpu}: completing: {e}"));
            }
            state.completed += 1;
            progress.completed.fetch_add(1, Ordering::Relaxed);
        }
    }
    state
}

/// Handles one request from `vcpu` (whose x2APIC ID must be the plan's) and returns the
/// response data.
fn serve(state: &mut DeviceState, vcpu: u32, request: &Request, rounds: u32) -> u64 {
    let index = vcpu as usize;
    let id = state.ids.get(index).copied().unwrap_or(u32::MAX);
    let data = u32::try_from(request.data).unwrap_or(u32::MAX);
    let mmio = u64::from(MMIO_BASE);
    let slot = match (request.kind, request.dir, request.addr) {
        (RequestType::Pio, Direction::Write, a) if a == u64::from(PORT_REPORT) => 0,
        (RequestType::Mmio, Direction::Write, a) if a == mmio + u64::from(MMIO_REPORT) => 1,
        (RequestType::Pio, Direction::Read, a) if a == u64::from(PORT_REPLY) => {
            return u64::from(reply_for(id));
        }
        (RequestType::Mmio, Direction::Write, a) if a == mmio + u64::from(MMIO_REPLY) => 2,
        (RequestType::Pio, Direction::Write, a) if a == u64::from(PORT_DONE) => 3,
        _ => {
            state
                .failures
                .push(format!("vCPU {vcpu}: unexpected request {request:?}"));
            return u64::MAX;
        }
    };
    let expected = if slot == 2 { reply_for(id) } else { id };
    if data != expected {
        state.failures.push(format!(
            "vCPU {vcpu}: request {slot} carried {data:#x}, expected {expected:#x}"
        ));
    }
    if slot == 0 && state.counts[index][0] == 0 {
        if let Some(seen) = state
            .ids
            .binary_search(&data)
            .ok()
            .and_then(|i| state.first_reports.get_mut(i))
        {
            *seen += 1;
        }
        state.reported += 1;
        if state.reported == state.first_reports.len() {
            state.all_reported_at = Some(Instant::now());
        }
    }
    state.counts[index][slot] += 1;
    if slot == 3 && state.counts[index][..3] != [rounds; 3] {
        state.failures.push(format!(
            "vCPU {vcpu}: done after {:?} (port, MMIO, reply) reports; expected {rounds} each",
            &state.counts[index][..3]
        ));
    }
    0
}

/// The emulator side of one vCPU: turns each exit into a request in its slot, waits for
/// the device model's response, and resumes the vCPU with it. Returns when the vCPU is
/// done.
fn run_vcpu(
    mut vcpu: VcpuFd,
    id: u32,
    emulator: &Emulator<'_, impl Notify>,
    progress: &Progress,
) -> Result<Instant, String> {
    loop {
        let exit = vcpu.run().map_err(|e| format!("vCPU {id}: KVM_RUN: {e}"))?;
        let (kind, dir, addr, size, data, read_into) = match exit {
            VcpuExit::IoOut(port, data) => (
                RequestType::Pio,
                Direction::Write,
                u64::from(port),
                data.len(),
                le(data),
                None,
            ),
            VcpuExit::IoIn(port, data) => (
                RequestType::Pio,
                Direction::Read,
                u64::from(port),
                data.len(),
                0,
                Some(data),
            ),
            VcpuExit::MmioWrite(addr, data) => (
                RequestType::Mmio,
                Direction::Write,
                addr,
                data.len(),
                le(data),
                None,
            ),
            VcpuExit::MmioRead(addr, data) => (
                RequestType::Mmio,
                Direction::Read,
                addr,
                data.len(),
                0,
                Some(data),
            ),
            other => return Err(format!("vCPU {id}: unexpected exit {other:?}")),
        };
        let done = kind == RequestType::Pio && addr == u64::from(PORT_DONE);
        let size = u8::try_from(size).map_err(|_| format!("vCPU {id}: {size}-byte access"))?;
        let request = Request::single(kind, dir, addr, size, data);
        emulator
            .post(id, &request)
            .map_err(|e| format!("vCPU {id}: post: {e}"))?;
        let response = loop {
            match emulator.poll_response(id) {
                Ok(Some(response)) => break response,
                // A completion's unpark that came before this park makes it return.
                Ok(None) => std::thread::park_timeout(Duration::from_millis(10)),
                Err(e) => return Err(format!("vCPU {id}: response: {e}")),
            }
        };
        if let Some(buf) = read_into {
            let bytes = response.to_le_bytes();
            buf.copy_from_slice(&bytes[..buf.len().min(8)]);
        }
        if done {
            progress.done.fetch_add(1, Ordering::Relaxed);
            return Ok(Instant::now());
        }
    }
}

/// An access's bytes as a little-endian value (accesses are at most 8 bytes).
fn le(data: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let len = data.len().min(8);
    bytes[..len].copy_from_slice(&data[..len]);
    u64::from_le_bytes(bytes)
}

fn run(args: &Args) -> Result<bool, String> {
    let Some(kvm) = kvm::open().map_err(|e| e.to_string())? else {
        report::skipped_no_kvm("many_vcpus");
        return Ok(true);
    };
    let max = kvm.get_max_vcpus();
    if args.vcpus > max {
        return Err(kvm::Error::TooManyVcpus {
            requested: args.vcpus,
            max,
        }
        .to_string());
    }
    let n = u32::try_from(args.vcpus).map_err(|e| e.to_string())?;
    println!(
        "many_vcpus: {} vCPUs (KVM allows {max}), {} rounds each, x2APIC switched by the VMM",
        args.vcpus, args.rounds
    );

    let created = Instant::now();
    let mut vm = Vm::new(&kvm, MEMORY_SIZE).map_err(|e| e.to_string())?;
    vm.load(u64::from(CODE_ADDR), guest_program(args.rounds).bytes())
        .map_err(|e| e.to_string())?;
    let entry = RealModeEntry {
        ip: CODE_ADDR,
        ds_base: MMIO_BASE,
    };
    // Each vCPU must report the APIC ID the plan gave it.
    let plan = Plan::new(n, args.ids.scheme(n))
        .map_err(|e| e.to_string())?
        .force_x2apic();
    if plan.max_apic_id() as usize >= kvm.get_max_vcpu_id() {
        return Err(format!(
            "{:?} IDs reach {}; KVM allows vCPU IDs below {}",
            args.ids,
            plan.max_apic_id(),
            kvm.get_max_vcpu_id()
        ));
    }
    println!(
        "  x2APIC plan: {:?} APIC IDs up to {}, needed: {}, interrupt routing: {:?}, MADT entries: {} bytes",
        args.ids,
        plan.max_apic_id(),
        plan.needs_x2apic(),
        plan.routing(),
        plan.madt_bytes().len()
    );
    let vcpus = (0..n)
        .map(|v| kvm::create_planned_vcpu(&kvm, &vm.fd, &plan, v, entry).map(|(fd, _)| fd))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let creation = created.elapsed();
    println!(
        "  VM creation ({n} vCPUs, CPUID + IA32_APIC_BASE each): {}",
        report::ms(creation)
    );

    let layout = PageLayout::new(n).map_err(|e| e.to_string())?;
    let pages_len = layout.sync_pages() as usize * ioreq::layout::PAGE_SIZE;
    let mut shared_area = MmapMut::map_anon(pages_len).map_err(|e| e.to_string())?;
    let pages = IoreqPage::from_bytes(&mut shared_area, layout.sync_pages() as usize)
        .and_then(|pages| SyncPages::contiguous(layout, pages))
        .map_err(|e| e.to_string())?;
    println!(
        "  ioreq server: {} synchronous page(s) of 128 slots in one shared map",
        layout.sync_pages()
    );

    let progress = Progress {
        done: AtomicUsize::new(0),
        completed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let vcpu_threads: Vec<OnceLock<Thread>> = (0..n).map(|_| OnceLock::new()).collect();
    let dm_thread: OnceLock<Thread> = OnceLock::new();
    let emulator = Emulator::new(pages, |_vcpu: u32| {
        if let Some(thread) = dm_thread.get() {
            thread.unpark();
        }
    });
    let started = Instant::now();
    let (results, state) = std::thread::scope(|s| {
        let (progress, vcpu_threads, emulator) = (&progress, &vcpu_threads, &emulator);
        let ids = plan.apic_ids().to_vec();
        let dm = s.spawn(move || device_model(pages, vcpu_threads, progress, args.rounds, ids));
        // Set before any vCPU runs, so no notification is lost.
        let _ = dm_thread.set(dm.thread().clone());
        let handles: Vec<_> = vcpus
            .into_iter()
            .zip(0..n)
            .map(|(vcpu, id)| {
                std::thread::Builder::new()
                    .name(format!("vcpu{id}"))
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, move || {
                        let registered = vcpu_threads[id as usize].set(std::thread::current());
                        debug_assert!(registered.is_ok(), "each vCPU thread registers once");
                        run_vcpu(vcpu, id, emulator, progress)
                    })
            })
            .collect();
        let mut last_progress = Instant::now();
        while progress.done.load(Ordering::Relaxed) < args.vcpus
            && handles
                .iter()
                .any(|h| h.as_ref().is_ok_and(|h| !h.is_finished()))
        {
            std::thread::sleep(Duration::from_millis(20));
            if last_progress.elapsed() >= Duration::from_secs(1) {
                eprintln!(
                    "  ... {}/{} vCPUs done, {} requests completed",
                    progress.done.load(Ordering::Relaxed),
                    args.vcpus,
                    progress.completed.load(Ordering::Relaxed)
                );
                last_progress = Instant::now();
            }
        }
        let results: Vec<Result<Instant, String>> = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err("vCPU thread panicked".into())),
                Err(e) => Err(format!("spawning a vCPU thread: {e}")),
            })
            .collect();
        // Release pairs with the device model's Acquire load: every vCPU has finished.
        progress.stop.store(true, Ordering::Release);
        dm.thread().unpark();
        let state = dm.join();
        (results, state)
    });
    let state = state.map_err(|_| "device model thread panicked".to_string())?;

    let mut ok = true;
    for err in results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .chain(&state.failures)
    {
        eprintln!("FAIL: {err}");
        ok = false;
    }
    let wrong: Vec<_> = state
        .ids
        .iter()
        .zip(&state.first_reports)
        .filter(|(_, c)| **c != 1)
        .collect();
    if !wrong.is_empty() {
        eprintln!("FAIL: IDs not reported exactly once (id, times): {wrong:?}");
        ok = false;
    }
    if state.counts.iter().any(|c| c[3] != 1) {
        eprintln!("FAIL: not every vCPU finished exactly once");
        ok = false;
    }
    if let Some(at) = state.all_reported_at {
        println!(
            "  first report from all {n} vCPUs: {} after start",
            report::ms(at.duration_since(started))
        );
    }
    // Round trips are timed to the last vCPU's finish, not to the joins.
    let finished = results.iter().filter_map(|r| r.as_ref().ok()).max();
    let elapsed = finished.map_or_else(|| started.elapsed(), |f| f.duration_since(started));
    println!(
        "  {} ioreq round trips (exit -> slot -> device model -> resume) in {} = {:.0}/s",
        state.completed,
        report::ms(elapsed),
        report::per_second(state.completed, elapsed)
    );
    if ok {
        println!(
            "OK: each of the {n} vCPUs reported its own x2APIC ID ({:?} plan), each ID exactly once, all replies correct",
            args.ids
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    report::main("many_vcpus", USAGE, parse_args, run)
}
