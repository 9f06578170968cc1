//! # sotto-net — the async driver: sockets, timers, audio devices
//!
//! The only async crate. [`run_phone`] drives a sans-IO [`Phone`] with two tokio UDP sockets
//! (SIP and media) and its timers, applies the user's [`Command`]s and forwards each
//! [`CallEvent`] to the application. It has no protocol logic of its own: everything it does is
//! read a datagram or a clock and hand it to the phone, then carry out what the phone asks.
//!
//! Audio devices (capture/playback through `cpal`, cargo feature `audio`) are in [`audio`]:
//! [`audio::open_devices`] gives a [`sotto_call::phone::AudioIo`] for the phone, with echo
//! cancellation and noise suppression on by default. Without the feature, files are used.
//!
//! ```no_run
//! # async fn demo(phone: sotto_call::phone::Phone) -> std::io::Result<()> {
//! use tokio::net::UdpSocket;
//! use tokio::sync::mpsc;
//!
//! let sip = UdpSocket::bind("127.0.0.1:5060").await?;
//! let media = UdpSocket::bind("127.0.0.1:40000").await?;
//! let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
//! let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
//! let driver = sotto_net::run_phone(phone, sip, media, cmd_rx, ev_tx);
//! # drop((cmd_tx, driver, ev_rx.recv()));
//! # Ok(()) }
//! ```

pub mod audio;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use sotto_call::phone::{CallEvent, Output, Phone, Socket};
use sotto_sip::Uri;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// What the user (or a script) asks the phone to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// Call `target`, sending the INVITE to `peer`.
    Call {
        /// The SIP URI.
        target: Uri,
        /// Where its SIP messages go.
        peer: SocketAddr,
    },
    /// Answer the incoming call.
    Answer,
    /// Reject it (`decline`: 603 instead of 486).
    Reject {
        /// Send 603 Decline instead of 486 Busy Here.
        decline: bool,
    },
    /// Hang up.
    Hangup,
    /// Put the peer on hold (`on`) or resume, with a re-INVITE.
    Hold {
        /// Hold (`true`) or resume (`false`).
        on: bool,
    },
    /// The SAS matched.
    ConfirmSas,
    /// The SAS did not match.
    RejectSas,
    /// Send a key press (RFC 4733): `0`–`9`, `*`, `#`, `A`–`D`.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// Stop the driver and give the phone back: hangs up, unregisters (waiting up to
    /// [`SHUTDOWN_GRACE`] for the registrar's answer).
    Stop,
}

/// How long [`Command::Stop`] waits for the registrar to confirm the removal of our binding.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// An event, with the time the driver saw it.
#[derive(Debug, Clone)]
pub struct TimedEvent {
    /// When.
    pub at: Instant,
    /// What.
    pub event: CallEvent,
}

const MAX_DATAGRAM: usize = 65_535;

async fn flush(
    phone: &mut Phone,
    sip: &UdpSocket,
    media: &UdpSocket,
    events: &mpsc::UnboundedSender<TimedEvent>,
) {
    while let Some(out) = phone.poll_output() {
        match out {
            Output::Transmit { socket, to, data } => {
                let s = match socket {
                    Socket::Sip => sip,
                    Socket::Media => media,
                };
                if let Err(e) = s.send_to(&data, to).await {
                    warn!(%e, ?socket, "send failed");
                }
            }
            Output::Event(event) => {
                let _ = events.send(TimedEvent {
                    at: Instant::now(),
                    event,
                });
            }
        }
    }
}

fn apply(
    phone: &mut Phone,
    now: Instant,
    cmd: Command,
) -> Result<(), sotto_call::phone::PhoneError> {
    match cmd {
        Command::Call { target, peer } => phone.call(now, target, peer),
        Command::Answer => phone.answer(now),
        Command::Reject { decline } => phone.reject(now, decline),
        Command::Hangup => phone.hangup(now),
        Command::Hold { on } => phone.hold(now, on),
        Command::ConfirmSas => phone.confirm_sas(now),
        Command::RejectSas => phone.reject_sas(now),
        Command::Dtmf { digit } => phone.send_dtmf(now, digit),
        Command::Stop => Ok(()),
    }
}

/// Drives `phone` until [`Command::Stop`] (or the command channel closes), then returns it so
/// the caller can read its statistics. Starts it first ([`Phone::start`]: registration, when
/// an account is configured) and shuts it down at the end ([`Phone::shutdown`]: hang-up and
/// unregistration). Socket receive errors other than transient ones end the driver with that
/// error.
pub async fn run_phone(
    mut phone: Phone,
    sip: UdpSocket,
    media: UdpSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<TimedEvent>,
) -> io::Result<Phone> {
    let mut sip_buf = vec![0u8; MAX_DATAGRAM];
    let mut media_buf = vec![0u8; MAX_DATAGRAM];
    phone.start(Instant::now());
    loop {
        flush(&mut phone, &sip, &media, &events).await;
        let deadline = phone.poll_timeout();
        let sleep_until = deadline
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            r = sip.recv_from(&mut sip_buf) => match r {
                Ok((n, from)) => {
                    if let Some(d) = sip_buf.get(..n) {
                        phone.handle_sip(Instant::now(), from, d);
                    }
                }
                Err(e) if is_transient(&e) => debug!(%e, "SIP socket"),
                Err(e) => return Err(e),
            },
            r = media.recv_from(&mut media_buf) => match r {
                Ok((n, from)) => {
                    if let Some(d) = media_buf.get(..n) {
                        phone.handle_media(Instant::now(), from, d);
                    }
                }
                Err(e) if is_transient(&e) => debug!(%e, "media socket"),
                Err(e) => return Err(e),
            },
            () = tokio::time::sleep_until(sleep_until) => {
                phone.handle_timeout(Instant::now());
            }
            c = commands.recv() => match c {
                None | Some(Command::Stop) => {
                    phone.shutdown(Instant::now());
                    shutdown(&mut phone, &sip, &media, &events, &mut sip_buf).await;
                    return Ok(phone);
                }
                Some(cmd) => {
                    if let Err(e) = apply(&mut phone, Instant::now(), cmd) {
                        warn!(%e, "command refused");
                    }
                }
            },
        }
    }
}

/// Lets the phone finish its shutdown (the registrar's answer to our unregistration), for at
/// most [`SHUTDOWN_GRACE`]. Media is no longer read.
async fn shutdown(
    phone: &mut Phone,
    sip: &UdpSocket,
    media: &UdpSocket,
    events: &mpsc::UnboundedSender<TimedEvent>,
    sip_buf: &mut [u8],
) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    loop {
        flush(phone, sip, media, events).await;
        if phone.shutdown_complete() {
            return;
        }
        let wake = phone
            .poll_timeout()
            .map_or(deadline, tokio::time::Instant::from_std)
            .min(deadline);
        tokio::select! {
            r = sip.recv_from(sip_buf) => {
                if let Ok((n, from)) = r
                    && let Some(d) = sip_buf.get(..n)
                {
                    phone.handle_sip(Instant::now(), from, d);
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    flush(phone, sip, media, events).await;
                    return;
                }
                phone.handle_timeout(Instant::now());
            }
        }
    }
}

/// ICMP port-unreachable and friends surface as receive errors on Linux; they are not fatal.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
