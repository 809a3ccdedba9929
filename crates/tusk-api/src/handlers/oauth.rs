use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use tusk_core::{Scopes, token};
use tusk_store::AppRow;
use utoipa::ToSchema;

use crate::entities::Token;
use crate::error::{BadRequest, OAuthBadRequest, OAuthFailure, Unavailable, UnsupportedMediaType};
use crate::extract::Params;
use crate::{ApiError, AppState};

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `authorization_code`, `client_credentials` or `password`.
    #[serde(default)]
    #[schema(required, example = "client_credentials")]
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
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
const INVALID_REQUEST: ApiError = ApiError::OAuth {
    status: StatusCode::BAD_REQUEST,
    error: "invalid_request",
    description: "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
};
const UNAUTHORIZED_CLIENT: ApiError = ApiError::OAuth {
    status: StatusCode::FORBIDDEN,
    error: "unauthorized_client",
    description: "You are not authorized to revoke this token",
};
const UNSUPPORTED_GRANT: ApiError = ApiError::OAuth {
    status: StatusCode::BAD_REQUEST,
    error: "unsupported_grant_type",
    description: "The authorization grant type is not supported by the authorization server.",
};

/// `POST /oauth/token`: `authorization_code` (with PKCE), `client_credentials` (an app token,
/// for sign-up) and `password` grants.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "oauth_token",
    tag = "oauth",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "multipart/form-data"),
    )),
    security((), ("ClientBasic" = [])),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthFailure),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(request): Params<TokenRequest>,
) -> Result<Json<Token>, ApiError> {
    if !matches!(request.grant_type.as_str(), "authorization_code" | "client_credentials" | "password") {
        return Err(UNSUPPORTED_GRANT);
    }
    let app =
        authenticate_client(&state, &headers, request.client_id.as_ref(), request.client_secret.as_ref())
            .await?;
    if request.grant_type == "authorization_code" {
        return redeem_code(&state, &app, &request).await;
    }
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
        Some(state.service.check_password(&login, password).await?.ok_or(INVALID_GRANT)?)
    } else {
        None
    };
    let (row, access_token) = state.service.issue_token(app.id, account_id, &scopes).await?;
    Ok(Json(crate::entities::token(&row, &access_token)))
}

/// The `authorization_code` grant: the code is used up by the token it becomes, and only by the
/// app it was issued to, with the same redirect URI and the PKCE verifier of its challenge.
async fn redeem_code(
    state: &AppState,
    app: &AppRow,
    request: &TokenRequest,
) -> Result<Json<Token>, ApiError> {
    let code = request.code.as_deref().filter(|c| !c.is_empty()).ok_or(INVALID_REQUEST)?;
    let redirect_uri = request.redirect_uri.as_deref().filter(|r| !r.is_empty()).ok_or(INVALID_REQUEST)?;
    let verifier = request.code_verifier.as_deref();
    let (row, access_token) =
        state.service.redeem_code(app.id, code, redirect_uri, verifier).await?.ok_or(INVALID_GRANT)?;
    Ok(Json(crate::entities::token(&row, &access_token)))
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    #[serde(default)]
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009): an app revokes one of its tokens; an unknown token is not an
/// error, so a client cannot learn which tokens exist.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "oauth_revoke",
    tag = "oauth",
    request_body(content(
        (RevokeRequest = "application/json"),
        (RevokeRequest = "application/x-www-form-urlencoded"),
        (RevokeRequest = "multipart/form-data"),
    )),
    security((), ("ClientBasic" = [])),
    responses(
        (status = 200, description = "Revoked, or not a token of this app's: `{}`", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = OAuthFailure),
        (status = 403, response = OAuthFailure),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(request): Params<RevokeRequest>,
) -> Result<Json<Value>, ApiError> {
    let app =
        authenticate_client(&state, &headers, request.client_id.as_ref(), request.client_secret.as_ref())
            .await?;
    if request.token.is_empty() {
        return Ok(Json(serde_json::json!({})));
    }
    match state.service.revoke_token(&token::digest(&request.token), app.id).await? {
        Some(false) => Err(UNAUTHORIZED_CLIENT),
        None | Some(true) => Ok(Json(serde_json::json!({}))),
    }
}

/// `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata, as Mastodon 4.3 serves it.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "oauth_metadata",
    tag = "oauth",
    responses(
        (status = 200, description = "RFC 8414 authorization server metadata", body = Object),
    )
)]
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let base = state.instance.base_url();
    Json(serde_json::json!({
        "issuer": format!("{base}/"),
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "app_registration_endpoint": format!("{base}/api/v1/apps"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "scopes_supported": Scopes::supported().collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "password", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

/// The client authenticates with `client_id`/`client_secret` in the body or HTTP Basic auth.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<&String>,
    client_secret: Option<&String>,
) -> Result<AppRow, ApiError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let (client_id, client_secret) = match (basic, client_id, client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => return Err(INVALID_CLIENT),
    };
    // no app has one, and PostgreSQL's text cannot hold it (Basic credentials are not checked
    // for NUL by the parameter extractors)
    if client_id.contains('\0') {
        return Err(INVALID_CLIENT);
    }
    let app = state.service.app_by_client_id(&client_id).await?.ok_or(INVALID_CLIENT)?;
    if app.client_secret_hash != token::digest(&client_secret) {
        return Err(INVALID_CLIENT);
    }
    Ok(app)
}
