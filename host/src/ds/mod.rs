//! The connector under a Distribution Service (`[ds]` in the configuration): registration with
//! the installer's installation key, then one periodic sync that brings the CORS allowlist, the
//! JWT keys, the trusted publisher keys, the DS's own keys, the TLS certificate and the module
//! assignment, and applies each changed section live. Without `[ds] url` none of this runs and
//! the connector works from its local configuration alone.
//!
//! - `client`: the DS's HTTP routes (registration, sync, bundle download).
//! - `identity`: the device's keys and id, and the installation key, on disk.
//! - `link`: what the rest of the connector sees: the sync status, whether module calls are
//!   refused (an upgrade the DS requires, or too many failed syncs), and the labels and
//!   browsers seen since the last sync.
//! - `sync`: the loop and the application of each section.
//!
//! The protocol itself (sealing, opening, assignments) is `t1c_ds_protocol::device`.

mod client;
mod identity;
mod link;
mod sync;

pub use client::DsError;
pub use link::{DsLink, DsStatus, Refusal};
pub use sync::{DsSync, SyncTargets};
