//! Application tokens: short-lived JWTs for one label, issued to a web application's back end
//! in exchange for the label's API key (`GET /v3_5/tokens/application`), verified by
//! connectors with the keys of the JWKS.
//!
//! Signing keys rotate on a schedule, the way Dex does it, and safely with several DS
//! processes on one database:
//! - each key has a generation number, unique in the store, so when two processes add the next
//!   key at once one insert fails and that process simply reloads;
//! - a key is published `publish_ahead` before it starts signing, so connectors (which learn
//!   keys through their sync) hold it before the first token it signs;
//! - when a newer key takes over, the old one loses its private half and stays published for
//!   the token lifetime plus the connectors' cache time, then disappears.
//!
//! Every process reloads the key set from the store at least every [`RELOAD_EVERY`] seconds;
//! that is the bound on how stale a process's keys can be, and it is far shorter than
//! `publish_ahead`, so no process signs with a key others have not published.

pub mod keys;

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use t1c_ds_protocol::claims::{APPLICATION_TOKEN_TYPE, ApplicationClaims, CONNECTOR_AUDIENCE};

use crate::clock::SharedClock;
use crate::rotation;
use crate::store::{Label, SigningKeyRecord, Store, StoreError};
pub use keys::SigningAlgorithm;

/// Seconds between reloads of the key set (and rotation checks) in each process.
pub const RELOAD_EVERY: u64 = 30;

/// The `[tokens]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// The `iss` of every token.
    pub issuer: String,
    /// Algorithm of new keys.
    pub algorithm: SigningAlgorithm,
    /// Token lifetime in seconds (T1C: 15 minutes).
    pub lifetime_secs: i64,
    /// How long a key signs before the next takes over.
    pub rotation_secs: i64,
    /// How long before it signs a new key is published.
    pub publish_ahead_secs: i64,
    /// How long connectors may cache the key set.
    pub connector_cache_secs: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "t1c-ds".into(),
            algorithm: SigningAlgorithm::ES256,
            lifetime_secs: 15 * 60,
            rotation_secs: 30 * 86_400,
            publish_ahead_secs: 2 * 86_400,
            connector_cache_secs: 86_400,
        }
    }
}

/// Why a token cannot be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No key signs now (the store was unreachable at every reload so far).
    #[error("no signing key is active")]
    NoActiveKey,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key cannot be made.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
}

struct SigningKey {
    kid: String,
    activates_at: i64,
    /// The JWS protected header, base64url, computed once per key.
    header: String,
    signer: keys::Signer,
}

/// Tokens issued this second, per label: claims have whole-second times, so every caller for one
/// label within one second gets the same token (only `jti` would differ), and the route signs at
/// most once per label per second however hard it is called.
#[derive(Default)]
struct Recent {
    tokens: HashMap<String, RecentToken>,
}

struct RecentToken {
    second: i64,
    kid: String,
    subject: String,
    organisation: String,
    token: String,
}

/// Labels remembered in [`Recent`] before it is emptied.
const RECENT_LABELS: usize = 10_000;

/// The keys one process holds: the ones that may sign (current and next), and the published set.
#[derive(Default)]
struct KeyRing {
    signing: Vec<SigningKey>,
    jwks: serde_json::Value,
    /// When the next change is due (a key activating or leaving the JWKS), for Cache-Control.
    next_change: Option<i64>,
}

/// Issues application tokens and keeps the signing keys rotating.
pub struct TokenIssuer {
    store: Arc<dyn Store>,
    clock: SharedClock,
    settings: TokenSettings,
    ring: ArcSwap<KeyRing>,
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer over `store`; call [`TokenIssuer::rotate`] before the first token.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, settings: TokenSettings) -> Self {
        Self {
            store,
            clock,
            settings,
            ring: ArcSwap::from_pointee(KeyRing::default()),
            recent: Mutex::new(Recent::default()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A token for `label`.
    ///
    /// # Errors
    /// [`TokenError::NoActiveKey`] before the first successful [`TokenIssuer::rotate`].
    pub fn issue(&self, label: &Label) -> Result<String, TokenError> {
        let now = self.clock.now();
        let ring = self.ring.load();
        let key = ring
            .signing
            .iter()
            .filter(|k| k.activates_at <= now)
            .max_by_key(|k| k.activates_at)
            .ok_or(TokenError::NoActiveKey)?;
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = recent.tokens.get(&label.id)
                && hit.second == now
                && hit.kid == key.kid
                && hit.subject == label.name
                && hit.organisation == label.organisation_id
            {
                return Ok(hit.token.clone());
            }
        }
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| TokenError::Sign(e.to_string()))?;
        let claims = ApplicationClaims {
            iss: self.settings.issuer.clone(),
            aud: CONNECTOR_AUDIENCE.to_owned(),
            sub: label.name.clone(),
            org: label.organisation_id.clone(),
            exp: now + self.settings.lifetime_secs,
            iat: now,
            nbf: now,
            jti: hex::encode(jti),
        };
        let claims = serde_json::to_vec(&claims).map_err(|e| TokenError::Sign(e.to_string()))?;
        let mut token = String::with_capacity(key.header.len() + claims.len() * 2 + 120);
        token.push_str(&key.header);
        token.push('.');
        B64.encode_string(&claims, &mut token);
        let signature = key.signer.sign(token.as_bytes())?;
        token.push('.');
        B64.encode_string(&signature, &mut token);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.tokens.len() >= RECENT_LABELS {
            recent.tokens.clear();
        }
        recent.tokens.insert(
            label.id.clone(),
            RecentToken {
                second: now,
                kid: key.kid.clone(),
                subject: label.name.clone(),
                organisation: label.organisation_id.clone(),
                token: token.clone(),
            },
        );
        Ok(token)
    }

    /// The published keys, `{"keys": [...]}`, and how many seconds a client may cache them.
    pub fn jwks(&self) -> (serde_json::Value, i64) {
        let ring = self.ring.load();
        let now = self.clock.now();
        let max_age = ring.next_change.map_or(300, |t| (t - now).clamp(120, 3600));
        (ring.jwks.clone(), max_age)
    }

    /// Adds the next key when one is due, retires superseded keys, drops expired ones, and
    /// reloads this process's key ring. Safe to run in several processes at once.
    ///
    /// # Errors
    /// [`TokenError`] when the store fails or a key cannot be generated.
    pub async fn rotate(&self) -> Result<(), TokenError> {
        let now = self.clock.now();
        let s = &self.settings;
        let mut keys = self.store.signing_keys().await?;
        let due = rotation::due(&generations(&keys), now, s.rotation_secs, s.publish_ahead_secs);
        if let Some((generation, activates_at)) = due {
            let (private, mut jwk) = keys::generate(s.algorithm)?;
            let kid = keys::new_kid()?;
            jwk["kid"] = kid.clone().into();
            jwk["alg"] = s.algorithm.as_str().into();
            jwk["use"] = "sig".into();
            let record = SigningKeyRecord {
                kid,
                generation,
                algorithm: s.algorithm.as_str().to_owned(),
                private_pkcs8: Some(private),
                public_jwk: jwk.to_string(),
                created_at: now,
                activates_at,
                published_until: None,
            };
            match self.store.add_signing_key(&record).await {
                Ok(()) => tracing::info!(generation, activates_at, "signing key added"),
                Err(StoreError::Conflict(_)) => {
                    tracing::debug!("another DS process added the signing key")
                }
                Err(err) => return Err(err.into()),
            }
            keys = self.store.signing_keys().await?;
        }
        // A retired key stays published while tokens it signed may live and be cached.
        for (generation, successor_at) in rotation::superseded(&generations(&keys), now) {
            if let Some(key) = keys.iter().find(|k| k.generation == generation) {
                let until = successor_at + s.lifetime_secs + s.connector_cache_secs;
                self.store.retire_signing_key(&key.kid, until).await?;
            }
        }
        self.store.purge_signing_keys(now).await?;
        self.reload().await
    }

    async fn reload(&self) -> Result<(), TokenError> {
        let now = self.clock.now();
        let keys = self.store.signing_keys().await?;
        let mut signing = Vec::new();
        let mut published = Vec::new();
        let mut next_change: Option<i64> = None;
        let mut note = |t: i64| {
            if t > now {
                next_change = Some(next_change.map_or(t, |c| c.min(t)));
            }
        };
        // The next key's publication is a change too: a JWKS cached past it would lack the key
        // that signs `publish_ahead` later.
        if let Some(newest) = keys.iter().max_by_key(|k| k.generation) {
            note(
                newest.activates_at + self.settings.rotation_secs
                    - self.settings.publish_ahead_secs,
            );
        }
        for key in &keys {
            if key.published_until.is_some_and(|t| t < now) {
                continue;
            }
            note(key.activates_at);
            if let Some(until) = key.published_until {
                note(until);
            }
            match serde_json::from_str::<serde_json::Value>(&key.public_jwk) {
                Ok(jwk) => published.push(jwk),
                Err(_) => tracing::error!(kid = %key.kid, "stored public key is not JSON"),
            }
            let (Some(private), Some(algorithm)) =
                (&key.private_pkcs8, SigningAlgorithm::from_name(&key.algorithm))
            else {
                continue;
            };
            let header = serde_json::json!({"alg": algorithm.as_str(), "kid": key.kid, "typ": APPLICATION_TOKEN_TYPE});
            match keys::Signer::load(algorithm, private) {
                Ok(signer) => signing.push(SigningKey {
                    kid: key.kid.clone(),
                    activates_at: key.activates_at,
                    header: B64.encode(header.to_string()),
                    signer,
                }),
                Err(err) => tracing::error!(kid = %key.kid, "stored signing key unusable: {err}"),
            }
        }
        self.ring.store(Arc::new(KeyRing {
            signing,
            jwks: serde_json::json!({ "keys": published }),
            next_change,
        }));
        Ok(())
    }

    /// Runs [`TokenIssuer::rotate`] every [`RELOAD_EVERY`] seconds until `stop` fires.
    pub async fn keep_rotating(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(RELOAD_EVERY));
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(err) = self.rotate().await {
                        tracing::warn!("signing-key rotation failed, keeping the current keys: {err}");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

/// The keys as the rotation schedule sees them.
fn generations(keys: &[SigningKeyRecord]) -> Vec<rotation::Generation> {
    keys.iter()
        .map(|k| rotation::Generation {
            number: k.generation,
            activates_at: k.activates_at,
            retired: k.published_until.is_some(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::SqlStore;

    fn label(name: &str) -> Label {
        Label {
            id: "l1".into(),
            organisation_id: "o1".into(),
            name: name.into(),
            application: name.into(),
            domains: vec![],
            tags: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[tokio::test]
    async fn one_signature_per_label_per_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, 1).await.expect("store"));
        let clock = ManualClock::at(1_000_000);
        let issuer = TokenIssuer::new(store, clock.clone(), TokenSettings::default());
        issuer.rotate().await.expect("first key");
        let first = issuer.issue(&label("shop")).expect("token");
        assert_eq!(issuer.issue(&label("shop")).expect("token"), first, "same second, same token");
        assert_ne!(
            issuer.issue(&label("renamed")).expect("token"),
            first,
            "a renamed label gets its own"
        );
        clock.advance(1);
        assert_ne!(
            issuer.issue(&label("shop")).expect("token"),
            first,
            "the next second signs anew"
        );
    }
}
