//! Mastodon's `Link` header on timelines (its `insert_pagination_headers`): `rel="next"` asks
//! for what is older than the page's last status (`max_id`), `rel="prev"` for what is newer
//! than its first (`min_id`). Both keep the endpoint's own filters and `limit`, as Rails'
//! `params.slice(...).permit(...)` keeps them; there is no header on an empty page.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use tusk_core::{Id, Instance};

use crate::entities::Status;

/// A page of statuses with its `Link` header.
pub struct TimelinePage {
    statuses: Vec<Status>,
    link: Option<HeaderValue>,
}

impl TimelinePage {
    /// `kept`: the query parameters that the next and previous pages repeat.
    pub fn new(instance: &Instance, uri: &Uri, kept: &[&str], statuses: Vec<Status>) -> Self {
        let link = match (statuses.first(), statuses.last()) {
            (Some(first), Some(last)) => link_header(
                &format!("{}{}", instance.base_url(), uri.path()),
                uri.query(),
                kept,
                first.id,
                last.id,
            ),
            _ => None,
        };
        Self { statuses, link }
    }
}

impl IntoResponse for TimelinePage {
    fn into_response(self) -> Response {
        let mut response = Json(self.statuses).into_response();
        if let Some(link) = self.link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

fn link_header(url: &str, query: Option<&str>, kept: &[&str], first: Id, last: Id) -> Option<HeaderValue> {
    rel_links(url, query, kept, &[("next", "max_id", last), ("prev", "min_id", first)])
}

/// `Link: <url?…&param=id>; rel="…", …`, one link per `(rel, param, id)`, repeating the `kept`
/// query parameters (Rails' `set_pagination_headers`). `None` without links.
pub(crate) fn rel_links(
    url: &str,
    query: Option<&str>,
    kept: &[&str],
    links: &[(&str, &str, Id)],
) -> Option<HeaderValue> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
    // a repeated parameter keeps its last value, as Rails reads it; Rails' `to_query` sorts them
    let params: BTreeMap<String, String> =
        pairs.into_iter().filter(|(name, _)| kept.contains(&name.as_str())).collect();
    let mut rendered = Vec::with_capacity(links.len());
    for (rel, name, id) in links {
        let mut params = params.clone();
        params.insert((*name).to_owned(), id.to_string());
        let query = serde_urlencoded::to_string(&params).ok()?;
        rendered.push(format!("<{url}?{query}>; rel=\"{rel}\""));
    }
    if rendered.is_empty() { None } else { HeaderValue::from_str(&rendered.join(", ")).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_pages_link_by_follow_id() {
        let url = "https://example.org/api/v1/accounts/1/followers";
        let prev_only = rel_links(url, Some("limit=2&max_id=9"), &["limit"], &[("prev", "since_id", Id(5))]);
        assert_eq!(
            prev_only.unwrap().to_str().unwrap(),
            "<https://example.org/api/v1/accounts/1/followers?limit=2&since_id=5>; rel=\"prev\""
        );
        assert!(rel_links(url, None, &["limit"], &[]).is_none());
    }

    #[test]
    fn links_keep_the_permitted_parameters_sorted() {
        let link = link_header(
            "https://example.org/api/v1/timelines/public",
            Some("max_id=9&local=true&limit=2&evil=%3E&limit=3"),
            &["local", "limit"],
            Id(8),
            Id(7),
        )
        .unwrap();
        assert_eq!(
            link.to_str().unwrap(),
            "<https://example.org/api/v1/timelines/public?limit=3&local=true&max_id=7>; rel=\"next\", \
             <https://example.org/api/v1/timelines/public?limit=3&local=true&min_id=8>; rel=\"prev\""
        );
    }
}
