//! `pkcs11.slot` and `pkcs11.session`: a PKCS#11 token chosen by the host for the call.
//!
//! The runtime does not load PKCS#11 libraries. The caller hands it a [`Slot`] (the connector's
//! supervised worker processes implement it; a test can implement it in memory) and the module
//! reaches it through the contract's resources. What this file enforces whatever the slot is:
//! at most [`MAX_OPEN_SESSIONS`] sessions open at once and [`MAX_SESSIONS_PER_CALL`] opened in
//! one call (then `CKR_SESSION_COUNT`), bounded inputs, at most [`MAX_OBJECTS`] objects per
//! search, PINs only from the host-held `pin` resource, and a logout of every session the module
//! left logged in when the call ends.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceType};
use zeroize::Zeroizing;

use t1c_sdk::HashAlgorithm;
use t1c_sdk::pkcs11::{
    KeyType, MechanismInfo, ObjectClass, ObjectInfo, ObjectQuery, PinTries, SignatureScheme,
    TokenError, TokenInfo,
};

use super::pin::{PinSecret, digits_of};
use super::{interface_name, link_error};
use crate::bindings::t1c::card::{pkcs11 as wit, types};
use crate::error::LoadError;
use crate::store::{CallClock, State};

/// PKCS#11 sessions a call may hold open at once; one more fails with `CKR_SESSION_COUNT`.
pub const MAX_OPEN_SESSIONS: u32 = 8;
/// PKCS#11 sessions a call may open in all (each costs the token a C_OpenSession).
pub const MAX_SESSIONS_PER_CALL: u32 = 64;
/// Objects one `find-objects` returns at most.
pub const MAX_OBJECTS: usize = 1024;
/// Longest label or id a module may search for.
const MAX_QUERY_FIELD: usize = 1024;
/// Longest input a signature takes: a raw CKM_RSA_PKCS block of a 16384-bit key.
const MAX_SIGN_DATA: usize = 2048;

/// A slot with a token, handed to one call ([`Device::Slot`](crate::Device::Slot)).
///
/// Errors are the contract's [`TokenError`]s: an implementation maps its own failures (a worker
/// that crashed, a library that cannot load) to them and keeps details that could name the
/// library in its own log.
pub trait Slot: Send {
    /// The token's CK_TOKEN_INFO.
    ///
    /// # Errors
    /// [`TokenError::TokenRemoved`] when the slot is empty or holds another token now.
    fn info(&self) -> Result<TokenInfo, TokenError>;

    /// The mechanisms the token supports.
    ///
    /// # Errors
    /// [`TokenError`].
    fn mechanisms(&self) -> Result<Vec<MechanismInfo>, TokenError>;

    /// Opens a read-only session; dropping it closes it.
    ///
    /// # Errors
    /// [`TokenError`].
    fn open_session(&self) -> Result<Box<dyn Session>, TokenError>;
}

/// A session on a token. Object handles are valid in the session that found them only.
pub trait Session: Send {
    /// The objects matching every field given in `query`.
    ///
    /// # Errors
    /// [`TokenError`].
    fn find_objects(&mut self, query: &ObjectQuery) -> Result<Vec<ObjectInfo>, TokenError>;

    /// CKA_VALUE of a certificate (DER) or data object.
    ///
    /// # Errors
    /// [`TokenError::ObjectNotFound`] for a handle this session did not find.
    fn value(&mut self, handle: u64) -> Result<Vec<u8>, TokenError>;

    /// Logs the user in with `pin`, or on the protected authentication path when `None`.
    ///
    /// # Errors
    /// [`TokenError::PinIncorrect`], [`TokenError::PinLocked`], ...
    fn login(&mut self, pin: Option<&Zeroizing<String>>) -> Result<(), TokenError>;

    /// Logs the user out.
    ///
    /// # Errors
    /// [`TokenError`].
    fn logout(&mut self) -> Result<(), TokenError>;

    /// Signs `data` with the private key `key` (a handle this session found). For
    /// [`SignatureScheme::RsaPkcs1`] with a digest algorithm, [`SignatureScheme::RsaPss`] and
    /// [`SignatureScheme::Ecdsa`], `data` is the digest.
    ///
    /// # Errors
    /// [`TokenError::NotLoggedIn`], [`TokenError::InvalidInput`] for a digest of the wrong
    /// length, ...
    fn sign(
        &mut self,
        key: u64,
        scheme: &SignatureScheme,
        data: &[u8],
    ) -> Result<Vec<u8>, TokenError>;
}

/// The slot of the current call, as the module's `pkcs11.slot` resource.
pub struct SlotResource {
    slot: Box<dyn Slot>,
}

impl SlotResource {
    pub(crate) fn new(slot: Box<dyn Slot>) -> Self {
        Self { slot }
    }
}

/// A session a module opened, as its `pkcs11.session` resource. Closed when the module drops it
/// or the call ends; logged out first if the module logged in and did not log out, so no login
/// outlives the call.
pub struct SessionResource {
    session: Box<dyn Session>,
    logged_in: bool,
}

impl Drop for SessionResource {
    fn drop(&mut self) {
        if self.logged_in
            && let Err(err) = self.session.logout()
        {
            tracing::debug!("logout of a PKCS#11 session left logged in: {err}");
        }
    }
}

/// What `pkcs11` keeps for one call: the session counts its limits apply to.
pub(crate) struct Pkcs11Ctx {
    module: Arc<str>,
    sessions_open: u32,
    sessions_opened: u32,
}

impl Pkcs11Ctx {
    pub(crate) fn new(module: Arc<str>) -> Self {
        Self { module, sessions_open: 0, sessions_opened: 0 }
    }
}

/// What `pkcs11` sees of a call.
pub(crate) struct Pkcs11View<'a> {
    ctx: &'a mut Pkcs11Ctx,
    table: &'a mut ResourceTable,
    clock: &'a mut CallClock,
}

struct Pkcs11Imports;

impl HasData for Pkcs11Imports {
    type Data<'a> = Pkcs11View<'a>;
}

/// Links `pkcs11` when `granted`; otherwise only its resource types, without functions.
pub(crate) fn add_to_linker(linker: &mut Linker<State>, granted: bool) -> Result<(), LoadError> {
    if granted {
        return wit::add_to_linker::<State, Pkcs11Imports>(linker, |state| Pkcs11View {
            ctx: &mut state.pkcs11,
            table: &mut state.table,
            clock: &mut state.clock,
        })
        .map_err(link_error);
    }
    let mut instance = linker.instance(&interface_name("pkcs11")).map_err(link_error)?;
    instance
        .resource("slot", ResourceType::host::<SlotResource>(), |_, _| Ok(()))
        .map_err(link_error)?;
    instance
        .resource("session", ResourceType::host::<SessionResource>(), |_, _| Ok(()))
        .map_err(link_error)
}

impl wit::Host for Pkcs11View<'_> {}

impl wit::HostSlot for Pkcs11View<'_> {
    fn info(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<wit::TokenInfo, wit::TokenError>> {
        let resource = self.table.get(&slot)?;
        let info = self.clock.host_time(|| resource.slot.info());
        Ok(info.map(token_info_to_wit).map_err(token_error_to_wit))
    }

    fn mechanisms(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Vec<wit::MechanismInfo>, wit::TokenError>> {
        let resource = self.table.get(&slot)?;
        let mechanisms = self.clock.host_time(|| resource.slot.mechanisms());
        Ok(mechanisms
            .map(|list| list.into_iter().map(mechanism_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn open_session(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Resource<SessionResource>, wit::TokenError>> {
        let resource = self.table.get(&slot)?;
        if self.ctx.sessions_open >= MAX_OPEN_SESSIONS
            || self.ctx.sessions_opened >= MAX_SESSIONS_PER_CALL
        {
            tracing::warn!(module = %self.ctx.module, "PKCS#11 session limit of the call reached");
            return Ok(Err(wit::TokenError::Library("CKR_SESSION_COUNT".into())));
        }
        let session = match self.clock.host_time(|| resource.slot.open_session()) {
            Ok(session) => session,
            Err(err) => return Ok(Err(token_error_to_wit(err))),
        };
        self.ctx.sessions_open += 1;
        self.ctx.sessions_opened += 1;
        let handle = self.table.push(SessionResource { session, logged_in: false })?;
        Ok(Ok(handle))
    }

    fn drop(&mut self, slot: Resource<SlotResource>) -> wasmtime::Result<()> {
        self.table.delete(slot)?;
        Ok(())
    }
}

impl wit::HostSession for Pkcs11View<'_> {
    fn find_objects(
        &mut self,
        session: Resource<SessionResource>,
        query: wit::ObjectQuery,
    ) -> wasmtime::Result<Result<Vec<wit::ObjectInfo>, wit::TokenError>> {
        if query.label.as_ref().is_some_and(|l| l.len() > MAX_QUERY_FIELD)
            || query.id.as_ref().is_some_and(|i| i.len() > MAX_QUERY_FIELD)
        {
            return Ok(Err(wit::TokenError::InvalidInput(
                "a label or id to search for is too long".into(),
            )));
        }
        let query = ObjectQuery {
            class: query.class.map(class_from_wit),
            label: query.label,
            id: query.id,
        };
        let resource = self.table.get_mut(&session)?;
        let found = self.clock.host_time(|| resource.session.find_objects(&query));
        Ok(found
            .map(|objects| objects.into_iter().take(MAX_OBJECTS).map(object_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn value(
        &mut self,
        session: Resource<SessionResource>,
        handle: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, wit::TokenError>> {
        let resource = self.table.get_mut(&session)?;
        let value = self.clock.host_time(|| resource.session.value(handle));
        Ok(value.map_err(token_error_to_wit))
    }

    fn login(
        &mut self,
        session: Resource<SessionResource>,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<(), wit::TokenError>> {
        let pin = digits_of(self.table, pin)?;
        let resource = self.table.get_mut(&session)?;
        let result = self.clock.host_time(|| resource.session.login(pin.as_ref()));
        resource.logged_in |= result.is_ok();
        Ok(result.map_err(token_error_to_wit))
    }

    fn logout(
        &mut self,
        session: Resource<SessionResource>,
    ) -> wasmtime::Result<Result<(), wit::TokenError>> {
        let resource = self.table.get_mut(&session)?;
        let result = self.clock.host_time(|| resource.session.logout());
        resource.logged_in &= result.is_err();
        Ok(result.map_err(token_error_to_wit))
    }

    fn sign(
        &mut self,
        session: Resource<SessionResource>,
        key: u64,
        scheme: wit::SignatureScheme,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, wit::TokenError>> {
        if data.len() > MAX_SIGN_DATA {
            return Ok(Err(wit::TokenError::InvalidInput(format!(
                "at most {MAX_SIGN_DATA} bytes are signed at once"
            ))));
        }
        let scheme = match scheme {
            wit::SignatureScheme::RsaPkcs1(hash) => {
                SignatureScheme::RsaPkcs1(hash.map(hash_from_wit))
            }
            wit::SignatureScheme::RsaPss(hash) => SignatureScheme::RsaPss(hash_from_wit(hash)),
            wit::SignatureScheme::Ecdsa => SignatureScheme::Ecdsa,
        };
        let resource = self.table.get_mut(&session)?;
        let signature = self.clock.host_time(|| resource.session.sign(key, &scheme, &data));
        Ok(signature.map_err(token_error_to_wit))
    }

    fn drop(&mut self, session: Resource<SessionResource>) -> wasmtime::Result<()> {
        let resource = self.table.delete(session)?;
        self.ctx.sessions_open = self.ctx.sessions_open.saturating_sub(1);
        drop(resource);
        Ok(())
    }
}

fn token_error_to_wit(err: TokenError) -> wit::TokenError {
    use wit::TokenError as W;
    match err {
        TokenError::Timeout => W::Timeout,
        TokenError::TokenRemoved => W::TokenRemoved,
        TokenError::PinIncorrect(tries) => W::PinIncorrect(match tries {
            PinTries::Low => wit::PinTries::Low,
            PinTries::FinalTry => wit::PinTries::FinalTry,
            _ => wit::PinTries::Unknown,
        }),
        TokenError::PinLocked => W::PinLocked,
        TokenError::NotLoggedIn => W::NotLoggedIn,
        TokenError::ObjectNotFound => W::ObjectNotFound,
        TokenError::NotSupported(what) => W::NotSupported(what),
        TokenError::InvalidInput(what) => W::InvalidInput(what),
        TokenError::Library(code) => W::Library(code),
        other => W::Library(format!("CKR_GENERAL_ERROR ({other})")),
    }
}

fn token_info_to_wit(info: TokenInfo) -> wit::TokenInfo {
    use wit::TokenFlags as W;
    let f = info.flags;
    let mut flags = W::empty();
    for (set, flag) in [
        (f.rng, W::RNG),
        (f.write_protected, W::WRITE_PROTECTED),
        (f.login_required, W::LOGIN_REQUIRED),
        (f.user_pin_initialized, W::USER_PIN_INITIALIZED),
        (f.restore_key_not_needed, W::RESTORE_KEY_NOT_NEEDED),
        (f.clock_on_token, W::CLOCK_ON_TOKEN),
        (f.protected_authentication_path, W::PROTECTED_AUTHENTICATION_PATH),
        (f.dual_crypto_operations, W::DUAL_CRYPTO_OPERATIONS),
        (f.token_initialized, W::TOKEN_INITIALIZED),
        (f.secondary_authentication, W::SECONDARY_AUTHENTICATION),
        (f.user_pin_count_low, W::USER_PIN_COUNT_LOW),
        (f.user_pin_final_try, W::USER_PIN_FINAL_TRY),
        (f.user_pin_locked, W::USER_PIN_LOCKED),
        (f.user_pin_to_be_changed, W::USER_PIN_TO_BE_CHANGED),
        (f.so_pin_count_low, W::SO_PIN_COUNT_LOW),
        (f.so_pin_final_try, W::SO_PIN_FINAL_TRY),
        (f.so_pin_locked, W::SO_PIN_LOCKED),
        (f.so_pin_to_be_changed, W::SO_PIN_TO_BE_CHANGED),
    ] {
        if set {
            flags |= flag;
        }
    }
    wit::TokenInfo {
        label: info.label,
        manufacturer_id: info.manufacturer_id,
        model: info.model,
        serial_number: info.serial_number,
        flags,
        max_session_count: info.max_session_count,
        session_count: info.session_count,
        max_rw_session_count: info.max_rw_session_count,
        max_pin_length: info.max_pin_length,
        min_pin_length: info.min_pin_length,
        total_public_memory: info.total_public_memory,
        free_public_memory: info.free_public_memory,
        total_private_memory: info.total_private_memory,
        free_private_memory: info.free_private_memory,
        hardware_version: info.hardware_version,
        firmware_version: info.firmware_version,
    }
}

fn mechanism_to_wit(m: MechanismInfo) -> wit::MechanismInfo {
    use wit::MechanismFlags as W;
    let f = m.flags;
    let mut flags = W::empty();
    for (set, flag) in [
        (f.hardware, W::HARDWARE),
        (f.encrypt, W::ENCRYPT),
        (f.decrypt, W::DECRYPT),
        (f.digest, W::DIGEST),
        (f.sign, W::SIGN),
        (f.sign_recover, W::SIGN_RECOVER),
        (f.verify, W::VERIFY),
        (f.verify_recover, W::VERIFY_RECOVER),
        (f.generate, W::GENERATE),
        (f.generate_key_pair, W::GENERATE_KEY_PAIR),
        (f.wrap, W::WRAP),
        (f.unwrap, W::UNWRAP),
        (f.extension, W::EXTENSION),
        (f.ec_fp, W::EC_FP),
        (f.ec_named_curve, W::EC_NAMED_CURVE),
        (f.ec_uncompress, W::EC_UNCOMPRESS),
        (f.ec_compress, W::EC_COMPRESS),
    ] {
        if set {
            flags |= flag;
        }
    }
    wit::MechanismInfo {
        name: m.name,
        code: m.code,
        min_key_size: m.min_key_size,
        max_key_size: m.max_key_size,
        flags,
    }
}

fn class_from_wit(class: wit::ObjectClass) -> ObjectClass {
    match class {
        wit::ObjectClass::Certificate => ObjectClass::Certificate,
        wit::ObjectClass::PublicKey => ObjectClass::PublicKey,
        wit::ObjectClass::PrivateKey => ObjectClass::PrivateKey,
        wit::ObjectClass::Data => ObjectClass::Data,
    }
}

/// The object as the module sees it; a class the contract has no name for shows as data.
fn object_to_wit(object: ObjectInfo) -> wit::ObjectInfo {
    wit::ObjectInfo {
        handle: object.handle,
        class: match object.class {
            ObjectClass::Certificate => wit::ObjectClass::Certificate,
            ObjectClass::PublicKey => wit::ObjectClass::PublicKey,
            ObjectClass::PrivateKey => wit::ObjectClass::PrivateKey,
            _ => wit::ObjectClass::Data,
        },
        label: object.label,
        id: object.id,
        key_type: object.key_type.map(|k| match k {
            KeyType::Rsa => wit::KeyType::Rsa,
            KeyType::Ec => wit::KeyType::Ec,
            _ => wit::KeyType::Other,
        }),
    }
}

fn hash_from_wit(hash: types::HashAlgorithm) -> HashAlgorithm {
    match hash {
        types::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
        types::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
        types::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
        types::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
    }
}

#[cfg(test)]
mod tests {
    //! The capability against an in-memory token: no wasm, no library, no worker.

    use std::sync::{Arc, Mutex};

    use wit::{HostSession, HostSlot};

    use super::*;
    use crate::limits::CallLimits;

    /// What the in-memory token saw.
    #[derive(Default)]
    struct Seen {
        open: u32,
        logins: Vec<Option<String>>,
        logouts: u32,
    }

    struct MemoryToken(Arc<Mutex<Seen>>);

    struct MemorySession(Arc<Mutex<Seen>>);

    impl Slot for MemoryToken {
        fn info(&self) -> Result<TokenInfo, TokenError> {
            Ok(TokenInfo { label: "memory".into(), ..TokenInfo::default() })
        }

        fn mechanisms(&self) -> Result<Vec<MechanismInfo>, TokenError> {
            Err(TokenError::TokenRemoved)
        }

        fn open_session(&self) -> Result<Box<dyn Session>, TokenError> {
            self.0.lock().unwrap().open += 1;
            Ok(Box::new(MemorySession(self.0.clone())))
        }
    }

    impl Session for MemorySession {
        fn find_objects(&mut self, _query: &ObjectQuery) -> Result<Vec<ObjectInfo>, TokenError> {
            let object = |handle| ObjectInfo {
                handle,
                class: ObjectClass::Certificate,
                label: String::new(),
                id: Vec::new(),
                key_type: None,
            };
            Ok((0..MAX_OBJECTS as u64 + 10).map(object).collect())
        }

        fn value(&mut self, _handle: u64) -> Result<Vec<u8>, TokenError> {
            Err(TokenError::ObjectNotFound)
        }

        fn login(&mut self, pin: Option<&Zeroizing<String>>) -> Result<(), TokenError> {
            self.0.lock().unwrap().logins.push(pin.map(|p| p.to_string()));
            Ok(())
        }

        fn logout(&mut self) -> Result<(), TokenError> {
            self.0.lock().unwrap().logouts += 1;
            Ok(())
        }

        fn sign(
            &mut self,
            _key: u64,
            _scheme: &SignatureScheme,
            _data: &[u8],
        ) -> Result<Vec<u8>, TokenError> {
            Err(TokenError::PinIncorrect(PinTries::FinalTry))
        }
    }

    struct Call {
        ctx: Pkcs11Ctx,
        table: ResourceTable,
        clock: CallClock,
        seen: Arc<Mutex<Seen>>,
        slot: Resource<SlotResource>,
    }

    impl Call {
        fn new() -> Self {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let mut table = ResourceTable::new();
            let slot = table.push(SlotResource::new(Box::new(MemoryToken(seen.clone())))).unwrap();
            Self {
                ctx: Pkcs11Ctx::new("test".into()),
                table,
                clock: CallClock::new(&CallLimits::default()),
                seen,
                slot,
            }
        }

        fn view(&mut self) -> Pkcs11View<'_> {
            Pkcs11View { ctx: &mut self.ctx, table: &mut self.table, clock: &mut self.clock }
        }

        fn slot(&self) -> Resource<SlotResource> {
            Resource::new_borrow(self.slot.rep())
        }

        fn open(&mut self) -> Result<Resource<SessionResource>, wit::TokenError> {
            let slot = self.slot();
            self.view().open_session(slot).unwrap()
        }
    }

    #[test]
    fn slot_calls_reach_the_token_and_its_errors_keep_their_meaning() {
        let mut call = Call::new();
        let slot = call.slot();
        let info = call.view().info(slot).unwrap().unwrap();
        assert_eq!(info.label, "memory");
        let slot = call.slot();
        assert!(matches!(
            call.view().mechanisms(slot).unwrap(),
            Err(wit::TokenError::TokenRemoved)
        ));
    }

    #[test]
    fn a_call_holds_at_most_eight_sessions_at_once() {
        let mut call = Call::new();
        let sessions: Vec<_> = (0..MAX_OPEN_SESSIONS).map(|_| call.open().unwrap()).collect();
        assert!(
            matches!(call.open(), Err(wit::TokenError::Library(code)) if code == "CKR_SESSION_COUNT")
        );
        assert_eq!(call.seen.lock().unwrap().open, MAX_OPEN_SESSIONS, "no ninth C_OpenSession");
        // Closing one makes room for one more.
        let first = sessions.into_iter().next().unwrap();
        HostSession::drop(&mut call.view(), first).unwrap();
        call.open().unwrap();
    }

    #[test]
    fn a_call_opens_at_most_sixty_four_sessions_in_all() {
        let mut call = Call::new();
        for _ in 0..MAX_SESSIONS_PER_CALL {
            let session = call.open().unwrap();
            HostSession::drop(&mut call.view(), session).unwrap();
        }
        assert!(matches!(call.open(), Err(wit::TokenError::Library(_))));
        assert_eq!(call.seen.lock().unwrap().open, MAX_SESSIONS_PER_CALL);
    }

    #[test]
    fn the_pin_reaches_the_token_from_the_pin_resource_and_a_login_does_not_outlive_the_call() {
        let mut call = Call::new();
        let session = call.open().unwrap();
        let pin = call.table.push(PinSecret::new(Zeroizing::new("1234".to_owned()))).unwrap();
        let borrowed = Resource::new_borrow(session.rep());
        call.view().login(borrowed, Some(Resource::new_borrow(pin.rep()))).unwrap().unwrap();
        assert_eq!(call.seen.lock().unwrap().logins, vec![Some("1234".to_owned())]);
        // The module forgets to log out; dropping the session (at the latest when the call's
        // table goes) logs it out.
        HostSession::drop(&mut call.view(), session).unwrap();
        assert_eq!(call.seen.lock().unwrap().logouts, 1);
    }

    #[test]
    fn searches_and_inputs_are_bounded() {
        let mut call = Call::new();
        let session = call.open().unwrap();
        let query = wit::ObjectQuery { class: None, label: None, id: None };
        let found =
            call.view().find_objects(Resource::new_borrow(session.rep()), query).unwrap().unwrap();
        assert_eq!(found.len(), MAX_OBJECTS);
        let long = wit::ObjectQuery { class: None, label: Some("x".repeat(2000)), id: None };
        assert!(matches!(
            call.view().find_objects(Resource::new_borrow(session.rep()), long).unwrap(),
            Err(wit::TokenError::InvalidInput(_))
        ));
        let signed = call
            .view()
            .sign(
                Resource::new_borrow(session.rep()),
                1,
                wit::SignatureScheme::Ecdsa,
                vec![0; 4096],
            )
            .unwrap();
        assert!(matches!(signed, Err(wit::TokenError::InvalidInput(_))));
        let signed = call
            .view()
            .sign(Resource::new_borrow(session.rep()), 1, wit::SignatureScheme::Ecdsa, vec![0; 32])
            .unwrap();
        assert!(matches!(signed, Err(wit::TokenError::PinIncorrect(wit::PinTries::FinalTry))));
    }
}
