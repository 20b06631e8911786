//! Who may talk to the connector and how it proves itself: the TLS identity. (CORS, JWT and
//! the device key live here too as they arrive.)
//!
//! This concern decides and proves; it does not route requests or know about modules.

pub mod cors;
pub mod device_key;
pub mod jwt;
pub mod tls;
