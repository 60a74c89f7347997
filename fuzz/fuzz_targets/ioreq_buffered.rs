// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Consuming an arbitrary buffered page: never panics, never loops past the ring, and an
//! error leaves the pointers as they were.
#![no_main]

use ioreq::{BufferedPage, BufferedRing};
use libfuzzer_sys::fuzz_target;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

fuzz_target!(|data: &[u8]| {
    let mut page = Page([0; 4096]);
    let len = data.len().min(4096);
    page.0[..len].copy_from_slice(&data[..len]);
    let pages = BufferedPage::from_bytes(&mut page.0, 1).expect("aligned page");
    let ring = BufferedRing::new(&pages[0]);
    // At most 511 entries can be pending, so at most 511 pops can succeed.
    for _ in 0..=511 {
        let before = ring.pointers();
        match ring.pop() {
            Ok(Some(request)) => {
                assert!(request.size_log2 <= 3 && request.addr <= ioreq::BUF_ADDR_MAX)
            }
            Ok(None) => return,
            Err(_) => {
                assert_eq!(ring.pointers(), before);
                return;
            }
        }
    }
    panic!("more than 511 entries popped from a 511-entry ring");
});
