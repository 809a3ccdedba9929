//! Replays the chart's autoscalers over the metrics scraped during a run: the replica counts
//! the api HPA and the worker ScaledObject (KEDA mode, the chart's default) would have asked
//! for, with the Kubernetes HPA algorithm (`pkg/controller/podautoscaler`):
//!
//! - per metric, `desired = ceil(current × metric / target)` (for an average per pod: the
//!   tier's total divided by the current replicas), left at `current` when the ratio is within
//!   the 10 % tolerance; the largest answer over the metrics wins;
//! - stabilisation: scale-up takes the lowest recommendation of its window (0 s: none),
//!   scale-down the highest of its window (300 s);
//! - rate limits from the behaviour's policies (`selectPolicy: Max`: the larger change), counted
//!   from the replicas at the start of each policy's period; then min/max replicas.
//!
//! The local run has one process per tier; its load is what the whole tier would see, so each
//! metric is the tier's total divided by the *simulated* replica count, which starts at
//! `minReplicas`. An `all` process counts for both tiers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::run::{Role, RunData, Scrape};

/// How a behaviour policy limits the change in one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PolicyKind {
    /// At most `value` pods.
    Pods,
    /// At most `value` % of the replicas at the start of the period.
    Percent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: u32,
    pub period_s: u32,
}

/// `behavior.scaleUp` or `behavior.scaleDown` (the chart always uses `selectPolicy: Max`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScalingRules {
    pub stabilization_window_s: u32,
    pub policies: Vec<Policy>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Behavior {
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Default for Behavior {
    /// The chart's behaviour for both tiers: up by the larger of +100 % or +4 pods every 15 s,
    /// down by at most 20 % a minute after 300 s of lower demand.
    fn default() -> Self {
        Self {
            scale_up: ScalingRules {
                stabilization_window_s: 0,
                policies: vec![
                    Policy { kind: PolicyKind::Percent, value: 100, period_s: 15 },
                    Policy { kind: PolicyKind::Pods, value: 4, period_s: 15 },
                ],
            },
            scale_down: ScalingRules {
                stabilization_window_s: 300,
                policies: vec![Policy { kind: PolicyKind::Percent, value: 20, period_s: 60 }],
            },
        }
    }
}

/// `api.autoscaling` and `api.resources.requests.cpu`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiScaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Average CPU utilisation, % of the request.
    pub target_cpu_utilization_pct: f64,
    /// The CPU request of one pod, in cores.
    pub cpu_request_cores: f64,
    /// Average requests per second per pod; 0 = CPU only.
    pub target_requests_per_second: f64,
    pub behavior: Behavior,
}

/// `worker.autoscaling` in KEDA mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerScaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Ready messages per replica, on each of `{prefix}.fanout` and `{prefix}.deliver`.
    pub target_queue_length: f64,
    /// p99 fan-out lag (a Value metric), in seconds; 0 = left out.
    pub target_fanout_lag_s: f64,
    pub behavior: Behavior,
}

/// The targets and policies of the chart's autoscalers; the defaults are helm/tusk/values.yaml's
/// (a unit test holds them to it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChartAutoscaling {
    pub api: ApiScaling,
    pub worker: WorkerScaling,
}

impl Default for ChartAutoscaling {
    fn default() -> Self {
        Self {
            api: ApiScaling {
                min_replicas: 2,
                max_replicas: 20,
                target_cpu_utilization_pct: 70.0,
                cpu_request_cores: 0.5,
                target_requests_per_second: 200.0,
                behavior: Behavior::default(),
            },
            worker: WorkerScaling {
                min_replicas: 2,
                max_replicas: 30,
                target_queue_length: 100.0,
                target_fanout_lag_s: 5.0,
                behavior: Behavior::default(),
            },
        }
    }
}

/// How the replay reads the run: when the autoscalers evaluate and over which windows the
/// metrics are taken. Runs are time-compressed, so all of these are parameters (in seconds of
/// run time).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[allow(clippy::struct_field_names)] // every one is in seconds
pub struct ReplayParams {
    /// Seconds between two evaluations (the HPA sync period, and KEDA's pollingInterval).
    pub step_s: f64,
    /// Window of the CPU rate (metrics-server's resolution).
    pub cpu_window_s: f64,
    /// Window of the request rate (`rate(tusk_http_requests_total[2m])` in prometheus-adapter).
    pub request_rate_window_s: f64,
    /// Window of the lag histogram (`rate(tusk_fanout_lag_seconds_bucket[2m])`).
    pub lag_window_s: f64,
}

impl Default for ReplayParams {
    fn default() -> Self {
        Self { step_s: 15.0, cpu_window_s: 15.0, request_rate_window_s: 120.0, lag_window_s: 120.0 }
    }
}

/// The HPA's tolerance: no change while |metric / target − 1| ≤ 0.1.
pub const TOLERANCE: f64 = 0.1;

/// One metric's reading at one evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// A tier total that the HPA compares per replica: Resource utilisation and Pods metrics
    /// (average per pod = total / current) and External AverageValue metrics (KEDA's
    /// QueueLength). `desired = ceil(total / target_per_pod)`.
    PerPod { total: f64, target_per_pod: f64 },
    /// An External Value metric (the lag): `desired = ceil(current × value / target)`.
    Value { value: f64, target: f64 },
}

impl Measure {
    /// The replicas this metric asks for with `current` replicas (the tolerance applied).
    pub fn desired(self, current: u32) -> u32 {
        let current_f = f64::from(current);
        let (ratio, desired) = match self {
            Self::PerPod { total, target_per_pod } => {
                let ratio = total / (target_per_pod * current_f);
                (ratio, total / target_per_pod)
            }
            Self::Value { value, target } => {
                let ratio = value / target;
                (ratio, ratio * current_f)
            }
        };
        if !ratio.is_finite() || !desired.is_finite() || (ratio - 1.0).abs() <= TOLERANCE {
            return current;
        }
        // A hair under an integer stays that integer (float noise must not add a pod).
        let desired = (desired - 1e-9).ceil().max(0.0);
        if desired >= f64::from(u32::MAX) { u32::MAX } else { desired as u32 }
    }
}

/// The HPA controller's state for one scale target.
#[derive(Clone, Debug)]
pub struct Hpa {
    min_replicas: u32,
    max_replicas: u32,
    behavior: Behavior,
    current: u32,
    /// Unstabilised recommendations: (time, replicas).
    recommendations: Vec<(f64, u32)>,
    /// Scale events: (time, pods added) and (time, pods removed).
    up_events: Vec<(f64, u32)>,
    down_events: Vec<(f64, u32)>,
}

impl Hpa {
    /// Starts at `min_replicas`, as a freshly installed chart does.
    pub fn new(min_replicas: u32, max_replicas: u32, behavior: Behavior) -> Self {
        let max_replicas = max_replicas.max(min_replicas);
        Self {
            min_replicas,
            max_replicas,
            behavior,
            current: min_replicas,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    /// One evaluation at `now` (seconds): the metric recommendation (the largest over
    /// `measures`; `None` when there is no metric, and then nothing changes), and the new
    /// replica count.
    pub fn evaluate(&mut self, now: f64, measures: &[Measure]) -> (Option<u32>, u32) {
        let Some(metric_desired) = measures.iter().map(|m| m.desired(self.current)).max() else {
            return (None, self.current);
        };
        let stabilized = self.stabilize(now, metric_desired);
        let next = self.limit_rate(now, stabilized);
        if next > self.current {
            self.up_events.push((now, next - self.current));
        } else if next < self.current {
            self.down_events.push((now, self.current - next));
        }
        self.current = next;
        (Some(metric_desired), next)
    }

    fn stabilize(&mut self, now: f64, desired: u32) -> u32 {
        let up_cutoff = now - f64::from(self.behavior.scale_up.stabilization_window_s);
        let down_cutoff = now - f64::from(self.behavior.scale_down.stabilization_window_s);
        let mut up = desired;
        let mut down = desired;
        for &(t, rec) in &self.recommendations {
            if t > up_cutoff {
                up = up.min(rec);
            }
            if t > down_cutoff {
                down = down.max(rec);
            }
        }
        let oldest = up_cutoff.min(down_cutoff);
        self.recommendations.retain(|&(t, _)| t > oldest);
        self.recommendations.push((now, desired));
        self.current.max(up).min(down)
    }

    fn limit_rate(&mut self, now: f64, desired: u32) -> u32 {
        let longest = self
            .behavior
            .scale_up
            .policies
            .iter()
            .chain(&self.behavior.scale_down.policies)
            .map(|p| p.period_s)
            .max()
            .unwrap_or(0);
        let cutoff = now - f64::from(longest);
        self.up_events.retain(|&(t, _)| t > cutoff);
        self.down_events.retain(|&(t, _)| t > cutoff);

        let current = i64::from(self.current);
        let changed_since = |events: &[(f64, u32)], period_s: u32| -> i64 {
            let cutoff = now - f64::from(period_s);
            events.iter().filter(|(t, _)| *t > cutoff).map(|(_, n)| i64::from(*n)).sum()
        };
        let period_start = |p: &Policy| {
            current - changed_since(&self.up_events, p.period_s)
                + changed_since(&self.down_events, p.period_s)
        };
        let to_u32 = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);

        match desired.cmp(&self.current) {
            std::cmp::Ordering::Greater => {
                // selectPolicy Max: the policy allowing the largest change.
                let limit = self
                    .behavior
                    .scale_up
                    .policies
                    .iter()
                    .map(|p| {
                        let start = period_start(p);
                        match p.kind {
                            PolicyKind::Pods => start + i64::from(p.value),
                            PolicyKind::Percent => {
                                (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                            }
                        }
                    })
                    .max()
                    .unwrap_or(i64::MAX)
                    .max(current);
                desired.min(to_u32(limit)).min(self.max_replicas).max(self.current)
            }
            std::cmp::Ordering::Less => {
                let limit = self
                    .behavior
                    .scale_down
                    .policies
                    .iter()
                    .map(|p| {
                        let start = period_start(p);
                        match p.kind {
                            PolicyKind::Pods => start - i64::from(p.value),
                            PolicyKind::Percent => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
                        }
                    })
                    .min()
                    .unwrap_or(i64::MIN)
                    .min(current);
                desired.max(to_u32(limit)).max(self.min_replicas).min(self.current)
            }
            std::cmp::Ordering::Equal => desired,
        }
    }
}

/// One evaluation of one tier's autoscaler.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Seconds since the start of the run.
    pub t: f64,
    /// The replica count after this evaluation.
    pub replicas: u32,
    /// What the metrics asked for before stabilisation and rate limits (none: no metric).
    pub metric_desired: Option<u32>,
    /// The metric readings, by name (tier totals and per-pod values; see [`replay`]).
    pub metrics: BTreeMap<String, f64>,
}

/// One tier's replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierReplay {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The most replicas recommended at any time of the run.
    pub max_recommended: u32,
    /// The first point is the start (t = 0, minReplicas).
    pub points: Vec<Point>,
}

/// Both tiers' replays; a tier nobody scraped has none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Replay {
    pub params: ReplayParams,
    pub chart: ChartAutoscaling,
    pub api: Option<TierReplay>,
    pub worker: Option<TierReplay>,
}

/// Replays both tiers' autoscalers over `run.scrapes`, evaluating every `params.step_s`.
pub fn replay(run: &RunData, chart: &ChartAutoscaling, params: &ReplayParams) -> Replay {
    let last_scrape = run.scrapes.iter().map(|s| s.t).fold(0.0_f64, f64::max);
    let end = if run.elapsed_s.is_finite() && run.elapsed_s > 0.0 { run.elapsed_s } else { last_scrape };
    let times = evaluation_times(end, params.step_s);

    let api_targets = targets(&run.scrapes, |r| matches!(r, Role::Api | Role::All));
    let worker_targets = targets(&run.scrapes, |r| matches!(r, Role::Worker | Role::All));

    let api = (!api_targets.is_empty()).then(|| {
        let c = &chart.api;
        let mut hpa = Hpa::new(c.min_replicas, c.max_replicas, c.behavior.clone());
        run_tier(&mut hpa, &times, |t, current| api_measures(&api_targets, c, params, t, current))
    });
    let worker = (!worker_targets.is_empty()).then(|| {
        let c = &chart.worker;
        let mut hpa = Hpa::new(c.min_replicas, c.max_replicas, c.behavior.clone());
        run_tier(&mut hpa, &times, |t, current| worker_measures(&worker_targets, c, params, t, current))
    });
    Replay { params: params.clone(), chart: chart.clone(), api, worker }
}

/// `step, 2·step, …` up to `end`; a run shorter than one step is evaluated once, at its end.
fn evaluation_times(end: f64, step: f64) -> Vec<f64> {
    let step = if step.is_finite() && step > 0.0 { step } else { ReplayParams::default().step_s };
    let mut times = Vec::new();
    let mut k = 1_u32;
    while f64::from(k) * step <= end + 1e-9 {
        times.push(f64::from(k) * step);
        k += 1;
    }
    if times.is_empty() && end > 0.0 {
        times.push(end);
    }
    times
}

type Measured = (Vec<Measure>, BTreeMap<String, f64>);

fn run_tier(hpa: &mut Hpa, times: &[f64], mut measure: impl FnMut(f64, u32) -> Measured) -> TierReplay {
    let mut points =
        vec![Point { t: 0.0, replicas: hpa.current(), metric_desired: None, metrics: BTreeMap::new() }];
    for &t in times {
        let (measures, metrics) = measure(t, hpa.current());
        let (metric_desired, replicas) = hpa.evaluate(t, &measures);
        points.push(Point { t, replicas, metric_desired, metrics });
    }
    TierReplay {
        min_replicas: hpa.min_replicas,
        max_replicas: hpa.max_replicas,
        max_recommended: points.iter().map(|p| p.replicas).max().unwrap_or(hpa.min_replicas),
        points,
    }
}

fn api_measures(
    targets: &[Vec<&Scrape>],
    c: &ApiScaling,
    params: &ReplayParams,
    t: f64,
    current: u32,
) -> Measured {
    let mut measures = Vec::new();
    let mut metrics = BTreeMap::new();
    let pods = f64::from(current.max(1));
    if let Some(cores) = sum_rates(targets, t, params.cpu_window_s, |s| s.name == "process_cpu_seconds_total")
    {
        let utilization = cores / pods / c.cpu_request_cores * 100.0;
        metrics.insert("cpu_cores".to_owned(), cores);
        metrics.insert("cpu_utilization_pct".to_owned(), utilization);
        if c.target_cpu_utilization_pct > 0.0 && c.cpu_request_cores > 0.0 {
            let per_pod = c.cpu_request_cores * c.target_cpu_utilization_pct / 100.0;
            measures.push(Measure::PerPod { total: cores, target_per_pod: per_pod });
        }
    }
    if let Some(rps) =
        sum_rates(targets, t, params.request_rate_window_s, |s| s.name == "tusk_http_requests_total")
    {
        metrics.insert("requests_per_second".to_owned(), rps);
        metrics.insert("requests_per_second_per_pod".to_owned(), rps / pods);
        if c.target_requests_per_second > 0.0 {
            measures.push(Measure::PerPod { total: rps, target_per_pod: c.target_requests_per_second });
        }
    }
    (measures, metrics)
}

fn worker_measures(
    targets: &[Vec<&Scrape>],
    c: &WorkerScaling,
    params: &ReplayParams,
    t: f64,
    _current: u32,
) -> Measured {
    let mut measures = Vec::new();
    let mut metrics = BTreeMap::new();
    let depths = queue_depths_at(targets, t);
    for suffix in ["fanout", "deliver"] {
        let mut found = false;
        let mut ready = 0.0;
        for (queue, depth) in &depths {
            if queue.rsplit_once('.').is_some_and(|(_, last)| last == suffix) || queue == suffix {
                found = true;
                ready += depth;
            }
        }
        if found {
            metrics.insert(format!("{suffix}_ready"), ready);
            if c.target_queue_length > 0.0 {
                measures.push(Measure::PerPod { total: ready, target_per_pod: c.target_queue_length });
            }
        }
    }
    if let Some(lag) = lag_quantile(targets, t, params.lag_window_s, 0.99) {
        metrics.insert("fanout_lag_p99_s".to_owned(), lag);
        if c.target_fanout_lag_s > 0.0 {
            measures.push(Measure::Value { value: lag, target: c.target_fanout_lag_s });
        }
    }
    (measures, metrics)
}

/// The scrapes of each target whose role matches, each in time order.
fn targets(scrapes: &[Scrape], role: impl Fn(Role) -> bool) -> Vec<Vec<&Scrape>> {
    let mut by_target: BTreeMap<&str, Vec<&Scrape>> = BTreeMap::new();
    for scrape in scrapes.iter().filter(|s| role(s.role) && s.t.is_finite()) {
        by_target.entry(&scrape.target).or_default().push(scrape);
    }
    let mut out: Vec<Vec<&Scrape>> = by_target.into_values().collect();
    for list in &mut out {
        list.sort_by(|a, b| a.t.total_cmp(&b.t));
    }
    out
}

/// The sum of the matching samples of one scrape; `None` when none matches.
fn scrape_sum(scrape: &Scrape, select: &impl Fn(&crate::run::Sample) -> bool) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for sample in scrape.samples.iter().filter(|s| select(s)) {
        if sample.value.is_finite() {
            found = true;
            sum += sample.value;
        }
    }
    found.then_some(sum)
}

/// The per-second increase of a counter (the sum of the matching samples) over
/// `[t − window, t]`, counter resets handled as Prometheus does. The window starts at the last
/// scrape at or before `t − window` (or the first scrape, when the run is younger than the
/// window) and ends at the last scrape at or before `t`. `None` without two scrapes in it.
pub fn rate(
    scrapes: &[&Scrape],
    t: f64,
    window: f64,
    select: &impl Fn(&crate::run::Sample) -> bool,
) -> Option<f64> {
    let end = scrapes.iter().rposition(|s| s.t <= t + 1e-9)?;
    let start = scrapes.iter().rposition(|s| s.t <= t - window + 1e-9).unwrap_or(0);
    if start >= end {
        return None;
    }
    let mut points = scrapes[start..=end].iter().filter_map(|s| scrape_sum(s, select).map(|v| (s.t, v)));
    let (t0, mut previous) = points.next()?;
    let mut t1 = t0;
    let mut increase = 0.0;
    for (ts, v) in points {
        increase += if v >= previous { v - previous } else { v };
        previous = v;
        t1 = ts;
    }
    (t1 > t0).then(|| increase / (t1 - t0))
}

fn sum_rates(
    targets: &[Vec<&Scrape>],
    t: f64,
    window: f64,
    select: impl Fn(&crate::run::Sample) -> bool,
) -> Option<f64> {
    let rates: Vec<f64> = targets.iter().filter_map(|s| rate(s, t, window, &select)).collect();
    (!rates.is_empty()).then(|| rates.iter().sum())
}

/// Ready messages by queue at `t`: each target's last scrape at or before `t`, the max over
/// targets (every worker samples the same queues, as prometheus-adapter's rule says).
pub fn queue_depths_at(targets: &[Vec<&Scrape>], t: f64) -> BTreeMap<String, f64> {
    let mut depths: BTreeMap<String, f64> = BTreeMap::new();
    for scrapes in targets {
        let Some(scrape) = scrapes.iter().rev().find(|s| s.t <= t + 1e-9) else { continue };
        for sample in scrape.samples.iter().filter(|s| s.name == "tusk_queue_messages_ready") {
            let (Some(queue), true) = (sample.labels.get("queue"), sample.value.is_finite()) else {
                continue;
            };
            let depth = depths.entry(queue.clone()).or_insert(sample.value);
            *depth = depth.max(sample.value);
        }
    }
    depths
}

/// `histogram_quantile(q, sum(rate(tusk_fanout_lag_seconds_bucket[window])) by (le))`, with
/// the chart's NaN guard (no fan-out in the window reads as 0). `None` when no target exposes
/// the histogram.
fn lag_quantile(targets: &[Vec<&Scrape>], t: f64, window: f64, q: f64) -> Option<f64> {
    let mut les: Vec<String> = Vec::new();
    for scrapes in targets {
        for scrape in scrapes {
            for sample in scrape.samples.iter().filter(|s| s.name == "tusk_fanout_lag_seconds_bucket") {
                if let Some(le) = sample.labels.get("le")
                    && !les.contains(le)
                {
                    les.push(le.clone());
                }
            }
        }
    }
    if les.is_empty() {
        return None;
    }
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for le in &les {
        let Some(bound) = parse_le(le) else { continue };
        let rate = sum_rates(targets, t, window, |s| {
            s.name == "tusk_fanout_lag_seconds_bucket" && s.labels.get("le") == Some(le)
        });
        buckets.push((bound, rate.unwrap_or(0.0)));
    }
    Some(histogram_quantile(q, &mut buckets).unwrap_or(0.0))
}

fn parse_le(le: &str) -> Option<f64> {
    match le.trim() {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

/// Prometheus's `histogram_quantile` over cumulative `(le, count)` buckets: linear
/// interpolation inside the bucket holding the rank; the +Inf bucket answers with the highest
/// finite bound. `None` when there are no observations (Prometheus's NaN).
pub fn histogram_quantile(q: f64, buckets: &mut [(f64, f64)]) -> Option<f64> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let &(last_le, total) = buckets.last()?;
    if !last_le.is_infinite() || total <= 0.0 || !total.is_finite() || buckets.len() < 2 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut previous = (0.0_f64, 0.0_f64);
    for (i, &(le, count)) in buckets.iter().enumerate() {
        if count >= rank {
            if le.is_infinite() {
                return Some(buckets[buckets.len() - 2].0);
            }
            let lower = if i == 0 && le <= 0.0 { le } else { previous.0 };
            if count <= previous.1 {
                return Some(le);
            }
            return Some(lower + (le - lower) * (rank - previous.1) / (count - previous.1));
        }
        previous = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::run::Sample;

    fn cpu(load: f64) -> Measure {
        // the api's CPU metric: total cores against 70 % of 0.5 core per pod
        Measure::PerPod { total: load, target_per_pod: 0.35 }
    }

    #[test]
    fn defaults_match_the_chart_values() {
        let values: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../helm/tusk/values.yaml")).unwrap();
        let chart = ChartAutoscaling::default();
        let num = |v: &serde_yaml::Value| v.as_f64().unwrap();
        let behavior = |v: &serde_yaml::Value| {
            let rules = |r: &serde_yaml::Value| {
                assert_eq!(r["selectPolicy"].as_str(), Some("Max"), "the replay assumes selectPolicy Max");
                ScalingRules {
                    stabilization_window_s: r["stabilizationWindowSeconds"].as_u64().unwrap() as u32,
                    policies: r["policies"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(|p| Policy {
                            kind: match p["type"].as_str().unwrap() {
                                "Pods" => PolicyKind::Pods,
                                "Percent" => PolicyKind::Percent,
                                other => panic!("unknown policy type {other}"),
                            },
                            value: p["value"].as_u64().unwrap() as u32,
                            period_s: p["periodSeconds"].as_u64().unwrap() as u32,
                        })
                        .collect(),
                }
            };
            Behavior { scale_up: rules(&v["scaleUp"]), scale_down: rules(&v["scaleDown"]) }
        };

        let api = &values["api"]["autoscaling"];
        assert_eq!(api["minReplicas"].as_u64(), Some(u64::from(chart.api.min_replicas)));
        assert_eq!(api["maxReplicas"].as_u64(), Some(u64::from(chart.api.max_replicas)));
        assert!(
            (num(&api["targetCPUUtilizationPercentage"]) - chart.api.target_cpu_utilization_pct).abs() < 1e-9
        );
        assert!((num(&api["targetRequestsPerSecond"]) - chart.api.target_requests_per_second).abs() < 1e-9);
        assert_eq!(behavior(&api["behavior"]), chart.api.behavior);
        let cpu_request = values["api"]["resources"]["requests"]["cpu"].as_str().unwrap();
        let cores = cpu_request.strip_suffix('m').map_or_else(
            || cpu_request.parse::<f64>().unwrap(),
            |milli| milli.parse::<f64>().unwrap() / 1000.0,
        );
        assert!((cores - chart.api.cpu_request_cores).abs() < 1e-9, "{cpu_request}");

        let worker = &values["worker"]["autoscaling"];
        assert_eq!(worker["mode"].as_str(), Some("keda"), "the replay models KEDA mode");
        assert_eq!(worker["minReplicas"].as_u64(), Some(u64::from(chart.worker.min_replicas)));
        assert_eq!(worker["maxReplicas"].as_u64(), Some(u64::from(chart.worker.max_replicas)));
        assert!((num(&worker["targetQueueLength"]) - chart.worker.target_queue_length).abs() < 1e-9);
        assert!((num(&worker["targetFanoutLagSeconds"]) - chart.worker.target_fanout_lag_s).abs() < 1e-9);
        assert_eq!(behavior(&worker["behavior"]), chart.worker.behavior);
    }

    #[test]
    fn a_surge_scales_up_within_the_policies_and_stops_at_max() {
        let mut hpa = Hpa::new(2, 20, Behavior::default());
        // 50 pods' worth of CPU at once
        let surge = [cpu(50.0 * 0.35)];
        assert_eq!(hpa.evaluate(15.0, &surge), (Some(50), 6)); // max(2 × 2, 2 + 4)
        assert_eq!(hpa.evaluate(30.0, &surge), (Some(50), 12)); // max(6 × 2, 6 + 4)
        assert_eq!(hpa.evaluate(45.0, &surge), (Some(50), 20)); // 24, clamped to max
        assert_eq!(hpa.evaluate(60.0, &surge), (Some(50), 20));

        // evaluated every 5 s, the 15 s periods still hold: no more than 4 pods / +100 % per 15 s
        let mut hpa = Hpa::new(2, 100, Behavior::default());
        let mut history = vec![(0.0, 2)];
        for k in 1..=18 {
            let t = f64::from(k) * 5.0;
            let (_, replicas) = hpa.evaluate(t, &[cpu(80.0 * 0.35)]);
            history.push((t, replicas));
        }
        for (i, &(t, replicas)) in history.iter().enumerate() {
            let start = history.iter().take(i + 1).rev().find(|(s, _)| *s <= t - 15.0).map_or(2, |h| h.1);
            assert!(replicas <= (start * 2).max(start + 4), "{history:?}");
        }
        assert_eq!(history.last().unwrap().1, 80);
    }

    #[test]
    fn the_tolerance_holds_the_count() {
        let mut hpa = Hpa::new(4, 20, Behavior::default());
        // 4 pods at 108 % and 92 % of the target: within 10 %, nothing moves
        assert_eq!(hpa.evaluate(15.0, &[cpu(4.0 * 0.35 * 1.08)]), (Some(4), 4));
        assert_eq!(hpa.evaluate(30.0, &[cpu(4.0 * 0.35 * 0.92)]), (Some(4), 4));
        // at 115 % the HPA acts: ceil(4 × 1.15) = 5
        assert_eq!(hpa.evaluate(45.0, &[cpu(4.0 * 0.35 * 1.15)]), (Some(5), 5));
        // the largest of several metrics wins; one in tolerance does not hold back another
        let rps = Measure::PerPod { total: 5.0 * 200.0 * 1.05, target_per_pod: 200.0 };
        let queue = Measure::PerPod { total: 900.0, target_per_pod: 100.0 };
        assert_eq!(hpa.evaluate(60.0, &[rps, queue]), (Some(9), 9));
        // a Value metric multiplies the current count: lag 10 s against 5 s doubles it
        assert_eq!(Measure::Value { value: 10.0, target: 5.0 }.desired(9), 18);
        assert_eq!(Measure::Value { value: 5.2, target: 5.0 }.desired(9), 9);
        assert_eq!(Measure::Value { value: 0.0, target: 5.0 }.desired(9), 0);
    }

    #[test]
    fn scale_down_waits_300_s_then_drops_at_most_20_percent_a_minute() {
        let mut hpa = Hpa::new(2, 20, Behavior::default());
        let mut t = 0.0;
        while hpa.current() < 20 {
            t += 15.0;
            hpa.evaluate(t, &[cpu(20.0 * 0.35)]);
        }
        assert!((t - 45.0).abs() < 1e-9);
        let last_high = t;
        // the load is gone
        let mut history = Vec::new();
        while t < 1500.0 {
            t += 15.0;
            let (desired, replicas) = hpa.evaluate(t, &[cpu(0.0)]);
            assert_eq!(desired, Some(0));
            history.push((t, replicas));
        }
        let first_drop = history.iter().find(|(_, r)| *r < 20).unwrap().0;
        // the first evaluation whose 300 s window no longer holds the last high recommendation
        assert!((first_drop - (last_high + 300.0)).abs() < 1e-9, "dropped at {first_drop}");
        for (i, &(t, replicas)) in history.iter().enumerate() {
            // replicas at the start of the 60 s period; Kubernetes truncates 80 % of it
            let start = history[..i].iter().rev().find(|(s, _)| *s <= t - 60.0).map_or(20, |h| h.1);
            assert!(replicas >= start * 4 / 5, "{t}: {replicas} from {start}");
        }
        // 20 → 16 → 12 → 9 → 7 → 5 → 4 → 3 → 2, one step a minute
        let counts: Vec<u32> = std::iter::once(20).chain(history.iter().map(|h| h.1)).collect();
        let steps: Vec<(f64, u32)> =
            counts.windows(2).zip(&history).filter(|(w, _)| w[0] != w[1]).map(|(w, h)| (h.0, w[1])).collect();
        assert_eq!(steps.iter().map(|s| s.1).collect::<Vec<_>>(), vec![16, 12, 9, 7, 5, 4, 3, 2]);
        for pair in steps.windows(2) {
            assert!((pair[1].0 - pair[0].0 - 60.0).abs() < 1e-9, "{steps:?}");
        }
        assert_eq!(hpa.current(), 2);
    }

    #[test]
    fn replicas_stay_between_min_and_max() {
        let mut hpa = Hpa::new(2, 5, Behavior::default());
        assert_eq!(hpa.evaluate(15.0, &[cpu(0.0)]), (Some(0), 2));
        assert_eq!(hpa.evaluate(30.0, &[cpu(1000.0)]), (Some(2858), 5));
        assert_eq!(hpa.evaluate(45.0, &[cpu(1000.0)]), (Some(2858), 5));
        assert_eq!(hpa.evaluate(60.0, &[]), (None, 5));
    }

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            value,
        }
    }

    fn run_with(scrapes: Vec<Scrape>, elapsed_s: f64) -> RunData {
        RunData {
            scenario: "test".into(),
            scenario_path: "test.toml".into(),
            started_at: chrono::Utc::now(),
            elapsed_s,
            planned_s: elapsed_s,
            interrupted: false,
            targets: vec![],
            admin_targets: vec![],
            endpoints: BTreeMap::new(),
            seconds: vec![],
            signups: 0,
            fanout_lag: vec![],
            scrapes,
            fanout_lag_timeouts: vec![],
        }
    }

    #[test]
    fn the_replay_reads_the_scraped_metrics() {
        // api: 1.4 cores and 1,000 req/s; worker: 1,000 messages in tusk.deliver, lag ≈ 1-2 s
        let mut scrapes = Vec::new();
        for k in 0..=30 {
            let t = f64::from(k);
            scrapes.push(Scrape {
                t,
                target: "http://api:9100".into(),
                role: Role::Api,
                samples: vec![
                    sample("process_cpu_seconds_total", &[], 100.0 + 1.4 * t),
                    sample("tusk_http_requests_total", &[("route", "/a"), ("status", "200")], 600.0 * t),
                    sample("tusk_http_requests_total", &[("route", "/b"), ("status", "200")], 400.0 * t),
                ],
            });
            scrapes.push(Scrape {
                t: t + 0.5,
                target: "http://worker:9101".into(),
                role: Role::Worker,
                samples: vec![
                    sample("tusk_queue_messages_ready", &[("queue", "surge.fanout")], 50.0),
                    sample("tusk_queue_messages_ready", &[("queue", "surge.deliver")], 1000.0),
                    sample("tusk_queue_messages_ready", &[("queue", "surge.deliver.parked")], 9999.0),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "1")], 0.0),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "2")], 10.0 * t),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "+Inf")], 10.0 * t),
                ],
            });
        }
        let replay = replay(&run_with(scrapes, 30.0), &ChartAutoscaling::default(), &ReplayParams::default());
        let api = replay.api.unwrap();
        assert_eq!(api.points.len(), 3);
        let first = &api.points[1];
        assert!((first.metrics["cpu_cores"] - 1.4).abs() < 1e-9);
        assert!((first.metrics["cpu_utilization_pct"] - 140.0).abs() < 1e-9);
        assert!((first.metrics["requests_per_second"] - 1000.0).abs() < 1e-9);
        // CPU asks for ceil(1.4 / 0.35) = 4, requests for ceil(1000 / 200) = 5
        assert_eq!(first.metric_desired, Some(5));
        assert_eq!(first.replicas, 5);
        assert_eq!(api.max_recommended, 5);

        let worker = replay.worker.unwrap();
        let first = &worker.points[1];
        assert!((first.metrics["deliver_ready"] - 1000.0).abs() < 1e-9);
        assert!((first.metrics["fanout_ready"] - 50.0).abs() < 1e-9);
        assert!((first.metrics["fanout_lag_p99_s"] - 1.99).abs() < 1e-9);
        // deliver asks for 10; the first step allows 2 + 4
        assert_eq!(first.metric_desired, Some(10));
        assert_eq!(first.replicas, 6);
        assert_eq!(worker.points[2].replicas, 10);
        assert_eq!(worker.max_recommended, 10);
    }

    #[test]
    fn no_scrapes_no_replay_and_short_runs_are_evaluated_once() {
        let replay = replay(&run_with(vec![], 10.0), &ChartAutoscaling::default(), &ReplayParams::default());
        assert!(replay.api.is_none() && replay.worker.is_none());
        assert_eq!(evaluation_times(10.0, 15.0), vec![10.0]);
        assert_eq!(evaluation_times(45.0, 15.0), vec![15.0, 30.0, 45.0]);
        assert!(evaluation_times(0.0, 15.0).is_empty());
    }

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let mut buckets = vec![(0.1, 50.0), (1.0, 90.0), (f64::INFINITY, 100.0), (0.5, 80.0)];
        // rank 50 → the end of the first bucket
        assert!((histogram_quantile(0.5, &mut buckets).unwrap() - 0.1).abs() < 1e-9);
        // rank 85 → halfway through (0.5, 1]
        assert!((histogram_quantile(0.85, &mut buckets).unwrap() - 0.75).abs() < 1e-9);
        // rank 99 → +Inf bucket → the highest finite bound
        assert!((histogram_quantile(0.99, &mut buckets).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(histogram_quantile(0.99, &mut [(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
        assert_eq!(histogram_quantile(0.99, &mut []), None);
    }

    #[test]
    fn counter_resets_count_as_increases() {
        let scrapes: Vec<Scrape> = [(0.0, 100.0), (10.0, 200.0), (20.0, 50.0)]
            .iter()
            .map(|&(t, v)| Scrape {
                t,
                target: "x".into(),
                role: Role::Api,
                samples: vec![sample("c", &[], v)],
            })
            .collect();
        let refs: Vec<&Scrape> = scrapes.iter().collect();
        let r = rate(&refs, 20.0, 60.0, &|s: &Sample| s.name == "c").unwrap();
        assert!((r - 150.0 / 20.0).abs() < 1e-9);
        assert_eq!(rate(&refs[..1], 20.0, 60.0, &|s: &Sample| s.name == "c"), None);
    }
}
