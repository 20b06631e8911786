//! Finding the label behind a presented API key, with a short cache: the token route is the
//! DS's hot path, and a web application asks for a token per page view.
//!
//! Found keys are cached for `ttl` seconds per process, so a revoked or deleted key stops
//! working within `ttl` on every DS process (`[api_keys] cache_secs`, default 5). Unknown keys
//! are not cached; failures are rate-limited instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::api_keys;
use crate::clock::SharedClock;
use crate::store::{ResolvedKey, Store, StoreError};

/// Entries kept before the cache is emptied.
const MAX_ENTRIES: usize = 10_000;

/// The cached lookup.
#[derive(Debug)]
pub struct KeyLookup {
    store: Arc<dyn Store>,
    clock: SharedClock,
    ttl: i64,
    cache: Mutex<HashMap<[u8; 32], (i64, ResolvedKey)>>,
}

impl KeyLookup {
    /// A lookup over `store` caching found keys for `ttl` seconds (0: no cache).
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, ttl: i64) -> Self {
        Self { store, clock, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The key whose text was presented, active now; `None` for anything else (malformed,
    /// unknown, revoked or expired: the caller answers all of these the same way).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn active(&self, presented: &str) -> Result<Option<ResolvedKey>, StoreError> {
        let Some(hash) = api_keys::presented(presented) else { return Ok(None) };
        let now = self.clock.now();
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&hash).filter(|(at, _)| now - at < self.ttl).map(|(_, key)| key.clone())
        };
        let found = match cached {
            Some(found) => found,
            None => {
                let Some(found) = self.store.api_key_by_hash(&hash).await? else { return Ok(None) };
                if self.ttl > 0 {
                    let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                    if cache.len() >= MAX_ENTRIES {
                        cache.clear();
                    }
                    cache.insert(hash, (now, found.clone()));
                }
                found
            }
        };
        let genuine = api_keys::same(&found.key.hash, &hash);
        Ok((genuine && found.key.is_active(now)).then_some(found))
    }
}
