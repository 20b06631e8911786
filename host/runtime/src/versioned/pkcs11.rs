// The host side of `pkcs11` against one contract version's bindings: included by
// `imports/pkcs11.rs` once per version, with that version's `pkcs11` (as `wit`) and `types`
// and its `CONTRACT` in scope. Not a module of its own; see `crate::contract`.

use wasmtime::component::{Linker, Resource, ResourceType};

use t1c_sdk::HashAlgorithm;
use t1c_sdk::pkcs11::{
    KeyType, MechanismInfo, ObjectClass, ObjectInfo, ObjectQuery, PinTries, SignatureScheme,
    TokenError, TokenInfo,
};

use super::{Pkcs11Imports, Pkcs11View, SessionResource, SlotResource};
use crate::error::LoadError;
use crate::imports::link_error;
use crate::imports::pin::PinSecret;
use crate::store::State;

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
    let mut instance = linker.instance(&CONTRACT.interface("pkcs11")).map_err(link_error)?;
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
        Ok(self.slot_info(&slot)?.map(token_info_to_wit).map_err(token_error_to_wit))
    }

    fn mechanisms(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Vec<wit::MechanismInfo>, wit::TokenError>> {
        Ok(self
            .slot_mechanisms(&slot)?
            .map(|list| list.into_iter().map(mechanism_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn open_session(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Resource<SessionResource>, wit::TokenError>> {
        Ok(self.open_session_on(&slot)?.map_err(token_error_to_wit))
    }

    fn drop(&mut self, slot: Resource<SlotResource>) -> wasmtime::Result<()> {
        self.drop_slot(slot)
    }
}

impl wit::HostSession for Pkcs11View<'_> {
    fn find_objects(
        &mut self,
        session: Resource<SessionResource>,
        query: wit::ObjectQuery,
    ) -> wasmtime::Result<Result<Vec<wit::ObjectInfo>, wit::TokenError>> {
        let query = ObjectQuery {
            class: query.class.map(class_from_wit),
            label: query.label,
            id: query.id,
        };
        Ok(self
            .find_in(&session, &query)?
            .map(|objects| objects.into_iter().map(object_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn value(
        &mut self,
        session: Resource<SessionResource>,
        handle: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, wit::TokenError>> {
        Ok(self.value_in(&session, handle)?.map_err(token_error_to_wit))
    }

    fn login(
        &mut self,
        session: Resource<SessionResource>,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<(), wit::TokenError>> {
        Ok(self.login_to(&session, pin)?.map_err(token_error_to_wit))
    }

    fn logout(
        &mut self,
        session: Resource<SessionResource>,
    ) -> wasmtime::Result<Result<(), wit::TokenError>> {
        Ok(self.logout_of(&session)?.map_err(token_error_to_wit))
    }

    fn sign(
        &mut self,
        session: Resource<SessionResource>,
        key: u64,
        scheme: wit::SignatureScheme,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, wit::TokenError>> {
        let scheme = match scheme {
            wit::SignatureScheme::RsaPkcs1(hash) => {
                SignatureScheme::RsaPkcs1(hash.map(hash_from_wit))
            }
            wit::SignatureScheme::RsaPss(hash) => SignatureScheme::RsaPss(hash_from_wit(hash)),
            wit::SignatureScheme::Ecdsa => SignatureScheme::Ecdsa,
        };
        Ok(self.sign_in(&session, key, &scheme, &data)?.map_err(token_error_to_wit))
    }

    fn drop(&mut self, session: Resource<SessionResource>) -> wasmtime::Result<()> {
        self.drop_session(session)
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
