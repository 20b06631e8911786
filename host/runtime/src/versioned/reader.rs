// The host side of `reader` against one contract version's bindings: included by
// `imports/reader.rs` once per version, with that version's `reader` and `types` and its
// `CONTRACT` in scope. Not a module of its own; see `crate::contract`.

use wasmtime::component::{Linker, Resource, ResourceType};

use t1c_sdk::pin::{PinEncoding, PinLengthField, PinVerifyRequest};

use super::{CardHandle, ReaderImports, ReaderView};
use crate::error::LoadError;
use crate::imports::link_error;
use crate::imports::pin::PinSecret;
use crate::store::State;

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
        .instance(&CONTRACT.interface("reader"))
        .and_then(|mut i| i.resource("card", ResourceType::host::<CardHandle>(), |_, _| Ok(())))
        .map_err(link_error)
}

impl reader::Host for ReaderView<'_> {}

impl reader::HostCard for ReaderView<'_> {
    fn atr(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<Vec<u8>> {
        self.atr_of(&card)
    }

    fn transmit(
        &mut self,
        card: Resource<CardHandle>,
        apdu: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, types::CardError>> {
        Ok(self.transmit_to(&card, &apdu)?.map_err(card_error_to_wit))
    }

    fn pinpad(
        &mut self,
        card: Resource<CardHandle>,
    ) -> wasmtime::Result<reader::PinpadCapabilities> {
        let caps = self.pinpad_of(&card)?;
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
        Ok(self.verify_pin_on(&card, &request, pin)?.map_err(card_error_to_wit))
    }

    fn drop(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<()> {
        self.drop_card(card)
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
