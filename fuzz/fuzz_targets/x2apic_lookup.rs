// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Destination lookup on arbitrary vCPU states and destinations: the precomputed map
//! selects exactly the vCPUs the linear scan selects, before and after updates (one at a
//! time, then as a batch).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use x2apic_virt::lookup::{ApicState, Destination, DestinationMap};

#[derive(Debug, Arbitrary)]
struct Input {
    states: Vec<ApicState>,
    dests: Vec<Destination>,
    updates: Vec<(u32, ApicState)>,
}

fn check(map: &DestinationMap, dests: &[Destination]) {
    for &d in dests {
        let mut fast: Vec<u32> = map.lookup(d).iter().collect();
        let mut slow: Vec<u32> = map.scan(d).collect();
        fast.sort_unstable();
        slow.sort_unstable();
        assert_eq!(fast, slow, "{d:?}");
    }
}

fuzz_target!(|input: Input| {
    let mut map = DestinationMap::build(&input.states);
    check(&map, &input.dests);
    let mut batched = map.clone();
    for &(vcpu, state) in &input.updates {
        map.set(vcpu, state);
        check(&map, &input.dests);
    }
    batched.update(input.updates);
    assert_eq!(batched, map, "a batch equals the same updates one by one");
});
