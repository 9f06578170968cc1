#![allow(clippy::disallowed_methods, reason = "measures real parse time")]
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
//! Real-world style messages (compact forms, folding, IPv6, odd casing, bare LF), stream
//! framing, and property tests: no panic on arbitrary bytes or mutated messages, and every
//! message that parses survives emit → parse unchanged.

use proptest::prelude::*;
use sotto_sip::auth::{Algorithm, Challenge};
use sotto_sip::sdp::SessionDescription;
use sotto_sip::{Contact, Framing, Host, Message, Method, SipError, StreamDecoder};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = corpus().into_iter().map(|(_, b)| b).collect();
    for name in [
        "wsinv", "intmeth", "esc01", "longreq", "mpart01", "badinv01", "clerr", "scalar02",
    ] {
        v.push(
            std::fs::read(format!(
                "{}/tests/rfc4475/{name}.dat",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        );
    }
    v
}

fn strip_length(mut m: Message) -> Message {
    match &mut m {
        Message::Request(r) => r.headers.remove("Content-Length"),
        Message::Response(r) => r.headers.remove("Content-Length"),
    }
    m
}

#[test]
fn corpus_parses_and_round_trips() {
    for (name, bytes) in corpus() {
        let m = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(strip_length(m), strip_length(again), "{name}");
    }
}

#[test]
fn corpus_typed_access() {
    let get = |n: &str| corpus().into_iter().find(|(f, _)| f == n).unwrap().1;

    let Message::Request(inv) = Message::parse(&get("compact_ipv6_invite.sip")).unwrap() else {
        panic!()
    };
    assert_eq!(
        inv.uri.sip().unwrap().host,
        Host::V6("2001:db8::2".parse().unwrap())
    );
    let via = inv.headers.top_via().unwrap();
    assert_eq!(via.rport(), Some(None));
    assert_eq!(via.port, Some(5060));
    assert_eq!(inv.headers.call_id().unwrap(), "7Jd0x3kQ-9");
    assert_eq!(
        inv.headers.get_list("Supported").collect::<Vec<_>>(),
        ["replaces", "outbound", "gruu"]
    );
    let c = inv.headers.contact().unwrap().unwrap();
    assert_eq!(
        c.params.value("+sip.instance"),
        Some("<urn:uuid:00000000-0000-0000-0000-000000000001>")
    );
    let sdp = SessionDescription::parse(&inv.body).unwrap();
    assert_eq!(
        sdp.media_addr(sdp.audio().unwrap()).unwrap(),
        "[2001:db8::1]:7078".parse().unwrap()
    );

    let Message::Response(ok) = Message::parse(&get("weird_case_response.sip")).unwrap() else {
        panic!()
    };
    let vias = ok.headers.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].received(), Some("198.51.100.7"));
    assert_eq!(vias[0].rport(), Some(Some(40123)));
    assert_eq!(
        ok.headers.from().unwrap().display.as_deref(),
        Some("Alice \"A.\" Smith")
    );
    assert_eq!(ok.headers.record_routes().unwrap().len(), 3);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Invite);

    let Message::Request(reg) = Message::parse(&get("folded_register.sip")).unwrap() else {
        panic!()
    };
    let contacts = reg.headers.contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    let Contact::Addr(second) = &contacts[1] else {
        panic!()
    };
    assert_eq!(second.uri.to_string(), "mailto:bob@example.com");
    let auth = reg.headers.authorization(false).unwrap().unwrap();
    assert_eq!(auth.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    assert_eq!(auth.qop_auth.unwrap().0, 1);
    assert_eq!(reg.headers.expires().unwrap(), Some(7200));
    assert!(reg.headers.top_via().unwrap().is_reliable());

    let Message::Response(ch) = Message::parse(&get("two_challenges_401.sip")).unwrap() else {
        panic!()
    };
    let (c, proxy) = Challenge::from_response(&ch).unwrap();
    assert!(!proxy);
    assert_eq!(
        c.algorithm,
        Algorithm::Sha256,
        "strongest of the two challenges"
    );
    assert_eq!(ch.headers.challenges(false).len(), 2);
    assert!(ch.headers.challenges(true).is_empty());

    let Message::Request(opt) = Message::parse(&get("sips_options.sip")).unwrap() else {
        panic!()
    };
    assert!(opt.uri.sip().unwrap().secure);
    assert_eq!(
        opt.headers.get("x-custom-thing"),
        Some("spaced name before colon")
    );
}

#[test]
fn tcp_stream_framing_by_content_length() {
    let a = corpus()
        .into_iter()
        .find(|(f, _)| f == "compact_ipv6_invite.sip")
        .unwrap()
        .1;
    let b = corpus()
        .into_iter()
        .find(|(f, _)| f == "folded_register.sip")
        .unwrap()
        .1;
    let mut stream = b"\r\n\r\n".to_vec(); // keep-alive CRLFs before a message are ignored
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&b);
    for chunk in [1usize, 7, 64, 1000] {
        let mut d = StreamDecoder::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            d.push(piece);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2, "chunk {chunk}");
        assert_eq!(got[0], Message::parse(&a).unwrap());
        assert_eq!(d.buffered(), 0);
    }
    // On a stream, Content-Length is mandatory (§18.3, §20.14).
    let no_len = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let mut d = StreamDecoder::new();
    d.push(no_len);
    assert!(matches!(d.next_message(), Err(SipError::Malformed(_))));
    assert!(matches!(
        Message::parse_framed(&a[..a.len() - 1], Framing::Stream),
        Err(SipError::Incomplete)
    ));
}

#[test]
fn udp_short_body_is_400_and_long_body_is_truncated() {
    // §18.3: a datagram body shorter than Content-Length is an error (400); extra bytes go.
    let base = corpus()
        .into_iter()
        .find(|(f, _)| f == "compact_ipv6_invite.sip")
        .unwrap()
        .1;
    let short = &base[..base.len() - 10];
    let e = Message::parse(short).unwrap_err();
    assert_eq!(e.reply().unwrap().status, 400);
    let mut long = base.clone();
    long.extend_from_slice(b"garbage after the body");
    assert_eq!(
        Message::parse(&long).unwrap(),
        Message::parse(&base).unwrap()
    );
}

#[test]
fn garbage_gives_errors() {
    for g in [
        &b""[..],
        b"\r\n",
        b"HELLO",
        b"INVITE\r\n\r\n",
        b"SIP/2.0 99 Too Low\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n: no name\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n folded first\r\n\r\n",
        b"\xff\xfe\x00\x01 binary\r\n\r\n",
    ] {
        assert!(
            Message::parse(g).is_err(),
            "{:?}",
            String::from_utf8_lossy(g)
        );
    }
}

/// Mutations of a valid message: flip, insert, delete, truncate, duplicate a range.
fn mutate(seed: &[u8], ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for (op, pos, byte) in ops {
        if v.is_empty() {
            break;
        }
        let p = pos % v.len();
        match op % 6 {
            0 => v[p] ^= byte | 1,
            1 => v.insert(p, *byte),
            2 => {
                v.remove(p);
            }
            3 => v.truncate(p),
            4 => {
                let end = (p + (*byte as usize)).min(v.len());
                let dup = v[p..end].to_vec();
                v.splice(p..p, dup);
            }
            _ => v.insert(
                p,
                [b'\r', b'\n', b' ', b';', b',', b'"', b'<', b':'][(*byte as usize) % 8],
            ),
        }
    }
    v
}

fn check(bytes: &[u8]) {
    if let Ok(m) = Message::parse(bytes) {
        // Whatever we accept, we can emit and read back identically.
        let again = Message::parse(&m.to_bytes()).unwrap_or_else(|e| {
            panic!(
                "re-parse failed: {e}\n{}",
                String::from_utf8_lossy(&m.to_bytes())
            )
        });
        assert_eq!(strip_length(m.clone()), strip_length(again));
        // Typed accessors never panic either.
        let h = m.headers();
        let _ = (
            h.vias(),
            h.from(),
            h.to(),
            h.cseq(),
            h.contacts(),
            h.routes(),
            h.record_routes(),
            h.content_type(),
            h.expires(),
            h.max_forwards(),
        );
        let _ = SessionDescription::parse(m.body());
    } else if let Err(e) = Message::parse(bytes) {
        let _ = e.reply().map(|r| r.to_bytes());
    }
    let mut d = StreamDecoder::new();
    d.push(bytes);
    let _ = d.next_message();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic_and_round_trip(
        which in 0usize..64,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        let seeds = seeds();
        let seed = &seeds[which % seeds.len()];
        check(&mutate(seed, &ops));
    }

    #[test]
    fn arbitrary_sdp_never_panics(text in "(v=0\r\n)?([a-z]=[ -~]{0,40}\r\n){0,20}") {
        if let Ok(sd) = SessionDescription::parse(text.as_bytes()) {
            let again = SessionDescription::parse(&sd.to_bytes()).unwrap();
            prop_assert_eq!(sd.media.len(), again.media.len());
        }
    }
}

#[test]
fn large_adversarial_messages_are_cheap() {
    // 64 KiB of headers built to make a naive parser work hard: many Vias per line, many
    // parameters, long quoted strings, deep comma lists. Each must finish quickly.
    let mut many_vias = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    while many_vias.len() < 60_000 {
        many_vias.push_str("Via: ");
        for i in 0..10 {
            many_vias.push_str(&format!(
                "SIP/2.0/UDP h{i}.example;branch=z9hG4bK{i};rport, "
            ));
        }
        many_vias.push_str("SIP/2.0/UDP last;branch=z9hG4bKz\r\n");
    }
    many_vias.push_str(
        "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n\r\n",
    );
    let commas = format!(
        "OPTIONS sip:a@b SIP/2.0\r\nContact: {}\r\n\r\n",
        ",".repeat(60_000)
    );
    let params = format!(
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h{}\r\n\r\n",
        ";p".repeat(30_000)
    );
    let quote = format!(
        "OPTIONS sip:a@b SIP/2.0\r\nFrom: \"{}\" <sip:x@y>\r\n\r\n",
        "\\\"".repeat(30_000)
    );
    for (name, m) in [
        ("vias", many_vias),
        ("commas", commas),
        ("params", params),
        ("quote", quote),
    ] {
        let t = std::time::Instant::now();
        let r = Message::parse(m.as_bytes());
        let took = t.elapsed();
        assert!(
            took < std::time::Duration::from_millis(500),
            "{name}: {took:?}"
        );
        if name == "vias" {
            // Valid: over a thousand Via values, all checked, quickly.
            let m = r.unwrap();
            assert!(m.headers().vias().unwrap().len() > 1000);
        } else {
            assert!(r.is_err(), "{name}");
        }
    }
}
