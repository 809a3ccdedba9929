//! An isolated Tusk for one benchmark: its own database (dropped and re-created), Redis key
//! prefix (deleted first), queues (purged first) and ports, with `tusk api` and/or `tusk worker`
//! run as child processes from the `tusk` binary and killed when the [`Stack`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use tusk_queue::{QueueType, Topology};
use tusk_store::Store;

/// Where the servers are, and which `tusk` binary to run.
#[derive(Args, Clone, Debug)]
pub struct StackArgs {
    /// PostgreSQL server; the benchmark (re)creates its own database there.
    #[arg(long, env = "TUSK_BENCH_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Redis (single server); the benchmark's keys have their own prefix, removed first.
    #[arg(long, env = "TUSK_BENCH_REDIS", default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// RabbitMQ; the benchmark's queues have their own prefix, purged first.
    #[arg(long, env = "TUSK_BENCH_AMQP", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp: String,
    /// The `tusk` binary to run the api and worker from (default: next to this binary).
    #[arg(long)]
    pub tusk_bin: Option<PathBuf>,
    /// Public port of the benchmark's api (its admin port is 9590, the worker's 9591).
    #[arg(long, default_value_t = 3590)]
    pub api_port: u16,
}

/// A child process, killed (and reaped) when dropped.
pub struct Process {
    child: Child,
    pub name: &'static str,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has already exited (it could not bind a port, say).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("tusk {} exited early: {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `tusk` binary: `explicit`, or the one next to this executable.
pub fn tusk_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    Ok(match explicit {
        Some(bin) => bin.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("tusk"),
    })
}

/// Starts `tusk {role}` with `env` (on top of quiet logging), stdout discarded.
pub fn spawn(bin: &Path, role: &'static str, env: &[(&str, String)]) -> anyhow::Result<Process> {
    let mut command = Command::new(bin);
    command
        .arg(role)
        .env("TUSK_LOG_FORMAT", "pretty")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().with_context(|| format!("starting {} {role}", bin.display()))?;
    Ok(Process { child, name: role })
}

/// Drops database `name` on `server` if it exists, creates it again and migrates it.
pub async fn fresh_database(server: &str, name: &str) -> anyhow::Result<Store> {
    let admin = Store::connect_lazy(&format!("{server}/postgres"), 1)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(admin.pool())
        .await?;
    let url = format!("{server}/{name}");
    Store::create_database_if_missing(&url).await?;
    let store = Store::connect_lazy(&url, 8)?;
    store.migrate().await?;
    Ok(store)
}

/// Deletes every Redis key starting with `prefix` (SCAN, so Redis is never blocked long).
pub async fn clear_redis(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut redis = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut redis)
            .await?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut redis).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Declares the queues of `topology` and empties its work queues.
pub async fn purge_queues(url: &str, topology: &Topology) -> anyhow::Result<()> {
    let connection = tusk_queue::connect(url, "tusk-surge").await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    for queue in topology.work_queues() {
        channel.queue_purge(queue.into(), tusk_queue::lapin::options::QueuePurgeOptions::default()).await?;
    }
    Ok(())
}

/// Waits up to 30 s for `{admin}/readyz` to answer 200.
pub async fn wait_ready(http: &reqwest::Client, admin: &str, what: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if http.get(format!("http://{admin}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the {what} did not become ready at http://{admin}/readyz")
}

/// Resident set size of a process, in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .context("no VmRSS")?;
    Ok(kib * 1024)
}

/// CPU time (user + system) a process has used so far, in clock ticks (`/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // the command name is in parentheses and may hold spaces: split after the last ')'
    let rest = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields after ')': state(0) ppid(1) … utime(11) stime(12)
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Whole-machine CPU counters from `/proc/stat`: (busy, total) ticks.
pub fn machine_cpu() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Which processes a [`Stack`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiers {
    Api,
    ApiAndWorker,
}

/// One isolated Tusk: database `tusk_bench_{name}`, Redis prefix `tusk_bench_{name}:`, queues
/// `tusk_bench_{name}.*` (classic), api on `api_port` (admin 9590), worker admin on 9591.
pub struct Stack {
    pub store: Store,
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub api_url: String,
    pub api_admin: String,
    pub worker_admin: String,
    pub api: Option<Process>,
    pub worker: Option<Process>,
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Stack {
    /// Creates the database (through `tusk migrate`), cleans the key prefix and the queues.
    /// Nothing runs yet: seed first, then [`Stack::start`].
    pub async fn prepare(args: &StackArgs, name: &str) -> anyhow::Result<Self> {
        let database = format!("tusk_bench_{name}");
        let database_url = format!("{}/{database}", args.postgres);
        let redis_prefix = format!("tusk_bench_{name}:");
        let queue_prefix = format!("tusk_bench_{name}");
        let bin = tusk_bin(args.tusk_bin.as_deref())?;
        let api_admin = "127.0.0.1:9590".to_owned();
        let worker_admin = "127.0.0.1:9591".to_owned();
        let api_listen = format!("127.0.0.1:{}", args.api_port);
        let env: Vec<(&'static str, String)> = vec![
            ("DATABASE_URL", database_url.clone()),
            ("REDIS_URL", args.redis.clone()),
            ("TUSK_REDIS_PREFIX", redis_prefix.clone()),
            ("AMQP_URL", args.amqp.clone()),
            ("TUSK_QUEUE_PREFIX", queue_prefix.clone()),
            ("TUSK_QUEUE_TYPE", "classic".to_owned()),
            // the stack's own media directory, never the working directory
            (
                "TUSK_MEDIA_ROOT",
                std::env::temp_dir().join(format!("tusk-bench-media-{name}")).display().to_string(),
            ),
            ("TUSK_LISTEN", api_listen.clone()),
            ("TUSK_DOMAIN", api_listen.clone()),
            // one client address plays every user here: the per-IP and per-account limits would
            // measure themselves, not the api
            ("TUSK_RATE_LIMIT_SIGNUPS", "off".to_owned()),
            ("TUSK_RATE_LIMIT_SIGN_INS", "off".to_owned()),
            ("TUSK_RATE_LIMIT_AUTHENTICATED", "off".to_owned()),
            ("TUSK_RATE_LIMIT_UNAUTHENTICATED", "off".to_owned()),
            ("TUSK_RATE_LIMIT_STATUSES", "off".to_owned()),
            ("TUSK_RATE_LIMIT_FOLLOWS", "off".to_owned()),
        ];

        let admin = Store::connect_lazy(&format!("{}/postgres", args.postgres), 1)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
            .execute(admin.pool())
            .await?;
        let migrated = Command::new(&bin)
            .arg("migrate")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("TUSK_LOG_FORMAT", "pretty")
            .env("RUST_LOG", "warn")
            .status()
            .with_context(|| format!("running {} migrate", bin.display()))?;
        if !migrated.success() {
            bail!("tusk migrate failed: {migrated}");
        }
        clear_redis(&args.redis, &redis_prefix).await?;
        let mut topology = Topology::new(&queue_prefix);
        topology.queue_type = QueueType::Classic;
        purge_queues(&args.amqp, &topology).await?;
        let store = Store::connect_lazy(&database_url, 8)?;
        Ok(Self {
            store,
            database_url,
            redis_url: args.redis.clone(),
            redis_prefix,
            api_url: format!("http://{api_listen}"),
            api_admin,
            worker_admin,
            api: None,
            worker: None,
            bin,
            env,
        })
    }

    /// Starts the processes and waits until each is ready.
    pub async fn start(&mut self, tiers: Tiers, extra_env: &[(&str, String)]) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        // a stack left running (by a run that was killed) would answer the readiness checks
        // and take the load in place of the processes about to start
        let api_listen = self.api_url.trim_start_matches("http://").to_owned();
        let mut ports = vec![api_listen, self.api_admin.clone()];
        if tiers == Tiers::ApiAndWorker {
            ports.push(self.worker_admin.clone());
        }
        for address in ports {
            if let Err(error) = std::net::TcpListener::bind(&address) {
                bail!(
                    "{address} is taken ({error}): is a stack of an earlier, killed run still up? \
                     (`pkill -f 'tusk (api|worker)'`)"
                );
            }
        }
        let mut env: Vec<(&str, String)> = self.env.iter().map(|(k, v)| (*k, v.clone())).collect();
        env.extend(extra_env.iter().map(|(k, v)| (*k, v.clone())));
        let mut api_env = env.clone();
        api_env.push(("TUSK_ADMIN_LISTEN", self.api_admin.clone()));
        let mut api = spawn(&self.bin, "api", &api_env)?;
        if tiers == Tiers::ApiAndWorker {
            let mut worker_env = env;
            worker_env.push(("TUSK_ADMIN_LISTEN", self.worker_admin.clone()));
            let mut worker = spawn(&self.bin, "worker", &worker_env)?;
            wait_ready(&http, &self.worker_admin, "worker").await?;
            worker.check_running()?;
            self.worker = Some(worker);
        }
        wait_ready(&http, &self.api_admin, "api").await?;
        api.check_running()?;
        self.api = Some(api);
        Ok(())
    }
}
