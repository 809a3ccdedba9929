//! One error type for every handler, rendered the way Mastodon does: `{"error": "..."}` with
//! Mastodon's status codes (OAuth endpoints use Doorkeeper's `error_description` form).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tusk_core::ValidationErrors;
use utoipa::{IntoResponses, ToResponse, ToSchema};

/// The body of every error but OAuth's: Mastodon's `{"error": "..."}`; a failed validation adds
/// `details`, the failed rules by field.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    #[schema(example = "Record not found")]
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<std::collections::HashMap<String, Vec<FieldErrorBody>>>)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One failed rule on one field (the items of `details`).
#[derive(Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorBody {
    #[schema(example = "ERR_TAKEN")]
    pub error: String,
    #[schema(example = "is already taken")]
    pub description: String,
}

/// Doorkeeper's error body, on the OAuth endpoints.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuthError)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_grant")]
    pub error: &'static str,
    pub error_description: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The access token is invalid")]
    InvalidToken,
    #[error("This method requires an authenticated user")]
    UserRequired,
    #[error("This action is outside the authorized scopes")]
    OutsideScopes,
    #[error("This action is not allowed")]
    Forbidden,
    /// A user signed up while registrations needed approval, not approved yet (Mastodon's text).
    #[error("Your login is currently pending approval")]
    PendingApproval,
    #[error(
        "Unsupported content type: send application/json, application/x-www-form-urlencoded or multipart/form-data"
    )]
    UnsupportedMediaType,
    #[error("Record not found")]
    NotFound,
    /// The route exists, not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{description}")]
    OAuth { status: StatusCode, error: &'static str, description: &'static str },
    /// A dependency is down or overloaded: the client should retry shortly.
    #[error("Service temporarily unavailable")]
    Unavailable(String),
    /// This replica sheds the request (its kind is at its limit, or it ran past its deadline):
    /// 503 at once, without a log line per request (`tusk_http_shed_total` counts them).
    #[error("{0}")]
    Overloaded(&'static str),
    /// The request body is over `TUSK_MAX_BODY_BYTES` (or an upload route's limit).
    #[error("The request body is too large")]
    PayloadTooLarge,
    /// An uploaded file is over its kind's limit.
    #[error("{0}")]
    FileTooLarge(String),
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    /// For causes that are bugs or impossible states: logged in full, shown as a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::OutsideScopes | Self::Forbidden | Self::PendingApproval => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UserRequired | Self::Validation(_) | Self::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::OAuth { status, .. } => *status,
            Self::Unavailable(_) | Self::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge | Self::FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Validation(errors) => {
                json!(ErrorBody { error: errors.to_string(), details: Some(errors.details()) })
            }
            Self::OAuth { error, description, .. } => {
                json!(OAuthErrorBody { error, error_description: description })
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                json!(ErrorBody { error: self.to_string(), details: None })
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                json!(ErrorBody { error: self.to_string(), details: None })
            }
            other => json!(ErrorBody { error: other.to_string(), details: None }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Doorkeeper\", error=\"invalid_token\""),
            );
        }
        response
    }
}

impl From<tusk_service::ServiceError> for ApiError {
    fn from(error: tusk_service::ServiceError) -> Self {
        use tusk_service::ServiceError;
        match error {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Forbidden => Self::Forbidden,
            ServiceError::Validation(errors) => Self::Validation(errors),
            ServiceError::Unprocessable(message) => Self::Unprocessable(message),
            ServiceError::TooLarge(message) => Self::FileTooLarge(message),
            ServiceError::Unavailable(cause) => Self::Unavailable(cause),
            ServiceError::Overloaded(message) => Self::Overloaded(message),
            ServiceError::Internal(cause) => Self::Internal(cause),
        }
    }
}

// -- the error answers, as the OpenAPI document names them in operations' `responses(...)` --

/// The request could not be read: a malformed body, query string or parameter.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// The access token is missing, invalid or revoked.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"Doorkeeper\", error=\"invalid_token\"`")))]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// The token lacks the scope this action needs, its account awaits approval, or the action is
/// not allowed (another user's status, oneself as the target, closed registrations).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// No such record, or none the viewer may see; also any id that is not a number.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// The body is neither JSON, a form, nor multipart form data.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct UnsupportedMediaType(ErrorBody);

/// The parameters were read but are not valid (`details` says which fields and why), or the
/// endpoint needs a user's token and got an app's.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unprocessable(ErrorBody);

/// The request declares a body larger than the server takes (`TUSK_MAX_BODY_BYTES`), or an
/// uploaded file is over its kind's limit.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody);

/// A rate limit is spent; `Retry-After` says when to try again.
#[derive(ToResponse)]
#[response(headers(
    ("Retry-After" = i64, description = "Seconds until the limit's window ends"),
    ("X-RateLimit-Limit" = i64),
    ("X-RateLimit-Remaining" = i64),
    ("X-RateLimit-Reset" = String, description = "When the window ends, ISO 8601 UTC"),
))]
#[allow(dead_code)]
pub struct TooManyRequests(ErrorBody);

/// A dependency (PostgreSQL, Redis) is down or overloaded, or too many streams are open:
/// retry shortly.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = i64, description = "Seconds to wait")))]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

/// The answers of an action on one thing: the relationship with an account (follow, block, mute
/// and their undoing, authorizing or rejecting a follow request) or a status (favourite and its
/// undoing): the thing afterwards, or the errors every such action can answer.
#[derive(IntoResponses)]
// never built: only the document reads this type
#[allow(dead_code, clippy::large_enum_variant)]
pub enum ActionAnswers<T: utoipa::ToSchema> {
    /// The relationship or the status afterwards
    #[response(status = 200)]
    Done(T),
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 422)]
    Unprocessable(#[ref_response] Unprocessable),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// Doorkeeper's `{"error", "error_description"}` (`invalid_grant`, `invalid_scope`,
/// `invalid_request`, `unsupported_grant_type`), or `{"error"}` for a body that could not be read.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct OAuthBadRequest(ErrorBody);

/// Doorkeeper's error: `invalid_client` (401), `invalid_grant`, `invalid_scope`,
/// `invalid_request`, `unsupported_grant_type` (400) or `unauthorized_client` (403).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct OAuthFailure(OAuthErrorBody);
