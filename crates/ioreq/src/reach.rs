// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test support: properties that must reach their assertion. A property runs under
//! proptest's `TestRunner`, returns whether the case got past the code's first checks to
//! the assertion, and fails when fewer than half of the cases did, so a generator that
//! rarely produces a valid input cannot pass by proving only "no panic".

use core::cell::Cell;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::vec::Vec;

/// Runs `cases` cases of `property` on values of `strategy`. `property` returns
/// `Ok(true)` when the case reached the assertion, `Ok(false)` when the input was
/// (correctly) refused first. Panics on a failing case, or when fewer than half of the
/// cases reached the assertion; prints `name: reached/cases` (`--nocapture` shows it).
pub(crate) fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let (ran, reached) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        if property(value)? {
            reached.set(reached.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{name}: {e}");
    }
    let (ran, reached) = (ran.get(), reached.get());
    std::println!("{name}: {reached}/{ran} cases reached the assertion");
    assert!(
        2 * reached >= ran,
        "{name}: only {reached}/{ran} cases reached the assertion"
    );
}

/// Bit positions to flip in a valid case of `bits` bits: none in half of the cases, one
/// in a quarter, two in the rest.
pub(crate) fn flips(bits: usize) -> impl Strategy<Value = Vec<usize>> {
    use proptest::collection::vec;
    proptest::prop_oneof![
        2 => proptest::strategy::Just(Vec::new()),
        1 => vec(0..bits, 1),
        1 => vec(0..bits, 2),
    ]
}

/// Flips bit `i % 8` of byte `i / 8` of `bytes` for each `i` in `at`.
pub(crate) fn flip(bytes: &mut [u8], at: &[usize]) {
    for &i in at {
        bytes[i / 8] ^= 1 << (i % 8);
    }
}
