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
//! Two peers on a virtual clock through `sotto-netem`: a minute of 20 ms audio on every profile
//! over a bad path (bursty loss, jitter, reordering, duplication) plus an on-path attacker who
//! replays everything it saw. Every original packet that arrives decrypts exactly once; every
//! copy is refused as a replay; nothing fails authentication; the context never gets stuck.

mod common;
use common::{pair, rtp};
use sotto_netem::{GilbertElliott, Jitter, Netem, NetemConfig};
use sotto_srtp::{Config, Error, Profile};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[test]
fn a_minute_of_audio_over_a_bad_path_with_a_replaying_attacker() {
    for (n, profile) in Profile::ALL.into_iter().enumerate() {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let path = NetemConfig::new()
            .burst_loss(GilbertElliott::from_mean_loss(0.05, 3.0))
            .delay(Duration::from_millis(40))
            .jitter(Jitter::uniform(Duration::from_millis(30)))
            .reorder(0.05, Duration::from_millis(60))
            .duplicate(0.02);
        let mut net: Netem<Vec<u8>> = Netem::new(path, 0x5EED + n as u64);
        #[allow(
            clippy::disallowed_methods,
            reason = "only the origin of the virtual clock"
        )]
        let mut now = Instant::now();
        let mut captured: Vec<Vec<u8>> = Vec::new();
        let mut seen: HashSet<u16> = HashSet::new();
        let (mut ok, mut replays) = (0u64, 0u64);
        let first_seq: u16 = 0xFA00; // wraps during the minute
        let mut deliver =
            |pkt: Vec<u8>, seen: &mut HashSet<u16>, ok: &mut u64, replays: &mut u64| {
                let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
                let mut p = pkt;
                match rx.unprotect_rtp_vec(&mut p) {
                    Ok(()) => {
                        assert!(seen.insert(seq), "{profile}: seq {seq:#06x} accepted twice");
                        assert_eq!(p, rtp(0xA0D10, seq, 80, 0, 0));
                        *ok += 1;
                    }
                    Err(Error::Replayed) => {
                        assert!(seen.contains(&seq));
                        *replays += 1;
                    }
                    Err(e) => panic!("{profile}: seq {seq:#06x}: {e}"),
                }
            };
        for i in 0..3000u16 {
            let mut p = rtp(0xA0D10, first_seq.wrapping_add(i), 80, 0, 0);
            tx.protect_rtp_vec(&mut p).unwrap();
            if i % 10 == 0 {
                captured.push(p.clone());
            }
            net.send(now, p);
            now += Duration::from_millis(20);
            while let Some(pkt) = net.poll_receive(now) {
                deliver(pkt, &mut seen, &mut ok, &mut replays);
            }
            // The attacker replays one captured packet every 100 ms.
            if i % 5 == 0 && !captured.is_empty() {
                let old = captured[captured.len() - 1].clone();
                if seen.contains(&u16::from_be_bytes([old[2], old[3]])) {
                    deliver(old, &mut seen, &mut ok, &mut replays);
                }
            }
        }
        now += Duration::from_secs(1);
        while let Some(pkt) = net.poll_receive(now) {
            deliver(pkt, &mut seen, &mut ok, &mut replays);
        }
        let stats = net.stats();
        assert!(
            stats.delivered_out_of_order > 0 && stats.duplicated > 0,
            "{stats:?}"
        );
        assert_eq!(
            ok,
            3000 - stats.lost_burst - stats.lost_random,
            "{profile}: {stats:?}"
        );
        assert!(
            replays >= stats.duplicated,
            "{profile}: every duplicate refused"
        );
        assert_eq!(rx.roc(0xA0D10), Some(1), "{profile}: wrapped once");
    }
}
