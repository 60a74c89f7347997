// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A guest's Intel PT policy, and whether it can live-migrate to another host.
//!
//! The Xen 2018 design session decided: the sub-features differ from CPU to CPU, so a
//! guest sees only what its policy exposes ("we don't need to expose all by default (may
//! break live migration)"), and the toolstack must be able to tell whether a guest can
//! migrate between two CPU feature sets. A [`Policy`] is therefore a capability set no
//! larger than the host's, and [`migratable`] compares a policy with a destination host
//! and lists every reason it cannot run there.
//!
//! The comparison rule: every feature and output bit the guest sees must exist on the
//! destination; the LIP bit (CPUID.14H.0:ECX\[31\]) must be *equal*, because it changes the
//! meaning of every IP payload (QEMU's `x86_cpu_filter_features()` requires equality
//! too); the destination needs at least as many address ranges and every MTC, CycThresh
//! and PSBFreq encoding the guest may have written; MAXPHYADDR and the linear-address
//! width must not shrink (OUTPUT_BASE and ADDRn values stay valid); and the destination
//! must offer PT in VMX operation with guest-physical output.
//!
//! # Example
//!
//! ```
//! use pt_virt::cpuid::{Caps, CpuidRegs, Features};
//! use pt_virt::cpuid::VmxPtSupport;
//! use pt_virt::msr::{RtitCtl, GpReason, Origin, PtVcpu, IA32_RTIT_CR3_MATCH, IA32_RTIT_CTL, IA32_RTIT_OUTPUT_BASE};
//! use pt_virt::policy::{migratable, HostPt, Incompatibility, Policy};
//!
//! // The host: CPUID leaf 0x14 of a Cascade Lake Xeon, and its VMX PT facilities.
//! let host = HostPt {
//!     caps: Caps::from_host_cpuid(
//!         CpuidRegs { eax: 1, ebx: 0xf, ecx: 0x7, edx: 0 },
//!         CpuidRegs { eax: 0x0249_0002, ebx: 0x003f_3fff, ecx: 0, edx: 0 },
//!     ),
//!     vmx: VmxPtSupport::ALL,
//!     maxphyaddr: 46,
//!     linear_address_bits: 48,
//! };
//! // The guest sees the safe common subset; this is its CPUID leaf 0x14.
//! let policy = Policy::safe_default(&host)?;
//! let (sub0, _sub1) = policy.caps().to_cpuid();
//! assert_eq!((sub0.ebx, sub0.ecx), (0xf, 0x7));
//!
//! // Trapped guest WRMSRs: an output buffer, then TraceEn.
//! let mut vcpu = PtVcpu::new(policy);
//! vcpu.write(IA32_RTIT_OUTPUT_BASE, 0x10_0000, Origin::Guest)?;
//! vcpu.write(IA32_RTIT_CTL, (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits(), Origin::Guest)?;
//! // While tracing, the other MSRs #GP, with a reason.
//! let gp = vcpu.write(IA32_RTIT_CR3_MATCH, 0x1000, Origin::Guest).unwrap_err();
//! assert_eq!(gp.reason, GpReason::WhileTracing);
//!
//! // Live migration: a destination without MTC cannot take this guest, and says why.
//! let mut dest = host;
//! dest.caps.features = dest.caps.features.difference(Features::MTC);
//! let why = migratable(&policy, &dest).unwrap_err();
//! assert!(why.iter().eq([Incompatibility::Features(Features::MTC)]));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::cpuid::{Caps, CpuidError, Features, MAX_ADDRESS_RANGES, OutputSchemes, VmxPtSupport};

/// What a host offers for Intel PT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HostPt {
    /// CPUID leaf 0x14 of the host ([`Caps::from_host_cpuid`]).
    pub caps: Caps,
    /// The VMX facilities for PT.
    pub vmx: VmxPtSupport,
    /// CPUID.80000008H:EAX\[7:0\], the physical-address width.
    pub maxphyaddr: u8,
    /// CPUID.80000008H:EAX\[15:8\], the linear-address width (48, or 57 with LA57).
    pub linear_address_bits: u8,
}

/// One reason a policy cannot run on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incompatibility {
    /// The host lacks PT in VMX operation, PT_USE_GPA, or load/clear of RTIT_CTL.
    Vmx(VmxPtSupport),
    /// The guest was told of more CPUID 0x14 sub-leaves than the host has.
    MaxSubleaf {
        /// The guest's CPUID.14H.0:EAX.
        guest: u32,
        /// The host's.
        host: u32,
    },
    /// Features (CPUID.14H.0:EBX) the guest sees and the host lacks.
    Features(Features),
    /// Output schemes (CPUID.14H.0:ECX\[3:0\]) the guest sees and the host lacks.
    OutputSchemes(OutputSchemes),
    /// The LIP bit differs.
    Lip {
        /// The guest's CPUID.14H.0:ECX\[31\].
        guest: bool,
        /// The host's.
        host: bool,
    },
    /// The host has fewer address ranges.
    AddressRanges {
        /// The guest's count.
        guest: u8,
        /// The host's.
        host: u8,
    },
    /// MTCFreq encodings the guest may use and the host does not support.
    MtcPeriods(u16),
    /// CycThresh encodings the guest may use and the host does not support.
    CycThresholds(u16),
    /// PSBFreq encodings the guest may use and the host does not support.
    PsbPeriods(u16),
    /// The host's physical-address width is smaller.
    MaxPhyAddr {
        /// The guest's.
        guest: u8,
        /// The host's.
        host: u8,
    },
    /// The host's linear-address width is smaller (ADDRn values would stop being
    /// canonical).
    LinearAddressBits {
        /// The guest's.
        guest: u8,
        /// The host's.
        host: u8,
    },
}

impl core::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Vmx(v) => write!(f, "host lacks PT in VMX operation ({v:?})"),
            Self::MaxSubleaf { guest, host } => write!(f, "max sub-leaf {guest} > host's {host}"),
            Self::Features(m) => write!(f, "features {:#x} missing on host", m.bits()),
            Self::OutputSchemes(m) => write!(f, "output schemes {:#x} missing on host", m.bits()),
            Self::Lip { guest, host } => write!(f, "LIP {guest} differs from host's {host}"),
            Self::AddressRanges { guest, host } => {
                write!(f, "{guest} address ranges > host's {host}")
            }
            Self::MtcPeriods(m) => write!(f, "MTCFreq encodings {m:#x} missing on host"),
            Self::CycThresholds(m) => write!(f, "CycThresh encodings {m:#x} missing on host"),
            Self::PsbPeriods(m) => write!(f, "PSBFreq encodings {m:#x} missing on host"),
            Self::MaxPhyAddr { guest, host } => write!(f, "MAXPHYADDR {guest} > host's {host}"),
            Self::LinearAddressBits { guest, host } => {
                write!(f, "linear-address width {guest} > host's {host}")
            }
        }
    }
}

const KINDS: u16 = 11;

/// Every reason a policy cannot run on a host (at most one of each kind), without
/// allocating: the two sides compared and which checks failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incompatibilities {
    policy: Policy,
    dest: HostPt,
    kinds: u16,
}

impl Incompatibilities {
    fn reason(&self, kind: u16) -> Option<Incompatibility> {
        let (g, h) = (&self.policy.caps, &self.dest.caps);
        Some(match kind {
            0 => Incompatibility::Vmx(self.dest.vmx),
            1 => Incompatibility::MaxSubleaf {
                guest: g.max_subleaf,
                host: h.max_subleaf,
            },
            2 => Incompatibility::Features(g.features.difference(h.features)),
            3 => Incompatibility::OutputSchemes(g.output.difference(h.output)),
            4 => Incompatibility::Lip {
                guest: g.lip,
                host: h.lip,
            },
            5 => Incompatibility::AddressRanges {
                guest: g.address_ranges,
                host: h.address_ranges,
            },
            6 => Incompatibility::MtcPeriods(g.mtc_periods & !h.mtc_periods),
            7 => Incompatibility::CycThresholds(g.cyc_thresholds & !h.cyc_thresholds),
            8 => Incompatibility::PsbPeriods(g.psb_periods & !h.psb_periods),
            9 => Incompatibility::MaxPhyAddr {
                guest: self.policy.maxphyaddr,
                host: self.dest.maxphyaddr,
            },
            10 => Incompatibility::LinearAddressBits {
                guest: self.policy.linear_address_bits,
                host: self.dest.linear_address_bits,
            },
            _ => return None,
        })
    }
    /// The reasons, in a fixed order (VMX, sub-leaf, features, output, LIP, ranges,
    /// MTC, CYC, PSB, MAXPHYADDR, linear width).
    pub fn iter(&self) -> impl Iterator<Item = Incompatibility> + '_ {
        (0..KINDS)
            .filter(|k| self.kinds & (1 << k) != 0)
            .filter_map(|k| self.reason(k))
    }
    /// How many reasons.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether there is none (the policy fits).
    pub fn is_empty(&self) -> bool {
        self.kinds == 0
    }
}

impl core::fmt::Display for Incompatibilities {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Why a policy cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The capability set itself is malformed.
    #[error("malformed capabilities: {0}")]
    Caps(#[from] CpuidError),
    /// The capability set is larger than the host's.
    #[error("policy does not fit the host: {0}")]
    NotSubset(Incompatibilities),
    /// More address ranges than the four `IA32_RTIT_CTL` can configure.
    #[error("{0} address ranges; IA32_RTIT_CTL has fields for 4")]
    TooManyRanges(u8),
    /// Neither ToPA nor single-range output: the guest could never trace to memory.
    #[error("policy exposes neither ToPA nor single-range output")]
    NoOutputScheme,
    /// A MAXPHYADDR outside 32..=52 (SDM: at most 52).
    #[error("MAXPHYADDR {0} outside 32..=52")]
    MaxPhyAddr(u8),
    /// A linear-address width other than 48 or 57.
    #[error("linear-address width {0} is neither 48 nor 57")]
    LinearAddressBits(u8),
}

/// What a guest sees of Intel PT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    caps: Caps,
    exposed: bool,
    maxphyaddr: u8,
    linear_address_bits: u8,
}

/// The baseline [`Policy::safe_default`] starts from: QEMU's fixed Intel PT CPUID
/// (`target/i386/cpu.c`, `INTEL_PT_*` constants): CR3 filtering, configurable PSB/CYC,
/// IP filtering, MTC (EBX = 0xF); ToPA, multi-entry ToPA, single range (ECX = 0x7);
/// 2 address ranges; MTC periods 0x249 (ART bits 0, 3, 6, 9); cycle thresholds 0x1FFF;
/// PSB periods 0x3F (2 KiB … 64 KiB).
pub const BASELINE: Caps = Caps {
    max_subleaf: 1,
    features: Features::from_bits_truncate(0xf),
    output: OutputSchemes::from_bits_truncate(0x7),
    lip: false,
    address_ranges: 2,
    mtc_periods: 0x249,
    cyc_thresholds: 0x1fff,
    psb_periods: 0x3f,
};

impl Policy {
    /// PT hidden: CPUID.(7,0):EBX\[25\] = 0 and every RTIT MSR access #GPs (system mode).
    pub const fn hidden() -> Self {
        Self {
            caps: Caps {
                max_subleaf: 0,
                features: Features::empty(),
                output: OutputSchemes::empty(),
                lip: false,
                address_ranges: 0,
                mtc_periods: 0,
                cyc_thresholds: 0,
                psb_periods: 0,
            },
            exposed: false,
            maxphyaddr: 52,
            linear_address_bits: 57,
        }
    }

    /// A policy exposing `caps` to a guest with the given address widths, checked to fit
    /// `host`.
    pub fn new(
        caps: Caps,
        host: &HostPt,
        maxphyaddr: u8,
        linear_address_bits: u8,
    ) -> Result<Self, PolicyError> {
        caps.validate()?;
        if caps.address_ranges > MAX_ADDRESS_RANGES {
            return Err(PolicyError::TooManyRanges(caps.address_ranges));
        }
        if !caps.has_output_msrs() {
            return Err(PolicyError::NoOutputScheme);
        }
        if !(32..=52).contains(&maxphyaddr) {
            return Err(PolicyError::MaxPhyAddr(maxphyaddr));
        }
        if linear_address_bits != 48 && linear_address_bits != 57 {
            return Err(PolicyError::LinearAddressBits(linear_address_bits));
        }
        let policy = Self {
            caps,
            exposed: true,
            maxphyaddr,
            linear_address_bits,
        };
        migratable(&policy, host).map_err(PolicyError::NotSubset)?;
        Ok(policy)
    }

    /// The safe common subset: [`BASELINE`] intersected with the host (LIP copied from
    /// the host, which must match anyway), with the host's address widths. On every host
    /// that has the whole baseline the result is the same policy, so such guests migrate
    /// between such hosts.
    pub fn safe_default(host: &HostPt) -> Result<Self, PolicyError> {
        let h = &host.caps;
        let sub1 = h.max_subleaf >= 1;
        let caps = Caps {
            max_subleaf: h.max_subleaf.min(1),
            features: BASELINE.features.intersection(h.features),
            output: BASELINE.output.intersection(h.output),
            lip: h.lip,
            address_ranges: if sub1 {
                BASELINE.address_ranges.min(h.address_ranges)
            } else {
                0
            },
            mtc_periods: if sub1 {
                BASELINE.mtc_periods & h.mtc_periods
            } else {
                0
            },
            cyc_thresholds: if sub1 {
                BASELINE.cyc_thresholds & h.cyc_thresholds
            } else {
                0
            },
            psb_periods: if sub1 {
                BASELINE.psb_periods & h.psb_periods
            } else {
                0
            },
        };
        Self::new(caps, host, host.maxphyaddr, host.linear_address_bits)
    }

    /// The capabilities the guest sees (all zero when hidden).
    pub const fn caps(&self) -> &Caps {
        &self.caps
    }
    /// Whether PT is exposed at all (CPUID.(7,0):EBX\[25\]).
    pub const fn is_exposed(&self) -> bool {
        self.exposed
    }
    /// The guest's MAXPHYADDR.
    pub const fn maxphyaddr(&self) -> u8 {
        self.maxphyaddr
    }
    /// The guest's linear-address width.
    pub const fn linear_address_bits(&self) -> u8 {
        self.linear_address_bits
    }
}

/// Whether a guest with `policy` can run on (migrate to) `dest`: `Ok` or every reason
/// why not. A hidden policy runs anywhere.
pub fn migratable(policy: &Policy, dest: &HostPt) -> Result<(), Incompatibilities> {
    if !policy.exposed {
        return Ok(());
    }
    let (g, h) = (&policy.caps, &dest.caps);
    let failed: [bool; KINDS as usize] = [
        !dest.vmx.supports_host_guest(),
        g.max_subleaf > h.max_subleaf,
        !h.features.contains(g.features),
        !h.output.contains(g.output),
        g.lip != h.lip,
        g.address_ranges > h.address_ranges,
        g.mtc_periods & !h.mtc_periods != 0,
        g.cyc_thresholds & !h.cyc_thresholds != 0,
        g.psb_periods & !h.psb_periods != 0,
        policy.maxphyaddr > dest.maxphyaddr,
        policy.linear_address_bits > dest.linear_address_bits,
    ];
    let kinds = (0u16..)
        .zip(failed)
        .fold(0u16, |acc, (k, bad)| if bad { acc | 1 << k } else { acc });
    if kinds == 0 {
        Ok(())
    } else {
        Err(Incompatibilities {
            policy: *policy,
            dest: *dest,
            kinds,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cpuid::CpuidRegs;
    use proptest::prelude::*;

    /// The Cascade Lake host of `cpuid::tests` (raw-cpuid's Xeon Gold 6252 dump:
    /// MAXPHYADDR 46, 48-bit linear addresses).
    pub(crate) fn cascade_lake() -> HostPt {
        HostPt {
            caps: Caps::from_host_cpuid(
                CpuidRegs {
                    eax: 1,
                    ebx: 0xf,
                    ecx: 0x7,
                    edx: 0,
                },
                CpuidRegs {
                    eax: 0x0249_0002,
                    ebx: 0x003f_3fff,
                    ecx: 0,
                    edx: 0,
                },
            ),
            vmx: VmxPtSupport::ALL,
            maxphyaddr: 46,
            linear_address_bits: 48,
        }
    }

    #[test]
    fn safe_default_on_cascade_lake_is_the_baseline() {
        let p = Policy::safe_default(&cascade_lake()).expect("fits");
        assert_eq!(*p.caps(), BASELINE);
        assert_eq!(migratable(&p, &cascade_lake()), Ok(()));
    }

    #[test]
    fn safe_default_needs_vmx_support() {
        let mut host = cascade_lake();
        host.vmx.use_gpa = false;
        let err = Policy::safe_default(&host).expect_err("no PT_USE_GPA");
        let PolicyError::NotSubset(list) = err else {
            panic!("{err:?}")
        };
        assert!(list.iter().eq([Incompatibility::Vmx(host.vmx)]));
    }

    /// Every reason at once: a destination lacking everything.
    #[test]
    fn lists_every_reason() {
        let mut src = cascade_lake();
        src.caps.lip = true;
        let p = Policy::safe_default(&src).expect("fits");
        let dest = HostPt {
            caps: Caps::default(),
            vmx: VmxPtSupport::default(),
            maxphyaddr: 39,
            linear_address_bits: 48,
        };
        let err = migratable(&p, &dest).expect_err("nothing fits");
        let want = [
            Incompatibility::Vmx(VmxPtSupport::default()),
            Incompatibility::MaxSubleaf { guest: 1, host: 0 },
            Incompatibility::Features(Features::from_bits_truncate(0xf)),
            Incompatibility::OutputSchemes(OutputSchemes::from_bits_truncate(0x7)),
            Incompatibility::Lip {
                guest: true,
                host: false,
            },
            Incompatibility::AddressRanges { guest: 2, host: 0 },
            Incompatibility::MtcPeriods(0x249),
            Incompatibility::CycThresholds(0x1fff),
            Incompatibility::PsbPeriods(0x3f),
            Incompatibility::MaxPhyAddr {
                guest: 46,
                host: 39,
            },
        ];
        assert!(err.iter().eq(want), "{err}");
        assert_eq!(err.len(), want.len());
    }

    /// One reason at a time: each single difference yields exactly that reason.
    #[test]
    fn single_reason_table() {
        let p = Policy::safe_default(&cascade_lake()).expect("fits");
        type Edit = fn(&mut HostPt);
        let cases: [(Edit, Incompatibility); 10] = [
            (
                |h| h.vmx.clear_rtit_ctl = false,
                Incompatibility::Vmx(VmxPtSupport {
                    clear_rtit_ctl: false,
                    ..VmxPtSupport::ALL
                }),
            ),
            (
                |h| h.caps.features = h.caps.features.difference(Features::MTC),
                Incompatibility::Features(Features::MTC),
            ),
            (
                |h| h.caps.output = h.caps.output.difference(OutputSchemes::SINGLE_RANGE),
                Incompatibility::OutputSchemes(OutputSchemes::SINGLE_RANGE),
            ),
            (
                |h| h.caps.lip = true,
                Incompatibility::Lip {
                    guest: false,
                    host: true,
                },
            ),
            (
                |h| h.caps.address_ranges = 1,
                Incompatibility::AddressRanges { guest: 2, host: 1 },
            ),
            (
                |h| h.caps.mtc_periods = 0x9,
                Incompatibility::MtcPeriods(0x240),
            ),
            (
                |h| h.caps.cyc_thresholds = 0xfff,
                Incompatibility::CycThresholds(0x1000),
            ),
            (
                |h| h.caps.psb_periods = 0x1f,
                Incompatibility::PsbPeriods(0x20),
            ),
            (
                |h| h.maxphyaddr = 45,
                Incompatibility::MaxPhyAddr {
                    guest: 46,
                    host: 45,
                },
            ),
            (
                |h| h.caps.max_subleaf = 0,
                Incompatibility::MaxSubleaf { guest: 1, host: 0 },
            ),
        ];
        for (edit, want) in cases {
            let mut dest = cascade_lake();
            edit(&mut dest);
            let err = migratable(&p, &dest).expect_err("one difference");
            assert!(err.iter().eq([want]), "{err}");
        }
        let mut la57 = cascade_lake();
        la57.linear_address_bits = 57;
        let p57 = Policy::new(*p.caps(), &la57, 46, 57).expect("fits");
        assert!(
            migratable(&p57, &cascade_lake())
                .expect_err("48-bit dest")
                .iter()
                .eq([Incompatibility::LinearAddressBits {
                    guest: 57,
                    host: 48
                }])
        );
    }

    #[test]
    fn hidden_runs_anywhere() {
        let dest = HostPt {
            caps: Caps::default(),
            vmx: VmxPtSupport::default(),
            maxphyaddr: 32,
            linear_address_bits: 48,
        };
        assert_eq!(migratable(&Policy::hidden(), &dest), Ok(()));
    }

    #[test]
    fn constructor_rejections() {
        let host = cascade_lake();
        let mut caps = BASELINE;
        caps.output = OutputSchemes::TRANSPORT;
        assert_eq!(
            Policy::new(caps, &host, 46, 48),
            Err(PolicyError::NoOutputScheme)
        );
        assert_eq!(
            Policy::new(BASELINE, &host, 53, 48),
            Err(PolicyError::MaxPhyAddr(53))
        );
        assert_eq!(
            Policy::new(BASELINE, &host, 46, 52),
            Err(PolicyError::LinearAddressBits(52))
        );
        let mut five = BASELINE;
        five.address_ranges = 5;
        assert_eq!(
            Policy::new(five, &host, 46, 48),
            Err(PolicyError::TooManyRanges(5))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// A policy built on a host migrates back to it; and `migratable` is exactly the
        /// subset rule, checked field by field against a plain restatement.
        #[test]
        fn subset_rule(g in crate::cpuid::tests::caps(), h in crate::cpuid::tests::caps(), gm in 32u8..=52, hm in 32u8..=52) {
            let host = HostPt { caps: h, vmx: VmxPtSupport::ALL, maxphyaddr: hm, linear_address_bits: 48 };
            let g = Caps { address_ranges: g.address_ranges.min(4), ..g };
            let fits = g.max_subleaf <= h.max_subleaf
                && h.features.contains(g.features)
                && h.output.contains(g.output)
                && g.lip == h.lip
                && g.address_ranges <= h.address_ranges
                && g.mtc_periods & !h.mtc_periods == 0
                && g.cyc_thresholds & !h.cyc_thresholds == 0
                && g.psb_periods & !h.psb_periods == 0
                && gm <= hm;
            match Policy::new(g, &host, gm, 48) {
                Ok(p) => {
                    prop_assert!(fits);
                    prop_assert_eq!(migratable(&p, &host), Ok(()));
                }
                Err(PolicyError::NotSubset(list)) => {
                    prop_assert!(!fits);
                    prop_assert!(!list.is_empty());
                }
                Err(PolicyError::NoOutputScheme) => prop_assert!(!g.has_output_msrs()),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
