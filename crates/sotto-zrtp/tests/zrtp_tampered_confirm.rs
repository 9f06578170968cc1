//! A tampered Confirm1 or Confirm2 (CRC fixed up, so only the ZRTP checks can catch it) fails the
//! Confirm MAC (RFC 6189 §5.7, Error 0x70) and releases no keys on the side that received it.
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
use sotto_netem::Pair;
use sotto_zrtp::message::block;
use sotto_zrtp::{FailureReason, RoleSetting};

fn tamper_run(target: [u8; 8], offset_from_end: usize) -> (Peer, Peer) {
    let start = t0();
    let mut ca = config(1);
    ca.role = RoleSetting::Initiator;
    let mut cb = config(2);
    cb.role = RoleSetting::Responder;
    let a = session(ca, 11, None, start);
    let b = session(cb, 12, None, start);
    // The attacker sits on both directions: wrap both sides.
    let f = move |p: &mut Vec<u8>| {
        if msg_type(p) == Some(target) {
            let i = p.len() - 4 - offset_from_end;
            p[i] ^= 0x80;
            fix_crc(p);
        }
    };
    let ta = Tamper { inner: a, f };
    let tb = Tamper { inner: b, f };
    let mut pair = Pair::new(ta, tb, perfect(), start);
    let _ = pair.drive_until(
        |a, b| a.inner.done() && b.inner.done(),
        Duration::from_secs(10),
    );
    let (a, b) = pair.into_endpoints();
    (a.inner, b.inner)
}

#[test]
fn tampered_confirm1_is_rejected() {
    // Flip a bit in the encrypted part (the cache expiration interval).
    let (initiator, responder) = tamper_run(block::CONFIRM1, 2);
    assert_eq!(initiator.failed(), Some(&FailureReason::ConfirmMac));
    assert!(
        initiator.secure().is_none(),
        "keys released after a bad Confirm1"
    );
    // The responder hears Error 0x70 and fails too; it never saw a valid Confirm2.
    assert_eq!(responder.failed(), Some(&FailureReason::PeerError(0x70)));
    assert!(responder.secure().is_none());
}

#[test]
fn tampered_confirm2_is_rejected() {
    let (initiator, responder) = tamper_run(block::CONFIRM2, 20);
    assert_eq!(responder.failed(), Some(&FailureReason::ConfirmMac));
    assert!(
        responder.secure().is_none(),
        "keys released after a bad Confirm2"
    );
    // The initiator went Secure on Confirm1 and then hears the responder's Error.
    assert!(
        initiator
            .events
            .iter()
            .any(|e| matches!(e, sotto_zrtp::Event::Failed(FailureReason::PeerError(0x70))))
    );
}

#[test]
fn tampered_confirm_mac_field_is_rejected() {
    // The confirm_mac field itself (bytes 12..20 of the message).
    let start = t0();
    let a = session(config(1), 21, None, start);
    let mut cb = config(2);
    cb.role = RoleSetting::Responder;
    let b = session(cb, 22, None, start);
    let f = |p: &mut Vec<u8>| {
        if msg_type(p) == Some(block::CONFIRM1) {
            p[12 + 12] ^= 1;
            fix_crc(p);
        }
    };
    let mut pair = Pair::new(a, Tamper { inner: b, f }, perfect(), start);
    let _ = pair.drive_until(|a, b| a.done() && b.inner.done(), Duration::from_secs(10));
    assert_eq!(pair.a().failed(), Some(&FailureReason::ConfirmMac));
    assert!(pair.a().secure().is_none());
}
