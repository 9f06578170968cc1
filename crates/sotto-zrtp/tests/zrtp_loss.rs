//! 20 % loss in both directions (plus 20 ms one-way delay), 1000 seeded runs on a virtual clock.
//!
//! "Secure" means both sides reported `Event::Secure` with the same SAS and matching SRTP keys:
//! the initiator once Confirm1 checked out, the responder once Confirm2 did. A run's time is the
//! later of the two. Seeds 0..1000, the netem loss model and the 3 s bound are fixed.
//!
//! With the RFC 6189 §6 timers exactly (Hello T1 50→200 ms; Commit/DHPart2/Confirm2 T2
//! 150→1200 ms; only the initiator retransmits on a timer) and a peer's own-initiative message
//! that shows ours was lost answered at once with our identical copy (its repeated Hello gets
//! our Commit; a contention loser's repeated Commit gets the winner's; see
//! `zrtp_answer_retransmission.rs`), this engine measures 992/1000 secure within 3 s, all 1000
//! within 10 s; on 20 000 seeds 19 823 (99.1 %). Without those two answers it was 980/1000
//! (19 731/20 000, 98.7 %).
//!
//! Every run that still misses 3 s loses five round trips in a row in one initiator-driven
//! phase (Commit→DHPart1 or DHPart2→Confirm1): T2 sends at 0, 150, 450, 1050, 2250 ms, so the
//! fifth loss pushes that phase to the 3450 ms copy. In those phases the responder sends nothing
//! of its own (§6), so no other message can show the loss early; at 20 % loss each way a round
//! trip fails 36 % of the time, and 0.36^5 ≈ 0.6 % per phase.
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

use common::*;

#[test]
fn twenty_percent_loss_1000_runs() {
    let mut within_3s = 0;
    let mut all = 0;
    let mut worst = Duration::ZERO;
    let mut slow = Vec::new();
    for seed in 0..1000u64 {
        let start = t0();
        let pair = run(
            config(1),
            config(2),
            lossy(0.2, seed),
            seed,
            Duration::from_secs(10),
        );
        let (a, b) = (pair.a(), pair.b());
        let (sa, sb) = (a.secure().unwrap(), b.secure().unwrap());
        assert_eq!(sa.sas, sb.sas);
        assert_eq!(sa.srtp.send().0, sb.srtp.recv().0);
        assert_eq!(sa.srtp.recv().0, sb.srtp.send().0);
        let t = a.secure_at.unwrap().max(b.secure_at.unwrap()) - start;
        all += 1;
        worst = worst.max(t);
        if t <= Duration::from_secs(3) {
            within_3s += 1;
        } else {
            slow.push((seed, t));
        }
    }
    println!("{within_3s}/1000 secure within 3 s; {all}/1000 within 10 s; slowest {worst:?}");
    println!("over 3 s (seed, time): {slow:?}");
    assert_eq!(all, 1000);
    // Issue #8: at least 99 % within 3 s.
    assert!(within_3s >= 990, "{within_3s}/1000 within 3 s");
}

/// The same on 20 000 seeds, to see the rate without the noise of 1000 runs (±0.25 %). Ignored
/// (about 10 s unoptimised): `cargo test -p sotto-zrtp --test zrtp_loss -- --ignored --nocapture`.
#[test]
#[ignore = "long statistical run; the 1000-seed test is the gate"]
fn twenty_percent_loss_20000_runs_rate() {
    let n = 20_000u64;
    let (mut within_3s, mut within_10s) = (0u64, 0u64);
    for seed in 0..n {
        let start = t0();
        let pair = run(
            config(1),
            config(2),
            lossy(0.2, seed),
            seed,
            Duration::from_secs(10),
        );
        let (a, b) = (pair.a(), pair.b());
        let (Some(ta), Some(tb)) = (a.secure_at, b.secure_at) else {
            continue;
        };
        assert_eq!(a.secure().unwrap().sas, b.secure().unwrap().sas);
        within_10s += 1;
        if ta.max(tb) - start <= Duration::from_secs(3) {
            within_3s += 1;
        }
    }
    println!("{within_3s}/{n} secure within 3 s; {within_10s}/{n} within 10 s");
    assert!(within_3s * 100 >= n * 99, "{within_3s}/{n}");
}
