// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Hosts and policies shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use pt_virt::cpuid::VmxPtSupport;
use pt_virt::cpuid::{Caps, Features, OutputSchemes};
use pt_virt::policy::{HostPt, Policy};

/// Every capability the SDM defines, 4 ranges, every encoding.
pub const ALL_CAPS: Caps = Caps {
    max_subleaf: 1,
    features: Features::all(),
    output: OutputSchemes::all(),
    lip: false,
    address_ranges: 4,
    mtc_periods: 0xffff,
    cyc_thresholds: 0xffff,
    psb_periods: 0xffff,
};

/// A synthetic host with everything (MAXPHYADDR 46, 48-bit linear addresses).
pub fn full_host() -> HostPt {
    HostPt {
        caps: ALL_CAPS,
        vmx: VmxPtSupport::ALL,
        maxphyaddr: 46,
        linear_address_bits: 48,
    }
}

/// A policy exposing `caps` on [`full_host`].
pub fn policy(caps: Caps) -> Policy {
    Policy::new(caps, &full_host(), 46, 48).expect("caps fit the full host")
}

/// [`ALL_CAPS`] without some features.
pub fn without_features(f: Features) -> Caps {
    Caps {
        features: ALL_CAPS.features.difference(f),
        ..ALL_CAPS
    }
}

/// [`ALL_CAPS`] without some output schemes.
pub fn without_output(o: OutputSchemes) -> Caps {
    Caps {
        output: ALL_CAPS.output.difference(o),
        ..ALL_CAPS
    }
}
