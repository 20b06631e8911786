//! The card's cryptography: key pairs of both applet generations, the signatures PSO:CDS and
//! INTERNAL AUTHENTICATE compute ([`keys`]), and the test PKI a persona's card carries
//! ([`pki`]).

pub mod keys;
pub mod pki;
mod stored;
