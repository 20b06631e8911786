//! The application token: a short-lived JWT the DS issues for one label (a web application) to
//! that application's back end, which hands it to the page, which sends it to the connector.

use serde::{Deserialize, Serialize};

/// The JOSE `typ` of an application token (RFC 9068 access-token profile).
pub const APPLICATION_TOKEN_TYPE: &str = "at+jwt";

/// The audience of every application token: connectors.
pub const CONNECTOR_AUDIENCE: &str = "t1c-connector";

/// The claims of an application token. The connector checks `iss`, `aud`, `exp` and `nbf`, and
/// counts transactions under `sub` (the label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationClaims {
    /// The DS that issued the token (its configured issuer name).
    pub iss: String,
    /// Always [`CONNECTOR_AUDIENCE`].
    pub aud: String,
    /// The label (application) the token was issued for.
    pub sub: String,
    /// The organisation owning the label.
    pub org: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// A unique id (128 random bits, hex).
    pub jti: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_use_the_registered_names() {
        let claims = ApplicationClaims {
            iss: "ds".into(),
            aud: CONNECTOR_AUDIENCE.into(),
            sub: "shop".into(),
            org: "acme".into(),
            exp: 3,
            iat: 1,
            nbf: 1,
            jti: "ab".into(),
        };
        let json = serde_json::to_value(&claims).expect("serialises");
        for name in ["iss", "aud", "sub", "org", "exp", "iat", "nbf", "jti"] {
            assert!(json.get(name).is_some(), "{name} missing in {json}");
        }
    }
}
