//! The W3C trace context (`traceparent`, `tracestate`) across process boundaries: read from HTTP
//! request headers, written into and read from AMQP message headers, so that one trace runs from
//! `POST /api/v1/statuses` through the plan job to every batch job.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The trace context of the span the caller is in, as header name → value pairs.
pub fn current_trace_headers() -> HashMap<String, String> {
    let context = tracing::Span::current().context();
    let mut headers = Headers(HashMap::new());
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut headers);
    });
    headers.0
}

/// Makes `span` a child of the remote span whose trace context `get` reads from headers; a
/// message or request without one leaves `span` a root.
pub fn continue_trace(span: &tracing::Span, get: impl Fn(&str) -> Option<String>) {
    let context = opentelemetry::global::get_text_map_propagator(|propagator| {
        let headers = propagator.fields().filter_map(|name| Some((name.to_owned(), get(name)?))).collect();
        propagator.extract(&Headers(headers))
    });
    let _ = span.set_parent(context);
}

struct Headers(HashMap<String, String>);

impl Injector for Headers {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
