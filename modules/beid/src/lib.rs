//! probe
use t1c_sdk::{Extension, Manifest, Module, Token};
pub struct Beid;
impl Module for Beid {
    fn manifest() -> Manifest {
        Manifest::new("beid", "0.1.0", "x")
    }
}
impl Token for Beid {}
impl Extension for Beid {}
t1c_sdk::export_module!(Beid);
#[doc(hidden)]
pub fn probe(n: &[u8], e: &[u8], m: &[u8], s: &[u8], k: &[u8]) -> bool {
    use p384::ecdsa::signature::Verifier;
    use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
    let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e)).unwrap();
    let a = key.verify(Pkcs1v15Sign::new::<sha2::Sha256>(), m, s).is_ok();
    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(k).unwrap();
    let sig = p384::ecdsa::Signature::from_der(s).unwrap();
    a && vk.verify(m, &sig).is_ok()
}
