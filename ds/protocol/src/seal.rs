//! Sealing and opening messages: the payload is signed (JWS, EdDSA over Ed25519, `kid` = the
//! sender's key id) and the JWS is encrypted (JWE, ECDH-ES over X25519 with A256GCM, `kid` =
//! the recipient's key id, `cty: JWS`).
//!
//! Why these curves: Ed25519 signs and verifies in tens of microseconds with deterministic
//! signatures (no nonce to get wrong), X25519 agreement is as fast and constant-time by design,
//! and both keys are 32 bytes, so a DS serving millions of devices keeps and checks them
//! cheaply. P-256 would be the choice only for hardware that cannot do Curve25519.
//!
//! Opening checks, in order: size, the JWE's recipient key, decryption, the JWS's sender key,
//! the signature, the envelope's version, device id and time window. Every failure is an
//! [`OpenError`]; callers answer all of them with one generic refusal. Replays (a message id
//! seen before within the window) are the receiver's check: it holds the seen ids.

use josekit::jwe::{self, ECDH_ES, JweHeader};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ecx::{EcxCurve, EcxKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jws::{self, EdDSA, JwsHeader};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::messages::{ENVELOPE_VERSION, Envelope};

/// The largest sealed message accepted.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// How far a message's `issued_at` may be from the receiver's clock, either way.
pub const TIME_WINDOW_SECS: i64 = 300;
/// The JWS `typ` of a sealed payload.
const PAYLOAD_TYPE: &str = "t1c-ds+jws";

/// Why a message cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message too large")]
    TooLarge,
    /// Not a compact JWE around a compact JWS, or not the expected JSON.
    #[error("malformed message")]
    Malformed,
    /// Encrypted to a key the receiver does not hold.
    #[error("message for another recipient")]
    WrongRecipient,
    /// Decryption failed (tampered, or a wrong key).
    #[error("cannot decrypt")]
    Decrypt,
    /// Signed with a key the receiver does not know for that sender.
    #[error("unknown sender key")]
    UnknownSender,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// An envelope version this side does not speak.
    #[error("unsupported envelope version")]
    Version,
    /// The envelope names another device than expected.
    #[error("message names another device")]
    WrongDevice,
    /// Older than the time window.
    #[error("message expired")]
    Expired,
    /// Newer than the time window.
    #[error("message from the future")]
    FutureDated,
    /// An answer, but to another message (a replayed answer).
    #[error("an answer to another message")]
    NotTheAnswer,
    /// A key is unusable, or sealing failed.
    #[error("key or sealing failure: {0}")]
    Key(String),
}

fn key_error(e: impl std::fmt::Display) -> OpenError {
    OpenError::Key(e.to_string())
}

/// A party's private keys: Ed25519 to sign, X25519 to decrypt, each with its key id.
#[derive(Clone)]
pub struct PrivateKeys {
    /// Signing key (private JWK, with `kid`).
    pub signing: Jwk,
    /// Decryption key (private JWK, with `kid`).
    pub encryption: Jwk,
}

impl std::fmt::Debug for PrivateKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKeys")
            .field("signing", &self.signing.key_id())
            .field("encryption", &self.encryption.key_id())
            .finish_non_exhaustive()
    }
}

impl PrivateKeys {
    /// Fresh keys with the given key ids.
    ///
    /// # Errors
    /// [`OpenError::Key`] when the crypto library fails.
    pub fn generate(signing_kid: &str, encryption_kid: &str) -> Result<Self, OpenError> {
        let mut signing =
            EdKeyPair::generate(EdCurve::Ed25519).map_err(key_error)?.to_jwk_key_pair();
        signing.set_key_id(signing_kid);
        let mut encryption =
            EcxKeyPair::generate(EcxCurve::X25519).map_err(key_error)?.to_jwk_key_pair();
        encryption.set_key_id(encryption_kid);
        Ok(Self { signing, encryption })
    }

    /// The public halves (to publish).
    pub fn public(&self) -> (Jwk, Jwk) {
        (public_of(&self.signing), public_of(&self.encryption))
    }
}

/// A JWK without its private member.
pub fn public_of(jwk: &Jwk) -> Jwk {
    let mut public = jwk.clone();
    public.set_parameter("d", None).ok();
    public
}

/// Parses a public JWK sent by a peer, refusing anything but an Ed25519 (`signing`) or X25519
/// (`!signing`) public key without a private member.
///
/// # Errors
/// [`OpenError::Malformed`].
pub fn peer_key(value: &serde_json::Value, signing: bool) -> Result<Jwk, OpenError> {
    let map = value.as_object().ok_or(OpenError::Malformed)?.clone();
    if map.contains_key("d") {
        return Err(OpenError::Malformed);
    }
    let jwk = Jwk::from_map(map).map_err(|_| OpenError::Malformed)?;
    let curve = jwk.curve().ok_or(OpenError::Malformed)?;
    let expected = if signing { "Ed25519" } else { "X25519" };
    if jwk.key_type() != "OKP" || curve != expected {
        return Err(OpenError::Malformed);
    }
    // Parse it now, so a bad point fails here and not at first use.
    if signing {
        EdDSA.verifier_from_jwk(&jwk).map_err(|_| OpenError::Malformed)?;
    } else {
        ECDH_ES.encrypter_from_jwk(&jwk).map_err(|_| OpenError::Malformed)?;
    }
    Ok(jwk)
}

/// A signing key loaded once (an Ed25519 JWS signer and its key id). Loading converts the JWK
/// for the crypto library, which costs more than signing: a party that seals many messages
/// keeps one.
pub struct Signer {
    kid: Option<String>,
    signer: josekit::jws::alg::eddsa::EddsaJwsSigner,
}

impl Signer {
    /// Loads a private Ed25519 JWK.
    ///
    /// # Errors
    /// [`OpenError::Key`] when the key is unusable.
    pub fn load(jwk: &Jwk) -> Result<Self, OpenError> {
        Ok(Self {
            kid: jwk.key_id().map(str::to_owned),
            signer: EdDSA.signer_from_jwk(jwk).map_err(key_error)?,
        })
    }

    /// The key id it signs under.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn jws_signer(&self) -> &josekit::jws::alg::eddsa::EddsaJwsSigner {
        &self.signer
    }
}

/// An encryption public key loaded once (an X25519 JWE encrypter and its key id).
pub struct Encrypter {
    kid: Option<String>,
    encrypter: josekit::jwe::alg::ecdh_es::EcdhEsJweEncrypter,
}

impl Encrypter {
    /// Loads a public X25519 JWK.
    ///
    /// # Errors
    /// [`OpenError::Key`] when the key is unusable.
    pub fn load(jwk: &Jwk) -> Result<Self, OpenError> {
        Ok(Self {
            kid: jwk.key_id().map(str::to_owned),
            encrypter: ECDH_ES.encrypter_from_jwk(jwk).map_err(key_error)?,
        })
    }
}

/// A peer's signing public key loaded once (an Ed25519 JWS verifier and its key id).
pub struct Verifier {
    kid: Option<String>,
    verifier: josekit::jws::alg::eddsa::EddsaJwsVerifier,
}

impl Verifier {
    /// Loads a public Ed25519 JWK.
    ///
    /// # Errors
    /// [`OpenError::Key`] when the key is unusable.
    pub fn load(jwk: &Jwk) -> Result<Self, OpenError> {
        Ok(Self {
            kid: jwk.key_id().map(str::to_owned),
            verifier: EdDSA.verifier_from_jwk(jwk).map_err(key_error)?,
        })
    }

    /// The key id of the key it verifies with.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn jws_verifier(&self) -> &josekit::jws::alg::eddsa::EddsaJwsVerifier {
        &self.verifier
    }
}

/// Private X25519 keys loaded once, by key id: what a receiver decrypts with.
#[derive(Default)]
pub struct Decrypters(Vec<(String, josekit::jwe::alg::ecdh_es::EcdhEsJweDecrypter)>);

impl Decrypters {
    /// Loads private X25519 JWKs (each with a `kid`; keys without one are skipped).
    ///
    /// # Errors
    /// [`OpenError::Key`] when a key is unusable.
    pub fn load(keys: &[Jwk]) -> Result<Self, OpenError> {
        keys.iter()
            .filter_map(|key| key.key_id().map(|kid| (kid.to_owned(), key)))
            .map(|(kid, key)| Ok((kid, ECDH_ES.decrypter_from_jwk(key).map_err(key_error)?)))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// Seals `envelope` from a sender holding `sender` keys to a recipient whose encryption public
/// key is `recipient` (loading both keys; see [`seal_with`] to reuse loaded ones).
///
/// # Errors
/// [`OpenError::Key`] when a key is unusable.
pub fn seal<T: Serialize>(
    envelope: &Envelope<T>,
    sender: &PrivateKeys,
    recipient: &Jwk,
) -> Result<String, OpenError> {
    seal_with(envelope, &Signer::load(&sender.signing)?, &Encrypter::load(recipient)?)
}

/// Seals `envelope`: signed by `signer`, encrypted with `recipient`.
///
/// # Errors
/// [`OpenError::Key`] when the crypto library fails.
pub fn seal_with<T: Serialize>(
    envelope: &Envelope<T>,
    signer: &Signer,
    recipient: &Encrypter,
) -> Result<String, OpenError> {
    let payload = serde_json::to_vec(envelope).map_err(key_error)?;
    let mut header = JwsHeader::new();
    header.set_token_type(PAYLOAD_TYPE);
    if let Some(kid) = &signer.kid {
        header.set_key_id(kid);
    }
    let jws = jws::serialize_compact(&payload, &header, &signer.signer).map_err(key_error)?;
    let mut outer = JweHeader::new();
    outer.set_content_encryption("A256GCM");
    outer.set_content_type("JWS");
    if let Some(kid) = &recipient.kid {
        outer.set_key_id(kid);
    }
    jwe::serialize_compact(jws.as_bytes(), &outer, &recipient.encrypter).map_err(key_error)
}

/// A compact JWS (EdDSA) of `payload` signed with `key` (registration's proof of possession).
///
/// # Errors
/// [`OpenError::Key`] when the key is unusable.
pub fn sign_compact<T: Serialize>(payload: &T, key: &Jwk) -> Result<String, OpenError> {
    let payload = serde_json::to_vec(payload).map_err(key_error)?;
    let mut header = JwsHeader::new();
    if let Some(kid) = key.key_id() {
        header.set_key_id(kid);
    }
    let signer = EdDSA.signer_from_jwk(key).map_err(key_error)?;
    jws::serialize_compact(&payload, &header, &signer).map_err(key_error)
}

/// A message decrypted but not yet verified: who says they sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    jws: String,
    /// The sender's signing key id (from the JWS header, not yet verified).
    pub sender_kid: String,
}

/// Decrypts `message` with whichever of `keys` (private X25519 JWKs with `kid`) it names
/// (loading the keys; see [`decrypt_with`] to reuse loaded ones).
///
/// # Errors
/// [`OpenError`]: too large, malformed, another recipient, or decryption failure.
pub fn decrypt(message: &str, keys: &[Jwk]) -> Result<Decrypted, OpenError> {
    decrypt_with(message, &Decrypters::load(keys)?)
}

/// Decrypts `message` with whichever of `keys` it names.
///
/// # Errors
/// [`OpenError`]: too large, malformed, another recipient, or decryption failure.
pub fn decrypt_with(message: &str, keys: &Decrypters) -> Result<Decrypted, OpenError> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(OpenError::TooLarge);
    }
    let header = compact_header(message, 5)?;
    let text = |name: &str| header.get(name).and_then(serde_json::Value::as_str);
    if text("alg") != Some("ECDH-ES")
        || text("enc") != Some("A256GCM")
        || header.contains_key("crit")
    {
        return Err(OpenError::Malformed);
    }
    let kid = text("kid").ok_or(OpenError::Malformed)?;
    let (_, decrypter) = keys.0.iter().find(|(k, _)| k == kid).ok_or(OpenError::WrongRecipient)?;
    let (payload, _) =
        jwe::deserialize_compact(message, decrypter).map_err(|_| OpenError::Decrypt)?;
    let jws = String::from_utf8(payload).map_err(|_| OpenError::Malformed)?;
    let inner = compact_header(&jws, 3)?;
    let text = |name: &str| inner.get(name).and_then(serde_json::Value::as_str);
    if text("alg") != Some("EdDSA")
        || text("typ") != Some(PAYLOAD_TYPE)
        || inner.contains_key("crit")
    {
        return Err(OpenError::Malformed);
    }
    let sender_kid = text("kid").ok_or(OpenError::Malformed)?.to_owned();
    Ok(Decrypted { jws, sender_kid })
}

impl Decrypted {
    /// Verifies the signature with the sender's public key and checks the envelope: version,
    /// the device it names (`expected_device`, when the receiver knows it), and `issued_at`
    /// within [`TIME_WINDOW_SECS`] of `now`.
    ///
    /// # Errors
    /// [`OpenError`] saying which check failed.
    pub fn verify<T: DeserializeOwned>(
        &self,
        sender: &Jwk,
        expected_device: Option<&str>,
        now: i64,
    ) -> Result<Envelope<T>, OpenError> {
        self.verify_with(&Verifier::load(sender)?, expected_device, now)
    }

    /// As [`Decrypted::verify`], with a loaded key.
    ///
    /// # Errors
    /// [`OpenError`] saying which check failed.
    pub fn verify_with<T: DeserializeOwned>(
        &self,
        sender: &Verifier,
        expected_device: Option<&str>,
        now: i64,
    ) -> Result<Envelope<T>, OpenError> {
        if sender.kid.as_deref() != Some(self.sender_kid.as_str()) {
            return Err(OpenError::UnknownSender);
        }
        let (payload, _) = jws::deserialize_compact(&self.jws, &sender.verifier)
            .map_err(|_| OpenError::Signature)?;
        let envelope: Envelope<T> =
            serde_json::from_slice(&payload).map_err(|_| OpenError::Malformed)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(OpenError::Version);
        }
        if expected_device.is_some_and(|device| device != envelope.device_id) {
            return Err(OpenError::WrongDevice);
        }
        if envelope.issued_at < now - TIME_WINDOW_SECS {
            return Err(OpenError::Expired);
        }
        if envelope.issued_at > now + TIME_WINDOW_SECS {
            return Err(OpenError::FutureDated);
        }
        let id_ok = envelope.message_id.len() == 32
            && envelope.message_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !id_ok {
            return Err(OpenError::Malformed);
        }
        Ok(envelope)
    }
}

/// The protected header of a compact serialization with `parts` dot-separated parts.
pub(crate) fn compact_header(
    compact: &str,
    parts: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, OpenError> {
    use base64::Engine as _;
    if compact.split('.').count() != parts {
        return Err(OpenError::Malformed);
    }
    let first = compact.split('.').next().ok_or(OpenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| OpenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| OpenError::Malformed)
}

/// A fresh message id: 128 random bits, hex.
///
/// # Errors
/// [`OpenError::Key`] when the system has no randomness.
pub fn message_id() -> Result<String, OpenError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(key_error)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(device: &str, now: i64) -> Envelope<serde_json::Value> {
        Envelope {
            v: ENVELOPE_VERSION,
            device_id: device.into(),
            message_id: message_id().expect("id"),
            issued_at: now,
            in_reply_to: None,
            body: serde_json::json!({"hello": "ds"}),
        }
    }

    fn parties() -> (PrivateKeys, PrivateKeys) {
        (
            PrivateKeys::generate("dev-sig", "dev-enc").expect("device"),
            PrivateKeys::generate("ds-sig", "ds-enc").expect("ds"),
        )
    }

    #[test]
    fn round_trip() {
        let (device, ds) = parties();
        let sealed = seal(&envelope("d1", 1000), &device, &ds.public().1).expect("sealed");
        let opened = decrypt(&sealed, std::slice::from_ref(&ds.encryption)).expect("decrypts");
        assert_eq!(opened.sender_kid, "dev-sig");
        let message: Envelope<serde_json::Value> =
            opened.verify(&device.public().0, Some("d1"), 1000).expect("verifies");
        assert_eq!(message.body["hello"], "ds");
    }

    #[test]
    fn every_failure_is_typed() {
        let (device, ds) = parties();
        let other = PrivateKeys::generate("dev-sig", "other-enc").expect("other");
        let sealed = seal(&envelope("d1", 1000), &device, &ds.public().1).expect("sealed");
        let keys = [ds.encryption.clone()];
        assert_eq!(
            decrypt(&sealed, std::slice::from_ref(&other.encryption)),
            Err(OpenError::WrongRecipient)
        );
        let opened = decrypt(&sealed, &keys).expect("decrypts");
        let verify = |sender: &Jwk, device: Option<&str>, now: i64| {
            opened.verify::<serde_json::Value>(sender, device, now).map(|_| ())
        };
        assert_eq!(
            verify(&other.public().0, Some("d1"), 1000),
            Err(OpenError::Signature),
            "same kid, other key"
        );
        assert_eq!(verify(&device.public().0, Some("d2"), 1000), Err(OpenError::WrongDevice));
        assert_eq!(
            verify(&device.public().0, Some("d1"), 1000 + TIME_WINDOW_SECS + 1),
            Err(OpenError::Expired)
        );
        assert_eq!(
            verify(&device.public().0, Some("d1"), 1000 - TIME_WINDOW_SECS - 1),
            Err(OpenError::FutureDated)
        );
        for garbage in
            ["", "a.b.c.d.e", "....", "not a message", &"A".repeat(MAX_MESSAGE_BYTES + 1)]
        {
            assert!(decrypt(garbage, &keys).is_err(), "{garbage:.20}");
        }
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decrypt(&String::from_utf8(tampered).expect("utf8"), &keys),
            Err(OpenError::Decrypt)
        );
    }

    #[test]
    fn peer_keys_must_be_public_okp_of_the_right_curve() {
        let (device, _) = parties();
        let (signing, encryption) = device.public();
        let value = |jwk: &Jwk| serde_json::to_value(jwk.as_ref()).expect("json");
        assert!(peer_key(&value(&signing), true).is_ok());
        assert!(peer_key(&value(&encryption), false).is_ok());
        assert!(peer_key(&value(&encryption), true).is_err(), "X25519 is not a signing key");
        assert!(peer_key(&value(&device.signing), true).is_err(), "a private key is refused");
        assert!(
            peer_key(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}), true)
                .is_err()
        );
        assert!(peer_key(&serde_json::json!("text"), true).is_err());
    }
}
