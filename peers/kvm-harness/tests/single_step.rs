// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Single-stepping a real-mode loop on /dev/kvm yields exactly the instruction sequence
//! the program's layout predicts (a conditional branch taken twice, then not taken).

use kvm_harness::asm::{Program, Reg};
use kvm_harness::kvm::{self, RealModeEntry, Vm};
use kvm_harness::report;
use kvm_harness::step;

const CODE: u16 = 0x1000;
const DONE: u16 = 0x12;

#[test]
fn single_step_records_every_instruction() {
    let Some(kvm) = kvm::open().expect("opening /dev/kvm") else {
        report::skipped_no_kvm("single_step_records_every_instruction");
        return;
    };
    let mut p = Program::new();
    p.mov_imm32(Reg::Ecx, 3);
    let top = p.label();
    p.dec(Reg::Ecx);
    let jnz = p.label();
    p.jnz(top).expect("short loop");
    let mov_dx = p.label();
    p.mov_dx(DONE);
    let out = p.label();
    p.out_dx_eax().hlt();

    let mut vm = Vm::new(&kvm, 64 * 1024).expect("VM");
    vm.load(u64::from(CODE), p.bytes()).expect("load");
    let entry = RealModeEntry {
        ip: CODE,
        ds_base: 0,
    };
    let mut vcpu = kvm::create_x2apic_vcpu(&kvm, &vm.fd, 0, entry).expect("vCPU");
    let ips = step::trace(&mut vcpu, DONE, 100, |_| false).expect("trace");

    let at = |offset: usize| u64::from(CODE) + offset as u64;
    let (top, jnz) = (at(top.offset()), at(jnz.offset()));
    let expected = [
        at(0),
        top,
        jnz,
        top,
        jnz,
        top,
        jnz,
        at(mov_dx.offset()),
        at(out.offset()),
    ];
    assert_eq!(ips, expected);
}
