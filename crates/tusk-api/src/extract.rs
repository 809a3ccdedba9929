//! Extractors that turn a request into validated input before any handler runs.

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use tusk_core::{Id, Scope, Scopes};
use tusk_store::TokenRow;

use crate::route::Access;
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
            // files are read only where they are taken (`WithFiles`); here they are skipped
            let (fields, _files) = read_multipart(req, state, &[]).await?;
            pairs.extend(fields);
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

/// A form's parameters with the files it carries (multipart), as the upload endpoints and
/// `update_credentials` take them: `files` has the fields named in `FILES` that were sent with
/// bytes; a JSON or urlencoded body carries none.
pub(crate) struct WithFiles<T> {
    pub params: T,
    pub files: std::collections::HashMap<&'static str, axum::body::Bytes>,
}

/// The file fields an endpoint takes.
pub(crate) trait FileFields {
    const FILES: &'static [&'static str];
}

impl<S: Send + Sync, T: DeserializeOwned + FileFields> FromRequest<S> for WithFiles<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let Params(params) = Params::from_request(req, state).await?;
            return Ok(Self { params, files: std::collections::HashMap::new() });
        }
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default();
        let (fields, files) = read_multipart(req, state, T::FILES).await?;
        pairs.extend(fields);
        let Params(params) = parse_pairs(&pairs)?;
        Ok(Self { params, files })
    }
}

/// The text fields of a multipart body, and the bytes of its fields named in `files` (a
/// field with a file name that is not taken is skipped, never read as text).
async fn read_multipart<S: Send + Sync>(
    req: Request,
    state: &S,
    files: &[&'static str],
) -> Result<(Vec<(String, String)>, std::collections::HashMap<&'static str, axum::body::Bytes>), ApiError> {
    let read_error = |e: axum::extract::multipart::MultipartError| body_error(e.status(), &e);
    let mut multipart = Multipart::from_request(req, state).await.map_err(|e| body_error(e.status(), &e))?;
    let mut pairs = Vec::new();
    let mut taken = std::collections::HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(read_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(file) = files.iter().find(|file| **file == name) {
            let bytes = field.bytes().await.map_err(read_error)?;
            // an empty file field is no file (a form that left it unset)
            if !bytes.is_empty() {
                taken.insert(*file, bytes);
            }
        } else if field.file_name().is_some() {
            // drain it without keeping it
            let _ = field.bytes().await.map_err(read_error)?;
        } else {
            pairs.push((name, field.text().await.map_err(read_error)?));
        }
    }
    Ok((pairs, taken))
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

/// Several records named at once (`id[]=1&id[]=2`, or `id=1`), as Mastodon's batch lookups
/// take them.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdsParams {
    /// The ids.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "id[]", style = Form, explode)]
    id: Vec<String>,
}

impl IdsParams {
    /// The distinct ids asked, in order; what is not a number names nothing and is left out.
    pub fn ids(&self) -> Vec<Id> {
        // a set, not `Vec::contains`: a query naming thousands of ids stays linear
        let mut seen = std::collections::HashSet::with_capacity(self.id.len());
        self.id.iter().filter_map(|raw| raw.trim().parse().ok()).filter(|id| seen.insert(*id)).collect()
    }
}

/// A record id from the path. Anything that is not an id cannot name a record: 404, as Mastodon.
pub struct PathId(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PathKey(raw) = PathKey::from_request_parts(parts, state).await?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound)
    }
}

/// A record key from the path as text (a notification group's key; [`PathId`] reads ids from
/// it). PostgreSQL's text cannot hold a NUL character, so a key with one names no record: 404,
/// never a 500.
pub struct PathKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        if raw.contains('\0') { Err(ApiError::NotFound) } else { Ok(Self(raw)) }
    }
}

/// Middleware, the innermost: for a route whose declared [`Access`] reads a token, resolves the
/// bearer token once and enforces the declared scope before the handler runs, then leaves the
/// [`Caller`] for the handler's extractor ([`User`], [`AppToken`], [`Viewer`], [`Caller`]). A
/// token that is sent but not valid is a 401 everywhere, also on routes that work without one
/// (as in Mastodon); a route declared [`Access::Anyone`] never reads one.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = crate::route::spec_of(&request).access;
    if access == Access::Anyone {
        return next.run(request).await;
    }
    let caller = match resolve_token(&state, request.headers(), request.uri()).await {
        Ok(token) => Caller(token.map(|row| {
            // a stored scope string that no longer parses allows nothing
            let scopes = Scopes::parse(&row.scopes).ok();
            (row, scopes)
        })),
        Err(error) => return error.into_response(),
    };
    let allowed = match access {
        Access::Anyone | Access::Public => Ok(()),
        Access::Token(scope) => caller.token(scope).map(|_| ()),
        Access::User(scope) => caller.user(scope).map(|_| ()),
    };
    if let Err(error) = allowed {
        return error.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The token sent with the request, if any: `Authorization: Bearer`, or `access_token` in the
/// query (browsers cannot set headers on a WebSocket); `InvalidToken` if it names no live token.
async fn resolve_token(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Option<TokenRow>, ApiError> {
    let token = match headers.get(AUTHORIZATION) {
        Some(header) => header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::InvalidToken)?
            .to_owned(),
        None => match query_token(uri) {
            Some(token) => token,
            None => return Ok(None),
        },
    };
    let row = state.service.token(&tusk_core::token::digest(&token)).await?;
    row.map(Some).ok_or(ApiError::InvalidToken)
}

/// Who is calling, as [`authenticate`] resolved it: the token with its parsed scopes, or none.
#[derive(Clone, Debug)]
pub struct Caller(Option<(TokenRow, Option<Scopes>)>);

impl Caller {
    /// Any token (an app's or a user's) that holds `scope`.
    fn token(&self, scope: Scope) -> Result<&TokenRow, ApiError> {
        let (token, scopes) = self.0.as_ref().ok_or(ApiError::InvalidToken)?;
        if token.pending {
            return Err(ApiError::PendingApproval);
        }
        if scopes.as_ref().is_some_and(|scopes| scopes.allows(scope)) {
            Ok(token)
        } else {
            Err(ApiError::OutsideScopes)
        }
    }

    /// The signed-in user's token, when it holds `scope` and belongs to a user (not an app).
    fn user(&self, scope: Scope) -> Result<User, ApiError> {
        let token = self.token(scope)?;
        let account = token.account_id.ok_or(ApiError::UserRequired)?;
        Ok(User { account, application: token.application_id })
    }

    /// The signed-in account, if its token holds `scope` (the WebSocket's `user` stream, whose
    /// need depends on what is subscribed).
    pub fn user_with(&self, scope: Scope) -> Option<Id> {
        self.user(scope).ok().map(|user| user.account)
    }

    /// The signed-in account, if any: for routes that show more to their owner.
    pub fn viewer(&self) -> Option<Id> {
        self.0.as_ref().filter(|(t, _)| !t.pending).and_then(|(t, _)| t.account_id)
    }
}

/// What the handler of a route declared with a token gets; a route declared otherwise has no
/// [`Caller`], a bug that the authorization matrix test finds.
fn caller(parts: &Parts) -> Result<&Caller, ApiError> {
    parts.extensions.get::<Caller>().ok_or_else(|| ApiError::internal("route declared without a token"))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        caller(parts).cloned()
    }
}

/// The signed-in user of a route declared [`Access::User`]: its token held the declared scope.
#[derive(Clone, Copy, Debug)]
pub struct User {
    pub account: Id,
    /// The app the token was issued to.
    pub application: Id,
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Access::User(scope) = crate::route::spec_of_parts(parts).access else {
            return Err(ApiError::internal("route not declared for a user"));
        };
        caller(parts)?.user(scope)
    }
}

/// The token of a route declared [`Access::Token`]: an app's or a user's, holding the scope.
pub struct AppToken(pub TokenRow);

impl<S: Send + Sync> FromRequestParts<S> for AppToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Access::Token(scope) = crate::route::spec_of_parts(parts).access else {
            return Err(ApiError::internal("route not declared for a token"));
        };
        caller(parts)?.token(scope).cloned().map(Self)
    }
}

/// The viewer of a route declared [`Access::Public`]: the signed-in account, if any.
pub struct Viewer(pub Option<Id>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        caller(parts).map(|caller| Self(caller.viewer()))
    }
}

fn query_token(uri: &Uri) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query()?).ok()?;
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

    /// Ids sent as a list of strings or numbers (or one of them, as a form sends a single
    /// `media_ids[]`); what is not an id is an error, never silently dropped.
    pub fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<tusk_core::Id>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Raw),
            Many(Vec<Raw>),
        }
        let raw = match Option::<OneOrMany>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(one)) => vec![one],
            Some(OneOrMany::Many(list)) => list,
        };
        raw.into_iter()
            .filter(|raw| !matches!(raw, Raw::Str(s) if s.trim().is_empty()))
            .map(|raw| match raw {
                Raw::Num(n) if n > 0 => Ok(tusk_core::Id(n)),
                Raw::Str(s) => {
                    s.trim().parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not an id")))
                }
                _ => Err(serde::de::Error::custom("not an id")),
            })
            .collect()
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
