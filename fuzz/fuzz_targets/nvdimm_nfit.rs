// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Arbitrary bytes as an NFIT: parsing never panics, and whatever it accepts emits a
//! table that parses back to the same value (under `cfg(fuzzing)` the checksum is not
//! checked, so the fuzzer reaches the structures).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvdimm_label::nfit::Nfit;

fuzz_target!(|data: &[u8]| {
    let Ok(nfit) = Nfit::parse(data) else { return };
    let bytes = nfit.emit().expect("a parsed table re-emits");
    assert_eq!(bytes.len(), nfit.buffer_len());
    assert_eq!(Nfit::parse(&bytes), Ok(nfit));
});
