// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary event sequences on a pmem range: the lifecycle never panics, a refused event
//! leaves the state unchanged, and no guest ever owns a range the management domain maps.
#![no_main]

use frame_table::{Event, Lifecycle, LifecycleError as Error, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|events: Vec<Event>| {
    let mut lc = Lifecycle::new();
    let mut dom0 = false;
    for event in events {
        let before = lc.state();
        match lc.apply(event) {
            Ok(_) => match event {
                Event::Dom0Map => dom0 = true,
                Event::Dom0Unmap => dom0 = false,
                Event::Activate(_) => assert!(!dom0, "activated while dom0 maps"),
                _ => {}
            },
            Err(Error::ManagementDomainMapped) => assert!(dom0),
            Err(_) => assert_eq!(lc.state(), before),
        }
        if matches!(lc.state(), State::Active { .. } | State::Mapped { .. }) {
            assert!(!dom0);
        }
    }
});
