//! The terminal call screen (`ratatui`), shown when `sotto call` / `sotto listen` run in a
//! terminal without `--headless`.
//!
//! The lock state is impossible to miss: a full-width band, red with an open lock while
//! connecting (nothing is sent), orange with "zrtp", a closed lock and the SAS in large letters
//! ("Compare with your partner") once encrypted, green once confirmed. A key change is a red
//! warning that stays on screen. Incoming calls ring and wait: nothing is answered unless the
//! user presses `a` (or started with `--auto-answer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use sotto_call::phone::{CallEvent, SecureSummary};
use sotto_net::{Command, TimedEvent};
use sotto_store::{PeerState, Store};
use sotto_zrtp::SharedCache;
use tokio::sync::mpsc;

/// What the screen needs to know besides the events.
pub(crate) struct TuiContext {
    pub me: String,
    pub sip: String,
    pub target: Option<String>,
    pub cache: SharedCache<Store>,
    pub muted: Arc<AtomicBool>,
    pub auto_answer: bool,
    pub hangup_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    Idle,
    Calling,
    Ringing { from: String },
    Connecting,
    Secure { verified: bool },
    Ended { reason: String },
}

struct State {
    screen: Screen,
    secure: Option<SecureSummary>,
    key_changed: bool,
    peer_history: Option<String>,
    log: Vec<String>,
    started: Instant,
    secure_at: Option<Instant>,
    ever_secure: bool,
    /// The SIP account's state, once the phone has reported on it.
    registration: Option<String>,
    /// Keys we sent (RFC 4733), oldest first, the last few.
    keys_sent: String,
    /// Keys the peer pressed, oldest first, the last few.
    keys_received: String,
}

/// Keeps the last 16 keys of a keypad line.
fn push_key(line: &mut String, digit: char) {
    line.push(digit);
    while line.chars().count() > 16 {
        line.remove(0);
    }
}

fn history(cache: &SharedCache<Store>, s: &SecureSummary) -> Option<String> {
    let store = cache.0.lock().ok()?;
    let c = store.contact(&s.peer_zid).ok()??;
    let name = c.display_name.clone().unwrap_or_else(|| "unnamed".into());
    let state = match c.state {
        PeerState::Verified => "verified",
        PeerState::KeyChanged => "KEY CHANGED",
        _ => "not verified yet",
    };
    Some(format!(
        "{name} ({state}); first seen {}; ZID {}",
        utc_date(c.first_seen),
        s.peer_zid.to_hex()
    ))
}

/// `YYYY-MM-DD` (UTC) of a unix time, by the civil-from-days algorithm.
pub(super) fn utc_date(unix: u64) -> String {
    let z = (unix / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn big_sas(sas: &str) -> String {
    sas.to_uppercase()
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("   ")
}

fn draw(f: &mut Frame<'_>, st: &State, ctx: &TuiContext) {
    let area = f.area();
    let [title, band, info, log, keys] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Min(3),
        Constraint::Length(3),
    ])
    .areas(area);

    let who = ctx
        .target
        .clone()
        .unwrap_or_else(|| format!("listening on {}", ctx.sip));
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!(" sotto — you are \"{}\" — {who}", ctx.me)),
            Line::from(
                st.registration
                    .as_ref()
                    .map_or(String::new(), |r| format!(" SIP account: {r}")),
            ),
        ])
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::ALL)),
        title,
    );

    let (colour, lines): (Color, Vec<Line<'_>>) = match &st.screen {
        Screen::Idle => (Color::DarkGray, vec![Line::from("waiting for a call")]),
        Screen::Calling => (
            Color::Red,
            vec![Line::from(
                "🔓  calling…  (not encrypted yet: nothing is sent)",
            )],
        ),
        Screen::Ringing { from } => (
            Color::Yellow,
            vec![
                Line::from(format!("incoming call from \"{from}\"")),
                Line::from("press  a  to answer,  r  to reject"),
            ],
        ),
        Screen::Connecting => (
            Color::Red,
            vec![Line::from(
                "🔓  CONNECTING — agreeing keys with ZRTP; no audio is sent or played",
            )],
        ),
        Screen::Secure { verified: false } => (
            Color::Rgb(255, 140, 0),
            vec![
                Line::from("🔒  zrtp — encrypted.  Compare with partner:"),
                Line::from(Span::styled(
                    big_sas(st.secure.as_ref().map_or("", |s| s.sas.as_str())),
                    Style::default().add_modifier(Modifier::BOLD),
                )),
                Line::from("press  c  if your partner reads the same code,  x  if not"),
            ],
        ),
        Screen::Secure { verified: true } => (
            Color::Green,
            vec![
                Line::from("🔒  VERIFIED — encrypted, and the code was confirmed"),
                Line::from(big_sas(st.secure.as_ref().map_or("", |s| s.sas.as_str()))),
            ],
        ),
        Screen::Ended { reason } => (
            if st.ever_secure {
                Color::DarkGray
            } else {
                Color::Red
            },
            vec![
                Line::from(format!("call ended: {reason}")),
                Line::from("press q to quit"),
            ],
        ),
    };
    let mut band_lines = lines;
    if st.key_changed {
        band_lines.push(Line::from(Span::styled(
            "WARNING: this person's key changed since your last call — someone may be listening. Compare the code.",
            Style::default().add_modifier(Modifier::BOLD | Modifier::SLOW_BLINK),
        )));
    }
    f.render_widget(
        Paragraph::new(band_lines)
            .alignment(Alignment::Center)
            .style(Style::default().bg(colour).fg(Color::Black))
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL)),
        band,
    );

    let mut info_lines = Vec::new();
    if let Some(s) = &st.secure {
        info_lines.push(Line::from(format!(
            "algorithms: {} · {} · {} · {} · SAS {} · SRTP {}",
            s.key_agreement, s.hash, s.cipher, s.auth_tag, s.sas_type, s.srtp_profile
        )));
        info_lines.push(Line::from(format!("key continuity: {}", s.cache)));
    }
    if let Some(h) = &st.peer_history {
        info_lines.push(Line::from(format!("peer: {h}")));
    }
    if !st.keys_sent.is_empty() || !st.keys_received.is_empty() {
        info_lines.push(Line::from(format!(
            "keypad: you pressed [{}]   they pressed [{}]",
            st.keys_sent, st.keys_received
        )));
    }
    if let Some(t) = st.secure_at {
        let d = t.elapsed().as_secs();
        info_lines.push(Line::from(format!(
            "talking for {}:{:02}{}",
            d / 60,
            d % 60,
            if ctx.muted.load(Ordering::Relaxed) {
                "   (MUTED)"
            } else {
                ""
            }
        )));
    }
    f.render_widget(
        Paragraph::new(info_lines).block(Block::default().borders(Borders::ALL).title(" call ")),
        info,
    );
    let shown: Vec<Line<'_>> = st
        .log
        .iter()
        .rev()
        .take(usize::from(log.height.saturating_sub(2)))
        .rev()
        .map(|l| Line::from(l.as_str()))
        .collect();
    f.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(" events ")),
        log,
    );
    f.render_widget(
        Paragraph::new(
            " a answer · r reject · h hang up · c code matches · x code differs · m mute · p hold · 0-9 * # keypad · q quit",
        )
        .block(Block::default().borders(Borders::ALL)),
        keys,
    );
}

/// Runs the call screen until the call ends and the user quits. Returns whether the call was
/// ever secure.
pub(crate) async fn control(
    ctx: TuiContext,
    mut events: mpsc::UnboundedReceiver<TimedEvent>,
    commands: mpsc::UnboundedSender<Command>,
) -> Result<bool> {
    let (key_tx, mut keys) = mpsc::unbounded_channel::<KeyCode>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reader = std::thread::spawn(move || {
        while !stop_reader.load(Ordering::Relaxed) {
            if let Ok(true) = event::poll(Duration::from_millis(100))
                && let Ok(Event::Key(k)) = event::read()
                && k.kind == KeyEventKind::Press
            {
                let code = if k.modifiers.contains(KeyModifiers::CONTROL)
                    && k.code == KeyCode::Char('c')
                {
                    KeyCode::Char('q')
                } else {
                    k.code
                };
                if key_tx.send(code).is_err() {
                    break;
                }
            }
        }
    });
    let mut terminal = ratatui::init();
    let mut st = State {
        screen: if ctx.target.is_some() {
            Screen::Calling
        } else {
            Screen::Idle
        },
        secure: None,
        key_changed: false,
        peer_history: None,
        log: Vec::new(),
        started: Instant::now(),
        secure_at: None,
        ever_secure: false,
        registration: None,
        keys_sent: String::new(),
        keys_received: String::new(),
    };
    let mut hangup_at: Option<tokio::time::Instant> = None;
    let mut held = false;
    let result = loop {
        if let Err(e) = terminal.draw(|f| draw(f, &st, &ctx)) {
            break Err(e.into());
        }
        let tick = tokio::time::sleep(Duration::from_millis(250));
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break Ok(()) };
                let t = ev.at.saturating_duration_since(st.started).as_secs_f64();
                st.log.push(format!("{t:7.3}s  {}", describe(&ev.event)));
                match ev.event {
                    CallEvent::Calling => st.screen = Screen::Calling,
                    CallEvent::IncomingCall { from } => {
                        st.screen = Screen::Ringing { from };
                        if ctx.auto_answer {
                            let _ = commands.send(Command::Answer);
                        }
                    }
                    CallEvent::Connecting => st.screen = Screen::Connecting,
                    CallEvent::Secure(s) => {
                        st.peer_history = history(&ctx.cache, &s);
                        st.screen = Screen::Secure { verified: s.verified };
                        st.secure = Some(s);
                        st.secure_at = Some(Instant::now());
                        st.ever_secure = true;
                        if let Some(d) = ctx.hangup_after {
                            hangup_at = Some(tokio::time::Instant::now() + d);
                        }
                    }
                    CallEvent::Verified => {
                        st.screen = Screen::Secure { verified: true };
                        if let Some(s) = st.secure.as_ref() {
                            st.peer_history = history(&ctx.cache, s);
                        }
                    }
                    CallEvent::CacheMismatch => st.key_changed = true,
                    CallEvent::Dtmf { digit } => push_key(&mut st.keys_received, digit),
                    CallEvent::Registered { expires } => {
                        st.registration = Some(format!("registered (renewed within {expires} s)"));
                    }
                    CallEvent::RegistrationFailed { reason } => {
                        st.registration = Some(format!("NOT registered: {reason}"));
                    }
                    CallEvent::Unregistered => st.registration = Some("unregistered".into()),
                    CallEvent::Ended { reason } => {
                        st.screen = Screen::Ended { reason };
                        st.secure_at = None;
                    }
                    _ => {}
                }
            }
            k = keys.recv() => {
                let Some(k) = k else { break Ok(()) };
                let cmd = match k {
                    KeyCode::Char('a') => Some(Command::Answer),
                    KeyCode::Char('r') => Some(Command::Reject { decline: true }),
                    KeyCode::Char('h') => Some(Command::Hangup),
                    KeyCode::Char('c') => Some(Command::ConfirmSas),
                    KeyCode::Char('x') => Some(Command::RejectSas),
                    KeyCode::Char('p') => {
                        held = !held;
                        st.log.push(if held { "putting the call on hold".into() } else { "resuming the call".into() });
                        Some(Command::Hold { on: held })
                    }
                    KeyCode::Char(d @ ('0'..='9' | '*' | '#')) => {
                        if matches!(st.screen, Screen::Secure { .. }) {
                            push_key(&mut st.keys_sent, d);
                            Some(Command::Dtmf { digit: d })
                        } else {
                            st.log.push(format!("key {d} not sent: keys go out once the call is encrypted"));
                            None
                        }
                    }
                    KeyCode::Char('m') => {
                        let m = !ctx.muted.load(Ordering::Relaxed);
                        ctx.muted.store(m, Ordering::Relaxed);
                        st.log.push(if m { "microphone muted".into() } else { "microphone on".into() });
                        None
                    }
                    KeyCode::Char('q') | KeyCode::Esc => {
                        if !matches!(st.screen, Screen::Ended { .. } | Screen::Idle) {
                            let _ = commands.send(Command::Hangup);
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        break Ok(());
                    }
                    _ => None,
                };
                if let Some(c) = cmd {
                    let _ = commands.send(c);
                }
            }
            () = tick => {
                if let Some(h) = hangup_at && tokio::time::Instant::now() >= h {
                    hangup_at = None;
                    let _ = commands.send(Command::Hangup);
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    ratatui::restore();
    let _ = reader.join();
    let _ = commands.send(Command::Stop);
    result.map(|()| st.ever_secure)
}

fn describe(e: &CallEvent) -> String {
    match e {
        CallEvent::Calling => "calling".into(),
        CallEvent::IncomingCall { from } => format!("incoming call from {from}"),
        CallEvent::Ringing => "ringing".into(),
        CallEvent::Connecting => "connected; ZRTP running (red: nothing sent)".into(),
        CallEvent::Secure(s) => format!("encrypted (zrtp); code {}", s.sas),
        CallEvent::Verified => "code confirmed: verified".into(),
        CallEvent::CacheMismatch => "KEY CHANGED since the last call".into(),
        CallEvent::Ended { reason } => format!("ended: {reason}"),
        CallEvent::Dtmf { digit } => format!("the other side pressed {digit}"),
        CallEvent::Registered { expires } => {
            format!("registered with the SIP account for {expires} s")
        }
        CallEvent::RegistrationFailed { reason } => {
            format!("SIP account registration failed: {reason}")
        }
        CallEvent::Unregistered => "unregistered from the SIP account".into(),
        CallEvent::ZrtpFailed { reason } => format!("NOT ENCRYPTED: {reason}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_451_912), "2026-11-23");
    }
}
