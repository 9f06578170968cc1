//! The terminal conversation view of `sotto chat` (`ratatui`), in the style of the call
//! screen: a full-width band that always shows the OTR state in colour (red `NOT PRIVATE`,
//! orange `UNVERIFIED`, green `PRIVATE`, grey `FINISHED`), a loud red line when the contact's
//! key changed, the SMP question when the contact asks one, the conversation, and an input
//! line for messages and `/` commands.

use super::chat::{Conversation, HOW_TO_COMPARE, Shown};
use super::chat_session::{HELP, SmpUi, UiEvent, state_word};
use anyhow::Result;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use sotto_otr::OtrState;
use sotto_xmpp::XmppEvent;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const ORANGE: Color = Color::Rgb(255, 140, 0);

struct View {
    me: String,
    contact: String,
    state: OtrState,
    key_changed: Option<String>,
    smp_question: Option<Option<String>>,
    lines: Vec<Line<'static>>,
    input: String,
    connection: String,
}

impl View {
    fn push(&mut self, s: &Shown) {
        let dim = Style::default().fg(Color::DarkGray);
        let line = match s {
            Shown::Connected { jid, fingerprint } => {
                self.connection = format!("online as {jid}");
                Line::styled(
                    format!("— connected as {jid}; your OTR fingerprint is {fingerprint}"),
                    dim,
                )
            }
            Shown::Presence { from, available } => Line::styled(
                format!(
                    "— {from} is {}",
                    if *available { "online" } else { "offline" }
                ),
                dim,
            ),
            Shown::FileRefused { from, what } => Line::styled(
                format!("— {from} offered a file ({what}); refused: sotto never accepts files"),
                Style::default().fg(Color::Yellow),
            ),
            Shown::Disconnected { reason } => {
                self.connection = format!("DISCONNECTED: {reason}");
                Line::styled(
                    format!("— disconnected: {reason}"),
                    Style::default().fg(Color::Red),
                )
            }
            Shown::Chat(u) => match u {
                UiEvent::State { state, .. } => {
                    self.state = *state;
                    if *state == OtrState::Private {
                        self.key_changed = None;
                    }
                    if !matches!(state, OtrState::Unverified | OtrState::Private) {
                        self.smp_question = None;
                    }
                    Line::styled(format!("— conversation is now {}", state_word(*state)), dim)
                }
                UiEvent::Message {
                    incoming,
                    text,
                    encrypted,
                } => {
                    let who = if *incoming {
                        Span::styled(
                            format!("{}: ", self.contact),
                            Style::default().fg(Color::Cyan),
                        )
                    } else {
                        Span::styled("me: ", Style::default().fg(Color::Blue))
                    };
                    let mut spans = vec![who];
                    if !encrypted {
                        spans.push(Span::styled(
                            "[NOT ENCRYPTED] ",
                            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                        ));
                    }
                    spans.push(Span::raw(text.clone()));
                    Line::from(spans)
                }
                UiEvent::Smp(s) => {
                    let t = match s {
                        SmpUi::Asked { question } => {
                            self.smp_question = Some(question.clone());
                            "— the contact wants to verify you; answer with /verify secret <answer>"
                                .to_owned()
                        }
                        SmpUi::Started => {
                            "— verification started; waiting for the contact's answer".into()
                        }
                        SmpUi::Answered => "— answer sent; waiting for the result".into(),
                        SmpUi::Succeeded => {
                            self.smp_question = None;
                            "— verification SUCCEEDED: you both know the secret".into()
                        }
                        SmpUi::Failed => {
                            self.smp_question = None;
                            "— verification FAILED: the answers differ (or the contact gave up)"
                                .into()
                        }
                        SmpUi::Aborted => {
                            self.smp_question = None;
                            "— verification aborted".into()
                        }
                        SmpUi::Cheated => {
                            self.smp_question = None;
                            "— verification FAILED: the contact's proof is invalid".into()
                        }
                    };
                    Line::styled(t, Style::default().fg(Color::Yellow))
                }
                UiEvent::FingerprintChanged { old, new } => {
                    self.key_changed = Some(format!(
                        "⚠ KEY CHANGED: {} now uses key {new} (before: {old}). New device, or \
                         someone in the middle? NOT verified — verify again.",
                        self.contact
                    ));
                    Line::styled(
                        format!(
                            "⚠ {}'s OTR key CHANGED (was {old}, now {new})",
                            self.contact
                        ),
                        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                    )
                }
                UiEvent::Fingerprint {
                    ours,
                    theirs,
                    verified,
                } => {
                    self.lines
                        .push(Line::raw(format!("— your fingerprint:  {ours}")));
                    self.lines.push(Line::raw(format!(
                        "— {}'s fingerprint: {}{}",
                        self.contact,
                        theirs.map_or("(no private conversation)".into(), |f| f.to_string()),
                        if *verified { " (verified)" } else { "" }
                    )));
                    Line::styled(format!("— {HOW_TO_COMPARE}"), dim)
                }
                UiEvent::Notice(t) => Line::styled(format!("— {t}"), dim),
                UiEvent::Error(t) => {
                    Line::styled(format!("! {t}"), Style::default().fg(Color::Red))
                }
            },
        };
        self.lines.push(line);
    }
}

fn draw(f: &mut Frame<'_>, v: &View) {
    let band_h = 3 + u16::from(v.key_changed.is_some()) + u16::from(v.smp_question.is_some());
    let [title, band, convo, input, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(band_h + 2),
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(format!(
            " sotto chat — {} ↔ {} — {}",
            v.me, v.contact, v.connection
        )),
        title,
    );
    let (colour, head, detail) = match v.state {
        OtrState::NotPrivate => (
            Color::Red,
            "🔓  NOT PRIVATE",
            "nothing you type is sent until OTR is up; /otr start".to_owned(),
        ),
        OtrState::Unverified => (
            ORANGE,
            "🔒  UNVERIFIED",
            format!(
                "encrypted with OTR, but {}'s identity is not verified: /fingerprint, /verify secret <s>",
                v.contact
            ),
        ),
        OtrState::Private => (
            Color::Green,
            "🔒  PRIVATE",
            "encrypted, and the contact's key is verified".to_owned(),
        ),
        OtrState::Finished => (
            Color::DarkGray,
            "⏹  FINISHED",
            "the contact ended the private conversation; nothing is sent. /otr end or /otr start"
                .to_owned(),
        ),
    };
    let mut lines = vec![
        Line::styled(
            head,
            Style::default()
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
        ),
        Line::styled(detail, Style::default().fg(Color::Black)),
        Line::raw(""),
    ];
    if let Some(w) = &v.key_changed {
        lines.push(Line::styled(
            w.clone(),
            Style::default()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(q) = &v.smp_question {
        lines.push(Line::styled(
            match q {
                Some(q) => format!(
                    "{} asks: \"{q}\" — answer with /verify secret <answer>",
                    v.contact
                ),
                None => format!(
                    "{} wants to verify with a shared secret — /verify secret <secret>",
                    v.contact
                ),
            },
            Style::default()
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(
        Paragraph::new(lines)
            .style(Style::default().bg(colour))
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL)),
        band,
    );
    // The newest lines that fit, counting the rows a long line wraps into.
    let height = usize::from(convo.height.saturating_sub(2));
    let width = usize::from(convo.width.saturating_sub(2)).max(1);
    let mut rows = 0;
    let mut first = v.lines.len();
    for l in v.lines.iter().rev() {
        let r = l.width().div_ceil(width).max(1);
        if rows + r > height && first < v.lines.len() {
            break;
        }
        rows += r;
        first -= 1;
    }
    let shown: Vec<Line<'_>> = v.lines.iter().skip(first).cloned().collect();
    f.render_widget(
        Paragraph::new(shown).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" conversation "),
        ),
        convo,
    );
    f.render_widget(
        Paragraph::new(format!("> {}", v.input)).block(Block::default().borders(Borders::ALL)),
        input,
    );
    f.render_widget(
        Paragraph::new(format!(" Enter send · Esc quit · {HELP}"))
            .style(Style::default().fg(Color::DarkGray)),
        keys,
    );
}

/// Runs the conversation view until the user quits or the connection ends.
pub(crate) async fn run(
    mut conv: Conversation,
    mut events: mpsc::Receiver<XmppEvent>,
    first: Vec<Shown>,
) -> Result<ExitCode> {
    let (key_tx, mut keys) = mpsc::unbounded_channel::<KeyEvent>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reader = std::thread::spawn(move || {
        while !stop_reader.load(Ordering::Relaxed) {
            if let Ok(true) = event::poll(Duration::from_millis(100))
                && let Ok(Event::Key(k)) = event::read()
                && k.kind == KeyEventKind::Press
                && key_tx.send(k).is_err()
            {
                break;
            }
        }
    });
    let mut view = View {
        me: conv.account.clone(),
        contact: conv.session.contact().to_owned(),
        state: conv.session.state(),
        key_changed: None,
        smp_question: None,
        lines: Vec::new(),
        input: String::new(),
        connection: "connecting".into(),
    };
    for s in &first {
        view.push(s);
    }
    let mut terminal = ratatui::init();
    let mut code = ExitCode::SUCCESS;
    let mut quit = false;
    let mut online = true;
    let result: Result<()> = loop {
        if let Err(e) = terminal.draw(|f| draw(f, &view)) {
            break Err(e.into());
        }
        if quit {
            break Ok(());
        }
        tokio::select! {
            ev = events.recv(), if online => {
                let Some(ev) = ev else {
                    view.push(&Shown::Disconnected { reason: "connection closed".into() });
                    code = ExitCode::from(1);
                    online = false;
                    continue;
                };
                let (shown, gone) = conv.xmpp(ev).await;
                for s in &shown {
                    view.push(s);
                }
                if gone {
                    // Stay on screen so the user can read why; Esc quits.
                    code = ExitCode::from(1);
                    online = false;
                }
            }
            k = keys.recv() => {
                let Some(k) = k else { break Ok(()) };
                let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    KeyCode::Esc => quit = true,
                    KeyCode::Char('c') if ctrl => quit = true,
                    KeyCode::Char('u') if ctrl => view.input.clear(),
                    KeyCode::Char(c) => view.input.push(c),
                    KeyCode::Backspace => {
                        view.input.pop();
                    }
                    KeyCode::Enter => {
                        let line = std::mem::take(&mut view.input);
                        let (shown, q) = conv.line(&line).await;
                        for s in &shown {
                            view.push(s);
                        }
                        quit = q;
                    }
                    _ => {}
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    ratatui::restore();
    let _ = reader.join();
    conv.close().await;
    result.map(|()| code)
}
