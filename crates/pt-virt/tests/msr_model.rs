// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Property test: `PtVcpu` against a small reference model written straight from the
//! SDM's MSR tables (bit by bit, no shared helpers), over random policies and random
//! sequences of guest and host reads and writes. After every step both must agree on
//! accept/#GP and on every MSR value; and TraceEn=1 always comes with a valid output
//! configuration.

mod common;

use common::{ALL_CAPS, full_host};
use proptest::prelude::*;
use pt_virt::cpuid::{Caps, Features, OutputSchemes};
use pt_virt::msr::{Origin, PtVcpu, RtitCtl};
use pt_virt::policy::Policy;

/// The reference model: the MSR values and the policy's parameters, as plain fields.
#[derive(Debug, Clone)]
struct Model {
    caps: Caps,
    maxphy: u32,
    ctl: u64,
    status: u64,
    base: u64,
    mask: u64,
    cr3: u64,
    addr: [u64; 8],
}

fn has(caps: &Caps, f: Features) -> bool {
    caps.features.bits() & f.bits() == f.bits()
}
fn out(caps: &Caps, o: OutputSchemes) -> bool {
    caps.output.bits() & o.bits() == o.bits()
}

impl Model {
    fn new(caps: Caps) -> Self {
        Self {
            caps,
            maxphy: 46,
            ctl: 0,
            status: 0,
            base: 0,
            mask: 0x7f,
            cr3: 0,
            addr: [0; 8],
        }
    }

    /// May CTL bit `b` be 1 (SDM table "IA32_RTIT_CTL MSR")?
    fn ctl_bit_ok(&self, b: u32) -> bool {
        let c = &self.caps;
        match b {
            0 | 2 | 3 | 10 | 11 | 13 => true,
            1 | 19..=22 | 24..=27 => has(c, Features::PSB_CYC),
            4 => has(c, Features::POWER_EVENT),
            5 | 12 => has(c, Features::PTWRITE),
            6 => out(c, OutputSchemes::TRANSPORT),
            7 => has(c, Features::CR3_FILTER),
            8 => out(c, OutputSchemes::TOPA),
            9 | 14..=17 => has(c, Features::MTC),
            31 => has(c, Features::EVENT_TRACE),
            32..=47 => (b - 32) / 4 < u32::from(c.address_ranges.min(4)),
            55 => has(c, Features::TNT_DISABLE),
            56 => has(c, Features::PSB_PMI_PRESERVE),
            _ => false,
        }
    }

    fn output_ok(&self, ctl: u64, base: u64, mask: u64) -> bool {
        if ctl & 1 << 6 != 0 {
            return true;
        }
        if ctl & 1 << 8 != 0 {
            return base.is_multiple_of(4096)
                && (out(&self.caps, OutputSchemes::TOPA_MULTI) || (mask & 0xffff_ffff) >> 7 == 0);
        }
        if !out(&self.caps, OutputSchemes::SINGLE_RANGE) {
            return false;
        }
        let size = (mask & 0xffff_ffff) + 1;
        size.is_power_of_two()
            && base.is_multiple_of(size)
            && base + size <= 1 << self.maxphy
            && (mask >> 32) < size
    }

    fn ctl_ok(&self, v: u64, host: bool) -> bool {
        let c = &self.caps;
        if !(0..64).all(|b| v & 1 << b == 0 || self.ctl_bit_ok(b)) {
            return false;
        }
        if !host && self.ctl & 1 != 0 && v & 1 != 0 && v != self.ctl {
            return false;
        }
        let nib = |s: u32| (v >> s) & 0xf;
        if has(c, Features::MTC) && c.mtc_periods >> nib(14) & 1 == 0 {
            return false;
        }
        if has(c, Features::PSB_CYC)
            && (c.cyc_thresholds >> nib(19) & 1 == 0 || c.psb_periods >> nib(24) & 1 == 0)
        {
            return false;
        }
        if (0..4).any(|n| nib(32 + 4 * n) > 2) {
            return false;
        }
        true
    }

    /// Does the MSR exist under the policy?
    fn exists(&self, msr: u32) -> bool {
        let c = &self.caps;
        match msr {
            0x570 | 0x571 => true,
            0x560 | 0x561 => out(c, OutputSchemes::TOPA) || out(c, OutputSchemes::SINGLE_RANGE),
            0x572 => has(c, Features::CR3_FILTER),
            0x580..=0x587 => (msr - 0x580) / 2 < u32::from(c.address_ranges.min(4)),
            _ => false,
        }
    }

    /// Apply a write; `false` means #GP and nothing changed.
    fn write(&mut self, msr: u32, v: u64, host: bool) -> bool {
        let c = self.caps;
        if !self.exists(msr) {
            return false;
        }
        if msr == 0x570 {
            if !self.ctl_ok(v, host) {
                return false;
            }
            let enabling = v & 1 != 0 && (self.ctl & 1 == 0 || host);
            if enabling && !self.output_ok(v, self.base, self.mask) {
                return false;
            }
            self.ctl = v;
            return true;
        }
        if !host && self.ctl & 1 != 0 {
            return false;
        }
        let mut next = self.clone();
        match msr {
            0x571 => {
                let pend = if has(&c, Features::PSB_PMI_PRESERVE) {
                    0xc0
                } else {
                    0
                };
                let cnt = if has(&c, Features::PSB_CYC) {
                    0x1_ffff << 32
                } else {
                    0
                };
                if v & !(0x37 | pend | cnt) != 0 {
                    return false;
                }
                next.status = if host {
                    v
                } else {
                    (v & !7) | (self.status & 7)
                };
            }
            0x560 => {
                if v & 0x7f != 0 || v >> self.maxphy != 0 {
                    return false;
                }
                next.base = v;
            }
            0x561 => next.mask = v | 0x7f,
            0x572 => {
                if v & 0x1f != 0 {
                    return false;
                }
                next.cr3 = v;
            }
            _ => {
                // 48-bit canonical: bits 63:47 all equal.
                let top = v >> 47;
                if top != 0 && top != 0x1_ffff {
                    return false;
                }
                next.addr[(msr - 0x580) as usize] = v;
            }
        }
        if host && next.ctl & 1 != 0 && !next.output_ok(next.ctl, next.base, next.mask) {
            return false;
        }
        *self = next;
        true
    }

    fn read(&self, msr: u32) -> u64 {
        match msr {
            0x560 => self.base,
            0x561 => self.mask,
            0x570 => self.ctl,
            0x571 => self.status,
            0x572 => self.cr3,
            0x580..=0x587 => self.addr[(msr - 0x580) as usize],
            _ => 0,
        }
    }
}

const MSRS: [u32; 14] = [
    0x560, 0x561, 0x570, 0x571, 0x572, 0x580, 0x581, 0x582, 0x583, 0x584, 0x585, 0x586, 0x587,
    0x573,
];

fn policy_caps() -> impl Strategy<Value = Caps> {
    (
        any::<u16>(),
        0u32..16,
        0u8..=4,
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(f, o, r, m, c, p)| {
            let mut output = OutputSchemes::from_bits_truncate(o);
            if output.bits() & 0x5 == 0 {
                output = OutputSchemes::from_bits_truncate(o | 0x1);
            }
            Caps {
                features: Features::from_bits_truncate(u32::from(f)),
                output,
                address_ranges: r,
                mtc_periods: m | 1,
                cyc_thresholds: c | 1,
                psb_periods: p | 1,
                ..ALL_CAPS
            }
        })
}

/// Values that hit the interesting cases often: a few known-good shapes, single bits,
/// small masks of defined bits, and anything.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just((RtitCtl::TRACE_EN | RtitCtl::TOPA).bits()),
        Just(RtitCtl::TRACE_EN.bits()),
        Just(0x10_0000u64),
        Just(0x0000_0010_0000_0fffu64),
        (0u32..64).prop_map(|b| 1u64 << b),
        any::<u64>().prop_map(|v| v & 0x0180_ffff_8fff_ffff),
        any::<u64>().prop_map(|v| v & 0x0000_3fff_ffff_f000),
        any::<u64>(),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Write { msr: u32, value: u64, host: bool },
    Read { msr: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::sample::select(MSRS.to_vec()), value(), any::<bool>()).prop_map(|(msr, value, host)| Op::Write { msr, value, host }),
        1 => prop::sample::select(MSRS.to_vec()).prop_map(|msr| Op::Read { msr }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn matches_reference_model(caps in policy_caps(), ops in prop::collection::vec(op(), 1..64)) {
        let policy = Policy::new(caps, &full_host(), 46, 48).expect("fits the full host");
        let mut vcpu = PtVcpu::new(policy);
        let mut model = Model::new(caps);
        for op in ops {
            match op {
                Op::Write { msr, value, host } => {
                    let origin = if host { Origin::Host } else { Origin::Guest };
                    let got = vcpu.write(msr, value, origin).is_ok();
                    let want = model.write(msr, value, host);
                    prop_assert_eq!(got, want, "write {:#x} = {:#x} host={}", msr, value, host);
                }
                Op::Read { msr } => {
                    let want = model.exists(msr).then(|| model.read(msr));
                    prop_assert_eq!(vcpu.read(msr).ok(), want, "read {:#x}", msr);
                }
            }
            for msr in MSRS {
                prop_assert_eq!(vcpu.state().read(msr), model.read(msr), "state {:#x}", msr);
            }
            if let Some(config) = vcpu.output() {
                prop_assert!(config.is_ok(), "TraceEn=1 with {:?}", config);
            }
        }
        // The saved state restores to the same vCPU.
        let restored = PtVcpu::from_state(policy, vcpu.state());
        prop_assert_eq!(restored.map(|v| *v.state()), Ok(*vcpu.state()));
    }
}
