//! argon2id on N dedicated threads: at most N hashes at once. Own threads rather than tokio's
//! blocking pool, so a sign-up flood neither grows that pool nor takes more than N cores from
//! the reads (the `tusk` binary's allocator, mimalloc, returns each hash's 19 MiB block
//! afterwards; see crates/tusk/src/main.rs).
//!
//! The line in front of the threads is short, and never waited for: each kind of job (hashes
//! for sign-ups, checks for sign-ins) may have [`JOBS_PER_THREAD`] × N jobs queued or running,
//! and one more is answered 503 with `Retry-After` at once. A client retries that; a request
//! that waited behind a flood would only time out later, holding memory meanwhile. Each kind has
//! its own share of the line, so a sign-up flood fills only the sign-ups' share: a sign-in is
//! never refused because of sign-ups, and waits behind at most that many hashes.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use prometheus::IntCounter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tusk_core::Password;
use tusk_telemetry::Metrics;

use crate::{Result, ServiceError};

/// Jobs of one kind queued or running per hashing thread; one argon2 run takes tens of ms, so
/// a full share is served within a fraction of a second.
const JOBS_PER_THREAD: usize = 4;

const BUSY: &str = "Too many passwords are being checked; retry shortly";

/// The argon2id hasher every password goes through; its parameters live in the domain crate, so
/// the load tester hashes as the api does without depending on it.
pub use tusk_core::password_hasher;

type Job = Box<dyn FnOnce() + Send>;

/// The two kinds of job, each with its own share of the line.
#[derive(Clone, Copy)]
enum Kind {
    /// A sign-up's hash.
    Hash,
    /// A sign-in's check.
    Verify,
}

/// One kind's places in line, and the counter of the requests it turned away.
struct Share {
    places: Arc<Semaphore>,
    shed: IntCounter,
}

pub struct PasswordHasher {
    /// Unbounded, as the shares bound what is in it.
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    hashes: Share,
    checks: Share,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the hasher is dropped. Turned-away jobs
    /// count in `tusk_http_shed_total`, class `signup` (hashes) or `auth` (checks).
    pub fn new(threads: usize, metrics: &Metrics) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                loop {
                    // one thread waits in `blocking_recv` holding the lock, the others wait for it
                    let job = queue.lock().map_or(None, |mut queue| queue.blocking_recv());
                    match job {
                        Some(job) => job(),
                        None => return,
                    }
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "password hashing thread not started");
            }
        }
        let share = |class: &str| Share {
            places: Arc::new(Semaphore::new(threads * JOBS_PER_THREAD)),
            shed: metrics.http_shed_total.with_label_values(&[class]),
        };
        Self { jobs, hashes: share("signup"), checks: share("auth") }
    }

    /// Puts `work` in line if its kind has a place left, at once; its result comes on the
    /// receiver. The place is given back before the result is sent.
    fn submit<T: Send + 'static>(
        &self,
        kind: Kind,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>> {
        let share = match kind {
            Kind::Hash => &self.hashes,
            Kind::Verify => &self.checks,
        };
        let Ok(place): Result<OwnedSemaphorePermit, _> = Arc::clone(&share.places).try_acquire_owned() else {
            share.shed.inc();
            return Err(ServiceError::Overloaded(BUSY));
        };
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let outcome = work();
                drop(place);
                let _ = done.send(outcome);
            }))
            .map_err(|_| ServiceError::internal("the password hashing threads stopped"))?;
        Ok(result)
    }

    /// Runs `work` on a hashing thread and returns its result.
    async fn run<T: Send + 'static>(
        &self,
        kind: Kind,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        self.submit(kind, work)?.await.map_err(ServiceError::internal)
    }

    pub async fn hash(&self, password: Password) -> Result<String> {
        self.run(Kind::Hash, move || {
            password_hasher()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(ServiceError::internal)
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string; a malformed hash never matches.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool> {
        self.run(Kind::Verify, move || {
            PasswordHash::new(&hash)
                .is_ok_and(|parsed| password_hasher().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_share_answers_at_once_and_spares_the_other_kind() {
        let metrics = Metrics::new().unwrap();
        let hasher = PasswordHasher::new(1, &metrics);
        // the only thread is busy with a hash until released
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let first = hasher.submit(Kind::Hash, move || blocked.recv().is_ok()).unwrap();
        let queued: Vec<_> =
            (1..JOBS_PER_THREAD).map(|_| hasher.submit(Kind::Hash, || true).unwrap()).collect();
        // the sign-ups' share is full: one more is refused without waiting
        let refused = hasher.submit(Kind::Hash, || true);
        assert!(matches!(refused, Err(ServiceError::Overloaded(_))), "not refused");
        assert_eq!(metrics.http_shed_total.with_label_values(&["signup"]).get(), 1);
        // a sign-in still gets a place in line
        let check = hasher.submit(Kind::Verify, || true).unwrap();
        release.send(()).unwrap();
        assert!(first.await.unwrap());
        for job in queued {
            assert!(job.await.unwrap());
        }
        assert!(check.await.unwrap());
        assert_eq!(metrics.http_shed_total.with_label_values(&["auth"]).get(), 0);
        // every place is back
        let again: Vec<_> =
            (0..JOBS_PER_THREAD).map(|_| hasher.submit(Kind::Hash, || true).unwrap()).collect();
        for job in again {
            assert!(job.await.unwrap());
        }
    }

    #[tokio::test]
    async fn hashes_verify() {
        let hasher = PasswordHasher::new(1, &Metrics::new().unwrap());
        let hash = hasher.hash(Password::parse("correct horse battery").unwrap()).await.unwrap();
        assert!(hasher.verify("correct horse battery".into(), hash.clone()).await.unwrap());
        assert!(!hasher.verify("wrong horse battery".into(), hash).await.unwrap());
        assert!(!hasher.verify("x".into(), "not a hash".into()).await.unwrap());
    }
}
