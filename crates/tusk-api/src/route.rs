//! What applies to a route besides its handler, declared with it in `router.rs`: who may call it
//! ([`Access`]), its overload class, the rate limits that count it, its CORS policy and whether
//! its answers may be cached. The router builds one [`RouteTable`] from the declarations; the
//! outermost middleware ([`resolve`]) looks the matched route up once and puts its [`RouteSpec`]
//! in the request's extensions, where every other middleware and the extractors read it. The
//! OpenAPI document gets each operation's security and the errors the middleware can answer from
//! the same spec (`openapi::describe`), so nothing is declared twice and nothing matches paths.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tusk_core::Scope;

use crate::overload::RouteClass;
use crate::ratelimit::RateFamily;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token is read (the instance, discovery and OAuth endpoints, which check the app
    /// themselves where they need to).
    Anyone,
    /// A token is optional and shows the viewer more; a token that is sent but not valid is a
    /// 401, as in Mastodon.
    Public,
    /// Any token, an app's too, holding this scope (sign-up uses the app's token).
    Token(Scope),
    /// A user's token holding this scope.
    User(Scope),
}

/// The CORS rules of a route, as Mastodon's `cors.rb` sets them (see `middleware::cors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cors {
    /// The client API: any origin, every method, the pagination and rate-limit headers exposed.
    Api,
    /// `/oauth/token` and `/oauth/revoke`: POST from any origin.
    Token,
    /// The discovery documents (`/.well-known/*`): GET from any origin.
    Discovery,
    /// Not open to other origins (the browser sign-in pages).
    Closed,
}

/// Everything declared about one route (a method on a path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RouteSpec {
    pub access: Access,
    /// Its share of the replica; `None` is never shed (the streaming health check, which load
    /// balancers poll however busy the replica is).
    pub class: Option<RouteClass>,
    /// Whether the general rate limits (per token, or per IP without one) count it.
    pub counted: bool,
    /// A further limit of its own.
    pub family: Option<RateFamily>,
    pub cors: Cors,
    /// Its answers carry a token: never cached (OAuth, RFC 6749 5.1).
    pub issues_tokens: bool,
    /// It takes files: its body may be as large as the largest upload
    /// (`HttpLimits::max_upload_bytes`), not just `max_body_bytes`.
    pub uploads: bool,
}

impl RouteSpec {
    const fn new(class: RouteClass) -> Self {
        Self {
            access: Access::Anyone,
            class: Some(class),
            counted: true,
            family: None,
            cors: Cors::Api,
            issues_tokens: false,
            uploads: false,
        }
    }

    /// A read (GET) of the client API: counted, open to any origin, no token read.
    pub const fn read() -> Self {
        Self::new(RouteClass::Read)
    }

    /// Any other call of the client API.
    pub const fn write() -> Self {
        Self::new(RouteClass::Write)
    }

    /// `POST /api/v1/accounts`: an argon2 hash each.
    pub const fn signup() -> Self {
        Self::new(RouteClass::Signup)
    }

    /// A sign-in: an argon2 check or a token each.
    pub const fn auth() -> Self {
        Self::new(RouteClass::Auth)
    }

    /// Opening a stream.
    pub const fn streaming() -> Self {
        Self::new(RouteClass::Streaming)
    }

    pub const fn public(self) -> Self {
        Self { access: Access::Public, ..self }
    }

    pub const fn token(self, scope: Scope) -> Self {
        Self { access: Access::Token(scope), ..self }
    }

    pub const fn user(self, scope: Scope) -> Self {
        Self { access: Access::User(scope), ..self }
    }

    pub const fn limited(self, family: RateFamily) -> Self {
        Self { family: Some(family), ..self }
    }

    pub const fn cors(self, cors: Cors) -> Self {
        Self { cors, ..self }
    }

    pub const fn issues_tokens(self) -> Self {
        Self { issues_tokens: true, ..self }
    }

    /// Takes files (media, avatars): a body up to the largest upload.
    pub const fn uploads(self) -> Self {
        Self { uploads: true, ..self }
    }

    /// Neither shed nor counted: polled by load balancers.
    pub const fn always_served(self) -> Self {
        Self { class: None, counted: false, ..self }
    }

    /// Not counted by the rate limits (the discovery documents, as Mastodon's rack-attack
    /// counts `/api` and `/oauth` only).
    pub const fn uncounted(self) -> Self {
        Self { counted: false, ..self }
    }
}

/// The spec of every declared route, by path pattern and method.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    routes: HashMap<String, Vec<(Method, RouteSpec)>>,
}

impl RouteTable {
    pub fn insert(&mut self, path: &str, method: Method, spec: RouteSpec) {
        self.routes.entry(path.to_owned()).or_default().push((method, spec));
    }

    /// The spec of a request matched to `path`: the route's own, a HEAD's GET's; for a method
    /// the path does not serve (a preflight, a 405) a read with the path's CORS rules.
    pub fn get(&self, path: &str, method: &Method) -> Option<RouteSpec> {
        let routes = self.routes.get(path)?;
        let method = if method == Method::HEAD { &Method::GET } else { method };
        let own = routes.iter().find(|(m, _)| m == method).map(|(_, spec)| *spec);
        own.or_else(|| routes.first().map(|(_, spec)| RouteSpec::read().cors(spec.cors)))
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Method, &RouteSpec)> {
        self.routes.iter().flat_map(|(path, routes)| routes.iter().map(move |(m, s)| (path.as_str(), m, s)))
    }
}

/// What a request that matched no route gets: counted and shed as a read, and its 404 readable by
/// a browser app, as Mastodon's errors under `/api` are.
const UNMATCHED: RouteSpec = RouteSpec::read();

/// The outermost middleware: finds the matched route's spec once, for everything after it.
pub(crate) async fn resolve(table: Arc<RouteTable>, mut request: Request, next: Next) -> Response {
    let spec = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| table.get(path.as_str(), request.method()))
        .unwrap_or(UNMATCHED);
    request.extensions_mut().insert(spec);
    next.run(request).await
}

/// The spec the router resolved for this request.
pub(crate) fn spec_of(request: &Request) -> RouteSpec {
    request.extensions().get::<RouteSpec>().copied().unwrap_or(UNMATCHED)
}

/// The same, for an extractor.
pub(crate) fn spec_of_parts(parts: &axum::http::request::Parts) -> RouteSpec {
    parts.extensions.get::<RouteSpec>().copied().unwrap_or(UNMATCHED)
}
