// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Interleaved timing for the benchmarks' printed ratios: ours and the baseline run
//! alternately (seven rounds), so a noisy machine slows both alike, and the median
//! round's ratio is reported with the smallest and largest.

use std::hint::black_box;
use std::time::Instant;

/// One measurement: the median round's ratio (ours / baseline), the smallest and
/// largest round ratios, and ours and the baseline in nanoseconds per iteration in the
/// median round.
#[derive(Debug, Clone, Copy)]
pub struct Ratio {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub ours_ns: f64,
    pub base_ns: f64,
}

/// Nanoseconds per iteration of `f` over `iters` iterations.
fn per_iter<S>(iters: u32, state: &mut S, f: &mut impl FnMut(&mut S) -> u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f(state));
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(iters)
}

/// Seven rounds of `iters` iterations of `base` then `ours`, both given `state` (the
/// buffers they share).
pub fn ratio<S>(
    iters: u32,
    state: &mut S,
    mut base: impl FnMut(&mut S) -> u64,
    mut ours: impl FnMut(&mut S) -> u64,
) -> Ratio {
    let mut rounds: Vec<(f64, f64, f64)> = (0..7)
        .map(|_| {
            let b = per_iter(iters, state, &mut base);
            let o = per_iter(iters, state, &mut ours);
            (o / b, o, b)
        })
        .collect();
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, ours_ns, base_ns) = rounds[3];
    Ratio {
        median,
        min: rounds[0].0,
        max: rounds[6].0,
        ours_ns,
        base_ns,
    }
}
