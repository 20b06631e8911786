//! PINs kept for bulk signing (`?bulk=true`): the first signature of a series gives the PIN,
//! the next ones on the same card reuse it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::readers::ReaderId;

/// How long a bulk-signing PIN is kept after its last use.
const BULK_PIN_TTL: Duration = Duration::from_secs(300);

/// Who a bulk PIN belongs to: a module build, a reader and a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BulkKey {
    /// The module's name.
    pub module: String,
    /// SHA-256 of the module's component: a PIN given to one build of a module is never handed
    /// to another one swapped in since.
    pub component: [u8; 32],
    /// The reader (or token slot) the PIN was given for.
    pub reader: ReaderId,
    /// The page's origin.
    pub origin: String,
}

/// PINs kept for bulk signing, per [`BulkKey`], in zeroised memory. A PIN is dropped after
/// [`BULK_PIN_TTL`] without use, on `reset-bulk-pin`, and as soon as its reader is seen without
/// a card or with another card.
#[derive(Default)]
pub struct BulkPins {
    pins: Mutex<HashMap<BulkKey, KeptPin>>,
}

/// A kept PIN, the identity of the card it was given for (a card's ATR, a token's serial
/// number), and its last use.
struct KeptPin {
    pin: Zeroizing<String>,
    card: Vec<u8>,
    used: Instant,
}

impl BulkPins {
    /// The PIN a bulk signature uses: a `given` PIN is kept for the next ones (when the card is
    /// known); without one, the PIN kept for `key` if `card` is the card it was given for.
    pub(super) fn pin_for(
        &self,
        key: BulkKey,
        given: Option<Zeroizing<String>>,
        card: Option<Vec<u8>>,
    ) -> Option<Zeroizing<String>> {
        match (given, card) {
            (Some(pin), Some(card)) => {
                self.keep(key, pin.clone(), card);
                Some(pin)
            }
            (Some(pin), None) => Some(pin),
            (None, card) => self.take(&key, card.as_deref()),
        }
    }

    /// Forgets every PIN of `module` for `origin`.
    pub(super) fn reset(&self, module: &str, origin: &str) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|key, _| !(key.module == module && key.origin == origin));
    }

    /// Forgets every PIN given for `reader` (its card left).
    pub(super) fn forget_reader(&self, reader: &ReaderId) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|key, _| &key.reader != reader);
    }

    /// The PIN kept for `key`, if the card now in the reader (`card`) is the one it was given
    /// for.
    fn take(&self, key: &BulkKey, card: Option<&[u8]>) -> Option<Zeroizing<String>> {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|kept_key, kept| {
            kept.used.elapsed() < BULK_PIN_TTL
                && (kept_key.reader != key.reader || card == Some(kept.card.as_slice()))
        });
        pins.get_mut(key).map(|kept| {
            kept.used = Instant::now();
            kept.pin.clone()
        })
    }

    fn keep(&self, key: BulkKey, pin: Zeroizing<String>, card: Vec<u8>) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.insert(key, KeptPin { pin, card, used: Instant::now() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reader: &str) -> BulkKey {
        BulkKey {
            module: "beid".into(),
            component: [7; 32],
            reader: reader.parse().expect("id"),
            origin: "https://app.test".into(),
        }
    }

    #[test]
    fn bulk_pin_is_given_back_for_the_same_card_only() {
        let pins = BulkPins::default();
        let reader = key("0123456789abcdef");
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B, 0x98]);
        assert_eq!(
            pins.take(&reader, Some(&[0x3B, 0x98])).as_deref().map(String::as_str),
            Some("1234")
        );
        // Another card in the reader: the PIN is dropped, not tried on it.
        assert!(pins.take(&reader, Some(&[0x3B, 0x99])).is_none());
        assert!(pins.take(&reader, Some(&[0x3B, 0x98])).is_none(), "dropped for good");
    }

    #[test]
    fn bulk_pin_is_dropped_when_the_card_leaves_or_on_reset() {
        let pins = BulkPins::default();
        let reader = key("0123456789abcdef");
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B]);
        assert!(pins.take(&reader, None).is_none());
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B]);
        pins.reset("beid", "https://app.test");
        assert!(pins.take(&reader, Some(&[0x3B])).is_none());
    }
}
