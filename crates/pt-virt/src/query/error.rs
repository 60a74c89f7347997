// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Errors of the event layer: a packet error from below, or packets that are well formed
//! but do not make sense where they are (libipt's `-pte_bad_context`, `-pte_noip`).

use crate::packet::Kind;

/// An error from the [`EventDecoder`](super::EventDecoder). Every variant carries the
/// offset of the packet it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet decoder failed (malformed or truncated packet, no PSB).
    #[error(transparent)]
    Packet(#[from] crate::packet::Error),
    /// A packet that cannot appear in the decoder's state: a TNT or TIP while packet
    /// generation is disabled, a control-flow packet inside PSB+, a PSB while a FUP or
    /// MODE.Exec still waits for its TIP (libipt `-pte_bad_context`).
    #[error("{kind:?} at offset {offset} is out of context")]
    BadContext {
        /// Offset of the packet.
        offset: usize,
        /// The packet.
        kind: Kind,
    },
    /// A packet whose IP the event needs is suppressed, or compressed against a last IP
    /// not known yet (libipt `-pte_noip`): a FUP starting an asynchronous branch, a
    /// TIP.PGE.
    #[error("{kind:?} at offset {offset} has no IP the event can use")]
    NoIp {
        /// Offset of the packet.
        offset: usize,
        /// The packet.
        kind: Kind,
    },
    /// More events wait for their binding packet than the decoder keeps (libipt
    /// `-pte_nomem`): no trace hardware writes comes close.
    #[error("more than {capacity} events wait for their IP at offset {offset}")]
    QueueFull {
        /// Offset of the packet.
        offset: usize,
        /// The queue's capacity.
        capacity: usize,
    },
}

/// Shorthand for results of the event layer.
pub type Result<T> = core::result::Result<T, Error>;
