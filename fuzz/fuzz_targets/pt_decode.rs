// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary bytes through the PT packet decoder in both modes: never a panic, packets
//! tile the input without gaps, every error names an offset inside it, the compact
//! decoder (`next_raw`) gives the same packets, lengths, last IPs and errors as the enum
//! decoder, and synchronising forward always lands on a PSB that decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::packet::{Decoder, Packet, Strictness};

fuzz_target!(|data: &[u8]| {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let mut next = 0;
        for d in Decoder::new(data, strictness) {
            match d {
                Ok(d) => {
                    assert_eq!(d.offset, next);
                    assert!(d.len >= 1 && d.offset + d.len <= data.len());
                    next = d.offset + d.len;
                }
                Err(_) => assert!(next < data.len()),
            }
        }
        let mut compact = Decoder::new(data, strictness);
        let mut typed = Decoder::new(data, strictness);
        loop {
            match (typed.next_packet(), compact.next_raw()) {
                (Some(Ok(d)), Some(Ok(raw))) => {
                    assert_eq!((raw.kind(), raw.len()), (d.packet.kind(), d.len));
                    assert_eq!(raw.packet(strictness), Ok(d.packet));
                    assert_eq!(compact.last_ip(), typed.last_ip());
                }
                (None, None) => break,
                (d, raw) => {
                    assert_eq!(d.map(|d| d.err()), raw.map(|r| r.err()));
                    break;
                }
            }
        }
        let mut dec = Decoder::new(data, strictness);
        while let Ok(at) = dec.sync_forward() {
            let first = dec.next().expect("a PSB is there").expect("and decodes");
            assert_eq!((first.offset, first.packet), (at, Packet::Psb));
            // Skip the rest of this segment; the next call searches past this PSB.
            dec.set_offset(at);
        }
    }
});
