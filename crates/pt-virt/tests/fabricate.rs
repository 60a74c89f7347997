// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Property: for random configurations, starting states and event sequences, our decoder
//! reads the fabricated trace back without error, and what it reads (TNT bits, branch
//! targets, enables and disables, CR3 writes, mode changes, overflows) is what the
//! reference model in `model/` expects from the events.

#![allow(clippy::unwrap_used, reason = "tests")]

mod model;

use proptest::prelude::*;
use pt_virt::fabricate::Fabricator;
use pt_virt::packet::{Decoder, Strictness};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decoder_reads_back_what_the_events_say(
        config in model::config(),
        state in model::guest_state(),
        events in proptest::collection::vec(model::event(), 0..400),
    ) {
        let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
        for e in &events {
            fab.event(e).unwrap();
        }
        let trace = fab.finish().unwrap();
        let packets: Vec<_> = Decoder::new(&trace, Strictness::Strict)
            .collect::<Result<_, _>>()
            .unwrap();
        // A fabricated trace starts at a PSB whenever it has packets.
        if let Some(first) = packets.first() {
            prop_assert_eq!(first.packet, pt_virt::packet::Packet::Psb);
        }
        prop_assert_eq!(model::observe(&packets), model::expected(&config, state, &events));
        // The lenient (perf) rules read the same packets.
        let lenient: Vec<_> = Decoder::new(&trace, Strictness::Lenient)
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(lenient, packets);
    }
}
