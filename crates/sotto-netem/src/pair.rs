//! Two sans-IO endpoints wired through a [`Link`] on a virtual clock: [`Pair`].

use std::time::{Duration, Instant};

use crate::error::DriveError;
use crate::link::Link;
use crate::netem::Stats;

/// A sans-IO engine that talks datagrams, as [`Pair`] drives it.
///
/// Protocol crates implement this for a small adapter around their engine in their tests: feed
/// `handle_datagram` into the engine's input, drain its transmits in `poll_transmit`, and keep
/// events for the test to inspect in the adapter. All times are virtual.
pub trait Endpoint {
    /// A datagram from the peer arrived at `now`.
    fn handle_datagram(&mut self, now: Instant, data: &[u8]);
    /// The time returned by [`poll_timeout`](Self::poll_timeout) has come (`now` is at or after
    /// it). The endpoint must move its timer forward or clear it.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send at `now`, if any. Called until it returns `None`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When the endpoint next wants [`handle_timeout`](Self::handle_timeout), if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Which endpoint of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Endpoint A (sends on `a_to_b`).
    A,
    /// Endpoint B (sends on `b_to_a`).
    B,
}

/// A datagram an endpoint sent, recorded when capture is on (see [`Pair::enable_capture`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// When it was sent.
    pub at: Instant,
    /// Who sent it.
    pub from: Side,
    /// The bytes, before the link did anything to them.
    pub data: Vec<u8>,
}

/// How many rounds of work one instant may take before the pair declares a livelock.
const MAX_ROUNDS_PER_INSTANT: u32 = 10_000;
/// How many datagrams one endpoint may emit in one round before the pair declares a livelock.
const MAX_TRANSMITS_PER_ROUND: u32 = 1_000_000;
/// Longest virtual-time budget accepted (longer ones are clamped), far from `Instant` overflow.
const MAX_BUDGET: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Two endpoints and the link between them, on a virtual clock.
///
/// Each step does all the work due at the current instant, in a fixed order (A's timer, B's
/// timer, A's transmits, B's transmits, deliveries to B, deliveries to A, repeated until nothing
/// is left), then jumps the clock to the earliest of the endpoints' timeouts and the links' next
/// deliveries. With a seeded [`Link`] a run is fully deterministic.
#[derive(Debug)]
pub struct Pair<A, B> {
    a: A,
    b: B,
    link: Link,
    start: Instant,
    now: Instant,
    capture: Option<Vec<Captured>>,
}

impl<A: Endpoint, B: Endpoint> Pair<A, B> {
    /// Wires `a` and `b` through `link`; the virtual clock starts at `start`.
    pub fn new(a: A, b: B, link: Link, start: Instant) -> Self {
        Self {
            a,
            b,
            link,
            start,
            now: start,
            capture: None,
        }
    }

    /// The current virtual time.
    #[must_use]
    pub const fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the pair was created.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// Endpoint A.
    #[must_use]
    pub const fn a(&self) -> &A {
        &self.a
    }

    /// Endpoint A, mutably (e.g. to start a call).
    pub const fn a_mut(&mut self) -> &mut A {
        &mut self.a
    }

    /// Endpoint B.
    #[must_use]
    pub const fn b(&self) -> &B {
        &self.b
    }

    /// Endpoint B, mutably.
    pub const fn b_mut(&mut self) -> &mut B {
        &mut self.b
    }

    /// The link (e.g. to read traces).
    #[must_use]
    pub const fn link(&self) -> &Link {
        &self.link
    }

    /// The link, mutably (e.g. to change its configuration mid-run, or to inject a datagram
    /// with `link_mut().a_to_b.send(pair.now(), bytes)`).
    pub const fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Counters of the A → B direction.
    #[must_use]
    pub const fn stats_a_to_b(&self) -> &Stats {
        self.link.a_to_b.stats()
    }

    /// Counters of the B → A direction.
    #[must_use]
    pub const fn stats_b_to_a(&self) -> &Stats {
        self.link.b_to_a.stats()
    }

    /// Gives both endpoints back.
    pub fn into_endpoints(self) -> (A, B) {
        (self.a, self.b)
    }

    /// Records every datagram the endpoints send from now on (for replay and tampering tests).
    pub fn enable_capture(&mut self) {
        if self.capture.is_none() {
            self.capture = Some(Vec::new());
        }
    }

    /// The datagrams captured so far (empty if capture is off).
    #[must_use]
    pub fn captured(&self) -> &[Captured] {
        self.capture.as_deref().unwrap_or_default()
    }

    /// Delivers `data` to endpoint `to` right now, bypassing the link (an attacker's packet).
    pub fn inject(&mut self, to: Side, data: &[u8]) {
        match to {
            Side::A => self.a.handle_datagram(self.now, data),
            Side::B => self.b.handle_datagram(self.now, data),
        }
    }

    /// Does everything due at the current instant, then moves the clock to the next event and
    /// does everything due then. Returns `Ok(false)` (clock unchanged) if nothing is left to
    /// happen: no timer armed and nothing in flight.
    pub fn step(&mut self) -> Result<bool, DriveError> {
        self.settle()?;
        match self.next_event() {
            Some(t) => {
                self.now = t;
                self.settle()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Drives until `done(a, b)` holds, checked after each instant's work. Returns the virtual
    /// time it took, or why it did not happen within `budget` of virtual time.
    pub fn drive_until<F>(&mut self, mut done: F, budget: Duration) -> Result<Duration, DriveError>
    where
        F: FnMut(&A, &B) -> bool,
    {
        let start = self.now;
        let budget = budget.min(MAX_BUDGET);
        let deadline = start + budget;
        loop {
            self.settle()?;
            if done(&self.a, &self.b) {
                return Ok(self.now.saturating_duration_since(start));
            }
            match self.next_event() {
                None => {
                    return Err(DriveError::Stalled {
                        elapsed: self.now.saturating_duration_since(start),
                    });
                }
                Some(t) if t > deadline => {
                    self.now = deadline;
                    return Err(DriveError::Timeout { budget });
                }
                Some(t) => self.now = t,
            }
        }
    }

    /// Drives until nothing is left to happen (no timer armed, nothing in flight). Returns the
    /// virtual time it took, or [`DriveError::Timeout`] if that takes longer than `budget`.
    pub fn drive(&mut self, budget: Duration) -> Result<Duration, DriveError> {
        let start = self.now;
        match self.drive_until(|_, _| false, budget) {
            Err(DriveError::Stalled { .. }) => Ok(self.now.saturating_duration_since(start)),
            Ok(elapsed) => Ok(elapsed),
            Err(e) => Err(e),
        }
    }

    /// Runs for exactly `duration` of virtual time, doing everything due on the way; the clock
    /// ends at `now + duration`.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), DriveError> {
        let deadline = self.now + duration.min(MAX_BUDGET);
        loop {
            self.settle()?;
            match self.next_event() {
                Some(t) if t <= deadline => self.now = t,
                _ => break,
            }
        }
        self.now = deadline;
        self.settle()
    }

    /// The earliest time something will happen: a timeout or a delivery.
    fn next_event(&self) -> Option<Instant> {
        [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.link.a_to_b.poll_timeout(),
            self.link.b_to_a.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does all the work due at `self.now` until nothing is left.
    fn settle(&mut self) -> Result<(), DriveError> {
        let now = self.now;
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let mut busy = false;
            if self.a.poll_timeout().is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
                busy = true;
            }
            if self.b.poll_timeout().is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
                busy = true;
            }
            busy |= self.pump(Side::A)?;
            busy |= self.pump(Side::B)?;
            while let Some(data) = self.link.a_to_b.poll_receive(now) {
                self.b.handle_datagram(now, &data);
                busy = true;
            }
            while let Some(data) = self.link.b_to_a.poll_receive(now) {
                self.a.handle_datagram(now, &data);
                busy = true;
            }
            if !busy {
                return Ok(());
            }
        }
        Err(DriveError::Livelock {
            elapsed: self.elapsed(),
        })
    }

    /// Moves every pending transmit of one endpoint into its direction of the link.
    fn pump(&mut self, side: Side) -> Result<bool, DriveError> {
        let now = self.now;
        let mut sent = 0u32;
        loop {
            let data = match side {
                Side::A => self.a.poll_transmit(now),
                Side::B => self.b.poll_transmit(now),
            };
            let Some(data) = data else {
                return Ok(sent > 0);
            };
            sent += 1;
            if sent > MAX_TRANSMITS_PER_ROUND {
                return Err(DriveError::Livelock {
                    elapsed: self.elapsed(),
                });
            }
            if let Some(capture) = self.capture.as_mut() {
                capture.push(Captured {
                    at: now,
                    from: side,
                    data: data.clone(),
                });
            }
            match side {
                Side::A => self.link.a_to_b.send(now, data),
                Side::B => self.link.b_to_a.send(now, data),
            }
        }
    }
}
