//! Two ZRTP engines talk while the fuzzer decides, packet by packet, what the network does:
//! deliver, drop, duplicate, corrupt a byte (with the CRC fixed so the engine's own checks are
//! reached), inject raw bytes, advance time, confirm or reject the SAS. The first byte picks the
//! responder's role and the key agreement (defaults, EC25, EC38 or X448). Nothing may panic, and
//! if both sides report Secure they must agree on the keys.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sotto_proto::crypto::Random;
use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::packet::{Packet, crc32c};
use sotto_zrtp::{Config, Event, Input, KeyAgreement, Output, RoleSetting, SecureInfo, ZrtpSession};

struct Counter(u64);
impl Random for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (self.0 >> 33) as u8;
        }
    }
}

struct Side {
    s: ZrtpSession,
    out: VecDeque<Vec<u8>>,
    secure: Option<Box<SecureInfo>>,
}

impl Side {
    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            match o {
                Output::Transmit(b) => self.out.push_back(b),
                Output::Event(Event::Secure(i)) => self.secure = Some(i),
                _ => {}
            }
        }
    }
}

fn side(n: u8, role: RoleSetting, ka: Option<KeyAgreement>, now: Instant) -> Side {
    let mut c = Config::new(Zid([n; 12]), Ssrc(u32::from(n)), 1_700_000_000);
    c.role = role;
    if let Some(k) = ka {
        c.algorithms.key_agreements = vec![k];
    }
    let s = ZrtpSession::new(c, Box::new(Counter(u64::from(n))), None, now).unwrap();
    let mut x = Side { s, out: VecDeque::new(), secure: None };
    x.drain();
    x
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let first = data.first().copied().unwrap_or(0);
    let role_b = if first & 1 == 0 { RoleSetting::Responder } else { RoleSetting::Initiator };
    // Bits 1-2 of the first byte: the defaults (X255) or only EC25, EC38 or X448 on offer.
    let ka = match (first >> 1) & 3 {
        1 => Some(KeyAgreement::Ec25),
        2 => Some(KeyAgreement::Ec38),
        3 => Some(KeyAgreement::X448),
        _ => None,
    };
    let mut sides = [side(1, RoleSetting::Initiator, ka, now), side(2, role_b, ka, now)];
    let mut i = 1;
    while i < data.len() {
        let op = data[i];
        i += 1;
        let from = usize::from(op & 1);
        let to = 1 - from;
        match (op >> 1) % 8 {
            0 | 1 | 2 => {
                if let Some(p) = sides[from].out.pop_front() {
                    let _ = sides[to].s.handle_input(now, Input::Datagram(&p));
                }
            }
            3 => {
                sides[from].out.pop_front();
            }
            4 => {
                // Corrupt one byte, fix the CRC so only ZRTP's own checks can catch it.
                if let Some(mut p) = sides[from].out.pop_front() {
                    let at = usize::from(data.get(i).copied().unwrap_or(0)) % p.len().max(1);
                    let x = data.get(i + 1).copied().unwrap_or(1) | 1;
                    i += 2;
                    if let Some(b) = p.get_mut(at) {
                        *b ^= x;
                    }
                    if p.len() >= 4 {
                        let n = p.len() - 4;
                        let c = crc32c(&p[..n]);
                        p[n..].copy_from_slice(&c.to_le_bytes());
                    }
                    let _ = sides[to].s.handle_input(now, Input::Datagram(&p));
                }
            }
            5 => {
                // Raw bytes framed as a ZRTP packet with a valid CRC.
                let len = usize::from(data.get(i).copied().unwrap_or(0));
                let body = data.get(i + 1..(i + 1 + len).min(data.len())).unwrap_or(&[]);
                i += 1 + body.len();
                let p = Packet::emit(1, Ssrc(9), body);
                let _ = sides[to].s.handle_input(now, Input::Datagram(&p));
            }
            6 => {
                now += Duration::from_millis(u64::from(data.get(i).copied().unwrap_or(0)) * 10);
                i += 1;
                for s in &mut sides {
                    if s.s.poll_timeout().is_some_and(|t| t <= now) {
                        let _ = s.s.handle_input(now, Input::Timeout);
                    }
                }
            }
            _ => {
                let input = if op & 0x80 != 0 { Input::ConfirmSas } else { Input::RejectSas };
                let _ = sides[from].s.handle_input(now, input);
            }
        }
        for s in &mut sides {
            s.drain();
        }
    }
    if let (Some(a), Some(b)) = (&sides[0].secure, &sides[1].secure) {
        assert_eq!(a.sas_value, b.sas_value);
        assert!(a.srtp.send().0 == b.srtp.recv().0);
    }
});
