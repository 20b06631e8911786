//! The records of dashboard sign-in through the OIDC issuer: a sign-in under way, and the
//! session it opens.

use zeroize::Zeroizing;

use super::Role;

/// A sign-in between the redirect to the issuer and its answer, found by the SHA-256 of its
/// `state` and used once.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcLogin {
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier the code is exchanged with.
    pub code_verifier: Zeroizing<String>,
    /// The `redirect_uri` the authorization request named (the exchange must repeat it).
    pub redirect_uri: String,
    /// Started.
    pub created_at: i64,
    /// Refused after this moment.
    pub expires_at: i64,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An operator's session opened by signing in at the OIDC issuer: who the tokens named and the
/// role they granted then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSession {
    /// The ID token's `sub`.
    pub subject: String,
    /// `preferred_username`, when the tokens had one.
    pub username: Option<String>,
    /// The role granted.
    pub role: Role,
    /// The organisation an organisation administrator or analyst is bound to.
    pub organisation_id: Option<String>,
    /// Opened.
    pub created_at: i64,
    /// Ends.
    pub expires_at: i64,
}
