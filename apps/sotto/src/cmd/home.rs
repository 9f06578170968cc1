//! The home screen: `sotto` with no command, in a terminal.
//!
//! Shows who you are (pseudonym, ZID prefix) and the contacts of the ZID cache with their
//! state (verified / unverified / key changed) and when they were first and last seen; lets the
//! user verify, unverify or forget a contact (each after a yes/no question), place a call by
//! typing a `sip:` address, or wait for a call. Nothing here is written anywhere except the
//! verification flags the user changes: no call history exists to show.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, TableState, Wrap};
use sotto_proto::crypto::OsRandom;
use sotto_store::{Contact, LocalIdentity, PeerState, Store, unix_now};

use super::StoreOptions;
use super::phone_cli::{CallArgs, ListenArgs};

/// What a yes/no question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Verify,
    Unverify,
    Forget,
}

/// The screen's input mode.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Browse,
    Confirm(Ask, usize),
    Dial(String),
    /// Naming contact `usize`: the text typed so far.
    Name(usize, String),
}

/// What the user asked for that leaves the home screen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leave {
    Quit,
    Call(String),
    Listen,
}

struct Home {
    me: LocalIdentity,
    shown_name: String,
    contacts: Vec<Contact>,
    selected: usize,
    mode: Mode,
    status: String,
    /// `--ephemeral`: every call runs with a fresh identity and nothing is kept.
    ephemeral: bool,
}

/// `sotto` alone.
pub(crate) fn home(opts: &StoreOptions) -> Result<ExitCode> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "sotto: no command given. In a terminal, `sotto` alone opens the home screen; \
             see `sotto --help` for the commands."
        );
        return Ok(ExitCode::from(2));
    }
    let conf = crate::config::load()?;
    let mut status = String::from("welcome");
    loop {
        let mut store = opts.open()?;
        let me = store.identity_or_create(&mut OsRandom, unix_now())?;
        let mut h = Home {
            shown_name: conf
                .display_name
                .clone()
                .unwrap_or_else(|| me.display_name.clone()),
            me,
            contacts: store.contacts()?,
            selected: 0,
            mode: Mode::Browse,
            status,
            ephemeral: opts.ephemeral,
        };
        let leave = run_screen(&mut h, &mut store)?;
        drop(store);
        let outcome = match leave {
            Leave::Quit => return Ok(ExitCode::SUCCESS),
            Leave::Call(uri) => DialLine::try_parse_from([uri.as_str()])
                .map_err(anyhow::Error::from)
                .and_then(|d| super::phone_cli::call(opts, d.call)),
            Leave::Listen => ListenLine::try_parse_from(Vec::<String>::new())
                .map_err(anyhow::Error::from)
                .and_then(|l| super::phone_cli::listen(opts, l.listen)),
        };
        status = match outcome {
            Ok(_) => "the call ended".into(),
            Err(e) => format!("the call failed: {e:#}"),
        };
    }
}

/// `sotto call URI` as if typed, to reuse its options and defaults.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct DialLine {
    #[command(flatten)]
    call: CallArgs,
}

/// `sotto listen` as if typed.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct ListenLine {
    #[command(flatten)]
    listen: ListenArgs,
}

fn run_screen(h: &mut Home, store: &mut Store) -> Result<Leave> {
    let mut terminal = ratatui::init();
    let result = loop {
        if let Err(e) = terminal.draw(|f| draw(f, h)) {
            break Err(e.into());
        }
        let ev = match event::read() {
            Ok(ev) => ev,
            Err(e) => break Err(e.into()),
        };
        let Event::Key(k) = ev else { continue };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        let code = if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            KeyCode::Esc
        } else {
            k.code
        };
        match on_key(h, store, code) {
            Ok(Some(leave)) => break Ok(leave),
            Ok(None) => {}
            Err(e) => h.status = format!("error: {e:#}"),
        }
    };
    ratatui::restore();
    result
}

/// One key press. `Some` when the screen should close.
fn on_key(h: &mut Home, store: &mut Store, code: KeyCode) -> Result<Option<Leave>> {
    match h.mode.clone() {
        Mode::Dial(mut text) => {
            match code {
                KeyCode::Esc => {
                    h.mode = Mode::Browse;
                    h.status = "call cancelled".into();
                }
                KeyCode::Enter => {
                    let uri = text.trim().to_owned();
                    match uri.parse::<sotto_sip::Uri>() {
                        Ok(_) if uri.starts_with("sip:") || uri.starts_with("sips:") => {
                            h.mode = Mode::Browse;
                            return Ok(Some(Leave::Call(uri)));
                        }
                        Ok(_) | Err(_) => {
                            h.status = format!(
                                "\"{uri}\" is not a SIP address; type one like sip:name@192.0.2.7:5060"
                            );
                        }
                    }
                }
                KeyCode::Backspace => {
                    text.pop();
                    h.mode = Mode::Dial(text);
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 256 => {
                    text.push(c);
                    h.mode = Mode::Dial(text);
                }
                _ => {}
            }
            Ok(None)
        }
        Mode::Name(i, mut text) => {
            match code {
                KeyCode::Esc => {
                    h.mode = Mode::Browse;
                    h.status = "nothing changed".into();
                }
                KeyCode::Enter => {
                    h.mode = Mode::Browse;
                    let Some(c) = h.contacts.get(i).cloned() else {
                        return Ok(None);
                    };
                    let name = text.trim();
                    store.set_display_name(&c.zid, (!name.is_empty()).then_some(name))?;
                    h.status = if name.is_empty() {
                        format!("{}: name removed", zid_short(&c.zid))
                    } else {
                        format!("{}: named {name}", zid_short(&c.zid))
                    };
                    h.contacts = store.contacts()?;
                }
                KeyCode::Backspace => {
                    text.pop();
                    h.mode = Mode::Name(i, text);
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 64 => {
                    text.push(c);
                    h.mode = Mode::Name(i, text);
                }
                _ => {}
            }
            Ok(None)
        }
        Mode::Confirm(ask, i) => {
            h.mode = Mode::Browse;
            let Some(c) = h.contacts.get(i).cloned() else {
                return Ok(None);
            };
            if !matches!(code, KeyCode::Char('y' | 'Y')) {
                h.status = "nothing changed".into();
                return Ok(None);
            }
            let label = c.label();
            h.status = match ask {
                Ask::Verify => {
                    store.verify(&c.zid)?;
                    format!("{label}: verified")
                }
                Ask::Unverify => {
                    store.unverify(&c.zid)?;
                    format!("{label}: no longer verified")
                }
                Ask::Forget => {
                    store.forget(&c.zid)?;
                    format!("{label}: forgotten (its retained secrets are deleted)")
                }
            };
            h.contacts = store.contacts()?;
            h.selected = h.selected.min(h.contacts.len().saturating_sub(1));
            Ok(None)
        }
        Mode::Browse => {
            let ask = |h: &mut Home, a: Ask| {
                if h.contacts.get(h.selected).is_some() {
                    h.mode = Mode::Confirm(a, h.selected);
                } else {
                    h.status =
                        "no contact selected: contacts appear after a first secure call".into();
                }
            };
            match code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(Some(Leave::Quit)),
                KeyCode::Down | KeyCode::Char('j') if h.selected + 1 < h.contacts.len() => {
                    h.selected += 1;
                }
                KeyCode::Up | KeyCode::Char('k') => h.selected = h.selected.saturating_sub(1),
                KeyCode::Char('v') => ask(h, Ask::Verify),
                KeyCode::Char('u') => ask(h, Ask::Unverify),
                KeyCode::Char('f') => ask(h, Ask::Forget),
                KeyCode::Char('e') => match h.contacts.get(h.selected) {
                    Some(c) => {
                        h.mode = Mode::Name(h.selected, c.display_name.clone().unwrap_or_default());
                    }
                    None => h.status = "no contact selected".into(),
                },
                KeyCode::Char('d') | KeyCode::Char('n') => h.mode = Mode::Dial("sip:".into()),
                KeyCode::Char('l') => return Ok(Some(Leave::Listen)),
                _ => {}
            }
            Ok(None)
        }
    }
}

/// The first 8 hex digits of a ZID: enough for `sotto verify` and to tell peers apart.
fn zid_short(z: &sotto_proto::Zid) -> String {
    z.to_hex().chars().take(8).collect()
}

fn state_style(s: PeerState) -> (&'static str, Color) {
    match s {
        PeerState::Verified => ("verified", Color::Green),
        PeerState::KeyChanged => ("KEY CHANGED", Color::Red),
        _ => ("unverified", Color::Rgb(255, 140, 0)),
    }
}

fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw(f: &mut ratatui::Frame<'_>, h: &Home) {
    let [me, list, status, keys] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(5),
        Constraint::Length(3),
        Constraint::Length(3),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::raw(" you are "),
                Span::styled(
                    format!("\"{}\"", h.shown_name),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!("   ZID {}…", zid_short(&h.me.zid))),
            ]),
            Line::from(if h.ephemeral {
                " ephemeral: nothing is written; each call uses a fresh identity and is forgotten"
            } else {
                " no call history is kept: only what key continuity needs"
            }),
        ])
        .block(Block::default().borders(Borders::ALL).title(" sotto ")),
        me,
    );
    let rows: Vec<Row<'_>> = h
        .contacts
        .iter()
        .map(|c| {
            let (word, colour) = state_style(c.state);
            Row::new(vec![
                Span::raw(c.display_name.clone().unwrap_or_else(|| "(no name)".into())),
                Span::styled(
                    word,
                    Style::default().fg(colour).add_modifier(Modifier::BOLD),
                ),
                Span::raw(zid_short(&c.zid)),
                Span::raw(super::tui::utc_date(c.first_seen)),
                Span::raw(super::tui::utc_date(c.last_seen)),
            ])
        })
        .collect();
    let changed = h
        .contacts
        .iter()
        .filter(|c| c.state == PeerState::KeyChanged)
        .count();
    let title = if changed > 0 {
        Line::from(vec![
            Span::raw(format!(" contacts ({}) ", h.contacts.len())),
            Span::styled(
                format!(
                    " WARNING: {changed} KEY CHANGED — someone may be in the middle; compare the \
                     code on your next call "
                ),
                Style::default().bg(Color::Red).fg(Color::Black),
            ),
        ])
    } else {
        Line::from(format!(" contacts ({}) ", h.contacts.len()))
    };
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new(
                "no contacts yet: people appear here after a first encrypted call. \
                 Press d to call a sip: address, l to wait for a call.",
            )
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(title)),
            list,
        );
    } else {
        let table = Table::new(
            rows,
            [
                Constraint::Min(16),
                Constraint::Length(12),
                Constraint::Length(9),
                Constraint::Length(11),
                Constraint::Length(11),
            ],
        )
        .header(
            Row::new(vec!["name", "state", "ZID", "first seen", "last seen"])
                .style(Style::default().add_modifier(Modifier::UNDERLINED)),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .block(Block::default().borders(Borders::ALL).title(title));
        let mut ts = TableState::default().with_selected(Some(h.selected));
        f.render_stateful_widget(table, list, &mut ts);
    }
    f.render_widget(
        Paragraph::new(format!(" {}", h.status)).block(Block::default().borders(Borders::ALL)),
        status,
    );
    f.render_widget(
        Paragraph::new(
            " ↑↓ select · v verify · u unverify · f forget · e name · d call a sip: address · l wait for a call · q quit",
        )
        .block(Block::default().borders(Borders::ALL)),
        keys,
    );
    match &h.mode {
        Mode::Browse => {}
        Mode::Dial(text) => {
            let area = centred(f.area(), 70, 5);
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(format!(" call: {text}_")),
                    Line::from(" Enter to call · Esc to cancel"),
                ])
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" place a call "),
                ),
                area,
            );
        }
        Mode::Name(i, text) => {
            let zid = h
                .contacts
                .get(*i)
                .map(|c| zid_short(&c.zid))
                .unwrap_or_default();
            let area = centred(f.area(), 70, 5);
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(format!(" name for {zid}…: {text}_")),
                    Line::from(" Enter to save (empty: no name) · Esc to cancel"),
                ])
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" name a contact "),
                ),
                area,
            );
        }
        Mode::Confirm(ask, i) => {
            let label = h.contacts.get(*i).map(Contact::label).unwrap_or_default();
            let question = match ask {
                Ask::Verify => format!(
                    "Mark {label} as verified? Only if you compared the security code with \
                     them on a call and it matched."
                ),
                Ask::Unverify => format!(
                    "Mark {label} as not verified? You will compare the code again next call."
                ),
                Ask::Forget => format!(
                    "Forget {label}? Their retained secrets are deleted; the next call is like \
                     a first call."
                ),
            };
            let area = centred(f.area(), 70, 6);
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(question),
                    Line::from(""),
                    Line::from(" y yes · any other key no"),
                ])
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::ALL).title(" confirm ")),
                area,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::{SecretArray, Zid};
    use sotto_store::{Expiry, RetainedSecret};

    fn fixture() -> (Home, Store) {
        let mut store = Store::open_ephemeral().unwrap();
        let me = store
            .identity_or_create(&mut OsRandom, 1_700_000_000)
            .unwrap();
        for (i, name) in [(1u8, "ana"), (2, "ben")] {
            let z = Zid([i; 12]);
            let rs = RetainedSecret::new(SecretArray::new([i; 32]), Expiry::Never);
            store
                .rotate_retained_secret(&z, 1_700_000_000, Some(rs))
                .unwrap();
            store.set_display_name(&z, Some(name)).unwrap();
        }
        let h = Home {
            shown_name: me.display_name.clone(),
            me,
            contacts: store.contacts().unwrap(),
            selected: 0,
            mode: Mode::Browse,
            status: String::new(),
            ephemeral: false,
        };
        (h, store)
    }

    fn keys(h: &mut Home, s: &mut Store, ks: &[KeyCode]) -> Option<Leave> {
        let mut last = None;
        for k in ks {
            last = on_key(h, s, *k).unwrap();
        }
        last
    }

    #[test]
    fn verify_and_forget_ask_first() {
        let (mut h, mut s) = fixture();
        let ben = h.contacts.iter().position(|c| c.label() == "ben").unwrap();
        let down = vec![KeyCode::Down; ben];
        keys(&mut h, &mut s, &down);
        // "n" answers the question: nothing changes.
        keys(&mut h, &mut s, &[KeyCode::Char('v'), KeyCode::Char('n')]);
        assert_eq!(s.resolve("ben").unwrap().state, PeerState::Unverified);
        assert_eq!(h.status, "nothing changed");
        keys(&mut h, &mut s, &[KeyCode::Char('v'), KeyCode::Char('y')]);
        assert_eq!(s.resolve("ben").unwrap().state, PeerState::Verified);
        assert_eq!(h.status, "ben: verified");
        keys(&mut h, &mut s, &[KeyCode::Char('u'), KeyCode::Char('y')]);
        assert_eq!(s.resolve("ben").unwrap().state, PeerState::Unverified);
        // Renaming: "ben" becomes "Bea".
        keys(
            &mut h,
            &mut s,
            &[KeyCode::Char('e'), KeyCode::Backspace, KeyCode::Backspace],
        );
        keys(
            &mut h,
            &mut s,
            &[KeyCode::Backspace, KeyCode::Char('B'), KeyCode::Char('e')],
        );
        keys(&mut h, &mut s, &[KeyCode::Char('a'), KeyCode::Enter]);
        assert!(s.resolve("ben").is_err());
        let bea = s.resolve("Bea").unwrap();
        assert_eq!(h.contacts.iter().filter(|c| c.label() == "Bea").count(), 1);
        h.selected = h.contacts.iter().position(|c| c.zid == bea.zid).unwrap();
        keys(&mut h, &mut s, &[KeyCode::Char('f'), KeyCode::Char('y')]);
        assert!(s.resolve("Bea").is_err());
        assert_eq!(h.contacts.len(), 1);
        assert_eq!(s.resolve("ana").unwrap().state, PeerState::Unverified);
    }

    fn render(h: &Home) -> String {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(110, 24)).unwrap();
        t.draw(|f| draw(f, h)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_screen_shows_identity_states_and_a_key_change_warning() {
        let (mut h, mut s) = fixture();
        let screen = render(&h);
        assert!(
            screen.contains(&format!("you are \"{}\"", h.shown_name)),
            "{screen}"
        );
        assert!(
            screen.contains(&format!("ZID {}…", &h.me.zid.to_hex()[..8])),
            "{screen}"
        );
        assert!(screen.contains("contacts (2)"), "{screen}");
        assert!(!screen.contains("WARNING"), "{screen}");
        s.verify(&Zid([1; 12])).unwrap();
        s.record_key_change(&Zid([2; 12]), 1_700_000_100).unwrap();
        h.contacts = s.contacts().unwrap();
        let screen = render(&h);
        let row = |name: &str| {
            screen
                .lines()
                .find(|l| l.contains(name))
                .unwrap()
                .to_owned()
        };
        assert!(row("ana").contains("verified") && !row("ana").contains("unverified"));
        assert!(row("ben").contains("KEY CHANGED"), "{screen}");
        assert!(row("ben").contains("2023-11-14"), "{screen}");
        assert!(screen.contains("WARNING: 1 KEY CHANGED"), "{screen}");
        // The questions name the contact.
        h.selected = h.contacts.iter().position(|c| c.label() == "ben").unwrap();
        on_key(&mut h, &mut s, KeyCode::Char('f')).unwrap();
        assert!(render(&h).contains("Forget ben?"));
    }

    #[test]
    fn dialing_needs_a_sip_address() {
        let (mut h, mut s) = fixture();
        assert_eq!(keys(&mut h, &mut s, &[KeyCode::Char('d')]), None);
        let typed: Vec<KeyCode> = "bob@".chars().map(KeyCode::Char).collect();
        keys(&mut h, &mut s, &typed);
        // "sip:bob@" is not a valid URI: the dialog stays open with a message.
        assert_eq!(keys(&mut h, &mut s, &[KeyCode::Enter]), None);
        assert!(h.status.contains("is not a SIP address"), "{}", h.status);
        let more: Vec<KeyCode> = "127.0.0.1:5062".chars().map(KeyCode::Char).collect();
        keys(&mut h, &mut s, &more);
        assert_eq!(
            keys(&mut h, &mut s, &[KeyCode::Enter]),
            Some(Leave::Call("sip:bob@127.0.0.1:5062".into()))
        );
        // The typed line parses as `sotto call` arguments.
        let d = DialLine::try_parse_from(["sip:bob@127.0.0.1:5062"]).unwrap();
        assert!(format!("{d:?}").contains("sip:bob@127.0.0.1:5062"));
        assert_eq!(
            keys(&mut h, &mut s, &[KeyCode::Char('q')]),
            Some(Leave::Quit)
        );
    }
}
