//! `tusk`: one binary, the role chosen by subcommand. Every setting is an environment variable
//! (or the matching flag) with a default for a local machine; `tusk <command> --help` lists them.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tusk::{Connections, Deps, Shutdown};
use tusk_api::{ApiSettings, HttpLimits, Limit, RateLimits, TrustedProxies};
use tusk_core::Instance;
use tusk_queue::QueueType;
use tusk_telemetry::LogFormat;
use tusk_worker::WorkerSettings;

#[derive(Parser)]
#[command(name = "tusk", version, about = "A Mastodon-compatible server core that scales out tier by tier")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the public Mastodon client API (stateless; run as many replicas as needed).
    Api(ApiCommand),
    /// Run the fan-out workers and the outbox relay (run as many replicas as needed).
    Worker(WorkerCommand),
    /// Create the database if missing, apply migrations, declare the RabbitMQ topology, exit.
    Migrate(MigrateCommand),
    /// Run the api and the worker in one process (a laptop or a small instance).
    All(AllCommand),
    /// Manage local accounts (as Mastodon's `tootctl accounts`).
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Let in an account that waits for approval (TUSK_REGISTRATIONS=approved), or list them.
    Approve(ApproveArgs),
}

#[derive(Args)]
struct ApproveArgs {
    /// The username of the account to approve.
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    username: Option<String>,
    /// List the accounts waiting for approval (username, email, sign-up time; tab-separated).
    #[arg(long)]
    list: bool,
    /// PostgreSQL, the source of truth.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/tusk")]
    database_url: String,
}

#[derive(Args)]
struct ConnectionArgs {
    /// PostgreSQL, the source of truth.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/tusk")]
    database_url: String,
    /// Connections per process to PostgreSQL.
    #[arg(long, env = "TUSK_DB_POOL_SIZE", default_value_t = 20)]
    db_pool_size: u32,
    /// Redis; several comma-separated URLs mean a Redis Cluster.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Prefix of every Redis key.
    #[arg(long, env = "TUSK_REDIS_PREFIX", default_value = "tusk:")]
    redis_prefix: String,
    /// RabbitMQ.
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Prefix of the RabbitMQ exchange and queue names.
    #[arg(long, env = "TUSK_QUEUE_PREFIX", default_value = "tusk")]
    queue_prefix: String,
    /// RabbitMQ queue type: quorum (replicated; production) or classic.
    #[arg(long, env = "TUSK_QUEUE_TYPE", default_value = "quorum")]
    queue_type: QueueType,
    /// Log format: json (one object per line) or pretty. Filter with RUST_LOG.
    #[arg(long, env = "TUSK_LOG_FORMAT", default_value = "json")]
    log_format: LogFormat,
    /// Days a user stays "active": active users get write fan-out; an idle user's home feed
    /// expires and is rebuilt from PostgreSQL when they return.
    #[arg(long, env = "TUSK_ACTIVE_DAYS", default_value_t = 7)]
    active_days: u64,
    /// Write notifications (mentions, follows, favourites, reblogs): true, or false to stop
    /// writing them (an emergency switch; the notifications benchmark's baseline).
    #[arg(long, env = "TUSK_NOTIFICATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    notifications: bool,
    /// Seconds between turning /readyz false and stopping, on SIGTERM.
    #[arg(long, env = "TUSK_SHUTDOWN_DELAY", default_value_t = 0)]
    shutdown_delay: u64,
    #[command(flatten)]
    media: MediaArgs,
}

/// Where media bytes are kept; the api and the workers must agree.
#[derive(Args)]
struct MediaArgs {
    /// `local` (a directory; one machine, or a shared volume) or `s3` (any S3-compatible store).
    #[arg(long = "media-backend", env = "TUSK_MEDIA_BACKEND", default_value = "local", value_parser = ["local", "s3"])]
    backend: String,
    /// The directory of the local backend.
    #[arg(long = "media-root", env = "TUSK_MEDIA_ROOT", default_value = "media")]
    root: std::path::PathBuf,
    /// The S3 endpoint, for stores other than AWS (e.g. http://127.0.0.1:9000).
    #[arg(long = "media-s3-endpoint", env = "TUSK_MEDIA_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long = "media-s3-bucket", env = "TUSK_MEDIA_S3_BUCKET", default_value = "tusk-media")]
    s3_bucket: String,
    #[arg(long = "media-s3-region", env = "TUSK_MEDIA_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    #[arg(long = "media-s3-access-key-id", env = "TUSK_MEDIA_S3_ACCESS_KEY_ID", hide_env_values = true)]
    s3_access_key_id: Option<String>,
    #[arg(
        long = "media-s3-secret-access-key",
        env = "TUSK_MEDIA_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    s3_secret_access_key: Option<String>,
}

impl MediaArgs {
    fn storage(&self) -> tusk_media::StorageConfig {
        if self.backend == "s3" {
            tusk_media::StorageConfig::S3 {
                endpoint: self.s3_endpoint.clone(),
                bucket: self.s3_bucket.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                prefix: None,
            }
        } else {
            tusk_media::StorageConfig::Local { root: self.root.clone() }
        }
    }
}

impl ConnectionArgs {
    fn connections(&self) -> Connections {
        Connections {
            database_url: self.database_url.clone(),
            database_pool_size: self.db_pool_size,
            redis_url: self.redis_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            amqp_url: self.amqp_url.clone(),
            queue_prefix: self.queue_prefix.clone(),
            queue_type: self.queue_type,
            // a day longer than the activity window: fan-out (to active users only) never
            // re-creates a feed that expired, so it never leaves one without a TTL
            active_period: Duration::from_hours(self.active_days.max(1) * 24),
            feed_ttl: Duration::from_hours((self.active_days.max(1) + 1) * 24),
            media: self.media.storage(),
        }
    }
}

#[derive(Args)]
struct ApiArgs {
    /// Address of the public API.
    #[arg(long, env = "TUSK_LISTEN", default_value = "0.0.0.0:3000")]
    listen: SocketAddr,
    /// The instance's domain, as it appears in URLs and account addresses.
    #[arg(long, env = "TUSK_DOMAIN", default_value = "localhost:3000")]
    domain: String,
    /// Build public URLs with https.
    #[arg(long, env = "TUSK_HTTPS", default_value_t = false)]
    https: bool,
    /// Where apps open their streams, when not on the domain itself (default: `wss://` +
    /// the domain, `ws://` without https).
    #[arg(long, env = "TUSK_STREAMING_URL")]
    streaming_url: Option<String>,
    /// Where clients fetch media: a CDN or the bucket's public URL (default: the api serves
    /// it at /system).
    #[arg(long, env = "TUSK_MEDIA_PUBLIC_URL")]
    media_public_url: Option<String>,
    /// Password hashes computed at once (0: half the cores, at least one, so that a sign-up
    /// flood leaves the other half to reads).
    #[arg(long, env = "TUSK_PASSWORD_HASHERS", default_value_t = 0)]
    password_hashers: usize,
    /// Streaming connections (WebSocket and SSE) one replica holds at most.
    #[arg(long, env = "TUSK_STREAMING_MAX", default_value_t = 10_000)]
    streaming_max: usize,
    /// Who may sign up: open, approved (accounts wait for a moderator) or closed.
    #[arg(long, env = "TUSK_REGISTRATIONS", default_value = "open")]
    registrations: tusk_core::Registrations,
    /// Sign-ups per client IP: COUNT/PERIOD (period in s, m, h or d), or off.
    #[arg(long, env = "TUSK_RATE_LIMIT_SIGNUPS", default_value = "5/30m")]
    rate_limit_signups: Limit,
    /// Sign-in attempts per client IP (POST /oauth/sign_in, password grants of /oauth/token).
    #[arg(long, env = "TUSK_RATE_LIMIT_SIGN_INS", default_value = "25/5m")]
    rate_limit_sign_ins: Limit,
    /// Requests per token.
    #[arg(long, env = "TUSK_RATE_LIMIT_AUTHENTICATED", default_value = "300/5m")]
    rate_limit_authenticated: Limit,
    /// Requests without a token per client IP (IPv6 by /64).
    #[arg(long, env = "TUSK_RATE_LIMIT_UNAUTHENTICATED", default_value = "300/5m")]
    rate_limit_unauthenticated: Limit,
    /// Statuses created per account.
    #[arg(long, env = "TUSK_RATE_LIMIT_STATUSES", default_value = "300/3h")]
    rate_limit_statuses: Limit,
    /// Follows per account.
    #[arg(long, env = "TUSK_RATE_LIMIT_FOLLOWS", default_value = "400/1d")]
    rate_limit_follows: Limit,
    /// Proxies whose X-Forwarded-For names the client: CIDR ranges, comma-separated, or none.
    #[arg(
        long,
        env = "TUSK_TRUSTED_PROXIES",
        default_value = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    )]
    trusted_proxies: TrustedProxies,
    /// Sign-ups served at once by one replica; more get 503 at once (0: no limit).
    #[arg(long, env = "TUSK_CONCURRENCY_SIGNUP", default_value_t = 16)]
    concurrency_signup: usize,
    /// Sign-ins (POST /oauth/token, /oauth/sign_in, /oauth/authorize) served at once.
    #[arg(long, env = "TUSK_CONCURRENCY_AUTH", default_value_t = 32)]
    concurrency_auth: usize,
    /// Other writes (POST, PUT, PATCH, DELETE) served at once.
    #[arg(long, env = "TUSK_CONCURRENCY_WRITE", default_value_t = 256)]
    concurrency_write: usize,
    /// Reads (GET, HEAD) served at once.
    #[arg(long, env = "TUSK_CONCURRENCY_READ", default_value_t = 512)]
    concurrency_read: usize,
    /// Streams being opened at once (open streams are bounded by TUSK_STREAMING_MAX).
    #[arg(long, env = "TUSK_CONCURRENCY_STREAMING", default_value_t = 128)]
    concurrency_streaming: usize,
    /// Milliseconds a non-streaming request may take before it is answered 503 (0: no limit).
    #[arg(long, env = "TUSK_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Largest request body in bytes; larger get 413.
    #[arg(long, env = "TUSK_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    max_body_bytes: usize,
    /// Largest body of an upload (media, avatars) in bytes: the largest file with its form.
    #[arg(long, env = "TUSK_MAX_UPLOAD_BYTES", default_value_t = 104_857_600)]
    max_upload_bytes: usize,
    /// Uploads per account (Mastodon's: 30 per 30 minutes).
    #[arg(long, env = "TUSK_RATE_LIMIT_MEDIA", default_value = "30/30m")]
    rate_limit_media: Limit,
}

impl ApiArgs {
    /// The instance's URLs; an empty TUSK_STREAMING_URL or TUSK_MEDIA_PUBLIC_URL is unset, not
    /// an empty URL.
    fn instance(&self) -> Instance {
        let set = |url: &Option<String>| url.clone().filter(|url| !url.trim().is_empty());
        let mut instance = Instance::new(self.domain.clone(), self.https);
        if let Some(url) = set(&self.streaming_url) {
            instance = instance.with_streaming_url(&url);
        }
        if let Some(url) = set(&self.media_public_url) {
            instance = instance.with_media_url(&url);
        }
        instance
    }

    fn settings(&self, notifications: bool) -> ApiSettings {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        ApiSettings {
            // an empty TUSK_STREAMING_URL is unset, not an empty URL
            instance: self.instance(),
            password_hashers: if self.password_hashers == 0 {
                (cores / 2).max(1)
            } else {
                self.password_hashers
            },
            max_streams: self.streaming_max,
            registrations: self.registrations,
            notifications,
            rate_limits: RateLimits {
                signups: self.rate_limit_signups,
                sign_ins: self.rate_limit_sign_ins,
                authenticated: self.rate_limit_authenticated,
                unauthenticated: self.rate_limit_unauthenticated,
                statuses: self.rate_limit_statuses,
                follows: self.rate_limit_follows,
                media: self.rate_limit_media,
                trusted_proxies: self.trusted_proxies.clone(),
            },
            http_limits: HttpLimits {
                signup: self.concurrency_signup,
                auth: self.concurrency_auth,
                write: self.concurrency_write,
                read: self.concurrency_read,
                streaming: self.concurrency_streaming,
                request_timeout: Duration::from_millis(self.request_timeout_ms),
                max_body_bytes: self.max_body_bytes,
                max_upload_bytes: self.max_upload_bytes,
            },
        }
    }
}

#[derive(Args)]
struct WorkerArgs {
    /// Unacknowledged messages RabbitMQ hands one worker at once.
    #[arg(long, env = "TUSK_WORKER_PREFETCH", default_value_t = 64)]
    prefetch: u16,
    /// Jobs one worker runs concurrently.
    #[arg(long, env = "TUSK_WORKER_CONCURRENCY", default_value_t = 16)]
    concurrency: usize,
    /// Milliseconds between outbox relay runs and queue-depth samples.
    #[arg(long, env = "TUSK_POLL_INTERVAL_MS", default_value_t = 2000)]
    poll_interval_ms: u64,
    /// Seconds an outbox event is left to the api that wrote it before the relay publishes it.
    #[arg(long, env = "TUSK_RELAY_MIN_AGE", default_value_t = 10)]
    relay_min_age: u64,
    /// Followers per fan-out batch job.
    #[arg(long, env = "TUSK_FANOUT_BATCH", default_value_t = 1000)]
    fanout_batch: usize,
    /// Authors with more followers than this are pulled into home timelines at read time
    /// instead of pushed into every follower's feed.
    #[arg(long, env = "TUSK_HYBRID_THRESHOLD", default_value_t = 10_000)]
    hybrid_threshold: i64,
    /// The work queues to consume, comma-separated: fanout, deliver, notify, media (a media
    /// Deployment of its own runs `--queues media`, the others the rest).
    #[arg(long, env = "TUSK_WORKER_QUEUES", value_delimiter = ',', default_value = "fanout,deliver,notify,media",
          value_parser = tusk_worker::QUEUE_GROUPS)]
    queues: Vec<String>,
    /// Uploads one worker processes at once (decoding and transcoding: about one per core).
    #[arg(long, env = "TUSK_MEDIA_CONCURRENCY", default_value_t = 2)]
    media_concurrency: usize,
}

impl WorkerArgs {
    fn settings(&self, conn: &Connections, notifications: bool) -> WorkerSettings {
        WorkerSettings {
            amqp_url: conn.amqp_url.clone(),
            topology: conn.topology(),
            prefetch: self.prefetch,
            concurrency: self.concurrency.max(1),
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(10)),
            relay_min_age: Duration::from_secs(self.relay_min_age),
            fanout_batch: self.fanout_batch.max(1),
            active_period: conn.active_period,
            hybrid_threshold: self.hybrid_threshold,
            notifications,
            queues: self.queues.clone(),
            media_concurrency: self.media_concurrency.max(1),
        }
    }
}

#[derive(Args)]
struct ApiCommand {
    #[command(flatten)]
    connections: ConnectionArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "TUSK_ADMIN_LISTEN", default_value = "0.0.0.0:9100")]
    admin_listen: SocketAddr,
}

#[derive(Args)]
struct WorkerCommand {
    #[command(flatten)]
    connections: ConnectionArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "TUSK_ADMIN_LISTEN", default_value = "0.0.0.0:9101")]
    admin_listen: SocketAddr,
}

#[derive(Args)]
struct MigrateCommand {
    #[command(flatten)]
    connections: ConnectionArgs,
}

#[derive(Args)]
struct AllCommand {
    #[command(flatten)]
    connections: ConnectionArgs,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "TUSK_ADMIN_LISTEN", default_value = "0.0.0.0:9100")]
    admin_listen: SocketAddr,
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr).await.with_context(|| format!("binding the {what} address {addr}"))
}

fn start_shutdown(args: &ConnectionArgs) -> Shutdown {
    let shutdown = Shutdown::default();
    tokio::spawn(shutdown.clone().on_signal(Duration::from_secs(args.shutdown_delay)));
    shutdown
}

/// mimalloc instead of glibc's malloc: argon2 takes a 19 MiB block per password hash, and glibc
/// kept such blocks in every arena a hashing thread had touched, so the api's memory climbed to
/// hundreds of MiB under a sign-up surge and stayed there (`tusk-surge bench memory`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // an operator's one-off command: its answer goes to stdout, so no log lines are mixed in
    let Command::Accounts(accounts) = cli.command else { return serve(cli.command).await };
    run_accounts(accounts).await
}

async fn run_accounts(command: AccountsCommand) -> anyhow::Result<()> {
    use std::io::Write as _;
    let AccountsCommand::Approve(args) = command;
    let store = tusk_store::Store::connect_lazy(&args.database_url, 1)?;
    let mut out = std::io::stdout().lock();
    match args.username {
        Some(username) if !args.list => match tusk::accounts::approve(&store, &username).await? {
            tusk::accounts::Approval::Approved => writeln!(out, "approved {username}")?,
            tusk::accounts::Approval::AlreadyApproved => writeln!(out, "{username} was already approved")?,
        },
        _ => write!(out, "{}", tusk::accounts::render_pending(&tusk::accounts::pending(&store).await?))?,
    }
    Ok(())
}

/// The server roles: logs and traces on, then the role runs until it is stopped.
async fn serve(command: Command) -> anyhow::Result<()> {
    // the OTEL service name by role, unless OTEL_SERVICE_NAME says otherwise
    let (format, service) = match &command {
        Command::Migrate(cmd) => (cmd.connections.log_format, "tusk-migrate"),
        Command::Api(cmd) => (cmd.connections.log_format, "tusk-api"),
        Command::Worker(cmd) => (cmd.connections.log_format, "tusk-worker"),
        Command::All(cmd) => (cmd.connections.log_format, "tusk"),
        Command::Accounts(_) => (LogFormat::Pretty, "tusk-accounts"),
    };
    let telemetry = tusk_telemetry::init_telemetry(format, service);
    let result = run(command).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "tusk failed");
    }
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    result
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate(cmd) => {
            tusk::migrate(&cmd.connections.connections()).await?;
            tracing::info!("migrated");
        }
        Command::Api(cmd) => {
            let conn = cmd.connections.connections();
            let listener = bind(cmd.api.listen, "api").await?;
            let admin = bind(cmd.admin_listen, "admin").await?;
            tracing::info!(listen = %cmd.api.listen, admin = %cmd.admin_listen, "tusk api starting");
            let deps = Deps::connect(&conn).await?;
            let shutdown = start_shutdown(&cmd.connections);
            tusk::run_api(
                deps,
                &conn,
                cmd.api.settings(cmd.connections.notifications),
                listener,
                admin,
                shutdown,
            )
            .await?;
        }
        Command::Worker(cmd) => {
            let conn = cmd.connections.connections();
            let admin = bind(cmd.admin_listen, "admin").await?;
            tracing::info!(admin = %cmd.admin_listen, "tusk worker starting");
            let deps = Deps::connect(&conn).await?;
            let shutdown = start_shutdown(&cmd.connections);
            tusk::run_worker(
                deps,
                cmd.worker.settings(&conn, cmd.connections.notifications),
                admin,
                shutdown,
            )
            .await?;
        }
        Command::Accounts(cmd) => return run_accounts(cmd).await,
        Command::All(cmd) => {
            let conn = cmd.connections.connections();
            let listener = bind(cmd.api.listen, "api").await?;
            let admin = bind(cmd.admin_listen, "admin").await?;
            tracing::info!(listen = %cmd.api.listen, admin = %cmd.admin_listen, "tusk all starting");
            let deps = Deps::connect(&conn).await?;
            let shutdown = start_shutdown(&cmd.connections);
            let worker = cmd.worker.settings(&conn, cmd.connections.notifications);
            tusk::run_all(
                deps,
                &conn,
                cmd.api.settings(cmd.connections.notifications),
                worker,
                listener,
                admin,
                shutdown,
            )
            .await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}
