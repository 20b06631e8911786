//! Who is calling: operators (local accounts or OIDC tokens) and their roles.

pub mod oidc;
