//! OpenID Connect bearer tokens from an external issuer (Keycloak in practice): who an operator
//! is, and which T1C role they hold.
//!
//! [`OidcVerifier::verify`] checks a token's signature against the issuer's published keys (its
//! JWKS, cached by `jwks`), then its issuer, audience and times against the injected clock,
//! and reads the operator's role and organisation from configurable claims. This module owns
//! token checks and the key cache only: what each role may do, sessions and the store are
//! decided elsewhere. Tokens are never logged, whole or in part.
//!
//! The dashboard's browser sign-in (authorization code with PKCE) is in [`signin`]; its ID
//! tokens are checked here too ([`OidcVerifier::verify_id_token`]).

use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::SharedClock;

mod jwks;
pub mod signin;
#[cfg(test)]
mod tests;

use jwks::{KeyCache, VerifyingKey};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Least time between two JWKS fetches, in seconds; a token with an unknown `kid` in between
/// fails with [`OidcError::UnknownKey`] without a fetch.
pub const REFETCH_MIN_INTERVAL_SECS: i64 = 10;

/// Most JWKS fetches (successful or not) in any 60 seconds.
pub const MAX_FETCHES_PER_MINUTE: usize = 6;

/// Age after which the cached JWKS is fetched again, in seconds.
pub const MAX_AGE_SECS: i64 = 600;

/// Longest token accepted, in bytes; longer input is refused before any parsing.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The `[oidc]` section of the configuration: which issuer to trust and where the T1C roles are
/// in its tokens.
///
/// The defaults fit a Keycloak realm with realm roles; only [`issuer`](Self::issuer) and
/// [`audience`](Self::audience) must be set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The exact `iss` tokens must carry, e.g. `https://idp.example/realms/t1c` (no trailing
    /// slash is added or removed). Plain `http://` is accepted for tests and loopback issuers;
    /// use `https://` in production.
    pub issuer: String,
    /// A value the token's `aud` (a string or an array) must contain.
    ///
    /// `azp` is not consulted: Keycloak puts only `account` in `aud` by default, so the realm
    /// needs an *Audience* protocol mapper (or client scope) that adds this value to the
    /// access tokens of the clients operators use.
    pub audience: String,
    /// Where the issuer's JWKS lives; when absent, the `jwks_uri` of
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal
    /// [`issuer`](Self::issuer).
    pub jwks_url: Option<String>,
    /// Dotted path to the string array of role names, `realm_access.roles` by default (Keycloak
    /// realm roles; client roles are at `resource_access.<client-id>.roles`). Path segments
    /// cannot themselves contain dots.
    pub roles_claim: String,
    /// Dotted path to the string naming the organisation an organisation administrator or an
    /// analyst is bound to, `t1c_organisation` by default (a Keycloak user-attribute mapper).
    pub organisation_claim: String,
    /// The role name that makes a platform administrator.
    pub platform_admin_role: String,
    /// The role name that makes an organisation administrator.
    pub organisation_admin_role: String,
    /// The role name that makes a read-only analyst.
    pub analyst_role: String,
    /// The dashboard's client id at the issuer. When set, the dashboard's login page offers
    /// "Sign in with ..." (authorization code flow with PKCE, see [`signin`]); the ID token's
    /// `aud` must contain it.
    pub client_id: Option<String>,
    /// The client's secret, for a confidential client (sent as `client_secret` in the token
    /// request); none for a public client. Also read from `T1C_DS_OIDC_CLIENT_SECRET`, and
    /// hidden by `t1c-ds config show`.
    pub client_secret: Option<ClientSecret>,
    /// Where the browser is sent to sign in; when absent, the discovery document's
    /// `authorization_endpoint`.
    pub authorization_url: Option<String>,
    /// Where the code is exchanged; when absent, the discovery document's `token_endpoint`.
    pub token_url: Option<String>,
    /// The redirect URI registered at the issuer for the dashboard:
    /// `https://<the DS's host>/dashboard/oidc/callback`. When absent it is made from the
    /// request's `Host`, which fits a DS reached under one name.
    pub redirect_url: Option<String>,
    /// The scopes asked for, space-separated; `openid` is required.
    pub scopes: String,
    /// The issuer's name on the sign-in button; the issuer URL's host when absent.
    pub display_name: Option<String>,
}

/// A client secret: compared and serialized as the text, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: None,
            roles_claim: "realm_access.roles".into(),
            organisation_claim: "t1c_organisation".into(),
            platform_admin_role: "t1c-platform-admin".into(),
            organisation_admin_role: "t1c-organisation-admin".into(),
            analyst_role: "t1c-analyst".into(),
            client_id: None,
            client_secret: None,
            authorization_url: None,
            token_url: None,
            redirect_url: None,
            scopes: "openid profile".into(),
            display_name: None,
        }
    }
}

impl OidcConfig {
    /// Whether OIDC sign-in is set up: both [`issuer`](Self::issuer) and
    /// [`audience`](Self::audience) are given. A verifier built from a configuration that is
    /// not refuses every token with [`OidcError::Unavailable`].
    pub fn is_configured(&self) -> bool {
        !self.issuer.is_empty() && !self.audience.is_empty()
    }

    /// Whether the dashboard offers sign-in at the issuer: configured, with a client id.
    pub fn offers_sign_in(&self) -> bool {
        self.is_configured() && self.client_id.as_deref().is_some_and(|id| !id.is_empty())
    }
}

/// An operator as a verified token describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The token's `sub`: stable for the operator at this issuer.
    pub subject: String,
    /// `preferred_username`, when the token has one; for display and audit only, as the
    /// operator may be able to change it.
    pub username: Option<String>,
    /// The highest T1C role the token grants.
    pub role: OidcRole,
    /// The organisation an organisation administrator or analyst is bound to; always present
    /// for those roles and always `None` for a platform administrator, who is bound to none.
    pub organisation: Option<String>,
}

/// What an operator may do, from the highest to the lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OidcRole {
    /// Manages the whole platform.
    PlatformAdmin,
    /// Manages one organisation.
    OrganisationAdmin,
    /// Reads one organisation, changes nothing.
    Analyst,
}

/// Why a token was refused. The message is for the log; a client should learn no more than
/// "unauthorized" (or "unavailable" for [`OidcError::Unavailable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// Not a compact JWS, unreadable header or claims, or no `kid` in the header.
    #[error("malformed token")]
    Malformed,
    /// The issuer has no key with the token's `kid`, even after a refetch (or a refetch was
    /// not allowed yet by the rate limit).
    #[error("unknown signing key")]
    UnknownKey,
    /// The token is readable but fails a check: algorithm, critical header, signature, issuer,
    /// audience, expiry, not-before, issued-at or subject. The reason is short and fixed.
    #[error("token rejected: {0}")]
    Rejected(String),
    /// The token is valid but grants none of the T1C roles.
    #[error("the token grants no T1C role")]
    NoRole,
    /// The token grants an organisation-bound role but names no organisation.
    #[error("the token names no organisation for an organisation-bound role")]
    MissingOrganisation,
    /// The issuer's keys could not be loaded (issuer or JWKS unreachable or invalid), or OIDC
    /// is not configured; the token may be fine.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// Checks OIDC bearer tokens against one issuer.
///
/// Cheap to share behind an [`Arc`]: the issuer's keys are cached inside, fetched on first use,
/// refetched when a token names an unknown `kid` (at most once per
/// [`REFETCH_MIN_INTERVAL_SECS`] and [`MAX_FETCHES_PER_MINUTE`] a minute, one fetch
/// at a time however many callers wait for it) and when older than [`MAX_AGE_SECS`].
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    clock: SharedClock,
    keys: KeyCache,
}

impl OidcVerifier {
    /// A verifier for `config`'s issuer, fetching keys with `http` (each request times out
    /// after 5 s) and reading the time from `clock`. Nothing is fetched until the first
    /// [`verify`](Self::verify).
    pub fn new(config: OidcConfig, http: reqwest::Client, clock: SharedClock) -> Self {
        if config.issuer.starts_with("http://") {
            tracing::warn!(issuer = %config.issuer, "OIDC issuer over plain HTTP; use HTTPS outside tests");
        }
        let keys = KeyCache::new(&config, http, Arc::clone(&clock));
        Self { config, clock, keys }
    }

    /// Verifies `token` (the bearer value, without `Bearer `) and returns who it names.
    ///
    /// Only RS256, PS256 (RSA keys of at least 2048 bits), ES256 (P-256 keys) and EdDSA
    /// (Ed25519 keys) are accepted, each only with a key of its own type; the header must name
    /// a `kid` and must not list critical extensions (`crit`). `exp` is required; `exp`,
    /// `nbf` and `iat` are checked against the injected clock with [`LEEWAY_SECS`] of leeway.
    /// `iss` must equal the configured issuer and `aud` contain the configured audience.
    ///
    /// # Errors
    ///
    /// [`OidcError`] says which check failed; see each variant.
    pub async fn verify(&self, token: &str) -> Result<OidcIdentity, OidcError> {
        if !self.config.is_configured() {
            return Err(OidcError::Unavailable(
                "OIDC issuer and audience are not configured".into(),
            ));
        }
        let header = TokenHeader::parse(token)?;
        let key = self.keys.key(&header.kid).await?;
        key.check_algorithm(header.alg)?;
        let claims = self.check_signature(token, &key, header.alg, &self.config.audience)?;
        check_times(&claims, self.clock.now())?;
        self.identity(&claims)
    }

    /// Verifies an ID token from the dashboard's sign-in and returns its `sub`.
    ///
    /// The same key, algorithm, issuer and time checks as [`verify`](Self::verify), but `aud`
    /// must contain `client_id` (and when it names several audiences, `azp` must be
    /// `client_id`), and `nonce` must be the one the sign-in sent. Roles are not read here.
    ///
    /// # Errors
    ///
    /// [`OidcError`] says which check failed.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<String, OidcError> {
        if !self.config.is_configured() {
            return Err(OidcError::Unavailable(
                "OIDC issuer and audience are not configured".into(),
            ));
        }
        let header = TokenHeader::parse(token)?;
        let key = self.keys.key(&header.kid).await?;
        key.check_algorithm(header.alg)?;
        let claims = self.check_signature(token, &key, header.alg, client_id)?;
        check_times(&claims, self.clock.now())?;
        if let Some(Value::Array(audiences)) = claims.get("aud")
            && audiences.len() > 1
            && claims.get("azp").and_then(Value::as_str) != Some(client_id)
        {
            return Err(OidcError::Rejected("azp is not the client".into()));
        }
        let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), nonce.as_bytes())) {
            return Err(OidcError::Rejected("wrong nonce".into()));
        }
        match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => Ok(sub.clone()),
            _ => Err(OidcError::Rejected("missing claim sub".into())),
        }
    }

    /// Signature, issuer and audience, by jsonwebtoken; its own time checks are off because
    /// they read the system clock.
    fn check_signature(
        &self,
        token: &str,
        key: &VerifyingKey,
        alg: Algorithm,
        audience: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss", "aud"]);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding(), &validation)
            .map(|data| data.claims)
            .map_err(|e| rejection(e.kind()))
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<OidcIdentity, OidcError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(OidcError::Rejected("missing claim sub".into())),
        };
        let username = claims.get("preferred_username").and_then(Value::as_str).map(str::to_owned);
        let role = self.role(claims).ok_or(OidcError::NoRole)?;
        let organisation = match role {
            OidcRole::PlatformAdmin => None,
            OidcRole::OrganisationAdmin | OidcRole::Analyst => {
                match claim_at(claims, &self.config.organisation_claim) {
                    Some(Value::String(org)) if !org.is_empty() => Some(org.clone()),
                    _ => return Err(OidcError::MissingOrganisation),
                }
            }
        };
        Ok(OidcIdentity { subject, username, role, organisation })
    }

    /// The highest configured role among the token's role names.
    fn role(&self, claims: &Map<String, Value>) -> Option<OidcRole> {
        let names = claim_at(claims, &self.config.roles_claim)?.as_array()?;
        let has = |wanted: &str| names.iter().any(|name| name.as_str() == Some(wanted));
        if has(&self.config.platform_admin_role) {
            Some(OidcRole::PlatformAdmin)
        } else if has(&self.config.organisation_admin_role) {
            Some(OidcRole::OrganisationAdmin)
        } else if has(&self.config.analyst_role) {
            Some(OidcRole::Analyst)
        } else {
            None
        }
    }
}

/// The parts of the protected header that choose the key, read before anything is trusted.
struct TokenHeader {
    alg: Algorithm,
    kid: String,
}

impl TokenHeader {
    /// Parses our own copy of the header: jsonwebtoken ignores `crit` and cannot represent
    /// `alg: none`, both of which must be refused with a clear reason.
    fn parse(token: &str) -> Result<Self, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(OidcError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OidcError::Malformed);
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| OidcError::Malformed)?;
        let header: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| OidcError::Malformed)?;
        // RFC 7515 §4.1.11: extensions listed as critical must be understood; we understand none.
        if header.contains_key("crit") {
            return Err(OidcError::Rejected(
                "critical header extensions are not understood".into(),
            ));
        }
        let alg = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Algorithm::RS256,
            Some("PS256") => Algorithm::PS256,
            Some("ES256") => Algorithm::ES256,
            Some("EdDSA") => Algorithm::EdDSA,
            Some(_) => return Err(OidcError::Rejected("algorithm not allowed".into())),
            None => return Err(OidcError::Malformed),
        };
        let kid = match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
            _ => return Err(OidcError::Malformed),
        };
        Ok(Self { alg, kid })
    }
}

/// `exp` (required), `nbf` and `iat` against `now`, each with [`LEEWAY_SECS`].
fn check_times(claims: &Map<String, Value>, now: i64) -> Result<(), OidcError> {
    let exp = time_claim(claims, "exp")?
        .ok_or_else(|| OidcError::Rejected("missing claim exp".into()))?;
    if now > exp.saturating_add(LEEWAY_SECS) {
        return Err(OidcError::Rejected("expired".into()));
    }
    if time_claim(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(OidcError::Rejected("not yet valid".into()));
    }
    if time_claim(claims, "iat")?.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
        return Err(OidcError::Rejected("issued in the future".into()));
    }
    Ok(())
}

/// A NumericDate claim in whole seconds (fractions are dropped), `None` when absent.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(OidcError::Malformed),
        Some(_) => Err(OidcError::Malformed),
    }
}

/// The value at a dotted `path` in the claims, if every segment exists.
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// jsonwebtoken's verdict as ours, with a short fixed reason for the log.
fn rejection(kind: &ErrorKind) -> OidcError {
    let reason = match kind {
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidClaimFormat(_) => return OidcError::Malformed,
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidAlgorithm => "algorithm does not match key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_) => "unusable key".into(),
        other => format!("{other:?}"),
    };
    OidcError::Rejected(reason)
}
