//! A loaded module: its manifest, its pre-linked component, and one method per export. Every
//! call gets a fresh instance in a fresh `Store`, so no state leaks from one call (or origin) to
//! the next, and a call that traps poisons nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use zeroize::Zeroizing;

use t1c_sdk::{
    Capability, Certificate, CertificateKind, HashAlgorithm, Manifest, SignRequest, StatusWord,
    TokenInfo,
};

use crate::bindings::exports::t1c::card::{module as wit_module, token as wit_token};
use crate::bindings::t1c::card::types as wit_types;
use crate::bindings::{T1cModule as Bindings, T1cModulePre as ModulePre};
use crate::cache::CacheOutcome;
use crate::error::CallError;
use crate::imports::pin::PinSecret;
use crate::imports::pkcs11::{Slot, SlotResource};
use crate::imports::reader::CardHandle;
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
    pre: ModulePre<State>,
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
            .field("sha256", &hex::encode(self.sha256))
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    pub(crate) fn new(
        manifest: Manifest,
        pre: ModulePre<State>,
        engine: Engine,
        limits: CallLimits,
        sha256: [u8; 32],
        imported: BTreeSet<Capability>,
        cache: CacheOutcome,
    ) -> Self {
        Self {
            name: manifest.name.as_str().into(),
            manifest,
            pre,
            engine,
            limits,
            sha256,
            imported,
            cache,
        }
    }

    /// Reads the manifest of a freshly linked component (used while loading).
    pub(crate) fn read_manifest(
        pre: &ModulePre<State>,
        engine: &Engine,
        label: &str,
        limits: &CallLimits,
    ) -> Result<wit_module::Manifest, CallError> {
        run(engine, pre, label.into(), limits, |bindings, store| {
            bindings.t1c_card_module().call_describe(store)
        })
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manifest the module exported when it was loaded.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
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
        let info = self.call(Some(device), None, |b, store, device, _| {
            b.t1c_card_token().call_info(store, required(device)?)
        })?;
        Ok(TokenInfo {
            serial_number: info.serial_number,
            label: info.label,
            version: info.version,
            details: info.details,
        })
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
        let kinds: Vec<_> = kinds.iter().copied().map(kind_to_wit).collect();
        let certificates = self.call(Some(device), None, |b, store, device, _| {
            b.t1c_card_token().call_certificates(store, required(device)?, &kinds)
        })?;
        Ok(certificates
            .into_iter()
            .map(|c| Certificate { kind: kind_from_wit(c.kind), id: c.id, der: c.der })
            .collect())
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
        self.call(Some(device), pin, |b, store, device, pin| {
            b.t1c_card_token().call_verify_pin(store, required(device)?, pin)
        })
    }

    /// `token.sign`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn sign(
        &self,
        device: Device,
        request: &SignRequest,
        pin: Option<Zeroizing<String>>,
    ) -> Result<Vec<u8>, CallError> {
        let request = sign_request_to_wit(request);
        self.call(Some(device), pin, |b, store, device, pin| {
            b.t1c_card_token().call_sign(store, required(device)?, &request, pin)
        })
    }

    /// `token.authenticate`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn authenticate(
        &self,
        device: Device,
        request: &SignRequest,
        pin: Option<Zeroizing<String>>,
    ) -> Result<Vec<u8>, CallError> {
        let request = sign_request_to_wit(request);
        self.call(Some(device), pin, |b, store, device, pin| {
            b.t1c_card_token().call_authenticate(store, required(device)?, &request, pin)
        })
    }

    /// `token.supported-algorithms`.
    ///
    /// # Errors
    /// As [`LoadedModule::token_info`].
    pub fn supported_algorithms(&self, device: Device) -> Result<Vec<HashAlgorithm>, CallError> {
        let algorithms = self.call(Some(device), None, |b, store, device, _| {
            b.t1c_card_token().call_supported_algorithms(store, required(device)?)
        })?;
        Ok(algorithms.into_iter().map(hash_from_wit).collect())
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
        self.call(device, None, |b, store, device, _| {
            b.t1c_card_extension().call_invoke(store, device, operation, request)
        })
    }

    /// Runs one export in a fresh instance with the device (and PIN) in its resource table.
    fn call<R>(
        &self,
        device: Option<Device>,
        pin: Option<Zeroizing<String>>,
        f: impl FnOnce(
            &Bindings,
            &mut Store<State>,
            Option<wit_token::Device>,
            Option<Resource<PinSecret>>,
        ) -> wasmtime::Result<Result<R, wit_types::ModuleError>>,
    ) -> Result<R, CallError> {
        let name = self.name.clone();
        let result =
            run(&self.engine, &self.pre, name.clone(), &self.limits, |bindings, store| {
                let table = &mut store.data_mut().table;
                let device = match device {
                    Some(Device::Card(card)) => {
                        let handle = table.push(CardHandle::new(card))?;
                        Some(wit_token::Device::Card(Resource::new_borrow(handle.rep())))
                    }
                    Some(Device::Slot(slot)) => {
                        let handle = table.push(SlotResource::new(slot))?;
                        Some(wit_token::Device::Slot(Resource::new_borrow(handle.rep())))
                    }
                    None => None,
                };
                let pin = match pin {
                    Some(pin) => {
                        let handle = table.push(PinSecret::new(pin))?;
                        Some(Resource::new_borrow(handle.rep()))
                    }
                    None => None,
                };
                f(bindings, store, device, pin)
            })?;
        result.map_err(|error| CallError::Module {
            module: name.to_string(),
            error: module_error_from_wit(error),
        })
    }
}

/// Instantiates `pre` in a fresh store with the call limits, runs `f`, flushes the module's
/// output to the log and turns traps into [`CallError`]s.
fn run<R>(
    engine: &Engine,
    pre: &ModulePre<State>,
    module: Arc<str>,
    limits: &CallLimits,
    f: impl FnOnce(&Bindings, &mut Store<State>) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let mut store = Store::new(engine, State::new(module.clone(), limits));
    store.limiter(|state| state.limiter());
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| match ctx.data().clock.overrun() {
        None => Ok(UpdateDeadline::Continue(1)),
        Some(_) => Err(Trap::Interrupt.into()),
    });
    let outcome = match pre.instantiate(&mut store) {
        Ok(bindings) => f(&bindings, &mut store),
        Err(err) => Err(err),
    };
    let message = store.data().flush_output();
    outcome.map_err(|err| classify(err, store.data(), module, limits, message))
}

fn classify(
    err: wasmtime::Error,
    state: &State,
    module: Arc<str>,
    limits: &CallLimits,
    message: Option<String>,
) -> CallError {
    let module = module.to_string();
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

fn module_error_from_wit(err: wit_types::ModuleError) -> t1c_sdk::Error {
    use t1c_sdk::Error;
    use wit_types::ModuleError as W;
    match err {
        W::CardRemoved => Error::CardRemoved,
        W::CardReset => Error::CardReset,
        W::Timeout => Error::Timeout,
        W::Transport(msg) => Error::Transport(msg),
        W::PinWrong(tries) => Error::PinWrong(tries),
        W::PinBlocked => Error::PinBlocked,
        W::PinCancelled => Error::PinCancelled,
        W::NotSupported(msg) => Error::NotSupported(msg),
        W::StatusWord(sw) => Error::StatusWord(StatusWord::from_u16(sw)),
        W::InvalidInput(msg) => Error::InvalidInput(msg),
        W::Internal(msg) => Error::Internal(msg),
    }
}

fn sign_request_to_wit(request: &SignRequest) -> wit_token::SignRequest {
    wit_token::SignRequest {
        algorithm: hash_to_wit(request.algorithm),
        data: request.data.clone(),
        raw: request.raw,
        key_id: request.key_id.clone(),
    }
}

fn hash_to_wit(algorithm: HashAlgorithm) -> wit_types::HashAlgorithm {
    match algorithm {
        HashAlgorithm::Sha1 => wit_types::HashAlgorithm::Sha1,
        HashAlgorithm::Sha256 => wit_types::HashAlgorithm::Sha256,
        HashAlgorithm::Sha384 => wit_types::HashAlgorithm::Sha384,
        _ => wit_types::HashAlgorithm::Sha512,
    }
}

fn hash_from_wit(algorithm: wit_types::HashAlgorithm) -> HashAlgorithm {
    match algorithm {
        wit_types::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
        wit_types::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
        wit_types::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
        wit_types::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
    }
}

fn kind_to_wit(kind: CertificateKind) -> wit_token::CertificateKind {
    use wit_token::CertificateKind as W;
    match kind {
        CertificateKind::Root => W::Root,
        CertificateKind::Intermediate => W::Intermediate,
        CertificateKind::Authentication => W::Authentication,
        CertificateKind::NonRepudiation => W::NonRepudiation,
        CertificateKind::Encryption => W::Encryption,
        _ => W::Issuer,
    }
}

fn kind_from_wit(kind: wit_token::CertificateKind) -> CertificateKind {
    use wit_token::CertificateKind as W;
    match kind {
        W::Root => CertificateKind::Root,
        W::Intermediate => CertificateKind::Intermediate,
        W::Authentication => CertificateKind::Authentication,
        W::NonRepudiation => CertificateKind::NonRepudiation,
        W::Encryption => CertificateKind::Encryption,
        W::Issuer => CertificateKind::Issuer,
    }
}

/// The device of a token call; the public methods always pass one.
fn required(device: Option<wit_token::Device>) -> wasmtime::Result<wit_token::Device> {
    device.ok_or_else(|| wasmtime::format_err!("a token call needs a device"))
}
