//! `TestApp::spawn()` starts an isolated Tusk (api + worker) on loopback ports.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tusk::{Connections, Deps, Shutdown};
use tusk_api::ApiSettings;
use tusk_core::Instance;
use tusk_queue::QueueType;
use tusk_worker::WorkerSettings;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Where a test app keeps its media.
#[derive(Clone, Copy)]
enum Media {
    /// A directory of its own under the system's temporary directory.
    Local,
    /// The test S3-compatible server (`TUSK_TEST_S3_*`, as deploy/local/lib.sh's `ensure_s3`
    /// starts it), under a prefix of its own.
    S3,
}

impl Media {
    fn config(self, name: &str) -> tusk_media::StorageConfig {
        match self {
            Self::Local => tusk_media::StorageConfig::Local {
                root: std::env::temp_dir().join("tusk-test-media").join(name),
            },
            Self::S3 => test_s3(name),
        }
    }
}

/// The test S3-compatible server's bucket, under the prefix `prefix`.
pub fn test_s3(prefix: &str) -> tusk_media::StorageConfig {
    tusk_media::StorageConfig::S3 {
        endpoint: Some(env_or("TUSK_TEST_S3_ENDPOINT", "http://127.0.0.1:9310")),
        bucket: env_or("TUSK_TEST_S3_BUCKET", "tusk-test"),
        region: "us-east-1".into(),
        access_key_id: Some(env_or("TUSK_TEST_S3_ACCESS_KEY_ID", "tusk")),
        secret_access_key: Some(env_or("TUSK_TEST_S3_SECRET_ACCESS_KEY", "tusk-secret-key")),
        prefix: Some(prefix.to_owned()),
    }
}

pub struct TestApp {
    pub base: String,
    pub admin: String,
    pub worker_admin: String,
    pub http: reqwest::Client,
    pub deps: Deps,
    /// The api's own store (its pool), to count the PostgreSQL work of its requests.
    pub api_store: tusk_store::Store,
    pub conn: Connections,
    shutdown: Shutdown,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.drain.cancel();
        self.shutdown.stop.cancel();
    }
}

async fn loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

impl TestApp {
    /// A fresh database `tusk_test_<random>`, Redis prefix `tusk_test_<random>:` and queues
    /// `tusk_test_<random>.*` in the `tusk-test` vhost (deploy/local/test.sh creates it).
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// With the worker's settings changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut WorkerSettings)) -> Self {
        Self::spawn_inner(tweak, true, QueueType::Classic).await
    }

    /// Without an in-process worker: the test runs worker processes itself.
    pub async fn spawn_api_only() -> Self {
        Self::spawn_inner(|_| {}, false, QueueType::Classic).await
    }

    /// On quorum queues, as in production (the others use classic queues: a test run creates
    /// hundreds of queues, and quorum queues are costly to create on one small node).
    pub async fn spawn_with_quorum_queues() -> Self {
        Self::spawn_inner(|_| {}, true, QueueType::Quorum).await
    }

    /// With its feeds and caches on the test Redis Cluster (deploy/local/test.sh starts one).
    pub async fn spawn_on_cluster(tweak: impl FnOnce(&mut WorkerSettings)) -> Self {
        let cluster = env_or(
            "TUSK_TEST_REDIS_CLUSTER_URL",
            "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103",
        );
        Self::spawn_full(tweak, true, QueueType::Classic, cluster, Media::Local).await
    }

    /// With its media in the test S3-compatible server (deploy/local/lib.sh's `ensure_s3`
    /// starts it), under a prefix of its own in the bucket.
    pub async fn spawn_on_s3() -> Self {
        let redis_url = env_or("TUSK_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        Self::spawn_full(|_| {}, true, QueueType::Classic, redis_url, Media::S3).await
    }

    async fn spawn_inner(
        tweak: impl FnOnce(&mut WorkerSettings),
        with_worker: bool,
        queue_type: QueueType,
    ) -> Self {
        let redis_url = env_or("TUSK_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        Self::spawn_full(tweak, with_worker, queue_type, redis_url, Media::Local).await
    }

    async fn spawn_full(
        tweak: impl FnOnce(&mut WorkerSettings),
        with_worker: bool,
        queue_type: QueueType,
        redis_url: String,
        media: Media,
    ) -> Self {
        let name = format!("tusk_test_{:016x}", rand::rng().random::<u64>());
        let conn = Connections {
            database_url: format!(
                "{}/{name}",
                env_or("TUSK_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
            ),
            database_pool_size: 5,
            redis_url,
            redis_prefix: format!("{name}:"),
            amqp_url: env_or("TUSK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/tusk-test"),
            queue_prefix: name.clone(),
            queue_type,
            active_period: Duration::from_hours(7 * 24),
            feed_ttl: Duration::from_hours(8 * 24),
            media: media.config(&name),
        };
        tusk::migrate(&conn)
            .await
            .expect("migrate (are the servers up and the tusk-test vhost created? run deploy/local/test.sh)");
        let deps = Deps::connect(&conn).await.expect("connect");
        let (api_listener, api_addr) = loopback().await;
        let (admin_listener, admin_addr) = loopback().await;
        let (worker_listener, worker_addr) = loopback().await;
        let shutdown = Shutdown::default();
        let settings = ApiSettings {
            instance: Instance::new(api_addr.to_string(), false),
            password_hashers: 2,
            max_streams: 4,
            registrations: tusk_core::Registrations::Open,
            notifications: true,
            // far above what any test sends from 127.0.0.1; ratelimits.rs tests the real limits
            rate_limits: tusk_api::RateLimits::uniform(tusk_api::Limit::new(
                1_000_000,
                Duration::from_mins(5),
            )),
            http_limits: tusk_api::HttpLimits::default(),
        };
        let mut worker_settings = WorkerSettings {
            amqp_url: conn.amqp_url.clone(),
            topology: conn.topology(),
            prefetch: 16,
            concurrency: 4,
            poll_interval: Duration::from_millis(200),
            relay_min_age: Duration::from_secs(1),
            fanout_batch: 1000,
            active_period: Duration::from_hours(7 * 24),
            hybrid_threshold: 10_000,
            notifications: true,
            queues: tusk_worker::QUEUE_GROUPS.map(str::to_owned).to_vec(),
            media_concurrency: 2,
        };
        tweak(&mut worker_settings);
        // api and worker get their own connections and metrics, as separate processes would
        let api_deps = Deps::connect(&conn).await.expect("connect");
        let api_store = api_deps.store.clone();
        let worker_deps = Deps::connect(&conn).await.expect("connect");
        let api_conn = conn.clone();
        let api_shutdown = shutdown.clone();
        tokio::spawn(async move {
            tusk::run_api(api_deps, &api_conn, settings, api_listener, admin_listener, api_shutdown)
                .await
                .expect("api");
        });
        let mut worker_listener_if_unused = None;
        if with_worker {
            tokio::spawn(tusk::run_worker(worker_deps, worker_settings, worker_listener, shutdown.clone()));
        } else {
            worker_listener_if_unused = Some(worker_listener);
        }
        let app = Self {
            base: format!("http://{api_addr}"),
            admin: format!("http://{admin_addr}"),
            worker_admin: format!("http://{worker_addr}"),
            // a hung server fails the test instead of hanging it
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            deps,
            api_store,
            conn,
            shutdown,
        };
        drop(worker_listener_if_unused);
        let ready = if with_worker { &app.worker_admin } else { &app.admin };
        eventually("readiness", || async {
            app.http.get(format!("{ready}/readyz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
        })
        .await;
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET without a token.
    pub async fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET")
    }

    /// A GET with a bearer token.
    pub async fn get_as(
        &self,
        url: impl reqwest::IntoUrl,
        token: impl std::fmt::Display,
    ) -> reqwest::Response {
        self.http.get(url).bearer_auth(token).send().await.expect("GET")
    }

    /// A POST of a JSON body with a bearer token.
    pub async fn post_json_as(
        &self,
        url: impl reqwest::IntoUrl,
        token: impl std::fmt::Display,
        body: &Value,
    ) -> reqwest::Response {
        self.http.post(url).bearer_auth(token).json(body).send().await.expect("POST")
    }

    /// Registers an app with `read write follow` and returns (client_id, client_secret).
    pub async fn register_app(&self) -> (String, String) {
        let response = self
            .http
            .post(self.url("/api/v1/apps"))
            .form(&[
                ("client_name", "tests"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
                ("scopes", "read write follow"),
            ])
            .send()
            .await
            .expect("apps");
        assert_eq!(response.status(), StatusCode::OK);
        let app: Value = response.json().await.expect("json");
        (
            app["client_id"].as_str().expect("id").to_owned(),
            app["client_secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// A `client_credentials` token of a fresh app.
    pub async fn app_token(&self) -> String {
        let (id, secret) = self.register_app().await;
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "read write follow"),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), StatusCode::OK);
        let token: Value = response.json().await.expect("json");
        token["access_token"].as_str().expect("token").to_owned()
    }

    /// A user token for `username` (password `correct horse battery`) from the app
    /// `client_id`, by the password grant.
    pub async fn password_token(&self, client_id: &str, secret: &str, username: &str, scope: &str) -> String {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("username", username),
                ("password", "correct horse battery"),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), StatusCode::OK, "{scope}");
        let token: Value = response.json().await.expect("json");
        token["access_token"].as_str().expect("token").to_owned()
    }

    /// Signs `username` up and returns its user token and account id.
    pub async fn sign_up(&self, username: &str) -> User {
        let app_token = self.app_token().await;
        let response = self
            .http
            .post(self.url("/api/v1/accounts"))
            .bearer_auth(&app_token)
            .json(&sign_up_form(username))
            .send()
            .await
            .expect("sign up");
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
        let token: Value = response.json().await.expect("json");
        let token = token["access_token"].as_str().expect("token").to_owned();
        let me: Value = self.get_json(&token, "/api/v1/accounts/verify_credentials").await;
        User { token, id: me["id"].as_str().expect("id").to_owned() }
    }

    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn post_status(&self, user: &User, text: &str) -> Value {
        let response = self
            .http
            .post(self.url("/api/v1/statuses"))
            .bearer_auth(&user.token)
            .json(&json!({ "status": text }))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn follow(&self, user: &User, target: &User) -> Value {
        self.relationship_call(user, target, "follow").await
    }

    pub async fn unfollow(&self, user: &User, target: &User) -> Value {
        self.relationship_call(user, target, "unfollow").await
    }

    async fn relationship_call(&self, user: &User, target: &User, action: &str) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/api/v1/accounts/{}/{action}", target.id)))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect(action);
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// The ids on the first page of `user`'s home timeline.
    pub async fn home_ids(&self, user: &User, query: &str) -> Vec<String> {
        let page = self.get_json(&user.token, &format!("/api/v1/timelines/home{query}")).await;
        page.as_array().expect("array").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect()
    }

    /// The use-cases over this app's connections, for a test to run a worker's task itself.
    pub fn service(&self) -> tusk_service::Service {
        let publisher = std::sync::Arc::new(tusk_queue::Publisher::new(
            &self.conn.amqp_url,
            "tusk-test",
            self.conn.topology(),
        ));
        let settings = tusk_service::ServiceSettings {
            password_hashers: 1,
            registrations: tusk_core::Registrations::Open,
            notifications: true,
        };
        tusk_service::Service::new(
            settings,
            self.deps.store.clone(),
            self.deps.cache.clone(),
            publisher,
            self.deps.metrics.clone(),
            self.deps.media.clone(),
        )
    }

    pub async fn metrics(&self, admin: &str) -> String {
        self.http.get(format!("{admin}/metrics")).send().await.expect("metrics").text().await.expect("text")
    }
}

/// The body of a valid sign-up for `username` (email `{username}@example.org`).
pub fn sign_up_form(username: &str) -> Value {
    json!({
        "username": username,
        "email": format!("{username}@example.org"),
        "password": "correct horse battery",
        "agreement": true,
        "locale": "en",
    })
}

pub struct User {
    pub token: String,
    pub id: String,
}

impl TestApp {
    /// Waits until the worker has run `job` successfully `count` times, so that a test can
    /// order its steps after an asynchronous effect (a follow's merge, say).
    pub async fn wait_for_jobs(&self, job: &str, count: u64) {
        eventually(&format!("{count} {job} jobs"), || async { self.jobs_done(job).await >= count }).await;
    }

    /// How many times the worker has run `job` successfully so far.
    pub async fn jobs_done(&self, job: &str) -> u64 {
        let series = format!("tusk_jobs_total{{job=\"{job}\",outcome=\"ok\"}}");
        metric_value(&self.metrics(&self.worker_admin).await, &series)
    }

    /// Signs up alice and bob, makes alice follow bob, waits for the follow's merge and reads
    /// alice's home once, so that her feed exists (complete) and only a fan-out can add to it.
    pub async fn alice_follows_bob(&self) -> (User, User) {
        let alice = self.sign_up("alice").await;
        let bob = self.sign_up("bob").await;
        assert_eq!(self.follow(&alice, &bob).await["following"], true);
        self.wait_for_jobs("merge_follow", 1).await;
        assert!(self.home_ids(&alice, "").await.is_empty());
        (alice, bob)
    }

    /// Puts `users` back to waiting for approval, as a sign-up under
    /// `TUSK_REGISTRATIONS=approved` leaves them: unapproved, and their tokens never cached
    /// (the api caches only tokens of approved users).
    pub async fn hold_for_approval(&self, users: &[&User]) {
        let ids: Vec<i64> = users.iter().map(|user| user.id.parse().unwrap()).collect();
        sqlx::query("UPDATE users SET approved = false WHERE account_id = ANY($1)")
            .bind(&ids)
            .execute(self.deps.store.pool())
            .await
            .unwrap();
        let mut conn = tusk_cache::RedisConnection::open(&self.conn.redis_url).await.unwrap();
        for user in users {
            let key = self.deps.cache.keys().token(&tusk_core::token::digest(&user.token));
            let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
        }
    }

    /// Whether `status_id` sits in `user`'s home feed in Redis. Unlike the API, this cannot be
    /// satisfied by a rebuild from PostgreSQL: only a fan-out puts it there.
    pub async fn in_redis_feed(&self, user: &User, status_id: &str) -> bool {
        let feed = self.deps.cache.feed_ids(tusk_cache::Feed::Home(user.id.parse().unwrap())).await.unwrap();
        feed.iter().any(|id| id.to_string() == status_id)
    }
}

/// A stream the api holds open for a client, told by what shows the api is listening on it.
pub enum Listening<'a> {
    /// The `user` stream: the user's mark in `{p}streaming:listeners`, which the api writes once
    /// subscribed (and without which the fan-out announces nothing to the user).
    User(&'a User),
    /// A public stream (`public`, `public:local`): a subscriber on its channel.
    Timeline(&'a str),
}

impl TestApp {
    /// Waits until the api listens on `stream`, so that a status posted from now on reaches it.
    pub async fn wait_until_listening(&self, stream: Listening<'_>) {
        let keys = self.deps.cache.keys();
        let mut ask = redis::Cmd::new();
        let (node, what, listening): (&str, String, fn(redis::Value) -> bool) = match stream {
            Listening::User(user) => {
                ask.arg("ZSCORE").arg(keys.stream_listeners()).arg(&user.id);
                let marked = |mark: redis::Value| mark != redis::Value::Nil;
                (&self.conn.redis_url, format!("{}'s listener mark", user.id), marked)
            }
            Listening::Timeline(name) => {
                // pub/sub is per node: the api subscribes on the first node of its REDIS_URL (see
                // `Cache::connect`), and on a cluster only that node counts the subscriber
                let first = self.conn.redis_url.split(',').map(str::trim).find(|s| !s.is_empty()).unwrap();
                let channel = keys.timeline_channel(name);
                ask.arg("PUBSUB").arg("NUMSUB").arg(&channel);
                let subscribed = |count| redis::from_redis_value::<(String, u64)>(count).unwrap().1 > 0;
                (first, format!("a subscriber on {channel}"), subscribed)
            }
        };
        let conn = tusk_cache::RedisConnection::open(node).await.unwrap();
        eventually(&what, || {
            let (mut conn, ask) = (conn.clone(), &ask);
            async move { listening(ask.query_async(&mut conn).await.unwrap()) }
        })
        .await;
    }
}

/// Waits (at most 15 s) for an eventually consistent effect, such as a fan-out.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(Duration::from_secs(15), what, check).await;
}

/// Waits at most `limit` for an eventually consistent effect.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits (at most a minute) for `check` to find something, and returns it.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A counter's value in a Prometheus text page (0 when absent).
pub fn metric_value(text: &str, series: &str) -> u64 {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse::<f64>().ok()));
    value.map_or(0, |v| v as u64)
}

/// Asserts the status and the Mastodon error shape, and returns the body.
pub async fn expect_error(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(body["error"].is_string(), "no error message in {body}");
    body
}

impl TestApp {
    /// Inserts `n` users following `author` straight into PostgreSQL (much faster than signing
    /// them up), all active now. Returns their account ids in id order.
    pub async fn seed_followers(&self, author: &str, n: i64) -> Vec<tusk_core::Id> {
        let tag = format!("{:08x}", rand::rng().random::<u32>());
        sqlx::query_scalar(
            "WITH a AS (INSERT INTO accounts (username) \
                        SELECT 's' || $2 || '_' || g FROM generate_series(1, $1) g RETURNING id), \
                  u AS (INSERT INTO users (account_id, email, password_hash) \
                        SELECT id, id || '@seed.example', 'x' FROM a), \
                  f AS (INSERT INTO follows (account_id, target_account_id) SELECT id, $3 FROM a) \
             SELECT id FROM a ORDER BY id",
        )
        .bind(n)
        .bind(tag)
        .bind(author.parse::<i64>().unwrap())
        .fetch_all(self.deps.store.pool())
        .await
        .unwrap()
    }

    /// How many of `feeds` hold `status` in Redis (single server or cluster).
    pub async fn feeds_holding(&self, feeds: &[tusk_core::Id], status: &str) -> usize {
        let conn = tusk_cache::RedisConnection::open(&self.conn.redis_url).await.unwrap();
        let mut holding = 0;
        for chunk in feeds.chunks(500) {
            let checks = chunk.iter().map(|owner| {
                let mut conn = conn.clone();
                let key = self.deps.cache.keys().home_feed(*owner);
                async move {
                    let score: Option<f64> =
                        redis::cmd("ZSCORE").arg(key).arg(status).query_async(&mut conn).await.unwrap();
                    score.is_some()
                }
            });
            holding += futures_util::future::join_all(checks).await.into_iter().filter(|held| *held).count();
        }
        holding
    }

    /// Deletes one key (as an eviction would), on a single server or a cluster.
    pub async fn evict(&self, key: &str) {
        let mut conn = tusk_cache::RedisConnection::open(&self.conn.redis_url).await.unwrap();
        let removed: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
        assert_eq!(removed, 1, "{key} was not there");
    }
}

/// A `tusk worker` process (the real binary) on this test's database, prefix and queues.
/// Killed when dropped.
pub struct WorkerProcess {
    pub child: std::process::Child,
    pub admin: String,
}

impl WorkerProcess {
    pub async fn start(app: &TestApp, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conn = &app.conn;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tusk"))
            .arg("worker")
            .env("DATABASE_URL", &conn.database_url)
            .env("REDIS_URL", &conn.redis_url)
            .env("TUSK_REDIS_PREFIX", &conn.redis_prefix)
            .env("AMQP_URL", &conn.amqp_url)
            .env("TUSK_QUEUE_PREFIX", &conn.queue_prefix)
            .env("TUSK_QUEUE_TYPE", if conn.queue_type == QueueType::Quorum { "quorum" } else { "classic" })
            .env("TUSK_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("TUSK_DB_POOL_SIZE", "4")
            .env("TUSK_POLL_INTERVAL_MS", "200")
            .env("TUSK_RELAY_MIN_AGE", "1")
            .env("TUSK_LOG_FORMAT", "pretty")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start tusk worker");
        let worker = Self { child, admin: format!("http://127.0.0.1:{port}") };
        eventually("the worker process to be ready", || async {
            app.http
                .get(format!("{}/readyz", worker.admin))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        })
        .await;
        worker
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Another `tusk api` on `conn` (the TestApp's database, Redis prefix and queues, unless a test
/// points elsewhere), with test settings that `tweak` adjusts: rate limits of a million an hour,
/// 2 password hashers, 4 streams. Stopped when dropped.
pub struct Replica {
    pub base: String,
    pub admin: String,
    shutdown: Shutdown,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.drain.cancel();
        self.shutdown.stop.cancel();
    }
}

impl Replica {
    pub async fn start(app: &TestApp, conn: &Connections, tweak: impl FnOnce(&mut ApiSettings)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
        let mut settings = ApiSettings {
            instance: Instance::new(addr.to_string(), false),
            password_hashers: 2,
            max_streams: 4,
            registrations: tusk_core::Registrations::Open,
            notifications: true,
            rate_limits: tusk_api::RateLimits::uniform(tusk_api::Limit::new(
                1_000_000,
                Duration::from_hours(1),
            )),
            http_limits: tusk_api::HttpLimits::default(),
        };
        tweak(&mut settings);
        let deps = Deps::connect(conn).await.unwrap();
        let shutdown = Shutdown::default();
        let (conn, stop) = (conn.clone(), shutdown.clone());
        tokio::spawn(async move { tusk::run_api(deps, &conn, settings, listener, admin, stop).await });
        let replica =
            Self { base: format!("http://{addr}"), admin: format!("http://{admin_addr}"), shutdown };
        // the streaming health check is not counted by the rate limits, so probing spends nothing
        eventually("the replica to answer", || async {
            app.http.get(replica.url("/api/v1/streaming/health")).send().await.is_ok()
        })
        .await;
        replica
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
