//! # The `hello` module
//!
//! The smallest complete T1C module, kept as the example a module author starts from. It
//! claims any four-byte ATR starting `3B`, answers `token.info` with the card's ATR, verifies a
//! PIN the way most cards want it (an ISO 9564 format 2 block, which the host fills in, so the
//! module never sees the digits), and offers one extension operation, `select`, that sends a
//! SELECT by AID and reports the status word.
//!
//! The logic is written against the SDK's [`Card`] trait, so the unit tests at the bottom run it
//! natively against an in-process card.

use t1c_sdk::apdu::Command;
use t1c_sdk::pin::PinVerifyRequest;
use t1c_sdk::{
    AtrPattern, Capability, Device, DeviceKind, Error, Extension, HttpMethod, Manifest, Module,
    Operation, Pin, Result, StatusWord, Token, TokenInfo, iso7816,
};

/// The module.
pub struct Hello;

/// The version this crate reports, for tests and benchmarks comparing native and wasm runs.
pub const VERSION_JSON: &str = concat!("{\"version\":\"", env!("CARGO_PKG_VERSION"), "\"}");

impl Module for Hello {
    fn manifest() -> Manifest {
        Manifest::new("hello", env!("CARGO_PKG_VERSION"), "Example module: ATR and SELECT")
            .with_capability(Capability::Reader)
            .with_atr(AtrPattern::new([0x3B, 0, 0, 0], [0xFF, 0, 0, 0]))
            .with_token()
            .with_operation(Operation::new(
                "version",
                HttpMethod::Get,
                DeviceKind::None,
                "info",
                "The module's version; needs no card",
            ))
            .with_operation(Operation::new(
                "select",
                HttpMethod::Post,
                DeviceKind::Card,
                "select",
                "Selects an applet by AID ({\"aid\": \"hex\"}) and returns the status word",
            ))
    }
}

impl Token for Hello {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let card = device.card()?;
        let atr = card.atr();
        Ok(TokenInfo {
            serial_number: hex(&atr),
            label: "hello".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            details: format!("{{\"atrLength\":{}}}", atr.len()),
        })
    }

    fn verify_pin(device: Device<'_>, pin: Option<&Pin<'_>>) -> Result<()> {
        let card = device.card()?;
        // VERIFY, reference 01, with an 8-byte format 2 block: `2L`, BCD digits, `F` padding.
        let request = PinVerifyRequest::iso9564_format2(0x00, 0x01, 30);
        let status = StatusWord::from_u16(card.verify_pin(&request, pin)?);
        if status.is_success() { Ok(()) } else { Err(status.to_error()) }
    }
}

impl Extension for Hello {
    fn invoke(device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        match operation {
            "version" => return Ok(VERSION_JSON.to_owned()),
            "select" => {}
            other => return Err(Error::NotSupported(format!("operation `{other}`"))),
        }
        let card = device.ok_or_else(|| Error::invalid_input("`select` needs a card"))?.card()?;
        let aid = parse_aid(request)?;
        let command = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(aid)?;
        let response = iso7816::transceive(card, &command)?;
        Ok(format!("{{\"status\":\"{}\"}}", response.status()))
    }
}

t1c_sdk::export_module!(Hello);

/// Reads `{"aid": "<hex>"}` without a JSON library, to keep the example small.
fn parse_aid(request: &str) -> Result<Vec<u8>> {
    let invalid = || Error::invalid_input("expected {\"aid\": \"<hex>\"}");
    let (_, rest) = request.split_once("\"aid\"").ok_or_else(invalid)?;
    let rest = rest.trim_start().strip_prefix(':').ok_or_else(invalid)?.trim_start();
    let rest = rest.strip_prefix('"').ok_or_else(invalid)?;
    let (hex_aid, _) = rest.split_once('"').ok_or_else(invalid)?;
    if hex_aid.is_empty() || hex_aid.len() % 2 != 0 || hex_aid.len() > 32 {
        return Err(invalid());
    }
    (0..hex_aid.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_aid[i..i + 2], 16).map_err(|_| invalid()))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use t1c_sdk::pin::fill_pin_block;
    use t1c_sdk::{Card, CardError};

    use super::*;

    /// A card that knows one applet.
    struct OneApplet {
        sent: Vec<Vec<u8>>,
    }

    impl Card for OneApplet {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x98, 0x13]
        }

        fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, CardError> {
            self.sent.push(apdu.to_vec());
            if apdu == [0x00, 0xA4, 0x04, 0x0C, 0x02, 0xA0, 0x01] {
                Ok(vec![0x90, 0x00])
            } else {
                Ok(vec![0x6A, 0x82])
            }
        }

        fn verify_pin(
            &mut self,
            request: &PinVerifyRequest,
            pin: Option<&Pin<'_>>,
        ) -> std::result::Result<u16, CardError> {
            let digits = pin.and_then(|p| p.digits()).ok_or(CardError::PinCancelled)?;
            self.sent.push(fill_pin_block(request, digits)?);
            Ok(if digits == "1234" { 0x9000 } else { 0x63C2 })
        }
    }

    #[test]
    fn info_reports_the_atr() {
        let mut card = OneApplet { sent: Vec::new() };
        let info = Hello::info(Device::Card(&mut card)).expect("info");
        assert_eq!(info.serial_number, "3B9813");
    }

    #[test]
    fn select_reports_the_status_word() {
        let mut card = OneApplet { sent: Vec::new() };
        let found = Hello::invoke(Some(Device::Card(&mut card)), "select", r#"{"aid":"A001"}"#);
        assert_eq!(found.as_deref(), Ok(r#"{"status":"9000"}"#));
        let missing = Hello::invoke(Some(Device::Card(&mut card)), "select", r#"{"aid":"A002"}"#);
        assert_eq!(missing.as_deref(), Ok(r#"{"status":"6A82"}"#));
        assert_eq!(card.sent.len(), 2);
    }

    #[test]
    fn select_rejects_a_malformed_request() {
        let mut card = OneApplet { sent: Vec::new() };
        let err = Hello::invoke(Some(Device::Card(&mut card)), "select", r#"{"aid":"A0G1"}"#);
        assert!(matches!(err, Err(Error::InvalidInput(_))));
        assert!(card.sent.is_empty());
    }

    #[test]
    fn verify_pin_sends_a_format_2_block() {
        let mut card = OneApplet { sent: Vec::new() };
        Hello::verify_pin(Device::Card(&mut card), Some(&Pin::from_digits("1234"))).expect("ok");
        assert_eq!(card.sent[0][5..13], [0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn wrong_pin_reports_tries_left() {
        let mut card = OneApplet { sent: Vec::new() };
        let err = Hello::verify_pin(Device::Card(&mut card), Some(&Pin::from_digits("9999")));
        assert_eq!(err, Err(Error::PinWrong(2)));
    }

    #[test]
    fn manifest_is_valid() {
        assert_eq!(Hello::manifest().validate(), Ok(()));
    }
}
