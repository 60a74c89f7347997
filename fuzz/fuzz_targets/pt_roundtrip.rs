// SPDX-License-Identifier: Apache-2.0 OR MIT
//! decode -> encode -> decode is stable: every packet the strict decoder accepts from
//! arbitrary bytes re-encodes (through the stateful encoder, which must accept it), and
//! the re-encoded stream decodes to the same packets and reconstructed IPs. Lenient
//! packets re-encode unless they are among the forms only perf accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pt_virt::packet::{Decoder, Encoder, Packet, Strictness};

fuzz_target!(|data: &[u8]| {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let first: Vec<_> = Decoder::new(data, strictness).map_while(Result::ok).collect();
        let mut enc = Encoder::new(Vec::new());
        let mut kept = Vec::new();
        for d in &first {
            match enc.encode(&d.packet) {
                Ok(n) => {
                    kept.push(*d);
                    if strictness == Strictness::Strict {
                        assert!(n <= d.len, "canonical form is never longer");
                    }
                }
                Err(e) => {
                    // Strict packets always re-encode; lenient-only forms may not.
                    let lenient_only = matches!(
                        d.packet,
                        Packet::Tnt64 { count: 0, .. } | Packet::Cyc { value: 0x2000_0000_0000_0000.. }
                    );
                    assert!(strictness == Strictness::Lenient && lenient_only, "{d:?}: {e}");
                    break;
                }
            }
        }
        let bytes = enc.into_sink();
        let second: Vec<_> = Decoder::new(&bytes, strictness)
            .collect::<Result<Vec<_>, _>>()
            .expect("our own output decodes");
        assert_eq!(second.len(), kept.len());
        for (a, b) in kept.iter().zip(&second) {
            assert_eq!((a.packet, a.ip), (b.packet, b.ip));
        }
    }
});
