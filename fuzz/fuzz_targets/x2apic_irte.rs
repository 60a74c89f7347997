// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The VT-d remapping model on arbitrary input: IRTE bits in either mode decode to an
//! entry that encodes back to the same bits or to a reserved-bit error; arbitrary
//! requests through an arbitrary table and configuration, with IEC invalidations in
//! between, never panic, and every remapped interrupt comes from the entry at its index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2apic_virt::remap::{Config, Iec, Irte, Outcome, Remapper, Request, irte};

#[derive(Debug, arbitrary::Arbitrary)]
enum Op {
    Translate(Request, u16),
    Invalidate(u64, u64),
}

fuzz_target!(|input: (u128, bool, Config, Vec<u128>, Vec<Op>)| {
    let (raw, eim, config, table, ops) = input;
    match Irte::decode(raw, eim) {
        Ok(e) => assert_eq!(e.encode(eim), Ok(raw)),
        Err(irte::Error::Reserved { reserved, .. }) => assert_ne!(reserved, 0),
        Err(other) => panic!("{other:?}"),
    }
    let read = |i: u32| table.get(i as usize).copied();
    let mut unit = Remapper::new(config);
    for op in ops {
        match op {
            Op::Translate(request, sid) => {
                if let Ok(Outcome::Remapped { index, irte, .. }) =
                    unit.translate(&read, request, sid)
                {
                    assert_eq!(irte.encode(config.eim).ok(), read(index));
                }
            }
            Op::Invalidate(qw0, qw1) => {
                if let Ok(iec) = Iec::decode(qw0, qw1) {
                    assert_eq!(Iec::decode(iec.encode(), 0), Ok(iec));
                    unit.invalidate(iec);
                }
            }
        }
    }
});
