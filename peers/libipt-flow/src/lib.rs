// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only peer: Debian's libipt 2.0.5 (`libipt-dev`) **query decoder** and
//! **instruction-flow decoder**, through a small C shim (`src/shim.c`) that flattens
//! libipt's `struct pt_event` (a union with bitfields) so no layout is guessed on the
//! Rust side.
//!
//! - [`query`] reads a trace the way a decoder without the code image can: events
//!   whenever libipt says one is pending, otherwise a conditional branch, or an indirect
//!   branch when libipt refuses the conditional query (`-pte_bad_query`: the next
//!   query-relevant packet is a TIP).
//! - [`insn_flow`] reconstructs the executed instruction addresses from a trace and a
//!   code image (`pt_insn_next` with memory read through `pt_image_set_callback`).
//!
//! Used by `tests/query.rs` (the fabricator against libipt) and by the root package's
//! `examples/pt_trace.rs`. Not published; no library depends on it.
#![allow(unsafe_code)]

use pt_virt::fabricate::ExecMode;

/// One record of the shim (`struct flow_item` in `shim.c`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Item {
    what: u32,
    kind: u32,
    flags: u32,
    pad: u32,
    a: u64,
    b: u64,
    c: u64,
}

unsafe extern "C" {
    fn flow_query(
        buf: *const u8,
        len: usize,
        out: *mut Item,
        cap: usize,
        count: *mut usize,
        offset: *mut u64,
    ) -> core::ffi::c_long;
    #[allow(clippy::too_many_arguments)]
    fn flow_insn(
        buf: *const u8,
        len: usize,
        code: *const u8,
        code_len: usize,
        code_base: u64,
        ips: *mut u64,
        cap: usize,
        count: *mut usize,
        offset: *mut u64,
        events: *mut u64,
    ) -> core::ffi::c_long;
    fn flow_errstr(code: core::ffi::c_long) -> *const core::ffi::c_char;
}

/// `enum pt_event_type` values of libipt 2.0.5 (`intel-pt.h`).
mod ptev {
    pub(crate) const ENABLED: u32 = 0;
    pub(crate) const DISABLED: u32 = 1;
    pub(crate) const ASYNC_DISABLED: u32 = 2;
    pub(crate) const ASYNC_BRANCH: u32 = 3;
    pub(crate) const PAGING: u32 = 4;
    pub(crate) const ASYNC_PAGING: u32 = 5;
    pub(crate) const OVERFLOW: u32 = 6;
    pub(crate) const EXEC_MODE: u32 = 7;
}

/// What libipt's query decoder reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `ptev_enabled` at `ip`.
    Enabled {
        /// Where tracing resumes.
        ip: u64,
        /// `status_update`: from a PSB+.
        status: bool,
    },
    /// `ptev_disabled` (`ip` = `None` when suppressed).
    Disabled {
        /// The IP, if not suppressed.
        ip: Option<u64>,
    },
    /// `ptev_async_disabled` at `at`.
    AsyncDisabled {
        /// Source of the asynchronous transfer.
        at: u64,
        /// The IP, if not suppressed.
        ip: Option<u64>,
    },
    /// `ptev_async_branch`.
    AsyncBranch {
        /// Source.
        from: u64,
        /// Destination.
        to: u64,
    },
    /// `ptev_paging` or `ptev_async_paging`.
    Paging {
        /// CR3 (bits 4:0 zero).
        cr3: u64,
        /// VMX non-root.
        non_root: bool,
        /// `ptev_async_paging`.
        is_async: bool,
        /// `status_update`: from a PSB+.
        status: bool,
    },
    /// `ptev_overflow` (`ip` = `None` when it resolved while tracing was disabled).
    Overflow {
        /// Where tracing resumes.
        ip: Option<u64>,
    },
    /// `ptev_exec_mode`.
    ExecMode {
        /// The mode (`None` for `ptem_unknown`).
        mode: Option<ExecMode>,
        /// `status_update`: from a PSB+.
        status: bool,
    },
    /// Another event type (`enum pt_event_type` value).
    Other(u32),
    /// `pt_qry_cond_branch`.
    Cond(bool),
    /// `pt_qry_indirect_branch` (`None` when the IP is suppressed).
    Indirect(Option<u64>),
}

/// A libipt error: the negative `pt_error_code`, its message, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibiptError {
    /// The negative error code.
    pub code: core::ffi::c_long,
    /// `pt_errstr`.
    pub message: String,
    /// The decoder's offset when it failed.
    pub offset: u64,
}

impl core::fmt::Display for LibiptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "libipt error {} ({}) at offset {:#x}",
            self.code, self.message, self.offset
        )
    }
}

impl core::error::Error for LibiptError {}

fn error(code: core::ffi::c_long, offset: u64) -> LibiptError {
    // SAFETY:
    // - `flow_errstr` takes any integer and only calls `pt_errstr(pt_errcode(code))`.
    let text = unsafe { flow_errstr(code) };
    // SAFETY:
    // - `pt_errstr` returns a pointer to a static, NUL-terminated string for every code
    //   (an "unknown error" string for unknown ones), valid for the program's lifetime.
    let message = unsafe { core::ffi::CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    LibiptError {
        code,
        message,
        offset,
    }
}

fn exec_mode(mode: u64) -> Option<ExecMode> {
    match mode {
        1 => Some(ExecMode::Bits16),
        2 => Some(ExecMode::Bits32),
        3 => Some(ExecMode::Bits64),
        _ => None,
    }
}

fn to_query(it: &Item) -> Query {
    let suppressed = it.flags & 1 != 0;
    let status = it.flags & 2 != 0;
    let ip = |v: u64| (!suppressed).then_some(v);
    match (it.what, it.kind) {
        (1, _) => Query::Cond(it.a != 0),
        (2, _) => Query::Indirect(ip(it.a)),
        (_, ptev::ENABLED) => Query::Enabled { ip: it.a, status },
        (_, ptev::DISABLED) => Query::Disabled { ip: ip(it.a) },
        (_, ptev::ASYNC_DISABLED) => Query::AsyncDisabled {
            at: it.a,
            ip: ip(it.b),
        },
        (_, ptev::ASYNC_BRANCH) => Query::AsyncBranch {
            from: it.a,
            to: it.b,
        },
        (_, kind @ (ptev::PAGING | ptev::ASYNC_PAGING)) => Query::Paging {
            cr3: it.a,
            non_root: it.b != 0,
            is_async: kind == ptev::ASYNC_PAGING,
            status,
        },
        (_, ptev::OVERFLOW) => Query::Overflow { ip: ip(it.a) },
        (_, ptev::EXEC_MODE) => Query::ExecMode {
            mode: exec_mode(it.a),
            status,
        },
        (_, other) => Query::Other(other),
    }
}

/// Runs libipt's query decoder over `trace` from its first PSB to its end.
pub fn query(trace: &[u8]) -> Result<Vec<Query>, LibiptError> {
    // Every query consumes at least one bit or one byte, and every event at least one
    // packet byte, so this bounds the output.
    let cap = trace.len().saturating_mul(8).saturating_add(16);
    let mut items = vec![Item::default(); cap];
    let (mut count, mut offset) = (0usize, 0u64);
    // SAFETY:
    // - `trace` is a live slice of `trace.len()` bytes that libipt only reads;
    // - `items` has room for `cap` records of the shim's `struct flow_item` layout
    //   (`Item` is `repr(C)` with the same four u32 and three u64 fields);
    // - `count` and `offset` are valid for writes.
    let rc = unsafe {
        flow_query(
            trace.as_ptr(),
            trace.len(),
            items.as_mut_ptr(),
            cap,
            &mut count,
            &mut offset,
        )
    };
    if rc < 0 {
        return Err(error(rc, offset));
    }
    Ok(items.iter().take(count).map(to_query).collect())
}

/// Runs the same loop as [`query`] without storing the answers (the baseline of the
/// event-layer benchmark); returns how many there were.
pub fn query_count(trace: &[u8]) -> Result<usize, LibiptError> {
    let (mut count, mut offset) = (0usize, 0u64);
    // SAFETY:
    // - `trace` is a live slice of `trace.len()` bytes that libipt only reads;
    // - a null `out` makes the shim count answers without storing them (capacity 0);
    // - `count` and `offset` are valid for writes.
    let rc = unsafe {
        flow_query(
            trace.as_ptr(),
            trace.len(),
            core::ptr::null_mut(),
            0,
            &mut count,
            &mut offset,
        )
    };
    if rc < 0 {
        return Err(error(rc, offset));
    }
    Ok(count)
}

/// The instruction addresses libipt's instruction-flow decoder reconstructs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The IP of every instruction, in order.
    pub ips: Vec<u64>,
    /// How many events (`pt_insn_event`) it reported on the way.
    pub events: u64,
}

/// Runs libipt's instruction-flow decoder over `trace` with `code` mapped at
/// `code_base` (for every address space), keeping at most `max_insns` instructions.
pub fn insn_flow(
    trace: &[u8],
    code: &[u8],
    code_base: u64,
    max_insns: usize,
) -> Result<Flow, LibiptError> {
    let mut ips = vec![0u64; max_insns];
    let (mut count, mut offset, mut events) = (0usize, 0u64, 0u64);
    // SAFETY:
    // - `trace` and `code` are live slices that libipt and the shim only read, and they
    //   outlive the call (the decoder and its image are freed before it returns);
    // - `ips` has room for `max_insns` u64 values;
    // - `count`, `offset` and `events` are valid for writes.
    let rc = unsafe {
        flow_insn(
            trace.as_ptr(),
            trace.len(),
            code.as_ptr(),
            code.len(),
            code_base,
            ips.as_mut_ptr(),
            max_insns,
            &mut count,
            &mut offset,
            &mut events,
        )
    };
    if rc < 0 {
        return Err(error(rc, offset));
    }
    ips.truncate(count);
    Ok(Flow { ips, events })
}
