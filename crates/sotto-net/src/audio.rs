//! Audio devices: the microphone and the loudspeaker of a call, as a
//! [`sotto_call::phone::AudioIo`].
//!
//! Two halves:
//!
//! - [`DeviceAudio`] and its device ends ([`CaptureSink`], [`PlaybackSource`]), always built:
//!   the bridge between the device's callbacks (any rate, any channel count, their own thread)
//!   and the phone's 20 ms, 48 kHz mono frames. Capture is downmixed, resampled to 48 kHz
//!   (`rubato`, via [`sotto_media::resample::StreamResampler`]) and cleaned by the echo
//!   canceller and noise suppressor ([`sotto_media::processing`], on by default); playback is
//!   given to the canceller as its far-end reference, resampled to the device rate and spread
//!   over its channels. Both queues are bounded (200 ms, then trimmed to 100 ms), so a stalled
//!   or drifting side drops audio instead of letting the delay grow; underruns play or capture
//!   silence. No hardware is needed to
//!   drive it, so it is tested with a simulated sound card.
//! - [`open_devices`] and [`list_devices`], with the cargo feature `audio`: the real devices
//!   through `cpal` (ALSA on Linux, which needs `libasound2-dev` to build). The `cpal` streams
//!   live on a thread of their own and stop when the [`DeviceAudio`] is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use sotto_call::phone::AudioIo;
use sotto_media::processing::{AudioProcessor, ProcessingConfig};
use sotto_media::resample::StreamResampler;
use sotto_media::{MediaError, OPUS_FRAME, OPUS_RATE};
use tracing::warn;

/// The most audio either queue holds, in ms: beyond it the oldest audio is dropped down to
/// half of this.
pub const MAX_QUEUE_MS: u32 = 200;

/// Why the audio devices could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// No such device, or no device at all.
    #[error("no audio device: {0}")]
    NoDevice(String),
    /// The device refused (busy, unsupported format, disconnected).
    #[error("audio device: {0}")]
    Device(String),
    /// The resampler or the echo canceller could not be set up.
    #[error("audio processing: {0}")]
    Processing(#[from] MediaError),
    /// This build has no device support (cargo feature `audio`).
    #[error(
        "this sotto was built without audio devices: rebuild with `--features audio` (needs libasound2-dev)"
    )]
    NotBuilt,
}

/// Which devices to use and how.
#[derive(Debug, Clone)]
pub struct AudioOptions {
    /// Input device: its name or id (exact, else the only one containing this text,
    /// case-insensitive) or its number in [`list_devices`]; `None` for the system's default.
    pub input: Option<String>,
    /// Output device, the same way.
    pub output: Option<String>,
    /// Echo cancellation and noise suppression (`None`: off).
    pub processing: Option<ProcessingConfig>,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            input: None,
            output: None,
            processing: Some(ProcessingConfig::default()),
        }
    }
}

/// Counters of the device bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Phone frames captured with too little microphone audio (silence filled in).
    pub capture_underruns: u64,
    /// Microphone samples dropped because the phone did not take them in time.
    pub capture_dropped: u64,
    /// Device buffers that found too little to play (silence filled in).
    pub playback_underruns: u64,
    /// Samples dropped because the device did not play them in time.
    pub playback_dropped: u64,
}

#[derive(Debug, Default)]
struct Queues {
    /// Microphone, mono, device rate.
    captured: VecDeque<i16>,
    /// Loudspeaker, mono, device rate.
    to_play: VecDeque<i16>,
    stats: DeviceStats,
}

type Shared = Arc<Mutex<Queues>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Queues> {
    // A panicking device thread leaves plain sample queues: still usable.
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends, and when the queue holds more than `max`, drops its oldest samples down to half of
/// `max`: a clock faster than its reader (capture and playback devices drift against the
/// phone's ticks) then costs one short gap now and then instead of a delay stuck at `max`.
fn push_bounded(q: &mut VecDeque<i16>, samples: impl Iterator<Item = i16>, max: usize) -> u64 {
    q.extend(samples);
    trim(q, max)
}

fn trim(q: &mut VecDeque<i16>, max: usize) -> u64 {
    if q.len() <= max {
        return 0;
    }
    let excess = q.len() - max / 2;
    q.drain(..excess);
    excess as u64
}

fn f32_to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// The microphone end, for the capture callback: takes interleaved device buffers.
#[derive(Debug, Clone)]
pub struct CaptureSink {
    shared: Shared,
    channels: usize,
    max: usize,
}

impl CaptureSink {
    /// Takes one device buffer of interleaved `f32` samples (all channels averaged).
    pub fn push_f32(&self, data: &[f32]) {
        let ch = self.channels;
        let mono = data
            .chunks_exact(ch)
            .map(|f| f32_to_i16(f.iter().sum::<f32>() / ch as f32));
        let mut q = lock(&self.shared);
        let dropped = push_bounded(&mut q.captured, mono, self.max);
        q.stats.capture_dropped += dropped;
    }

    /// Takes one device buffer of interleaved `i16` samples (all channels averaged).
    pub fn push_i16(&self, data: &[i16]) {
        let ch = self.channels;
        let mono = data.chunks_exact(ch).map(|f| {
            let sum: i32 = f.iter().map(|&s| i32::from(s)).sum();
            (sum / ch as i32) as i16
        });
        let mut q = lock(&self.shared);
        let dropped = push_bounded(&mut q.captured, mono, self.max);
        q.stats.capture_dropped += dropped;
    }
}

/// The loudspeaker end, for the playback callback: fills interleaved device buffers.
#[derive(Debug, Clone)]
pub struct PlaybackSource {
    shared: Shared,
    channels: usize,
}

impl PlaybackSource {
    fn fill<T: Copy>(&self, data: &mut [T], silence: T, conv: impl Fn(i16) -> T) {
        let mut q = lock(&self.shared);
        let mut short = false;
        for frame in data.chunks_mut(self.channels) {
            let v = match q.to_play.pop_front() {
                Some(s) => conv(s),
                None => {
                    short = true;
                    silence
                }
            };
            frame.fill(v);
        }
        if short {
            q.stats.playback_underruns += 1;
        }
    }

    /// Fills one device buffer of interleaved `f32` samples (silence when nothing is queued).
    pub fn fill_f32(&self, data: &mut [f32]) {
        self.fill(data, 0.0, |s| f32::from(s) / 32768.0);
    }

    /// Fills one device buffer of interleaved `i16` samples.
    pub fn fill_i16(&self, data: &mut [i16]) {
        self.fill(data, 0, |s| s);
    }
}

/// The phone's audio on real (or simulated) devices. See the module docs.
pub struct DeviceAudio {
    shared: Shared,
    capture_rate: u32,
    playback_rate: u32,
    cap_in: Option<StreamResampler>,
    cap_pending: Vec<i16>,
    cap48: VecDeque<i16>,
    play_out: Option<StreamResampler>,
    play_buf: Vec<i16>,
    processor: Option<AudioProcessor>,
    max_playback: usize,
    #[cfg(feature = "audio")]
    _streams: Option<devices::StreamThread>,
}

impl core::fmt::Debug for DeviceAudio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceAudio")
            .field("capture_rate", &self.capture_rate)
            .field("playback_rate", &self.playback_rate)
            .field("processing", &self.processor.is_some())
            .finish_non_exhaustive()
    }
}

fn queue_len(rate: u32) -> usize {
    (rate as usize) * (MAX_QUEUE_MS as usize) / 1000
}

impl DeviceAudio {
    /// A bridge for a microphone at `capture_rate` Hz with `capture_channels` and a loudspeaker
    /// at `playback_rate` Hz with `playback_channels`, processed as `processing` says. Returns
    /// the bridge (give it to the phone) and the two device ends (give them to the callbacks).
    pub fn new(
        capture_rate: u32,
        capture_channels: u16,
        playback_rate: u32,
        playback_channels: u16,
        processing: Option<ProcessingConfig>,
    ) -> Result<(Self, CaptureSink, PlaybackSource), AudioError> {
        if capture_channels == 0 || playback_channels == 0 {
            return Err(AudioError::Device("a device with no channels".into()));
        }
        let shared = Shared::default();
        let cap_in = (capture_rate != OPUS_RATE)
            .then(|| StreamResampler::new(capture_rate, OPUS_RATE, (capture_rate / 100) as usize))
            .transpose()?;
        let play_out = (playback_rate != OPUS_RATE)
            .then(|| StreamResampler::new(OPUS_RATE, playback_rate, (OPUS_RATE / 100) as usize))
            .transpose()?;
        let processor = processing.map(AudioProcessor::new).transpose()?;
        let max_capture = queue_len(capture_rate);
        let audio = Self {
            shared: shared.clone(),
            capture_rate,
            playback_rate,
            cap_in,
            cap_pending: Vec::new(),
            cap48: VecDeque::new(),
            play_out,
            play_buf: Vec::new(),
            processor,
            max_playback: queue_len(playback_rate),
            #[cfg(feature = "audio")]
            _streams: None,
        };
        let sink = CaptureSink {
            shared: shared.clone(),
            channels: usize::from(capture_channels),
            max: max_capture * 2,
        };
        let source = PlaybackSource {
            shared,
            channels: usize::from(playback_channels),
        };
        Ok((audio, sink, source))
    }

    /// Whether echo cancellation / noise suppression runs.
    pub fn processing(&self) -> bool {
        self.processor.is_some()
    }

    /// The device rates (capture, playback) in Hz.
    pub fn rates(&self) -> (u32, u32) {
        (self.capture_rate, self.playback_rate)
    }

    /// Counters so far.
    pub fn stats(&self) -> DeviceStats {
        lock(&self.shared).stats
    }

    fn capture_frame(&mut self, frame: &mut [i16]) -> Result<(), MediaError> {
        self.cap_pending
            .extend(lock(&self.shared).captured.drain(..));
        match &mut self.cap_in {
            None => self.cap48.extend(self.cap_pending.drain(..)),
            Some(r) => {
                let chunk = r.chunk();
                let mut out = Vec::new();
                let whole = self.cap_pending.len() / chunk * chunk;
                for c in self
                    .cap_pending
                    .get(..whole)
                    .unwrap_or(&[])
                    .chunks_exact(chunk)
                {
                    r.process(c, &mut out)?;
                }
                self.cap_pending.drain(..whole);
                self.cap48.extend(out);
            }
        }
        let excess = trim(&mut self.cap48, queue_len(OPUS_RATE));
        if excess > 0 {
            lock(&self.shared).stats.capture_dropped += excess;
        }
        if self.cap48.len() < frame.len() {
            lock(&self.shared).stats.capture_underruns += 1;
        }
        for s in frame.iter_mut() {
            *s = self.cap48.pop_front().unwrap_or(0);
        }
        if let Some(p) = &mut self.processor {
            p.near_end(frame)?;
        }
        Ok(())
    }

    fn play_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        if let Some(p) = &mut self.processor {
            p.far_end(frame)?;
        }
        self.play_buf.clear();
        match &mut self.play_out {
            None => self.play_buf.extend_from_slice(frame),
            Some(r) => {
                for c in frame.chunks_exact(r.chunk()) {
                    r.process(c, &mut self.play_buf)?;
                }
            }
        }
        let mut q = lock(&self.shared);
        let dropped = push_bounded(
            &mut q.to_play,
            self.play_buf.iter().copied(),
            self.max_playback,
        );
        q.stats.playback_dropped += dropped;
        Ok(())
    }
}

impl AudioIo for DeviceAudio {
    fn capture(&mut self, frame: &mut [i16]) {
        debug_assert_eq!(frame.len(), OPUS_FRAME);
        if let Err(e) = self.capture_frame(frame) {
            warn!(%e, "capture");
            frame.fill(0);
        }
    }

    fn play(&mut self, frame: &[i16]) {
        if let Err(e) = self.play_frame(frame) {
            warn!(%e, "playback");
        }
    }
}

/// One audio device, as [`list_devices`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its number (1-based), usable with [`AudioOptions::input`]/[`AudioOptions::output`].
    pub index: usize,
    /// Its name.
    pub name: String,
    /// The host's identifier for it (`alsa:…` on Linux); also usable to select it.
    pub id: String,
    /// Its default capture format (rate, channels, sample format), if it can capture.
    pub input: Option<(u32, u16, String)>,
    /// Its default playback format, if it can play.
    pub output: Option<(u32, u16, String)>,
    /// The system's default input.
    pub default_input: bool,
    /// The system's default output.
    pub default_output: bool,
}

/// The audio devices of the default host (ALSA on Linux).
pub fn list_devices() -> Result<Vec<DeviceInfo>, AudioError> {
    #[cfg(feature = "audio")]
    {
        devices::list()
    }
    #[cfg(not(feature = "audio"))]
    {
        Err(AudioError::NotBuilt)
    }
}

/// Opens the microphone and loudspeaker `opts` names and starts them.
pub fn open_devices(opts: &AudioOptions) -> Result<DeviceAudio, AudioError> {
    #[cfg(feature = "audio")]
    {
        devices::open(opts)
    }
    #[cfg(not(feature = "audio"))]
    {
        let _ = opts;
        Err(AudioError::NotBuilt)
    }
}

#[cfg(feature = "audio")]
mod devices {
    //! The `cpal` half.

    use super::{AudioError, AudioOptions, CaptureSink, DeviceAudio, DeviceInfo, PlaybackSource};
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    use cpal::{Device, SampleFormat, Stream, SupportedStreamConfig};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use tracing::warn;

    fn dev_err(e: impl core::fmt::Display) -> AudioError {
        AudioError::Device(e.to_string())
    }

    fn name_of(d: &Device) -> String {
        d.description()
            .map(|x| x.name().to_owned())
            .unwrap_or_else(|_| d.to_string())
    }

    fn id_of(d: &Device) -> String {
        d.id().map(|i| i.to_string()).unwrap_or_default()
    }

    fn format(c: &SupportedStreamConfig) -> (u32, u16, String) {
        (c.sample_rate(), c.channels(), c.sample_format().to_string())
    }

    pub(super) fn list() -> Result<Vec<DeviceInfo>, AudioError> {
        let host = cpal::default_host();
        let def_in = host.default_input_device().map(|d| name_of(&d));
        let def_out = host.default_output_device().map(|d| name_of(&d));
        let devices = host.devices().map_err(dev_err)?;
        Ok(devices
            .enumerate()
            .map(|(i, d)| {
                let name = name_of(&d);
                DeviceInfo {
                    index: i + 1,
                    id: id_of(&d),
                    input: d.default_input_config().ok().as_ref().map(format),
                    output: d.default_output_config().ok().as_ref().map(format),
                    default_input: def_in.as_deref() == Some(name.as_str()),
                    default_output: def_out.as_deref() == Some(name.as_str()),
                    name,
                }
            })
            .collect())
    }

    /// Finds a device by number, exact name, or a unique case-insensitive part of its name.
    fn find(host: &cpal::Host, wanted: Option<&str>, input: bool) -> Result<Device, AudioError> {
        let kind = if input { "input" } else { "output" };
        let Some(w) = wanted else {
            let d = if input {
                host.default_input_device()
            } else {
                host.default_output_device()
            };
            return d.ok_or_else(|| AudioError::NoDevice(format!("no default {kind} device")));
        };
        let all: Vec<Device> = host.devices().map_err(dev_err)?.collect();
        if let Ok(n) = w.parse::<usize>() {
            return n
                .checked_sub(1)
                .and_then(|i| all.get(i))
                .cloned()
                .ok_or_else(|| AudioError::NoDevice(format!("no device number {n}")));
        }
        if let Some(d) = all.iter().find(|d| name_of(d) == w || id_of(d) == w) {
            return Ok(d.clone());
        }
        let lw = w.to_lowercase();
        let matches: Vec<&Device> = all
            .iter()
            .filter(|d| {
                name_of(d).to_lowercase().contains(&lw) || id_of(d).to_lowercase().contains(&lw)
            })
            .collect();
        match matches.as_slice() {
            [d] => Ok((*d).clone()),
            [] => Err(AudioError::NoDevice(format!(
                "no {kind} device matches {w:?}"
            ))),
            _ => Err(AudioError::NoDevice(format!(
                "{} devices match {w:?}; use its number from `sotto devices`",
                matches.len()
            ))),
        }
    }

    fn input_stream(
        d: &Device,
        c: &SupportedStreamConfig,
        sink: CaptureSink,
    ) -> Result<Stream, AudioError> {
        let err = |e: cpal::Error| warn!(%e, "capture stream");
        match c.sample_format() {
            SampleFormat::F32 => d.build_input_stream::<f32, _, _>(
                c.config(),
                move |data, _| sink.push_f32(data),
                err,
                None,
            ),
            SampleFormat::I16 => d.build_input_stream::<i16, _, _>(
                c.config(),
                move |data, _| sink.push_i16(data),
                err,
                None,
            ),
            other => {
                return Err(AudioError::Device(format!(
                    "capture format {other} not supported"
                )));
            }
        }
        .map_err(dev_err)
    }

    fn output_stream(
        d: &Device,
        c: &SupportedStreamConfig,
        source: PlaybackSource,
    ) -> Result<Stream, AudioError> {
        let err = |e: cpal::Error| warn!(%e, "playback stream");
        match c.sample_format() {
            SampleFormat::F32 => d.build_output_stream::<f32, _, _>(
                c.config(),
                move |data, _| source.fill_f32(data),
                err,
                None,
            ),
            SampleFormat::I16 => d.build_output_stream::<i16, _, _>(
                c.config(),
                move |data, _| source.fill_i16(data),
                err,
                None,
            ),
            other => {
                return Err(AudioError::Device(format!(
                    "playback format {other} not supported"
                )));
            }
        }
        .map_err(dev_err)
    }

    /// The thread that owns the `cpal` streams (they need not be `Send`); dropping this stops
    /// them.
    pub(super) struct StreamThread {
        stop: Option<mpsc::Sender<()>>,
        handle: Option<JoinHandle<()>>,
    }

    impl Drop for StreamThread {
        fn drop(&mut self) {
            drop(self.stop.take());
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    pub(super) fn open(opts: &AudioOptions) -> Result<DeviceAudio, AudioError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<DeviceAudio, AudioError>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let opts = opts.clone();
        let handle = std::thread::Builder::new()
            .name("sotto-audio".into())
            .spawn(move || {
                let started = (|| {
                    let host = cpal::default_host();
                    let din = find(&host, opts.input.as_deref(), true)?;
                    let dout = find(&host, opts.output.as_deref(), false)?;
                    let cin = din.default_input_config().map_err(dev_err)?;
                    let cout = dout.default_output_config().map_err(dev_err)?;
                    let (audio, sink, source) = DeviceAudio::new(
                        cin.sample_rate(),
                        cin.channels(),
                        cout.sample_rate(),
                        cout.channels(),
                        opts.processing.clone(),
                    )?;
                    let sin = input_stream(&din, &cin, sink)?;
                    let sout = output_stream(&dout, &cout, source)?;
                    sin.play().map_err(dev_err)?;
                    sout.play().map_err(dev_err)?;
                    Ok((audio, sin, sout))
                })();
                match started {
                    Ok((audio, sin, sout)) => {
                        if ready_tx.send(Ok(audio)).is_ok() {
                            // Until the DeviceAudio is dropped (the sender with it).
                            let _ = stop_rx.recv();
                        }
                        drop((sin, sout));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(dev_err)?;
        let mut audio = ready_rx
            .recv()
            .map_err(|_| AudioError::Device("the audio thread died while opening".into()))??;
        audio._streams = Some(StreamThread {
            stop: Some(stop_tx),
            handle: Some(handle),
        });
        Ok(audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_media::signal::{rms_dbfs, tone};
    use sotto_media::testbench::{EchoPath, erle_db, white_noise};

    fn zero_crossings(x: &[i16]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    /// A simulated 44.1 kHz stereo sound card: the device side runs in 10 ms buffers, the
    /// phone side in 20 ms frames; a 1 kHz tone goes each way and comes out at the same pitch
    /// and level.
    #[test]
    fn tones_cross_a_44100_hz_stereo_card_both_ways() {
        let (mut audio, sink, source) = DeviceAudio::new(44_100, 2, 44_100, 2, None).unwrap();
        let mic = tone(44_100, 1000.0, 0.3, 44_100);
        let phone_tone = tone(48_000, 1000.0, 0.3, 48_000);
        let mut captured = Vec::new();
        let mut played = Vec::new();
        let mut dev_buf = vec![0i16; 441 * 2];
        for tick in 0..50 {
            // The card delivers two 10 ms buffers per 20 ms...
            for half in 0..2 {
                let start = (tick * 2 + half) * 441;
                let stereo: Vec<i16> = mic[start..start + 441]
                    .iter()
                    .flat_map(|&s| [s, s])
                    .collect();
                sink.push_i16(&stereo);
            }
            // ...the phone takes one frame and plays one...
            let mut f = [0i16; OPUS_FRAME];
            audio.capture(&mut f);
            captured.extend_from_slice(&f);
            audio.play(&phone_tone[tick * OPUS_FRAME..(tick + 1) * OPUS_FRAME]);
            // ...and the card plays two 10 ms buffers.
            for _ in 0..2 {
                source.fill_i16(&mut dev_buf);
                assert!(dev_buf.chunks_exact(2).all(|f| f[0] == f[1]));
                played.extend(dev_buf.chunks_exact(2).map(|f| f[0]));
            }
        }
        // Skip the resamplers' start-up; the rest is the tone, at 1 kHz, same level.
        let c = &captured[9600..];
        let zc = zero_crossings(c) as f64 / (c.len() as f64 / 48_000.0);
        assert!((zc - 2000.0).abs() < 20.0, "{zc}");
        assert!((rms_dbfs(c) - rms_dbfs(&mic)).abs() < 0.5);
        let p = &played[8820..];
        let zc = zero_crossings(p) as f64 / (p.len() as f64 / 44_100.0);
        assert!((zc - 2000.0).abs() < 20.0, "{zc}");
        assert!((rms_dbfs(p) - rms_dbfs(&phone_tone)).abs() < 0.5);
        assert_eq!(audio.stats().capture_dropped, 0);
        assert_eq!(audio.stats().playback_dropped, 0);
    }

    /// Nobody takes the microphone audio for a second: the queue stays bounded (the delay does
    /// not grow), and a phone with no audio from the card gets silence, counted.
    #[test]
    fn queues_stay_bounded() {
        let (mut audio, sink, source) = DeviceAudio::new(48_000, 1, 48_000, 1, None).unwrap();
        for _ in 0..100 {
            sink.push_i16(&[1000; 480]);
        }
        assert!(audio.stats().capture_dropped > 0);
        let mut f = [0i16; OPUS_FRAME];
        let mut with_audio = 0;
        for _ in 0..21 {
            audio.capture(&mut f);
            with_audio += usize::from(f.iter().any(|&s| s != 0));
        }
        // A second of backlog leaves at most 100-200 ms of delay, never more.
        assert!(
            (5..=10).contains(&with_audio),
            "{with_audio} frames were kept"
        );
        assert!(f.iter().all(|&s| s == 0));
        assert!(audio.stats().capture_underruns >= 1);
        for _ in 0..50 {
            audio.play(&[500; OPUS_FRAME]);
        }
        assert!(audio.stats().playback_dropped > 0);
        let mut out = vec![0i16; 48_000];
        source.fill_i16(&mut out);
        let queued = out.iter().filter(|&&s| s == 500).count();
        assert!((4800..=9600).contains(&queued), "{queued}");
        assert_eq!(audio.stats().playback_underruns, 1);
    }

    /// A loudspeaker whose sound reaches the microphone through a room: with processing on
    /// (the default), the echo is cancelled before it would be sent.
    #[test]
    fn echo_through_a_simulated_card_is_cancelled() {
        let far: Vec<i16> = {
            let v = sotto_media::signal::harmonic_sweep(48_000, 110.0, 170.0, 4.0);
            let n = white_noise(3, v.len(), rms_dbfs(&v) - 12.0);
            sotto_media::testbench::mix(&v, &n)
        };
        let room = EchoPath::room(48_000, 30.0, 20.0, -6.0, 4);
        let run = |processing: Option<ProcessingConfig>| {
            let (mut audio, sink, source) =
                DeviceAudio::new(48_000, 1, 48_000, 1, processing).unwrap();
            let mut speaker = Vec::new();
            let mut sent = Vec::new();
            let mut buf = vec![0i16; 480];
            for frame in far.chunks_exact(OPUS_FRAME) {
                let mut f = [0i16; OPUS_FRAME];
                audio.capture(&mut f);
                sent.extend_from_slice(&f);
                audio.play(frame);
                for _ in 0..2 {
                    source.fill_i16(&mut buf);
                    speaker.extend_from_slice(&buf);
                    // What the microphone hears meanwhile of everything played so far.
                    let n = speaker.len();
                    let echo: Vec<i16> = (n - 480..n).map(|i| room.echo_at(&speaker, i)).collect();
                    sink.push_i16(&echo);
                }
            }
            let echo = room.apply(&speaker);
            (sent, echo)
        };
        let (sent, echo) = run(Some(ProcessingConfig::default()));
        // The microphone queue delays capture by one frame: compare like with like.
        let aligned = &sent[OPUS_FRAME..];
        let erle = erle_db(&echo[..aligned.len()], aligned, 480, 2 * 48_000, -50.0);
        assert!(erle > 20.0, "ERLE {erle:.1} dB");
        let (sent, echo) = run(None);
        let aligned = &sent[OPUS_FRAME..];
        let erle_off = erle_db(&echo[..aligned.len()], aligned, 480, 2 * 48_000, -50.0);
        assert!(erle_off < 1.0, "ERLE without processing {erle_off:.1} dB");
    }
}

/// On the machine's real devices (ALSA). There is no sound card on the build machines, so
/// these use ALSA's `null` device, which every ALSA installation has: it accepts playback and
/// captures silence, but has no clock, so timing, latency and real echo are not tested here.
#[cfg(all(test, feature = "audio"))]
mod device_tests {
    use super::*;

    #[test]
    #[ignore = "opens the audio host of this machine (ALSA)"]
    fn lists_devices_and_runs_a_call_on_the_null_device() {
        let devs = list_devices().expect("the default host lists devices");
        for d in &devs {
            println!("{d:?}");
        }
        let null = devs
            .iter()
            .find(|d| d.id.ends_with(":null"))
            .expect("ALSA's null device is listed");
        assert!(null.input.is_some() && null.output.is_some(), "{null:?}");
        let opts = AudioOptions {
            input: Some(null.index.to_string()),
            output: Some(null.index.to_string()),
            ..AudioOptions::default()
        };
        let mut audio = open_devices(&opts).expect("the null device opens");
        assert!(audio.processing());
        let mut f = [0i16; OPUS_FRAME];
        let t0 = std::time::Instant::now();
        for _ in 0..25 {
            audio.play(&[1000; OPUS_FRAME]);
            audio.capture(&mut f);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(t0.elapsed() >= std::time::Duration::from_millis(500));
        println!("{:?} {:?}", audio.rates(), audio.stats());
        // The null device has no clock: its callbacks run flat out. Both ran: the capture queue
        // never ran dry (zeros kept coming, the excess dropped) and playback drained ours.
        let s = audio.stats();
        assert_eq!(s.capture_underruns, 0, "{s:?}");
        assert!(s.capture_dropped > 0, "{s:?}");
        assert!(s.playback_underruns > 0, "{s:?}");
        assert_eq!(s.playback_dropped, 0, "{s:?}");
        assert!(
            f.iter().all(|&x| x == 0),
            "the null device captures silence"
        );
        drop(audio);
        let bad = AudioOptions {
            input: Some("no such device anywhere".into()),
            ..AudioOptions::default()
        };
        assert!(matches!(open_devices(&bad), Err(AudioError::NoDevice(_))));
    }
}

#[cfg(all(test, not(feature = "audio")))]
mod without_feature {
    use super::*;

    #[test]
    fn says_how_to_enable_devices() {
        let e = list_devices().unwrap_err();
        assert!(matches!(e, AudioError::NotBuilt));
        assert!(e.to_string().contains("--features audio"), "{e}");
        assert!(matches!(
            open_devices(&AudioOptions::default()),
            Err(AudioError::NotBuilt)
        ));
    }
}
