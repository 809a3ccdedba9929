//! Mastodon's `Link` header on timelines (its `insert_pagination_headers`): `rel="next"` asks
//! for what is older than the page's last status (`max_id`), `rel="prev"` for what is newer
//! than its first (`min_id`). Both keep the endpoint's own filters and `limit`, as Rails'
//! `params.slice(...).permit(...)` keeps them; there is no header on an empty page.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tusk_core::{Id, Instance, PageRange};
use utoipa::IntoParams;

use crate::entities::{Account, Status};
use crate::extract::lenient;
use tusk_service::{AccountPage, PageCut};

/// `max_id`, `since_id`, `min_id`, `limit`, as every Mastodon timeline takes them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Statuses older than this id.
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    max_id: Option<Id>,
    /// Statuses newer than this id, the newest first.
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    since_id: Option<Id>,
    /// Statuses newer than this id, the oldest of them first.
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    min_id: Option<Id>,
    /// Statuses per page: 20 unless asked, at most 40.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 40)]
    limit: Option<i64>,
}

impl PageParams {
    pub fn range(&self) -> PageRange {
        PageRange::new(self.max_id, self.since_id, self.min_id, self.limit)
    }

    /// The range of a list whose pages are longer than a timeline's (notifications: 40 unless
    /// asked, at most 80).
    pub fn range_with(&self, default: i64, max: i64) -> PageRange {
        let limit = self.limit.map_or(default, |n| n.clamp(1, max));
        PageRange { limit: limit as usize, ..self.range() }
    }
}

/// A page of statuses with its `Link` header.
pub struct TimelinePage {
    statuses: Vec<Status>,
    link: Option<HeaderValue>,
}

impl TimelinePage {
    /// `kept`: the query parameters that the next and previous pages repeat.
    pub fn new(instance: &Instance, uri: &Uri, kept: &[&str], statuses: Vec<Status>) -> Self {
        let cut = statuses.first().zip(statuses.last()).map(|(first, last)| (first.id, last.id));
        Self::cut_by(instance, uri, kept, statuses, cut)
    }

    /// A page cut by the ids of other rows than the statuses' (a favourite's, a bookmark's):
    /// `cut` holds the first and the last, `None` on an empty page.
    pub fn cut_by(
        instance: &Instance,
        uri: &Uri,
        kept: &[&str],
        statuses: Vec<Status>,
        cut: Option<(Id, Id)>,
    ) -> Self {
        let link = cut.and_then(|(first, last)| {
            link_header(&format!("{}{}", instance.base_url(), uri.path()), uri.query(), kept, first, last)
        });
        Self { statuses, link }
    }
}

/// About what one status of a page takes in JSON, with its author: the page's buffer is sized
/// once instead of doubling from a few bytes up to tens of kilobytes.
const STATUS_JSON_BYTES: usize = 2048;

impl IntoResponse for TimelinePage {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(STATUS_JSON_BYTES * self.statuses.len() + 2);
        let mut response = match serde_json::to_writer(&mut body, &self.statuses) {
            Ok(()) => {
                ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
            }
            Err(error) => return crate::ApiError::internal(error).into_response(),
        };
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
    // a repeated parameter keeps its last value, as Rails reads it, an array (`types[]`) all of
    // them; Rails' `to_query` sorts them
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in pairs.into_iter().filter(|(name, _)| kept.contains(&name.as_str())) {
        let values = params.entry(name.clone()).or_default();
        if !name.ends_with("[]") {
            values.clear();
        }
        values.push(value);
    }
    let mut rendered = Vec::with_capacity(links.len());
    for (rel, name, id) in links {
        let mut params = params.clone();
        params.insert((*name).to_owned(), vec![id.to_string()]);
        let flat: Vec<(&String, &String)> =
            params.iter().flat_map(|(name, values)| values.iter().map(move |value| (name, value))).collect();
        let query = serde_urlencoded::to_string(&flat).ok()?;
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

/// The query of a page of accounts (followers, following, follow requests), cut by the id of the
/// follow or request, as Mastodon pages them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountPageParams {
    /// Older than this follow or request (the `Link` header's `next`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    max_id: Option<Id>,
    /// Newer than this follow or request (the `Link` header's `prev`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    since_id: Option<Id>,
    /// Accounts per page: 40 unless asked, at most 80.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 80)]
    limit: Option<i64>,
}

/// Accounts per page: 40 unless asked, at most 80 (Mastodon's `DEFAULT_ACCOUNTS_LIMIT` and its
/// double).
const ACCOUNTS_LIMIT: i64 = 40;

impl AccountPageParams {
    pub(crate) fn cut(&self) -> PageCut {
        PageCut {
            max_id: self.max_id,
            since_id: self.since_id,
            limit: self.limit.map_or(ACCOUNTS_LIMIT, |l| l.clamp(1, 2 * ACCOUNTS_LIMIT)),
        }
    }
}

/// A page of accounts, newest first, as the response: the accounts with Mastodon's `Link`
/// header, `next` (`max_id`) when the page is full, `prev` (`since_id`) when it is not empty,
/// cut by the ids of the follows or requests.
pub(crate) fn accounts_page(instance: &Instance, uri: &Uri, page: &AccountPage, limit: i64) -> Response {
    let accounts: Vec<Account> = page.iter().map(|(_, account)| Account::new(instance, account)).collect();
    let mut links = Vec::new();
    if let Some((last, _)) = page.last()
        && i64::try_from(page.len()).is_ok_and(|n| n == limit)
    {
        links.push(("next", "max_id", *last));
    }
    if let Some((first, _)) = page.first() {
        links.push(("prev", "since_id", *first));
    }
    let url = format!("{}{}", instance.base_url(), uri.path());
    let mut response = Json(accounts).into_response();
    if let Some(link) = rel_links(&url, uri.query(), &["limit"], &links) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}
