//! Property tests: for any configuration and any send pattern, the schedule keeps its promises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use proptest::prelude::*;
use sotto_netem::{Bandwidth, Fate, GilbertElliott, Jitter, Netem, NetemConfig};

fn config() -> impl Strategy<Value = NetemConfig> {
    (
        (
            0.0..0.5f64,
            proptest::option::of((0.0..0.3f64, 0.1..1.0f64)),
        ),
        (0.0..0.3f64, 0u64..100_000),
        prop_oneof![
            Just(Jitter::None),
            (0u64..50_000).prop_map(|us| Jitter::uniform(Duration::from_micros(us))),
            (0u64..30_000, 0u64..10_000).prop_map(|(m, s)| Jitter::normal(
                Duration::from_micros(m),
                Duration::from_micros(s)
            )),
        ],
        proptest::option::of((0.0..0.3f64, 0u64..50_000)),
        proptest::option::of((8_000u64..10_000_000, 0u64..200_000)),
    )
        .prop_map(|((loss, burst), (dup, delay_us), jitter, reorder, bw)| {
            let mut c = NetemConfig::new()
                .loss(loss)
                .duplicate(dup)
                .delay(Duration::from_micros(delay_us))
                .jitter(jitter);
            if let Some((p, r)) = burst {
                c = c.burst_loss(GilbertElliott::new(p, r, 0.0, 1.0));
            }
            if let Some((p, hold)) = reorder {
                c = c.reorder(p, Duration::from_micros(hold));
            }
            if let Some((rate, q)) = bw {
                c = c.bandwidth(Bandwidth::new(rate).max_queue_delay(Duration::from_micros(q)));
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn schedule_keeps_its_promises(
        config in config(),
        seed in any::<u64>(),
        sends in proptest::collection::vec((0u64..5_000, 8usize..1500), 1..200),
    ) {
        let start = common::base();
        let mut netem = Netem::new(config.clone(), seed);
        netem.enable_trace();
        let mut t = start;
        let mut received = Vec::new();
        let drain = |netem: &mut Netem, until: Option<std::time::Instant>, out: &mut Vec<(std::time::Instant, u64)>| {
            while let Some(at) = netem.poll_timeout() {
                if until.is_some_and(|u| at > u) {
                    break;
                }
                // Not due a nanosecond early.
                assert!(netem.poll_receive(at - Duration::from_nanos(1)).is_none());
                let p = netem.poll_receive(at).unwrap();
                out.push((at, common::seq_of(&p)));
            }
        };
        for (i, (gap_us, len)) in sends.iter().enumerate() {
            t += Duration::from_micros(*gap_us);
            drain(&mut netem, Some(t), &mut received);
            netem.send(t, common::payload(i as u64, *len));
        }
        drain(&mut netem, None, &mut received);
        let trace = netem.take_trace();
        let stats = *netem.stats();

        // Conservation: every copy is lost or delivered, nothing is left.
        prop_assert_eq!(netem.in_flight(), 0);
        prop_assert_eq!(stats.sent + stats.duplicated, stats.delivered + stats.lost());
        prop_assert_eq!(stats.delivered, received.len() as u64);

        // The trace predicts the deliveries exactly, in order (ties in scheduling order).
        let mut expected: Vec<(std::time::Instant, usize, u64, bool)> = trace
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e.fate {
                Fate::Scheduled { deliver_at, held } => Some((deliver_at, i, e.seq, held)),
                _ => None,
            })
            .collect();
        expected.sort();
        let predicted: Vec<(std::time::Instant, u64)> =
            expected.iter().map(|&(at, _, seq, _)| (at, seq)).collect();
        prop_assert_eq!(&predicted, &received);

        let delay = config.base_delay();
        let max_jitter = config.jitter_model().max_extra();
        let hold = config.reorder_model().map_or(Duration::ZERO, |r| r.hold);
        for e in &trace {
            if let Fate::Scheduled { deliver_at, held } = e.fate {
                // Never before send time + base delay.
                prop_assert!(deliver_at >= e.sent_at + delay);
                // Without a bandwidth queue, never after send + delay + max jitter (+ hold).
                if config.bandwidth_cap().is_none() {
                    let extra = if held { hold } else { Duration::ZERO };
                    prop_assert!(deliver_at <= e.sent_at + delay + max_jitter + extra);
                }
            }
        }
        // Copies that were not held back come out in send order (FIFO).
        let in_order: Vec<u64> =
            expected.iter().filter(|e| !e.3).map(|e| e.2).collect();
        prop_assert!(in_order.windows(2).all(|w| w[0] <= w[1]));
        // Without reordering nothing is seen out of order.
        if stats.reordered == 0 {
            prop_assert_eq!(stats.delivered_out_of_order, 0);
        }
    }
}
