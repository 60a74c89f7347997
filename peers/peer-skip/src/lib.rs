// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only: what a test or example does when a peer it needs is missing (`/dev/kvm`,
//! QEMU and a Linux kernel, ndctl, `iasl`, the committed Linux fixtures).
//!
//! - Under CI (`CI` set to anything but empty, `0` or `false`, as `.ci/run` has it)
//!   [`missing`] panics: `scripts/deps.sh` installed every peer there, so a check that
//!   cannot run is a failure.
//! - Elsewhere it skips loudly and is counted: a `SKIPPED:` line on stderr (libtest hides
//!   the output of passing tests, so that line alone would be lost) and one line appended
//!   to the skip log, which `scripts/test.sh` prints at the end of the run.
//!
//! The skip log is the file named by `HUGEVM_SKIP_LOG` (`scripts/test.sh` sets it and
//! empties it first), else `target/skipped-peers.log` in this workspace.
//!
//! The library crates take this as a path-only dev-dependency, which `cargo package`
//! strips, so it never reaches a published manifest. (libipt and the Xen headers need no
//! call here: without them the peer crates do not build, under CI or not.)

use std::env;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that names the skip log.
pub const LOG_VAR: &str = "HUGEVM_SKIP_LOG";

/// Whether a missing peer must fail the run: `CI` is set to something other than
/// empty, `0` or `false`.
pub fn required() -> bool {
    ci_requires(env::var_os("CI").as_deref())
}

/// The rule of [`required`] for one value of `CI`.
fn ci_requires(ci: Option<&OsStr>) -> bool {
    ci.is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The skip log: `$HUGEVM_SKIP_LOG`, else `target/skipped-peers.log` in this workspace.
pub fn log_path() -> PathBuf {
    match env::var_os(LOG_VAR) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/skipped-peers.log"
        )),
    }
}

/// `check` (a test or example name) cannot run because `why` (which peer is missing and
/// how to get it). Panics under CI ([`required`]); elsewhere prints `SKIPPED: check: why`
/// to stderr and appends that line to the skip log ([`log_path`]), then returns so the
/// caller can return without checking anything.
pub fn missing(check: &str, why: &str) {
    skip_or_fail(required(), &log_path(), check, why);
}

/// [`missing`] with the CI rule and the log path given.
fn skip_or_fail(required: bool, log: &Path, check: &str, why: &str) {
    assert!(
        !required,
        "CI is set, so {check} must run, but its peer is missing: {why}"
    );
    let line = format!("SKIPPED: {check}: {why}");
    eprintln!("{line}");
    if let Some(dir) = log.parent() {
        let _ = fs::create_dir_all(dir);
    }
    // One short append per skip: concurrent tests do not interleave within a line.
    let appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "SKIPPED (not counted: cannot append to {}: {e})",
            log.display()
        );
    }
}

/// Whether `program` can be started at all (`program args` runs; its exit status does
/// not matter): the test for an installed command-line peer.
pub fn command_exists(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_log(tag: &str) -> PathBuf {
        let path = env::temp_dir().join(format!("peer-skip-{tag}-{}.log", std::process::id()));
        let _ = fs::remove_file(&path);
        path
    }

    #[test]
    fn outside_ci_a_skip_is_appended_to_the_log() {
        let log = temp_log("count");
        skip_or_fail(false, &log, "first", "no iasl");
        skip_or_fail(false, &log, "second", "no /dev/kvm");
        let text = fs::read_to_string(&log).expect("the log was written");
        assert_eq!(
            text,
            "SKIPPED: first: no iasl\nSKIPPED: second: no /dev/kvm\n"
        );
        let _ = fs::remove_file(&log);
    }

    #[test]
    fn under_ci_a_skip_panics_and_is_not_logged() {
        let log = temp_log("ci");
        let outcome =
            std::panic::catch_unwind(|| skip_or_fail(true, &log, "needs_iasl", "no iasl"));
        let payload = outcome.expect_err("must panic under CI");
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            message.contains("CI is set, so needs_iasl must run") && message.contains("no iasl"),
            "{message}"
        );
        assert!(!log.exists(), "a failure is not a skip");
    }

    #[test]
    fn which_ci_values_require_the_peers() {
        for (value, want) in [
            (None, false),
            (Some(""), false),
            (Some("0"), false),
            (Some("false"), false),
            (Some("true"), true),
            (Some("1"), true),
        ] {
            assert_eq!(ci_requires(value.map(OsStr::new)), want, "CI={value:?}");
        }
    }
}
