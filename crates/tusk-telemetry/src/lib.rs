//! What operators see: logs and traces, the Prometheus registry with Tusk's metric contract, and the
//! admin server (`/healthz`, `/readyz`, `/metrics`) every process runs.

mod admin;
mod logging;
mod metrics;
mod propagation;

pub use admin::{OnDependencyDown, Readiness, ReadinessCheck, admin_router};
pub use logging::{LogFormat, SpanSink, Telemetry, current_trace_id, init_telemetry, init_with};
pub use metrics::{JobOutcome, MediaKindLabel, MediaOutcome, Metrics, OutboxPublisher, SignupOutcome};
pub use propagation::{continue_trace, current_trace_headers};
