//! The live security policy: which origins may call the connector (CORS) and which keys its
//! bearer tokens must be signed with (JWT), replaceable while the connector serves.
//!
//! The configuration gives the first [`SecurityPolicy`]; the DS sync replaces the CORS
//! allowlist, the JWT keys, or both at once, through [`LivePolicy`]. The request guard takes one
//! [`LivePolicy::snapshot`] per request and judges the whole request with it, so a request is
//! never judged by the CORS allowlist of one policy and the keys of another. Requests in flight
//! finish under the snapshot they took; the next request sees the new policy.
//!
//! Like the served module set and the TLS resolver, the current policy lives in an
//! [`arc_swap::ArcSwap`]: taking a snapshot never locks and never waits for a swap.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::cors::{CorsPolicy, OriginError};
use super::jwt::{JwtKeyError, JwtVerifier};
use crate::config::{CorsConfig, JwtConfig};

/// One generation of the security policy: the CORS allowlist and the JWT verification keys,
/// judged together.
#[derive(Debug, Clone)]
pub struct SecurityPolicy {
    cors: Arc<CorsPolicy>,
    jwt: Option<Arc<JwtVerifier>>,
    labels: Arc<LabelOrigins>,
}

/// Which origins each label's tokens may come from (under a DS: the label's registered
/// domains). A label without an entry is bound to none (only the CORS allowlist applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelOrigins(std::collections::HashMap<String, std::collections::HashSet<String>>);

impl LabelOrigins {
    /// From (label, origins) pairs; origins are kept in their canonical form, and one that is
    /// not an origin is dropped.
    pub fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Self {
        Self(
            labels
                .into_iter()
                .map(|(label, origins)| {
                    let origins = origins
                        .iter()
                        .filter_map(|o| super::cors::Origin::parse_header(o).ok())
                        .map(|o| o.to_string())
                        .collect();
                    (label.to_owned(), origins)
                })
                .collect(),
        )
    }

    /// Whether a token of `label` may be used from a page of `origin` (canonical form).
    pub fn allows(&self, label: &str, origin: &str) -> bool {
        self.0.get(label).is_none_or(|origins| origins.contains(origin))
    }
}

/// Why the configured policy cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An allowlist entry is not a valid origin pattern.
    #[error("cors.allowed_origins: `{pattern}`: {source}")]
    Cors {
        /// The configured pattern.
        pattern: String,
        /// What is wrong with it.
        source: OriginError,
    },
    /// A JWT key cannot be read or is not a key of its algorithm.
    #[error("jwt.keys: {0}")]
    Jwt(#[from] JwtKeyError),
}

impl SecurityPolicy {
    /// A policy allowing the origins of `cors` and, when `jwt` is given, requiring tokens it
    /// verifies (`None`: JWT is off).
    pub fn new(cors: CorsPolicy, jwt: Option<JwtVerifier>) -> Self {
        Self { cors: Arc::new(cors), jwt: jwt.map(Arc::new), labels: Arc::default() }
    }

    /// The policy of the `[cors]` and `[jwt]` configuration sections; JWT key files are read
    /// here.
    ///
    /// # Errors
    /// [`PolicyError::Cors`] for an invalid origin pattern, [`PolicyError::Jwt`] for a key
    /// file that cannot be read or does not hold a key of its algorithm.
    pub fn from_config(cors: &CorsConfig, jwt: &JwtConfig) -> Result<Self, PolicyError> {
        let cors = CorsPolicy::new(&cors.allowed_origins)
            .map_err(|(pattern, source)| PolicyError::Cors { pattern, source })?;
        let jwt = if jwt.enabled {
            let mut verifier = JwtVerifier::new(jwt.issuer.clone());
            for key in &jwt.keys {
                verifier.add_key_file(&key.kid, &key.algorithm, &key.public_key)?;
            }
            Some(verifier)
        } else {
            None
        };
        Ok(Self::new(cors, jwt))
    }

    /// The allowed origins.
    pub fn cors(&self) -> &CorsPolicy {
        &self.cors
    }

    /// Which origins each label's tokens may come from.
    pub fn labels(&self) -> &LabelOrigins {
        &self.labels
    }

    /// The token checks; `None` when JWT is off.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_deref()
    }
}

/// The policy the connector enforces now, swappable at runtime.
#[derive(Debug)]
pub struct LivePolicy {
    current: ArcSwap<SecurityPolicy>,
}

impl LivePolicy {
    /// Enforces `policy` until it is replaced.
    pub fn new(policy: SecurityPolicy) -> Self {
        Self { current: ArcSwap::from_pointee(policy) }
    }

    /// The policy in force now. Judge a whole request with one snapshot: a replacement
    /// meanwhile does not change it.
    pub fn snapshot(&self) -> Arc<SecurityPolicy> {
        self.current.load_full()
    }

    /// Enforces `policy` (CORS allowlist and JWT keys together) from the next request on.
    pub fn replace(&self, policy: SecurityPolicy) {
        self.current.store(Arc::new(policy));
    }

    /// Replaces the CORS allowlist and keeps the JWT keys and label bindings in force.
    pub fn replace_cors(&self, cors: CorsPolicy) {
        let cors = Arc::new(cors);
        // `rcu`: a concurrent `replace_jwt` is not lost.
        self.current.rcu(|current| SecurityPolicy {
            cors: cors.clone(),
            jwt: current.jwt.clone(),
            labels: current.labels.clone(),
        });
    }

    /// Replaces the CORS allowlist and the label bindings together (a DS configuration
    /// section), keeping the JWT keys.
    pub fn replace_origins(&self, cors: CorsPolicy, labels: LabelOrigins) {
        let (cors, labels) = (Arc::new(cors), Arc::new(labels));
        self.current.rcu(|current| SecurityPolicy {
            cors: cors.clone(),
            jwt: current.jwt.clone(),
            labels: labels.clone(),
        });
    }

    /// Replaces the JWT keys (`None` turns JWT off) and keeps the CORS allowlist in force.
    pub fn replace_jwt(&self, jwt: Option<JwtVerifier>) {
        let jwt = jwt.map(Arc::new);
        self.current.rcu(|current| SecurityPolicy {
            cors: current.cors.clone(),
            jwt: jwt.clone(),
            labels: current.labels.clone(),
        });
    }
}

impl From<SecurityPolicy> for LivePolicy {
    fn from(policy: SecurityPolicy) -> Self {
        Self::new(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origin: &str) -> CorsPolicy {
        CorsPolicy::new(&[origin]).expect("pattern")
    }

    #[test]
    fn a_snapshot_is_unchanged_by_a_later_replacement() {
        let live = LivePolicy::new(SecurityPolicy::new(cors("https://a.test"), None));
        let before = live.snapshot();
        live.replace(SecurityPolicy::new(cors("https://b.test"), Some(JwtVerifier::new(None))));
        assert!(before.cors().allowed("https://a.test").is_some());
        assert!(before.jwt().is_none());
        let after = live.snapshot();
        assert!(after.cors().allowed("https://a.test").is_none());
        assert!(after.cors().allowed("https://b.test").is_some());
        assert!(after.jwt().is_some());
    }

    #[test]
    fn replacing_one_part_keeps_the_other() {
        let live = LivePolicy::new(SecurityPolicy::new(cors("https://a.test"), None));
        live.replace_jwt(Some(JwtVerifier::new(Some("ds".into()))));
        live.replace_cors(cors("https://b.test"));
        let policy = live.snapshot();
        assert!(policy.cors().allowed("https://b.test").is_some());
        assert!(policy.jwt().is_some(), "the keys survived the CORS replacement");
        live.replace_jwt(None);
        assert!(live.snapshot().cors().allowed("https://b.test").is_some());
        assert!(live.snapshot().jwt().is_none());
    }

    #[test]
    fn a_label_token_is_bound_to_its_own_origins() {
        let shop = ["https://shop.test".to_owned()];
        let labels = LabelOrigins::new([("shop", &shop[..]), ("empty", &[][..])]);
        assert!(labels.allows("shop", "https://shop.test"));
        assert!(!labels.allows("shop", "https://bank.test"), "another application's page");
        assert!(!labels.allows("empty", "https://shop.test"));
        assert!(labels.allows("unknown", "https://bank.test"), "unbound: CORS alone decides");
        let live = LivePolicy::new(SecurityPolicy::new(cors("https://a.test"), None));
        live.replace_origins(cors("https://shop.test"), labels);
        live.replace_cors(cors("https://b.test"));
        assert!(!live.snapshot().labels().allows("shop", "https://bank.test"), "kept");
    }

    #[test]
    fn an_invalid_configured_origin_names_the_pattern() {
        let config = CorsConfig { allowed_origins: vec!["https://*evil.test".into()] };
        let err = SecurityPolicy::from_config(&config, &JwtConfig::default()).expect_err("bad");
        assert!(err.to_string().contains("https://*evil.test"), "{err}");
    }
}
