// SPDX-License-Identifier: Apache-2.0 OR MIT
//! MADT processor and NMI entries parsed from arbitrary bytes: parsing never panics, and
//! every entry that parses emits the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2apic_virt::madt::Entry;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((entry, next)) = Entry::parse(rest) {
        let len = entry.buffer_len();
        let mut buf = [0u8; 16];
        assert_eq!(entry.emit(&mut buf), Ok(len));
        assert_eq!(&buf[..len], &rest[..len]);
        rest = next;
    }
});
