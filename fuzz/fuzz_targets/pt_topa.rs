// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary guest memory as ToPA tables: the output check never panics and never hangs
//! (the walk is bounded), whatever the entries, page types and starting position.
//!
//! Input: 16 header bytes (MAXPHYADDR selector, bit 0 = single-output-entry ToPA, table
//! page, entry index, 16-bit offset, bit 0 = STATUS.Stopped, unused, eight page types),
//! then the contents of pages 0..8. The seeds in `seeds/pt_topa/` were written by hand
//! in that format: a ring over two tables, a STOP region in a write-protected page, the
//! single-output-entry layout, and an END loop that misses the starting table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::cpuid::OutputSchemes;
use pt_virt::msr::{RtitCtl, RtitState, RtitStatus};
use pt_virt::output::topa::WalkLimits;
use pt_virt::output::{Gpa, GuestMemory, MemType, check_output};
use pt_virt::policy::{BASELINE, HostPt, Policy};

const PAGES: usize = 8;

/// Eight 4 KiB pages at guest-physical 0..32 KiB, each of a fuzzed type; everything
/// else absent.
struct Memory<'a> {
    bytes: &'a [u8],
    kinds: [MemType; PAGES],
}

impl GuestMemory for Memory<'_> {
    fn read_u64(&self, gpa: Gpa) -> Option<u64> {
        let page = usize::try_from(gpa.0 / 4096).ok().filter(|&p| p < PAGES)?;
        if self.kinds[page] >= MemType::Mmio {
            return None;
        }
        let at = usize::try_from(gpa.0).ok()?;
        let mut word = [0u8; 8];
        for (i, b) in word.iter_mut().enumerate() {
            *b = self.bytes.get(at + i).copied().unwrap_or(0);
        }
        Some(u64::from_le_bytes(word))
    }

    fn classify(&self, gpa: Gpa, len: u64) -> MemType {
        let end = gpa.0.saturating_add(len.max(1));
        if end > (PAGES as u64) * 4096 {
            return MemType::Absent;
        }
        let (first, last) = ((gpa.0 / 4096) as usize, ((end - 1) / 4096) as usize);
        self.kinds[first..=last]
            .iter()
            .copied()
            .max()
            .unwrap_or(MemType::Absent)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, bytes)) = data.split_first_chunk::<16>() else {
        return;
    };
    let kind = |b: u8| {
        [
            MemType::Ram,
            MemType::WriteProtected,
            MemType::Mmio,
            MemType::Absent,
        ][usize::from(b % 4)]
    };
    let mut kinds = [MemType::Ram; PAGES];
    for (k, b) in kinds.iter_mut().zip(&head[8..16]) {
        *k = kind(*b);
    }
    let mut host = HostPt {
        caps: BASELINE,
        vmx: pt_virt::cpuid::VmxPtSupport::ALL,
        maxphyaddr: 32 + head[0] % 21,
        linear_address_bits: 48,
    };
    if head[1] & 1 != 0 {
        host.caps.output = host.caps.output.difference(OutputSchemes::TOPA_MULTI);
    }
    let Ok(policy) = Policy::safe_default(&host) else {
        return;
    };
    let table = u64::from(head[2] % 8) * 4096;
    let entry = u64::from(head[3] % 64);
    let offset = u64::from(u16::from_le_bytes([head[4], head[5]]));
    let state = RtitState {
        ctl: (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(),
        status: if head[6] & 1 != 0 {
            RtitStatus::STOPPED.bits()
        } else {
            0
        },
        output_base: table,
        output_mask_ptrs: 0x7f | entry << 7 | offset << 32,
        ..RtitState::RESET
    };
    let mem = Memory { bytes, kinds };
    let _ = check_output(&mem, &policy, &state, WalkLimits { max_entries: 4096 });
});
