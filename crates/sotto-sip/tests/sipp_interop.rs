#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "interop test: real sockets and the real clock drive the sans-IO user agent"
)]
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
//! Interop with SIPp (Debian `sip-tester`), run by `.ci/run` (ignored by default):
//!
//! * SIPp's built-in UAC (`-sn uac`) calls our UAS: INVITE/180/200/ACK/BYE.
//! * Our UAC calls SIPp's built-in UAS (`-sn uas`).
//! * While a SIPp call is in progress, a flood of malformed datagrams (mutated INVITEs, the
//!   RFC 4475 invalid messages, random bytes) and a SIPp scenario of malformed requests that
//!   must each get a 400/505 hit our UAS; the call must still complete.
//!
//! `cargo test -p sotto-sip --test sipp_interop -- --ignored`

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sotto_sip::UserAgent;
use sotto_sip::sdp::{self, LocalAudio, SessionDescription};
use sotto_sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UaOutput};

mod support;
use support::{Seeded, count};

fn sipp_path() -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v sipp")
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !p.is_empty(),
        "sipp not found: install the Debian package `sip-tester` (listed in .ci/apt-packages.txt)"
    );
    p
}

fn workdir() -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sipp");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_sipp(args: &[&str]) -> Child {
    Command::new(sipp_path())
        .args(args)
        .args([
            "-nostdin",
            "-timeout",
            "40s",
            "-timeout_error",
            "-trace_err",
        ])
        .current_dir(workdir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: sipp failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Drives `ua` on `sock` with the real clock until `done` or `limit`. `react` sees each event.
fn serve(
    sock: &UdpSocket,
    ua: &mut UserAgent,
    limit: Duration,
    mut react: impl FnMut(&mut UserAgent, Instant, &UaEvent),
    mut done: impl FnMut(&[UaEvent]) -> bool,
) -> Vec<UaEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < limit && !done(&events) {
        let now = Instant::now();
        let wait = ua
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(20));
        sock.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_millis(20)),
        ))
        .unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            ua.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        let now = Instant::now();
        if ua.poll_timeout().is_some_and(|t| t <= now) {
            ua.handle_timeout(now);
        }
        while let Some(o) = ua.poll_output() {
            match o {
                UaOutput::Transmit { to, data } => {
                    // A driver survives unsendable destinations taken from peer Vias.
                    let _ = sock.send_to(&data, to);
                }
                UaOutput::Event(e) => {
                    react(ua, Instant::now(), &e);
                    events.push(e);
                }
            }
        }
    }
    events
}

fn ua_at(sock: &UdpSocket, user: &str, seed: u64) -> UserAgent {
    UserAgent::new(
        UaConfig::new(sock.local_addr().unwrap(), user),
        Box::new(Seeded(ChaCha8Rng::seed_from_u64(seed))),
    )
}

/// Answers every call from SIPp with a real SDP answer; rejects anything else with 486.
fn answer_sipp(local_media: SocketAddr) -> impl FnMut(&mut UserAgent, Instant, &UaEvent) {
    move |ua, now, e| {
        if let UaEvent::IncomingCall { call, offer, from } = e {
            if !from.to_string().contains("sipp") {
                let _ = ua.reject(now, *call, 486);
                return;
            }
            ua.ringing(now, *call).unwrap();
            let offer = SessionDescription::parse(offer).expect("sipp's SDP offer parses");
            let (answer, n) =
                sdp::create_answer(&offer, &LocalAudio::new(local_media), 1, 1).unwrap();
            assert_eq!(n.codec, sdp::Codec::Pcmu, "sipp offers PCMU");
            ua.answer(now, *call, answer.to_bytes()).unwrap();
        }
    }
}

/// How many calls in `events` the peer hung up.
fn remote_hangups(events: &[UaEvent]) -> usize {
    count(events, |e| {
        matches!(
            e,
            UaEvent::Ended {
                reason: EndReason::RemoteHangup,
                ..
            }
        )
    })
}

/// Starts SIPp's built-in UAC (`-sn uac`) on `ip` making `calls` calls to `target`, with
/// `extra` arguments (rate, duration, transport).
fn spawn_sipp_uac(
    target: SocketAddr,
    ip: &str,
    sipp_port: u16,
    calls: usize,
    extra: &[&str],
) -> Child {
    let target = target.to_string();
    let port = sipp_port.to_string();
    let calls = calls.to_string();
    let mut args = vec!["-sn", "uac"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&target, "-i", ip, "-p", &port, "-m", &calls]);
    spawn_sipp(&args)
}

/// Serves SIPp's calls on `sock`, answering each with media at `media`, until the peer hung
/// up `calls` of them (or 30 s).
fn serve_sipp_calls(
    sock: &UdpSocket,
    ua: &mut UserAgent,
    media: &str,
    calls: usize,
) -> Vec<UaEvent> {
    serve(
        sock,
        ua,
        Duration::from_secs(30),
        answer_sipp(media.parse().unwrap()),
        |ev| remote_hangups(ev) >= calls,
    )
}

#[test]
#[ignore = "interop: needs sipp (Debian sip-tester)"]
fn sipp_uac_calls_our_uas() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let mut ua = ua_at(&sock, "bob", 1);
    let calls = 5;
    let child = spawn_sipp_uac(
        addr,
        "127.0.0.1",
        free_port(),
        calls,
        &["-r", "10", "-d", "200"],
    );
    let events = serve_sipp_calls(&sock, &mut ua, "127.0.0.1:40000", calls);
    wait(child, "sipp -sn uac");
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::IncomingCall { .. })),
        calls
    );
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::Confirmed { .. })),
        calls,
        "ACK for every 200"
    );
    assert_eq!(remote_hangups(&events), calls);
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::Dropped { .. })),
        0,
        "{events:?}"
    );
}

#[test]
#[ignore = "interop: needs sipp (Debian sip-tester)"]
fn our_uac_calls_sipp_uas() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut ua = ua_at(&sock, "alice", 2);
    let calls = 3;
    let sipp_port = free_port();
    let child = spawn_sipp(&[
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sipp_port.to_string(),
        "-m",
        &calls.to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(300)); // let sipp bind
    let peer: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let local = LocalAudio::new("127.0.0.1:40002".parse().unwrap());
    let mut all = Vec::new();
    for _ in 0..calls {
        let offer = sdp::create_offer(&local, 9, 1);
        let call: CallHandle = ua.invite(
            Instant::now(),
            format!("sip:service@{peer}").parse().unwrap(),
            peer,
            offer.to_bytes(),
        );
        let offer2 = offer.clone();
        let local2 = local.clone();
        let events = serve(
            &sock,
            &mut ua,
            Duration::from_secs(15),
            move |ua, now, e| {
                if let UaEvent::Answered { call, answer } = e {
                    let answer =
                        SessionDescription::parse(answer).expect("sipp's SDP answer parses");
                    let n = sdp::process_answer(&offer2, &answer, &local2).unwrap();
                    assert_eq!(n.remote_addr.ip().to_string(), "127.0.0.1");
                    ua.hangup(now, *call).unwrap();
                }
            },
            |ev| ev.iter().any(|e| matches!(e, UaEvent::Ended { .. })),
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, UaEvent::Answered { call: c, .. } if *c == call)),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| matches!(
                e,
                UaEvent::Ended {
                    reason: EndReason::LocalHangup,
                    ..
                }
            )),
            "{events:?}"
        );
        all.extend(events);
    }
    wait(child, "sipp -sn uas");
    assert_eq!(count(&all, |e| matches!(e, UaEvent::Ringing { .. })), calls);
}

/// Deterministic junk: mutated INVITEs, RFC 4475 invalid messages, random bytes.
fn flood_messages(target: SocketAddr, n: usize) -> Vec<Vec<u8>> {
    let base = format!(
        "INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKflood\r\nFrom: <sip:flood@127.0.0.1>;tag=f\r\n\
         To: <sip:bob@{target}>\r\nCall-ID: flood@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:flood@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes();
    let dir = format!("{}/tests/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let files: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    (0..n)
        .map(|i| match i % 3 {
            0 => {
                let mut m = base.clone();
                for _ in 0..1 + rng.next_u32() % 6 {
                    let p = rng.next_u32() as usize % m.len();
                    match rng.next_u32() % 3 {
                        0 => m[p] = rng.next_u32() as u8,
                        1 => m.insert(p, b"\r\n;,\"<>: \x00"[rng.next_u32() as usize % 10]),
                        _ => m.truncate(p.max(1)),
                    }
                }
                m
            }
            1 => files[i % files.len()].clone(),
            _ => {
                let mut m = vec![0u8; 1 + rng.next_u32() as usize % 1400];
                rng.fill_bytes(&mut m);
                m
            }
        })
        .collect()
}

#[test]
#[ignore = "interop: needs sipp (Debian sip-tester)"]
fn malformed_flood_during_a_sipp_call() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let mut ua = ua_at(&sock, "bob", 3);
    // One call lasting 4 s.
    let call = spawn_sipp_uac(addr, "127.0.0.1", free_port(), 1, &["-d", "4000"]);
    // Malformed requests that must each be answered 400/505.
    let scenario = format!("{}/tests/sipp/malformed.xml", env!("CARGO_MANIFEST_DIR"));
    let bad_port = free_port().to_string();
    let bad = spawn_sipp(&[
        "-sf",
        &scenario,
        &addr.to_string(),
        "-i",
        "127.0.0.1",
        "-p",
        &bad_port,
        "-m",
        "3",
    ]);
    let n: usize = std::env::var("SOTTO_SIPP_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    let flood = flood_messages(addr, n);
    let sent = flood.len();
    let flooder = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, m) in flood.iter().enumerate() {
            let _ = s.send_to(m, addr);
            if i % 200 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let events = serve_sipp_calls(&sock, &mut ua, "127.0.0.1:40004", 1);
    flooder.join().unwrap();
    wait(call, "sipp -sn uac during the flood");
    // Keep serving until the malformed-request scenario has had all its answers (SIPp
    // retransmits what the flood crowded out of the socket buffer).
    let mut bad = bad;
    let more = serve(
        &sock,
        &mut ua,
        Duration::from_secs(35),
        |_, _, _| {},
        |_| bad.try_wait().unwrap().is_some(),
    );
    let mut reasons = std::collections::BTreeMap::new();
    for e in events.iter().chain(&more) {
        if let UaEvent::Dropped { reason } = e {
            *reasons.entry(*reason).or_insert(0) += 1;
        }
    }
    println!(
        "dropped: {reasons:?}; live transactions {}",
        ua.transaction_count()
    );
    wait(bad, "sipp malformed.xml (400/505 answers)");
    let dropped = count(&events, |e| matches!(e, UaEvent::Dropped { .. }))
        + count(&more, |e| matches!(e, UaEvent::Dropped { .. }));
    println!("flood: {sent} datagrams sent, {dropped} dropped as malformed or unmatched");
    // A third of the flood is random bytes and half the RFC 4475 files are invalid; some
    // datagrams are also dropped by the kernel while we are busy. What matters: we survived,
    // answered SIPp's malformed requests correctly and kept its call up.
    assert!(
        dropped > sent / 5,
        "the flood reached the parser and was rejected ({dropped} of {sent})"
    );
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::Confirmed { .. })),
        1,
        "the SIPp call was set up"
    );
}

#[test]
#[ignore = "interop: needs sipp (Debian sip-tester)"]
fn sipp_uac_over_tcp_framed_by_content_length() {
    use sotto_sip::StreamDecoder;
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = UaConfig::new(addr, "bob");
    cfg.transport = sotto_sip::transaction::Transport::Tcp;
    let mut ua = UserAgent::new(cfg, Box::new(Seeded(ChaCha8Rng::seed_from_u64(4))));
    let calls = 3;
    // -t t1: one TCP connection for all calls.
    let child = spawn_sipp_uac(
        addr,
        "127.0.0.1",
        free_port(),
        calls,
        &["-t", "t1", "-r", "10", "-d", "100"],
    );
    let (mut conn, peer) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut dec = StreamDecoder::new();
    let mut buf = vec![0u8; 65536];
    let mut events = Vec::new();
    let mut react = answer_sipp("127.0.0.1:40006".parse().unwrap());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) && remote_hangups(&events) < calls {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                dec.push(&buf[..n]);
                while let Some(m) = dec.next_message().expect("sipp's stream frames cleanly") {
                    ua.handle_message(Instant::now(), peer, m);
                }
            }
            Err(_) => {}
        }
        let now = Instant::now();
        if ua.poll_timeout().is_some_and(|t| t <= now) {
            ua.handle_timeout(now);
        }
        while let Some(o) = ua.poll_output() {
            match o {
                UaOutput::Transmit { data, .. } => conn.write_all(&data).unwrap(),
                UaOutput::Event(e) => {
                    react(&mut ua, Instant::now(), &e);
                    events.push(e);
                }
            }
        }
    }
    drop(conn);
    wait(child, "sipp -sn uac -t t1");
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::Confirmed { .. })),
        calls
    );
    assert_eq!(remote_hangups(&events), calls);
}

#[test]
#[ignore = "interop: needs sipp (Debian sip-tester)"]
fn sipp_uac_calls_our_uas_over_ipv6_loopback() {
    let Ok(sock) = UdpSocket::bind("[::1]:0") else {
        panic!("IPv6 loopback unavailable on this host");
    };
    let addr = sock.local_addr().unwrap();
    let mut ua = ua_at(&sock, "bob", 5);
    let calls = 2;
    let sipp_port = UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = spawn_sipp_uac(addr, "::1", sipp_port, calls, &["-d", "100"]);
    let events = serve_sipp_calls(&sock, &mut ua, "[::1]:40008", calls);
    wait(child, "sipp -sn uac over IPv6");
    assert_eq!(
        count(&events, |e| matches!(e, UaEvent::Confirmed { .. })),
        calls
    );
}
