//! The issuer's signing keys: fetched on first use, cached, fetched again when a token names an
//! unknown `kid` or the copy is old, never more often than the rate limit allows and never twice
//! at once.
//!
//! Readers take a snapshot under a short std lock; fetches run under one tokio mutex, and a
//! caller that waited for it re-checks whether another already fetched (single flight).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    MAX_AGE_SECS, MAX_FETCHES_PER_MINUTE, OidcConfig, OidcError, REFETCH_MIN_INTERVAL_SECS,
};
use crate::clock::SharedClock;

/// Per-request timeout of the discovery and JWKS fetches.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest discovery document or JWKS read, in bytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The cached keys of one issuer and the means to fetch them.
#[derive(Debug)]
pub(super) struct KeyCache {
    issuer: String,
    jwks_url: Option<String>,
    http: reqwest::Client,
    clock: SharedClock,
    current: RwLock<Option<Arc<KeySet>>>,
    fetcher: tokio::sync::Mutex<Fetcher>,
}

/// A public key from the JWKS, usable for one family of algorithms.
#[derive(Debug)]
pub(super) struct VerifyingKey {
    kind: KeyKind,
    /// The JWK's own `alg`, when it names one: then only that algorithm is accepted.
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl VerifyingKey {
    /// The key for jsonwebtoken.
    pub(super) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Refuses `alg` unless it belongs to this key's type (and to the key's own `alg`), so an
    /// RSA key cannot check an HMAC or ECDSA signature and so on.
    pub(super) fn check_algorithm(&self, alg: Algorithm) -> Result<(), OidcError> {
        let fits_type = matches!(
            (self.kind, alg),
            (KeyKind::Rsa, Algorithm::RS256 | Algorithm::PS256)
                | (KeyKind::P256, Algorithm::ES256)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        );
        if fits_type && self.alg.is_none_or(|own| own == alg) {
            Ok(())
        } else {
            Err(OidcError::Rejected("algorithm does not match key".into()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    Ed25519,
}

/// One fetched JWKS.
#[derive(Debug)]
struct KeySet {
    /// Bumped by each successful fetch, so a waiter can tell that someone else fetched.
    generation: u64,
    fetched_at: i64,
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// Kids the issuer lists for keys we cannot verify with (encryption keys, other curves,
    /// short RSA, ...): refused without a refetch.
    unusable: HashSet<String>,
}

impl KeySet {
    fn find(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, OidcError> {
        if self.unusable.contains(kid) {
            return Err(OidcError::Rejected("key is not usable for signatures".into()));
        }
        Ok(self.keys.get(kid).cloned())
    }
}

/// State of the fetches, only touched under the fetch mutex.
#[derive(Debug, Default)]
struct Fetcher {
    /// Times of the fetches of the last minute, oldest first.
    attempts: VecDeque<i64>,
    /// The `jwks_uri` from discovery, forgotten when a fetch from it fails.
    discovered: Option<String>,
    generation: u64,
}

impl Fetcher {
    /// Records a fetch at `now` if the rate limit allows one.
    fn admit(&mut self, now: i64) -> bool {
        while self.attempts.front().is_some_and(|&t| now - t >= 60) {
            self.attempts.pop_front();
        }
        let too_soon = self.attempts.back().is_some_and(|&t| now - t < REFETCH_MIN_INTERVAL_SECS);
        if too_soon || self.attempts.len() >= MAX_FETCHES_PER_MINUTE {
            return false;
        }
        self.attempts.push_back(now);
        true
    }
}

/// Why no new key set came.
enum RefreshError {
    /// The rate limit allows no fetch now.
    Limited,
    /// The fetch failed; the message names the URL and the cause.
    Failed(String),
}

impl KeyCache {
    pub(super) fn new(config: &OidcConfig, http: reqwest::Client, clock: SharedClock) -> Self {
        Self {
            issuer: config.issuer.clone(),
            jwks_url: config.jwks_url.clone(),
            http,
            clock,
            current: RwLock::new(None),
            fetcher: tokio::sync::Mutex::new(Fetcher::default()),
        }
    }

    /// The key named `kid`, fetching the JWKS first if none is cached or it is old, and again if
    /// the kid is unknown (within the rate limit).
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, OidcError> {
        let cached = self.snapshot();
        let set = match cached {
            Some(set) if self.clock.now() - set.fetched_at < MAX_AGE_SECS => set,
            old => match self.refresh(old.as_ref().map(|set| set.generation)).await {
                Ok(set) => set,
                // An old copy beats none while the issuer is away; the limit spaces the retries.
                Err(error) => match old {
                    Some(set) => {
                        if let RefreshError::Failed(cause) = &error {
                            tracing::warn!(%cause, "cannot refresh the OIDC keys; using the old ones");
                        }
                        set
                    }
                    None => return Err(unavailable(error)),
                },
            },
        };
        if let Some(key) = set.find(kid)? {
            return Ok(key);
        }
        match self.refresh(Some(set.generation)).await {
            Ok(set) => set.find(kid)?.ok_or(OidcError::UnknownKey),
            Err(RefreshError::Limited) => Err(OidcError::UnknownKey),
            Err(RefreshError::Failed(cause)) => Err(OidcError::Unavailable(cause)),
        }
    }

    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// A key set newer than generation `seen` (`None`: none seen): one another caller fetched
    /// while this one waited, or a fresh fetch if the rate limit allows.
    async fn refresh(&self, seen: Option<u64>) -> Result<Arc<KeySet>, RefreshError> {
        let mut fetcher = self.fetcher.lock().await;
        if let Some(set) = self.snapshot().filter(|set| Some(set.generation) != seen) {
            return Ok(set);
        }
        let now = self.clock.now();
        if !fetcher.admit(now) {
            return Err(RefreshError::Limited);
        }
        let documents = self.fetch(&mut fetcher).await.map_err(RefreshError::Failed)?;
        fetcher.generation += 1;
        let set = Arc::new(key_set(documents, fetcher.generation, now));
        tracing::info!(keys = set.keys.len(), unusable = set.unusable.len(), "OIDC keys fetched");
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(Arc::clone(&set));
        Ok(set)
    }

    /// The JWKS's `keys`, from the configured URL or the discovered one.
    async fn fetch(&self, fetcher: &mut Fetcher) -> Result<Vec<serde_json::Value>, String> {
        let url = match (&self.jwks_url, &fetcher.discovered) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                let url = self.discover().await?;
                fetcher.discovered = Some(url.clone());
                url
            }
        };
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        match self.get_json::<Jwks>(&url).await {
            Ok(jwks) => Ok(jwks.keys),
            Err(cause) => {
                fetcher.discovered = None;
                Err(cause)
            }
        }
    }

    /// The `jwks_uri` of the issuer's discovery document, which must name the same issuer.
    async fn discover(&self) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let discovery = self.get_json::<Discovery>(&url).await?;
        if discovery.issuer != self.issuer {
            return Err(format!(
                "{url} names issuer {:?}, not the configured {:?}",
                discovery.issuer, self.issuer
            ));
        }
        Ok(discovery.jwks_uri)
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        get_json(&self.http, url).await
    }
}

/// GETs the JSON document at `url` (at most [`MAX_DOCUMENT_BYTES`], within [`FETCH_TIMEOUT`]);
/// the error names the URL and the cause.
pub(super) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    read_json(response, url).await
}

/// Reads a JSON answer's body, at most [`MAX_DOCUMENT_BYTES`]; `what` names it in errors.
pub(super) async fn read_json<T: DeserializeOwned>(
    mut response: reqwest::Response,
    what: &str,
) -> Result<T, String> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("cannot read {what}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{what} sent more than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{what} sent an unreadable document: {e}"))
}

fn unavailable(error: RefreshError) -> OidcError {
    OidcError::Unavailable(match error {
        RefreshError::Limited => "OIDC keys not loaded yet; a fetch failed moments ago".into(),
        RefreshError::Failed(cause) => cause,
    })
}

/// The usable keys among the JWKS entries; each entry is read alone, so one odd key (another
/// curve, an encryption key) does not hide the others. Entries without `kid` cannot be chosen
/// and are dropped; for a repeated `kid` the first entry counts.
fn key_set(entries: Vec<serde_json::Value>, generation: u64, fetched_at: i64) -> KeySet {
    let mut keys = HashMap::new();
    let mut unusable = HashSet::new();
    for entry in entries {
        let Some(kid) = entry.get("kid").and_then(serde_json::Value::as_str).map(str::to_owned)
        else {
            continue;
        };
        if keys.contains_key(&kid) || unusable.contains(&kid) {
            continue;
        }
        match serde_json::from_value::<Jwk>(entry).ok().and_then(|jwk| verifying_key(&jwk)) {
            Some(key) => {
                keys.insert(kid, Arc::new(key));
            }
            None => {
                tracing::debug!(%kid, "OIDC key skipped: not a supported signature key");
                unusable.insert(kid);
            }
        }
    }
    KeySet { generation, fetched_at, keys, unusable }
}

/// A signature key of a supported type, or `None`.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk.common.public_key_use.as_ref().is_some_and(|usage| *usage != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => return None,
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let significant = modulus.iter().skip_while(|&&byte| byte == 0).count();
            (significant >= MIN_RSA_MODULUS_BYTES).then_some(KeyKind::Rsa)?
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => KeyKind::P256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        _ => return None,
    };
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey { kind, alg, decoding })
}
