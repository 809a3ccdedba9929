//! The counters of the rate limits, in Redis so that every api replica shares them.

use tusk_cache::RateWindow;

use crate::{Result, Service};

impl Service {
    /// Counts one request in `window`; answers how many it holds now.
    pub async fn rate_hit(&self, window: RateWindow<'_>) -> Result<u64> {
        Ok(self.cache().rate_hit(window).await?)
    }

    /// How many requests `window` holds, without counting one.
    pub async fn rate_count(&self, window: RateWindow<'_>) -> Result<u64> {
        Ok(self.cache().rate_count(window).await?)
    }
}
