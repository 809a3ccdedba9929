//! Still images, animated GIF avatars and the previews of everything: decoded with limits checked
//! before any pixel buffer exists, re-encoded from pixels so no metadata of the upload survives.

use std::future::Future;
use std::io::Cursor;

use bytes::Bytes;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, PngEncoder};
use image::{
    AnimationDecoder, DynamicImage, ExtendedColorType, Frame, ImageDecoder, ImageEncoder, ImageError,
    ImageFormat, ImageReader,
};

use crate::format::{check_pixels, header_dimensions};
use crate::{Format, Limits, MediaError, MediaKind, ORIGINAL_PIXELS, Processed, SMALL_PIXELS, Variant};

/// Mastodon's `-quality 90`.
const JPEG_QUALITY: u8 = 90;
/// Mastodon's `BLURHASH_OPTIONS`: 4x4 components.
const BLURHASH_COMPONENTS: u32 = 4;
/// The blurhash is computed on a thumbnail this wide at most: it only keeps 16 colours anyway.
const BLURHASH_SIDE: u32 = 64;
/// NeuQuant's sampling for re-encoded GIF frames: 10 is image's "good enough", 1 is slow.
const GIF_SPEED: i32 = 10;

/// Avatars and headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileImage {
    /// Cover-cropped to 400x400 (`Account::Avatar::AVATAR_DIMENSIONS`).
    Avatar,
    /// Cover-cropped to 1500x500 (`Account::Header::HEADER_DIMENSIONS`).
    Header,
}

impl ProfileImage {
    fn dimensions(self) -> (u32, u32) {
        match self {
            Self::Avatar => (400, 400),
            Self::Header => (1500, 500),
        }
    }
}

/// A processed avatar or header.
#[derive(Clone, Debug)]
pub struct ProcessedProfile {
    pub original: Variant,
    /// A PNG of the first frame when the upload was animated; `None` when it was not (the static
    /// URL is then the original's).
    pub static_: Option<Variant>,
}

/// A media attachment's image: the original re-encoded and shrunk to at most [`ORIGINAL_PIXELS`],
/// a preview of at most [`SMALL_PIXELS`], the blurhash. An animated GIF becomes gifv, through
/// ffmpeg. Synchronous CPU work: run it on `spawn_blocking` (or use `process_media`).
pub fn process_image(bytes: &[u8], limits: &Limits) -> Result<Processed, MediaError> {
    let format = image_format(bytes)?;
    if bytes.len() >= limits.image_bytes {
        return Err(MediaError::TooLarge);
    }
    if format == Format::Heic {
        let (bytes, limits) = (Bytes::copy_from_slice(bytes), limits.clone());
        return on_own_runtime(async move { crate::heic::process_heic(bytes, &limits).await });
    }
    if format == Format::Gif && is_animated_gif(bytes, limits)? {
        let (bytes, limits) = (Bytes::copy_from_slice(bytes), limits.clone());
        return on_own_runtime(async move { crate::video::process_video(bytes, Format::Gif, &limits).await });
    }
    let decoded = decode(bytes, format, limits, Orientation::FromMetadata)?;
    // PNG and GIF stay lossless; photos (and opaque WebP, whose encoder here is lossless only,
    // so several times larger) become JPEG.
    let lossless = matches!(format, Format::Png | Format::Gif) || decoded.color().has_alpha();
    still(&decoded, lossless)
}

/// A HEIC upload that heif-convert turned into a PNG: pixels already upright (libheif applies
/// the container's rotation), output JPEG like Mastodon's `IMAGE_CONVERTED_STYLES`.
pub(crate) fn process_converted(png: &[u8], limits: &Limits) -> Result<Processed, MediaError> {
    let decoded = decode(png, Format::Png, limits, Orientation::AsStored)?;
    let lossless = decoded.color().has_alpha();
    still(&decoded, lossless)
}

fn still(decoded: &DynamicImage, lossless: bool) -> Result<Processed, MediaError> {
    let (width, height) = fit_within(decoded.width(), decoded.height(), ORIGINAL_PIXELS);
    let original = resize(decoded, width, height, ResizeCrop::Keep)?;
    let original_variant = if lossless { encode_png(&original)? } else { encode_jpeg(&original)? };
    let (small, blurhash) = preview(&original)?;
    Ok(Processed {
        kind: MediaKind::Image,
        original: original_variant,
        small,
        blurhash,
        duration: None,
        frame_rate: None,
        fps: None,
        bitrate: None,
    })
}

/// An avatar or header: JPEG, PNG, WebP or GIF, over `limits.profile_bytes` is `TooLarge`. An
/// animated GIF stays animated (every frame cropped and resized) with a static PNG of its first
/// frame; everything else is re-encoded from pixels. Never upscaled: a smaller upload keeps its
/// size, cropped to the aspect ratio. Synchronous CPU work.
pub fn process_profile_image(
    bytes: &[u8],
    which: ProfileImage,
    limits: &Limits,
) -> Result<ProcessedProfile, MediaError> {
    let format = image_format(bytes)?;
    // Mastodon's AVATAR_IMAGE_MIME_TYPES: no HEIC.
    if format == Format::Heic {
        return Err(MediaError::Unsupported("File type is not supported".into()));
    }
    if bytes.len() >= limits.profile_bytes {
        return Err(MediaError::TooLarge);
    }
    if format == Format::Gif && is_animated_gif(bytes, limits)? {
        return animated_profile(bytes, which, limits);
    }
    let decoded = decode(bytes, format, limits, Orientation::FromMetadata)?;
    let (width, height) = cover_dimensions(decoded.width(), decoded.height(), which);
    let resized = resize(&decoded, width, height, ResizeCrop::Cover)?;
    let original = if matches!(format, Format::Png | Format::Gif) || resized.color().has_alpha() {
        encode_png(&resized)?
    } else {
        encode_jpeg(&resized)?
    };
    Ok(ProcessedProfile { original, static_: None })
}

/// The small variant and blurhash of any picture (an image's original, a video's poster frame).
pub(crate) fn preview(picture: &DynamicImage) -> Result<(Variant, String), MediaError> {
    let (width, height) = fit_within(picture.width(), picture.height(), SMALL_PIXELS);
    let small = resize(picture, width, height, ResizeCrop::Keep)?;
    let variant = if small.color().has_alpha() { encode_png(&small)? } else { encode_jpeg(&small)? };
    let (bw, bh) = fit_within(width, height, u64::from(BLURHASH_SIDE * BLURHASH_SIDE));
    let thumbnail = resize(&small, bw, bh, ResizeCrop::Keep)?.into_rgba8();
    let blurhash = blurhash::encode(BLURHASH_COMPONENTS, BLURHASH_COMPONENTS, bw, bh, thumbnail.as_raw())
        .map_err(|e| MediaError::Processing(format!("blurhash: {e}")))?;
    Ok((variant, blurhash))
}

/// The poster frame ffmpeg extracted (a PNG it wrote), as the small variant and the blurhash.
pub(crate) fn poster(png: &[u8], limits: &Limits) -> Result<(Variant, String), MediaError> {
    preview(&decode(png, Format::Png, limits, Orientation::AsStored)?)
}

fn image_format(bytes: &[u8]) -> Result<Format, MediaError> {
    match Format::sniff(bytes) {
        Some(format @ (Format::Jpeg | Format::Png | Format::Gif | Format::Webp | Format::Heic)) => Ok(format),
        Some(Format::Mp4 | Format::Mov | Format::Webm) | None => {
            Err(MediaError::Unsupported("File type is not supported".into()))
        }
    }
}

/// Decodes with every limit checked before the pixel buffer is allocated, turned upright as
/// `orientation` says, in 8-bit RGB, or RGBA when some pixel is not opaque.
fn decode(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    orientation: Orientation,
) -> Result<DynamicImage, MediaError> {
    // Our own header read first: a bomb is refused before any decoder state exists.
    let (w, h) = header_dimensions(format, bytes)
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| MediaError::Invalid("The image could not be read".into()))?;
    check_pixels(format, w, h, limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format_of(format));
    reader.limits(decoder_limits(limits));
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (w, h) = decoder.dimensions();
    check_pixels(format, w, h, limits)?;
    if decoder.total_bytes() > limits.decode_alloc_bytes {
        return Err(MediaError::Invalid(format!("{w}x{h} images are not supported")));
    }
    let turn = match orientation {
        // Unreadable EXIF is no reason to refuse a photo: it is shown as stored.
        Orientation::FromMetadata => decoder.orientation().ok(),
        Orientation::AsStored => None,
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(turn) = turn {
        image.apply_orientation(turn);
    }
    Ok(normalize(image))
}

/// RGB8, or RGBA8 when transparency is actually used: what the encoders and resizer take.
fn normalize(image: DynamicImage) -> DynamicImage {
    if image.color().has_alpha() {
        let rgba = image.into_rgba8();
        if rgba.pixels().any(|p| p.0[3] != u8::MAX) {
            return DynamicImage::ImageRgba8(rgba);
        }
        return DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8());
    }
    DynamicImage::ImageRgb8(image.into_rgb8())
}

/// Whether a decoded picture is turned as its metadata says.
#[derive(Clone, Copy)]
enum Orientation {
    /// EXIF orientation (a camera's JPEG is stored sideways and tagged).
    FromMetadata,
    /// Pixels already upright: ffmpeg's frames, heif-convert's output.
    AsStored,
}

fn decoder_limits(limits: &Limits) -> image::Limits {
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.decode_alloc_bytes);
    decoder_limits
}

fn image_format_of(format: Format) -> ImageFormat {
    match format {
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
        Format::Webp => ImageFormat::WebP,
        _ => ImageFormat::Jpeg,
    }
}

fn decode_error(error: ImageError) -> MediaError {
    match error {
        ImageError::Limits(_) => MediaError::Invalid("The image is too large to process".into()),
        ImageError::Unsupported(e) => MediaError::Invalid(format!("The image could not be decoded: {e}")),
        other => MediaError::Invalid(format!("The image could not be decoded: {other}")),
    }
}

fn encode_error(error: impl std::fmt::Display) -> MediaError {
    MediaError::Processing(format!("encoding: {error}"))
}

/// Whether a GIF has a second frame (decoding stops there).
pub(crate) fn is_animated_gif(bytes: &[u8], limits: &Limits) -> Result<bool, MediaError> {
    let decoder = gif_decoder(bytes, limits)?;
    let mut frames = decoder.into_frames();
    let first = frames.next().transpose().map_err(decode_error)?;
    let second = frames.next().transpose().map_err(decode_error)?;
    Ok(first.is_some() && second.is_some())
}

fn gif_decoder<'a>(bytes: &'a [u8], limits: &Limits) -> Result<GifDecoder<Cursor<&'a [u8]>>, MediaError> {
    let (w, h) = header_dimensions(Format::Gif, bytes)
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| MediaError::Invalid("The image could not be read".into()))?;
    check_pixels(Format::Gif, w, h, limits)?;
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(decode_error)?;
    decoder.set_limits(decoder_limits(limits)).map_err(decode_error)?;
    Ok(decoder)
}

/// `process_image` is synchronous; ffmpeg and heif-convert are driven by tokio. A thread of its
/// own with a runtime of its own works whatever the caller's context (a blocking pool thread, or
/// none).
fn on_own_runtime(
    work: impl Future<Output = Result<Processed, MediaError>> + Send + 'static,
) -> Result<Processed, MediaError> {
    let worker = std::thread::Builder::new()
        .name("tusk-media-tool".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MediaError::Processing(format!("runtime: {e}")))?;
            runtime.block_on(work)
        })
        .map_err(|e| MediaError::Processing(format!("thread: {e}")))?;
    worker.join().map_err(|_| MediaError::Processing("the conversion panicked".into()))?
}

/// Each frame cover-cropped and resized, re-quantized into a new GIF; the first frame as PNG.
fn animated_profile(
    bytes: &[u8],
    which: ProfileImage,
    limits: &Limits,
) -> Result<ProcessedProfile, MediaError> {
    let decoder = gif_decoder(bytes, limits)?;
    let (canvas_w, canvas_h) = decoder.dimensions();
    let (width, height) = cover_dimensions(canvas_w, canvas_h, which);
    let mut out = Vec::new();
    let mut first = None;
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
        encoder.set_repeat(Repeat::Infinite).map_err(encode_error)?;
        for (index, frame) in decoder.into_frames().enumerate() {
            if index >= limits.max_frames as usize {
                return Err(MediaError::Invalid(format!(
                    "GIFs of more than {} frames are not supported",
                    limits.max_frames
                )));
            }
            let frame = frame.map_err(decode_error)?;
            let delay = frame.delay();
            let canvas = DynamicImage::ImageRgba8(frame.into_buffer());
            let resized = resize(&canvas, width, height, ResizeCrop::Cover)?.into_rgba8();
            if first.is_none() {
                first = Some(resized.clone());
            }
            encoder.encode_frame(Frame::from_parts(resized, 0, 0, delay)).map_err(encode_error)?;
        }
    }
    let first = first.ok_or_else(|| MediaError::Invalid("The GIF has no frames".into()))?;
    Ok(ProcessedProfile {
        original: Variant {
            bytes: Bytes::from(out),
            content_type: "image/gif",
            extension: "gif",
            width,
            height,
        },
        static_: Some(encode_png(&normalize(DynamicImage::ImageRgba8(first)))?),
    })
}

#[derive(Clone, Copy)]
enum ResizeCrop {
    /// The whole picture, scaled (the aspect ratio is the caller's business).
    Keep,
    /// Cropped around the centre to the destination's aspect ratio, then scaled.
    Cover,
}

fn resize(
    picture: &DynamicImage,
    width: u32,
    height: u32,
    crop: ResizeCrop,
) -> Result<DynamicImage, MediaError> {
    if (width, height) == (picture.width(), picture.height()) {
        return Ok(picture.clone());
    }
    let mut resized = DynamicImage::new(width, height, picture.color());
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if let ResizeCrop::Cover = crop {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new()
        .resize(picture, &mut resized, &options)
        .map_err(|e| MediaError::Processing(format!("resizing: {e}")))?;
    Ok(resized)
}

/// The largest size with the same aspect ratio and at most `max_pixels` pixels (Mastodon's
/// `pixels:` styles); never larger than the input.
pub(crate) fn fit_within(width: u32, height: u32, max_pixels: u64) -> (u32, u32) {
    let pixels = u64::from(width) * u64::from(height);
    if pixels <= max_pixels {
        return (width, height);
    }
    let scale = (max_pixels as f64 / pixels as f64).sqrt();
    let mut w = ((f64::from(width) * scale).floor() as u32).max(1);
    let mut h = ((f64::from(height) * scale).floor() as u32).max(1);
    // The `max(1)` of an extreme aspect ratio can overshoot: take it back from the long side.
    if u64::from(w) * u64::from(h) > max_pixels {
        if w >= h {
            w = (max_pixels / u64::from(h)).max(1) as u32;
        } else {
            h = (max_pixels / u64::from(w)).max(1) as u32;
        }
    }
    (w, h)
}

/// The profile image's size: the target, or the largest crop of the input with the target's
/// aspect ratio when the input is smaller than that.
fn cover_dimensions(width: u32, height: u32, which: ProfileImage) -> (u32, u32) {
    let (tw, th) = which.dimensions();
    // Compare width/height with tw/th without floats: w*th vs h*tw.
    let (crop_w, crop_h) = if u64::from(width) * u64::from(th) > u64::from(height) * u64::from(tw) {
        ((u64::from(height) * u64::from(tw) / u64::from(th)) as u32, height)
    } else {
        (width, (u64::from(width) * u64::from(th) / u64::from(tw)) as u32)
    };
    if crop_w >= tw { (tw, th) } else { (crop_w.max(1), crop_h.max(1)) }
}

fn encode_jpeg(picture: &DynamicImage) -> Result<Variant, MediaError> {
    let rgb = picture.to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .write_image(rgb.as_raw(), rgb.width(), rgb.height(), ExtendedColorType::Rgb8)
        .map_err(encode_error)?;
    Ok(Variant {
        bytes: Bytes::from(out),
        content_type: "image/jpeg",
        extension: "jpg",
        width: rgb.width(),
        height: rgb.height(),
    })
}

fn encode_png(picture: &DynamicImage) -> Result<Variant, MediaError> {
    let mut out = Vec::new();
    let encoder = PngEncoder::new_with_quality(
        &mut out,
        CompressionType::Default,
        image::codecs::png::FilterType::Adaptive,
    );
    let (data, color) = match picture {
        DynamicImage::ImageRgba8(rgba) => (rgba.as_raw().as_slice(), ExtendedColorType::Rgba8),
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw().as_slice(), ExtendedColorType::Rgb8),
        other => return encode_png(&normalize(other.clone())),
    };
    encoder.write_image(data, picture.width(), picture.height(), color).map_err(encode_error)?;
    Ok(Variant {
        bytes: Bytes::from(out),
        content_type: "image/png",
        extension: "png",
        width: picture.width(),
        height: picture.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_within_a_pixel_budget() {
        assert_eq!(fit_within(640, 360, SMALL_PIXELS), (640, 360));
        let (w, h) = fit_within(5000, 4000, ORIGINAL_PIXELS);
        assert!(u64::from(w) * u64::from(h) <= ORIGINAL_PIXELS);
        assert_eq!((w, h), (3219, 2575));
        let (w, h) = fit_within(100_000, 1, 10);
        assert_eq!((w, h), (10, 1));
    }

    #[test]
    fn profile_images_never_upscale() {
        assert_eq!(cover_dimensions(1000, 600, ProfileImage::Avatar), (400, 400));
        assert_eq!(cover_dimensions(300, 200, ProfileImage::Avatar), (200, 200));
        assert_eq!(cover_dimensions(3000, 500, ProfileImage::Header), (1500, 500));
        assert_eq!(cover_dimensions(300, 50, ProfileImage::Header), (150, 50));
        assert_eq!(cover_dimensions(1, 1, ProfileImage::Header), (1, 1));
    }
}
