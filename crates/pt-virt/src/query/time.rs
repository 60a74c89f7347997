// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The time estimate: the TSC at the current packet, from TSC, TMA, MTC and CYC packets,
//! by the rules of libipt's time module (`libipt/src/pt_time.c`) and the Intel SDM vol.
//! 3C, chapter "Intel Processor Trace", sections "Time Stamp Counter (TSC) Packet",
//! "Mini Time Counter (MTC) Packet", "TSC/MTC Alignment (TMA) Packet" and "Cycle Count
//! (CYC) Packet".
//!
//! - TSC sets the time outright and forgets everything MTC and CYC added.
//! - TMA (after a TSC) gives the crystal clock (CTC) value and the fast counter at that
//!   TSC, so the TSC's base moves back by the fast counter and later MTCs can be placed.
//! - MTC carries CTC bits `N+7:N` (`N` = `IA32_RTIT_CTL.MTCFreq`); the CTC advance since
//!   the last MTC or TMA, times CPUID.15H EBX/EAX (TSC per CTC tick), advances the time.
//!   MTCs between a TSC and its TMA are ignored, as is the first MTC without a TMA
//!   before it (where in its period tracing started is unknown).
//! - CYC counts core cycles since the last CYC; with the nominal ratio
//!   (`MSR_PLATFORM_INFO[15:8]`) and the core:bus ratio of the last CBR, cycles convert
//!   to TSC ticks (libipt's calibration from CBR; its calibration from TSC or MTC
//!   distances is not done here, so without a nominal ratio CYCs are counted as lost).
//!
//! Anomalies never stop decoding: an MTC whose CTC went back by more than one wrap, or
//! that cannot be converted, is counted in [`Time::lost_mtc`]; a CYC without a
//! calibration in [`Time::lost_cyc`]. A TSC clears both counts.

/// Bits of CTC an MTC carries (SDM: CTC\[N+7:N\]).
const MTC_BITS: u32 = 8;
/// Bits of CTC a TMA carries (SDM: CTC\[15:0\]).
const TMA_CTC_BITS: u32 = 16;
/// Fixed-point shift of the TSC-per-cycle ratio (libipt `pt_tcal_fcr_shr`).
const FCR_SHIFT: u32 = 8;

/// What converts crystal-clock and core-cycle counts to TSC ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeConfig {
    /// `IA32_RTIT_CTL.MTCFreq` (bits 17:14): an MTC carries CTC bits `N+7:N`. Only bits
    /// 3:0 are used.
    pub mtc_freq: u8,
    /// CPUID.15H `(EAX, EBX)`: the TSC advances `EBX / EAX` ticks per crystal-clock tick.
    /// `None` (or a zero in either) leaves MTCs unconverted.
    pub ctc_ratio: Option<(u32, u32)>,
    /// The nominal (maximum non-turbo) ratio, `MSR_PLATFORM_INFO[15:8]`: the TSC runs at
    /// this ratio of the bus clock. 0 leaves CYCs unconverted.
    pub nom_freq: u8,
}

/// The time state after the packets so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Time {
    /// The estimate.
    tsc: u64,
    /// The time at the last TSC or MTC, before the fast counter.
    base: u64,
    /// CTC at the last MTC or TMA.
    ctc: u32,
    /// CTC at the MTC the CYC count started from.
    ctc_cyc: u32,
    /// TSC ticks added since `base` (TMA fast counter, CYC).
    fc: u64,
    have_tsc: bool,
    have_tma: bool,
    have_mtc: bool,
    /// TSC ticks per core cycle, shifted by [`FCR_SHIFT`].
    fcr: u64,
    lost_mtc: u32,
    lost_cyc: u32,
}

impl Time {
    /// The estimated TSC, once a TSC packet was seen.
    pub const fn tsc(&self) -> Option<u64> {
        if self.have_tsc { Some(self.tsc) } else { None }
    }

    /// MTC packets that could not be used since the last TSC.
    pub const fn lost_mtc(&self) -> u32 {
        self.lost_mtc
    }

    /// CYC packets that could not be used since the last TSC.
    pub const fn lost_cyc(&self) -> u32 {
        self.lost_cyc
    }

    /// The state after a resynchronisation: only the CYC calibration (from the last
    /// CBR) carries over.
    pub(crate) fn after_resync(&self) -> Self {
        Self {
            fcr: self.fcr,
            ..Self::default()
        }
    }

    /// A TSC packet.
    pub(crate) fn on_tsc(&mut self, tsc: u64) {
        *self = Self {
            tsc,
            base: tsc,
            have_tsc: true,
            fcr: self.fcr,
            ..Self::default()
        };
    }

    /// A TMA packet. Ignored without a TSC before it, or after a second TMA (libipt
    /// reports both as `-pte_bad_context`).
    pub(crate) fn on_tma(&mut self, config: &TimeConfig, ctc: u16, fc: u16) {
        if !self.have_tsc || self.have_tma {
            return;
        }
        let hi = mtc_hi(config);
        self.have_tma = true;
        self.base = self.base.wrapping_sub(fc.into());
        self.fc = self.fc.wrapping_add(fc.into());
        // When MTCs carry no CTC bits above the TMA's, the TMA stands for an MTC.
        if hi <= TMA_CTC_BITS {
            self.have_mtc = true;
        }
        let ctc = u32::from(ctc) & ((1u32 << hi) - 1);
        self.ctc = ctc;
        self.ctc_cyc = ctc;
    }

    /// An MTC packet.
    pub(crate) fn on_mtc(&mut self, config: &TimeConfig, payload: u8) {
        if self.have_tsc && !self.have_tma {
            return;
        }
        let freq = u32::from(config.mtc_freq & 0xF);
        let (had_mtc, mut last) = (self.have_mtc, self.ctc);
        let ctc = u32::from(payload) << freq;
        if self.fc != 0 || self.lost_cyc != 0 || !had_mtc {
            self.ctc_cyc = ctc;
        }
        self.have_mtc = true;
        self.fc = 0;
        self.ctc = ctc;
        self.lost_cyc = 0;
        if !had_mtc {
            if !self.have_tma {
                return;
            }
            // The TMA gave CTC[15:0]; guess the bits above from this MTC, assuming no
            // MTC was lost around the TMA.
            let tma_mask = (1u32 << TMA_CTC_BITS) - 1;
            let lo = ctc & tma_mask;
            let mut hi = ctc & !tma_mask;
            if lo < last {
                hi = hi.wrapping_sub(1 << TMA_CTC_BITS) & (0xFF << freq);
            }
            last |= hi;
        }
        match ctc_delta(config, ctc, last).and_then(|d| ctc_to_tsc(config, d)) {
            Some(ticks) => {
                self.base = self.base.wrapping_add(ticks);
                self.tsc = self.base;
            }
            None => self.lost_mtc = self.lost_mtc.saturating_add(1),
        }
    }

    /// A CBR packet: the core:bus ratio calibrates CYC (with a nominal ratio).
    pub(crate) fn on_cbr(&mut self, config: &TimeConfig, ratio: u8) {
        if config.nom_freq != 0 && ratio != 0 {
            self.fcr = (u64::from(config.nom_freq) << FCR_SHIFT) / u64::from(ratio);
        }
    }

    /// A CYC packet.
    /// `value` gives the count; it is not needed without a calibration.
    pub(crate) fn on_cyc(&mut self, config: &TimeConfig, value: impl FnOnce() -> u64) {
        if self.fcr == 0 {
            self.lost_cyc = self.lost_cyc.saturating_add(1);
            return;
        }
        let mut cyc = value();
        if self.fc == 0 && self.ctc != self.ctc_cyc {
            // The count started in an earlier MTC period: take off the cycles of the
            // periods the MTCs already accounted for.
            let done = ctc_delta(config, self.ctc, self.ctc_cyc)
                .and_then(|d| ctc_to_tsc(config, d))
                .map_or(0, |ticks| (ticks << FCR_SHIFT) / self.fcr);
            cyc = cyc.saturating_sub(done);
        }
        self.fc = self
            .fc
            .wrapping_add(cyc.wrapping_mul(self.fcr) >> FCR_SHIFT);
        self.tsc = self.base.wrapping_add(self.fc);
    }
}

/// The bit above the highest CTC bit an MTC carries.
fn mtc_hi(config: &TimeConfig) -> u32 {
    u32::from(config.mtc_freq & 0xF) + MTC_BITS
}

/// CTC ticks from `last` to `ctc`, correcting one wrap of the bits MTC carries.
fn ctc_delta(config: &TimeConfig, ctc: u32, last: u32) -> Option<u32> {
    let ctc = if ctc < last {
        ctc.checked_add(1 << mtc_hi(config))?
    } else {
        ctc
    };
    ctc.checked_sub(last)
}

/// CTC ticks as TSC ticks (CPUID.15H: TSC = CTC * EBX / EAX).
fn ctc_to_tsc(config: &TimeConfig, ctc: u32) -> Option<u64> {
    match config.ctc_ratio {
        Some((eax, ebx)) if eax != 0 && ebx != 0 => {
            Some(u64::from(ctc) * u64::from(ebx) / u64::from(eax))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: TimeConfig = TimeConfig {
        mtc_freq: 3,
        ctc_ratio: Some((2, 100)),
        nom_freq: 40,
    };

    #[test]
    fn tsc_then_tma_then_mtcs() {
        let mut t = Time::default();
        assert_eq!(t.tsc(), None);
        t.on_tsc(10_000);
        assert_eq!(t.tsc(), Some(10_000));
        // MTCs between TSC and TMA are ignored.
        t.on_mtc(&CONFIG, 7);
        assert_eq!(t.tsc(), Some(10_000));
        // CTC 0x38 at the TSC, fast counter 4: the base moves back by 4.
        t.on_tma(&CONFIG, 0x38, 4);
        // MTC bits 10:3 = 8 -> CTC 0x40: 8 CTC ticks = 400 TSC ticks after the base.
        t.on_mtc(&CONFIG, 8);
        assert_eq!(t.tsc(), Some(10_000 - 4 + 400));
        // The payload wraps (8 bits of CTC[10:3]): 0xFF -> 0x01 is 2 periods of 8.
        t.on_mtc(&CONFIG, 0xFF);
        let before = t.tsc().unwrap_or_default();
        t.on_mtc(&CONFIG, 0x01);
        assert_eq!(t.tsc(), Some(before + 16 * 50));
        assert_eq!(t.lost_mtc(), 0);
    }

    #[test]
    fn mtc_without_ratio_is_lost_and_tsc_recovers() {
        let config = TimeConfig {
            ctc_ratio: None,
            ..CONFIG
        };
        let mut t = Time::default();
        t.on_tsc(1);
        t.on_tma(&config, 0, 0);
        t.on_mtc(&config, 1);
        assert_eq!(t.lost_mtc(), 1);
        t.on_tsc(2);
        assert_eq!((t.lost_mtc(), t.tsc()), (0, Some(2)));
    }

    #[test]
    fn cyc_with_cbr_calibration() {
        let mut t = Time::default();
        t.on_tsc(1000);
        t.on_cyc(&CONFIG, || 10);
        assert_eq!((t.lost_cyc(), t.tsc()), (1, Some(1000)));
        // Nominal ratio 40, core at 20: two TSC ticks per cycle.
        t.on_cbr(&CONFIG, 20);
        t.on_cyc(&CONFIG, || 10);
        assert_eq!(t.tsc(), Some(1020));
        t.on_cyc(&CONFIG, || 5);
        assert_eq!(t.tsc(), Some(1030));
        // A TSC keeps the calibration.
        t.on_tsc(5000);
        t.on_cyc(&CONFIG, || 1);
        assert_eq!(t.tsc(), Some(5002));
    }
}
