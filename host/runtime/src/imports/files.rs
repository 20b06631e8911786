//! `files`: scoped access to folders the user mapped. This build has no host side for it yet:
//! only the `directory` resource type is defined, so a module declaring `files` does not load
//! ([`LoadError::CapabilityUnavailable`](crate::LoadError::CapabilityUnavailable)).

/// `files` of contract 0.1.0.
pub(crate) mod v0_1 {
    use crate::bindings::v0_1::t1c::card::files;
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_1;
    include!("../versioned/files.rs");
}

/// `files` of contract 0.2.0.
pub(crate) mod v0_2 {
    use crate::bindings::v0_2::t1c::card::files;
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_2;
    include!("../versioned/files.rs");
}
