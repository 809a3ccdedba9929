//! The metric contract (DESIGN.md): dashboards, alerts and autoscalers use these names.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every Tusk metric, registered in one registry per process (per test app in tests).
#[derive(Clone, Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests_total: IntCounterVec,
    pub http_request_duration_seconds: HistogramVec,
    pub http_requests_in_flight: IntGauge,
    pub signups_total: IntCounterVec,
    /// Requests answered 503 at once, without being served, by route class (`signup`, `auth`,
    /// `write`, `read`, `streaming`): the class was at its concurrency limit, or the argon2
    /// line was full.
    pub http_shed_total: IntCounterVec,
    /// Requests that ran past `TUSK_REQUEST_TIMEOUT_MS` and were answered 503, by route class.
    pub http_timeouts_total: IntCounterVec,
    pub statuses_created_total: IntCounter,
    pub queue_messages_ready: IntGaugeVec,
    pub jobs_total: IntCounterVec,
    pub jobs_parked_total: IntCounterVec,
    pub job_duration_seconds: HistogramVec,
    pub fanout_deliveries_total: IntCounter,
    pub fanout_lag_seconds: Histogram,
    /// Notifications written, by type.
    pub notifications_total: IntCounterVec,
    pub outbox_pending: IntGauge,
    pub outbox_published_total: IntCounterVec,
    pub feed_regenerations_total: IntCounter,
    pub streaming_connections: IntGauge,
    /// Uploads processed by the workers, by kind (`image`, `gifv`, `video`, `avatar`,
    /// `header`) and outcome (`ok`, `failed`: refused bytes, told to the client).
    pub media_processed_total: IntCounterVec,
    /// Time to process one upload, by kind.
    pub media_processing_seconds: HistogramVec,
    /// 1, labelled with the version and the role (`api`, `worker`, `all`): replicas per tier are
    /// `count by (role) (tusk_build_info)`, and an absent role is an alert.
    pub build_info: IntGaugeVec,
    /// 1 or 0 per dependency (`postgres`, `redis`, `rabbitmq`) as this process sees it.
    pub dependency_up: IntGaugeVec,
}

/// Declares the values of one metric label as an enum, so that the series are created at zero
/// from the same list that the code counts with (a misspelt label cannot compile).
macro_rules! label_values {
    ($(#[$meta:meta])* $name:ident { $( $variant:ident = $value:literal ),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $( $variant, )+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$( Self::$variant, )+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value, )+
                }
            }
        }
    };
}

label_values! {
    /// `outcome` of `tusk_signups_total`.
    SignupOutcome { Created = "created", Invalid = "invalid", Error = "error" }
}

label_values! {
    /// `publisher` of `tusk_outbox_published_total`: the api right after its commit, or the
    /// workers' relay later.
    OutboxPublisher { Api = "api", Relay = "relay" }
}

label_values! {
    /// `kind` of `tusk_media_processed_total` and `tusk_media_processing_seconds`.
    MediaKindLabel { Image = "image", Gifv = "gifv", Video = "video", Avatar = "avatar", Header = "header" }
}

label_values! {
    /// `outcome` of `tusk_media_processed_total`.
    MediaOutcome { Ok = "ok", Failed = "failed" }
}

label_values! {
    /// `outcome` of `tusk_jobs_total`.
    JobOutcome { Ok = "ok", Error = "error" }
}

/// Request latencies: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Media processing: 10 ms (a small image) to 10 minutes (a long video on a busy core).
const MEDIA_BUCKETS: &[f64] =
    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0];
/// Fan-out lag: from 5 ms to 5 minutes (a backed-up queue).
const LAG_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

impl Metrics {
    // one declaration per metric: the whole contract reads top to bottom in one place
    #[allow(clippy::too_many_lines)]
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let metrics = Self {
            http_requests_total: IntCounterVec::new(
                Opts::new("tusk_http_requests_total", "HTTP requests answered, by route pattern"),
                &["route", "method", "status"],
            )?,
            http_request_duration_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "tusk_http_request_duration_seconds",
                    "HTTP request latency, by route pattern",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route", "method"],
            )?,
            http_requests_in_flight: IntGauge::new(
                "tusk_http_requests_in_flight",
                "HTTP requests being served",
            )?,
            signups_total: IntCounterVec::new(
                Opts::new("tusk_signups_total", "Sign-up attempts, by outcome"),
                &["outcome"],
            )?,
            http_shed_total: IntCounterVec::new(
                Opts::new(
                    "tusk_http_shed_total",
                    "Requests answered 503 at once because their route class was at its limit",
                ),
                &["class"],
            )?,
            http_timeouts_total: IntCounterVec::new(
                Opts::new(
                    "tusk_http_timeouts_total",
                    "Requests answered 503 after running past the deadline",
                ),
                &["class"],
            )?,
            statuses_created_total: IntCounter::new("tusk_statuses_created_total", "Statuses accepted")?,
            notifications_total: IntCounterVec::new(
                Opts::new("tusk_notifications_total", "Notifications written, by type"),
                &["type"],
            )?,
            queue_messages_ready: IntGaugeVec::new(
                Opts::new(
                    "tusk_queue_messages_ready",
                    "Messages ready in a RabbitMQ queue, sampled by workers",
                ),
                &["queue"],
            )?,
            jobs_total: IntCounterVec::new(
                Opts::new("tusk_jobs_total", "Queue jobs processed, by job and outcome"),
                &["job", "outcome"],
            )?,
            jobs_parked_total: IntCounterVec::new(
                Opts::new("tusk_jobs_parked_total", "Messages parked after failing every retry, by queue"),
                &["queue"],
            )?,
            job_duration_seconds: HistogramVec::new(
                HistogramOpts::new("tusk_job_duration_seconds", "Queue job run time")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["job"],
            )?,
            fanout_deliveries_total: IntCounter::new(
                "tusk_fanout_deliveries_total",
                "Statuses written into home feeds (one per feed)",
            )?,
            fanout_lag_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "tusk_fanout_lag_seconds",
                    "Time from a status's creation to its delivery into follower feeds",
                )
                .buckets(LAG_BUCKETS.to_vec()),
            )?,
            outbox_pending: IntGauge::new(
                "tusk_outbox_pending",
                "Outbox events not yet published to RabbitMQ",
            )?,
            outbox_published_total: IntCounterVec::new(
                Opts::new("tusk_outbox_published_total", "Outbox events published, by who published them"),
                &["publisher"],
            )?,
            feed_regenerations_total: IntCounter::new(
                "tusk_feed_regenerations_total",
                "Home feeds rebuilt from PostgreSQL because Redis had none",
            )?,
            streaming_connections: IntGauge::new(
                "tusk_streaming_connections",
                "Open streaming connections (WebSocket and SSE) on this replica",
            )?,
            media_processed_total: IntCounterVec::new(
                Opts::new(
                    "tusk_media_processed_total",
                    "Uploads processed by the workers, by kind and outcome",
                ),
                &["kind", "outcome"],
            )?,
            media_processing_seconds: HistogramVec::new(
                HistogramOpts::new("tusk_media_processing_seconds", "Time to process one upload, by kind")
                    .buckets(MEDIA_BUCKETS.to_vec()),
                &["kind"],
            )?,
            build_info: IntGaugeVec::new(
                Opts::new("tusk_build_info", "Always 1: the version and role of this process"),
                &["version", "role"],
            )?,
            dependency_up: IntGaugeVec::new(
                Opts::new("tusk_dependency_up", "Whether this process reaches a dependency (1) or not (0)"),
                &["dependency"],
            )?,
            registry,
        };
        metrics.register_all()?;
        Ok(metrics)
    }

    pub fn signups(&self, outcome: SignupOutcome) -> IntCounter {
        self.signups_total.with_label_values(&[outcome.as_str()])
    }

    pub fn outbox_published(&self, publisher: OutboxPublisher) -> IntCounter {
        self.outbox_published_total.with_label_values(&[publisher.as_str()])
    }

    /// `tusk_notifications_total` of one type.
    pub fn notifications(&self, kind: &str) -> IntCounter {
        self.notifications_total.with_label_values(&[kind])
    }

    /// `tusk_media_processed_total` of one kind and outcome.
    pub fn media_processed(&self, kind: MediaKindLabel, outcome: MediaOutcome) -> IntCounter {
        self.media_processed_total.with_label_values(&[kind.as_str(), outcome.as_str()])
    }

    /// One processed upload: counted by kind and outcome, its time by kind.
    pub fn record_media(&self, kind: MediaKindLabel, outcome: MediaOutcome, took: std::time::Duration) {
        self.media_processed(kind, outcome).inc();
        self.media_processing_seconds.with_label_values(&[kind.as_str()]).observe(took.as_secs_f64());
    }

    /// `tusk_jobs_total` of one job and outcome.
    pub fn jobs(&self, job: &str, outcome: JobOutcome) -> IntCounter {
        self.jobs_total.with_label_values(&[job, outcome.as_str()])
    }

    fn register_all(&self) -> prometheus::Result<()> {
        let r = &self.registry;
        r.register(Box::new(self.http_requests_total.clone()))?;
        r.register(Box::new(self.http_request_duration_seconds.clone()))?;
        r.register(Box::new(self.http_requests_in_flight.clone()))?;
        r.register(Box::new(self.signups_total.clone()))?;
        r.register(Box::new(self.http_shed_total.clone()))?;
        r.register(Box::new(self.http_timeouts_total.clone()))?;
        r.register(Box::new(self.statuses_created_total.clone()))?;
        r.register(Box::new(self.queue_messages_ready.clone()))?;
        r.register(Box::new(self.jobs_total.clone()))?;
        r.register(Box::new(self.job_duration_seconds.clone()))?;
        r.register(Box::new(self.jobs_parked_total.clone()))?;
        r.register(Box::new(self.fanout_deliveries_total.clone()))?;
        r.register(Box::new(self.fanout_lag_seconds.clone()))?;
        r.register(Box::new(self.notifications_total.clone()))?;
        r.register(Box::new(self.outbox_pending.clone()))?;
        r.register(Box::new(self.outbox_published_total.clone()))?;
        r.register(Box::new(self.feed_regenerations_total.clone()))?;
        r.register(Box::new(self.streaming_connections.clone()))?;
        r.register(Box::new(self.media_processed_total.clone()))?;
        r.register(Box::new(self.media_processing_seconds.clone()))?;
        r.register(Box::new(self.build_info.clone()))?;
        r.register(Box::new(self.dependency_up.clone()))?;
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        // every labelled series that dashboards, rules and autoscalers read exists from the
        // start, at zero, rather than after its first event
        for outcome in SignupOutcome::ALL {
            self.signups(*outcome);
        }
        for publisher in OutboxPublisher::ALL {
            self.outbox_published(*publisher);
        }
        for kind in MediaKindLabel::ALL {
            for outcome in MediaOutcome::ALL {
                self.media_processed(*kind, *outcome);
            }
            self.media_processing_seconds.with_label_values(&[kind.as_str()]);
        }
        Ok(())
    }

    /// Marks this process as running `role` (`api`, `worker` or `all`) in `tusk_build_info`.
    pub fn set_role(&self, role: &str) {
        self.build_info.with_label_values(&[env!("CARGO_PKG_VERSION"), role]).set(1);
    }

    /// The registry in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names_are_exposed() {
        let metrics = Metrics::new().unwrap();
        metrics.http_requests_total.with_label_values(&["/api/v1/instance", "GET", "200"]).inc();
        metrics.http_request_duration_seconds.with_label_values(&["/api/v1/instance", "GET"]).observe(0.01);
        metrics.signups(SignupOutcome::Created).inc();
        metrics.http_shed_total.with_label_values(&["signup"]).inc();
        metrics.http_timeouts_total.with_label_values(&["read"]);
        metrics.queue_messages_ready.with_label_values(&["tusk.fanout"]).set(3);
        metrics.jobs("fanout", JobOutcome::Ok).inc();
        metrics.job_duration_seconds.with_label_values(&["fanout"]).observe(0.1);
        metrics.outbox_published(OutboxPublisher::Api).inc();
        let text = metrics.render();
        for name in [
            "tusk_http_requests_total{method=\"GET\",route=\"/api/v1/instance\",status=\"200\"} 1",
            "tusk_http_request_duration_seconds_bucket",
            "tusk_http_requests_in_flight",
            "tusk_signups_total{outcome=\"created\"} 1",
            // created at zero with the registry
            "tusk_signups_total{outcome=\"invalid\"} 0",
            "tusk_outbox_published_total{publisher=\"relay\"} 0",
            "tusk_http_shed_total{class=\"signup\"} 1",
            "tusk_http_timeouts_total{class=\"read\"} 0",
            "tusk_statuses_created_total",
            "tusk_queue_messages_ready{queue=\"tusk.fanout\"} 3",
            "tusk_jobs_total{job=\"fanout\",outcome=\"ok\"} 1",
            "tusk_job_duration_seconds_bucket",
            "tusk_fanout_deliveries_total",
            "tusk_fanout_lag_seconds_bucket",
            "tusk_outbox_pending",
            "tusk_feed_regenerations_total",
            "process_resident_memory_bytes",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
