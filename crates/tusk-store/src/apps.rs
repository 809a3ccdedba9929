use chrono::{DateTime, Utc};
use tusk_core::Id;

use crate::{Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AppRow {
    pub id: Id,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: String,
    pub scopes: String,
    pub client_id: String,
    pub client_secret_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewApp<'a> {
    pub name: &'a str,
    pub website: Option<&'a str>,
    pub redirect_uris: &'a str,
    pub scopes: &'a str,
    pub client_id: &'a str,
    pub client_secret_hash: &'a [u8],
}

impl Store {
    #[tracing::instrument(name = "pg create_app", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_app(&self, new: &NewApp<'_>) -> Result<AppRow> {
        Ok(sqlx::query_as(
            "INSERT INTO oauth_applications (name, website, redirect_uris, scopes, client_id, client_secret_hash) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, name, website, redirect_uris, scopes, client_id, client_secret_hash, created_at",
        )
        .bind(new.name)
        .bind(new.website)
        .bind(new.redirect_uris)
        .bind(new.scopes)
        .bind(new.client_id)
        .bind(new.client_secret_hash)
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(name = "pg app_by_client_id", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn app_by_client_id(&self, client_id: &str) -> Result<Option<AppRow>> {
        Ok(sqlx::query_as(
            "SELECT id, name, website, redirect_uris, scopes, client_id, client_secret_hash, created_at \
             FROM oauth_applications WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    #[tracing::instrument(name = "pg app", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn app(&self, id: Id) -> Result<AppRow> {
        Ok(sqlx::query_as(
            "SELECT id, name, website, redirect_uris, scopes, client_id, client_secret_hash, created_at \
             FROM oauth_applications WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }
}
