// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The fabricator's twin: for random configurations, starting states and event
//! sequences, the event layer reads the fabricated trace back without error, and the
//! events it reports (TNT bits, branch targets, enables and disables, CR3 writes, mode
//! changes, overflows) are exactly the ones the reference model in `model/` derives from
//! the events fed in, whether handed out one by one (`next`) or by internal iteration
//! (`fold`). The packet decoder's strict and lenient rules agree on the bytes. Runs of
//! conditional branches handed over as bits (`Fabricator::branches`) write what the same
//! branches as single events write.

#![allow(clippy::unwrap_used, reason = "tests")]

mod model;

use proptest::prelude::*;
use pt_virt::fabricate::{Event, Fabricator};
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

    /// `branches` with runs of up to `cap` results is `Event::Branch` one at a time:
    /// the same bytes (TNTs written as they fill, in between the other events' packets)
    /// and the same guest state, for both TNT sizes and with results pending when a run
    /// starts.
    #[test]
    fn branch_runs_write_what_single_branches_write(
        config in model::config(),
        state in model::guest_state(),
        events in proptest::collection::vec(
            (model::event(), 0usize..150, any::<u128>()), 0..30),
        cap in 1u32..=64,
    ) {
        let mut all = Vec::new();
        for (event, run, bits) in &events {
            all.push(*event);
            all.extend((0..*run).map(|i| Event::Branch { taken: bits >> (i % 128) & 1 != 0 }));
        }
        let mut one = Fabricator::new(Vec::new(), config, state).unwrap();
        for e in &all {
            one.event(e).unwrap();
        }
        let mut runs = Fabricator::new(Vec::new(), config, state).unwrap();
        let (mut taken, mut count) = (0u64, 0u32);
        for e in &all {
            if let Event::Branch { taken: t } = *e {
                taken = taken << 1 | u64::from(t);
                count += 1;
                if count < cap {
                    continue;
                }
                runs.branches(taken, count).unwrap();
            } else {
                runs.branches(taken, count).unwrap();
                runs.event(e).unwrap();
            }
            (taken, count) = (0, 0);
        }
        runs.branches(taken, count).unwrap();
        prop_assert_eq!(runs.state(), one.state());
        prop_assert_eq!(runs.finish().unwrap(), one.finish().unwrap());
    }
}
