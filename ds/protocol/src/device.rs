//! The device's side of the protocol, without I/O: its keys and the DS keys it holds, loaded
//! once; the signed registration request; sealed sync requests and opened answers; module
//! assignments checked; and the identity as it is kept on disk. The connector and the test
//! devices both use it, so there is one client implementation of the protocol.

use josekit::jwk::Jwk;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::assignment::{AssignmentError, ModuleAssignment};
use crate::messages::{DsKeys, ENVELOPE_VERSION, Envelope, Platform, RegistrationRequest};
use crate::seal::{self, Decrypters, Encrypter, OpenError, PrivateKeys, Signer, Verifier};

/// Key ids a device gives its own keys (its id names it; the kids only tell its two keys apart).
const SIGNING_KID: &str = "device-sig";
const ENCRYPTION_KID: &str = "device-enc";

/// Fresh device keys, before registration.
///
/// # Errors
/// [`OpenError::Key`] when the crypto library fails.
pub fn generate_keys() -> Result<PrivateKeys, OpenError> {
    PrivateKeys::generate(SIGNING_KID, ENCRYPTION_KID)
}

/// The body of `POST /v3_5/devices`: the registration request for `token` and `platform`,
/// signed with the signing key it carries.
///
/// # Errors
/// [`OpenError::Key`] when signing fails.
pub fn registration(
    keys: &PrivateKeys,
    registration_token: String,
    platform: Platform,
) -> Result<String, OpenError> {
    let (signing, encryption) = keys.public();
    let json =
        |jwk: &Jwk| serde_json::to_value(jwk.as_ref()).map_err(|e| OpenError::Key(e.to_string()));
    let request = RegistrationRequest {
        registration_token,
        signing_key: json(&signing)?,
        encryption_key: json(&encryption)?,
        platform,
    };
    seal::sign_compact(&request, &keys.signing)
}

/// A registered device's identity, as kept on disk (private: the file must be readable by the
/// connector alone).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredIdentity {
    /// The id the DS gave.
    pub device_id: String,
    /// The private signing JWK.
    pub signing: serde_json::Map<String, serde_json::Value>,
    /// The private encryption JWK.
    pub encryption: serde_json::Map<String, serde_json::Value>,
    /// The DS keys held.
    pub ds_keys: DsKeys,
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

/// A registered device: its id and keys, and the DS keys it holds, loaded.
pub struct Device {
    id: String,
    keys: PrivateKeys,
    ds_keys: DsKeys,
    signer: Signer,
    decrypters: Decrypters,
    ds_encrypter: Encrypter,
    ds_verifiers: Vec<Verifier>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Device {
    /// The device `id` holding `keys`, talking to a DS with `ds_keys`.
    ///
    /// # Errors
    /// [`OpenError::Key`] when a key is unusable or the DS gave no encryption key.
    pub fn new(id: String, keys: PrivateKeys, ds_keys: DsKeys) -> Result<Self, OpenError> {
        let signer = Signer::load(&keys.signing)?;
        let decrypters = Decrypters::load(std::slice::from_ref(&keys.encryption))?;
        let (ds_encrypter, ds_verifiers) = load_ds_keys(&ds_keys)?;
        Ok(Self { id, keys, ds_keys, signer, decrypters, ds_encrypter, ds_verifiers })
    }

    /// From its stored form.
    ///
    /// # Errors
    /// [`OpenError::Key`] when a stored key is unusable.
    pub fn from_stored(stored: StoredIdentity) -> Result<Self, OpenError> {
        let jwk = |map| Jwk::from_map(map).map_err(|e| OpenError::Key(e.to_string()));
        let keys =
            PrivateKeys { signing: jwk(stored.signing)?, encryption: jwk(stored.encryption)? };
        Self::new(stored.device_id, keys, stored.ds_keys)
    }

    /// Its stored form.
    pub fn to_stored(&self) -> StoredIdentity {
        StoredIdentity {
            device_id: self.id.clone(),
            signing: self.keys.signing.as_ref().clone(),
            encryption: self.keys.encryption.as_ref().clone(),
            ds_keys: self.ds_keys.clone(),
        }
    }

    /// The device id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The DS keys held.
    pub fn ds_keys(&self) -> &DsKeys {
        &self.ds_keys
    }

    /// Holds new DS keys (a `ds_keys` section).
    ///
    /// # Errors
    /// [`OpenError::Key`] when they are unusable; the keys held are then unchanged.
    pub fn set_ds_keys(&mut self, ds_keys: DsKeys) -> Result<(), OpenError> {
        let (encrypter, verifiers) = load_ds_keys(&ds_keys)?;
        self.ds_encrypter = encrypter;
        self.ds_verifiers = verifiers;
        self.ds_keys = ds_keys;
        Ok(())
    }

    /// Seals `body` as this device at `issued_at` with a fresh message id; returns the id and
    /// the sealed text.
    ///
    /// # Errors
    /// [`OpenError::Key`] when sealing fails.
    pub fn seal<T: Serialize>(
        &self,
        body: T,
        issued_at: i64,
    ) -> Result<(String, String), OpenError> {
        let message_id = seal::message_id()?;
        let sealed = self.seal_as(body, issued_at, &message_id, &self.id)?;
        Ok((message_id, sealed))
    }

    /// Seals `body` with a given message id, naming `device_id` (tests build replays and
    /// forgeries with it).
    ///
    /// # Errors
    /// [`OpenError::Key`] when sealing fails.
    pub fn seal_as<T: Serialize>(
        &self,
        body: T,
        issued_at: i64,
        message_id: &str,
        device_id: &str,
    ) -> Result<String, OpenError> {
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            device_id: device_id.to_owned(),
            message_id: message_id.to_owned(),
            issued_at,
            in_reply_to: None,
            body,
        };
        seal::seal_with(&envelope, &self.signer, &self.ds_encrypter)
    }

    /// Opens a sealed message from the DS: decrypted with the device's key, verified with the DS
    /// key it names, for this device, within the time window of `now`.
    ///
    /// # Errors
    /// [`OpenError`] saying which check failed.
    pub fn open<T: DeserializeOwned>(
        &self,
        sealed: &str,
        now: i64,
    ) -> Result<Envelope<T>, OpenError> {
        let decrypted = seal::decrypt_with(sealed, &self.decrypters)?;
        let sender = self
            .ds_verifiers
            .iter()
            .find(|v| v.key_id() == Some(decrypted.sender_kid.as_str()))
            .ok_or(OpenError::UnknownSender)?;
        decrypted.verify_with(sender, Some(&self.id), now)
    }

    /// Opens the DS's answer to the message `request_id`: as [`Device::open`], and it must name
    /// that message (an answer to another request, replayed, is refused).
    ///
    /// # Errors
    /// [`OpenError`]; [`OpenError::NotTheAnswer`] for an answer to another message.
    pub fn open_answer<T: DeserializeOwned>(
        &self,
        sealed: &str,
        request_id: &str,
        now: i64,
    ) -> Result<T, OpenError> {
        let envelope = self.open::<T>(sealed, now)?;
        if envelope.in_reply_to.as_deref() != Some(request_id) {
            return Err(OpenError::NotTheAnswer);
        }
        Ok(envelope.body)
    }

    /// Checks a module assignment: signed by a DS key held, for this device, unexpired at
    /// `now`, not older than `held` (serial and issue time of the one applied).
    ///
    /// # Errors
    /// [`AssignmentError`].
    pub fn assignment(
        &self,
        jws: &str,
        now: i64,
        held: Option<(u64, i64)>,
    ) -> Result<ModuleAssignment, AssignmentError> {
        ModuleAssignment::verify(jws, &self.ds_verifiers, &self.id, now, held)
    }
}

fn load_ds_keys(ds_keys: &DsKeys) -> Result<(Encrypter, Vec<Verifier>), OpenError> {
    let current = ds_keys
        .encryption
        .first()
        .ok_or_else(|| OpenError::Key("the DS gave no encryption key".into()))?;
    let current = seal::peer_key(current, false)?;
    let verifiers = ds_keys
        .signing
        .iter()
        .filter_map(|k| seal::peer_key(k, true).ok())
        .filter_map(|k| Verifier::load(&k).ok())
        .collect();
    Ok((Encrypter::load(&current)?, verifiers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::DsKeys;

    fn ds() -> (PrivateKeys, DsKeys) {
        let ds = PrivateKeys::generate("ds-sig-1", "ds-enc-1").expect("keys");
        let (signing, encryption) = ds.public();
        let value = |jwk: Jwk| serde_json::to_value(jwk.as_ref()).expect("json");
        let keys = DsKeys { signing: vec![value(signing)], encryption: vec![value(encryption)] };
        (ds, keys)
    }

    #[test]
    fn the_identity_round_trips_and_answers_must_name_the_request() {
        let (ds_private, ds_keys) = ds();
        let device =
            Device::new("d1".into(), generate_keys().expect("keys"), ds_keys).expect("device");
        let stored = serde_json::to_string(&device.to_stored()).expect("json");
        let device =
            Device::from_stored(serde_json::from_str(&stored).expect("parse")).expect("loads");
        assert_eq!(device.id(), "d1");
        assert!(!format!("{:?}", device.to_stored()).contains("\"d\""), "no key in Debug");

        // The DS's side: it answers message m1.
        let answer = |in_reply_to: &str, device_id: &str| {
            let envelope = Envelope {
                v: ENVELOPE_VERSION,
                device_id: device_id.into(),
                message_id: "ab".repeat(16),
                issued_at: 100,
                in_reply_to: Some(in_reply_to.into()),
                body: 7u32,
            };
            let device_public = seal::peer_key(
                &serde_json::to_value(device.keys.public().1.as_ref()).expect("json"),
                false,
            )
            .expect("key");
            seal::seal(&envelope, &ds_private, &device_public).expect("sealed")
        };
        assert_eq!(device.open_answer::<u32>(&answer("m1", "d1"), "m1", 100), Ok(7));
        assert_eq!(
            device.open_answer::<u32>(&answer("m0", "d1"), "m1", 100),
            Err(OpenError::NotTheAnswer)
        );
        assert_eq!(
            device.open_answer::<u32>(&answer("m1", "d2"), "m1", 100),
            Err(OpenError::WrongDevice)
        );
        assert_eq!(
            device.open_answer::<u32>(&answer("m1", "d1"), "m1", 1000),
            Err(OpenError::Expired)
        );
    }
}
