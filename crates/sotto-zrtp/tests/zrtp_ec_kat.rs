//! EC25 (NIST P-256) and EC38 (NIST P-384) key agreement, which Debian's libbzrtp does not
//! offer, so no interop peer can check it:
//!
//! * the DHPart public value is x ‖ y, 64 or 96 bytes (RFC 6189 §5.1.5), and a point that is
//!   not on the curve is refused with Error 0x61 (§5.9, "DH Error: bad pvi or pvr") by both the
//!   initiator (DHPart1) and the responder (DHPart2);
//! * a full handshake's values are recomputed by an independent implementation (the ignored
//!   test runs `tests/ec_check.py` on pycryptodome): the private scalars are found among the
//!   bytes each engine drew from its `Random`, and from them and the captured messages the
//!   checker recomputes the ECDH result, hvi (§4.4.1.1), total_hash, s0 (§4.4.1.4), every KDF
//!   output (§4.5.1–§4.5.3), the SAS (§5.1.6), both Confirms (§5.7: MAC, AES-CFB, H0 → H1 and
//!   the DHPart MACs of §9) and the exported key (§4.5.2), and compares them with what the two
//!   engines reported.
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

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sotto_proto::crypto::{HashAlg, Random, default_provider};
use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::message::{Commit, CommitKind, DhPart, Hello, Message, mac_covered};
use sotto_zrtp::packet::Packet;
use sotto_zrtp::{
    AlgoPrefs, AuthTag, CipherAlgo, Event, FailureReason, HashAlgo, Input, KeyAgreement, Output,
    RoleSetting, SasType, SecureInfo, Suite, ZrtpSession,
};

/// Seeded randomness that keeps a copy of every chunk it hands out (test code only: the
/// independent checker finds the ECDH private scalar among them).
struct Recording {
    inner: Seeded,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Random for Recording {
    fn fill(&mut self, buf: &mut [u8]) {
        self.inner.fill(buf);
        self.log.lock().unwrap().push(buf.to_vec());
    }
}

fn prefs(k: KeyAgreement, h: HashAlgo, c: CipherAlgo) -> AlgoPrefs {
    AlgoPrefs {
        hashes: vec![h],
        ciphers: vec![c],
        auth_tags: vec![AuthTag::Hs80],
        key_agreements: vec![k],
        sas_types: vec![SasType::B32],
    }
}

struct Run {
    /// (sender is the initiator, message bytes) in the order sent, first copies only.
    messages: Vec<(bool, Vec<u8>)>,
    rand_i: Vec<Vec<u8>>,
    rand_r: Vec<Vec<u8>>,
    info_i: Box<SecureInfo>,
    info_r: Box<SecureInfo>,
}

/// A lossless handshake, initiator (ZID 1) against responder (ZID 2), every packet kept.
fn handshake(k: KeyAgreement, h: HashAlgo, c: CipherAlgo, seed: u64) -> Run {
    let now = t0();
    let mut sides = Vec::new();
    let mut logs = Vec::new();
    for (n, role) in [(1u8, RoleSetting::Initiator), (2, RoleSetting::Responder)] {
        let mut cfg = config(n);
        cfg.role = role;
        cfg.algorithms = prefs(k, h, c);
        let log = Arc::new(Mutex::new(Vec::new()));
        let rng = Recording {
            inner: Seeded::new(seed * 2 + u64::from(n)),
            log: log.clone(),
        };
        sides.push(ZrtpSession::new(cfg, Box::new(rng), None, now).unwrap());
        logs.push(log);
    }
    let mut messages: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut infos: [Option<Box<SecureInfo>>; 2] = [None, None];
    for _ in 0..20 {
        for from in 0..2 {
            let mut out = Vec::new();
            while let Some(o) = sides[from].poll_output() {
                match o {
                    Output::Transmit(p) => out.push(p),
                    Output::Event(Event::Secure(i)) => infos[from] = Some(i),
                    Output::Event(Event::Failed(r)) => panic!("{r}"),
                    _ => {}
                }
            }
            for p in out {
                let m = Packet::parse(&p).unwrap().message.to_vec();
                if !messages.iter().any(|(_, x)| *x == m) {
                    messages.push((from == 0, m));
                }
                sides[1 - from]
                    .handle_input(now, Input::Datagram(&p))
                    .unwrap();
            }
        }
    }
    let [Some(info_i), Some(info_r)] = infos else {
        panic!("not secure")
    };
    assert_eq!(info_i.sas_value, info_r.sas_value);
    assert_eq!(info_i.suite.key_agreement, k);
    let take = |l: &Arc<Mutex<Vec<Vec<u8>>>>| l.lock().unwrap().clone();
    Run {
        messages,
        rand_i: take(&logs[0]),
        rand_r: take(&logs[1]),
        info_i,
        info_r,
    }
}

fn msg<'a>(run: &'a Run, from_initiator: bool, ty: &str) -> &'a [u8] {
    let want = format!("{ty:<8}");
    &run.messages
        .iter()
        .find(|(i, m)| *i == from_initiator && &m[4..12] == want.as_bytes())
        .unwrap_or_else(|| panic!("no {ty}"))
        .1
}

fn pv(dhpart: &[u8]) -> Vec<u8> {
    match Message::parse(dhpart).unwrap() {
        Message::DhPart1(d) | Message::DhPart2(d) => d.pv,
        m => panic!("{}", m.name()),
    }
}

const CASES: [(KeyAgreement, HashAlgo, CipherAlgo, usize); 4] = [
    (KeyAgreement::Ec25, HashAlgo::S256, CipherAlgo::Aes1, 64),
    (KeyAgreement::Ec25, HashAlgo::S384, CipherAlgo::Aes3, 64),
    (KeyAgreement::Ec38, HashAlgo::S384, CipherAlgo::Aes3, 96),
    (KeyAgreement::Ec38, HashAlgo::S256, CipherAlgo::Aes1, 96),
];

#[test]
fn public_values_are_x_and_y_of_the_curve_length() {
    // §5.1.5: "EC25 ... the public value ... is the concatenation of x and y", 2 × 32 bytes;
    // EC38 2 × 48. The DHPart message grows by that many bytes.
    for (k, h, c, len) in CASES {
        let run = handshake(k, h, c, 1);
        let (d1, d2) = (msg(&run, false, "DHPart1"), msg(&run, true, "DHPart2"));
        assert_eq!(pv(d1).len(), len, "{k:?} DHPart1");
        assert_eq!(pv(d2).len(), len, "{k:?} DHPart2");
        // Length field in words (§5): 12-byte header + 4 × 8 IDs + H1 + pv + MAC.
        assert_eq!(d1.len(), 12 + 32 + 32 + len + 8);
        assert_eq!(
            usize::from(u16::from_be_bytes([d1[2], d1[3]])) * 4,
            d1.len()
        );
        assert_ne!(pv(d1), pv(d2));
        assert_eq!(run.info_i.srtp.key_i.len(), c.key_len());
    }
}

/// Flips a bit of y in a DHPart's public value: (x, y') is not on the curve (y² ≠ x³ - 3x + b
/// since y' ≠ ±y), and re-encodes the packet (the DHPart MAC is only checked at Confirm time).
fn off_curve(d: &DhPart) -> DhPart {
    let mut d = d.clone();
    let last = d.pv.len() - 1;
    d.pv[last] ^= 1;
    d
}

#[test]
fn initiator_refuses_off_curve_dhpart1_with_0x61() {
    for (k, h, c, _) in CASES {
        for bad in ["flipped y", "all zero", "short"] {
            let now = t0();
            let mut cfg_i = config(1);
            cfg_i.algorithms = prefs(k, h, c);
            let mut cfg_r = config(2);
            cfg_r.algorithms = prefs(k, h, c);
            cfg_r.role = RoleSetting::Responder;
            let mut i = ZrtpSession::new(cfg_i, Box::new(Seeded::new(5)), None, now).unwrap();
            let mut r = ZrtpSession::new(cfg_r, Box::new(Seeded::new(6)), None, now).unwrap();
            let mut failed = None;
            let mut sent_by_i = Vec::new();
            for _ in 0..10 {
                let mut to_r = Vec::new();
                while let Some(o) = i.poll_output() {
                    match o {
                        Output::Transmit(p) => {
                            sent_by_i.push(Message::parse(Packet::parse(&p).unwrap().message));
                            to_r.push(p);
                        }
                        Output::Event(Event::Failed(f)) => failed = Some(f),
                        _ => {}
                    }
                }
                for p in to_r {
                    r.handle_input(now, Input::Datagram(&p)).unwrap();
                }
                while let Some(o) = r.poll_output() {
                    let Output::Transmit(p) = o else { continue };
                    let mut m = Packet::parse(&p).unwrap().message.to_vec();
                    if let Message::DhPart1(d) = Message::parse(&m).unwrap() {
                        let mut d = off_curve(&d);
                        match bad {
                            "all zero" => d.pv.fill(0),
                            "short" => d.pv.truncate(d.pv.len() - 4),
                            _ => {}
                        }
                        m = Message::DhPart1(d).emit();
                    }
                    let _ = i.handle_input(now, Input::Datagram(&Packet::emit(9, Ssrc(2), &m)));
                }
            }
            assert_eq!(failed, Some(FailureReason::BadPublicValue), "{k:?} {bad}");
            assert!(
                sent_by_i
                    .iter()
                    .any(|m| matches!(m, Ok(Message::Error { code: 0x61 }))),
                "{k:?} {bad}: Error 0x61 sent"
            );
            assert!(!i.is_secure());
        }
    }
}

/// A hand-made initiator with a real hash chain whose DHPart2 carries `pv`; its Commit's hvi
/// commits to that DHPart2, so the responder's only objection can be the point itself.
fn forged_initiator(
    responder_hello: &[u8],
    k: KeyAgreement,
    pv: Vec<u8>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let p = default_provider();
    let sha = |x: &[u8]| -> [u8; 32] {
        p.hash_parts(HashAlg::Sha256, &[x])
            .as_slice()
            .try_into()
            .unwrap()
    };
    let mac = |key: &[u8], m: &mut Vec<u8>| {
        let t = p.hmac(HashAlg::Sha256, key, &[mac_covered(m)]);
        let n = m.len() - 8;
        m[n..].copy_from_slice(&t.as_slice()[..8]);
    };
    let h0 = [7u8; 32];
    let h1 = sha(&h0);
    let h2 = sha(&h1);
    let h3 = sha(&h2);
    let mut hello = Hello {
        version: *b"1.10",
        client_id: *b"forged          ",
        h3,
        zid: Zid([1; 12]),
        signature_capable: false,
        mitm: false,
        passive: false,
        hashes: vec![HashAlgo::S256],
        ciphers: vec![CipherAlgo::Aes1],
        auth_tags: vec![AuthTag::Hs80],
        key_agreements: vec![k],
        sas_types: vec![SasType::B32],
        mac: [0; 8],
    };
    hello.mac = [0; 8];
    let mut hello = Message::Hello(hello).emit();
    mac(&h2, &mut hello);
    let mut dhpart2 = Message::DhPart2(DhPart {
        h1,
        rs1_id: [1; 8],
        rs2_id: [2; 8],
        aux_id: [3; 8],
        pbx_id: [4; 8],
        pv,
        mac: [0; 8],
    })
    .emit();
    mac(&h0, &mut dhpart2);
    let hv = p.hash_parts(HashAlg::Sha256, &[&dhpart2, responder_hello]);
    let mut commit = Message::Commit(Commit {
        h2,
        zid: Zid([1; 12]),
        suite: Suite {
            hash: HashAlgo::S256,
            cipher: CipherAlgo::Aes1,
            auth_tag: AuthTag::Hs80,
            key_agreement: k,
            sas: SasType::B32,
        },
        kind: CommitKind::Dh {
            hvi: hv.as_slice()[..32].try_into().unwrap(),
        },
        mac: [0; 8],
    })
    .emit();
    mac(&h1, &mut commit);
    (hello, commit, dhpart2)
}

#[test]
fn responder_refuses_off_curve_dhpart2_with_0x61() {
    for (k, _, _, len) in CASES {
        // A real point first (from a real engine's DHPart2), then the same with y changed.
        let good = pv(msg(
            &handshake(k, HashAlgo::S256, CipherAlgo::Aes1, 3),
            true,
            "DHPart2",
        ));
        assert_eq!(good.len(), len);
        let mut flipped = good.clone();
        flipped[len - 1] ^= 1;
        for (what, point, ok) in [
            ("on the curve", good, true),
            ("y flipped", flipped, false),
            ("(0, 0)", vec![0; len], false),
        ] {
            let now = t0();
            let mut cfg = config(2);
            cfg.role = RoleSetting::Responder;
            cfg.algorithms = prefs(k, HashAlgo::S256, CipherAlgo::Aes1);
            let mut r = ZrtpSession::new(cfg, Box::new(Seeded::new(8)), None, now).unwrap();
            let (hello, commit, dhpart2) = forged_initiator(r.hello_message(), k, point);
            let mut sent = Vec::new();
            let mut failed = None;
            for m in [&hello, &commit, &dhpart2] {
                r.handle_input(now, Input::Datagram(&Packet::emit(1, Ssrc(1), m)))
                    .unwrap();
                while let Some(o) = r.poll_output() {
                    match o {
                        Output::Transmit(p) => {
                            sent.push(Message::parse(Packet::parse(&p).unwrap().message).unwrap())
                        }
                        Output::Event(Event::Failed(f)) => failed = Some(f),
                        _ => {}
                    }
                }
            }
            let last = sent.last().unwrap();
            if ok {
                assert_eq!(failed, None, "{k:?} {what}");
                assert!(matches!(last, Message::Confirm1(_)), "{k:?} {what}");
            } else {
                assert_eq!(failed, Some(FailureReason::BadPublicValue), "{k:?} {what}");
                assert_eq!(*last, Message::Error { code: 0x61 }, "{k:?} {what}");
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn info_json(i: &SecureInfo) -> serde_json::Value {
    serde_json::json!({
        "srtp_key_i": hex(i.srtp.key_i.expose()),
        "srtp_salt_i": hex(i.srtp.salt_i.expose()),
        "srtp_key_r": hex(i.srtp.key_r.expose()),
        "srtp_salt_r": hex(i.srtp.salt_r.expose()),
        "sas_value": i.sas_value,
        "sas": i.sas,
        "zrtp_sess": hex(i.multistream.as_ref().unwrap().zrtp_sess.expose()),
        "exported_sotto_kat": hex(i.exporter.export(b"sotto-kat").expose()),
    })
}

#[test]
#[ignore = "needs python3 with pycryptodome (CI: pip install pycryptodome)"]
fn ec25_ec38_handshakes_recomputed_by_pycryptodome() {
    let mut cases = Vec::new();
    for (n, (k, h, c, _)) in CASES.into_iter().enumerate() {
        for seed in [10u64, 11] {
            let run = handshake(k, h, c, seed * 10 + n as u64);
            let m = |from_i, ty| hex(msg(&run, from_i, ty));
            cases.push(serde_json::json!({
                "curve": match k { KeyAgreement::Ec25 => "P-256", _ => "P-384" },
                "hash": match h { HashAlgo::S256 => "S256", _ => "S384" },
                "cipher_key_len": c.key_len(),
                "zid_i": hex(Zid([1; 12]).as_bytes()),
                "zid_r": hex(Zid([2; 12]).as_bytes()),
                "hello_r": m(false, "Hello"),
                "commit": m(true, "Commit"),
                "dhpart1": m(false, "DHPart1"),
                "dhpart2": m(true, "DHPart2"),
                "confirm1": m(false, "Confirm1"),
                "confirm2": m(true, "Confirm2"),
                "random_i": run.rand_i.iter().map(|b| hex(b)).collect::<Vec<_>>(),
                "random_r": run.rand_r.iter().map(|b| hex(b)).collect::<Vec<_>>(),
                "initiator": info_json(&run.info_i),
                "responder": info_json(&run.info_r),
            }));
        }
    }
    let dir = std::env::temp_dir().join(format!("sotto-zrtp-ec-kat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cases.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&cases).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ec_check.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "independent EC check failed (is pycryptodome installed? `python3 -m pip install \
         pycryptodome`):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{} cases ok", cases.len())),
        "{stdout}"
    );
}

#[test]
fn ec25_ec38_converge_under_loss_and_contention() {
    // The simulations of zrtp_loss.rs and zrtp_commit_contention.rs with only EC25 or EC38 on
    // offer: 20 % loss both ways, both sides initiators (contention on every run).
    for k in [KeyAgreement::Ec25, KeyAgreement::Ec38] {
        let mut within_3s = 0;
        for seed in 0..100u64 {
            let mut a = config(1);
            a.algorithms = prefs(k, HashAlgo::S256, CipherAlgo::Aes1);
            let mut b = config(2);
            b.algorithms = prefs(k, HashAlgo::S256, CipherAlgo::Aes1);
            let start = t0();
            let pair = run(a, b, lossy(0.2, seed), seed, Duration::from_secs(10));
            let (x, _) = assert_agree(&pair);
            assert_eq!(x.suite.key_agreement, k);
            let t = pair.a().secure_at.unwrap().max(pair.b().secure_at.unwrap()) - start;
            within_3s += usize::from(t <= Duration::from_secs(3));
        }
        println!("{k:?}: {within_3s}/100 secure within 3 s at 20 % loss");
        assert!(within_3s >= 95, "{k:?}: {within_3s}/100");
    }
}
