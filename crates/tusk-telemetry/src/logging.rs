//! Logs and traces, installed together as one `tracing` subscriber:
//! - logs go to stdout as JSON lines (or pretty), filtered by `RUST_LOG` (default `info`), each line
//!   inside a request or job carrying its `trace_id`;
//! - spans go to OpenTelemetry. Every process makes trace ids (so logs correlate and the W3C trace
//!   context travels through RabbitMQ), and exports them over OTLP/HTTP only when the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and
//!   `OTEL_SDK_DISABLED` is not `true`. The exporter reads the other `OTEL_EXPORTER_OTLP_*`
//!   variables itself (headers, timeout), the resource `OTEL_SERVICE_NAME` and
//!   `OTEL_RESOURCE_ATTRIBUTES`.

use std::fmt;

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::fmt::format::{DefaultFields, Format, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    #[default]
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("unknown log format {other:?} (json or pretty)")),
        }
    }
}

/// Where spans go.
pub enum SpanSink<E> {
    /// OTLP when the `OTEL_*` environment asks for it, nowhere otherwise.
    FromEnvironment,
    /// Each span handed to `E` as it ends (tests).
    Exporter(E),
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes the spans not yet exported.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "span export not flushed");
        }
    }
}

/// Installs logs and traces for a process named `service` (`tusk-api`, `tusk-worker`, …) with the
/// exporter the environment asks for. `None` if a subscriber was installed before.
pub fn init_telemetry(format: LogFormat, service: &str) -> Option<Telemetry> {
    init_with::<opentelemetry_otlp::SpanExporter, _>(
        format,
        service,
        SpanSink::FromEnvironment,
        std::io::stdout,
    )
}

/// [`init_telemetry`] with the span sink and the log writer given (tests capture both).
pub fn init_with<E, W>(format: LogFormat, service: &str, sink: SpanSink<E>, writer: W) -> Option<Telemetry>
where
    E: SpanExporter + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service.to_owned());
    }
    let mut provider = SdkTracerProvider::builder().with_resource(resource.build());
    match sink {
        SpanSink::Exporter(exporter) => provider = provider.with_simple_exporter(exporter),
        SpanSink::FromEnvironment => {
            if let Some(exporter) = otlp_from_environment() {
                provider = provider.with_batch_exporter(exporter);
            }
        }
    }
    let provider = provider.build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer("tusk");

    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceId(Format::default().json().flatten_event(true).with_current_span(false)))
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .fmt_fields(DefaultFields::new())
            .event_format(WithTraceId(Format::default()))
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
    };
    // Spans are traced at info and above, whatever RUST_LOG says about the logs. Entering a span
    // happens on every poll of an instrumented future, so that path is kept lean: no busy/idle
    // timing, no thread or code-location attributes, and no OpenTelemetry context attached on
    // entry (propagation reads a span's context explicitly). With them, span bookkeeping took a
    // fifth of the worker's CPU in `tusk-surge bench fanout`.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry().with(logs).with(traces).try_init().ok()?;
    Some(Telemetry { provider })
}

fn otlp_from_environment() -> Option<opentelemetry_otlp::SpanExporter> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if disabled || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        return None;
    }
    use opentelemetry_otlp::WithExportConfig as _;
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => Some(exporter),
        Err(error) => {
            eprintln!("OTLP span export off: {error}");
            None
        }
    }
}

/// The trace id of the span the caller is in, as 32 hex digits; `None` outside any span.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Formats an event with the inner format and adds the current trace id: a `trace_id` field in
/// JSON, a `trace_id=…` prefix in the pretty format.
struct WithTraceId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let Some(trace_id) = current_trace_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}"),
            None => write!(writer, "trace_id={trace_id} {line}"),
        }
    }
}
