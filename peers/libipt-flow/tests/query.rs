// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The fabricator against libipt 2.0.5's query decoder: libipt reads fabricated traces
//! back as the events (enabled, disabled, paging, exec mode, asynchronous branch,
//! overflow), TNT bits and indirect-branch targets that were fed in. Expected values
//! come from the reference model shared with pt-virt's own proptest.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../../../crates/pt-virt/tests/model/mod.rs"]
mod model;

use libipt_flow_peer::{Query, query};
use model::Obs;
use proptest::prelude::*;
use pt_virt::fabricate::{Change, Config, Event, ExecMode, Fabricator, GuestState, InterruptKind};

fn fabricate(config: Config, state: GuestState, events: &[Event]) -> Vec<u8> {
    let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
    for e in events {
        fab.event(e).unwrap();
    }
    fab.finish().unwrap()
}

/// libipt's answers as model observations. Status updates (from PSB+) and CBR events
/// are dropped after checking that paging events agree with the configuration.
fn observed(config: &Config, answers: &[Query]) -> Vec<Obs> {
    answers
        .iter()
        .filter_map(|q| {
            if let Query::Paging { non_root, .. } = *q {
                assert_eq!(non_root, config.non_root, "NR bit of {q:?}");
            }
            match *q {
                Query::Enabled { status: true, .. }
                | Query::ExecMode { status: true, .. }
                | Query::Paging { status: true, .. }
                | Query::Other(CBR_EVENT) => None,
                Query::Paging { cr3, .. } => Some(Obs::Paging(cr3)),
                Query::ExecMode { mode, .. } => Some(Obs::ExecMode(mode.expect("known mode"))),
                Query::Enabled { ip, .. } => Some(Obs::Enabled(ip)),
                Query::AsyncBranch { from, to } => Some(Obs::AsyncBranch { from, to }),
                Query::Disabled { .. } => Some(Obs::Disabled),
                Query::AsyncDisabled { at, .. } => Some(Obs::AsyncDisabled(at)),
                Query::Overflow { ip } => Some(Obs::Overflow(ip)),
                Query::Cond(taken) => Some(Obs::Tnt(taken)),
                Query::Indirect(Some(ip)) => Some(Obs::Tip(ip)),
                Query::Indirect(None) | Query::Other(_) => panic!("unexpected answer {q:?}"),
            }
        })
        .collect()
}

/// The model's observations (in packet order) in the order libipt reports them: the
/// MODE.Exec before a TIP.PGE comes after the enabled event it binds to.
fn libipt_order(mut expected: Vec<Obs>) -> Vec<Obs> {
    for i in 1..expected.len() {
        if let (Obs::ExecMode(_), Obs::Enabled(_)) = (expected[i - 1], expected[i]) {
            expected.swap(i - 1, i);
        }
    }
    expected
}

/// `ptev_cbr` in libipt 2.0.5's `enum pt_event_type`.
const CBR_EVENT: u32 = 18;

fn check(config: Config, state: GuestState, events: &[Event]) {
    let trace = fabricate(config, state, events);
    let answers = query(&trace).unwrap_or_else(|e| panic!("{e} on {trace:02x?}"));
    assert_eq!(
        observed(&config, &answers),
        libipt_order(model::expected(&config, state, events)),
        "libipt answers {answers:?}"
    );
}

const KERNEL: GuestState = GuestState {
    cpl: 0,
    cr3: 0x1000,
    mode: ExecMode::Bits64,
};

#[test]
fn hand_made_enable_branches_interrupt_cr3_disable() {
    let events = [
        Event::Enable { next: 0x40_1000 },
        Event::Branch { taken: true },
        Event::Branch { taken: false },
        Event::Indirect { target: 0x40_2000 },
        Event::Cr3Write {
            cr3: 0x7000,
            next: 0x40_2003,
        },
        Event::Interrupt {
            kind: InterruptKind::Hardware,
            from: 0x40_2003,
            target: 0xffff_8000_0010_0000,
            change: Change {
                cr3: Some(0x9000),
                mode: Some(ExecMode::Bits32),
                cpl: Some(0),
            },
        },
        Event::Branch { taken: true },
        Event::FarBranch {
            target: 0x40_2003,
            change: Change {
                mode: Some(ExecMode::Bits64),
                ..Change::default()
            },
        },
        Event::Disable { at: 0x40_2010 },
    ];
    let config = Config {
        non_root: true,
        ..Config::default()
    };
    check(config, KERNEL, &events);
    check(
        Config {
            splice: false,
            long_tnt: true,
            ..config
        },
        KERNEL,
        &events,
    );
}

#[test]
fn hand_made_filters_and_overflow() {
    let kernel_only = Config {
        user: false,
        cr3_match: Some(0x1000),
        ..Config::default()
    };
    let to_user = Change {
        cpl: Some(3),
        ..Change::default()
    };
    let to_kernel = Change {
        cpl: Some(0),
        ..Change::default()
    };
    let events = [
        Event::Enable { next: 0x1000 },
        Event::Overflow { resume: 0x1100 },
        Event::FarBranch {
            target: 0x4000,
            change: to_user,
        },
        Event::Overflow { resume: 0x4100 },
        Event::Interrupt {
            kind: InterruptKind::Software,
            from: 0x4100,
            target: 0xffff_8000_0000_0000,
            change: to_kernel,
        },
        Event::Cr3Write {
            cr3: 0x2000,
            next: 0xffff_8000_0000_0003,
        },
        Event::Cr3Write {
            cr3: 0x1000,
            next: 0xffff_8000_0000_0006,
        },
        Event::Indirect { target: 0x1234 },
    ];
    check(kernel_only, KERNEL, &events);
}

#[test]
fn periodic_psb_between_indirect_branches() {
    let mut events = vec![Event::Enable { next: 0x1000 }];
    for i in 0..2000u64 {
        events.push(Event::Branch { taken: i % 3 == 0 });
        events.push(Event::Indirect {
            target: 0x2000 + i * 16,
        });
    }
    let trace = fabricate(Config::default(), KERNEL, &events);
    let psbs = trace
        .windows(16)
        .filter(|w| w.chunks(2).all(|c| c == [0x02, 0x82]))
        .count();
    assert!(psbs > 5, "only {psbs} PSBs in {} bytes", trace.len());
    check(Config::default(), KERNEL, &events);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn libipt_reads_back_what_the_events_say(
        config in model::config(),
        state in model::guest_state(),
        events in proptest::collection::vec(model::event(), 0..300),
    ) {
        let trace = fabricate(config, state, &events);
        let answers = query(&trace).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            observed(&config, &answers),
            libipt_order(model::expected(&config, state, &events)),
            "libipt answers {:?}", answers
        );
    }
}
