use sqlx::{Postgres, Transaction};
use tusk_core::Event;

use crate::{Result, Store};

/// An event written with the change it announces, waiting to be published.
#[derive(Clone, Debug)]
pub struct OutboxEntry {
    pub id: i64,
    pub event: Event,
}

/// Adds `event` to the outbox inside the caller's transaction.
pub(crate) async fn enqueue(tx: &mut Transaction<'_, Postgres>, event: Event) -> Result<OutboxEntry> {
    let payload =
        serde_json::to_value(&event).map_err(|e| crate::StoreError::Other(sqlx::Error::Decode(e.into())))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (routing_key, payload, deferred) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(event.routing_key())
    .bind(payload)
    .bind(event.deferred())
    .fetch_one(&mut **tx)
    .await?;
    Ok(OutboxEntry { id, event })
}

impl Store {
    /// The broker confirmed the event: it has no further use here.
    #[tracing::instrument(name = "pg outbox_done", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn outbox_done(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// How many events wait to be published.
    pub async fn outbox_pending(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&self.pool).await?)
    }

    /// Publishes, through `publish`, up to `limit` events, oldest first: the deferred ones
    /// and those older than `min_age_secs` (younger ones are still in the hands of the api that
    /// wrote them); deletes them once `publish` succeeded (it is given them all at once, and
    /// may coalesce them). Rows are locked with SKIP LOCKED so that any number of relays can
    /// run side by side. Returns how many rows were published.
    pub async fn outbox_relay<F, Fut, E>(&self, min_age_secs: f64, limit: i64, publish: F) -> Result<usize, E>
    where
        F: FnOnce(Vec<Event>) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: From<crate::StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(crate::StoreError::from)?;
        let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
            "SELECT id, payload FROM outbox WHERE deferred OR created_at < now() - make_interval(secs => $1) \
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(min_age_secs)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(crate::StoreError::from)?;
        let mut done = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for (id, payload) in rows {
            match serde_json::from_value::<Event>(payload) {
                Ok(event) => {
                    done.push(id);
                    events.push(event);
                }
                // an event this version cannot read stays for a newer relay; it is counted in the gauge
                Err(error) => tracing::error!(outbox_id = id, %error, "unreadable outbox event"),
            }
        }
        if !events.is_empty() {
            publish(events).await?;
        }
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
            .bind(&done)
            .execute(&mut *tx)
            .await
            .map_err(crate::StoreError::from)?;
        tx.commit().await.map_err(crate::StoreError::from)?;
        Ok(done.len())
    }
}
