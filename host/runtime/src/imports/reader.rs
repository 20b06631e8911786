//! `reader.card`: the card of the current call, already connected and held exclusively by the
//! caller's reader session. A module can read the ATR, transmit APDUs and have the reader's
//! pinpad (or the host, with the host-held PIN) verify a PIN; it never sees reader names.

use wasmtime::component::{HasData, Resource, ResourceTable};

use t1c_sdk::pin::{Pin, PinVerifyRequest, PinpadCapabilities};
use t1c_sdk::{Card, CardError};

use super::pin::{PinSecret, digits_of};
use crate::store::CallClock;

/// Longest extended APDU: header, 3-byte Lc, 65535 data bytes, 2-byte Le.
const MAX_APDU: usize = 4 + 3 + 65_535 + 2;

/// The card of the current call, as the module's `reader.card` resource.
pub struct CardHandle {
    card: Box<dyn Card + Send>,
}

impl CardHandle {
    pub(crate) fn new(card: Box<dyn Card + Send>) -> Self {
        Self { card }
    }
}

/// What `reader` sees of a call: the resource table and the clock that keeps card I/O off the
/// module's CPU budget.
pub(crate) struct ReaderView<'a> {
    table: &'a mut ResourceTable,
    clock: &'a mut CallClock,
}

struct ReaderImports;

impl HasData for ReaderImports {
    type Data<'a> = ReaderView<'a>;
}

/// The card functions in the SDK's types; each contract version's `HostCard` converts.
impl ReaderView<'_> {
    fn atr_of(&self, card: &Resource<CardHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(card)?.card.atr())
    }

    fn transmit_to(
        &mut self,
        card: &Resource<CardHandle>,
        apdu: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, CardError>> {
        if apdu.len() < 4 || apdu.len() > MAX_APDU {
            return Ok(Err(CardError::InvalidInput(format!(
                "an APDU has 4 to {MAX_APDU} bytes, not {}",
                apdu.len()
            ))));
        }
        let handle = self.table.get_mut(card)?;
        Ok(self.clock.host_time(|| handle.card.transmit(apdu)))
    }

    fn pinpad_of(&self, card: &Resource<CardHandle>) -> wasmtime::Result<PinpadCapabilities> {
        Ok(self.table.get(card)?.card.pinpad())
    }

    fn verify_pin_on(
        &mut self,
        card: &Resource<CardHandle>,
        request: &PinVerifyRequest,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<u16, CardError>> {
        let digits = digits_of(self.table, pin)?;
        let handle = self.table.get_mut(card)?;
        Ok(self.clock.host_time(|| {
            let pin = digits.as_deref().map(|d| Pin::from_digits(d));
            handle.card.verify_pin(request, pin.as_ref())
        }))
    }

    fn drop_card(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<()> {
        self.table.delete(card)?;
        Ok(())
    }
}

/// `reader` of contract 0.1.0.
pub(crate) mod v0_1 {
    use crate::bindings::v0_1::t1c::card::{reader, types};
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_1;
    include!("../versioned/reader.rs");
}

/// `reader` of contract 0.2.0.
pub(crate) mod v0_2 {
    use crate::bindings::v0_2::t1c::card::{reader, types};
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_2;
    include!("../versioned/reader.rs");
}
