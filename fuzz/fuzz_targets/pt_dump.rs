// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `pt-virt` tool's input path: arbitrary bytes listed packet by packet and event by
//! event under options picked by the first two bytes. Never a panic; every error the
//! listing reports is also a line of output (ptdump's `[offset: ...]` or a JSON object),
//! and the listing holds one line per item plus one per error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::dump::{self, Options};
use pt_virt::packet::Strictness;
use pt_virt::query::TimeConfig;

fuzz_target!(|data: &[u8]| {
    let Some((&[a, b], trace)) = data.split_first_chunk::<2>() else {
        return;
    };
    let bit = |n: u8| a >> n & 1 != 0;
    let options = Options {
        offset: bit(0),
        last_ip: bit(1),
        sync: bit(2),
        raw: bit(3),
        exec_mode: bit(4),
        no_pad: bit(5),
        no_timing: bit(6),
        json: bit(7),
        strictness: if b & 1 == 0 {
            Strictness::Strict
        } else {
            Strictness::Lenient
        },
        time: TimeConfig {
            mtc_freq: b >> 4,
            ctc_ratio: (b & 2 != 0).then_some((3, u32::from(b))),
            nom_freq: b & 0xF8,
        },
    };
    let mut out = String::new();
    let mut reported = 0usize;
    let s = dump::packets(trace, &options, &mut out, |_| reported += 1).expect("a String");
    assert_eq!(s.errors, reported);
    assert_eq!(out.lines().count(), s.items + s.errors);
    let mut out = String::new();
    let mut reported = 0usize;
    let s = dump::events(trace, &options, &mut out, |_| reported += 1).expect("a String");
    assert_eq!(s.errors, reported);
    assert_eq!(out.lines().count(), s.items + s.errors);
});
