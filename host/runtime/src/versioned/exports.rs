// The calls of a component's exports (`module`, `token`, `extension`) and the conversions of
// their types, against one contract version's bindings: included by `module.rs` once per
// version, with that version's `T1cModule`, `T1cModulePre`, `wit_module`, `wit_token`,
// `wit_types` and `CONTRACT` in scope, and its own `sign_request_to_wit` beside it (the one
// type that differs between versions). Not a module of its own; see `crate::contract`.

use wasmtime::Store;
use wasmtime::component::{InstancePre, Resource};
use zeroize::Zeroizing;

use t1c_sdk::{
    AtrPattern, Capability, Certificate, CertificateKind, DeviceKind, HashAlgorithm, HttpMethod,
    Manifest, Operation, SignRequest, StatusWord, TokenInfo,
};

use super::{Caller, Device, DeviceHandle, push_arguments};
use crate::error::{CallError, LoadError};
use crate::imports::files::{FileCall, Outgoing};
use crate::imports::pin::PinSecret;
use crate::store::State;

/// A component of this contract version, linked and ready to instantiate.
pub(crate) struct Exports(T1cModulePre<State>);

impl Exports {
    /// Checks that the linked component exports this version's interfaces.
    ///
    /// # Errors
    /// [`LoadError::MissingExport`] naming what is missing or mistyped.
    pub(crate) fn new(pre: InstancePre<State>) -> Result<Self, LoadError> {
        T1cModulePre::new(pre).map(Self).map_err(|e| LoadError::MissingExport(format!("{e:#}")))
    }

    /// `module.describe`, as the SDK's manifest.
    pub(crate) fn describe(&self, caller: &Caller<'_>) -> Result<Manifest, CallError> {
        let manifest = caller.run(|store| {
            let bindings = self.0.instantiate(&mut *store)?;
            bindings.t1c_card_module().call_describe(store)
        })?;
        Ok(manifest_from_wit(manifest))
    }

    /// `token.info`.
    pub(crate) fn token_info(
        &self,
        caller: &Caller<'_>,
        device: Device,
    ) -> Result<TokenInfo, CallError> {
        let info = self.call(caller, Some(device), None, |b, store, device, _| {
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
    pub(crate) fn certificates(
        &self,
        caller: &Caller<'_>,
        device: Device,
        kinds: &[CertificateKind],
    ) -> Result<Vec<Certificate>, CallError> {
        let kinds: Vec<_> = kinds.iter().copied().map(kind_to_wit).collect();
        let certificates = self.call(caller, Some(device), None, |b, store, device, _| {
            b.t1c_card_token().call_certificates(store, required(device)?, &kinds)
        })?;
        Ok(certificates
            .into_iter()
            .map(|c| Certificate { kind: kind_from_wit(c.kind), id: c.id, der: c.der })
            .collect())
    }

    /// `token.verify-pin`.
    pub(crate) fn verify_pin(
        &self,
        caller: &Caller<'_>,
        device: Device,
        pin: Option<Zeroizing<String>>,
    ) -> Result<(), CallError> {
        self.call(caller, Some(device), pin, |b, store, device, pin| {
            b.t1c_card_token().call_verify_pin(store, required(device)?, pin)
        })
    }

    /// `token.sign`, or `token.authenticate` when `authenticate`. A request this version
    /// cannot express fails with [`CallError::NotInContract`] before the module is called.
    pub(crate) fn sign(
        &self,
        caller: &Caller<'_>,
        device: Device,
        request: &SignRequest,
        pin: Option<Zeroizing<String>>,
        authenticate: bool,
    ) -> Result<Vec<u8>, CallError> {
        let request = sign_request_to_wit(request).map_err(|what| CallError::NotInContract {
            module: caller.module().to_owned(),
            what,
            contract: CONTRACT.package(),
        })?;
        self.call(caller, Some(device), pin, |b, store, device, pin| {
            let token = b.t1c_card_token();
            if authenticate {
                token.call_authenticate(store, required(device)?, &request, pin)
            } else {
                token.call_sign(store, required(device)?, &request, pin)
            }
        })
    }

    /// `token.supported-algorithms`.
    pub(crate) fn supported_algorithms(
        &self,
        caller: &Caller<'_>,
        device: Device,
    ) -> Result<Vec<HashAlgorithm>, CallError> {
        let algorithms = self.call(caller, Some(device), None, |b, store, device, _| {
            b.t1c_card_token().call_supported_algorithms(store, required(device)?)
        })?;
        Ok(algorithms.into_iter().map(hash_from_wit).collect())
    }

    /// `extension.invoke`.
    pub(crate) fn invoke(
        &self,
        caller: &Caller<'_>,
        device: Option<Device>,
        operation: &str,
        request: &str,
    ) -> Result<String, CallError> {
        self.call(caller, device, None, |b, store, device, _| {
            b.t1c_card_extension().call_invoke(store, device, operation, request)
        })
    }

    /// `extension.invoke` without a device, with the calling application's files; the answer
    /// and the file the module chose to send, if any.
    pub(crate) fn invoke_with_files(
        &self,
        caller: &Caller<'_>,
        files: FileCall,
        operation: &str,
        request: &str,
    ) -> Result<(String, Option<Outgoing>), CallError> {
        let result = caller.run(|store| {
            let bindings = self.0.instantiate(&mut *store)?;
            store.data_mut().files.grant(files);
            let answer =
                bindings.t1c_card_extension().call_invoke(&mut *store, None, operation, request)?;
            Ok(answer.map(|json| (json, store.data_mut().files.take_outgoing())))
        })?;
        result.map_err(|error| caller.module_error(module_error_from_wit(error)))
    }

    /// Runs one export in a fresh instance with the device (and PIN) in its resource table.
    fn call<R>(
        &self,
        caller: &Caller<'_>,
        device: Option<Device>,
        pin: Option<Zeroizing<String>>,
        f: impl FnOnce(
            &T1cModule,
            &mut Store<State>,
            Option<wit_token::Device>,
            Option<Resource<PinSecret>>,
        ) -> wasmtime::Result<Result<R, wit_types::ModuleError>>,
    ) -> Result<R, CallError> {
        let result = caller.run(|store| {
            let bindings = self.0.instantiate(&mut *store)?;
            let (device, pin) = push_arguments(&mut store.data_mut().table, device, pin)?;
            let device = device.map(|device| match device {
                DeviceHandle::Card(rep) => wit_token::Device::Card(Resource::new_borrow(rep)),
                DeviceHandle::Slot(rep) => wit_token::Device::Slot(Resource::new_borrow(rep)),
            });
            f(&bindings, store, device, pin)
        })?;
        result.map_err(|error| caller.module_error(module_error_from_wit(error)))
    }
}

/// The device of a token call; the public methods always pass one.
fn required(device: Option<wit_token::Device>) -> wasmtime::Result<wit_token::Device> {
    device.ok_or_else(|| wasmtime::format_err!("a token call needs a device"))
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

/// The manifest a component exported, in the SDK's types (validated by the loader).
fn manifest_from_wit(manifest: wit_module::Manifest) -> Manifest {
    Manifest {
        name: manifest.name,
        version: manifest.version,
        contract: manifest.contract,
        description: manifest.description,
        capabilities: manifest
            .capabilities
            .into_iter()
            .map(|c| match c {
                wit_module::Capability::Reader => Capability::Reader,
                wit_module::Capability::Pkcs11 => Capability::Pkcs11,
                wit_module::Capability::Files => Capability::Files,
            })
            .collect(),
        atrs: manifest.atrs.into_iter().map(|p| AtrPattern::new(p.value, p.mask)).collect(),
        token: manifest.token,
        operations: manifest
            .operations
            .into_iter()
            .map(|o| {
                Operation::new(
                    o.name,
                    match o.method {
                        wit_module::HttpMethod::Get => HttpMethod::Get,
                        wit_module::HttpMethod::Post => HttpMethod::Post,
                        wit_module::HttpMethod::Put => HttpMethod::Put,
                        wit_module::HttpMethod::Patch => HttpMethod::Patch,
                        wit_module::HttpMethod::Delete => HttpMethod::Delete,
                    },
                    match o.device {
                        wit_module::DeviceKind::Card => DeviceKind::Card,
                        wit_module::DeviceKind::Slot => DeviceKind::Slot,
                        wit_module::DeviceKind::None => DeviceKind::None,
                    },
                    o.use_case,
                    o.description,
                )
            })
            .collect(),
    }
}
