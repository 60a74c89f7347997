// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary bytes as a management superblock: parsing must never panic, and every
//! accepted superblock must round-trip through `emit` (as minor 0).
#![no_main]

use frame_table::superblock::{self, Superblock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sb) = Superblock::parse(data) else {
        return;
    };
    let ranges: Vec<_> = sb.ranges().collect();
    let mut header = *sb.header();
    header.version_minor = 0;
    let mut buf = vec![0u8; superblock::buffer_len(ranges.len()).expect("parsed, so it fits")];
    superblock::emit(&header, &ranges, &mut buf).expect("an accepted superblock is emittable");
    let again = Superblock::parse(&buf).expect("emitted bytes parse");
    assert_eq!(*again.header(), header);
    assert!(again.ranges().eq(ranges.iter().copied()));
});
