//! # sotto-media — audio codecs, jitter buffer, concealment, resampling, WAV
//!
//! Owns the audio path between RTP payloads and PCM frames: Opus and G.711, an adaptive jitter
//! buffer with loss concealment and FEC recovery, resampling, WAV I/O and test signals.
//! Sans-IO: frames in, frames out.
