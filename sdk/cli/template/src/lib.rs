//! # The `{{name}}` module
//!
//! A T1C card module. It claims cards whose ATR starts with `3B`, and answers `token.info`
//! with the card's ATR. Replace the ATR pattern with your card's and implement the
//! [`Token`] and [`Extension`] operations it supports; every operation you leave out
//! answers "not supported".
//!
//! The logic is written against the SDK's `Card` trait, so the tests at the bottom run it
//! natively against the SDK's card simulator: `cargo test`.

use t1c_sdk::{AtrPattern, Capability, Device, Extension, Manifest, Module, Result, Token, TokenInfo};

/// The module.
pub struct CardModule;

impl Module for CardModule {
    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"), "The {{name}} card module")
            .with_capability(Capability::Reader)
            .with_atr(AtrPattern::new([0x3B, 0x00, 0x00, 0x00], [0xFF, 0x00, 0x00, 0x00]))
            .with_token()
    }
}

impl Token for CardModule {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let card = device.card()?;
        let serial_number = card.atr().iter().map(|b| format!("{b:02X}")).collect();
        Ok(TokenInfo {
            serial_number,
            label: "{{name}}".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..TokenInfo::default()
        })
    }
}

impl Extension for CardModule {}

t1c_sdk::export_module!(CardModule);

#[cfg(test)]
mod tests {
    use t1c_sdk::simulator::{VirtualCard, VirtualReader};

    use super::*;

    /// A simulated card that only has an ATR; it answers every command "instruction not
    /// supported" (6D00), as a card would.
    struct TestCard;

    impl VirtualCard for TestCard {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x02, 0x14, 0x50]
        }

        fn reset(&mut self) {}

        fn process(&mut self, _apdu: &[u8]) -> Vec<u8> {
            vec![0x6D, 0x00]
        }
    }

    #[test]
    fn info_reports_the_atr() {
        let reader = VirtualReader::new("Simulated reader");
        reader.insert(Box::new(TestCard));
        let mut card = reader.connect().expect("a card in the reader");
        let info = CardModule::info(Device::Card(&mut card)).expect("token info");
        assert_eq!(info.serial_number, "3B021450");
    }

    #[test]
    fn the_manifest_is_valid_and_claims_the_card() {
        let manifest = CardModule::manifest();
        assert_eq!(manifest.validate(), Ok(()));
        assert!(manifest.atrs.iter().any(|p| p.matches(&TestCard.atr())));
    }
}
