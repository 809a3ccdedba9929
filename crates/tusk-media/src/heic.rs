//! HEIC photos (what iPhones take), through Debian's `heif-convert` (libheif-examples): the
//! container's declared size is checked first, then libheif decodes to a PNG that the image
//! pipeline re-encodes as JPEG.

use std::ffi::OsString;
use std::time::Duration;

use bytes::Bytes;

use crate::format::check_pixels;
use crate::picture::process_converted;
use crate::video::{blocking, read, run};
use crate::{Format, Limits, MediaError, Processed};

/// Decoding one photo takes seconds; a minute means something is wrong.
const CONVERT_TIMEOUT: Duration = Duration::from_mins(1);

#[tracing::instrument(skip_all, fields(len = bytes.len()))]
pub(crate) async fn process_heic(bytes: Bytes, limits: &Limits) -> Result<Processed, MediaError> {
    let (width, height) =
        heic_dimensions(&bytes).ok_or_else(|| MediaError::Invalid("The image could not be read".into()))?;
    check_pixels(Format::Heic, width, height, limits)?;
    // Removed with everything in it when dropped, whatever way this returns.
    let dir = tempfile::Builder::new()
        .prefix("tusk-media-")
        .tempdir()
        .map_err(|e| MediaError::Processing(format!("temp dir: {e}")))?;
    let input = dir.path().join("upload.heic");
    let output = dir.path().join("converted.png");
    tokio::fs::write(&input, &bytes)
        .await
        .map_err(|e| MediaError::Processing(format!("writing the upload: {e}")))?;
    drop(bytes);
    let args: Vec<OsString> = vec!["--quiet".into(), input.into_os_string(), output.clone().into_os_string()];
    if let Err(stderr) = run("heif-convert", args, CONVERT_TIMEOUT).await? {
        tracing::warn!(stderr, "heif-convert refused the upload");
        return Err(MediaError::Invalid("The image could not be decoded".into()));
    }
    // A file of several images is written as converted-1.png, converted-2.png...
    let png = match read(&output).await {
        Ok(png) => png,
        Err(_) => read(&dir.path().join("converted-1.png")).await?,
    };
    let limits = limits.clone();
    blocking(move || process_converted(&png, &limits)).await
}

/// The largest `ispe` (image spatial extents) property in `meta/iprp/ipco`: the full image's
/// size (the tiles of a grid image have smaller ones).
pub(crate) fn heic_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let meta = find_box(bytes, *b"meta")?;
    // `meta` is a full box: version and flags come before its children.
    let ipco = find_box(find_box(meta.get(4..)?, *b"iprp")?, *b"ipco")?;
    boxes(ipco)
        .filter(|(kind, _)| kind == b"ispe")
        .filter_map(|(_, body)| {
            let w = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
            let h = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?);
            Some((w, h))
        })
        .filter(|&(w, h)| w > 0 && h > 0)
        .max_by_key(|&(w, h)| u64::from(w) * u64::from(h))
}

fn find_box(data: &[u8], kind: [u8; 4]) -> Option<&[u8]> {
    boxes(data).find(|(k, _)| *k == kind).map(|(_, body)| body)
}

/// The ISO-BMFF boxes directly inside `data`, as (type, body); stops at the first malformed one.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let size = u64::from(u32::from_be_bytes(data.get(..4)?.try_into().ok()?));
        let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, data.len() as u64),
            1 => (16, u64::from_be_bytes(data.get(8..16)?.try_into().ok()?)),
            size => (8, size),
        };
        let size = usize::try_from(size).ok()?;
        let body = data.get(header..size)?;
        data = &data[size..];
        Some((kind, body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bmff(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8).unwrap_or(0).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn ispe(w: u32, h: u32) -> Vec<u8> {
        let mut body = vec![0; 4];
        body.extend_from_slice(&w.to_be_bytes());
        body.extend_from_slice(&h.to_be_bytes());
        bmff(b"ispe", &body)
    }

    #[test]
    fn reads_the_largest_image_extent() {
        let mut ipco = ispe(512, 512);
        ipco.extend(bmff(b"colr", b"nclx"));
        ipco.extend(ispe(4032, 3024));
        let mut meta = vec![0; 4];
        meta.extend(bmff(b"hdlr", &[0; 20]));
        meta.extend(bmff(b"iprp", &bmff(b"ipco", &ipco)));
        let mut file = bmff(b"ftyp", b"heic\0\0\0\0mif1heic");
        file.extend(bmff(b"meta", &meta));
        file.extend(bmff(b"mdat", &[0; 16]));
        assert_eq!(heic_dimensions(&file), Some((4032, 3024)));
        assert_eq!(heic_dimensions(&file[..40]), None);
        assert_eq!(heic_dimensions(b"\0\0\0\x18ftypheic"), None);
    }
}
