//! A blocking UDP driver for one or two ZRTP streams on 127.0.0.1 (interop tests only).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "test driver: real sockets and clock"
)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sotto_zrtp::{Config, Event, Input, Output, SecureInfo, StreamMode, ZidCache, ZrtpSession};

use super::Seeded;

pub struct UdpRun {
    pub secure: Vec<SecureInfo>,
    pub failed: Option<sotto_zrtp::FailureReason>,
    pub hello_hash: String,
    pub elapsed: Duration,
}

/// Runs `streams` streams: stream n listens on `listen + n` and sends to `peer + n`. The first
/// uses `cfg` (DH mode); the second starts in Multistream mode once the first is secure.
#[allow(clippy::too_many_arguments, reason = "test driver")]
pub fn run_udp(
    cfg: Config,
    cache: Option<Box<dyn ZidCache>>,
    listen: u16,
    peer: u16,
    streams: usize,
    loss: f64,
    seed: u64,
    timeout: Duration,
    mark_verified: bool,
) -> UdpRun {
    use rand::{Rng, SeedableRng};
    let mut lossrng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let socks: Vec<UdpSocket> = (0..streams)
        .map(|n| {
            let s = UdpSocket::bind(("127.0.0.1", listen + n as u16)).unwrap();
            s.connect(("127.0.0.1", peer + n as u16)).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let base_ssrc = cfg.ssrc;
    let zid = cfg.zid;
    let unix_time = cfg.unix_time;
    let algorithms = cfg.algorithms.clone();
    let mut sessions: Vec<Option<ZrtpSession>> = Vec::new();
    let first = ZrtpSession::new(cfg, Box::new(Seeded::new(seed)), cache, start).unwrap();
    let hello_hash = first.hello_hash();
    sessions.push(Some(first));
    for _ in 1..streams {
        sessions.push(None);
    }
    let mut out = UdpRun {
        secure: Vec::new(),
        failed: None,
        hello_hash,
        elapsed: Duration::ZERO,
    };
    let mut secure_count = 0;
    let mut buf = [0u8; 4000];
    loop {
        let now = Instant::now();
        if now - start > timeout || out.failed.is_some() {
            break;
        }
        for (n, slot) in sessions.iter_mut().enumerate() {
            let Some(s) = slot.as_mut() else { continue };
            while let Ok(len) = socks[n].recv(&mut buf) {
                if loss > 0.0 && lossrng.gen_bool(loss) {
                    continue;
                }
                let _ = s.handle_input(Instant::now(), Input::Datagram(&buf[..len]));
            }
            if s.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                let _ = s.handle_input(Instant::now(), Input::Timeout);
            }
            while let Some(o) = s.poll_output() {
                match o {
                    Output::Transmit(b) => {
                        let _ = socks[n].send(&b);
                    }
                    Output::Event(Event::Secure(info)) => {
                        secure_count += 1;
                        if secure_count == 1 {
                            out.elapsed = start.elapsed();
                        }
                        out.secure.push(*info);
                        if mark_verified && n == 0 {
                            let _ = s.handle_input(Instant::now(), Input::ConfirmSas);
                        }
                    }
                    Output::Event(Event::Failed(r)) => out.failed = Some(r),
                    _ => {}
                }
            }
        }
        // Start stream 2 in Multistream mode once stream 1 is secure.
        if streams > 1
            && sessions[1].is_none()
            && let Some(first) = out.secure.first()
        {
            {
                let mut c2 = Config::new(zid, sotto_proto::Ssrc(base_ssrc.0 + 1), unix_time);
                c2.algorithms = algorithms.clone();
                c2.mode = StreamMode::Multistream(first.multistream.as_ref().unwrap().clone_key());
                let s2 =
                    ZrtpSession::new(c2, Box::new(Seeded::new(seed + 99)), None, Instant::now())
                        .unwrap();
                sessions[1] = Some(s2);
                continue;
            }
        }
        if out.secure.len() >= streams {
            // Linger; an initiator keeps retransmitting Confirm2 until Conf2ACK (timer armed).
            let linger_until = Instant::now() + Duration::from_millis(300);
            let hard_stop = Instant::now() + Duration::from_secs(8);
            while Instant::now() < hard_stop
                && (Instant::now() < linger_until
                    || sessions
                        .iter()
                        .flatten()
                        .any(|s| s.poll_timeout().is_some()))
            {
                for s in sessions.iter_mut().flatten() {
                    if s.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                        let _ = s.handle_input(Instant::now(), Input::Timeout);
                    }
                }
                for (n, slot) in sessions.iter_mut().enumerate() {
                    let Some(s) = slot.as_mut() else { continue };
                    while let Ok(len) = socks[n].recv(&mut buf) {
                        if loss > 0.0 && lossrng.gen_bool(loss) {
                            continue;
                        }
                        let _ = s.handle_input(Instant::now(), Input::Datagram(&buf[..len]));
                    }
                    while let Some(o) = s.poll_output() {
                        if let Output::Transmit(b) = o {
                            let _ = socks[n].send(&b);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    out
}
