//! Why a [`Pair`](crate::Pair) drive did not reach its goal.

use std::time::Duration;

/// Why [`Pair::drive_until`](crate::Pair::drive_until) (or a sibling) stopped without success.
///
/// All of these are local outcomes of a simulation, not peer faults: the emulator never parses
/// packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The virtual-time budget ran out before the condition held.
    #[error("condition not met within {budget:?} of virtual time")]
    Timeout {
        /// The budget that ran out.
        budget: Duration,
    },
    /// Nothing is left to happen (no timer armed, nothing in flight) and the condition does not
    /// hold: the protocol gave up or deadlocked.
    #[error("both endpoints idle after {elapsed:?} of virtual time, condition not met")]
    Stalled {
        /// Virtual time spent in this drive before everything went idle.
        elapsed: Duration,
    },
    /// An endpoint kept producing work at one instant (a timer that does not move forward after
    /// `handle_timeout`, or endless transmits): a bug in the endpoint.
    #[error("endpoint livelock at {elapsed:?} of virtual time: no progress of the clock")]
    Livelock {
        /// Virtual time since the pair started.
        elapsed: Duration,
    },
}
