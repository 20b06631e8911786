//! A loaded module: its manifest, its pre-linked component, and one method per export. Every
//! call gets a fresh instance in a fresh `Store`, so no state leaks from one call (or origin) to
//! the next, and a call that traps poisons nothing.
//!
//! The exports are called through the bindings of the contract version the component was built
//! for: `mod v0_1` and `mod v0_2` below each compile `src/versioned/exports.rs` against their
//! version, plus the conversion of a [`SignRequest`], the one type that differs (see
//! [`crate::contract`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::{InstancePre, Resource, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use zeroize::Zeroizing;

use t1c_sdk::{
    Capability, Certificate, CertificateKind, HashAlgorithm, Manifest, SignRequest, TokenInfo,
};

use crate::cache::CacheOutcome;
use crate::contract::Contract;
use crate::error::{CallError, LoadError};
use crate::imports::files::{FileCall, Outgoing};
use crate::imports::pin::PinSecret;
use crate::imports::pkcs11::{Slot, SlotResource};
use crate::imports::reader::CardHandle;
use crate::imports::wasi::Unavailable;
use crate::limits::CallLimits;
use crate::store::{Overrun, State};

/// The device a call runs on, handed over for the duration of the call.
#[non_exhaustive]
pub enum Device {
    /// A card, already connected and held exclusively by the caller's reader session; it is
    /// dropped (ending the session) when the call returns.
    Card(Box<dyn t1c_sdk::Card + Send>),
    /// A PKCS#11 slot, opened by the caller; sessions the module opens on it are closed (and
    /// logged out) when the call returns.
    Slot(Box<dyn Slot>),
}

/// A module ready to be called.
pub struct LoadedModule {
    name: Arc<str>,
    manifest: Manifest,
    exports: Exports,
    engine: Engine,
    limits: CallLimits,
    sha256: [u8; 32],
    imported: BTreeSet<Capability>,
    cache: CacheOutcome,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("name", &self.name)
            .field("version", &self.manifest.version)
            .field("contract", &self.exports.contract().version())
            .field("sha256", &hex::encode(self.sha256))
            .finish_non_exhaustive()
    }
}

/// Calls the same method of whichever version's exports `$exports` holds.
macro_rules! dispatch {
    ($exports:expr, $version:ident => $call:expr) => {
        match $exports {
            Exports::V0_1($version) => $call,
            Exports::V0_2($version) => $call,
        }
    };
}

/// A linked component, through the bindings of the contract version it was built for.
pub(crate) enum Exports {
    /// `t1c:card@0.1.0`.
    V0_1(v0_1::Exports),
    /// `t1c:card@0.2.0`.
    V0_2(v0_2::Exports),
}

impl Exports {
    /// Checks that the component linked by `pre` exports `contract`'s interfaces.
    ///
    /// # Errors
    /// [`LoadError::MissingExport`].
    pub(crate) fn new(contract: Contract, pre: InstancePre<State>) -> Result<Self, LoadError> {
        Ok(match contract {
            Contract::V0_1 => Exports::V0_1(v0_1::Exports::new(pre)?),
            Contract::V0_2 => Exports::V0_2(v0_2::Exports::new(pre)?),
        })
    }

    /// The contract version the component was built for.
    pub(crate) fn contract(&self) -> Contract {
        match self {
            Exports::V0_1(_) => Contract::V0_1,
            Exports::V0_2(_) => Contract::V0_2,
        }
    }

    /// Reads the manifest of a freshly linked component (used while loading).
    pub(crate) fn describe(&self, caller: &Caller<'_>) -> Result<Manifest, CallError> {
        dispatch!(self, e => e.describe(caller))
    }
}

impl LoadedModule {
    pub(crate) fn new(
        manifest: Manifest,
        exports: Exports,
        engine: Engine,
        limits: CallLimits,
        sha256: [u8; 32],
        imported: BTreeSet<Capability>,
        cache: CacheOutcome,
    ) -> Self {
        Self {
            name: manifest.name.as_str().into(),
            manifest,
            exports,
            engine,
            limits,
            sha256,
            imported,
            cache,
        }
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manifest the module exported when it was loaded.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The contract version the component was built against and is called through (`0.1.0`),
    /// one of [`SUPPORTED_CONTRACTS`](crate::SUPPORTED_CONTRACTS).
    pub fn contract(&self) -> &'static str {
        self.exports.contract().version()
    }

    /// SHA-256 of the component's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The capabilities the component imports (a subset of the manifest's).
    pub fn imported_capabilities(&self) -> &BTreeSet<Capability> {
        &self.imported
    }

    /// Whether the compiled code came from the cache on load.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// Whether the module claims a card with this ATR.
    pub fn matches_atr(&self, atr: &[u8]) -> bool {
        self.manifest.atrs.iter().any(|p| p.matches(atr))
    }

    /// `token.info`.
    ///
    /// # Errors
    /// [`CallError`] for the module's own errors and for traps, deadlines and memory.
    pub fn token_info(&self, device: Device) -> Result<TokenInfo, CallError> {
        dispatch!(&self.exports, e => e.token_info(&self.caller(), device))
    }

    /// `token.certificates`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn certificates(
        &self,
        device: Device,
        kinds: &[CertificateKind],
    ) -> Result<Vec<Certificate>, CallError> {
        dispatch!(&self.exports, e => e.certificates(&self.caller(), device, kinds))
    }

    /// `token.verify-pin`; `None` verifies on the reader's keypad.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn verify_pin(
        &self,
        device: Device,
        pin: Option<Zeroizing<String>>,
    ) -> Result<(), CallError> {
        dispatch!(&self.exports, e => e.verify_pin(&self.caller(), device, pin))
    }

    /// `token.sign`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`]; [`CallError::NotInContract`], without calling the
    /// module, for a request its contract version cannot express (RSA-PSS for 0.1.0).
    pub fn sign(
        &self,
        device: Device,
        request: &SignRequest,
        pin: Option<Zeroizing<String>>,
    ) -> Result<Vec<u8>, CallError> {
        dispatch!(&self.exports, e => e.sign(&self.caller(), device, request, pin, false))
    }

    /// `token.authenticate`.
    ///
    /// # Errors
    /// As [`LoadedModule::sign`].
    pub fn authenticate(
        &self,
        device: Device,
        request: &SignRequest,
        pin: Option<Zeroizing<String>>,
    ) -> Result<Vec<u8>, CallError> {
        dispatch!(&self.exports, e => e.sign(&self.caller(), device, request, pin, true))
    }

    /// `token.supported-algorithms`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn supported_algorithms(&self, device: Device) -> Result<Vec<HashAlgorithm>, CallError> {
        dispatch!(&self.exports, e => e.supported_algorithms(&self.caller(), device))
    }

    /// `extension.invoke`: runs the module-specific `operation` with a JSON request.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn invoke(
        &self,
        device: Option<Device>,
        operation: &str,
        request: &str,
    ) -> Result<String, CallError> {
        dispatch!(&self.exports, e => e.invoke(&self.caller(), device, operation, request))
    }

    /// `extension.invoke` of an operation without a device, with the calling application's
    /// file exchange ([`FileCall`]): the JSON answer, and the file the module chose to answer
    /// with ([`Outgoing`]), if any.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn invoke_with_files(
        &self,
        files: FileCall,
        operation: &str,
        request: &str,
    ) -> Result<(String, Option<Outgoing>), CallError> {
        dispatch!(&self.exports, e => e.invoke_with_files(&self.caller(), files, operation, request))
    }

    fn caller(&self) -> Caller<'_> {
        Caller::new(&self.engine, self.name.clone(), &self.limits)
    }
}

/// What running any export needs besides its arguments: the engine, the module's name and the
/// call limits.
pub(crate) struct Caller<'a> {
    engine: &'a Engine,
    module: Arc<str>,
    limits: &'a CallLimits,
}

impl<'a> Caller<'a> {
    pub(crate) fn new(engine: &'a Engine, module: Arc<str>, limits: &'a CallLimits) -> Self {
        Self { engine, module, limits }
    }

    /// The module's name (or file, before its manifest is read).
    pub(crate) fn module(&self) -> &str {
        &self.module
    }

    /// The module's own typed error as a [`CallError`].
    pub(crate) fn module_error(&self, error: t1c_sdk::Error) -> CallError {
        CallError::Module { module: self.module.to_string(), error }
    }

    /// Runs `f` (instantiate, then call) in a fresh store with the call limits, flushes the
    /// module's output to the log and turns traps into [`CallError`]s.
    pub(crate) fn run<R>(
        &self,
        f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let module = self.module.clone();
        let limits = self.limits;
        let mut store = Store::new(self.engine, State::new(module.clone(), limits));
        store.limiter(|state| state.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| match ctx.data().clock.overrun() {
            None => Ok(UpdateDeadline::Continue(1)),
            Some(_) => Err(Trap::Interrupt.into()),
        });
        let outcome = f(&mut store);
        let message = store.data().flush_output();
        outcome.map_err(|err| classify(err, store.data(), module, limits, message))
    }
}

/// The device of a call, as the representation of its handle in the store's table; each
/// version wraps it in its own `token.device`.
pub(crate) enum DeviceHandle {
    /// A `reader.card`.
    Card(u32),
    /// A `pkcs11.slot`.
    Slot(u32),
}

/// Puts the call's device and PIN into its resource table, as the handles the module borrows.
///
/// # Errors
/// The table is full (the call ends).
pub(crate) fn push_arguments(
    table: &mut ResourceTable,
    device: Option<Device>,
    pin: Option<Zeroizing<String>>,
) -> wasmtime::Result<(Option<DeviceHandle>, Option<Resource<PinSecret>>)> {
    let device = match device {
        Some(Device::Card(card)) => {
            Some(DeviceHandle::Card(table.push(CardHandle::new(card))?.rep()))
        }
        Some(Device::Slot(slot)) => {
            Some(DeviceHandle::Slot(table.push(SlotResource::new(slot))?.rep()))
        }
        None => None,
    };
    let pin = match pin {
        Some(pin) => Some(Resource::new_borrow(table.push(PinSecret::new(pin))?.rep())),
        None => None,
    };
    Ok((device, pin))
}

fn classify(
    err: wasmtime::Error,
    state: &State,
    module: Arc<str>,
    limits: &CallLimits,
    message: Option<String>,
) -> CallError {
    let module = module.to_string();
    // A WASI function modules do not get: a trap of the module's making, named.
    if let Some(unavailable) = err.downcast_ref::<Unavailable>() {
        return CallError::Trapped { module, trap: unavailable.to_string(), message };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            let limit = match state.clock.overrun() {
                Some(Overrun::Wall(limit)) | Some(Overrun::Cpu(limit)) => limit,
                None => limits.cpu_time,
            };
            CallError::DeadlineExceeded { module, limit }
        }
        Some(trap) if state.memory_denied() => {
            tracing::debug!(module, "trap after a refused memory growth: {trap}");
            CallError::MemoryExhausted { module, limit: limits.memory_bytes }
        }
        Some(trap) => CallError::Trapped { module, trap: trap.to_string(), message },
        None if err.is::<wasmtime::PoolConcurrencyLimitError>() => CallError::Busy { module },
        None => {
            let text = format!("{err:#}");
            if state.memory_denied() {
                CallError::MemoryExhausted { module, limit: limits.memory_bytes }
            } else {
                CallError::Host { module, message: text }
            }
        }
    }
}

/// The exports of `t1c:card@0.1.0`, which has no padding: RSA-PSS cannot be asked.
pub(crate) mod v0_1 {
    use t1c_sdk::Padding;

    use crate::bindings::v0_1::exports::t1c::card::{module as wit_module, token as wit_token};
    use crate::bindings::v0_1::t1c::card::types as wit_types;
    use crate::bindings::v0_1::{T1cModule, T1cModulePre};
    use crate::contract::Contract;

    const CONTRACT: Contract = Contract::V0_1;

    include!("versioned/exports.rs");

    /// The request in 0.1.0's types; `Err` says what 0.1.0 cannot express.
    fn sign_request_to_wit(request: &SignRequest) -> Result<wit_token::SignRequest, &'static str> {
        if request.padding != Padding::Pkcs1V15 {
            return Err("RSA-PSS");
        }
        Ok(wit_token::SignRequest {
            algorithm: hash_to_wit(request.algorithm),
            data: request.data.clone(),
            raw: request.raw,
            key_id: request.key_id.clone(),
        })
    }
}

/// The exports of `t1c:card@0.2.0`.
pub(crate) mod v0_2 {
    use t1c_sdk::Padding;

    use crate::bindings::v0_2::exports::t1c::card::{module as wit_module, token as wit_token};
    use crate::bindings::v0_2::t1c::card::types as wit_types;
    use crate::bindings::v0_2::{T1cModule, T1cModulePre};
    use crate::contract::Contract;

    const CONTRACT: Contract = Contract::V0_2;

    include!("versioned/exports.rs");

    /// The request in 0.2.0's types; `Err` says what 0.2.0 cannot express.
    fn sign_request_to_wit(request: &SignRequest) -> Result<wit_token::SignRequest, &'static str> {
        let padding = match request.padding {
            Padding::Pkcs1V15 => wit_token::Padding::Pkcs1V15,
            Padding::Pss => wit_token::Padding::Pss,
            _ => return Err("this signature padding"),
        };
        Ok(wit_token::SignRequest {
            algorithm: hash_to_wit(request.algorithm),
            data: request.data.clone(),
            raw: request.raw,
            key_id: request.key_id.clone(),
            padding,
        })
    }
}
