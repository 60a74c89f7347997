// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Errors of the fabricator.

/// An error from the fabricator. On error the fabricator's state is as before the event
/// whenever nothing was written; a sink that fills mid-event leaves the packets written
/// so far in the sink (each packet is whole, see [`crate::packet::Sink`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The encoder or its sink failed.
    #[error(transparent)]
    Packet(#[from] crate::packet::Error),
    /// A CPL outside 0..=3.
    #[error("CPL {0} is not 0..=3")]
    BadCpl(u8),
    /// A CBR core:bus ratio of 0: no clock runs at ratio 0, and libipt 2.0.5's query
    /// decoder rejects the packet (`-pte_bad_packet`, observed in `peers/libipt-flow`).
    #[error("a CBR ratio of 0 is not a frequency")]
    ZeroCbr,
    /// A PSBFreq encoding outside 0..=15 (`IA32_RTIT_CTL` bits 27:24).
    #[error("PSBFreq {0} is not 0..=15")]
    BadPsbFreq(u8),
}

/// Result type of the fabricator.
pub type Result<T> = core::result::Result<T, Error>;
