// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only peer: the C compiler's view of Xen's `<xen/hvm/ioreq.h>`, from a small C
//! probe (`src/abi.c`) built against Debian's libxen-dev, with safe wrappers. The tests in
//! `tests/abi.rs` compare it with the `ioreq` crate. Not published.
#![allow(unsafe_code)]

unsafe extern "C" {
    fn xen_abi_layout(out: *mut u64, cap: usize) -> usize;
    fn xen_ioreq_image(
        addr: u64,
        data: u64,
        count: u32,
        size: u32,
        port: u32,
        state: u8,
        data_is_ptr: u8,
        dir: u8,
        df: u8,
        kind: u8,
        out: *mut [u8; 32],
    );
    fn xen_ioreq_bits(bytes: *const [u8; 32], out: *mut [u8; 5]);
    fn xen_buf_ioreq_image(kind: u8, dir: u8, size: u8, addr: u32, data: u32) -> u64;
}

/// How many values [`layout`] returns.
pub const LAYOUT_LEN: usize = 27;

/// Sizes, offsets and constants as the C compiler sees them, in `abi.c`'s order. The
/// offset of `ioreq_t`'s bitfield byte (`state`, `data_is_ptr`, `dir`, `df`), which
/// `offsetof` cannot take, is found by setting those fields and looking for the byte
/// that changed.
pub fn layout() -> [u64; LAYOUT_LEN] {
    let mut out = [0u64; LAYOUT_LEN];
    // SAFETY:
    // - `out` is a live, writable array of `LAYOUT_LEN` u64s and the function writes at
    //   most `cap` of them.
    let len = unsafe { xen_abi_layout(out.as_mut_ptr(), LAYOUT_LEN) };
    assert_eq!(
        len, LAYOUT_LEN,
        "abi.c and this wrapper list the same entries"
    );
    out
}

/// The fields of an `ioreq_t` that the C bitfields define, for [`ioreq_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// `addr`.
    pub addr: u64,
    /// `data`.
    pub data: u64,
    /// `count`.
    pub count: u32,
    /// `size`.
    pub size: u32,
    /// `vp_eport`.
    pub port: u32,
    /// `state` (4 bits).
    pub state: u8,
    /// `data_is_ptr` (1 bit).
    pub data_is_ptr: u8,
    /// `dir` (1 bit).
    pub dir: u8,
    /// `df` (1 bit).
    pub df: u8,
    /// `type`.
    pub kind: u8,
}

/// The bytes C produces for `fields`, assigned through its bitfields.
pub fn ioreq_image(f: &Fields) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY:
    // - `out` is a live, writable 32-byte array, which is all the function writes.
    unsafe {
        xen_ioreq_image(
            f.addr,
            f.data,
            f.count,
            f.size,
            f.port,
            f.state,
            f.data_is_ptr,
            f.dir,
            f.df,
            f.kind,
            &mut out,
        )
    };
    out
}

/// `[state, data_is_ptr, dir, df, type]` as C reads them from `bytes`.
pub fn ioreq_bits(bytes: &[u8; 32]) -> [u8; 5] {
    let mut out = [0u8; 5];
    // SAFETY:
    // - `bytes` is a readable 32-byte array and `out` a writable 5-byte array, exactly
    //   what the function reads and writes.
    unsafe { xen_ioreq_bits(bytes, &mut out) };
    out
}

/// The 8 bytes (as a little-endian u64) C produces for a `buf_ioreq_t`.
pub fn buf_ioreq_image(kind: u8, dir: u8, size_log2: u8, addr: u32, data: u32) -> u64 {
    // SAFETY:
    // - The function takes integers by value and touches no memory of ours.
    unsafe { xen_buf_ioreq_image(kind, dir, size_log2, addr, data) }
}
