//! The numbers of a run, as written to `summary.json` and shown in the HTML and the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::autoscale::Replay;
use crate::run::{EndpointStats, Role, RunData, Scrape, latency_histogram};

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub scenario_path: String,
    /// RFC 3339.
    pub started_at: String,
    pub planned_s: f64,
    pub elapsed_s: f64,
    pub interrupted: bool,
    pub targets: Vec<String>,
    pub admin_targets: Vec<String>,
    /// By endpoint name (method and route pattern).
    pub endpoints: BTreeMap<String, EndpointSummary>,
    /// All endpoints together.
    pub totals: EndpointSummary,
    pub signups: Signups,
    pub fanout_lag: LagSummary,
    /// The most ready messages seen in each queue (`tusk_queue_messages_ready`), by queue.
    pub queue_depth_max: BTreeMap<String, f64>,
    /// The largest resident set (`process_resident_memory_bytes`) of any process of the tier;
    /// `null` when none was scraped. An `all` process counts for both tiers.
    pub rss_max_bytes: Rss,
    /// Whether memory levelled off: the tier's resident set early and late in the run and its
    /// slope over the second half (a soak's verdict).
    pub rss_trend: RssTrends,
    /// The replica counts the chart's autoscalers would have asked for.
    pub autoscaling: Replay,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EndpointSummary {
    pub count: u64,
    pub errors: u64,
    /// errors / count (0 without requests).
    pub error_rate: f64,
    /// Requests per second over the run.
    pub rate_per_s: f64,
    /// From the intended send time; `null` without requests.
    pub latency_ms: Latency,
    /// Answers by HTTP status ("0": transport errors and timeouts).
    pub statuses: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Latency {
    /// Percentiles of a histogram of microseconds, in milliseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| Some(us as f64 / 1000.0);
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Signups {
    pub total: u64,
    /// Mean sign-ups per second over the run.
    pub per_s_mean: f64,
    /// Sign-ups in the busiest minute of the run (minutes counted from the start).
    pub peak_per_minute: u64,
    /// The busiest minute's rate, per second (over the seconds of it the run covered).
    pub per_s_peak_minute: f64,
    /// Sign-ups in each minute of the run.
    pub per_minute: Vec<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LagSummary {
    /// Probe measurements.
    pub samples: u64,
    /// Probe posts not seen in every sampled follower's home within the probe's timeout (not
    /// in the percentiles).
    pub timeouts: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rss {
    pub api: Option<f64>,
    pub worker: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RssTrends {
    pub api: Option<RssTrend>,
    pub worker: Option<RssTrend>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RssTrend {
    /// Mean over the first minute of the run (MiB).
    pub first_minute_mib: f64,
    /// Mean over the last minute of the run (MiB).
    pub last_minute_mib: f64,
    /// Least-squares slope over the second half of the run, MiB per minute: near 0 when memory
    /// has levelled off, positive when it still climbs.
    pub second_half_slope_mib_per_min: f64,
}

/// `(seconds, MiB)` of a tier's resident set over the run: at each scrape time the largest of
/// its processes (an `all` process counts for both tiers), in time order.
pub fn rss_series(scrapes: &[Scrape], role: impl Fn(Role) -> bool) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for scrape in scrapes.iter().filter(|s| role(s.role)) {
        let rss = scrape
            .samples
            .iter()
            .filter(|s| s.name == "process_resident_memory_bytes" && s.value.is_finite())
            .map(|s| s.value / 1_048_576.0)
            .reduce(f64::max);
        if let Some(rss) = rss {
            points.push((scrape.t, rss));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn rss_trend(points: &[(f64, f64)]) -> Option<RssTrend> {
    let end = points.last()?.0;
    let mean = |range: std::ops::Range<f64>| {
        let inside: Vec<f64> = points.iter().filter(|p| range.contains(&p.0)).map(|p| p.1).collect();
        (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
    };
    let second_half: Vec<(f64, f64)> =
        points.iter().filter(|p| p.0 >= end / 2.0).map(|p| (p.0 / 60.0, p.1)).collect();
    let n = second_half.len() as f64;
    let (mx, my) =
        (second_half.iter().map(|p| p.0).sum::<f64>() / n, second_half.iter().map(|p| p.1).sum::<f64>() / n);
    let var: f64 = second_half.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let cov: f64 = second_half.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(RssTrend {
        first_minute_mib: mean(0.0..60.0)?,
        last_minute_mib: mean((end - 60.0).max(0.0)..end + 1.0)?,
        second_half_slope_mib_per_min: if var > 0.0 { cov / var } else { 0.0 },
    })
}

/// Seconds the rates are taken over: the elapsed time, else one per recorded second.
pub fn duration_s(run: &RunData) -> f64 {
    if run.elapsed_s.is_finite() && run.elapsed_s > 0.0 {
        run.elapsed_s
    } else {
        (run.seconds.len() as f64).max(1.0)
    }
}

/// Adds `from` into `into`; histograms with other bounds are added value by value (clamped).
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

fn endpoint_summary(stats: &EndpointStats, duration: f64) -> EndpointSummary {
    EndpointSummary {
        count: stats.count,
        errors: stats.errors,
        error_rate: if stats.count == 0 { 0.0 } else { stats.errors as f64 / stats.count as f64 },
        rate_per_s: finite(stats.count as f64 / duration),
        latency_ms: Latency::of(&stats.latency_us),
        statuses: stats.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn max_sample(scrapes: &[Scrape], role: impl Fn(Role) -> bool, name: &str) -> Option<f64> {
    scrapes
        .iter()
        .filter(|s| role(s.role))
        .flat_map(|s| &s.samples)
        .filter(|s| s.name == name && s.value.is_finite())
        .map(|s| s.value)
        .reduce(f64::max)
}

pub fn summarize(run: &RunData, autoscaling: Replay) -> Summary {
    let duration = duration_s(run);
    let endpoints: BTreeMap<String, EndpointSummary> =
        run.endpoints.iter().map(|(name, stats)| (name.clone(), endpoint_summary(stats, duration))).collect();

    let mut all = EndpointStats { latency_us: latency_histogram(), ..EndpointStats::default() };
    for stats in run.endpoints.values() {
        all.count += stats.count;
        all.errors += stats.errors;
        for (status, n) in &stats.statuses {
            *all.statuses.entry(*status).or_default() += n;
        }
        merge(&mut all.latency_us, &stats.latency_us);
    }
    let totals = endpoint_summary(&all, duration);

    let mut per_minute: Vec<u64> = Vec::new();
    let mut seconds_in_minute: Vec<u64> = Vec::new();
    for second in &run.seconds {
        let minute = (second.t / 60) as usize;
        if per_minute.len() <= minute {
            per_minute.resize(minute + 1, 0);
            seconds_in_minute.resize(minute + 1, 0);
        }
        per_minute[minute] += second.signups;
        seconds_in_minute[minute] += 1;
    }
    let total_signups = run.signups.max(per_minute.iter().sum());
    let peak = per_minute.iter().copied().enumerate().max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)));
    let signups = Signups {
        total: total_signups,
        per_s_mean: finite(total_signups as f64 / duration),
        peak_per_minute: peak.map_or(0, |p| p.1),
        per_s_peak_minute: peak.map_or(0.0, |(i, n)| finite(n as f64 / seconds_in_minute[i].max(1) as f64)),
        per_minute,
    };

    let mut lags: Vec<f64> = run.fanout_lag.iter().map(|s| s.lag_ms).filter(|v| v.is_finite()).collect();
    lags.sort_by(f64::total_cmp);
    let fanout_lag = LagSummary {
        samples: lags.len() as u64,
        timeouts: run.fanout_lag_timeouts.len() as u64,
        p50_ms: percentile(&lags, 0.50),
        p90_ms: percentile(&lags, 0.90),
        p99_ms: percentile(&lags, 0.99),
        max_ms: lags.last().copied(),
    };

    let mut queue_depth_max: BTreeMap<String, f64> = BTreeMap::new();
    for sample in run.scrapes.iter().flat_map(|s| &s.samples) {
        if sample.name != "tusk_queue_messages_ready" || !sample.value.is_finite() {
            continue;
        }
        if let Some(queue) = sample.labels.get("queue") {
            let max = queue_depth_max.entry(queue.clone()).or_insert(sample.value);
            *max = max.max(sample.value);
        }
    }

    let rss_max_bytes = Rss {
        api: max_sample(
            &run.scrapes,
            |r| matches!(r, Role::Api | Role::All),
            "process_resident_memory_bytes",
        ),
        worker: max_sample(
            &run.scrapes,
            |r| matches!(r, Role::Worker | Role::All),
            "process_resident_memory_bytes",
        ),
    };

    let is_api = |r| matches!(r, Role::Api | Role::All);
    let is_worker = |r| matches!(r, Role::Worker | Role::All);
    let rss_trend = RssTrends {
        api: rss_trend(&rss_series(&run.scrapes, is_api)),
        worker: rss_trend(&rss_series(&run.scrapes, is_worker)),
    };

    Summary {
        scenario: run.scenario.clone(),
        scenario_path: run.scenario_path.clone(),
        started_at: run.started_at.to_rfc3339(),
        planned_s: finite(run.planned_s),
        elapsed_s: finite(run.elapsed_s),
        interrupted: run.interrupted,
        targets: run.targets.clone(),
        admin_targets: run.admin_targets.clone(),
        endpoints,
        totals,
        signups,
        fanout_lag,
        queue_depth_max,
        rss_max_bytes,
        rss_trend,
        autoscaling,
    }
}

/// "12.3" for a number of milliseconds, "-" for none.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") })
}

/// "312 MiB" for a number of bytes, "-" for none.
pub fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.0} MiB", v / 1_048_576.0))
}

/// The summary table printed at the end of a run.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let width = summary.endpoints.keys().map(String::len).max().unwrap_or(0).max(8);
    let _ = writeln!(
        out,
        "{:<width$}  {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "count", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let row = |out: &mut String, name: &str, e: &EndpointSummary| {
        let _ = writeln!(
            out,
            "{name:<width$}  {:>9} {:>7} {:>9.1} {:>9} {:>9} {:>9} {:>9}",
            e.count,
            e.errors,
            e.rate_per_s,
            ms(e.latency_ms.p50),
            ms(e.latency_ms.p90),
            ms(e.latency_ms.p99),
            ms(e.latency_ms.max)
        );
    };
    for (name, e) in &summary.endpoints {
        row(&mut out, name, e);
    }
    row(&mut out, "total", &summary.totals);
    let s = &summary.signups;
    let _ = writeln!(
        out,
        "sign-ups: {} ({:.2}/s mean, peak minute {} = {:.2}/s)",
        s.total, s.per_s_mean, s.peak_per_minute, s.per_s_peak_minute
    );
    let l = &summary.fanout_lag;
    let _ = writeln!(
        out,
        "fan-out lag: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} samples, {} timed out)",
        ms(l.p50_ms),
        ms(l.p90_ms),
        ms(l.p99_ms),
        ms(l.max_ms),
        l.samples,
        l.timeouts
    );
    if summary.queue_depth_max.is_empty() {
        let _ = writeln!(out, "max queue depth: no data");
    } else {
        let queues: Vec<String> =
            summary.queue_depth_max.iter().map(|(q, d)| format!("{q} {d:.0}")).collect();
        let _ = writeln!(out, "max queue depth: {}", queues.join(", "));
    }
    let _ = writeln!(
        out,
        "max RSS: api {}, worker {}",
        mib(summary.rss_max_bytes.api),
        mib(summary.rss_max_bytes.worker)
    );
    for (tier, trend) in [("api", summary.rss_trend.api), ("worker", summary.rss_trend.worker)] {
        if let Some(t) = trend {
            let _ = writeln!(
                out,
                "{tier} RSS: first minute {:.1} MiB, last minute {:.1} MiB, second half {:+.2} MiB/min",
                t.first_minute_mib, t.last_minute_mib, t.second_half_slope_mib_per_min
            );
        }
    }
    let a = &summary.autoscaling;
    let tier = |t: Option<&crate::autoscale::TierReplay>| {
        t.map_or_else(
            || "no data".to_owned(),
            |t| format!("max {} (range {}-{})", t.max_recommended, t.min_replicas, t.max_replicas),
        )
    };
    let _ = writeln!(
        out,
        "recommended replicas (evaluated every {} s): api {}, worker {}",
        a.params.step_s,
        tier(a.api.as_ref()),
        tier(a.worker.as_ref())
    );
    if summary.interrupted {
        let _ = writeln!(
            out,
            "interrupted after {:.0} s of {:.0} s planned",
            summary.elapsed_s, summary.planned_s
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rss_trend;

    #[test]
    fn a_climb_shows_in_the_slope_and_a_plateau_does_not() {
        // 10 minutes, one sample every 5 s: 40 MiB climbing 3 MiB a minute ...
        let climbing: Vec<(f64, f64)> =
            (0..=120).map(|k| f64::from(k) * 5.0).map(|t| (t, 40.0 + 3.0 * t / 60.0)).collect();
        let trend = rss_trend(&climbing).unwrap();
        assert!((trend.second_half_slope_mib_per_min - 3.0).abs() < 1e-9, "{trend:?}");
        assert!(trend.last_minute_mib > trend.first_minute_mib + 25.0, "{trend:?}");
        // ... or rising for two minutes, then flat at 60 MiB
        let levelling: Vec<(f64, f64)> =
            (0..=120).map(|k| f64::from(k) * 5.0).map(|t| (t, (40.0 + 10.0 * t / 60.0).min(60.0))).collect();
        let trend = rss_trend(&levelling).unwrap();
        assert!(trend.second_half_slope_mib_per_min.abs() < 1e-9, "{trend:?}");
        assert!((trend.last_minute_mib - 60.0).abs() < 1e-9, "{trend:?}");
        assert!(rss_trend(&[]).is_none());
    }
}
