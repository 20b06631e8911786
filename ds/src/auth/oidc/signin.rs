//! The dashboard's sign-in at the OIDC issuer: the authorization code flow with PKCE (RFC 7636,
//! `S256`), a `state` bound to the browser and a `nonce` bound to the ID token.
//!
//! [`SignIn::start`] makes the secrets of one sign-in and the authorization URL the browser is
//! sent to; [`SignIn::exchange`] trades the code the browser brings back for the tokens at the
//! issuer's token endpoint. Neither keeps anything: the caller stores the sign-in under way (by
//! its `state`, used once, for [`LOGIN_LIFETIME_SECS`]) and checks the tokens with
//! [`super::OidcVerifier`]. Codes, verifiers and tokens are never logged nor put in an error.

use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::jwks::{FETCH_TIMEOUT, get_json, read_json};
use super::{MAX_AGE_SECS, OidcConfig};
use crate::clock::SharedClock;
use crate::store::OidcLogin;

/// How long a browser has between being sent to the issuer and coming back, in seconds.
pub const LOGIN_LIFETIME_SECS: i64 = 600;

/// Why a sign-in cannot go on. The message is for the log and holds no code or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The issuer (its discovery document or token endpoint) cannot be reached or answers
    /// nonsense.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (used, expired, not for this client or verifier).
    #[error("the identity provider refused the code: {0}")]
    Refused(String),
}

/// A sign-in just started: what to store, the browser's `state`, and where to send it.
pub struct Started {
    /// The `state`: the browser keeps it in a cookie, the issuer echoes it back.
    pub state: Zeroizing<String>,
    /// What the callback needs, to be stored under the `state`'s digest.
    pub login: OidcLogin,
    /// The issuer's authorization URL with every parameter.
    pub authorization_url: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").field("login", &self.login).finish_non_exhaustive()
    }
}

/// The tokens of an exchanged code.
pub struct Tokens {
    /// The ID token: who signed in, for this client and this sign-in's nonce.
    pub id_token: Zeroizing<String>,
    /// The access token: what the operators' API would accept, and where the roles are.
    pub access_token: Zeroizing<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(***)")
    }
}

/// The issuer's endpoints for the flow.
#[derive(Debug)]
struct Endpoints {
    authorization: String,
    token: String,
}

/// The dashboard's client at the issuer.
#[derive(Debug)]
pub struct SignIn {
    config: OidcConfig,
    client_id: String,
    http: reqwest::Client,
    clock: SharedClock,
    /// The discovered endpoints and when they were fetched; fetched again after
    /// [`MAX_AGE_SECS`], never kept after a failure.
    endpoints: tokio::sync::Mutex<Option<(Arc<Endpoints>, i64)>>,
}

impl SignIn {
    /// The sign-in for `config`, or `None` when it offers none
    /// ([`OidcConfig::offers_sign_in`]).
    pub fn new(config: OidcConfig, http: reqwest::Client, clock: SharedClock) -> Option<Self> {
        if !config.offers_sign_in() {
            return None;
        }
        let client_id = config.client_id.clone().unwrap_or_default();
        Some(Self { config, client_id, http, clock, endpoints: tokio::sync::Mutex::new(None) })
    }

    /// The issuer's name on the sign-in button.
    pub fn display_name(&self) -> String {
        if let Some(name) = self.config.display_name.as_deref().filter(|n| !n.is_empty()) {
            return name.to_owned();
        }
        reqwest::Url::parse(&self.config.issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.config.issuer.clone())
    }

    /// The client id (the ID token's audience).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configured redirect URI, if one is.
    pub fn redirect_url(&self) -> Option<&str> {
        self.config.redirect_url.as_deref().filter(|url| !url.is_empty())
    }

    /// Starts a sign-in returning to `redirect_uri`: fresh `state`, `nonce` and PKCE verifier
    /// (256 random bits each), and the authorization URL carrying the verifier's S256
    /// challenge.
    ///
    /// # Errors
    /// [`SignInError::Unavailable`] when the endpoints cannot be discovered or randomness fails.
    pub async fn start(&self, redirect_uri: &str) -> Result<Started, SignInError> {
        let endpoints = self.endpoints().await?;
        let state = random()?;
        let nonce = random()?;
        let code_verifier = random()?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(code_verifier.as_bytes()));
        let mut scopes: Vec<&str> = self.config.scopes.split_whitespace().collect();
        if !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }
        let mut url = reqwest::Url::parse(&endpoints.authorization).map_err(|_| {
            SignInError::Unavailable("the authorization endpoint is not a URL".into())
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let now = self.clock.now();
        let login = OidcLogin {
            nonce: nonce.as_str().to_owned(),
            code_verifier,
            redirect_uri: redirect_uri.to_owned(),
            created_at: now,
            expires_at: now + LOGIN_LIFETIME_SECS,
        };
        Ok(Started { state, login, authorization_url: url.into() })
    }

    /// Exchanges `code` for the tokens, with the verifier and redirect URI of `login`.
    ///
    /// # Errors
    /// [`SignInError::Refused`] when the token endpoint refuses the code (its OAuth `error`
    /// code in the message), [`SignInError::Unavailable`] when it cannot be reached, fails or
    /// answers without an ID token.
    pub async fn exchange(&self, code: &str, login: &OidcLogin) -> Result<Tokens, SignInError> {
        let endpoints = self.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", login.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", login.code_verifier.as_str()),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.0.as_str()));
        }
        let response = self
            .http
            .post(&endpoints.token)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                SignInError::Unavailable(format!("cannot reach the token endpoint: {e}"))
            })?;
        let status = response.status();
        if status.is_client_error() {
            #[derive(Deserialize)]
            struct Refusal {
                error: Option<String>,
            }
            let refusal = read_json::<Refusal>(response, "the token endpoint").await.ok();
            let error = refusal.and_then(|r| r.error).filter(|e| oauth_error_code(e));
            return Err(SignInError::Refused(error.unwrap_or_else(|| status.to_string())));
        }
        if !status.is_success() {
            return Err(SignInError::Unavailable(format!("the token endpoint answered {status}")));
        }
        #[derive(Deserialize)]
        struct Answer {
            id_token: Option<String>,
            access_token: Option<String>,
        }
        let answer: Answer =
            read_json(response, "the token endpoint").await.map_err(SignInError::Unavailable)?;
        match (answer.id_token, answer.access_token) {
            (Some(id), Some(access)) => {
                Ok(Tokens { id_token: Zeroizing::new(id), access_token: Zeroizing::new(access) })
            }
            _ => Err(SignInError::Unavailable(
                "the token endpoint answered without an ID token or access token".into(),
            )),
        }
    }

    /// The authorization and token endpoints: configured, else discovered (and cached).
    async fn endpoints(&self) -> Result<Arc<Endpoints>, SignInError> {
        if let (Some(authorization), Some(token)) =
            (&self.config.authorization_url, &self.config.token_url)
        {
            return Ok(Arc::new(Endpoints {
                authorization: authorization.clone(),
                token: token.clone(),
            }));
        }
        let mut cached = self.endpoints.lock().await;
        let now = self.clock.now();
        if let Some((endpoints, fetched_at)) = cached.as_ref()
            && now - fetched_at < MAX_AGE_SECS
        {
            return Ok(Arc::clone(endpoints));
        }
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            authorization_endpoint: String,
            token_endpoint: String,
            code_challenge_methods_supported: Option<Vec<String>>,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let discovery = match get_json::<Discovery>(&self.http, &url).await {
            Ok(discovery) => discovery,
            Err(cause) => {
                *cached = None;
                return Err(SignInError::Unavailable(cause));
            }
        };
        if discovery.issuer != self.config.issuer {
            return Err(SignInError::Unavailable(format!(
                "{url} names issuer {:?}, not the configured {:?}",
                discovery.issuer, self.config.issuer
            )));
        }
        if discovery
            .code_challenge_methods_supported
            .is_some_and(|methods| !methods.iter().any(|m| m == "S256"))
        {
            return Err(SignInError::Unavailable(format!("{url} does not offer PKCE with S256")));
        }
        let endpoints = Arc::new(Endpoints {
            authorization: self
                .config
                .authorization_url
                .clone()
                .unwrap_or(discovery.authorization_endpoint),
            token: self.config.token_url.clone().unwrap_or(discovery.token_endpoint),
        });
        *cached = Some((Arc::clone(&endpoints), now));
        Ok(endpoints)
    }
}

/// 256 random bits, base64url: a state, nonce or PKCE verifier (43 characters, within RFC
/// 7636's alphabet and length).
fn random() -> Result<Zeroizing<String>, SignInError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| SignInError::Unavailable(e.to_string()))?;
    Ok(Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

/// Whether `text` looks like an OAuth error code (`invalid_grant`): shown and logged, so
/// nothing else the issuer sends is.
fn oauth_error_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_oauth_error_codes_are_repeated() {
        assert!(oauth_error_code("invalid_grant"));
        assert!(!oauth_error_code("code abc123 is used"));
        assert!(!oauth_error_code(""));
    }

    #[test]
    fn randoms_are_pkce_verifiers() {
        let verifier = random().expect("random");
        assert_eq!(verifier.len(), 43);
        assert!(verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(*verifier, *random().expect("random"));
    }
}
