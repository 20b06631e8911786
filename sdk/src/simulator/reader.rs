//! One virtual reader slot ([`VirtualReader`]) and the in-process card handle it hands out
//! ([`SimulatedCard`]).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::card::{Card, CardError};
use crate::pin::{Pin, PinVerifyRequest, PinpadCapabilities, fill_pin_block};
use crate::simulator::VirtualCard;

/// One reader slot that holds at most one [`VirtualCard`].
///
/// Cloning is cheap and every clone is the same slot, so a test can keep one clone to insert
/// and remove cards while a [`SimulatedCard`] or a [`VpcdBridge`](super::vpcd::VpcdBridge)
/// uses another, from any thread.
///
/// Every insert, remove, swap and reset changes the slot's [`generation`](Self::generation);
/// card handles use it to notice that the card changed under them.
#[derive(Clone)]
pub struct VirtualReader {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    /// Digits a simulated pinpad "enters"; `None` for a reader without keypad.
    pinpad: Option<String>,
    slot: Mutex<Slot>,
}

struct Slot {
    card: Option<Box<dyn VirtualCard>>,
    /// Bumped on every insert, remove, swap and reset.
    generation: u64,
    /// Bumped only when the card in the slot changes (insert, remove, swap), not on reset.
    insertion: u64,
}

impl VirtualReader {
    /// An empty reader slot without keypad.
    pub fn new(name: impl Into<String>) -> Self {
        Self::build(name.into(), None)
    }

    /// An empty reader slot with a simulated pinpad: every PIN entry on its keypad "types"
    /// `entered_digits`. An empty string simulates the user cancelling the entry.
    pub fn with_pinpad(name: impl Into<String>, entered_digits: String) -> Self {
        Self::build(name.into(), Some(entered_digits))
    }

    fn build(name: String, pinpad: Option<String>) -> Self {
        let slot = Slot { card: None, generation: 0, insertion: 0 };
        Self { shared: Arc::new(Shared { name, pinpad, slot: Mutex::new(slot) }) }
    }

    /// The reader's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What the reader's keypad can do: verify with a simulated pinpad, nothing without.
    pub fn pinpad(&self) -> PinpadCapabilities {
        PinpadCapabilities { verify_pin: self.shared.pinpad.is_some(), modify_pin: false }
    }

    /// Inserts `card`, powered on (reset). A card already in the slot is taken out and dropped;
    /// use [`swap`](Self::swap) to get it back.
    pub fn insert(&self, card: Box<dyn VirtualCard>) {
        drop(self.swap(card));
    }

    /// Takes the card out of the slot, if there is one.
    pub fn remove(&self) -> Option<Box<dyn VirtualCard>> {
        let mut slot = self.lock();
        let card = slot.card.take()?;
        slot.changed_card();
        Some(card)
    }

    /// Replaces the card in the slot with `card` (powered on) and returns the previous one.
    /// Handles to the previous card fail with [`CardError::CardRemoved`].
    pub fn swap(&self, mut card: Box<dyn VirtualCard>) -> Option<Box<dyn VirtualCard>> {
        card.reset();
        let mut slot = self.lock();
        let previous = slot.card.replace(card);
        slot.changed_card();
        previous
    }

    /// Whether a card is in the slot.
    pub fn has_card(&self) -> bool {
        self.lock().card.is_some()
    }

    /// The ATR of the card in the slot.
    pub fn atr(&self) -> Option<Vec<u8>> {
        self.lock().card.as_ref().map(|card| card.atr())
    }

    /// Resets the card in the slot (as a warm reset by another application would). Handles to
    /// it fail with [`CardError::CardReset`] until they [`reconnect`](SimulatedCard::reconnect).
    /// Without a card this does nothing.
    pub fn reset(&self) {
        let mut slot = self.lock();
        if let Some(card) = slot.card.as_mut() {
            card.reset();
            slot.generation = slot.generation.wrapping_add(1);
        }
    }

    /// A counter that changes whenever a card is inserted, removed, swapped or reset.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Sends `apdu` to whatever card is in the slot now and returns its response.
    ///
    /// # Errors
    /// [`CardError::CardRemoved`] when the slot is empty.
    pub fn transmit(&self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut slot = self.lock();
        let card = slot.card.as_mut().ok_or(CardError::CardRemoved)?;
        Ok(card.process(apdu))
    }

    /// A handle to the card in the slot now, as PC/SC's `SCardConnect` gives one.
    ///
    /// # Errors
    /// [`CardError::CardRemoved`] when the slot is empty.
    pub fn connect(&self) -> Result<SimulatedCard, CardError> {
        let slot = self.lock();
        let card = slot.card.as_ref().ok_or(CardError::CardRemoved)?;
        Ok(SimulatedCard {
            reader: self.clone(),
            atr: card.atr(),
            generation: slot.generation,
            insertion: slot.insertion,
        })
    }

    /// Counter of card changes only (not resets): what a PC/SC bridge must report as a
    /// removal followed by an insertion.
    pub(crate) fn insertion(&self) -> u64 {
        self.lock().insertion
    }

    /// Resets the card in the slot on behalf of the PC/SC side (power on, warm reset) when it is
    /// still the card of `insertion`. Returns whether it was.
    pub(crate) fn reset_if_inserted(&self, insertion: u64) -> bool {
        let mut slot = self.lock();
        if slot.insertion != insertion {
            return false;
        }
        if let Some(card) = slot.card.as_mut() {
            card.reset();
            slot.generation = slot.generation.wrapping_add(1);
        }
        slot.card.is_some()
    }

    /// The card of `insertion`, borrowed under the slot's lock, or `None` when it changed.
    pub(crate) fn with_inserted<T>(
        &self,
        insertion: u64,
        f: impl FnOnce(&mut dyn VirtualCard) -> T,
    ) -> Option<T> {
        let mut slot = self.lock();
        if slot.insertion != insertion {
            return None;
        }
        slot.card.as_mut().map(|card| f(card.as_mut()))
    }

    /// The slot's state. A card that panicked while processing leaves the lock poisoned; the
    /// slot's counters are still consistent then, so keep going.
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.shared.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slot {
    fn changed_card(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.insertion = self.insertion.wrapping_add(1);
    }
}

impl fmt::Debug for VirtualReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.lock();
        f.debug_struct("VirtualReader")
            .field("name", &self.shared.name)
            .field("pinpad", &self.shared.pinpad.as_ref().map(|_| "***"))
            .field("has_card", &slot.card.is_some())
            .field("generation", &slot.generation)
            .finish()
    }
}

/// A connection to the card that was in a [`VirtualReader`] at [`connect`](VirtualReader::connect)
/// time: the in-process [`Card`] for native tests.
///
/// Like a PC/SC card handle, it fails with [`CardError::CardRemoved`] once that card is removed
/// or swapped, and with [`CardError::CardReset`] once it is reset, until
/// [`reconnect`](Self::reconnect).
#[derive(Debug)]
pub struct SimulatedCard {
    reader: VirtualReader,
    atr: Vec<u8>,
    generation: u64,
    insertion: u64,
}

impl SimulatedCard {
    /// The reader slot this card handle belongs to.
    pub fn reader(&self) -> &VirtualReader {
        &self.reader
    }

    /// Connects again to whatever card is in the slot now, as `SCardReconnect` does after a
    /// reset or a card change.
    ///
    /// # Errors
    /// [`CardError::CardRemoved`] when the slot is empty.
    pub fn reconnect(&mut self) -> Result<(), CardError> {
        *self = self.reader.connect()?;
        Ok(())
    }

    /// Checks that the slot still holds this handle's card, unreset, and runs `f` on it.
    fn with_card<T>(&self, f: impl FnOnce(&mut dyn VirtualCard) -> T) -> Result<T, CardError> {
        let mut slot = self.reader.lock();
        if slot.insertion != self.insertion {
            return Err(CardError::CardRemoved);
        }
        if slot.generation != self.generation {
            return Err(CardError::CardReset);
        }
        let card = slot.card.as_mut().ok_or(CardError::CardRemoved)?;
        Ok(f(card.as_mut()))
    }
}

impl Card for SimulatedCard {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.with_card(|card| card.process(apdu))
    }

    fn pinpad(&self) -> PinpadCapabilities {
        self.reader.pinpad()
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        let apdu = match pin {
            Some(pin) => {
                let digits = pin.digits().ok_or_else(|| {
                    CardError::InvalidInput("the PIN's digits are not available here".to_owned())
                })?;
                fill_pin_block(request, digits)?
            }
            None => match self.reader.shared.pinpad.as_deref() {
                None => return Err(CardError::NotSupported("reader has no pinpad".to_owned())),
                Some("") => return Err(CardError::PinCancelled),
                Some(entered) => fill_pin_block(request, entered)?,
            },
        };
        let response = self.transmit(&apdu)?;
        match response.as_slice() {
            [.., sw1, sw2] => Ok(u16::from_be_bytes([*sw1, *sw2])),
            _ => Err(CardError::Transport("the card answered without a status word".to_owned())),
        }
    }
}
