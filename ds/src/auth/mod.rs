//! Who is calling the operators' API and what they may do.
//!
//! Operators present `Authorization: Bearer <token>`: either a session token from `POST
//! /v3_5/auth/token` (a local account, password checked with argon2id; the session lives in the
//! database, so any DS process accepts it) or, when `[oidc]` is configured, an access token of
//! the external issuer. Either way the caller becomes a [`Principal`]: an actor name for the
//! audit log, a [`Role`] and the organisation it is bound to.
//!
//! The dashboard's sign-in at the issuer ([`oidc::signin`]) ends in a session of its own
//! ([`Authenticator::open_oidc_session`]): the role the issuer's tokens granted at sign-in,
//! held in the database like a local account's session, for the same lifetime.

pub mod api_keys;
pub mod key_lookup;
pub mod oidc;
pub mod password;

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::clock::SharedClock;
use crate::store::{OidcSession, Role, Store, StoreError, User};

/// Why a caller is not authenticated (for the log; the client learns only "unauthorized").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token.
    #[error("no bearer token")]
    Missing,
    /// The token is unknown, expired or refused.
    #[error("token refused: {0}")]
    Refused(String),
    /// The issuer's tokens are valid but grant no T1C role, or no organisation for an
    /// organisation-bound role.
    #[error("no T1C role: {0}")]
    NoRole(String),
    /// Login with a wrong name or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identity provider cannot be reached.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// An authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// For the audit log: `user:<name>` or `oidc:<subject>`.
    pub actor: String,
    /// What the operator may do.
    pub role: Role,
    /// The organisation an organisation admin or analyst is bound to.
    pub organisation_id: Option<String>,
}

impl Principal {
    /// Whether the caller may see objects of `organisation_id` (another organisation's objects
    /// must answer 404, as if they did not exist).
    pub fn sees(&self, organisation_id: &str) -> bool {
        match (self.role, &self.organisation_id) {
            (Role::PlatformAdmin, _) | (Role::Analyst, None) => true,
            (_, Some(own)) => own == organisation_id,
            (Role::OrganisationAdmin, None) => false,
        }
    }

    /// Whether the caller may change objects of `organisation_id`.
    pub fn changes(&self, organisation_id: &str) -> bool {
        match self.role {
            Role::PlatformAdmin => true,
            Role::OrganisationAdmin => self.organisation_id.as_deref() == Some(organisation_id),
            Role::Analyst => false,
        }
    }

    /// Whether the caller administers the whole platform.
    pub fn is_platform_admin(&self) -> bool {
        self.role == Role::PlatformAdmin
    }

    /// The organisation lists are limited to: none for platform admins (and unbound analysts).
    pub fn scope(&self) -> Option<String> {
        match self.role {
            Role::PlatformAdmin => None,
            _ => self.organisation_id.clone(),
        }
    }
}

/// Every session token of a local account starts with this.
const SESSION_PREFIX: &str = "t1cs_";

/// Every session token opened by signing in at the OIDC issuer starts with this.
const OIDC_SESSION_PREFIX: &str = "t1co_";

/// A new session: the bearer token (shown once) and its lifetime.
pub struct Session {
    /// The bearer token.
    pub token: Zeroizing<String>,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// Checks credentials and bearer tokens.
#[derive(Debug, Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    oidc: Option<Arc<oidc::OidcVerifier>>,
    sign_in: Option<Arc<oidc::signin::SignIn>>,
    clock: SharedClock,
    session_lifetime: i64,
}

impl Authenticator {
    /// An authenticator over `store`, with OIDC when `oidc` is given.
    pub fn new(
        store: Arc<dyn Store>,
        oidc: Option<Arc<oidc::OidcVerifier>>,
        clock: SharedClock,
        session_lifetime: i64,
    ) -> Self {
        Self { store, oidc, sign_in: None, clock, session_lifetime }
    }

    /// The same, offering the dashboard's sign-in at the issuer through `sign_in`.
    pub fn with_sign_in(mut self, sign_in: Option<Arc<oidc::signin::SignIn>>) -> Self {
        self.sign_in = sign_in;
        self
    }

    /// The dashboard's sign-in at the issuer, when configured.
    pub fn sign_in(&self) -> Option<&oidc::signin::SignIn> {
        self.sign_in.as_deref()
    }

    /// Opens a session for the operator the tokens of a dashboard sign-in name.
    ///
    /// The ID token must be for the sign-in's client and carry `nonce`
    /// ([`oidc::OidcVerifier::verify_id_token`]); the access token must pass exactly the
    /// checks of the operators' API ([`oidc::OidcVerifier::verify`]), which give the role and
    /// organisation; both must name the same subject.
    ///
    /// # Errors
    /// [`AuthError::Refused`] when a token fails a check, [`AuthError::NoRole`] when it grants
    /// no T1C role (the reasons are for the log), [`AuthError::Unavailable`] when the issuer's keys cannot be loaded or
    /// sign-in is not configured, [`AuthError::Store`] when the store fails.
    pub async fn open_oidc_session(
        &self,
        tokens: &oidc::signin::Tokens,
        nonce: &str,
    ) -> Result<(Session, Principal), AuthError> {
        let (Some(oidc), Some(sign_in)) = (&self.oidc, &self.sign_in) else {
            return Err(AuthError::Unavailable("OIDC sign-in is not configured".into()));
        };
        let refused = |err: oidc::OidcError| match err {
            oidc::OidcError::Unavailable(why) => AuthError::Unavailable(why),
            oidc::OidcError::NoRole | oidc::OidcError::MissingOrganisation => {
                AuthError::NoRole(err.to_string())
            }
            other => AuthError::Refused(other.to_string()),
        };
        let subject = oidc
            .verify_id_token(&tokens.id_token, sign_in.client_id(), nonce)
            .await
            .map_err(|err| refused(err).context("ID token"))?;
        let identity = oidc
            .verify(&tokens.access_token)
            .await
            .map_err(|err| refused(err).context("access token"))?;
        if identity.subject != subject {
            return Err(AuthError::Refused(
                "the ID and access tokens name different subjects".into(),
            ));
        }
        let principal = principal_of_identity(&identity);
        let token = new_token(OIDC_SESSION_PREFIX)?;
        let now = self.clock.now();
        let session = OidcSession {
            subject: identity.subject,
            username: identity.username,
            role: principal.role,
            organisation_id: principal.organisation_id.clone(),
            created_at: now,
            expires_at: now + self.session_lifetime,
        };
        self.store.create_oidc_session(&session_hash(&token), &session).await?;
        tracing::info!(actor = %principal.actor, role = principal.role.as_str(), "operator signed in at the OIDC issuer");
        Ok((Session { token, expires_in: self.session_lifetime }, principal))
    }

    /// Logs a local account in and opens a session.
    ///
    /// # Errors
    /// [`AuthError::BadCredentials`] for an unknown name or wrong password (same answer, same
    /// time), [`AuthError::Store`] when the store fails.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, AuthError> {
        let user = match self.store.user_by_name(username).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => {
                let password = Zeroizing::new(password.to_owned());
                let _ =
                    tokio::task::spawn_blocking(move || password::verify_nothing(&password)).await;
                return Err(AuthError::BadCredentials);
            }
            Err(err) => return Err(err.into()),
        };
        let phc = user.password_hash.clone();
        let attempt = Zeroizing::new(password.to_owned());
        let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &phc))
            .await
            .unwrap_or(false);
        if !matches {
            return Err(AuthError::BadCredentials);
        }
        let token = new_token(SESSION_PREFIX)?;
        let now = self.clock.now();
        self.store
            .create_session(&session_hash(&token), &user.id, now, now + self.session_lifetime)
            .await?;
        tracing::info!(user = %user.username, "operator logged in");
        Ok(Session { token, expires_in: self.session_lifetime })
    }

    /// Ends the session of `authorization` (a no-op for OIDC tokens and unknown sessions).
    ///
    /// # Errors
    /// [`AuthError::Store`] when the store fails.
    pub async fn logout(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        if let Some(token) = bearer(authorization)
            .filter(|t| t.starts_with(SESSION_PREFIX) || t.starts_with(OIDC_SESSION_PREFIX))
        {
            self.store.delete_session(&session_hash(token)).await?;
        }
        Ok(())
    }

    /// The operator behind an `Authorization` header.
    ///
    /// # Errors
    /// [`AuthError`] saying why (log it; the client only learns "unauthorized").
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer(authorization).ok_or(AuthError::Missing)?;
        if token.starts_with(SESSION_PREFIX) {
            if token.len() > 128 {
                return Err(AuthError::Refused("malformed session token".into()));
            }
            let user = self
                .store
                .session_user(&session_hash(token), self.clock.now())
                .await?
                .ok_or_else(|| AuthError::Refused("unknown or expired session".into()))?;
            return Ok(principal_of(&user));
        }
        if token.starts_with(OIDC_SESSION_PREFIX) {
            if token.len() > 128 {
                return Err(AuthError::Refused("malformed session token".into()));
            }
            let session = self
                .store
                .oidc_session(&session_hash(token), self.clock.now())
                .await?
                .ok_or_else(|| AuthError::Refused("unknown or expired session".into()))?;
            return Ok(Principal {
                actor: oidc_actor(session.username.as_deref(), &session.subject),
                role: session.role,
                organisation_id: session.organisation_id,
            });
        }
        let Some(oidc) = &self.oidc else {
            return Err(AuthError::Refused(
                "not a session token, and OIDC is not configured".into(),
            ));
        };
        let identity = oidc.verify(token).await.map_err(|err| match err {
            oidc::OidcError::Unavailable(why) => AuthError::Unavailable(why),
            other => AuthError::Refused(other.to_string()),
        })?;
        Ok(principal_of_identity(&identity))
    }
}

impl AuthError {
    /// The same error, its reason prefixed with `what` was refused.
    fn context(self, what: &str) -> Self {
        match self {
            AuthError::Refused(why) => AuthError::Refused(format!("{what}: {why}")),
            AuthError::Unavailable(why) => AuthError::Unavailable(format!("{what}: {why}")),
            other => other,
        }
    }
}

/// The principal of an operator an OIDC token names.
fn principal_of_identity(identity: &oidc::OidcIdentity) -> Principal {
    Principal {
        actor: oidc_actor(identity.username.as_deref(), &identity.subject),
        role: match identity.role {
            oidc::OidcRole::PlatformAdmin => Role::PlatformAdmin,
            oidc::OidcRole::OrganisationAdmin => Role::OrganisationAdmin,
            oidc::OidcRole::Analyst => Role::Analyst,
        },
        organisation_id: identity.organisation.clone(),
    }
}

/// `oidc:<username>`, or `oidc:<subject>` without one.
fn oidc_actor(username: Option<&str>, subject: &str) -> String {
    format!("oidc:{}", username.unwrap_or(subject))
}

/// A new session token: `prefix` and 256 random bits, base64url.
fn new_token(prefix: &str) -> Result<Zeroizing<String>, AuthError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| AuthError::Refused(e.to_string()))?;
    let mut token = Zeroizing::new(String::from(prefix));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut token);
    Ok(token)
}

/// The principal of a local account.
pub fn principal_of(user: &User) -> Principal {
    Principal {
        actor: format!("user:{}", user.username),
        role: user.role,
        organisation_id: user.organisation_id.clone(),
    }
}

/// The token of a `Bearer` header value.
fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn session_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, org: Option<&str>) -> Principal {
        Principal { actor: "t".into(), role, organisation_id: org.map(str::to_owned) }
    }

    #[test]
    fn scopes() {
        let admin = principal(Role::PlatformAdmin, None);
        let org_admin = principal(Role::OrganisationAdmin, Some("a"));
        let analyst = principal(Role::Analyst, Some("a"));
        assert!(admin.sees("b") && admin.changes("b"));
        assert!(org_admin.sees("a") && org_admin.changes("a"));
        assert!(!org_admin.sees("b") && !org_admin.changes("b"));
        assert!(analyst.sees("a") && !analyst.changes("a") && !analyst.sees("b"));
        assert_eq!(org_admin.scope().as_deref(), Some("a"));
        assert_eq!(admin.scope(), None);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
