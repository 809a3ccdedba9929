//! Media attachments, avatars and headers: where their bytes live (`storage`), what an upload is
//! (`inspect`, cheap enough for the request path), and what the workers make of it (`process_*`).
//!
//! The limits follow Mastodon 4.3 (`app/models/media_attachment.rb`,
//! `app/models/concerns/attachmentable.rb`, `app/models/concerns/account/avatar.rb`); see
//! [`Limits`].

mod error;
mod format;
mod heic;
mod keys;
mod picture;
mod placeholder;
mod storage;
mod video;

use std::time::Duration;

pub use error::MediaError;
pub use format::{Format, Inspected, MediaKind, inspect};
pub use keys::{
    Collection, Style, content_type_for_extension, is_servable_key, new_token, upload_key, variant_key,
};
pub use picture::{ProcessedProfile, ProfileImage, process_image, process_profile_image};
pub use placeholder::placeholder_png;
pub use storage::{ByteRange, MediaStorage, Served, StorageConfig};
pub use video::process_media;

/// What an upload may be. `Default` is Mastodon 4.3's values.
#[derive(Clone, Debug)]
pub struct Limits {
    /// `MediaAttachment::IMAGE_LIMIT` (16 MB): bytes of an image upload.
    pub image_bytes: usize,
    /// `MediaAttachment::VIDEO_LIMIT` (99 MB): bytes of a video upload.
    pub video_bytes: usize,
    /// `Account::Avatar::AVATAR_LIMIT` / `Account::Header::HEADER_LIMIT` (2 MB without libvips).
    pub profile_bytes: usize,
    /// `Attachmentable::MAX_MATRIX_LIMIT` (7680x4320): pixels of an image.
    pub image_pixels: u64,
    /// `Attachmentable::GIF_MATRIX_LIMIT` (1280x720): pixels of a GIF, animated or not.
    pub gif_pixels: u64,
    /// `MediaAttachment::MAX_VIDEO_MATRIX_LIMIT` (3840x2160): pixels of a video frame.
    pub video_pixels: u64,
    /// `MediaAttachment::MAX_VIDEO_FRAME_RATE` (120).
    pub max_video_frame_rate: u32,
    /// `MediaAttachment::MAX_VIDEO_FRAMES` (36 000): the transcode stops there (`-frames:v`).
    pub max_video_frames: u64,
    /// Frames of an animated GIF; more is refused. Mastodon has no such limit; every frame is
    /// decoded (and for avatars re-quantized), so this bounds the work one upload costs.
    pub max_frames: u32,
    /// Seconds of a video; longer is refused. Mastodon keeps the first 36 000 frames, which is 20
    /// minutes at 30 fps: refusing up front spares a worker a transcode that would be cut anyway.
    pub max_video_seconds: f64,
    /// Bytes a decoder may allocate (`image::Limits::max_alloc`): the largest legal image (33 MP)
    /// as 16-bit RGBA is 265 MB, plus the decoders' working buffers.
    pub decode_alloc_bytes: u64,
    /// How long one ffmpeg run may take before it is killed.
    pub processing_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            image_bytes: 16 * 1024 * 1024,
            video_bytes: 99 * 1024 * 1024,
            profile_bytes: 2 * 1024 * 1024,
            image_pixels: 7680 * 4320,
            gif_pixels: 1280 * 720,
            video_pixels: 3840 * 2160,
            max_video_frame_rate: 120,
            max_video_frames: 36_000,
            max_frames: 2_000,
            max_video_seconds: 1_200.0,
            decode_alloc_bytes: 512 * 1024 * 1024,
            processing_timeout: Duration::from_mins(30),
        }
    }
}

/// Mastodon's `original` style for images: 3840x2160 pixels.
pub const ORIGINAL_PIXELS: u64 = 8_294_400;
/// Mastodon's `small` style: 640x360 pixels.
pub const SMALL_PIXELS: u64 = 230_400;

/// One stored variant of a processed upload.
#[derive(Clone, Debug)]
pub struct Variant {
    pub bytes: bytes::Bytes,
    pub content_type: &'static str,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
}

/// A processed attachment, ready to store: no metadata of the upload left in any variant.
#[derive(Clone, Debug)]
pub struct Processed {
    pub kind: MediaKind,
    /// Image: re-encoded from pixels, at most [`ORIGINAL_PIXELS`]. Gifv/video: H.264/AAC MP4.
    pub original: Variant,
    /// Image: a preview of at most [`SMALL_PIXELS`]. Gifv/video: the poster frame, same size.
    pub small: Variant,
    /// 4x4 components, like Mastodon's `BLURHASH_OPTIONS`.
    pub blurhash: String,
    /// Seconds (gifv/video).
    pub duration: Option<f64>,
    /// ffprobe's `r_frame_rate` of the output, e.g. "30/1" (Mastodon's `meta.original.frame_rate`).
    pub frame_rate: Option<String>,
    /// `frame_rate`, rounded.
    pub fps: Option<u32>,
    /// Bits per second of the output (Mastodon's `meta.original.bitrate`).
    pub bitrate: Option<u64>,
}
