// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `alloc` half of the proof: a global allocator and one call into each alloc-gated
//! API, so their code is compiled into the artifact without `std`.

extern crate alloc;

use alloc::alloc::{GlobalAlloc, Layout};
use alloc::vec;
use nvdimm_label::{InitStyle, LabelVersion, Lsa};
use x2apic_virt::lookup::DestinationMap;
use x2apic_virt::policy::{IdScheme, Plan};

/// The allocator a `no_std` artifact that links `alloc` must name. The artifact is never
/// run, so every allocation simply fails (a null pointer is `GlobalAlloc`'s failure
/// value, and `alloc`'s handler then aborts).
#[derive(Debug)]
pub struct NoHeap;

// SAFETY: `alloc` never returns memory (null is the permitted failure result), so no
// layout contract can be broken, and `dealloc` is only ever given pointers from `alloc`,
// of which there are none.
unsafe impl GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[cfg(feature = "link-proof")]
#[global_allocator]
static HEAP: NoHeap = NoHeap;

/// Lays out a v1.2 label area of 128 KiB, parses it back, plans `vcpus` x2APIC IDs and
/// builds an empty destination map: the alloc-gated APIs of both crates. Returns the
/// number of namespaces and APIC IDs seen. Exported unmangled so that its code, and the
/// code it calls, is compiled into the staticlib; it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn hugevm_nostd_alloc_exercise(vcpus: u32) -> usize {
    let mut area = vec![0u8; 128 * 1024];
    let namespaces = nvdimm_label::init(&mut area, LabelVersion::V1_2, InitStyle::Kernel)
        .ok()
        .and_then(|()| Lsa::parse(&area).ok())
        .map_or(0, |lsa| lsa.namespaces().len());
    let ids = Plan::new(vcpus, IdScheme::Dense).map_or(0, |plan| plan.apic_ids().len());
    namespaces + ids + DestinationMap::build(&[]).len()
}
