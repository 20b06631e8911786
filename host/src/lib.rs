//! # t1c-host: the T1C connector
//!
//! The connector runs on the user's machine, serves the T1C v3 REST API on loopback and runs each
//! card or token driver as a sandboxed WebAssembly component. This crate is the connector as a
//! library, so tests and tools can drive it; the `t1c` binary is a thin command line over it.
//!
//! Concerns, one folder each:
//! - [`api`]: the HTTPS server, routes, the `{success, data}` envelope and the error table.
//! - [`bundles`]: signed module bundles: trust store, install state, install / remove /
//!   rollback with hot swap.
//! - [`config`]: the TOML configuration, environment overrides and defaults.
//! - [`connector`]: the composition root: a running connector built from a configuration
//!   (what `t1c serve`, the tests and the benches start).
//! - [`counters`]: durable transaction counters per label, tag, module, use case and day.
//! - [`security`]: the TLS identity (local CA, leaf, runtime certificate swap), the live CORS
//!   and JWT policy, the device key.
//! - [`pkcs11`]: PKCS#11 libraries in supervised worker processes, token slots, sessions.
//! - [`readers`]: PC/SC and simulated card readers, reader ids, exclusive card sessions.
//!
//! The WebAssembly runtime (engine, cache, capability granter, the contract's imports) is its
//! own crate, `t1c-runtime`, shared with the module author's CLI and the Distribution Service.
#![deny(missing_docs)]

pub mod api;
pub mod bundles;
pub mod config;
pub mod connector;
pub mod counters;
pub mod ds;
pub mod file_exchange;
pub mod files;
mod heap;
pub mod pkcs11;
pub mod readers;
pub mod security;
