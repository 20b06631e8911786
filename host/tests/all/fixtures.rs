//! Fixtures of these tests: small call limits and in-memory cards (the components and bundles
//! come from `t1c-testkit`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use t1c_runtime::{CallLimits, Runtime, RuntimeConfig};
use t1c_sdk::pin::{Pin, PinVerifyRequest, fill_pin_block};
use t1c_sdk::{Card, CardError};

/// Limits small enough for hostile modules to hit quickly.
pub fn test_limits() -> CallLimits {
    CallLimits {
        cpu_time: Duration::from_millis(300),
        wall_time: Duration::from_secs(10),
        memory_bytes: 16 << 20,
    }
}

/// A runtime with the test limits and no cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { limits: test_limits(), ..RuntimeConfig::default() })
        .expect("runtime")
}

/// An in-memory card: answers SELECT of one AID with 9000, anything else with 6A82, and a
/// VERIFY with 9000 for PIN 1234. Records every APDU it receives.
#[derive(Clone, Default)]
pub struct MemoryCard {
    /// APDUs received, shared with the test after the card is handed to a call.
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl MemoryCard {
    /// The ATR the card reports.
    pub const ATR: [u8; 4] = [0x3B, 0x98, 0x13, 0x40];
}

impl Card for MemoryCard {
    fn atr(&self) -> Vec<u8> {
        Self::ATR.to_vec()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.sent.lock().expect("lock").push(apdu.to_vec());
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
    ) -> Result<u16, CardError> {
        let digits = pin
            .and_then(|p| p.digits())
            .ok_or_else(|| CardError::NotSupported("no pinpad".into()))?;
        let apdu = fill_pin_block(request, digits)?;
        self.transmit(&apdu)?;
        Ok(if digits == "1234" { 0x9000 } else { 0x63C2 })
    }
}
