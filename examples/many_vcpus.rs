// SPDX-License-Identifier: Apache-2.0 OR MIT
//! many_vcpus: a KVM guest with hundreds of vCPUs in x2APIC mode, switched by the VMM.
//!
//! The VMM creates a VM with the in-kernel irqchip and `KVM_CAP_X2APIC_API`, and N vCPUs
//! whose CPUID and `IA32_APIC_BASE` put them in x2APIC mode before they run (guest code
//! never writes `IA32_APIC_BASE`). Every vCPU runs the same real-mode program: read its
//! own x2APIC ID with `rdmsr 0x802`, then for each round report it through port I/O and
//! MMIO, ask the device model for a reply with `in`, and store the reply through MMIO.
//! The VMM checks every access and that each vCPU reported its own ID, each ID exactly
//! once, and prints timings.
//!
//! Run: `cargo run --release --example many_vcpus -- --help`

use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hugevm::asm::{Program, Reg};
use hugevm::kvm::{self, RealModeEntry, Vm, X2APIC_ID_MSR};
use hugevm::report;
use kvm_ioctls::{VcpuExit, VcpuFd};

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
usage: many_vcpus [--vcpus N] [--rounds R]

A KVM VM with N vCPUs (default 288, at most KVM's maximum) switched to x2APIC by the VMM.
Each vCPU reads its x2APIC ID with rdmsr 0x802 and does R rounds (default 100) of:
port-I/O report, MMIO report, port-I/O read of the device model's reply, MMIO store of
that reply. Exits non-zero if any vCPU reports a wrong ID or reply, or any ID is missing
or repeated. Prints SKIPPED and exits 0 when /dev/kvm is absent.";

struct Args {
    vcpus: usize,
    rounds: u32,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        vcpus: 288,
        rounds: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
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

/// What the whole VM shares while it runs.
struct Shared {
    /// How often each ID was seen as a vCPU's first report.
    first_reports: Vec<AtomicU32>,
    /// vCPUs that have made their first report.
    reported: AtomicUsize,
    /// When the last vCPU made its first report.
    all_reported_at: OnceLock<Instant>,
    /// vCPUs that finished all rounds.
    done: AtomicUsize,
    /// Exits handled (each is one VMM round trip).
    exits: AtomicUsize,
}

fn u32_of(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.try_into().ok()?))
}

/// Runs one vCPU to completion, checking every exit. `id` is the x2APIC ID it must report.
/// Returns when it finished.
fn run_vcpu(mut vcpu: VcpuFd, id: u32, rounds: u32, shared: &Shared) -> Result<Instant, String> {
    let mut pio_reports = 0u32;
    let mut mmio_reports = 0u32;
    let mut replies = 0u32;
    let mmio_report = u64::from(MMIO_BASE) + u64::from(MMIO_REPORT);
    let mmio_reply = u64::from(MMIO_BASE) + u64::from(MMIO_REPLY);
    loop {
        let exit = vcpu.run().map_err(|e| format!("vCPU {id}: KVM_RUN: {e}"))?;
        shared.exits.fetch_add(1, Ordering::Relaxed);
        match exit {
            VcpuExit::IoOut(PORT_REPORT, data) => {
                let got = u32_of(data).ok_or(format!("vCPU {id}: {}-byte report", data.len()))?;
                if got != id {
                    return Err(format!("vCPU {id} reported x2APIC ID {got}"));
                }
                if pio_reports == 0 {
                    if let Some(count) = shared.first_reports.get(got as usize) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    // AcqRel: the vCPU that brings the count to N must see every other
                    // vCPU's increment before it stamps the time; pairs with itself.
                    if shared.reported.fetch_add(1, Ordering::AcqRel) + 1
                        == shared.first_reports.len()
                    {
                        shared.all_reported_at.get_or_init(Instant::now);
                    }
                }
                pio_reports += 1;
            }
            VcpuExit::MmioWrite(addr, data) if addr == mmio_report => {
                let got = u32_of(data).ok_or(format!("vCPU {id}: {}-byte MMIO", data.len()))?;
                if got != id {
                    return Err(format!("vCPU {id} reported x2APIC ID {got} through MMIO"));
                }
                mmio_reports += 1;
            }
            VcpuExit::IoIn(PORT_REPLY, data) => {
                data.copy_from_slice(&reply_for(id).to_le_bytes()[..data.len().min(4)]);
            }
            VcpuExit::MmioWrite(addr, data) if addr == mmio_reply => {
                let got = u32_of(data).ok_or(format!("vCPU {id}: {}-byte MMIO", data.len()))?;
                if got != reply_for(id) {
                    return Err(format!(
                        "vCPU {id} stored reply {got:#x}, expected {:#x}",
                        reply_for(id)
                    ));
                }
                replies += 1;
            }
            VcpuExit::IoOut(PORT_DONE, _) => break,
            other => return Err(format!("vCPU {id}: unexpected exit {other:?}")),
        }
    }
    if (pio_reports, mmio_reports, replies) != (rounds, rounds, rounds) {
        return Err(format!(
            "vCPU {id}: {pio_reports} port reports, {mmio_reports} MMIO reports, {replies} replies; expected {rounds} each"
        ));
    }
    shared.done.fetch_add(1, Ordering::Relaxed);
    Ok(Instant::now())
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
    let vcpus = (0..n)
        .map(|id| kvm::create_x2apic_vcpu(&kvm, &vm.fd, id, entry))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let creation = created.elapsed();
    println!(
        "  VM creation ({n} vCPUs, CPUID + IA32_APIC_BASE each): {}",
        report::ms(creation)
    );

    let shared = Shared {
        first_reports: (0..n).map(|_| AtomicU32::new(0)).collect(),
        reported: AtomicUsize::new(0),
        all_reported_at: OnceLock::new(),
        done: AtomicUsize::new(0),
        exits: AtomicUsize::new(0),
    };
    let started = Instant::now();
    let results: Vec<Result<Instant, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = vcpus
            .into_iter()
            .zip(0..n)
            .map(|(vcpu, id)| {
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("vcpu{id}"))
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, move || run_vcpu(vcpu, id, args.rounds, shared))
            })
            .collect();
        let mut last_progress = Instant::now();
        while shared.done.load(Ordering::Relaxed) < args.vcpus
            && handles
                .iter()
                .any(|h| h.as_ref().is_ok_and(|h| !h.is_finished()))
        {
            std::thread::sleep(Duration::from_millis(20));
            if last_progress.elapsed() >= Duration::from_secs(1) {
                eprintln!(
                    "  ... {}/{} vCPUs done, {} exits",
                    shared.done.load(Ordering::Relaxed),
                    args.vcpus,
                    shared.exits.load(Ordering::Relaxed)
                );
                last_progress = Instant::now();
            }
        }
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err("vCPU thread panicked".into())),
                Err(e) => Err(format!("spawning a vCPU thread: {e}")),
            })
            .collect()
    });
    // Round trips are timed to the last vCPU's finish, not to the joins.
    let finished = results.iter().filter_map(|r| r.as_ref().ok()).max();
    let elapsed = finished.map_or_else(|| started.elapsed(), |f| f.duration_since(started));

    let mut ok = true;
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("FAIL: {err}");
        ok = false;
    }
    let wrong: Vec<_> = shared
        .first_reports
        .iter()
        .enumerate()
        .filter(|(_, c)| c.load(Ordering::Relaxed) != 1)
        .map(|(id, c)| (id, c.load(Ordering::Relaxed)))
        .collect();
    if !wrong.is_empty() {
        eprintln!("FAIL: IDs not reported exactly once (id, times): {wrong:?}");
        ok = false;
    }
    if let Some(at) = shared.all_reported_at.get() {
        println!(
            "  first report from all {n} vCPUs: {} after start",
            report::ms(at.duration_since(started))
        );
    }
    let exits = shared.exits.load(Ordering::Relaxed) as u64;
    println!(
        "  {exits} exits handled in {} = {:.0} round trips/s (4 per round: PIO out, MMIO, PIO in, MMIO)",
        report::ms(elapsed),
        report::per_second(exits, elapsed)
    );
    if ok {
        println!(
            "OK: each of the {n} vCPUs reported its own x2APIC ID, each ID exactly once, all replies correct"
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("many_vcpus: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("many_vcpus: {e}");
            ExitCode::FAILURE
        }
    }
}
