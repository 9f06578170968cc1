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
#![allow(
    clippy::disallowed_methods,
    reason = "the test picks the clock origin with Instant::now"
)]
//! Property tests: no input panics the engine, tampered messages never display, fragments
//! reassemble to exactly what was split.

use proptest::prelude::*;
use rand::SeedableRng;
use sotto_otr::text::{self, Classified, Reassembly};
use sotto_otr::{Config, Event, InstanceTag, LongTermKey, Output, Session, wire};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

mod support;
use support::Rng;

fn keys() -> &'static [Arc<LongTermKey>; 2] {
    static K: OnceLock<[Arc<LongTermKey>; 2]> = OnceLock::new();
    K.get_or_init(|| {
        let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(5));
        [
            Arc::new(LongTermKey::generate(&mut r)),
            Arc::new(LongTermKey::generate(&mut r)),
        ]
    })
}

/// A recorded conversation: the wire messages A sent to B (AKE + data), in order.
fn transcript() -> &'static (Vec<String>, Vec<String>) {
    static T: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(6));
        let mut rb = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(B_SEED));
        let now = Instant::now();
        let mut a = Session::new(Config::default(), keys()[0].clone(), InstanceTag(0x1000));
        let mut b = Session::new(Config::default(), keys()[1].clone(), InstanceTag(0x2000));
        let (mut a_to_b, mut b_to_a) = (Vec::new(), Vec::new());
        a.start();
        for round in 0..8 {
            if round == 4 {
                a.send(now, "hello there", &mut r).unwrap();
                b.send(now, "hi back", &mut rb).unwrap();
            }
            while let Some(o) = a.poll_output() {
                if let Output::SendToNetwork(t) = o {
                    a_to_b.push(t.clone());
                    let _ = b.handle_incoming(now, &t, &mut rb);
                }
            }
            while let Some(o) = b.poll_output() {
                if let Output::SendToNetwork(t) = o {
                    b_to_a.push(t.clone());
                    let _ = a.handle_incoming(now, &t, &mut r);
                }
            }
        }
        (a_to_b, b_to_a)
    })
}

const B_SEED: u64 = 7;

/// Replay A's messages into a fresh B with B's original randomness: returns what B displays
/// as encrypted, with the index of the message that carried it.
fn replay(msgs: &[String]) -> Vec<(usize, String)> {
    let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(B_SEED));
    let mut b = fresh_b();
    let now = Instant::now();
    let mut shown = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let _ = b.handle_incoming(now, m, &mut r);
        while let Some(o) = b.poll_output() {
            if let Output::Event(Event::DisplayMessage {
                encrypted: true,
                text,
            }) = o
            {
                shown.push((i, text));
            }
        }
    }
    shown
}

#[test]
fn untampered_replay_displays() {
    let (a_to_b, _) = transcript();
    let shown = replay(a_to_b);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].1, "hello there");
}

fn fresh_b() -> Session {
    Session::new(Config::default(), keys()[1].clone(), InstanceTag(0x2000))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(1));
        let mut b = fresh_b();
        let _ = b.handle_incoming(Instant::now(), &s, &mut r);
        while b.poll_output().is_some() {}
        let _ = text::classify(&s);
    }

    #[test]
    fn arbitrary_binary_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        use base64::Engine as _;
        let _ = wire::check_message(&bytes);
        let _ = wire::parse_payload(&bytes);
        let _ = wire::check_smp_values(&bytes, 6);
        let mut r = Rng(rand_chacha::ChaCha20Rng::seed_from_u64(2));
        let mut b = fresh_b();
        let msg = format!("?OTR:{}.", base64::engine::general_purpose::STANDARD.encode(&bytes));
        let _ = b.handle_incoming(Instant::now(), &msg, &mut r);
        while b.poll_output().is_some() {}
    }

    /// Flip bits anywhere in the recorded messages: no panic, and a tampered data message is
    /// never shown as an encrypted message.
    #[test]
    fn tampered_transcript_never_panics_or_displays(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..8), 1..4)
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (a_to_b, _) = transcript();
        let mut msgs: Vec<Vec<u8>> = a_to_b
            .iter()
            .map(|m| match m.strip_prefix("?OTR:") {
                Some(b) => b64.decode(&b[..b.len() - 1]).unwrap(),
                None => m.as_bytes().to_vec(),
            })
            .collect();
        let mut tampered = std::collections::HashSet::new();
        for (mi, bi, bit) in flips {
            let m = mi.index(msgs.len());
            if !a_to_b[m].starts_with("?OTR:") {
                continue;
            }
            let i = bi.index(msgs[m].len());
            msgs[m][i] ^= 1 << bit;
            tampered.insert(m);
        }
        let texts: Vec<String> = msgs
            .iter()
            .zip(a_to_b)
            .map(|(m, orig)| {
                if orig.starts_with("?OTR:") {
                    format!("?OTR:{}.", b64.encode(m))
                } else {
                    orig.clone()
                }
            })
            .collect();
        for (i, text) in replay(&texts) {
            // Only an untouched data message may display, and only with its own text.
            prop_assert!(!tampered.contains(&i), "tampered message displayed: {text}");
            prop_assert_eq!(text, "hello there");
        }
    }

    #[test]
    fn fragments_reassemble_exactly(
        bytes in proptest::collection::vec(any::<u8>(), 1..2000),
        max in 40usize..400,
        v3 in any::<bool>(),
    ) {
        let enc = text::encode_message(&bytes);
        let tags = v3.then_some((0x1234u32, 0xabcdu32));
        let frags = text::fragment(&enc, max, tags).unwrap();
        let mut re = Reassembly::default();
        let mut out = None;
        for (i, f) in frags.iter().enumerate() {
            prop_assert!(f.len() <= max);
            let Classified::Fragment(fr) = text::classify(f).unwrap() else {
                // A message that fits is sent whole.
                prop_assert_eq!(frags.len(), 1);
                out = Some(f.clone());
                break;
            };
            let got = re.push(&fr);
            if i + 1 < frags.len() {
                prop_assert!(got.is_none());
            } else {
                out = got;
            }
        }
        prop_assert_eq!(out, Some(enc));
    }

    #[test]
    fn shuffled_fragments_never_yield_a_wrong_message(
        bytes in proptest::collection::vec(any::<u8>(), 200..800),
        order in Just((0..12).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let enc = text::encode_message(&bytes);
        let frags = text::fragment(&enc, 120, Some((0x100, 0x200))).unwrap();
        let mut re = Reassembly::default();
        for i in order.into_iter().filter(|i| *i < frags.len()) {
            let Classified::Fragment(fr) = text::classify(&frags[i]).unwrap() else { continue };
            if let Some(whole) = re.push(&fr) {
                prop_assert_eq!(&whole, &enc);
            }
        }
    }
}
