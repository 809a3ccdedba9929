//! Every public route, declared once: its handler (whose `#[utoipa::path]` annotation gives the
//! method, the path and the OpenAPI operation) and its [`RouteSpec`]: who may call it, its
//! overload class, the rate limits that count it and its CORS rules. The middleware reads the
//! spec of the matched route (`route.rs`); the OpenAPI document is collected from the same
//! declarations, so a route cannot be served without being documented, or the other way round.

use std::sync::Arc;

use axum::Router;
use tusk_core::Scope::{
    Read, ReadAccounts, ReadBlocks, ReadBookmarks, ReadFavourites, ReadFilters, ReadFollows, ReadLists,
    ReadMutes, ReadNotifications, ReadStatuses, WriteAccounts, WriteBlocks, WriteBookmarks, WriteFavourites,
    WriteFilters, WriteFollows, WriteLists, WriteMedia, WriteMutes, WriteNotifications, WriteStatuses,
};
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::handlers::{
    accounts, apps, authorize, follow_requests, instance, later, media, notifications, oauth, search,
    statuses, streaming, timelines,
};
use crate::ratelimit::RateFamily::{Follows, Media, PasswordGrant, SignIns, Signups, Statuses};
use crate::route::{Cors, RouteSpec as Route, RouteTable};
use crate::{AppState, middleware, openapi, ratelimit};

/// The routes with their specs, and the OpenAPI document they make.
pub(crate) struct Declared {
    pub router: Router<AppState>,
    pub table: RouteTable,
    pub openapi: utoipa::openapi::OpenApi,
}

// every route in one list, as a reader looks for them (STYLE.md habit 1)
#[allow(clippy::too_many_lines)]
pub(crate) fn declared() -> Declared {
    Routes::default()
        // -- the instance --
        .route(routes!(instance::v1), Route::read())
        .route(routes!(instance::v2), Route::read())
        .route(routes!(instance::nodeinfo_links), Route::read().cors(Cors::Discovery))
        .route(routes!(instance::nodeinfo_2_0), Route::read().cors(Cors::Discovery))
        .route(routes!(instance::nodeinfo_2_1), Route::read().cors(Cors::Discovery))
        .route(routes!(openapi::document), Route::read())
        .route(routes!(later::custom_emojis), Route::read())
        .route(routes!(later::announcements), Route::read().user(Read))
        .route(routes!(later::peers), Route::read())
        .route(routes!(later::rules), Route::read())
        .route(routes!(later::trends), Route::read())
        .route(routes!(later::trends_tags), Route::read())
        .route(routes!(later::trends_statuses), Route::read())
        .route(routes!(later::trends_links), Route::read())
        // -- apps, tokens and the browser sign-in --
        .route(routes!(apps::create), Route::write())
        .route(routes!(oauth::token), Route::auth().limited(PasswordGrant).cors(Cors::Token).issues_tokens())
        .route(routes!(oauth::revoke), Route::write().cors(Cors::Token))
        .route(routes!(oauth::metadata), Route::read().uncounted().cors(Cors::Discovery))
        .route(routes!(authorize::show), Route::read().cors(Cors::Closed))
        .route(routes!(authorize::decide), Route::auth().cors(Cors::Closed))
        .route(routes!(authorize::sign_in), Route::auth().limited(SignIns).cors(Cors::Closed))
        // -- accounts --
        .route(
            routes!(accounts::create),
            Route::signup().token(WriteAccounts).limited(Signups).issues_tokens(),
        )
        .route(routes!(accounts::verify_credentials), Route::read().user(ReadAccounts))
        .route(routes!(accounts::update_credentials), Route::write().user(WriteAccounts).uploads())
        .route(routes!(accounts::preferences), Route::read().user(ReadAccounts))
        .route(routes!(accounts::lookup), Route::read())
        .route(routes!(search::accounts), Route::read().user(ReadAccounts))
        .route(routes!(search::search), Route::read().public())
        .route(routes!(accounts::relationships), Route::read().user(ReadFollows))
        .route(routes!(accounts::show), Route::read())
        .route(routes!(accounts::followers), Route::read().public())
        .route(routes!(accounts::following), Route::read().public())
        .route(routes!(timelines::account_statuses), Route::read().public())
        .route(routes!(accounts::follow), Route::write().user(WriteFollows).limited(Follows))
        .route(routes!(accounts::unfollow), Route::write().user(WriteFollows))
        .route(routes!(accounts::block), Route::write().user(WriteBlocks))
        .route(routes!(accounts::unblock), Route::write().user(WriteBlocks))
        .route(routes!(accounts::mute), Route::write().user(WriteMutes))
        .route(routes!(accounts::unmute), Route::write().user(WriteMutes))
        .route(routes!(accounts::blocks), Route::read().user(ReadBlocks))
        .route(routes!(accounts::mutes), Route::read().user(ReadMutes))
        .route(routes!(follow_requests::index), Route::read().user(ReadFollows))
        .route(routes!(follow_requests::authorize), Route::write().user(WriteFollows))
        .route(routes!(follow_requests::reject), Route::write().user(WriteFollows))
        // -- statuses --
        .route(routes!(statuses::create), Route::write().user(WriteStatuses).limited(Statuses))
        .route(routes!(statuses::index), Route::read().public())
        .route(routes!(statuses::show), Route::read().public())
        .route(routes!(statuses::delete), Route::write().user(WriteStatuses))
        .route(routes!(statuses::context), Route::read().public())
        .route(routes!(statuses::favourite), Route::write().user(WriteFavourites))
        .route(routes!(statuses::unfavourite), Route::write().user(WriteFavourites))
        .route(routes!(statuses::reblog), Route::write().user(WriteStatuses).limited(Statuses))
        .route(routes!(statuses::unreblog), Route::write().user(WriteStatuses))
        .route(routes!(statuses::bookmark), Route::write().user(WriteBookmarks))
        .route(routes!(statuses::unbookmark), Route::write().user(WriteBookmarks))
        .route(routes!(statuses::pin), Route::write().user(WriteAccounts))
        .route(routes!(statuses::unpin), Route::write().user(WriteAccounts))
        .route(routes!(timelines::favourites), Route::read().user(ReadFavourites))
        .route(routes!(timelines::bookmarks), Route::read().user(ReadBookmarks))
        .route(routes!(later::scheduled_statuses), Route::read().user(ReadStatuses))
        .route(routes!(later::conversations), Route::read().user(ReadStatuses))
        // -- media --
        .route(routes!(media::create_v2), Route::write().user(WriteMedia).limited(Media).uploads())
        .route(routes!(media::create_v1), Route::write().user(WriteMedia).limited(Media).uploads())
        .route(routes!(media::show), Route::read().user(WriteMedia))
        .route(routes!(media::update), Route::write().user(WriteMedia).uploads())
        .route(routes!(media::delete), Route::write().user(WriteMedia))
        .route(routes!(media::file), Route::read().uncounted())
        .route(routes!(media::missing_avatar), Route::read().uncounted())
        .route(routes!(media::missing_header), Route::read().uncounted())
        // -- timelines --
        .route(routes!(timelines::home), Route::read().user(ReadStatuses))
        .route(routes!(timelines::public), Route::read().public())
        // -- what comes with later issues: empty answers, writes refused --
        .route(routes!(later::lists), Route::read().user(ReadLists))
        .route(routes!(later::create_list), Route::write().user(WriteLists))
        .route(routes!(later::followed_tags), Route::read().user(ReadFollows))
        .route(routes!(later::follow_tag), Route::write().user(WriteFollows))
        .route(routes!(later::filters_v1), Route::read().user(ReadFilters))
        .route(routes!(later::create_filter_v1), Route::write().user(WriteFilters))
        .route(routes!(later::filters_v2), Route::read().user(ReadFilters))
        .route(routes!(later::create_filter_v2), Route::write().user(WriteFilters))
        // -- notifications and markers --
        .route(routes!(notifications::index), Route::read().user(ReadNotifications))
        .route(routes!(notifications::unread_count), Route::read().user(ReadNotifications))
        .route(routes!(notifications::clear), Route::write().user(WriteNotifications))
        .route(routes!(notifications::show), Route::read().user(ReadNotifications))
        .route(routes!(notifications::dismiss), Route::write().user(WriteNotifications))
        .route(routes!(notifications::index_v2), Route::read().user(ReadNotifications))
        .route(routes!(notifications::unread_count_v2), Route::read().user(ReadNotifications))
        .route(routes!(notifications::show_v2), Route::read().user(ReadNotifications))
        .route(routes!(notifications::dismiss_v2), Route::write().user(WriteNotifications))
        .route(routes!(later::notification_requests), Route::read().user(ReadNotifications))
        .route(routes!(later::notification_policy_v1), Route::read().user(ReadNotifications))
        .route(routes!(later::notification_policy), Route::read().user(ReadNotifications))
        .route(routes!(notifications::markers), Route::read().user(ReadStatuses))
        .route(routes!(notifications::save_markers), Route::write().user(WriteStatuses))
        // -- streaming (the WebSocket checks the scope of what is subscribed) --
        .route(routes!(streaming::websocket), Route::streaming().public())
        .route(routes!(streaming::sse_user), Route::streaming().user(ReadStatuses))
        .route(routes!(streaming::sse_user_notification), Route::streaming().user(ReadNotifications))
        .route(routes!(streaming::sse_public), Route::streaming())
        .route(routes!(streaming::sse_public_local), Route::streaming())
        .route(routes!(streaming::health), Route::read().always_served())
        .finish()
}

/// Collects the declarations: each handler's operation, described by its spec, and the spec in
/// the table the middleware reads.
struct Routes {
    router: OpenApiRouter<AppState>,
    table: RouteTable,
}

impl Default for Routes {
    fn default() -> Self {
        Self { router: OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()), table: RouteTable::default() }
    }
}

impl Routes {
    fn route(mut self, (schemas, mut paths, mut handler): UtoipaMethodRouter<AppState>, spec: Route) -> Self {
        if spec.uploads {
            // the general body limit does not apply: `overload::protect` caps the body at the
            // upload limit instead
            handler = handler.layer(axum::extract::DefaultBodyLimit::disable());
        }
        for (path, item) in &mut paths.paths {
            for (method, operation) in openapi::operations(item) {
                openapi::describe(operation, spec);
                self.table.insert(path, method, spec);
            }
        }
        self.router = self.router.routes((schemas, paths, handler));
        self
    }

    fn finish(self) -> Declared {
        let (router, openapi) = self.router.split_for_parts();
        Declared { router, table: self.table, openapi }
    }
}

pub fn router(state: AppState) -> Router {
    let Declared { router, table, .. } = declared();
    let table = Arc::new(table);
    router
        .fallback(|| async { crate::ApiError::NotFound })
        .method_not_allowed_fallback(|| async { crate::ApiError::MethodNotAllowed })
        // the token and the scope the route declares, checked before any handler runs
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::extract::authenticate))
        // rate limits shared by every replica (Redis); inside the metrics, so 429s are counted
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::rate_limit))
        // overload protection (overload.rs): each route class's concurrency limit and deadline,
        // checked before the rate limits' Redis round trip, so a shed request costs nothing;
        // bodies over TUSK_MAX_BODY_BYTES get 413
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::overload::protect))
        .layer(axum::extract::DefaultBodyLimit::max(state.overload.max_body_bytes))
        // CORS outside the limits: a preflight is never counted, a 429 or 503 is readable
        .layer(axum::middleware::from_fn(middleware::cors))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        // metrics see every request, matched or not, with its final status
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_metrics))
        // one span per request (OpenTelemetry server span), so every log line of a request
        // carries its trace id
        .layer(axum::middleware::from_fn(middleware::trace_request))
        // the matched route's spec, for everything above (route.rs)
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::route::resolve(Arc::clone(&table), request, next)
        }))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::overload::RouteClass;
    use crate::route::Access;

    fn spec(method: &Method, path: &str) -> Route {
        declared().table.get(path, method).unwrap_or_else(|| panic!("{method} {path} is not declared"))
    }

    #[test]
    fn every_declared_route_is_in_the_document_and_nothing_else() {
        let declared = declared();
        let table: std::collections::BTreeSet<(String, String)> =
            declared.table.iter().map(|(path, method, _)| (method.to_string(), path.to_owned())).collect();
        assert!(table.len() > 40, "{table:?}");
        assert_eq!(table, crate::openapi::routes());
    }

    #[test]
    fn routes_get_the_class_limits_and_cors_declared() {
        assert_eq!(spec(&Method::POST, "/api/v1/accounts").class, Some(RouteClass::Signup));
        assert_eq!(spec(&Method::GET, "/api/v1/accounts/{id}").class, Some(RouteClass::Read));
        assert_eq!(spec(&Method::POST, "/api/v1/accounts/{id}/follow").class, Some(RouteClass::Write));
        assert_eq!(spec(&Method::POST, "/oauth/token").class, Some(RouteClass::Auth));
        assert_eq!(spec(&Method::POST, "/oauth/sign_in").class, Some(RouteClass::Auth));
        assert_eq!(spec(&Method::POST, "/oauth/authorize").class, Some(RouteClass::Auth));
        assert_eq!(spec(&Method::GET, "/oauth/authorize").class, Some(RouteClass::Read));
        assert_eq!(spec(&Method::DELETE, "/api/v1/statuses/{id}").class, Some(RouteClass::Write));
        assert_eq!(spec(&Method::GET, "/api/v1/streaming/user").class, Some(RouteClass::Streaming));
        // load balancers poll the health check however busy the replica is
        let health = spec(&Method::GET, "/api/v1/streaming/health");
        assert_eq!((health.class, health.counted), (None, false));
        // a HEAD is its GET; a method the path does not serve keeps the path's CORS rules
        assert_eq!(
            spec(&Method::HEAD, "/api/v1/timelines/home"),
            spec(&Method::GET, "/api/v1/timelines/home")
        );
        assert_eq!(spec(&Method::OPTIONS, "/oauth/token").cors, Cors::Token);
        assert_eq!(spec(&Method::OPTIONS, "/oauth/authorize").cors, Cors::Closed);
        assert_eq!(spec(&Method::PUT, "/api/v1/statuses").access, Access::Anyone);
        assert_eq!(spec(&Method::POST, "/api/v1/statuses").family, Some(Statuses));
        assert_eq!(spec(&Method::POST, "/api/v1/statuses").access, Access::User(WriteStatuses));
        assert!(spec(&Method::POST, "/oauth/token").issues_tokens);
        assert!(!spec(&Method::GET, "/.well-known/oauth-authorization-server").counted);
    }

    #[test]
    fn every_method_of_a_path_has_the_same_cors_rules() {
        let declared = declared();
        for (path, method, spec) in declared.table.iter() {
            for (other_path, other_method, other) in declared.table.iter() {
                if path == other_path {
                    assert_eq!(spec.cors, other.cors, "{method} and {other_method} {path}");
                }
            }
        }
    }
}
