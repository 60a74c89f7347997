// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary bytes through the event layer (`pt_virt::query`), resynchronising after
//! every error as a trace dumper does: never a panic, every record's offset lies inside
//! the input and records other than overflows come in offset order (an overflow is handed
//! out when it resolves, with its OVF packet's offset, so it can follow the timing events
//! decoded while it was pending), nothing follows an error until the next resync, and
//! the number of records is
//! bounded by the input (at most 47 branch events per byte of long TNT, a few per
//! packet otherwise), and internal iteration (`fold`) after the first few records
//! hands out the same as `next`. The first byte picks the decoder's configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::packet::Strictness;
use pt_virt::query::{Config, Event, EventDecoder, TimeConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, trace)) = data.split_first() else {
        return;
    };
    let config = Config {
        strictness: if knobs & 1 == 0 {
            Strictness::Strict
        } else {
            Strictness::Lenient
        },
        time: TimeConfig {
            mtc_freq: knobs >> 4,
            ctc_ratio: (knobs & 2 != 0).then_some((u32::from(knobs >> 2), 7)),
            nom_freq: knobs & 0xF0,
        },
    };
    let mut dec = EventDecoder::new(trace, config);
    let mut records = 0usize;
    while dec.sync_forward().is_ok() {
        // Internal iteration hands out what `next` does, from wherever `next` left off.
        let mut ahead = dec.clone();
        let first: Vec<_> = (0..knobs >> 1 & 7).filter_map(|_| ahead.next()).collect();
        let folded = ahead.fold(first, |mut v, r| {
            v.push(r);
            v
        });
        let mut by_next = Vec::new();
        let mut last = 0;
        while let Some(r) = dec.next() {
            by_next.push(r);
            match r {
                Ok(r) => {
                    assert!(r.offset < trace.len());
                    if !matches!(r.event, Event::Overflow { .. }) {
                        assert!(r.offset >= last);
                        last = r.offset;
                    }
                    records += 1;
                }
                Err(_) => {
                    // After an error, nothing until the next resync.
                    assert!(dec.offset() <= trace.len());
                    assert!(dec.next().is_none());
                }
            }
        }
        assert!(records <= 48 * trace.len() + 1);
        assert_eq!(folded, by_next);
    }
});
