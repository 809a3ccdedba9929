//! Real files for the tests: encoded with the image crate, EXIF hand-built, videos from ffmpeg's
//! test sources.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{Delay, ExtendedColorType, Frame, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

/// A picture with structure (so a swapped width/height or a crop shows).
pub fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, ((x + y) % 256) as u8])
    })
}

pub fn jpeg(picture: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85).write_image(
        picture.as_raw(),
        picture.width(),
        picture.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

pub fn png_rgb(picture: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(
        picture.as_raw(),
        picture.width(),
        picture.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

pub fn png_rgba(picture: &RgbaImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(
        picture.as_raw(),
        picture.width(),
        picture.height(),
        ExtendedColorType::Rgba8,
    )?;
    Ok(out)
}

/// An animated GIF: `frames` frames of `width`x`height`, each a different colour.
pub fn animated_gif(width: u32, height: u32, frames: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite)?;
        for i in 0..frames {
            let shade = (i * 80 % 256) as u8;
            let picture = RgbaImage::from_fn(width, height, |x, _| {
                Rgba([shade, (x * 255 / width) as u8, 255 - shade, 255])
            });
            encoder.encode_frame(Frame::from_parts(picture, 0, 0, Delay::from_numer_denom_ms(100, 1)))?;
        }
    }
    Ok(out)
}

/// A TIFF (big-endian) with IFD0 {Orientation, GPS IFD pointer} and a GPS IFD at 48°51'N 2°21'E:
/// the body of a JPEG's APP1 "Exif" segment or of a PNG's eXIf chunk.
pub fn exif_tiff(orientation: u16) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&value);
    }
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;
    // Offsets from the TIFF header: IFD0 at 8 (2 entries: 8+2+24+4 = 38), GPS IFD at 38
    // (4 entries: 38+2+48+4 = 92), latitude at 92, longitude at 116.
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes());
    let [o1, o2] = orientation.to_be_bytes();
    entry(&mut t, 0x0112, SHORT, 1, [o1, o2, 0, 0]);
    entry(&mut t, 0x8825, LONG, 1, 38u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 38);
    t.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut t, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, RATIONAL, 3, 92u32.to_be_bytes());
    entry(&mut t, 0x0003, ASCII, 2, *b"E\0\0\0");
    entry(&mut t, 0x0004, RATIONAL, 3, 116u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 92);
    for (degrees, minutes, seconds) in [(48u32, 51u32, 2400u32), (2, 21, 600)] {
        for (n, d) in [(degrees, 1u32), (minutes, 1), (seconds, 100)] {
            t.extend_from_slice(&n.to_be_bytes());
            t.extend_from_slice(&d.to_be_bytes());
        }
    }
    t
}

/// `jpeg` with an APP1 Exif segment right after SOI.
pub fn with_app1_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    let len = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The markers of a JPEG's header segments, from SOI up to SOS.
pub fn jpeg_markers(jpeg: &[u8]) -> Result<Vec<u8>> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        bail!("not a JPEG");
    }
    let mut markers = Vec::new();
    let mut i = 2;
    loop {
        if jpeg.get(i) != Some(&0xFF) {
            bail!("no marker at {i}");
        }
        let marker = *jpeg.get(i + 1).context("truncated")?;
        markers.push(marker);
        if marker == 0xDA {
            return Ok(markers);
        }
        let len = u16::from_be_bytes([
            *jpeg.get(i + 2).context("truncated")?,
            *jpeg.get(i + 3).context("truncated")?,
        ]);
        i += 2 + usize::from(len);
    }
}

/// A PNG chunk with its CRC.
pub fn png_chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap_or(0).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

/// `png` with chunks inserted right after IHDR (which ends at byte 33).
pub fn with_png_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    for chunk in chunks {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&png[33..]);
    out
}

/// A PNG whose IHDR claims `width`x`height`, with one tiny IDAT: a decompression bomb's header.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs ffmpeg with `args` (inputs, options, output path), failing on a non-zero exit.
pub fn ffmpeg(args: &[&str]) -> Result<()> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .context("running ffmpeg (deploy/local/lib.sh ensure_media_tools installs it)")?;
    if !output.status.success() {
        bail!("ffmpeg {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// ffprobe's JSON (format and streams) of a file.
pub fn ffprobe(path: &Path) -> Result<serde_json::Value> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !output.status.success() {
        bail!("ffprobe: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A HEIC of `jpeg` made by heif-enc (libheif-examples), which copies the JPEG's EXIF into it.
pub fn heic_from_jpeg(jpeg: &[u8]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let (input, output) = (dir.path().join("in.jpg"), dir.path().join("out.heic"));
    std::fs::write(&input, jpeg)?;
    let status = Command::new("heif-enc")
        .arg("--quiet")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .context("running heif-enc (deploy/local/lib.sh ensure_media_tools installs it)")?;
    if !status.status.success() {
        bail!("heif-enc: {}", String::from_utf8_lossy(&status.stderr));
    }
    Ok(std::fs::read(&output)?)
}
