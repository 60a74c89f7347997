//! Raw label commands from inside the guest: builds `label_ioctl.c` (a static program
//! issuing ND_IOCTL_GET_CONFIG_SIZE / GET_CONFIG_DATA / SET_CONFIG_DATA on /dev/nmemN,
//! Linux `include/uapi/linux/ndctl.h`), reads back what it printed, and computes what
//! `LabelMethods` answers to the same request sequence.

use std::path::Path;
use std::process::Command;

use nvdimm_label::methods::{
    DSM_FN_GET_LABEL_DATA, DSM_FN_GET_LABEL_SIZE, DSM_FN_SET_LABEL_DATA, DSM_PAGE_SIZE,
    LabelMethods,
};

/// Compiles `label_ioctl.c` into `dir/bin/label-ioctl` (the harness puts `dir/bin/*`
/// into the guest's /bin). A missing C compiler is a missing peer: `None` after
/// `peer_skip::missing` (a failure under CI).
pub(crate) fn build(dir: &Path) -> Option<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/linux_support/label_ioctl.c");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(bin.join("label-ioctl"))
        .arg(&src)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => panic!("cc -static label_ioctl.c: {o:?}"),
        Err(e) => {
            peer_skip::missing("label-ioctl", &format!("no C compiler (cc): {e}"));
            None
        }
    }
}

/// A label request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// ND_CMD_GET_CONFIG_SIZE (Intel `_DSM` function 4, `_LSI`).
    Size,
    /// ND_CMD_GET_CONFIG_DATA (function 5, `_LSR`).
    Read,
    /// ND_CMD_SET_CONFIG_DATA (function 6, `_LSW`).
    Write,
}

impl Op {
    /// The Intel `_DSM` function.
    pub(crate) fn function(self) -> u32 {
        match self {
            Op::Size => DSM_FN_GET_LABEL_SIZE,
            Op::Read => DSM_FN_GET_LABEL_DATA,
            Op::Write => DSM_FN_SET_LABEL_DATA,
        }
    }
}

/// One line `label-ioctl` printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Line number of the request.
    pub(crate) seq: u32,
    pub(crate) op: Op,
    pub(crate) offset: u32,
    pub(crate) length: u32,
    /// The ioctl's return value.
    pub(crate) ret: i64,
    /// Its errno (0 on success).
    pub(crate) errno: i32,
    /// The firmware status the kernel copied back (`UNSET` if nothing did).
    pub(crate) status: u32,
    /// "size/max_xfer" for a size request, the FNV-1a hash of a successful read, or "-".
    pub(crate) extra: String,
}

/// What `label-ioctl` puts in the status field before the call.
pub(crate) const UNSET: u32 = u32::MAX;

impl Reply {
    /// The kernel refused the request before any firmware call: the ioctl failed and
    /// the status field is untouched.
    pub(crate) fn kernel_refused(&self) -> bool {
        self.ret < 0 && self.status == UNSET
    }
}

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

/// Parses `label-ioctl`'s output.
pub(crate) fn parse(out: &str) -> Vec<Reply> {
    out.lines()
        .map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [seq, op, offset, length, ret, errno, status, extra] = w[..] else {
                panic!("label-ioctl line {line:?}");
            };
            Reply {
                seq: seq.parse().unwrap(),
                op: match op {
                    "size" => Op::Size,
                    "read" => Op::Read,
                    "write" => Op::Write,
                    _ => panic!("label-ioctl op {op}"),
                },
                offset: num(offset) as u32,
                length: num(length) as u32,
                ret: ret.parse().unwrap(),
                errno: errno.parse().unwrap(),
                status: num(status) as u32,
                extra: extra.to_owned(),
            }
        })
        .collect()
}

/// The byte `label-ioctl` writes at area position `pos` for request `seq`.
fn pattern(seq: u32, pos: u32) -> u8 {
    (pos.wrapping_mul(7)
        .wrapping_add(seq.wrapping_mul(29))
        .wrapping_add(3)
        & 0xff) as u8
}

/// The data `label-ioctl` sends with write request `seq` (only what it allocates).
fn write_data(r: &Reply) -> Vec<u8> {
    (0..r.length)
        .map(|i| pattern(r.seq, r.offset.wrapping_add(i)))
        .collect()
}

/// FNV-1a 64, as `label-ioctl` prints it.
pub(crate) fn fnv1a(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Which label methods the model answers through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Methods {
    /// Intel `_DSM` functions 4, 5, 6: status 3 for invalid input.
    IntelDsm,
    /// `_LSI`, `_LSR`, `_LSW`: status 2 for invalid input (ACPI 6.4 §6.5.10). Linux
    /// flattens the reply package into the same status field (`pkg_to_buf` in
    /// `drivers/acpi/nfit/core.c`).
    Ls,
}

/// `LabelMethods`' answer to one request: (status, what `label-ioctl` would print as
/// EXTRA).
pub(crate) fn ours(m: &mut LabelMethods<Vec<u8>>, methods: Methods, r: &Reply) -> (u32, String) {
    let (offset, length) = (u64::from(r.offset), u64::from(r.length));
    let data = (r.op == Op::Write).then(|| write_data(r));
    let mut out = vec![0u8; DSM_PAGE_SIZE.max(r.length as usize + 4)];
    let (status, read) = match (methods, r.op) {
        (Methods::Ls, Op::Size) => {
            let info = m.lsi();
            let extra = format!("{:#x}/{:#x}", info.size, info.max_transfer);
            return (info.status as u32, extra);
        }
        (Methods::Ls, Op::Read) => (m.lsr(offset, length, &mut out) as u32, &out[..]),
        (Methods::Ls, Op::Write) => (m.lsw(offset, length, &data.unwrap()) as u32, &out[..0]),
        (Methods::IntelDsm, op) => {
            let mut arg = [r.offset.to_le_bytes(), r.length.to_le_bytes()].concat();
            if op == Op::Size {
                arg.clear();
            }
            arg.extend(data.unwrap_or_default());
            let n = m.dsm(1, u64::from(op.function()), &arg, &mut out);
            let status = u32::from_le_bytes(out[..4].try_into().unwrap());
            if op == Op::Size {
                let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
                return (status, format!("{:#x}/{:#x}", word(4), word(8)));
            }
            (status, &out[4..n])
        }
    };
    let extra = if r.op == Op::Read && status == 0 {
        fnv1a(&read[..r.length as usize])
    } else {
        "-".to_owned()
    };
    (status, extra)
}
