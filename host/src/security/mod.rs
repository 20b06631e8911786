//! Who may talk to the connector and how it proves itself: the TLS identity and getting
//! browsers to trust it, the CORS allowlist, JWT checks (together the live [`policy`]) and the
//! device key.
//!
//! This concern decides and proves; it does not route requests or know about modules.

pub mod cors;
pub mod device_key;
pub mod jwt;
pub mod policy;
pub mod trust;

/// The TLS identity (shared with the Distribution Service: crate `t1c-tls`).
pub use t1c_tls as tls;
