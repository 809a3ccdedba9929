//! Private PostgreSQL, Redis and RabbitMQ servers for the fault tests. Restarting or flushing the
//! machine's shared servers would break every other test run and developer on it, so this test
//! binary starts its own on free loopback ports, with their data in a temporary directory: once
//! per binary (RabbitMQ alone takes several seconds to boot), shared by the tests, which take
//! turns. Each test still gets its own database, Redis key prefix and queue names.
//!
//! The servers are daemons and a `static` is never dropped, so a watchdog process (in its own
//! session, so that a Ctrl-C to the test does not take it along) waits for this test binary to
//! exit, however it exits, and then stops them and deletes the directory.
//!
//! PostgreSQL refuses to run as root, and RabbitMQ's scripts want their own user: as root the
//! servers run as `postgres` and `rabbitmq` (`runuser`), as anyone else as that user.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static SERVERS: OnceLock<Servers> = OnceLock::new();

/// The servers of this test binary, started on first use (about ten seconds).
pub async fn servers() -> &'static Servers {
    blocking(|| SERVERS.get_or_init(Servers::start)).await
}

/// Runs the commands that start and stop servers off the async threads, so that the load keeps
/// running while a server restarts.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("server command panicked")
}

pub struct Servers {
    /// This binary's copy of `tusk`, taken at start: `target/release/tusk` is shared with every
    /// other cargo command on the machine, and a concurrent `cargo build` (without the test-only
    /// `fault-injection` feature) would replace it mid-run.
    pub tusk: PathBuf,
    pub postgres: Postgres,
    pub redis: Redis,
    pub rabbitmq: RabbitMq,
}

impl Servers {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("tusk-faults-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).expect("create the servers' directory");
        let started = Instant::now();
        // the watchdog first, so that whatever starts below is cleaned up even if the rest fails
        let postgres = Postgres::new(&dir);
        let redis = Redis::new(&dir);
        let rabbitmq = RabbitMq::new(&dir);
        let cleanup = format!(
            "{}\n{}\n{}\nrm -rf '{}'\n",
            postgres.stop_command(),
            redis.stop_command(),
            rabbitmq.stop_command(),
            dir.display()
        );
        std::fs::write(dir.join("cleanup.sh"), cleanup).expect("write cleanup.sh");
        // never waited for: it outlives this process by design
        #[allow(clippy::zombie_processes)]
        Command::new("setsid")
            .args([
                "sh",
                "-c",
                "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; sh \"$2\" >/dev/null 2>&1",
            ])
            .args(["watchdog", &std::process::id().to_string()])
            .arg(dir.join("cleanup.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog (setsid)");
        let tusk = dir.join("tusk");
        std::fs::copy(env!("CARGO_BIN_EXE_tusk"), &tusk).expect("copy the tusk binary");
        // RabbitMQ boots in the background while PostgreSQL and Redis start
        rabbitmq.launch();
        postgres.init();
        postgres.start();
        redis.start();
        rabbitmq.wait_until_up();
        eprintln!(
            "fault-test servers up in {:.1} s: PostgreSQL :{}, Redis :{}, RabbitMQ :{} ({}), in {}",
            started.elapsed().as_secs_f64(),
            postgres.port,
            redis.port,
            rabbitmq.port,
            rabbitmq.node,
            dir.display()
        );
        Self { tusk, postgres, redis, rabbitmq }
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` run as the service `user` when this process is root, as itself otherwise.
fn as_service_user(user: &str, program: &Path) -> Command {
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// The same as a shell line, for the cleanup script.
fn as_service_user_line(user: &str, program: &Path, args: &str) -> String {
    let prefix = if running_as_root() { format!("runuser -u {user} -- ") } else { String::new() };
    format!("{prefix}'{}' {args}", program.display())
}

/// A directory the service user owns (when running as root).
fn owned_dir(path: &Path, user: &str) {
    std::fs::create_dir_all(path).unwrap();
    if running_as_root() {
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, user]).output().expect("id");
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("no user {user}"))
        };
        std::os::unix::fs::chown(path, Some(id("-u")), Some(id("-g"))).unwrap();
    }
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// A PostgreSQL cluster of its own (`initdb` + `pg_ctl`), trust authentication, no fsync.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
}

impl Postgres {
    fn new(root: &Path) -> Self {
        let dir = root.join("postgres");
        owned_dir(&dir, "postgres");
        Self { port: free_port(), bin: postgres_bin_dir(), dir }
    }

    /// `postgres://postgres@127.0.0.1:{port}` (no database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn init(&self) {
        let mut initdb = as_service_user("postgres", &self.bin.join("initdb"));
        initdb.arg("-D").arg(self.dir.join("data"));
        initdb.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        run(&mut initdb, "initdb");
    }

    fn pg_ctl(&self) -> Command {
        let mut command = as_service_user("postgres", &self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.dir.join("data"));
        command
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let mut start = self.pg_ctl();
        start.arg("-l").arg(self.dir.join("server.log")).args(["-w", "-t", "60", "-o"]);
        start.arg(format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        ));
        run(start.arg("start"), "pg_ctl start");
    }

    /// A fast shutdown, as a restart does: sessions are ended (57P01), open transactions rolled
    /// back, then the server stops.
    pub fn stop(&self) {
        run(self.pg_ctl().args(["-m", "fast", "-w", "-t", "60", "stop"]), "pg_ctl stop");
    }

    /// Stops the server until the returned guard is ended or dropped (a failing test leaves it
    /// running for the next).
    pub async fn outage(&'static self) -> Outage {
        blocking(|| self.stop()).await;
        Outage { started: Instant::now(), end: Some(Box::new(|| self.start())) }
    }

    fn stop_command(&self) -> String {
        as_service_user_line(
            "postgres",
            &self.bin.join("pg_ctl"),
            &format!("-D '{}' -m immediate -w stop", self.dir.join("data").display()),
        )
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), or the `PATH`.
fn postgres_bin_dir() -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok().map(|v| (v, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .max_by_key(|(v, _)| *v);
    match newest {
        Some((_, bin)) => bin,
        // found on the PATH: Command resolves a bare name
        None => PathBuf::new(),
    }
}

/// A Redis of its own, without persistence: a child of this process.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    fn new(root: &Path) -> Self {
        Self { port: free_port(), dir: root.to_path_buf() }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn start(&self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.dir.join("redis.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // the watchdog stops it by its pid file; the handle is not needed
        drop(child);
        wait_for(Duration::from_secs(20), "Redis to answer", || {
            Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "ping"])
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
        });
    }

    /// `FLUSHALL`: every feed, cached entity, rate-limit counter and idempotency key, gone.
    pub async fn flush_all(&self) {
        let mut conn = tusk_cache::RedisConnection::open(&self.url()).await.unwrap();
        let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    }

    fn stop_command(&self) -> String {
        format!("kill \"$(cat '{}')\"", self.dir.join("redis.pid").display())
    }
}

/// A RabbitMQ node of its own beside the machine's (`tusk-faults-<pid>@localhost`): its own
/// ports, data and logs, no plugins (the management plugin would fight the machine's node over
/// its port), the guest user allowed on the `/` vhost.
pub struct RabbitMq {
    pub port: u16,
    pub node: String,
    dir: PathBuf,
}

impl RabbitMq {
    fn new(root: &Path) -> Self {
        let dir = root.join("rabbitmq");
        owned_dir(&dir, "rabbitmq");
        let port = free_port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.1 = 127.0.0.1:{port}\n")).unwrap();
        // an empty rabbitmq-env.conf instead of the machine's (which names its own node)
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        Self { port, node: format!("tusk-faults-{}@localhost", std::process::id()), dir }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn program(name: &str) -> PathBuf {
        // Debian's /usr/sbin wrappers insist on root or the rabbitmq user; the real scripts are here
        let lib = Path::new("/usr/lib/rabbitmq/bin").join(name);
        if lib.exists() { lib } else { PathBuf::from(name) }
    }

    fn ctl(&self) -> Command {
        let mut command = as_service_user("rabbitmq", &Self::program("rabbitmqctl"));
        command.args(["-q", "-n", &self.node]);
        if !running_as_root() {
            // the CLI and the node share the Erlang cookie in $HOME
            command.env("HOME", &self.dir);
        }
        command
    }

    /// Starts the node in the background (`-detached`); [`Self::wait_until_up`] waits for it.
    fn launch(&self) {
        let dist_port = free_port();
        let mut server = as_service_user("rabbitmq", &Self::program("rabbitmq-server"));
        let dir = &self.dir;
        server
            .arg("-detached")
            .current_dir(dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("node.pid"))
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .env("ERL_EPMD_ADDRESS", "127.0.0.1");
        if !running_as_root() {
            server.env("HOME", dir);
        }
        run(&mut server, "rabbitmq-server -detached");
    }

    /// Waits for the node's pid file, then for the broker to be up.
    fn wait_until_up(&self) {
        let mut wait = self.ctl();
        wait.args(["wait", "--timeout", "90"]).arg(self.dir.join("node.pid"));
        run(&mut wait, &format!("rabbitmqctl wait (logs in {})", self.dir.join("log").display()));
    }

    /// Stops the whole node (the Erlang VM exits), waiting until it is gone.
    pub fn stop(&self) {
        let mut stop = self.ctl();
        stop.arg("stop").arg(self.dir.join("node.pid"));
        run(&mut stop, "rabbitmqctl stop");
    }

    /// Starts the node again on the same data: durable queues and persistent messages return.
    pub fn start(&self) {
        self.launch();
        self.wait_until_up();
    }

    /// Stops the node until the returned guard is ended or dropped.
    pub async fn outage(&'static self) -> Outage {
        blocking(|| self.stop()).await;
        Outage { started: Instant::now(), end: Some(Box::new(|| self.start())) }
    }

    fn stop_command(&self) -> String {
        let home = if running_as_root() { String::new() } else { format!("HOME='{}' ", self.dir.display()) };
        format!(
            "{home}{}",
            as_service_user_line(
                "rabbitmq",
                &Self::program("rabbitmqctl"),
                &format!("-q -n {} stop '{}'", self.node, self.dir.join("node.pid").display())
            )
        )
    }
}

/// A server stopped for a while: [`Outage::end`] starts it again, and so does dropping the
/// guard, so that a failing test leaves the server up for the tests after it.
pub struct Outage {
    started: Instant,
    end: Option<Box<dyn FnOnce() + Send>>,
}

impl Outage {
    /// Starts the server again, waits until it is up, and returns how long it was down.
    pub async fn end(mut self) -> Duration {
        if let Some(end) = self.end.take() {
            blocking(end).await;
        }
        self.started.elapsed()
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end();
        }
    }
}

fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
