//! A module that opens PKCS#11 sessions until the host refuses one: `info` keeps every session
//! open, `supported-algorithms` drops each one before opening the next. Either way it fails
//! with the host's error and the number of sessions it got, which the test reads.

use t1c_sdk::{
    Capability, Device, Error, HashAlgorithm, Manifest, Module, Result, Token, TokenInfo,
};

/// The module.
pub struct SessionHog;

impl Module for SessionHog {
    fn manifest() -> Manifest {
        Manifest::new("session-hog", "0.1.0", "Opens PKCS#11 sessions in a loop")
            .with_capability(Capability::Pkcs11)
            .with_token()
    }
}

impl Token for SessionHog {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let slot = device.slot()?;
        let mut kept = Vec::new();
        loop {
            match slot.open_session() {
                Ok(session) => kept.push(session),
                Err(err) => {
                    return Err(Error::invalid_input(format!("{} kept: {err}", kept.len())));
                }
            }
        }
    }

    fn supported_algorithms(device: Device<'_>) -> Result<Vec<HashAlgorithm>> {
        let slot = device.slot()?;
        let mut opened = 0u32;
        loop {
            match slot.open_session() {
                Ok(session) => {
                    opened += 1;
                    drop(session);
                }
                Err(err) => return Err(Error::invalid_input(format!("{opened} opened: {err}"))),
            }
        }
    }
}

impl t1c_sdk::Extension for SessionHog {}

t1c_sdk::export_module!(SessionHog, [pkcs11]);
