// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Table of Physical Addresses (ToPA): entries, and a bounded walk of guest tables.
//!
//! A ToPA table is an array of 8-byte entries (Intel SDM vol. 3C, "Table of Physical
//! Addresses (ToPA)", figure "ToPA Table Entry Format"): bit 0 END, bit 2 INT, bit 4
//! STOP, bits 9:6 Size (region = 4 KiB << Size), bits MAXPHYADDR-1:12 the output region's
//! base — or, with END, the next table's base. Bits 1, 3, 5, 10, 11 and those at and
//! above MAXPHYADDR are reserved. The processor writes through the regions in order,
//! follows END entries to the next table, and stops after filling a STOP region.
//! `IA32_RTIT_OUTPUT_BASE` holds the current table, `IA32_RTIT_OUTPUT_MASK_PTRS` bits
//! 31:7 the current entry index and bits 63:32 the offset in its region (Linux
//! `pt_config_buffer()` writes `0x7f | idx << 7 | offset << 32`).
//!
//! [`walk`] follows the chain from the current position over guest memory. Guest tables
//! are hostile: every malformed entry is a typed [`TopaError`] (the hardware's
//! "operational errors"), a chain that cycles without returning to the starting position
//! is found with Brent's cycle detection in O(1) memory, and a [`WalkLimits`] budget
//! bounds the walk whatever the memory holds.

use super::{Gpa, GuestMemory, MemType};
use crate::cpuid::OutputSchemes;
use crate::policy::Policy;

/// Bit 0: END — the entry points to the next table.
pub const END: u64 = 1 << 0;
/// Bit 2: INT — raise a PMI when this region fills.
pub const INT: u64 = 1 << 2;
/// Bit 4: STOP — stop tracing when this region fills.
pub const STOP: u64 = 1 << 4;
/// Bits 9:6: Size, region = 4 KiB << Size (4 KiB … 128 MiB).
pub const SIZE_SHIFT: u32 = 6;
/// Mask of Size.
pub const SIZE_MASK: u64 = 0xf << SIZE_SHIFT;
/// Bits 1, 3, 5, 10, 11: reserved.
pub const RESERVED_LOW: u64 = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 10) | (1 << 11);
/// Bits 11:0 hold flags; the base is 4 KiB aligned.
pub const BASE_SHIFT: u32 = 12;
/// Size of one entry in bytes.
pub const ENTRY_BYTES: u64 = 8;

/// One decoded ToPA entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopaEntry {
    /// The region base, or with `end` the next table's base (4 KiB aligned).
    pub base: u64,
    /// The Size field (ignored by hardware when `end`).
    pub size: u8,
    /// END.
    pub end: bool,
    /// INT.
    pub int: bool,
    /// STOP.
    pub stop: bool,
}

impl TopaEntry {
    /// The region size in bytes, 4 KiB << Size.
    pub const fn region_size(&self) -> u64 {
        4096 << self.size
    }

    /// Decodes an entry read at `gpa`, checking it as hardware does under `maxphyaddr`.
    pub fn parse(raw: u64, gpa: Gpa, maxphyaddr: u8) -> Result<Self, TopaError> {
        let high_reserved = !0u64 << maxphyaddr;
        if raw & (RESERVED_LOW | high_reserved) != 0 {
            return Err(TopaError::ReservedBits { gpa, raw });
        }
        let [size, ..] = ((raw & SIZE_MASK) >> SIZE_SHIFT).to_le_bytes();
        let entry = Self {
            base: raw & !0xfff,
            size,
            end: raw & END != 0,
            int: raw & INT != 0,
            stop: raw & STOP != 0,
        };
        if entry.end && (entry.int || entry.stop) {
            return Err(TopaError::EndWithIntOrStop { gpa });
        }
        if !entry.end && entry.base & (entry.region_size() - 1) != 0 {
            return Err(TopaError::RegionMisaligned {
                gpa,
                base: entry.base,
                size: entry.region_size(),
            });
        }
        Ok(entry)
    }

    /// Encodes the entry (the twin of [`TopaEntry::parse`]).
    pub const fn emit(&self) -> u64 {
        (self.base & !0xfff)
            | ((self.size as u64 & 0xf) << SIZE_SHIFT)
            | if self.end { END } else { 0 }
            | if self.int { INT } else { 0 }
            | if self.stop { STOP } else { 0 }
    }
}

/// Why a ToPA chain is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopaError {
    /// An entry has reserved bits (or bits at or above MAXPHYADDR) set.
    #[error("ToPA entry at {gpa:#x} = {raw:#x} has reserved bits set")]
    ReservedBits {
        /// Where the entry is.
        gpa: Gpa,
        /// Its raw value.
        raw: u64,
    },
    /// An END entry also has INT or STOP.
    #[error("ToPA END entry at {gpa:#x} also has INT or STOP")]
    EndWithIntOrStop {
        /// Where the entry is.
        gpa: Gpa,
    },
    /// An output region's base is not aligned to its size.
    #[error("ToPA entry at {gpa:#x}: region {base:#x} not aligned to its size {size:#x}")]
    RegionMisaligned {
        /// Where the entry is.
        gpa: Gpa,
        /// The region base.
        base: u64,
        /// The region size.
        size: u64,
    },
    /// A table is not in readable RAM.
    #[error("ToPA table entry at {gpa:#x} is in {kind:?} memory")]
    TableNotRam {
        /// Where the entry would be.
        gpa: Gpa,
        /// What is there.
        kind: MemType,
    },
    /// A table runs past MAXPHYADDR or the end of the address space.
    #[error("ToPA table entry address beyond MAXPHYADDR (table {table:#x}, entry {entry})")]
    BeyondMaxPhyAddr {
        /// The table.
        table: Gpa,
        /// The entry index.
        entry: u32,
    },
    /// The current entry (OUTPUT_BASE, MASK_PTRS\[31:7\]) is an END entry, not a region.
    #[error("current ToPA entry at {gpa:#x} is an END entry")]
    StartsAtEnd {
        /// Where the entry is.
        gpa: Gpa,
    },
    /// The current offset (MASK_PTRS\[63:32\]) is not inside the current region.
    #[error("output offset {offset:#x} is outside the current {size:#x}-byte region")]
    OffsetOutside {
        /// The offset.
        offset: u32,
        /// The region size.
        size: u64,
    },
    /// Single-output-entry ToPA (CPUID.14H.0:ECX\[1\] = 0) needs entry 0 a region and
    /// entry 1 an END back to the same table.
    #[error("ToPA entry at {gpa:#x} breaks the single-output-entry layout")]
    SingleEntryLayout {
        /// Where the entry is.
        gpa: Gpa,
    },
    /// The END chain cycles without coming back to the current position: part of the
    /// buffer would be written once and then never again, or no region is ever reached.
    #[error("ToPA tables loop at table {0:#x} without returning to the current entry")]
    Loop(Gpa),
    /// More entries than the walk's budget.
    #[error("ToPA walk exceeded {0} entries")]
    TooLong(u32),
}

/// Bounds on a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// The most entries read before giving up with [`TopaError::TooLong`].
    pub max_entries: u32,
}

impl Default for WalkLimits {
    /// 65 536 entries: 8 MiB of 4 KiB regions, 8 TiB of 128 MiB ones.
    fn default() -> Self {
        Self {
            max_entries: 1 << 16,
        }
    }
}

/// Where the processor is in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The current table (OUTPUT_BASE).
    pub table: Gpa,
    /// The current entry index (OUTPUT_MASK_PTRS bits 31:7).
    pub entry: u32,
    /// The offset in the current region (OUTPUT_MASK_PTRS bits 63:32).
    pub offset: u32,
    /// STATUS.Stopped: the offset may then equal the region size.
    pub stopped: bool,
}

/// One output region met by the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Where its entry is.
    pub entry: Gpa,
    /// The region base.
    pub base: Gpa,
    /// Its size in bytes.
    pub size: u64,
    /// INT.
    pub int: bool,
    /// STOP.
    pub stop: bool,
}

/// How the chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// It returns to the current position: the buffer is a ring.
    Wraps,
    /// A STOP region ends tracing.
    Stops,
}

/// What a walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Output regions visited.
    pub regions: u32,
    /// END entries followed.
    pub ends_followed: u32,
    /// Total bytes of output regions (saturating).
    pub bytes: u64,
    /// How the chain ends.
    pub ends: Ends,
}

/// Walks the ToPA chain from `start` once around (or to a STOP region), calling
/// `visit` for each output region, reading entries through `mem` and checking them under
/// `policy` (MAXPHYADDR, multi-entry support). Reads at most `limits.max_entries`
/// entries.
pub fn walk<M: GuestMemory + ?Sized>(
    mem: &M,
    policy: &Policy,
    start: Position,
    limits: WalkLimits,
    mut visit: impl FnMut(&Region),
) -> Result<Summary, TopaError> {
    let multi = policy.caps().output.contains(OutputSchemes::TOPA_MULTI);
    let maxphyaddr = policy.maxphyaddr();
    let limit = 1u64 << maxphyaddr;
    let mut summary = Summary {
        regions: 0,
        ends_followed: 0,
        bytes: 0,
        ends: Ends::Wraps,
    };
    let (mut table, mut index) = (start.table, start.entry);
    let mut returned = false;
    // Brent's cycle detection over the sequence of tables entered through END.
    let (mut tortoise, mut power, mut lambda) = (start.table, 1u32, 0u32);
    for step in 0..limits.max_entries {
        if returned && table == start.table && index == start.entry {
            return Ok(summary);
        }
        let gpa = u64::from(index)
            .checked_mul(ENTRY_BYTES)
            .and_then(|off| table.checked_add(off))
            .filter(|g| g.0.checked_add(ENTRY_BYTES).is_some_and(|e| e <= limit))
            .ok_or(TopaError::BeyondMaxPhyAddr {
                table,
                entry: index,
            })?;
        let kind = mem.classify(gpa, ENTRY_BYTES);
        let raw = match kind {
            MemType::Ram | MemType::WriteProtected => mem.read_u64(gpa),
            MemType::Mmio | MemType::Absent => None,
        }
        .ok_or(TopaError::TableNotRam {
            gpa,
            kind: kind.max(MemType::Mmio),
        })?;
        let entry = TopaEntry::parse(raw, gpa, maxphyaddr)?;
        if step == 0 && entry.end {
            return Err(TopaError::StartsAtEnd { gpa });
        }
        if !multi {
            let ok = match index {
                0 => !entry.end,
                1 => entry.end && entry.base == table.0,
                _ => false,
            };
            if !ok {
                return Err(TopaError::SingleEntryLayout { gpa });
            }
        }
        if entry.end {
            let next = Gpa(entry.base);
            summary.ends_followed = summary.ends_followed.saturating_add(1);
            if next == start.table {
                if returned {
                    return Err(TopaError::Loop(next));
                }
                returned = true;
            } else {
                if next == tortoise {
                    return Err(TopaError::Loop(next));
                }
                lambda += 1;
                if lambda == power {
                    tortoise = next;
                    power = power.saturating_mul(2);
                    lambda = 0;
                }
            }
            table = next;
            index = 0;
            continue;
        }
        let size = entry.region_size();
        if step == 0 {
            let offset = u64::from(start.offset);
            if offset > size || (offset == size && !start.stopped) {
                return Err(TopaError::OffsetOutside {
                    offset: start.offset,
                    size,
                });
            }
        }
        let region = Region {
            entry: gpa,
            base: Gpa(entry.base),
            size,
            int: entry.int,
            stop: entry.stop,
        };
        visit(&region);
        summary.regions += 1;
        summary.bytes = summary.bytes.saturating_add(size);
        if entry.stop {
            summary.ends = Ends::Stops;
            return Ok(summary);
        }
        index = index.checked_add(1).ok_or(TopaError::BeyondMaxPhyAddr {
            table,
            entry: index,
        })?;
    }
    Err(TopaError::TooLong(limits.max_entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msr::{RtitCtl, RtitState};
    use crate::output::tests::TestMemory;
    use crate::output::{CrashReason, Verdict, check_output};
    use crate::policy::tests::cascade_lake;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy::safe_default(&cascade_lake()).expect("fits")
    }

    fn region(base: u64, size: u8) -> u64 {
        TopaEntry {
            base,
            size,
            end: false,
            int: false,
            stop: false,
        }
        .emit()
    }
    fn end(next: u64) -> u64 {
        TopaEntry {
            base: next,
            size: 0,
            end: true,
            int: false,
            stop: false,
        }
        .emit()
    }
    fn start(table: u64) -> Position {
        Position {
            table: Gpa(table),
            entry: 0,
            offset: 0,
            stopped: false,
        }
    }
    fn run(mem: &TestMemory, pos: Position) -> Result<Summary, TopaError> {
        walk(mem, &policy(), pos, WalkLimits::default(), |_| {})
    }

    #[test]
    fn entry_bits_table() {
        // (raw, expected) for each flag and field, from the SDM entry format.
        let g = Gpa(0);
        let ok = |raw| TopaEntry::parse(raw, g, 46);
        assert_eq!(ok(0x1000).map(|e| e.base), Ok(0x1000));
        assert_eq!(
            ok(END | 0x5000).map(|e| (e.end, e.base)),
            Ok((true, 0x5000))
        );
        assert_eq!(ok(INT).map(|e| e.int), Ok(true));
        assert_eq!(ok(STOP).map(|e| e.stop), Ok(true));
        for size in 0..16u64 {
            let base = 4096u64 << size;
            assert_eq!(
                ok(base | size << SIZE_SHIFT).map(|e| e.region_size()),
                Ok(4096 << size)
            );
            if size > 0 {
                assert_eq!(
                    ok((base / 2) | size << SIZE_SHIFT),
                    Err(TopaError::RegionMisaligned {
                        gpa: g,
                        base: base / 2,
                        size: base
                    })
                );
            }
        }
        for bit in [1, 3, 5, 10, 11, 46, 51, 52, 63] {
            let raw = 1u64 << bit;
            assert_eq!(
                ok(raw),
                Err(TopaError::ReservedBits { gpa: g, raw }),
                "bit {bit}"
            );
        }
        assert_eq!(ok(END | INT), Err(TopaError::EndWithIntOrStop { gpa: g }));
        assert_eq!(ok(END | STOP), Err(TopaError::EndWithIntOrStop { gpa: g }));
        // END ignores Size: a 4 KiB-aligned next table with Size 3 is fine.
        assert_eq!(
            ok(END | 0x1000 | 3 << SIZE_SHIFT).map(|e| e.base),
            Ok(0x1000)
        );
    }

    #[test]
    fn ring_of_two_tables() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, region(0x200000, 1));
        mem.set(0x10010, end(0x20000));
        mem.set(0x20000, region(0x300000, 2));
        mem.set(0x20008, end(0x10000));
        let s = run(&mem, start(0x10000)).expect("ring");
        assert_eq!(
            s,
            Summary {
                regions: 3,
                ends_followed: 2,
                bytes: 4096 + 8192 + 16384,
                ends: Ends::Wraps
            }
        );
        // Starting mid-table visits the same ring.
        let mid = Position {
            entry: 1,
            ..start(0x10000)
        };
        assert_eq!(run(&mem, mid).map(|s| s.regions), Ok(3));
    }

    /// OUTPUT_BASE is the current table, MASK_PTRS[31:7] the current entry and
    /// MASK_PTRS[63:32] the offset: the walk starts there, in hardware order, and the
    /// offset is checked against that entry's region.
    #[test]
    fn mask_ptrs_select_entry_and_offset() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, region(0x200000, 1));
        mem.set(0x10010, end(0x20000));
        mem.set(0x20000, region(0x300000, 0));
        mem.set(0x20008, end(0x10000));
        let state = |mask_ptrs: u64| RtitState {
            output_mask_ptrs: mask_ptrs,
            ..tracing_topa(0x10000)
        };
        let lim = WalkLimits::default();
        // Entry 1 (an 8 KiB region), offset 0x1fff: inside.
        let inside = state(0x7f | 1 << 7 | 0x1fff << 32);
        assert_eq!(check_output(&mem, &policy(), &inside, lim), Verdict::Fine);
        let mut order = std::vec::Vec::new();
        let pos = Position {
            table: Gpa(0x10000),
            entry: 1,
            offset: 0x1fff,
            stopped: false,
        };
        walk(&mem, &policy(), pos, lim, |r| order.push(r.base.0)).expect("ring");
        assert_eq!(order, [0x200000, 0x300000, 0x100000]);
        // Offset 0x2000 is past entry 1's region.
        let outside = state(0x7f | 1 << 7 | 0x2000 << 32);
        assert_eq!(
            check_output(&mem, &policy(), &outside, lim),
            Verdict::Crash(CrashReason::Topa(TopaError::OffsetOutside {
                offset: 0x2000,
                size: 0x2000
            }))
        );
        // Entry 2 is the END entry: not a place output can be.
        let at_end = state(0x7f | 2 << 7);
        assert_eq!(
            check_output(&mem, &policy(), &at_end, lim),
            Verdict::Crash(CrashReason::Topa(TopaError::StartsAtEnd {
                gpa: Gpa(0x10010)
            }))
        );
    }

    #[test]
    fn stop_entry_ends_the_walk() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, region(0x200000, 0) | STOP);
        mem.set(0x10010, 0xdead_0003); // garbage never reached
        assert_eq!(
            run(&mem, start(0x10000)).map(|s| (s.regions, s.ends)),
            Ok((2, Ends::Stops))
        );
    }

    #[test]
    fn loop_not_through_start_is_an_error() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, end(0x20000));
        mem.set(0x20000, region(0x200000, 0));
        mem.set(0x20008, end(0x30000));
        mem.set(0x30000, region(0x300000, 0));
        mem.set(0x30008, end(0x20000));
        assert!(matches!(run(&mem, start(0x10000)), Err(TopaError::Loop(_))));
        // A table of END entries pointing at each other: no region ever, still no hang.
        let mut ends = TestMemory::ram();
        ends.set(0x10000, region(0x100000, 0));
        ends.set(0x10008, end(0x40000));
        ends.set(0x40000, end(0x50000));
        ends.set(0x50000, end(0x40000));
        assert!(matches!(
            run(&ends, start(0x10000)),
            Err(TopaError::Loop(_))
        ));
    }

    #[test]
    fn start_table_reentered_below_current_entry_is_a_loop() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, end(0x20000));
        mem.set(0x10008, region(0x100000, 0));
        mem.set(0x10010, end(0x10000));
        mem.set(0x20000, region(0x200000, 0));
        mem.set(0x20008, end(0x10000));
        // From entry 1: 1 → END → 0x10000[0] (END) → 0x20000 → back to 0x10000[0] again.
        let pos = Position {
            entry: 1,
            ..start(0x10000)
        };
        assert_eq!(run(&mem, pos), Err(TopaError::Loop(Gpa(0x10000))));
    }

    #[test]
    fn long_chain_hits_the_budget() {
        let mut mem = TestMemory::ram();
        for i in 0..100u64 {
            mem.set(0x100000 + i * 0x1000, region(0x1000_0000, 0));
            mem.set(0x100008 + i * 0x1000, end(0x100000 + (i + 1) * 0x1000));
        }
        let r = walk(
            &mem,
            &policy(),
            start(0x100000),
            WalkLimits { max_entries: 50 },
            |_| {},
        );
        assert_eq!(r, Err(TopaError::TooLong(50)));
    }

    #[test]
    fn operational_error_table() {
        let p = start(0x10000);
        let mut mem = TestMemory::ram();
        mem.set(0x10000, end(0x10000));
        assert_eq!(
            run(&mem, p),
            Err(TopaError::StartsAtEnd { gpa: Gpa(0x10000) })
        );
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, end(0x10000));
        assert_eq!(
            run(&mem, Position { offset: 4096, ..p }),
            Err(TopaError::OffsetOutside {
                offset: 4096,
                size: 4096
            })
        );
        assert!(
            run(
                &mem,
                Position {
                    offset: 4096,
                    stopped: true,
                    ..p
                }
            )
            .is_ok()
        );
        let mut mmio = TestMemory::ram();
        mmio.kinds.insert(0x10, MemType::Mmio);
        assert_eq!(
            run(&mmio, p),
            Err(TopaError::TableNotRam {
                gpa: Gpa(0x10000),
                kind: MemType::Mmio
            })
        );
        let absent = TestMemory::default();
        assert_eq!(
            run(&absent, p),
            Err(TopaError::TableNotRam {
                gpa: Gpa(0x10000),
                kind: MemType::Absent
            })
        );
        let top = start((1 << 46) - 0x1000);
        let mut edge = TestMemory::ram();
        for i in 0..512u64 {
            edge.set(top.table.0 + 8 * i, region(0x100000, 0));
        }
        assert_eq!(
            run(&edge, top),
            Err(TopaError::BeyondMaxPhyAddr {
                table: top.table,
                entry: 512
            })
        );
    }

    #[test]
    fn single_entry_layout() {
        let mut host = cascade_lake();
        host.caps.output = host.caps.output.difference(OutputSchemes::TOPA_MULTI);
        let p = Policy::safe_default(&host).expect("fits");
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, end(0x10000));
        assert!(walk(&mem, &p, start(0x10000), WalkLimits::default(), |_| {}).is_ok());
        mem.set(0x10008, end(0x20000));
        assert_eq!(
            walk(&mem, &p, start(0x10000), WalkLimits::default(), |_| {}),
            Err(TopaError::SingleEntryLayout { gpa: Gpa(0x10008) })
        );
        mem.set(0x10008, region(0x200000, 0));
        assert_eq!(
            walk(&mem, &p, start(0x10000), WalkLimits::default(), |_| {}),
            Err(TopaError::SingleEntryLayout { gpa: Gpa(0x10008) })
        );
    }

    fn tracing_topa(table: u64) -> RtitState {
        RtitState {
            ctl: (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(),
            output_base: table,
            ..RtitState::RESET
        }
    }

    #[test]
    fn verdicts_over_region_types() {
        let mut mem = TestMemory::ram();
        mem.set(0x10000, region(0x100000, 0));
        mem.set(0x10008, region(0x200000, 0));
        mem.set(0x10010, end(0x10000));
        let s = tracing_topa(0x10000);
        let lim = WalkLimits::default();
        assert_eq!(check_output(&mem, &policy(), &s, lim), Verdict::Fine);
        mem.kinds.insert(0x200, MemType::WriteProtected);
        assert_eq!(
            check_output(&mem, &policy(), &s, lim),
            Verdict::NeedsEmulation {
                gpa: Gpa(0x200000),
                len: 4096
            }
        );
        mem.kinds.insert(0x100, MemType::Mmio);
        assert_eq!(
            check_output(&mem, &policy(), &s, lim),
            Verdict::Crash(CrashReason::Mmio(Gpa(0x100000)))
        );
        mem.kinds.insert(0x100, MemType::Absent);
        assert_eq!(
            check_output(&mem, &policy(), &s, lim),
            Verdict::Crash(CrashReason::Absent(Gpa(0x100000)))
        );
        mem.set(0x10000, 1 << 3);
        assert!(matches!(
            check_output(&mem, &policy(), &s, lim),
            Verdict::Crash(CrashReason::Topa(TopaError::ReservedBits { .. }))
        ));
        assert_eq!(
            check_output(&mem, &policy(), &RtitState::RESET, lim),
            Verdict::Fine
        );
    }

    #[test]
    fn single_range_verdicts() {
        let mut mem = TestMemory::ram();
        let s = RtitState {
            ctl: RtitCtl::TRACE_EN.bits(),
            output_base: 0x40000,
            output_mask_ptrs: 0x3fff,
            ..RtitState::RESET
        };
        let lim = WalkLimits::default();
        assert_eq!(check_output(&mem, &policy(), &s, lim), Verdict::Fine);
        mem.kinds.insert(0x43, MemType::Mmio);
        assert_eq!(
            check_output(&mem, &policy(), &s, lim),
            Verdict::Crash(CrashReason::Mmio(Gpa(0x40000)))
        );
        let bad = RtitState {
            output_base: 0x42000,
            ..s
        };
        assert!(matches!(
            check_output(&mem, &policy(), &bad, lim),
            Verdict::Crash(CrashReason::Output(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn entry_round_trip(base in 0u64..(1 << 34), size in 0u8..16, end_bit: bool, int: bool, stop: bool) {
            let (int, stop) = if end_bit { (false, false) } else { (int, stop) };
            let base = if end_bit { base << 12 } else { (base << 12) & !((4096u64 << size) - 1) };
            let e = TopaEntry { base, size, end: end_bit, int, stop };
            prop_assert_eq!(TopaEntry::parse(e.emit(), Gpa(0), 46), Ok(e));
        }

        /// Any 64 words of table memory: the walk ends, within the budget, and the bytes
        /// it reports are the sum of the regions it visited.
        #[test]
        fn arbitrary_tables_terminate(words in proptest::collection::vec(any::<u64>(), 64), idx in 0u32..8) {
            let mut mem = TestMemory::ram();
            for (i, w) in words.iter().enumerate() {
                // Point END bases into the 64-word window so chains are interesting.
                let w = if w & END != 0 { (w & 0xff) | (0x10000 + ((w >> 8) % 4) * 0x1000) & !0xfff } else { *w };
                mem.set(0x10000 + 0x1000 * (i as u64 / 16) + 8 * (i as u64 % 16), w);
            }
            let mut seen = 0u64;
            let r = walk(&mem, &policy(), Position { entry: idx, ..start(0x10000) }, WalkLimits { max_entries: 256 }, |r| seen += r.size);
            if let Ok(s) = r {
                prop_assert_eq!(s.bytes, seen);
            }
        }
    }
}
