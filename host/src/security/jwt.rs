//! JWT checks: when enabled, every route but `/info` and `/device-key` needs
//! `Authorization: Bearer <jwt>` signed by a configured key, chosen by the token's `kid`.
//!
//! Only RS256, ES256 and EdDSA are accepted, each only with a key of its own type, so `alg:
//! none` and HMAC-with-the-public-key confusion cannot pass. Expired and not-yet-valid tokens,
//! a wrong issuer, an unknown `kid` or a malformed token are all refused with the same
//! [`JwtError`] to the client; the reason goes to the log only.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// Why a token was refused (for the log; clients only learn "unauthorized").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The token's header cannot be read or names no `kid`.
    #[error("malformed token")]
    Malformed,
    /// No configured key has the token's `kid`.
    #[error("unknown key id")]
    UnknownKey,
    /// The token's `alg` differs from its key's algorithm (`none`, HS256, ...).
    #[error("algorithm not allowed for this key")]
    Algorithm,
    /// Signature, expiry, not-before or issuer check failed.
    #[error("token rejected: {0}")]
    Rejected(String),
    /// The header lists critical extensions (`crit`); the connector understands none, and
    /// RFC 7515 §4.1.11 says such a token must be rejected.
    #[error("critical header extensions are not understood")]
    CriticalExtension,
}

/// Why the verifier cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtKeyError {
    /// The key file cannot be read.
    #[error("cannot read JWT key {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a public key of the configured algorithm.
    #[error("JWT key {kid}: {message}")]
    Key {
        /// The key id.
        kid: String,
        /// What is wrong.
        message: String,
    },
}

/// The claims the connector uses; others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// Subject: the label (application) the token was issued for.
    #[serde(default)]
    pub sub: Option<String>,
    /// An explicit label claim, when the issuer sets one.
    #[serde(default)]
    pub label: Option<String>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
    /// Expiry (seconds since the epoch); required.
    #[serde(default)]
    pub exp: Option<i64>,
}

impl Claims {
    /// The label transactions are counted under: `label`, else `sub`.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref().or(self.sub.as_deref())
    }
}

struct VerificationKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Tokens verified before, by SHA-256 of the token: a page sends the same token with every
/// request, and a signature check costs far more than the rest of a request.
const VERIFIED_CACHE: usize = 1024;

/// Verifies bearer tokens against the configured keys.
pub struct JwtVerifier {
    keys: HashMap<String, VerificationKey>,
    issuer: Option<String>,
    verified: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("JwtVerifier").field("kids", &kids).field("issuer", &self.issuer).finish()
    }
}

impl JwtVerifier {
    /// A verifier with no keys (every token is refused).
    pub fn new(issuer: Option<String>) -> Self {
        Self { keys: HashMap::new(), issuer, verified: Default::default() }
    }

    /// Adds a key from PEM text.
    ///
    /// # Errors
    /// [`JwtKeyError::Key`] when the algorithm is not RS256, ES256 or EdDSA or the PEM does not
    /// hold a matching public key.
    pub fn add_key_pem(
        &mut self,
        kid: &str,
        algorithm: &str,
        pem: &[u8],
    ) -> Result<(), JwtKeyError> {
        let bad = |message: String| JwtKeyError::Key { kid: kid.to_owned(), message };
        let (algorithm, key) = match algorithm {
            "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
            "ES256" => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
            "EdDSA" => (Algorithm::EdDSA, DecodingKey::from_ed_pem(pem)),
            other => {
                return Err(bad(format!("algorithm {other} is not one of RS256, ES256, EdDSA")));
            }
        };
        let key = key.map_err(|e| bad(e.to_string()))?;
        self.keys.insert(kid.to_owned(), VerificationKey { algorithm, key });
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Adds a key from a public JWK (as a DS publishes them in its JWKS): its `kid`, and its
    /// algorithm from `alg` or else its key type (EC P-256 → ES256, RSA → RS256, OKP Ed25519 →
    /// EdDSA).
    ///
    /// # Errors
    /// [`JwtKeyError::Key`] when the JWK has no `kid`, is not a public key of one of those
    /// algorithms, or does not parse.
    pub fn add_key_jwk(&mut self, jwk: &serde_json::Value) -> Result<(), JwtKeyError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
        let kid = jwk.get("kid").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
        let bad =
            |message: &str| JwtKeyError::Key { kid: kid.clone(), message: message.to_owned() };
        if kid.is_empty() {
            return Err(bad("a JWK without kid"));
        }
        if jwk.get("d").is_some() {
            return Err(bad("a private key"));
        }
        let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| bad(&e.to_string()))?;
        let by_type = match &parsed.algorithm {
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            _ => return Err(bad("not an EC P-256, RSA or Ed25519 public key")),
        };
        let algorithm = match jwk.get("alg").and_then(|a| a.as_str()) {
            None => by_type,
            Some("ES256") if by_type == Algorithm::ES256 => by_type,
            Some("RS256") if by_type == Algorithm::RS256 => by_type,
            Some("EdDSA") if by_type == Algorithm::EdDSA => by_type,
            Some(other) => return Err(bad(&format!("alg {other} does not fit the key"))),
        };
        let key = DecodingKey::from_jwk(&parsed).map_err(|e| bad(&e.to_string()))?;
        self.keys.insert(kid, VerificationKey { algorithm, key });
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Adds a key from a PEM file.
    ///
    /// # Errors
    /// As [`JwtVerifier::add_key_pem`], plus [`JwtKeyError::Read`].
    pub fn add_key_file(
        &mut self,
        kid: &str,
        algorithm: &str,
        path: &Path,
    ) -> Result<(), JwtKeyError> {
        let pem = std::fs::read(path)
            .map_err(|source| JwtKeyError::Read { path: path.to_owned(), source })?;
        self.add_key_pem(kid, algorithm, &pem)
    }

    /// Checks an `Authorization` header value and returns the token's claims.
    ///
    /// # Errors
    /// [`JwtError`] saying why (log it; tell the client only "unauthorized").
    pub fn verify_header(&self, authorization: Option<&str>) -> Result<Claims, JwtError> {
        let token = authorization
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(JwtError::Missing)?;
        self.verify(token)
    }

    /// Checks a token and returns its claims.
    ///
    /// # Errors
    /// [`JwtError`] saying why.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
        {
            let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(claims) = verified.get(&digest) {
                // Same bytes, same signature: only time can have made it invalid since.
                if claims.exp.is_some_and(|exp| exp + leeway >= now) {
                    return Ok(claims.clone());
                }
                verified.remove(&digest);
            }
        }
        let claims = self.verify_signature(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, JwtError> {
        refuse_critical_extensions(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let kid = header.kid.ok_or(JwtError::Malformed)?;
        let key = self.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(JwtError::Algorithm);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Rejected(e.kind().to_owned_string()))
    }
}

/// [`JwtError::CriticalExtension`] when the token's protected header has a `crit` member:
/// jsonwebtoken ignores it, but a recipient that does not understand every listed extension
/// must reject the token (RFC 7515 §4.1.11), and this one understands none.
fn refuse_critical_extensions(token: &str) -> Result<(), JwtError> {
    use base64::Engine as _;
    let header = token.split('.').next().ok_or(JwtError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if header.contains_key("crit") { Err(JwtError::CriticalExtension) } else { Ok(()) }
}

/// Short names for jsonwebtoken's error kinds, for the log.
trait KindName {
    fn to_owned_string(&self) -> String;
}

impl KindName for jsonwebtoken::errors::ErrorKind {
    fn to_owned_string(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self {
            K::ExpiredSignature => "expired".into(),
            K::ImmatureSignature => "not yet valid".into(),
            K::InvalidIssuer => "wrong issuer".into(),
            K::InvalidSignature => "bad signature".into(),
            K::InvalidAlgorithm => "algorithm mismatch".into(),
            K::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519};
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use serde_json::json;

    use super::*;

    struct Keys {
        rsa_private: String,
        ec: KeyPair,
        ed: KeyPair,
        verifier: JwtVerifier,
    }

    fn keys() -> Keys {
        let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa");
        let rsa_private = rsa.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
        let rsa_public =
            rsa::RsaPublicKey::from(&rsa).to_public_key_pem(LineEnding::LF).expect("pem");
        let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ec");
        let ed = KeyPair::generate_for(&PKCS_ED25519).expect("ed");
        let mut verifier = JwtVerifier::new(Some("t1c-ds".into()));
        verifier.add_key_pem("rsa", "RS256", rsa_public.as_bytes()).expect("rsa key");
        verifier.add_key_pem("ec", "ES256", ec.public_key_pem().as_bytes()).expect("ec key");
        verifier.add_key_pem("ed", "EdDSA", ed.public_key_pem().as_bytes()).expect("ed key");
        Keys { rsa_private, ec, ed, verifier }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims(exp_in: i64) -> serde_json::Value {
        json!({ "sub": "app-label", "iss": "t1c-ds", "exp": now() + exp_in, "nbf": now() - 10 })
    }

    fn token(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &serde_json::Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).expect("encode")
    }

    /// A token signed with the Ed25519 key of `keys`, with `header` as its protected header.
    fn ed25519_token(
        keys: &Keys,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> String {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let input = format!("{}.{}", b64(header), b64(claims));
        let pair =
            ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&keys.ed.serialize_der())
                .expect("ed25519 key");
        let signature = pair.sign(input.as_bytes());
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
        format!("{input}.{signature}")
    }

    #[test]
    fn a_token_with_critical_extensions_is_rejected() {
        let keys = keys();
        let plain = json!({ "alg": "EdDSA", "kid": "ed", "typ": "JWT" });
        let token = ed25519_token(&keys, &plain, &claims(300));
        assert!(keys.verifier.verify(&token).is_ok(), "the same token without crit passes");
        for crit in [json!(["x-unknown"]), json!(["exp"]), json!([])] {
            let header = json!({ "alg": "EdDSA", "kid": "ed", "crit": crit, "x-unknown": 1 });
            let token = ed25519_token(&keys, &header, &claims(300));
            assert_eq!(keys.verifier.verify(&token), Err(JwtError::CriticalExtension), "{crit}");
        }
    }

    #[test]
    fn valid_tokens_of_each_algorithm_pass_and_give_the_label() {
        let keys = keys();
        let cases = [
            (Algorithm::RS256, "rsa", EncodingKey::from_rsa_pem(keys.rsa_private.as_bytes())),
            (Algorithm::ES256, "ec", EncodingKey::from_ec_pem(keys.ec.serialize_pem().as_bytes())),
            (Algorithm::EdDSA, "ed", EncodingKey::from_ed_pem(keys.ed.serialize_pem().as_bytes())),
        ];
        for (alg, kid, key) in cases {
            let jwt = token(alg, kid, &key.expect("key"), &claims(300));
            let claims =
                keys.verifier.verify_header(Some(&format!("Bearer {jwt}"))).expect("valid");
            assert_eq!(claims.label(), Some("app-label"));
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        let header = base64_url(br#"{"alg":"none","typ":"JWT","kid":"rsa"}"#);
        let body = base64_url(claims(300).to_string().as_bytes());
        let jwt = format!("{header}.{body}.");
        assert!(keys.verifier.verify(&jwt).is_err());
    }

    #[test]
    fn hmac_signed_with_the_public_key_is_refused() {
        let keys = keys();
        let public = keys.ec.public_key_pem();
        let jwt = token(
            Algorithm::HS256,
            "ec",
            &EncodingKey::from_secret(public.as_bytes()),
            &claims(300),
        );
        assert_eq!(keys.verifier.verify(&jwt), Err(JwtError::Algorithm));
    }

    #[test]
    fn expired_not_yet_valid_wrong_issuer_wrong_key_are_refused() {
        let keys = keys();
        let ec = EncodingKey::from_ec_pem(keys.ec.serialize_pem().as_bytes()).expect("key");
        let expired = token(Algorithm::ES256, "ec", &ec, &claims(-3600));
        assert!(
            matches!(keys.verifier.verify(&expired), Err(JwtError::Rejected(r)) if r == "expired")
        );
        let mut early = claims(3600);
        early["nbf"] = json!(now() + 3600);
        let early = token(Algorithm::ES256, "ec", &ec, &early);
        assert!(
            matches!(keys.verifier.verify(&early), Err(JwtError::Rejected(r)) if r == "not yet valid")
        );
        let mut other_issuer = claims(300);
        other_issuer["iss"] = json!("someone-else");
        let other_issuer = token(Algorithm::ES256, "ec", &ec, &other_issuer);
        assert!(
            matches!(keys.verifier.verify(&other_issuer), Err(JwtError::Rejected(r)) if r == "wrong issuer")
        );
        let stranger = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ec");
        let forged = token(
            Algorithm::ES256,
            "ec",
            &EncodingKey::from_ec_pem(stranger.serialize_pem().as_bytes()).expect("key"),
            &claims(300),
        );
        assert!(matches!(keys.verifier.verify(&forged), Err(JwtError::Rejected(_))));
        let unknown_kid = token(Algorithm::ES256, "nope", &ec, &claims(300));
        assert_eq!(keys.verifier.verify(&unknown_kid), Err(JwtError::UnknownKey));
    }

    #[test]
    fn a_verified_token_is_remembered_but_a_forged_twin_is_not() {
        let keys = keys();
        let ec = EncodingKey::from_ec_pem(keys.ec.serialize_pem().as_bytes()).expect("key");
        let jwt = token(Algorithm::ES256, "ec", &ec, &claims(300));
        let first = keys.verifier.verify(&jwt).expect("valid");
        assert_eq!(keys.verifier.verify(&jwt).expect("cached"), first);
        let (head, _) = jwt.rsplit_once('.').expect("three parts");
        let forged = format!("{head}.{}", base64_url(&[0u8; 64]));
        assert!(keys.verifier.verify(&forged).is_err());
    }

    #[test]
    fn malformed_headers_and_tokens_are_refused() {
        let keys = keys();
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic abc"),
            Some("Bearer a.b.c"),
            Some("Bearer ...."),
        ] {
            assert!(keys.verifier.verify_header(header).is_err(), "{header:?}");
        }
    }

    /// The public JWK of a P-256 key pair, as a DS publishes it.
    fn ec_jwk(pair: &KeyPair, kid: &str) -> serde_json::Value {
        use base64::Engine as _;
        let point = pair.public_key_raw();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            "kid": kid, "alg": "ES256", "use": "sig"})
    }

    #[test]
    fn keys_from_a_jwks_verify_tokens_of_the_current_and_the_next_key() {
        let (current, next) = (
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ec"),
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ec"),
        );
        let mut verifier = JwtVerifier::new(Some("t1c-ds".into()));
        verifier.add_key_jwk(&ec_jwk(&current, "k1")).expect("k1");
        verifier.add_key_jwk(&ec_jwk(&next, "k2")).expect("k2");
        for (kid, pair) in [("k1", &current), ("k2", &next)] {
            let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("key");
            let token = token(Algorithm::ES256, kid, &key, &claims(60));
            assert!(
                verifier.verify(&token).is_ok(),
                "a token of {kid}, before and after a rotation"
            );
        }
        let mut private = ec_jwk(&current, "k3");
        private["d"] = json!("AAAA");
        let refused = [
            json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
            private,
            json!({"kty": "oct", "k": "AAAA", "kid": "k4"}),
            {
                let mut lying = ec_jwk(&current, "k5");
                lying["alg"] = json!("RS256");
                lying
            },
        ];
        for jwk in refused {
            assert!(matches!(verifier.add_key_jwk(&jwk), Err(JwtKeyError::Key { .. })), "{jwk}");
        }
    }

    #[test]
    fn keys_of_the_wrong_type_are_configuration_errors() {
        let mut verifier = JwtVerifier::new(None);
        let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ec");
        assert!(verifier.add_key_pem("k", "RS256", ec.public_key_pem().as_bytes()).is_err());
        assert!(verifier.add_key_pem("k", "HS256", b"secret").is_err());
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
