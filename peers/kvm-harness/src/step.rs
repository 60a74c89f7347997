// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Single-stepping a vCPU: the instruction sequence a software tracer turns into packets.
//!
//! With `KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP` set, KVM stops the vCPU after
//! every instruction with `KVM_EXIT_DEBUG`, whose `pc` is the linear address of the next
//! one. [`trace`] records the linear address of each instruction executed until the guest
//! writes to a chosen port, handing every other exit to the caller.

use kvm_bindings::{KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, kvm_guest_debug};
use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::kvm::kvm_err;

/// Errors while stepping.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A KVM ioctl failed.
    #[error(transparent)]
    Kvm(#[from] crate::kvm::Error),
    /// The guest ran more instructions than allowed without reaching the stop port.
    #[error("no write to port {port:#x} within {budget} instructions")]
    Budget {
        /// The stop port.
        port: u16,
        /// The instruction budget.
        budget: usize,
    },
    /// The caller's exit handler refused an exit.
    #[error("unexpected exit at instruction {index}: {exit}")]
    Exit {
        /// How many instructions had executed.
        index: usize,
        /// The exit, formatted.
        exit: String,
    },
}

/// Single-steps `vcpu` until it writes to `stop_port`, returning the linear address of
/// every instruction executed (the `out` to `stop_port` included). Other exits go to
/// `on_exit`, which returns `false` to abort. At most `budget` instructions are stepped.
pub fn trace(
    vcpu: &mut VcpuFd,
    stop_port: u16,
    budget: usize,
    mut on_exit: impl FnMut(&mut VcpuExit<'_>) -> bool,
) -> Result<Vec<u64>, Error> {
    let debug = kvm_guest_debug {
        control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP,
        ..Default::default()
    };
    vcpu.set_guest_debug(&debug)
        .map_err(kvm_err("KVM_SET_GUEST_DEBUG"))?;
    let regs = vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
    let sregs = vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    let mut ips = vec![sregs.cs.base.wrapping_add(regs.rip)];
    while ips.len() <= budget {
        let mut exit = vcpu.run().map_err(kvm_err("KVM_RUN"))?;
        match exit {
            VcpuExit::Debug(arch) => ips.push(arch.pc),
            VcpuExit::IoOut(port, _) if port == stop_port => {
                let off = kvm_guest_debug::default();
                vcpu.set_guest_debug(&off)
                    .map_err(kvm_err("KVM_SET_GUEST_DEBUG"))?;
                return Ok(ips);
            }
            _ => {
                if !on_exit(&mut exit) {
                    return Err(Error::Exit {
                        index: ips.len(),
                        exit: format!("{exit:?}"),
                    });
                }
            }
        }
    }
    Err(Error::Budget {
        port: stop_port,
        budget,
    })
}
