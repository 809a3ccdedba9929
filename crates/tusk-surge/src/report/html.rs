//! `report.html`: one self-contained page (no external requests), charts inline as data URIs.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::charts::Chart;
use super::summary::{EndpointSummary, RssTrend, Summary, mib, ms};
use crate::autoscale::TierReplay;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1060px;\
color:#222;padding:0 1em}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
table{border-collapse:collapse;margin:.8em 0}th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f5f5f5}img{max-width:100%;display:block;margin:1em 0;\
border:1px solid #eee}.nodata{color:#777;font-style:italic}.warn{background:#fff3cd;border:1px solid #e0c36a;\
padding:.6em 1em}.meta td{text-align:left}code{background:#f5f5f5;padding:0 .2em}";

pub use tusk_core::html::escape;

fn no_data(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"nodata\">No data: {}.</p>", escape(what));
}

fn images(out: &mut String, charts: &[Chart], section: &str, dir: &Path) -> anyhow::Result<()> {
    for chart in charts.iter().filter(|c| c.section == section) {
        let png = std::fs::read(dir.join(chart.file))?;
        let _ = writeln!(
            out,
            "<img alt=\"{}\" title=\"{}\" src=\"data:image/png;base64,{}\">",
            escape(chart.title),
            escape(chart.file),
            STANDARD.encode(png)
        );
    }
    Ok(())
}

fn endpoint_row(out: &mut String, name: &str, e: &EndpointSummary, bold: bool) {
    let (open, close) = if bold { ("<b>", "</b>") } else { ("", "") };
    let _ = writeln!(
        out,
        "<tr><td>{open}{}{close}</td><td>{}</td><td>{}</td><td>{:.2} %</td><td>{:.1}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr>",
        escape(name),
        e.count,
        e.errors,
        e.error_rate * 100.0,
        e.rate_per_s,
        ms(e.latency_ms.p50),
        ms(e.latency_ms.p90),
        ms(e.latency_ms.p99),
        ms(e.latency_ms.max)
    );
}

fn tier_row(out: &mut String, name: &str, tier: Option<&TierReplay>, targets: &str) {
    match tier {
        Some(t) => {
            let last = t.points.last().map_or(t.min_replicas, |p| p.replicas);
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td>{}–{}</td><td>{}</td><td>{last}</td><td>{}</td><td>{}</td></tr>",
                t.min_replicas,
                t.max_replicas,
                t.max_recommended,
                t.points.len().saturating_sub(1),
                escape(targets)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td colspan=\"5\" class=\"nodata\">no data (no target of this tier scraped)</td></tr>"
            );
        }
    }
}

#[allow(clippy::too_many_lines)] // one page, section by section
pub fn render(summary: &Summary, charts: &[Chart], dir: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    let title = format!("Tusk surge report: {}", summary.scenario);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    if summary.interrupted {
        let _ = writeln!(
            out,
            "<p class=\"warn\"><b>Interrupted:</b> the run stopped after {:.0} s of the {:.0} s planned; \
             this report covers what ran.</p>",
            summary.elapsed_s, summary.planned_s
        );
    }
    let _ = writeln!(
        out,
        "<table class=\"meta\"><tr><th>scenario</th><td>{} (<code>{}</code>)</td></tr>\
         <tr><th>started</th><td>{}</td></tr><tr><th>ran</th><td>{:.1} s of {:.1} s planned</td></tr>\
         <tr><th>api targets</th><td>{}</td></tr><tr><th>scraped</th><td>{}</td></tr></table>",
        escape(&summary.scenario),
        escape(&summary.scenario_path),
        escape(&summary.started_at),
        summary.elapsed_s,
        summary.planned_s,
        escape(&summary.targets.join(", ")),
        escape(&summary.admin_targets.join(", "))
    );

    let _ = writeln!(out, "<h2 id=\"requests\">Requests</h2>");
    if summary.totals.count == 0 {
        no_data(&mut out, "no request was sent");
    } else {
        let _ = writeln!(
            out,
            "<table><tr><th>endpoint</th><th>count</th><th>errors</th><th>error rate</th><th>req/s</th>\
             <th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>"
        );
        for (name, e) in &summary.endpoints {
            endpoint_row(&mut out, name, e, false);
        }
        endpoint_row(&mut out, "total", &summary.totals, true);
        let _ = writeln!(
            out,
            "</table><p>Latency is measured from each request's intended send time (open loop).</p>"
        );
        images(&mut out, charts, "requests", dir)?;
    }

    let _ = writeln!(out, "<h2 id=\"signups\">Sign-ups</h2>");
    let s = &summary.signups;
    if charts.iter().any(|c| c.section == "signups") {
        let _ = writeln!(
            out,
            "<table><tr><th>total</th><th>mean per second</th><th>peak minute</th><th>peak minute per second</th></tr>\
             <tr><td>{}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td></tr></table>",
            s.total, s.per_s_mean, s.peak_per_minute, s.per_s_peak_minute
        );
        images(&mut out, charts, "signups", dir)?;
    } else {
        no_data(&mut out, "no second of load was recorded");
    }

    let _ = writeln!(out, "<h2 id=\"lag\">Fan-out lag</h2>");
    let l = &summary.fanout_lag;
    if l.samples == 0 && l.timeouts == 0 {
        no_data(&mut out, "the probe measured no fan-out");
    } else {
        let _ = writeln!(
            out,
            "<p>From a post's acceptance to its appearance in sampled followers' home timelines.</p>\
             <table><tr><th>samples</th><th>timed out</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th>\
             <th>max ms</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            l.samples,
            l.timeouts,
            ms(l.p50_ms),
            ms(l.p90_ms),
            ms(l.p99_ms),
            ms(l.max_ms)
        );
        images(&mut out, charts, "lag", dir)?;
    }

    let _ = writeln!(out, "<h2 id=\"queues\">Queues</h2>");
    if summary.queue_depth_max.is_empty() {
        no_data(&mut out, "no worker reported tusk_queue_messages_ready");
    } else {
        let _ = writeln!(out, "<table><tr><th>queue</th><th>max ready messages</th></tr>");
        for (queue, depth) in &summary.queue_depth_max {
            let _ = writeln!(out, "<tr><td>{}</td><td>{depth:.0}</td></tr>", escape(queue));
        }
        let _ = writeln!(out, "</table>");
        images(&mut out, charts, "queues", dir)?;
    }

    let _ = writeln!(out, "<h2 id=\"memory\">Memory</h2>");
    let r = &summary.rss_max_bytes;
    if r.api.is_none() && r.worker.is_none() {
        no_data(&mut out, "no process_resident_memory_bytes was scraped");
    } else {
        let _ = writeln!(
            out,
            "<table><tr><th>tier</th><th>max RSS</th><th>first minute</th><th>last minute</th>\
             <th>slope, second half</th></tr>{}{}</table>",
            rss_row("api", r.api, summary.rss_trend.api),
            rss_row("worker", r.worker, summary.rss_trend.worker)
        );
        images(&mut out, charts, "memory", dir)?;
    }

    let _ = writeln!(out, "<h2 id=\"autoscaling\">Autoscaling replay</h2>");
    let a = &summary.autoscaling;
    if a.api.is_none() && a.worker.is_none() {
        no_data(&mut out, "no admin target was scraped, so there is nothing to replay the autoscalers on");
    } else {
        let _ = writeln!(
            out,
            "<p>The replica counts the chart's autoscalers would have asked for, from the metrics scraped \
             during the run (Kubernetes HPA rule: ceil(current × metric / target), 10 % tolerance, scale-up \
             by the larger of +100 % or +4 pods per 15 s, scale-down after a 300 s stabilisation window by at \
             most 20 % a minute), evaluated every {} s of run time, starting at minReplicas. The run's load \
             is taken as what the whole tier would see.</p>",
            a.params.step_s
        );
        let _ = writeln!(
            out,
            "<table><tr><th>tier</th><th>range</th><th>max recommended</th><th>at the end</th>\
             <th>evaluations</th><th>targets</th></tr>"
        );
        let api_targets = format!(
            "CPU {} % of {} core; {} req/s per pod",
            a.chart.api.target_cpu_utilization_pct,
            a.chart.api.cpu_request_cores,
            a.chart.api.target_requests_per_second
        );
        let worker_targets = format!(
            "{} ready messages per replica in .fanout and .deliver; fan-out lag p99 {} s",
            a.chart.worker.target_queue_length, a.chart.worker.target_fanout_lag_s
        );
        tier_row(&mut out, "api", a.api.as_ref(), &api_targets);
        tier_row(&mut out, "worker", a.worker.as_ref(), &worker_targets);
        let _ = writeln!(out, "</table>");
        images(&mut out, charts, "autoscaling", dir)?;
    }
    let _ =
        writeln!(out, "<p><small>summary.json holds every number on this page.</small></p></body></html>");
    Ok(out)
}

/// One tier's row of the memory table: its peak and whether it levelled off.
fn rss_row(tier: &str, max: Option<f64>, trend: Option<RssTrend>) -> String {
    let (first, last, slope) = trend.map_or_else(
        || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        |t| {
            (
                format!("{:.1} MiB", t.first_minute_mib),
                format!("{:.1} MiB", t.last_minute_mib),
                format!("{:+.2} MiB/min", t.second_half_slope_mib_per_min),
            )
        },
    );
    format!("<tr><td>{tier}</td><td>{}</td><td>{first}</td><td>{last}</td><td>{slope}</td></tr>", mib(max))
}
