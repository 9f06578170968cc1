//! Our Opus codec as a stdin/stdout filter with the same framing as `tests/c/opus_harness.c`,
//! so the two can be compared in any combination (for interop debugging and the tests).
//!
//! ```text
//! opus_pipe encode BITRATE FEC LOSS_PERC   PCM s16le 48k mono → [u16 len][packet][u32 0]
//! opus_pipe decode                         [u16 len][packet] → [u32 0][960 × s16le]
//! ```
//! (The u32 is the harness's final range; `opus-rs` does not expose it, so we write 0.)
//! ```text
//! ```
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tool binary"
)]

use sotto_media::{
    AudioDecoder, Encoded, OPUS_FRAME, OPUS_MAX_PACKET, OpusConfig, OpusDecoder, OpusEncoder,
};
use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("stdin");
    let mut out = Vec::new();
    match args.get(1).map(String::as_str) {
        Some("encode") => {
            let cfg = OpusConfig {
                bitrate: args[2].parse().unwrap(),
                inband_fec: args[3] == "1",
                packet_loss_perc: args[4].parse().unwrap(),
                ..OpusConfig::default()
            };
            let mut enc = OpusEncoder::new(cfg).expect("encoder");
            let mut pkt = [0u8; OPUS_MAX_PACKET];
            for frame in input.chunks_exact(OPUS_FRAME * 2) {
                let pcm: Vec<i16> = frame
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                let n = match enc.encode(&pcm, &mut pkt).unwrap() {
                    Encoded::Packet(n) => n,
                    Encoded::Dtx => 0,
                };
                out.extend_from_slice(&(n as u16).to_be_bytes());
                out.extend_from_slice(&pkt[..n]);
                out.extend_from_slice(&[0; 4]);
            }
        }
        Some("decode") => {
            let mut dec = OpusDecoder::new().expect("decoder");
            let mut pcm = [0i16; OPUS_FRAME];
            let mut i = 0;
            while i + 2 <= input.len() {
                let n = usize::from(u16::from_be_bytes([input[i], input[i + 1]]));
                let p = &input[i + 2..i + 2 + n];
                i += 2 + n;
                if n == 0 {
                    dec.conceal(&mut pcm).unwrap();
                } else {
                    dec.decode(p, &mut pcm).unwrap();
                }
                out.extend_from_slice(&[0; 4]);
                for s in pcm {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
        _ => {
            eprintln!("usage: opus_pipe encode BITRATE FEC LOSS | decode");
            std::process::exit(2);
        }
    }
    std::io::stdout().write_all(&out).expect("stdout");
}
