//! An exclusive session on a PC/SC card: its own context, a shared connection and a PC/SC
//! transaction held for the whole session, behind `t1c_sdk::Card`.

use std::ffi::CStr;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use t1c_sdk::card::{Card, CardError};
use t1c_sdk::pin::{Pin, PinVerifyRequest, PinpadCapabilities, fill_pin_block};
use tracing::debug;

use crate::readers::part10::{self, Features};
use crate::readers::queue::Turn;
use crate::readers::{ReaderError, ReaderId};

/// A card held for one operation. Dropping it ends the transaction, disconnects and gives
/// the reader to the next operation in line.
pub(super) struct PcscCard {
    // Fields drop in order: the transaction ends before the queue turn is given up.
    held: HeldTransaction,
    reader: ReaderId,
    atr: Vec<u8>,
    features: Features,
    receive: Vec<u8>,
    _turn: Turn,
}

impl PcscCard {
    /// Connects to the card in reader `name` and begins a transaction on it.
    pub(super) fn open(
        name: &CStr,
        reader: &ReaderId,
        reset_after: bool,
        turn: Turn,
    ) -> Result<Self, ReaderError> {
        let failed = |operation| move |error| ReaderError::from_pcsc(operation, reader, error);
        let context = Context::establish(Scope::User).map_err(failed("establish context"))?;
        let context = &context;
        let in_reader = |operation| {
            move |error| reader_state_or(context, name, failed(operation)(error), reader)
        };
        let card = context
            .connect(name, ShareMode::Shared, Protocols::ANY)
            .map_err(in_reader("connect"))?;
        let release = if reset_after { Disposition::ResetCard } else { Disposition::LeaveCard };
        let held = HeldTransaction::begin(card, release).map_err(in_reader("begin transaction"))?;
        let status = held.card().status2_owned().map_err(failed("status"))?;
        let mut answer = [0u8; 256];
        let features = match held.card().control(part10::get_feature_request(), &[], &mut answer) {
            Ok(tlv) => Features::parse(tlv),
            Err(error) => {
                debug!(%reader, %error, "GET_FEATURE_REQUEST failed: no pinpad");
                Features::default()
            }
        };
        Ok(Self {
            held,
            reader: reader.clone(),
            atr: status.atr().to_vec(),
            features,
            receive: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
            _turn: turn,
        })
    }

    fn failed(&self, operation: &'static str) -> impl Fn(pcsc::Error) -> CardError + '_ {
        move |error| ReaderError::from_pcsc(operation, &self.reader, error).into()
    }

    fn verify_on_pinpad(&mut self, request: &PinVerifyRequest) -> Result<u16, CardError> {
        let code = self.features.verify_pin_direct.ok_or_else(|| {
            CardError::NotSupported("the reader has no pinpad; a PIN is required".into())
        })?;
        let structure = part10::pin_verify_structure(request).map_err(CardError::from)?;
        let mut answer = [0u8; 2];
        let answer = self
            .held
            .card()
            .control(pcsc::ffi::DWORD::from(code), &structure, &mut answer)
            .map_err(self.failed("verify PIN on pinpad"))?;
        match status_word(answer)? {
            // Part 10 reader answers, not card status words.
            0x6400 => Err(CardError::Timeout),
            0x6401 => Err(CardError::PinCancelled),
            sw => Ok(sw),
        }
    }
}

/// `error`, or [`ReaderError::NoCard`] when `error` is a PC/SC failure that does not name the
/// card's state and the reader has no card now: a card pulled out while pcscd has not noticed
/// yet makes a connect fail with whichever error the race gives (SCARD_E_PROTO_MISMATCH, ...).
fn reader_state_or(
    context: &Context,
    name: &CStr,
    error: ReaderError,
    reader: &ReaderId,
) -> ReaderError {
    if !matches!(error, ReaderError::Pcsc { .. }) {
        return error;
    }
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    match context.get_status_change(std::time::Duration::ZERO, &mut states) {
        Ok(()) if !states[0].event_state().contains(pcsc::State::PRESENT) => {
            ReaderError::NoCard(reader.clone())
        }
        _ => error,
    }
}

impl PcscCard {
    /// `error`, or what the reader says of the card when `error` is a PC/SC failure that does
    /// not name the card's state. A card pulled out under the transaction makes pcscd answer
    /// a transmit with whichever failure the race gives (SCARD_E_NOT_TRANSACTED,
    /// SCARD_E_PROTO_MISMATCH, ...); asking the reader's status then tells a removed card from
    /// a real transport failure.
    fn card_state_or(&self, error: ReaderError) -> ReaderError {
        if !matches!(error, ReaderError::Pcsc { .. }) {
            return error;
        }
        match self.held.card().status2_owned() {
            Err(status) => match ReaderError::from_pcsc("status", &self.reader, status) {
                state @ (ReaderError::CardRemoved
                | ReaderError::CardReset
                | ReaderError::NoCard(_)) => state,
                _ => error,
            },
            Ok(status) if status.status().contains(pcsc::Status::ABSENT) => {
                ReaderError::CardRemoved
            }
            Ok(_) => error,
        }
    }
}

impl Card for PcscCard {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let response = match self.held.card().transmit(apdu, &mut self.receive) {
            Ok(response) => response,
            Err(error) => {
                let error = ReaderError::from_pcsc("transmit", &self.reader, error);
                return Err(self.card_state_or(error).into());
            }
        };
        if response.len() < 2 {
            // No status word. With the card still listed, this is what a card pulled out under
            // the transaction looks like before the service notices (vpcd, several readers);
            // an absent card is reported as such too.
            return Err(match self.held.card().status2_owned() {
                Err(error) => ReaderError::from_pcsc("status", &self.reader, error).into(),
                Ok(_) if response.is_empty() => CardError::CardRemoved,
                Ok(_) => CardError::Transport("the reader returned 1 byte, no status word".into()),
            });
        }
        Ok(response.to_vec())
    }

    fn pinpad(&self) -> PinpadCapabilities {
        self.features.pinpad()
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        let Some(pin) = pin else { return self.verify_on_pinpad(request) };
        let digits = pin
            .digits()
            .ok_or_else(|| CardError::InvalidInput("the PIN's digits are not available".into()))?;
        let apdu = fill_pin_block(request, digits)?;
        let response = self.transmit(&apdu)?;
        status_word(&response)
    }
}

/// The status word at the end of `response`.
fn status_word(response: &[u8]) -> Result<u16, CardError> {
    match response {
        [.., sw1, sw2] => Ok(u16::from_be_bytes([*sw1, *sw2])),
        _ => Err(CardError::Transport("the answer has no status word".into())),
    }
}

/// A card connection together with the PC/SC transaction begun on it.
///
/// `pcsc::Transaction` borrows its `pcsc::Card`, but a session must own both and move between
/// threads. The card lives in a heap allocation that this struct owns and never moves or
/// touches except through the transaction; the transaction ends (and its borrow with it)
/// before the allocation is freed. This is the only `unsafe` of the readers concern.
struct HeldTransaction {
    transaction: ManuallyDrop<pcsc::Transaction<'static>>,
    card: NonNull<pcsc::Card>,
    release: Disposition,
}

// SAFETY: `HeldTransaction` owns the card exclusively, like a `Box<pcsc::Card>`, and
// `pcsc::Card` (hence `&mut pcsc::Card`, which the transaction holds) is `Send`.
#[allow(unsafe_code)]
unsafe impl Send for HeldTransaction {}

#[allow(unsafe_code)] // The self-borrow above; see the struct's documentation.
impl HeldTransaction {
    fn begin(card: pcsc::Card, release: Disposition) -> Result<Self, pcsc::Error> {
        let card = NonNull::from(Box::leak(Box::new(card)));
        // SAFETY: `card` points to a live heap allocation that only this function (and then
        // the returned struct) knows about; the `'static` borrow is confined to the struct,
        // which ends it in `drop` before freeing the allocation.
        let borrowed: &'static mut pcsc::Card = unsafe { &mut *card.as_ptr() };
        match borrowed.transaction() {
            Ok(transaction) => {
                Ok(Self { transaction: ManuallyDrop::new(transaction), card, release })
            }
            Err(error) => {
                // SAFETY: the failed call returned no transaction, so nothing borrows the card
                // any more; the allocation came from `Box::leak` above and is freed once.
                drop(unsafe { Box::from_raw(card.as_ptr()) });
                Err(error)
            }
        }
    }

    fn card(&self) -> &pcsc::Card {
        &self.transaction
    }
}

#[allow(unsafe_code)] // Ends the self-borrow, then frees the card; see the struct's documentation.
impl Drop for HeldTransaction {
    fn drop(&mut self) {
        // SAFETY: `transaction` is taken exactly once, here, and not used afterwards.
        let transaction = unsafe { ManuallyDrop::take(&mut self.transaction) };
        if let Err((transaction, error)) = transaction.end(self.release) {
            debug!(%error, "ending the PC/SC transaction failed");
            drop(transaction);
        }
        // SAFETY: the transaction, the only borrow of the card, is gone; the allocation came
        // from `Box::leak` in `begin` and is freed only here.
        let card = unsafe { Box::from_raw(self.card.as_ptr()) };
        if let Err((_, error)) = card.disconnect(Disposition::LeaveCard) {
            debug!(%error, "disconnecting from the card failed");
        }
    }
}
