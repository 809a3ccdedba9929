//! Notifications and markers. The workers write notifications (one statement each, checked
//! against the recipient's blocks and mutes); triggers keep `notification_groups`, the summary
//! the grouped page reads, in step with them (see the migration). A muted or blocked sender's
//! notifications stay stored and are left out of every read, as Mastodon hides them.

use chrono::{DateTime, Utc};
use tusk_core::{Id, NotificationType, PageRange};

use crate::paging::{keyset, newest_first, order};
use crate::{Result, Store, StoreError};

/// A group spans at most this many hours from its first notification (Mastodon's
/// `MAXIMUM_GROUP_SPAN_HOURS`).
const MAXIMUM_GROUP_SPAN_HOURS: i64 = 12;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Id,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub from_account_id: Id,
    pub status_id: Option<Id>,
    pub group_key: String,
    pub created_at: DateTime<Utc>,
}

/// One group of notifications as `notification_groups` sums it up.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationGroupRow {
    pub group_key: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status_id: Option<Id>,
    pub notifications_count: i64,
    pub latest_notification_id: Id,
    pub latest_at: DateTime<Utc>,
    /// The latest senders, newest first (at most 8).
    pub sample_account_ids: Vec<Id>,
}

/// Which notifications a read keeps: Mastodon's `types[]`, `exclude_types[]` and `account_id`.
#[derive(Clone, Debug, Default)]
pub struct NotificationFilter {
    /// Only these types, when given.
    pub types: Option<Vec<String>>,
    pub exclude_types: Vec<String>,
    /// Only those sent by this account.
    pub from_account: Option<Id>,
}

/// A notification [`Store::notify`] wrote, with its recipient.
#[derive(sqlx::FromRow)]
struct Written {
    recipient: Id,
    #[sqlx(flatten)]
    row: NotificationRow,
}

/// A notification to write: `from` did something (`kind`) that concerns `recipient`.
#[derive(Clone, Copy, Debug)]
pub struct NewNotification {
    pub recipient: Id,
    pub kind: NotificationType,
    pub from: Id,
    pub status: Option<Id>,
}

/// A marker: where an account stopped reading a timeline.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MarkerRow {
    pub timeline: String,
    pub last_read_id: Id,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

/// The types grouped unless a reader names others (Mastodon's `grouped_types` default).
fn groupable() -> Vec<String> {
    NotificationType::GROUPABLE.iter().map(|t| t.as_str().to_owned()).collect()
}

/// The part of a notifications query's `WHERE` that applies the filter (`$2` types, `$3`
/// excluded types, `$4` sender) and hides what the recipient (`$1`) blocks or mutes.
const FILTERED: &str = "($2::text[] IS NULL OR n.type = ANY($2)) AND NOT (n.type = ANY($3)) \
     AND ($4::bigint IS NULL OR n.from_account_id = $4) \
     AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 AND m.target_account_id = n.from_account_id) \
     AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = $1 AND b.target_account_id = n.from_account_id)";

const NOTIFICATION_COLUMNS: &str = "n.id, n.type, n.from_account_id, n.status_id, n.group_key, n.created_at";

/// Binds a filter as `$2`..`$4` of a [`FILTERED`] query.
macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {
        $query.bind($filter.types.as_deref()).bind(&$filter.exclude_types).bind($filter.from_account)
    };
}

impl Store {
    /// Writes notifications, in one statement, but those whose recipient is the sender or
    /// blocks or mutes it, those of a favourite taken back before its notification was written,
    /// or that exist (a favourite given again, an event delivered twice);
    /// returns those written, each with its recipient. A groupable one joins the recipient's
    /// latest group of the same type and status if that group began less than 12 hours ago,
    /// else it begins one (`{type}-{status}-{hour}`, shared by those of the batch).
    #[tracing::instrument(name = "pg notify", skip_all, fields(otel.kind = "client", db.system = "postgresql", count = new.len()))]
    pub async fn notify(&self, new: &[NewNotification]) -> Result<Vec<(Id, NotificationRow)>> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let column = |f: fn(&NewNotification) -> Id| new.iter().map(f).collect::<Vec<Id>>();
        let kinds: Vec<&str> = new.iter().map(|n| n.kind.as_str()).collect();
        let statuses: Vec<Option<Id>> = new.iter().map(|n| n.status).collect();
        let groupable: Vec<bool> = new.iter().map(|n| n.kind.groupable()).collect();
        // `favourite-{status}`, `reblog-{status}`, `follow`, then `-{hour}` (Mastodon's keys)
        let prefixes: Vec<String> = new
            .iter()
            .map(|n| match n.status {
                Some(status) => format!("{}-{status}", n.kind.as_str()),
                None => n.kind.as_str().to_owned(),
            })
            .collect();
        let rows: Vec<Written> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH hour AS (SELECT floor(extract(epoch FROM now()) / 3600)::bigint AS now), \
             due AS ( \
               SELECT tusk_snowflake() AS id, t.* \
               FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[], $6::text[]) \
                    WITH ORDINALITY AS t(recipient, type, sender, status, groupable, prefix, n) \
               WHERE t.recipient <> t.sender \
                 AND NOT EXISTS (SELECT 1 FROM blocks WHERE account_id = t.recipient AND target_account_id = t.sender) \
                 AND NOT EXISTS (SELECT 1 FROM mutes WHERE account_id = t.recipient AND target_account_id = t.sender) \
                 AND (t.type <> 'favourite' OR EXISTS \
                      (SELECT 1 FROM favourites f WHERE f.status_id = t.status AND f.account_id = t.sender))) \
             INSERT INTO notifications AS n (id, account_id, type, from_account_id, status_id, group_key) \
             SELECT due.id, due.recipient, due.type, due.sender, due.status, \
                    CASE WHEN due.groupable THEN due.prefix || '-' || coalesce( \
                           (SELECT max(b) FROM generate_series(hour.now - $7 + 1, hour.now) b \
                            WHERE EXISTS (SELECT 1 FROM notification_groups g \
                                          WHERE g.account_id = due.recipient AND g.group_key = due.prefix || '-' || b)), \
                           hour.now) \
                         ELSE 'ungrouped-' || due.id END \
             FROM due, hour ORDER BY due.n \
             ON CONFLICT DO NOTHING RETURNING n.account_id AS recipient, {NOTIFICATION_COLUMNS}"
        )))
        .bind(column(|n| n.recipient))
        .bind(&kinds)
        .bind(column(|n| n.from))
        .bind(&statuses)
        .bind(&groupable)
        .bind(&prefixes)
        .bind(MAXIMUM_GROUP_SPAN_HOURS)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|w| (w.recipient, w.row)).collect())
    }

    /// One page of `account`'s notifications, newest first.
    #[tracing::instrument(name = "pg notification_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn notification_page(
        &self,
        account: Id,
        filter: &NotificationFilter,
        range: &PageRange,
    ) -> Result<Vec<NotificationRow>> {
        let query = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.account_id = $1 AND {FILTERED} {}",
            keyset("n.id", 5, range)
        );
        let rows = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(query)).bind(account), filter)
            .bind(range.max_id)
            .bind(range.lower())
            .fetch_all(&self.pool)
            .await?;
        Ok(newest_first(rows, range))
    }

    /// One of `account`'s notifications; `NotFound` when it has no such one (or hides it).
    #[tracing::instrument(name = "pg notification", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn notification(&self, account: Id, id: Id) -> Result<NotificationRow> {
        let query = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.account_id = $1 AND {FILTERED} AND n.id = $5"
        );
        bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(query)).bind(account), NotificationFilter::default())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Deletes one of `account`'s notifications; `NotFound` when it has no such one.
    #[tracing::instrument(name = "pg dismiss_notification", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn dismiss_notification(&self, account: Id, id: Id) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM notifications WHERE account_id = $1 AND id = $2")
            .bind(account)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Deletes every notification of one of `account`'s groups; `NotFound` when it has none.
    #[tracing::instrument(name = "pg dismiss_notification_group", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn dismiss_notification_group(&self, account: Id, group_key: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM notifications WHERE account_id = $1 AND group_key = $2")
            .bind(account)
            .bind(group_key)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Deletes all of `account`'s notifications (their groups first, so that the regrouping
    /// trigger finds nothing left to sum).
    #[tracing::instrument(name = "pg clear_notifications", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn clear_notifications(&self, account: Id) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM notification_groups WHERE account_id = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM notifications WHERE account_id = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many of `account`'s notifications are newer than its notifications marker, counted
    /// up to `limit`.
    #[tracing::instrument(name = "pg unread_notifications", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unread_notifications(
        &self,
        account: Id,
        filter: &NotificationFilter,
        limit: i64,
    ) -> Result<i64> {
        let query = format!(
            "SELECT count(*) FROM (SELECT 1 FROM notifications n WHERE n.account_id = $1 AND {FILTERED} \
               AND n.id > coalesce((SELECT last_read_id FROM markers \
                                    WHERE account_id = $1 AND timeline = 'notifications'), 0) \
             LIMIT $5) unread"
        );
        Ok(bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(query)).bind(account), filter)
            .bind(limit)
            .fetch_one(&self.pool)
            .await?)
    }

    /// One page of `account`'s notification groups, the group with the newest notification
    /// first; a page is cut by each group's latest notification. `grouped` names the types
    /// whose groups are read as groups (the groupable ones unless given); notifications of the other groupable types come one by
    /// one (in groups of one, `ungrouped-{id}`), as Mastodon's `grouped_types` asks.
    #[tracing::instrument(name = "pg notification_group_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn notification_group_page(
        &self,
        account: Id,
        filter: &NotificationFilter,
        grouped: Option<&[String]>,
        range: &PageRange,
    ) -> Result<Vec<NotificationGroupRow>> {
        // groups whose type is grouped (or never groupable), and single notifications of the
        // groupable types that are not grouped; a group is hidden when all its senders are
        let query = format!(
            "WITH hidden AS (SELECT target_account_id AS id FROM mutes WHERE account_id = $1 \
                             UNION SELECT target_account_id FROM blocks WHERE account_id = $1), \
             grouped AS ( \
               SELECT g.group_key, g.type, g.status_id, g.notifications_count, g.latest_notification_id, \
                      g.latest_at, ARRAY(SELECT s FROM unnest(g.sample_account_ids) s WHERE s NOT IN (SELECT id FROM hidden)) AS sample_account_ids \
               FROM notification_groups g \
               WHERE g.account_id = $1 AND ($2::text[] IS NULL OR g.type = ANY($2)) AND NOT (g.type = ANY($3)) \
                 AND (g.type = ANY($5) OR NOT (g.type = ANY($8))) \
                 AND ($4::bigint IS NULL OR $4 = ANY(g.sample_account_ids)) {by_group}), \
             single AS ( \
               SELECT 'ungrouped-' || n.id AS group_key, n.type, n.status_id, 1::bigint AS notifications_count, \
                      n.id AS latest_notification_id, n.created_at AS latest_at, ARRAY[n.from_account_id] AS sample_account_ids \
               FROM notifications n \
               WHERE $9 AND n.account_id = $1 AND {FILTERED} AND n.type = ANY($8) AND NOT (n.type = ANY($5)) {by_id}) \
             SELECT * FROM (SELECT * FROM grouped WHERE cardinality(sample_account_ids) > 0 UNION ALL SELECT * FROM single) page \
             ORDER BY latest_notification_id {order} LIMIT {limit}",
            by_group = keyset("g.latest_notification_id", 6, range),
            by_id = keyset("n.id", 6, range),
            order = order(range),
            limit = range.limit,
        );
        let default = groupable();
        let grouped = grouped.unwrap_or(&default);
        // with every groupable type grouped there are no single ones: `$9` false gates that
        // scan off (it would read every notification of the account to find none)
        let singles = default.iter().any(|kind| !grouped.contains(kind));
        let rows = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(query)).bind(account), filter)
            .bind(grouped)
            .bind(range.max_id)
            .bind(range.lower())
            .bind(&default)
            .bind(singles)
            .fetch_all(&self.pool)
            .await?;
        Ok(newest_first(rows, range))
    }

    /// For each of `account`'s groups named, its oldest notification (at or above `floor`).
    #[tracing::instrument(name = "pg group_page_min_ids", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn group_page_min_ids(
        &self,
        account: Id,
        group_keys: &[&str],
        floor: Option<Id>,
    ) -> Result<std::collections::HashMap<String, Id>> {
        let rows: Vec<(String, Option<Id>)> = sqlx::query_as(
            // `n.id >= $3` as is, never `($3 IS NULL OR …)`: a bound the index range starts
            // from, so each group's minimum is one index probe, not a walk up its notifications
            // from the oldest (20 ms for a page of groups 1,800 notifications deep)
            "SELECT k, (SELECT min(n.id) FROM notifications n \
                        WHERE n.account_id = $1 AND n.group_key = k AND n.id >= $3) \
             FROM unnest($2::text[]) k",
        )
        .bind(account)
        .bind(group_keys)
        .bind(floor.unwrap_or(Id(0)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(|(key, min)| Some((key, min?))).collect())
    }

    /// One of `account`'s groups; `NotFound` when it has none by that key.
    #[tracing::instrument(name = "pg notification_group", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn notification_group(&self, account: Id, group_key: &str) -> Result<NotificationGroupRow> {
        sqlx::query_as(
            "SELECT group_key, type, status_id, notifications_count, latest_notification_id, latest_at, sample_account_ids \
             FROM notification_groups WHERE account_id = $1 AND group_key = $2",
        )
        .bind(account)
        .bind(group_key)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// How many of `account`'s groups have a notification newer than its notifications marker,
    /// counted up to `limit` (`grouped` as in the page: notifications of the groupable types
    /// left out of it count one by one).
    #[tracing::instrument(name = "pg unread_notification_groups", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unread_notification_groups(
        &self,
        account: Id,
        filter: &NotificationFilter,
        grouped: Option<&[String]>,
        limit: i64,
    ) -> Result<i64> {
        let query = format!(
            "WITH marker AS (SELECT coalesce((SELECT last_read_id FROM markers \
                                              WHERE account_id = $1 AND timeline = 'notifications'), 0) AS id) \
             SELECT count(*) FROM (SELECT DISTINCT CASE WHEN n.type = ANY($5) OR NOT (n.type = ANY($7)) \
                                                     THEN n.group_key ELSE n.id::text END \
                                   FROM notifications n, marker \
                                   WHERE n.account_id = $1 AND {FILTERED} AND n.id > marker.id LIMIT $6) unread"
        );
        let default = groupable();
        Ok(bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(query)).bind(account), filter)
            .bind(grouped.unwrap_or(&default))
            .bind(limit)
            .bind(groupable())
            .fetch_one(&self.pool)
            .await?)
    }

    /// `account`'s markers of the `timelines` asked.
    #[tracing::instrument(name = "pg markers", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn markers(&self, account: Id, timelines: &[&str]) -> Result<Vec<MarkerRow>> {
        Ok(sqlx::query_as(
            "SELECT timeline, last_read_id, version, updated_at FROM markers \
             WHERE account_id = $1 AND timeline = ANY($2) ORDER BY timeline",
        )
        .bind(account)
        .bind(timelines)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves `account`'s markers in one transaction: a new marker is at version 1, each change
    /// bumps it (Rails' optimistic locking, as Mastodon counts), an unchanged one stays.
    #[tracing::instrument(name = "pg save_markers", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn save_markers(&self, account: Id, markers: &[(&str, Id)]) -> Result<Vec<MarkerRow>> {
        let mut tx = self.pool.begin().await?;
        let mut saved = Vec::with_capacity(markers.len());
        for (timeline, last_read_id) in markers {
            let changed: Option<MarkerRow> = sqlx::query_as(
                "INSERT INTO markers AS m (account_id, timeline, last_read_id, version) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (account_id, timeline) DO UPDATE \
                   SET last_read_id = EXCLUDED.last_read_id, version = m.version + 1, updated_at = now() \
                   WHERE m.last_read_id <> EXCLUDED.last_read_id \
                 RETURNING timeline, last_read_id, version, updated_at",
            )
            .bind(account)
            .bind(*timeline)
            .bind(*last_read_id)
            .fetch_optional(&mut *tx)
            .await?;
            let marker = match changed {
                Some(marker) => marker,
                None => {
                    sqlx::query_as(
                        "SELECT timeline, last_read_id, version, updated_at FROM markers \
                     WHERE account_id = $1 AND timeline = $2",
                    )
                    .bind(account)
                    .bind(*timeline)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            saved.push(marker);
        }
        tx.commit().await?;
        Ok(saved)
    }
}
