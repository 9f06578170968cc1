//! `sotto zrtp-peer`: one ZRTP endpoint over UDP, for interop testing against other stacks.
//!
//! One ZRTP packet per datagram. Prints one JSON line per stream on stdout when it reaches
//! SECURE. Exit status: 0 secure, 1 usage, 2 protocol error, 3 timeout, 4 socket error; the
//! reason goes to stderr.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use sotto_proto::crypto::{OsRandom, Random};
use sotto_proto::{Ssrc, Zid};
use sotto_zrtp::algo::parse_list;
use sotto_zrtp::{
    AlgoPrefs, CacheStatus, Config, Event, Input, Output, RoleSetting, SecureInfo, StreamMode,
    ZidCache, ZrtpSession,
};

/// Command-line options of `sotto zrtp-peer` (parsed from the words after the subcommand, so
/// usage errors exit with status 1 as the diagnostic contract says).
#[derive(Debug, Parser)]
#[command(
    name = "sotto zrtp-peer",
    about = "one ZRTP endpoint over UDP (interop diagnostics)"
)]
pub(crate) struct ZrtpPeerArgs {
    /// Local address to bind (stream 2 uses port+1).
    #[arg(long, value_name = "IP:PORT")]
    listen: SocketAddr,
    /// Peer address (stream 2 uses port+1).
    #[arg(long, value_name = "IP:PORT")]
    peer: SocketAddr,
    /// initiator (commits), responder (never commits) or auto (commits; contention decides).
    #[arg(long, default_value = "auto", value_parser = ["initiator", "responder", "auto"])]
    role: String,
    /// Key agreements, most preferred first (X255,E255,X448,EC25,EC38,DH3k,DH2k).
    #[arg(long)]
    key_agreement: Option<String>,
    /// Hashes (S256,S384).
    #[arg(long)]
    hash: Option<String>,
    /// Ciphers (AES1,AES3).
    #[arg(long)]
    cipher: Option<String>,
    /// SRTP auth tags (HS32,HS80).
    #[arg(long)]
    auth_tag: Option<String>,
    /// SAS renderings (B32,B256).
    #[arg(long)]
    sas: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// ZID cache file (a sotto store; created if missing).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Our ZID, 24 hex digits (default: the cache's, else random).
    #[arg(long, value_name = "HEX24")]
    zid: Option<String>,
    /// The peer's a=zrtp-hash, "1.10 HEX"; a Hello that does not match is refused.
    #[arg(long)]
    peer_hello_hash: Option<String>,
    /// Write our a=zrtp-hash ("1.10 HEX") to this file before starting.
    #[arg(long)]
    hello_hash_out: Option<PathBuf>,
    /// Mark the SAS verified (in the cache) once secure.
    #[arg(long)]
    mark_verified: bool,
    /// Print a key exported with this label (RFC 6189 §4.5.2, as bzrtp_exportKey).
    #[arg(long)]
    export_label: Option<String>,
    /// 1, or 2 for a second stream in Multistream mode on port+1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    streams: u8,
    /// Drop this percentage of incoming packets.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Keep answering retransmissions this long after success (ms).
    #[arg(long, default_value_t = 500)]
    linger: u64,
}

const EXIT_USAGE: u8 = 1;
const EXIT_PROTOCOL: u8 = 2;
const EXIT_TIMEOUT: u8 = 3;
const EXIT_SOCKET: u8 = 4;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sotto zrtp-peer: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn prefs(a: &ZrtpPeerArgs) -> Result<AlgoPrefs, String> {
    let mut p = AlgoPrefs::default();
    if let Some(s) = &a.key_agreement {
        p.key_agreements = parse_list(s).map_err(|e| e.to_string())?;
    }
    if let Some(s) = &a.hash {
        p.hashes = parse_list(s).map_err(|e| e.to_string())?;
    }
    if let Some(s) = &a.cipher {
        p.ciphers = parse_list(s).map_err(|e| e.to_string())?;
    }
    if let Some(s) = &a.auth_tag {
        p.auth_tags = parse_list(s).map_err(|e| e.to_string())?;
    }
    if let Some(s) = &a.sas {
        p.sas_types = parse_list(s).map_err(|e| e.to_string())?;
    }
    if p.key_agreements.is_empty()
        || p.hashes.is_empty()
        || p.ciphers.is_empty()
        || p.auth_tags.is_empty()
        || p.sas_types.is_empty()
    {
        return Err("algorithm lists must not be empty".into());
    }
    Ok(p)
}

/// A tiny PRNG for the simulated loss only (not for keys).
struct LossRng(u64);

impl LossRng {
    fn drop(&mut self, percent: f64) -> bool {
        if percent <= 0.0 {
            return false;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 10_000.0 < percent
    }
}

/// Runs `sotto zrtp-peer` with the words after the subcommand name.
pub(crate) fn zrtp_peer(words: Vec<String>) -> anyhow::Result<ExitCode> {
    let argv = std::iter::once("sotto zrtp-peer".to_string()).chain(words);
    let args = match ZrtpPeerArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    Ok(run(&args))
}

fn run(args: &ZrtpPeerArgs) -> ExitCode {
    run_with(args, &mut |v| println!("{v}"))
}

/// Runs the endpoint; each stream's JSON line goes to `emit`.
fn run_with(args: &ZrtpPeerArgs, emit: &mut dyn FnMut(serde_json::Value)) -> ExitCode {
    let start = Instant::now();
    let algorithms = match prefs(args) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    if !(0.0..=100.0).contains(&args.loss) || !args.timeout.is_finite() || args.timeout <= 0.0 {
        return usage("--loss must be 0..100 and --timeout positive");
    }
    let role = match args.role.as_str() {
        "responder" => RoleSetting::Responder,
        _ => RoleSetting::Initiator,
    };
    let requested_zid = match &args.zid {
        Some(h) => match Zid::from_hex(h) {
            Some(z) => Some(z),
            None => return usage("--zid must be 24 hex digits"),
        },
        None => None,
    };
    let now_unix = sotto_store::unix_now();
    let mut rng = OsRandom;

    // Identity and cache.
    let (zid, cache): (Zid, Option<Box<dyn ZidCache>>) = match &args.cache {
        Some(path) => {
            let mut store = match sotto_store::Store::open(path) {
                Ok(s) => s,
                Err(e) => return usage(format!("cannot open cache {}: {e}", path.display())),
            };
            let id = match requested_zid {
                Some(z) => store.identity_with_zid(&z, &mut rng, now_unix),
                None => store.identity_or_create(&mut rng, now_unix),
            };
            match id {
                Ok(id) => (id.zid, Some(Box::new(store))),
                Err(e) => return usage(format!("cache identity: {e}")),
            }
        }
        None => {
            let z = requested_zid.unwrap_or_else(|| {
                let mut b = [0u8; 12];
                rng.fill(&mut b);
                Zid(b)
            });
            (z, None)
        }
    };

    // Sockets.
    let mut socks = Vec::new();
    for n in 0..u16::from(args.streams) {
        let mut local = args.listen;
        local.set_port(local.port().wrapping_add(n));
        let mut remote = args.peer;
        remote.set_port(remote.port().wrapping_add(n));
        let s = match UdpSocket::bind(local).and_then(|s| s.connect(remote).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sotto zrtp-peer: socket {local} -> {remote}: {e}");
                return ExitCode::from(EXIT_SOCKET);
            }
        };
        socks.push(s);
    }

    let mut ssrc_bytes = [0u8; 4];
    rng.fill(&mut ssrc_bytes);
    let ssrc = u32::from_be_bytes(ssrc_bytes);
    let mut cfg = Config::new(zid, Ssrc(ssrc), now_unix);
    cfg.role = role;
    cfg.algorithms = algorithms.clone();
    cfg.peer_hello_hash = args.peer_hello_hash.clone();
    let first = match ZrtpSession::new(cfg, Box::new(OsRandom), cache, start) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let self_hello_hash = first.hello_hash();
    if let Some(path) = &args.hello_hash_out
        && let Err(e) = std::fs::write(path, format!("{self_hello_hash}\n"))
    {
        return usage(format!("cannot write {}: {e}", path.display()));
    }

    let mut sessions: Vec<Option<ZrtpSession>> = vec![Some(first)];
    if args.streams > 1 {
        sessions.push(None);
    }
    let mut hello_hashes = vec![self_hello_hash];
    let mut secure: Vec<Option<SecureInfo>> = (0..args.streams).map(|_| None).collect();
    let mut loss = LossRng(u64::from(ssrc) | 1);
    let deadline = start + Duration::from_secs_f64(args.timeout);
    let mut linger_until: Option<Instant> = None;
    let mut buf = [0u8; 4096];
    let single = socks.len() == 1;
    for s in &socks {
        if !single && s.set_nonblocking(true).is_err() {
            return ExitCode::from(EXIT_SOCKET);
        }
    }

    loop {
        let now = Instant::now();
        if let Some(t) = linger_until {
            // Linger, and as long as an initiator still retransmits Confirm2 (no Conf2ACK yet,
            // the peer is not secure yet) keep going, up to the overall timeout.
            let busy = sessions
                .iter()
                .flatten()
                .any(|s| s.poll_timeout().is_some());
            if now >= t && (!busy || now >= deadline) {
                return ExitCode::SUCCESS;
            }
        } else if now >= deadline {
            eprintln!("sotto zrtp-peer: timeout after {} s", args.timeout);
            return ExitCode::from(EXIT_TIMEOUT);
        }
        // Start stream 2 (Multistream) once stream 1 is secure.
        if let (Some(None), Some(Some(first))) = (sessions.get(1), secure.first())
            && let Some(key) = &first.multistream
        {
            let mut c2 = Config::new(zid, Ssrc(ssrc.wrapping_add(1)), now_unix);
            c2.role = role;
            c2.algorithms = algorithms.clone();
            c2.mode = StreamMode::Multistream(key.clone_key());
            match ZrtpSession::new(c2, Box::new(OsRandom), None, now) {
                Ok(s2) => {
                    hello_hashes.push(s2.hello_hash());
                    if let Some(slot) = sessions.get_mut(1) {
                        *slot = Some(s2);
                    }
                }
                Err(e) => {
                    eprintln!("sotto zrtp-peer: stream 2: {e}");
                    return ExitCode::from(EXIT_PROTOCOL);
                }
            }
        }

        for (n, slot) in sessions.iter_mut().enumerate() {
            let (Some(s), Some(sock)) = (slot.as_mut(), socks.get(n)) else {
                continue;
            };
            // Drain outputs first (the Hello queued at creation, timers, answers).
            loop {
                let Some(o) = s.poll_output() else { break };
                match o {
                    Output::Transmit(b) => {
                        if let Err(e) = sock.send(&b)
                            && e.kind() != std::io::ErrorKind::ConnectionRefused
                        {
                            eprintln!("sotto zrtp-peer: send: {e}");
                            return ExitCode::from(EXIT_SOCKET);
                        }
                    }
                    Output::Event(Event::Secure(info)) => {
                        let info = *info;
                        emit(secure_json(args, n, &info, zid, hello_hashes.get(n), start));
                        if args.mark_verified && n == 0 {
                            let _ = s.handle_input(Instant::now(), Input::ConfirmSas);
                        }
                        if let Some(slot) = secure.get_mut(n) {
                            *slot = Some(info);
                        }
                    }
                    Output::Event(Event::Failed(r)) => {
                        eprintln!("sotto zrtp-peer: stream {}: ZRTP failed: {r}", n + 1);
                        return ExitCode::from(EXIT_PROTOCOL);
                    }
                    Output::Event(_) | Output::Timeout(_) => {}
                }
            }
        }
        if linger_until.is_none() && secure.iter().all(Option::is_some) {
            linger_until = Some(Instant::now() + Duration::from_millis(args.linger));
        }

        // Wait for a datagram or the next timer.
        let now = Instant::now();
        let mut wake = linger_until.map_or(deadline, |t| t.max(now));
        for s in sessions.iter().flatten() {
            if let Some(t) = s.poll_timeout() {
                wake = wake.min(t);
            }
        }
        if single {
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_micros(100));
            let Some(sock) = socks.first() else {
                return ExitCode::from(EXIT_SOCKET);
            };
            let _ = sock.set_read_timeout(Some(wait));
            match sock.recv(&mut buf) {
                Ok(len) => {
                    if let (Some(Some(s)), Some(d)) = (sessions.get_mut(0), buf.get(..len))
                        && !loss.drop(args.loss)
                    {
                        let _ = s.handle_input(Instant::now(), Input::Datagram(d));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => {
                    eprintln!("sotto zrtp-peer: recv: {e}");
                    return ExitCode::from(EXIT_SOCKET);
                }
            }
        } else {
            let mut got = false;
            for (n, slot) in sessions.iter_mut().enumerate() {
                let Some(sock) = socks.get(n) else { continue };
                while let Ok(len) = sock.recv(&mut buf) {
                    got = true;
                    if let (Some(s), Some(d)) = (slot.as_mut(), buf.get(..len))
                        && !loss.drop(args.loss)
                    {
                        let _ = s.handle_input(Instant::now(), Input::Datagram(d));
                    }
                }
            }
            if !got && wake > Instant::now() {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let now = Instant::now();
        for s in sessions.iter_mut().flatten() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                let _ = s.handle_input(now, Input::Timeout);
            }
        }
    }
}

fn secure_json(
    args: &ZrtpPeerArgs,
    n: usize,
    info: &SecureInfo,
    zid: Zid,
    hello_hash: Option<&String>,
    start: Instant,
) -> serde_json::Value {
    let (sk, ss) = info.srtp.send();
    let (rk, rs) = info.srtp.recv();
    let mut v = json!({
        "result": "secure",
        "stream": n + 1,
        "role": info.role.as_str(),
        "sas": info.sas,
        "sas_type": info.suite.sas.to_string().trim_end(),
        "hash": info.suite.hash.to_string(),
        "cipher": info.suite.cipher.to_string(),
        "cipher_key_len": info.suite.cipher.key_len(),
        "auth_tag": info.suite.auth_tag.to_string(),
        "key_agreement": info.suite.key_agreement.to_string(),
        "self_zid": zid.to_hex(),
        "peer_zid": info.peer_zid.to_hex(),
        "self_hello_hash": hello_hash.cloned().unwrap_or_default(),
        "send_key": hex(sk.expose()),
        "send_salt": hex(ss.expose()),
        "recv_key": hex(rk.expose()),
        "recv_salt": hex(rs.expose()),
        "srtp_key_i": hex(info.srtp.key_i.expose()),
        "srtp_salt_i": hex(info.srtp.salt_i.expose()),
        "srtp_key_r": hex(info.srtp.key_r.expose()),
        "srtp_salt_r": hex(info.srtp.salt_r.expose()),
        "sas_verified": info.verified,
        "cache_mismatch": info.cache == CacheStatus::Mismatch,
        "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0,
    });
    if let (Some(label), Some(obj)) = (&args.export_label, v.as_object_mut())
        && n == 0
    {
        obj.insert(
            "exported_key".into(),
            hex(info.exporter.export(label.as_bytes()).expose()).into(),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> ZrtpPeerArgs {
        ZrtpPeerArgs::try_parse_from(std::iter::once("zrtp-peer").chain(words.iter().copied()))
            .unwrap()
    }

    #[test]
    fn two_peers_on_loopback_reach_secure() {
        let a = args(&[
            "--listen",
            "127.0.0.1:43100",
            "--peer",
            "127.0.0.1:43110",
            "--streams",
            "2",
            "--linger",
            "200",
            "--key-agreement",
            "X255,DH3k",
            "--sas",
            "B256",
        ]);
        let b = args(&[
            "--listen",
            "127.0.0.1:43110",
            "--peer",
            "127.0.0.1:43100",
            "--streams",
            "2",
            "--linger",
            "200",
            "--role",
            "responder",
            "--sas",
            "B256",
        ]);
        let t = std::thread::spawn(move || run(&b));
        let ra = run(&a);
        let rb = t.join().unwrap();
        assert_eq!(ra, ExitCode::SUCCESS);
        assert_eq!(rb, ExitCode::SUCCESS);
    }

    #[test]
    fn usage_errors_exit_1() {
        assert_eq!(
            zrtp_peer(vec!["--listen".into(), "nope".into()]).unwrap(),
            ExitCode::from(EXIT_USAGE)
        );
        let a = args(&[
            "--listen",
            "127.0.0.1:43120",
            "--peer",
            "127.0.0.1:43121",
            "--hash",
            "MD5",
        ]);
        assert_eq!(run(&a), ExitCode::from(EXIT_USAGE));
    }

    /// `sotto zrtp-peer` against the libbzrtp test peer (crates/sotto-zrtp/tests/c/bzrtp_peer.c):
    /// both JSON lines agree (SAS, algorithms, keys, exported key), for both streams.
    #[test]
    #[ignore = "interop: needs libbzrtp-dev (run by .ci/run)"]
    fn against_libbzrtp() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let src = root.join("crates/sotto-zrtp/tests/c/bzrtp_peer.c");
        let bin = std::env::temp_dir().join(format!("sotto-bzrtp-peer-{}", std::process::id()));
        let flags = std::process::Command::new("pkg-config")
            .args(["--cflags", "--libs", "libbzrtp", "bctoolbox", "sqlite3"])
            .output()
            .expect("pkg-config");
        assert!(flags.status.success(), "libbzrtp-dev not installed");
        let flags = String::from_utf8(flags.stdout).unwrap();
        let ok = std::process::Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .args(flags.split_whitespace())
            .status()
            .unwrap();
        assert!(ok.success());
        let bz = std::process::Command::new(&bin)
            .args(["--listen", "43210", "--peer", "43200", "--streams", "2"])
            .args(["--export-label", "cli", "--sas", "B256"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let a = args(&[
            "--listen",
            "127.0.0.1:43200",
            "--peer",
            "127.0.0.1:43210",
            "--streams",
            "2",
            "--role",
            "responder",
            "--export-label",
            "cli",
            "--sas",
            "B256",
        ]);
        let mut ours = Vec::new();
        assert_eq!(run_with(&a, &mut |v| ours.push(v)), ExitCode::SUCCESS);
        let out = bz.wait_with_output().unwrap();
        let theirs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ours.len(), 2);
        assert_eq!(theirs.len(), 2);
        for (o, t) in ours.iter().zip(&theirs) {
            for (mine, other) in [
                ("send_key", "recv_key"),
                ("recv_key", "send_key"),
                ("send_salt", "recv_salt"),
                ("recv_salt", "send_salt"),
            ] {
                assert_eq!(o[mine], t[other], "{mine}");
            }
            for f in [
                "hash",
                "cipher",
                "auth_tag",
                "key_agreement",
                "cipher_key_len",
            ] {
                assert_eq!(o[f], t[f], "{f}");
            }
        }
        assert_eq!(ours[0]["sas"], theirs[0]["sas"]);
        assert_eq!(ours[0]["role"], "responder");
        assert_eq!(ours[1]["key_agreement"], "Mult");
        let exported = String::from_utf8_lossy(&out.stderr)
            .lines()
            .find_map(|l| l.strip_prefix("exported_key ").map(str::to_string))
            .unwrap();
        assert_eq!(ours[0]["exported_key"], exported.as_str());
        let _ = std::fs::remove_file(&bin);
    }

    #[test]
    fn silent_peer_times_out_with_3() {
        let a = args(&[
            "--listen",
            "127.0.0.1:43130",
            "--peer",
            "127.0.0.1:43131",
            "--timeout",
            "0.3",
        ]);
        assert_eq!(run(&a), ExitCode::from(EXIT_TIMEOUT));
    }
}
