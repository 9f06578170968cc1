//! Interop with the reference Opus implementation (Debian `libopus-dev`, `opus-tools`).
//! Ignored by default; `.ci/run` installs the packages and runs them with `--ignored`.
//!
//! - libopus decodes our packets to the same PCM our decoder produces, and we decode
//!   libopus's packets to the same PCM libopus produces (bit-compatible to rounding).
//! - `opusenc` (libopus via libopusenc) writes an Ogg Opus file; we demux and decode it and
//!   match `opusdec`.
//! - We write our stream as an Ogg Opus file ("RTP dump" → Ogg, RFC 7845); `opusdec` plays it
//!   and matches our decoder.
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

use sotto_media::{
    AudioDecoder, Encoded, OPUS_FRAME, OPUS_MAX_PACKET, OpusConfig, OpusDecoder, OpusEncoder,
    signal,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn tmp() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("opus_interop");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `tests/c/opus_harness.c` against the system libopus (found by pkg-config), once
/// per test process: tests run in parallel, and one must not execute the binary while another
/// is rewriting it.
fn harness() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(build_harness).clone()
}

fn build_harness() -> PathBuf {
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "opus"])
        .output()
        .expect("pkg-config not found: apt-get install pkg-config libopus-dev");
    assert!(
        flags.status.success(),
        "libopus not found by pkg-config: apt-get install libopus-dev"
    );
    let flags = String::from_utf8(flags.stdout).unwrap();
    let out = tmp().join("opus_harness");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/opus_harness.c");
    let st = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(flags.split_whitespace())
        .status()
        .expect("cc not found");
    assert!(st.success(), "compiling the libopus harness failed");
    out
}

fn run(tool: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{} {args:?} failed", tool.display());
    out.stdout
}

/// Test speech: a speech-like harmonic glide followed by a log sweep, 4 s at 48 kHz.
fn test_signal() -> Vec<i16> {
    let mut s = signal::harmonic_sweep(48_000, 100.0, 240.0, 2.0);
    s.extend(signal::log_sweep(48_000, 100.0, 12_000.0, 2.0, 0.3));
    s.truncate(s.len() / OPUS_FRAME * OPUS_FRAME);
    s
}

fn encode_ours(pcm: &[i16], cfg: OpusConfig) -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::new(cfg).unwrap();
    let mut buf = [0u8; OPUS_MAX_PACKET];
    pcm.chunks_exact(OPUS_FRAME)
        .map(|f| match enc.encode(f, &mut buf).unwrap() {
            Encoded::Packet(n) => buf[..n].to_vec(),
            Encoded::Dtx => panic!("DTX is off"),
        })
        .collect()
}

fn decode_ours(packets: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = OpusDecoder::new().unwrap();
    let mut pcm = [0i16; OPUS_FRAME];
    let mut out = Vec::new();
    for p in packets {
        dec.decode(p, &mut pcm).unwrap();
        out.extend_from_slice(&pcm);
    }
    out
}

fn decode_libopus(h: &Path, packets: &[Vec<u8>]) -> Vec<i16> {
    let mut input = Vec::new();
    for p in packets {
        input.extend_from_slice(&(p.len() as u16).to_be_bytes());
        input.extend_from_slice(p);
    }
    let out = run(h, &["decode"], &input);
    out.chunks_exact(4 + 2 * OPUS_FRAME)
        .flat_map(|c| {
            c[4..]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
    assert!(!reference.is_empty());
    let n = reference.len().min(test.len());
    let sig: f64 = reference[..n].iter().map(|&s| f64::from(s).powi(2)).sum();
    let err: f64 = reference[..n]
        .iter()
        .zip(&test[..n])
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    10.0 * (sig / err.max(1e-9)).log10()
}

#[test]
#[ignore = "needs libopus-dev (Debian); run by .ci/run"]
fn libopus_decodes_our_packets_like_we_do() {
    let h = harness();
    let pcm = test_signal();
    for cfg in [
        OpusConfig::default(),
        OpusConfig {
            bitrate: 32_000,
            packet_loss_perc: 10,
            ..OpusConfig::default()
        },
        OpusConfig {
            bitrate: 96_000,
            inband_fec: false,
            complexity: 5,
            ..OpusConfig::default()
        },
    ] {
        let packets = encode_ours(&pcm, cfg);
        let theirs = decode_libopus(&h, &packets);
        let ours = decode_ours(&packets);
        assert_eq!(theirs.len(), ours.len());
        let snr = snr_db(&theirs, &ours);
        eprintln!("{cfg:?}: libopus vs ours on our stream: {snr:.1} dB");
        assert!(snr > 60.0, "{cfg:?}: {snr} dB");
        // And it is the signal, not silence.
        assert!(signal::rms_dbfs(&theirs) > -30.0);
    }
}

#[test]
#[ignore = "needs libopus-dev (Debian); run by .ci/run"]
fn we_decode_libopus_packets_like_libopus() {
    let h = harness();
    let pcm = test_signal();
    let raw: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    for (bitrate, fec, loss, bw) in [
        ("32000", "1", "10", "1103"),
        ("24000", "0", "0", "1102"),
        ("64000", "0", "0", "1105"),
    ] {
        let out = run(&h, &["encode", bitrate, fec, loss, bw], &raw);
        let mut packets = Vec::new();
        let mut i = 0;
        while i < out.len() {
            let n = usize::from(u16::from_be_bytes([out[i], out[i + 1]]));
            packets.push(out[i + 2..i + 2 + n].to_vec());
            i += 2 + n + 4;
        }
        let theirs = decode_libopus(&h, &packets);
        let ours = decode_ours(&packets);
        let snr = snr_db(&theirs, &ours);
        eprintln!("{bitrate} bit/s bw {bw}: ours vs libopus on libopus's stream: {snr:.1} dB");
        assert!(snr > 60.0, "{bitrate}/{bw}: {snr} dB");
    }
}

// ---- Ogg Opus (RFC 3533 pages, RFC 7845 mapping), test-only ----

fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn ogg_page(out: &mut Vec<u8>, flags: u8, granule: u64, seq: u32, packet: &[u8]) {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(flags);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&0x5077_7000u32.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    out.extend_from_slice(packet);
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// Writes one Opus stream as an Ogg Opus file, one packet per page, pre-skip 0.
fn write_ogg_opus(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family
    ogg_page(&mut out, 0x02, 0, 0, &head);
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"sotto-media";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    ogg_page(&mut out, 0, 0, 1, &tags);
    for (i, p) in packets.iter().enumerate() {
        let last = i + 1 == packets.len();
        let granule = ((i + 1) * OPUS_FRAME) as u64;
        ogg_page(
            &mut out,
            if last { 0x04 } else { 0 },
            granule,
            i as u32 + 2,
            p,
        );
    }
    out
}

/// Reads the packets of the (single) logical stream of an Ogg file, checking page CRCs.
fn read_ogg_packets(data: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i + 27 <= data.len() {
        assert_eq!(&data[i..i + 4], b"OggS", "page sync");
        let nseg = usize::from(data[i + 26]);
        let lacing = &data[i + 27..i + 27 + nseg];
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let end = i + 27 + nseg + body_len;
        let mut page = data[i..end].to_vec();
        let crc = u32::from_le_bytes(page[22..26].try_into().unwrap());
        page[22..26].fill(0);
        assert_eq!(ogg_crc(&page), crc, "page CRC");
        let mut pos = i + 27 + nseg;
        for &l in lacing {
            cur.extend_from_slice(&data[pos..pos + usize::from(l)]);
            pos += usize::from(l);
            if l < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        i = end;
    }
    packets
}

fn read_wav_samples(path: &Path) -> (u32, Vec<i16>) {
    let a = sotto_media::wav::read_wav(path).unwrap();
    (a.rate, a.samples)
}

fn need(tool: &str) {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    assert!(ok, "{tool} not found: apt-get install opus-tools");
}

#[test]
#[ignore = "needs opus-tools (Debian); run by .ci/run"]
fn we_decode_an_opusenc_file_like_opusdec() {
    need("opusenc");
    need("opusdec");
    let dir = tmp();
    let wav = dir.join("in.wav");
    sotto_media::wav::write_wav(
        &wav,
        &sotto_media::wav::Audio {
            rate: 48_000,
            samples: test_signal(),
        },
    )
    .unwrap();
    let opus = dir.join("in.opus");
    let st = Command::new("opusenc")
        .args(["--quiet", "--bitrate", "32", "--framesize", "20"])
        .arg(&wav)
        .arg(&opus)
        .status()
        .unwrap();
    assert!(st.success());
    let packets = read_ogg_packets(&std::fs::read(&opus).unwrap());
    assert_eq!(&packets[0][..8], b"OpusHead");
    assert_eq!(&packets[1][..8], b"OpusTags");
    let pre_skip = usize::from(u16::from_le_bytes([packets[0][10], packets[0][11]]));
    let ours = decode_ours(&packets[2..]);
    let out = dir.join("opusdec.wav");
    let st = Command::new("opusdec")
        .args(["--quiet", "--rate", "48000", "--no-dither"])
        .arg(&opus)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let (rate, theirs) = read_wav_samples(&out);
    assert_eq!(rate, 48_000);
    let snr = snr_db(&theirs, &ours[pre_skip..]);
    eprintln!("opusenc file: ours vs opusdec: {snr:.1} dB");
    assert!(snr > 35.0, "{snr} dB"); // measured 40.2 dB with Debian 12 opus-tools
}

#[test]
#[ignore = "needs opus-tools (Debian); run by .ci/run"]
fn opusdec_plays_our_stream() {
    need("opusdec");
    let dir = tmp();
    let pcm = test_signal();
    let packets = encode_ours(&pcm, OpusConfig::default());
    let ogg = dir.join("ours.opus");
    std::fs::write(&ogg, write_ogg_opus(&packets)).unwrap();
    // Our own reader agrees with our writer.
    assert_eq!(
        read_ogg_packets(&std::fs::read(&ogg).unwrap())[2..],
        packets[..]
    );
    let out = dir.join("ours_opusdec.wav");
    let st = Command::new("opusdec")
        .args(["--quiet", "--rate", "48000", "--no-dither"])
        .arg(&ogg)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "opusdec rejected our stream");
    let (_, theirs) = read_wav_samples(&out);
    let ours = decode_ours(&packets);
    assert!(
        theirs.len() + OPUS_FRAME >= ours.len(),
        "{} vs {}",
        theirs.len(),
        ours.len()
    );
    let snr = snr_db(&ours, &theirs);
    eprintln!("our stream: opusdec vs ours: {snr:.1} dB");
    assert!(snr > 40.0, "{snr} dB");
}
