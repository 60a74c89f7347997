// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Glue shared by the hugevm examples and benchmarks.
//!
//! The library crates under `crates/` never depend on each other; this unpublished root
//! package is where they meet, in `examples/` and `benches/`.
