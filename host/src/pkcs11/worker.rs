//! The worker process: loads one vendor PKCS#11 library with `cryptoki` and serves the host's
//! requests over stdin/stdout, one at a time.
//!
//! Everything that can hang, crash or corrupt memory happens here, in a process the host can
//! kill. The worker trusts the host (its parent) and nothing else: a malformed frame ends it.
//! The library's own writes to stdout are sent to stderr, so they cannot corrupt the protocol.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::raw::c_ulong;
use std::path::Path;
use std::process::ExitCode;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism as CkMechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType as CkKeyType, ObjectClass as CkObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot};
use cryptoki::types::AuthPin;

use super::pipes::{Requests, protocol_output};
use super::protocol::{
    Answer, Call, FrameError, Hash, Mechanism, Reply, Request, WireSlot, decode, encode,
    read_frame, write_frame,
};
use super::types::{
    KeyType, MechanismFlags, MechanismInfo, ObjectClass, ObjectInfo, ObjectQuery, PinTries,
    Pkcs11Error, TokenFlags, TokenInfo,
};

/// Exit status of a worker whose library failed to load or initialise.
const EXIT_LOAD_FAILED: u8 = 3;
/// Exit status of a worker that received a malformed frame.
const EXIT_PROTOCOL: u8 = 2;

/// Runs the worker for `library` until the host closes stdin. The entry point of
/// `t1c pkcs11-worker <library>`.
pub fn worker_main(library: &Path) -> ExitCode {
    let output = match protocol_output() {
        Ok(output) => output,
        Err(err) => {
            eprintln!("pkcs11 worker: cannot set up stdout: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut output = BufWriter::new(output);
    let mut input = BufReader::new(Requests::stdin());

    let (worker, ready) = match Worker::load(library) {
        Ok(worker) => (Some(worker), Ok(())),
        Err(err) => (None, Err(err)),
    };
    if send(&mut output, &Reply::Ready(ready)).is_err() {
        return ExitCode::FAILURE;
    }
    let Some(mut worker) = worker else {
        return ExitCode::from(EXIT_LOAD_FAILED);
    };

    loop {
        let request = match read_frame(&mut input).and_then(|body| decode::<Request>(&body)) {
            Ok(request) => request,
            Err(FrameError::Eof) => break,
            Err(err) => {
                eprintln!("pkcs11 worker: {err}; exiting");
                return ExitCode::from(EXIT_PROTOCOL);
            }
        };
        match request {
            Request::Call { id, call } => {
                let result = worker.call(call);
                if send(&mut output, &Reply::Answer { id, result }).is_err() {
                    break;
                }
            }
            Request::CloseSession { session } => worker.close_session(session),
        }
    }
    worker.finalize();
    ExitCode::SUCCESS
}

fn send(output: &mut BufWriter<File>, reply: &Reply) -> Result<(), FrameError> {
    let frame = encode(reply)?;
    write_frame(output, &frame)
}

/// Whether `pkcs11`'s slots are fixed at `C_Initialize`: it lists slots, and none of them is a
/// reader of removable devices (`CKF_REMOVABLE_DEVICE`), as in a store of software tokens.
fn static_slots(pkcs11: &Pkcs11) -> bool {
    match pkcs11.get_all_slots() {
        Ok(slots) if !slots.is_empty() => slots
            .iter()
            .all(|slot| pkcs11.get_slot_info(*slot).is_ok_and(|info| !info.removable_device())),
        _ => false,
    }
}

/// The loaded library and the sessions the host opened on it.
struct Worker {
    pkcs11: Pkcs11,
    sessions: HashMap<u64, OpenSession>,
    /// The library's slots are fixed when it is initialised: see [`Worker::reread_store`].
    static_slots: bool,
}

struct OpenSession {
    session: Session,
    slot: Slot,
    /// The serial number of the token it was opened on, to tell a removed token.
    serial: String,
    /// This session logged the user in. PKCS#11 login state is per application and token, so the
    /// worker tracks it per session to keep one request from using another's login.
    logged_in: bool,
}

impl Worker {
    fn load(library: &Path) -> Result<Self, Pkcs11Error> {
        let shown = library.display().to_string();
        let pkcs11 = Pkcs11::new(library).map_err(|err| match err {
            CkError::MissingSymbol(symbol) => {
                Pkcs11Error::LibraryLoad(format!("not a PKCS#11 library: no {symbol}"))
            }
            // The loader's message names the path; a module must not see it.
            other => Pkcs11Error::LibraryLoad(other.to_string().replace(&shown, "the library")),
        })?;
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(
            |err| Pkcs11Error::LibraryLoad(format!("C_Initialize failed: {}", rv_name(&err))),
        )?;
        let static_slots = static_slots(&pkcs11);
        Ok(Self { pkcs11, sessions: HashMap::new(), static_slots })
    }

    /// Reads the token store of a library whose slots are fixed at `C_Initialize` again
    /// (`C_Finalize`, `C_Initialize`), when no session is open, so that a listing sees tokens
    /// created or deleted since by another process. SoftHSMv2 (2.6) is such a library: it reads
    /// its token directory only when initialised, never adds a slot afterwards, and answers
    /// `CKR_GENERAL_ERROR` for a token deleted since. Libraries with removable slots (card
    /// readers) see tokens come and go without it; re-initialising them would drop what they
    /// cache about the card.
    fn reread_store(&mut self) {
        if !self.static_slots || !self.sessions.is_empty() {
            return;
        }
        // `finalize` takes the context; the clone keeps the library loaded.
        if let Err(err) = self.pkcs11.clone().finalize() {
            eprintln!("C_Finalize: {}", rv_name(&err));
            return;
        }
        if let Err(err) =
            self.pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            // Nothing works uninitialised: exit, and the host starts a new worker.
            eprintln!("C_Initialize again: {}; exiting", rv_name(&err));
            std::process::exit(i32::from(EXIT_LOAD_FAILED));
        }
        self.static_slots = static_slots(&self.pkcs11);
    }

    fn finalize(mut self) {
        self.sessions.clear();
        if let Err(err) = self.pkcs11.finalize() {
            eprintln!("pkcs11 worker: C_Finalize: {}", rv_name(&err));
        }
    }

    fn call(&mut self, call: Call) -> Result<Answer, Pkcs11Error> {
        match call {
            Call::Slots => {
                self.reread_store();
                self.slots().map(Answer::Slots)
            }
            Call::TokenInfo { slot } => self.token_info(slot_of(slot)?).map(Answer::TokenInfo),
            Call::Mechanisms { slot } => self.mechanisms(slot_of(slot)?).map(Answer::Mechanisms),
            Call::OpenSession { slot } => {
                let slot = slot_of(slot)?;
                let serial = self.token_info(slot)?.serial_number;
                let session = self.pkcs11.open_ro_session(slot).map_err(map_error)?;
                let handle = wide(session.handle());
                let open = OpenSession { session, slot, serial, logged_in: false };
                self.sessions.insert(handle, open);
                Ok(Answer::Session(handle))
            }
            Call::FindObjects { session, query } => {
                self.find_objects(session, &query).map(Answer::Objects)
            }
            Call::Value { session, handle } => self.value(session, handle).map(Answer::Bytes),
            Call::Login { session, pin } => {
                let pin = pin.map(|pin| AuthPin::from(pin.as_str()));
                self.login(session, pin.as_ref()).map(|()| Answer::Done)
            }
            Call::Logout { session } => {
                let open = self.session_mut(session)?;
                open.session.logout().map_err(map_error)?;
                open.logged_in = false;
                Ok(Answer::Done)
            }
            Call::Sign { session, key, mechanism, data } => {
                self.sign(session, key, mechanism, &data).map(Answer::Bytes)
            }
        }
    }

    fn slots(&self) -> Result<Vec<WireSlot>, Pkcs11Error> {
        let mut slots = Vec::new();
        for slot in self.pkcs11.get_slots_with_token().map_err(map_error)? {
            let description = match self.pkcs11.get_slot_info(slot) {
                Ok(info) => info.slot_description().trim().to_owned(),
                Err(_) => String::new(),
            };
            match self.token_info(slot) {
                // An uninitialised token (SoftHSM always offers one) holds nothing to use.
                Ok(token) if !token.flags.token_initialized => {}
                Ok(token) => slots.push(WireSlot { slot_id: slot.id(), description, token }),
                // Removed between the two calls, or broken (SoftHSM: CKR_GENERAL_ERROR for a
                // deleted token): nothing usable in this slot.
                Err(Pkcs11Error::TokenRemoved) => {}
                Err(err) => eprintln!("slot {slot}: C_GetTokenInfo: {err}"),
            }
        }
        Ok(slots)
    }

    fn token_info(&self, slot: Slot) -> Result<TokenInfo, Pkcs11Error> {
        let info = self.pkcs11.get_token_info(slot).map_err(map_error)?;
        let limit = |limit: Limit| match limit {
            Limit::Max(n) => n,
            Limit::Unavailable | Limit::Infinite => u64::MAX,
        };
        let known = |value: Option<usize>| value.map_or(u64::MAX, |n| n as u64);
        let version = |v: cryptoki::types::Version| format!("{}.{}", v.major(), v.minor());
        Ok(TokenInfo {
            label: info.label().trim().to_owned(),
            manufacturer_id: info.manufacturer_id().trim().to_owned(),
            model: info.model().trim().to_owned(),
            serial_number: info.serial_number().trim().to_owned(),
            flags: TokenFlags {
                rng: info.rng(),
                write_protected: info.write_protected(),
                login_required: info.login_required(),
                user_pin_initialized: info.user_pin_initialized(),
                restore_key_not_needed: info.restore_key_not_needed(),
                clock_on_token: info.clock_on_token(),
                protected_authentication_path: info.protected_authentication_path(),
                dual_crypto_operations: info.dual_crypto_operations(),
                token_initialized: info.token_initialized(),
                secondary_authentication: info.secondary_authentication(),
                user_pin_count_low: info.user_pin_count_low(),
                user_pin_final_try: info.user_pin_final_try(),
                user_pin_locked: info.user_pin_locked(),
                user_pin_to_be_changed: info.user_pin_to_be_changed(),
                so_pin_count_low: info.so_pin_count_low(),
                so_pin_final_try: info.so_pin_final_try(),
                so_pin_locked: info.so_pin_locked(),
                so_pin_to_be_changed: info.so_pin_to_be_changed(),
            },
            max_session_count: limit(info.max_session_count()),
            session_count: info.session_count().unwrap_or(u64::MAX),
            max_rw_session_count: limit(info.max_rw_session_count()),
            max_pin_length: info.max_pin_length() as u64,
            min_pin_length: info.min_pin_length() as u64,
            total_public_memory: known(info.total_public_memory()),
            free_public_memory: known(info.free_public_memory()),
            total_private_memory: known(info.total_private_memory()),
            free_private_memory: known(info.free_private_memory()),
            hardware_version: version(info.hardware_version()),
            firmware_version: version(info.firmware_version()),
        })
    }

    fn mechanisms(&self, slot: Slot) -> Result<Vec<MechanismInfo>, Pkcs11Error> {
        let mut mechanisms = Vec::new();
        for mechanism in self.pkcs11.get_mechanism_list(slot).map_err(map_error)? {
            let code: u64 = mechanism_code(mechanism);
            let name = mechanism.to_string();
            let name = if name.starts_with("CKM_") { name } else { format!("CKM_0x{code:08X}") };
            let Ok(info) = self.pkcs11.get_mechanism_info(slot, mechanism) else {
                continue; // listed but not described: skip rather than fail the whole list
            };
            mechanisms.push(MechanismInfo {
                name,
                code,
                min_key_size: info.min_key_size() as u64,
                max_key_size: info.max_key_size() as u64,
                flags: MechanismFlags {
                    hardware: info.hardware(),
                    encrypt: info.encrypt(),
                    decrypt: info.decrypt(),
                    digest: info.digest(),
                    sign: info.sign(),
                    sign_recover: info.sign_recover(),
                    verify: info.verify(),
                    verify_recover: info.verify_recover(),
                    generate: info.generate(),
                    generate_key_pair: info.generate_key_pair(),
                    wrap: info.wrap(),
                    unwrap: info.unwrap(),
                    extension: info.extension(),
                    ec_fp: info.ec_f_p(),
                    ec_named_curve: info.ec_from_oid(), /* CKF_EC_OID, formerly CKF_EC_NAMEDCURVE */
                    ec_uncompress: info.ec_uncompressed(),
                    ec_compress: info.ec_compressed(),
                },
            });
        }
        Ok(mechanisms)
    }

    fn session(&self, session: u64) -> Result<&OpenSession, Pkcs11Error> {
        self.sessions
            .get(&session)
            .ok_or_else(|| Pkcs11Error::InvalidInput("no such session".to_owned()))
    }

    fn session_mut(&mut self, session: u64) -> Result<&mut OpenSession, Pkcs11Error> {
        self.sessions
            .get_mut(&session)
            .ok_or_else(|| Pkcs11Error::InvalidInput("no such session".to_owned()))
    }

    fn find_objects(
        &self,
        session: u64,
        query: &ObjectQuery,
    ) -> Result<Vec<ObjectInfo>, Pkcs11Error> {
        let open = self.session(session)?;
        let mut template = Vec::new();
        if let Some(class) = query.class {
            let class = ck_class(class).ok_or_else(|| {
                Pkcs11Error::NotSupported(format!("searching for {class:?} objects"))
            })?;
            template.push(Attribute::Class(class));
        }
        if let Some(label) = &query.label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &query.id {
            template.push(Attribute::Id(id.clone()));
        }
        let handles = open
            .session
            .find_objects(&template)
            .map_err(|e| self.removed_or(open, map_error(e)))?;
        let mut objects = Vec::with_capacity(handles.len());
        for handle in handles {
            let attributes = open
                .session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Class,
                        AttributeType::Label,
                        AttributeType::Id,
                        AttributeType::KeyType,
                    ],
                )
                .map_err(map_error)?;
            let mut class = None;
            let mut info = ObjectInfo {
                handle: wide(handle.handle()),
                class: ObjectClass::Data,
                label: String::new(),
                id: Vec::new(),
                key_type: None,
            };
            for attribute in attributes {
                match attribute {
                    Attribute::Class(c) => class = object_class(c),
                    Attribute::Label(label) => {
                        info.label = String::from_utf8_lossy(&label).into_owned();
                    }
                    Attribute::Id(id) => info.id = id,
                    Attribute::KeyType(kind) => {
                        info.key_type = Some(match kind {
                            CkKeyType::RSA => KeyType::Rsa,
                            CkKeyType::EC => KeyType::Ec,
                            _ => KeyType::Other,
                        });
                    }
                    _ => {}
                }
            }
            // Objects of other classes (secret keys, vendor objects) are not for modules.
            let Some(class) = class else { continue };
            info.class = class;
            if !matches!(class, ObjectClass::PublicKey | ObjectClass::PrivateKey) {
                info.key_type = None;
            }
            objects.push(info);
        }
        Ok(objects)
    }

    fn value(&self, session: u64, handle: u64) -> Result<Vec<u8>, Pkcs11Error> {
        let open = self.session(session)?;
        let object = object_handle(handle);
        let attributes = open
            .session
            .get_attributes(object, &[AttributeType::Class, AttributeType::Value])
            .map_err(|e| self.removed_or(open, map_error(e)))?;
        let mut readable = false;
        let mut value = None;
        for attribute in attributes {
            match attribute {
                Attribute::Class(class) => {
                    readable = matches!(class, CkObjectClass::CERTIFICATE | CkObjectClass::DATA);
                }
                Attribute::Value(bytes) => value = Some(bytes),
                _ => {}
            }
        }
        if !readable {
            return Err(Pkcs11Error::InvalidInput("not a certificate or data object".to_owned()));
        }
        value.ok_or(Pkcs11Error::ObjectNotFound)
    }

    fn login(&mut self, session: u64, pin: Option<&AuthPin>) -> Result<(), Pkcs11Error> {
        let open = self.session(session)?;
        let slot = open.slot;
        let mut result = open.session.login(UserType::User, pin);
        if let Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) = result {
            // Another session of this worker logged in: verify this caller's PIN anyway.
            let _ = open.session.logout();
            for other in self.sessions.values_mut().filter(|s| s.slot == slot) {
                other.logged_in = false;
            }
            let open = self.session(session)?;
            result = open.session.login(UserType::User, pin);
        }
        match result {
            Ok(()) => {
                self.session_mut(session)?.logged_in = true;
                Ok(())
            }
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                let tries = match self.pkcs11.get_token_info(slot) {
                    Ok(info) if info.user_pin_locked() => return Err(Pkcs11Error::PinLocked),
                    Ok(info) if info.user_pin_final_try() => PinTries::FinalTry,
                    Ok(info) if info.user_pin_count_low() => PinTries::Low,
                    _ => PinTries::Unknown,
                };
                Err(Pkcs11Error::PinIncorrect(tries))
            }
            Err(err) => Err(map_error(err)),
        }
    }

    fn sign(
        &self,
        session: u64,
        key: u64,
        mechanism: Mechanism,
        data: &[u8],
    ) -> Result<Vec<u8>, Pkcs11Error> {
        let open = self.session(session)?;
        let key = object_handle(key);
        // Without a login, a private key's handle is invalid (its object is invisible): say so.
        let not_found = |err| match err {
            Pkcs11Error::ObjectNotFound if !open.logged_in => Pkcs11Error::NotLoggedIn,
            other => other,
        };
        if !open.logged_in {
            // The token may be logged in through another session; a private key still needs this
            // session's own login.
            let private = open
                .session
                .get_attributes(key, &[AttributeType::Private])
                .map_err(|e| self.removed_or(open, not_found(map_error(e))))?
                .into_iter()
                .any(|a| matches!(a, Attribute::Private(true)));
            let token_logged_in =
                self.sessions.values().any(|s| s.slot == open.slot && s.logged_in);
            if private && token_logged_in {
                return Err(Pkcs11Error::NotLoggedIn);
            }
        }
        let mechanism = match mechanism {
            Mechanism::RsaPkcs => CkMechanism::RsaPkcs,
            Mechanism::Ecdsa => CkMechanism::Ecdsa,
            Mechanism::RsaPss { hash } => {
                // CK_ULONG: 64 bits on Unix, 32 on Windows.
                let (hash_alg, mgf, len): (_, _, c_ulong) = match hash {
                    Hash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, 20),
                    Hash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
                    Hash::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
                    Hash::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
                };
                CkMechanism::RsaPkcsPss(PkcsPssParams { hash_alg, mgf, s_len: len.into() })
            }
        };
        open.session
            .sign(&mechanism, key, data)
            .map_err(|e| self.removed_or(open, not_found(map_error(e))))
    }

    /// `err`, unless the session's token is gone: libraries that lose a token (SoftHSM when its
    /// directory is deleted) report invalid handles rather than CKR_TOKEN_NOT_PRESENT.
    fn removed_or(&self, open: &OpenSession, err: Pkcs11Error) -> Pkcs11Error {
        if matches!(err, Pkcs11Error::TokenRemoved | Pkcs11Error::InvalidInput(_)) {
            return err;
        }
        match self.pkcs11.get_token_info(open.slot) {
            Ok(info) if info.serial_number().trim() == open.serial && info.token_initialized() => {
                err
            }
            _ => Pkcs11Error::TokenRemoved,
        }
    }

    fn close_session(&mut self, session: u64) {
        let Some(open) = self.sessions.remove(&session) else { return };
        let others_logged_in = self.sessions.values().any(|s| s.slot == open.slot && s.logged_in);
        if open.logged_in && !others_logged_in {
            // Closing the last session would log out too; do it now so the login never outlives
            // the request that made it, even while other sessions stay open.
            let _ = open.session.logout();
        }
        if let Err(err) = open.session.close() {
            eprintln!("pkcs11 worker: C_CloseSession: {}", rv_name(&err));
        }
    }
}

fn slot_of(slot: u64) -> Result<Slot, Pkcs11Error> {
    Slot::try_from(slot).map_err(|_| Pkcs11Error::NoSuchSlot)
}

#[allow(unsafe_code)] // cryptoki's raw handle constructor; see below.
fn object_handle(handle: u64) -> ObjectHandle {
    // A handle wider than CK_ULONG (32-bit platforms) names nothing; 0 is CK_INVALID_HANDLE.
    let handle = c_ulong::try_from(handle).unwrap_or(0);
    // SAFETY: not a memory-safety matter: cryptoki marks this `unsafe` only because a made-up
    // handle may name another object. The library validates handles against the session
    // (CKR_OBJECT_HANDLE_INVALID), and the host only passes back handles this session found.
    unsafe { ObjectHandle::new_from_raw(handle) }
}

fn mechanism_code(mechanism: MechanismType) -> u64 {
    wide(mechanism.into())
}

/// CK_ULONG is 32 bits wide on some platforms, 64 on this one.
#[allow(clippy::useless_conversion)]
fn wide(value: c_ulong) -> u64 {
    u64::from(value)
}

/// The CKO_ value of a class; `None` for a class a newer SDK added that this host does not know.
fn ck_class(class: ObjectClass) -> Option<CkObjectClass> {
    Some(match class {
        ObjectClass::Certificate => CkObjectClass::CERTIFICATE,
        ObjectClass::PublicKey => CkObjectClass::PUBLIC_KEY,
        ObjectClass::PrivateKey => CkObjectClass::PRIVATE_KEY,
        ObjectClass::Data => CkObjectClass::DATA,
        _ => return None,
    })
}

fn object_class(class: CkObjectClass) -> Option<ObjectClass> {
    match class {
        CkObjectClass::CERTIFICATE => Some(ObjectClass::Certificate),
        CkObjectClass::PUBLIC_KEY => Some(ObjectClass::PublicKey),
        CkObjectClass::PRIVATE_KEY => Some(ObjectClass::PrivateKey),
        CkObjectClass::DATA => Some(ObjectClass::Data),
        _ => None,
    }
}

/// Maps a cryptoki error to the typed error of the WIT interface.
fn map_error(err: CkError) -> Pkcs11Error {
    let CkError::Pkcs11(rv, _) = &err else {
        return Pkcs11Error::Library(err.to_string());
    };
    match rv {
        RvError::TokenNotPresent
        | RvError::DeviceRemoved
        | RvError::TokenNotRecognized
        | RvError::SessionHandleInvalid
        | RvError::SessionClosed => Pkcs11Error::TokenRemoved,
        RvError::PinIncorrect => Pkcs11Error::PinIncorrect(PinTries::Unknown),
        RvError::PinLocked => Pkcs11Error::PinLocked,
        RvError::UserNotLoggedIn => Pkcs11Error::NotLoggedIn,
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Pkcs11Error::ObjectNotFound,
        RvError::SlotIdInvalid => Pkcs11Error::NoSuchSlot,
        RvError::MechanismInvalid
        | RvError::FunctionNotSupported
        | RvError::KeyTypeInconsistent
        | RvError::KeyFunctionNotPermitted
        | RvError::CurveNotSupported => Pkcs11Error::NotSupported(rv_name(&err)),
        RvError::DataInvalid
        | RvError::DataLenRange
        | RvError::ArgumentsBad
        | RvError::MechanismParamInvalid
        | RvError::PinLenRange
        | RvError::PinInvalid => Pkcs11Error::InvalidInput(rv_name(&err)),
        _ => Pkcs11Error::Library(rv_name(&err)),
    }
}

/// The `CKR_` name of a PKCS#11 error (cryptoki's variant name in upper snake case).
fn rv_name(err: &CkError) -> String {
    let CkError::Pkcs11(rv, _) = err else {
        return err.to_string();
    };
    if let RvError::UnknownErrorCode(code) = rv {
        return format!("CKR_0x{code:08X}");
    }
    let camel = format!("{rv:?}");
    let mut name = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn return_values_are_named_like_the_standard() {
        let err = CkError::Pkcs11(RvError::PinIncorrect, Function::Login);
        assert_eq!(rv_name(&err), "CKR_PIN_INCORRECT");
        let err = CkError::Pkcs11(RvError::UserNotLoggedIn, Function::Sign);
        assert_eq!(rv_name(&err), "CKR_USER_NOT_LOGGED_IN");
        let err = CkError::Pkcs11(RvError::UnknownErrorCode(0x8000_0001), Function::Sign);
        assert_eq!(rv_name(&err), "CKR_0x80000001");
    }

    #[test]
    fn removal_codes_mean_token_removed() {
        for rv in [RvError::TokenNotPresent, RvError::DeviceRemoved, RvError::SessionHandleInvalid]
        {
            assert_eq!(map_error(CkError::Pkcs11(rv, Function::Sign)), Pkcs11Error::TokenRemoved);
        }
    }
}
