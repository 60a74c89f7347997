// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Guest output buffers: where a guest's trace goes, and the policy's verdict on it.
//!
//! With "Intel PT uses guest-physical addresses" the processor treats OUTPUT_BASE and
//! every ToPA address as a guest-physical address and reaches it through EPT. The Xen
//! 2018 design session decided what happens when that memory is wrong: an illegal
//! buffer address (nothing there) or an MMIO address is the guest's fault — crash it;
//! a write-protected page (log-dirty, introspection) is "more complicated … should need
//! to know the reason, and distinguish case by case", so it gets its own verdict,
//! [`Verdict::NeedsEmulation`], and the VMM decides.
//!
//! The caller classifies guest-physical memory through [`GuestMemory`]; this module
//! walks ToPA tables ([`topa`]) or checks a single range and returns a [`Verdict`].

pub mod topa;

use crate::msr::{OutputConfig, OutputError, RtitState, RtitStatus, output_config};
use crate::policy::Policy;
use topa::{TopaError, WalkLimits};

/// A guest-physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Gpa(pub u64);

impl Gpa {
    /// `self + bytes`, or `None` on overflow.
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

impl core::fmt::LowerHex for Gpa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// What backs a guest-physical range, as the caller (the VMM's memory map and EPT)
/// knows it. Ordered from harmless to fatal: a range's type is its worst page's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MemType {
    /// Ordinary writable RAM.
    Ram,
    /// RAM the VMM write-protects (log-dirty tracking for migration, introspection).
    WriteProtected,
    /// Emulated or passed-through device memory.
    Mmio,
    /// Nothing is mapped there.
    Absent,
}

/// Guest memory as the ToPA walker sees it.
pub trait GuestMemory {
    /// The little-endian 64-bit value at `gpa` (8-byte aligned), or `None` if it cannot
    /// be read as RAM.
    fn read_u64(&self, gpa: Gpa) -> Option<u64>;
    /// The most restrictive [`MemType`] of any page in `[gpa, gpa + len)`.
    fn classify(&self, gpa: Gpa, len: u64) -> MemType;
}

/// Why the guest must be crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrashReason {
    /// Trace output would go to MMIO.
    #[error("PT output to MMIO at {0:#x}")]
    Mmio(Gpa),
    /// Trace output would go where nothing is mapped.
    #[error("PT output to unmapped guest-physical address {0:#x}")]
    Absent(Gpa),
    /// The ToPA tables are malformed.
    #[error("bad ToPA: {0}")]
    Topa(TopaError),
    /// The output MSRs are inconsistent.
    #[error("bad output configuration: {0}")]
    Output(OutputError),
}

/// The policy's verdict on a guest's output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every byte the guest may trace to is ordinary RAM.
    Fine,
    /// Output reaches write-protected RAM: the VMM must decide (e.g. mark the pages
    /// dirty and lift the protection for log-dirty, or refuse for introspection). The
    /// first such range.
    NeedsEmulation {
        /// Start of the range.
        gpa: Gpa,
        /// Its length in bytes.
        len: u64,
    },
    /// Crash the guest.
    Crash(CrashReason),
}

impl Verdict {
    /// The verdict on output to `len` bytes at `gpa` of type `kind`; also the answer
    /// for an EPT violation caused by PT output at runtime.
    pub const fn for_memory(kind: MemType, gpa: Gpa, len: u64) -> Self {
        match kind {
            MemType::Ram => Self::Fine,
            MemType::WriteProtected => Self::NeedsEmulation { gpa, len },
            MemType::Mmio => Self::Crash(CrashReason::Mmio(gpa)),
            MemType::Absent => Self::Crash(CrashReason::Absent(gpa)),
        }
    }

    /// The worse of two verdicts (the earlier one on a tie).
    pub const fn worse(self, other: Self) -> Self {
        match (self, other) {
            (Self::Crash(_), _) => self,
            (_, Self::Crash(_)) => other,
            (Self::NeedsEmulation { .. }, _) => self,
            (_, Self::NeedsEmulation { .. }) => other,
            _ => Self::Fine,
        }
    }
}

/// The verdict on the output buffer of a vCPU in `state` under `policy`: `Fine` when it
/// is not tracing or traces to the transport subsystem; otherwise every output region
/// (ToPA tables walked within `limits`) is classified.
pub fn check_output<M: GuestMemory + ?Sized>(
    mem: &M,
    policy: &Policy,
    state: &RtitState,
    limits: WalkLimits,
) -> Verdict {
    if !state.is_tracing() {
        return Verdict::Fine;
    }
    match output_config(policy, state.ctl, state.output_base, state.output_mask_ptrs) {
        Err(e) => Verdict::Crash(CrashReason::Output(e)),
        Ok(OutputConfig::Transport) => Verdict::Fine,
        Ok(OutputConfig::SingleRange { base, size, .. }) => {
            Verdict::for_memory(mem.classify(Gpa(base), size), Gpa(base), size)
        }
        Ok(OutputConfig::Topa {
            table,
            entry,
            offset,
        }) => {
            let mut verdict = Verdict::Fine;
            let start = topa::Position {
                table: Gpa(table),
                entry,
                offset,
                stopped: state.status & RtitStatus::STOPPED.bits() != 0,
            };
            let walk = topa::walk(mem, policy, start, limits, |region| {
                verdict = verdict.worse(Verdict::for_memory(
                    mem.classify(region.base, region.size),
                    region.base,
                    region.size,
                ));
            });
            match walk {
                Ok(_) => verdict,
                Err(e) => Verdict::Crash(CrashReason::Topa(e)),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sparse guest memory for tests: pages of given types and contents.
    #[derive(Debug, Default)]
    pub(crate) struct TestMemory {
        pub(crate) words: std::collections::BTreeMap<u64, u64>,
        pub(crate) kinds: std::collections::BTreeMap<u64, MemType>,
        pub(crate) default: Option<MemType>,
    }

    impl TestMemory {
        pub(crate) fn ram() -> Self {
            Self {
                default: Some(MemType::Ram),
                ..Self::default()
            }
        }
        pub(crate) fn set(&mut self, gpa: u64, value: u64) {
            self.words.insert(gpa, value);
        }
    }

    impl GuestMemory for TestMemory {
        fn read_u64(&self, gpa: Gpa) -> Option<u64> {
            match self.classify(gpa, 8) {
                MemType::Ram | MemType::WriteProtected => {
                    Some(self.words.get(&gpa.0).copied().unwrap_or(0))
                }
                _ => None,
            }
        }
        fn classify(&self, gpa: Gpa, len: u64) -> MemType {
            let first = gpa.0 >> 12;
            let last = (gpa.0.saturating_add(len.max(1) - 1)) >> 12;
            let mut worst = MemType::Ram;
            let base = self.default.unwrap_or(MemType::Absent);
            if last - first > 1 << 20 {
                return base.max(self.kinds.values().copied().max().unwrap_or(MemType::Ram));
            }
            for page in first..=last {
                worst = worst.max(self.kinds.get(&page).copied().unwrap_or(base));
            }
            worst
        }
    }

    #[test]
    fn verdict_table() {
        let g = Gpa(0x1000);
        assert_eq!(Verdict::for_memory(MemType::Ram, g, 8), Verdict::Fine);
        assert_eq!(
            Verdict::for_memory(MemType::WriteProtected, g, 8),
            Verdict::NeedsEmulation { gpa: g, len: 8 }
        );
        assert_eq!(
            Verdict::for_memory(MemType::Mmio, g, 8),
            Verdict::Crash(CrashReason::Mmio(g))
        );
        assert_eq!(
            Verdict::for_memory(MemType::Absent, g, 8),
            Verdict::Crash(CrashReason::Absent(g))
        );
        let wp = Verdict::NeedsEmulation { gpa: g, len: 1 };
        let crash = Verdict::Crash(CrashReason::Absent(g));
        assert_eq!(Verdict::Fine.worse(wp), wp);
        assert_eq!(wp.worse(crash), crash);
        assert_eq!(crash.worse(Verdict::Fine), crash);
        assert_eq!(Verdict::Fine.worse(Verdict::Fine), Verdict::Fine);
    }
}
