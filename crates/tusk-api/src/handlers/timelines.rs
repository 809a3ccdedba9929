use axum::extract::{OriginalUri, State};
use serde::Deserialize;
use tusk_core::{Id, PageRange};

use crate::extract::{Auth, PathId, QueryParams, lenient};
use crate::pagination::TimelinePage;
use crate::timeline::AccountStatusesQuery;
use crate::{ApiError, AppState};

/// `max_id`, `since_id`, `min_id`, `limit`, as every Mastodon timeline takes them.
#[derive(Deserialize)]
pub struct PageParams {
    #[serde(default, deserialize_with = "lenient::id_opt")]
    max_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    since_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    min_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::int_opt")]
    limit: Option<i64>,
}

impl PageParams {
    pub fn range(&self) -> PageRange {
        PageRange::new(self.max_id, self.since_id, self.min_id, self.limit)
    }
}

/// `GET /api/v1/timelines/home`.
pub async fn home(
    State(state): State<AppState>,
    auth: Auth,
    OriginalUri(uri): OriginalUri,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<TimelinePage, ApiError> {
    let account = auth.user("read:statuses")?;
    let statuses = state.home_timeline(account, &page.range()).await?;
    Ok(TimelinePage::new(&state.instance, &uri, &["local", "limit"], statuses))
}

#[derive(Deserialize)]
pub struct PublicParams {
    #[serde(flatten)]
    page: PageParams,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    remote: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    only_media: Option<bool>,
}

/// `GET /api/v1/timelines/public`: every status here is local, so `local` changes nothing,
/// `remote` leaves nothing, and with no media `only_media` leaves nothing either.
pub async fn public(
    State(state): State<AppState>,
    auth: Auth,
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<PublicParams>,
) -> Result<TimelinePage, ApiError> {
    let statuses = if params.remote.unwrap_or(false) || params.only_media.unwrap_or(false) {
        Vec::new()
    } else {
        state.public_timeline(auth.viewer(), &params.page.range()).await?
    };
    Ok(TimelinePage::new(&state.instance, &uri, &["local", "remote", "limit", "only_media"], statuses))
}

#[derive(Deserialize)]
pub struct AccountStatusesParams {
    #[serde(flatten)]
    page: PageParams,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    exclude_replies: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    exclude_reblogs: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    pinned: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    only_media: Option<bool>,
    #[serde(default)]
    tagged: Option<String>,
}

/// `GET /api/v1/accounts/:id/statuses`: what the viewer may see of the account's statuses.
/// Tusk has no pins, media or hashtags yet: `pinned`, `only_media` and `tagged` leave nothing.
pub async fn account_statuses(
    State(state): State<AppState>,
    auth: Auth,
    PathId(account): PathId,
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<AccountStatusesParams>,
) -> Result<TimelinePage, ApiError> {
    let query = AccountStatusesQuery {
        exclude_replies: params.exclude_replies.unwrap_or(false),
        exclude_reblogs: params.exclude_reblogs.unwrap_or(false),
        nothing: params.pinned.unwrap_or(false)
            || params.only_media.unwrap_or(false)
            || params.tagged.is_some_and(|t| !t.is_empty()),
    };
    let statuses = state.account_statuses(auth.viewer(), account, &query, &params.page.range()).await?;
    let kept = ["limit", "only_media", "exclude_replies", "exclude_reblogs", "pinned", "tagged"];
    Ok(TimelinePage::new(&state.instance, &uri, &kept, statuses))
}
