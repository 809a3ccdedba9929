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
            // the server is going away or not there yet: 57P01 admin_shutdown (a restart ends the
            // sessions), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up); 08xxx the
            // connection failed; 53300 too_many_connections
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "53300") =>
            {
                Self::Unavailable(error)
            }
            _ => Self::Other(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_or_refused_connections_and_pool_timeouts_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for error in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, refused.into(), reset.into()] {
            assert!(matches!(StoreError::from(error), StoreError::Unavailable(_)));
        }
        assert!(matches!(StoreError::from(sqlx::Error::RowNotFound), StoreError::NotFound));
        assert!(matches!(StoreError::from(sqlx::Error::Protocol("bad".into())), StoreError::Other(_)));
    }
}
