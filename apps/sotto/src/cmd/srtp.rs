//! `sotto diag srtp` and `sotto bench srtp`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use sotto_srtp::{Config, Profile, RtpHeaderView, SrtpContext};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `sotto diag ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DiagCommand {
    /// SRTP/SRTCP protect or unprotect packets given as hex, with keys from a log.
    ///
    /// One context; the packets are processed in the order given and one line is printed per
    /// packet: the resulting packet in hex, or `error: <reason>`. Exit status 2 if any failed.
    Srtp(SrtpDiagArgs),
}

/// What `sotto diag srtp` does to each packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Action {
    /// Encrypt and authenticate (RTP -> SRTP, or RTCP -> SRTCP with --rtcp).
    Protect,
    /// Authenticate and decrypt (SRTP -> RTP, or SRTCP -> RTCP with --rtcp).
    Unprotect,
}

/// Arguments of `sotto diag srtp`.
#[derive(Debug, Args)]
pub(crate) struct SrtpDiagArgs {
    /// protect or unprotect.
    action: Action,
    /// Profile: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AES_256_CM_HMAC_SHA1_80,
    /// AES_256_CM_HMAC_SHA1_32, AEAD_AES_128_GCM, AEAD_AES_256_GCM.
    #[arg(long)]
    profile: String,
    /// Master key, hex (16 or 32 octets as the profile says).
    #[arg(long)]
    key: String,
    /// Master salt, hex (14 octets for AES-CM, 12 for AES-GCM).
    #[arg(long)]
    salt: String,
    /// The packets are RTCP/SRTCP rather than RTP/SRTP.
    #[arg(long)]
    rtcp: bool,
    /// Master key identifier carried in the packets, hex.
    #[arg(long)]
    mki: Option<String>,
    /// Rollover counter of the first RTP packet of each SSRC (for a stream joined late).
    #[arg(long, default_value_t = 0)]
    roc: u32,
    /// First SRTCP index to use when protecting RTCP.
    #[arg(long)]
    srtcp_index: Option<u32>,
    /// Replay window size in packets.
    #[arg(long, default_value_t = Config::DEFAULT_REPLAY_WINDOW)]
    replay_window: u64,
    /// On the _32 profiles, use 32-bit SRTCP tags too (as linphone does under ZRTP HS32)
    /// instead of the standard 80.
    #[arg(long)]
    srtcp_tag_like_srtp: bool,
    /// The packets, hex (spaces and colons inside an argument are ignored).
    #[arg(required = true, value_name = "HEX")]
    packets: Vec<String>,
}

/// `sotto bench ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// SRTP protect/unprotect throughput on one thread; prints one JSON line.
    Srtp(SrtpBenchArgs),
}

/// Arguments of `sotto bench srtp`.
#[derive(Debug, Args)]
pub(crate) struct SrtpBenchArgs {
    /// Profile name (see `sotto diag srtp --help`).
    #[arg(long, default_value = "AES_CM_128_HMAC_SHA1_80")]
    profile: String,
    /// RTP payload size in octets (after a 12-octet RTP header).
    #[arg(long, default_value_t = 160)]
    size: usize,
    /// Seconds spent measuring each of protect and unprotect.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// What time is measured: `wall` (elapsed time) or `cpu` (this thread's on-CPU time, from
    /// /proc/thread-self/schedstat: the per-core rate even when other processes share the
    /// machine).
    #[arg(long, value_enum, default_value_t = BenchClock::Wall)]
    clock: BenchClock,
}

/// The clock `sotto bench srtp` measures with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchClock {
    /// Elapsed (wall-clock) time.
    Wall,
    /// On-CPU time of the benchmark thread.
    Cpu,
}

/// Reads time from the chosen clock.
struct Clock {
    start: Instant,
    schedstat: Option<std::fs::File>,
}

impl Clock {
    fn new(kind: BenchClock) -> anyhow::Result<Self> {
        let schedstat = match kind {
            BenchClock::Wall => None,
            BenchClock::Cpu => Some(
                std::fs::File::open("/proc/thread-self/schedstat")
                    .context("--clock cpu needs /proc/thread-self/schedstat (Linux)")?,
            ),
        };
        Ok(Self {
            start: Instant::now(),
            schedstat,
        })
    }

    fn now(&self) -> anyhow::Result<Duration> {
        use std::os::unix::fs::FileExt as _;
        let Some(f) = &self.schedstat else {
            return Ok(self.start.elapsed());
        };
        let mut buf = [0u8; 96];
        let n = f.read_at(&mut buf, 0)?;
        let text = std::str::from_utf8(buf.get(..n).unwrap_or_default())?;
        let ns: u64 = text
            .split_whitespace()
            .next()
            .context("empty schedstat")?
            .parse()
            .context("schedstat run time")?;
        Ok(Duration::from_nanos(ns))
    }
}

fn parse_hex(what: &str, s: &str) -> anyhow::Result<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(clean).with_context(|| format!("{what} is not valid hex"))
}

fn be32_at(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

fn parse_profile(name: &str) -> anyhow::Result<Profile> {
    Profile::from_name(name).with_context(|| {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        format!("unknown profile {name:?}; one of {}", names.join(", "))
    })
}

pub(crate) fn diag(cmd: DiagCommand) -> anyhow::Result<ExitCode> {
    let DiagCommand::Srtp(a) = cmd;
    let profile = parse_profile(&a.profile)?;
    let key = parse_hex("--key", &a.key)?;
    let salt = parse_hex("--salt", &a.salt)?;
    let mki = a
        .mki
        .as_deref()
        .map(|m| parse_hex("--mki", m))
        .transpose()?;
    let config = Config {
        mki,
        replay_window: a.replay_window,
        srtcp_tag_like_srtp: a.srtcp_tag_like_srtp,
        ..Config::default()
    };
    let mut ctx = SrtpContext::new(profile, &key, &salt, config)
        .with_context(|| format!("cannot build an {profile} context"))?;
    let overhead = ctx.srtp_overhead().max(ctx.srtcp_overhead());
    let mut failed = false;
    for (n, text) in a.packets.iter().enumerate() {
        let result = (|| -> anyhow::Result<Vec<u8>> {
            let mut pkt = parse_hex(&format!("packet {}", n + 1), text)?;
            match (a.action, a.rtcp) {
                (Action::Protect, false) => {
                    if a.roc != 0 {
                        let h = RtpHeaderView::parse(&pkt)?;
                        if ctx.roc(h.ssrc).is_none() {
                            ctx.add_stream(h.ssrc, a.roc)?;
                        }
                    }
                    pkt.reserve(overhead);
                    ctx.protect_rtp_vec(&mut pkt)?;
                }
                (Action::Unprotect, false) => {
                    if a.roc != 0
                        && let Some(ssrc) = be32_at(&pkt, 8)
                        && ctx.roc(ssrc).is_none()
                    {
                        ctx.add_stream(ssrc, a.roc)?;
                    }
                    ctx.unprotect_rtp_vec(&mut pkt)?;
                }
                (Action::Protect, true) => {
                    if let (Some(i), Some(ssrc)) = (a.srtcp_index, be32_at(&pkt, 4))
                        && n == 0
                    {
                        ctx.set_srtcp_index(ssrc, i)?;
                    }
                    ctx.protect_rtcp_vec(&mut pkt)?;
                }
                (Action::Unprotect, true) => ctx.unprotect_rtcp_vec(&mut pkt)?,
            }
            Ok(pkt)
        })();
        match result {
            Ok(p) => println!("{}", hex::encode(p)),
            Err(e) => {
                failed = true;
                println!("error: {e:#}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The JSON line `sotto bench srtp` prints (fields in this order).
#[derive(serde::Serialize)]
struct BenchResult {
    profile: &'static str,
    size: usize,
    protect_pps: u64,
    unprotect_pps: u64,
}

/// Packets pre-protected per unprotect batch (protect time is not counted there); small enough
/// that a batch of 1200 B packets stays in L2, as a just-received datagram would be in cache.
const BATCH: usize = 512;

#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "benchmark buffers are sized right above their use"
)]
pub(crate) fn bench(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Srtp(a) = cmd;
    let profile = parse_profile(&a.profile)?;
    if !(a.seconds > 0.0 && a.seconds <= 600.0) {
        bail!("--seconds must be in (0, 600]");
    }
    if a.size > 8192 {
        bail!("--size must be at most 8192");
    }
    let budget = Duration::from_secs_f64(a.seconds);
    let key: Vec<u8> = (0..profile.key_len())
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
        .collect();
    let salt: Vec<u8> = (0..profile.salt_len())
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(7))
        .collect();

    // The RTP packet: 12-octet header, `size` octets of payload.
    let mut template = vec![0x80, 0x6F, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    template.extend((0..a.size).map(|i| i as u8));
    let len = template.len();
    let overhead = profile.srtp_overhead(0);
    let stride = len + overhead;

    // Protect: copy the packet into the work buffer, set the sequence number, protect.
    let mut tx = SrtpContext::new(profile, &key, &salt, Config::default())?;
    let mut buf = vec![0u8; stride];
    let mut seq: u16 = 0;
    let mut protected: u64 = 0;
    let clock = Clock::new(a.clock)?;
    let start = clock.now()?;
    let protect_elapsed = loop {
        for _ in 0..4096 {
            buf[..len].copy_from_slice(&template);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(1);
            black_box(tx.protect_rtp(black_box(&mut buf), len)?);
        }
        protected += 4096;
        let e = clock.now()? - start;
        if e >= budget {
            break e;
        }
    };

    // Unprotect: batches protected untimed by a second sender, then copied and unprotected.
    let mut tx2 = SrtpContext::new(profile, &key, &salt, Config::default())?;
    let mut rx = SrtpContext::new(profile, &key, &salt, Config::default())?;
    let mut batch = vec![0u8; BATCH * stride];
    let mut seq: u16 = 0;
    let mut unprotected: u64 = 0;
    let mut unprotect_elapsed = Duration::ZERO;
    while unprotect_elapsed < budget {
        for chunk in batch.chunks_exact_mut(stride) {
            chunk[..len].copy_from_slice(&template);
            chunk[2..4].copy_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(1);
            tx2.protect_rtp(chunk, len)?;
        }
        let t0 = clock.now()?;
        for chunk in batch.chunks_exact(stride) {
            buf.copy_from_slice(chunk);
            black_box(rx.unprotect_rtp(black_box(&mut buf))?);
        }
        unprotect_elapsed += clock.now()? - t0;
        unprotected += BATCH as u64;
    }

    let out = BenchResult {
        profile: profile.name(),
        size: a.size,
        protect_pps: (protected as f64 / protect_elapsed.as_secs_f64()).round() as u64,
        unprotect_pps: (unprotected as f64 / unprotect_elapsed.as_secs_f64()).round() as u64,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}
