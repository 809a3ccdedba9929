//! The fan-out lag probe: a probe author, followed by accounts only the replay uses, posts
//! every interval; its followers' home timelines are polled (`since_id`) until the post is in
//! each. The lag runs from the post's acceptance (its answer) to its appearance in the last
//! follower checked.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::Api;
use super::model::{self, Account};
use crate::run::LagSample;

pub struct Probe {
    pub author: Account,
    pub followers: Vec<Account>,
}

/// Signs up the probe author and its followers, makes them follow it, and reads each
/// follower's home once so that its feed exists in Redis (a read of a missing feed is rebuilt
/// from PostgreSQL, which would find the post without any fan-out).
pub async fn set_up(api: &Api, tag: &str, followers: u32) -> anyhow::Result<Probe> {
    let author = model::sign_up(api, &format!("{tag}probe"), Instant::now())
        .await
        .ok_or_else(|| anyhow::anyhow!("could not sign up the probe author"))?;
    let mut accounts = Vec::new();
    for i in 0..followers {
        let follower = model::sign_up(api, &format!("{tag}probe{i}"), Instant::now())
            .await
            .ok_or_else(|| anyhow::anyhow!("could not sign up a probe follower"))?;
        if !model::follow(api, &follower, &author.id, Instant::now()).await {
            anyhow::bail!("a probe follower could not follow the probe author");
        }
        accounts.push(follower);
    }
    // the follows' merge jobs run on the worker; then each feed is built once
    tokio::time::sleep(Duration::from_secs(1)).await;
    for follower in &accounts {
        api.send(model::home_call(follower, "?limit=1"), Instant::now()).await;
    }
    Ok(Probe { author, followers: accounts })
}

/// Every `interval` until `end` (or `stop`), one probe post; returns the lag samples and the
/// run times of the posts not seen everywhere within `timeout`.
pub async fn run(
    api: Api,
    probe: Probe,
    interval: Duration,
    timeout: Duration,
    poll: Duration,
    end: Instant,
    stop: CancellationToken,
) -> (Vec<LagSample>, Vec<f64>) {
    let start = api.recorder.start;
    let mut rounds = Vec::new();
    let mut next = start + interval / 2;
    let mut n = 0_u64;
    while next < end && !stop.is_cancelled() {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => break,
        }
        n += 1;
        rounds.push(tokio::spawn(measure(api.clone(), &probe, n, timeout, poll, stop.clone())));
        next += interval;
    }
    let mut samples = Vec::new();
    let mut timeouts = Vec::new();
    for round in rounds {
        match round.await {
            Ok(Some(Ok(sample))) => samples.push(sample),
            Ok(Some(Err(t))) => timeouts.push(t),
            _ => {}
        }
    }
    (samples, timeouts)
}

/// One probe post: `Some(Ok(sample))`, `Some(Err(t))` for a timeout of the post accepted at `t`,
/// `None` when the post failed or the run was stopped.
fn measure(
    api: Api,
    probe: &Probe,
    n: u64,
    timeout: Duration,
    poll: Duration,
    stop: CancellationToken,
) -> impl Future<Output = Option<Result<LagSample, f64>>> + use<> {
    let author = probe.author.clone();
    let followers = probe.followers.clone();
    async move {
        // the probe's own requests are measurement, not load: they stay out of the results
        let quiet = api.recording_into(std::sync::Arc::new(super::client::Recorder::new(api.recorder.start)));
        let posted =
            quiet.json(model::post_call(&author, &format!("fan-out probe {n}")), Instant::now()).await?;
        let accepted = Instant::now();
        let t = accepted.saturating_duration_since(api.recorder.start).as_secs_f64();
        let id = posted["id"].as_str()?.to_owned();
        let since = format!("?since_id={}&limit=40", previous_id(&id));
        let deadline = accepted + timeout;
        let mut waiting: Vec<&Account> = followers.iter().collect();
        while !waiting.is_empty() {
            if Instant::now() > deadline {
                return Some(Err(t));
            }
            let mut still = Vec::new();
            for follower in waiting {
                let page = tokio::select! {
                    page = quiet.json(model::home_call(follower, &since), Instant::now()) => page,
                    () = stop.cancelled() => return None,
                };
                let found = page
                    .as_ref()
                    .and_then(|p| p.as_array())
                    .is_some_and(|statuses| statuses.iter().any(|s| s["id"].as_str() == Some(id.as_str())));
                if !found {
                    still.push(follower);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = stop.cancelled() => return None,
                }
            }
        }
        Some(Ok(LagSample {
            t,
            lag_ms: accepted.elapsed().as_secs_f64() * 1000.0,
            followers_checked: followers.len() as u32,
        }))
    }
}

/// The id just below `id` (ids are numbers in strings), so that `since_id` includes `id`.
fn previous_id(id: &str) -> String {
    id.parse::<u64>().map_or_else(|_| "0".to_owned(), |n| n.saturating_sub(1).to_string())
}
