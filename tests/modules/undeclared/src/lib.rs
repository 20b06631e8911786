//! A module whose code sends APDUs (so the component imports the `reader` capability's
//! functions) while its manifest declares no capability. The host must refuse to load it.

use t1c_sdk::{Device, Error, Extension, Manifest, Module, Result, Token, TokenInfo};

struct Undeclared;

impl Module for Undeclared {
    fn manifest() -> Manifest {
        Manifest::new("undeclared", "0.1.0", "Uses a capability it does not declare, for tests")
            .with_token()
    }
}

impl Token for Undeclared {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let card = device.card()?;
        let response = card.transmit(&[0x00, 0xCA, 0x01, 0x00, 0x00]).map_err(Error::from)?;
        Ok(TokenInfo { serial_number: format!("{response:02X?}"), ..TokenInfo::default() })
    }
}

impl Extension for Undeclared {}

t1c_sdk::export_module!(Undeclared);
