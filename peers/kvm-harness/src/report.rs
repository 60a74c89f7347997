// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Report printing shared by the examples: the skip of a missing `/dev/kvm` and rates.

use core::time::Duration;
use std::process::ExitCode;

/// The `main` every example shares: `parse` the arguments (`Ok(None)` means `--help`),
/// then `run` them; `run` returns whether every check passed. Exit codes: 0 on success
/// (and for `--help`, and when `run` skipped for lack of KVM outside CI), 1 on a failed check or an
/// error, 2 on bad arguments.
pub fn main<A>(
    name: &str,
    usage: &str,
    parse: impl FnOnce() -> Result<Option<A>, String>,
    run: impl FnOnce(&A) -> Result<bool, String>,
) -> ExitCode {
    let args = match parse() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `/dev/kvm` is absent: panics under CI, else prints `SKIPPED:` and counts the skip
/// (see [`peer_skip::missing`]); the caller then returns without running anything.
pub fn skipped_no_kvm(example: &str) {
    peer_skip::missing(example, "no /dev/kvm (it needs KVM; nothing was run)");
}

/// Events per second over `elapsed`, or 0 when no time passed.
pub fn per_second(events: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        // Precision loss past 2^53 events is irrelevant for a rate.
        #[allow(clippy::cast_precision_loss)]
        let events = events as f64;
        events / secs
    } else {
        0.0
    }
}

/// Milliseconds with three decimals, for timing lines.
pub fn ms(elapsed: Duration) -> String {
    format!("{:.3} ms", elapsed.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_events_over_seconds() {
        assert!((per_second(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
        assert_eq!(ms(Duration::from_micros(1500)), "1.500 ms");
    }
}
