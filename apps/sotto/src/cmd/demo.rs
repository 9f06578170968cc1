//! `sotto demo`: two sotto phones on 127.0.0.1 call each other for real — SIP over UDP, ZRTP,
//! SRTP, Opus — and every claim in the summary is checked. Exit status 0 only if all checks pass.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use sotto_call::phone::{AudioIo, CallEvent, MediaStats, Phone, PhoneConfig, SecureSummary};
use sotto_net::{Command, TimedEvent, run_phone};
use sotto_proto::crypto::{OsRandom, Random};
use sotto_store::Store;
use sotto_zrtp::SharedCache;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A generated voice-band tone on capture; what is played is kept for checking.
struct ToneIo {
    freq: f64,
    phase: f64,
    heard: Arc<Mutex<Vec<i16>>>,
}

impl AudioIo for ToneIo {
    fn capture(&mut self, frame: &mut [i16]) {
        for s in frame.iter_mut() {
            // A tone with a slow tremolo, so it sounds like something and is easy to measure.
            let v = (self.phase * std::f64::consts::TAU).sin() * 9000.0;
            *s = v as i16;
            self.phase = (self.phase + self.freq / 48_000.0).fract();
        }
    }
    fn play(&mut self, frame: &[i16]) {
        if let Ok(mut h) = self.heard.lock() {
            h.extend_from_slice(frame);
        }
    }
}

/// Share of `x`'s energy at `freq` (Goertzel, [`sotto_media::signal::tone_share`]), 0..1.
fn tone_share(x: &[i16], freq: f64) -> f64 {
    sotto_media::signal::tone_share(x, freq, 48_000).min(1.0)
}

struct Colours(bool);

impl Colours {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    fn orange(&self, s: &str) -> String {
        self.paint("1;33", s)
    }
    fn green(&self, s: &str) -> String {
        self.paint("1;32", s)
    }
}

struct Side {
    sip: SocketAddr,
    phone: Phone,
    sip_socket: UdpSocket,
    media_socket: UdpSocket,
    heard: Arc<Mutex<Vec<i16>>>,
    freq: f64,
}

async fn side(name: &'static str, freq: f64) -> Result<Side> {
    let sip_socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding a SIP socket")?;
    let media_socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding a media socket")?;
    let sip = sip_socket.local_addr()?;
    let media = media_socket.local_addr()?;
    // An ephemeral store: the demo leaves nothing on disk.
    let mut store = Store::open_ephemeral()?;
    let me = store.identity_or_create(&mut OsRandom, sotto_store::unix_now())?;
    let mut cfg = PhoneConfig::new(sip, media, name, me.zid);
    cfg.display_name = Some(name.to_owned());
    cfg.unix_time = sotto_store::unix_now();
    let cache = SharedCache::new(store);
    let phone = Phone::new(
        cfg,
        Box::new(|| Box::new(OsRandom) as Box<dyn Random>),
        Box::new(move || Some(Box::new(cache.clone()) as Box<dyn sotto_zrtp::ZidCache>)),
    );
    let heard = Arc::new(Mutex::new(Vec::new()));
    Ok(Side {
        sip,
        phone,
        sip_socket,
        media_socket,
        heard,
        freq,
    })
}

#[derive(Default)]
struct Seen {
    secure: Option<(Instant, SecureSummary)>,
    verified: bool,
    ended: Option<String>,
    connecting: bool,
}

struct Check {
    ok: bool,
    lines: Vec<String>,
}

impl Check {
    fn new() -> Self {
        Self {
            ok: true,
            lines: Vec::new(),
        }
    }
    fn that(&mut self, cond: bool, what: String) {
        self.ok &= cond;
        self.lines
            .push(format!("  [{}] {what}", if cond { "ok" } else { "FAILED" }));
    }
}

/// `sotto demo`.
pub(crate) fn demo() -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_demo())
}

async fn run_demo() -> Result<ExitCode> {
    let c = Colours(std::io::stdout().is_terminal());
    let started = Instant::now();
    let mut alice = side("alice", 440.0).await?;
    let mut bob = side("bob", 1000.0).await?;
    for s in [&mut alice, &mut bob] {
        s.phone.set_audio(Box::new(ToneIo {
            freq: s.freq,
            phase: 0.0,
            heard: s.heard.clone(),
        }));
    }
    println!(
        "sotto demo: two phones on 127.0.0.1, a real SIP call, ZRTP keys, SRTP media, Opus audio"
    );
    println!("  alice: SIP {}   bob: SIP {}", alice.sip, bob.sip);

    let (a_cmd, a_cmd_rx) = mpsc::unbounded_channel();
    let (b_cmd, b_cmd_rx) = mpsc::unbounded_channel();
    let (a_ev_tx, mut a_ev) = mpsc::unbounded_channel::<TimedEvent>();
    let (b_ev_tx, mut b_ev) = mpsc::unbounded_channel::<TimedEvent>();
    let (a_heard, b_heard) = (alice.heard.clone(), bob.heard.clone());
    let (a_freq, b_freq) = (alice.freq, bob.freq);
    let bob_sip = bob.sip;
    let a_drv = run_phone(
        alice.phone,
        alice.sip_socket,
        alice.media_socket,
        a_cmd_rx,
        a_ev_tx,
    );
    let b_drv = run_phone(
        bob.phone,
        bob.sip_socket,
        bob.media_socket,
        b_cmd_rx,
        b_ev_tx,
    );

    let script = async {
        let mut a_seen = Seen::default();
        let mut b_seen = Seen::default();
        let target = format!("sip:bob@{bob_sip}")
            .parse()
            .map_err(|e| anyhow!("bad URI: {e}"))?;
        println!("\n[alice] calling sip:bob@{bob_sip}");
        a_cmd.send(Command::Call {
            target,
            peer: bob_sip,
        })?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut confirmed = false;
        let mut talk_until: Option<tokio::time::Instant> = None;
        let mut hung_up = false;
        loop {
            let until = talk_until.unwrap_or(deadline).min(deadline);
            tokio::select! {
                Some(e) = a_ev.recv() => show(&c, "alice", &e, &mut a_seen),
                Some(e) = b_ev.recv() => {
                    if matches!(e.event, CallEvent::IncomingCall { .. }) {
                        println!("[bob]   answering");
                        b_cmd.send(Command::Answer)?;
                    }
                    show(&c, "bob  ", &e, &mut b_seen);
                }
                () = tokio::time::sleep_until(until) => {
                    if talk_until.is_some() && !hung_up && tokio::time::Instant::now() < deadline {
                        println!("\n[alice] hanging up");
                        a_cmd.send(Command::Hangup)?;
                        hung_up = true;
                        talk_until = None;
                    } else {
                        break;
                    }
                }
            }
            if !confirmed && let (Some((_, sa)), Some((_, sb))) = (&a_seen.secure, &b_seen.secure) {
                confirmed = true;
                if sa.sas == sb.sas {
                    println!(
                        "\nBoth screens show the same code, \"{}\": the two people read it aloud, it matches,\nand each presses confirm (scripted here).",
                        sa.sas
                    );
                    a_cmd.send(Command::ConfirmSas)?;
                    b_cmd.send(Command::ConfirmSas)?;
                } else {
                    println!(
                        "\nThe codes differ ({} vs {}): someone is in the middle. Hanging up.",
                        sa.sas, sb.sas
                    );
                    a_cmd.send(Command::RejectSas)?;
                }
                println!("Talking for 3 seconds (generated tones: alice 440 Hz, bob 1000 Hz)...");
                talk_until = Some(tokio::time::Instant::now() + Duration::from_secs(3));
            }
            if a_seen.ended.is_some() && b_seen.ended.is_some() {
                break;
            }
        }
        a_cmd.send(Command::Stop)?;
        b_cmd.send(Command::Stop)?;
        Ok::<_, anyhow::Error>((a_seen, b_seen))
    };

    let (a_res, b_res, script_res) = tokio::join!(a_drv, b_drv, script);
    let alice_phone = a_res.context("alice's phone")?;
    let bob_phone = b_res.context("bob's phone")?;
    let (a_seen, b_seen) = script_res?;
    let a_stats = alice_phone.stats().cloned().unwrap_or_default();
    let b_stats = bob_phone.stats().cloned().unwrap_or_default();
    let a_heard = a_heard.lock().map(|h| h.clone()).unwrap_or_default();
    let b_heard = b_heard.lock().map(|h| h.clone()).unwrap_or_default();

    println!("\nSummary");
    let mut check = Check::new();
    let (Some((_, sa)), Some((_, sb))) = (&a_seen.secure, &b_seen.secure) else {
        check.that(
            false,
            "both phones reached the encrypted (zrtp) state".into(),
        );
        return finish(check, started);
    };
    check.that(
        a_seen.connecting && b_seen.connecting,
        "both phones started red: connecting, nothing sent".into(),
    );
    check.that(
        sa.sas == sb.sas,
        format!(
            "SAS on alice's screen \"{}\", on bob's \"{}\"",
            sa.sas, sb.sas
        ),
    );
    println!(
        "  algorithms: {} key agreement, {} hash, {} cipher, {} auth tag, {} SAS; SRTP {}",
        sa.key_agreement, sa.hash, sa.cipher, sa.auth_tag, sa.sas_type, sa.srtp_profile
    );
    for (name, s) in [("alice", &a_stats), ("bob", &b_stats)] {
        if let Some(t) = s.time_to_secure {
            println!(
                "  {name}: secure {:.0} ms after the call started",
                t.as_secs_f64() * 1000.0
            );
        }
    }
    check.that(
        a_seen.verified && b_seen.verified,
        "both turned green after the SAS was confirmed".into(),
    );
    report_media(&mut check, "alice", &a_stats, &b_stats);
    report_media(&mut check, "bob", &b_stats, &a_stats);
    let tail = |h: &[i16]| h.get(h.len().min(24_000)..).unwrap_or_default().to_vec();
    let a_hears = tone_share(&tail(&a_heard), b_freq);
    let b_hears = tone_share(&tail(&b_heard), a_freq);
    check.that(
        a_hears > 0.5,
        format!(
            "alice heard bob's {b_freq} Hz tone ({:.0} % of what she heard)",
            a_hears * 100.0
        ),
    );
    check.that(
        b_hears > 0.5,
        format!(
            "bob heard alice's {a_freq} Hz tone ({:.0} % of what he heard)",
            b_hears * 100.0
        ),
    );
    check.that(
        a_seen.ended.is_some() && b_seen.ended.is_some(),
        format!(
            "the call ended on both sides (bob: {})",
            b_seen.ended.as_deref().unwrap_or("still up")
        ),
    );
    finish(check, started)
}

fn report_media(check: &mut Check, name: &str, me: &MediaStats, peer: &MediaStats) {
    let lost = peer.srtp_sent.saturating_sub(me.srtp_received);
    println!(
        "  {name}: sent {} SRTP packets ({} bytes), received {} ({} bytes), lost {lost}, ZRTP packets sent {}",
        me.srtp_sent, me.srtp_bytes_sent, me.srtp_received, me.srtp_bytes_received, me.zrtp_sent
    );
    match (me.rtt, me.peer_loss_percent()) {
        (Some(rtt), Some(loss)) => println!(
            "  {name}: RTCP (SRTCP) reports sent {}, received {}; round trip {:.1} ms, loss reported by the peer {loss:.1} %",
            me.rtcp_sent,
            me.peer_reports,
            rtt.as_secs_f64() * 1000.0
        ),
        _ => println!(
            "  {name}: RTCP (SRTCP) reports sent {}, received {} (no round trip measured yet: the first report is due 1-3 s into the call)",
            me.rtcp_sent, me.peer_reports
        ),
    }
    check.that(
        me.clear_rtp_sent == 0 && me.rtp_dropped_before_secure == 0,
        format!("{name} sent no clear media and received none before the call was secure"),
    );
    check.that(
        me.srtp_sent >= 100 && me.srtp_received >= 100,
        format!("{name}'s audio flowed both ways over SRTP"),
    );
    check.that(
        me.srtp_rejected == 0,
        format!("{name} rejected no SRTP packet"),
    );
}

fn finish(check: Check, started: Instant) -> Result<ExitCode> {
    for l in &check.lines {
        println!("{l}");
    }
    println!("  demo took {:.1} s", started.elapsed().as_secs_f64());
    if check.ok {
        println!("\nAll checks passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\nSome checks FAILED.");
        Ok(ExitCode::from(1))
    }
}

fn show(c: &Colours, who: &str, e: &TimedEvent, seen: &mut Seen) {
    match &e.event {
        CallEvent::Calling => {}
        CallEvent::IncomingCall { from } => {
            println!("[{who}] incoming call from \"{from}\" (ringing)")
        }
        CallEvent::Ringing => println!("[{who}] ringing"),
        CallEvent::Connecting => {
            seen.connecting = true;
            println!(
                "[{who}] {} connecting: ZRTP key agreement running, no audio sent or played",
                c.red("● open lock")
            );
        }
        CallEvent::Secure(s) => {
            let verified = if s.verified { " (verified before)" } else { "" };
            println!(
                "[{who}] {} encrypted; compare the code \"{}\" with your partner{verified}",
                c.orange("● zrtp"),
                s.sas
            );
            seen.secure = Some((e.at, s.clone()));
        }
        CallEvent::Verified => {
            seen.verified = true;
            println!("[{who}] {} verified", c.green("● lock"));
        }
        CallEvent::CacheMismatch => println!(
            "[{who}] {}",
            c.red("WARNING: this peer's key changed since your last call; compare the code again")
        ),
        CallEvent::Ended { reason } => {
            seen.ended = Some(reason.clone());
            println!("[{who}] call ended: {reason}");
        }
        other => println!("[{who}] {other:?}"),
    }
}
