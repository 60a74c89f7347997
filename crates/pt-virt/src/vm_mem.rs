// SPDX-License-Identifier: Apache-2.0 OR MIT
//! rust-vmm guest memory as the output walker's [`GuestMemory`] (feature `vm-memory`).
//!
//! A VMM built on rust-vmm keeps its RAM in a `vm-memory` 0.18 `GuestMemoryBackend`
//! (usually a `GuestMemoryMmap`); its MMIO windows and the pages it write-protects
//! (log-dirty tracking, introspection) live elsewhere, in its device manager and EPT. The
//! caller names those as a short list of [`Classified`] ranges; [`VmMemory`] answers
//! [`GuestMemory::classify`] from both and reads ToPA entries through `vm-memory`'s
//! [`Bytes`], so every access goes through the VMM's own bounds checks.
//!
//! A byte's type: `Mmio` (or `Absent`) if a caller range says so; otherwise `Absent`
//! where no region maps it; otherwise the worst caller range covering it, else `Ram`.
//!
//! ```
//! use pt_virt::output::{Gpa, GuestMemory, MemType};
//! use pt_virt::vm_mem::{Classified, VmMemory};
//! use vm_memory::{GuestAddress, GuestMemoryMmap};
//!
//! // 16 MiB of RAM; the device manager's MMIO window sits above it at 0xfe00_0000.
//! let ram = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
//! let special = [
//!     Classified { gpa: Gpa(0xfe00_0000), len: 1 << 20, kind: MemType::Mmio },
//!     Classified { gpa: Gpa(0x20_0000), len: 0x1000, kind: MemType::WriteProtected },
//! ];
//! let mem = VmMemory::new(&ram, &special);
//! assert_eq!(mem.classify(Gpa(0x10_0000), 0x1000), MemType::Ram);
//! assert_eq!(mem.classify(Gpa(0x1f_f000), 0x2000), MemType::WriteProtected);
//! assert_eq!(mem.classify(Gpa(0xfe00_0000), 8), MemType::Mmio);
//! assert_eq!(mem.classify(Gpa(32 << 20), 8), MemType::Absent);
//!
//! // A vCPU tracing to a one-entry ToPA ring at 1 MiB whose output region is the
//! // write-protected page: the VMM must decide.
//! # use pt_virt::cpuid::{Caps, CpuidRegs, VmxPtSupport};
//! # use pt_virt::msr::{IA32_RTIT_CTL, IA32_RTIT_OUTPUT_BASE, Origin, PtVcpu, RtitCtl};
//! # use pt_virt::policy::{HostPt, Policy};
//! # use vm_memory::Bytes;
//! # let caps = Caps::from_host_cpuid(
//! #     CpuidRegs { eax: 1, ebx: 0xf, ecx: 0x7, edx: 0 },
//! #     CpuidRegs { eax: 0x0249_0002, ebx: 0x003f_3fff, ecx: 0, edx: 0 },
//! # );
//! # let host = HostPt { caps, vmx: VmxPtSupport::ALL, maxphyaddr: 46, linear_address_bits: 48 };
//! # let mut vcpu = PtVcpu::new(Policy::safe_default(&host)?);
//! # ram.write_slice(&0x20_0000u64.to_le_bytes(), GuestAddress(0x10_0000))?;
//! # ram.write_slice(&0x10_0001u64.to_le_bytes(), GuestAddress(0x10_0008))?;
//! # vcpu.write(IA32_RTIT_OUTPUT_BASE, 0x10_0000, Origin::Guest)?;
//! # vcpu.write(IA32_RTIT_CTL, (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(), Origin::Guest)?;
//! use pt_virt::output::{Verdict, check_output, topa::WalkLimits};
//!
//! let verdict = check_output(&mem, vcpu.policy(), vcpu.state(), WalkLimits::default());
//! assert_eq!(verdict, Verdict::NeedsEmulation { gpa: Gpa(0x20_0000), len: 4096 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

use crate::output::{Gpa, GuestMemory, MemType};

/// A guest-physical range the caller classifies itself (an MMIO window, a
/// write-protected page run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classified {
    /// First byte.
    pub gpa: Gpa,
    /// Length in bytes (0: the range is ignored).
    pub len: u64,
    /// Its type.
    pub kind: MemType,
}

impl Classified {
    /// Its last byte, `None` when empty (a range past the top of the address space ends
    /// at `u64::MAX`).
    fn last(&self) -> Option<u64> {
        let extent = self.len.checked_sub(1)?;
        Some(self.gpa.0.saturating_add(extent))
    }
}

/// `vm-memory` guest memory plus the caller's [`Classified`] ranges, as a
/// [`GuestMemory`].
#[derive(Debug, Clone, Copy)]
pub struct VmMemory<'a, M: GuestMemoryBackend + ?Sized> {
    mem: &'a M,
    special: &'a [Classified],
}

impl<'a, M: GuestMemoryBackend + ?Sized> VmMemory<'a, M> {
    /// `mem`'s regions as RAM, except where `special` says otherwise.
    pub fn new(mem: &'a M, special: &'a [Classified]) -> Self {
        Self { mem, special }
    }

    /// The type of the bytes from `p` on, and the last byte (at most `last`) that has
    /// the same type.
    fn run_at(&self, p: u64, last: u64) -> (MemType, u64) {
        let mut run_last = last;
        let mut caller: Option<MemType> = None;
        for range in self.special {
            let Some(end) = range.last() else { continue };
            if (range.gpa.0..=end).contains(&p) {
                caller = caller.max(Some(range.kind));
                run_last = run_last.min(end);
            } else if range.gpa.0 > p {
                run_last = run_last.min(range.gpa.0 - 1);
            }
        }
        if let Some(kind @ (MemType::Mmio | MemType::Absent)) = caller {
            return (kind, run_last);
        }
        match self.mem.find_region(GuestAddress(p)) {
            None => (MemType::Absent, run_last),
            Some(region) => (
                caller.unwrap_or(MemType::Ram),
                run_last.min(region.last_addr().0),
            ),
        }
    }
}

impl<M: GuestMemoryBackend + ?Sized> GuestMemory for VmMemory<'_, M> {
    fn read_u64(&self, gpa: Gpa) -> Option<u64> {
        match self.classify(gpa, 8) {
            MemType::Ram | MemType::WriteProtected => {
                let mut bytes = [0u8; 8];
                self.mem.read_slice(&mut bytes, GuestAddress(gpa.0)).ok()?;
                Some(u64::from_le_bytes(bytes))
            }
            MemType::Mmio | MemType::Absent => None,
        }
    }

    fn classify(&self, gpa: Gpa, len: u64) -> MemType {
        // Bytes past the top of the address space do not exist.
        let Some(last) = gpa.0.checked_add(len.max(1) - 1) else {
            return MemType::Absent;
        };
        let mut worst = MemType::Ram;
        let mut p = gpa.0;
        loop {
            let (kind, run_last) = self.run_at(p, last);
            worst = worst.max(kind);
            if worst == MemType::Absent || run_last >= last {
                return worst;
            }
            p = run_last + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msr::{RtitCtl, RtitState};
    use crate::output::topa::{self, WalkLimits};
    use crate::output::{CrashReason, Verdict, check_output};
    use crate::policy::Policy;
    use crate::policy::tests::cascade_lake;
    use proptest::prelude::*;
    use std::vec::Vec;
    use vm_memory::GuestMemoryMmap;

    const MIB: u64 = 1 << 20;
    const MMIO: u64 = 0xfe00_0000;
    const WP: u64 = 0x30_0000;

    /// RAM at [0, 4 MiB) and [8 MiB, 12 MiB) (a hole between), MMIO at 0xfe00_0000, one
    /// write-protected page at 3 MiB.
    fn ram() -> GuestMemoryMmap<()> {
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 4 << 20),
            (GuestAddress(8 << 20), 4 << 20),
        ])
        .expect("mapped")
    }

    const SPECIAL: [Classified; 3] = [
        Classified {
            gpa: Gpa(MMIO),
            len: MIB,
            kind: MemType::Mmio,
        },
        Classified {
            gpa: Gpa(WP),
            len: 0x1000,
            kind: MemType::WriteProtected,
        },
        Classified {
            gpa: Gpa(0),
            len: 0,
            kind: MemType::Absent,
        },
    ];

    #[test]
    fn classify_over_regions_holes_and_caller_ranges() {
        let ram = ram();
        let mem = VmMemory::new(&ram, &SPECIAL);
        let cases: [(u64, u64, MemType); 12] = [
            (0, 4 * MIB, MemType::WriteProtected),
            (0, WP, MemType::Ram),
            (WP - 8, 16, MemType::WriteProtected),
            (WP + 0x1000, 0x1000, MemType::Ram),
            (4 * MIB - 8, 8, MemType::Ram),
            (4 * MIB - 8, 16, MemType::Absent), // runs into the hole
            (6 * MIB, 0, MemType::Absent),
            (8 * MIB, 4 * MIB, MemType::Ram),
            (12 * MIB - 4, 8, MemType::Absent),
            (MMIO + 0x10, 8, MemType::Mmio),
            (MMIO - 8, 16, MemType::Absent), // the byte before the window is unmapped
            (u64::MAX - 7, 16, MemType::Absent),
        ];
        for (gpa, len, kind) in cases {
            assert_eq!(mem.classify(Gpa(gpa), len), kind, "{gpa:#x}+{len:#x}");
        }
        // A caller range over RAM wins over it: MMIO (say, an emulated BAR) over RAM.
        let bar = [Classified {
            gpa: Gpa(MIB),
            len: 0x1000,
            kind: MemType::Mmio,
        }];
        let mem = VmMemory::new(&ram, &bar);
        assert_eq!(mem.classify(Gpa(0), 2 * MIB), MemType::Mmio);
        assert_eq!(mem.read_u64(Gpa(MIB)), None);
    }

    #[test]
    fn read_u64_is_little_endian_and_refuses_non_ram() {
        let ram = ram();
        ram.write_slice(&0x1122_3344_5566_7788u64.to_le_bytes(), GuestAddress(WP))
            .expect("mapped");
        let mem = VmMemory::new(&ram, &SPECIAL);
        assert_eq!(mem.read_u64(Gpa(WP)), Some(0x1122_3344_5566_7788));
        assert_eq!(mem.read_u64(Gpa(6 * MIB)), None);
        assert_eq!(mem.read_u64(Gpa(MMIO)), None);
    }

    /// A guest ToPA table in a real `GuestMemoryMmap`, pointing at `output`.
    fn traced(ram: &GuestMemoryMmap<()>, output: u64) -> Verdict {
        let table = 0x10_0000;
        let entry = |base: u64, end: bool| {
            let e = topa::TopaEntry {
                base,
                size: 0,
                end,
                int: false,
                stop: false,
            };
            e.emit()
        };
        ram.write_slice(&entry(output, false).to_le_bytes(), GuestAddress(table))
            .expect("mapped");
        ram.write_slice(&entry(table, true).to_le_bytes(), GuestAddress(table + 8))
            .expect("mapped");
        let state = RtitState {
            ctl: (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits(),
            output_base: table,
            ..RtitState::RESET
        };
        let mem = VmMemory::new(ram, &SPECIAL);
        check_output(
            &mem,
            &Policy::safe_default(&cascade_lake()).expect("fits"),
            &state,
            WalkLimits::default(),
        )
    }

    #[test]
    fn topa_output_verdicts_over_real_guest_memory() {
        let ram = ram();
        assert_eq!(traced(&ram, 0x20_0000), Verdict::Fine);
        assert_eq!(
            traced(&ram, WP),
            Verdict::NeedsEmulation {
                gpa: Gpa(WP),
                len: 0x1000
            }
        );
        assert_eq!(
            traced(&ram, MMIO),
            Verdict::Crash(CrashReason::Mmio(Gpa(MMIO)))
        );
        assert_eq!(
            traced(&ram, 6 * MIB),
            Verdict::Crash(CrashReason::Absent(Gpa(6 * MIB)))
        );
    }

    const KINDS: [MemType; 4] = [
        MemType::Ram,
        MemType::WriteProtected,
        MemType::Mmio,
        MemType::Absent,
    ];

    proptest! {
        /// On a 16-page layout, `classify` is the worst page type of the module's rule,
        /// page by page.
        #[test]
        fn classify_is_the_worst_page(
            mapped in any::<u16>(),
            special in proptest::collection::vec((0u64..16, 0u64..6, 0usize..4), 0..4),
            first in 0u64..16,
            pages in 1u64..8,
        ) {
            let page = |n: u64| n * 0x1000;
            // Runs of mapped pages become regions.
            let mut ranges = Vec::new();
            for n in 0..16 {
                if mapped & (1 << n) != 0 && (n == 0 || mapped & (1 << (n - 1)) == 0) {
                    let len = (n..16).take_while(|&m| mapped & (1 << m) != 0).count();
                    ranges.push((GuestAddress(page(n)), 0x1000 * len));
                }
            }
            prop_assume!(!ranges.is_empty());
            let ram = GuestMemoryMmap::<()>::from_ranges(&ranges).expect("mapped");
            let special: Vec<Classified> = special
                .iter()
                .map(|&(n, len, k)| Classified { gpa: Gpa(page(n)), len: page(len), kind: KINDS[k] })
                .collect();
            let model = |n: u64| {
                let caller = special
                    .iter()
                    .filter(|c| (c.gpa.0..c.gpa.0 + c.len).contains(&page(n)))
                    .map(|c| c.kind)
                    .max();
                match caller {
                    Some(k @ (MemType::Mmio | MemType::Absent)) => k,
                    _ if n >= 16 || mapped & (1 << n) == 0 => MemType::Absent,
                    other => other.unwrap_or(MemType::Ram),
                }
            };
            let expected = (first..first + pages).map(model).max().expect("pages >= 1");
            let mem = VmMemory::new(&ram, &special);
            prop_assert_eq!(mem.classify(Gpa(page(first)), page(pages)), expected);
        }
    }
}
