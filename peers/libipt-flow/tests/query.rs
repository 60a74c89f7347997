// SPDX-License-Identifier: Apache-2.0 OR MIT
//! pt-virt's event layer against libipt 2.0.5's query decoder on the same bytes (traces
//! the fabricator writes): both report the same events (enabled, disabled, paging, exec
//! mode, asynchronous branch, overflow, CBR, status updates), TNT bits and
//! indirect-branch targets, in the same order; and those are the ones the reference model
//! shared with pt-virt's own proptest derives from the events fed in.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../../../crates/pt-virt/tests/model/mod.rs"]
mod model;

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use libipt_flow_peer::{Query, query};
use proptest::prelude::*;
use pt_virt::fabricate::{Change, Config, Event, ExecMode, Fabricator, GuestState, InterruptKind};
use pt_virt::query::{Event as Q, EventDecoder, Record};

fn fabricate(config: Config, state: GuestState, events: &[Event]) -> Vec<u8> {
    let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
    for e in events {
        fab.event(e).unwrap();
    }
    fab.finish().unwrap()
}

/// `ptev_cbr` in libipt 2.0.5's `enum pt_event_type`.
const CBR_EVENT: u32 = 18;

/// One of our records as the libipt answer it stands for.
fn as_libipt(r: &Record) -> Query {
    let status = r.status_update;
    match r.event {
        Q::Branch { taken } => Query::Cond(taken),
        Q::Indirect { target } => Query::Indirect(target),
        Q::Enabled { ip } => Query::Enabled { ip, status },
        Q::Disabled { ip } => Query::Disabled { ip },
        Q::AsyncDisabled { at, ip } => Query::AsyncDisabled { at, ip },
        Q::AsyncBranch { from, to } => Query::AsyncBranch {
            from,
            to: to.unwrap_or_default(),
        },
        Q::Paging { cr3, nr } | Q::AsyncPaging { cr3, nr, .. } => Query::Paging {
            cr3,
            non_root: nr,
            is_async: matches!(r.event, Q::AsyncPaging { .. }),
            status,
        },
        Q::ExecMode { mode, .. } => Query::ExecMode { mode, status },
        Q::Overflow { ip } => Query::Overflow { ip },
        Q::Cbr { .. } => Query::Other(CBR_EVENT),
        other => panic!("the fabricator does not write what gives {other:?}"),
    }
}

/// Our event layer's records on `trace`, as libipt answers. The "enabled" status update
/// of a PSB+ with a FUP is left out: libipt 2.0.5 returns that IP from
/// `pt_qry_sync_forward` instead of as an event (libipt 2.1's event decoder reports it
/// as a status update, as we do).
fn ours(trace: &[u8]) -> Vec<Query> {
    let mut dec = EventDecoder::new(trace, pt_virt::query::Config::default());
    if dec.sync_forward().is_err() {
        return Vec::new();
    }
    dec.map(|r| as_libipt(&r.unwrap()))
        .filter(|q| !matches!(q, Query::Enabled { status: true, .. }))
        .collect()
}

/// libipt's query decoder and our event layer give the same answers on the trace the
/// fabricator writes for `events`, and those are the model's (status updates aside).
/// Returns how many answers were compared.
fn check(config: Config, state: GuestState, events: &[Event]) -> Result<usize, TestCaseError> {
    let trace = fabricate(config, state, events);
    let answers = query(&trace)
        .map_err(|e| TestCaseError::fail(format!("{e} on a trace of {} bytes", trace.len())))?;
    let ours = ours(&trace);
    if let Some(i) = (0..ours.len().max(answers.len())).find(|&i| ours.get(i) != answers.get(i)) {
        let window = |v: &[Query]| v[i.saturating_sub(3)..(i + 3).min(v.len())].to_vec();
        prop_assert!(
            false,
            "answer {} of {} / {} differs: ours {:?}, libipt {:?} (trace of {} bytes)",
            i,
            ours.len(),
            answers.len(),
            window(&ours),
            window(&answers),
            trace.len()
        );
    }
    // And both are what the events say.
    let mut dec = EventDecoder::new(&trace, pt_virt::query::Config::default());
    let _ = dec.sync_forward();
    let events_ours: Vec<_> = dec
        .map(Result::unwrap)
        .filter(|r| !r.status_update)
        .map(|r| r.event)
        .collect();
    prop_assert_eq!(events_ours, model::expected(&config, state, events));
    Ok(answers.len())
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
    check(config, KERNEL, &events).unwrap();
    check(
        Config {
            splice: false,
            long_tnt: true,
            ..config
        },
        KERNEL,
        &events,
    )
    .unwrap();
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
    check(kernel_only, KERNEL, &events).unwrap();
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
    check(Config::default(), KERNEL, &events).unwrap();
}

/// 300 random configurations, starting states and event sequences; prints how much was
/// compared (`cargo test -p libipt-flow-peer --test query -- --nocapture`).
#[test]
fn libipt_and_the_event_layer_agree() {
    let strategy = (
        model::config(),
        model::guest_state(),
        proptest::collection::vec(model::event(), 0..300),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    let (traces, answers) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner
        .run(&strategy, |(config, state, events)| {
            let n = check(config, state, &events)?;
            traces.fetch_add(1, Relaxed);
            answers.fetch_add(n, Relaxed);
            Ok(())
        })
        .unwrap();
    let (traces, answers) = (traces.into_inner(), answers.into_inner());
    println!("libipt differential: {traces} traces, {answers} answers compared");
    assert!(traces >= 300 && answers > traces);
}
