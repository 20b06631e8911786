//! Card readers: listing them, watching cards come and go, and handing out exclusive card
//! sessions.
//!
//! This concern owns every conversation with the PC/SC service (`pcscd`, WinSCard) and the
//! in-process simulator. It hands the rest of the host a [`ReaderBackend`]: a snapshot of the
//! readers ([`ReaderBackend::readers`], never blocking on a card) and
//! [`ReaderBackend::connect`], which returns a `t1c_sdk::Card` held exclusively for one
//! operation. Sessions on one reader queue up (bounded, with a deadline); sessions on different
//! readers run in parallel. Releasing the card is dropping it.
//!
//! It knows nothing about modules, HTTP or PIN decryption: a PIN reaches it as the digits of a
//! `t1c_sdk::Pin`, or not at all when the reader's keypad collects it.

mod error;
mod id;
mod part10;
mod pcsc;
mod queue;
mod simulator;

use std::sync::Arc;
use std::time::Duration;

pub use error::ReaderError;
pub use id::{ReaderId, ReaderIdError};
pub use pcsc::{PcscBackend, PcscConfig, ServiceStatus};
pub use simulator::{SimulatorBackend, stored_test_pki};

/// A source of card readers: the PC/SC service, the simulator, or several merged by [`Readers`].
pub trait ReaderBackend: Send + Sync {
    /// The readers as last seen, with their cards. Never waits for a card or the service.
    fn readers(&self) -> Vec<ReaderInfo>;

    /// Opens an exclusive session on the card in reader `id`.
    ///
    /// Waits at most `timeout` for operations queued before it on the same reader. The
    /// session lasts until the returned card is dropped.
    ///
    /// # Errors
    /// [`ReaderError::UnknownReader`], [`ReaderError::NoCard`], [`ReaderError::QueueFull`],
    /// [`ReaderError::QueueTimeout`], and the service and card errors of the backend.
    fn connect(
        &self,
        id: &ReaderId,
        timeout: Duration,
    ) -> Result<Box<dyn t1c_sdk::Card + Send>, ReaderError>;
}

/// A reader as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderInfo {
    /// Stable identifier, derived from the name.
    pub id: ReaderId,
    /// The name the PC/SC service (or the simulator) gives the reader.
    pub name: String,
    /// Whether the reader has a keypad that can verify a PIN (PC/SC part 10
    /// FEATURE_VERIFY_PIN_DIRECT).
    pub pinpad: bool,
    /// The card in the reader, if any.
    pub card: Option<CardInfo>,
}

/// A card present in a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CardInfo {
    /// Answer-to-reset of the card.
    pub atr: Vec<u8>,
}

/// Several backends seen as one: readers are listed in backend order, and a session goes to the
/// backend that lists the reader.
#[derive(Clone, Default)]
pub struct Readers {
    backends: Vec<Arc<dyn ReaderBackend>>,
}

impl Readers {
    /// Merges `backends`. When two list a reader with the same id, the first one wins.
    pub fn new(backends: Vec<Arc<dyn ReaderBackend>>) -> Self {
        Self { backends }
    }
}

impl ReaderBackend for Readers {
    fn readers(&self) -> Vec<ReaderInfo> {
        let mut all: Vec<ReaderInfo> = Vec::new();
        for backend in &self.backends {
            for reader in backend.readers() {
                if !all.iter().any(|known| known.id == reader.id) {
                    all.push(reader);
                }
            }
        }
        all
    }

    fn connect(
        &self,
        id: &ReaderId,
        timeout: Duration,
    ) -> Result<Box<dyn t1c_sdk::Card + Send>, ReaderError> {
        let backend = self
            .backends
            .iter()
            .find(|backend| backend.readers().iter().any(|reader| &reader.id == id))
            .ok_or_else(|| ReaderError::UnknownReader(id.clone()))?;
        backend.connect(id, timeout)
    }
}

impl ReaderInfo {
    /// A reader named `name`, its id derived from the name.
    pub fn new(name: impl Into<String>, pinpad: bool, card: Option<CardInfo>) -> Self {
        let name = name.into();
        Self { id: ReaderId::from_name(&name), name, pinpad, card }
    }
}

impl CardInfo {
    /// A card with answer-to-reset `atr`.
    pub fn new(atr: Vec<u8>) -> Self {
        Self { atr }
    }
}
