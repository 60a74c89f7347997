// SPDX-License-Identifier: Apache-2.0 OR MIT
//! MSI address/data decoding on arbitrary input, in both destination widths: decoding
//! never panics, and whatever decodes encodes back to the same address and data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2apic_virt::msi::{Msi, decode, encode, kvm_msi_address};

fuzz_target!(|input: (u64, u32, bool)| {
    let (addr, data, ext) = input;
    if let Ok(msi) = decode(addr, data, ext) {
        assert_eq!(encode(&msi, ext), Ok((addr, data)));
        if let Msi::Compat(m) = msi {
            let (lo, hi) = kvm_msi_address(&m);
            assert_eq!(hi | (lo >> 12 & 0xFF), m.dest);
        }
    }
});
