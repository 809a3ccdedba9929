//! Inspection and processing of real files: images made with the image crate (EXIF hand-built),
//! GIFs and videos made by ffmpeg, the outputs read back with image and ffprobe.

mod support;

use std::io::Cursor;

use anyhow::{Context, Result};
use bytes::Bytes;
use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder, ImageFormat, Rgba, RgbaImage};
use support::{
    animated_gif, contains, exif_tiff, ffmpeg, ffprobe, gradient, heic_from_jpeg, jpeg, jpeg_markers,
    png_chunk, png_claiming, png_rgb, png_rgba, with_app1_exif, with_png_chunks,
};
use tusk_media::{
    Format, Limits, MediaError, MediaKind, ORIGINAL_PIXELS, ProfileImage, SMALL_PIXELS, inspect,
    process_image, process_media, process_profile_image,
};

fn pixels(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

// ---- inspect ---------------------------------------------------------------------------------

#[test]
fn text_is_unsupported_whatever_its_name() {
    // What a client would upload as "photo.png" with Content-Type image/png.
    let text = b"just some text pretending to be photo.png\n";
    assert!(matches!(inspect(text, &Limits::default()), Err(MediaError::Unsupported(_))));
    assert!(matches!(process_image(text, &Limits::default()), Err(MediaError::Unsupported(_))));
}

#[test]
fn a_header_claiming_too_many_pixels_is_refused_before_decoding() {
    let bomb = png_claiming(100_000, 100_000);
    let err = inspect(&bomb, &Limits::default()).err();
    assert!(matches!(&err, Some(MediaError::Invalid(m)) if m.contains("100000x100000")), "{err:?}");
    // 40 GB of pixels if it were decoded: an Invalid here means nothing was allocated for them.
    let err = process_image(&bomb, &Limits::default()).err();
    assert!(matches!(err, Some(MediaError::Invalid(_))), "{err:?}");
    let err = process_profile_image(&bomb, ProfileImage::Avatar, &Limits::default()).err();
    assert!(matches!(err, Some(MediaError::Invalid(_))), "{err:?}");
}

#[test]
fn inspect_reads_dimensions_from_headers() -> Result<()> {
    let limits = Limits::default();
    let cases = [
        (jpeg(&gradient(120, 80))?, Format::Jpeg),
        (png_rgb(&gradient(120, 80))?, Format::Png),
        (animated_gif(120, 80, 2)?, Format::Gif),
    ];
    for (bytes, format) in cases {
        let inspected = inspect(&bytes, &limits)?;
        assert_eq!(inspected.format, format);
        assert_eq!((inspected.width, inspected.height), (Some(120), Some(80)));
    }
    Ok(())
}

#[test]
fn gifs_have_mastodons_smaller_pixel_limit() {
    // 1281x720 is one column over GIF_MATRIX_LIMIT: only the header is read.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&1281u16.to_le_bytes());
    gif.extend_from_slice(&720u16.to_le_bytes());
    gif.extend_from_slice(&[0, 0, 0, 0x3B]);
    let err = inspect(&gif, &Limits::default()).err();
    assert!(matches!(&err, Some(MediaError::Invalid(m)) if m.contains("GIF")), "{err:?}");
}

#[test]
fn oversize_uploads_are_too_large_for_their_kind() -> Result<()> {
    let limits = Limits::default();
    let mut big_png = png_rgb(&gradient(10, 10))?;
    big_png.resize(limits.image_bytes, 0);
    assert!(matches!(inspect(&big_png, &limits), Err(MediaError::TooLarge)));
    assert!(matches!(process_image(&big_png, &limits), Err(MediaError::TooLarge)));

    // The same size is fine for a video, whose limit is 99 MB.
    let mut mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomavc1".to_vec();
    mp4.resize(limits.image_bytes, 0);
    assert_eq!(inspect(&mp4, &limits)?.format, Format::Mp4);
    mp4.resize(limits.video_bytes, 0);
    assert!(matches!(inspect(&mp4, &limits), Err(MediaError::TooLarge)));

    let small = Limits { profile_bytes: 100, ..Limits::default() };
    let avatar = png_rgb(&gradient(40, 40))?;
    assert!(matches!(
        process_profile_image(&avatar, ProfileImage::Avatar, &small),
        Err(MediaError::TooLarge)
    ));
    Ok(())
}

#[test]
fn corrupt_images_are_invalid() -> Result<()> {
    let mut truncated = jpeg(&gradient(200, 100))?;
    truncated.truncate(300);
    let err = process_image(&truncated, &Limits::default()).err();
    assert!(matches!(err, Some(MediaError::Invalid(_))), "{err:?}");
    Ok(())
}

// ---- metadata --------------------------------------------------------------------------------

#[test]
fn jpeg_exif_is_applied_then_dropped() -> Result<()> {
    let tiff = exif_tiff(6);
    let upload = with_app1_exif(&jpeg(&gradient(300, 200))?, &tiff);
    // The upload really carries what must go: an APP1 segment with the GPS rationals.
    assert!(jpeg_markers(&upload)?.contains(&0xE1));
    assert!(contains(&upload, b"Exif") && contains(&upload, &tiff[92..]));

    let processed = process_image(&upload, &Limits::default())?;
    assert_eq!(processed.kind, MediaKind::Image);
    for variant in [&processed.original, &processed.small] {
        let markers = jpeg_markers(&variant.bytes)?;
        assert!(markers.iter().all(|m| !(0xE1..=0xEF).contains(m)), "no APP1..APP15 segment: {markers:x?}");
        assert!(!contains(&variant.bytes, b"Exif"));
        assert!(!contains(&variant.bytes, &tiff[92..]), "the GPS coordinates");
        assert_eq!(variant.content_type, "image/jpeg");
        // Orientation 6 (rotate 90° clockwise): the 300x200 upload is 200x300 upright.
        assert_eq!((variant.width, variant.height), (200, 300));
        let decoded = image::load_from_memory_with_format(&variant.bytes, ImageFormat::Jpeg)?;
        assert_eq!((decoded.width(), decoded.height()), (200, 300));
    }
    Ok(())
}

#[test]
fn png_text_and_exif_chunks_are_dropped() -> Result<()> {
    let tiff = exif_tiff(6);
    let upload = with_png_chunks(
        &png_rgb(&gradient(300, 200))?,
        &[png_chunk(b"tEXt", b"Comment\0taken at home, 12 Secret Street"), png_chunk(b"eXIf", &tiff)],
    );
    assert!(contains(&upload, b"Secret Street"));
    let processed = process_image(&upload, &Limits::default())?;
    assert_eq!(processed.original.content_type, "image/png");
    for variant in [&processed.original, &processed.small] {
        for needle in [&b"tEXt"[..], b"eXIf", b"Secret Street", b"iTXt", b"zTXt", &tiff[92..]] {
            assert!(!contains(&variant.bytes, needle), "{:?}", String::from_utf8_lossy(needle));
        }
        assert_eq!((variant.width, variant.height), (200, 300));
    }
    Ok(())
}

#[test]
fn transparency_keeps_png_previews() -> Result<()> {
    let picture = RgbaImage::from_fn(64, 64, |x, _| Rgba([200, 10, 10, (x * 4) as u8]));
    let processed = process_image(&png_rgba(&picture)?, &Limits::default())?;
    assert_eq!(processed.original.content_type, "image/png");
    assert_eq!(processed.small.content_type, "image/png");
    let decoded = image::load_from_memory(&processed.small.bytes)?;
    assert!(decoded.color().has_alpha());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heic_becomes_jpeg_without_its_exif() -> Result<()> {
    let tiff = exif_tiff(6);
    let upload = heic_from_jpeg(&with_app1_exif(&jpeg(&gradient(300, 200))?, &tiff))?;
    let inspected = inspect(&upload, &Limits::default())?;
    assert_eq!(inspected.format, Format::Heic);
    assert_eq!((inspected.width, inspected.height), (Some(300), Some(200)));
    // heif-enc carried the EXIF over: it is there to be dropped.
    assert!(contains(&upload, b"Exif") && contains(&upload, &tiff[92..]));

    let via_media = process_media(Bytes::from(upload.clone()), &Limits::default()).await?;
    let via_image = process_image(&upload, &Limits::default())?;
    for processed in [via_media, via_image] {
        assert_eq!(processed.kind, MediaKind::Image);
        for variant in [&processed.original, &processed.small] {
            assert_eq!(variant.content_type, "image/jpeg");
            assert!(!jpeg_markers(&variant.bytes)?.contains(&0xE1));
            assert!(!contains(&variant.bytes, b"Exif") && !contains(&variant.bytes, &tiff[92..]));
            // HEIF turns pixels with its own `irot` box, never by EXIF: stored size it is.
            assert_eq!((variant.width, variant.height), (300, 200));
        }
    }
    // Mastodon's avatars take no HEIC.
    let err = process_profile_image(&upload, ProfileImage::Avatar, &Limits::default()).err();
    assert!(matches!(err, Some(MediaError::Unsupported(_))), "{err:?}");
    Ok(())
}

// ---- sizes -----------------------------------------------------------------------------------

#[test]
fn large_photos_fit_mastodons_styles() -> Result<()> {
    let processed = process_image(&jpeg(&gradient(5000, 4000))?, &Limits::default())?;
    let (original, small) = (&processed.original, &processed.small);
    assert!(pixels(original.width, original.height) <= ORIGINAL_PIXELS);
    assert!(pixels(small.width, small.height) <= SMALL_PIXELS);
    // Close to the budget, not just under it.
    assert!(pixels(original.width, original.height) > ORIGINAL_PIXELS * 99 / 100);
    assert!(pixels(small.width, small.height) > SMALL_PIXELS * 98 / 100);
    for variant in [original, small] {
        let aspect = f64::from(variant.width) / f64::from(variant.height);
        assert!((aspect - 1.25).abs() < 0.002, "aspect {aspect}");
        let decoded = image::load_from_memory(&variant.bytes)?;
        assert_eq!((decoded.width(), decoded.height()), (variant.width, variant.height));
    }
    // 4x4 components: 1 size + 1 max + 4 DC + 2 per AC component (15).
    assert_eq!(processed.blurhash.len(), 4 + 2 * 16, "{}", processed.blurhash);
    let decoded = blurhash_pixels(&processed.blurhash)?;
    assert_eq!(decoded.len(), 32 * 32 * 4);
    Ok(())
}

fn blurhash_pixels(hash: &str) -> Result<Vec<u8>> {
    blurhash::decode(hash, 32, 32, 1.0).map_err(|e| anyhow::anyhow!("blurhash {hash}: {e}"))
}

#[test]
fn small_images_keep_their_size() -> Result<()> {
    let processed = process_image(&jpeg(&gradient(320, 200))?, &Limits::default())?;
    assert_eq!((processed.original.width, processed.original.height), (320, 200));
    assert_eq!((processed.small.width, processed.small.height), (320, 200));
    Ok(())
}

// ---- profile images --------------------------------------------------------------------------

#[test]
fn avatars_and_headers_are_cover_cropped() -> Result<()> {
    let limits = Limits::default();
    let avatar = process_profile_image(&png_rgb(&gradient(1000, 600))?, ProfileImage::Avatar, &limits)?;
    assert_eq!((avatar.original.width, avatar.original.height), (400, 400));
    assert_eq!(avatar.original.content_type, "image/png");
    assert!(avatar.static_.is_none());
    let decoded = image::load_from_memory(&avatar.original.bytes)?;
    assert_eq!((decoded.width(), decoded.height()), (400, 400));

    let header = process_profile_image(&jpeg(&gradient(2000, 2000))?, ProfileImage::Header, &limits)?;
    assert_eq!((header.original.width, header.original.height), (1500, 500));
    assert_eq!(header.original.content_type, "image/jpeg");

    // Smaller than the target: cropped to its aspect ratio, never upscaled.
    let tiny = process_profile_image(&jpeg(&gradient(300, 200))?, ProfileImage::Avatar, &limits)?;
    assert_eq!((tiny.original.width, tiny.original.height), (200, 200));
    Ok(())
}

#[test]
fn profile_exif_is_dropped() -> Result<()> {
    let upload = with_app1_exif(&jpeg(&gradient(600, 400))?, &exif_tiff(6));
    let avatar = process_profile_image(&upload, ProfileImage::Avatar, &Limits::default())?;
    assert!(!jpeg_markers(&avatar.original.bytes)?.contains(&0xE1));
    assert!(!contains(&avatar.original.bytes, b"Exif"));
    Ok(())
}

#[test]
fn animated_gif_avatars_stay_animated() -> Result<()> {
    let avatar =
        process_profile_image(&animated_gif(800, 500, 3)?, ProfileImage::Avatar, &Limits::default())?;
    assert_eq!(avatar.original.content_type, "image/gif");
    assert_eq!((avatar.original.width, avatar.original.height), (400, 400));
    let frames = GifDecoder::new(Cursor::new(&avatar.original.bytes[..]))?.into_frames().collect_frames()?;
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.buffer().dimensions() == (400, 400)));
    let still = avatar.static_.context("an animated avatar has a static variant")?;
    assert_eq!(still.content_type, "image/png");
    assert_eq!((still.width, still.height), (400, 400));
    image::load_from_memory_with_format(&still.bytes, ImageFormat::Png)?;
    Ok(())
}

#[test]
fn gifs_over_the_frame_limit_are_refused() -> Result<()> {
    let limits = Limits { max_frames: 2, ..Limits::default() };
    let err = process_profile_image(&animated_gif(40, 40, 3)?, ProfileImage::Avatar, &limits).err();
    assert!(matches!(err, Some(MediaError::Invalid(_))), "{err:?}");
    Ok(())
}

// ---- gifv and video (ffmpeg) -------------------------------------------------------------------

/// Global and per-stream tags of an MP4 that ffmpeg writes by itself: nothing of the upload.
const MUXER_TAGS: [&str; 7] =
    ["major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "vendor_id", "language"];

fn probe_bytes(bytes: &[u8]) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, bytes)?;
    ffprobe(&path)
}

/// The output is an MP4 with H.264 (and AAC when `audio`), and no tag ffmpeg didn't write itself.
fn assert_clean_mp4(bytes: &[u8], audio: bool) -> Result<serde_json::Value> {
    let probe = probe_bytes(bytes)?;
    assert!(probe["format"]["format_name"].as_str().unwrap_or("").contains("mp4"));
    let streams = probe["streams"].as_array().context("streams")?;
    let codecs: Vec<&str> = streams.iter().filter_map(|s| s["codec_name"].as_str()).collect();
    assert_eq!(codecs, if audio { vec!["h264", "aac"] } else { vec!["h264"] });
    let video = &streams[0];
    assert_eq!(video["pix_fmt"], "yuv420p");
    for tags in std::iter::once(&probe["format"]["tags"]).chain(streams.iter().map(|s| &s["tags"])) {
        if let Some(tags) = tags.as_object() {
            for key in tags.keys() {
                assert!(MUXER_TAGS.contains(&key.as_str()), "tag {key} survived: {tags:?}");
            }
        }
    }
    let text = probe.to_string();
    for needle in ["secret", "48.85", "Secret"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    Ok(probe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn animated_gifs_become_gifv() -> Result<()> {
    let processed = process_media(Bytes::from(animated_gif(65, 49, 3)?), &Limits::default()).await?;
    assert_eq!(processed.kind, MediaKind::Gifv);
    assert_eq!(processed.original.content_type, "video/mp4");
    assert_eq!(processed.original.extension, "mp4");
    // Even dimensions for H.264: a column and a row are cropped.
    assert_eq!((processed.original.width, processed.original.height), (64, 48));
    assert_clean_mp4(&processed.original.bytes, false)?;
    assert_eq!(processed.small.content_type, "image/jpeg");
    assert_eq!((processed.small.width, processed.small.height), (64, 48));
    assert!(processed.duration.is_some_and(|d| d > 0.2), "{:?}", processed.duration);
    assert!(!processed.blurhash.is_empty());
    Ok(())
}

#[test]
fn process_image_turns_an_animated_gif_into_gifv_too() -> Result<()> {
    let processed = process_image(&animated_gif(40, 30, 3)?, &Limits::default())?;
    assert_eq!(processed.kind, MediaKind::Gifv);
    assert_clean_mp4(&processed.original.bytes, false)?;
    // One frame is a still image, and stays lossless.
    let still = process_image(&animated_gif(40, 30, 1)?, &Limits::default())?;
    assert_eq!(still.kind, MediaKind::Image);
    assert_eq!(still.original.content_type, "image/png");
    Ok(())
}

/// A 2 s test pattern with a sine tone, tagged with a location and a title.
fn tagged_video(extension: &str, codecs: &[&str]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(format!("upload.{extension}"));
    let path_str = path.to_str().context("temp path")?;
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=2:size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-metadata",
        "location=+48.85+002.35/",
        "-metadata",
        "title=secret",
        "-metadata:s:v:0",
        "title=secret stream",
        "-shortest",
    ];
    args.extend_from_slice(codecs);
    args.push(path_str);
    ffmpeg(&args)?;
    let upload = std::fs::read(&path)?;
    // The upload really carries the tags.
    let probe = ffprobe(&path)?.to_string();
    assert!(probe.contains("secret"), "{probe}");
    Ok(upload)
}

/// The processed video's ffprobe JSON, after checking what every processed video must be.
async fn assert_video(upload: Vec<u8>, format: Format) -> Result<serde_json::Value> {
    assert_eq!(Format::sniff(&upload), Some(format));
    let processed = process_media(Bytes::from(upload), &Limits::default()).await?;
    assert_eq!(processed.kind, MediaKind::Video);
    assert_eq!((processed.original.width, processed.original.height), (320, 240));
    let probe = assert_clean_mp4(&processed.original.bytes, true)?;
    let duration = processed.duration.context("duration")?;
    assert!((duration - 2.0).abs() < 0.2, "duration {duration}");
    assert_eq!(processed.fps, Some(30));
    assert_eq!(processed.frame_rate.as_deref(), Some("30/1"));
    assert!(processed.bitrate.is_some_and(|b| b > 0));
    assert_eq!(processed.small.content_type, "image/jpeg");
    assert_eq!((processed.small.width, processed.small.height), (320, 240));
    assert!(!jpeg_markers(&processed.small.bytes)?.contains(&0xE1));
    image::load_from_memory_with_format(&processed.small.bytes, ImageFormat::Jpeg)?;
    assert_eq!(processed.blurhash.len(), 36);
    Ok(probe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_mp4_is_remuxed_without_its_tags() -> Result<()> {
    let upload = tagged_video(
        "mp4",
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    )?;
    let probe = assert_video(upload, Format::Mp4).await?;
    // Remuxed, not re-encoded: ultrafast's profile survives (a transcode would make it High).
    assert_eq!(probe["streams"][0]["profile"], "Constrained Baseline");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_codecs_are_transcoded_without_their_tags() -> Result<()> {
    let upload = tagged_video("mov", &["-c:v", "mpeg4", "-c:a", "pcm_s16le"])?;
    let probe = assert_video(upload, Format::Mov).await?;
    assert_eq!(probe["streams"][0]["profile"], "High");
    let upload = tagged_video(
        "webm",
        &["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-c:a", "libopus"],
    )?;
    assert_video(upload, Format::Webm).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_over_the_limits_are_invalid() -> Result<()> {
    let upload = tagged_video(
        "mp4",
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    )?;
    let cases = [
        Limits { video_pixels: 320 * 239, ..Limits::default() },
        Limits { max_video_frame_rate: 29, ..Limits::default() },
        Limits { max_video_seconds: 1.5, ..Limits::default() },
    ];
    for limits in cases {
        let err = process_media(Bytes::from(upload.clone()), &limits).await.err();
        assert!(matches!(err, Some(MediaError::Invalid(_))), "{limits:?}: {err:?}");
    }
    // A file that starts like an MP4 and is nothing else.
    let mut fake = b"\0\0\0\x18ftypisom\0\0\x02\0isomavc1".to_vec();
    fake.extend_from_slice(&[0x55; 4096]);
    let err = process_media(Bytes::from(fake), &Limits::default()).await.err();
    assert!(matches!(err, Some(MediaError::Invalid(_))), "{err:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_media_handles_still_images() -> Result<()> {
    let upload = with_app1_exif(&jpeg(&gradient(300, 200))?, &exif_tiff(6));
    let processed = process_media(Bytes::from(upload), &Limits::default()).await?;
    assert_eq!(processed.kind, MediaKind::Image);
    assert_eq!((processed.original.width, processed.original.height), (200, 300));
    assert!(processed.duration.is_none() && processed.fps.is_none());
    Ok(())
}
