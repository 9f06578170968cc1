//! CPU cost of a complete ZRTP handshake between two in-process engines (both sides' work,
//! packets handed over in memory, no timers fire).
//!
//! `cargo bench -p sotto-zrtp --bench handshake [-- KA [N]]`, e.g. `-- X255 500`. Prints one
//! line per key agreement: mean CPU µs per handshake (both engines together), measured with the
//! thread's CPU clock (`/proc/thread-self/schedstat`), falling back to wall time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark binary"
)]

use std::time::{Duration, Instant};

use sotto_proto::crypto::OsRandom;
use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::{AlgoPrefs, Config, Event, Input, KeyAgreement, Output, RoleSetting, ZrtpSession};

fn cpu_now() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn handshake(ka: KeyAgreement, contention: bool) -> String {
    let now = Instant::now();
    let mk = |n: u8, role| {
        let mut c = Config::new(Zid([n; 12]), Ssrc(u32::from(n)), 1_700_000_000);
        c.role = role;
        c.algorithms = AlgoPrefs {
            key_agreements: vec![ka],
            ..AlgoPrefs::default()
        };
        ZrtpSession::new(c, Box::new(OsRandom), None, now).unwrap()
    };
    let r2 = if contention {
        RoleSetting::Initiator
    } else {
        RoleSetting::Responder
    };
    let mut s = [mk(1, RoleSetting::Initiator), mk(2, r2)];
    let mut sas: [Option<String>; 2] = [None, None];
    let mut queues: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..100 {
        for i in 0..2 {
            while let Some(o) = s[i].poll_output() {
                match o {
                    Output::Transmit(b) => queues[1 - i].push(b),
                    Output::Event(Event::Secure(info)) => sas[i] = Some(info.sas),
                    _ => {}
                }
            }
        }
        if sas.iter().all(Option::is_some) && queues.iter().all(Vec::is_empty) {
            break;
        }
        for i in 0..2 {
            for p in std::mem::take(&mut queues[i]) {
                let _ = s[i].handle_input(now, Input::Datagram(&p));
            }
        }
    }
    assert_eq!(sas[0], sas[1]);
    sas[0].clone().expect("handshake did not complete")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let kas: Vec<KeyAgreement> = match args.first() {
        Some(k) => vec![k.parse().expect("key agreement name")],
        None => vec![
            KeyAgreement::X255,
            KeyAgreement::X448,
            KeyAgreement::Ec25,
            KeyAgreement::Dh3k,
        ],
    };
    let n: u32 = args.get(1).map_or(200, |v| v.parse().unwrap());
    for ka in kas {
        let n = if matches!(ka, KeyAgreement::Dh3k | KeyAgreement::Dh2k) {
            n.min(20)
        } else {
            n
        };
        for contention in [false, true] {
            handshake(ka, contention); // warm up
            let (c0, w0) = (cpu_now(), Instant::now());
            for _ in 0..n {
                std::hint::black_box(handshake(ka, contention));
            }
            let wall = w0.elapsed() / n;
            let cpu = match (c0, cpu_now()) {
                (Some(a), Some(b)) => Some((b - a) / n),
                _ => None,
            };
            let mode = if contention {
                "both initiators (contention)"
            } else {
                "initiator/responder"
            };
            println!(
                "sotto handshake {ka} {mode}: {:.1} us CPU per handshake (both sides), {:.1} us wall, n={n}",
                cpu.unwrap_or(wall).as_secs_f64() * 1e6,
                wall.as_secs_f64() * 1e6
            );
        }
    }
}
