//! The OpenAPI 3.1 document of the whole API, served at `GET /api/openapi.json`.
//!
//! Nothing in it is written by hand as JSON: each handler carries a `#[utoipa::path]` annotation
//! (its path, parameters, body, scopes and every status it can answer), the entities and
//! request bodies derive `ToSchema`/`IntoParams`, and [`ApiDoc`] gathers them. Two things apply
//! to many operations at once and are added here by modifiers, from the same code that does
//! them: the OAuth2 security scheme with the scopes `tusk_core::Scopes` knows, and the 429 of
//! the rate-limit middleware on every path it counts. A unit test below fails when a route of
//! `router.rs` is missing from the document (or the document has one the router lacks), and
//! `deploy/fuzz/run.sh` fuzzes the running server against the document.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Password,
    Scopes as OAuthScopes, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse};

use crate::error::{ErrorBody, FieldErrorBody, OAuthErrorBody};
use crate::handlers::{
    accounts, apps, authorize, follow_requests, instance, oauth, statuses, streaming, timelines,
};

/// The name of the security scheme the operations' `security(...)` refer to.
pub const OAUTH2: &str = "OAuth2";
const CLIENT_BASIC: &str = "ClientBasic";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tusk",
        description = "A Mastodon-compatible server. This document is generated from the code of the \
                       handlers (utoipa), and describes every route it serves."
    ),
    paths(
        document,
        instance::v1,
        instance::v2,
        apps::create,
        oauth::token,
        oauth::revoke,
        oauth::metadata,
        authorize::show,
        authorize::decide,
        authorize::sign_in,
        accounts::create,
        accounts::verify_credentials,
        accounts::update_credentials,
        accounts::lookup,
        accounts::relationships,
        accounts::show,
        accounts::followers,
        accounts::following,
        accounts::follow,
        accounts::unfollow,
        accounts::block,
        accounts::unblock,
        accounts::mute,
        accounts::unmute,
        follow_requests::index,
        follow_requests::authorize,
        follow_requests::reject,
        timelines::account_statuses,
        statuses::create,
        statuses::show,
        statuses::delete,
        statuses::context,
        statuses::favourite,
        statuses::unfavourite,
        statuses::reblog,
        statuses::unreblog,
        timelines::home,
        timelines::public,
        streaming::websocket,
        streaming::health,
        streaming::sse_user,
        streaming::sse_public,
        streaming::sse_public_local,
    ),
    components(
        schemas(ErrorBody, FieldErrorBody, OAuthErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            Unavailable,
            OAuthBadRequest,
            OAuthFailure,
        ),
    ),
    modifiers(&Security, &Middleware),
    tags(
        (name = "instance", description = "The server and its limits"),
        (name = "oauth", description = "Apps, tokens and the browser sign-in of the authorization code grant"),
        (name = "accounts", description = "Sign-up, profiles and relationships"),
        (name = "statuses", description = "Posting, reading and acting on statuses"),
        (name = "timelines", description = "Pages of statuses, newest first, with `Link` headers"),
        (name = "streaming", description = "Live events: WebSocket and server-sent events"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, rendered once.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

/// `(METHOD, path)` of every operation in the document, the paths in its `{param}` form. A unit
/// test below proves it is exactly the router's routes, so tests take it as the route table
/// (the authorization matrix must have a row for each).
pub fn routes() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value =
        DOCUMENT.as_deref().ok().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flat_map(|item| item.keys()) {
            if METHODS.contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The keys of a path item that are operations.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi_document",
    tag = "instance",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn document() -> Response {
    match &*DOCUMENT {
        Ok(json) => {
            let mut response = json.clone().into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(cause) => crate::ApiError::internal(cause).into_response(),
    }
}

/// The OAuth2 scheme: bearer tokens from `/oauth/token`, by any of the three grants Tusk serves,
/// with every scope it knows.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes: OAuthScopes =
            tusk_core::Scopes::supported().map(|s| (s, authorize::describe(s))).collect();
        let flows = [
            Flow::AuthorizationCode(AuthorizationCode::new(
                "/oauth/authorize",
                "/oauth/token",
                scopes.clone(),
            )),
            Flow::Password(Password::new("/oauth/token", scopes.clone())),
            Flow::ClientCredentials(ClientCredentials::new("/oauth/token", scopes)),
        ];
        let scheme = OAuth2::with_description(
            flows,
            "A bearer token (`Authorization: Bearer ...`). Streaming also takes it as `access_token` \
             in the query, as browsers cannot set headers on a WebSocket.",
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(OAUTH2, SecurityScheme::OAuth2(scheme));
        // apps authenticate to /oauth/token and /oauth/revoke with their client id and secret,
        // as HTTP Basic or as `client_id`/`client_secret` in the body
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some("The app's client id and secret".to_owned());
        components.add_security_scheme(CLIENT_BASIC, SecurityScheme::Http(basic));
    }
}

/// What the router's middleware may answer before (or instead of) the handler, asked of the same
/// functions the middleware asks: 413 for a declared body over the limit (any request), 503
/// when the request's class is full or its deadline passes (`overload`), 429 on every path
/// the rate limits count (`ratelimit`).
struct Middleware;

impl Modify for Middleware {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            for (method, operation) in operations(item) {
                let responses = &mut operation.responses.responses;
                let mut add = |status: StatusCode, name: &str| {
                    let status = status.as_u16().to_string();
                    match responses.get_mut(&status) {
                        None => {
                            responses.insert(status, RefOr::Ref(Ref::from_response_name(name)));
                        }
                        // the handler answers this status itself, as a page: the middleware's is JSON
                        Some(RefOr::T(response)) => {
                            let error = Content::new(Some(Ref::from_schema_name("Error")));
                            response.content.entry("application/json".to_owned()).or_insert(error);
                        }
                        Some(RefOr::Ref(_)) => {}
                    }
                };
                add(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
                if crate::overload::RouteClass::of(&method, path).is_some() {
                    add(StatusCode::SERVICE_UNAVAILABLE, "Unavailable");
                }
                if crate::ratelimit::counted_path(path) {
                    add(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
                }
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (Method, &mut utoipa::openapi::path::Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::OPTIONS, &mut item.options),
        (Method::HEAD, &mut item.head),
        (Method::PATCH, &mut item.patch),
        (Method::TRACE, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}

// -- the error responses the handlers name in their `responses(...)` --

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

/// The request declares a body larger than the server takes (`TUSK_MAX_BODY_BYTES`).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `(METHOD, path)` of every `.route(...)` in `router.rs`, read from its source.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("router.rs");
        let mut routes = BTreeSet::new();
        for chunk in source.split(".route(\"").skip(1) {
            let (path, rest) = chunk.split_once('"').unwrap();
            // the method router: up to the parenthesis that closes `.route(`
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let methods = &rest[..end];
            for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
                let call = format!("{method}(");
                let found = methods.match_indices(&call).any(|(i, _)| {
                    i == 0 || !methods[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if found {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        routes
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routed = routed();
        assert!(routed.len() > 40, "router.rs was not read: {routed:?}");
        let documented = routes();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(missing.is_empty(), "routes without a #[utoipa::path] in ApiDoc: {missing:?}");
        assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    }

    #[test]
    fn operation_ids_are_unique_and_errors_are_documented() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT.as_ref().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2') || s.starts_with('3') || s == "101"),
                    "{method} {path}: no success response"
                );
                // a token is checked wherever an operation takes one, its scope where it needs one
                let requirements =
                    operation.get("security").and_then(|s| s.as_array()).cloned().unwrap_or_default();
                if !requirements.is_empty() {
                    assert!(responses.contains_key("401"), "{method} {path}: no 401");
                }
                let scoped = requirements.iter().any(|r| r[OAUTH2].as_array().is_some_and(|s| !s.is_empty()));
                if scoped {
                    assert!(responses.contains_key("403"), "{method} {path}: no 403");
                }
            }
        }
        let schemes = &doc["components"]["securitySchemes"][OAUTH2]["flows"]["authorizationCode"]["scopes"];
        assert!(schemes.get("write:statuses").is_some(), "{schemes}");
    }
}
