//! The OpenAPI 3.1 document of the whole API, served at `GET /api/openapi.json`.
//!
//! Nothing in it is written by hand as JSON, and nothing is listed twice: the router
//! (`router.rs`) registers each handler through its `#[utoipa::path]` annotation (its path,
//! method, parameters, body and the statuses it answers itself), so the document holds exactly
//! the routes served. What a route's declaration adds is written into its operation by
//! [`describe`], from the same [`RouteSpec`] the middleware reads: the OAuth2 scope it needs
//! (and the 401/403/422 of the token check), the 429 of the rate limits that count it, the 503
//! of its overload class and the 413 of the body limit. The entities and request bodies derive
//! `ToSchema`/`IntoParams`; the shared error answers are declared with the error type
//! (`error.rs`). `deploy/fuzz/run.sh` fuzzes the running server against the document.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Password,
    Scopes as OAuthScopes, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::{
    BadRequest, ErrorBody, FieldErrorBody, Forbidden, NotFound, OAuthBadRequest, OAuthErrorBody,
    OAuthFailure, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::route::{Access, RouteSpec};

/// The name of the security scheme the operations' security requirements refer to.
pub const OAUTH2: &str = "OAuth2";
const CLIENT_BASIC: &str = "ClientBasic";

/// What the document holds besides the routes: its description, the shared components and the
/// security schemes. The router adds every route's operation.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tusk",
        description = "A Mastodon-compatible server. This document is generated from the code of the \
                       handlers and the router's declarations, and describes every route it serves."
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
    modifiers(&Security),
    tags(
        (name = "instance", description = "The server and its limits"),
        (name = "oauth", description = "Apps, tokens and the browser sign-in of the authorization code grant"),
        (name = "accounts", description = "Sign-up, profiles and relationships"),
        (name = "statuses", description = "Posting, reading and acting on statuses"),
        (name = "timelines", description = "Pages of statuses, newest first, with `Link` headers"),
        (name = "streaming", description = "Live events: WebSocket and server-sent events"),
        (name = "notifications", description = "Notifications, one by one (v1) and grouped (v2)"),
        (name = "markers", description = "Where the user stopped reading, shared by their apps"),
        (name = "search", description = "Accounts and hashtags by name"),
        (name = "lists", description = "Lists of followed accounts (empty until lists land)"),
        (name = "filters", description = "Content filters (empty until filters land)"),
        (name = "tags", description = "Hashtags followed (empty until hashtag timelines land)"),
        (name = "trends", description = "What is trending (empty until trends land)"),
    )
)]
pub(crate) struct ApiDoc;

/// The document as JSON, rendered once from the router's declarations.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| crate::router::declared().openapi.to_json().map_err(|e| e.to_string()));

/// `(METHOD, path)` of every operation in the document, the paths in their `{param}` form: the
/// routes the router serves (tests take it as the route table; the authorization matrix must
/// have a row for each).
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
            tusk_core::Scope::ALL.iter().map(|s| (s.as_str(), s.description())).collect();
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

/// Writes what a route's declaration says into its operation: the token it needs (security,
/// and the 401/403/422 of the token check), and what the middleware may answer before (or
/// instead of) the handler: 413 for a declared body over the limit (any request), 503 when its
/// class is full or its deadline passes, 429 when the rate limits count it.
pub(crate) fn describe(operation: &mut Operation, spec: RouteSpec) {
    let scope = match spec.access {
        Access::Anyone => None,
        // optional: without a token, or with one of any scope
        Access::Public => {
            let requirements = operation.security.get_or_insert_with(Vec::new);
            requirements.push(SecurityRequirement::default());
            requirements.push(SecurityRequirement::new::<_, _, &str>(OAUTH2, []));
            None
        }
        Access::Token(scope) | Access::User(scope) => {
            operation.security = Some(vec![SecurityRequirement::new(OAUTH2, [scope.as_str()])]);
            Some(scope)
        }
    };
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
    if spec.access != Access::Anyone {
        add(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if scope.is_some() {
        add(StatusCode::FORBIDDEN, "Forbidden");
    }
    if matches!(spec.access, Access::User(_)) {
        add(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable");
    }
    add(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    if spec.class.is_some() {
        add(StatusCode::SERVICE_UNAVAILABLE, "Unavailable");
    }
    if spec.counted {
        add(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    }
}

/// The operations of a path item, with their methods.
pub(crate) fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (Method, &mut Operation)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_errors_are_documented() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT.as_ref().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
                // every `{param}` of the path is declared (a fuzzer cannot fill an undeclared one)
                for name in path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(n, _)| n) {
                    let declared = operation["parameters"]
                        .as_array()
                        .is_some_and(|params| params.iter().any(|p| p["in"] == "path" && p["name"] == name));
                    assert!(declared, "{method} {path}: path parameter {name} is not declared");
                }
                let responses = operation["responses"].as_object().unwrap();
                // (a write whose feature comes later has none yet)
                assert!(
                    responses.keys().any(|s| s.starts_with('2') || s.starts_with('3') || s == "101")
                        || crate::handlers::later::REFUSED.contains(&id),
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
