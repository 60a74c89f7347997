// SPDX-License-Identifier: Apache-2.0 OR MIT
//! How many synchronous ioreq pages a server needs for N vCPUs, where each vCPU's slot
//! lives, and which resource frames a device model maps with `XENMEM_acquire_resource`.

use crate::error::{Error, Result};
use crate::layout::{FRAME_BUFIOREQ, FRAME_IOREQ_BASE, IOREQ_SIZE, SLOTS_PER_PAGE};

/// [`SLOTS_PER_PAGE`] as the `u32` that vCPU numbers are.
const SLOTS_PER_PAGE_U32: u32 = 128;
const _: () = assert!(SLOTS_PER_PAGE_U32 as usize == SLOTS_PER_PAGE);

/// The largest vCPU count accepted: Xen's `MAX_VIRT_CPUS` on x86 (8192,
/// `xen/include/public/arch-x86/xen.h` via `xen/arch/x86/include/asm/config.h`), the most
/// vCPUs any x86 Xen domain can have. `HVM_MAX_VCPUS` (128) is today's HVM limit, the very
/// limit multi-page ioreq servers exist to lift, so it is not used here.
pub const MAX_VCPUS: u32 = 8192;

/// Where one vCPU's `ioreq_t` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotLocation {
    /// Index of the synchronous page (0-based) among the server's sync pages.
    pub page: u32,
    /// The `XENMEM_acquire_resource` frame index of that page: `1 + page`.
    pub frame: u64,
    /// Byte offset of the slot within its page.
    pub offset: usize,
}

/// The shape of an ioreq server's pages for a given number of vCPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageLayout {
    nr_vcpus: u32,
}

impl PageLayout {
    /// The layout for `nr_vcpus` vCPUs (from `XEN_DMOP_nr_vcpus`, not guest topology).
    pub fn new(nr_vcpus: u32) -> Result<Self> {
        if nr_vcpus == 0 || nr_vcpus > MAX_VCPUS {
            return Err(Error::BadVcpuCount(nr_vcpus));
        }
        Ok(Self { nr_vcpus })
    }

    /// The number of vCPUs.
    pub fn nr_vcpus(&self) -> u32 {
        self.nr_vcpus
    }

    /// Synchronous pages: `ceil(nr_vcpus / 128)`.
    pub fn sync_pages(&self) -> u32 {
        self.nr_vcpus.div_ceil(SLOTS_PER_PAGE_U32)
    }

    /// Resource frames of the whole server: the buffered page plus every sync page, the
    /// size Xen reports for a size query (`ioreq_server_max_frames`).
    pub fn resource_frames(&self) -> u32 {
        1 + self.sync_pages()
    }

    /// Frame index of the buffered page (`XENMEM_resource_ioreq_server_frame_bufioreq`).
    pub fn bufioreq_frame(&self) -> u64 {
        FRAME_BUFIOREQ
    }

    /// Frame indices of the sync pages (`..._frame_ioreq(n)` for each n), in order.
    pub fn sync_frames(&self) -> impl Iterator<Item = u64> + use<> {
        (0..u64::from(self.sync_pages())).map(|n| FRAME_IOREQ_BASE + n)
    }

    /// Where vCPU `vcpu`'s slot is.
    pub fn locate(&self, vcpu: u32) -> Result<SlotLocation> {
        if vcpu >= self.nr_vcpus {
            return Err(Error::NoSuchVcpu {
                vcpu,
                nr_vcpus: self.nr_vcpus,
            });
        }
        let page = vcpu / SLOTS_PER_PAGE_U32;
        Ok(SlotLocation {
            page,
            frame: FRAME_IOREQ_BASE + u64::from(page),
            offset: (vcpu % SLOTS_PER_PAGE_U32) as usize * IOREQ_SIZE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_from_the_reference_table() {
        for (n, pages) in [
            (1, 1),
            (128, 1),
            (129, 2),
            (256, 2),
            (288, 3),
            (512, 4),
            (4096, 32),
        ] {
            let layout = PageLayout::new(n).expect("valid count");
            assert_eq!(layout.sync_pages(), pages, "n = {n}");
            assert_eq!(layout.resource_frames(), pages + 1, "n = {n}");
            assert_eq!(
                layout.sync_frames().collect::<std::vec::Vec<_>>(),
                (1..=u64::from(pages)).collect::<std::vec::Vec<_>>()
            );
        }
    }

    #[test]
    fn locations() {
        let layout = PageLayout::new(288).expect("valid count");
        assert_eq!(
            layout.locate(0),
            Ok(SlotLocation {
                page: 0,
                frame: 1,
                offset: 0
            })
        );
        assert_eq!(
            layout.locate(127),
            Ok(SlotLocation {
                page: 0,
                frame: 1,
                offset: 4064
            })
        );
        assert_eq!(
            layout.locate(128),
            Ok(SlotLocation {
                page: 1,
                frame: 2,
                offset: 0
            })
        );
        assert_eq!(
            layout.locate(287),
            Ok(SlotLocation {
                page: 2,
                frame: 3,
                offset: 992
            })
        );
        assert_eq!(
            layout.locate(288),
            Err(Error::NoSuchVcpu {
                vcpu: 288,
                nr_vcpus: 288
            })
        );
        assert_eq!(
            PageLayout::new(1)
                .and_then(|l| l.locate(0))
                .map(|l| l.frame),
            Ok(1)
        );
        let big = PageLayout::new(4096).expect("valid count");
        assert_eq!(
            big.locate(4095),
            Ok(SlotLocation {
                page: 31,
                frame: 32,
                offset: 4064
            })
        );
    }

    #[test]
    fn rejects_zero_and_past_the_limit() {
        assert_eq!(PageLayout::new(0), Err(Error::BadVcpuCount(0)));
        assert_eq!(
            PageLayout::new(MAX_VCPUS + 1),
            Err(Error::BadVcpuCount(MAX_VCPUS + 1))
        );
        assert!(PageLayout::new(MAX_VCPUS).is_ok());
    }

    proptest! {
        /// Every vCPU has a distinct slot inside the pages, matching a naive flat index.
        #[test]
        fn slots_are_the_flat_array(n in 1u32..=MAX_VCPUS, v in 0u32..MAX_VCPUS) {
            let layout = PageLayout::new(n).expect("valid count");
            match layout.locate(v) {
                Ok(loc) => {
                    prop_assert!(v < n);
                    prop_assert!(loc.page < layout.sync_pages());
                    let flat = loc.page as usize * 4096 + loc.offset;
                    prop_assert_eq!(flat, v as usize * 32);
                }
                Err(e) => prop_assert_eq!(e, Error::NoSuchVcpu { vcpu: v, nr_vcpus: n }),
            }
        }
    }
}
