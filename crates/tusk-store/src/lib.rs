//! PostgreSQL, Tusk's source of truth: the pool, the migrations and every query.
//! A change and the outbox event announcing it are always written in one transaction.

mod accounts;
mod approvals;
mod apps;
mod error;
mod follow_requests;
mod follows;
mod grants;
mod kept;
mod media;
mod notifications;
mod outbox;
mod paging;
mod search;
mod statuses;
mod tokens;

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::migrate::MigrateDatabase as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use accounts::{
    AccountRow, Credentials, InstanceStats, NewUser, ProfileUpdate, SignupConflicts, UserSettings,
};
pub use approvals::PendingUser;
pub use apps::{AppRow, NewApp};
pub use error::StoreError;
pub use follows::{AccountList, Relationship};
pub use grants::{GrantRow, NewGrant};
pub use kept::{PIN_LIMIT, StatusList};
pub use media::{MediaKeys, MediaRow, NewMedia, PendingMedia, ProcessedMedia};
pub use notifications::{
    MarkerRow, NewNotification, NotificationFilter, NotificationGroupRow, NotificationRow,
};
pub use outbox::OutboxEntry;
pub use statuses::{
    AccountStatusesFilter, CreatedStatus, MentionRow, NewStatus, PageStats, RecentInteractions, StatusCounts,
    StatusRow, StatusStats,
};
pub use tokens::TokenRow;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// Connections handed out by the pool: one per statement run on the pool, one per
    /// transaction. Tests count a request's PostgreSQL work with it.
    checkouts: Arc<AtomicU64>,
}

impl Store {
    /// Builds the pool without connecting: the process starts while PostgreSQL is down, and
    /// `/readyz` tells when it is reachable. Every acquire waits at most 5 s and every statement
    /// runs at most 10 s, so a stalled database turns into errors, not hung requests.
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", "10s")]);
        let checkouts = Arc::new(AtomicU64::new(0));
        // both hooks run inside `acquire`, before the connection is handed out: a new
        // connection passes `after_connect`, an idle one `before_acquire`
        let (fresh, idle) = (checkouts.clone(), checkouts.clone());
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |_, _| {
                fresh.fetch_add(1, Ordering::Relaxed);
                Box::pin(async { Ok(()) })
            })
            .before_acquire(move |_, _| {
                idle.fetch_add(1, Ordering::Relaxed);
                Box::pin(async { Ok(true) })
            })
            .connect_lazy_with(options);
        Ok(Self { pool, checkouts })
    }

    /// How many connections the pool has handed out so far (see `checkouts`): the readiness
    /// ping aside, every statement and every transaction counts one.
    pub fn checkouts(&self) -> u64 {
        self.checkouts.load(Ordering::Relaxed)
    }

    /// Creates the database named in `url` if it does not exist yet.
    pub async fn create_database_if_missing(url: &str) -> Result<()> {
        if !sqlx::Postgres::database_exists(url).await? {
            sqlx::Postgres::create_database(url).await?;
        }
        Ok(())
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// A round trip, for readiness.
    /// Not counted in [`Store::checkouts`]: it runs every few seconds on its own.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.checkouts.fetch_sub(1, Ordering::Relaxed);
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
