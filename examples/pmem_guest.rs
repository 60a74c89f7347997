// SPDX-License-Identifier: Apache-2.0 OR MIT
//! pmem_guest: emulated persistent memory (a `memmap2`-mapped file) as a KVM memory slot.
//!
//! The VMM maps a pmem image file into a KVM guest as a memory slot, the guest writes a
//! pattern over all of it (real mode with a 4 GiB DS limit, 32-bit addressing), the VMM
//! tears the VM down, flushes the map, reopens the file and checks that every byte the
//! guest wrote persisted.
//!
//! Run: `cargo run --release --example pmem_guest -- --help`

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use hugevm::asm::{Program, Reg};
use hugevm::kvm::{self, RealModeEntry, Vm};
use hugevm::report;
use kvm_ioctls::VcpuExit;
use memmap2::{Mmap, MmapMut};

/// Guest-physical base of the pmem slot.
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
usage: pmem_guest [--size MIB] [--file PATH]

Maps an emulated pmem file (default 16 MiB, a temporary file unless --file is given)
into a KVM guest at GPA 0x10000000; the guest writes (offset ^ 0x5EEDC0DE) into every
dword; the VMM tears the VM down, reopens the file and checks every dword. Exits
non-zero on any mismatch. Prints SKIPPED and exits 0 when /dev/kvm is absent.";

struct Args {
    size_mib: u32,
    file: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        size_mib: 16,
        file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--size" => {
                let value = it.next().ok_or("--size needs a value")?;
                args.size_mib = value
                    .parse()
                    .map_err(|_| format!("--size: not a number: {value}"))?;
            }
            "--file" => args.file = Some(it.next().ok_or("--file needs a path")?.into()),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    // The slot sits at 256 MiB and the guest addresses it with 32-bit offsets.
    if args.size_mib == 0 || args.size_mib > 3072 {
        return Err("--size must be 1..=3072 MiB".into());
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

fn run(args: &Args) -> Result<bool, String> {
    let Some(kvm) = kvm::open().map_err(|e| e.to_string())? else {
        report::skipped_no_kvm("pmem_guest");
        return Ok(true);
    };
    let size = u64::from(args.size_mib) << 20;
    let temp = args.file.is_none();
    let path = args.file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hugevm-pmem-{}.img", std::process::id()))
    });
    println!(
        "pmem_guest: {} MiB pmem image {} at GPA {PMEM_GPA:#x}",
        args.size_mib,
        path.display()
    );

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.set_len(size)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY:
    // - the file was just created or truncated by us and nothing else maps or resizes
    //   it while this map lives (it is a private scratch image of this run);
    // - its length is fixed at `size` above, before mapping.
    let pmem = unsafe { MmapMut::map_mut(&file) }.map_err(|e| e.to_string())?;

    let started = Instant::now();
    let mut vm = Vm::new(&kvm, MEMORY_SIZE).map_err(|e| e.to_string())?;
    vm.add_slot(u64::from(PMEM_GPA), pmem)
        .map_err(|e| e.to_string())?;
    let dwords = u32::try_from(size / 4).map_err(|e| e.to_string())?;
    vm.load(u64::from(CODE_ADDR), guest_program(dwords).bytes())
        .map_err(|e| e.to_string())?;
    let entry = RealModeEntry {
        ip: CODE_ADDR,
        ds_base: PMEM_GPA,
    };
    let mut vcpu = kvm::create_x2apic_vcpu(&kvm, &vm.fd, 0, entry).map_err(|e| e.to_string())?;
    match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
        VcpuExit::IoOut(PORT_DONE, _) => {}
        other => return Err(format!("unexpected exit {other:?}")),
    }
    let guest_time = started.elapsed();
    drop(vcpu);
    let maps = vm.teardown();
    for map in &maps {
        map.flush().map_err(|e| format!("msync: {e}"))?;
    }
    drop(maps);
    drop(file);
    println!(
        "  guest wrote {} MiB in {} (VM creation included), VM torn down, image flushed",
        args.size_mib,
        report::ms(guest_time)
    );

    let reopened = OpenOptions::new()
        .read(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY:
    // - the VM and our writable map are gone, so nothing writes the file while this
    //   read-only map lives;
    // - the file keeps its length (`size`), set before the VM ran.
    let data = unsafe { Mmap::map(&reopened) }.map_err(|e| e.to_string())?;
    let checked = Instant::now();
    let bad = if data.len() as u64 == size {
        mismatches(&data)
    } else {
        eprintln!(
            "FAIL: reopened image is {} bytes, expected {size}",
            data.len()
        );
        usize::MAX
    };
    drop(data);
    if temp {
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "  reopened and checked {dwords} dwords in {}",
        report::ms(checked.elapsed())
    );
    if bad != 0 {
        eprintln!("FAIL: {bad} dwords of the pmem image differ from what the guest wrote");
        return Ok(false);
    }
    println!("OK: every dword the guest wrote to pmem persisted across VM teardown");
    Ok(true)
}

fn main() -> ExitCode {
    report::main("pmem_guest", USAGE, parse_args, run)
}
