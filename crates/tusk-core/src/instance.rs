//! The instance's public identity: its domain and the URLs built from it.

/// Attachments one status holds at most (Mastodon's `max_media_attachments`).
pub const MAX_MEDIA_ATTACHMENTS: usize = 4;

#[derive(Clone, Debug)]
pub struct Instance {
    /// `TUSK_DOMAIN`, e.g. `tusk.example` or `localhost:3000`.
    pub domain: String,
    /// Whether public URLs use `https` (`TUSK_HTTPS`).
    pub https: bool,
    /// `https://{domain}` (or `http://`), built once: every rendered entity starts with it.
    base_url: String,
    /// Where clients open their streams (`/api/v1/streaming` is appended by them).
    streaming_url: String,
    /// Where media objects are fetched: `{base_url}/system` (the api serves them) unless a CDN
    /// or the bucket's public URL is set (`TUSK_MEDIA_PUBLIC_URL`).
    media_url: String,
}

impl Instance {
    /// The instance at `domain`, streaming on the same host (`wss://{domain}`, or `ws://`), as
    /// Mastodon's default.
    pub fn new(domain: impl Into<String>, https: bool) -> Self {
        let domain = domain.into();
        let base_url = format!("{}://{domain}", if https { "https" } else { "http" });
        let streaming_url = format!("{}://{domain}", if https { "wss" } else { "ws" });
        let media_url = format!("{base_url}/system");
        Self { domain, https, base_url, streaming_url, media_url }
    }

    /// Media fetched from a CDN or the object store's public URL (`TUSK_MEDIA_PUBLIC_URL`).
    #[must_use]
    pub fn with_media_url(self, url: &str) -> Self {
        Self { media_url: url.trim_end_matches('/').to_owned(), ..self }
    }

    /// The public URL of the media object `key`.
    pub fn media_file_url(&self, key: &str) -> String {
        format!("{}/{key}", self.media_url)
    }

    /// The picture shown for an account without one (`avatars` or `headers`), served by the
    /// api, as Mastodon's `missing.png`.
    pub fn missing_image_url(&self, collection: &str) -> String {
        format!("{}/{collection}/original/missing.png", self.base_url)
    }

    /// Streams served elsewhere (`TUSK_STREAMING_URL`, e.g. `wss://streaming.example`).
    #[must_use]
    pub fn with_streaming_url(self, url: &str) -> Self {
        Self { streaming_url: url.trim_end_matches('/').to_owned(), ..self }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The streaming base URL apps read from the instance (`urls.streaming_api` in v1,
    /// `configuration.urls.streaming` in v2), never null: some apps fail to decode the instance
    /// without it.
    pub fn streaming_url(&self) -> &str {
        &self.streaming_url
    }

    pub fn account_url(&self, username: &str) -> String {
        format!("{}/@{username}", self.base_url())
    }

    pub fn account_uri(&self, username: &str) -> String {
        format!("{}/users/{username}", self.base_url())
    }

    /// A hashtag's page.
    pub fn tag_url(&self, name: &str) -> String {
        format!("{}/tags/{name}", self.base_url())
    }

    pub fn status_url(&self, username: &str, id: crate::Id) -> String {
        format!("{}/@{username}/{id}", self.base_url())
    }

    pub fn status_uri(&self, username: &str, id: crate::Id) -> String {
        format!("{}/users/{username}/statuses/{id}", self.base_url())
    }
}

/// Whether an address's `domain` (absent in `@name`) is this server's, `ours`: mentions,
/// searches and lookups name a local account by `name`, `@name` or `@name@ours`.
pub fn is_local(domain: Option<&str>, ours: &str) -> bool {
    domain.is_none_or(|domain| domain.eq_ignore_ascii_case(ours))
}

/// The username an address names on this server (`ours`): `name`, `@name` or `@name@ours`;
/// `None` for another server's account. The username may be empty.
pub fn local_username<'a>(acct: &'a str, ours: &str) -> Option<&'a str> {
    let acct = acct.trim();
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    match acct.split_once('@') {
        None => Some(acct),
        Some((username, domain)) => is_local(Some(domain), ours).then_some(username),
    }
}

/// Who may sign up (`TUSK_REGISTRATIONS`), as Mastodon's `registrations_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Registrations {
    /// Anyone; the account works at once.
    #[default]
    Open,
    /// Anyone, but the account cannot be used until a moderator approves it.
    Approved,
    /// Nobody: sign-ups are refused with 403.
    Closed,
}

impl Registrations {
    pub fn enabled(self) -> bool {
        self != Self::Closed
    }

    pub fn approval_required(self) -> bool {
        self == Self::Approved
    }
}

impl std::str::FromStr for Registrations {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "open" => Ok(Self::Open),
            "approved" => Ok(Self::Approved),
            "closed" | "none" => Ok(Self::Closed),
            other => Err(format!("'{other}' is not a registrations mode (open, approved, closed)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_mastodon_style_urls() {
        let instance = Instance::new("tusk.example", true);
        assert_eq!(instance.account_url("alice"), "https://tusk.example/@alice");
        assert_eq!(instance.status_uri("alice", crate::Id(5)), "https://tusk.example/users/alice/statuses/5");
        assert_eq!(instance.streaming_url(), "wss://tusk.example");
        assert_eq!(Instance::new("localhost:3000", false).streaming_url(), "ws://localhost:3000");
        let elsewhere = instance.with_streaming_url("wss://streaming.tusk.example/");
        assert_eq!(elsewhere.streaming_url(), "wss://streaming.tusk.example");
    }

    #[test]
    fn registrations_modes() {
        assert_eq!("approved".parse(), Ok(Registrations::Approved));
        assert!("closed".parse::<Registrations>().is_ok_and(|m| !m.enabled()));
        assert!("maybe".parse::<Registrations>().is_err());
    }
}
