// SPDX-License-Identifier: Apache-2.0 OR MIT
//! An arbitrary label area: parsing must never panic, and whatever it accepts must be
//! consistent (namespaces made of active labels, active labels that re-emit to bytes
//! that parse back to themselves). The first byte picks the area's treatment: bit 0
//! reseals every index and label checksum so the fuzzer reaches the label and namespace
//! rules past the Fletcher64 checks; bit 1 also classifies the data as a namespace start.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvdimm_label::{Content, Label, Lsa, classify, fletcher64_skipping, parse_label};

/// Recomputes the checksum of every 256-byte index block candidate and label slot.
fn reseal(area: &mut [u8]) {
    for (i, chunk) in area.chunks_exact_mut(256).enumerate() {
        let at = if i < 2 { 64 } else { 248 };
        let sum = fletcher64_skipping(chunk, at);
        chunk[at..at + 8].copy_from_slice(&sum.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut area = rest.to_vec();
    if mode & 1 != 0 {
        reseal(&mut area);
    }
    if mode & 2 != 0 {
        let _: Content = classify(&area, nvdimm_label::Uuid::NIL, None, true);
    }
    let Ok(lsa) = Lsa::parse(&area) else { return };
    let version = lsa.version();
    for label in lsa.labels() {
        let mut buf = vec![0u8; version.label_size()];
        label
            .emit(version, &mut buf)
            .expect("a parsed label re-emits");
        assert_eq!(parse_label(&buf, version, label.slot()), Ok(label));
    }
    // Every kept slot decodes again from the parsed copy: the views' lengths are exact.
    assert_eq!(lsa.labels().iter().count(), lsa.labels().len());
    assert_eq!(lsa.namespaces().iter().count(), lsa.namespaces().len());
    for ns in lsa.namespaces() {
        for extent in ns.extents.iter() {
            assert!(lsa.labels().iter().any(|l| matches!(
                l,
                Label::Namespace(n) if n.uuid == ns.uuid && n.slot == extent.slot
            )));
            assert!(!lsa.is_free(extent.slot));
        }
    }
});
