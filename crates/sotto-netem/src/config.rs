//! What one direction of a link does to packets: [`NetemConfig`] and its parts.
//!
//! Every setter clamps its input to a sane range instead of failing, so a configuration can
//! never make the emulator panic: probabilities are clamped to `0.0..=1.0` (NaN becomes `0.0`),
//! durations to at most [`MAX_DURATION`], the bandwidth to at least 1 bit/s.

use std::time::Duration;

/// The longest delay (base delay, jitter, reorder hold, queue limit) a configuration accepts;
/// longer values are clamped to it. One day is far beyond any network we want to model and keeps
/// `Instant + Duration` arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Clamps a probability into `0.0..=1.0`; NaN becomes `0.0`.
pub(crate) fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

fn clamp_duration(d: Duration) -> Duration {
    d.min(MAX_DURATION)
}

/// The configuration of one direction of an emulated link.
///
/// Built in builder style from [`NetemConfig::new`] (a perfect link: no loss, no delay, no
/// limit). Impairments compose and are applied to each packet handed to
/// [`Netem::send`](crate::Netem::send) in this order:
///
/// 1. **loss**: the Gilbert-Elliott state machine (if configured) steps once per packet and may
///    drop it ([`Stats::lost_burst`](crate::Stats::lost_burst)); then random loss may drop it
///    ([`Stats::lost_random`](crate::Stats::lost_random)).
/// 2. **duplication**: a surviving packet is copied with probability
///    [`duplicate`](Self::duplicate); from here on each copy goes its own way.
/// 3. **bandwidth cap**: each copy is serialised onto the wire at the configured rate behind the
///    copies before it; if the queue in front of it is over the limit it is tail-dropped
///    ([`Stats::dropped_queue`](crate::Stats::dropped_queue)).
/// 4. **delay + jitter**: once serialised, a copy travels for `delay + jitter sample`.
///    Jitter does **not** reorder: a copy is never delivered before a copy sent earlier (except a
///    held-back one, below), as on a real path where packets share one queue.
/// 5. **reordering**: with probability [`reorder`](Self::reorder) a copy is held back for an
///    extra [`Reorder::hold`] after its normal delivery time, so the packets sent after it
///    within that time overtake it ([`Stats::reordered`](crate::Stats::reordered)).
#[derive(Debug, Clone, PartialEq)]
pub struct NetemConfig {
    pub(crate) loss: f64,
    pub(crate) burst: Option<GilbertElliott>,
    pub(crate) delay: Duration,
    pub(crate) jitter: Jitter,
    pub(crate) reorder: Option<Reorder>,
    pub(crate) duplicate: f64,
    pub(crate) bandwidth: Option<Bandwidth>,
}

impl Default for NetemConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl NetemConfig {
    /// A perfect link: every packet is delivered once, in order, at the instant it is sent.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            loss: 0.0,
            burst: None,
            delay: Duration::ZERO,
            jitter: Jitter::None,
            reorder: None,
            duplicate: 0.0,
            bandwidth: None,
        }
    }

    /// Independent random loss: each packet is dropped with this probability (`0.0..=1.0`;
    /// `0.1` = 10 %).
    #[must_use]
    pub fn loss(mut self, probability: f64) -> Self {
        self.loss = clamp_probability(probability);
        self
    }

    /// Bursty loss from a Gilbert-Elliott model; see [`GilbertElliott`] for choosing it.
    /// Composes with [`loss`](Self::loss) (a packet survives only if both let it through).
    #[must_use]
    pub fn burst_loss(mut self, model: GilbertElliott) -> Self {
        self.burst = Some(model);
        self
    }

    /// Fixed one-way propagation delay added to every packet (after serialisation, if a
    /// bandwidth cap is set).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = clamp_duration(delay);
        self
    }

    /// Random extra delay added on top of [`delay`](Self::delay), drawn per packet.
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Reordering: with `probability` a packet is held back an extra `hold` beyond its normal
    /// delivery time, so that packets sent during `hold` overtake it. The measured fraction of
    /// packets delivered out of order approaches `probability` when packets are sent more often
    /// than every `hold`.
    #[must_use]
    pub fn reorder(mut self, probability: f64, hold: Duration) -> Self {
        self.reorder = Some(Reorder {
            probability: clamp_probability(probability),
            hold: clamp_duration(hold),
        });
        self
    }

    /// Duplication: each surviving packet is delivered twice with this probability.
    #[must_use]
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = clamp_probability(probability);
        self
    }

    /// A bandwidth cap with a tail-drop queue; see [`Bandwidth`].
    #[must_use]
    pub fn bandwidth(mut self, bandwidth: Bandwidth) -> Self {
        self.bandwidth = Some(bandwidth);
        self
    }

    /// The random-loss probability.
    #[must_use]
    pub const fn loss_probability(&self) -> f64 {
        self.loss
    }

    /// The burst-loss model, if any.
    #[must_use]
    pub const fn burst_model(&self) -> Option<&GilbertElliott> {
        self.burst.as_ref()
    }

    /// The fixed delay.
    #[must_use]
    pub const fn base_delay(&self) -> Duration {
        self.delay
    }

    /// The jitter distribution.
    #[must_use]
    pub const fn jitter_model(&self) -> &Jitter {
        &self.jitter
    }

    /// The reordering settings, if any.
    #[must_use]
    pub const fn reorder_model(&self) -> Option<&Reorder> {
        self.reorder.as_ref()
    }

    /// The duplication probability.
    #[must_use]
    pub const fn duplicate_probability(&self) -> f64 {
        self.duplicate
    }

    /// The bandwidth cap, if any.
    #[must_use]
    pub const fn bandwidth_cap(&self) -> Option<&Bandwidth> {
        self.bandwidth.as_ref()
    }
}

/// The Gilbert-Elliott two-state burst-loss model.
///
/// The link is either *good* or *bad*. Before each packet the state steps: good → bad with
/// probability `p`, bad → good with probability `r`. Then the packet is lost with probability
/// `loss_good` or `loss_bad` depending on the state.
///
/// In the long run the link is bad a fraction `πB = p / (p + r)` of the time, so the **mean loss
/// rate** is `(1 − πB)·loss_good + πB·loss_bad`. A bad period lasts on average `1 / r` packets.
///
/// # Choosing parameters
///
/// The common case ("Gilbert" model: nothing lost in the good state, everything lost in the bad
/// state) is what [`GilbertElliott::from_mean_loss`] builds: for a target mean loss `L` and mean
/// burst length `B` packets (consecutive losses),
///
/// ```text
/// r = 1 / B            p = r · L / (1 − L)
/// ```
///
/// e.g. 5 % loss in bursts of 3 packets on average: `r = 0.333`, `p = 0.0175`. Use
/// [`GilbertElliott::new`] for the general four-parameter model (e.g. `loss_bad = 0.5` models a
/// "bad" state that only damages half the packets; bursts of losses are then shorter than `1/r`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    p: f64,
    r: f64,
    loss_good: f64,
    loss_bad: f64,
}

impl GilbertElliott {
    /// The general model: `p` = P(good → bad), `r` = P(bad → good), and the loss probability in
    /// each state. All four are probabilities, clamped to `0.0..=1.0`.
    #[must_use]
    pub fn new(p: f64, r: f64, loss_good: f64, loss_bad: f64) -> Self {
        Self {
            p: clamp_probability(p),
            r: clamp_probability(r),
            loss_good: clamp_probability(loss_good),
            loss_bad: clamp_probability(loss_bad),
        }
    }

    /// The simple Gilbert model with mean loss rate `mean_loss` (`0.0..1.0`) and mean burst
    /// length `mean_burst` packets (`>= 1.0`): see the type docs for the formulas.
    #[must_use]
    pub fn from_mean_loss(mean_loss: f64, mean_burst: f64) -> Self {
        let l = clamp_probability(mean_loss).min(0.999_999);
        let b = if mean_burst.is_nan() {
            1.0
        } else {
            mean_burst.max(1.0)
        };
        let r = 1.0 / b;
        let p = r * l / (1.0 - l);
        Self::new(p, r, 0.0, 1.0)
    }

    /// P(good → bad) per packet.
    #[must_use]
    pub const fn p(&self) -> f64 {
        self.p
    }

    /// P(bad → good) per packet.
    #[must_use]
    pub const fn r(&self) -> f64 {
        self.r
    }

    /// Loss probability while good.
    #[must_use]
    pub const fn loss_good(&self) -> f64 {
        self.loss_good
    }

    /// Loss probability while bad.
    #[must_use]
    pub const fn loss_bad(&self) -> f64 {
        self.loss_bad
    }

    /// Long-run fraction of packets that see the bad state, `p / (p + r)` (0 if both are 0).
    #[must_use]
    pub fn bad_fraction(&self) -> f64 {
        let sum = self.p + self.r;
        if sum > 0.0 { self.p / sum } else { 0.0 }
    }

    /// Long-run mean loss rate, `(1 − πB)·loss_good + πB·loss_bad`.
    #[must_use]
    pub fn mean_loss(&self) -> f64 {
        let bad = self.bad_fraction();
        (1.0 - bad) * self.loss_good + bad * self.loss_bad
    }

    /// Mean length of a bad period in packets, `1 / r` (infinite if `r` is 0). Equal to the
    /// mean burst of consecutive losses when `loss_good = 0` and `loss_bad = 1`.
    #[must_use]
    pub fn mean_bad_run(&self) -> f64 {
        1.0 / self.r
    }
}

/// How the random extra delay (on top of the fixed delay) is drawn, per packet.
///
/// Jitter only ever *adds* delay: a packet is never delivered before `send time + delay`. The
/// largest possible extra delay is [`Jitter::max_extra`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No jitter.
    #[default]
    None,
    /// Extra delay uniform in `0..=max`: mean `max / 2`.
    Uniform {
        /// Largest extra delay.
        max: Duration,
    },
    /// Extra delay approximately normal with this mean and standard deviation (a sum of twelve
    /// uniform draws, so it is bounded to `mean ± 6·std_dev`), then clamped at zero. Keep
    /// `mean >= 2·std_dev` or so if the mean matters: the clamp at zero shifts it up.
    Normal {
        /// Mean extra delay.
        mean: Duration,
        /// Standard deviation of the extra delay.
        std_dev: Duration,
    },
}

impl Jitter {
    /// Uniform extra delay in `0..=max`.
    #[must_use]
    pub fn uniform(max: Duration) -> Self {
        Self::Uniform {
            max: clamp_duration(max),
        }
    }

    /// Approximately normal extra delay (see [`Jitter::Normal`]).
    #[must_use]
    pub fn normal(mean: Duration, std_dev: Duration) -> Self {
        Self::Normal {
            mean: clamp_duration(mean),
            std_dev: clamp_duration(std_dev),
        }
    }

    /// The largest extra delay this distribution can produce.
    #[must_use]
    pub fn max_extra(&self) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Uniform { max } => max,
            Self::Normal { mean, std_dev } => mean.saturating_add(std_dev.saturating_mul(6)),
        }
    }
}

/// Reordering settings: see [`NetemConfig::reorder`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorder {
    /// Probability that a packet is held back.
    pub probability: f64,
    /// How long a held-back packet waits beyond its normal delivery time.
    pub hold: Duration,
}

/// A bandwidth cap: packets are serialised at `bits_per_second` through a FIFO queue that
/// tail-drops what does not fit.
///
/// A packet of `n` bytes occupies the wire for `(n + overhead_bytes) · 8 / bits_per_second`
/// seconds. A packet arriving while the queue already holds more than
/// [`max_queue_delay`](Self::max_queue_delay) of backlog (or, if set, when it would push the
/// backlog above [`max_queue_bytes`](Self::max_queue_bytes)) is dropped. The two limits are the
/// same thing in different units: `bytes = delay · bits_per_second / 8`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bandwidth {
    pub(crate) bits_per_second: u64,
    pub(crate) max_queue_delay: Duration,
    pub(crate) max_queue_bytes: Option<u64>,
    pub(crate) overhead_bytes: u32,
}

impl Bandwidth {
    /// A cap of `bits_per_second` (at least 1) with a queue of at most 100 ms backlog and no
    /// per-packet overhead.
    #[must_use]
    pub fn new(bits_per_second: u64) -> Self {
        Self {
            bits_per_second: bits_per_second.max(1),
            max_queue_delay: Duration::from_millis(100),
            max_queue_bytes: None,
            overhead_bytes: 0,
        }
    }

    /// Drop packets that find more than this backlog (in time) in front of them.
    #[must_use]
    pub fn max_queue_delay(mut self, delay: Duration) -> Self {
        self.max_queue_delay = clamp_duration(delay);
        self
    }

    /// Also drop packets that would make the backlog exceed this many bytes.
    #[must_use]
    pub fn max_queue_bytes(mut self, bytes: u64) -> Self {
        self.max_queue_bytes = Some(bytes);
        self
    }

    /// Bytes added to every packet's size on the wire (e.g. 28 for IPv4 + UDP headers).
    #[must_use]
    pub fn overhead_bytes(mut self, bytes: u32) -> Self {
        self.overhead_bytes = bytes;
        self
    }

    /// The rate in bits per second.
    #[must_use]
    pub const fn bits_per_second(&self) -> u64 {
        self.bits_per_second
    }

    /// Time on the wire of a packet of `len` bytes (plus overhead), rounded up to the
    /// nanosecond.
    #[must_use]
    pub fn serialization_time(&self, len: usize) -> Duration {
        let bits = (len as u128 + u128::from(self.overhead_bytes)) * 8;
        let rate = u128::from(self.bits_per_second.max(1));
        let nanos = (bits * 1_000_000_000).div_ceil(rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Bytes the link carries in `d` at this rate (rounded down).
    #[must_use]
    pub fn bytes_in(&self, d: Duration) -> u64 {
        let bytes = d.as_nanos() * u128::from(self.bits_per_second) / 8_000_000_000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gilbert_from_mean_loss_round_trips() {
        let ge = GilbertElliott::from_mean_loss(0.05, 3.0);
        assert!((ge.mean_loss() - 0.05).abs() < 1e-12);
        assert!((ge.mean_bad_run() - 3.0).abs() < 1e-12);
        assert!((ge.r() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn setters_clamp() {
        let c = NetemConfig::new()
            .loss(f64::NAN)
            .duplicate(7.0)
            .delay(Duration::MAX);
        assert_eq!(c.loss_probability(), 0.0);
        assert_eq!(c.duplicate_probability(), 1.0);
        assert_eq!(c.base_delay(), MAX_DURATION);
        assert_eq!(Bandwidth::new(0).bits_per_second(), 1);
    }

    #[test]
    fn serialization_time_is_exact() {
        let bw = Bandwidth::new(1_000_000).overhead_bytes(28);
        // (1222 + 28) * 8 = 10_000 bits at 1 Mbit/s = 10 ms.
        assert_eq!(bw.serialization_time(1222), Duration::from_millis(10));
        assert_eq!(bw.bytes_in(Duration::from_secs(1)), 125_000);
    }
}
