//! The JSON answers, with the T1C v3 field names (`shared/reference/t1c-v3-api.md` §3.2):
//! `PKCS11TokenInfo` for `info`, and the ≥ 3.6 certificate shape for the certificate operations.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use t1c_sdk::pkcs11::{MechanismFlags, MechanismInfo, TokenFlags, TokenInfo};

use crate::objects::TokenCertificate;

/// `PKCS11TokenInfo`. `slot` is filled in by the host, which alone knows the slot.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pkcs11TokenInfo {
    /// Token label.
    pub label: String,
    /// Manufacturer.
    pub manufacturer_id: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial_number: String,
    /// CK_TOKEN_INFO flags.
    pub flags: Flags,
    /// Mechanisms.
    pub mechanisms: Vec<Mechanism>,
    /// ulMaxSessionCount.
    pub ul_max_session_count: u64,
    /// ulSessionCount.
    pub ul_session_count: u64,
    /// ulMaxRwSessionCount.
    pub ul_max_rw_session_count: u64,
    /// ulMaxPinLen.
    pub ul_max_pin_len: u64,
    /// ulMinPinLen.
    pub ul_min_pin_len: u64,
    /// ulTotalPublicMemory, spelt as T1C spells it.
    #[serde(rename = "ulTotalPubLicMemory")]
    pub ul_total_public_memory: u64,
    /// ulFreePublicMemory.
    pub ul_free_pub_memory: u64,
    /// ulTotalPrivateMemory.
    pub ul_total_private_memory: u64,
    /// ulFreePrivateMemory.
    pub ul_free_private_memory: u64,
    /// `major.minor`.
    pub hardware_version: String,
    /// `major.minor`.
    pub firmware_version: String,
}

/// The token flags as T1C names them.
#[allow(missing_docs)] // One field per CKF_ flag, named as T1C names it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flags {
    pub is_random_number_generator: bool,
    pub is_write_protected: bool,
    pub is_login_required: bool,
    pub is_user_pin_initialized: bool,
    pub is_restore_key_not_needed: bool,
    pub is_clock_on_token: bool,
    pub is_protected_authentication_path: bool,
    pub is_dual_crypto_operations: bool,
    pub is_token_initialized: bool,
    pub is_secondary_authentication: bool,
    pub is_user_pin_count_low: bool,
    pub is_user_pin_final_try: bool,
    pub is_user_pin_locked: bool,
    pub is_user_pin_to_be_changed: bool,
    pub is_so_pin_count_low: bool,
    pub is_so_pin_final_try: bool,
    pub is_so_pin_locked: bool,
    pub is_so_pin_to_be_changed: bool,
}

/// One mechanism.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mechanism {
    /// The CKM_ name.
    pub mechanism: String,
    /// Its flags.
    pub flags: MechanismFlagsJson,
    /// ulMinKeySize.
    pub ul_min_key_size: u64,
    /// ulMaxKeySize.
    pub ul_max_key_size: u64,
}

/// Mechanism flags as T1C names them.
#[allow(missing_docs)] // One field per CKF_ flag, named as T1C names it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MechanismFlagsJson {
    pub is_hardware: bool,
    pub is_encrypt: bool,
    pub is_decrypt: bool,
    pub is_digest: bool,
    pub is_sign: bool,
    pub is_sign_recover: bool,
    pub is_verify: bool,
    pub is_verify_recover: bool,
    pub is_generate: bool,
    pub is_generate_key_pair: bool,
    pub is_wrap: bool,
    pub is_unwrap: bool,
    pub is_extension: bool,
    pub is_ec_f_p: bool,
    pub is_ec_namedcurve: bool,
    pub is_ec_uncompress: bool,
    pub is_ec_compress: bool,
}

impl Pkcs11TokenInfo {
    /// The T1C shape of a token's info and mechanisms.
    pub fn new(info: TokenInfo, mechanisms: Vec<MechanismInfo>) -> Self {
        Self {
            flags: Flags::from(info.flags),
            mechanisms: mechanisms.into_iter().map(Mechanism::from).collect(),
            label: info.label,
            manufacturer_id: info.manufacturer_id,
            model: info.model,
            serial_number: info.serial_number,
            ul_max_session_count: info.max_session_count,
            ul_session_count: info.session_count,
            ul_max_rw_session_count: info.max_rw_session_count,
            ul_max_pin_len: info.max_pin_length,
            ul_min_pin_len: info.min_pin_length,
            ul_total_public_memory: info.total_public_memory,
            ul_free_pub_memory: info.free_public_memory,
            ul_total_private_memory: info.total_private_memory,
            ul_free_private_memory: info.free_private_memory,
            hardware_version: info.hardware_version,
            firmware_version: info.firmware_version,
        }
    }
}

impl From<TokenFlags> for Flags {
    fn from(f: TokenFlags) -> Self {
        Self {
            is_random_number_generator: f.rng,
            is_write_protected: f.write_protected,
            is_login_required: f.login_required,
            is_user_pin_initialized: f.user_pin_initialized,
            is_restore_key_not_needed: f.restore_key_not_needed,
            is_clock_on_token: f.clock_on_token,
            is_protected_authentication_path: f.protected_authentication_path,
            is_dual_crypto_operations: f.dual_crypto_operations,
            is_token_initialized: f.token_initialized,
            is_secondary_authentication: f.secondary_authentication,
            is_user_pin_count_low: f.user_pin_count_low,
            is_user_pin_final_try: f.user_pin_final_try,
            is_user_pin_locked: f.user_pin_locked,
            is_user_pin_to_be_changed: f.user_pin_to_be_changed,
            is_so_pin_count_low: f.so_pin_count_low,
            is_so_pin_final_try: f.so_pin_final_try,
            is_so_pin_locked: f.so_pin_locked,
            is_so_pin_to_be_changed: f.so_pin_to_be_changed,
        }
    }
}

impl From<MechanismInfo> for Mechanism {
    fn from(m: MechanismInfo) -> Self {
        Self {
            mechanism: m.name,
            flags: MechanismFlagsJson::from(m.flags),
            ul_min_key_size: m.min_key_size,
            ul_max_key_size: m.max_key_size,
        }
    }
}

impl From<MechanismFlags> for MechanismFlagsJson {
    fn from(f: MechanismFlags) -> Self {
        Self {
            is_hardware: f.hardware,
            is_encrypt: f.encrypt,
            is_decrypt: f.decrypt,
            is_digest: f.digest,
            is_sign: f.sign,
            is_sign_recover: f.sign_recover,
            is_verify: f.verify,
            is_verify_recover: f.verify_recover,
            is_generate: f.generate,
            is_generate_key_pair: f.generate_key_pair,
            is_wrap: f.wrap,
            is_unwrap: f.unwrap,
            is_extension: f.extension,
            is_ec_f_p: f.ec_fp,
            is_ec_namedcurve: f.ec_named_curve,
            is_ec_uncompress: f.ec_uncompress,
            is_ec_compress: f.ec_compress,
        }
    }
}

/// `{"certificates": [...]}`: one certificate operation's answer and one `cert-list` entry.
#[derive(Debug, Serialize)]
pub struct Certificates {
    /// The certificates of the role, default first.
    pub certificates: Vec<CertificateJson>,
}

/// One certificate in the T1C ≥ 3.6 shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateJson {
    /// Base64 DER.
    pub certificate: String,
    /// `authentication`, `nonRepudiation`, `root`, `intermediate`, `encryption`.
    pub certificate_type: &'static str,
    /// CKA_ID, lower-case hex: the `id` to pass to `sign`, `authenticate` and `validate`.
    pub id: String,
    /// CKA_LABEL.
    pub label: String,
    /// Subject DN, RFC 4514.
    pub subject: String,
    /// Issuer DN, RFC 4514.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial_number: String,
}

impl From<&TokenCertificate> for CertificateJson {
    fn from(c: &TokenCertificate) -> Self {
        Self {
            certificate: BASE64.encode(&c.der),
            certificate_type: c.role.kind().certificate_type(),
            id: c.id_hex(),
            label: c.label.clone(),
            subject: c.fields.subject.clone(),
            issuer: c.fields.issuer.clone(),
            serial_number: c.fields.serial_number.clone(),
        }
    }
}
