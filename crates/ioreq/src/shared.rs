// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Laying the page types over memory that is mapped elsewhere: the crate's only `unsafe`.
//!
//! A device model maps the server's frames (privcmd `IOCTL_PRIVCMD_MMAP_RESOURCE`, or a
//! file with `memmap2` in tests) and gets a pointer. [`IoreqPage::from_raw`] and
//! [`BufferedPage::from_raw`] turn it into references whose every access is atomic;
//! [`IoreqPage::from_bytes`] and [`BufferedPage::from_bytes`] do the same, safely, for a
//! buffer this process owns exclusively.
#![allow(unsafe_code)]

use crate::cell::{BufferedPage, IoreqPage};
use crate::error::{Error, Result};
use crate::layout::PAGE_SIZE;

/// Checks that `ptr .. ptr + len` can hold `pages` page-aligned pages.
fn check_region(ptr: *const u8, len: usize, pages: usize) -> Result<()> {
    let addr = ptr as usize;
    let fits = pages.checked_mul(PAGE_SIZE).is_some_and(|need| need <= len);
    if ptr.is_null() || !addr.is_multiple_of(PAGE_SIZE) || !fits {
        return Err(Error::BadRegion { addr, len, pages });
    }
    Ok(())
}

macro_rules! page_views {
    ($page:ty) => {
        impl $page {
            /// Views `pages` consecutive pages starting at `ptr`, mapped by someone else.
            ///
            /// Fails if `ptr` is null or not 4 KiB aligned.
            ///
            /// # Safety
            /// - `ptr .. ptr + pages * 4096` must stay mapped, readable and writable for
            ///   `'a`.
            /// - Within this process, that memory must be accessed only through the
            ///   returned references (or other references made by this function) for
            ///   `'a`; other processes and the hypervisor may write it at any time, which
            ///   is why every field is an atomic.
            pub unsafe fn from_raw<'a>(ptr: *mut u8, pages: usize) -> Result<&'a [Self]> {
                check_region(ptr, usize::MAX, pages)?;
                // SAFETY:
                // - Alignment: `check_region` proved `ptr` 4096-aligned, the type's
                //   alignment, and non-null.
                // - Validity: the type consists of atomic integers only, for which every
                //   bit pattern is valid, and has no padding (asserted in `cell`).
                // - Liveness and aliasing: the caller promises the range stays mapped for
                //   `'a` and is touched in this process only through shared references to
                //   these atomics; `pages * 4096` does not overflow (checked).
                let views = unsafe { core::slice::from_raw_parts(ptr.cast::<Self>(), pages) };
                Ok(views)
            }

            /// Views a buffer owned by this process as pages, for in-process use (tests,
            /// an emulator and a device model in one program). The buffer must be 4 KiB
            /// aligned and hold `pages` pages.
            pub fn from_bytes(bytes: &mut [u8], pages: usize) -> Result<&[Self]> {
                check_region(bytes.as_ptr(), bytes.len(), pages)?;
                // SAFETY:
                // - Alignment, non-null and length: checked by `check_region` against the
                //   slice's own length.
                // - Validity: atomics only, every bit pattern valid, no padding.
                // - Aliasing: the exclusive borrow of `bytes` is given up for the returned
                //   lifetime, so nothing else in this process can reach the memory; all
                //   access through the result is atomic.
                let views = unsafe {
                    core::slice::from_raw_parts(bytes.as_mut_ptr().cast::<Self>(), pages)
                };
                Ok(views)
            }
        }
    };
}

page_views!(IoreqPage);
page_views!(BufferedPage);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Ordering;

    #[repr(C, align(4096))]
    struct Aligned([u8; 2 * PAGE_SIZE]);

    #[test]
    fn views_owned_bytes_at_the_abi_offsets() {
        let mut buf = Aligned([0; 2 * PAGE_SIZE]);
        buf.0[PAGE_SIZE + 32 + 30] = 0x21;
        buf.0[PAGE_SIZE + 32 + 24] = 9;
        let pages = IoreqPage::from_bytes(&mut buf.0, 2).expect("aligned");
        assert_eq!(pages[1].slots[1].flags.load(Ordering::Relaxed), 0x21);
        assert_eq!(pages[1].slots[1].vp_eport.load(Ordering::Relaxed), 9);
    }

    #[test]
    fn rejects_short_or_misaligned_regions() {
        let mut buf = Aligned([0; 2 * PAGE_SIZE]);
        assert!(matches!(
            IoreqPage::from_bytes(&mut buf.0, 3),
            Err(Error::BadRegion { pages: 3, .. })
        ));
        assert!(matches!(
            BufferedPage::from_bytes(&mut buf.0[8..], 1),
            Err(Error::BadRegion { .. })
        ));
        assert!(matches!(
            IoreqPage::from_bytes(&mut buf.0, usize::MAX),
            Err(Error::BadRegion { .. })
        ));
    }
}
