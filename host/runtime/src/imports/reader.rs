//! `reader.card`: the card of the current call, already connected and held exclusively by the
//! caller's reader session. A module can read the ATR, transmit APDUs and have the reader's
//! pinpad (or the host, with the host-held PIN) verify a PIN; it never sees reader names.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceType};

use t1c_sdk::Card;
use t1c_sdk::pin::{Pin, PinEncoding, PinLengthField, PinVerifyRequest};

use super::pin::{PinSecret, digits_of};
use super::{interface_name, link_error};
use crate::bindings::t1c::card::{reader, types};
use crate::error::LoadError;
use crate::store::{CallClock, State};

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

/// Links `reader` when `granted`; otherwise only its `card` resource type, without functions.
pub(crate) fn add_to_linker(linker: &mut Linker<State>, granted: bool) -> Result<(), LoadError> {
    if granted {
        return reader::add_to_linker::<State, ReaderImports>(linker, |state| ReaderView {
            table: &mut state.table,
            clock: &mut state.clock,
        })
        .map_err(link_error);
    }
    linker
        .instance(&interface_name("reader"))
        .and_then(|mut i| i.resource("card", ResourceType::host::<CardHandle>(), |_, _| Ok(())))
        .map_err(link_error)
}

impl reader::Host for ReaderView<'_> {}

impl reader::HostCard for ReaderView<'_> {
    fn atr(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&card)?.card.atr())
    }

    fn transmit(
        &mut self,
        card: Resource<CardHandle>,
        apdu: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, types::CardError>> {
        if apdu.len() < 4 || apdu.len() > MAX_APDU {
            return Ok(Err(types::CardError::InvalidInput(format!(
                "an APDU has 4 to {MAX_APDU} bytes, not {}",
                apdu.len()
            ))));
        }
        let handle = self.table.get_mut(&card)?;
        let result = self.clock.host_time(|| handle.card.transmit(&apdu));
        Ok(result.map_err(card_error_to_wit))
    }

    fn pinpad(
        &mut self,
        card: Resource<CardHandle>,
    ) -> wasmtime::Result<reader::PinpadCapabilities> {
        let caps = self.table.get(&card)?.card.pinpad();
        Ok(reader::PinpadCapabilities { verify_pin: caps.verify_pin, modify_pin: caps.modify_pin })
    }

    fn verify_pin(
        &mut self,
        card: Resource<CardHandle>,
        request: reader::PinVerifyRequest,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<u16, types::CardError>> {
        let request = PinVerifyRequest {
            apdu: request.apdu,
            block_offset: request.block_offset,
            block_size: request.block_size,
            pin_bit_offset: request.pin_bit_offset,
            encoding: match request.encoding {
                reader::PinEncoding::Ascii => PinEncoding::Ascii,
                reader::PinEncoding::Bcd => PinEncoding::Bcd,
            },
            length_field: request
                .length_field
                .map(|f| PinLengthField { bit_position: f.bit_position, bit_size: f.bit_size }),
            min_length: request.min_length,
            max_length: request.max_length,
            timeout_seconds: request.timeout_seconds,
        };
        let digits = digits_of(self.table, pin)?;
        let handle = self.table.get_mut(&card)?;
        let result = self.clock.host_time(|| {
            let pin = digits.as_deref().map(|d| Pin::from_digits(d));
            handle.card.verify_pin(&request, pin.as_ref())
        });
        Ok(result.map_err(card_error_to_wit))
    }

    fn drop(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<()> {
        self.table.delete(card)?;
        Ok(())
    }
}

fn card_error_to_wit(err: t1c_sdk::CardError) -> types::CardError {
    use t1c_sdk::CardError as E;
    match err {
        E::CardRemoved => types::CardError::CardRemoved,
        E::CardReset => types::CardError::CardReset,
        E::Timeout => types::CardError::Timeout,
        E::Transport(msg) => types::CardError::Transport(msg),
        E::PinCancelled => types::CardError::PinCancelled,
        E::NotSupported(msg) => types::CardError::NotSupported(msg),
        E::InvalidInput(msg) => types::CardError::InvalidInput(msg),
        other => types::CardError::Transport(other.to_string()),
    }
}
