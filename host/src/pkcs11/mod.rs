//! PKCS#11 tokens behind vendor libraries, each library in its own supervised worker process.
//!
//! Vendor libraries hang in `C_Initialize`, crash, or break each other when they share a process.
//! So the host never loads one: for each configured library it starts a worker (`t1c
//! pkcs11-worker <library>`, the same binary) that loads it with `cryptoki` and answers requests
//! over its stdin/stdout in length-prefixed postcard frames ([`protocol`]). Every call has a
//! deadline; a worker that misses it is SIGKILLed and the call fails with
//! [`Pkcs11Error::Timeout`]; a worker that dies fails the call with
//! [`Pkcs11Error::WorkerCrashed`]. Either way the next call starts a fresh worker (backing off
//! when it keeps failing), sessions of the dead one report [`Pkcs11Error::StaleSession`], and
//! other libraries never notice: calls to one library are serialised, calls to different ones
//! share nothing.
//!
//! Listing the token slots ([`Pkcs11Host::slots`], behind `GET /v3/readers`) does not call the
//! workers: each library's slots are kept in a snapshot that a background thread refreshes
//! (`snapshot`), so a listing reads memory, and a token inserted or removed shows up within a
//! second.
//!
//! What this module owns: the library set, the workers, slot ids, and the typed operations the
//! `pkcs11` WIT interface exposes. It must not know about modules or HTTP; a module sees a
//! [`SlotHandle`]/[`SessionHandle`] through the runtime, never a library path or a pointer.
//!
//! PINs travel as [`Zeroizing`] strings, in zeroised frame buffers, and are never logged or put
//! in an error.
//!
//! # Slot ids
//!
//! A token slot's id ([`TokenSlot::id`]) is the first 8 bytes, in lowercase hex, of the SHA-256 of
//! a domain tag, the library's canonical path, and the token's manufacturer, model and serial
//! number. It survives restarts and slot renumbering, and moves with the token, not the slot.
//! PC/SC reader ids (`readers::ReaderId`) hash the reader name instead, and the domain tag keeps
//! the two apart: a card reachable both through PC/SC and through a PKCS#11 library appears twice
//! in `GET /v3/readers`, with two different ids, one per path.

mod device;
mod pipes;
mod protocol;
mod service;
mod snapshot;
mod supervisor;
mod types;
mod worker;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::readers::ReaderId;
use zeroize::Zeroizing;

use protocol::{Answer, Call, Hash, Mechanism, WireSlot};
use snapshot::Listing;
use supervisor::{Library, Limits};

pub use service::Pkcs11Service;
pub use types::{
    HashAlgorithm, KeyType, MechanismFlags, MechanismInfo, ObjectClass, ObjectInfo, ObjectQuery,
    PinTries, Pkcs11Error, SignatureScheme, TokenFlags, TokenInfo,
};
pub use worker::worker_main;

/// The hidden subcommand of `t1c` that runs a worker.
pub const WORKER_SUBCOMMAND: &str = "pkcs11-worker";

/// How workers are started and how long their calls may take.
#[derive(Debug, Clone)]
pub struct Pkcs11Options {
    /// The executable that runs a worker when called as `<exe> pkcs11-worker <library>`: the
    /// `t1c` binary itself (`std::env::current_exe()`).
    pub worker_exe: PathBuf,
    /// Deadline of one call (default 10 s).
    pub call_timeout: Duration,
    /// Deadline of a login: longer, since a protected-authentication-path (pinpad) login waits
    /// for the user (default 60 s).
    pub login_timeout: Duration,
    /// Deadline of loading the library and `C_Initialize` (default 10 s).
    pub init_timeout: Duration,
    /// Extra environment of the workers (for instance `SOFTHSM2_CONF`), on top of the host's.
    pub env: Vec<(OsString, OsString)>,
}

impl Pkcs11Options {
    /// Default deadlines for workers run by `worker_exe`.
    pub fn new(worker_exe: PathBuf) -> Self {
        Self {
            worker_exe,
            call_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(60),
            init_timeout: Duration::from_secs(10),
            env: Vec::new(),
        }
    }
}

/// The configured PKCS#11 libraries and their workers. `Send + Sync`; share it in an `Arc`.
pub struct Pkcs11Host {
    limits: Limits,
    libraries: RwLock<Vec<Arc<Library>>>,
}

impl Pkcs11Host {
    /// A host with no libraries yet.
    pub fn new(options: Pkcs11Options) -> Self {
        Self {
            limits: Limits {
                worker_exe: options.worker_exe,
                env: options.env,
                call_timeout: options.call_timeout,
                login_timeout: options.login_timeout,
                init_timeout: options.init_timeout,
            },
            libraries: RwLock::new(Vec::new()),
        }
    }

    /// Replaces the set of libraries. Workers of removed libraries are stopped; new libraries'
    /// workers start in the background, and their slots are watched from then on.
    pub fn set_libraries(&self, libraries: Vec<PathBuf>) {
        let mut current = self.libraries.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Vec::with_capacity(libraries.len());
        for path in libraries {
            if next.iter().any(|l: &Arc<Library>| l.path() == path) {
                continue;
            }
            if let Some(existing) = current.iter().find(|l| l.path() == path) {
                next.push(existing.clone());
                continue;
            }
            let library = Arc::new(Library::new(path, self.limits.clone()));
            snapshot::start_watching(library.clone());
            next.push(library);
        }
        let removed: Vec<Arc<Library>> =
            current.iter().filter(|l| !next.iter().any(|n| Arc::ptr_eq(n, l))).cloned().collect();
        *current = next;
        drop(current);
        for library in removed {
            // A call in flight holds the library's lock; stop it without waiting here.
            let _ = thread::Builder::new().name("pkcs11-stop".to_owned()).spawn(move || {
                library.stop();
            });
        }
    }

    /// The configured libraries.
    pub fn libraries(&self) -> Vec<PathBuf> {
        self.snapshot().iter().map(|l| l.path().to_owned()).collect()
    }

    /// The slots that hold a token, across all libraries, in configuration order, as each
    /// library listed them last: a library busy with a long call (a pinpad login) contributes
    /// the slots it listed before, and one whose listing failed contributes none. Waits only
    /// for a library that has not answered its first listing yet (just configured), within its
    /// deadlines.
    pub fn slots(&self) -> Vec<TokenSlot> {
        let deadline = Instant::now()
            + self.limits.call_timeout
            + self.limits.init_timeout
            + Duration::from_millis(100);
        let mut slots = Vec::new();
        for library in self.snapshot() {
            let listing = library.snapshot().first_listed(deadline);
            match &*listing {
                Listing::Slots(found) => slots.extend(found.iter().cloned()),
                Listing::Failed => {}
                Listing::Pending => {
                    tracing::warn!(library = %library.path().display(), "PKCS#11 library has not listed its slots in time");
                }
            }
        }
        slots
    }

    /// [`Pkcs11Host::slots`] without waiting: `None` while a library has not answered its first
    /// listing yet.
    pub fn slots_now(&self) -> Option<Vec<TokenSlot>> {
        let libraries = self.libraries.read().unwrap_or_else(|e| e.into_inner());
        let mut slots = Vec::new();
        for library in libraries.iter() {
            match &*library.snapshot().current() {
                Listing::Slots(found) => slots.extend(found.iter().cloned()),
                Listing::Failed => {}
                Listing::Pending => return None,
            }
        }
        Some(slots)
    }

    /// The slot with this id, if a token is in it now.
    pub fn slot(&self, id: &ReaderId) -> Option<TokenSlot> {
        self.slots().into_iter().find(|slot| &slot.id == id)
    }

    /// Opens a slot for operations, checking its token is still the one listed.
    ///
    /// # Errors
    /// [`Pkcs11Error::NoSuchSlot`] when the library is no longer configured or the token is no
    /// longer in any of its slots; the worker's errors otherwise.
    pub fn open(&self, slot: &TokenSlot) -> Result<SlotHandle, Pkcs11Error> {
        let library = self
            .snapshot()
            .into_iter()
            .find(|l| l.path() == slot.library)
            .ok_or(Pkcs11Error::NoSuchSlot)?;
        let canonical = canonical(&slot.library);
        // The listed slot number first; after a restart or renumbering, search by id. The new
        // listing also updates the snapshot, so a token found gone leaves the list at once.
        let slot_id = match library.call(Call::TokenInfo { slot: slot.slot_id }) {
            Ok((Answer::TokenInfo(token), _)) if slot_id_of(&canonical, &token) == slot.id => {
                slot.slot_id
            }
            Ok(_) | Err(Pkcs11Error::TokenRemoved | Pkcs11Error::NoSuchSlot) => {
                list_slots(&library)?
                    .iter()
                    .find(|s| s.id == slot.id)
                    .map(|s| s.slot_id)
                    .ok_or(Pkcs11Error::NoSuchSlot)?
            }
            // Some libraries (SoftHSM) answer CKR_GENERAL_ERROR for a token that vanished.
            Err(err @ Pkcs11Error::Library(_)) => {
                let _ = list_slots(&library);
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        Ok(SlotHandle { library, id: slot.id.clone(), canonical, slot_id })
    }

    fn snapshot(&self) -> Vec<Arc<Library>> {
        self.libraries.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Pkcs11Host {
    fn drop(&mut self) {
        for library in self.snapshot() {
            library.stop();
        }
    }
}

/// A slot that holds a token, as `GET /v3/readers` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSlot {
    /// Stable id (see the module docs), served like a PC/SC reader's.
    pub id: ReaderId,
    /// The library that serves it (never shown to modules).
    pub library: PathBuf,
    /// CK_SLOT_ID in the library's current numbering.
    pub slot_id: u64,
    /// CK_SLOT_INFO.slotDescription.
    pub description: String,
    /// The token label.
    pub label: String,
    /// The token manufacturer.
    pub manufacturer: String,
    /// The token model.
    pub model: String,
    /// The token serial number.
    pub serial: String,
    /// CKF_PROTECTED_AUTHENTICATION_PATH: the PIN is entered on the device.
    pub protected_authentication_path: bool,
}

/// An open slot: token info, mechanisms, sessions.
pub struct SlotHandle {
    library: Arc<Library>,
    id: ReaderId,
    canonical: PathBuf,
    slot_id: u64,
}

impl SlotHandle {
    /// The slot's stable id.
    pub fn id(&self) -> &ReaderId {
        &self.id
    }

    /// The token's CK_TOKEN_INFO.
    ///
    /// # Errors
    /// [`Pkcs11Error::TokenRemoved`] when the slot is empty or holds another token now.
    pub fn info(&self) -> Result<TokenInfo, Pkcs11Error> {
        match self.library.call(Call::TokenInfo { slot: self.slot_id }) {
            Ok((Answer::TokenInfo(token), _)) if slot_id_of(&self.canonical, &token) == self.id => {
                Ok(token)
            }
            Ok((Answer::TokenInfo(_), _)) => {
                // Another token in the slot: list again, so the snapshot follows.
                let _ = list_slots(&self.library);
                Err(Pkcs11Error::TokenRemoved)
            }
            Ok(_) => Err(unexpected()),
            Err(err) => Err(self.removed_or(err)),
        }
    }

    /// `err`, or [`Pkcs11Error::TokenRemoved`] when it is a library error and the token is no
    /// longer listed: some libraries (SoftHSM) answer CKR_GENERAL_ERROR, from whichever call
    /// comes first, for a token that vanished.
    fn removed_or(&self, err: Pkcs11Error) -> Pkcs11Error {
        if !matches!(err, Pkcs11Error::Library(_)) {
            return err;
        }
        match list_slots(&self.library) {
            Ok(slots) if !slots.iter().any(|s| s.id == self.id) => Pkcs11Error::TokenRemoved,
            _ => err,
        }
    }

    /// The mechanisms the token supports.
    ///
    /// # Errors
    /// The library's, or the worker's failure.
    pub fn mechanisms(&self) -> Result<Vec<MechanismInfo>, Pkcs11Error> {
        match self.library.call(Call::Mechanisms { slot: self.slot_id }) {
            Ok((Answer::Mechanisms(mechanisms), _)) => Ok(mechanisms),
            Ok(_) => Err(unexpected()),
            Err(err) => Err(self.removed_or(err)),
        }
    }

    /// Opens a read-only session; dropping it closes it.
    ///
    /// # Errors
    /// The library's, or the worker's failure.
    pub fn open_session(&self) -> Result<SessionHandle, Pkcs11Error> {
        match self.library.call(Call::OpenSession { slot: self.slot_id }) {
            Ok((Answer::Session(session), generation)) => {
                Ok(SessionHandle { library: self.library.clone(), generation, session })
            }
            Ok(_) => Err(unexpected()),
            Err(err) => Err(self.removed_or(err)),
        }
    }
}

/// A session on a token. Dropping it closes the session in the worker, without waiting for a
/// call in flight.
pub struct SessionHandle {
    library: Arc<Library>,
    generation: u64,
    session: u64,
}

impl SessionHandle {
    /// Performs `call` on the session's worker. A token found removed is listed again, so the
    /// snapshot follows at once.
    fn call(&self, call: Call) -> Result<Answer, Pkcs11Error> {
        let result = self.library.call_on(self.generation, call);
        if result.as_ref().is_err_and(|err| *err == Pkcs11Error::TokenRemoved) {
            let _ = list_slots(&self.library);
        }
        result
    }

    /// Finds the objects matching `query` (certificates, public and private keys, data objects).
    ///
    /// # Errors
    /// [`Pkcs11Error::StaleSession`] when the worker restarted since the session was opened; the
    /// library's errors otherwise.
    pub fn find_objects(&self, query: &ObjectQuery) -> Result<Vec<ObjectInfo>, Pkcs11Error> {
        let call = Call::FindObjects { session: self.session, query: query.clone() };
        match self.call(call)? {
            Answer::Objects(objects) => Ok(objects),
            _ => Err(unexpected()),
        }
    }

    /// CKA_VALUE of a certificate (DER) or data object.
    ///
    /// # Errors
    /// [`Pkcs11Error::InvalidInput`] for other objects, [`Pkcs11Error::ObjectNotFound`] for an
    /// unknown handle.
    pub fn value(&self, handle: u64) -> Result<Vec<u8>, Pkcs11Error> {
        match self.call(Call::Value { session: self.session, handle })? {
            Answer::Bytes(value) => Ok(value),
            _ => Err(unexpected()),
        }
    }

    /// Logs the user in with `pin`, or on the protected authentication path when `None`. Uses
    /// the login deadline.
    ///
    /// # Errors
    /// [`Pkcs11Error::PinIncorrect`] (with what the token says about the tries left),
    /// [`Pkcs11Error::PinLocked`], and the library's other errors.
    pub fn login(&self, pin: Option<&Zeroizing<String>>) -> Result<(), Pkcs11Error> {
        let call = Call::Login { session: self.session, pin: pin.cloned() };
        match self.call(call)? {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Logs the user out.
    ///
    /// # Errors
    /// The library's, or the worker's failure.
    pub fn logout(&self) -> Result<(), Pkcs11Error> {
        match self.call(Call::Logout { session: self.session })? {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Signs `data` with the private key `key` (a handle this session found).
    ///
    /// For [`SignatureScheme::RsaPkcs1`] with a digest algorithm, [`SignatureScheme::RsaPss`]
    /// and [`SignatureScheme::Ecdsa`], `data` is the digest; the host wraps it in a DigestInfo
    /// for PKCS#1 v1.5. ECDSA signatures are `r || s`.
    ///
    /// # Errors
    /// [`Pkcs11Error::InvalidInput`] when a digest has the wrong length,
    /// [`Pkcs11Error::NotLoggedIn`], and the library's other errors.
    pub fn sign(
        &self,
        key: u64,
        scheme: &SignatureScheme,
        data: &[u8],
    ) -> Result<Vec<u8>, Pkcs11Error> {
        let (mechanism, data) = match *scheme {
            SignatureScheme::RsaPkcs1(None) => (Mechanism::RsaPkcs, data.to_vec()),
            SignatureScheme::RsaPkcs1(Some(hash)) => {
                check_digest(hash, data)?;
                (Mechanism::RsaPkcs, [digest_info_prefix(hash)?, data].concat())
            }
            SignatureScheme::RsaPss(hash) => {
                check_digest(hash, data)?;
                (Mechanism::RsaPss { hash: wire_hash(hash)? }, data.to_vec())
            }
            SignatureScheme::Ecdsa => (Mechanism::Ecdsa, data.to_vec()),
            other => return Err(Pkcs11Error::NotSupported(format!("{other:?} signatures"))),
        };
        let call = Call::Sign { session: self.session, key, mechanism, data };
        match self.call(call)? {
            Answer::Bytes(signature) => Ok(signature),
            _ => Err(unexpected()),
        }
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.library.close_session(self.generation, self.session);
    }
}

fn slot_id_of(canonical_library: &Path, token: &TokenInfo) -> ReaderId {
    let mut hasher = Sha256::new();
    hasher.update(b"t1c pkcs11 token slot v1\0");
    hasher.update(canonical_library.as_os_str().as_encoded_bytes());
    for part in [&token.manufacturer_id, &token.model, &token.serial_number] {
        hasher.update(b"\0");
        hasher.update(part.as_bytes());
    }
    ReaderId::from_digest(&hasher.finalize())
}

fn canonical(library: &Path) -> PathBuf {
    std::fs::canonicalize(library).unwrap_or_else(|_| library.to_owned())
}

/// Lists `library`'s slots now (starting its worker if needed, waiting for it) and publishes
/// them in its snapshot.
fn list_slots(library: &Library) -> Result<Vec<TokenSlot>, Pkcs11Error> {
    let (seq, result) = library.slots();
    let result = result.map(|slots| token_slots(library.path(), slots));
    library.snapshot().publish(seq, &result);
    result
}

/// The worker's slots of `library` as the host lists them.
fn token_slots(library: &Path, slots: Vec<WireSlot>) -> Vec<TokenSlot> {
    let canonical = canonical(library);
    slots
        .into_iter()
        .map(|WireSlot { slot_id, description, token }| TokenSlot {
            id: slot_id_of(&canonical, &token),
            library: library.to_owned(),
            slot_id,
            description,
            protected_authentication_path: token.flags.protected_authentication_path,
            label: token.label,
            manufacturer: token.manufacturer_id,
            model: token.model,
            serial: token.serial_number,
        })
        .collect()
}

fn unexpected() -> Pkcs11Error {
    Pkcs11Error::WorkerCrashed("protocol error: answer of the wrong kind".to_owned())
}

fn check_digest(hash: HashAlgorithm, data: &[u8]) -> Result<(), Pkcs11Error> {
    if data.len() == hash.digest_len() {
        Ok(())
    } else {
        Err(Pkcs11Error::InvalidInput(format!(
            "a {hash:?} digest is {} bytes, not {}",
            hash.digest_len(),
            data.len()
        )))
    }
}

fn wire_hash(hash: HashAlgorithm) -> Result<Hash, Pkcs11Error> {
    Ok(match hash {
        HashAlgorithm::Sha1 => Hash::Sha1,
        HashAlgorithm::Sha256 => Hash::Sha256,
        HashAlgorithm::Sha384 => Hash::Sha384,
        HashAlgorithm::Sha512 => Hash::Sha512,
        other => return Err(Pkcs11Error::NotSupported(format!("{other:?}"))),
    })
}

/// The DER DigestInfo header (algorithm identifier and OCTET STRING header) of `hash`.
fn digest_info_prefix(hash: HashAlgorithm) -> Result<&'static [u8], Pkcs11Error> {
    Ok(match hash {
        HashAlgorithm::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        HashAlgorithm::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        other => return Err(Pkcs11Error::NotSupported(format!("{other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(serial: &str) -> TokenInfo {
        TokenInfo {
            manufacturer_id: "SoftHSM project".to_owned(),
            model: "SoftHSM v2".to_owned(),
            serial_number: serial.to_owned(),
            ..TokenInfo::default()
        }
    }

    #[test]
    fn slot_ids_are_16_hex_and_depend_on_library_and_token() {
        let a = slot_id_of(Path::new("/usr/lib/a.so"), &token("1"));
        assert_eq!(a.as_str().parse::<ReaderId>().as_ref(), Ok(&a), "a valid reader id");
        assert_eq!(a, slot_id_of(Path::new("/usr/lib/a.so"), &token("1")));
        assert_ne!(a, slot_id_of(Path::new("/usr/lib/b.so"), &token("1")));
        assert_ne!(a, slot_id_of(Path::new("/usr/lib/a.so"), &token("2")));
    }

    #[test]
    fn digest_info_prefixes_announce_the_digest_length() {
        for hash in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let prefix = digest_info_prefix(hash).expect("known digest");
            assert_eq!(prefix[prefix.len() - 1] as usize, hash.digest_len());
            assert_eq!(prefix[1] as usize, prefix.len() - 2 + hash.digest_len());
        }
    }

    #[test]
    fn wrong_digest_lengths_are_invalid_input() {
        assert!(matches!(
            check_digest(HashAlgorithm::Sha256, &[0; 20]),
            Err(Pkcs11Error::InvalidInput(_))
        ));
        assert!(check_digest(HashAlgorithm::Sha256, &[0; 32]).is_ok());
    }
}
