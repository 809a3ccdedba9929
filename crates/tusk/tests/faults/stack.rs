//! One test's Tusk on the private servers: its own database, Redis key prefix and queues, and the
//! real `tusk api` and `tusk worker` binaries as processes that a test can SIGKILL or SIGTERM,
//! behind a client-side load balancer that, as a Kubernetes Service does, sends requests only to
//! the replicas whose `/readyz` answers 200.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng as _;
use reqwest::StatusCode;
use tusk::{Connections, Deps};
use tusk_queue::QueueType;

use crate::servers::Servers;

/// A fresh namespace on the private servers, and handles on it for the test's own checks.
pub struct Stack {
    /// The `tusk` binary the processes run.
    pub tusk: PathBuf,
    pub conn: Connections,
    pub deps: Deps,
    pub http: reqwest::Client,
    /// Where the processes' logs go (kept after the run, for a failing test).
    pub logs: PathBuf,
}

impl Stack {
    pub async fn new(servers: &Servers, test: &str) -> Self {
        let name = format!("tusk_faults_{:012x}", rand::rng().random::<u64>() >> 16);
        let conn = Connections {
            database_url: format!("{}/{name}", servers.postgres.url()),
            database_pool_size: 4,
            redis_url: servers.redis.url(),
            redis_prefix: format!("{name}:"),
            amqp_url: servers.rabbitmq.url(),
            queue_prefix: name.clone(),
            queue_type: QueueType::Classic,
            active_period: Duration::from_hours(7 * 24),
            feed_ttl: Duration::from_hours(8 * 24),
            media: tusk_media::StorageConfig::Local {
                root: std::env::temp_dir().join("tusk-faults-media").join(&name),
            },
        };
        tusk::migrate(&conn).await.expect("migrate on the private servers");
        let deps = Deps::connect(&conn).await.expect("connect");
        let logs = std::env::temp_dir().join("tusk-faults-logs").join(test);
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { tusk: servers.tusk.clone(), conn, deps, http, logs }
    }

    /// Starts a `tusk api` replica; `name` names its log file.
    pub async fn api(&self, name: &str, env: &[(&str, &str)]) -> TuskProcess {
        self.spawn("api", name, env).await
    }

    /// Starts a `tusk worker`.
    pub async fn worker(&self, name: &str, env: &[(&str, &str)]) -> TuskProcess {
        self.spawn("worker", name, env).await
    }

    async fn spawn(&self, role: &str, name: &str, env: &[(&str, &str)]) -> TuskProcess {
        let conn = &self.conn;
        let admin_port = free_port();
        let log = self.logs.join(format!("{name}.log"));
        let mut command = Command::new(&self.tusk);
        command
            .arg(role)
            .env("DATABASE_URL", &conn.database_url)
            .env("REDIS_URL", &conn.redis_url)
            .env("TUSK_REDIS_PREFIX", &conn.redis_prefix)
            .env("AMQP_URL", &conn.amqp_url)
            .env("TUSK_QUEUE_PREFIX", &conn.queue_prefix)
            .env("TUSK_QUEUE_TYPE", "classic")
            .env("TUSK_MEDIA_ROOT", std::env::temp_dir().join("tusk-faults-media").join(&conn.queue_prefix))
            .env("TUSK_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("TUSK_DB_POOL_SIZE", "4")
            .env("TUSK_LOG_FORMAT", "pretty")
            .env("RUST_LOG", "warn");
        let mut base = None;
        if role == "api" {
            let port = free_port();
            base = Some(format!("http://127.0.0.1:{port}"));
            command
                .env("TUSK_LISTEN", format!("127.0.0.1:{port}"))
                .env("TUSK_DOMAIN", "faults.test")
                .env("TUSK_PASSWORD_HASHERS", "1")
                // the load is one client IP and few tokens: limits out of the way (but counted,
                // so that the Redis flush test can watch a counter reset)
                .env("TUSK_RATE_LIMIT_SIGNUPS", "off")
                .env("TUSK_RATE_LIMIT_AUTHENTICATED", "1000000/5m")
                .env("TUSK_RATE_LIMIT_UNAUTHENTICATED", "off")
                .env("TUSK_RATE_LIMIT_STATUSES", "off")
                .env("TUSK_RATE_LIMIT_FOLLOWS", "off");
        } else {
            command.env("TUSK_POLL_INTERVAL_MS", "200").env("TUSK_RELAY_MIN_AGE", "1");
        }
        let log_file = std::fs::File::create(&log).unwrap();
        let child = command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start tusk");
        let process = TuskProcess {
            child,
            name: name.to_owned(),
            base,
            admin: format!("http://127.0.0.1:{admin_port}"),
            log,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !process.is_ready(&self.http).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not ready: see {}",
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    /// The number of events in the outbox (committed, not yet published).
    pub async fn outbox_pending(&self) -> i64 {
        self.deps.store.outbox_pending().await.unwrap()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `tusk api` or `tusk worker` process; SIGKILLed when dropped.
pub struct TuskProcess {
    pub child: Child,
    pub name: String,
    /// The public API (`tusk api` only).
    pub base: Option<String>,
    pub admin: String,
    pub log: PathBuf,
}

impl TuskProcess {
    pub fn base(&self) -> &str {
        self.base.as_deref().expect("an api process")
    }

    pub async fn is_ready(&self, http: &reqwest::Client) -> bool {
        http.get(format!("{}/readyz", self.admin))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    }

    /// SIGKILL: no drain, no goodbye; connections just drop.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: a graceful stop (Kubernetes' first signal).
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM {}", self.name);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits at most `limit` for the process to exit.
    pub async fn exited_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} still running after {limit:?}", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TuskProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Round-robin over api replicas, as a Kubernetes Service (or any load balancer) does: with
/// `follow_readiness`, only over those whose `/readyz` answered 200 at the last probe (every
/// 100 ms).
pub struct Balancer {
    replicas: Arc<Vec<Replica>>,
    next: AtomicUsize,
    follow_readiness: bool,
    prober: Option<tokio::task::JoinHandle<()>>,
}

struct Replica {
    base: String,
    admin: String,
    ready: AtomicBool,
}

impl Balancer {
    /// Straight to one replica, ready or not (the test is about that replica's answers).
    pub fn direct(api: &TuskProcess) -> Arc<Self> {
        let replica = Replica { base: api.base().to_owned(), admin: api.admin.clone(), ready: true.into() };
        Arc::new(Self {
            replicas: Arc::new(vec![replica]),
            next: 0.into(),
            follow_readiness: false,
            prober: None,
        })
    }

    /// Over `apis`, following their readiness.
    pub fn over(apis: &[&TuskProcess]) -> Arc<Self> {
        let replicas: Arc<Vec<Replica>> = Arc::new(
            apis.iter()
                .map(|api| Replica {
                    base: api.base().to_owned(),
                    admin: api.admin.clone(),
                    ready: true.into(),
                })
                .collect(),
        );
        let probed = replicas.clone();
        let prober = tokio::spawn(async move {
            // longer than the api's own 1 s bound on a dependency check, as a probe's 3 s
            let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
            loop {
                for replica in probed.iter() {
                    let ready = http
                        .get(format!("{}/readyz", replica.admin))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == StatusCode::OK);
                    replica.ready.store(ready, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Arc::new(Self { replicas, next: 0.into(), follow_readiness: true, prober: Some(prober) })
    }

    /// The next replica to send to (its index and base URL), other than `avoid` if there is
    /// another; `None` when no replica is ready.
    pub fn pick(&self, avoid: Option<usize>) -> Option<(usize, String)> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let usable = |i: usize| !self.follow_readiness || self.replicas[i].ready.load(Ordering::SeqCst);
        let candidates: Vec<usize> = (0..n).map(|k| (start + k) % n).filter(|i| usable(*i)).collect();
        let chosen = candidates.iter().find(|i| Some(**i) != avoid).or(candidates.first())?;
        Some((*chosen, self.replicas[*chosen].base.clone()))
    }

    /// Whether the balancer currently sends to replica `index`.
    pub fn routes_to(&self, index: usize) -> bool {
        self.replicas[index].ready.load(Ordering::SeqCst)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(prober) = &self.prober {
            prober.abort();
        }
    }
}
