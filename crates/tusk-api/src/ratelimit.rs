//! Rate limits as Mastodon applies them (rack-attack and its `RateLimiter`), counted in Redis so
//! that every api replica shares them: fixed windows aligned to the period, the
//! `X-RateLimit-*` headers of the most limited limit on every API response, and 429 with
//! `Retry-After` once a limit is spent. If Redis cannot count, requests are served without limits
//! (fail open): a Redis outage must not take the API down with it.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use tusk_cache::RateWindow;

use crate::extract::{Params, body_bytes};
use crate::{ApiError, AppState};

/// A Redis round trip for counting may take this long; past it the request is served unlimited.
const COUNT_TIMEOUT: Duration = Duration::from_millis(500);

/// `count` requests per `period`; a count of 0 switches the limit off. Parsed from
/// `COUNT/PERIOD`, the period in seconds or with a unit (`300/5m`, `5/30m`, `400/1d`), or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: u64,
    pub period: Duration,
}

impl Limit {
    pub const fn new(count: u64, period: Duration) -> Self {
        Self { count, period }
    }

    const OFF: Self = Self::new(0, Duration::from_secs(1));

    fn is_on(self) -> bool {
        self.count > 0
    }

    /// The window holding `now` (unix seconds), aligned to the period as rack-attack aligns it:
    /// its end, in unix seconds.
    fn window_end(self, now: u64) -> u64 {
        let period = self.period.as_secs().max(1);
        (now / period + 1) * period
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::OFF);
        }
        let (count, period) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected COUNT/PERIOD, such as 300/5m, or off"))?;
        let count: u64 = count.trim().parse().map_err(|_| format!("{s:?}: the count is not a number"))?;
        let period = period.trim();
        let (digits, unit) =
            period.split_at(period.find(|c: char| !c.is_ascii_digit()).unwrap_or(period.len()));
        let amount: u64 = digits.parse().map_err(|_| format!("{s:?}: the period is not a number"))?;
        let seconds = match unit {
            "" | "s" => amount,
            "m" => amount * 60,
            "h" => amount * 3600,
            "d" => amount * 86_400,
            _ => return Err(format!("{s:?}: the period's unit is one of s, m, h, d")),
        };
        if seconds == 0 {
            return Err(format!("{s:?}: the period must be at least a second"));
        }
        Ok(Self::new(count, Duration::from_secs(seconds)))
    }
}

/// Proxies whose `X-Forwarded-For` is believed (`TUSK_TRUSTED_PROXIES`), as CIDR ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Loopback and the private ranges, as Rails (and so Mastodon) trusts by default: a
    /// Kubernetes ingress or a local reverse proxy is trusted without configuration.
    pub fn private_ranges() -> Self {
        #[allow(clippy::expect_used)] // constant input
        Self::from_str("127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")
            .expect("valid ranges")
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of ranges (`10.0.0.0/8`) or addresses; `none` trusts no proxy.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(Self(Vec::new()));
        }
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is not an address or a CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// Every limit, each counted in Redis per window. Defaults are Mastodon's.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// `POST /api/v1/accounts` per client IP (`TUSK_RATE_LIMIT_SIGNUPS`, 5 per 30 minutes).
    pub signups: Limit,
    /// Sign-in attempts per client IP, whatever their outcome (`TUSK_RATE_LIMIT_SIGN_INS`, 25
    /// per 5 minutes, Mastodon's `throttle_login_attempts/ip`): `POST /oauth/sign_in` and the
    /// `password` grant of `POST /oauth/token`.
    pub sign_ins: Limit,
    /// Requests with a token, per token (`TUSK_RATE_LIMIT_AUTHENTICATED`, 300 per 5 minutes).
    pub authenticated: Limit,
    /// Requests without a token, per client IP, IPv6 by /64 (`TUSK_RATE_LIMIT_UNAUTHENTICATED`).
    pub unauthenticated: Limit,
    /// Statuses (and reblogs) created per account (`TUSK_RATE_LIMIT_STATUSES`, 300 per 3 hours).
    pub statuses: Limit,
    /// Follows per account (`TUSK_RATE_LIMIT_FOLLOWS`, 400 per day).
    pub follows: Limit,
    /// Media uploads per account (`TUSK_RATE_LIMIT_MEDIA`, 30 per 30 minutes).
    pub media: Limit,
    pub trusted_proxies: TrustedProxies,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            signups: Limit::new(5, Duration::from_mins(30)),
            sign_ins: Limit::new(25, Duration::from_mins(5)),
            authenticated: Limit::new(300, Duration::from_mins(5)),
            unauthenticated: Limit::new(300, Duration::from_mins(5)),
            statuses: Limit::new(300, Duration::from_hours(3)),
            follows: Limit::new(400, Duration::from_hours(24)),
            media: Limit::new(30, Duration::from_mins(30)),
            trusted_proxies: TrustedProxies::private_ranges(),
        }
    }
}

impl RateLimits {
    /// The same limit everywhere (tests use a very high one).
    pub fn uniform(limit: Limit) -> Self {
        Self {
            signups: limit,
            sign_ins: limit,
            authenticated: limit,
            unauthenticated: limit,
            statuses: limit,
            follows: limit,
            media: limit,
            ..Self::default()
        }
    }
}

/// The limits and the fail-open state of one replica.
pub(crate) struct RateLimiter {
    limits: RateLimits,
    /// Set while Redis cannot count, so an outage is logged once, not on every request.
    failing: AtomicBool,
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self { limits, failing: AtomicBool::new(false) }
    }

    fn counted(&self, ok: bool, cause: &dyn std::fmt::Display) {
        if ok {
            if self.failing.swap(false, Ordering::Relaxed) {
                tracing::info!("rate limits counted again");
            }
        } else if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(%cause, "rate limits cannot be counted: serving without them until Redis answers");
        }
    }
}

/// The limits a route has besides the general one, declared with the route (`router.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RateFamily {
    /// Sign-ups per client IP.
    Signups,
    /// Sign-in attempts per client IP (the sign-in page).
    SignIns,
    /// A sign-in attempt per client IP when the body's grant is `password` (`/oauth/token`).
    PasswordGrant,
    /// Statuses (and reblogs) per account, recorded only when the action succeeds (Mastodon's
    /// `RateLimiter`).
    Statuses,
    /// Follows per account, recorded only when the action succeeds.
    Follows,
    /// Media uploads per account, recorded only when the upload is accepted (Mastodon's
    /// `media` family: 30 per 30 minutes).
    Media,
}

impl RateFamily {
    /// The per-account families: counted for the token's account, after the action.
    fn per_account(self) -> bool {
        matches!(self, Self::Statuses | Self::Follows | Self::Media)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Signups => "signups",
            Self::SignIns | Self::PasswordGrant => "sign_ins",
            Self::Statuses => "statuses",
            Self::Follows => "follows",
            Self::Media => "media",
        }
    }

    fn limit(self, limits: &RateLimits) -> Limit {
        match self {
            Self::Signups => limits.signups,
            Self::SignIns | Self::PasswordGrant => limits.sign_ins,
            Self::Statuses => limits.statuses,
            Self::Follows => limits.follows,
            Self::Media => limits.media,
        }
    }
}

/// Where one limit stands for this request.
#[derive(Clone, Copy, Debug)]
struct Standing {
    limit: u64,
    /// Requests counted in the window, this one included.
    count: u64,
    window_end: u64,
    /// The window's length, seconds: in the key, so that two limits of one name with other
    /// periods (replicas configured differently) never share a counter.
    period: u64,
}

impl Standing {
    fn remaining(self) -> u64 {
        self.limit.saturating_sub(self.count)
    }

    fn exceeded(self) -> bool {
        self.count > self.limit
    }
}

/// What a request is counted by, worked out before it runs.
struct Subjects {
    /// The general limit: per token, or per client IP without one.
    general: Option<(&'static str, String, Limit)>,
    signup_ip: Option<String>,
    sign_in_ip: Option<String>,
    /// A per-account limit and the token that names the account.
    family: Option<(RateFamily, String)>,
}

/// The middleware: counts the request against every limit that applies, answers 429 when one
/// is spent, and puts the most limited one's `X-RateLimit-*` headers on the response.
pub(crate) async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let spec = crate::route::spec_of(&request);
    if !spec.counted {
        return next.run(request).await;
    }
    let limiter = &state.rate_limiter;
    let limits = &limiter.limits;
    let now = unix_now();
    let (request, sign_in) = match sign_in_attempt(request, spec.family, limits).await {
        Ok(peeked) => peeked,
        Err(error) => return error.into_response(),
    };
    let subjects = subjects(&request, spec.family, limits, sign_in);

    let counted = tokio::time::timeout(COUNT_TIMEOUT, count_before(&state, &subjects, now)).await;
    let (mut standings, family) = match counted {
        Ok(Ok(counted)) => {
            limiter.counted(true, &"");
            counted
        }
        Ok(Err(error)) => {
            limiter.counted(false, &error);
            return next.run(request).await;
        }
        Err(_) => {
            limiter.counted(false, &"timed out");
            return next.run(request).await;
        }
    };
    if let Some(spent) = standings.iter().copied().filter(|s| s.exceeded()).max_by_key(|s| s.window_end) {
        return too_many_requests(spent, now);
    }

    let mut response = next.run(request).await;
    if let Some((family, account, mut standing)) = family {
        // recorded only once the action happened, as Mastodon records after the save
        if response.status().is_success() {
            let window = RateWindow {
                limit: family.name(),
                period: standing.period,
                subject: &account,
                ends_at: standing.window_end,
            };
            match tokio::time::timeout(COUNT_TIMEOUT, state.service.rate_hit(window)).await {
                Ok(Ok(count)) => standing.count = count,
                Ok(Err(error)) => limiter.counted(false, &error),
                Err(_) => limiter.counted(false, &"timed out"),
            }
        }
        standings.push(standing);
    }
    if let Some(most_limited) = standings.iter().copied().min_by_key(|s| s.remaining()) {
        set_headers(response.headers_mut(), most_limited, now);
    }
    response
}

/// Whether the request is a sign-in attempt: a route declared [`RateFamily::SignIns`], or one
/// declared [`RateFamily::PasswordGrant`] whose grant is `password`. The grant type is in the
/// body (or the query), read here as the handler reads it; the body, within the size limit, is
/// put back for the handler.
async fn sign_in_attempt(
    request: Request,
    family: Option<RateFamily>,
    limits: &RateLimits,
) -> Result<(Request, bool), ApiError> {
    if !limits.sign_ins.is_on() {
        return Ok((request, false));
    }
    match family {
        Some(RateFamily::SignIns) => Ok((request, true)),
        Some(RateFamily::PasswordGrant) => {
            #[derive(serde::Deserialize)]
            struct Grant {
                #[serde(default)]
                grant_type: String,
            }
            let (parts, body) = request.into_parts();
            let bytes = body_bytes(Request::from_parts(parts.clone(), body), &()).await?;
            let peek = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
            // a body the handler cannot read either is its 400 to give, not a sign-in
            let password = Params::<Grant>::from_request(peek, &())
                .await
                .is_ok_and(|Params(grant)| grant.grant_type == "password");
            Ok((Request::from_parts(parts, Body::from(bytes)), password))
        }
        _ => Ok((request, false)),
    }
}

fn subjects(request: &Request, family: Option<RateFamily>, limits: &RateLimits, sign_in: bool) -> Subjects {
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| client_ip(peer.ip(), request.headers(), &limits.trusted_proxies))
        .map(ip_subject);
    let token = bearer_token(request);
    let general = match (&token, &client_ip) {
        (Some(token), _) => Some(("token", token_subject(token), limits.authenticated)),
        (None, Some(ip)) => Some(("ip", ip.clone(), limits.unauthenticated)),
        (None, None) => None,
    }
    .filter(|(_, _, limit)| limit.is_on());
    let signup_ip =
        client_ip.clone().filter(|_| family == Some(RateFamily::Signups) && limits.signups.is_on());
    let sign_in_ip = client_ip.filter(|_| sign_in);
    let family = family.filter(|family| family.per_account() && family.limit(limits).is_on()).zip(token);
    Subjects { general, signup_ip, sign_in_ip, family }
}

type Counted = (Vec<Standing>, Option<(RateFamily, String, Standing)>);

/// Counts the request in its windows (concurrently: each is its own key, maybe its own slot)
/// and reads the per-account window, which is recorded after the action.
async fn count_before(state: &AppState, subjects: &Subjects, now: u64) -> tusk_service::Result<Counted> {
    let limits = &state.rate_limiter.limits;
    let general = async {
        match &subjects.general {
            Some((name, subject, limit)) => hit(state, name, subject, *limit, now).await.map(Some),
            None => Ok(None),
        }
    };
    let signups = async {
        match &subjects.signup_ip {
            Some(ip) => hit(state, "signups", ip, limits.signups, now).await.map(Some),
            None => Ok(None),
        }
    };
    let sign_ins = async {
        match &subjects.sign_in_ip {
            Some(ip) => hit(state, "sign_ins", ip, limits.sign_ins, now).await.map(Some),
            None => Ok(None),
        }
    };
    let family = async {
        let Some((family, token)) = &subjects.family else { return Ok(None) };
        // the account behind the token; an unknown token is the handler's 401 to give
        let Ok(Some(row)) = state.service.token(&tusk_core::token::digest(token)).await else {
            return Ok(None);
        };
        let Some(account) = row.account_id else { return Ok(None) };
        let account = account.to_string();
        let limit = family.limit(limits);
        let window_end = limit.window_end(now);
        let period = limit.period.as_secs();
        let window = RateWindow { limit: family.name(), period, subject: &account, ends_at: window_end };
        let done = state.service.rate_count(window).await?;
        // as if this one is counted: a request that would go past the limit is refused
        let standing = Standing { limit: limit.count, count: done + 1, window_end, period };
        Ok::<_, tusk_service::ServiceError>(Some((*family, account, standing)))
    };
    let (general, signups, sign_ins, family) = tokio::try_join!(general, signups, sign_ins, family)?;
    let mut standings: Vec<Standing> = general.into_iter().chain(signups).chain(sign_ins).collect();
    let family = match family {
        Some((_, _, standing)) if standing.exceeded() => {
            standings.push(standing);
            None
        }
        other => other,
    };
    Ok((standings, family))
}

async fn hit(
    state: &AppState,
    name: &str,
    subject: &str,
    limit: Limit,
    now: u64,
) -> tusk_service::Result<Standing> {
    let window_end = limit.window_end(now);
    let period = limit.period.as_secs();
    let count =
        state.service.rate_hit(RateWindow { limit: name, period, subject, ends_at: window_end }).await?;
    Ok(Standing { limit: limit.count, count, window_end, period })
}

fn too_many_requests(spent: Standing, now: u64) -> Response {
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, Json(serde_json::json!({ "error": "Too many requests" })))
            .into_response();
    let headers = response.headers_mut();
    set_headers(headers, Standing { count: spent.limit, ..spent }, now);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(spent.window_end.saturating_sub(now).max(1)));
    response
}

fn set_headers(headers: &mut HeaderMap, standing: Standing, now: u64) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(standing.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(standing.remaining()));
    if let Ok(reset) = HeaderValue::try_from(reset_time(standing.window_end.max(now))) {
        headers.insert("x-ratelimit-reset", reset);
    }
}

/// The window's end as Mastodon sends it: ISO 8601 in UTC with microseconds.
fn reset_time(window_end: u64) -> String {
    i64::try_from(window_end)
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy (the left-most if all are).
/// Addresses left of that one are whatever the client claimed, and are ignored.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in forwarded.into_iter().rev() {
        let Ok(hop) = hop.trim().parse::<IpAddr>() else { break };
        client = hop.to_canonical();
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// How an IP is counted: an IPv4 address alone, an IPv6 address by its /64, which is what one
/// subscriber usually holds.
pub(crate) fn ip_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX));
            format!("{network}/64")
        }
    }
}

/// A token is counted by a digest, never by itself: keys are visible to anyone with Redis.
fn token_subject(token: &str) -> String {
    tusk_core::token::digest(token).iter().take(16).fold(String::with_capacity(32), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The bearer token of `Authorization`, or the `access_token` query parameter (streaming).
fn bearer_token(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
        return (!token.is_empty()).then(|| token.to_owned());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(request.uri().query()?).ok()?;
    pairs
        .into_iter()
        .find(|(name, value)| name == "access_token" && !value.is_empty())
        .map(|(_, token)| token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_subject(a), "2001:db8:1:2::/64");
        assert_eq!(ip_subject(a), ip_subject(b));
        assert_ne!(ip_subject(a), ip_subject(c));
        assert_eq!(ip_subject("192.0.2.7".parse().unwrap()), "192.0.2.7");
        // an IPv4 client on a dual-stack socket counts as its IPv4 address
        assert_eq!(ip_subject("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = TrustedProxies::from_str("10.0.0.0/8").unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        // the right-most untrusted hop; what the client itself put in front is ignored
        let headers = forwarded("1.1.1.1, 198.51.100.4, 10.0.0.5");
        assert_eq!(client_ip(proxy, &headers, &trusted), "198.51.100.4".parse::<IpAddr>().unwrap());
        // from an untrusted peer the header means nothing
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        // every hop trusted: the left-most
        assert_eq!(client_ip(proxy, &forwarded("10.9.9.9"), &trusted), "10.9.9.9".parse::<IpAddr>().unwrap());
        // garbage stops the walk at the last good hop
        assert_eq!(client_ip(proxy, &forwarded("nonsense"), &trusted), proxy);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        let none = TrustedProxies::from_str("none").unwrap();
        assert_eq!(client_ip(proxy, &headers, &none), proxy);
    }

    #[test]
    fn limits_parse() {
        assert_eq!("300/5m".parse::<Limit>().unwrap(), Limit::new(300, Duration::from_mins(5)));
        assert_eq!("5/1800".parse::<Limit>().unwrap(), Limit::new(5, Duration::from_mins(30)));
        assert_eq!("400/1d".parse::<Limit>().unwrap(), Limit::new(400, Duration::from_hours(24)));
        assert!(!"off".parse::<Limit>().unwrap().is_on());
        assert!("300".parse::<Limit>().is_err());
        assert!("300/0".parse::<Limit>().is_err());
        assert!("300/5w".parse::<Limit>().is_err());
        assert!("a/b".parse::<Limit>().is_err());
        assert!(TrustedProxies::from_str("10.0.0.0/8, ::1").is_ok());
        assert!(TrustedProxies::from_str("10.0.0.0/33").is_err());
    }

    #[test]
    fn windows_align_to_the_period() {
        let limit = Limit::new(1, Duration::from_mins(5));
        assert_eq!(limit.window_end(1_000_000_000), 1_000_000_200);
        assert_eq!(limit.window_end(1_000_000_200), 1_000_000_500);
        assert_eq!(reset_time(1_000_000_200), "2001-09-09T01:50:00.000000Z");
    }
}
