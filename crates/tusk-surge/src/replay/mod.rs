//! `tusk-surge replay`: an open-loop load generator driven by a scenario.
//!
//! Checks every target first (no load before they all answer), sets the existing instance up
//! (not measured), then runs the scenario: sign-ups on the curve, their follows, everyone's
//! home reads and posts, the fan-out lag probe and the metric scrapes, and hands what it
//! recorded to the report.

mod client;
mod model;
mod probe;
mod scrape;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::client::{Api, Recorder};
use self::model::{Account, Activity, World};
use crate::manifest::SeedManifest;
use crate::run::RunData;
use crate::scenario::{self, Loaded};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The scenario file (TOML), e.g. loadtests/scenarios/smoke.toml.
    pub scenario: PathBuf,
    /// Base URLs of the api replicas; requests go round-robin across them.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Admin URLs (api and worker) whose `/metrics` are scraped during the run.
    #[arg(long, value_delimiter = ',', required = true)]
    pub admin: Vec<String>,
    /// Directory the report is written to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The manifest `tusk-surge seed` wrote: act as its users and suggest its popular accounts,
    /// instead of signing existing users up before the run.
    #[arg(long)]
    pub seed_manifest: Option<PathBuf>,
    /// Run seconds, instead of the scenario's `duration`: the same period and sign-up total,
    /// spread thinner or squeezed harder (a soak: `--duration 600`).
    #[arg(long)]
    pub duration: Option<f64>,
}

#[allow(clippy::too_many_lines)] // one run, start to end: setup, load, drain, report
pub async fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let mut loaded = scenario::load(&args.scenario)?;
    if let Some(seconds) = args.duration {
        loaded = loaded.with_duration(seconds)?;
    }
    let loaded = Arc::new(loaded);
    let manifest = match &args.seed_manifest {
        Some(path) => Some(read_manifest(path)?),
        None => None,
    };
    let targets: Vec<String> = args.target.iter().map(|t| t.trim_end_matches('/').to_owned()).collect();
    let admins: Vec<String> = args.admin.iter().map(|a| a.trim_end_matches('/').to_owned()).collect();
    check_targets(&targets, &admins).await?;

    let s = &loaded.scenario;
    let stop = CancellationToken::new();
    let timeout = Duration::from_secs_f64(*s.limits.request_timeout.get_ref());
    let max_in_flight = *s.limits.max_in_flight.get_ref() as usize;
    let setup_api = Api::new(
        targets.clone(),
        timeout,
        max_in_flight,
        Arc::new(Recorder::new(Instant::now())),
        stop.clone(),
    )?;
    let interrupt = stop.clone();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            interrupt.cancel();
        }
    });

    let (expected, real) = loaded.expected_signups();
    eprintln!("{}", loaded.scenario.description);
    eprintln!(
        "scenario {} ({}): {:.0} s standing for {} to {} (×{:.0} time compression), ~{expected:.0} sign-ups \
         standing for {real:.0} real ones",
        loaded.name(),
        loaded.path,
        loaded.duration_s(),
        loaded.start.format("%d %b %Y %H:%M"),
        loaded.end.format("%d %b %Y %H:%M"),
        loaded.compression()
    );
    let world = Arc::new(set_up(&setup_api, &loaded, manifest).await?);
    let probe = probe::set_up(&setup_api, &world.tag, *s.probe.followers.get_ref()).await?;
    if stop.is_cancelled() {
        bail!("interrupted during setup; no load was sent");
    }

    // the run
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let planned = Duration::from_secs_f64(loaded.duration_s());
    let end = start + planned;
    let recorder = Arc::new(Recorder::new(start));
    let api = setup_api.recording_into(recorder.clone());
    let scrape_stop = CancellationToken::new();
    let scraper = tokio::spawn(scrape::run(
        reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
        admins.clone(),
        Duration::from_secs_f64(*s.scrape.interval.get_ref()),
        start,
        scrape_stop.clone(),
    ));
    let prober = tokio::spawn(probe::run(
        api.clone(),
        probe,
        Duration::from_secs_f64(*s.probe.interval.get_ref()),
        Duration::from_secs_f64(*s.probe.timeout.get_ref()),
        Duration::from_millis(*s.probe.poll_ms.get_ref()),
        end,
        stop.clone(),
    ));
    let mut drivers = vec![tokio::spawn(model::arrivals(api.clone(), world.clone(), loaded.clone(), end))];
    for activity in
        [Activity::NewUserReads, Activity::NewUserPosts, Activity::ExistingReads, Activity::ExistingPosts]
    {
        drivers.push(tokio::spawn(model::drive(api.clone(), world.clone(), loaded.clone(), activity, end)));
    }

    let bar = progress_bar(planned);
    loop {
        let elapsed = start.elapsed();
        bar.set_position(elapsed.as_secs().min(planned.as_secs()));
        bar.set_message(format!(
            "{} requests, {} errors, {} sign-ups, {} in flight",
            recorder.requests.load(Ordering::Relaxed),
            recorder.errors.load(Ordering::Relaxed),
            recorder.signups.load(Ordering::Relaxed),
            recorder.in_flight.load(Ordering::Relaxed),
        ));
        if elapsed >= planned || stop.is_cancelled() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = stop.cancelled() => {}
        }
    }
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let elapsed_s = start.elapsed().as_secs_f64().min(planned.as_secs_f64());
    // the schedule is over: nothing new is sent, and what is in flight gets its answer (at most
    // 5 s after Ctrl-C, at most the request timeout otherwise)
    stop.cancel();
    let grace = if was_interrupted { Duration::from_secs(5) } else { timeout + Duration::from_secs(1) };
    let drain_until = Instant::now() + grace;
    while recorder.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for driver in drivers {
        driver.abort();
    }
    let (fanout_lag, fanout_lag_timeouts) = prober.await.unwrap_or_default();
    scrape_stop.cancel();
    let (scrapes, scrape_failures) = scraper.await.unwrap_or_default();
    bar.finish_and_clear();

    let seconds = if was_interrupted { elapsed_s.ceil() } else { planned.as_secs_f64().ceil() } as usize;
    let (endpoints, per_second, signups) = recorder.take(seconds);
    let run = RunData {
        scenario: loaded.name().to_owned(),
        scenario_path: loaded.path.clone(),
        started_at,
        elapsed_s,
        planned_s: planned.as_secs_f64(),
        interrupted: was_interrupted,
        targets,
        admin_targets: admins,
        endpoints,
        seconds: per_second,
        signups,
        fanout_lag,
        scrapes,
        fanout_lag_timeouts,
    };
    print_totals(&run, scrape_failures);
    crate::report::write(&run, &args.out)
        .with_context(|| format!("writing the report to {}", args.out.display()))
}

fn progress_bar(planned: Duration) -> ProgressBar {
    let bar = ProgressBar::new(planned.as_secs());
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} s  {msg}") {
        bar.set_style(style);
    }
    bar
}

/// The key numbers on stderr, before the report's own table.
fn print_totals(run: &RunData, scrape_failures: u64) {
    let requests: u64 = run.endpoints.values().map(|e| e.count).sum();
    let errors: u64 = run.endpoints.values().map(|e| e.errors).sum();
    eprintln!(
        "{}ran {:.1} of {:.0} s: {requests} requests, {errors} errors, {} sign-ups, {} fan-out lag samples \
         ({} timed out), {} scrapes ({scrape_failures} failed)",
        if run.interrupted { "interrupted: " } else { "" },
        run.elapsed_s,
        run.planned_s,
        run.signups,
        run.fanout_lag.len(),
        run.fanout_lag_timeouts.len(),
        run.scrapes.len(),
    );
    if std::env::var_os("TUSK_SURGE_DEBUG").is_some() {
        for (name, stats) in &run.endpoints {
            eprintln!(
                "  {name}: {} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms, statuses {:?}",
                stats.count,
                stats.errors,
                stats.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
                stats.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
                stats.statuses
            );
        }
        let mut lags: Vec<f64> = run.fanout_lag.iter().map(|l| l.lag_ms).collect();
        lags.sort_by(f64::total_cmp);
        eprintln!("  fan-out lag ms: {lags:.0?}");
    }
}

fn read_manifest(path: &std::path::Path) -> anyhow::Result<SeedManifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the seed manifest {}", path.display()))?;
    let manifest: SeedManifest = serde_json::from_str(&text)
        .with_context(|| format!("parsing the seed manifest {}", path.display()))?;
    if manifest.users.is_empty() {
        bail!("the seed manifest {} lists no users", path.display());
    }
    Ok(manifest)
}

/// Every api target must answer `GET /api/v1/instance` and every admin target `/readyz` with a
/// 200 before any load is sent.
async fn check_targets(targets: &[String], admins: &[String]) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let checks = targets
        .iter()
        .map(|t| (format!("{t}/api/v1/instance"), "api target"))
        .chain(admins.iter().map(|a| (format!("{a}/readyz"), "admin target")));
    let mut problems = Vec::new();
    for (url, what) in checks {
        match http.get(&url).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => {}
            Ok(response) => problems.push(format!("{what} {url} answered {}", response.status())),
            Err(e) => {
                let mut cause = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    cause = format!("{cause}: {inner}");
                    source = inner.source();
                }
                problems.push(format!("{what} {url} does not answer: {cause}"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}\nno load was sent", problems.join("\n"));
    }
    Ok(())
}

/// The existing instance: the seed manifest's users and popular accounts, or accounts signed
/// up now, following each other with a Zipf skew so that a few are popular.
async fn set_up(api: &Api, loaded: &Loaded, manifest: Option<SeedManifest>) -> anyhow::Result<World> {
    if let Some(manifest) = manifest {
        let existing: Vec<Account> =
            manifest.users.iter().map(|u| Account { id: u.id.clone(), token: u.token.clone() }).collect();
        let suggested: Vec<String> = manifest.popular.iter().map(|a| a.id.clone()).collect();
        let mut followable: Vec<String> = existing.iter().map(|a| a.id.clone()).collect();
        followable.extend(suggested.iter().cloned());
        eprintln!("setup: {} seeded users, {} popular accounts", existing.len(), suggested.len());
        return Ok(World::new(existing, suggested, followable));
    }
    let e = &loaded.scenario.existing_users;
    let count = *e.setup_accounts.get_ref() as usize;
    let bar = ProgressBar::new(count as u64).with_message("setup: signing up existing users");
    let world = World::new(Vec::new(), Vec::new(), Vec::new());
    let setup_tag = world.tag.clone();
    let mut accounts = Vec::with_capacity(count);
    // a few at a time: argon2 is the cost
    let mut names: Vec<String> = (0..count).map(|_| world.next_username()).collect();
    while !names.is_empty() {
        let batch: Vec<String> = names.drain(..names.len().min(4)).collect();
        let results =
            futures_util::future::join_all(batch.iter().map(|n| model::sign_up(api, n, Instant::now())))
                .await;
        for result in results {
            accounts.push(result.context("setup: a sign-up failed (is the api healthy?)")?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // account 0 is the most popular, then 1, …
    let follows_each = *e.setup_follows.get_ref() as usize;
    let exponent = *loaded.scenario.new_users.zipf_exponent.get_ref();
    let mut pending = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        for k in model::zipf_sample(accounts.len(), follows_each + 1, exponent)
            .into_iter()
            .filter(|k| *k != i)
            .take(follows_each)
        {
            pending.push((account, accounts[k].id.clone()));
        }
    }
    let follows = pending.len();
    for chunk in pending.chunks(16) {
        let results = futures_util::future::join_all(
            chunk.iter().map(|(who, target)| model::follow(api, who, target, Instant::now())),
        )
        .await;
        if results.iter().any(|ok| !ok) {
            bail!("setup: a follow failed (is the api healthy?)");
        }
    }
    eprintln!("setup: {count} existing users signed up, {follows} follows among them");
    let suggested = accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let followable = suggested.clone();
    let mut world = World::new(accounts, suggested, followable);
    world.tag = format!("{setup_tag}n");
    Ok(world)
}
