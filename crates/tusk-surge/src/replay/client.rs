//! The replay's HTTP side: requests go round-robin across the api targets, at most
//! `max_in_flight` at once, and each is timed from its *intended* send time into the
//! [`Recorder`], so a request the scheduler or the in-flight cap held back still counts its wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::run::{EndpointStats, Second};

/// What the run recorded so far, and the live counters of the progress bar.
pub struct Recorder {
    pub start: Instant,
    inner: Mutex<Recorded>,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub signups: AtomicU64,
    pub in_flight: AtomicI64,
}

#[derive(Default)]
struct Recorded {
    endpoints: BTreeMap<String, EndpointStats>,
    seconds: Vec<Second>,
    signups: u64,
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::new(Recorded::default()),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            signups: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
        }
    }

    fn second_of(&self, at: Instant) -> usize {
        at.saturating_duration_since(self.start).as_secs() as usize
    }

    fn with_second<R>(&self, index: usize, f: impl FnOnce(&mut Recorded, usize) -> R) -> R {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while inner.seconds.len() <= index {
            let t = inner.seconds.len() as u32;
            inner.seconds.push(Second { t, ..Second::default() });
        }
        f(&mut inner, index)
    }

    /// One answer (status 0: a transport error or a timeout).
    pub fn record(&self, endpoint: &str, intended: Instant, status: u16, error: bool) {
        let latency_us = intended.elapsed().as_micros().clamp(1, 600_000_000) as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let add = |stats: &mut EndpointStats| {
            stats.count += 1;
            stats.errors += u64::from(error);
            *stats.statuses.entry(status).or_default() += 1;
            stats.latency_us.saturating_record(latency_us);
        };
        self.with_second(self.second_of(intended), |inner, i| {
            add(inner.endpoints.entry(endpoint.to_owned()).or_default());
            add(inner.seconds[i].endpoints.entry(endpoint.to_owned()).or_default());
        });
    }

    /// A sign-up completed now.
    pub fn signup(&self) {
        self.signups.fetch_add(1, Ordering::Relaxed);
        self.with_second(self.second_of(Instant::now()), |inner, i| {
            inner.signups += 1;
            inner.seconds[i].signups += 1;
        });
    }

    /// The totals and the per-second records, one per second of `seconds`.
    pub fn take(&self, seconds: usize) -> (BTreeMap<String, EndpointStats>, Vec<Second>, u64) {
        if seconds > 0 {
            self.with_second(seconds - 1, |_, _| ());
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let endpoints = std::mem::take(&mut inner.endpoints);
        let mut per_second = std::mem::take(&mut inner.seconds);
        // requests scheduled for the last instant of the run land in the last second
        while per_second.len() > seconds.max(1) {
            if let (Some(extra), Some(last)) = (per_second.pop(), per_second.last_mut()) {
                for (name, stats) in extra.endpoints {
                    let into = last.endpoints.entry(name).or_default();
                    into.count += stats.count;
                    into.errors += stats.errors;
                    for (status, n) in stats.statuses {
                        *into.statuses.entry(status).or_default() += n;
                    }
                    let _ = into.latency_us.add(&stats.latency_us);
                }
                last.signups += extra.signups;
            }
        }
        (endpoints, per_second, inner.signups)
    }
}

pub enum Body {
    None,
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

/// One request: `endpoint` is its name in the results (method and route pattern).
pub struct Call<'a> {
    pub endpoint: &'static str,
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    /// The client's address, sent as `X-Forwarded-For` (see `model::client_address`).
    pub from: Option<std::net::IpAddr>,
    pub body: Body,
}

/// The answer of a request that got one.
pub struct Answer {
    pub status: u16,
    pub json: Option<Value>,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    targets: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    in_flight: Arc<Semaphore>,
    pub recorder: Arc<Recorder>,
    pub stop: CancellationToken,
}

impl Api {
    pub fn new(
        targets: Vec<String>,
        timeout: Duration,
        max_in_flight: usize,
        recorder: Arc<Recorder>,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(max_in_flight)
            .build()?;
        Ok(Self {
            http,
            targets: Arc::new(targets),
            next: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            recorder,
            stop,
        })
    }

    /// The same targets and limits, recording into `recorder`.
    pub fn recording_into(&self, recorder: Arc<Recorder>) -> Self {
        Self { recorder, ..self.clone() }
    }

    /// Sends `call`, timed from `intended`. `None` when the run stopped before it was sent.
    /// A 200 is the only answer the behaviour model expects; anything else counts as an error.
    pub async fn send(&self, call: Call<'_>, intended: Instant) -> Option<Answer> {
        if self.stop.is_cancelled() {
            return None;
        }
        let permit = tokio::select! {
            permit = self.in_flight.acquire() => permit.ok()?,
            () = self.stop.cancelled() => return None,
        };
        let target = &self.targets[self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len()];
        let mut request = self.http.request(call.method, format!("{target}{}", call.path));
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        if let Some(from) = call.from {
            request = request.header("x-forwarded-for", from.to_string());
        }
        request = match call.body {
            Body::None => request,
            Body::Form(form) => request.form(&form),
            Body::Json(json) => request.json(&json),
        };
        self.recorder.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        }
        .await;
        self.recorder.in_flight.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        let (status, bytes) = result.map_or((0, None), |(status, bytes)| (status, Some(bytes)));
        self.recorder.record(call.endpoint, intended, status, status != 200);
        let json = bytes.filter(|_| status == 200).and_then(|b| serde_json::from_slice(&b).ok());
        Some(Answer { status, json })
    }

    /// Sends `call` and returns its JSON body when it answered 200.
    pub async fn json(&self, call: Call<'_>, intended: Instant) -> Option<Value> {
        self.send(call, intended).await.and_then(|answer| answer.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn latency_counts_from_the_intended_time() {
        let start = Instant::now();
        let recorder = Recorder::new(start);
        let intended = Instant::now().checked_sub(Duration::from_millis(300)).unwrap_or(start);
        recorder.record("GET /api/v1/timelines/home", intended, 200, false);
        recorder.record("GET /api/v1/timelines/home", Instant::now(), 0, true);
        let (endpoints, seconds, _) = recorder.take(3);
        let home = &endpoints["GET /api/v1/timelines/home"];
        assert_eq!((home.count, home.errors), (2, 1));
        assert_eq!(home.statuses[&0], 1);
        assert!(home.latency_us.max() >= 300_000, "{}", home.latency_us.max());
        assert_eq!(seconds.len(), 3);
        assert_eq!(seconds.iter().map(|s| s.t).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
