// SPDX-License-Identifier: Apache-2.0 OR MIT
//! An arbitrary page of request slots, as a hostile hypervisor or a corrupted mapping
//! could present it: the device model's take/complete path must never panic, and every
//! request it accepts must round-trip through `Request::emit`.
#![no_main]

use ioreq::{IoreqPage, PageLayout, Request, State, SyncPages};
use libfuzzer_sys::fuzz_target;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

fuzz_target!(|data: &[u8]| {
    let mut page = Page([0; 4096]);
    let len = data.len().min(4096);
    page.0[..len].copy_from_slice(&data[..len]);
    let pages = IoreqPage::from_bytes(&mut page.0, 1).expect("aligned page");
    let layout = PageLayout::new(128).expect("valid count");
    let sync = SyncPages::contiguous(layout, pages).expect("one page");
    for vcpu in 0..128 {
        let slot = sync.slot(vcpu).expect("in range");
        let was_ready = slot.state() == Ok(State::Ready);
        match slot.take() {
            Ok(Some(request)) => {
                assert!(was_ready);
                assert_eq!(Request::parse(&request.to_raw()), Ok(request));
                assert_eq!(request.elements().count(), request.count as usize);
                slot.complete(request.data).expect("claimed");
                assert_eq!(slot.poll_response(), Ok(Some(request.data)));
            }
            Ok(None) => assert!(!was_ready),
            Err(_) => slot
                .complete(!0)
                .expect("a malformed READY request is still claimed"),
        }
    }
});
