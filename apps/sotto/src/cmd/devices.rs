//! Audio devices in the app: `sotto devices`, and the `--input-device`, `--output-device` and
//! `--no-audio-processing` options of `sotto call`/`sotto listen`.
//!
//! Devices need the cargo feature `audio` (cpal on ALSA; `libasound2-dev` to build). Without it,
//! or when `--play`/`--record` name files, calls use files as before. With it and no files, a
//! call uses the system's default microphone and loudspeaker, with echo cancellation and noise
//! suppression unless `--no-audio-processing`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use clap::Args;
use sotto_call::phone::AudioIo;
use sotto_net::audio::{AudioError, AudioOptions, DeviceAudio, list_devices, open_devices};

/// Device options of `call` and `listen`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeviceArgs {
    /// Microphone: a name, part of one, an id or a number from `sotto devices` (`default`: the
    /// system's). Needs a build with `--features audio`.
    #[arg(long, value_name = "DEVICE")]
    input_device: Option<String>,
    /// Loudspeaker, the same way.
    #[arg(long, value_name = "DEVICE")]
    output_device: Option<String>,
    /// Turn off echo cancellation and noise suppression (on by default with devices; turn
    /// off with a headset if it colours your voice).
    #[arg(long)]
    no_audio_processing: bool,
}

fn pick(name: Option<&String>) -> Option<String> {
    name.filter(|n| n.as_str() != "default").cloned()
}

/// The devices to use for a call, or `None` to use files. Devices are used when asked for by
/// name, or, in a build with devices, when no file is given (`files`); in that second case a
/// machine without a sound card falls back to files with a warning.
pub(crate) fn call_audio(
    args: &DeviceArgs,
    files: bool,
    muted: Arc<AtomicBool>,
) -> Result<Option<Box<dyn AudioIo>>> {
    let asked = args.input_device.is_some() || args.output_device.is_some();
    if !asked && (files || !cfg!(feature = "audio")) {
        return Ok(None);
    }
    let mut opts = AudioOptions {
        input: pick(args.input_device.as_ref()),
        output: pick(args.output_device.as_ref()),
        ..AudioOptions::default()
    };
    if args.no_audio_processing {
        opts.processing = None;
    }
    match open_devices(&opts) {
        Ok(audio) => {
            tracing::info!(?audio, "audio devices open");
            Ok(Some(Box::new(Muteable { audio, muted })))
        }
        Err(e) if asked => bail!("{e}"),
        Err(e) => {
            tracing::warn!(%e, "no audio devices; the call sends silence");
            Ok(None)
        }
    }
}

/// Device audio that honours the mute key: the microphone is still read (the queue must not
/// grow, the echo canceller keeps its state) but silence is sent.
struct Muteable {
    audio: DeviceAudio,
    muted: Arc<AtomicBool>,
}

impl AudioIo for Muteable {
    fn capture(&mut self, frame: &mut [i16]) {
        self.audio.capture(frame);
        if self.muted.load(Ordering::Relaxed) {
            frame.fill(0);
        }
    }
    fn play(&mut self, frame: &[i16]) {
        self.audio.play(frame);
    }
}

/// `sotto devices`: lists the audio devices, or says how to get them.
pub(crate) fn devices() -> Result<ExitCode> {
    match list_devices() {
        Ok(list) if list.is_empty() => {
            eprintln!("sotto devices: no audio device found");
            Ok(ExitCode::from(1))
        }
        Ok(list) => {
            for d in list {
                let fmt = |f: &Option<(u32, u16, String)>| {
                    f.as_ref()
                        .map_or("-".to_owned(), |(r, c, s)| format!("{r} Hz, {c} ch, {s}"))
                };
                let mut marks = Vec::new();
                if d.default_input {
                    marks.push("default input");
                }
                if d.default_output {
                    marks.push("default output");
                }
                println!(
                    "{:>3}. {}{}\n     id {}\n     input: {}\n     output: {}",
                    d.index,
                    d.name,
                    if marks.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", marks.join(", "))
                    },
                    d.id,
                    fmt(&d.input),
                    fmt(&d.output),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(AudioError::NotBuilt) => {
            eprintln!(
                "sotto devices: this sotto was built without audio devices; calls use WAV files \
                 (--play/--record).\nTo use a microphone and loudspeaker, install the ALSA \
                 headers (Debian: apt-get install libasound2-dev) and rebuild:\n  \
                 cargo build --release -p sotto --features audio"
            );
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("sotto devices: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(input: Option<&str>) -> DeviceArgs {
        DeviceArgs {
            input_device: input.map(str::to_owned),
            output_device: None,
            no_audio_processing: false,
        }
    }

    #[cfg(not(feature = "audio"))]
    #[test]
    fn without_the_feature_files_are_used_and_devices_refused() {
        let muted = Arc::new(AtomicBool::new(false));
        assert!(
            call_audio(&args(None), false, muted.clone())
                .unwrap()
                .is_none()
        );
        assert!(
            call_audio(&args(None), true, muted.clone())
                .unwrap()
                .is_none()
        );
        let e = call_audio(&args(Some("default")), false, muted)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--features audio"), "{e}");
        assert_eq!(devices().unwrap(), ExitCode::from(2));
    }

    #[cfg(feature = "audio")]
    #[test]
    #[ignore = "opens ALSA's null device on this machine"]
    fn a_named_device_opens_and_mutes() {
        let muted = Arc::new(AtomicBool::new(true));
        let mut both = args(Some("alsa:null"));
        both.output_device = Some("alsa:null".into());
        let mut a = call_audio(&both, true, muted).unwrap().unwrap();
        let mut f = [1i16; 960];
        a.capture(&mut f);
        assert!(f.iter().all(|&s| s == 0));
    }
}
