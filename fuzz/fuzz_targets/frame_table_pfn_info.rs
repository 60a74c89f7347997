// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary bytes as a Linux fsdax/devdax info block: parsing and validation must never
//! panic, and every accepted block must round-trip through `emit`.
#![no_main]

use frame_table::{NamespaceGeometry, PfnInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = PfnInfo::parse(data) else {
        return;
    };
    let mut block = [0u8; 4096];
    info.emit(&mut block)
        .expect("an accepted block is emittable");
    assert_eq!(PfnInfo::parse(&block), Ok(info));
    let ns = NamespaceGeometry {
        start: info.npfns.rotate_left(21),
        size: info.dataoff.wrapping_mul(3),
        uuid: info.parent_uuid,
        compat_align: 2 << 20,
    };
    let _ = info.validate(&ns);
});
