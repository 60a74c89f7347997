// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary configurations, starting states and event sequences through the fabricator:
//! it never panics, refuses only what it documents, and its output decodes under the
//! strict rules, starts with a PSB, carries a reconstructable IP in every TIP, TIP.PGE
//! and FUP, and holds exactly one TNT bit per conditional branch taken while PacketEn;
//! the event layer reads it back without error, with one branch event per such bit.
//! Runs of conditional branches handed over as bits (`Fabricator::branches`, up to 64 at
//! a time) write the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::fabricate::{Config, Error, Event, Fabricator, GuestState};
use pt_virt::packet::{Decoder, Packet, Strictness};
use pt_virt::query::{self, EventDecoder};

fuzz_target!(|input: (Config, GuestState, Vec<Event>)| {
    let (config, state, events) = input;
    let runs = runs_as_bits(config, state, &events);
    let mut fab = match Fabricator::new(Vec::new(), config, state) {
        Ok(fab) => fab,
        Err(Error::BadCpl(c)) => return assert!(c > 3),
        Err(Error::BadPsbFreq(f)) => return assert!(f > 15),
        Err(Error::ZeroCbr) => return assert_eq!(config.cbr, Some(0)),
        Err(e) => panic!("unexpected {e}"),
    };
    let mut branches = 0usize;
    for e in &events {
        let counted = fab.packet_en() && matches!(e, Event::Branch { .. });
        match fab.event(e) {
            Ok(()) => branches += usize::from(counted),
            Err(Error::BadCpl(c)) => assert!(c > 3),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let trace = fab.finish().expect("a Vec sink never fills");
    if let Some(runs) = runs {
        assert_eq!(runs, trace);
    }
    let mut tnt_bits = 0usize;
    for (i, d) in Decoder::new(&trace, Strictness::Strict).enumerate() {
        let d = d.expect("fabricated packets decode");
        if i == 0 {
            assert_eq!(d.packet, Packet::Psb);
        }
        match d.packet {
            Packet::Tip(_) | Packet::TipPge(_) | Packet::Fup(_) => {
                assert!(d.ip.is_some(), "{d:?} without an IP")
            }
            Packet::Tnt8 { count, .. } | Packet::Tnt64 { count, .. } => {
                tnt_bits += usize::from(count)
            }
            _ => {}
        }
    }
    assert_eq!(tnt_bits, branches);
    let mut events = EventDecoder::new(&trace, query::Config::default());
    if events.sync_forward().is_ok() {
        let mut taken = 0usize;
        for r in events {
            let r = r.expect("the event layer reads fabricated traces");
            taken += usize::from(matches!(r.event, query::Event::Branch { .. }));
        }
        assert_eq!(taken, branches);
    }
});

/// The trace of `events` with each run of conditional branches (up to 64) fed through
/// `Fabricator::branches`; `None` where the configuration is refused.
fn runs_as_bits(config: Config, state: GuestState, events: &[Event]) -> Option<Vec<u8>> {
    let mut fab = Fabricator::new(Vec::new(), config, state).ok()?;
    let (mut taken, mut count) = (0u64, 0u32);
    for e in events {
        if let Event::Branch { taken: t } = *e {
            taken = taken << 1 | u64::from(t);
            count += 1;
            if count == 64 {
                fab.branches(taken, count).expect("a Vec sink never fills");
                (taken, count) = (0, 0);
            }
            continue;
        }
        fab.branches(taken, count).expect("a Vec sink never fills");
        (taken, count) = (0, 0);
        // Only a bad CPL is refused (checked below on the events one by one).
        let _ = fab.event(e);
    }
    fab.branches(taken, count).expect("a Vec sink never fills");
    Some(fab.finish().expect("a Vec sink never fills"))
}
