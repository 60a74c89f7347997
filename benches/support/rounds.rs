//! What the benches that print interleaved rounds share: how many rounds to run (for
//! those that boot Linux, from the environment), and the median, minimum and maximum of
//! their per-round figures.

/// The number of rounds from the environment variable `var` (at least 1, `default` when
/// unset or not a number), or `None` when the binary was not started by `cargo bench`
/// (which passes `--bench`; `cargo test --benches` does not): then it only builds.
pub fn rounds(var: &str, default: usize) -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    let rounds = std::env::var(var).ok().and_then(|r| r.parse().ok());
    Some(rounds.unwrap_or(default).max(1))
}

/// (median, min, max) of `v`; NaN for all three when `v` is empty.
pub fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
