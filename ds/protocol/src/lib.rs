//! # t1c-ds-protocol: what a T1C connector and its Distribution Service agree on
//!
//! Types only, no I/O: both sides depend on this crate, so a field renamed here is renamed on
//! both. It is versioned like the WIT contract: [`PROTOCOL_VERSION`] changes its minor number
//! when something is added that an older peer can ignore, and its major number when an older
//! peer would misread a message.
//!
//! - [`claims`]: the JWT a DS issues to a web app's back end for one label, which the connector
//!   checks on every call.
//! - [`platform`]: the operating systems an installer exists for, with the names T1C uses in its
//!   download paths.
//! - [`version`]: the version policy (recommended, mandatory, allowed) and what a connector must
//!   do about it.
//! - [`envelope`]: the `{success, data}` answer shape T1C's DS uses.
//! - [`messages`]: registration and the sync, in the [`messages::Envelope`] every sealed
//!   message carries; [`seal`]: how they are signed and encrypted (JWS in JWE) and checked.
//! - [`counters`]: usage counters, as absolute day totals with a sequence number.
//! - [`assignment`]: the DS-signed list of bundles a device should run.
//! - [`device`]: the device's side: keys, registration, sealed requests, opened answers.
//!
//! `PROTOCOL.md` beside this crate describes the exchange and what each side checks.

pub mod assignment;
pub mod claims;
pub mod counters;
pub mod device;
pub mod envelope;
pub mod messages;
pub mod platform;
pub mod seal;
pub mod version;

/// The version of this contract (semver).
pub const PROTOCOL_VERSION: &str = "0.1.0";
