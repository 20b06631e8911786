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

use wasmtime::component::{HasData, Resource, ResourceTable};
use zeroize::Zeroizing;

use t1c_sdk::pkcs11::{
    MechanismInfo, ObjectInfo, ObjectQuery, SignatureScheme, TokenError, TokenInfo,
};

use super::pin::{PinSecret, digits_of};
use crate::store::CallClock;

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

/// The slot and session functions in the SDK's types, with the limits this file enforces;
/// each contract version's `HostSlot` and `HostSession` convert.
impl Pkcs11View<'_> {
    fn slot_info(
        &mut self,
        slot: &Resource<SlotResource>,
    ) -> wasmtime::Result<Result<TokenInfo, TokenError>> {
        let resource = self.table.get(slot)?;
        Ok(self.clock.host_time(|| resource.slot.info()))
    }

    fn slot_mechanisms(
        &mut self,
        slot: &Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Vec<MechanismInfo>, TokenError>> {
        let resource = self.table.get(slot)?;
        Ok(self.clock.host_time(|| resource.slot.mechanisms()))
    }

    fn open_session_on(
        &mut self,
        slot: &Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Resource<SessionResource>, TokenError>> {
        let resource = self.table.get(slot)?;
        if self.ctx.sessions_open >= MAX_OPEN_SESSIONS
            || self.ctx.sessions_opened >= MAX_SESSIONS_PER_CALL
        {
            tracing::warn!(module = %self.ctx.module, "PKCS#11 session limit of the call reached");
            return Ok(Err(TokenError::Library("CKR_SESSION_COUNT".into())));
        }
        let session = match self.clock.host_time(|| resource.slot.open_session()) {
            Ok(session) => session,
            Err(err) => return Ok(Err(err)),
        };
        self.ctx.sessions_open += 1;
        self.ctx.sessions_opened += 1;
        let handle = self.table.push(SessionResource { session, logged_in: false })?;
        Ok(Ok(handle))
    }

    fn drop_slot(&mut self, slot: Resource<SlotResource>) -> wasmtime::Result<()> {
        self.table.delete(slot)?;
        Ok(())
    }

    fn find_in(
        &mut self,
        session: &Resource<SessionResource>,
        query: &ObjectQuery,
    ) -> wasmtime::Result<Result<Vec<ObjectInfo>, TokenError>> {
        if query.label.as_ref().is_some_and(|l| l.len() > MAX_QUERY_FIELD)
            || query.id.as_ref().is_some_and(|i| i.len() > MAX_QUERY_FIELD)
        {
            return Ok(Err(TokenError::InvalidInput(
                "a label or id to search for is too long".into(),
            )));
        }
        let resource = self.table.get_mut(session)?;
        let found = self.clock.host_time(|| resource.session.find_objects(query));
        Ok(found.map(|mut objects| {
            objects.truncate(MAX_OBJECTS);
            objects
        }))
    }

    fn value_in(
        &mut self,
        session: &Resource<SessionResource>,
        handle: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, TokenError>> {
        let resource = self.table.get_mut(session)?;
        Ok(self.clock.host_time(|| resource.session.value(handle)))
    }

    fn login_to(
        &mut self,
        session: &Resource<SessionResource>,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<(), TokenError>> {
        let pin = digits_of(self.table, pin)?;
        let resource = self.table.get_mut(session)?;
        let result = self.clock.host_time(|| resource.session.login(pin.as_ref()));
        resource.logged_in |= result.is_ok();
        Ok(result)
    }

    fn logout_of(
        &mut self,
        session: &Resource<SessionResource>,
    ) -> wasmtime::Result<Result<(), TokenError>> {
        let resource = self.table.get_mut(session)?;
        let result = self.clock.host_time(|| resource.session.logout());
        resource.logged_in &= result.is_err();
        Ok(result)
    }

    fn sign_in(
        &mut self,
        session: &Resource<SessionResource>,
        key: u64,
        scheme: &SignatureScheme,
        data: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, TokenError>> {
        if data.len() > MAX_SIGN_DATA {
            return Ok(Err(TokenError::InvalidInput(format!(
                "at most {MAX_SIGN_DATA} bytes are signed at once"
            ))));
        }
        let resource = self.table.get_mut(session)?;
        Ok(self.clock.host_time(|| resource.session.sign(key, scheme, data)))
    }

    fn drop_session(&mut self, session: Resource<SessionResource>) -> wasmtime::Result<()> {
        let resource = self.table.delete(session)?;
        self.ctx.sessions_open = self.ctx.sessions_open.saturating_sub(1);
        drop(resource);
        Ok(())
    }
}

/// `pkcs11` of contract 0.1.0.
pub(crate) mod v0_1 {
    use crate::bindings::v0_1::t1c::card::{pkcs11 as wit, types};
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_1;
    include!("../versioned/pkcs11.rs");
}

/// `pkcs11` of contract 0.2.0.
pub(crate) mod v0_2 {
    use crate::bindings::v0_2::t1c::card::{pkcs11 as wit, types};
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_2;
    include!("../versioned/pkcs11.rs");
}

#[cfg(test)]
mod tests {
    //! The capability against an in-memory token: no wasm, no library, no worker. Through the
    //! latest contract's traits; every version runs the same source.

    use std::sync::{Arc, Mutex};

    use t1c_sdk::pkcs11::{ObjectClass, PinTries};
    use wit::{HostSession, HostSlot};

    use super::*;
    use crate::bindings::v0_2::t1c::card::pkcs11 as wit;
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
