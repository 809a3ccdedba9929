use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tusk_core::{Id, PageRange};

use crate::entities::Status;
use crate::extract::{Auth, QueryParams, lenient};
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
    QueryParams(page): QueryParams<PageParams>,
) -> Result<Json<Vec<Status>>, ApiError> {
    let account = auth.user("read:statuses")?;
    Ok(Json(state.home_timeline(account, &page.range()).await?))
}
