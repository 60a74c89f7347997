// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A whole DMAR parsed from arbitrary bytes (checksum not checked under fuzzing): parsing
//! never panics, and every table that parses emits the same bytes (the checksum
//! recomputed) and parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2apic_virt::acpi::dmar::Dmar;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = Dmar::parse(data) else {
        return;
    };
    let bytes = table.emit().expect("a parsed table emits");
    assert_eq!(bytes[..9], data[..9]);
    assert_eq!(bytes[10..], data[10..bytes.len()]);
    assert_eq!(Dmar::parse(&bytes).as_ref(), Ok(&table));
});
