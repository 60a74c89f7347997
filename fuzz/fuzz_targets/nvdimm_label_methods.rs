// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary guest label calls (`_LSR`, `_LSW`, Intel `_DSM`, shared-page requests)
//! against one DIMM: no call panics, every status matches the specification's checks,
//! and no call changes a byte outside the range it was allowed to write.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nvdimm_label::methods::{DSM_PAGE_SIZE, LabelMethods, LsStatus, serve_dsm_page};

#[derive(Debug, Arbitrary)]
enum Call {
    Lsr {
        offset: u64,
        length: u64,
        buf: u16,
    },
    Lsw {
        offset: u64,
        length: u64,
        data: Vec<u8>,
    },
    Dsm {
        revision: u64,
        function: u64,
        arg: Vec<u8>,
        out: u16,
    },
    Page {
        handle: u32,
        revision: u32,
        function: u32,
        arg: Vec<u8>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Area size above the 1024-byte minimum, in bytes.
    extra: u16,
    max_transfer: u16,
    calls: Vec<Call>,
}

fuzz_target!(|input: Input| {
    let size = 1024 + usize::from(input.extra);
    let area: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let Ok(mut m) = LabelMethods::new(area.clone(), u32::from(input.max_transfer)) else {
        assert_eq!(input.max_transfer, 0);
        return;
    };
    let max = u64::from(m.lsi().max_transfer);
    let valid =
        |off: u64, len: u64| len <= max && off.checked_add(len).is_some_and(|e| e <= size as u64);
    let mut model = area;
    for call in input.calls.into_iter().take(64) {
        match call {
            Call::Lsr {
                offset,
                length,
                buf,
            } => {
                let mut out = vec![0u8; usize::from(buf)];
                let ok = valid(offset, length) && length <= u64::from(buf);
                let status = m.lsr(offset, length, &mut out);
                assert_eq!(status == LsStatus::Success, ok);
                if ok {
                    let r = offset as usize..(offset + length) as usize;
                    assert_eq!(&out[..length as usize], &model[r]);
                }
            }
            Call::Lsw {
                offset,
                length,
                data,
            } => {
                let ok = valid(offset, length) && length <= data.len() as u64;
                assert_eq!(m.lsw(offset, length, &data) == LsStatus::Success, ok);
                if ok {
                    model[offset as usize..(offset + length) as usize]
                        .copy_from_slice(&data[..length as usize]);
                }
            }
            Call::Dsm {
                revision,
                function,
                arg,
                out,
            } => {
                let mut buf = vec![0u8; usize::from(out)];
                let n = m.dsm(revision, function, &arg, &mut buf);
                assert!(n <= buf.len());
                if revision == 1 && function == 6 && n == 4 && buf[..4] == [0; 4] {
                    let off = u32::from_le_bytes(arg[..4].try_into().unwrap()) as usize;
                    let len = u32::from_le_bytes(arg[4..8].try_into().unwrap()) as usize;
                    model[off..off + len].copy_from_slice(&arg[8..8 + len]);
                }
            }
            Call::Page {
                handle,
                revision,
                function,
                arg,
            } => {
                let mut page = [0u8; DSM_PAGE_SIZE];
                page[..4].copy_from_slice(&handle.to_le_bytes());
                page[4..8].copy_from_slice(&revision.to_le_bytes());
                page[8..12].copy_from_slice(&function.to_le_bytes());
                let n = arg.len().min(DSM_PAGE_SIZE - 12);
                page[12..12 + n].copy_from_slice(&arg[..n]);
                // The page's argument is always its 4084 bytes (zeros past `arg`).
                let arg3 = page[12..].to_vec();
                serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut m));
                let len = u32::from_le_bytes(page[..4].try_into().unwrap()) as usize;
                assert!((8..=DSM_PAGE_SIZE).contains(&len));
                let status = u32::from_le_bytes(page[4..8].try_into().unwrap());
                if handle == 1 && revision == 1 && function == 6 && status == 0 {
                    let off = u32::from_le_bytes(arg3[..4].try_into().unwrap()) as usize;
                    let len = u32::from_le_bytes(arg3[4..8].try_into().unwrap()) as usize;
                    model[off..off + len].copy_from_slice(&arg3[8..8 + len]);
                }
            }
        }
        let mut now = vec![0u8; size];
        now.copy_from_slice(m.storage());
        assert_eq!(now, model, "a call changed bytes it was not allowed to");
    }
});
