//! The user agent state machine never panics, whatever datagrams arrive in whatever order,
//! interleaved with timeouts and user actions.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sotto_proto::crypto::Random;
use sotto_sip::ua::{UaConfig, UaEvent, UaOutput};
use sotto_sip::UserAgent;

struct Counter(u64);
impl Random for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (self.0 >> 33) as u8;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5060".parse().unwrap(), "fuzz"), Box::new(Counter(1)));
    let peer = "127.0.0.1:5070".parse().unwrap();
    ua.invite(now, "sip:x@127.0.0.1:5070".parse().unwrap(), peer, Vec::new());
    // Records split by 0x00: each is a datagram; a record's first byte also picks an action.
    for rec in data.split(|b| *b == 0) {
        now += Duration::from_millis(u64::from(rec.first().copied().unwrap_or(0)) * 10);
        ua.handle_datagram(now, peer, rec);
        if ua.poll_timeout().is_some_and(|t| t <= now) {
            ua.handle_timeout(now);
        }
        while let Some(o) = ua.poll_output() {
            if let UaOutput::Event(UaEvent::IncomingCall { call, .. } | UaEvent::Reinvite { call, .. }) = o {
                match rec.len() % 4 {
                    0 => drop(ua.answer(now, call, Vec::new())),
                    1 => drop(ua.reject(now, call, 486)),
                    2 => drop(ua.ringing(now, call)),
                    _ => drop(ua.hangup(now, call)),
                }
            }
        }
    }
});
