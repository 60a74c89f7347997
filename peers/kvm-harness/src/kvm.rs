// SPDX-License-Identifier: Apache-2.0 OR MIT
//! KVM plumbing: a VM with the in-kernel irqchip and `KVM_CAP_X2APIC_API`, anonymous guest
//! memory, and real-mode vCPUs switched to x2APIC mode by the VMM.
//!
//! The switch follows the design rule of the `x2apic-virt` crate: the VMM applies it with
//! the CPUID policy and a host-initiated write of `IA32_APIC_BASE`, both taken from an
//! `x2apic_virt::policy::Plan` (APIC IDs; leaf 1 ECX bit 21 and EBX\[31:24\]; leaves 0xB
//! and 0x1F; EN and EXTD); guest code never writes `IA32_APIC_BASE`.

use std::path::Path;

use kvm_bindings::{
    CpuId, KVM_CAP_X2APIC_API, KVM_MAX_CPUID_ENTRIES, KVM_MP_STATE_RUNNABLE,
    KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK, KVM_X2APIC_API_USE_32BIT_IDS, kvm_enable_cap,
    kvm_mp_state, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use memmap2::MmapMut;
use x2apic_virt::policy::{IdScheme, Plan};

/// The x2APIC ID register, MSR 0x802 (SDM vol. 3A, Table 11-6).
pub const X2APIC_ID_MSR: u32 = 0x802;

/// Where the KVM device node lives.
pub const KVM_PATH: &str = "/dev/kvm";

/// Errors from setting up or running the VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A KVM ioctl failed.
    #[error("{what}: {source}")]
    Kvm {
        /// The operation that failed.
        what: &'static str,
        /// The errno KVM returned.
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be mapped.
    #[error("mapping {size:#x} bytes of guest memory: {source}")]
    Map {
        /// Requested size.
        size: usize,
        /// The mmap error.
        source: std::io::Error,
    },
    /// More vCPUs were asked for than KVM allows.
    #[error("{requested} vCPUs requested; KVM allows at most {max}")]
    TooManyVcpus {
        /// Requested count.
        requested: usize,
        /// `KVM_CAP_MAX_VCPUS`.
        max: usize,
    },
    /// More memory slots than a `u32` can number.
    #[error("too many memory slots")]
    TooManySlots,
    /// The switch plan could not be made, or does not cover the vCPU.
    #[error("x2APIC plan: {0}")]
    Plan(#[from] x2apic_virt::Error),
    /// The plan could not be turned into KVM's CPUID table or MSR list.
    #[error("x2APIC plan for KVM: {0}")]
    PlanKvm(x2apic_virt::kvm::Error),
    /// The plan has no vCPU with this index.
    #[error("vCPU {0} is not in the x2APIC plan")]
    NotInPlan(u32),
    /// KVM did not accept the host-initiated x2APIC switch.
    #[error("vCPU {vcpu}: KVM_SET_MSRS did not write IA32_APIC_BASE (x2APIC switch refused)")]
    ApicBaseRefused {
        /// The vCPU whose switch failed.
        vcpu: u32,
    },
    /// A guest program does not fit in guest memory at its load address.
    #[error("program of {len} bytes at {addr:#x} does not fit in {size:#x} bytes of memory")]
    ProgramTooBig {
        /// Program length.
        len: usize,
        /// Load address.
        addr: u64,
        /// Guest memory size.
        size: usize,
    },
}

/// Result type of this module.
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

/// Opens `/dev/kvm`, or returns `None` when the node is absent (the caller then calls
/// [`report::skipped_no_kvm`](crate::report::skipped_no_kvm), which fails under CI). Any
/// other failure is an error.
pub fn open() -> Result<Option<Kvm>> {
    if !Path::new(KVM_PATH).exists() {
        return Ok(None);
    }
    Kvm::new().map(Some).map_err(kvm_err("opening /dev/kvm"))
}

/// A VM with guest memory at GPA 0 and the in-kernel irqchip.
#[derive(Debug)]
pub struct Vm {
    /// The VM file descriptor (declared first: dropped, closing the VM, before the maps).
    pub fd: VmFd,
    /// Guest memory, mapped at GPA 0 (kept alive as long as the VM).
    pub memory: MmapMut,
    /// Further slots (e.g. a pmem file), kept alive as long as the VM.
    extra: Vec<MmapMut>,
}

impl Vm {
    /// Creates a VM with `memory_size` bytes of anonymous memory at GPA 0, the in-kernel
    /// irqchip, and `KVM_CAP_X2APIC_API` with 32-bit IDs and without the broadcast quirk,
    /// so x2APIC IDs past 255 reach the guest unchanged.
    pub fn new(kvm: &Kvm, memory_size: usize) -> Result<Self> {
        Self::with_x2apic_api(kvm, memory_size, true)
    }

    /// [`Vm::new`], with `KVM_CAP_X2APIC_API` enabled (both flags) or left off, as tests
    /// of KVM's legacy 8-bit ID format need.
    pub fn with_x2apic_api(kvm: &Kvm, memory_size: usize, x2apic_api: bool) -> Result<Self> {
        let fd = kvm.create_vm().map_err(kvm_err("KVM_CREATE_VM"))?;
        let memory = MmapMut::map_anon(memory_size).map_err(|source| Error::Map {
            size: memory_size,
            source,
        })?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: memory_size as u64,
            userspace_addr: memory.as_ptr() as u64,
            flags: 0,
        };
        // SAFETY:
        // - `userspace_addr..+memory_size` is the anonymous map `memory`, which is valid,
        //   writable and exactly `memory_size` bytes long;
        // - the map lives in the returned `Vm` beside `fd`, and `fd` is declared first so
        //   it is dropped (closing the VM and its slots) before the map is unmapped;
        // - slot 0 is not used by anything else in this VM.
        unsafe { fd.set_user_memory_region(region) }
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        fd.create_irq_chip()
            .map_err(kvm_err("KVM_CREATE_IRQCHIP"))?;
        let cap = kvm_enable_cap {
            cap: KVM_CAP_X2APIC_API,
            args: [
                u64::from(KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK),
                0,
                0,
                0,
            ],
            ..Default::default()
        };
        if x2apic_api {
            fd.enable_cap(&cap)
                .map_err(kvm_err("KVM_ENABLE_CAP(KVM_CAP_X2APIC_API)"))?;
        }
        Ok(Self {
            fd,
            memory,
            extra: Vec::new(),
        })
    }

    /// Maps `map` (anonymous or a shared file map, such as an emulated pmem file) into the
    /// guest at `gpa` as the next memory slot, and keeps it alive as long as the VM.
    pub fn add_slot(&mut self, gpa: u64, map: MmapMut) -> Result<()> {
        let slot = u32::try_from(self.extra.len() + 1).map_err(|_| Error::TooManySlots)?;
        let region = kvm_userspace_memory_region {
            slot,
            guest_phys_addr: gpa,
            memory_size: map.len() as u64,
            userspace_addr: map.as_ptr() as u64,
            flags: 0,
        };
        // SAFETY:
        // - `userspace_addr..+memory_size` is the live map `map`, valid and writable;
        // - the map is moved into `self.extra` below and only released by `teardown`
        //   or drop, both after `self.fd` (the VM) is closed;
        // - `slot` is fresh: slot 0 is `memory`, extras take 1, 2, ... in order.
        unsafe { self.fd.set_user_memory_region(region) }
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        self.extra.push(map);
        Ok(())
    }

    /// Closes the VM and hands back the extra slots' maps, so the caller can flush a
    /// file-backed one and check what the guest left in it.
    pub fn teardown(self) -> Vec<MmapMut> {
        drop(self.fd);
        self.extra
    }

    /// Copies `program` into guest memory at `addr`.
    pub fn load(&mut self, addr: u64, program: &[u8]) -> Result<()> {
        let too_big = Error::ProgramTooBig {
            len: program.len(),
            addr,
            size: self.memory.len(),
        };
        let start = usize::try_from(addr).map_err(|_| too_big)?;
        let Some(dst) = start
            .checked_add(program.len())
            .and_then(|end| self.memory.get_mut(start..end))
        else {
            return Err(Error::ProgramTooBig {
                len: program.len(),
                addr,
                size: self.memory.len(),
            });
        };
        dst.copy_from_slice(program);
        Ok(())
    }
}

/// Where a real-mode vCPU starts and where its data segment points.
///
/// DS gets a 4 GiB limit ("unreal mode"), so accesses with the address-size prefix reach
/// the whole 32-bit space above `ds_base`, not only its first 64 KiB.
#[derive(Debug, Clone, Copy)]
pub struct RealModeEntry {
    /// Physical address of the first instruction (CS base 0, so it must be below 64 KiB).
    pub ip: u16,
    /// Physical base of DS: `moffs16` and `[esi]` accesses land here.
    pub ds_base: u32,
}

/// KVM's CPUID table `supported`, rewritten for vCPU `vcpu` by `plan` (leaf 1, leaves 0xB
/// and 0x1F, AMD 0x8000_001E); leaves 0xB and 0x1F are marked as indexed by sub-leaf.
pub fn plan_cpuid(plan: &Plan, vcpu: u32, supported: &CpuId) -> Result<CpuId> {
    plan.kvm_cpuid(vcpu, supported).map_err(Error::PlanKvm)
}

/// Creates vCPU `vcpu` of `plan`: the KVM vCPU id is its APIC ID (KVM's x2APIC ID is the
/// vCPU id), with the plan's CPUID and host-initiated `IA32_APIC_BASE`; points it at
/// `entry` in real mode and, for an AP, makes it runnable (with the in-kernel irqchip,
/// APs otherwise wait for INIT/SIPI). Returns the vCPU and its APIC ID.
pub fn create_planned_vcpu(
    kvm: &Kvm,
    vm: &VmFd,
    plan: &Plan,
    vcpu: u32,
    entry: RealModeEntry,
) -> Result<(VcpuFd, u32)> {
    let id = plan.apic_id(vcpu).ok_or(Error::NotInPlan(vcpu))?;
    let fd = vm
        .create_vcpu(u64::from(id))
        .map_err(kvm_err("KVM_CREATE_VCPU"))?;

    let supported = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    fd.set_cpuid2(&plan_cpuid(plan, vcpu, &supported)?)
        .map_err(kvm_err("KVM_SET_CPUID2"))?;

    let msrs = plan.kvm_apic_base(vcpu).map_err(Error::PlanKvm)?;
    let written = fd.set_msrs(&msrs).map_err(kvm_err("KVM_SET_MSRS"))?;
    if written != 1 {
        return Err(Error::ApicBaseRefused { vcpu: id });
    }

    let mut sregs = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.ds.base = u64::from(entry.ds_base);
    // The selector matters only if the guest reloads DS, which our programs never do.
    sregs.ds.selector = u16::try_from(entry.ds_base >> 4).unwrap_or(0);
    sregs.ds.limit = u32::MAX;
    sregs.ds.g = 1;
    fd.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
    let mut regs = fd.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
    regs.rip = u64::from(entry.ip);
    regs.rflags = 2;
    fd.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;

    if vcpu != 0 {
        fd.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_RUNNABLE,
        })
        .map_err(kvm_err("KVM_SET_MP_STATE"))?;
    }
    Ok((fd, id))
}

/// Creates vCPU `id` (its APIC ID too) in x2APIC mode: [`create_planned_vcpu`] with a
/// dense plan of `id + 1` vCPUs that starts in x2APIC mode whatever its size.
pub fn create_x2apic_vcpu(kvm: &Kvm, vm: &VmFd, id: u32, entry: RealModeEntry) -> Result<VcpuFd> {
    let plan = Plan::new(id.saturating_add(1), IdScheme::Dense)?.force_x2apic();
    create_planned_vcpu(kvm, vm, &plan, id, entry).map(|(fd, _)| fd)
}
