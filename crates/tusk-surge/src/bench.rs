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
    /// Seconds measured per arrival-rate step, at least: a step measures at least 2,000
    /// requests too, so the low-rate steps last longer.
    #[arg(long, default_value_t = 2.0)]
    step_secs: f64,
    /// Seconds each step sends at its rate before measuring (not recorded).
    #[arg(long, default_value_t = 0.5)]
    warmup_secs: f64,
    /// The latency bound, ms.
    #[arg(long, default_value_t = 25.0)]
    p99_ms: f64,
    /// The first step's arrival rate, requests/s; each next step is 1.4 times the last.
    #[arg(long, default_value_t = 200.0)]
    start_rate: f64,
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

/// Sends `rate` requests/s for `warmup` then `duration`, open-loop; `request(i)` makes the `i`th
/// request. Only the requests due after the warm-up are recorded.
async fn open_loop<F>(rate: f64, warmup: Duration, duration: Duration, request: F) -> anyhow::Result<Load>
where
    F: Fn(u64) -> reqwest::RequestBuilder,
{
    let unrecorded = (rate * warmup.as_secs_f64()).round() as u64;
    let total = unrecorded + (rate * duration.as_secs_f64()).round() as u64;
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
    let mut load = Load { latency_us: crate::run::latency_histogram(), sent: total - unrecorded, errors: 0 };
    for (i, task) in (0..total).zip(tasks) {
        let (latency, ok) = task.await?;
        if i < unrecorded {
            continue;
        }
        if !ok {
            load.errors += 1;
        }
        load.latency_us.saturating_record(u64::try_from(latency.as_micros())?.max(1));
    }
    Ok(load)
}

/// Requests each ramp step measures at least: its p99 is then the 20th slowest of them, not
/// whichever single stall happened to land in a short step.
const STEP_REQUESTS: f64 = 2_000.0;
/// Each step's arrival rate over the last one's.
const RAMP_FACTOR: f64 = 1.4;
/// Ramps per endpoint; the summary is their median.
const RAMPS: usize = 3;
/// Between steps, so the server settles before the next rate.
const STEP_PAUSE: Duration = Duration::from_millis(500);

/// The rates one ramp steps through, and how long each step lasts.
#[derive(Debug)]
struct RampPlan {
    rates: Vec<f64>,
    warmup: Duration,
    step: Duration,
}

impl RampPlan {
    fn new(args: &HomeArgs) -> anyhow::Result<Self> {
        if !(args.start_rate > 0.0 && args.max_rate >= args.start_rate) {
            bail!("need 0 < --start-rate <= --max-rate");
        }
        if !(args.step_secs > 0.0 && args.warmup_secs >= 0.0) {
            bail!("need --step-secs > 0 and --warmup-secs >= 0");
        }
        Ok(Self::with(args.start_rate, args.max_rate, args.warmup_secs, args.step_secs))
    }

    fn with(start_rate: f64, max_rate: f64, warmup_secs: f64, step_secs: f64) -> Self {
        let rates = std::iter::successors(Some(start_rate), |rate| Some((rate * RAMP_FACTOR).round()))
            .take_while(|rate| *rate <= max_rate)
            .collect();
        Self { rates, warmup: Duration::from_secs_f64(warmup_secs), step: Duration::from_secs_f64(step_secs) }
    }

    /// How long a step at `rate` is measured: at least `step`, and at least [`STEP_REQUESTS`].
    fn measured(&self, rate: f64) -> Duration {
        self.step.max(Duration::from_secs_f64(STEP_REQUESTS / rate))
    }

    /// The longest a ramp can take (every step run, none ending it early), pauses included.
    fn max_duration(&self) -> Duration {
        self.rates.iter().map(|&rate| self.warmup + self.measured(rate) + STEP_PAUSE).sum()
    }
}

/// One step of a ramp: its arrival rate, and whether it held the bound (p99 under it, no errors).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    rate: f64,
    held: bool,
}

/// Whether a ramp has reached its knee and stops: its last two steps both failed.
fn at_knee(steps: &[Step]) -> bool {
    matches!(steps, [.., before, last] if !before.held && !last.held)
}

/// What a ramp's steps say.
#[derive(Debug, PartialEq)]
struct RampOutcome {
    /// The highest rate that held below the knee; 0 if the first step is the knee.
    sustained: f64,
    /// The knee: the first failing step that the next step confirms by failing too, or a
    /// failing last step (nothing above it to overrule it). None if every step held.
    knee: Option<f64>,
    /// Failing steps below the knee, each followed by one that held: one stall (a GC pause
    /// elsewhere, a neighbour's build) rather than the server's limit, so the ramp went on.
    hiccups: Vec<f64>,
}

impl RampOutcome {
    fn of(steps: &[Step]) -> Self {
        let knee =
            (0..steps.len()).find(|&i| !steps[i].held && steps.get(i + 1).is_none_or(|next| !next.held));
        let below = &steps[..knee.unwrap_or(steps.len())];
        Self {
            sustained: below.iter().rev().find(|step| step.held).map_or(0.0, |step| step.rate),
            knee: knee.map(|i| steps[i].rate),
            hiccups: below.iter().filter(|step| !step.held).map(|step| step.rate).collect(),
        }
    }
}

impl std::fmt::Display for RampOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0}/s", self.sustained)?;
        match self.knee {
            Some(knee) => write!(f, " (knee at {knee:.0}/s")?,
            None => write!(f, " (held up to the rate cap")?,
        }
        if !self.hiccups.is_empty() {
            let rates: Vec<_> = self.hiccups.iter().map(|rate| format!("{rate:.0}/s")).collect();
            write!(f, "; hiccups passed over at {}", rates.join(", "))?;
        }
        write!(f, ")")
    }
}

/// The middle value of an odd number of values (of an even number, the upper middle one).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Runs one ramp: the plan's rates in turn, open-loop, until the knee ([`at_knee`]) or the cap.
async fn ramp<F>(label: &str, plan: &RampPlan, bound_ms: f64, request: F) -> anyhow::Result<RampOutcome>
where
    F: Fn(u64) -> reqwest::RequestBuilder,
{
    let mut steps = Vec::with_capacity(plan.rates.len());
    for &rate in &plan.rates {
        let load = open_loop(rate, plan.warmup, plan.measured(rate), &request).await?;
        let held = load.errors == 0 && load.p(0.99) < bound_ms;
        println!(
            "    {label} at {rate:>6.0}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, errors {}/{} {}",
            load.p(0.5),
            load.p(0.99),
            load.latency_us.max() as f64 / 1000.0,
            load.errors,
            load.sent,
            if held { "ok" } else { "over" }
        );
        steps.push(Step { rate, held });
        if at_knee(&steps) {
            break;
        }
        tokio::time::sleep(STEP_PAUSE).await;
    }
    Ok(RampOutcome::of(&steps))
}

/// The machine's load averages (1, 5, 15 min), as `uptime` shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
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
    let load =
        open_loop(200.0, Duration::ZERO, Duration::from_secs_f64(manifest.users.len() as f64 / 200.0), |i| {
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

/// Home timeline reads/s at p99 under the bound, against the trivial endpoint in the same run.
/// Each endpoint gets [`RAMPS`] ramps, the two taking turns so that a busy spell of the machine
/// falls on both; each ramp's result is the rate below its confirmed knee ([`RampOutcome`]),
/// and the summary is the median of the ramps.
pub async fn home(args: &HomeArgs) -> anyhow::Result<()> {
    let plan = RampPlan::new(args)?;
    let (stack, manifest) = stack_with_seed(&args.stack, "home", args.accounts, Tiers::ApiAndWorker).await?;
    let manifest = manifest_of(manifest)?;
    let http = http_client()?;
    let api = stack.api_url.clone();
    warm_reads(&http, &api, &manifest).await?;
    println!(
        "{RAMPS} ramps per endpoint, the two endpoints' ramps taking turns: {} steps from {:.0}/s to {:.0}/s, \
         each {:.1} s of warm-up then at least {:.1} s and {STEP_REQUESTS:.0} requests measured; \
         at most {:.0} s of load in all; load average {}",
        plan.rates.len(),
        plan.rates.first().copied().unwrap_or_default(),
        plan.rates.last().copied().unwrap_or_default(),
        plan.warmup.as_secs_f64(),
        plan.step.as_secs_f64(),
        plan.max_duration().as_secs_f64() * 2.0 * RAMPS as f64,
        load_average()
    );
    let started = Instant::now();
    let (mut trivial, mut home) = (Vec::with_capacity(RAMPS), Vec::with_capacity(RAMPS));
    let mut trivial_capped = 0;
    for n in 1..=RAMPS {
        println!("ramp {n}/{RAMPS}, GET /api/v1/streaming/health (trivial endpoint, same server):");
        let outcome =
            ramp("health", &plan, args.p99_ms, |_| http.get(format!("{api}/api/v1/streaming/health")))
                .await?;
        println!("  trivial endpoint, ramp {n}: {outcome}");
        trivial.push(outcome.sustained);
        trivial_capped += usize::from(outcome.knee.is_none());
        println!(
            "ramp {n}/{RAMPS}, GET /api/v1/timelines/home ({} users, 20 statuses a page):",
            manifest.users.len()
        );
        let outcome = ramp("home", &plan, args.p99_ms, |i| home_request(&http, &api, &manifest, i)).await?;
        println!("  home, ramp {n}: {outcome}");
        home.push(outcome.sustained);
    }
    drop(stack);
    let ramps =
        |values: &[f64]| values.iter().map(|value| format!("{value:.0}")).collect::<Vec<_>>().join(", ");
    let (trivial_median, home_median) = (median(&trivial), median(&home));
    println!("{:.0} s of ramps; load average {}", started.elapsed().as_secs_f64(), load_average());
    println!("trivial endpoint reads/s per ramp: {}; median {trivial_median:.0}", ramps(&trivial));
    if trivial_capped > RAMPS / 2 {
        println!("  (the trivial endpoint held up to --max-rate in most ramps: the ratio is an upper bound)");
    }
    println!("home reads/s per ramp: {}; median {home_median:.0}", ramps(&home));
    println!(
        "home reads/s at p99<{:.0}ms: {home_median:.0}, trivial endpoint: {trivial_median:.0}, ratio: {:.2}",
        args.p99_ms,
        if trivial_median > 0.0 { home_median / trivial_median } else { 0.0 }
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
    let params = tusk_core::password_hasher().params().clone();
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
    let unloaded =
        open_loop(args.read_rate, Duration::ZERO, duration, |i| home_request(&http, &api, &manifest, i))
            .await?;
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
    let loaded =
        open_loop(args.read_rate, Duration::ZERO, duration, |i| home_request(&http, &api, &manifest, i))
            .await?;
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
    let posts = open_loop(20.0, Duration::ZERO, duration, |i| {
        let user = &manifest.users[usize::try_from(i).unwrap_or(0) % manifest.users.len()];
        http.post(format!("{api}/api/v1/statuses"))
            .bearer_auth(&user.token)
            .json(&json!({"status": format!("memory benchmark post {i}")}))
    });
    let reads = open_loop(200.0, Duration::ZERO, duration, |i| home_request(http, api, manifest, i));
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

#[cfg(test)]
#[allow(clippy::float_cmp)] // the rates compared are copied from the input, never computed
mod tests {
    use std::time::Duration;

    use super::{RampOutcome, RampPlan, Step, at_knee, median};

    fn steps(held: &[(f64, bool)]) -> Vec<Step> {
        held.iter().map(|&(rate, held)| Step { rate, held }).collect()
    }

    #[test]
    fn a_single_failing_step_followed_by_one_that_holds_is_a_hiccup_not_the_knee() {
        // the second run measured before: one 217 ms outlier at 70/s ended the ramp at 50/s
        let ramp = steps(&[(50.0, true), (70.0, false), (98.0, true), (137.0, true)]);
        assert!(!at_knee(&ramp[..2]), "one failing step must not stop the ramp");
        let outcome = RampOutcome::of(&ramp);
        assert_eq!(outcome, RampOutcome { sustained: 137.0, knee: None, hiccups: vec![70.0] });
    }

    #[test]
    fn two_failing_steps_in_a_row_are_the_knee() {
        let ramp = steps(&[(50.0, true), (70.0, false), (98.0, true), (137.0, false), (192.0, false)]);
        assert!(at_knee(&ramp));
        assert!(!at_knee(&ramp[..4]));
        let outcome = RampOutcome::of(&ramp);
        assert_eq!(outcome, RampOutcome { sustained: 98.0, knee: Some(137.0), hiccups: vec![70.0] });
    }

    #[test]
    fn a_knee_at_the_first_step_sustains_nothing() {
        let outcome = RampOutcome::of(&steps(&[(200.0, false), (280.0, false)]));
        assert_eq!(outcome, RampOutcome { sustained: 0.0, knee: Some(200.0), hiccups: vec![] });
    }

    #[test]
    fn a_failing_last_step_at_the_cap_counts_as_the_knee() {
        let outcome = RampOutcome::of(&steps(&[(200.0, true), (280.0, true), (392.0, false)]));
        assert_eq!(outcome, RampOutcome { sustained: 280.0, knee: Some(392.0), hiccups: vec![] });
        let all_held = RampOutcome::of(&steps(&[(200.0, true), (280.0, true)]));
        assert_eq!(all_held, RampOutcome { sustained: 280.0, knee: None, hiccups: vec![] });
    }

    #[test]
    fn failures_after_the_knee_do_not_count() {
        // the ramp stops at its knee; should a caller pass more, a step holding above it is noise
        let outcome =
            RampOutcome::of(&steps(&[(200.0, true), (280.0, false), (392.0, false), (549.0, true)]));
        assert_eq!(outcome.sustained, 200.0);
        assert_eq!(outcome.knee, Some(280.0));
    }

    #[test]
    fn the_summary_is_the_median_of_three_ramps() {
        assert_eq!(median(&[528.0, 50.0, 2841.0]), 528.0);
        assert_eq!(median(&[2841.0, 528.0, 50.0]), 528.0);
        assert_eq!(median(&[7795.0, 7795.0, 0.0]), 7795.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn steps_measure_at_least_two_thousand_requests_and_the_step_time() {
        let plan = RampPlan::with(200.0, 20_000.0, 0.5, 2.0);
        assert_eq!(plan.rates.first(), Some(&200.0));
        assert_eq!(plan.rates.get(1), Some(&280.0));
        assert!(plan.rates.last().is_some_and(|&rate| rate <= 20_000.0 && rate * 1.4 > 20_000.0));
        assert_eq!(plan.measured(200.0), Duration::from_secs(10));
        assert_eq!(plan.measured(4_000.0), Duration::from_secs(2));
        for &rate in &plan.rates {
            assert!(rate * plan.measured(rate).as_secs_f64() >= 1_999.0, "{rate}/s");
        }
    }

    #[test]
    fn the_default_run_stays_within_a_few_minutes() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            home: super::HomeArgs,
        }
        let args = <Cli as clap::Parser>::parse_from(["bench-home"]).home;
        let plan = RampPlan::new(&args).unwrap();
        // every ramp of both endpoints running every step: the bound printed before the run
        let most = plan.max_duration() * u32::try_from(2 * super::RAMPS).unwrap();
        assert!(most < Duration::from_mins(7), "{most:?}");
        assert!(most > Duration::from_mins(2), "{most:?}: too short for 2,000 requests a step?");
    }
}

#[derive(Args, Debug)]
pub struct NotificationsArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Accounts that favourite the popular post, once each (each with its own token).
    #[arg(long, default_value_t = 10_000)]
    favourites: usize,
    /// Favouriting clients at once (closed loop: each sends its next favourite on an answer).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Notifications the author holds while its grouped page is read.
    #[arg(long, default_value_t = 100_000)]
    notifications: i64,
    /// Grouped page reads/s (open loop: an app polling), and seconds of them.
    #[arg(long, default_value_t = 10.0)]
    read_rate: f64,
    #[arg(long, default_value_t = 20)]
    read_secs: u64,
}

/// `fans` favourite one new post of `author` as fast as `clients` clients get answers: the
/// favourites/s absorbed.
async fn favourite_storm(
    http: &reqwest::Client,
    api: &str,
    author: &crate::manifest::SeededUser,
    fans: &[crate::manifest::SeededUser],
    clients: usize,
) -> anyhow::Result<f64> {
    let post: Value = http
        .post(format!("{api}/api/v1/statuses"))
        .bearer_auth(&author.token)
        .json(&json!({ "status": "everyone likes this" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = post["id"].as_str().context("no status id")?.to_owned();
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let fans = Arc::new(fans.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, next, failed, fans) = (
            http.clone(),
            format!("{api}/api/v1/statuses/{id}/favourite"),
            next.clone(),
            failed.clone(),
            fans.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                let Some(fan) = fans.get(i) else { break };
                let ok = http
                    .post(&url)
                    .bearer_auth(&fan.token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} of {} favourites failed", fans.len());
    }
    Ok(fans.len() as f64 / elapsed)
}

/// Waits until `account` holds `count` notifications; how long that took.
async fn notifications_written(stack: &Stack, account: i64, count: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE account_id = $1")
            .bind(account)
            .fetch_one(stack.store.pool())
            .await?;
        if held >= count {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_mins(5) {
            bail!("only {held} of {count} notifications written after 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tops `author`'s notifications up to `total`: favourites of the newest seeded statuses by the
/// seeded accounts, a group per status, written through the same triggers as the workers'.
async fn top_up_notifications(stack: &Stack, author: i64, total: i64) -> anyhow::Result<()> {
    const STATUSES: i64 = 50;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE account_id = $1")
        .bind(author)
        .fetch_one(stack.store.pool())
        .await?;
    let per_status = ((total - held).max(0) + STATUSES - 1) / STATUSES;
    let statuses: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM statuses WHERE reblog_of_id IS NULL AND visibility = 'public' AND account_id <> $2 \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(STATUSES)
    .bind(author)
    .fetch_all(stack.store.pool())
    .await?;
    // a statement per status: each stays well inside the pool's statement timeout
    for status in statuses {
        sqlx::query(
            "INSERT INTO notifications (account_id, type, from_account_id, status_id, group_key) \
             SELECT $1, 'favourite', a.id, $2, 'favourite-' || $2 || '-0' \
             FROM (SELECT id FROM accounts WHERE id <> $1 ORDER BY id LIMIT $3) a \
             ON CONFLICT DO NOTHING",
        )
        .bind(author)
        .bind(status)
        .bind(per_status)
        .execute(stack.store.pool())
        .await?;
    }
    Ok(())
}

/// One stack's storm: favourites/s, and with notifications on, how long the workers took to
/// write them all and the grouped reads while the author holds `args.notifications`.
async fn storm_on(args: &NotificationsArgs, notify: bool) -> anyhow::Result<(f64, Option<Load>)> {
    let name = if notify { "notify_on" } else { "notify_off" };
    let started = Instant::now();
    let mut stack = Stack::prepare(&args.stack, name).await?;
    seed::seed(&stack.store, &stack.redis_url, &stack.redis_prefix, &seed_options(20_000)).await?;
    // a token for the author and each favouriter, whether or not the seed counted it active
    let accounts: Vec<(tusk_core::Id, String)> =
        sqlx::query_as("SELECT id, username FROM accounts ORDER BY id LIMIT $1")
            .bind(i64::try_from(args.favourites)? + 1)
            .fetch_all(stack.store.pool())
            .await?;
    let users = seed::create_tokens(&stack.store, &accounts).await?;
    stack.start(Tiers::ApiAndWorker, &[("TUSK_NOTIFICATIONS", notify.to_string())]).await?;
    println!("stack {name} ready in {:.1} s", started.elapsed().as_secs_f64());
    let (author, fans) = users.split_first().context("no accounts seeded")?;
    if fans.len() < args.favourites {
        bail!("{} accounts seeded, {} favouriters asked", fans.len(), args.favourites);
    }
    let http = http_client()?;
    let per_sec =
        favourite_storm(&http, &stack.api_url, author, &fans[..args.favourites], args.clients).await?;
    let author_id: i64 = author.id.parse()?;
    let drained_after = if notify {
        Some(notifications_written(&stack, author_id, i64::try_from(args.favourites)?).await?)
    } else {
        None
    };
    println!(
        "  {name}: {} favourites at {per_sec:.0}/s{}",
        args.favourites,
        drained_after.map_or(String::new(), |d| format!(
            ", every notification written {:.1} s after the last",
            d.as_secs_f64()
        ))
    );
    let read = if notify {
        top_up_notifications(&stack, author_id, args.notifications).await?;
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE account_id = $1")
            .bind(author_id)
            .fetch_one(stack.store.pool())
            .await?;
        let url = format!("{}/api/v2/notifications", stack.api_url);
        let load =
            open_loop(args.read_rate, Duration::from_secs(2), Duration::from_secs(args.read_secs), |_| {
                http.get(&url).bearer_auth(&author.token)
            })
            .await?;
        println!(
            "  grouped reads of an author holding {held} notifications: {} at {}/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            load.sent,
            args.read_rate,
            load.p(0.5),
            load.p(0.99),
            load.errors
        );
        Some(load)
    } else {
        None
    };
    drop(stack);
    Ok((per_sec, read))
}

/// `tusk-surge bench notifications`: favourites/s one popular post absorbs with notifications
/// on, against the same storm with them off (`TUSK_NOTIFICATIONS=false`) in the same run, and
/// the p99 of the author's grouped page while it holds 100,000 notifications.
pub async fn notifications(args: &NotificationsArgs) -> anyhow::Result<()> {
    let (without, _) = storm_on(args, false).await?;
    let (with, read) = storm_on(args, true).await?;
    let read = read.context("no grouped reads")?;
    if read.errors > 0 {
        bail!("{} grouped reads failed", read.errors);
    }
    println!(
        "favourites/s with notifications: {with:.0}, without: {without:.0}, ratio: {:.2}, grouped read p99: {:.1} ms",
        with / without,
        read.p(0.99)
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct MediaArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Photos generated (a mix of phone and camera sizes), each processed once by the worker and
    /// once by the bare loop.
    #[arg(long, default_value_t = 24)]
    photos: usize,
    /// Uploads/s sent while the worker is busy (open loop), and seconds of them.
    #[arg(long, default_value_t = 5.0)]
    upload_rate: f64,
    #[arg(long, default_value_t = 10)]
    upload_secs: u64,
}

/// The sizes of the photos: a 12 MP phone photo (4:3), a 24 MP camera's (3:2), a portrait
/// phone crop and a 1080p screenshot, as people arriving from another network upload them.
const PHOTO_SIZES: [(u32, u32); 4] = [(4032, 3024), (6000, 4000), (1080, 1350), (1920, 1080)];

/// A photo-like JPEG: smooth gradients with fine noise (what makes a JPEG of a photo large and
/// slow to decode), from a fixed seed.
fn photo(width: u32, height: u32, seed: u64) -> anyhow::Result<Vec<u8>> {
    use image::ImageEncoder as _;
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let noise: i32 = rng.random_range(-12..=12);
            let channel =
                |base: u32| u8::try_from((i64::from(base) + i64::from(noise)).clamp(0, 255)).unwrap_or(0);
            pixels.extend([
                channel(x * 255 / width),
                channel(y * 255 / height),
                channel((x + y) * 255 / (width + height)),
            ]);
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).write_image(
        &pixels,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// Images/s of tusk-media's pipeline (decode, orient, resize, encode both variants, blurhash)
/// run back to back in this process: what one worker could do with no queue, storage or
/// database around it.
fn bare_pipeline(photos: &[Vec<u8>]) -> anyhow::Result<f64> {
    let limits = tusk_media::Limits::default();
    let started = Instant::now();
    for photo in photos {
        tusk_media::process_image(photo, &limits).map_err(|e| anyhow::anyhow!("bare pipeline: {e}"))?;
    }
    Ok(photos.len() as f64 / started.elapsed().as_secs_f64())
}

fn upload(http: &reqwest::Client, api: &str, token: &str, photo: &[u8]) -> reqwest::RequestBuilder {
    let part = reqwest::multipart::Part::bytes(photo.to_vec()).file_name("photo.jpg");
    http.post(format!("{api}/api/v2/media"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
}

/// `tusk-surge bench media`: images/s one worker (one upload at a time:
/// `TUSK_MEDIA_CONCURRENCY=1`) processes from the `media` queue, uploaded through the api and
/// stored in a local media directory, against the same pipeline run in a bare loop in this
/// process; then the p99 of uploads sent while the worker works through a backlog.
pub async fn media(args: &MediaArgs) -> anyhow::Result<()> {
    let photos: Vec<Vec<u8>> = (0..args.photos)
        .map(|i| {
            let (width, height) = PHOTO_SIZES[i % PHOTO_SIZES.len()];
            photo(width, height, i as u64)
        })
        .collect::<anyhow::Result<_>>()?;
    let megabytes = photos.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!("{} photos generated ({megabytes:.1} MB of JPEG)", photos.len());
    // the bare loop first, on an idle machine, as the worker will be
    let bare = bare_pipeline(&photos)?;
    println!("  bare pipeline: {bare:.2} images/s");
    if photos.len() < 2 {
        bail!("at least 2 photos are needed");
    }

    let root = std::env::temp_dir().join(format!("tusk-bench-media-{}", std::process::id()));
    let mut stack = Stack::prepare(&args.stack, "media").await?;
    seed::seed(&stack.store, &stack.redis_url, &stack.redis_prefix, &seed_options(1_000)).await?;
    let uploader: Vec<(tusk_core::Id, String)> =
        sqlx::query_as("SELECT id, username FROM accounts ORDER BY id LIMIT 1")
            .fetch_all(stack.store.pool())
            .await?;
    let users = seed::create_tokens(&stack.store, &uploader).await?;
    let token = users.first().context("no account seeded")?.token.clone();
    let env = [
        ("TUSK_MEDIA_ROOT", root.display().to_string()),
        ("TUSK_MEDIA_CONCURRENCY", "1".to_owned()),
        ("TUSK_RATE_LIMIT_MEDIA", "off".to_owned()),
    ];
    stack.start(Tiers::ApiAndWorker, &env).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_mins(1)).build()?;

    // every photo is uploaded at once: the queue holds them, the worker takes one at a time
    let mut sent = Vec::with_capacity(photos.len());
    for photo in &photos {
        sent.push(upload(&http, &stack.api_url, &token, photo).send());
    }
    for response in futures_util::future::join_all(sent).await {
        let response = response?;
        if !response.status().is_success() {
            bail!("an upload answered {}: {}", response.status(), response.text().await.unwrap_or_default());
        }
    }
    // while the worker works through the backlog, more uploads come in: their latency
    let small = photo(1080, 1350, 999)?;
    let busy =
        open_loop(args.upload_rate, Duration::from_secs(1), Duration::from_secs(args.upload_secs), |_| {
            upload(&http, &stack.api_url, &token, &small)
        })
        .await?;
    // the photos are the first uploads (lowest ids), and the queue hands them out first
    let photos_total = i64::try_from(photos.len())?;
    let started = Instant::now();
    let (done, failed, span): (i64, i64, f64) = loop {
        let (done, failed, span): (i64, i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'failed'), \
                    extract(epoch FROM max(processed_at) - min(processed_at))::float8 \
             FROM (SELECT state, processed_at FROM media_attachments ORDER BY id LIMIT $1) photos",
        )
        .bind(photos_total)
        .fetch_one(stack.store.pool())
        .await?;
        if done + failed >= photos_total {
            break (done, failed, span.unwrap_or(0.0));
        }
        if started.elapsed() > Duration::from_mins(10) {
            bail!("only {done} of {photos_total} photos processed after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if failed > 0 {
        bail!("{failed} uploads failed processing");
    }
    drop(stack);
    let _ = std::fs::remove_dir_all(&root);
    // completions over the time between the first and the last: the worker's steady rate,
    // without the first upload's arrival
    let worker = (done - 1) as f64 / span;
    println!(
        "  worker: {done} photos processed, first to last in {span:.1} s; uploads while busy: {} at {}/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
        busy.sent,
        args.upload_rate,
        busy.p(0.5),
        busy.p(0.99),
        busy.errors
    );
    if busy.errors > 0 {
        bail!("{} uploads failed while the worker was busy", busy.errors);
    }
    println!(
        "media images/s: {worker:.2}, bare pipeline images/s: {bare:.2}, ratio: {:.2}, upload p99: {:.0} ms",
        worker / bare,
        busy.p(0.99)
    );
    Ok(())
}
