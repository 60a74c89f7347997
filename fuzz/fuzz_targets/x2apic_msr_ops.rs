// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary sequences of guest RDMSR/WRMSR, host `IA32_APIC_BASE` writes, xAPIC MMIO
//! accesses, INIT, RESET and interrupt acceptance on one local APIC model: nothing
//! panics, and after every step the model's invariants hold (a valid mode; in x2APIC mode
//! the ID register is the x2APIC ID and the LDR is derived from it; RDMSR 0x1B returns
//! the base; a #GP changes nothing; the KVM register page round-trips).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use x2apic_virt::regs::x2apic_ldr;
use x2apic_virt::{Config, Features, IdFormat, Initiator, Lapic, Mode, Register};

#[derive(Debug, Arbitrary)]
enum Op {
    /// RDMSR of `0x800 + n` (the x2APIC range and a little past it).
    Read(u8),
    /// WRMSR of `0x800 + n`.
    Write(u8, u64),
    /// RDMSR/WRMSR of any MSR.
    ReadAny(u32),
    WriteAny(u32, u64),
    /// A write of `IA32_APIC_BASE` with the EN/EXTD/BSP bits chosen, or a raw value.
    Base(bool, bool, bool, Initiator),
    BaseRaw(u64, Initiator),
    MmioRead(u16),
    MmioWrite(u16, u32),
    Init,
    Reset,
    Accept(u8, bool),
}

#[derive(Debug, Arbitrary)]
struct Input {
    id: u32,
    maxphyaddr: u8,
    x2apic: bool,
    cmci: bool,
    directed_eoi: bool,
    tsc_deadline: bool,
    ops: Vec<Op>,
}

fn check(l: &Lapic) {
    assert_ne!(l.mode(), Mode::Invalid);
    assert_eq!(l.read_msr(0x1B), Ok(l.base().raw()));
    assert_eq!(l.base().raw() & l.config().rules().reserved(), 0);
    if l.mode() == Mode::X2apic {
        assert_eq!(l.read_msr(0x802), Ok(u64::from(l.x2apic_id())));
        assert_eq!(l.read_msr(0x80D), Ok(u64::from(x2apic_ldr(l.x2apic_id()))));
    } else {
        assert!(l.read_msr(0x802).is_err());
    }
    assert!(l.ppr() <= 0xFF);
    let page = l.to_kvm_page(IdFormat::Full);
    let back = Lapic::from_kvm_page(
        *l.config(),
        l.x2apic_id(),
        l.base().raw(),
        &page,
        IdFormat::Full,
    );
    assert_eq!(back.as_ref(), Ok(l));
    assert_eq!(l.register(Register::Version), l.config().version_register());
}

fuzz_target!(|input: Input| {
    let features = Features {
        lvt_entries: if input.cmci { 7 } else { 6 },
        directed_eoi: input.directed_eoi,
        tsc_deadline: input.tsc_deadline,
    };
    let maxphyaddr = 32 + input.maxphyaddr % 21;
    let Ok(config) = Config::new(maxphyaddr, input.x2apic, features) else {
        panic!("MAXPHYADDR {maxphyaddr} is valid");
    };
    let mut l = Lapic::new(config, input.id, input.id % 7 == 0);
    check(&l);
    for op in input.ops {
        let before = l.clone();
        let faulted = match op {
            Op::Read(n) => l.read_msr(0x800 + u32::from(n)).is_err(),
            Op::Write(n, v) => l.write_msr(0x800 + u32::from(n), v).is_err(),
            Op::ReadAny(msr) => l.read_msr(msr).is_err(),
            Op::WriteAny(msr, v) => l.write_msr(msr, v).is_err(),
            Op::Base(en, extd, bsp, who) => {
                let v =
                    0xFEE0_0000 | u64::from(en) << 11 | u64::from(extd) << 10 | u64::from(bsp) << 8;
                l.set_base(v, who).is_err()
            }
            Op::BaseRaw(v, who) => l.set_base(v, who).is_err(),
            Op::MmioRead(off) => {
                let r = l.mmio_read(off);
                assert_eq!(r.is_some(), l.mode() == Mode::Xapic);
                false
            }
            Op::MmioWrite(off, v) => {
                let r = l.mmio_write(off, v);
                assert_eq!(r.is_some(), before.mode() == Mode::Xapic);
                false
            }
            Op::Init => {
                l.init();
                assert_eq!(l.mode(), before.mode());
                false
            }
            Op::Reset => {
                l.reset();
                assert_eq!(l.mode(), Mode::Xapic);
                false
            }
            Op::Accept(vector, level) => {
                l.accept(vector, level);
                false
            }
        };
        if faulted {
            assert_eq!(l, before, "a #GP leaves the APIC unchanged");
        }
        check(&l);
    }
});
