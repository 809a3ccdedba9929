//! `tusk-surge`: rehearses sign-up surges against a running Tusk and benchmarks its tiers.
//! A client, not part of the server image. Every benchmark measures against a baseline taken
//! in the same run on the same machine.

mod autoscale;
mod bench;
mod fanout;
mod manifest;
mod replay;
mod report;
mod run;
mod scenario;
mod seed;
mod stack;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tusk-surge", version, about = "Replays surges against Tusk and benchmarks its tiers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Builds a realistic existing instance straight into PostgreSQL (and warms Redis).
    Seed(seed::SeedArgs),
    /// Replays a surge scenario against running Tusk api replicas and writes a report.
    Replay(replay::ReplayArgs),
    /// Benchmarks, each a ratio against a baseline taken in the same run.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// Fans statuses out to 1k, 10k and 100k followers through a `tusk worker` process and
    /// compares the delivery rate with redis-benchmark's pipelined ZADD rate on the same Redis.
    Fanout(FanoutArgs),
    /// Home timeline reads/s at p99 under 25 ms, against a trivial endpoint of the same server
    /// (the median of three ramps each; a knee needs two failing steps in a row).
    Home(bench::HomeArgs),
    /// Sign-ups/s against raw argon2id hashes/s with the same parameters.
    Signup(bench::SignupArgs),
    /// Home timeline p99 under a CPU-saturating sign-up flood, against its unloaded p99.
    Flood(bench::FloodArgs),
    /// api and worker memory (RSS) at rest and under the smoke surge.
    Memory(bench::MemoryArgs),
    /// Favourites/s one popular post absorbs with notifications on, against the same storm
    /// with them off, and the p99 of the author's grouped notifications page at 100,000.
    Notifications(bench::NotificationsArgs),
    /// Images/s one worker processes from the media queue against the same pipeline in a bare
    /// loop, and the upload p99 while the worker is busy.
    Media(bench::MediaArgs),
}

#[derive(Args)]
pub struct FanoutArgs {
    /// PostgreSQL server; the benchmark (re)creates its own database `tusk_bench` there.
    #[arg(long, env = "TUSK_BENCH_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Redis (single server); the benchmark's keys are prefixed `tusk_bench:` and removed first.
    #[arg(long, env = "TUSK_BENCH_REDIS", default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// RabbitMQ; the benchmark's queues are prefixed `tusk_bench`.
    #[arg(long, env = "TUSK_BENCH_AMQP", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// The `tusk` binary to run the worker from (default: next to this binary).
    #[arg(long)]
    tusk_bin: Option<std::path::PathBuf>,
    /// Followers of the biggest author.
    #[arg(long, default_value_t = 100_000)]
    followers: i64,
    /// Fan-outs measured per author size.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => seed::run(&args).await,
        Command::Replay(args) => replay::run(&args).await,
        Command::Bench(Bench::Fanout(args)) => fanout::run(&args).await,
        Command::Bench(Bench::Home(args)) => bench::home(&args).await,
        Command::Bench(Bench::Signup(args)) => bench::signup(&args).await,
        Command::Bench(Bench::Flood(args)) => bench::flood(&args).await,
        Command::Bench(Bench::Memory(args)) => bench::memory(&args).await,
        Command::Bench(Bench::Notifications(args)) => bench::notifications(&args).await,
        Command::Bench(Bench::Media(args)) => bench::media(&args).await,
    }
}
