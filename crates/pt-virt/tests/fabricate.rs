// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The fabricator's twin: for random configurations, starting states and event
//! sequences, the event layer reads the fabricated trace back without error, and the
//! events it reports (TNT bits, branch targets, enables and disables, CR3 writes, mode
//! changes, overflows) are exactly the ones the reference model in `model/` derives from
//! the events fed in, whether handed out one by one (`next`) or by internal iteration
//! (`fold`). The packet decoder's strict and lenient rules agree on the bytes.

#![allow(clippy::unwrap_used, reason = "tests")]

mod model;

use proptest::prelude::*;
use pt_virt::fabricate::Fabricator;
use pt_virt::packet::{Decoder, Packet, Strictness};
use pt_virt::query::{self, EventDecoder};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn event_layer_gives_back_the_events_fed_in(
        config in model::config(),
        state in model::guest_state(),
        events in proptest::collection::vec(model::event(), 0..400),
    ) {
        let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
        for e in &events {
            fab.event(e).unwrap();
        }
        let trace = fab.finish().unwrap();
        let mut dec = EventDecoder::new(&trace, query::Config::default());
        // A fabricated trace starts at a PSB whenever it has packets.
        if !trace.is_empty() {
            prop_assert_eq!(dec.sync_forward(), Ok(0));
        }
        // Internal iteration (`fold`, behind `for_each`) hands out the same as `next`.
        let folded = dec.clone().fold(Vec::new(), |mut v, r| {
            v.push(r.unwrap());
            v
        });
        let records: Vec<_> = dec.collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&folded, &records);
        let got: Vec<_> = records
            .iter()
            .filter(|r| !r.status_update)
            .map(|r| r.event)
            .collect();
        prop_assert_eq!(got, model::expected(&config, state, &events));
        // The lenient (perf) rules read the same packets.
        let strict: Vec<_> = Decoder::new(&trace, Strictness::Strict)
            .collect::<Result<_, _>>()
            .unwrap();
        let lenient: Vec<_> = Decoder::new(&trace, Strictness::Lenient)
            .collect::<Result<_, _>>()
            .unwrap();
        if let Some(first) = strict.first() {
            prop_assert_eq!(first.packet, Packet::Psb);
        }
        prop_assert_eq!(lenient, strict);
    }
}
