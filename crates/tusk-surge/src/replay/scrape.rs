//! Scrapes every admin target's `/metrics` during the run and keeps the series the report and
//! the autoscaling replay read.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::run::{Role, Sample, Scrape};

/// Series kept (a histogram's `_bucket`, `_sum` and `_count` under its base name).
const KEPT: &[&str] = &[
    "tusk_http_requests_total",
    "tusk_http_request_duration_seconds",
    "tusk_http_requests_in_flight",
    "tusk_signups_total",
    "tusk_statuses_created_total",
    "tusk_queue_messages_ready",
    "tusk_jobs_total",
    "tusk_jobs_parked_total",
    "tusk_job_duration_seconds",
    "tusk_fanout_deliveries_total",
    "tusk_fanout_lag_seconds",
    "tusk_outbox_pending",
    "tusk_streaming_connections",
    "tusk_dependency_up",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "tusk_build_info",
];

fn kept(name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
    KEPT.contains(&name) || KEPT.contains(&base)
}

/// Parses the Prometheus text format: `name{label="value",…} value [timestamp]` lines; comments
/// and blank lines are skipped, and so are lines that do not parse.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    // a quoted value with \\, \" and \n escapes
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

/// The tier of a target, from `tusk_build_info{role}`.
pub fn role(samples: &[Sample]) -> Option<Role> {
    let info = samples.iter().find(|s| s.name == "tusk_build_info")?;
    match info.labels.get("role")?.as_str() {
        "api" => Some(Role::Api),
        "worker" => Some(Role::Worker),
        "all" => Some(Role::All),
        _ => None,
    }
}

/// One scrape of `admin` (`None` when it did not answer, which the run survives).
pub async fn scrape(http: &reqwest::Client, admin: &str, start: Instant) -> Option<Scrape> {
    let response = http.get(format!("{admin}/metrics")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let t = start.elapsed().as_secs_f64();
    let text = response.text().await.ok()?;
    let samples: Vec<Sample> = parse(&text).into_iter().filter(|s| kept(&s.name)).collect();
    Some(Scrape { t, target: admin.to_owned(), role: role(&samples)?, samples })
}

/// Scrapes every admin target every `interval` until `stop`, then once more.
pub async fn run(
    http: reqwest::Client,
    admins: Vec<String>,
    interval: Duration,
    start: Instant,
    stop: CancellationToken,
) -> (Vec<Scrape>, u64) {
    let mut scrapes = Vec::new();
    let mut failures = 0;
    let mut next = start;
    loop {
        let stopping = stop.is_cancelled();
        let results =
            futures_util::future::join_all(admins.iter().map(|admin| scrape(&http, admin, start))).await;
        for result in results {
            match result {
                Some(scrape) => scrapes.push(scrape),
                None => failures += 1,
            }
        }
        if stopping {
            break;
        }
        next += interval;
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => {}
        }
    }
    scrapes.sort_by(|a, b| a.t.total_cmp(&b.t));
    (scrapes, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP tusk_build_info Build information.
# TYPE tusk_build_info gauge
tusk_build_info{role="worker",version="0.1.0"} 1
tusk_http_requests_total{method="GET",route="/api/v1/timelines/home",status="200"} 1234
tusk_fanout_lag_seconds_bucket{le="0.005"} 3
tusk_fanout_lag_seconds_bucket{le="+Inf"} 10
tusk_fanout_lag_seconds_sum 0.25
tusk_jobs_total{job="deliver_batch",outcome="ok"} 7
weird{path="a \"quoted\", \\ comma"} 2.5e3 1700000000000
process_resident_memory_bytes 2.1e+07
not a sample line
"#;

    #[test]
    fn parses_names_labels_and_values() {
        let samples = parse(PAGE);
        assert_eq!(samples.len(), 8, "{samples:?}");
        assert_eq!(role(&samples), Some(Role::Worker));
        let home = &samples[1];
        assert_eq!(home.name, "tusk_http_requests_total");
        assert_eq!(home.labels["route"], "/api/v1/timelines/home");
        assert_eq!(home.labels["status"], "200");
        assert!((home.value - 1234.0).abs() < f64::EPSILON);
        assert_eq!(samples[3].labels["le"], "+Inf");
        assert!(samples[4].labels.is_empty());
        // Tusk's own `job` label is kept as is (Prometheus would rename it `exported_job`)
        assert_eq!(samples[5].labels["job"], "deliver_batch");
        assert_eq!(samples[6].labels["path"], "a \"quoted\", \\ comma");
        assert!((samples[6].value - 2500.0).abs() < f64::EPSILON);
        assert!((samples[7].value - 2.1e7).abs() < 1.0);
    }

    #[test]
    fn keeps_the_contract_series_only() {
        assert!(kept("tusk_fanout_lag_seconds_bucket"));
        assert!(kept("tusk_http_request_duration_seconds_count"));
        assert!(kept("process_cpu_seconds_total"));
        assert!(!kept("weird"));
        assert!(!kept("process_open_fds"));
    }
}
