//! Object keys: the only names under which media is stored, and the only ones served.

/// Whose media a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    MediaAttachments,
    Avatars,
    Headers,
}

impl Collection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MediaAttachments => "media_attachments",
            Self::Avatars => "avatars",
            Self::Headers => "headers",
        }
    }
}

/// Which variant of a processed upload a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Original,
    Small,
    /// The first frame of an animated avatar or header.
    Static,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Small => "small",
            Self::Static => "static",
        }
    }
}

const COLLECTIONS: [&str; 3] = ["media_attachments", "avatars", "headers"];
const STYLES: [&str; 3] = ["original", "small", "static"];
const EXTENSIONS: [&str; 5] = ["jpg", "png", "webp", "gif", "mp4"];
const TOKEN_LEN: usize = 16;

/// `{collection}/{id}/{token}/{style}.{extension}`: where a processed variant is stored.
pub fn variant_key(collection: Collection, id: i64, token: &str, style: Style, extension: &str) -> String {
    let key = format!("{}/{id}/{token}/{}.{extension}", collection.as_str(), style.as_str());
    debug_assert!(is_servable_key(&key), "{key}");
    key
}

/// `uploads/{id}/{token}`: where the api puts a raw upload until a worker has processed it.
/// Never servable: its bytes still carry whatever the uploader's device put in them.
pub fn upload_key(id: i64, token: &str) -> String {
    format!("uploads/{id}/{token}")
}

/// Whether `key` is exactly what [`variant_key`] builds, so a request path cannot name anything
/// else in the store (raw uploads, other prefixes, traversal).
pub fn is_servable_key(key: &str) -> bool {
    let mut parts = key.split('/');
    let (Some(collection), Some(id), Some(token), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some((style, extension)) = file.split_once('.') else {
        return false;
    };
    COLLECTIONS.contains(&collection)
        && (1..=20).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && token.len() == TOKEN_LEN
        && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && STYLES.contains(&style)
        && EXTENSIONS.contains(&extension)
}

/// The `Content-Type` of a stored variant, from its key's extension.
pub fn content_type_for_extension(extension: &str) -> Option<&'static str> {
    Some(match extension {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// 16 random lowercase hex characters: the unguessable part of a key, new for every upload so a
/// replaced avatar never shares a URL (or a cache entry) with the one before.
pub fn new_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_keys_are_servable() {
        let token = new_token();
        assert_eq!(token.len(), 16);
        for (collection, style, extension) in [
            (Collection::MediaAttachments, Style::Original, "mp4"),
            (Collection::MediaAttachments, Style::Small, "jpg"),
            (Collection::Avatars, Style::Static, "png"),
            (Collection::Headers, Style::Original, "gif"),
        ] {
            let key = variant_key(collection, 9_223_372_036_854_775_807, &token, style, extension);
            assert!(is_servable_key(&key), "{key}");
        }
        assert_eq!(
            variant_key(Collection::Avatars, 42, "0123456789abcdef", Style::Small, "webp"),
            "avatars/42/0123456789abcdef/small.webp"
        );
    }

    #[test]
    fn nothing_else_is_servable() {
        let rejected = [
            "",
            "/",
            "uploads/1/0123456789abcdef",
            "uploads/1/0123456789abcdef/original.jpg",
            "media_attachments/1/0123456789abcdef/original",
            "media_attachments/1/0123456789abcdef/original.jpeg",
            "media_attachments/1/0123456789abcdef/original.jpg/",
            "media_attachments/1/0123456789abcdef/original.jpg.png",
            "media_attachments/1/0123456789abcdef/../original.jpg",
            "media_attachments/../0123456789abcdef/original.jpg",
            "../media_attachments/1/0123456789abcdef/original.jpg",
            "media_attachments/1/0123456789abcdef/%2e%2e/original.jpg",
            "media_attachments/%2e%2e/0123456789abcdef/original.jpg",
            "media_attachments/1/0123456789abcdef\\..\\original.jpg",
            "media_attachments\\1\\0123456789abcdef\\original.jpg",
            "media_attachments//1/0123456789abcdef/original.jpg",
            "/media_attachments/1/0123456789abcdef/original.jpg",
            "media_attachments/1//0123456789abcdef/original.jpg",
            "media_attachments/1/0123456789ABCDEF/original.jpg",
            "media_attachments/1/0123456789abcde/original.jpg",
            "media_attachments/1/0123456789abcdef0/original.jpg",
            "media_attachments/1/0123456789abcdeg/original.jpg",
            "media_attachments/-1/0123456789abcdef/original.jpg",
            "media_attachments//0123456789abcdef/original.jpg",
            "media_attachments/123456789012345678901/0123456789abcdef/original.jpg",
            "media_attachments/1 /0123456789abcdef/original.jpg",
            "media_attachments/１/0123456789abcdef/original.jpg",
            "accounts/1/0123456789abcdef/original.jpg",
            "media_attachments/1/0123456789abcdef/big.jpg",
            "media_attachments/1/0123456789abcdef/original.exe",
            "media_attachments/1/0123456789abcdef/original.JPG",
            "media_attachments/1/0123456789abcdef/.jpg",
            "media_attachments/1/0123456789abcdef/original.jpg\0",
            "media_attachments/1/0123456789abcdef/original.jpg?x=1",
            "media_attachments/1/0123456789abcdef/./original.jpg",
        ];
        for key in rejected {
            assert!(!is_servable_key(key), "{key:?} must not be servable");
        }
        assert!(is_servable_key("media_attachments/1/0123456789abcdef/original.jpg"));
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type_for_extension("mp4"), Some("video/mp4"));
        assert_eq!(content_type_for_extension("jpg"), Some("image/jpeg"));
        assert_eq!(content_type_for_extension("html"), None);
        assert!(upload_key(7, "0123456789abcdef").starts_with("uploads/7/"));
        assert!(!is_servable_key(&upload_key(7, "0123456789abcdef")));
    }
}
