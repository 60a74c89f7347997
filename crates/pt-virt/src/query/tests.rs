// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Unit tests of the event layer on hand-written packet sequences.
