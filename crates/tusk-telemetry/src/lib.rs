//! What operators see: logs, the Prometheus registry with Tusk's metric contract, and the
//! admin server (`/healthz`, `/readyz`, `/metrics`) every process runs.

mod admin;
mod logging;
mod metrics;

pub use admin::{Readiness, ReadinessCheck, admin_router};
pub use logging::{LogFormat, init_logging};
pub use metrics::Metrics;
