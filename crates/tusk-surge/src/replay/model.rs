//! The behaviour model: who signs up, whom they follow, and how often everyone reads and posts.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rand::Rng as _;
use rand::seq::IndexedRandom as _;
use reqwest::Method;
use serde_json::json;
use tokio::time::Instant;

use super::client::{Api, Body, Call};
use crate::scenario::Loaded;

/// An account the replay can act as.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub token: String,
}

/// The accounts the replay holds, as they grow during the run.
pub struct World {
    /// Existing users: from the seed manifest, or signed up before the run.
    pub existing: Vec<Account>,
    /// Account ids onboarding suggests, the most followed first.
    pub suggested: Vec<String>,
    /// Every account a new user may follow at random.
    pub followable: RwLock<Vec<String>>,
    /// New users signed up during the run.
    pub new_users: RwLock<Vec<Account>>,
    /// Unique, per run: usernames are `{tag}{n}`.
    pub tag: String,
    next_user: AtomicU64,
}

impl World {
    pub fn new(existing: Vec<Account>, suggested: Vec<String>, followable: Vec<String>) -> Self {
        Self {
            existing,
            suggested,
            followable: RwLock::new(followable),
            new_users: RwLock::new(Vec::new()),
            tag: format!("s{:06x}_", rand::rng().random::<u32>() & 0xff_ffff),
            next_user: AtomicU64::new(0),
        }
    }

    pub fn next_username(&self) -> String {
        format!("{}{}", self.tag, self.next_user.fetch_add(1, Ordering::Relaxed))
    }

    pub fn new_user_count(&self) -> usize {
        self.new_users.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn random_new_user(&self) -> Option<Account> {
        let users = self.new_users.read().unwrap_or_else(PoisonError::into_inner);
        users.choose(&mut rand::rng()).cloned()
    }
}

/// `count` distinct indexes below `n`, index k drawn with weight 1 / (k + 1)^exponent.
pub fn zipf_sample(n: usize, count: usize, exponent: f64) -> Vec<usize> {
    let mut weights: Vec<f64> = (0..n).map(|k| 1.0 / ((k + 1) as f64).powf(exponent)).collect();
    let mut chosen = Vec::with_capacity(count.min(n));
    let mut rng = rand::rng();
    while chosen.len() < count.min(n) {
        let total: f64 = weights.iter().sum();
        let mut x = rng.random::<f64>() * total;
        let k = weights
            .iter()
            .position(|w| {
                x -= w;
                x < 0.0
            })
            .unwrap_or_else(|| weights.iter().rposition(|w| *w > 0.0).unwrap_or(0));
        weights[k] = 0.0;
        chosen.push(k);
    }
    chosen
}

/// The address a new user signs up from: each their own, in 198.18.0.0/15 (RFC 2544's range
/// for benchmarks), so that per-IP limits (5 sign-ups per 30 minutes) see a crowd of people, as
/// in a real surge, and not one machine. Sent as `X-Forwarded-For`, which the target believes
/// only from a trusted proxy (`TUSK_TRUSTED_PROXIES`: loopback and private ranges by default).
pub fn client_address(username: &str) -> IpAddr {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    username.hash(&mut hasher);
    let host = (hasher.finish() % (1 << 17)) as u32;
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + host))
}

/// Signs a user up as a fresh client does: register an app, get an app token, create the
/// account, read it back. The first request is timed from `intended`; each next one from when
/// the previous answered. `None` if a step failed (already counted as an error).
pub async fn sign_up(api: &Api, username: &str, intended: Instant) -> Option<Account> {
    let from = Some(client_address(username));
    let app = api
        .json(
            Call {
                endpoint: "POST /api/v1/apps",
                method: Method::POST,
                path: "/api/v1/apps".into(),
                token: None,
                from,
                body: Body::Form(vec![
                    ("client_name", "tusk-surge".into()),
                    ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob".into()),
                    ("scopes", "read write follow".into()),
                ]),
            },
            intended,
        )
        .await?;
    let token = api
        .json(
            Call {
                endpoint: "POST /oauth/token",
                method: Method::POST,
                path: "/oauth/token".into(),
                token: None,
                from,
                body: Body::Form(vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", app["client_id"].as_str()?.to_owned()),
                    ("client_secret", app["client_secret"].as_str()?.to_owned()),
                    ("scope", "read write follow".into()),
                ]),
            },
            Instant::now(),
        )
        .await?;
    let app_token = token["access_token"].as_str()?;
    let user = api
        .json(
            Call {
                endpoint: "POST /api/v1/accounts",
                method: Method::POST,
                path: "/api/v1/accounts".into(),
                token: Some(app_token),
                from,
                body: Body::Json(json!({
                    "username": username,
                    "email": format!("{username}@surge.example"),
                    "password": format!("surge-{username}-password"),
                    "agreement": true,
                    "locale": "en",
                })),
            },
            Instant::now(),
        )
        .await?;
    let token = user["access_token"].as_str()?.to_owned();
    let me = api
        .json(
            Call {
                endpoint: "GET /api/v1/accounts/verify_credentials",
                method: Method::GET,
                path: "/api/v1/accounts/verify_credentials".into(),
                token: Some(&token),
                from,
                body: Body::None,
            },
            Instant::now(),
        )
        .await?;
    Some(Account { id: me["id"].as_str()?.to_owned(), token })
}

pub async fn follow(api: &Api, who: &Account, target: &str, intended: Instant) -> bool {
    let call = Call {
        endpoint: "POST /api/v1/accounts/{id}/follow",
        method: Method::POST,
        path: format!("/api/v1/accounts/{target}/follow"),
        token: Some(&who.token),
        from: None,
        body: Body::None,
    };
    api.send(call, intended).await.is_some_and(|a| a.status == 200)
}

pub fn home_call<'a>(who: &'a Account, query: &str) -> Call<'a> {
    Call {
        endpoint: "GET /api/v1/timelines/home",
        method: Method::GET,
        path: format!("/api/v1/timelines/home{query}"),
        token: Some(&who.token),
        from: None,
        body: Body::None,
    }
}

pub fn post_call<'a>(who: &'a Account, text: &str) -> Call<'a> {
    Call {
        endpoint: "POST /api/v1/statuses",
        method: Method::POST,
        path: "/api/v1/statuses".into(),
        token: Some(&who.token),
        from: None,
        body: Body::Json(json!({ "status": text })),
    }
}

const WORDS: &[&str] = &[
    "hello",
    "fediverse",
    "just",
    "arrived",
    "from",
    "the",
    "bird",
    "site",
    "elephants",
    "are",
    "friendly",
    "what",
    "should",
    "I",
    "follow",
    "first",
    "toot",
    "instance",
    "decentralised",
    "timeline",
];

fn status_text() -> String {
    let mut rng = rand::rng();
    let n = rng.random_range(3..20);
    (0..n).map(|_| *WORDS.choose(&mut rng).unwrap_or(&"toot")).collect::<Vec<_>>().join(" ")
}

/// A new user's arrival at `intended`: sign-up, then the onboarding follows (suggested
/// accounts, biased to the most followed, and random ones). Then it joins the active users.
pub async fn new_user(api: Api, world: Arc<World>, scenario: Arc<Loaded>, intended: Instant) {
    let username = world.next_username();
    let Some(account) = sign_up(&api, &username, intended).await else { return };
    api.recorder.signup();
    let n = &scenario.scenario.new_users;
    let mut targets: Vec<String> = zipf_sample(
        world.suggested.len().min(*n.suggestions.get_ref() as usize),
        *n.suggested_follows.get_ref() as usize,
        *n.zipf_exponent.get_ref(),
    )
    .into_iter()
    .map(|k| world.suggested[k].clone())
    .collect();
    {
        let followable = world.followable.read().unwrap_or_else(PoisonError::into_inner);
        let mut rng = rand::rng();
        for _ in 0..*n.random_follows.get_ref() {
            if let Some(id) = followable.choose(&mut rng).filter(|id| !targets.contains(id)) {
                targets.push(id.clone());
            }
        }
    }
    for target in targets {
        if api.stop.is_cancelled() {
            return;
        }
        follow(&api, &account, &target, Instant::now()).await;
    }
    world.followable.write().unwrap_or_else(PoisonError::into_inner).push(account.id.clone());
    world.new_users.write().unwrap_or_else(PoisonError::into_inner).push(account);
}

#[derive(Clone, Copy)]
pub enum Activity {
    NewUserReads,
    NewUserPosts,
    ExistingReads,
    ExistingPosts,
}

impl Activity {
    /// Events per run second across all the users of the class, at run time `t`.
    fn rate(self, world: &World, scenario: &Loaded, t: f64) -> f64 {
        let n = &scenario.scenario.new_users;
        let e = &scenario.scenario.existing_users;
        let new_users = world.new_user_count() as f64;
        let existing = if world.existing.is_empty() { 0.0 } else { scenario.active_existing(t) };
        match self {
            Self::NewUserReads => new_users * n.home_reads_per_minute.get_ref() / 60.0,
            Self::NewUserPosts => new_users * n.posts_per_hour.get_ref() / 3600.0,
            Self::ExistingReads => existing * e.home_reads_per_minute.get_ref() / 60.0,
            Self::ExistingPosts => existing * e.posts_per_hour.get_ref() / 3600.0,
        }
    }

    fn actor(self, world: &World) -> Option<Account> {
        match self {
            Self::NewUserReads | Self::NewUserPosts => world.random_new_user(),
            Self::ExistingReads | Self::ExistingPosts => world.existing.choose(&mut rand::rng()).cloned(),
        }
    }
}

/// One class of activity as a Poisson process whose rate follows the number of users: each
/// event is one request, sent at its time whether or not earlier ones answered (open loop).
pub async fn drive(api: Api, world: Arc<World>, scenario: Arc<Loaded>, activity: Activity, end: Instant) {
    // resampled at least this often, so that a rate that rises is followed (exact for a
    // Poisson process: it has no memory)
    const STEP: f64 = 0.1;
    let start = api.recorder.start;
    let mut at = start;
    while at < end && !api.stop.is_cancelled() {
        let t = at.saturating_duration_since(start).as_secs_f64();
        let rate = activity.rate(&world, &scenario, t);
        let gap = if rate > 0.0 { -(1.0 - rand::rng().random::<f64>()).ln() / rate } else { f64::INFINITY };
        if gap > STEP {
            at += Duration::from_secs_f64(STEP);
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = api.stop.cancelled() => return,
            }
            continue;
        }
        at += Duration::from_secs_f64(gap);
        if at >= end {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = api.stop.cancelled() => return,
        }
        let Some(actor) = activity.actor(&world) else { continue };
        let api = api.clone();
        let intended = at;
        tokio::spawn(async move {
            let call = match activity {
                Activity::NewUserReads | Activity::ExistingReads => home_call(&actor, "?limit=20"),
                Activity::NewUserPosts | Activity::ExistingPosts => post_call(&actor, &status_text()),
            };
            api.send(call, intended).await;
        });
    }
}

/// New users arrive on the scenario's curve: in each second, a Poisson process at that
/// second's rate.
pub async fn arrivals(api: Api, world: Arc<World>, scenario: Arc<Loaded>, end: Instant) {
    let start = api.recorder.start;
    let seconds = scenario.duration_s().ceil() as u32;
    for s in 0..seconds {
        let rate = scenario.signup_rate(f64::from(s) + 0.5);
        let mut t = f64::from(s);
        loop {
            if rate <= 0.0 {
                break;
            }
            t += -(1.0 - rand::rng().random::<f64>()).ln() / rate;
            if t >= f64::from(s + 1) {
                break;
            }
            let intended = start + Duration::from_secs_f64(t);
            if intended >= end {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(intended) => {}
                () = api.stop.cancelled() => return,
            }
            tokio::spawn(new_user(api.clone(), world.clone(), scenario.clone(), intended));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_user_signs_up_from_a_benchmark_address_of_their_own() {
        let in_range = |v4: &Ipv4Addr| u32::from(*v4) >> 17 == u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17;
        let addresses: std::collections::HashSet<IpAddr> =
            (0..1000).map(|n| client_address(&format!("surge{n}"))).collect();
        assert!(addresses.len() >= 990, "{} distinct of 1000", addresses.len());
        assert!(addresses.iter().all(|a| matches!(a, IpAddr::V4(v4) if in_range(v4))));
        assert_eq!(client_address("alice"), client_address("alice"));
    }

    #[test]
    fn zipf_prefers_the_first_and_never_repeats() {
        let mut firsts = 0;
        for _ in 0..2000 {
            let picked = zipf_sample(20, 4, 1.0);
            assert_eq!(picked.len(), 4);
            let mut unique = picked.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 4);
            firsts += usize::from(picked.contains(&0));
        }
        let mut lasts = 0;
        for _ in 0..2000 {
            lasts += usize::from(zipf_sample(20, 4, 1.0).contains(&19));
        }
        assert!(firsts > 3 * lasts, "rank 1 picked {firsts} times, rank 20 {lasts} times");
        assert_eq!(zipf_sample(3, 10, 1.0).len(), 3);
    }
}
