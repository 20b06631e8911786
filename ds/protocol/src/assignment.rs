//! The module assignment: which bundle of each module a device should run, signed by the DS
//! on its own (a compact JWS, EdDSA, `typ` [`ASSIGNMENT_TYPE`]) so that a connector can keep it
//! and check it later, apart from the answer that brought it.
//!
//! It carries a `serial` that moves on with every change of the DS's rollouts and an expiry;
//! the DS signs it again before it expires. A connector refuses an assignment that is expired,
//! names another device, is signed by a key it does not hold, or is older than the one it holds
//! (a lower serial, or the same serial issued earlier): that is how a frozen or rolled-back DS
//! answer is told from a current one. The bundles stay signed by their publishers, whose keys
//! the DS never holds: the assignment only says which one to run.

use josekit::jws::{self, JwsHeader};
use serde::{Deserialize, Serialize};

use crate::seal::{OpenError, Signer, Verifier};

/// The JWS `typ` of an assignment.
pub const ASSIGNMENT_TYPE: &str = "t1c-assignment+jws";
/// The largest assignment accepted, bytes of JWS.
pub const MAX_ASSIGNMENT_BYTES: usize = 64 * 1024;

/// Which bundles one device should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleAssignment {
    /// The device it is for.
    pub device_id: String,
    /// Moves on with every change of the DS's rollouts; never goes back.
    pub serial: u64,
    /// When it was signed, seconds since the epoch.
    pub issued_at: i64,
    /// When it stops counting, seconds since the epoch.
    pub expires_at: i64,
    /// One entry per module the DS manages on this device; a module not listed is the
    /// connector's own business.
    pub modules: Vec<AssignedModule>,
}

/// One module's bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignedModule {
    /// Module name.
    pub name: String,
    /// Its version. Lower than the installed one after a rollback: install it pinned.
    pub version: String,
    /// The bundle's digest (`t1c-bundle`), hex: check it after the download.
    pub digest: String,
    /// Size of the bundle file, bytes.
    pub size: u64,
    /// Where to download it (a DS path).
    pub download: String,
    /// The rollout that assigns it (reported back in failures and progress).
    pub rollout: String,
}

/// Why an assignment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignmentError {
    /// Not a compact JWS of an assignment, or too large.
    #[error("malformed assignment")]
    Malformed,
    /// Signed by a key the connector does not hold, or the signature does not verify.
    #[error("assignment signature")]
    Signature,
    /// For another device.
    #[error("assignment for another device")]
    WrongDevice,
    /// Past its expiry.
    #[error("assignment expired")]
    Expired,
    /// Older than the one held (`serial`, `issued_at`).
    #[error("assignment older than the one held")]
    Stale,
}

impl ModuleAssignment {
    /// Signs the assignment. Ed25519 is deterministic: the same assignment and key give the
    /// same JWS.
    ///
    /// # Errors
    /// [`OpenError::Key`] when signing fails.
    pub fn sign(&self, signer: &Signer) -> Result<String, OpenError> {
        let payload = serde_json::to_vec(self).map_err(|e| OpenError::Key(e.to_string()))?;
        let mut header = JwsHeader::new();
        header.set_token_type(ASSIGNMENT_TYPE);
        if let Some(kid) = signer.key_id() {
            header.set_key_id(kid);
        }
        jws::serialize_compact(&payload, &header, signer.jws_signer())
            .map_err(|e| OpenError::Key(e.to_string()))
    }

    /// Verifies `jws` with the DS key its header names (among `keys`) and checks it is for
    /// `device_id`, unexpired at `now`, and not older than `held` (the serial and issue time
    /// of the assignment the connector holds, if any).
    ///
    /// # Errors
    /// [`AssignmentError`] saying which check failed.
    pub fn verify(
        jws: &str,
        keys: &[Verifier],
        device_id: &str,
        now: i64,
        held: Option<(u64, i64)>,
    ) -> Result<Self, AssignmentError> {
        if jws.len() > MAX_ASSIGNMENT_BYTES {
            return Err(AssignmentError::Malformed);
        }
        let header = crate::seal::compact_header(jws, 3).map_err(|_| AssignmentError::Malformed)?;
        if header.get("typ").and_then(|v| v.as_str()) != Some(ASSIGNMENT_TYPE) {
            return Err(AssignmentError::Malformed);
        }
        let kid = header.get("kid").and_then(|v| v.as_str());
        let key = keys
            .iter()
            .find(|k| k.key_id().is_some() && k.key_id() == kid)
            .ok_or(AssignmentError::Signature)?;
        let (payload, _) = jws::deserialize_compact(jws, key.jws_verifier())
            .map_err(|_| AssignmentError::Signature)?;
        let assignment: Self =
            serde_json::from_slice(&payload).map_err(|_| AssignmentError::Malformed)?;
        if assignment.device_id != device_id {
            return Err(AssignmentError::WrongDevice);
        }
        if assignment.expires_at <= now {
            return Err(AssignmentError::Expired);
        }
        if held.is_some_and(|held| (assignment.serial, assignment.issued_at) < held) {
            return Err(AssignmentError::Stale);
        }
        Ok(assignment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::PrivateKeys;

    fn keys() -> (Signer, Verifier) {
        let keys = PrivateKeys::generate("s1", "e1").expect("keys");
        let signer = Signer::load(&keys.signing).expect("signer");
        let verifier = Verifier::load(&keys.public().0).expect("verifier");
        (signer, verifier)
    }

    fn assignment(serial: u64, issued_at: i64) -> ModuleAssignment {
        ModuleAssignment {
            device_id: "d1".into(),
            serial,
            issued_at,
            expires_at: issued_at + 100,
            modules: vec![AssignedModule {
                name: "beid".into(),
                version: "1.2.0".into(),
                digest: "ab".repeat(32),
                size: 1000,
                download: "/v3_5/bundles/abab/content".into(),
                rollout: "r1".into(),
            }],
        }
    }

    #[test]
    fn a_signed_assignment_verifies_and_signing_is_deterministic() {
        let (signer, verifier) = keys();
        let a = assignment(3, 1000);
        let jws = a.sign(&signer).expect("signs");
        assert_eq!(jws, a.sign(&signer).expect("signs"), "deterministic");
        let keys = [verifier];
        assert_eq!(ModuleAssignment::verify(&jws, &keys, "d1", 1050, None), Ok(a.clone()));
        assert_eq!(ModuleAssignment::verify(&jws, &keys, "d1", 1050, Some((3, 1000))), Ok(a));
    }

    #[test]
    fn stale_expired_foreign_and_forged_assignments_are_refused() {
        let (signer, verifier) = keys();
        let (other_signer, _) = keys();
        let keys = [verifier];
        let jws = assignment(3, 1000).sign(&signer).expect("signs");
        let verify = |jws: &str, device: &str, now: i64, held| {
            ModuleAssignment::verify(jws, &keys, device, now, held)
        };
        assert_eq!(verify(&jws, "d1", 1100, None), Err(AssignmentError::Expired));
        assert_eq!(verify(&jws, "d2", 1050, None), Err(AssignmentError::WrongDevice));
        assert_eq!(verify(&jws, "d1", 1050, Some((4, 0))), Err(AssignmentError::Stale));
        assert_eq!(verify(&jws, "d1", 1050, Some((3, 1001))), Err(AssignmentError::Stale));
        let forged = assignment(9, 1000).sign(&other_signer).expect("signs");
        assert_eq!(verify(&forged, "d1", 1050, None), Err(AssignmentError::Signature));
        let mut parts: Vec<&str> = jws.split('.').collect();
        let tampered_payload = {
            use base64::Engine as _;
            let json = serde_json::to_vec(&assignment(9, 1000)).expect("json");
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        };
        parts[1] = &tampered_payload;
        assert_eq!(verify(&parts.join("."), "d1", 1050, None), Err(AssignmentError::Signature));
        for garbage in ["", "a.b", "a.b.c", "....", &"x".repeat(MAX_ASSIGNMENT_BYTES + 1)] {
            assert_eq!(verify(garbage, "d1", 1050, None), Err(AssignmentError::Malformed));
        }
    }
}
