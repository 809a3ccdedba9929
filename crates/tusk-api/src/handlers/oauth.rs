use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use tusk_core::{Scopes, token};
use tusk_store::AppRow;

use crate::extract::Params;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

const INVALID_CLIENT: ApiError = ApiError::OAuth {
    status: StatusCode::UNAUTHORIZED,
    error: "invalid_client",
    description: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
};
const INVALID_GRANT: ApiError = ApiError::OAuth {
    status: StatusCode::BAD_REQUEST,
    error: "invalid_grant",
    description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
};
const INVALID_SCOPE: ApiError = ApiError::OAuth {
    status: StatusCode::BAD_REQUEST,
    error: "invalid_scope",
    description: "The requested scope is invalid, unknown, or malformed.",
};
const UNSUPPORTED_GRANT: ApiError = ApiError::OAuth {
    status: StatusCode::BAD_REQUEST,
    error: "unsupported_grant_type",
    description: "The authorization grant type is not supported by the authorization server.",
};

/// `POST /oauth/token`: `client_credentials` (an app token, for sign-up) and `password` grants.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(request): Params<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(request.grant_type.as_str(), "client_credentials" | "password") {
        return Err(UNSUPPORTED_GRANT);
    }
    let app = authenticate_client(&state, &headers, &request).await?;
    let app_scopes = Scopes::parse(&app.scopes).map_err(ApiError::internal)?;
    let scopes = match request.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => app_scopes.clone(),
        Some(raw) => Scopes::parse(raw).map_err(|_| INVALID_SCOPE)?,
    };
    if !app_scopes.contains_all(&scopes) {
        return Err(INVALID_SCOPE);
    }
    let account_id = if request.grant_type == "password" {
        let (Some(login), Some(password)) = (request.username, request.password) else {
            return Err(INVALID_GRANT);
        };
        let credentials = state.store.credentials(login.trim()).await?.ok_or(INVALID_GRANT)?;
        if !state.passwords.verify(password, credentials.password_hash).await? {
            return Err(INVALID_GRANT);
        }
        Some(credentials.account_id)
    } else {
        None
    };
    let access_token = token::generate();
    let row = state
        .store
        .create_token(app.id, account_id, &scopes.to_string(), &token::digest(&access_token))
        .await?;
    Ok(Json(crate::entities::token(&row, &access_token)))
}

/// The client authenticates with `client_id`/`client_secret` in the body or HTTP Basic auth.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    request: &TokenRequest,
) -> Result<AppRow, ApiError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let (client_id, client_secret) = match (basic, &request.client_id, &request.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => return Err(INVALID_CLIENT),
    };
    let app = state.store.app_by_client_id(&client_id).await?.ok_or(INVALID_CLIENT)?;
    if app.client_secret_hash != token::digest(&client_secret) {
        return Err(INVALID_CLIENT);
    }
    Ok(app)
}
