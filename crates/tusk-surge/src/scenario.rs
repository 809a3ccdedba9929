//! Scenario files (TOML): the surge's shape and the behaviour model's parameters.
//!
//! The sign-up curve is stated in real-world terms (new users per hour over the real period,
//! with a daily cycle and spikes at real dates) and mapped onto the run by two factors: time
//! compression (the real period squeezed into `duration` seconds) and `user_scale` (simulated
//! users per real user). The behaviour rates are per simulated user per *run* minute or hour:
//! they are chosen for the machine, not compressed, or a compressed week would post thousands
//! of times per user.
//!
//! Every error names the file, the line and column, and the field (`signups.spikes[1].at`).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

/// The longest run a scenario may ask for, and the longest a smoke scenario (CI) may.
const MAX_DURATION_S: f64 = 3600.0;
const MAX_SMOKE_DURATION_S: f64 = 60.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Seconds the compressed run lasts.
    pub duration: Spanned<f64>,
    pub time: TimeMapping,
    pub signups: SignupCurve,
    pub new_users: NewUsers,
    pub existing_users: ExistingUsers,
    pub probe: Probe,
    pub scrape: ScrapeSettings,
    pub limits: Limits,
}

/// The real-world period and how it maps onto the run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeMapping {
    /// RFC 3339, e.g. `2022-10-27T00:00:00Z`.
    pub start: Spanned<String>,
    pub end: Spanned<String>,
    /// Simulated users per real user (sign-ups and active users alike).
    pub user_scale: Spanned<f64>,
}

/// Real-world new users per hour: `base_per_hour × daily cycle × spikes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupCurve {
    pub base_per_hour: Spanned<f64>,
    /// 0..=1: the daily cycle swings the rate by ± this fraction.
    pub daily_amplitude: Spanned<f64>,
    pub daily_period_hours: Spanned<f64>,
    /// Hour (UTC, 0..24) of the daily cycle's peak.
    pub daily_peak_hour: Spanned<f64>,
    #[serde(default)]
    pub spikes: Vec<Spike>,
}

/// A news day: the rate is multiplied by up to `multiplier`, a Gaussian bump of standard
/// deviation `width_hours` centred on `at`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub at: Spanned<String>,
    pub multiplier: Spanned<f64>,
    pub width_hours: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUsers {
    /// Accounts onboarding suggests (the most followed first).
    pub suggestions: Spanned<u32>,
    /// Zipf exponent of the choice among the suggestions (0 = uniform).
    pub zipf_exponent: Spanned<f64>,
    pub suggested_follows: Spanned<u32>,
    pub random_follows: Spanned<u32>,
    pub home_reads_per_minute: Spanned<f64>,
    pub posts_per_hour: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingUsers {
    /// Real active users at the start and the end of the period (scaled by `user_scale`):
    /// their activity is simulated by the accounts the replay holds.
    pub active_start: Spanned<f64>,
    pub active_end: Spanned<f64>,
    pub home_reads_per_minute: Spanned<f64>,
    pub posts_per_hour: Spanned<f64>,
    /// Accounts signed up through the API before the run when no `--seed-manifest` is given.
    pub setup_accounts: Spanned<u32>,
    /// Follows each of them makes among the others (Zipf-skewed, so a few become popular).
    pub setup_follows: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Seconds between probe posts.
    pub interval: Spanned<f64>,
    /// Followers of the probe author whose home timelines are polled.
    pub followers: Spanned<u32>,
    /// Seconds after which a post not yet seen everywhere counts as a timeout.
    pub timeout: Spanned<f64>,
    /// Milliseconds between polls of one follower's home.
    pub poll_ms: Spanned<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSettings {
    /// Seconds between scrapes of every admin target's `/metrics`.
    pub interval: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Seconds before a request counts as a timeout (status 0).
    pub request_timeout: Spanned<f64>,
    /// Requests in flight at most; more wait (and their wait counts in their latency).
    pub max_in_flight: Spanned<u32>,
}

/// A scenario checked and ready to run.
#[derive(Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    spikes: Vec<(f64, f64, f64)>,
    /// `replay --duration`: the same period squeezed into other run seconds (a soak replays the
    /// week over 10 minutes instead of 5); the behaviour rates stay per run second.
    duration_override: Option<f64>,
}

/// Line and column (1-based) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

/// The dotted key of the line an error points at: the last `[table]` header above it and the
/// key before `=` on the line itself.
fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |nl| nl + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let key = line.split_once('=').map(|(key, _)| key.trim().trim_matches('"').to_owned());
    let table = source[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
            .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
            .map(|t| t.trim().to_owned())
    });
    match (table, key) {
        (Some(table), Some(key)) if !key.is_empty() => Some(format!("{table}.{key}")),
        (None, Some(key)) if !key.is_empty() => Some(key),
        (Some(table), _) => Some(table),
        _ => None,
    }
}

struct Checker<'a> {
    path: &'a str,
    source: &'a str,
    errors: Vec<String>,
}

impl Checker<'_> {
    fn fail(&mut self, span: Range<usize>, field: &str, message: &str) {
        let (line, column) = line_col(self.source, span.start);
        self.errors.push(format!("{}:{line}:{column}: `{field}` {message}", self.path));
    }

    fn range(&mut self, value: &Spanned<f64>, field: &str, min: f64, max: f64, inclusive_min: bool) {
        let v = *value.get_ref();
        let low_ok = if inclusive_min { v >= min } else { v > min };
        if !v.is_finite() || !low_ok || v > max {
            let low = if inclusive_min { "≥" } else { ">" };
            let high = if max.is_finite() { format!(" and ≤ {max}") } else { String::new() };
            self.fail(value.span(), field, &format!("is {v}: must be {low} {min}{high}"));
        }
    }

    fn non_negative(&mut self, value: &Spanned<f64>, field: &str) {
        self.range(value, field, 0.0, f64::INFINITY, true);
    }

    fn positive(&mut self, value: &Spanned<f64>, field: &str) {
        self.range(value, field, 0.0, f64::INFINITY, false);
    }

    fn date(&mut self, value: &Spanned<String>, field: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(value.get_ref()) {
            Ok(date) => Some(date.with_timezone(&Utc)),
            Err(e) => {
                self.fail(
                    value.span(),
                    field,
                    &format!(
                        "is {:?}: not an RFC 3339 date such as 2022-10-27T00:00:00Z ({e})",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read scenario {}: {e}", path.display()))?;
    parse(&path.display().to_string(), &source)
}

/// Parses and checks a scenario; `path` only names it in errors.
pub fn parse(path: &str, source: &str) -> anyhow::Result<Loaded> {
    let scenario: Scenario = toml::from_str(source).map_err(|e| {
        let message = e.message().trim().to_owned();
        match e.span() {
            Some(span) => {
                let (line, column) = line_col(source, span.start);
                let field = key_at(source, span.start).map(|k| format!("`{k}`: ")).unwrap_or_default();
                anyhow::anyhow!("{path}:{line}:{column}: {field}{message}")
            }
            None => anyhow::anyhow!("{path}: {message}"),
        }
    })?;
    let mut check = Checker { path, source, errors: Vec::new() };
    check_scenario(&mut check, &scenario);
    let start = check.date(&scenario.time.start, "time.start");
    let end = check.date(&scenario.time.end, "time.end");
    let mut spikes = Vec::new();
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            check.fail(scenario.time.end.span(), "time.end", "must be after `time.start`");
        }
        for (i, spike) in scenario.signups.spikes.iter().enumerate() {
            let field = format!("signups.spikes[{i}].at");
            if let Some(at) = check.date(&spike.at, &field) {
                if at < start || at > end {
                    check.fail(
                        spike.at.span(),
                        &field,
                        &format!("is {at}: outside the scenario's period ({start} to {end})"),
                    );
                }
                let hours = (at - start).num_seconds() as f64 / 3600.0;
                spikes.push((hours, *spike.multiplier.get_ref(), *spike.width_hours.get_ref()));
            }
        }
    }
    if !check.errors.is_empty() {
        let mut message = format!("invalid scenario {path}:");
        for error in &check.errors {
            let _ = write!(message, "\n  {error}");
        }
        anyhow::bail!(message);
    }
    let (Some(start), Some(end)) = (start, end) else { anyhow::bail!("invalid scenario {path}") };
    Ok(Loaded { scenario, path: path.to_owned(), start, end, spikes, duration_override: None })
}

fn check_scenario(check: &mut Checker<'_>, s: &Scenario) {
    if s.name.get_ref().trim().is_empty() {
        check.fail(s.name.span(), "name", "is empty");
    }
    let is_smoke = s.name.get_ref() == "smoke"
        || Path::new(check.path).file_stem().is_some_and(|stem| stem.to_string_lossy().contains("smoke"));
    let max = if is_smoke { MAX_SMOKE_DURATION_S } else { MAX_DURATION_S };
    check.range(&s.duration, "duration", 0.0, max, false);
    check.range(&s.time.user_scale, "time.user_scale", 0.0, 1.0, false);

    let c = &s.signups;
    check.non_negative(&c.base_per_hour, "signups.base_per_hour");
    check.range(&c.daily_amplitude, "signups.daily_amplitude", 0.0, 1.0, true);
    check.positive(&c.daily_period_hours, "signups.daily_period_hours");
    check.range(&c.daily_peak_hour, "signups.daily_peak_hour", 0.0, 24.0, true);
    for (i, spike) in c.spikes.iter().enumerate() {
        check.range(&spike.multiplier, &format!("signups.spikes[{i}].multiplier"), 1.0, 1000.0, true);
        check.positive(&spike.width_hours, &format!("signups.spikes[{i}].width_hours"));
    }

    let n = &s.new_users;
    if *n.suggestions.get_ref() == 0 && *n.suggested_follows.get_ref() > 0 {
        check.fail(n.suggestions.span(), "new_users.suggestions", "is 0 but `suggested_follows` is not");
    }
    if n.suggested_follows.get_ref() > n.suggestions.get_ref() {
        check.fail(
            n.suggested_follows.span(),
            "new_users.suggested_follows",
            &format!(
                "is {}: more than the {} suggestions",
                n.suggested_follows.get_ref(),
                n.suggestions.get_ref()
            ),
        );
    }
    check.range(&n.zipf_exponent, "new_users.zipf_exponent", 0.0, 10.0, true);
    check.non_negative(&n.home_reads_per_minute, "new_users.home_reads_per_minute");
    check.non_negative(&n.posts_per_hour, "new_users.posts_per_hour");

    let e = &s.existing_users;
    check.non_negative(&e.active_start, "existing_users.active_start");
    check.non_negative(&e.active_end, "existing_users.active_end");
    check.non_negative(&e.home_reads_per_minute, "existing_users.home_reads_per_minute");
    check.non_negative(&e.posts_per_hour, "existing_users.posts_per_hour");
    if *e.setup_accounts.get_ref() < 2 {
        check.fail(e.setup_accounts.span(), "existing_users.setup_accounts", "must be at least 2");
    }
    if e.setup_follows.get_ref() >= e.setup_accounts.get_ref() {
        check.fail(
            e.setup_follows.span(),
            "existing_users.setup_follows",
            "must be less than `setup_accounts`",
        );
    }

    check.positive(&s.probe.interval, "probe.interval");
    if !(1..=100).contains(s.probe.followers.get_ref()) {
        check.fail(s.probe.followers.span(), "probe.followers", "must be 1 to 100");
    }
    check.range(&s.probe.timeout, "probe.timeout", 0.0, 600.0, false);
    if !(10..=10_000).contains(s.probe.poll_ms.get_ref()) {
        check.fail(s.probe.poll_ms.span(), "probe.poll_ms", "must be 10 to 10000");
    }
    check.range(&s.scrape.interval, "scrape.interval", 0.0, 600.0, false);
    check.range(&s.limits.request_timeout, "limits.request_timeout", 0.0, 600.0, false);
    if *s.limits.max_in_flight.get_ref() == 0 {
        check.fail(s.limits.max_in_flight.span(), "limits.max_in_flight", "must be at least 1");
    }
}

impl Loaded {
    pub fn name(&self) -> &str {
        self.scenario.name.get_ref()
    }

    pub fn duration_s(&self) -> f64 {
        self.duration_override.unwrap_or(*self.scenario.duration.get_ref())
    }

    /// The same scenario run over `seconds` instead of its own `duration`, within the limits a
    /// scenario file has.
    pub fn with_duration(mut self, seconds: f64) -> anyhow::Result<Self> {
        if !(seconds > 0.0 && seconds <= MAX_DURATION_S) {
            anyhow::bail!(
                "--duration must be more than 0 and at most {MAX_DURATION_S} seconds, not {seconds}"
            );
        }
        self.duration_override = Some(seconds);
        Ok(self)
    }

    /// Real seconds per run second.
    pub fn compression(&self) -> f64 {
        (self.end - self.start).num_seconds() as f64 / self.duration_s()
    }

    fn user_scale(&self) -> f64 {
        *self.scenario.time.user_scale.get_ref()
    }

    /// Real-world new users per hour, `hours` after the period's start.
    pub fn real_rate_per_hour(&self, hours: f64) -> f64 {
        let c = &self.scenario.signups;
        let hour_of_day = (self.start.timestamp() as f64 / 3600.0 + hours).rem_euclid(24.0);
        let period = *c.daily_period_hours.get_ref();
        let phase = (hour_of_day - c.daily_peak_hour.get_ref()) / period * std::f64::consts::TAU;
        let daily = 1.0 + c.daily_amplitude.get_ref() * phase.cos();
        let spikes: f64 = self
            .spikes
            .iter()
            .map(|(at, multiplier, width)| {
                let z = (hours - at) / width;
                1.0 + (multiplier - 1.0) * (-0.5 * z * z).exp()
            })
            .product();
        c.base_per_hour.get_ref() * daily * spikes
    }

    /// Simulated sign-ups per run second, at run time `t` seconds.
    pub fn signup_rate(&self, t: f64) -> f64 {
        let hours = t * self.compression() / 3600.0;
        self.real_rate_per_hour(hours) / 3600.0 * self.compression() * self.user_scale()
    }

    /// Sign-ups the run should see, and the real-world total they stand for.
    pub fn expected_signups(&self) -> (f64, f64) {
        let steps = (self.duration_s() * 10.0).ceil().max(1.0) as u32;
        let dt = self.duration_s() / f64::from(steps);
        let run: f64 = (0..steps).map(|i| self.signup_rate((f64::from(i) + 0.5) * dt) * dt).sum();
        (run, run / self.user_scale())
    }

    /// Active existing users simulated at run time `t`.
    pub fn active_existing(&self, t: f64) -> f64 {
        let e = &self.scenario.existing_users;
        let f = (t / self.duration_s()).clamp(0.0, 1.0);
        (e.active_start.get_ref() + (e.active_end.get_ref() - e.active_start.get_ref()) * f)
            * self.user_scale()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../loadtests/scenarios/smoke.toml"))
            .unwrap()
    }

    fn error(source: &str) -> String {
        format!("{:#}", parse("bad.toml", source).unwrap_err())
    }

    #[test]
    fn the_shipped_scenarios_load() {
        for name in ["smoke", "nov-2022-exodus"] {
            let path = format!("{}/../../loadtests/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            let loaded = load(Path::new(&path)).unwrap();
            assert_eq!(loaded.name(), name);
            // the curve stands for the published 199,430 new users (±10 %)
            let (run, real) = loaded.expected_signups();
            assert!((real - 199_430.0).abs() < 19_943.0, "{name}: {real} real sign-ups");
            assert!(run >= 10.0, "{name}: {run} sign-ups in the run");
            let peak =
                (0..loaded.duration_s() as u32).map(|t| loaded.signup_rate(f64::from(t))).fold(0.0, f64::max);
            assert!(peak < 8.0, "{name}: peak {peak}/s is too much for this machine");
        }
    }

    #[test]
    fn a_longer_duration_keeps_the_period_and_the_sign_up_total() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../loadtests/scenarios/nov-2022-exodus.toml");
        let five = load(Path::new(path)).unwrap();
        let ten = load(Path::new(path)).unwrap().with_duration(600.0).unwrap();
        assert!((ten.duration_s() - 600.0).abs() < f64::EPSILON);
        assert!((ten.compression() * 2.0 - five.compression()).abs() < 1e-6);
        let (run_five, real_five) = five.expected_signups();
        let (run_ten, real_ten) = ten.expected_signups();
        assert!((real_ten - real_five).abs() < 1.0, "{real_ten} vs {real_five}");
        assert!((run_ten - run_five).abs() < run_five * 0.01, "{run_ten} vs {run_five}");
        for bad in [0.0, -5.0, 7200.0, f64::NAN] {
            assert!(load(Path::new(path)).unwrap().with_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn smoke_stays_within_a_minute() {
        let loaded =
            load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../loadtests/scenarios/smoke.toml")))
                .unwrap();
        assert!(loaded.duration_s() <= 60.0);
        let source = example().replace("duration = 40", "duration = 90");
        let message = format!("{:#}", parse("loadtests/scenarios/smoke.toml", &source).unwrap_err());
        assert!(message.contains("loadtests/scenarios/smoke.toml:"), "{message}");
        assert!(message.contains("`duration` is 90: must be > 0 and ≤ 60"), "{message}");
    }

    #[test]
    fn an_unknown_key_names_file_line_and_field() {
        let source = example().replacen("posts_per_hour = 30", "posts_per_hour = 30\npost_per_hour = 3", 1);
        let line = source.lines().position(|l| l.starts_with("post_per_hour")).unwrap() + 1;
        let message = error(&source);
        assert!(
            message.starts_with(&format!("bad.toml:{line}:1: `new_users.post_per_hour`: unknown field")),
            "{message}"
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_and_field() {
        let source = example().replace("duration = 40", "duration = \"forty\"");
        let line = source.lines().position(|l| l.starts_with("duration")).unwrap() + 1;
        let message = error(&source);
        assert!(message.starts_with(&format!("bad.toml:{line}:12: `duration`: invalid type")), "{message}");
    }

    #[test]
    fn a_missing_table_is_named() {
        let source = example().replace("[scrape]", "[scrapes]");
        assert!(error(&source).contains("scrape"), "{}", error(&source));
    }

    #[test]
    fn semantic_errors_name_every_field_and_line() {
        let source = example()
            .replace("home_reads_per_minute = 6", "home_reads_per_minute = -1")
            .replace("at = \"2022-10-28T18:00:00Z\"", "at = \"2022-12-25T00:00:00Z\"")
            .replace("daily_amplitude = 0.5", "daily_amplitude = 1.5");
        let message = error(&source);
        let line_of = |needle: &str| source.lines().position(|l| l.contains(needle)).unwrap() + 1;
        assert!(message.starts_with("invalid scenario bad.toml:"), "{message}");
        assert!(
            message.contains(&format!(
                "bad.toml:{}:25: `new_users.home_reads_per_minute` is -1: must be ≥ 0",
                line_of("home_reads_per_minute = -1")
            )),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "bad.toml:{}:6: `signups.spikes[1].at` is 2022-12-25 00:00:00 UTC: outside the scenario's period",
                line_of("2022-12-25")
            )),
            "{message}"
        );
        assert!(message.contains("`signups.daily_amplitude` is 1.5: must be ≥ 0 and ≤ 1"), "{message}");
    }

    #[test]
    fn a_bad_date_is_named() {
        let source = example().replace("start = \"2022-10-27T00:00:00Z\"", "start = \"27 Oct 2022\"");
        let message = error(&source);
        assert!(message.contains("`time.start` is \"27 Oct 2022\": not an RFC 3339 date"), "{message}");
    }

    #[test]
    fn spikes_multiply_the_curve_and_the_cycle_peaks_on_time() {
        // without the 1 Nov spike, whose tail reaches into the last day
        let loaded = parse("smoke.toml", &example().replace("multiplier = 2.0", "multiplier = 1.0")).unwrap();
        // 28 Oct 18:00, the top of the biggest spike, against the same hour two days later
        let spike = loaded.real_rate_per_hour(42.0);
        let calm = loaded.real_rate_per_hour(90.0);
        assert!(spike > 2.9 * calm && spike < 3.1 * calm, "{spike} vs {calm}");
        let peak_hour = *loaded.scenario.signups.daily_peak_hour.get_ref();
        let base = *loaded.scenario.signups.base_per_hour.get_ref();
        let amplitude = *loaded.scenario.signups.daily_amplitude.get_ref();
        // the last day, far from every spike: the daily cycle alone
        let at_peak = loaded.real_rate_per_hour(6.0 * 24.0 + peak_hour);
        assert!((at_peak - base * (1.0 + amplitude)).abs() < base * 0.01, "{at_peak}");
        let trough = loaded.real_rate_per_hour(6.0 * 24.0 + peak_hour - 12.0);
        assert!((trough - base * (1.0 - amplitude)).abs() < base * 0.02, "{trough}");
    }
}
