//! Interop with libbzrtp (Debian `libbzrtp-dev` 5.1): our engine against a peer written on
//! libbzrtp's public API (`tests/c/bzrtp_peer.c`), over UDP on 127.0.0.1.
//!
//! Ignored by default; `.ci/run` installs the packages and runs them with
//! `cargo test -p sotto-zrtp --test interop_bzrtp -- --ignored --test-threads=1`.
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
    clippy::disallowed_types,
    reason = "interop: real processes, sockets and clock"
)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::udp::{UdpRun, run_udp};
use common::*;
use sotto_zrtp::{
    AlgoPrefs, AuthTag, CacheStatus, CipherAlgo, HashAlgo, KeyAgreement, MemoryCache, RoleSetting,
    SasType, SharedCache,
};

/// Compiles the C peer once per test process; fails loudly if libbzrtp is missing.
pub fn bzrtp_peer() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bzrtp_peer");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c/bzrtp_peer.c");
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "libbzrtp", "bctoolbox", "sqlite3"])
            .output()
            .expect("pkg-config not found: install pkg-config");
        assert!(
            flags.status.success(),
            "libbzrtp not found by pkg-config: apt-get install libbzrtp-dev libbctoolbox-dev libsqlite3-dev ({})",
            String::from_utf8_lossy(&flags.stderr)
        );
        let flags = String::from_utf8(flags.stdout).unwrap();
        let st = Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .args(flags.split_whitespace())
            .status()
            .expect("cc not found");
        assert!(st.success(), "compiling the bzrtp test peer failed");
        out
    })
    .clone()
}

pub fn spawn_bzrtp(listen: u16, peer: u16, args: &[&str]) -> Child {
    Command::new(bzrtp_peer())
        .args(["--listen", &listen.to_string(), "--peer", &peer.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn bzrtp_results(child: Child) -> (Vec<serde_json::Value>, String) {
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn prefs(k: KeyAgreement, h: HashAlgo, c: CipherAlgo, a: AuthTag, s: SasType) -> AlgoPrefs {
    AlgoPrefs {
        hashes: vec![h],
        ciphers: vec![c],
        auth_tags: vec![a],
        key_agreements: vec![k],
        sas_types: vec![s],
    }
}

/// Checks that our stream `i` and bzrtp's JSON line agree on everything.
fn assert_match(run: &UdpRun, theirs: &[serde_json::Value], streams: usize) {
    assert!(run.failed.is_none(), "we failed: {:?}", run.failed);
    assert_eq!(
        run.secure.len(),
        streams,
        "we reached secure on {} streams",
        run.secure.len()
    );
    assert_eq!(
        theirs.len(),
        streams,
        "bzrtp reached secure on {} streams",
        theirs.len()
    );
    for (ours, t) in run.secure.iter().zip(theirs) {
        assert_eq!(t["result"], "secure");
        if ours.suite.key_agreement != KeyAgreement::Mult {
            assert_eq!(t["sas"], ours.sas.as_str(), "SAS differs");
            assert_eq!(
                t["key_agreement"],
                ours.suite.key_agreement.to_string().as_str()
            );
        } else {
            assert_eq!(t["key_agreement"], "Mult");
        }
        assert_eq!(t["hash"], ours.suite.hash.to_string().as_str());
        assert_eq!(t["cipher"], ours.suite.cipher.to_string().as_str());
        assert_eq!(t["auth_tag"], ours.suite.auth_tag.to_string().as_str());
        assert_eq!(
            t["send_key"],
            hex(ours.srtp.recv().0.expose()).as_str(),
            "SRTP keys differ"
        );
        assert_eq!(t["send_salt"], hex(ours.srtp.recv().1.expose()).as_str());
        assert_eq!(t["recv_key"], hex(ours.srtp.send().0.expose()).as_str());
        assert_eq!(t["recv_salt"], hex(ours.srtp.send().1.expose()).as_str());
    }
}

#[allow(clippy::too_many_arguments, reason = "test helper")]
fn interop(
    port: u16,
    role: RoleSetting,
    algos: AlgoPrefs,
    bz_args: &[&str],
    streams: usize,
    loss: f64,
) -> (UdpRun, Vec<serde_json::Value>) {
    let bz = spawn_bzrtp(port + 10, port, bz_args);
    let mut cfg = config(1);
    cfg.role = role;
    cfg.algorithms = algos;
    let run = run_udp(
        cfg,
        None,
        port,
        port + 10,
        streams,
        loss,
        u64::from(port),
        Duration::from_secs(10),
        false,
    );
    let (theirs, err) = bzrtp_results(bz);
    eprintln!("bzrtp stderr: {err}");
    (run, theirs)
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn x255_b32_we_are_responder() {
    let port = 41000;
    let bz = spawn_bzrtp(
        port + 10,
        port,
        &[
            "--ka",
            "X255",
            "--sas",
            "B32",
            "--export-label",
            "sotto-test",
        ],
    );
    let mut cfg = config(1);
    cfg.role = RoleSetting::Responder;
    cfg.algorithms = prefs(
        KeyAgreement::X255,
        HashAlgo::S256,
        CipherAlgo::Aes1,
        AuthTag::Hs32,
        SasType::B32,
    );
    let run = run_udp(
        cfg,
        None,
        port,
        port + 10,
        1,
        0.0,
        1,
        Duration::from_secs(10),
        false,
    );
    let (theirs, err) = bzrtp_results(bz);
    assert_match(&run, &theirs, 1);
    assert_eq!(run.secure[0].role, sotto_zrtp::Role::Responder);
    assert_eq!(run.secure[0].sas.len(), 4);
    // The exported key (RFC 6189 §4.5.2) agrees with bzrtp_exportKey's.
    let theirs_exported = err
        .lines()
        .find_map(|l| l.strip_prefix("exported_key "))
        .expect("bzrtp printed no exported key");
    assert_eq!(
        theirs_exported,
        hex(run.secure[0].exporter.export(b"sotto-test").expose())
    );
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn x255_b256_both_initiators_contention() {
    // bzrtp always commits; with us as initiator too this is §4.2 commit contention.
    for i in 0..4u16 {
        let (run, theirs) = interop(
            41020 + i * 2 * 10,
            RoleSetting::Initiator,
            prefs(
                KeyAgreement::X255,
                HashAlgo::S256,
                CipherAlgo::Aes1,
                AuthTag::Hs32,
                SasType::B256,
            ),
            &["--ka", "X255", "--sas", "B256"],
            1,
            0.0,
        );
        assert_match(&run, &theirs, 1);
        assert!(run.secure[0].sas.contains(':'));
    }
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn dh3k() {
    let (run, theirs) = interop(
        41200,
        RoleSetting::Responder,
        prefs(
            KeyAgreement::Dh3k,
            HashAlgo::S256,
            CipherAlgo::Aes1,
            AuthTag::Hs80,
            SasType::B32,
        ),
        &["--ka", "DH3k"],
        1,
        0.0,
    );
    assert_match(&run, &theirs, 1);
    assert_eq!(run.secure[0].suite.key_agreement, KeyAgreement::Dh3k);
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn dh2k_we_initiate() {
    let (run, theirs) = interop(
        41220,
        RoleSetting::Initiator,
        prefs(
            KeyAgreement::Dh2k,
            HashAlgo::S256,
            CipherAlgo::Aes1,
            AuthTag::Hs32,
            SasType::B32,
        ),
        &["--ka", "DH2k"],
        1,
        0.0,
    );
    assert_match(&run, &theirs, 1);
    assert_eq!(run.secure[0].suite.key_agreement, KeyAgreement::Dh2k);
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn x448_s384_aes3_hs80() {
    let (run, theirs) = interop(
        41240,
        RoleSetting::Responder,
        prefs(
            KeyAgreement::X448,
            HashAlgo::S384,
            CipherAlgo::Aes3,
            AuthTag::Hs80,
            SasType::B32,
        ),
        &[
            "--ka", "X448", "--hash", "S384", "--cipher", "AES3", "--auth", "HS80",
        ],
        1,
        0.0,
    );
    assert_match(&run, &theirs, 1);
    let s = &run.secure[0].suite;
    assert_eq!(
        (s.key_agreement, s.hash, s.cipher, s.auth_tag),
        (
            KeyAgreement::X448,
            HashAlgo::S384,
            CipherAlgo::Aes3,
            AuthTag::Hs80
        )
    );
    assert_eq!(theirs[0]["cipher_key_len"], 32);
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn two_streams_multistream() {
    let (run, theirs) = interop(
        41260,
        RoleSetting::Responder,
        AlgoPrefs::default(),
        &["--streams", "2"],
        2,
        0.0,
    );
    assert_match(&run, &theirs, 2);
    assert_eq!(run.secure[1].suite.key_agreement, KeyAgreement::Mult);
    // Different streams, different keys.
    assert_ne!(run.secure[0].srtp.send().0, run.secure[1].srtp.send().0);
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn twenty_percent_loss_both_ways() {
    for i in 0..3u16 {
        let port = 41300 + i * 20;
        let bz = spawn_bzrtp(
            port + 10,
            port,
            &["--loss", "20", "--seed", &port.to_string()],
        );
        let run = run_udp(
            config(1),
            None,
            port,
            port + 10,
            1,
            0.2,
            u64::from(port),
            Duration::from_secs(10),
            false,
        );
        let (theirs, err) = bzrtp_results(bz);
        assert!(!theirs.is_empty(), "bzrtp: {err}");
        assert_match(&run, &theirs, 1);
    }
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn key_continuity_and_verified_flag() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bzrtp-continuity");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bz.sqlite");
    let db = db.to_str().unwrap();
    let ours = SharedCache::new(MemoryCache::new());
    let mut first = None;
    for call in 0..2u16 {
        let port = 41400 + call * 20;
        let mut args = vec!["--cache", db];
        if call == 0 {
            args.push("--verify");
        }
        let bz = spawn_bzrtp(port + 10, port, &args);
        let run = run_udp(
            config(1),
            Some(Box::new(ours.clone())),
            port,
            port + 10,
            1,
            0.0,
            u64::from(port),
            Duration::from_secs(10),
            call == 0,
        );
        let (theirs, err) = bzrtp_results(bz);
        assert!(!theirs.is_empty(), "bzrtp: {err}");
        assert_match(&run, &theirs, 1);
        let s = &run.secure[0];
        assert_eq!(theirs[0]["cache_mismatch"], false);
        if call == 0 {
            assert_eq!(s.cache, CacheStatus::NoCache);
            assert!(!s.verified);
            first = Some(s.peer_zid);
        } else {
            // rs1 from the first call matched on both sides, and both remember "verified".
            assert_eq!(s.cache, CacheStatus::MatchedRs1);
            assert!(s.verified, "verified flag from call 1 not reported");
            assert_eq!(theirs[0]["sas_verified"], true);
            assert_eq!(Some(s.peer_zid), first);
        }
    }
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn hello_hashes_checked_both_ways() {
    let port = 41500;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join("bz-hello-hash.txt");
    let _ = std::fs::remove_file(&out);
    // Our Hello hash is deterministic for a seed: compute it with a throwaway session.
    let probe = sotto_zrtp::ZrtpSession::new(
        config(1),
        Box::new(Seeded::new(u64::from(port))),
        None,
        t0(),
    )
    .unwrap();
    let ours = probe.hello_hash();
    let bz = spawn_bzrtp(
        port + 10,
        port,
        &[
            "--peer-hello-hash",
            &ours,
            "--hello-hash-out",
            out.to_str().unwrap(),
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    let theirs_hash = std::fs::read_to_string(&out).unwrap();
    let mut cfg = config(1);
    cfg.peer_hello_hash = Some(theirs_hash.trim().to_string());
    let run = run_udp(
        cfg,
        None,
        port,
        port + 10,
        1,
        0.0,
        u64::from(port),
        Duration::from_secs(10),
        false,
    );
    assert_eq!(run.hello_hash, ours);
    let (theirs, err) = bzrtp_results(bz);
    assert!(!theirs.is_empty(), "bzrtp: {err}");
    assert_match(&run, &theirs, 1);
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn aux_secret_matches_both_ways() {
    // RFC 6189 §4.3: auxsecretID = MAC(auxsecret, sender's H3); s2 enters s0 on both sides.
    for (i, role) in [RoleSetting::Responder, RoleSetting::Initiator]
        .into_iter()
        .enumerate()
    {
        let port = 41600 + i as u16 * 20;
        let bz = spawn_bzrtp(
            port + 10,
            port,
            &["--aux", "00112233445566778899aabbccddeeff"],
        );
        let mut cfg = config(1);
        cfg.role = role;
        cfg.aux_secret = Some(sotto_proto::SecretBytes::from_slice(&[
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]));
        let run = run_udp(
            cfg,
            None,
            port,
            port + 10,
            1,
            0.0,
            u64::from(port),
            Duration::from_secs(10),
            false,
        );
        let (theirs, err) = bzrtp_results(bz);
        assert!(!theirs.is_empty(), "bzrtp: {err}");
        assert_match(&run, &theirs, 1);
        assert_eq!(
            theirs[0]["aux_mismatch"], 0,
            "bzrtp saw no aux secret match"
        );
    }
}

#[test]
#[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
fn cache_mismatch_seen_by_both() {
    // Call 1 builds rs1 on both sides; then our cached rs1 for the peer is replaced (as if a MiTM
    // had been in the middle of the call in between): on call 2 both sides report a mismatch.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bzrtp-mismatch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bz.sqlite");
    let db = db.to_str().unwrap();
    let ours = SharedCache::new(MemoryCache::new());
    let mut peer = None;
    for call in 0..2u16 {
        let port = 41700 + call * 20;
        let bz = spawn_bzrtp(port + 10, port, &["--cache", db]);
        let run = run_udp(
            config(1),
            Some(Box::new(ours.clone())),
            port,
            port + 10,
            1,
            0.0,
            u64::from(port),
            Duration::from_secs(10),
            false,
        );
        let (theirs, err) = bzrtp_results(bz);
        assert!(!theirs.is_empty(), "bzrtp: {err}");
        assert_match(&run, &theirs, 1);
        let s = &run.secure[0];
        if call == 0 {
            assert_eq!(s.cache, CacheStatus::NoCache);
            peer = Some(s.peer_zid);
            let mut e = ours
                .0
                .lock()
                .unwrap()
                .get(&s.peer_zid)
                .unwrap()
                .clone_entry();
            e.rs1 = Some(sotto_zrtp::RetainedSecret::new(
                sotto_proto::SecretArray::new([0x5a; 32]),
                sotto_zrtp::Expiry::Never,
            ));
            e.rs2 = None;
            ours.0.lock().unwrap().insert(s.peer_zid, e);
        } else {
            assert_eq!(Some(s.peer_zid), peer);
            assert_eq!(s.cache, CacheStatus::Mismatch);
            assert_eq!(theirs[0]["cache_mismatch"], true);
        }
    }
}
