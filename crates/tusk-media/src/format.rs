//! What an upload is, from its first bytes: the request path's check, so nothing here decodes.

use crate::{Limits, MediaError};

/// A file type Tusk accepts, told by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Heic,
    Mp4,
    Mov,
    Webm,
}

impl Format {
    /// The format the bytes start like, whatever the file's name or declared type say.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            return Some(Self::Gif);
        }
        if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            return Some(Self::Webp);
        }
        if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return Some(Self::Webm);
        }
        if head.len() >= 12 && &head[4..8] == b"ftyp" {
            return sniff_iso_bmff(head);
        }
        // QuickTime files from before `ftyp` existed start with one of these atoms.
        if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide") {
            return Some(Self::Mov);
        }
        None
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Heic => "image/heic",
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
            Self::Webm => "video/webm",
        }
    }

    pub fn is_video(self) -> bool {
        matches!(self, Self::Mp4 | Self::Mov | Self::Webm)
    }

    /// The byte limit of an upload of this format (a GIF is an image until processed, as in
    /// Mastodon, whose size validation runs before a GIF becomes gifv).
    fn byte_limit(self, limits: &Limits) -> usize {
        if self.is_video() { limits.video_bytes } else { limits.image_bytes }
    }
}

/// The `ftyp` box: its major brand, then its compatible brands, say what the file holds.
fn sniff_iso_bmff(head: &[u8]) -> Option<Format> {
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let major = &head[8..12];
    // Compatible brands follow the major brand and the minor version.
    let end = size.min(head.len()).max(16);
    let compatible = head.get(16..end).unwrap_or_default();
    let brands = || std::iter::once(major).chain(compatible.chunks_exact(4));
    // AVIF shares HEIF's container (and often its `mif1` brand) but needs a decoder Tusk lacks.
    if brands().any(|b| b == b"avif" || b == b"avis") {
        return None;
    }
    match major {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" | b"mif1" | b"msf1" => {
            Some(Format::Heic)
        }
        b"qt  " => Some(Format::Mov),
        _ => Some(Format::Mp4),
    }
}

/// Mastodon's attachment `type`: an animated GIF becomes `gifv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Gifv,
    Video,
}

/// What the api learns from an upload's bytes: magic bytes and the image header, never pixels.
#[derive(Clone, Debug)]
pub struct Inspected {
    pub format: Format,
    /// From the image header; `None` for videos (the worker's ffprobe checks them).
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Refuses, cheaply, what no worker should spend time on: unknown types (`Unsupported`), files
/// over their kind's byte limit (`TooLarge`; Mastodon's `less_than`, so the limit itself is too
/// large) and images whose header claims more pixels than allowed or cannot be read (`Invalid`).
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Inspected, MediaError> {
    let format =
        Format::sniff(bytes).ok_or_else(|| MediaError::Unsupported("File type is not supported".into()))?;
    if bytes.len() >= format.byte_limit(limits) {
        return Err(MediaError::TooLarge);
    }
    let (width, height) = match format {
        Format::Jpeg | Format::Png | Format::Gif | Format::Webp => {
            let (w, h) = header_dimensions(format, bytes)
                .filter(|&(w, h)| w > 0 && h > 0)
                .ok_or_else(|| MediaError::Invalid("The image could not be read".into()))?;
            check_pixels(format, w, h, limits)?;
            (Some(w), Some(h))
        }
        // HEIC's size is in a box of its `meta` box; a file where it isn't found is the
        // worker's to refuse.
        Format::Heic => match crate::heic::heic_dimensions(bytes) {
            Some((w, h)) => {
                check_pixels(format, w, h, limits)?;
                (Some(w), Some(h))
            }
            None => (None, None),
        },
        Format::Mp4 | Format::Mov | Format::Webm => (None, None),
    };
    Ok(Inspected { format, width, height })
}

/// Mastodon's `validate_image_dimension!`: GIFs have their own, smaller limit.
pub(crate) fn check_pixels(
    format: Format,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<(), MediaError> {
    let pixels = u64::from(width) * u64::from(height);
    if format == Format::Gif && pixels > limits.gif_pixels {
        return Err(MediaError::Invalid(format!("{width}x{height} GIF files are not supported")));
    }
    if pixels > limits.image_pixels {
        return Err(MediaError::Invalid(format!("{width}x{height} images are not supported")));
    }
    Ok(())
}

/// Width and height as the file's header states them, read without any decoder.
pub(crate) fn header_dimensions(format: Format, b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le24 = |i: usize| Some(u32::from_le_bytes([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?, 0]));
    match format {
        Format::Png => {
            if b.get(12..16)? != b"IHDR" {
                return None;
            }
            let w = u32::from_be_bytes(b.get(16..20)?.try_into().ok()?);
            let h = u32::from_be_bytes(b.get(20..24)?.try_into().ok()?);
            Some((w, h))
        }
        Format::Gif => Some((le16(6)?, le16(8)?)),
        Format::Webp => match b.get(12..16)? {
            b"VP8 " if b.get(23..26)? == [0x9D, 0x01, 0x2A] => Some((le16(26)? & 0x3FFF, le16(28)? & 0x3FFF)),
            b"VP8L" if *b.get(20)? == 0x2F => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        },
        Format::Jpeg => {
            // Markers from SOI up to the first start-of-frame, which carries the dimensions.
            let mut i = 2;
            loop {
                while *b.get(i)? != 0xFF {
                    i += 1;
                }
                while *b.get(i)? == 0xFF {
                    i += 1;
                }
                let marker = *b.get(i)?;
                i += 1;
                match marker {
                    0xD0..=0xD7 | 0x01 => {}
                    // End of image or start of scan before any frame header.
                    0xD9 | 0xDA => return None,
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        return Some((be16(i + 5)?, be16(i + 3)?));
                    }
                    _ => i += usize::try_from(be16(i)?).ok()?,
                }
            }
        }
        Format::Heic | Format::Mp4 | Format::Mov | Format::Webm => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_bytes() {
        let cases: &[(&[u8], Option<Format>)] = &[
            (b"\xFF\xD8\xFF\xE0rest", Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", Some(Format::Png)),
            (b"GIF89a\x01\x00", Some(Format::Gif)),
            (b"GIF87a\x01\x00", Some(Format::Gif)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(Format::Webp)),
            (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", Some(Format::Heic)),
            (b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic", Some(Format::Heic)),
            (b"\0\0\0\x18ftypavif\0\0\0\0avifmif1", None),
            (b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif", None),
            (b"\0\0\0\x14ftypqt  \0\0\0\0qt  ", Some(Format::Mov)),
            (b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41", Some(Format::Mp4)),
            (b"\x1A\x45\xDF\xA3\x01\0\0\0", Some(Format::Webm)),
            (b"hello, I am a PNG, trust me", None),
            (b"", None),
            (b"\xFF\xD8", None),
            (b"RIFF\0\0\0\0WAVEfmt ", None),
        ];
        for (head, want) in cases {
            assert_eq!(Format::sniff(head), *want, "{head:?}");
        }
    }

    #[test]
    fn only_videos_are_videos() {
        assert!(Format::Mp4.is_video() && Format::Mov.is_video() && Format::Webm.is_video());
        assert!(!Format::Gif.is_video() && !Format::Heic.is_video());
        assert_eq!(Format::Mov.mime(), "video/quicktime");
    }

    #[test]
    fn media_kind_serializes_as_mastodon_type() -> anyhow::Result<()> {
        assert_eq!(serde_json::to_string(&MediaKind::Gifv)?, "\"gifv\"");
        Ok(())
    }

    #[test]
    fn reads_webp_headers() {
        let mut lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2F".to_vec();
        // 300x200: width-1 in the low 14 bits, height-1 in the next 14.
        lossless.extend_from_slice(&(299u32 + 199 * (1 << 14)).to_le_bytes());
        assert_eq!(header_dimensions(Format::Webp, &lossless), Some((300, 200)));
        let mut extended = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        extended.extend_from_slice(&[0x1F, 0x03, 0x00, 0xC7, 0x00, 0x00]);
        assert_eq!(header_dimensions(Format::Webp, &extended), Some((800, 200)));
    }
}
