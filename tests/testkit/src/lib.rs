//! # t1c-testkit: what the T1C tests and benches share
//!
//! - [`connector`]: a connector for tests, built by the connector's own composition root
//!   ([`t1c_host::connector`]) on a temporary data directory and an ephemeral loopback port,
//!   with an HTTPS client that trusts it.
//! - [`components`]: the workspace's module and test-module components, built once per
//!   process.
//! - [`bundle`]: signed bundles of components (manifest from the component, packed, signed).
//! - [`softhsm`]: SoftHSMv2 tokens with keys and certificates, one per test.
//! - [`process`]: the connector as a process (`t1c serve`), ready once its log says so.
//! - [`multipart`]: `multipart/form-data` bodies, as a browser's `FormData` sends them.
//! - [`session_bus`]: a private D-Bus session bus per test (desktop notifications, the folder
//!   chooser).
//! - [`desktop`]: fakes of the desktop services on that bus: the XDG desktop portal's folder
//!   chooser and the notification service, recording what they are asked.
//!
//! Test helpers panic with a message on failure, as tests do; the few functions `xtask` shares
//! return errors instead. `xtask` takes the kit without its default `connector` feature
//! (components and bundles only), so it links no part of the connector.
#![deny(missing_docs)]

#[cfg(feature = "bench")]
pub mod bench;
pub mod bundle;
pub mod components;
#[cfg(feature = "connector")]
pub mod connector;
#[cfg(feature = "connector")]
pub mod desktop;
#[cfg(feature = "ds")]
pub mod ds;
pub mod multipart;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "connector")]
pub mod process;
#[cfg(feature = "connector")]
pub mod session_bus;
#[cfg(feature = "connector")]
pub mod softhsm;

#[cfg(feature = "connector")]
pub use connector::{TestConnector, TestConnectorBuilder};
