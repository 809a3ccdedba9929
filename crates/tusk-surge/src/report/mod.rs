//! The report of a run: `summary.json`, `report.html` (self-contained) and PNG charts, plus a
//! summary table on the terminal.

mod charts;
mod html;
mod summary;

use std::path::Path;

use anyhow::Context as _;

use crate::autoscale::{ChartAutoscaling, ReplayParams, replay};
use crate::run::RunData;

/// Writes `summary.json`, `report.html` and the PNG charts into `out_dir` (created if missing)
/// and prints the summary table to the terminal. The autoscalers are replayed with the chart's
/// defaults, evaluated every 15 s of run time.
pub fn write(run: &RunData, out_dir: &Path) -> anyhow::Result<()> {
    write_with(run, out_dir, &ChartAutoscaling::default(), &ReplayParams::default())
}

/// [`write`] with other autoscaler targets or replay parameters (e.g. a shorter evaluation step
/// for a time-compressed run).
pub fn write_with(
    run: &RunData,
    out_dir: &Path,
    chart: &ChartAutoscaling,
    params: &ReplayParams,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let summary = summary::summarize(run, replay(run, chart, params));

    let json = serde_json::to_string_pretty(&summary)?;
    let path = out_dir.join("summary.json");
    std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;

    let charts = charts::write_all(run, &summary, out_dir).context("drawing the charts")?;
    let page = html::render(&summary, &charts, out_dir)?;
    let path = out_dir.join("report.html");
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;

    println!("{}", summary::table(&summary));
    println!("report: {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use base64::Engine as _;

    use crate::run::{EndpointStats, LagSample, Role, RunData, Sample, Scrape, Second};

    const HOME: &str = "GET /api/v1/timelines/home";
    const SIGNUP: &str = "POST /api/v1/accounts";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const CHARTS: [&str; 7] = [
        "requests.png",
        "latency.png",
        "signups.png",
        "queues.png",
        "memory.png",
        "fanout_lag.png",
        "replicas.png",
    ];

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tusk-surge-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn empty_run() -> RunData {
        RunData {
            scenario: "synthetic".into(),
            scenario_path: "loadtests/scenarios/synthetic.toml".into(),
            started_at: chrono::Utc::now(),
            elapsed_s: 0.0,
            planned_s: 60.0,
            interrupted: false,
            targets: vec!["http://127.0.0.1:3000".into()],
            admin_targets: vec![],
            endpoints: BTreeMap::new(),
            seconds: vec![],
            signups: 0,
            fanout_lag: vec![],
            scrapes: vec![],
            fanout_lag_timeouts: vec![],
        }
    }

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            value,
        }
    }

    fn record(stats: &mut EndpointStats, latency_us: u64, status: u16, error: bool) {
        stats.count += 1;
        stats.errors += u64::from(error);
        *stats.statuses.entry(status).or_default() += 1;
        stats.latency_us.record(latency_us).unwrap();
    }

    /// 90 s: home read 10/s at 1..10 ms (one 503 every 10 s), sign-ups 2/s at 100 ms; api and
    /// worker scraped every 2 s; tusk.deliver holds 1,500 messages throughout.
    fn synthetic_run() -> RunData {
        let mut run = empty_run();
        run.elapsed_s = 90.0;
        run.planned_s = 90.0;
        run.admin_targets = vec!["http://127.0.0.1:9100".into(), "http://127.0.0.1:9101".into()];
        for t in 0..90_u32 {
            let mut second = Second { t, ..Second::default() };
            let home = second.endpoints.entry(HOME.into()).or_default();
            for ms in 1..=10_u64 {
                let error = ms == 10 && t % 10 == 0;
                record(home, ms * 1000, if error { 503 } else { 200 }, error);
            }
            let signup = second.endpoints.entry(SIGNUP.into()).or_default();
            record(signup, 100_000, 200, false);
            record(signup, 100_000, 200, false);
            second.signups = 2;
            for (name, stats) in &second.endpoints {
                let total = run.endpoints.entry(name.clone()).or_default();
                total.count += stats.count;
                total.errors += stats.errors;
                for (status, n) in &stats.statuses {
                    *total.statuses.entry(*status).or_default() += n;
                }
                total.latency_us.add(&stats.latency_us).unwrap();
            }
            run.signups += 2;
            run.seconds.push(second);
        }
        for k in 0..=45_u32 {
            let t = f64::from(k) * 2.0;
            run.scrapes.push(Scrape {
                t,
                target: "http://127.0.0.1:9100".into(),
                role: Role::Api,
                samples: vec![
                    sample("process_cpu_seconds_total", &[], 50.0 + 0.1 * t),
                    sample(
                        "process_resident_memory_bytes",
                        &[],
                        if k == 20 { 120.0 } else { 100.0 } * 1_048_576.0,
                    ),
                    sample("tusk_http_requests_total", &[("route", "/api/v1/timelines/home")], 10.0 * t),
                    sample("tusk_http_requests_total", &[("route", "/api/v1/accounts")], 2.0 * t),
                ],
            });
            run.scrapes.push(Scrape {
                t: t + 1.0,
                target: "http://127.0.0.1:9101".into(),
                role: Role::Worker,
                samples: vec![
                    sample("process_resident_memory_bytes", &[], 50.0 * 1_048_576.0),
                    sample("tusk_queue_messages_ready", &[("queue", "tusk.fanout")], f64::from(k % 5) * 10.0),
                    sample("tusk_queue_messages_ready", &[("queue", "tusk.deliver")], 1500.0),
                    sample("tusk_queue_messages_ready", &[("queue", "tusk.deliver.parked")], 0.0),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "0.5")], 3.0 * t),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "1")], 4.0 * t),
                    sample("tusk_fanout_lag_seconds_bucket", &[("le", "+Inf")], 4.0 * t),
                ],
            });
        }
        run.fanout_lag = (1..=10)
            .map(|i| LagSample { t: f64::from(i) * 8.0, lag_ms: f64::from(i) * 100.0, followers_checked: 5 })
            .collect();
        run.fanout_lag_timeouts = vec![85.0];
        run
    }

    fn read_json(dir: &std::path::Path) -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Within HDR's 3 significant digits.
    fn near(v: &serde_json::Value, expected: f64) -> bool {
        v.as_f64().is_some_and(|x| (x - expected).abs() <= 2e-3 * expected.abs())
    }

    fn close(v: &serde_json::Value, expected: f64) -> bool {
        v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-6 * expected.abs().max(1.0))
    }

    #[test]
    fn writes_every_file_with_the_expected_numbers() {
        let dir = temp_dir("full");
        super::write(&synthetic_run(), &dir).unwrap();

        let json = read_json(&dir);
        let home = &json["endpoints"][HOME];
        assert_eq!(home["count"], 900);
        assert_eq!(home["errors"], 9);
        assert!(close(&home["error_rate"], 0.01));
        assert!(close(&home["rate_per_s"], 10.0));
        assert!(near(&home["latency_ms"]["p50"], 5.0), "{home}");
        assert!(near(&home["latency_ms"]["p90"], 9.0), "{home}");
        assert!(near(&home["latency_ms"]["p99"], 10.0), "{home}");
        assert!(near(&home["latency_ms"]["max"], 10.0), "{home}");
        assert_eq!(home["statuses"]["503"], 9);
        assert_eq!(json["endpoints"][SIGNUP]["count"], 180);
        assert_eq!(json["totals"]["count"], 1080);
        assert_eq!(json["totals"]["errors"], 9);
        assert!(close(&json["totals"]["rate_per_s"], 12.0));
        assert!(near(&json["totals"]["latency_ms"]["max"], 100.0), "{}", json["totals"]);

        let signups = &json["signups"];
        assert_eq!(signups["total"], 180);
        assert!(close(&signups["per_s_mean"], 2.0));
        assert_eq!(signups["peak_per_minute"], 120);
        assert!(close(&signups["per_s_peak_minute"], 2.0));
        assert_eq!(signups["per_minute"], serde_json::json!([120, 60]));

        let lag = &json["fanout_lag"];
        assert_eq!(lag["samples"], 10);
        assert_eq!(lag["timeouts"], 1);
        assert!(close(&lag["p50_ms"], 500.0) && close(&lag["p90_ms"], 900.0));
        assert!(close(&lag["p99_ms"], 1000.0) && close(&lag["max_ms"], 1000.0));

        assert!(close(&json["queue_depth_max"]["tusk.deliver"], 1500.0));
        assert!(close(&json["queue_depth_max"]["tusk.fanout"], 40.0));
        assert!(close(&json["queue_depth_max"]["tusk.deliver.parked"], 0.0));
        assert!(close(&json["rss_max_bytes"]["api"], 120.0 * 1_048_576.0));
        assert!(close(&json["rss_max_bytes"]["worker"], 50.0 * 1_048_576.0));
        // the api's one 120 MiB sample (t = 40 s) is in both its first and its last minute
        let api = &json["rss_trend"]["api"];
        assert!(close(&api["first_minute_mib"], (29.0 * 100.0 + 120.0) / 30.0), "{api}");
        assert!(close(&api["last_minute_mib"], (30.0 * 100.0 + 120.0) / 31.0), "{api}");
        let worker = &json["rss_trend"]["worker"];
        assert!(close(&worker["first_minute_mib"], 50.0) && close(&worker["last_minute_mib"], 50.0));
        assert!(close(&worker["second_half_slope_mib_per_min"], 0.0), "{worker}");

        // 1,500 ready deliveries ask for 15 workers: 2 → 6 → 12 → 15, one step per 15 s
        let worker = &json["autoscaling"]["worker"];
        assert_eq!(worker["max_recommended"], 15);
        let counts: Vec<u64> =
            worker["points"].as_array().unwrap().iter().map(|p| p["replicas"].as_u64().unwrap()).collect();
        assert_eq!(counts, vec![2, 6, 12, 15, 15, 15, 15]);
        // 12 req/s and 0.1 core keep the api at its minimum
        assert_eq!(json["autoscaling"]["api"]["max_recommended"], 2);
        assert!(close(&json["autoscaling"]["api"]["points"][1]["metrics"]["requests_per_second"], 12.0));
        assert!(close(&json["autoscaling"]["params"]["step_s"], 15.0));
        assert_eq!(json["autoscaling"]["chart"]["worker"]["max_replicas"], 30);

        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        for chart in CHARTS {
            let png = std::fs::read(dir.join(chart)).unwrap();
            assert!(png.starts_with(PNG), "{chart} is not a PNG");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
            assert!(html.contains(&format!("data:image/png;base64,{encoded}")), "{chart} is not in the page");
        }
        assert_eq!(html.matches("data:image/png;base64,").count(), CHARTS.len());
        assert!(!html.contains("No data"), "every section has data");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external request");
        assert!(!html.contains("Interrupted"));
        // TUSK_SURGE_KEEP_REPORT=1 keeps the synthetic report to look at
        if std::env::var_os("TUSK_SURGE_KEEP_REPORT").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn an_empty_run_still_gets_a_report() {
        let dir = temp_dir("empty");
        let mut run = empty_run();
        run.interrupted = true;
        super::write(&run, &dir).unwrap();
        let json = read_json(&dir);
        assert_eq!(json["totals"]["count"], 0);
        assert!(json["totals"]["latency_ms"]["p99"].is_null());
        assert!(json["fanout_lag"]["p99_ms"].is_null());
        assert!(json["autoscaling"]["api"].is_null());
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(html.contains("Interrupted"));
        assert_eq!(html.matches("No data").count(), 6, "{html}");
        assert!(!html.contains("data:image/png"));
        for chart in CHARTS {
            assert!(!dir.join(chart).exists());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_single_second_with_one_scrape_per_tier() {
        let dir = temp_dir("single");
        let mut run = empty_run();
        run.elapsed_s = 1.0;
        let mut second = Second::default();
        record(second.endpoints.entry(HOME.into()).or_default(), 2500, 200, false);
        run.endpoints = second.endpoints.clone();
        run.seconds.push(second);
        for (role, target) in [(Role::Api, "a"), (Role::Worker, "w")] {
            run.scrapes.push(Scrape {
                t: 0.5,
                target: target.into(),
                role,
                samples: vec![
                    sample("tusk_queue_messages_ready", &[("queue", "tusk.fanout")], 3.0),
                    sample("process_resident_memory_bytes", &[], 40.0 * 1_048_576.0),
                ],
            });
        }
        run.fanout_lag.push(LagSample { t: 0.2, lag_ms: 12.0, followers_checked: 1 });
        super::write(&run, &dir).unwrap();
        let json = read_json(&dir);
        assert!(near(&json["endpoints"][HOME]["latency_ms"]["p50"], 2.5));
        assert!(close(&json["endpoints"][HOME]["rate_per_s"], 1.0));
        // one evaluation at the end; a rate needs two scrapes, so the api has no metric
        let api = &json["autoscaling"]["api"]["points"];
        assert_eq!(api.as_array().unwrap().len(), 2);
        assert!(api[1]["metric_desired"].is_null());
        assert_eq!(json["autoscaling"]["worker"]["points"][1]["metric_desired"], 1);
        // one memory sample: a trend without a slope
        assert!(close(&json["rss_trend"]["api"]["last_minute_mib"], 40.0));
        assert!(close(&json["rss_trend"]["api"]["second_half_slope_mib_per_min"], 0.0));
        for chart in CHARTS {
            assert!(std::fs::read(dir.join(chart)).unwrap().starts_with(PNG), "{chart}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
