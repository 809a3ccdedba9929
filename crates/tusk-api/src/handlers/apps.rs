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

/// A redirect URI as Mastodon's (Doorkeeper's) validator takes it: the out-of-band URN, or an
/// absolute URI with a scheme (any: apps register their own, bare ones like `icecubesapp://`
/// included), a hierarchical part (`myapp:opaque` names no place to return to), no fragment, and
/// not `localhost:…` (a host mistaken for a scheme).
fn valid_redirect(uri: &str) -> bool {
    if uri == OOB_REDIRECT {
        return true;
    }
    if uri.contains(char::is_whitespace) || uri.contains('#') {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once(':') else { return false };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !scheme.eq_ignore_ascii_case("localhost");
    scheme_ok && rest.starts_with('/')
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
        // Ice Cubes registers a bare custom scheme
        assert!(valid_redirect("icecubesapp://"));
        assert!(valid_redirect("org.joinmastodon.app:/oauth"));
        assert!(!valid_redirect("/relative"));
        assert!(!valid_redirect("not a uri://x"));
        assert!(!valid_redirect("myapp:opaque"));
        assert!(!valid_redirect("https://app.example/callback#fragment"));
        assert!(!valid_redirect("localhost:3000/callback"));
        assert!(!valid_redirect("1app://x"));
        assert!(!valid_redirect(""));
    }
}
