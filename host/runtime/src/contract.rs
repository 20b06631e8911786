//! The versions of the module contract (WIT package `t1c:card`) this host serves.
//!
//! A component names the contract version in every import and export (`t1c:card/reader@0.1.0`),
//! and wasmtime matches those names semver-wise: `0.1.x` and `0.2.x` are different interfaces.
//! So the host links and calls each version through its own generated bindings, while every
//! module keeps the version it was built against:
//!
//! - `wit/` is the latest version; `wit/since_v<version>/` holds each released older one,
//!   frozen (WIT tools read only the `*.wit` files directly in a package directory, so those
//!   subdirectories stay out of the latest package).
//! - [`crate::bindings`] runs `bindgen!` once per version (`bindings::v0_1`, `bindings::v0_2`),
//!   every one mapping the resources to the same host types (`PinSecret`, `CardHandle`,
//!   `SlotResource`, `SessionResource`).
//! - What the host does is written once. What touches a version's generated types (the `Host`
//!   trait impls of the imports, the export calls and the conversions to and from the SDK's
//!   types) is written once too, in `src/versioned/*.rs`, and compiled once per version: each
//!   import file (`imports/reader.rs`, ...) and `module.rs` has a `mod v0_1` and a `mod v0_2`
//!   that bring that version's generated modules into scope and `include!` the shared source.
//!   Where two versions differ (0.2.0 added `token.sign-request.padding`), the difference is
//!   written in the version's own `mod`, next to its `include!`: `module.rs` converts a
//!   [`t1c_sdk::SignRequest`] per version, and refuses PSS for 0.1.0 modules without calling
//!   them ([`crate::CallError::NotInContract`]).
//! - [`Contract`] lists the versions; [`crate::capabilities::inspect`] finds the one a component
//!   uses (all its contract imports and exports must name the same one), the linker links that
//!   version's imports, and the loaded module calls its exports through that version's bindings.
//!
//! Bumping the contract to a new version, say 0.3.0:
//! 1. Copy `wit/*.wit` to `wit/since_v0.2.0/` (with the README line saying it is frozen) before
//!    changing anything; build the `hello` module as it is and keep it as a test fixture.
//! 2. Change `wit/` and its package version; set `t1c_sdk::CONTRACT_VERSION`.
//! 3. Point `bindings::v0_2` at `wit/since_v0.2.0` and add `bindings::v0_3` for `wit/`; add
//!    `Contract::V0_3` (and make it [`Contract::LATEST`]); add a `mod v0_3` to each import file
//!    and to `module.rs`, and a `v0_3` arm wherever the compiler asks for one.
//! 4. Change `src/versioned/*.rs` to the new version's types, and write what an older version
//!    lacks in that version's `mod` (as `module.rs`'s `v0_1::sign_request_to_wit` does).

/// A version of the contract this host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Contract {
    /// `t1c:card@0.1.0`, frozen in `wit/since_v0.1.0`.
    V0_1,
    /// `t1c:card@0.2.0`, in `wit/`: RSA-PSS in `token.sign-request`.
    V0_2,
}

impl Contract {
    /// The version modules are built against today.
    pub(crate) const LATEST: Contract = Contract::V0_2;

    /// Every version this host serves, oldest first.
    pub(crate) const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// The WIT package version, `0.1.0`.
    pub(crate) const fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The package with its version, `t1c:card@0.1.0`, as errors name it.
    pub(crate) const fn package(self) -> &'static str {
        match self {
            Contract::V0_1 => "t1c:card@0.1.0",
            Contract::V0_2 => "t1c:card@0.2.0",
        }
    }

    /// The served version a module built against `version` runs on: the one on the same
    /// semver line (same major version; for `0.x`, same minor version) that is not older than
    /// `version`. `None` when there is none, or `version` is not semver.
    pub(crate) fn of(version: &str) -> Option<Contract> {
        let found = semver::Version::parse(version).ok()?;
        Contract::ALL.into_iter().find(|contract| {
            let Ok(served) = semver::Version::parse(contract.version()) else {
                return false;
            };
            let same_line = if served.major == 0 {
                found.major == 0 && found.minor == served.minor
            } else {
                found.major == served.major
            };
            same_line && found <= served
        })
    }

    /// The name of `interface` in this version, as a component imports it:
    /// `t1c:card/reader@0.1.0`.
    pub(crate) fn interface(self, interface: &str) -> String {
        format!("{}{interface}@{}", crate::imports::PACKAGE, self.version())
    }
}

/// The contract version modules are built against today: the latest one this host serves
/// (the WIT package version in `wit/`).
pub const CONTRACT_VERSION: &str = Contract::LATEST.version();

/// Every contract version this host serves, oldest first. A module built against any of them
/// (or an earlier patch release of one) loads and runs unchanged.
pub const SUPPORTED_CONTRACTS: &[&str] = &[Contract::V0_1.version(), Contract::V0_2.version()];

/// Whether a module built for contract `version` can run on this host: a served version has
/// the same major version (for `0.x`, the same minor version) and is not older.
pub fn contract_compatible(version: &str) -> bool {
    Contract::of(version).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_follows_semver_per_served_version() {
        assert_eq!(Contract::of("0.1.0"), Some(Contract::V0_1));
        assert_eq!(Contract::of("0.2.0"), Some(Contract::V0_2));
        assert!(contract_compatible("0.1.0"));
        assert!(contract_compatible("0.2.0"));
        assert!(!contract_compatible("0.3.0"));
        assert!(!contract_compatible("1.1.0"));
        assert!(!contract_compatible("0.1.99"));
        assert!(!contract_compatible("0.2.1"));
        assert!(!contract_compatible("garbage"));
    }

    #[test]
    fn the_served_versions_match_their_wit_packages_and_the_sdk() {
        let latest = include_str!("../../../wit/types.wit");
        assert!(latest.contains(&format!("package t1c:card@{CONTRACT_VERSION};")));
        assert_eq!(CONTRACT_VERSION, t1c_sdk::CONTRACT_VERSION);
        let frozen = include_str!("../../../wit/since_v0.1.0/types.wit");
        assert!(frozen.contains(&format!("package {};", Contract::V0_1.package())));
        assert_eq!(SUPPORTED_CONTRACTS, ["0.1.0", "0.2.0"]);
        assert_eq!(Contract::ALL.last(), Some(&Contract::LATEST));
    }
}
