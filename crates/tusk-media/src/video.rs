//! Animated GIFs and videos, through Debian's `ffprobe` and `ffmpeg`: probed against the limits,
//! then remuxed (already H.264/AAC) or transcoded to an MP4 with no metadata, plus a poster frame.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::process::Command;

use crate::picture::{is_animated_gif, poster, process_image};
use crate::{Format, Limits, MediaError, MediaKind, Processed, Variant, inspect};

/// ffprobe reads headers (and, for GIFs, counts packets): a minute is plenty for 99 MB.
const PROBE_TIMEOUT: Duration = Duration::from_mins(1);
/// Mastodon's `-b:a 192k`.
const AUDIO_BITRATE: &str = "192k";

/// Any upload, processed for a worker: images on the blocking pool, animated GIFs and videos
/// through ffmpeg. Checks what `inspect` checks first, so a worker never trusts the api's word.
#[tracing::instrument(skip_all, fields(len = bytes.len()))]
pub async fn process_media(bytes: Bytes, limits: &Limits) -> Result<Processed, MediaError> {
    let format = inspect(&bytes, limits)?.format;
    if format.is_video() {
        return process_video(bytes, format, limits).await;
    }
    if format == Format::Gif {
        let (probe_bytes, probe_limits) = (bytes.clone(), limits.clone());
        let animated = blocking(move || is_animated_gif(&probe_bytes, &probe_limits)).await?;
        if animated {
            return process_video(bytes, Format::Gif, limits).await;
        }
    }
    if format == Format::Heic {
        return crate::heic::process_heic(bytes, limits).await;
    }
    let limits = limits.clone();
    blocking(move || process_image(&bytes, &limits)).await
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> Result<T, MediaError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| MediaError::Processing(format!("image work: {e}")))?
}

/// An animated GIF (gifv, no audio) or a video, as an H.264/AAC MP4 and a poster frame.
#[tracing::instrument(skip_all, fields(?format, len = bytes.len()))]
pub(crate) async fn process_video(
    bytes: Bytes,
    format: Format,
    limits: &Limits,
) -> Result<Processed, MediaError> {
    let gif = format == Format::Gif;
    // Removed with everything in it when dropped, whatever way this returns.
    let dir = tempfile::Builder::new()
        .prefix("tusk-media-")
        .tempdir()
        .map_err(|e| MediaError::Processing(format!("temp dir: {e}")))?;
    let input = dir.path().join("input");
    tokio::fs::write(&input, &bytes)
        .await
        .map_err(|e| MediaError::Processing(format!("writing the upload: {e}")))?;
    drop(bytes);

    let demuxer = demuxer(format);
    let probed = ffprobe(&input, demuxer, gif)
        .await?
        .map_err(|_| MediaError::Invalid("The video could not be read".into()))?;
    let stream =
        probed.video_stream().ok_or_else(|| MediaError::Invalid("The video has no video stream".into()))?;
    check_limits(&probed, stream, gif, limits)?;

    let output = dir.path().join("original.mp4");
    let args = transcode_args(&input, demuxer, &output, &probed, gif, limits);
    if let Err(stderr) = run("ffmpeg", args, limits.processing_timeout).await? {
        tracing::warn!(stderr, "ffmpeg refused the upload");
        return Err(MediaError::Invalid("The video could not be processed".into()));
    }

    let result = ffprobe(&output, "mov", false)
        .await?
        .map_err(|stderr| MediaError::Processing(format!("ffprobe of the output: {stderr}")))?;
    let out_stream = result
        .video_stream()
        .ok_or_else(|| MediaError::Processing("the output has no video stream".into()))?;
    let (width, height) = out_stream.display_dimensions();

    let poster_path = dir.path().join("poster.png");
    let args = os_args(&["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "mov"])
        .chain([OsString::from("-i"), output.clone().into_os_string()])
        .chain(os_args(&[
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-map_metadata",
            "-1",
            "-c:v",
            "png",
            "-f",
            "image2",
        ]))
        .chain([poster_path.clone().into_os_string()])
        .collect();
    run("ffmpeg", args, PROBE_TIMEOUT)
        .await?
        .map_err(|stderr| MediaError::Processing(format!("poster frame: {stderr}")))?;
    let png = read(&poster_path).await?;
    let poster_limits = limits.clone();
    let (small, blurhash) = blocking(move || poster(&png, &poster_limits)).await?;

    let frame_rate = out_stream.r_frame_rate.clone().filter(|r| rational(r).is_some());
    Ok(Processed {
        kind: if gif { MediaKind::Gifv } else { MediaKind::Video },
        original: Variant {
            bytes: Bytes::from(read(&output).await?),
            content_type: "video/mp4",
            extension: "mp4",
            width,
            height,
        },
        small,
        blurhash,
        duration: result.duration(),
        fps: frame_rate.as_deref().and_then(rational).map(|r| r.round() as u32),
        frame_rate,
        bitrate: result.format.as_ref().and_then(|f| f.bit_rate.as_deref()).and_then(|b| b.parse().ok()),
    })
}

/// Mastodon's `check_video_dimensions`, plus the frame and duration limits.
fn check_limits(probed: &Probe, stream: &Stream, gif: bool, limits: &Limits) -> Result<(), MediaError> {
    let (width, height) = (stream.width.unwrap_or(0), stream.height.unwrap_or(0));
    if width == 0 || height == 0 {
        return Err(MediaError::Invalid("The video has no dimensions".into()));
    }
    let pixels = u64::from(width) * u64::from(height);
    if gif {
        if pixels > limits.gif_pixels {
            return Err(MediaError::Invalid(format!("{width}x{height} GIF files are not supported")));
        }
        let frames: u64 = stream.nb_read_packets.as_deref().and_then(|n| n.parse().ok()).unwrap_or(0);
        if frames > u64::from(limits.max_frames) {
            return Err(MediaError::Invalid(format!(
                "GIFs of more than {} frames are not supported",
                limits.max_frames
            )));
        }
        return Ok(());
    }
    if pixels > limits.video_pixels {
        return Err(MediaError::Invalid(format!("{width}x{height} videos are not supported")));
    }
    let fps = stream
        .avg_frame_rate
        .as_deref()
        .and_then(rational)
        .or_else(|| stream.r_frame_rate.as_deref().and_then(rational));
    match fps {
        Some(fps) if fps.floor() > f64::from(limits.max_video_frame_rate) => {
            return Err(MediaError::Invalid(format!("{}fps videos are not supported", fps.floor())));
        }
        None => return Err(MediaError::Invalid("The video has no frame rate".into())),
        Some(_) => {}
    }
    if probed.duration().is_some_and(|d| d > limits.max_video_seconds) {
        return Err(MediaError::Invalid(format!(
            "Videos longer than {} seconds are not supported",
            limits.max_video_seconds
        )));
    }
    Ok(())
}

/// The demuxer is named, never guessed: ffmpeg then cannot be talked into reading a playlist or
/// another file by an upload that only looks like a video.
fn demuxer(format: Format) -> &'static str {
    match format {
        Format::Gif => "gif",
        Format::Webm => "matroska",
        _ => "mov",
    }
}

fn transcode_args(
    input: &Path,
    demuxer: &str,
    output: &Path,
    probed: &Probe,
    gif: bool,
    limits: &Limits,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = os_args(&[
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        "-f",
        demuxer,
        "-i",
    ])
    .collect();
    args.push(input.into());
    // The first video and audio stream only: data tracks (GPS logs of action cameras),
    // subtitles and attachments stay behind, and so does every metadata tag and chapter.
    args.extend(os_args(&["-map", "0:v:0"]));
    if !gif {
        args.extend(os_args(&["-map", "0:a:0?"]));
    }
    args.extend(os_args(&[
        "-map_metadata",
        "-1",
        "-map_metadata:s",
        "-1",
        "-map_chapters",
        "-1",
        "-dn",
        "-sn",
    ]));
    if !gif && probed.passes_through() {
        // Mastodon's VIDEO_PASSTHROUGH_OPTIONS: already what browsers play, so only remuxed.
        args.extend(os_args(&["-c", "copy"]));
    } else {
        let frames = limits.max_video_frames.to_string();
        args.extend(os_args(&[
            // H.264 needs even dimensions; cropping a pixel keeps it sharp (Mastodon does so).
            "-vf",
            "crop=trunc(iw/2)*2:trunc(ih/2)*2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-frames:v",
            &frames,
        ]));
        if gif {
            args.push("-an".into());
        } else {
            args.extend(os_args(&["-c:a", "aac", "-b:a", AUDIO_BITRATE]));
        }
    }
    // The index first, so playback starts before the download ends.
    args.extend(os_args(&["-movflags", "+faststart", "-f", "mp4"]));
    args.push(output.into());
    args
}

fn os_args<'a>(args: &'a [&str]) -> impl Iterator<Item = OsString> + 'a {
    args.iter().map(OsString::from)
}

pub(crate) async fn read(path: &Path) -> Result<Vec<u8>, MediaError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| MediaError::Processing(format!("reading {}: {e}", path.display())))
}

/// Runs a tool with a deadline; the child is killed when the deadline passes (the future holding
/// it is dropped). `Err` for a tool that could not run or timed out, `Ok(Err(stderr))` for one
/// that exited non-zero.
pub(crate) async fn run(
    program: &str,
    args: Vec<OsString>,
    timeout: Duration,
) -> Result<Result<Vec<u8>, String>, MediaError> {
    let mut command = Command::new(program);
    command.args(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(MediaError::Processing(format!("running {program}: {e}"))),
        Err(_) => {
            return Err(MediaError::Processing(format!("{program} timed out after {}s", timeout.as_secs())));
        }
    };
    if output.status.success() {
        return Ok(Ok(output.stdout));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The end of stderr says why; a corrupt file can make ffmpeg write a lot.
    let tail: String = stderr.chars().rev().take(1000).collect::<Vec<_>>().into_iter().rev().collect();
    Ok(Err(format!("{}: {}", output.status, tail.trim())))
}

async fn ffprobe(
    path: &Path,
    demuxer: &str,
    count_packets: bool,
) -> Result<Result<Probe, String>, MediaError> {
    let mut args: Vec<OsString> = os_args(&[
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-protocol_whitelist",
        "file",
        "-f",
        demuxer,
    ])
    .collect();
    if count_packets {
        args.push("-count_packets".into());
    }
    args.push(path.into());
    Ok(match run("ffprobe", args, PROBE_TIMEOUT).await? {
        Ok(stdout) => serde_json::from_slice(&stdout).map_err(|e| format!("ffprobe's JSON: {e}")),
        Err(stderr) => Err(stderr),
    })
}

/// What ffprobe's `-show_format -show_streams` says, as far as Tusk reads it.
#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    nb_read_packets: Option<String>,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
}

#[derive(Debug, Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
    bit_rate: Option<String>,
}

impl Probe {
    fn video_stream(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| s.codec_type.as_deref() == Some("video"))
    }

    fn audio_stream(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| s.codec_type.as_deref() == Some("audio"))
    }

    fn duration(&self) -> Option<f64> {
        self.format.as_ref()?.duration.as_deref()?.parse().ok().filter(|d: &f64| d.is_finite())
    }

    /// H.264 in yuv420p with AAC or no audio: Mastodon's passthrough condition.
    fn passes_through(&self) -> bool {
        let Some(video) = self.video_stream() else {
            return false;
        };
        video.codec_name.as_deref() == Some("h264")
            && video.pix_fmt.as_deref() == Some("yuv420p")
            && video.width.is_some_and(|w| w % 2 == 0)
            && video.height.is_some_and(|h| h % 2 == 0)
            && self.audio_stream().is_none_or(|a| a.codec_name.as_deref() == Some("aac"))
    }
}

impl Stream {
    /// Width and height as shown: a phone's portrait video is stored landscape and rotated.
    fn display_dimensions(&self) -> (u32, u32) {
        let (w, h) = (self.width.unwrap_or(0), self.height.unwrap_or(0));
        let rotation = self
            .side_data_list
            .iter()
            .find_map(|s| s.rotation)
            .or_else(|| self.tags.get("rotate").and_then(|r| r.parse().ok()))
            .unwrap_or(0.0);
        if (rotation.abs() - 90.0).abs() < 1.0 || (rotation.abs() - 270.0).abs() < 1.0 {
            (h, w)
        } else {
            (w, h)
        }
    }
}

/// "30000/1001" as a number; `None` for "0/0" and the like.
fn rational(value: &str) -> Option<f64> {
    let (numerator, denominator) = value.split_once('/')?;
    let (n, d): (f64, f64) = (numerator.parse().ok()?, denominator.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frame_rates() {
        assert_eq!(rational("30/1"), Some(30.0));
        assert!(rational("30000/1001").is_some_and(|r| (r - 29.97).abs() < 0.01));
        assert_eq!(rational("0/0"), None);
        assert_eq!(rational("25"), None);
    }
}
