//! argon2id on N dedicated threads: at most N hashes at once, the rest wait their turn. Own
//! threads rather than tokio's blocking pool, so a sign-up flood neither grows that pool nor
//! takes more than N cores from the reads (the `tusk` binary's allocator, mimalloc, returns each
//! hash's 19 MiB block afterwards; see crates/tusk/src/main.rs).

use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tusk_core::Password;

use crate::ApiError;

/// Hash jobs waiting for a thread before a sign-up's request waits to even enqueue.
const QUEUE: usize = 1024;

/// The argon2id hasher every password goes through, with its parameters (the crate's defaults:
/// argon2id v19, 19 MiB, 2 passes, 1 lane); `tusk-surge bench signup` measures against it.
pub fn password_hasher() -> Argon2<'static> {
    Argon2::default()
}

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct PasswordHasher {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the hasher is dropped.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
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
        Self { jobs }
    }

    /// Runs `work` on a hashing thread and returns its result.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .await
            .map_err(|_| ApiError::internal("the password hashing threads stopped"))?;
        result.await.map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.run(move || {
            password_hasher()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(ApiError::internal)
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string; a malformed hash never matches.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        self.run(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|parsed| password_hasher().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}
