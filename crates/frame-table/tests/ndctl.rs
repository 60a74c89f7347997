// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Differential test against the real peer: `ndctl write-infoblock --stdout` (ndctl's own
//! copy of the kernel's `nd_pfn_init`) must produce byte for byte what
//! `PfnInfo::init` + `emit` produce, and our parser must read ndctl's blocks.
//! Without `ndctl` (`scripts/deps.sh` installs it) the tests fail under CI and skip
//! loudly elsewhere, counted in the skip log (`peer_skip`).
#![allow(clippy::unwrap_used)]

use frame_table::layout::COMPAT_ALIGN_X86;
use frame_table::layout::INFO_BLOCK_SIZE;
use frame_table::{InitParams, NamespaceGeometry, Personality, PfnInfo, PfnMode};
use std::process::Command;

/// Why the tests cannot run without ndctl.
const NO_NDCTL: &str = "no ndctl (install it with scripts/deps.sh)";

const UUID: &str = "42e1d574-76ac-402c-9132-5436e31528c0";
const UUID_BYTES: [u8; 16] = [
    0x42, 0xe1, 0xd5, 0x74, 0x76, 0xac, 0x40, 0x2c, 0x91, 0x32, 0x54, 0x36, 0xe3, 0x15, 0x28, 0xc0,
];

/// ndctl's image (8 KiB: zero page, info block), `Some(Err)` when ndctl refuses, `None`
/// when ndctl is not installed.
fn ndctl(size: u64, align: u32, dax: bool, dev: bool) -> Option<Result<Vec<u8>, String>> {
    let out = Command::new("ndctl")
        .args(["write-infoblock", "--stdout", "-u", UUID])
        .arg(format!("--size={size}"))
        .arg(format!("--align={align}"))
        .arg(if dax { "--mode=devdax" } else { "--mode=fsdax" })
        .arg(if dev { "--map=dev" } else { "--map=mem" })
        .output()
        .ok()?;
    if out.status.success() {
        Some(Ok(out.stdout))
    } else {
        Some(Err(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

#[test]
fn ndctl_write_infoblock_matches() {
    if !peer_skip::command_exists("ndctl", &["--version"]) {
        peer_skip::missing("ndctl_write_infoblock_matches", NO_NDCTL);
        return;
    }
    let mut compared = 0;
    for size in [
        1u64 << 40,
        16 << 30,
        (6 << 40) + (6 << 20),
        130 << 20,
        1 << 30,
    ] {
        for align in [4096u32, 2 << 20, 16 << 20, 1 << 30] {
            for dax in [false, true] {
                for dev in [true, false] {
                    let image = ndctl(size, align, dax, dev).unwrap();
                    let refused = image.is_err();
                    let params = InitParams {
                        personality: if dax {
                            Personality::Devdax
                        } else {
                            Personality::Fsdax
                        },
                        mode: if dev { PfnMode::Pmem } else { PfnMode::Ram },
                        uuid: UUID_BYTES,
                        namespace: NamespaceGeometry {
                            start: 0,
                            size,
                            uuid: [0; 16],
                            compat_align: COMPAT_ALIGN_X86,
                        },
                        align,
                    };
                    let ours = PfnInfo::init(&params);
                    let image = image.unwrap_or_default();
                    let theirs = PfnInfo::parse_namespace(&image);
                    let what = format!("size {size:#x} align {align:#x} dax {dax} dev {dev}");
                    match (ours, theirs) {
                        (Ok(ours), Ok(theirs)) => {
                            assert_eq!(ours, theirs, "{what}");
                            let mut block = [0u8; INFO_BLOCK_SIZE];
                            ours.emit(&mut block).unwrap();
                            assert_eq!(&block[..], &image[4096..8192], "{what}: bytes");
                            compared += 1;
                        }
                        (Err(_), Err(_)) => assert!(refused, "{what}: ndctl wrote a bad block"),
                        (o, t) => panic!("{what}: ours {o:?}, ndctl {t:?}"),
                    }
                }
            }
        }
    }
    println!("compared {compared} ndctl info blocks byte for byte");
    assert!(compared >= 40);
}

/// The documentation's example, on this machine's ndctl (x86: 2 MiB compat alignment).
#[test]
fn ndctl_one_tib_default() {
    let Some(image) = ndctl(1 << 40, 16 << 20, false, true) else {
        peer_skip::missing("ndctl_one_tib_default", NO_NDCTL);
        return;
    };
    let info = PfnInfo::parse_namespace(&image.unwrap()).unwrap();
    assert_eq!(
        (info.dataoff, info.npfns, info.mode),
        (17_196_646_400, 264_237_056, PfnMode::Pmem)
    );
}

/// ndctl's blocks, committed (see `tests/data/README.md`): parsed, validated, and equal
/// byte for byte to what `init` + `emit` produce for the same parameters.
#[test]
fn committed_ndctl_fixtures() {
    /// Bytes, namespace size, align, personality, mode, expected dataoff and npfns.
    type Fixture = (&'static [u8], u64, u32, Personality, PfnMode, u64, u64);
    let cases: [Fixture; 2] = [
        (
            include_bytes!("data/ndctl-1T-16M-fsdax-dev.bin"),
            1 << 40,
            16 << 20,
            Personality::Fsdax,
            PfnMode::Pmem,
            17_196_646_400,
            264_237_056,
        ),
        (
            include_bytes!("data/ndctl-16G-1G-devdax-mem.bin"),
            16 << 30,
            1 << 30,
            Personality::Devdax,
            PfnMode::Ram,
            1 << 30,
            (15 << 30) / 4096,
        ),
    ];
    for (bytes, size, align, personality, mode, dataoff, npfns) in cases {
        let theirs = PfnInfo::parse(bytes).unwrap();
        assert_eq!((theirs.dataoff, theirs.npfns), (dataoff, npfns));
        let namespace = NamespaceGeometry {
            start: 0,
            size,
            uuid: [0; 16],
            compat_align: COMPAT_ALIGN_X86,
        };
        theirs.validate(&namespace).unwrap();
        let ours = PfnInfo::init(&InitParams {
            personality,
            mode,
            uuid: UUID_BYTES,
            namespace,
            align,
        })
        .unwrap();
        let mut block = [0u8; INFO_BLOCK_SIZE];
        ours.emit(&mut block).unwrap();
        assert_eq!(&block[..], bytes);
    }
}
