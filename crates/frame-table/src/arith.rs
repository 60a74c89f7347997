// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Checked arithmetic on byte counts and addresses, shared by the planner, the info-block
//! geometry and the paging-structure cost model. A result that does not fit 64 bits is an
//! [`Overflow`] naming the quantity; each module's error type converts it into its own
//! `Overflow` variant, so `?` works everywhere.

/// A size computation that did not fit 64 bits, naming the quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow(pub(crate) &'static str);

/// `a + b`, checked.
pub(crate) fn add(a: u64, b: u64, what: &'static str) -> Result<u64, Overflow> {
    a.checked_add(b).ok_or(Overflow(what))
}

/// `a - b`, checked.
pub(crate) fn sub(a: u64, b: u64, what: &'static str) -> Result<u64, Overflow> {
    a.checked_sub(b).ok_or(Overflow(what))
}

/// `a * b`, checked.
pub(crate) fn mul(a: u64, b: u64, what: &'static str) -> Result<u64, Overflow> {
    a.checked_mul(b).ok_or(Overflow(what))
}

/// `ALIGN(x, align)` for a power-of-two `align`, checked.
pub(crate) fn align_up(x: u64, align: u64) -> Result<u64, Overflow> {
    let mask = align.wrapping_sub(1);
    Ok(add(x, mask, "align_up")? & !mask)
}

/// `ALIGN_DOWN(x, align)` for a power-of-two `align`.
pub(crate) const fn align_down(x: u64, align: u64) -> u64 {
    x & !align.wrapping_sub(1)
}
