// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Errors of the fabricator.

/// An error from the fabricator.
///
/// An invalid input ([`BadCpl`](Self::BadCpl), [`BranchCount`](Self::BranchCount)) is
/// refused before anything is written or changed. A sink that fills mid-event
/// ([`Packet`](Self::Packet)) leaves the packets written before it (each one whole, see
/// [`crate::packet::Sink`]) and the event applied to the guest state: the trace has lost
/// packets, as after an internal overflow, and the caller should continue with
/// [`Event::Overflow`](super::Event::Overflow) once the sink has room.
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
    /// More than 64 conditional branches for
    /// [`Fabricator::branches`](super::Fabricator::branches).
    #[error("{0} conditional branches do not fit in 64 bits")]
    BranchCount(u32),
}

/// Result type of the fabricator.
pub type Result<T> = core::result::Result<T, Error>;
