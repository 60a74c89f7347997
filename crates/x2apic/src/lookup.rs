// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Interrupt destination lookup for thousands of vCPUs.
//!
//! [`DestinationMap`] is built from every vCPU's addressing state ([`ApicState`]: mode,
//! APIC ID, LDR, DFR) and answers "which vCPUs does this destination select" without
//! scanning them all, like KVM's `kvm_recalculate_apic_map`:
//!
//! - physical: a table indexed by APIC ID (dense when IDs are, sorted otherwise);
//! - x2APIC logical (cluster) mode: a table indexed by cluster `ldr >> 16` of 16
//!   members, one per bit of the low 16 LDR bits (SDM vol. 3A §11.12.10.2);
//! - xAPIC logical flat (DFR model 0xF): 8 members, one per LDR bit 31:24;
//! - xAPIC logical cluster (DFR model 0x0): 15 clusters of 4 members (§11.6.2.2);
//! - broadcast (0xFF for 8-bit destinations, 0xFFFF_FFFF for 32-bit ones): every
//!   vCPU whose APIC is enabled.
//!
//! Where the fast tables cannot be exact (two vCPUs with the same APIC ID or the same
//! logical bit, or xAPIC vCPUs in different DFR models) the answer is a linear scan with
//! [`DestinationMap::matches`], which is also the reference semantics the fast path is
//! tested against. The map is rebuilt when an ID, LDR, DFR or mode changes
//! ([`DestinationMap::set`]).

use alloc::vec::Vec;

use crate::base::Mode;
use crate::lapic::Lapic;
use crate::regs::{Register, x2apic_ldr};

/// Table slot with no vCPU.
const NONE: u32 = u32::MAX;
/// Table slot shared by several vCPUs: the lookup falls back to a scan.
const ALIASED: u32 = u32::MAX - 1;
/// The DFR model of flat logical mode, bits 31:28 (SDM vol. 3A §11.6.2.2).
pub const DFR_FLAT: u8 = 0xF;
/// The DFR model of cluster logical mode.
pub const DFR_CLUSTER: u8 = 0x0;

/// What destination lookup needs from one vCPU's local APIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ApicState {
    /// The APIC mode.
    pub mode: Mode,
    /// The APIC ID in the current mode: the 32-bit x2APIC ID, or the 8-bit xAPIC ID.
    pub id: u32,
    /// The raw LDR.
    pub ldr: u32,
    /// The DFR model, bits 31:28 of the DFR (xAPIC mode only).
    pub dfr_model: u8,
    /// The SVR software-enable bit (lowest-priority arbitration skips disabled APICs).
    pub software_enabled: bool,
}

impl ApicState {
    /// A software-enabled APIC in x2APIC mode with x2APIC ID `id` and the LDR the
    /// hardware derives from it ([`x2apic_ldr`]).
    #[must_use]
    pub const fn x2apic(id: u32) -> Self {
        Self {
            mode: Mode::X2apic,
            id,
            ldr: x2apic_ldr(id),
            dfr_model: DFR_FLAT,
            software_enabled: true,
        }
    }

    /// A software-enabled APIC in xAPIC mode with APIC ID `id`, logical APIC ID
    /// `logical_id` (LDR bits 31:24) and DFR model `dfr_model`. Only the low 8 bits of
    /// `id` and `logical_id` are kept, as the 8-bit xAPIC registers hold them (SDM vol. 3A
    /// §11.4.6, §11.6.2.2).
    #[must_use]
    pub const fn xapic(id: u32, logical_id: u32, dfr_model: u8) -> Self {
        Self {
            mode: Mode::Xapic,
            id: id & 0xFF,
            ldr: (logical_id & 0xFF) << 24,
            dfr_model,
            software_enabled: true,
        }
    }

    /// The addressing state of `lapic`.
    pub fn of(lapic: &Lapic) -> Self {
        Self {
            mode: lapic.mode(),
            id: lapic.apic_id(),
            ldr: lapic.ldr(),
            dfr_model: (lapic.register(Register::Dfr) >> 28) as u8,
            software_enabled: lapic.is_software_enabled(),
        }
    }

    fn addressable(&self) -> bool {
        matches!(self.mode, Mode::Xapic | Mode::X2apic)
    }
}

/// An interrupt destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Destination {
    /// Logical destination mode (else physical).
    pub logical: bool,
    /// The destination field.
    pub dest: u32,
    /// Whether the destination is 32 bits (an x2APIC ICR, or a message routed with
    /// 32-bit IDs) rather than 8 (an xAPIC ICR, a compatibility MSI or IOAPIC entry).
    /// An MSI decoded with the extended destination ID is wide: its 0xFF is APIC 255,
    /// not a broadcast, as KVM treats it with `KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK`
    /// (checked by `peers/kvm-x2apic`).
    pub wide: bool,
}

impl Destination {
    /// Whether this is the broadcast destination for its width.
    pub const fn is_broadcast(&self) -> bool {
        if self.wide {
            self.dest == u32::MAX
        } else {
            self.dest == 0xFF
        }
    }
}

/// Physical-ID or cluster index: dense table or sorted pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Index<T> {
    Dense(Vec<T>),
    Sorted(Vec<(u32, T)>),
}

impl<T: Copy> Index<T> {
    fn get(&self, key: u32) -> Option<&T> {
        match self {
            Self::Dense(v) => v.get(key as usize),
            Self::Sorted(v) => v
                .binary_search_by_key(&key, |&(k, _)| k)
                .ok()
                .and_then(|i| v.get(i))
                .map(|(_, t)| t),
        }
    }

    /// Builds from `(key, value)` pairs, merging values with equal keys.
    fn build(
        mut pairs: Vec<(u32, T)>,
        limit: usize,
        empty: T,
        mut merge: impl FnMut(&mut T, T),
    ) -> Self {
        let max = pairs.iter().map(|&(k, _)| k as usize).max();
        match max {
            Some(max) if max < limit => {
                let mut table = alloc::vec![empty; max + 1];
                for (k, t) in pairs {
                    if let Some(slot) = table.get_mut(k as usize) {
                        merge(slot, t);
                    }
                }
                Self::Dense(table)
            }
            _ => {
                pairs.sort_by_key(|&(k, _)| k);
                let mut out: Vec<(u32, T)> = Vec::with_capacity(pairs.len());
                for (k, t) in pairs {
                    match out.last_mut() {
                        Some((lk, lt)) if *lk == k => merge(lt, t),
                        _ => {
                            let mut slot = empty;
                            merge(&mut slot, t);
                            out.push((k, slot));
                        }
                    }
                }
                Self::Sorted(out)
            }
        }
    }
}

/// Puts `vcpu` into a member slot, or marks the slot aliased.
fn claim(slot: &mut u32, vcpu: u32) {
    *slot = if *slot == NONE { vcpu } else { ALIASED };
}

/// The precomputed destination map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationMap {
    states: Vec<ApicState>,
    /// Enabled (xAPIC or x2APIC mode) vCPUs, for broadcasts.
    all: Vec<u32>,
    phys: Index<u32>,
    clusters: Index<[u32; 16]>,
    /// xAPIC logical members: flat uses slots 0..8 (LDR bit 24 + i); cluster mode uses
    /// 4 slots per cluster (`cluster * 4 + bit`).
    xapic_logical: [u32; 64],
    /// The DFR model every xAPIC-mode vCPU uses, if they agree.
    xapic_model: Option<u8>,
}

/// Which vCPUs a destination selects.
#[derive(Debug, Clone)]
pub enum Targets<'a> {
    /// No vCPU.
    None,
    /// Exactly one vCPU.
    One(u32),
    /// The members selected by `mask` (bit `i` selects `members[i]`; empty slots are
    /// skipped).
    Members {
        /// vCPU per member bit.
        members: &'a [u32],
        /// Selected bits.
        mask: u32,
    },
    /// Every listed vCPU (a broadcast).
    All(&'a [u32]),
    /// The tables cannot answer exactly: scan with [`DestinationMap::matches`].
    Scan(&'a DestinationMap, Destination),
}

impl Targets<'_> {
    /// The selected vCPUs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (one, members, all, scan) = match self {
            Self::None => (None, None, None, None),
            Self::One(v) => (Some(*v), None, None, None),
            Self::Members { members, mask } => (None, Some((*members, *mask)), None, None),
            Self::All(list) => (None, None, Some(*list), None),
            Self::Scan(map, dest) => (None, None, None, Some((*map, *dest))),
        };
        let members = members.into_iter().flat_map(|(members, mask)| {
            members
                .iter()
                .enumerate()
                .filter(move |&(i, &v)| i < 32 && mask & (1 << i) != 0 && v != NONE)
                .map(|(_, &v)| v)
        });
        let scan = scan.into_iter().flat_map(|(map, dest)| map.scan(dest));
        one.into_iter()
            .chain(members)
            .chain(all.into_iter().flatten().copied())
            .chain(scan)
    }
}

impl DestinationMap {
    /// Builds the map for vCPUs `0..states.len()`.
    pub fn build(states: &[ApicState]) -> Self {
        let states: Vec<ApicState> = states.to_vec();
        let n = states.len();
        let limit = 4 * n + 256;
        let mut all = Vec::new();
        let mut phys_pairs = Vec::new();
        let mut cluster_pairs = Vec::new();
        let mut xapic_model = None;
        let mut mixed = false;
        for (vcpu, s) in (0u32..).zip(&states) {
            if !s.addressable() {
                continue;
            }
            all.push(vcpu);
            phys_pairs.push((s.id, vcpu));
            if s.mode == Mode::X2apic {
                let bit = s.ldr & 0xFFFF;
                let mut members = [NONE; 16];
                if bit.is_power_of_two() {
                    members[bit.trailing_zeros() as usize] = vcpu;
                } else {
                    members = [ALIASED; 16];
                }
                cluster_pairs.push((s.ldr >> 16, members));
            } else {
                match xapic_model {
                    None => xapic_model = Some(s.dfr_model),
                    Some(m) if m != s.dfr_model => mixed = true,
                    Some(_) => {}
                }
            }
        }
        let phys = Index::build(phys_pairs, limit, NONE, claim);
        let clusters = Index::build(cluster_pairs, limit / 16 + 16, [NONE; 16], |slot, m| {
            for (s, v) in slot.iter_mut().zip(m) {
                if v == ALIASED {
                    *s = ALIASED;
                } else if v != NONE {
                    claim(s, v);
                }
            }
        });
        let mut xapic_logical = [NONE; 64];
        for (vcpu, s) in (0u32..).zip(&states) {
            if s.mode != Mode::Xapic {
                continue;
            }
            let ldr = s.ldr >> 24;
            // A vCPU with several logical bits would be listed once per bit: such slots
            // are marked aliased, so lookups through them scan.
            let mut slots = |base: usize, bits: u32| {
                for i in (0..8).filter(|i| bits & (1 << i) != 0) {
                    if let Some(slot) = xapic_logical.get_mut(base + i) {
                        if bits.is_power_of_two() {
                            claim(slot, vcpu);
                        } else {
                            *slot = ALIASED;
                        }
                    }
                }
            };
            match s.dfr_model {
                DFR_FLAT => slots(0, ldr),
                DFR_CLUSTER => slots(4 * (ldr >> 4) as usize, ldr & 0xF),
                _ => mixed = true,
            }
        }
        Self {
            states,
            all,
            phys,
            clusters,
            xapic_logical,
            xapic_model: if mixed { None } else { xapic_model },
        }
    }

    /// The state the map was built from for `vcpu`.
    pub fn state(&self, vcpu: u32) -> Option<&ApicState> {
        self.states.get(vcpu as usize)
    }

    /// The number of vCPUs.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether the map has no vCPUs.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Updates `vcpu`'s state, rebuilding the map if anything addressing depends on
    /// changed; returns whether it rebuilt. An unknown `vcpu` changes nothing.
    pub fn set(&mut self, vcpu: u32, state: ApicState) -> bool {
        match self.states.get_mut(vcpu as usize) {
            Some(s) if *s != state => {
                let addressing = (s.mode, s.id, s.ldr, s.dfr_model)
                    != (state.mode, state.id, state.ldr, state.dfr_model);
                *s = state;
                if addressing {
                    *self = Self::build(&self.states);
                }
                addressing
            }
            _ => false,
        }
    }

    /// Applies several updates with at most one rebuild (as when every vCPU switches
    /// mode at boot); returns whether it rebuilt. Unknown vCPUs are skipped.
    pub fn update(&mut self, changes: impl IntoIterator<Item = (u32, ApicState)>) -> bool {
        let mut addressing = false;
        for (vcpu, state) in changes {
            if let Some(s) = self.states.get_mut(vcpu as usize) {
                addressing |= (s.mode, s.id, s.ldr, s.dfr_model)
                    != (state.mode, state.id, state.ldr, state.dfr_model);
                *s = state;
            }
        }
        if addressing {
            *self = Self::build(&self.states);
        }
        addressing
    }

    /// The reference semantics: whether `vcpu` is selected by `dest` (SDM vol. 3A
    /// §11.6.2 and §11.12.10; KVM `kvm_apic_match_dest`).
    pub fn matches(&self, vcpu: u32, dest: Destination) -> bool {
        let Some(s) = self.state(vcpu) else {
            return false;
        };
        if !s.addressable() {
            return false;
        }
        if dest.is_broadcast() {
            return true;
        }
        if !dest.logical {
            return s.id == dest.dest;
        }
        match s.mode {
            Mode::X2apic => {
                dest.wide && s.ldr >> 16 == dest.dest >> 16 && s.ldr & dest.dest & 0xFFFF != 0
            }
            _ => {
                if dest.dest > 0xFF {
                    return false;
                }
                let (ldr, d) = (s.ldr >> 24, dest.dest);
                match s.dfr_model {
                    DFR_FLAT => ldr & d != 0,
                    DFR_CLUSTER => ldr >> 4 == d >> 4 && ldr & d & 0xF != 0,
                    _ => false,
                }
            }
        }
    }

    /// The linear scan: every vCPU [`DestinationMap::matches`] selects.
    pub fn scan(&self, dest: Destination) -> impl Iterator<Item = u32> + '_ {
        (0..u32::try_from(self.states.len()).unwrap_or(u32::MAX))
            .filter(move |&v| self.matches(v, dest))
    }

    /// The vCPUs `dest` selects, from the tables.
    pub fn lookup(&self, dest: Destination) -> Targets<'_> {
        if dest.is_broadcast() {
            return Targets::All(&self.all);
        }
        if !dest.logical {
            return match self.phys.get(dest.dest).copied() {
                None | Some(NONE) => Targets::None,
                Some(ALIASED) => Targets::Scan(self, dest),
                Some(v) => Targets::One(v),
            };
        }
        // Logical: x2APIC-mode vCPUs match only wide destinations, xAPIC-mode ones only
        // 8-bit values; both kinds can exist at once.
        let x2 = if dest.wide {
            match self.clusters.get(dest.dest >> 16) {
                Some(members) if members.contains(&ALIASED) => return Targets::Scan(self, dest),
                Some(members) => Some(members),
                None => None,
            }
        } else {
            None
        };
        let xapic = if dest.dest <= 0xFF {
            let d = dest.dest;
            match self.xapic_model {
                Some(DFR_FLAT) => Some((&self.xapic_logical[..8], d)),
                Some(_) => {
                    let base = 4 * (d >> 4) as usize;
                    self.xapic_logical
                        .get(base..base + 4)
                        .map(|members| (members, d & 0xF))
                }
                None if self
                    .all
                    .iter()
                    .any(|&v| self.state(v).is_some_and(|s| s.mode == Mode::Xapic)) =>
                {
                    return Targets::Scan(self, dest);
                }
                None => None,
            }
        } else {
            None
        };
        match (x2, xapic) {
            (Some(members), None) => Targets::Members {
                members,
                mask: dest.dest & 0xFFFF,
            },
            (None, Some((members, mask)))
                if members[..]
                    .iter()
                    .enumerate()
                    .any(|(i, &v)| mask & (1 << i) != 0 && v == ALIASED) =>
            {
                Targets::Scan(self, dest)
            }
            (None, Some((members, mask))) => Targets::Members { members, mask },
            (None, None) => Targets::None,
            (Some(_), Some(_)) => Targets::Scan(self, dest),
        }
    }

    /// Lowest-priority arbitration among `targets`: the software-enabled vCPU with the
    /// lowest `priority` (its arbitration priority; the VMM supplies it, e.g. from
    /// [`Lapic::ppr`]), the lowest vCPU index on ties.
    pub fn lowest_priority(
        &self,
        targets: &Targets<'_>,
        mut priority: impl FnMut(u32) -> u32,
    ) -> Option<u32> {
        targets
            .iter()
            .filter(|&v| self.state(v).is_some_and(|s| s.software_enabled))
            .map(|v| (priority(v), v))
            .min()
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted(t: &Targets<'_>) -> Vec<u32> {
        let mut v: Vec<u32> = t.iter().collect();
        v.sort_unstable();
        v
    }

    fn phys(dest: u32) -> Destination {
        Destination {
            logical: false,
            dest,
            wide: true,
        }
    }

    #[test]
    fn x2apic_physical_cluster_broadcast() {
        let states: Vec<ApicState> = (0..4096).map(ApicState::x2apic).collect();
        let map = DestinationMap::build(&states);
        assert!(matches!(map.lookup(phys(4000)), Targets::One(4000)));
        assert!(matches!(map.lookup(phys(4096)), Targets::None));
        let cluster = Destination {
            logical: true,
            dest: 0x00FF_8001,
            wide: true,
        };
        assert_eq!(sorted(&map.lookup(cluster)), [0xFF0, 0xFFF]);
        let all = map.lookup(phys(u32::MAX));
        assert_eq!(all.iter().count(), 4096);
        // 8-bit physical messages reach x2APIC vCPUs with small IDs.
        let narrow = Destination {
            logical: false,
            dest: 0x12,
            wide: false,
        };
        assert!(matches!(map.lookup(narrow), Targets::One(0x12)));
    }

    #[test]
    fn sparse_ids_use_the_sorted_index() {
        let states: Vec<ApicState> = (0..64).map(|i| ApicState::x2apic(i << 12)).collect();
        let map = DestinationMap::build(&states);
        assert!(matches!(map.phys, Index::Sorted(_)));
        assert!(matches!(map.lookup(phys(5 << 12)), Targets::One(5)));
        let c = Destination {
            logical: true,
            dest: (7 << 8 << 16) | 1,
            wide: true,
        };
        assert_eq!(sorted(&map.lookup(c)), [7]);
    }

    #[test]
    fn xapic_flat_and_cluster() {
        let flat: Vec<ApicState> = (0..8)
            .map(|i| ApicState::xapic(i, 1 << i, DFR_FLAT))
            .collect();
        let map = DestinationMap::build(&flat);
        let d = Destination {
            logical: true,
            dest: 0b1010_0001,
            wide: false,
        };
        assert_eq!(sorted(&map.lookup(d)), [0, 5, 7]);
        let cl: Vec<ApicState> = (0..60)
            .map(|i| ApicState::xapic(i, (i / 4) << 4 | 1 << (i % 4), DFR_CLUSTER))
            .collect();
        let map = DestinationMap::build(&cl);
        let d = Destination {
            logical: true,
            dest: 0x35,
            wide: false,
        };
        assert_eq!(sorted(&map.lookup(d)), [12, 14]);
        // The same 8-bit ID twice (vCPUs 0 and 256 before the switch): scanned.
        let mut dup: Vec<ApicState> = (0..257)
            .map(|i| ApicState::xapic(i & 0xFF, 0, DFR_FLAT))
            .collect();
        dup[255] = ApicState::x2apic(255);
        let map = DestinationMap::build(&dup);
        assert!(matches!(map.lookup(phys(0)), Targets::Scan(..)));
        assert_eq!(sorted(&map.lookup(phys(0))), [0, 256]);
    }

    #[test]
    fn rebuild_on_change_and_lowest_priority() {
        let mut map = DestinationMap::build(&[
            ApicState::x2apic(0),
            ApicState::x2apic(1),
            ApicState::x2apic(2),
        ]);
        assert!(map.set(1, ApicState::x2apic(9)));
        assert!(matches!(map.lookup(phys(9)), Targets::One(1)));
        assert!(matches!(map.lookup(phys(1)), Targets::None));
        let mut off = ApicState::x2apic(9);
        off.software_enabled = false;
        assert!(!map.set(1, off), "enable bit alone needs no rebuild");
        let all = map.lookup(phys(u32::MAX));
        let prio = [0x30, 0x10, 0x20];
        assert_eq!(map.lowest_priority(&all, |v| prio[v as usize]), Some(2));
        let disabled = ApicState {
            mode: Mode::Disabled,
            ..ApicState::x2apic(2)
        };
        map.set(2, disabled);
        assert_eq!(map.lookup(phys(u32::MAX)).iter().count(), 2);
        assert!(!map.is_empty());
        assert_eq!(map.len(), 3);
        // A batch: every vCPU moves; one rebuild, and lookups see all of it.
        assert!(map.update((0..3).map(|v| (v, ApicState::x2apic(100 + v)))));
        assert!(matches!(map.lookup(phys(102)), Targets::One(2)));
        assert!(
            !map.update([(7, ApicState::x2apic(1))]),
            "unknown vCPUs are skipped"
        );
    }

    fn state() -> impl Strategy<Value = ApicState> {
        (
            0u8..3,
            0u32..40,
            any::<u32>(),
            prop_oneof![Just(DFR_FLAT), Just(DFR_CLUSTER)],
            any::<bool>(),
        )
            .prop_map(|(m, id, ldr, dfr_model, software_enabled)| {
                let mode = [Mode::Disabled, Mode::Xapic, Mode::X2apic][m as usize];
                match mode {
                    Mode::X2apic => ApicState {
                        mode,
                        id,
                        ldr: x2apic_ldr(id),
                        dfr_model,
                        software_enabled,
                    },
                    _ => ApicState {
                        mode,
                        id: id & 0xFF,
                        ldr: ldr & 0xFF00_0000,
                        dfr_model,
                        software_enabled,
                    },
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// The tables select exactly what the linear scan selects.
        #[test]
        fn lookup_equals_scan(
            states in proptest::collection::vec(state(), 1..48),
            dests in proptest::collection::vec((any::<bool>(), prop_oneof![0u32..0x300, Just(0xFF), Just(u32::MAX), any::<u32>()], any::<bool>()), 1..16),
        ) {
            let map = DestinationMap::build(&states);
            for (logical, dest, wide) in dests {
                let d = Destination { logical, dest, wide };
                let mut expect: Vec<u32> = map.scan(d).collect();
                expect.sort_unstable();
                prop_assert_eq!(sorted(&map.lookup(d)), expect, "{:?}", d);
            }
        }
    }

    #[test]
    fn empty_map() {
        let map = DestinationMap::build(&[]);
        assert!(map.is_empty());
        assert!(matches!(map.lookup(phys(0)), Targets::None));
    }
}
