use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tusk_core::Scopes;
use tusk_core::token::OOB_REDIRECT;
use utoipa::ToSchema;

use crate::entities::Application;
use crate::error::{BadRequest, Unavailable, Unprocessable, UnsupportedMediaType};
use crate::extract::{Params, lenient};
use crate::{ApiError, AppState};
use tusk_service::AppRegistration;

#[derive(Deserialize, ToSchema)]
pub struct CreateApp {
    /// At most 60 characters.
    #[serde(default)]
    #[schema(required, example = "My client")]
    client_name: String,
    /// Absolute URIs, or `urn:ietf:wg:oauth:2.0:oob`: one string (space-separated) or a list.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[schema(required, example = json!(["urn:ietf:wg:oauth:2.0:oob"]))]
    redirect_uris: Vec<String>,
    /// Space-separated; `read` unless given.
    #[serde(default)]
    #[schema(example = "read write follow")]
    scopes: Option<String>,
    #[serde(default)]
    website: Option<String>,
}

fn valid_redirect(uri: &str) -> bool {
    uri == OOB_REDIRECT
        || uri.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty() && !rest.is_empty() && !uri.contains(char::is_whitespace)
        })
}

/// `POST /api/v1/apps`: registers a client; its secret is shown once and stored as a hash.
#[utoipa::path(
    post,
    path = "/api/v1/apps",
    operation_id = "apps_create",
    tag = "oauth",
    request_body(content(
        (CreateApp = "application/json"),
        (CreateApp = "application/x-www-form-urlencoded"),
        (CreateApp = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The app, with its client id and secret", body = Application),
        (status = 400, response = BadRequest),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Params(params): Params<CreateApp>,
) -> Result<Json<Application>, ApiError> {
    let name = params.client_name.trim();
    if name.is_empty() {
        return Err(ApiError::Unprocessable("Validation failed: Application name can't be blank".into()));
    }
    if name.chars().count() > 60 {
        return Err(ApiError::Unprocessable(
            "Validation failed: Application name is too long (maximum is 60 characters)".into(),
        ));
    }
    if params.redirect_uris.is_empty() {
        return Err(ApiError::Unprocessable("Validation failed: Redirect URI can't be blank".into()));
    }
    if !params.redirect_uris.iter().all(|uri| valid_redirect(uri)) {
        return Err(ApiError::Unprocessable(
            "Validation failed: Redirect URI must be an absolute URI.".into(),
        ));
    }
    let scopes = Scopes::parse(params.scopes.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::Unprocessable("Validation failed: Scopes are invalid".into()))?;
    let (app, client_secret) = state
        .service
        .register_app(AppRegistration {
            name,
            website: params.website.as_deref().filter(|w| !w.is_empty()),
            redirect_uris: &params.redirect_uris,
            scopes: &scopes,
        })
        .await?;
    Ok(Json(crate::entities::application(&app, &client_secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(valid_redirect("urn:ietf:wg:oauth:2.0:oob"));
        assert!(valid_redirect("https://app.example/callback"));
        assert!(valid_redirect("myapp://oauth"));
        assert!(!valid_redirect("/relative"));
        assert!(!valid_redirect("not a uri://x"));
    }
}
