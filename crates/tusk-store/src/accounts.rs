use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tusk_core::{DisplayName, Email, Id, Locale, Note, Username, Visibility};

use crate::{Result, Store, StoreError, TokenRow};

/// An account with its counts, as the api renders it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub note: String,
    pub locked: bool,
    pub bot: bool,
    pub created_at: DateTime<Utc>,
    pub last_status_at: Option<DateTime<Utc>>,
    pub followers_count: i64,
    pub following_count: i64,
    pub statuses_count: i64,
    /// The keys of the processed avatar and header in media storage (the static ones differ
    /// when the picture is animated); `None` shows the default picture. Absent from entries
    /// cached before the columns existed: those show the default until they expire.
    #[serde(default)]
    pub avatar_key: Option<String>,
    #[serde(default)]
    pub avatar_static_key: Option<String>,
    #[serde(default)]
    pub header_key: Option<String>,
    #[serde(default)]
    pub header_static_key: Option<String>,
}

/// Counts are computed from the indexes instead of kept in counter columns: a sign-up surge makes
/// thousands of new users follow the same few accounts, and a counter row would serialize them.
/// The api caches the result in Redis.
const SELECT_ACCOUNTS: &str = "\
    SELECT a.id, a.username, a.display_name, a.note, a.locked, a.bot, a.created_at, a.last_status_at, \
      (SELECT count(*) FROM follows f WHERE f.target_account_id = a.id) AS followers_count, \
      (SELECT count(*) FROM follows f WHERE f.account_id = a.id) AS following_count, \
      (SELECT count(*) FROM statuses s WHERE s.account_id = a.id) AS statuses_count, \
      a.avatar_key, a.avatar_static_key, a.header_key, a.header_static_key \
    FROM accounts a WHERE a.id = ANY($1)";

/// A sign-up, validated; the password is already hashed.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a Username,
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub locale: Option<&'a str>,
    /// The app the user signed up through, and the first token's scopes and hash.
    pub application_id: Id,
    pub scopes: &'a str,
    pub token_hash: &'a [u8],
    /// False when registrations need approval: the user's tokens are refused until approved.
    pub approved: bool,
}

/// A change to one's own profile; `None` leaves the field as it is.
#[derive(Debug, Default)]
pub struct ProfileUpdate<'a> {
    pub display_name: Option<&'a DisplayName>,
    pub note: Option<&'a Note>,
    pub locked: Option<bool>,
    /// Never `Direct` (the column refuses it; the edge answers 422 first).
    pub default_privacy: Option<Visibility>,
    pub default_sensitive: Option<bool>,
    pub default_language: Option<&'a Locale>,
}

/// A local user's settings: its interface language and the defaults of its posts (Mastodon's
/// `source` and `/api/v1/preferences`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSettings {
    pub locale: Option<String>,
    pub default_privacy: Visibility,
    pub default_sensitive: bool,
    pub default_language: Option<String>,
}

/// Which unique fields of a sign-up are already taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignupConflicts {
    pub username_taken: bool,
    pub email_taken: bool,
}

/// What the password grant needs to check a sign-in.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Credentials {
    pub account_id: Id,
    pub password_hash: String,
}

/// The server's counts, as `/api/v1/instance` and `/api/v2/instance` show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceStats {
    /// Approved users.
    pub users: i64,
    /// Statuses, reblogs left out (Mastodon counts posts).
    pub statuses: i64,
    /// Approved users active in the last 30 days.
    pub active_month: i64,
}

impl Store {
    /// The server's counts: three index-only or sequential counts, so callers cache them
    /// (the api keeps them a minute per replica).
    #[tracing::instrument(name = "pg instance_stats", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn instance_stats(&self) -> Result<InstanceStats> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM users WHERE approved) AS users, \
                    (SELECT count(*) FROM statuses WHERE reblog_of_id IS NULL) AS statuses, \
                    (SELECT count(*) FROM users WHERE approved AND last_active_at > now() - interval '30 days') \
                      AS active_month",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(name = "pg accounts", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn accounts(&self, ids: &[Id]) -> Result<Vec<AccountRow>> {
        Ok(sqlx::query_as(SELECT_ACCOUNTS).bind(ids).fetch_all(&self.pool).await?)
    }

    #[tracing::instrument(name = "pg account", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn account(&self, id: Id) -> Result<AccountRow> {
        self.accounts(&[id]).await?.pop().ok_or(StoreError::NotFound)
    }

    #[tracing::instrument(name = "pg signup_conflicts", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn signup_conflicts(&self, username: &Username, email: &Email) -> Result<SignupConflicts> {
        let (username_taken, email_taken): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE lower(username) = lower($1)), \
                    EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2))",
        )
        .bind(username.as_str())
        .bind(email.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(SignupConflicts { username_taken, email_taken })
    }

    /// Creates the account, its user and its first access token in one transaction. A username or
    /// email taken by a concurrent sign-up fails with `Conflict` and writes nothing.
    #[tracing::instrument(name = "pg create_user", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_user(&self, new: &NewUser<'_>) -> Result<(Id, TokenRow)> {
        let mut tx = self.pool.begin().await?;
        let account_id: Id = sqlx::query_scalar("INSERT INTO accounts (username) VALUES ($1) RETURNING id")
            .bind(new.username.as_str())
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO users (account_id, email, password_hash, locale, approved) VALUES ($1, $2, $3, $4, $5)",
        )
            .bind(account_id)
            .bind(new.email.as_str())
            .bind(new.password_hash)
            .bind(new.locale)
            .bind(new.approved)
            .execute(&mut *tx)
            .await?;
        let token =
            crate::tokens::insert(&mut tx, new.application_id, Some(account_id), new.scopes, new.token_hash)
                .await?;
        tx.commit().await?;
        Ok((account_id, token))
    }

    /// Looks a user up by email, or by username when `login` has no `@`.
    #[tracing::instrument(name = "pg credentials", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
        let query = if login.contains('@') {
            "SELECT account_id, password_hash FROM users WHERE lower(email) = lower($1)"
        } else {
            "SELECT u.account_id, u.password_hash FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE lower(a.username) = lower($1)"
        };
        Ok(sqlx::query_as(query).bind(login).fetch_optional(&self.pool).await?)
    }

    /// A local account's settings, for `verify_credentials`, `/api/v1/preferences` and the
    /// defaults of its posts; the defaults' defaults for an account without a user.
    #[tracing::instrument(name = "pg user_settings", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn user_settings(&self, account_id: Id) -> Result<UserSettings> {
        let row: Option<(Option<String>, String, bool, Option<String>)> = sqlx::query_as(
            "SELECT locale, default_privacy, default_sensitive, default_language FROM users WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(UserSettings::default, |(locale, privacy, sensitive, language)| UserSettings {
            locale,
            // the column's CHECK keeps it one of the three
            default_privacy: Visibility::parse(&privacy).unwrap_or_default(),
            default_sensitive: sensitive,
            default_language: language,
        }))
    }

    /// Marks the user active now, at most once an hour (a read is not a write every time).
    #[tracing::instrument(name = "pg touch_active", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn touch_active(&self, account_id: Id) -> Result<()> {
        sqlx::query(
            "UPDATE users SET last_active_at = now() \
             WHERE account_id = $1 AND last_active_at < now() - interval '1 hour'",
        )
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
    /// The local account named `username` (case-insensitively), as `lookup` finds it.
    #[tracing::instrument(name = "pg account_id_by_username", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn account_id_by_username(&self, username: &str) -> Result<Option<Id>> {
        Ok(sqlx::query_scalar("SELECT id FROM accounts WHERE lower(username) = lower($1)")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Changes the given profile fields and posting defaults of `account_id`, in one
    /// transaction.
    #[tracing::instrument(name = "pg update_profile", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn update_profile(&self, account_id: Id, update: &ProfileUpdate<'_>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE accounts SET display_name = coalesce($2, display_name), note = coalesce($3, note), \
                                 locked = coalesce($4, locked) \
             WHERE id = $1",
        )
        .bind(account_id)
        .bind(update.display_name.map(DisplayName::as_str))
        .bind(update.note.map(Note::as_str))
        .bind(update.locked)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE users SET default_privacy = coalesce($2, default_privacy), \
                              default_sensitive = coalesce($3, default_sensitive), \
                              default_language = coalesce($4, default_language) \
             WHERE account_id = $1 AND ($2::text IS NOT NULL OR $3::boolean IS NOT NULL OR $4::text IS NOT NULL)",
        )
        .bind(account_id)
        .bind(update.default_privacy.map(Visibility::as_str))
        .bind(update.default_sensitive)
        .bind(update.default_language.map(Locale::as_str))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
