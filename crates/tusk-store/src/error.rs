use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique constraint refused the write; carries the constraint's name.
    #[error("unique constraint {0} violated")]
    Conflict(String),
    /// The database could not be reached in time (pool timeout, connection refused or lost).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(error)
            }
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                Self::Conflict(db.constraint().unwrap_or_default().to_owned())
            }
            // 57P01 admin_shutdown, 57P03 cannot_connect_now: the server is going away or starting
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P")) => {
                Self::Unavailable(error)
            }
            _ => Self::Other(error),
        }
    }
}
