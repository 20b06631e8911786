//! OpenID Connect bearer tokens from an external issuer (to be written).
