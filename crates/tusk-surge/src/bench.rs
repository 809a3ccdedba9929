//! The api benchmarks, each a ratio against a baseline taken in the same run. Each starts its
//! own isolated stack ([`crate::stack`]: database `tusk_bench_{name}`, Redis prefix
//! `tusk_bench_{name}:`, queues `tusk_bench_{name}.*`, api on 127.0.0.1:3590, admin 9590,
//! worker admin 9591), seeds it with [`crate::seed`], measures, and tears it down.
//!
//! Reads are generated open-loop: request `i` is due at `start + i / rate` and is sent then
//! whether or not earlier ones returned; its latency runs from that intended time (no
//! coordinated omission), into an HDR histogram. Sign-up floods are closed-loop (a fixed number
//! of clients each signing up as fast as answers come), which is what saturation means.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::manifest::SeedManifest;
use crate::seed::{self, SeedOptions};
use crate::stack::{self, Stack, StackArgs, Tiers};

#[derive(Args, Debug)]
pub struct HomeArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Accounts seeded.
    #[arg(long, default_value_t = 20_000)]
    accounts: i64,
    /// Seconds per arrival-rate step.
    #[arg(long, default_value_t = 3)]
    step_secs: u64,
    /// The latency bound, ms.
    #[arg(long, default_value_t = 25.0)]
    p99_ms: f64,
    /// Highest arrival rate tried, requests/s.
    #[arg(long, default_value_t = 20_000.0)]
    max_rate: f64,
}

#[derive(Args, Debug)]
pub struct SignupArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Seconds of hashing, and of sign-ups.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Sign-up clients at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

#[derive(Args, Debug)]
pub struct FloodArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Accounts seeded.
    #[arg(long, default_value_t = 20_000)]
    accounts: i64,
    /// Home timeline reads/s, unloaded and under the flood.
    #[arg(long, default_value_t = 200.0)]
    read_rate: f64,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Sign-up clients flooding at once.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

#[derive(Args, Debug)]
pub struct MemoryArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Accounts seeded.
    #[arg(long, default_value_t = 20_000)]
    accounts: i64,
    /// Seconds of load (the built-in mix, when there is no scenario).
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// The surge replayed against the stack (`tusk-surge replay`, as a child process) while
    /// RSS is sampled; if the file is missing, a built-in mix of sign-ups, posts and reads.
    #[arg(long, default_value = "loadtests/scenarios/smoke.toml")]
    scenario: std::path::PathBuf,
}

fn seed_options(accounts: i64) -> SeedOptions {
    SeedOptions {
        accounts,
        // the same share of hybrid authors as 10,000 of 100,000 would give… roughly
        hybrid_threshold: (accounts / 10).max(100),
        active_days: 7,
        warm_users: 2_000,
        manifest_users: 200,
    }
}

/// Prepares a stack named `name`, seeds `accounts` (if any) and starts `tiers`.
async fn stack_with_seed(
    args: &StackArgs,
    name: &str,
    accounts: i64,
    tiers: Tiers,
) -> anyhow::Result<(Stack, Option<SeedManifest>)> {
    let started = Instant::now();
    let mut stack = Stack::prepare(args, name).await?;
    let manifest = if accounts > 0 {
        Some(seed::seed(&stack.store, &stack.redis_url, &stack.redis_prefix, &seed_options(accounts)).await?)
    } else {
        None
    };
    stack.start(tiers, &[]).await?;
    println!(
        "stack {name} ready in {:.1} s ({}, {})",
        started.elapsed().as_secs_f64(),
        stack.api_url,
        stack.database_url
    );
    Ok((stack, manifest))
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(2_000)
        .tcp_nodelay(true)
        .build()?)
}

/// What one open-loop run saw.
struct Load {
    latency_us: Histogram<u64>,
    sent: u64,
    errors: u64,
}

impl Load {
    fn p(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Sends `rate` requests/s for `duration`, open-loop; `request(i)` makes the `i`th request.
async fn open_loop<F>(rate: f64, duration: Duration, request: F) -> anyhow::Result<Load>
where
    F: Fn(u64) -> reqwest::RequestBuilder,
{
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(5);
    let mut tasks = Vec::with_capacity(usize::try_from(total)?);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let request = request(i);
        tasks.push(tokio::spawn(async move {
            let ok = match request.send().await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    ok && response.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            (due.elapsed(), ok)
        }));
    }
    let mut load = Load { latency_us: crate::run::latency_histogram(), sent: total, errors: 0 };
    for task in tasks {
        let (latency, ok) = task.await?;
        if !ok {
            load.errors += 1;
        }
        load.latency_us.saturating_record(u64::try_from(latency.as_micros())?.max(1));
    }
    Ok(load)
}

/// The highest arrival rate (×1.4 steps from 50/s) whose p99 stays under `bound_ms` with no
/// errors; each step runs `step` seconds, with a pause between steps.
async fn max_rate_under<F>(
    label: &str,
    step: Duration,
    bound_ms: f64,
    max_rate: f64,
    request: F,
) -> anyhow::Result<f64>
where
    F: Fn(u64) -> reqwest::RequestBuilder,
{
    let mut best = 0.0;
    let mut rate = 50.0_f64;
    while rate <= max_rate {
        let load = open_loop(rate, step, &request).await?;
        let pass = load.errors == 0 && load.p(0.99) < bound_ms;
        println!(
            "  {label} at {rate:>6.0}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, errors {}/{} {}",
            load.p(0.5),
            load.p(0.99),
            load.latency_us.max() as f64 / 1000.0,
            load.errors,
            load.sent,
            if pass { "ok" } else { "over" }
        );
        if !pass {
            break;
        }
        best = rate;
        rate = (rate * 1.4).round();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    Ok(best)
}

fn home_request(
    http: &reqwest::Client,
    api: &str,
    manifest: &SeedManifest,
    i: u64,
) -> reqwest::RequestBuilder {
    let user = &manifest.users[usize::try_from(i).unwrap_or(0) % manifest.users.len()];
    http.get(format!("{api}/api/v1/timelines/home")).bearer_auth(&user.token)
}

/// Reads every manifest user's home once (as the users would have: the entity cache warms).
async fn warm_reads(http: &reqwest::Client, api: &str, manifest: &SeedManifest) -> anyhow::Result<()> {
    let load = open_loop(200.0, Duration::from_secs_f64(manifest.users.len() as f64 / 200.0), |i| {
        home_request(http, api, manifest, i)
    })
    .await?;
    if load.errors > 0 {
        bail!("{} of {} warm-up home reads failed", load.errors, load.sent);
    }
    Ok(())
}

fn manifest_of(manifest: Option<SeedManifest>) -> anyhow::Result<SeedManifest> {
    let manifest = manifest.context("nothing seeded")?;
    if manifest.users.is_empty() {
        bail!("the seed gave no users with tokens");
    }
    Ok(manifest)
}

pub async fn home(args: &HomeArgs) -> anyhow::Result<()> {
    let (stack, manifest) = stack_with_seed(&args.stack, "home", args.accounts, Tiers::ApiAndWorker).await?;
    let manifest = manifest_of(manifest)?;
    let http = http_client()?;
    let api = stack.api_url.clone();
    warm_reads(&http, &api, &manifest).await?;
    let step = Duration::from_secs(args.step_secs);
    println!("GET /api/v1/streaming/health (trivial endpoint, same server):");
    let trivial = max_rate_under("health", step, args.p99_ms, args.max_rate, |_| {
        http.get(format!("{api}/api/v1/streaming/health"))
    })
    .await?;
    println!("GET /api/v1/timelines/home ({} users, 20 statuses a page):", manifest.users.len());
    let home =
        max_rate_under("home", step, args.p99_ms, args.max_rate, |i| home_request(&http, &api, &manifest, i))
            .await?;
    drop(stack);
    println!(
        "home reads/s at p99<{:.0}ms: {home:.0}, trivial endpoint: {trivial:.0}, ratio: {:.2}",
        args.p99_ms,
        if trivial > 0.0 { home / trivial } else { 0.0 }
    );
    Ok(())
}

/// Raw argon2id hashes/s with the api's hasher, one thread per core, for `secs`.
fn argon2_rate(secs: u64) -> anyhow::Result<(f64, usize)> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|n| {
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut count = 0;
                while Instant::now() < deadline {
                    seed::hash_password(&format!("correct horse battery {n} {count}"))?;
                    count += 1;
                }
                Ok(count)
            })
        })
        .collect();
    let mut total = 0;
    for thread in threads {
        total += thread.join().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??;
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), cores))
}

/// An app token with `write:accounts` (`POST /api/v1/apps`, then `client_credentials`).
async fn app_token(http: &reqwest::Client, api: &str) -> anyhow::Result<String> {
    let app: Value = http
        .post(format!("{api}/api/v1/apps"))
        .json(&json!({"client_name": "tusk-surge bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                      "scopes": "read write follow"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token: Value = http
        .post(format!("{api}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["client_id"].as_str().context("no client_id")?),
            ("client_secret", app["client_secret"].as_str().context("no client_secret")?),
            ("scope", "read write follow"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(token["access_token"].as_str().context("no access_token")?.to_owned())
}

/// Sign-up clients running until `stop`, each signing up as fast as answers come.
struct Flood {
    created: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    fn start(http: &reqwest::Client, api: &str, app_token: &str, clients: usize, tag: &str) -> Self {
        let created = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|client| {
                let (http, url, token) =
                    (http.clone(), format!("{api}/api/v1/accounts"), app_token.to_owned());
                let (created, failed, stop) = (created.clone(), failed.clone(), stop.clone());
                let tag = tag.to_owned();
                tokio::spawn(async move {
                    let mut n = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let username = format!("{tag}{client}x{n}");
                        let body = json!({"username": username, "email": format!("{username}@bench.example"),
                                          "password": "correct horse battery staple", "agreement": true});
                        let ok = match http.post(&url).bearer_auth(&token).json(&body).send().await {
                            Ok(response) => response.status().is_success(),
                            Err(_) => false,
                        };
                        if ok { &created } else { &failed }.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Self { created, failed, stop, tasks }
    }

    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        (self.created.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

pub async fn signup(args: &SignupArgs) -> anyhow::Result<()> {
    let params = tusk_api::password_hasher().params().clone();
    println!(
        "raw argon2id with the api's hasher (m {} KiB, t {}, p {}), all cores, {} s…",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        args.secs
    );
    let (hashes, cores) = argon2_rate(args.secs)?;
    println!("  {hashes:.1} hashes/s on {cores} cores");
    let (stack, _) = stack_with_seed(&args.stack, "signup", 0, Tiers::Api).await?;
    let http = http_client()?;
    let token = app_token(&http, &stack.api_url).await?;
    let flood = Flood::start(&http, &stack.api_url, &token, args.clients, "s");
    // a second of ramp-up, then the measured window
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (created0, failed0) = (flood.created.load(Ordering::Relaxed), flood.failed.load(Ordering::Relaxed));
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let (created1, failed1) = (flood.created.load(Ordering::Relaxed), flood.failed.load(Ordering::Relaxed));
    let elapsed = window.elapsed().as_secs_f64();
    flood.stop().await;
    drop(stack);
    let signups = (created1 - created0) as f64 / elapsed;
    println!(
        "  {} sign-ups in {elapsed:.1} s with {} clients, {} failed",
        created1 - created0,
        args.clients,
        failed1 - failed0
    );
    println!(
        "sign-ups/s: {signups:.1}, argon2id hashes/s ({cores} cores): {hashes:.1}, ratio: {:.2}",
        signups / hashes
    );
    Ok(())
}

/// CPU use between two samples: (machine busy %, process % of one core).
fn cpu_between(before: ((u64, u64), u64), after: ((u64, u64), u64), secs: f64) -> (f64, f64) {
    let ((busy0, total0), proc0) = before;
    let ((busy1, total1), proc1) = after;
    let machine = 100.0 * (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
    // clock ticks are 100 per second on Linux
    let process = (proc1 - proc0) as f64 / secs;
    (machine, process)
}

pub async fn flood(args: &FloodArgs) -> anyhow::Result<()> {
    let (stack, manifest) = stack_with_seed(&args.stack, "flood", args.accounts, Tiers::ApiAndWorker).await?;
    let manifest = manifest_of(manifest)?;
    let http = http_client()?;
    let api = stack.api_url.clone();
    let api_pid = stack.api.as_ref().context("no api")?.pid();
    warm_reads(&http, &api, &manifest).await?;
    let duration = Duration::from_secs(args.secs);
    let unloaded = open_loop(args.read_rate, duration, |i| home_request(&http, &api, &manifest, i)).await?;
    println!(
        "unloaded: {:.0} home reads/s, p50 {:.1} ms, p99 {:.1} ms, errors {}",
        args.read_rate,
        unloaded.p(0.5),
        unloaded.p(0.99),
        unloaded.errors
    );
    let token = app_token(&http, &api).await?;
    let flood = Flood::start(&http, &api, &token, args.clients, "f");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = (stack::machine_cpu()?, stack::cpu_ticks(api_pid)?);
    let created0 = flood.created.load(Ordering::Relaxed);
    let window = Instant::now();
    let loaded = open_loop(args.read_rate, duration, |i| home_request(&http, &api, &manifest, i)).await?;
    let secs = window.elapsed().as_secs_f64();
    let after = (stack::machine_cpu()?, stack::cpu_ticks(api_pid)?);
    let created = flood.created.load(Ordering::Relaxed) - created0;
    let (_, failed) = flood.stop().await;
    drop(stack);
    let (machine, api_cpu) = cpu_between(before, after, secs);
    println!(
        "under the flood ({} clients, {:.1} sign-ups/s, {failed} failed): p50 {:.1} ms, p99 {:.1} ms, errors {}; \
         machine CPU {machine:.0} %, api process {api_cpu:.0} % of one core",
        args.clients,
        created as f64 / secs,
        loaded.p(0.5),
        loaded.p(0.99),
        loaded.errors
    );
    println!(
        "home p99 unloaded: {:.1} ms, under sign-up flood: {:.1} ms (machine CPU {machine:.0} %), ratio: {:.2}",
        unloaded.p(0.99),
        loaded.p(0.99),
        loaded.p(0.99) / unloaded.p(0.99).max(0.001)
    );
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

pub async fn memory(args: &MemoryArgs) -> anyhow::Result<()> {
    let (stack, manifest) =
        stack_with_seed(&args.stack, "memory", args.accounts, Tiers::ApiAndWorker).await?;
    let manifest = manifest_of(manifest)?;
    let api_pid = stack.api.as_ref().context("no api")?.pid();
    let worker_pid = stack.worker.as_ref().context("no worker")?.pid();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rest = (stack::rss_bytes(api_pid)?, stack::rss_bytes(worker_pid)?);
    println!("at rest: api {:.1} MiB, worker {:.1} MiB", rest.0 as f64 / MIB, rest.1 as f64 / MIB);

    // the load: a sign-up flood (8 clients), 20 posts/s by seeded users (fanned out by the
    // worker), 200 home reads/s, with RSS sampled every 250 ms
    let http = http_client()?;
    let api = stack.api_url.clone();
    let token = app_token(&http, &api).await?;
    let peak = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let (Ok(api), Ok(worker)) = (stack::rss_bytes(api_pid), stack::rss_bytes(worker_pid)) {
                    peak.0.fetch_max(api, Ordering::Relaxed);
                    peak.1.fetch_max(worker, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    if args.scenario.exists() {
        let out = std::env::temp_dir().join("tusk-surge-bench-memory");
        let manifest_path = std::env::temp_dir().join("tusk-surge-bench-memory-manifest.json");
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest)?)?;
        println!("replaying {} (report in {})", args.scenario.display(), out.display());
        let mut replay = std::process::Command::new(std::env::current_exe()?);
        replay
            .arg("replay")
            .arg(&args.scenario)
            .args(["--target", &api])
            .args(["--admin", &format!("http://{},http://{}", stack.api_admin, stack.worker_admin)])
            .arg("--out")
            .arg(&out)
            .arg("--seed-manifest")
            .arg(&manifest_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        let status = tokio::task::spawn_blocking(move || replay.status()).await??;
        if !status.success() {
            bail!("the replay failed: {status}");
        }
        println!("load: the replay of {}", args.scenario.display());
    } else {
        println!("no {}: a built-in mix instead", args.scenario.display());
        mixed_load(&http, &api, &token, &manifest, Duration::from_secs(args.secs)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    sampler.await?;
    let end = (stack::rss_bytes(api_pid)?, stack::rss_bytes(worker_pid)?);
    drop(stack);
    let load = (peak.0.load(Ordering::Relaxed), peak.1.load(Ordering::Relaxed));
    println!(
        "at the end of the load: api {:.1} MiB, worker {:.1} MiB",
        end.0 as f64 / MIB,
        end.1 as f64 / MIB
    );
    println!(
        "api RSS at rest: {:.1} MiB, under load: {:.1} MiB; worker RSS at rest: {:.1} MiB, under load: {:.1} MiB",
        rest.0 as f64 / MIB,
        load.0 as f64 / MIB,
        rest.1 as f64 / MIB,
        load.1 as f64 / MIB
    );
    Ok(())
}

/// The built-in load: a sign-up flood (8 clients), 20 posts/s by seeded users (fanned out by
/// the worker) and 200 home reads/s, for `duration`.
async fn mixed_load(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    manifest: &SeedManifest,
    duration: Duration,
) -> anyhow::Result<()> {
    let flood = Flood::start(http, api, token, 8, "m");
    let posts = open_loop(20.0, duration, |i| {
        let user = &manifest.users[usize::try_from(i).unwrap_or(0) % manifest.users.len()];
        http.post(format!("{api}/api/v1/statuses"))
            .bearer_auth(&user.token)
            .json(&json!({"status": format!("memory benchmark post {i}")}))
    });
    let reads = open_loop(200.0, duration, |i| home_request(http, api, manifest, i));
    let (posts, reads) = tokio::join!(posts, reads);
    let (posts, reads) = (posts?, reads?);
    let (created, failed) = flood.stop().await;
    println!(
        "load: {} sign-ups ({failed} failed), {} posts (p99 {:.1} ms, {} errors), {} home reads (p99 {:.1} ms, {} errors)",
        created,
        posts.sent,
        posts.p(0.99),
        posts.errors,
        reads.sent,
        reads.p(0.99),
        reads.errors
    );
    Ok(())
}
