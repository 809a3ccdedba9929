//! A steady load of sign-ups, follows, posts and home reads, sent the way clients send them while
//! a fault happens, and the checks afterwards.
//!
//! The clients retry as real ones do: a 503 after its `Retry-After`, a connection error on
//! another replica (as a proxy does). Posts carry an `Idempotency-Key`, so a retried post cannot
//! create a second status: a retry of a post whose replica died after its commit gets the
//! original. Every response is tallied.
//!
//! Afterwards [`Load::verify`] asserts what the fault tests promise:
//! - no request got a 5xx other than 503, and every 503 carried `Retry-After`;
//! - every accepted post (answered 200) is in the home timeline of every account whose follow
//!   had been accepted before the post was sent, exactly once; and no home holds two statuses
//!   with one post's text (a retry that created a duplicate).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::stack::Balancer;

/// How long one request is retried before the client gives up (and the test fails).
const GIVE_UP_AFTER: Duration = Duration::from_mins(1);
/// Posts per author at most: a home feed rebuilt from PostgreSQL (after a Redis flush) takes the
/// newest 40 of each followed account.
const MAX_POSTS_PER_AUTHOR: usize = 30;
const PAGE: usize = 40;

#[derive(Clone, Debug)]
pub struct LoadSettings {
    /// Concurrent clients.
    pub tasks: usize,
    /// Accounts signed up (and following each other) before the load starts.
    pub users: usize,
    /// Sign-ups continue during the load up to this many accounts.
    pub max_users: usize,
    /// One client's pause between requests.
    pub pause: Duration,
    /// Retry 503s and connection errors. Off, every one of them is a failure.
    pub retry: bool,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self { tasks: 6, users: 12, max_users: 24, pause: Duration::from_millis(80), retry: true }
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub token: String,
}

struct Follow {
    follower: usize,
    target: usize,
    accepted: Instant,
}

struct Post {
    author: usize,
    id: String,
    text: String,
    sent: Instant,
}

/// Every response the clients got, by kind.
#[derive(Default)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    connection_errors: u64,
    /// When each 503 arrived.
    unavailable: Vec<Instant>,
    unavailable_without_retry_after: u64,
    /// 5xx other than 503, unexpected 4xx, requests given up on.
    failures: Vec<String>,
}

#[derive(Default)]
struct Records {
    accounts: Vec<Account>,
    follows: Vec<Follow>,
    posts: Vec<Post>,
    /// Posts whose outcome the client never learnt (given up on).
    unknown_posts: u64,
    tally: Tally,
}

pub struct Load {
    name: String,
    http: reqwest::Client,
    balancer: Arc<Balancer>,
    settings: LoadSettings,
    /// A `client_credentials` token, for sign-ups.
    pub app_token: String,
    records: Mutex<Records>,
    serial: AtomicU64,
}

/// What a request came to, for the caller.
struct Reply {
    status: StatusCode,
    body: Value,
    /// Attempts it took (more than one: retried).
    attempts: u32,
}

impl Load {
    /// Registers an app, signs up `settings.users` accounts and has each follow three others.
    pub async fn prepare(name: &str, balancer: Arc<Balancer>, settings: LoadSettings) -> Arc<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let mut load = Self {
            name: name.to_owned(),
            http,
            balancer,
            settings,
            app_token: String::new(),
            records: Mutex::default(),
            serial: AtomicU64::new(0),
        };
        load.app_token = load.fetch_app_token().await;
        let load = Arc::new(load);
        for _ in 0..load.settings.users {
            assert!(load.sign_up().await, "a sign-up before the fault failed");
        }
        for follower in 0..load.settings.users {
            for k in 1..=3 {
                load.follow(follower, (follower + k) % load.settings.users).await;
            }
        }
        load
    }

    async fn fetch_app_token(&self) -> String {
        let (_, base) = self.balancer.pick(None).expect("a ready replica");
        let app: Value = self
            .http
            .post(format!("{base}/api/v1/apps"))
            .form(&[
                ("client_name", "faults"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
                ("scopes", "read write follow"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token: Value = self
            .http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app["client_id"].as_str().unwrap()),
                ("client_secret", app["client_secret"].as_str().unwrap()),
                ("scope", "read write follow"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().expect("an app token").to_owned()
    }

    /// Runs the load for `duration` on `settings.tasks` clients.
    pub fn run(self: &Arc<Self>, duration: Duration) -> Running {
        let until = Instant::now() + duration;
        let tasks = (0..self.settings.tasks)
            .map(|_| {
                let load = self.clone();
                tokio::spawn(async move {
                    while Instant::now() < until {
                        load.one_request().await;
                        tokio::time::sleep(load.settings.pause).await;
                    }
                })
            })
            .collect();
        Running { tasks }
    }

    async fn one_request(&self) {
        let (users, can_sign_up) = {
            let records = self.records.lock().unwrap();
            (records.accounts.len(), records.accounts.len() < self.settings.max_users)
        };
        let roll: f64 = rand::rng().random();
        let user = rand::rng().random_range(0..users);
        if can_sign_up && roll < 0.08 {
            self.sign_up().await;
        } else if roll < 0.40 {
            self.post(user).await;
        } else if roll < 0.55 {
            let target = rand::rng().random_range(0..users);
            if target != user {
                self.follow(user, target).await;
            }
        } else {
            self.read_home(user).await;
        }
    }

    /// Sends a request built by `make` for a replica's base URL; retries as a client would
    /// (when `settings.retry`) and tallies every answer. `None`: no usable answer (recorded).
    async fn send(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Option<Reply> {
        let started = Instant::now();
        let mut avoid = None;
        let mut attempts = 0;
        loop {
            if started.elapsed() > GIVE_UP_AFTER {
                self.fail(format!("{what}: given up after {attempts} attempts"));
                return None;
            }
            let Some((replica, base)) = self.balancer.pick(avoid) else {
                // no replica ready: a Service without endpoints; the client tries again
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            attempts += 1;
            let result = async {
                let response = make(&self.http, &base).send().await?;
                let status = response.status();
                let retry_after = response.headers().get("retry-after").cloned();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, body))
            }
            .await;
            let (status, retry_after, body) = match result {
                Ok(answer) => answer,
                Err(error) => {
                    {
                        let mut records = self.records.lock().unwrap();
                        records.tally.requests += 1;
                        records.tally.connection_errors += 1;
                    }
                    if !self.settings.retry {
                        self.fail(format!("{what}: {error}"));
                        return None;
                    }
                    // a proxy sends the retry elsewhere
                    avoid = Some(replica);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            {
                let mut records = self.records.lock().unwrap();
                records.tally.requests += 1;
                *records.tally.by_status.entry(status.as_u16()).or_default() += 1;
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    records.tally.unavailable.push(Instant::now());
                    if retry_after.is_none() {
                        records.tally.unavailable_without_retry_after += 1;
                    }
                }
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                if !self.settings.retry {
                    self.fail(format!("{what}: 503"));
                    return None;
                }
                let wait = retry_after
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs)
                    .min(Duration::from_secs(5));
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                self.fail(format!("{what}: {status} {}", String::from_utf8_lossy(&body)));
                return None;
            }
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Some(Reply { status, body, attempts });
        }
    }

    fn fail(&self, failure: String) {
        eprintln!("load {}: {failure}", self.name);
        self.records.lock().unwrap().tally.failures.push(failure);
    }

    fn token(&self, user: usize) -> String {
        self.records.lock().unwrap().accounts[user].token.clone()
    }

    pub fn account(&self, user: usize) -> Account {
        self.records.lock().unwrap().accounts[user].clone()
    }

    /// Signs a new account up; whether it is now usable.
    async fn sign_up(&self) -> bool {
        let username = format!("{}{}", self.name, self.serial.fetch_add(1, Ordering::Relaxed));
        let form = json!({
            "username": username,
            "email": format!("{username}@example.org"),
            "password": "correct horse battery",
            "agreement": true,
            "locale": "en",
        });
        let Some(reply) = self
            .send("sign-up", |http, base| {
                http.post(format!("{base}/api/v1/accounts")).bearer_auth(&self.app_token).json(&form)
            })
            .await
        else {
            return false;
        };
        if reply.status != StatusCode::OK {
            // a retry of a sign-up that went through the first time finds the name taken
            if reply.attempts == 1 || reply.status != StatusCode::UNPROCESSABLE_ENTITY {
                self.fail(format!("sign-up: {} {}", reply.status, reply.body));
            }
            return false;
        }
        let token = reply.body["access_token"].as_str().unwrap().to_owned();
        let Some(me) = self
            .send("verify_credentials", |http, base| {
                http.get(format!("{base}/api/v1/accounts/verify_credentials")).bearer_auth(&token)
            })
            .await
        else {
            return false;
        };
        if me.status != StatusCode::OK {
            self.fail(format!("verify_credentials: {} {}", me.status, me.body));
            return false;
        }
        let id = me.body["id"].as_str().unwrap().to_owned();
        self.records.lock().unwrap().accounts.push(Account { id, token });
        true
    }

    async fn follow(&self, follower: usize, target: usize) {
        let (token, target_id) = {
            let records = self.records.lock().unwrap();
            (records.accounts[follower].token.clone(), records.accounts[target].id.clone())
        };
        let Some(reply) = self
            .send("follow", |http, base| {
                http.post(format!("{base}/api/v1/accounts/{target_id}/follow")).bearer_auth(&token)
            })
            .await
        else {
            return;
        };
        if reply.status == StatusCode::OK && reply.body["following"] == true {
            let accepted = Instant::now();
            self.records.lock().unwrap().follows.push(Follow { follower, target, accepted });
        } else {
            self.fail(format!("follow: {} {}", reply.status, reply.body));
        }
    }

    /// Posts as `author`; the post's id if accepted.
    pub async fn post(&self, author: usize) -> Option<String> {
        if self.records.lock().unwrap().posts.iter().filter(|p| p.author == author).count()
            >= MAX_POSTS_PER_AUTHOR
        {
            return None;
        }
        let token = self.token(author);
        let text = format!("{} post {}", self.name, self.serial.fetch_add(1, Ordering::Relaxed));
        let sent = Instant::now();
        let make = |http: &reqwest::Client, base: &str| {
            http.post(format!("{base}/api/v1/statuses"))
                .bearer_auth(&token)
                .header("Idempotency-Key", &text)
                .json(&json!({ "status": text }))
        };
        let reply = self.send("post", make).await;
        match reply {
            Some(reply) if reply.status == StatusCode::OK => {
                let id = reply.body["id"].as_str().unwrap().to_owned();
                self.records.lock().unwrap().posts.push(Post { author, id: id.clone(), text, sent });
                Some(id)
            }
            Some(reply) => {
                self.fail(format!("post: {} {}", reply.status, reply.body));
                None
            }
            None => {
                self.records.lock().unwrap().unknown_posts += 1;
                None
            }
        }
    }

    /// Adds a post the client did not see accepted but that the test knows was committed (the
    /// api died after the commit): it must reach the followers' homes like any other.
    pub fn add_committed_post(&self, author: usize, id: String, text: String, sent: Instant) {
        self.records.lock().unwrap().posts.push(Post { author, id, text, sent });
    }

    async fn read_home(&self, user: usize) {
        let token = self.token(user);
        let reply = self
            .send("home", |http, base| {
                http.get(format!("{base}/api/v1/timelines/home?limit=20")).bearer_auth(&token)
            })
            .await;
        if let Some(reply) = reply
            && reply.status != StatusCode::OK
        {
            self.fail(format!("home: {} {}", reply.status, reply.body));
        }
    }

    /// Every status in `user`'s home timeline, (id, content), newest first, page by page.
    async fn whole_home(&self, user: usize) -> Vec<(String, String)> {
        let token = self.token(user);
        let mut statuses: Vec<(String, String)> = Vec::new();
        loop {
            let max_id = statuses.last().map(|(id, _)| format!("&max_id={id}")).unwrap_or_default();
            let reply = self
                .send("home page", |http, base| {
                    http.get(format!("{base}/api/v1/timelines/home?limit={PAGE}{max_id}")).bearer_auth(&token)
                })
                .await
                .expect("a home page after the fault");
            assert_eq!(reply.status, StatusCode::OK, "home page: {}", reply.body);
            let page = reply.body.as_array().unwrap().clone();
            statuses.extend(page.iter().map(|s| {
                (s["id"].as_str().unwrap().to_owned(), s["content"].as_str().unwrap_or_default().to_owned())
            }));
            if page.len() < PAGE {
                return statuses;
            }
        }
    }

    /// The accepted posts each account must find in its home: followers (follow accepted before
    /// the post was sent) by post.
    fn expectations(&self) -> BTreeMap<usize, Vec<(String, String)>> {
        let records = self.records.lock().unwrap();
        let mut expected: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for post in &records.posts {
            let followers: HashSet<usize> = records
                .follows
                .iter()
                .filter(|f| f.target == post.author && f.accepted < post.sent)
                .map(|f| f.follower)
                .collect();
            for follower in followers {
                expected.entry(follower).or_default().push((post.id.clone(), post.text.clone()));
            }
        }
        expected
    }

    /// Waits (at most `limit`) for every accepted post to reach its followers' homes, then
    /// asserts the promises of the fault tests (see the module's doc). Returns the figures.
    pub async fn verify(&self, limit: Duration) -> Summary {
        {
            let records = self.records.lock().unwrap();
            let tally = &records.tally;
            assert!(tally.failures.is_empty(), "load {} failed requests: {:#?}", self.name, tally.failures);
            assert_eq!(tally.unavailable_without_retry_after, 0, "503s without Retry-After");
            let server_errors: Vec<_> =
                tally.by_status.iter().filter(|(s, _)| **s >= 500 && **s != 503).collect();
            assert!(server_errors.is_empty(), "5xx answers other than 503: {server_errors:?}");
        }
        let expected = self.expectations();
        let started = Instant::now();
        let deliveries: usize = expected.values().map(Vec::len).sum();
        let homes = loop {
            let mut homes = HashMap::new();
            let mut missing = Vec::new();
            for (follower, posts) in &expected {
                let home = self.whole_home(*follower).await;
                let ids: HashSet<&str> = home.iter().map(|(id, _)| id.as_str()).collect();
                missing.extend(
                    posts.iter().filter(|(id, _)| !ids.contains(id.as_str())).map(|p| (*follower, p.clone())),
                );
                homes.insert(*follower, home);
            }
            if missing.is_empty() {
                break homes;
            }
            assert!(
                started.elapsed() < limit,
                "load {}: after {limit:?}, {} of {deliveries} deliveries missing, e.g. {:?}",
                self.name,
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let settled_in = started.elapsed();
        // exactly once: by id, and no second status with a post's text (a duplicating retry)
        for (follower, posts) in &expected {
            let home = &homes[follower];
            for (id, text) in posts {
                let by_id = home.iter().filter(|(other, _)| other == id).count();
                assert_eq!(by_id, 1, "post {id} {by_id} times in the home of account #{follower}");
                let by_text =
                    home.iter().filter(|(_, content)| content.contains(&format!("{text}<"))).count();
                assert_eq!(
                    by_text, 1,
                    "{by_text} statuses with the text {text:?} in the home of account #{follower}"
                );
            }
        }
        let records = self.records.lock().unwrap();
        Summary {
            requests: records.tally.requests,
            by_status: records.tally.by_status.clone(),
            connection_errors: records.tally.connection_errors,
            accounts: records.accounts.len(),
            follows: records.follows.len(),
            posts: records.posts.len(),
            unknown_posts: records.unknown_posts,
            deliveries,
            settled_in,
        }
    }

    /// The 503s answered so far, with when they came.
    pub fn unavailable_answers(&self) -> Vec<Instant> {
        self.records.lock().unwrap().tally.unavailable.clone()
    }

    /// Posts accepted (200) whose request was sent within `from..to`.
    pub fn posts_sent_between(&self, from: Instant, to: Instant) -> usize {
        self.records.lock().unwrap().posts.iter().filter(|p| p.sent >= from && p.sent < to).count()
    }
}

/// The load's clients at work; stopped if dropped (a failing test does not leave them running).
pub struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Waits for the clients to finish.
    pub async fn finish(mut self) {
        for task in self.tasks.drain(..) {
            task.await.expect("a load client panicked");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The figures of one run, printed by the tests.
pub struct Summary {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub connection_errors: u64,
    pub accounts: usize,
    pub follows: usize,
    pub posts: usize,
    pub unknown_posts: u64,
    /// (follower, post) pairs checked.
    pub deliveries: usize,
    /// How long after the load the last delivery showed up.
    pub settled_in: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests {:?}, {} connection errors; {} accounts, {} follows, {} posts accepted \
             ({} outcome unknown to the client), {} deliveries checked, settled {:.1} s after the load",
            self.requests,
            self.by_status,
            self.connection_errors,
            self.accounts,
            self.follows,
            self.posts,
            self.unknown_posts,
            self.deliveries,
            self.settled_in.as_secs_f64()
        )
    }
}
