//! The pictures of an account without its own, as Mastodon's `missing.png`: a plain grey
//! avatar and header, encoded once per process.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::ProfileImage;

/// Mastodon's default avatar is a grey silhouette on grey; a flat grey of the same tone reads
/// the same at avatar sizes.
const GREY: [u8; 3] = [0xc0, 0xc0, 0xc0];

/// The default picture, as PNG bytes (avatar 400x400, header 1500x500).
pub fn placeholder_png(which: ProfileImage) -> Bytes {
    static AVATAR: OnceLock<Bytes> = OnceLock::new();
    static HEADER: OnceLock<Bytes> = OnceLock::new();
    let (cell, width, height) = match which {
        ProfileImage::Avatar => (&AVATAR, 400, 400),
        ProfileImage::Header => (&HEADER, 1500, 500),
    };
    cell.get_or_init(|| encode(width, height)).clone()
}

fn encode(width: u32, height: u32) -> Bytes {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(GREY));
    let mut out = std::io::Cursor::new(Vec::new());
    // encoding a flat in-memory RGB image cannot fail; an empty body would only look broken
    if image.write_to(&mut out, image::ImageFormat::Png).is_err() {
        return Bytes::new();
    }
    Bytes::from(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholders_are_pngs_of_the_profile_sizes() {
        for (which, size) in [(ProfileImage::Avatar, (400, 400)), (ProfileImage::Header, (1500, 500))] {
            let png = placeholder_png(which);
            assert!(png.starts_with(b"\x89PNG"));
            let decoded = image::load_from_memory(&png).unwrap();
            assert_eq!((decoded.width(), decoded.height()), size);
        }
    }
}
