//! PNG charts of a run (plotters' bitmap backend; text in the bundled DejaVu Sans, so no
//! system font is needed).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::summary::{Summary, duration_s, merge, rss_series};
use crate::run::{Role, RunData, latency_histogram};

/// DejaVu Sans (assets/DejaVuSans-LICENSE.txt: free to embed and redistribute).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
/// The plot is 810 × 450 px, with the legend column on its right.
const SIZE: (u32, u32) = (1100, 480);

/// Colours that stay apart on white (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(214, 39, 40),
];
const ERRORS: RGBColor = RGBColor(214, 39, 40);

/// One chart written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    /// The report section it belongs to (see `html`).
    pub section: &'static str,
    pub file: &'static str,
    pub title: &'static str,
}

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(anyhow!("the bundled font did not load")) }
}

fn de(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

type Ctx<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

struct Frame<'s> {
    title: &'s str,
    x_desc: &'s str,
    y_desc: &'s str,
    x_max: f64,
    y_max: f64,
}

/// A readable upper bound for an axis: 10 % headroom, at least `floor`.
fn headroom(max: f64, floor: f64) -> f64 {
    if max.is_finite() && max > 0.0 { (max * 1.1).max(floor) } else { floor }
}

fn axis_label(v: f64, range: f64) -> String {
    if range >= 20.0 || (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if range >= 2.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A legend entry, drawn in the column right of the plot (never over the data).
enum Key {
    Line(String, RGBColor, u32),
    Bar(String, RGBColor),
    Dot(String, RGBColor),
    Cross(String, RGBColor),
}

const LEGEND_WIDTH: u32 = 270;

fn legend_label(label: &str) -> String {
    const MAX: usize = 36;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

/// Draws the frame (caption, axes with their units), then `draw`, then the legend it returns.
fn plot(
    path: &Path,
    frame: &Frame<'_>,
    draw: impl FnOnce(&mut Ctx<'_, '_>) -> anyhow::Result<Vec<Key>>,
) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(de)?;
    let root = root.titled(frame.title, (FAMILY, 22)).map_err(de)?;
    let (left, right) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let (x_max, y_max) = (frame.x_max, frame.y_max);
    let mut chart = ChartBuilder::on(&left)
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(de)?;
    let x_fmt = |v: &f64| axis_label(*v, x_max);
    let y_fmt = |v: &f64| axis_label(*v, y_max);
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(de)?;
    let keys = draw(&mut chart)?;
    let text = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, key) in keys.iter().enumerate() {
        let y = 30 + 24 * i as i32;
        let label = match key {
            Key::Line(label, color, width) => {
                right
                    .draw(&PathElement::new(vec![(8, y), (34, y)], color.stroke_width(*width)))
                    .map_err(de)?;
                label
            }
            Key::Bar(label, color) => {
                right
                    .draw(&Rectangle::new([(8, y - 7), (34, y + 7)], color.mix(0.35).filled()))
                    .map_err(de)?;
                label
            }
            Key::Dot(label, color) => {
                right.draw(&Circle::new((21, y), 4, color.filled())).map_err(de)?;
                label
            }
            Key::Cross(label, color) => {
                right.draw(&Cross::new((21, y), 5, color.stroke_width(2))).map_err(de)?;
                label
            }
        };
        right.draw(&Text::new(legend_label(label), (42, y), text.clone())).map_err(de)?;
    }
    root.present().map_err(de)?;
    Ok(())
}

fn line(
    chart: &mut Ctx<'_, '_>,
    keys: &mut Vec<Key>,
    points: Vec<(f64, f64)>,
    label: &str,
    color: RGBColor,
    width: u32,
) -> anyhow::Result<()> {
    chart.draw_series(LineSeries::new(points, color.stroke_width(width))).map_err(de)?;
    keys.push(Key::Line(label.to_owned(), color, width));
    Ok(())
}

const TIME: &str = "time since start (s)";

/// Writes every chart there is data for into `dir`; returns them in report order.
pub fn write_all(run: &RunData, summary: &Summary, dir: &Path) -> anyhow::Result<Vec<Chart>> {
    let mut charts = Vec::new();
    let x_max = duration_s(run).max(run.seconds.iter().map(|s| f64::from(s.t) + 1.0).fold(1.0, f64::max));
    let x_max = x_max.max(run.scrapes.iter().map(|s| s.t).fold(0.0, f64::max)).max(1.0);

    if run.seconds.iter().any(|s| s.endpoints.values().any(|e| e.count > 0)) {
        let chart = Chart { section: "requests", file: "requests.png", title: "Request rate" };
        requests(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
        let chart =
            Chart { section: "requests", file: "latency.png", title: "Latency percentiles, all endpoints" };
        latency(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    if !run.seconds.is_empty() {
        let chart = Chart { section: "signups", file: "signups.png", title: "Sign-ups per minute" };
        signups(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    if !summary.queue_depth_max.is_empty() {
        let chart = Chart { section: "queues", file: "queues.png", title: "Queue depth (ready messages)" };
        queues(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    if !run.fanout_lag.is_empty() || !run.fanout_lag_timeouts.is_empty() {
        let chart = Chart { section: "lag", file: "fanout_lag.png", title: "Fan-out lag (probe)" };
        lag(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    if summary.rss_max_bytes.api.is_some() || summary.rss_max_bytes.worker.is_some() {
        let chart = Chart { section: "memory", file: "memory.png", title: "Resident memory (RSS)" };
        memory(run, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    if summary.autoscaling.api.is_some() || summary.autoscaling.worker.is_some() {
        let chart = Chart { section: "autoscaling", file: "replicas.png", title: "Recommended replicas" };
        replicas(summary, x_max, &dir.join(chart.file), chart.title)?;
        charts.push(chart);
    }
    Ok(charts)
}

fn requests(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    // the busiest endpoints get a line each, the rest are summed as "other"
    let mut by_count: Vec<(&String, u64)> = run.endpoints.iter().map(|(n, e)| (n, e.count)).collect();
    for second in &run.seconds {
        for name in second.endpoints.keys() {
            if !by_count.iter().any(|(n, _)| *n == name) {
                by_count.push((name, 0));
            }
        }
    }
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&String> = by_count.iter().take(7).map(|(n, _)| *n).collect();
    let mut lines: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    let mut other = Vec::new();
    let mut total = Vec::new();
    let mut errors = Vec::new();
    for second in &run.seconds {
        let t = f64::from(second.t);
        let mut rest = 0;
        for (i, name) in shown.iter().enumerate() {
            let n = second.endpoints.get(*name).map_or(0, |e| e.count);
            lines.entry(i).or_default().push((t, n as f64));
        }
        for (name, e) in &second.endpoints {
            if !shown.contains(&name) {
                rest += e.count;
            }
        }
        other.push((t, rest as f64));
        total.push((t, second.endpoints.values().map(|e| e.count).sum::<u64>() as f64));
        errors.push((t, second.endpoints.values().map(|e| e.errors).sum::<u64>() as f64));
    }
    let y_max = headroom(total.iter().map(|p| p.1).fold(0.0, f64::max), 5.0);
    let frame = Frame { title, x_desc: TIME, y_desc: "requests per second", x_max, y_max };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        line(chart, &mut keys, total, "all endpoints", BLACK, 2)?;
        for (i, points) in lines {
            line(chart, &mut keys, points, shown[i], PALETTE[i % PALETTE.len()], 1)?;
        }
        if other.iter().any(|p| p.1 > 0.0) {
            line(chart, &mut keys, other, "other endpoints", PALETTE[7], 1)?;
        }
        line(chart, &mut keys, errors, "errors", ERRORS, 2)?;
        Ok(keys)
    })
}

fn latency(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    let mut series: [Vec<(f64, f64)>; 3] = Default::default();
    for second in &run.seconds {
        let mut all = latency_histogram();
        for e in second.endpoints.values() {
            merge(&mut all, &e.latency_us);
        }
        if all.is_empty() {
            continue;
        }
        for (points, q) in series.iter_mut().zip([0.50, 0.90, 0.99]) {
            points.push((f64::from(second.t), all.value_at_quantile(q) as f64 / 1000.0));
        }
    }
    let y_max = headroom(series[2].iter().map(|p| p.1).fold(0.0, f64::max), 1.0);
    let frame = Frame { title, x_desc: TIME, y_desc: "latency (ms, from intended send)", x_max, y_max };
    let [p50, p90, p99] = series;
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        line(chart, &mut keys, p50, "p50", PALETTE[0], 2)?;
        line(chart, &mut keys, p90, "p90", PALETTE[1], 2)?;
        line(chart, &mut keys, p99, "p99", ERRORS, 2)?;
        Ok(keys)
    })
}

fn signups(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    // bars: sign-ups in each minute; line: the per-second rate (10 s moving average) × 60
    let mut minutes: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
    for second in &run.seconds {
        let minute = minutes.entry(second.t / 60).or_default();
        minute.0 += second.signups;
        minute.1 = minute.1.max(second.t % 60 + 1);
    }
    let mut rate = Vec::new();
    for (i, second) in run.seconds.iter().enumerate() {
        let window = &run.seconds[i.saturating_sub(9)..=i];
        let sum: u64 = window.iter().map(|s| s.signups).sum();
        rate.push((f64::from(second.t), sum as f64 / window.len() as f64 * 60.0));
    }
    let bar_max = minutes.values().map(|m| m.0 as f64).fold(0.0, f64::max);
    let y_max = headroom(bar_max.max(rate.iter().map(|p| p.1).fold(0.0, f64::max)), 5.0);
    let frame = Frame { title, x_desc: TIME, y_desc: "sign-ups per minute", x_max, y_max };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        let fill = PALETTE[0].mix(0.35).filled();
        chart
            .draw_series(minutes.iter().map(|(m, (n, covered))| {
                let start = f64::from(*m) * 60.0;
                Rectangle::new([(start + 0.5, 0.0), (start + f64::from(*covered) - 0.5, *n as f64)], fill)
            }))
            .map_err(de)?;
        keys.push(Key::Bar("sign-ups in the minute".into(), PALETTE[0]));
        line(chart, &mut keys, rate, "rate (10 s average) × 60", PALETTE[1], 2)?;
        Ok(keys)
    })
}

fn memory(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    let api = rss_series(&run.scrapes, |r| matches!(r, Role::Api | Role::All));
    let worker = rss_series(&run.scrapes, |r| matches!(r, Role::Worker | Role::All));
    let y_max = headroom(api.iter().chain(&worker).map(|p| p.1).fold(0.0, f64::max), 16.0);
    let frame = Frame { title, x_desc: TIME, y_desc: "MiB (largest process of the tier)", x_max, y_max };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        line(chart, &mut keys, api, "api", PALETTE[0], 2)?;
        line(chart, &mut keys, worker, "worker", PALETTE[1], 2)?;
        Ok(keys)
    })
}

fn queues(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    // (queue, target) → points; several workers sample the same queue, so each keeps its line
    let mut series: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut scrapes: Vec<_> = run.scrapes.iter().collect();
    scrapes.sort_by(|a, b| a.t.total_cmp(&b.t));
    for scrape in scrapes {
        let mut seen: BTreeMap<&str, f64> = BTreeMap::new();
        for sample in scrape.samples.iter().filter(|s| s.name == "tusk_queue_messages_ready") {
            if let (Some(queue), true) = (sample.labels.get("queue"), sample.value.is_finite()) {
                let v = seen.entry(queue).or_insert(sample.value);
                *v = v.max(sample.value);
            }
        }
        for (queue, v) in seen {
            series.entry(queue).or_default().push((scrape.t, v));
        }
    }
    let y_max = headroom(series.values().flatten().map(|p| p.1).fold(0.0, f64::max), 5.0);
    let frame = Frame { title, x_desc: TIME, y_desc: "ready messages", x_max, y_max };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        for (i, (queue, points)) in series.into_iter().enumerate() {
            let width = if queue.ends_with(".fanout") || queue.ends_with(".deliver") { 2 } else { 1 };
            line(chart, &mut keys, points, queue, PALETTE[i % PALETTE.len()], width)?;
        }
        Ok(keys)
    })
}

fn lag(run: &RunData, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    let points: Vec<(f64, f64)> = run
        .fanout_lag
        .iter()
        .filter(|s| s.t.is_finite() && s.lag_ms.is_finite())
        .map(|s| (s.t, s.lag_ms))
        .collect();
    let y_max = headroom(points.iter().map(|p| p.1).fold(0.0, f64::max), 1.0);
    let frame = Frame {
        title,
        x_desc: "post accepted at (s since start)",
        y_desc: "lag to followers' home (ms)",
        x_max,
        y_max,
    };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        let style = PALETTE[0].filled();
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style))).map_err(de)?;
        keys.push(Key::Dot("probe sample".into(), PALETTE[0]));
        if !run.fanout_lag_timeouts.is_empty() {
            // timed-out probes sit on the top edge: their lag is at least the timeout
            let top = y_max / 1.1 * 1.05;
            let style = ERRORS.stroke_width(2);
            chart
                .draw_series(
                    run.fanout_lag_timeouts
                        .iter()
                        .filter(|t| t.is_finite())
                        .map(|&t| Cross::new((t, top), 5, style)),
                )
                .map_err(de)?;
            keys.push(Key::Cross("timed out (lag ≥ probe timeout)".into(), ERRORS));
        }
        Ok(keys)
    })
}

fn replicas(summary: &Summary, x_max: f64, path: &Path, title: &str) -> anyhow::Result<()> {
    let a = &summary.autoscaling;
    let tiers: Vec<(String, &crate::autoscale::TierReplay, RGBColor)> = [
        a.api.as_ref().map(|t| (format!("api ({}-{})", t.min_replicas, t.max_replicas), t, PALETTE[0])),
        a.worker.as_ref().map(|t| (format!("worker ({}-{})", t.min_replicas, t.max_replicas), t, PALETTE[1])),
    ]
    .into_iter()
    .flatten()
    .collect();
    let top = tiers.iter().map(|t| f64::from(t.1.max_recommended)).fold(0.0, f64::max);
    let y_max = (top + 2.0).ceil();
    let frame = Frame {
        title,
        x_desc: TIME,
        y_desc: "replicas (HPA replay)",
        x_max: x_max.max(tiers.iter().flat_map(|t| &t.1.points).map(|p| p.t).fold(0.0, f64::max)),
        y_max,
    };
    plot(path, &frame, |chart| {
        let mut keys = Vec::new();
        for (label, tier, color) in tiers {
            // a step line: the count holds until the next evaluation
            let mut points = Vec::new();
            for (i, p) in tier.points.iter().enumerate() {
                if i > 0 {
                    points.push((p.t, f64::from(tier.points[i - 1].replicas)));
                }
                points.push((p.t, f64::from(p.replicas)));
            }
            if let Some(last) = tier.points.last() {
                points.push((x_max.max(last.t), f64::from(last.replicas)));
            }
            line(chart, &mut keys, points, &label, color, 3)?;
        }
        Ok(keys)
    })
}
