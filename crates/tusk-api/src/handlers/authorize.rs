//! `/oauth/authorize`: the browser half of the `authorization_code` grant, as small
//! server-rendered pages that work without JavaScript: sign in, then authorize or deny.
//!
//! CSRF: a random secret lives in an HttpOnly, SameSite=Lax cookie; every form carries a token
//! derived from it (sha256), so a form posted from elsewhere, without the cookie or without the
//! token, is refused. Signing in replaces the cookie (no session fixation) and records the
//! sign-in server-side under the new cookie's hash. Nothing here redirects before the client and
//! its redirect URI are known to match: an unknown pair is an error page, never a redirect.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tusk_core::html::escape;
use tusk_core::token::OOB_REDIRECT;
use tusk_core::{Id, Scopes, token};
use tusk_store::AppRow;
use utoipa::IntoParams;

use crate::extract::RawBody;
use crate::{ApiError, AppState};
use tusk_service::CodeGrant;

const COOKIE: &str = "_tusk_oauth";
/// How long a sign-in on the authorize page lasts.
const SESSION_HOURS: i32 = 1;

/// The query of `GET /oauth/authorize`, carried on through the forms as hidden fields, plus the
/// forms' own fields. Everything is a string: a bad value is a page saying so, not a rejection.
#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeForm {
    /// `code`.
    response_type: String,
    client_id: String,
    /// One the app registered; may be left out when it registered only one.
    redirect_uri: String,
    /// Space-separated, within the app's scopes.
    scope: String,
    /// Given back to the app with the code.
    state: String,
    /// PKCE: base64url(sha256(verifier)), 43 characters.
    code_challenge: String,
    /// `S256`.
    code_challenge_method: String,
    /// `true` signs the browser out first.
    force_login: String,
    #[param(ignore)]
    csrf_token: String,
    #[param(ignore)]
    email: String,
    #[param(ignore)]
    password: String,
    #[param(ignore)]
    decision: String,
}

/// An authorization request whose client and redirect URI match.
struct Authorization {
    app: AppRow,
    redirect_uri: String,
    scopes: Scopes,
    code_challenge: Option<String>,
}

/// `GET /oauth/authorize`: the sign-in form, or the authorize page for a signed-in browser.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    operation_id = "oauth_authorize_page",
    tag = "oauth",
    params(AuthorizeForm),
    responses(
        (status = 200, description = "The sign-in page, or the authorize page for a signed-in browser", content_type = "text/html", body = String),
        (status = 302, description = "To the app's redirect URI, with `code` (and `state`) or `error`", headers(("Location" = String))),
        (status = 400, description = "A malformed request, or a redirect URI the app did not register", content_type = "text/html", body = String),
        (status = 401, description = "An unknown client", content_type = "text/html", body = String),
        (status = 503, description = "The server is busy", content_type = "text/html", body = String),
    )
)]
pub async fn show(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(form) = parse_form(query.as_deref().unwrap_or_default().as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, "The authorization request is malformed.");
    };
    respond(async {
        let authorization = match validate(&state, &form).await? {
            Ok(authorization) => authorization,
            Err(response) => return Ok(response),
        };
        let cookie = cookie(&headers);
        let force_login = matches!(form.force_login.as_str(), "true" | "1" | "on");
        if let Some(secret) = cookie.as_deref().filter(|_| !force_login)
            && let Some(account_id) = state.service.browser_session(secret).await?
        {
            return consent_page(&state, &form, &authorization, account_id, secret, None).await;
        }
        // a fresh secret for a new browser, or to forget a sign-in when the app forces a login
        let secret = token::generate();
        Ok(sign_in_page(&state, &form, &secret, StatusCode::OK, None, Some(&secret)))
    })
    .await
}

/// `POST /oauth/sign_in`: checks the password, then shows the authorize page.
#[utoipa::path(
    post,
    path = "/oauth/sign_in",
    operation_id = "oauth_sign_in",
    tag = "oauth",
    request_body(content(("application/x-www-form-urlencoded")), description = "The fields of the page's form: the authorization request as hidden fields, the CSRF token, and `email`/`password` or `decision`"),
    responses(
        (status = 200, description = "The authorize page", content_type = "text/html", body = String),
        (status = 302, description = "To the app's redirect URI, with `code` (and `state`) or `error`", headers(("Location" = String))),
        (status = 400, description = "A redirect URI the app did not register, or a bad request for the out-of-band one", content_type = "text/html", body = String),
        (status = 401, description = "An unknown client", content_type = "text/html", body = String),
        (status = 403, description = "No CSRF cookie, or the form's token does not match it", content_type = "text/html", body = String),
        (status = 422, description = "Wrong email or password: the sign-in page again", content_type = "text/html", body = String),
        (status = 503, description = "The server is busy", content_type = "text/html", body = String),
    )
)]
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let Some((form, secret)) = checked_form(&headers, &body) else { return csrf_refused() };
    respond(async {
        let authorization = match validate(&state, &form).await? {
            Ok(authorization) => authorization,
            Err(response) => return Ok(response),
        };
        let Some(account_id) = state.service.check_password(&form.email, form.password.clone()).await? else {
            return Ok(sign_in_page(
                &state,
                &form,
                &secret,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Invalid email or password."),
                None,
            ));
        };
        let signed_in = state.service.start_browser_session(account_id, SESSION_HOURS).await?;
        consent_page(&state, &form, &authorization, account_id, &signed_in, Some(&signed_in)).await
    })
    .await
}

/// `POST /oauth/authorize`: the user's decision. Authorize issues a code, deny says so to the app.
#[utoipa::path(
    post,
    path = "/oauth/authorize",
    operation_id = "oauth_authorize_decide",
    tag = "oauth",
    request_body(content(("application/x-www-form-urlencoded")), description = "The fields of the page's form: the authorization request as hidden fields, the CSRF token, and `email`/`password` or `decision`"),
    responses(
        (status = 200, description = "The code, for the out-of-band redirect URI; or the sign-in page when the sign-in expired", content_type = "text/html", body = String),
        (status = 302, description = "To the app's redirect URI, with `code` (and `state`) or `error`", headers(("Location" = String))),
        (status = 400, description = "A redirect URI the app did not register, or a bad request for the out-of-band one", content_type = "text/html", body = String),
        (status = 401, description = "An unknown client", content_type = "text/html", body = String),
        (status = 403, description = "No CSRF cookie, or the form's token does not match it", content_type = "text/html", body = String),
        (status = 503, description = "The server is busy", content_type = "text/html", body = String),
    )
)]
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let Some((form, secret)) = checked_form(&headers, &body) else { return csrf_refused() };
    respond(async {
        let authorization = match validate(&state, &form).await? {
            Ok(authorization) => authorization,
            Err(response) => return Ok(response),
        };
        let Some(account_id) = state.service.browser_session(&secret).await? else {
            let fresh = token::generate();
            return Ok(sign_in_page(
                &state,
                &form,
                &fresh,
                StatusCode::OK,
                Some("Your sign-in expired. Please sign in again."),
                Some(&fresh),
            ));
        };
        if form.decision != "authorize" {
            return Ok(redirect_error(
                &authorization.redirect_uri,
                &form.state,
                "access_denied",
                "The resource owner or authorization server denied the request.",
            ));
        }
        let code = state
            .service
            .grant_code(CodeGrant {
                app: authorization.app.id,
                account: account_id,
                redirect_uri: &authorization.redirect_uri,
                scopes: &authorization.scopes,
                code_challenge: authorization.code_challenge.as_deref(),
            })
            .await?;
        if authorization.redirect_uri == OOB_REDIRECT {
            let body = format!(
                "<h1>Authorization code</h1><p>Copy this code and paste it into {}.</p>\
                 <input id=\"code\" class=\"code\" readonly value=\"{}\">",
                escape(&authorization.app.name),
                escape(&code),
            );
            return Ok(html(StatusCode::OK, "Authorization code", &body, None, None));
        }
        let mut pairs = vec![("code", code.as_str())];
        if !form.state.is_empty() {
            pairs.push(("state", form.state.as_str()));
        }
        Ok(redirect(&with_query(&authorization.redirect_uri, &pairs)))
    })
    .await
}

/// Store and cache failures become an error page (their cause logged), never a JSON body.
async fn respond(work: impl Future<Output = Result<Response, ApiError>>) -> Response {
    match work.await {
        Ok(response) => response,
        Err(ApiError::Unavailable(cause)) => {
            tracing::warn!(%cause, "dependency unavailable");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "The server is busy. Please try again shortly.")
        }
        // the argon2 line is full (crate::passwords): shed, as a JSON request would be
        Err(ApiError::Overloaded(_)) => {
            error_page(StatusCode::SERVICE_UNAVAILABLE, "The server is busy. Please try again shortly.")
        }
        Err(error) => {
            tracing::error!(%error, "authorize page failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Please try again.")
        }
    }
}

/// The posted form, if it carries the CSRF token of this browser's cookie; and the cookie.
fn checked_form(headers: &HeaderMap, body: &[u8]) -> Option<(AuthorizeForm, String)> {
    let form = parse_form(body)?;
    let secret = cookie(headers)?;
    // compared as hashes, so the time taken says nothing about the expected token
    (token::digest(&form.csrf_token) == token::digest(&csrf_token(&secret))).then_some((form, secret))
}

/// A query or form body, unless malformed; a NUL character (which PostgreSQL's text cannot hold)
/// makes it malformed too.
fn parse_form(raw: &[u8]) -> Option<AuthorizeForm> {
    if raw.contains(&0) || raw.windows(3).any(|w| w == b"%00") {
        return None;
    }
    serde_urlencoded::from_bytes(raw).ok()
}

fn csrf_token(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(token::digest(&format!("csrf:{secret}")))
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
        .filter(|v| !v.is_empty())
}

/// Checks the request the way Doorkeeper does: an unknown client or a redirect URI the app did
/// not register is shown as an error; anything else wrong goes back to the app's redirect URI.
async fn validate(
    state: &AppState,
    form: &AuthorizeForm,
) -> Result<Result<Authorization, Response>, ApiError> {
    let Some(app) = state.service.app_by_client_id(&form.client_id).await? else {
        return Ok(Err(error_page(
            StatusCode::UNAUTHORIZED,
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        )));
    };
    let registered: Vec<&str> = app.redirect_uris.lines().collect();
    let redirect_uri = match (form.redirect_uri.as_str(), registered.as_slice()) {
        ("", [only]) => (*only).to_owned(),
        (uri, list) if !uri.is_empty() && list.contains(&uri) => uri.to_owned(),
        _ => {
            return Ok(Err(error_page(StatusCode::BAD_REQUEST, "The redirect uri included is not valid.")));
        }
    };
    let refuse = |error: &str, description: &str| {
        Ok(Err(redirect_error(&redirect_uri, &form.state, error, description)))
    };
    if form.response_type != "code" {
        return refuse(
            "unsupported_response_type",
            "The authorization server does not support this response type.",
        );
    }
    let app_scopes = Scopes::parse(&app.scopes).map_err(ApiError::internal)?;
    let scopes = match Scopes::parse(&form.scope) {
        Ok(scopes) if app_scopes.contains_all(&scopes) => scopes,
        _ => return refuse("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    };
    let code_challenge = match (form.code_challenge.as_str(), form.code_challenge_method.as_str()) {
        ("", "") => None,
        (challenge, "S256") if valid_challenge(challenge) => Some(challenge.to_owned()),
        (_, "S256" | "") => return refuse("invalid_request", "The code challenge is invalid."),
        _ => return refuse("invalid_request", "The code challenge method must be S256."),
    };
    Ok(Ok(Authorization { app, redirect_uri, scopes, code_challenge }))
}

/// An S256 challenge is 32 bytes in base64url: 43 characters.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn sign_in_page(
    state: &AppState,
    form: &AuthorizeForm,
    secret: &str,
    status: StatusCode,
    error: Option<&str>,
    set_cookie: Option<&str>,
) -> Response {
    let error =
        error.map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to {domain}</h1>{error}\
         <form method=\"post\" action=\"/oauth/sign_in\">{hidden}\
         <label for=\"email\">Email address</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button id=\"sign_in\" type=\"submit\">Sign in</button></form>",
        domain = escape(&state.instance.domain),
        hidden = hidden_fields(form, secret),
        email = escape(form.email.trim()),
    );
    html(status, "Sign in", &body, None, set_cookie.map(|s| session_cookie(state, s)))
}

async fn consent_page(
    state: &AppState,
    form: &AuthorizeForm,
    authorization: &Authorization,
    account_id: Id,
    secret: &str,
    set_cookie: Option<&str>,
) -> Result<Response, ApiError> {
    let username = state.service.account_username(account_id).await?.unwrap_or_default();
    let mut scopes = String::new();
    for scope in authorization.scopes.iter() {
        let _ = write!(
            scopes,
            "<li><code>{}</code> {}</li>",
            escape(scope.as_str()),
            escape(scope.description())
        );
    }
    let body = format!(
        "<h1>Authorization required</h1>\
         <p><strong id=\"app\">{app}</strong> would like permission to access your account \
         <strong>@{username}</strong>. It is a third-party application; if you do not trust it, \
         you should not authorize it.</p><h2>Review permissions</h2><ul id=\"scopes\">{scopes}</ul>\
         <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
         <button id=\"authorize\" type=\"submit\" name=\"decision\" value=\"authorize\">Authorize</button>\
         <button id=\"deny\" type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </form>",
        app = escape(&authorization.app.name),
        username = escape(&username),
        hidden = hidden_fields(form, secret),
    );
    Ok(html(
        StatusCode::OK,
        "Authorization required",
        &body,
        Some(&authorization.redirect_uri),
        set_cookie.map(|s| session_cookie(state, s)),
    ))
}

/// The authorization request, carried from page to page, and the CSRF token.
fn hidden_fields(form: &AuthorizeForm, secret: &str) -> String {
    let mut fields = String::new();
    for (name, value) in [
        ("response_type", form.response_type.as_str()),
        ("client_id", &form.client_id),
        ("redirect_uri", &form.redirect_uri),
        ("scope", &form.scope),
        ("state", &form.state),
        ("code_challenge", &form.code_challenge),
        ("code_challenge_method", &form.code_challenge_method),
        ("csrf_token", &csrf_token(secret)),
    ] {
        let _ = write!(fields, "<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value));
    }
    fields
}

fn session_cookie(state: &AppState, secret: &str) -> String {
    let secure = if state.instance.https { "; Secure" } else { "" };
    format!(
        "{COOKIE}={secret}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    )
}

fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from this site. Go back, reload the page and try again.",
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body =
        format!("<h1>An error has occurred</h1><p class=\"error\" id=\"error\">{}</p>", escape(message));
    html(status, "Error", &body, None, None)
}

/// An HTML page with headers that keep it out of frames, scripts and caches. `redirect_uri` is
/// where the page's form may end up: browsers apply `form-action` to the redirect too.
fn html(
    status: StatusCode,
    title: &str,
    body: &str,
    redirect_uri: Option<&str>,
    set_cookie: Option<String>,
) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = escape(title),
    );
    let form_action = redirect_uri.and_then(csp_source).map(|s| format!(" {s}")).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // X-Frame-Options and nosniff come from crate::middleware::security_headers, as on every page
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The CSP source allowing a redirect to `uri`: its origin (`https://app.example`) or, for an
/// app's own scheme, the scheme (`myapp:`). `None` when it cannot be written safely.
fn csp_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let source = if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        let authority = rest.split(['/', '?', '#']).next()?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}:")
    };
    source.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]_".contains(&b)).then_some(source)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f4f8;color:#222;margin:0}\
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}\
label{display:block;margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}\
button{margin-top:1.5rem;margin-right:.5rem;padding:.6rem 1.2rem;font-size:1rem}\
.error{color:#b00020}.code{font-family:monospace}";

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The redirect uri included is not valid."),
    }
}

/// An OAuth error for the app: at its redirect URI, or on a page for the out-of-band one.
fn redirect_error(redirect_uri: &str, state: &str, error: &str, description: &str) -> Response {
    if redirect_uri == OOB_REDIRECT {
        return error_page(StatusCode::BAD_REQUEST, description);
    }
    let mut pairs = vec![("error", error), ("error_description", description)];
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    redirect(&with_query(redirect_uri, &pairs))
}

/// `uri` with `pairs` added to its query (before any fragment).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = uri.split_once('#').map_or((uri, None), |(b, f)| (b, Some(f)));
    let separator = if base.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    match fragment {
        Some(fragment) => format!("{base}{separator}{query}#{fragment}"),
        None => format!("{base}{separator}{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_uri() {
        assert_eq!(with_query("https://a.example/cb", &[("code", "x y")]), "https://a.example/cb?code=x+y");
        assert_eq!(
            with_query("https://a.example/cb?k=1#f", &[("code", "x")]),
            "https://a.example/cb?k=1&code=x#f"
        );
        assert_eq!(csp_source("https://a.example:8443/cb?x").as_deref(), Some("https://a.example:8443"));
        assert_eq!(csp_source("myapp://oauth").as_deref(), Some("myapp:"));
        assert_eq!(csp_source("bad;scheme://x"), None);
        assert_eq!(escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
