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
//! RFC 4475 SIP torture test messages, byte for byte from the RFC's appendix archive
//! (files in `tests/rfc4475/`). Valid ones parse, invalid ones give a structured error, and
//! none panics. Section numbers are RFC 4475's.

use sotto_sip::{Message, Method, SipError};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// §3.1.1 valid messages, §3.2 (badbranch) and the §3.3 messages that are syntactically
/// valid (their problem is application-level: unknown scheme, Require, Content-Type...).
const VALID: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badbranch",
    "unkscm",
    "novelsc",
    "unksm2",
    "bext01",
    "invut",
    "regaut01",
    "bcast",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",
    "inv2543",
];

/// §3.1.2 invalid messages, plus §3.3.1 (insuf), §3.3.8 (multi01), §3.3.9 (mcl01), whose
/// required answer is 400.
const INVALID: &[(&str, u16)] = &[
    ("badinv01", 400),
    ("clerr", 400),
    ("ncl", 400),
    ("scalar02", 400),
    ("scalarlg", 0),
    ("quotbal", 400),
    ("ltgtruri", 400),
    ("lwsruri", 400),
    ("lwsstart", 400),
    ("trws", 400),
    ("escruri", 400),
    ("baddate", 400),
    ("regbadct", 400),
    ("badaspec", 400),
    ("baddn", 400),
    ("badvers", 505),
    ("mismatch01", 400),
    ("mismatch02", 400),
    ("bigcode", 0),
    ("insuf", 400),
    ("multi01", 400),
    ("mcl01", 400),
];

/// Emitting always writes Content-Length from the body; compare without it.
fn without_length(mut m: Message) -> Message {
    match &mut m {
        Message::Request(r) => r.headers.remove("Content-Length"),
        Message::Response(r) => r.headers.remove("Content-Length"),
    }
    m
}

#[test]
fn every_file_is_classified() {
    let mut names: Vec<String> =
        std::fs::read_dir(format!("{}/tests/rfc4475", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".dat")
                    .to_owned()
            })
            .collect();
    names.sort();
    let mut known: Vec<String> = VALID
        .iter()
        .map(|s| (*s).to_owned())
        .chain(INVALID.iter().map(|(s, _)| (*s).to_owned()))
        .collect();
    known.sort();
    assert_eq!(names, known);
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for name in VALID {
        let bytes = load(name);
        let msg = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again =
            Message::parse(&msg.to_bytes()).unwrap_or_else(|e| panic!("{name} re-parse: {e}"));
        assert_eq!(
            without_length(msg),
            without_length(again),
            "{name} round trip"
        );
    }
}

#[test]
fn invalid_messages_are_rejected_with_a_reply() {
    for (name, status) in INVALID {
        let bytes = load(name);
        match Message::parse(&bytes) {
            Ok(m) => panic!("{name} parsed: {m:?}"),
            Err(SipError::Malformed(m)) => {
                if *name == "insuf" {
                    // §3.3.1: no Call-ID, From or To, so no response can be correlated; drop.
                    assert_eq!(m.status(), 400);
                    assert!(m.reply().is_none());
                } else if *status == 0 {
                    // A malformed response is dropped, never answered.
                    assert!(m.reply().is_none(), "{name}");
                } else {
                    assert_eq!(m.status(), *status, "{name}: {m}");
                    let reply = m
                        .reply()
                        .unwrap_or_else(|| panic!("{name}: no reply for {m}"));
                    assert_eq!(reply.status, *status);
                    // The reply echoes the request's identifiers (RFC 3261 §8.2.6.2).
                    let text = String::from_utf8(bytes.clone()).unwrap_or_default();
                    assert!(
                        text.contains(reply.headers.get("Call-ID").unwrap()),
                        "{name}"
                    );
                    assert!(
                        reply.headers.get("CSeq").is_some() && reply.headers.get("Via").is_some()
                    );
                }
            }
            Err(e) => panic!("{name}: unexpected error kind {e}"),
        }
    }
}

#[test]
fn wsinv_details() {
    // §3.1.1.1: folding, escapes, compact and long forms, leading zeros.
    let Message::Request(r) = Message::parse(&load("wsinv")).unwrap() else {
        panic!()
    };
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.headers.to().unwrap().tag(), Some("1918181833n"));
    let from = r.headers.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(r.headers.max_forwards().unwrap(), Some(68));
    assert_eq!(r.headers.cseq().unwrap().seq, 9);
    let vias = r.headers.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(r.headers.get("Subject"), Some(""));
    assert_eq!(
        r.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        r.headers.get("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let c = r.headers.contact().unwrap().unwrap();
    assert_eq!(c.params.value("q"), Some("0.33"));
    assert_eq!(r.body.len(), 150);
    assert!(r.headers.content_type().unwrap().unwrap().is_sdp());
}

#[test]
fn dblreq_keeps_only_the_first_request() {
    // §3.1.1.8: the bytes after Content-Length are discarded on UDP (RFC 3261 §18.3).
    let Message::Request(r) = Message::parse(&load("dblreq")).unwrap() else {
        panic!()
    };
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
}

#[test]
fn intmeth_unknown_method() {
    let Message::Request(r) = Message::parse(&load("intmeth")).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.method,
        Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    assert_eq!(r.headers.max_forwards().unwrap(), Some(255));
}
