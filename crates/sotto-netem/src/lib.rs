//! # sotto-netem — a seeded network emulator on a virtual clock, for tests
//!
//! sotto's protocol engines (ZRTP, SRTP, SIP, the call) are sans-IO: they take `now: Instant`
//! and bytes, and hand back bytes and deadlines. This crate is the network between two of them
//! in a test. It loses, delays, jitters, reorders, duplicates and rate-limits datagrams exactly
//! as configured, deterministically from a seed, on a clock that only moves when the test moves
//! it, so a whole handshake under 30 % loss runs in milliseconds and fails the same way every
//! time.
//!
//! ## The pieces
//!
//! - [`NetemConfig`]: what one direction does to packets, built in builder style.
//! - [`Netem`]: one direction. [`send`](Netem::send) a packet at `now`;
//!   [`poll_timeout`](Netem::poll_timeout) says when the next one is due;
//!   [`poll_receive`](Netem::poll_receive) hands out the due ones. [`Stats`] counts everything,
//!   and an optional trace records the fate of every packet.
//! - [`Link`]: two `Netem`s, A→B and B→A, from one seed.
//! - [`Endpoint`] and [`Pair`]: wire two sans-IO engines through a `Link` and drive them on a
//!   virtual clock until a condition holds ([`Pair::drive_until`]), like quinn-proto's test
//!   `Pair::drive`.
//!
//! ## What it models, and how to choose parameters
//!
//! Impairments compose; each packet goes through them in this order (details on
//! [`NetemConfig`]):
//!
//! | impairment | setter | unit | a realistic value |
//! |---|---|---|---|
//! | random loss | [`loss`](NetemConfig::loss) | probability per packet | `0.01` (1 %) on a decent Wi-Fi, `0.05`–`0.3` for stress |
//! | burst loss | [`burst_loss`](NetemConfig::burst_loss) with [`GilbertElliott`] | mean loss + mean burst length | 5 % in bursts of 3: `GilbertElliott::from_mean_loss(0.05, 3.0)` |
//! | duplication | [`duplicate`](NetemConfig::duplicate) | probability per packet | `0.001`–`0.01` |
//! | bandwidth cap | [`bandwidth`](NetemConfig::bandwidth) with [`Bandwidth`] | bits/s, queue limit in time or bytes | `Bandwidth::new(64_000).max_queue_delay(200 ms)` for a congested uplink |
//! | fixed delay | [`delay`](NetemConfig::delay) | one-way duration | 20 ms LAN-ish, 80 ms intercontinental, 300 ms satellite |
//! | jitter | [`jitter`](NetemConfig::jitter) with [`Jitter`] | extra delay per packet | `Jitter::uniform(30 ms)` or `Jitter::normal(10 ms, 5 ms)` |
//! | reordering | [`reorder`](NetemConfig::reorder) | probability + hold time | `reorder(0.01, 20 ms)` |
//!
//! Loss is decided first (Gilbert-Elliott, then random), then duplication, then each copy is
//! serialised through the bandwidth queue (tail-drop), then travels `delay + jitter`. Jitter
//! never reorders packets by itself (as on one real path); only the reorder impairment does, by
//! holding a packet back so later ones overtake it. [`Stats::reordered`] counts packets held
//! back; [`Stats::delivered_out_of_order`] counts what the receiver actually saw out of order.
//!
//! For bursty loss, the Gilbert-Elliott model is a two-state chain stepped once per packet:
//! good→bad with probability `p`, bad→good with `r`. With no loss when good and full loss when
//! bad, mean loss is `p / (p + r)` and mean burst length is `1 / r`; so for a target mean loss
//! `L` and mean burst `B` packets choose `r = 1/B`, `p = r·L/(1−L)`
//! ([`GilbertElliott::from_mean_loss`] does it).
//!
//! ## Determinism
//!
//! A [`Netem`]'s schedule is a pure function of its seed, its configuration and the sequence of
//! `(now, packet length)` it is given. Each impairment draws from its own ChaCha8 stream, so
//! turning one on or off does not change the others' decisions (the same packets are lost with
//! or without jitter). A [`Pair`] does its work in a fixed order, so a run with the same
//! endpoints, seed and start time is identical every time. Nothing here reads the real clock or
//! OS randomness.
//!
//! ## Driving two engines: a complete example
//!
//! A toy "ping" endpoint sends numbered pings and retransmits each one every 100 ms until its
//! pong arrives; the "pong" endpoint answers every ping. Under 30 % loss both ways it still
//! finishes, and the run is identical for the same seed.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::{Duration, Instant};
//! use sotto_netem::{Endpoint, Link, NetemConfig, Pair};
//!
//! const RTO: Duration = Duration::from_millis(100);
//!
//! /// Sends ping 0..count, one at a time, retransmitting every RTO until the pong arrives.
//! struct Pinger { next: u32, count: u32, timer: Option<Instant>, out: VecDeque<Vec<u8>> }
//!
//! impl Pinger {
//!     fn new(count: u32, now: Instant) -> Self {
//!         let mut p = Pinger { next: 0, count, timer: None, out: VecDeque::new() };
//!         p.send_current(now);
//!         p
//!     }
//!     fn send_current(&mut self, now: Instant) {
//!         if self.next < self.count {
//!             self.out.push_back(self.next.to_be_bytes().to_vec());
//!             self.timer = Some(now + RTO);
//!         } else {
//!             self.timer = None;
//!         }
//!     }
//!     fn done(&self) -> bool { self.next == self.count }
//! }
//!
//! impl Endpoint for Pinger {
//!     fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
//!         // Ignore anything that is not the pong we wait for (duplicates, stale pongs).
//!         if data == self.next.to_be_bytes() {
//!             self.next += 1;
//!             self.send_current(now);
//!         }
//!     }
//!     fn handle_timeout(&mut self, now: Instant) { self.send_current(now) }
//!     fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> { self.out.pop_front() }
//!     fn poll_timeout(&self) -> Option<Instant> { self.timer }
//! }
//!
//! /// Echoes every ping back as its pong.
//! #[derive(Default)]
//! struct Ponger { out: VecDeque<Vec<u8>> }
//!
//! impl Endpoint for Ponger {
//!     fn handle_datagram(&mut self, _now: Instant, data: &[u8]) { self.out.push_back(data.to_vec()) }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> { self.out.pop_front() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! fn run(seed: u64) -> (Duration, sotto_netem::Stats) {
//!     // The only real clock read: a base for the virtual one (sans-IO crates must not do this).
//!     let start = Instant::now();
//!     let config = NetemConfig::new().loss(0.3).delay(Duration::from_millis(20));
//!     let mut pair = Pair::new(Pinger::new(50, start), Ponger::default(),
//!                              Link::symmetric(config, seed), start);
//!     let took = pair
//!         .drive_until(|ping, _| ping.done(), Duration::from_secs(600))
//!         .expect("all pings answered");
//!     (took, *pair.stats_a_to_b())
//! }
//!
//! let (took, stats) = run(7);
//! assert!(stats.lost_random > 0, "30 % loss did lose something");
//! assert!(took >= Duration::from_millis(50 * 40), "each ping needs a 40 ms round trip");
//! assert_eq!(run(7), (took, stats), "same seed, same run");
//! ```
//!
//! Protocol crates implement [`Endpoint`] for a small adapter around their engine in their own
//! tests (feed datagrams in, drain transmits, keep events for assertions), then script the
//! scenario with [`Pair::drive_until`], [`Pair::run_for`], [`Pair::link_mut`] (change the
//! impairments mid-call), [`Pair::enable_capture`] and [`Pair::inject`] (replay or tamper).

mod config;
mod error;
mod link;
mod netem;
mod pair;

pub use config::{Bandwidth, GilbertElliott, Jitter, MAX_DURATION, NetemConfig, Reorder};
pub use error::DriveError;
pub use link::Link;
pub use netem::{Fate, Netem, Packet, Stats, TraceEvent};
pub use pair::{Captured, Endpoint, Pair, Side};
