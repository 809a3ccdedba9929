//! Extractors that turn a request into validated input before any handler runs.

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use tusk_core::{Id, Scope, Scopes};
use tusk_store::TokenRow;

use crate::{ApiError, AppState};

/// Request parameters from a JSON, `application/x-www-form-urlencoded` or `multipart/form-data`
/// body, as Mastodon (Rails) accepts all three. Form-like bodies are merged with the query
/// string, as Rails merges them.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap_or_default();
        if content_type.starts_with("application/json") {
            let bytes = body_bytes(req, state).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return parse_pairs(&pairs);
            }
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("Error while parsing request body: {e}")))?;
            refuse_nul(&value)?;
            return serde_json::from_value(value)
                .map(Params)
                .map_err(|e| ApiError::BadRequest(format!("Invalid parameters: {e}")));
        }
        if content_type.starts_with("multipart/form-data") {
            let mut multipart =
                Multipart::from_request(req, state).await.map_err(|e| body_error(e.status(), &e))?;
            while let Some(field) = multipart.next_field().await.map_err(|e| body_error(e.status(), &e))? {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field.text().await.map_err(|e| body_error(e.status(), &e))?;
                pairs.push((name, value));
            }
            return parse_pairs(&pairs);
        }
        // urlencoded, or no content type at all (Rails reads such a body as a form too); a body
        // of any other type is refused rather than read as a form of garbage
        let form_like =
            content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded");
        let bytes = body_bytes(req, state).await?;
        if !form_like && !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::BadRequest("Error while parsing request body: not UTF-8".into()))?;
        let body_pairs: Vec<(String, String)> = serde_urlencoded::from_str(body)
            .map_err(|e| ApiError::BadRequest(format!("Error while parsing request body: {e}")))?;
        pairs.extend(body_pairs);
        parse_pairs(&pairs)
    }
}

/// The raw body, read as [`body_bytes`] reads it: over the limit it is the JSON 413 every other
/// endpoint answers, never axum's plain-text rejection (the sign-in pages' forms take it).
pub(crate) struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        body_bytes(req, state).await.map(Self)
    }
}

/// The whole body, up to the limit the router sets (`DefaultBodyLimit`, `TUSK_MAX_BODY_BYTES`).
pub(crate) async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state).await.map_err(|e| body_error(e.status(), &e))
}

/// A body that could not be read: over the size limit (413), or malformed (400); JSON either
/// way, never axum's plain-text rejection.
fn body_error(status: StatusCode, error: &dyn std::fmt::Display) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("Error while reading request body: {error}"))
    }
}

/// PostgreSQL's text cannot hold a NUL character: a parameter with one is malformed input, a 400
/// before it reaches a query (where it would be a 500).
const NUL_REFUSED: &str = "Invalid parameters: text cannot contain NUL characters";

fn refuse_nul(value: &serde_json::Value) -> Result<(), ApiError> {
    let nul = |s: &str| s.contains('\0');
    match value {
        serde_json::Value::String(s) if nul(s) => Err(ApiError::BadRequest(NUL_REFUSED.into())),
        serde_json::Value::Array(list) => list.iter().try_for_each(refuse_nul),
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| nul(k)) {
                return Err(ApiError::BadRequest(NUL_REFUSED.into()));
            }
            map.values().try_for_each(refuse_nul)
        }
        _ => Ok(()),
    }
}

/// Decodes name/value pairs; a repeated name keeps its last value (array fields take `name[]`).
fn parse_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<Params<T>, ApiError> {
    if pairs.iter().any(|(name, value)| name.contains('\0') || value.contains('\0')) {
        return Err(ApiError::BadRequest(NUL_REFUSED.into()));
    }
    let mut object = serde_json::Map::new();
    for (name, value) in pairs {
        if let Some(base) = name.strip_suffix("[]") {
            let entry = object.entry(base.to_owned()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(list) = entry {
                list.push(serde_json::Value::String(value.clone()));
            }
        } else {
            object.insert(name.clone(), serde_json::Value::String(value.clone()));
        }
    }
    serde_json::from_value(serde_json::Value::Object(object))
        .map(Params)
        .map_err(|e| ApiError::BadRequest(format!("Invalid parameters: {e}")))
}

/// Query-string parameters; malformed ones are a 400, not axum's plain-text rejection.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {e}")))?;
        parse_pairs(&pairs).map(|Params(t)| Self(t))
    }
}

/// A record id from the path. Anything that is not an id cannot name a record: 404, as Mastodon.
pub struct PathId(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound)
    }
}

/// The bearer token of a request, if it carried one. A token that is sent but not valid is a
/// 401 everywhere, also on endpoints that work without one (as in Mastodon).
pub struct Auth(Option<TokenRow>);

impl Auth {
    /// The signed-in account, when the token holds `scope` and belongs to a user.
    pub fn user(&self, scope: Scope) -> Result<Id, ApiError> {
        let token = self.token(scope)?;
        token.account_id.ok_or(ApiError::UserRequired)
    }

    /// Any token (app or user) that holds `scope`.
    pub fn token(&self, scope: Scope) -> Result<&TokenRow, ApiError> {
        let token = self.0.as_ref().ok_or(ApiError::InvalidToken)?;
        if token.pending {
            return Err(ApiError::PendingApproval);
        }
        if Scopes::parse(&token.scopes).is_ok_and(|scopes| scopes.allows(scope)) {
            Ok(token)
        } else {
            Err(ApiError::OutsideScopes)
        }
    }

    /// The signed-in account, if any: for endpoints that show more to their owner.
    pub fn viewer(&self) -> Option<Id> {
        self.0.as_ref().filter(|t| !t.pending).and_then(|t| t.account_id)
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = match parts.headers.get(AUTHORIZATION) {
            Some(header) => header
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(ApiError::InvalidToken)?
                .to_owned(),
            // browsers cannot set headers on a WebSocket: streaming takes the token in the query
            None => match query_token(parts) {
                Some(token) => token,
                None => return Ok(Self(None)),
            },
        };
        let token = token.as_str();
        let row = state.service.token(&tusk_core::token::digest(token)).await?;
        row.map(|r| Self(Some(r))).ok_or(ApiError::InvalidToken)
    }
}

fn query_token(parts: &Parts) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query()?).ok()?;
    pairs
        .into_iter()
        .find(|(name, _)| name == "access_token")
        .map(|(_, token)| token)
        .filter(|t| !t.is_empty())
}

/// Deserializers that take what Rails would: `true`, `"true"`, `"1"`, `"on"` for booleans.
pub mod lenient {
    use super::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Num(i64),
        Str(String),
    }

    pub fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Option::<Raw>::deserialize(d)? {
            None => None,
            Some(Raw::Bool(b)) => Some(b),
            Some(Raw::Num(n)) => Some(n != 0),
            Some(Raw::Str(s)) => match s.to_ascii_lowercase().as_str() {
                "" => None,
                "true" | "1" | "on" | "yes" | "t" => Some(true),
                _ => Some(false),
            },
        })
    }

    /// An integer sent as a number or as a string; garbage reads as absent.
    pub fn int_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Option::<Raw>::deserialize(d)? {
            Some(Raw::Num(n)) => Some(n),
            Some(Raw::Str(s)) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// An id sent as a string or number; an empty string reads as absent.
    pub fn id_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<tusk_core::Id>, D::Error> {
        Ok(match Option::<Raw>::deserialize(d)? {
            Some(Raw::Num(n)) if n > 0 => Some(tusk_core::Id(n)),
            Some(Raw::Str(s)) if !s.is_empty() => Some(s.parse().map_err(serde::de::Error::custom)?),
            _ => None,
        })
    }

    /// A string or a list of strings (`redirect_uris` comes both ways).
    pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(OneOrMany::Many(list)) => list,
        })
    }
}
