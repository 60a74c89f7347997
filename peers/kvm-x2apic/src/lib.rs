// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only peer: a minimal KVM harness that executes single `rdmsr`/`wrmsr` and xAPIC
//! MMIO accesses in a real-mode guest and reports each result or #GP, so
//! `tests/differential.rs` can compare KVM's in-kernel LAPIC with the `x2apic-virt`
//! model step by step. Not published.
//!
//! Guest memory (64 KiB at GPA 0):
//!
//! - 0x0000: the real-mode interrupt vector table; vector `v` points at a 4-byte stub at
//!   `0x2000 + 4 v` that does `mov al, v; out 0x13, al`, so every exception (a #GP is
//!   vector 13; real mode pushes no error code) becomes a port write naming its vector.
//! - 0x1000: `rdmsr; out 0x10, al; hlt` (and `wrmsr`, MMIO store and load, and `cpuid`
//!   stubs at 0x1010, 0x1020, 0x1030 and 0x1040; MMIO uses 32-bit `[esi]` addressing
//!   through a 4 GiB DS limit).
//!
//! Each operation sets the registers and RIP, runs the vCPU until it writes port 0x10
//! (done) or 0x13 (exception), and reads the result back with `KVM_GET_REGS`.

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, KVM_MP_STATE_RUNNABLE, Msrs, kvm_lapic_state, kvm_mp_state,
    kvm_msi, kvm_msr_entry,
};
use kvm_harness::kvm::Vm;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};
use x2apic_virt::Config;
use x2apic_virt::policy::Topology;

/// Port the guest writes when an operation completed.
const PORT_DONE: u8 = 0x10;
/// Port the exception stubs write their vector to.
const PORT_EXCEPTION: u8 = 0x13;
/// CPUID.1:ECX bit 21, x2APIC (SDM vol. 2A, Table 3-10).
const CPUID_1_ECX_X2APIC: u32 = 1 << 21;
/// CPUID.1:ECX bit 24, TSC-deadline timer (SDM vol. 2A, Table 3-10).
const CPUID_1_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// The #GP vector.
pub const GP_VECTOR: u8 = 13;
const MEMORY_SIZE: usize = 64 * 1024;
const RDMSR_AT: u16 = 0x1000;
const WRMSR_AT: u16 = 0x1010;
const STORE_AT: u16 = 0x1020;
const LOAD_AT: u16 = 0x1030;
const CPUID_AT: u16 = 0x1040;
const STUBS_AT: u16 = 0x2000;
const STACK_TOP: u64 = 0x8000;

/// A QEMU-style topology for 300 vCPUs: 3 threads (2 ID bits), 5 cores (3 bits), 20
/// sockets, so APIC IDs run to 626 with holes (IDs 3, 7, ... and 20..=31 of each socket).
pub const PACKED_300: Topology = Topology {
    threads: 3,
    cores: 5,
    modules: 1,
    dies: 1,
    sockets: 20,
};

/// Harness errors (KVM refusing something the harness needs, or a guest that did not
/// behave as the harness programs it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The VM could not be set up, or a KVM ioctl failed
    /// ([`kvm_harness::kvm::Error::Kvm`]).
    #[error(transparent)]
    Vm(#[from] kvm_harness::kvm::Error),
    /// The guest exited in a way the stubs never cause.
    #[error("unexpected exit: {0}")]
    UnexpectedExit(String),
    /// The guest took an exception other than #GP.
    #[error("guest took exception {0}")]
    Exception(u8),
}

/// Result type of the harness.
pub type Result<T> = core::result::Result<T, Error>;

fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
    move |source| Error::Vm(kvm_harness::kvm::Error::Kvm { what, source })
}

/// What a guest access did: completed (with the value read, for reads) or raised #GP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed; reads carry the value (EDX:EAX for RDMSR, EAX for a load).
    Done(u64),
    /// Raised #GP.
    Gp,
    /// The access left the in-kernel APIC and reached userspace as MMIO (the address is
    /// not an APIC page in the current mode).
    UserMmio,
}

/// A VM with the in-kernel irqchip and `KVM_CAP_X2APIC_API`.
#[derive(Debug)]
pub struct Machine {
    kvm: Kvm,
    vm: Vm,
    cpuid: CpuId,
    full_ids: bool,
}

/// Returns `None` when `/dev/kvm` is absent, after `kvm_harness::report::skipped_no_kvm`
/// (which panics under CI and counts the skip elsewhere).
pub fn open(test: &str) -> Result<Option<Kvm>> {
    let kvm = kvm_harness::kvm::open()?;
    if kvm.is_none() {
        kvm_harness::report::skipped_no_kvm(test);
    }
    Ok(kvm)
}

impl Machine {
    /// A VM (`kvm_harness::kvm::Vm`: 64 KiB at GPA 0, the in-kernel irqchip) holding the
    /// harness program; `full_ids` enables `KVM_CAP_X2APIC_API` with
    /// `KVM_X2APIC_API_USE_32BIT_IDS` and without the broadcast quirk, as QEMU and
    /// cloud-hypervisor do; without it the capability is not enabled at all.
    pub fn new(kvm: Kvm, full_ids: bool) -> Result<Self> {
        let mut vm = Vm::with_x2apic_api(&kvm, MEMORY_SIZE, full_ids)?;
        write_program(&mut vm.memory);
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
        Ok(Self {
            kvm,
            vm,
            cpuid,
            full_ids,
        })
    }

    /// Whether 32-bit IDs are enabled.
    pub fn full_ids(&self) -> bool {
        self.full_ids
    }

    /// KVM's largest vCPU ID plus one (`KVM_CAP_MAX_VCPU_ID`).
    pub fn max_vcpu_id(&self) -> usize {
        self.kvm.get_max_vcpu_id()
    }

    /// KVM's maximum vCPU count.
    pub fn max_vcpus(&self) -> usize {
        self.kvm.get_max_vcpus()
    }

    /// The guest's MAXPHYADDR: CPUID 0x8000_0008 EAX\[7:0\] as KVM supports it.
    pub fn maxphyaddr(&self) -> u8 {
        self.cpuid
            .as_slice()
            .iter()
            .find(|l| l.function == 0x8000_0008)
            .map_or(36, |l| l.eax.to_le_bytes()[0])
    }

    /// The CPUID KVM supports, for the caller to edit.
    pub fn supported_cpuid(&self) -> CpuId {
        self.cpuid.clone()
    }

    /// `KVM_SIGNAL_MSI`: the number of vCPUs the MSI was delivered to (0 when none
    /// accepted it).
    pub fn signal_msi(&self, address_lo: u32, address_hi: u32, data: u32) -> Result<i32> {
        let msi = kvm_msi {
            address_lo,
            address_hi,
            data,
            ..Default::default()
        };
        self.vm
            .fd
            .signal_msi(msi)
            .map_err(kvm_err("KVM_SIGNAL_MSI"))
    }

    /// KVM's supported CPUID with x2APIC (CPUID.1:ECX\[21\]) advertised or not.
    pub fn cpuid_with_x2apic(&self, x2apic: bool) -> CpuId {
        let mut c = self.cpuid.clone();
        for l in c.as_mut_slice() {
            if l.function == 1 {
                if x2apic {
                    l.ecx |= CPUID_1_ECX_X2APIC;
                } else {
                    l.ecx &= !CPUID_1_ECX_X2APIC;
                }
            }
        }
        c
    }

    /// The model configuration matching a vCPU created with `cpuid`: KVM's register file
    /// (six LVTs, no EOI-broadcast suppression), this machine's MAXPHYADDR, x2APIC and
    /// the TSC-deadline timer as `cpuid` advertises them.
    pub fn model_config(&self, cpuid: &CpuId) -> Config {
        let leaf1 = cpuid.as_slice().iter().find(|l| l.function == 1);
        let ecx = leaf1.map_or(0, |l| l.ecx);
        let kvm = Config::kvm(self.maxphyaddr(), ecx & CPUID_1_ECX_TSC_DEADLINE != 0)
            .expect("MAXPHYADDR from KVM is in range");
        Config::new(
            self.maxphyaddr(),
            ecx & CPUID_1_ECX_X2APIC != 0,
            kvm.features(),
        )
        .expect("KVM's register file is supported")
    }

    /// Creates vCPU `id` with `cpuid`, in real mode at the harness stubs, runnable.
    pub fn vcpu(&self, id: u32, cpuid: &CpuId) -> Result<Vcpu> {
        let fd = self
            .vm
            .fd
            .create_vcpu(u64::from(id))
            .map_err(kvm_err("KVM_CREATE_VCPU"))?;
        fd.set_cpuid2(cpuid).map_err(kvm_err("KVM_SET_CPUID2"))?;
        let mut sregs = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
        for seg in [&mut sregs.cs, &mut sregs.ds, &mut sregs.ss, &mut sregs.es] {
            seg.base = 0;
            seg.selector = 0;
        }
        sregs.ds.limit = u32::MAX;
        sregs.ds.g = 1;
        fd.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
        fd.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_RUNNABLE,
        })
        .map_err(kvm_err("KVM_SET_MP_STATE"))?;
        Ok(Vcpu { fd, id })
    }
}

/// Writes the IVT, the exception stubs and the operation stubs.
fn write_program(memory: &mut [u8]) {
    for v in 0..=255u8 {
        let stub = STUBS_AT + 4 * u16::from(v);
        let entry = 4 * usize::from(v);
        memory[entry..entry + 2].copy_from_slice(&stub.to_le_bytes());
        memory[entry + 2..entry + 4].copy_from_slice(&0u16.to_le_bytes());
        let at = usize::from(stub);
        // mov al, v; out PORT_EXCEPTION, al
        memory[at..at + 4].copy_from_slice(&[0xB0, v, 0xE6, PORT_EXCEPTION]);
    }
    let done = [0xE6, PORT_DONE, 0xF4]; // out PORT_DONE, al; hlt
    let ops: [(u16, &[u8]); 5] = [
        (RDMSR_AT, &[0x0F, 0x32]),
        (WRMSR_AT, &[0x0F, 0x30]),
        (STORE_AT, &[0x66, 0x67, 0x89, 0x06]), // mov [esi], eax
        (LOAD_AT, &[0x66, 0x67, 0x8B, 0x06]),  // mov eax, [esi]
        (CPUID_AT, &[0x0F, 0xA2]),             // cpuid
    ];
    for (at, code) in ops {
        let at = usize::from(at);
        memory[at..at + code.len()].copy_from_slice(code);
        memory[at + code.len()..at + code.len() + done.len()].copy_from_slice(&done);
    }
}

/// One vCPU of a [`Machine`].
#[derive(Debug)]
pub struct Vcpu {
    fd: VcpuFd,
    id: u32,
}

impl Vcpu {
    /// The vCPU ID (KVM's x2APIC ID).
    pub fn id(&self) -> u32 {
        self.id
    }

    fn run_op(&mut self, rip: u16, rax: u64, rcx: u64, rdx: u64, rsi: u64) -> Result<Outcome> {
        let mut regs = self.fd.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        regs.rip = u64::from(rip);
        regs.rax = rax;
        regs.rcx = rcx;
        regs.rdx = rdx;
        regs.rsi = rsi;
        regs.rsp = STACK_TOP;
        regs.rflags = 2;
        self.fd.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;
        let mut user_mmio = false;
        loop {
            match self.fd.run().map_err(kvm_err("KVM_RUN"))? {
                VcpuExit::IoOut(port, _) if port == u16::from(PORT_DONE) => break,
                VcpuExit::IoOut(port, data) if port == u16::from(PORT_EXCEPTION) => {
                    let vector = data.first().copied().unwrap_or(0xFF);
                    if vector == GP_VECTOR {
                        return Ok(Outcome::Gp);
                    }
                    return Err(Error::Exception(vector));
                }
                VcpuExit::MmioRead(_, data) => {
                    data.fill(0);
                    user_mmio = true;
                }
                VcpuExit::MmioWrite(..) => user_mmio = true,
                other => return Err(Error::UnexpectedExit(format!("{other:?}"))),
            }
        }
        if user_mmio {
            return Ok(Outcome::UserMmio);
        }
        let regs = self.fd.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        Ok(Outcome::Done(
            (regs.rdx & 0xFFFF_FFFF) << 32 | regs.rax & 0xFFFF_FFFF,
        ))
    }

    /// Guest `rdmsr`: `Done(EDX:EAX)` or `Gp`.
    pub fn rdmsr(&mut self, msr: u32) -> Result<Outcome> {
        self.run_op(RDMSR_AT, 0, u64::from(msr), 0, 0)
    }

    /// Guest `wrmsr`: `Done(0)` or `Gp`.
    pub fn wrmsr(&mut self, msr: u32, value: u64) -> Result<Outcome> {
        self.run_op(
            WRMSR_AT,
            value & 0xFFFF_FFFF,
            u64::from(msr),
            value >> 32,
            0,
        )
        .map(|o| match o {
            Outcome::Done(_) => Outcome::Done(0),
            other => other,
        })
    }

    /// Guest 32-bit store to physical address `addr` (below 4 GiB).
    pub fn store(&mut self, addr: u32, value: u32) -> Result<Outcome> {
        self.run_op(STORE_AT, u64::from(value), 0, 0, u64::from(addr))
            .map(|o| match o {
                Outcome::Done(_) => Outcome::Done(0),
                other => other,
            })
    }

    /// Guest 32-bit load from physical address `addr` (below 4 GiB).
    pub fn load(&mut self, addr: u32) -> Result<Outcome> {
        self.run_op(LOAD_AT, 0, 0, 0, u64::from(addr))
            .map(|o| match o {
                Outcome::Done(v) => Outcome::Done(v & 0xFFFF_FFFF),
                other => other,
            })
    }

    /// Guest `cpuid` with EAX = `function`, ECX = `index`: `[eax, ebx, ecx, edx]`.
    pub fn cpuid(&mut self, function: u32, index: u32) -> Result<[u32; 4]> {
        match self.run_op(CPUID_AT, u64::from(function), u64::from(index), 0, 0)? {
            Outcome::Done(_) => {}
            other => return Err(Error::UnexpectedExit(format!("cpuid: {other:?}"))),
        }
        let r = self.fd.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
        let low = |v: u64| u32::try_from(v & 0xFFFF_FFFF).unwrap_or(0);
        Ok([low(r.rax), low(r.rbx), low(r.rcx), low(r.rdx)])
    }

    /// Host-initiated write of `IA32_APIC_BASE` (`KVM_SET_MSRS`): whether KVM took it.
    pub fn host_set_base(&self, value: u64) -> Result<bool> {
        let msrs = Msrs::from_entries(&[kvm_msr_entry {
            index: x2apic_virt::base::IA32_APIC_BASE,
            data: value,
            ..Default::default()
        }])
        .map_err(|e| Error::UnexpectedExit(format!("building KVM_SET_MSRS: {e:?}")))?;
        let written = self.fd.set_msrs(&msrs).map_err(kvm_err("KVM_SET_MSRS"))?;
        Ok(written == 1)
    }

    /// `KVM_GET_MP_STATE` (which also makes KVM process a pending INIT or SIPI).
    pub fn mp_state(&self) -> Result<u32> {
        let state = self
            .fd
            .get_mp_state()
            .map_err(kvm_err("KVM_GET_MP_STATE"))?;
        Ok(state.mp_state)
    }

    /// `KVM_GET_LAPIC`: the 1 KiB register page.
    pub fn get_lapic(&self) -> Result<Vec<u8>> {
        let state = self.fd.get_lapic().map_err(kvm_err("KVM_GET_LAPIC"))?;
        Ok(state.regs.iter().map(|&b| b.to_le_bytes()[0]).collect())
    }

    /// The vectors pending in the IRR, from `KVM_GET_LAPIC`.
    pub fn pending_vectors(&self) -> Result<Vec<u8>> {
        let page = self.get_lapic()?;
        Ok((0..=255u8)
            .filter(|&v| {
                let at = 0x200 + 16 * usize::from(v >> 5);
                page.get(at..at + 4)
                    .and_then(|w| w.try_into().ok())
                    .is_some_and(|w: [u8; 4]| u32::from_le_bytes(w) & (1 << (v & 31)) != 0)
            })
            .collect())
    }

    /// `KVM_SET_LAPIC` with a 1 KiB register page; the errno on refusal.
    pub fn set_lapic(&self, page: &[u8]) -> core::result::Result<(), kvm_ioctls::Error> {
        let mut state = kvm_lapic_state::default();
        for (dst, &src) in state.regs.iter_mut().zip(page) {
            *dst = i8::from_le_bytes([src]);
        }
        self.fd.set_lapic(&state)
    }
}
