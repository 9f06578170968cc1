//! `sotto call` and `sotto listen`, headless: audio from/to WAV files, one JSON object per event
//! on stdout, commands on stdin (`answer`, `reject`, `hangup`, `confirm`, `reject-sas`).
//!
//! A call to an address where nothing listens (an ICMP port unreachable comes back) ends at once
//! with "nothing answers at HOST:PORT"; with `--allow-insecure` a call that connects in the clear
//! is shown red (`"insecure": true`) for its whole length and exits 0 with a warning on stderr.
//!
//! Nothing about the call is written to disk except the ZID cache entry ZRTP needs for key
//! continuity (and not even that with `--ephemeral`), and the recording the user asked for.

use std::io::BufRead;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};
use sotto_call::phone::{AudioIo, CallEvent, MediaStats, Phone, PhoneConfig};
use sotto_net::{Command, TimedEvent, run_phone};
use sotto_proto::crypto::{OsRandom, Random};
use sotto_sip::Uri;
use sotto_zrtp::SharedCache;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::StoreOptions;

/// Options shared by `call` and `listen`.
#[derive(Debug, Args)]
pub(crate) struct PhoneArgs {
    /// Local SIP address (default: `[sip] listen` in config.toml, else 127.0.0.1:0).
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Local media (RTP/ZRTP) address (default: `[media] listen`, else 127.0.0.1:0).
    #[arg(long)]
    media: Option<SocketAddr>,
    /// Play this WAV file (any rate, mono or stereo) as the microphone; silence after its end.
    #[arg(long, value_name = "FILE")]
    play: Option<PathBuf>,
    /// Record what the other side says into this WAV file (48 kHz mono).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Hang up this many seconds after the call is secure.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Confirm the SAS automatically (for scripted tests only: defeats the SAS check).
    #[arg(long)]
    auto_confirm: bool,
    /// Allow clear (unencrypted) media if ZRTP fails; the call is shown INSECURE throughout.
    #[arg(long)]
    allow_insecure: bool,
    /// Print JSON events instead of the call screen even in a terminal.
    #[arg(long)]
    headless: bool,
    /// Give up if the call is not secure within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    #[command(flatten)]
    devices: super::devices::DeviceArgs,
}

/// `sotto call URI`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The SIP URI to call, e.g. `sip:bob@127.0.0.1:5062`.
    uri: String,
    /// Where to send the INVITE (default: the URI's host and port, which must be an IP).
    #[arg(long)]
    peer: Option<SocketAddr>,
    #[command(flatten)]
    common: PhoneArgs,
}

/// `sotto listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Answer incoming calls without asking (otherwise type `answer` on stdin).
    #[arg(long)]
    auto_answer: bool,
    #[command(flatten)]
    common: PhoneArgs,
}

struct FileAudio {
    muted: Arc<AtomicBool>,
    play: Vec<i16>,
    pos: usize,
    heard: Arc<Mutex<Vec<i16>>>,
    recording: bool,
}

impl AudioIo for FileAudio {
    fn capture(&mut self, frame: &mut [i16]) {
        let muted = self.muted.load(Ordering::Relaxed);
        for s in frame.iter_mut() {
            *s = if muted {
                0
            } else {
                self.play.get(self.pos).copied().unwrap_or(0)
            };
            self.pos = self.pos.saturating_add(1);
        }
    }
    fn play(&mut self, frame: &[i16]) {
        if self.recording
            && let Ok(mut h) = self.heard.lock()
        {
            h.extend_from_slice(frame);
        }
    }
}

fn emit(v: Value) {
    println!("{v}");
}

/// What the JSON line says when the call's media is in the clear because the user allowed it.
const INSECURE_DETAIL: &str =
    "NOT ENCRYPTED: you allowed an insecure call; audio is sent and played in the clear";

/// One event as a JSON object. `insecure`: the user allowed clear media (`--allow-insecure` or
/// `allow_insecure` in config.toml), so the call is red for its whole length, as the phone's
/// security state is, whatever ZRTP does later.
fn event_json(e: &CallEvent, insecure: bool) -> Value {
    match e {
        CallEvent::Connecting if insecure => json!({"event": "connecting", "state": "red",
            "insecure": true, "detail": INSECURE_DETAIL}),
        CallEvent::Secure(s) if insecure => json!({
            "event": "secure", "state": "red", "insecure": true,
            "detail": "ZRTP finished, but this call stays NOT ENCRYPTED: clear audio may already have been sent",
            "sas": s.sas, "peer_zid": s.peer_zid.to_hex(),
        }),
        CallEvent::Calling => json!({"event": "calling"}),
        CallEvent::IncomingCall { from } => json!({"event": "incoming_call", "from": from}),
        CallEvent::Ringing => json!({"event": "ringing"}),
        CallEvent::Connecting => json!({"event": "connecting", "state": "red",
            "detail": "ZRTP running; no media sent or played"}),
        CallEvent::Secure(s) => json!({
            "event": "secure", "state": if s.verified { "green" } else { "orange" },
            "sas": s.sas, "verified": s.verified, "cache": s.cache,
            "hash": s.hash, "cipher": s.cipher, "auth_tag": s.auth_tag,
            "key_agreement": s.key_agreement, "sas_type": s.sas_type,
            "srtp_profile": s.srtp_profile, "peer_zid": s.peer_zid.to_hex(),
        }),
        CallEvent::Verified => json!({"event": "verified", "state": "green"}),
        CallEvent::CacheMismatch => json!({"event": "cache_mismatch", "warning":
            "this peer's key differs from the one remembered: someone may be in the middle; compare the SAS"}),
        CallEvent::Ended { reason } => json!({"event": "ended", "reason": reason}),
        CallEvent::Dtmf { digit } => json!({"event": "dtmf", "digit": digit.to_string()}),
        CallEvent::Registered { expires } => json!({"event": "registered", "expires": expires}),
        CallEvent::RegistrationFailed { reason } => {
            json!({"event": "registration_failed", "reason": reason})
        }
        CallEvent::Unregistered => json!({"event": "unregistered"}),
        // Only with allow_insecure (otherwise the call ends): the call goes on, unencrypted.
        CallEvent::ZrtpFailed { reason } => json!({"event": "zrtp_failed", "reason": reason,
            "state": "red", "insecure": true, "detail": INSECURE_DETAIL}),
        other => json!({"event": "other", "detail": format!("{other:?}")}),
    }
}

fn stats_json(s: &MediaStats) -> Value {
    json!({
        "event": "summary",
        "srtp_sent": s.srtp_sent, "srtp_received": s.srtp_received,
        "srtp_bytes_sent": s.srtp_bytes_sent, "srtp_bytes_received": s.srtp_bytes_received,
        "srtp_rejected": s.srtp_rejected, "srtp_replayed": s.srtp_replayed,
        "clear_rtp_sent": s.clear_rtp_sent,
        "srtcp_received": s.srtcp_received, "srtcp_rejected": s.srtcp_rejected,
        "rtp_dropped_before_secure": s.rtp_dropped_before_secure,
        "zrtp_sent": s.zrtp_sent, "stun_answered": s.stun_answered,
        "frames_decoded": s.frames_decoded, "frames_concealed": s.frames_concealed,
        "time_to_secure_ms": s.time_to_secure.map(|t| t.as_secs_f64() * 1000.0),
        "rtcp_sent": s.rtcp_sent, "peer_reports": s.peer_reports,
        "rtt_ms": s.rtt.map(|t| t.as_secs_f64() * 1000.0),
        "peer_loss_percent": s.peer_loss_percent(),
        "peer_jitter_ms": s.peer_jitter.map(|t| t.as_secs_f64() * 1000.0),
        "jitter_ms": s.jitter.map(|t| t.as_secs_f64() * 1000.0),
        "dtmf_sent": s.dtmf_sent, "dtmf_received": s.dtmf_received,
    })
}

fn parse_command(line: &str) -> Option<Command> {
    Some(match line.trim() {
        "answer" => Command::Answer,
        "reject" => Command::Reject { decline: true },
        "busy" => Command::Reject { decline: false },
        "hangup" => Command::Hangup,
        "confirm" => Command::ConfirmSas,
        "reject-sas" | "mismatch" => Command::RejectSas,
        "hold" => Command::Hold { on: true },
        "resume" => Command::Hold { on: false },
        _ => return None,
    })
}

async fn peer_for(uri: &str, explicit: Option<SocketAddr>) -> Result<SocketAddr> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let rest = uri
        .split_once(':')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("not a SIP URI: {uri}"))?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split(';').next().unwrap_or(host);
    let (name, hostport) = if host.contains(':') && !host.ends_with(']') {
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        (name, host.to_owned())
    } else {
        (host, format!("{host}:5060"))
    };
    // A user typed this address: say what is wrong in their words first, the resolver's own
    // words after.
    tokio::net::lookup_host(&hostport)
        .await
        .map_err(|e| {
            anyhow!("cannot find the computer '{name}' (check the address); the lookup said: {e}")
        })?
        .next()
        .ok_or_else(|| {
            anyhow!("cannot find the computer '{name}' (check the address); it has no address")
        })
}

/// What the user reads when nothing listens at the address called.
fn nothing_answers(peer: SocketAddr) -> String {
    format!("nothing answers at {peer} (no SIP phone is listening there)")
}

/// Whether nothing at all listens on `peer`'s UDP port, so the INVITE can never be answered.
///
/// sotto's SIP socket is not connected (it talks to several addresses), and Linux reports an
/// ICMP port unreachable only on a connected UDP socket (as `ECONNREFUSED` on its next receive).
/// So this probes from a second, connected socket with empty datagrams, which SIP phones
/// ignore. `false` when unsure: no ICMP comes back from a host that filters it, from a remote
/// network that drops it, or when something answered; the call then runs its normal course.
async fn nobody_listens(peer: SocketAddr) -> bool {
    use std::io::ErrorKind::ConnectionRefused;
    let any: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(probe) = UdpSocket::bind(any).await else {
        return false;
    };
    if probe.connect(peer).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    for _ in 0..3 {
        if let Err(e) = probe.send(&[]).await {
            return e.kind() == ConnectionRefused;
        }
        match tokio::time::timeout(Duration::from_millis(400), probe.recv(&mut buf)).await {
            Ok(Err(e)) => return e.kind() == ConnectionRefused,
            Ok(Ok(_)) => return false,
            Err(_) => {}
        }
    }
    false
}

/// `sotto call`.
pub(crate) fn call(store: &StoreOptions, args: CallArgs) -> Result<ExitCode> {
    run(store, &args.common, Some((args.uri, args.peer)), false)
}

/// `sotto listen`.
pub(crate) fn listen(store: &StoreOptions, args: ListenArgs) -> Result<ExitCode> {
    run(store, &args.common, None, args.auto_answer)
}

fn run(
    store_opts: &StoreOptions,
    args: &PhoneArgs,
    target: Option<(String, Option<SocketAddr>)>,
    auto_answer: bool,
) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(store_opts, args, target, auto_answer))
}

async fn run_async(
    store_opts: &StoreOptions,
    args: &PhoneArgs,
    target: Option<(String, Option<SocketAddr>)>,
    auto_answer: bool,
) -> Result<ExitCode> {
    let play = match &args.play {
        Some(p) => {
            let a = sotto_media::wav::read_wav(p)
                .with_context(|| format!("reading {}", p.display()))?;
            if a.rate == 48_000 {
                a.samples
            } else {
                sotto_media::resample::resample(&a.samples, a.rate, 48_000)?
            }
        }
        None => Vec::new(),
    };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut store = store_opts.open()?;
    let me = store.identity_or_create(&mut OsRandom, sotto_store::unix_now())?;
    let conf = crate::config::load()?;
    let at = conf.addresses(args.sip, args.media);
    let sip = UdpSocket::bind(at.sip)
        .await
        .map_err(|e| crate::config::bind_error("SIP", at.sip, &e))?;
    let media = UdpSocket::bind(at.media)
        .await
        .map_err(|e| crate::config::bind_error("media", at.media, &e))?;
    let (sip_addr, media_addr) = (sip.local_addr()?, media.local_addr()?);
    let mut cfg = PhoneConfig::new(sip_addr, media_addr, "sotto", me.zid);
    cfg.display_name = Some(me.display_name.clone());
    conf.apply(&mut cfg, args.allow_insecure)?;
    let insecure = cfg.allow_insecure;
    let me = sotto_store::LocalIdentity {
        display_name: cfg.display_name.clone().unwrap_or(me.display_name),
        ..me
    };
    cfg.unix_time = sotto_store::unix_now();
    let cache = SharedCache::new(store);
    let ui_cache = cache.clone();
    let muted = Arc::new(AtomicBool::new(false));
    let mut phone = Phone::new(
        cfg,
        Box::new(|| Box::new(OsRandom) as Box<dyn Random>),
        Box::new(move || Some(Box::new(cache.clone()) as Box<dyn sotto_zrtp::ZidCache>)),
    );
    let files = args.play.is_some() || args.record.is_some();
    match super::devices::call_audio(&args.devices, files, muted.clone())? {
        Some(devices) => phone.set_audio(devices),
        None => phone.set_audio(Box::new(FileAudio {
            muted: muted.clone(),
            play,
            pos: 0,
            heard: heard.clone(),
            recording: args.record.is_some(),
        })),
    }
    let tui = !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !tui {
        emit(
            json!({"event": "ready", "sip": sip_addr.to_string(), "media": media_addr.to_string(),
                "zid": me.zid.to_hex(), "name": me.display_name}),
        );
    }

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<TimedEvent>();
    if tui {
        if let Some((uri, peer)) = &target {
            let peer = peer_for(uri, peer.or_else(|| conf.via_registrar(uri))).await?;
            let t: Uri = uri.parse().map_err(|e| anyhow!("bad SIP URI {uri}: {e}"))?;
            cmd_tx.send(Command::Call { target: t, peer })?;
        }
        let ctx = super::tui::TuiContext {
            me: me.display_name.clone(),
            sip: sip_addr.to_string(),
            target: target.as_ref().map(|(u, _)| u.clone()),
            cache: ui_cache,
            muted,
            auto_answer,
            hangup_after: args.duration.map(|d| Duration::from_secs_f64(d.max(0.0))),
        };
        let driver = run_phone(phone, sip, media, cmd_rx, ev_tx);
        let (phone, secure) = tokio::join!(driver, super::tui::control(ctx, ev_rx, cmd_tx));
        let phone = phone.context("the phone driver failed")?;
        finish_recording(args, &heard)?;
        if let Some(s) = phone.stats() {
            eprintln!("{}", stats_json(s));
        }
        return if secure? {
            Ok(ExitCode::SUCCESS)
        } else {
            bail!("the call never became secure")
        };
    }
    // stdin commands, on a plain thread (reading stdin blocks).
    let stdin_tx = cmd_tx.clone();
    let stdin_muted = muted.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(m) = match line.trim() {
                "mute" => Some(true),
                "unmute" => Some(false),
                _ => None,
            } {
                stdin_muted.store(m, Ordering::Relaxed);
                emit(json!({"event": "muted", "muted": m}));
                continue;
            }
            // `dtmf 5` (or several keys: `dtmf 123#`).
            if let Some(keys) = line.trim().strip_prefix("dtmf") {
                let keys = keys.trim();
                if keys.is_empty() || !keys.chars().all(|c| "0123456789*#ABCD".contains(c)) {
                    emit(
                        json!({"event": "error", "detail": format!("dtmf wants keys 0-9, *, #, A-D, e.g. `dtmf 5`; got {keys:?}")}),
                    );
                    continue;
                }
                for digit in keys.chars() {
                    if stdin_tx.send(Command::Dtmf { digit }).is_err() {
                        break;
                    }
                }
                continue;
            }
            match parse_command(&line) {
                Some(c) => {
                    if stdin_tx.send(c).is_err() {
                        break;
                    }
                }
                None if line.trim().is_empty() => {}
                None => emit(
                    json!({"event": "error", "detail": format!("unknown command {:?}; try answer, reject, busy, hangup, confirm, reject-sas, hold, resume, mute, unmute, dtmf 5", line.trim())}),
                ),
            }
        }
    });
    let mut called = None;
    if let Some((uri, peer)) = &target {
        let peer = peer_for(uri, peer.or_else(|| conf.via_registrar(uri))).await?;
        let target: Uri = uri.parse().map_err(|e| anyhow!("bad SIP URI {uri}: {e}"))?;
        cmd_tx.send(Command::Call { target, peer })?;
        called = Some(peer);
    }
    let driver = run_phone(phone, sip, media, cmd_rx, ev_tx);
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    let listening = target.is_none();
    let control = async {
        let mut secure = false;
        // Connected with clear media, because the user allowed it.
        let mut connected_insecure = false;
        let mut ended: Option<String> = None;
        let mut unreachable: Option<String> = None;
        let mut hangup_at: Option<tokio::time::Instant> = None;
        let give_up = tokio::time::Instant::now() + timeout;
        let mut started = false;
        // Watches for "nothing listens there" while the INVITE goes out; pending forever when
        // there is nothing to watch or once it has said "not sure".
        let probe = async {
            match called {
                Some(peer) if nobody_listens(peer).await => peer,
                _ => std::future::pending().await,
            }
        };
        tokio::pin!(probe);
        loop {
            let up = secure || connected_insecure;
            let wake = match (hangup_at, up || (listening && !started)) {
                (Some(h), _) => h,
                (None, false) => give_up,
                (None, true) => tokio::time::Instant::now() + Duration::from_secs(3600),
            };
            tokio::select! {
                peer = &mut probe, if !started => {
                    let reason = nothing_answers(peer);
                    emit(json!({"event": "ended", "reason": reason}));
                    unreachable = Some(reason);
                    cmd_tx.send(Command::Hangup)?;
                    break;
                }
                ev = ev_rx.recv() => {
                    let Some(ev) = ev else { break };
                    emit(event_json(&ev.event, insecure));
                    match &ev.event {
                        CallEvent::IncomingCall { .. } => {
                            started = true;
                            if auto_answer {
                                cmd_tx.send(Command::Answer)?;
                            }
                        }
                        // Something answered: the call is under way.
                        CallEvent::Ringing => started = true,
                        CallEvent::Connecting if insecure => {
                            started = true;
                            connected_insecure = true;
                            if let Some(d) = args.duration {
                                hangup_at = Some(tokio::time::Instant::now() + Duration::from_secs_f64(d.max(0.0)));
                            }
                        }
                        CallEvent::Connecting => started = true,
                        CallEvent::Secure(_) if insecure => {}
                        CallEvent::Secure(_) => {
                            secure = true;
                            if args.auto_confirm {
                                cmd_tx.send(Command::ConfirmSas)?;
                            }
                            if let Some(d) = args.duration {
                                hangup_at = Some(tokio::time::Instant::now() + Duration::from_secs_f64(d.max(0.0)));
                            }
                        }
                        CallEvent::Ended { reason } => {
                            ended = Some(reason.clone());
                            break;
                        }
                        _ => {}
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if hangup_at.is_some() {
                        hangup_at = None;
                        cmd_tx.send(Command::Hangup)?;
                    } else if !up {
                        emit(json!({"event": "error", "detail": "the call did not become secure in time"}));
                        cmd_tx.send(Command::Hangup)?;
                        // Give the BYE/CANCEL a moment, then stop.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        break;
                    }
                }
            }
        }
        let _ = cmd_tx.send(Command::Stop);
        Ok::<_, anyhow::Error>((secure, connected_insecure, ended, unreachable))
    };
    let (phone, outcome) = tokio::join!(driver, control);
    let phone = phone.context("the phone driver failed")?;
    let (secure, connected_insecure, _ended, unreachable) = outcome?;
    if let Some(s) = phone.stats() {
        emit(stats_json(s));
    }
    finish_recording(args, &heard)?;
    if let Some(reason) = unreachable {
        bail!(reason);
    }
    if connected_insecure {
        eprintln!("sotto: warning: this call was NOT ENCRYPTED (you allowed an insecure call)");
        return Ok(ExitCode::SUCCESS);
    }
    if !secure {
        bail!("the call never became secure");
    }
    Ok(ExitCode::SUCCESS)
}

fn finish_recording(args: &PhoneArgs, heard: &Arc<Mutex<Vec<i16>>>) -> Result<()> {
    if let Some(path) = &args.record {
        let samples = heard.lock().map(|h| h.clone()).unwrap_or_default();
        sotto_media::wav::write_wav(
            path,
            &sotto_media::wav::Audio {
                rate: 48_000,
                samples,
            },
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
