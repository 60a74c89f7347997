// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The lifecycle of one pmem range: raw → initialised (frame table built) → active
//! (assigned to a guest) → mapped / unmapped into that guest.
//!
//! The design session's rule is enforced here rather than trusted: "we will build the
//! frame table when active/promote the pmem to DomU ... trust that dom0 has unmapped
//! before active" becomes [`Error::ManagementDomainMapped`] when the management domain
//! (dom0) still maps the range at activation. The management domain may map a range only
//! while no guest owns it (to write labels, info blocks or the superblock).
//!
//! | state \ event | Initialise | Dom0Map | Dom0Unmap | Activate | Map | Unmap | Deactivate | Reset |
//! |---|---|---|---|---|---|---|---|---|
//! | Raw | Initialised | Raw (dom0) | Raw (if dom0) | — | — | — | — | — |
//! | Initialised | — | Initialised (dom0) | Initialised (if dom0) | Active, refused while dom0 maps | — | — | — | Raw |
//! | Active | — | — | — | — | Mapped | — | Initialised | — |
//! | Mapped | — | — | — | — | — | Active | — | — |
//!
//! Every other pair is [`Error::IllegalTransition`]; the state is unchanged on error.

/// A lifecycle event refused, with the state it was refused in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A lifecycle event that is not legal in the current state.
    #[error("event {event:?} is illegal in state {state:?}")]
    IllegalTransition {
        /// The state the range was in.
        state: State,
        /// The event refused.
        event: Event,
    },
    /// Activation refused: the management domain still has the range mapped (design
    /// notes, Xen Summit 2018: "trust that dom0 has unmapped before active").
    #[error("activation refused: the management domain still maps the range")]
    ManagementDomainMapped,
}

/// Shorthand for results of the lifecycle.
pub type Result<T> = core::result::Result<T, Error>;

/// Identifies a guest domain.
pub type GuestId = u16;

/// The state of a pmem range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// No frame table yet.
    Raw {
        /// The management domain maps the range.
        dom0_mapped: bool,
    },
    /// Frame table built, no owner.
    Initialised {
        /// The management domain maps the range.
        dom0_mapped: bool,
    },
    /// Assigned to a guest, not mapped into it.
    Active {
        /// The owner.
        guest: GuestId,
    },
    /// Assigned to a guest and mapped into its physical address space.
    Mapped {
        /// The owner.
        guest: GuestId,
    },
}

/// Something that happens to a pmem range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Event {
    /// The frame table for the range has been built.
    Initialise,
    /// The management domain maps the range.
    Dom0Map,
    /// The management domain unmaps the range.
    Dom0Unmap,
    /// Assign the range to a guest.
    Activate(GuestId),
    /// Map the range into its guest.
    Map,
    /// Unmap the range from its guest.
    Unmap,
    /// Take the range back from its guest.
    Deactivate,
    /// Drop the frame table.
    Reset,
}

/// A pmem range's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifecycle {
    state: State,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A raw range that the management domain does not map.
    pub const fn new() -> Self {
        Self {
            state: State::Raw { dom0_mapped: false },
        }
    }

    /// The current state.
    pub const fn state(&self) -> State {
        self.state
    }

    /// The state after `event` from `state`, or why not.
    pub const fn next(state: State, event: Event) -> Result<State> {
        use Event as E;
        use State as S;
        let illegal = Err(Error::IllegalTransition { state, event });
        match (state, event) {
            (S::Raw { dom0_mapped }, E::Initialise) => Ok(S::Initialised { dom0_mapped }),
            (S::Raw { .. }, E::Dom0Map) => Ok(S::Raw { dom0_mapped: true }),
            (S::Raw { dom0_mapped: true }, E::Dom0Unmap) => Ok(S::Raw { dom0_mapped: false }),
            (S::Initialised { .. }, E::Dom0Map) => Ok(S::Initialised { dom0_mapped: true }),
            (S::Initialised { dom0_mapped: true }, E::Dom0Unmap) => {
                Ok(S::Initialised { dom0_mapped: false })
            }
            (S::Initialised { dom0_mapped: true }, E::Activate(_)) => {
                Err(Error::ManagementDomainMapped)
            }
            (S::Initialised { dom0_mapped: false }, E::Activate(guest)) => Ok(S::Active { guest }),
            (S::Initialised { dom0_mapped }, E::Reset) => Ok(S::Raw { dom0_mapped }),
            (S::Active { guest }, E::Map) => Ok(S::Mapped { guest }),
            (S::Active { .. }, E::Deactivate) => Ok(S::Initialised { dom0_mapped: false }),
            (S::Mapped { guest }, E::Unmap) => Ok(S::Active { guest }),
            _ => illegal,
        }
    }

    /// Applies `event`; on error the state is unchanged.
    pub fn apply(&mut self, event: Event) -> Result<State> {
        self.state = Self::next(self.state, event)?;
        Ok(self.state)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const G: GuestId = 7;

    fn states() -> [State; 6] {
        [
            State::Raw { dom0_mapped: false },
            State::Raw { dom0_mapped: true },
            State::Initialised { dom0_mapped: false },
            State::Initialised { dom0_mapped: true },
            State::Active { guest: G },
            State::Mapped { guest: G },
        ]
    }

    fn events() -> [Event; 8] {
        [
            Event::Initialise,
            Event::Dom0Map,
            Event::Dom0Unmap,
            Event::Activate(G),
            Event::Map,
            Event::Unmap,
            Event::Deactivate,
            Event::Reset,
        ]
    }

    /// The table from the module doc, row by row: `None` is an illegal transition.
    fn expected(state: State, event: Event) -> core::result::Result<State, Error> {
        use State as S;
        let raw = |d| S::Raw { dom0_mapped: d };
        let init = |d| S::Initialised { dom0_mapped: d };
        let ill = Err(Error::IllegalTransition { state, event });
        let row: [core::result::Result<State, Error>; 8] = match state {
            S::Raw { dom0_mapped: false } => {
                [Ok(init(false)), Ok(raw(true)), ill, ill, ill, ill, ill, ill]
            }
            S::Raw { dom0_mapped: true } => [
                Ok(init(true)),
                Ok(raw(true)),
                Ok(raw(false)),
                ill,
                ill,
                ill,
                ill,
                ill,
            ],
            S::Initialised { dom0_mapped: false } => [
                ill,
                Ok(init(true)),
                ill,
                Ok(S::Active { guest: G }),
                ill,
                ill,
                ill,
                Ok(raw(false)),
            ],
            S::Initialised { dom0_mapped: true } => [
                ill,
                Ok(init(true)),
                Ok(init(false)),
                Err(Error::ManagementDomainMapped),
                ill,
                ill,
                ill,
                Ok(raw(true)),
            ],
            S::Active { .. } => [
                ill,
                ill,
                ill,
                ill,
                Ok(S::Mapped { guest: G }),
                ill,
                Ok(init(false)),
                ill,
            ],
            S::Mapped { .. } => [
                ill,
                ill,
                ill,
                ill,
                ill,
                Ok(S::Active { guest: G }),
                ill,
                ill,
            ],
        };
        row[column(event)]
    }

    /// The table's column for `event`. No wildcard: a new event does not compile until
    /// the table has its column.
    fn column(event: Event) -> usize {
        match event {
            Event::Initialise => 0,
            Event::Dom0Map => 1,
            Event::Dom0Unmap => 2,
            Event::Activate(_) => 3,
            Event::Map => 4,
            Event::Unmap => 5,
            Event::Deactivate => 6,
            Event::Reset => 7,
        }
    }

    /// The states `states()` lists are exactly those reachable from `Lifecycle::new()`
    /// by the events `events()` lists (guest `G`), so checking every pair of the two
    /// lists checks every transition a range can take.
    #[test]
    fn the_table_covers_every_reachable_state() {
        let mut reached = std::vec![Lifecycle::new().state()];
        let mut next = 0;
        while let Some(&state) = reached.get(next) {
            next += 1;
            for event in events() {
                if let Ok(after) = Lifecycle::next(state, event)
                    && !reached.contains(&after)
                {
                    reached.push(after);
                }
            }
        }
        let mut listed = states().to_vec();
        listed.sort_by_key(|s| std::format!("{s:?}"));
        reached.sort_by_key(|s| std::format!("{s:?}"));
        assert_eq!(reached, listed);
    }

    /// Every listed state with every listed event gives the table's answer, and a refused
    /// event leaves the state alone. The lists cover every event (one per column of the
    /// table, checked here) and every reachable state
    /// (`the_table_covers_every_reachable_state`).
    #[test]
    fn every_state_event_pair() {
        let columns: Vec<usize> = events().into_iter().map(column).collect();
        assert_eq!(columns, (0..8).collect::<Vec<_>>(), "one event per column");
        for state in states() {
            for event in events() {
                let mut lc = Lifecycle { state };
                let got = lc.apply(event);
                assert_eq!(got, expected(state, event), "{state:?} + {event:?}");
                if got.is_err() {
                    assert_eq!(lc.state(), state, "state kept after a refused {event:?}");
                }
            }
        }
    }

    #[test]
    fn activation_waits_for_dom0_unmap() {
        let mut lc = Lifecycle::new();
        lc.apply(Event::Dom0Map).unwrap();
        lc.apply(Event::Initialise).unwrap();
        assert_eq!(
            lc.apply(Event::Activate(1)),
            Err(Error::ManagementDomainMapped)
        );
        lc.apply(Event::Dom0Unmap).unwrap();
        assert_eq!(lc.apply(Event::Activate(1)), Ok(State::Active { guest: 1 }));
        assert_eq!(lc.apply(Event::Map), Ok(State::Mapped { guest: 1 }));
        assert!(
            lc.apply(Event::Dom0Map).is_err(),
            "dom0 may not map a guest's range"
        );
    }
}
