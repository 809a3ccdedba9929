//! The instance's public identity: its domain and the URLs built from it.

#[derive(Clone, Debug)]
pub struct Instance {
    /// `TUSK_DOMAIN`, e.g. `tusk.example` or `localhost:3000`.
    pub domain: String,
    /// Whether public URLs use `https` (`TUSK_HTTPS`).
    pub https: bool,
}

impl Instance {
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.domain)
    }

    pub fn account_url(&self, username: &str) -> String {
        format!("{}/@{username}", self.base_url())
    }

    pub fn account_uri(&self, username: &str) -> String {
        format!("{}/users/{username}", self.base_url())
    }

    pub fn status_url(&self, username: &str, id: crate::Id) -> String {
        format!("{}/@{username}/{id}", self.base_url())
    }

    pub fn status_uri(&self, username: &str, id: crate::Id) -> String {
        format!("{}/users/{username}/statuses/{id}", self.base_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_mastodon_style_urls() {
        let instance = Instance { domain: "tusk.example".into(), https: true };
        assert_eq!(instance.account_url("alice"), "https://tusk.example/@alice");
        assert_eq!(instance.status_uri("alice", crate::Id(5)), "https://tusk.example/users/alice/statuses/5");
    }
}
