//! Card simulator: virtual cards in virtual reader slots, in process or behind a real `pcscd`.
//!
//! A [`VirtualCard`] answers raw command APDUs the way a card does. It sits in a
//! [`VirtualReader`], one reader slot that tests insert, remove, swap and reset cards in. From
//! there a card is reached two ways, and module code cannot tell them apart from a real card:
//!
//! - in process: [`VirtualReader::connect`] gives a [`SimulatedCard`], a [`Card`](crate::Card)
//!   for native unit tests with no daemon;
//! - through PC/SC: a [`vpcd::VpcdBridge`] connects the slot to the `vpcd` driver of a running
//!   `pcscd`, so the production PC/SC code path sees a card in a reader. [`pcscd`] starts a
//!   private `pcscd` with vpcd readers for tests (Linux only).
//!
//! Card logic rarely wants to deal with transport details. Write a [`t0::CardLogic`] that maps a
//! parsed [`Command`](crate::apdu::Command) to data and a status word, and wrap it in
//! [`t0::T0`], which adds what a T=0 card does on the wire: `61xx` and GET RESPONSE, `6Cxx` Le
//! correction, `6700` for malformed APDUs.
//!
//! This module owns simulated cards and reader slots. It knows nothing of modules, the host's
//! reader layer or HTTP; it never logs, it returns errors. Only native targets build it (feature
//! `simulator`, off by default).

pub mod belpic;
mod reader;
pub mod t0;
pub mod vpcd;

#[cfg(target_os = "linux")]
pub mod pcscd;

pub use reader::{SimulatedCard, VirtualReader};

/// A simulated smart card: an ATR, a reset, and raw APDUs in, raw responses out.
///
/// Implementations must not panic on any input: whatever bytes arrive, answer with a status
/// word as a card would (`6700`, `6D00`, ...). [`t0::T0`] does this for card logic built on
/// [`t0::CardLogic`].
pub trait VirtualCard: Send {
    /// The answer-to-reset.
    fn atr(&self) -> Vec<u8>;

    /// Power-on or warm reset: clears volatile state such as the selected file, pending
    /// response data and verified PINs. Persistent state (files, PIN try counters) stays.
    fn reset(&mut self);

    /// Processes one command APDU and returns the complete response: data, then SW1 SW2.
    fn process(&mut self, apdu: &[u8]) -> Vec<u8>;
}
