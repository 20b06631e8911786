//! Guest glue: the contract's bindings and the conversions between them and the SDK's types.
//!
//! Module authors use [`export_module!`](crate::export_module) and never touch this module
//! directly; it is public only because the macro expands in the author's crate.

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "t1c:card/t1c-module",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "t1c_sdk::guest::bindings",
    });
}

use bindings::exports::t1c::card::{module as wit_module, token as wit_token};
use bindings::t1c::card::{pkcs11 as wit_pkcs11, reader as wit_reader, types as wit_types};

use crate::card::{Card, CardError};
use crate::error::Error;
use crate::module::{
    AtrPattern, Capability, Certificate, CertificateKind, Device, DeviceKind, Extension,
    HashAlgorithm, HttpMethod, Manifest, Module, Operation, SignRequest, Token, TokenInfo,
};
use crate::pin::{Pin, PinEncoding, PinVerifyRequest, PinpadCapabilities};

/// Exports a type implementing [`Module`], [`Token`] and [`Extension`] as the component's
/// `module`, `token` and `extension` interfaces.
///
/// ```ignore
/// struct Hello;
/// impl t1c_sdk::Module for Hello { fn manifest() -> t1c_sdk::Manifest { /* ... */ } }
/// impl t1c_sdk::Token for Hello {}
/// impl t1c_sdk::Extension for Hello {}
/// t1c_sdk::export_module!(Hello);
/// ```
///
/// A PKCS#11 token module (one that declares the `pkcs11` capability) adds `pkcs11`:
/// `t1c_sdk::export_module!(MyToken, pkcs11);`. Without it the module imports no PKCS#11
/// function (so it needs no `pkcs11` capability) and a slot handed to it answers "not
/// supported". A module for PKCS#11 tokens only writes `export_module!(MyToken, pkcs11 only)`:
/// it imports no `reader` function either (so it needs no `reader` capability), and a PC/SC
/// card handed to it answers "not supported".
#[macro_export]
macro_rules! export_module {
    ($module:ident) => {
        $crate::export_module!(@export $module, $crate::guest::NoSlots);
    };
    ($module:ident, pkcs11) => {
        $crate::export_module!(@export $module, $crate::guest::HostSlots);
    };
    ($module:ident, pkcs11 only) => {
        $crate::export_module!(@export $module, $crate::guest::OnlySlots);
    };
    (@export $module:ident, $slots:path) => {
        // Only a component has exports; a native build (unit tests) links the logic alone.
        #[cfg(target_family = "wasm")]
        const _: () = {
            use $crate::guest::bindings::exports::t1c::card::{
                extension as __extension, module as __module, token as __token,
            };
            use $crate::guest::bindings::t1c::card::types as __types;

            impl __module::Guest for $module {
                fn describe() -> __module::Manifest {
                    $crate::guest::manifest::<$module>()
                }
            }

            impl __token::Guest for $module {
                fn info(
                    device: __token::Device<'_>,
                ) -> Result<__token::TokenInfo, __types::ModuleError> {
                    $crate::guest::info::<$module, $slots>(device)
                }
                fn certificates(
                    device: __token::Device<'_>,
                    kinds: Vec<__token::CertificateKind>,
                ) -> Result<Vec<__token::Certificate>, __types::ModuleError> {
                    $crate::guest::certificates::<$module, $slots>(device, kinds)
                }
                fn verify_pin(
                    device: __token::Device<'_>,
                    pin: Option<&__types::Pin>,
                ) -> Result<(), __types::ModuleError> {
                    $crate::guest::verify_pin::<$module, $slots>(device, pin)
                }
                fn sign(
                    device: __token::Device<'_>,
                    request: __token::SignRequest,
                    pin: Option<&__types::Pin>,
                ) -> Result<Vec<u8>, __types::ModuleError> {
                    $crate::guest::sign::<$module, $slots>(device, request, pin, false)
                }
                fn authenticate(
                    device: __token::Device<'_>,
                    request: __token::SignRequest,
                    pin: Option<&__types::Pin>,
                ) -> Result<Vec<u8>, __types::ModuleError> {
                    $crate::guest::sign::<$module, $slots>(device, request, pin, true)
                }
                fn supported_algorithms(
                    device: __token::Device<'_>,
                ) -> Result<Vec<__types::HashAlgorithm>, __types::ModuleError> {
                    $crate::guest::supported_algorithms::<$module, $slots>(device)
                }
            }

            impl __extension::Guest for $module {
                fn invoke(
                    device: Option<__token::Device<'_>>,
                    operation: String,
                    request: String,
                ) -> Result<String, __types::ModuleError> {
                    $crate::guest::invoke::<$module, $slots>(device, &operation, &request)
                }
    }

            $crate::guest::bindings::export_bindings!($module with_types_in $crate::guest::bindings);
        };

        // Natively the same entry points exist as plain functions, so the module's logic is
        // compiled, linted and reachable exactly as in the component.
        #[cfg(not(target_family = "wasm"))]
        const _: () = {
            #[allow(dead_code)]
            fn native_entry_points() {
                let _ = <$module as $crate::Module>::manifest;
                let _ = <$module as $crate::Token>::info;
                let _ = <$module as $crate::Token>::certificates;
                let _ = <$module as $crate::Token>::verify_pin;
                let _ = <$module as $crate::Token>::sign;
                let _ = <$module as $crate::Token>::authenticate;
                let _ = <$module as $crate::Token>::supported_algorithms;
                let _ = <$module as $crate::Extension>::invoke;
            }
        };
    };
}

/// The host's `card` resource seen through the SDK's [`Card`] trait.
struct HostCard<'a>(&'a wit_reader::Card);

impl Card for HostCard<'_> {
    fn atr(&self) -> Vec<u8> {
        self.0.atr()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.0.transmit(apdu).map_err(card_error_from_wit)
    }

    fn pinpad(&self) -> PinpadCapabilities {
        let caps = self.0.pinpad();
        PinpadCapabilities { verify_pin: caps.verify_pin, modify_pin: caps.modify_pin }
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        let handle = match pin {
            Some(pin) => Some(pin.host_handle().ok_or_else(|| {
                CardError::InvalidInput("a module can only pass on the host's PIN".into())
            })?),
            None => None,
        };
        let request = wit_reader::PinVerifyRequest {
            apdu: request.apdu.clone(),
            block_offset: request.block_offset,
            block_size: request.block_size,
            pin_bit_offset: request.pin_bit_offset,
            encoding: match request.encoding {
                PinEncoding::Ascii => wit_reader::PinEncoding::Ascii,
                PinEncoding::Bcd => wit_reader::PinEncoding::Bcd,
            },
            length_field: request.length_field.map(|f| wit_reader::PinLengthField {
                bit_position: f.bit_position,
                bit_size: f.bit_size,
            }),
            min_length: request.min_length,
            max_length: request.max_length,
            timeout_seconds: request.timeout_seconds,
        };
        self.0.verify_pin(&request, handle).map_err(card_error_from_wit)
    }
}

fn card_error_from_wit(err: wit_types::CardError) -> CardError {
    match err {
        wit_types::CardError::CardRemoved => CardError::CardRemoved,
        wit_types::CardError::CardReset => CardError::CardReset,
        wit_types::CardError::Timeout => CardError::Timeout,
        wit_types::CardError::Transport(msg) => CardError::Transport(msg),
        wit_types::CardError::PinCancelled => CardError::PinCancelled,
        wit_types::CardError::NotSupported(msg) => CardError::NotSupported(msg),
        wit_types::CardError::InvalidInput(msg) => CardError::InvalidInput(msg),
    }
}

fn error_to_wit(err: Error) -> wit_types::ModuleError {
    use wit_types::ModuleError as W;
    match err {
        Error::CardRemoved => W::CardRemoved,
        Error::CardReset => W::CardReset,
        Error::Timeout => W::Timeout,
        Error::Transport(msg) => W::Transport(msg),
        Error::PinWrong(tries) => W::PinWrong(tries),
        Error::PinBlocked => W::PinBlocked,
        Error::PinCancelled => W::PinCancelled,
        Error::NotSupported(msg) => W::NotSupported(msg),
        Error::StatusWord(sw) => W::StatusWord(sw.to_u16()),
        Error::InvalidInput(msg) => W::InvalidInput(msg),
        Error::Internal(msg) => W::Internal(msg),
    }
}

/// How the exports hand a PKCS#11 slot to the module. Chosen by [`export_module!`]
/// (crate::export_module): only [`HostSlots`] references the host's PKCS#11 functions, so a
/// module exported with [`NoSlots`] does not import them.
#[doc(hidden)]
pub trait SlotAccess {
    /// Runs `f` with the SDK view of `slot`.
    fn with_slot<R>(slot: &wit_pkcs11::Slot, f: impl FnOnce(Device<'_>) -> R) -> R;

    /// Runs `f` with the SDK view of `card`; only this default references the host's `reader`
    /// functions.
    fn with_card<R>(card: &wit_reader::Card, f: impl FnOnce(Device<'_>) -> R) -> R {
        f(Device::Card(&mut HostCard(card)))
    }
}

/// PKCS#11 slots only (`export_module!(M, pkcs11 only)`): a card answers "not supported".
#[doc(hidden)]
pub struct OnlySlots;

impl SlotAccess for OnlySlots {
    fn with_slot<R>(slot: &wit_pkcs11::Slot, f: impl FnOnce(Device<'_>) -> R) -> R {
        HostSlots::with_slot(slot, f)
    }

    fn with_card<R>(_card: &wit_reader::Card, f: impl FnOnce(Device<'_>) -> R) -> R {
        f(Device::Card(&mut UnsupportedCard))
    }
}

/// The card a module exported with `pkcs11 only` sees: every call answers not supported.
struct UnsupportedCard;

impl Card for UnsupportedCard {
    fn atr(&self) -> Vec<u8> {
        Vec::new()
    }

    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        Err(no_reader())
    }

    fn verify_pin(
        &mut self,
        _request: &PinVerifyRequest,
        _pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        Err(no_reader())
    }
}

fn no_reader() -> CardError {
    CardError::NotSupported("this module serves PKCS#11 tokens only".into())
}

/// Slots through the host's `pkcs11` capability (`export_module!(M, pkcs11)`).
#[doc(hidden)]
pub struct HostSlots;

impl SlotAccess for HostSlots {
    fn with_slot<R>(slot: &wit_pkcs11::Slot, f: impl FnOnce(Device<'_>) -> R) -> R {
        f(Device::Slot(&crate::pkcs11::host::HostSlot(slot)))
    }
}

/// No PKCS#11: a slot answers "not supported" (`export_module!(M)`).
#[doc(hidden)]
pub struct NoSlots;

impl SlotAccess for NoSlots {
    fn with_slot<R>(_slot: &wit_pkcs11::Slot, f: impl FnOnce(Device<'_>) -> R) -> R {
        f(Device::Slot(&UnsupportedSlot))
    }
}

/// The slot a module exported without `pkcs11` sees: every call answers not supported.
struct UnsupportedSlot;

impl crate::pkcs11::Slot for UnsupportedSlot {
    fn info(&self) -> Result<crate::pkcs11::TokenInfo, crate::pkcs11::TokenError> {
        Err(no_pkcs11())
    }

    fn mechanisms(&self) -> Result<Vec<crate::pkcs11::MechanismInfo>, crate::pkcs11::TokenError> {
        Err(no_pkcs11())
    }

    fn open_session(
        &self,
    ) -> Result<Box<dyn crate::pkcs11::Session + '_>, crate::pkcs11::TokenError> {
        Err(no_pkcs11())
    }
}

fn no_pkcs11() -> crate::pkcs11::TokenError {
    crate::pkcs11::TokenError::NotSupported(
        "this module is exported without PKCS#11 support (export_module!(M, pkcs11))".into(),
    )
}

/// Runs `f` with the SDK view of a contract device.
fn with_device<S: SlotAccess, R>(
    device: wit_token::Device<'_>,
    f: impl FnOnce(Device<'_>) -> R,
) -> R {
    match device {
        wit_token::Device::Card(card) => S::with_card(card, f),
        wit_token::Device::Slot(slot) => S::with_slot(slot, f),
    }
}

pub(crate) fn hash_to_wit(algorithm: HashAlgorithm) -> wit_types::HashAlgorithm {
    match algorithm {
        HashAlgorithm::Sha1 => wit_types::HashAlgorithm::Sha1,
        HashAlgorithm::Sha256 => wit_types::HashAlgorithm::Sha256,
        HashAlgorithm::Sha384 => wit_types::HashAlgorithm::Sha384,
        HashAlgorithm::Sha512 => wit_types::HashAlgorithm::Sha512,
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
        CertificateKind::Issuer => W::Issuer,
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

#[doc(hidden)]
pub fn manifest<M: Module>() -> wit_module::Manifest {
    let Manifest { name, version, contract, description, capabilities, atrs, token, operations } =
        M::manifest();
    wit_module::Manifest {
        name,
        version,
        contract,
        description,
        capabilities: capabilities
            .into_iter()
            .map(|c| match c {
                Capability::Reader => wit_module::Capability::Reader,
                Capability::Pkcs11 => wit_module::Capability::Pkcs11,
                Capability::Files => wit_module::Capability::Files,
            })
            .collect(),
        atrs: atrs
            .into_iter()
            .map(|AtrPattern { value, mask }| wit_module::AtrPattern { value, mask })
            .collect(),
        token,
        operations: operations.into_iter().map(operation_to_wit).collect(),
    }
}

fn operation_to_wit(operation: Operation) -> wit_module::Operation {
    wit_module::Operation {
        name: operation.name,
        method: match operation.method {
            HttpMethod::Get => wit_module::HttpMethod::Get,
            HttpMethod::Post => wit_module::HttpMethod::Post,
            HttpMethod::Put => wit_module::HttpMethod::Put,
            HttpMethod::Patch => wit_module::HttpMethod::Patch,
            HttpMethod::Delete => wit_module::HttpMethod::Delete,
        },
        use_case: operation.use_case,
        device: match operation.device {
            DeviceKind::Card => wit_module::DeviceKind::Card,
            DeviceKind::Slot => wit_module::DeviceKind::Slot,
            DeviceKind::None => wit_module::DeviceKind::None,
        },
        description: operation.description,
    }
}

#[doc(hidden)]
pub fn info<T: Token, S: SlotAccess>(
    device: wit_token::Device<'_>,
) -> Result<wit_token::TokenInfo, wit_types::ModuleError> {
    let TokenInfo { serial_number, label, version, details } =
        with_device::<S, _>(device, T::info).map_err(error_to_wit)?;
    Ok(wit_token::TokenInfo { serial_number, label, version, details })
}

#[doc(hidden)]
pub fn certificates<T: Token, S: SlotAccess>(
    device: wit_token::Device<'_>,
    kinds: Vec<wit_token::CertificateKind>,
) -> Result<Vec<wit_token::Certificate>, wit_types::ModuleError> {
    let kinds: Vec<CertificateKind> = kinds.into_iter().map(kind_from_wit).collect();
    let certificates =
        with_device::<S, _>(device, |d| T::certificates(d, &kinds)).map_err(error_to_wit)?;
    Ok(certificates
        .into_iter()
        .map(|Certificate { kind, id, der }| wit_token::Certificate {
            kind: kind_to_wit(kind),
            id,
            der,
        })
        .collect())
}

#[doc(hidden)]
pub fn verify_pin<T: Token, S: SlotAccess>(
    device: wit_token::Device<'_>,
    pin: Option<&wit_types::Pin>,
) -> Result<(), wit_types::ModuleError> {
    let pin = pin.map(Pin::from_host);
    with_device::<S, _>(device, |d| T::verify_pin(d, pin.as_ref())).map_err(error_to_wit)
}

#[doc(hidden)]
pub fn sign<T: Token, S: SlotAccess>(
    device: wit_token::Device<'_>,
    request: wit_token::SignRequest,
    pin: Option<&wit_types::Pin>,
    authenticate: bool,
) -> Result<Vec<u8>, wit_types::ModuleError> {
    let request = SignRequest {
        algorithm: hash_from_wit(request.algorithm),
        data: request.data,
        raw: request.raw,
        key_id: request.key_id,
    };
    let pin = pin.map(Pin::from_host);
    with_device::<S, _>(device, |d| {
        if authenticate {
            T::authenticate(d, &request, pin.as_ref())
        } else {
            T::sign(d, &request, pin.as_ref())
        }
    })
    .map_err(error_to_wit)
}

#[doc(hidden)]
pub fn supported_algorithms<T: Token, S: SlotAccess>(
    device: wit_token::Device<'_>,
) -> Result<Vec<wit_types::HashAlgorithm>, wit_types::ModuleError> {
    let algorithms = with_device::<S, _>(device, T::supported_algorithms).map_err(error_to_wit)?;
    Ok(algorithms.into_iter().map(hash_to_wit).collect())
}

#[doc(hidden)]
pub fn invoke<E: Extension, S: SlotAccess>(
    device: Option<wit_token::Device<'_>>,
    operation: &str,
    request: &str,
) -> Result<String, wit_types::ModuleError> {
    let result = match device {
        Some(device) => with_device::<S, _>(device, |d| E::invoke(Some(d), operation, request)),
        None => E::invoke(None, operation, request),
    };
    result.map_err(error_to_wit)
}
