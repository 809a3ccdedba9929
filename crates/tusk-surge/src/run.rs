//! What a replay records, in memory, and what the report is made from. The replay engine
//! (`replay`) fills a [`RunData`]; the report (`report`) and the autoscaling replay
//! (`autoscale`) only read it, so they can be tested on a synthetic one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits.
#[allow(clippy::expect_used)] // constant bounds, checked by the unit test below
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// One endpoint's results over the whole run (or one second of it).
#[derive(Clone, Debug)]
pub struct EndpointStats {
    /// Requests sent.
    pub count: u64,
    /// Requests that failed: a transport error, a timeout, or a status the behaviour model did
    /// not expect (any 5xx; 4xx other than the ones the model provokes on purpose).
    pub errors: u64,
    /// Answers by HTTP status; transport errors and timeouts under 0.
    pub statuses: BTreeMap<u16, u64>,
    /// Latency in µs, measured from the request's *intended* send time (no coordinated omission).
    pub latency_us: Histogram<u64>,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self { count: 0, errors: 0, statuses: BTreeMap::new(), latency_us: latency_histogram() }
    }
}

/// Everything that happened in one second of the run (`t` = seconds since the start).
#[derive(Clone, Debug, Default)]
pub struct Second {
    pub t: u32,
    /// By endpoint name, e.g. `POST /api/v1/accounts` (method and route pattern).
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Sign-ups completed (201/200 from `POST /api/v1/accounts`) in this second.
    pub signups: u64,
}

/// One fan-out lag measurement of the probe: a post accepted at `t` (seconds since the start)
/// appeared in the sampled followers' home timelines `lag_ms` later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LagSample {
    pub t: f64,
    pub lag_ms: f64,
    /// Followers the probe checked for this post.
    pub followers_checked: u32,
}

/// Which tier an admin target belongs to (from its `tusk_build_info{role}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Api,
    Worker,
    /// `tusk all`: both tiers in one process.
    All,
}

/// One sample of one Prometheus series.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One scrape of one admin target's `/metrics`.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// Seconds since the start of the run.
    pub t: f64,
    /// The admin URL scraped, e.g. `http://127.0.0.1:9100`.
    pub target: String,
    pub role: Role,
    pub samples: Vec<Sample>,
}

/// A whole run.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The scenario's `name`, and the file it came from.
    pub scenario: String,
    pub scenario_path: String,
    pub started_at: DateTime<Utc>,
    /// Seconds the load ran (less than planned when interrupted).
    pub elapsed_s: f64,
    pub planned_s: f64,
    /// Stopped early by Ctrl-C (or a fatal error); the report covers what ran.
    pub interrupted: bool,
    /// The api base URLs the load went to, and the admin URLs scraped.
    pub targets: Vec<String>,
    pub admin_targets: Vec<String>,
    /// Over the whole run, by endpoint name.
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Per second, in order, one per second of the run.
    pub seconds: Vec<Second>,
    pub signups: u64,
    pub fanout_lag: Vec<LagSample>,
    /// Every scrape of every admin target, in time order.
    pub scrapes: Vec<Scrape>,
    /// Probe posts never seen in every sampled follower's home within the probe's timeout:
    /// their acceptance times (seconds since the start). Not in `fanout_lag`.
    pub fanout_lag_timeouts: Vec<f64>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn latency_histograms_hold_ten_minutes() {
        let mut histogram = super::latency_histogram();
        histogram.record(600_000_000).unwrap();
        histogram.record(1).unwrap();
        assert_eq!(histogram.len(), 2);
    }
}
