//! The DS's own device-protocol keys (Ed25519 to sign answers, X25519 to receive messages),
//! rotating like the token signing keys: a generation is published `publish_ahead` before it is
//! used, so devices learn it in a sync first; a superseded generation still decrypts and stays
//! published until every device has had time to learn its successor.

use std::sync::Arc;

use arc_swap::ArcSwap;
use josekit::jwk::Jwk;
use t1c_ds_protocol::messages::DsKeys;
use t1c_ds_protocol::seal::{Decrypters, OpenError, PrivateKeys, Signer};

use crate::clock::SharedClock;
use crate::rotation;
use crate::store::{ProtocolKeysRecord, Store, StoreError};

/// The rotation schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchedule {
    /// How long a generation is the current one.
    pub rotation_secs: i64,
    /// How long before it is used a generation is published.
    pub publish_ahead_secs: i64,
    /// How long a superseded generation still decrypts and stays published.
    pub overlap_secs: i64,
}

/// Why the keys cannot be loaded or rotated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key cannot be generated or read.
    #[error("device-protocol key: {0}")]
    Key(String),
}

#[derive(Default)]
struct Ring {
    /// Signers of the generations with private keys, by activation (newest last).
    signers: Vec<(i64, Arc<Signer>)>,
    /// Every private X25519 key that may decrypt a device message now, loaded.
    decrypters: Arc<Decrypters>,
    /// What devices get.
    public: DsKeys,
}

/// The DS's device-protocol keys, shared by every request.
pub struct ProtocolKeys {
    store: Arc<dyn Store>,
    clock: SharedClock,
    schedule: KeySchedule,
    ring: ArcSwap<Ring>,
}

impl std::fmt::Debug for ProtocolKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolKeys").field("schedule", &self.schedule).finish_non_exhaustive()
    }
}

impl ProtocolKeys {
    /// Keys over `store`; call [`ProtocolKeys::rotate`] before use.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, schedule: KeySchedule) -> Self {
        Self { store, clock, schedule, ring: ArcSwap::from_pointee(Ring::default()) }
    }

    /// The public keys devices hold: current and next generation.
    pub fn public(&self) -> DsKeys {
        self.ring.load().public.clone()
    }

    /// Every private X25519 key that may decrypt a device message now, loaded once per reload.
    pub fn decrypters(&self) -> Arc<Decrypters> {
        self.ring.load().decrypters.clone()
    }

    /// The signer of the generation answers are signed with now.
    pub fn current(&self) -> Option<Arc<Signer>> {
        let now = self.clock.now();
        self.ring
            .load()
            .signers
            .iter()
            .rfind(|(at, _)| *at <= now)
            .map(|(_, signer)| signer.clone())
    }

    /// Adds the next generation when due, retires superseded ones, drops expired ones, reloads.
    /// Safe to run in several processes at once (the generation number is unique).
    ///
    /// # Errors
    /// [`KeysError`] when the store fails or keys cannot be made.
    pub async fn rotate(&self) -> Result<(), KeysError> {
        let now = self.clock.now();
        let s = self.schedule;
        let mut records = self.store.protocol_keys().await?;
        let due = rotation::due(&generations(&records), now, s.rotation_secs, s.publish_ahead_secs);
        if let Some((generation, activates_at)) = due {
            let signing_kid = format!("ds-sig-{generation}-{}", short_random()?);
            let encryption_kid = format!("ds-enc-{generation}-{}", short_random()?);
            let keys = PrivateKeys::generate(&signing_kid, &encryption_kid)
                .map_err(|e| KeysError::Key(e.to_string()))?;
            let (signing, encryption) = keys.public();
            let record = ProtocolKeysRecord {
                generation,
                signing_kid,
                encryption_kid,
                private_keys: Some(
                    serde_json::json!({"signing": keys.signing.as_ref(), "encryption": keys.encryption.as_ref()}).to_string(),
                ),
                public_keys: serde_json::json!({"signing": signing.as_ref(), "encryption": encryption.as_ref()}).to_string(),
                created_at: now,
                activates_at,
                published_until: None,
            };
            match self.store.add_protocol_keys(&record).await {
                Ok(()) => tracing::info!(generation, "device-protocol keys added"),
                Err(StoreError::Conflict(_)) => {
                    tracing::debug!("another DS process added the device-protocol keys")
                }
                Err(err) => return Err(err.into()),
            }
            records = self.store.protocol_keys().await?;
        }
        for (generation, successor_at) in rotation::superseded(&generations(&records), now) {
            self.store.retire_protocol_keys(generation, successor_at + s.overlap_secs).await?;
        }
        self.store.purge_protocol_keys(now).await?;
        self.reload().await
    }

    async fn reload(&self) -> Result<(), KeysError> {
        let now = self.clock.now();
        let mut ring = Ring::default();
        let mut decryption = Vec::new();
        let mut records = self.store.protocol_keys().await?;
        records.retain(|r| r.published_until.is_none_or(|t| t >= now));
        // Devices encrypt to the first key: the current generation, then the next ones, then
        // the superseded ones still published.
        let active = records
            .iter()
            .filter(|r| r.activates_at <= now)
            .map(|r| r.generation)
            .max()
            .unwrap_or(0);
        records.sort_by_key(|r| (r.generation < active, (r.generation - active).abs()));
        for record in records {
            if let Ok(public) = serde_json::from_str::<serde_json::Value>(&record.public_keys) {
                ring.public.signing.push(public["signing"].clone());
                ring.public.encryption.push(public["encryption"].clone());
            }
            let Some(private) = &record.private_keys else { continue };
            match parse_private(private) {
                Ok(keys) => {
                    match Signer::load(&keys.signing) {
                        Ok(signer) => ring.signers.push((record.activates_at, Arc::new(signer))),
                        Err(err) => tracing::error!(
                            generation = record.generation,
                            "stored signing key unusable: {err}"
                        ),
                    }
                    decryption.push(keys.encryption);
                }
                Err(err) => tracing::error!(
                    generation = record.generation,
                    "stored device-protocol keys unusable: {err}"
                ),
            }
        }
        ring.signers.sort_by_key(|(at, _)| *at);
        ring.decrypters =
            Arc::new(Decrypters::load(&decryption).map_err(|e| KeysError::Key(e.to_string()))?);
        self.ring.store(Arc::new(ring));
        Ok(())
    }
}

/// The generations as the rotation schedule sees them.
fn generations(records: &[ProtocolKeysRecord]) -> Vec<rotation::Generation> {
    records
        .iter()
        .map(|r| rotation::Generation {
            number: r.generation,
            activates_at: r.activates_at,
            retired: r.published_until.is_some(),
        })
        .collect()
}

fn parse_private(text: &str) -> Result<PrivateKeys, OpenError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| OpenError::Malformed)?;
    let jwk = |name: &str| -> Result<Jwk, OpenError> {
        let map = value[name].as_object().ok_or(OpenError::Malformed)?.clone();
        Jwk::from_map(map).map_err(|_| OpenError::Malformed)
    };
    Ok(PrivateKeys { signing: jwk("signing")?, encryption: jwk("encryption")? })
}

fn short_random() -> Result<String, KeysError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| KeysError::Key(e.to_string()))?;
    Ok(hex::encode(bytes))
}
