//! The cardholder PIN (reference 01): its ISO 9564 format 2 block, the persistent try
//! counter, and the volatile access rights a VERIFY grants (RM17 §5.1, RM18 §5.1).
//!
//! The rights follow the "PIN once", "PIN just before" and "PIN mixed" rules: a successful
//! VERIFY is *pending* until it is either consumed by a non-repudiation signature right after
//! it (no command in between on 1.7, at most one on 1.8), or turns into the lasting
//! authentication right when anything else happens to it.

use super::error::BelpicError;

/// Tries a fresh or just-verified PIN has.
pub const MAX_TRIES: u8 = 3;

/// The PIN stored in the card and its try counter; both survive a reset.
#[derive(Clone)]
pub struct StoredPin {
    block: [u8; 8],
    tries_left: u8,
}

/// What presenting a PIN block did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The PIN matched; the counter is back at [`MAX_TRIES`].
    Correct,
    /// The PIN did not match; this many tries are left (0 blocks the PIN).
    Wrong(u8),
    /// The PIN was already blocked; nothing was compared.
    Blocked,
}

/// The access rights of the current card session (cleared by reset, LOG OFF and a wrong PIN).
#[derive(Debug, Clone, Default)]
pub struct AccessRights {
    /// "PIN once": the authentication key may sign.
    authenticated: bool,
    /// A successful VERIFY not yet classified, and how many commands followed it.
    pending: Option<u32>,
    /// The pending VERIFY was granted by the command being processed.
    fresh: bool,
}

impl StoredPin {
    /// The PIN `digits` (4 to 12) with a full try counter.
    ///
    /// # Errors
    /// [`BelpicError::InvalidPersona`] for anything but 4 to 12 decimal digits.
    pub fn new(digits: &str) -> Result<Self, BelpicError> {
        let block = pin_block(digits).ok_or_else(|| {
            BelpicError::InvalidPersona("the PIN must be 4 to 12 digits".to_owned())
        })?;
        Ok(Self { block, tries_left: MAX_TRIES })
    }

    /// Tries left before the PIN blocks.
    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Compares a presented block, counting a mismatch against the PIN.
    pub fn check(&mut self, presented: &[u8]) -> Check {
        if self.tries_left == 0 {
            return Check::Blocked;
        }
        if constant_time_eq(presented, &self.block) {
            self.tries_left = MAX_TRIES;
            Check::Correct
        } else {
            self.tries_left -= 1;
            Check::Wrong(self.tries_left)
        }
    }

    /// Replaces the PIN with `block` (already checked by [`is_valid_block`]).
    pub fn replace(&mut self, block: [u8; 8]) {
        self.block = block;
        self.tries_left = MAX_TRIES;
    }
}

impl std::fmt::Debug for StoredPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPin")
            .field("block", &"***")
            .field("tries_left", &self.tries_left)
            .finish()
    }
}

impl AccessRights {
    /// A successful VERIFY (or CHANGE REFERENCE DATA). A VERIFY still pending becomes the
    /// authentication right: it was not followed by a non-repudiation signature.
    pub fn grant(&mut self) {
        if self.pending.is_some() {
            self.authenticated = true;
        }
        self.pending = Some(0);
        self.fresh = true;
    }

    /// Drops every right: wrong PIN, LOG OFF, reset.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the PIN is verified in this session (the empty VERIFY probe).
    pub fn is_verified(&self) -> bool {
        self.authenticated || self.pending.is_some()
    }

    /// Called after every command: ages a pending VERIFY, which turns into the
    /// authentication right once more than `slack` commands followed it.
    pub fn after_command(&mut self, slack: u32) {
        if std::mem::take(&mut self.fresh) {
            return;
        }
        if let Some(age) = self.pending.as_mut() {
            *age += 1;
            if *age > slack {
                self.pending = None;
                self.authenticated = true;
            }
        }
    }

    /// A signature with the authentication key ("PIN once"): allowed after any VERIFY of this
    /// session that no non-repudiation signature consumed.
    pub fn authorize_authentication(&mut self) -> bool {
        if self.pending.take().is_some() {
            self.authenticated = true;
        }
        self.authenticated
    }

    /// A signature with the non-repudiation key ("PIN just before"): consumes a VERIFY
    /// followed by at most `slack` other commands. A VERIFY too old for that becomes the
    /// authentication right instead.
    pub fn authorize_non_repudiation(&mut self, slack: u32) -> bool {
        match self.pending.take() {
            Some(age) if age <= slack => true,
            Some(_) => {
                self.authenticated = true;
                false
            }
            None => false,
        }
    }
}

/// The 8-byte VERIFY block of `digits`: `2L` then the digits as BCD, padded with `F`.
pub fn pin_block(digits: &str) -> Option<[u8; 8]> {
    let len = digits.len();
    if !(4..=12).contains(&len) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nibbles = [0xFu8; 14];
    for (slot, digit) in nibbles.iter_mut().zip(digits.bytes()) {
        *slot = digit - b'0';
    }
    let mut block = [0xFFu8; 8];
    block[0] = 0x20 | u8::try_from(len).ok()?;
    for (i, pair) in nibbles.chunks_exact(2).enumerate() {
        block[i + 1] = (pair[0] << 4) | pair[1];
    }
    Some(block)
}

/// Whether `block` is a well-formed format 2 PIN block of 4 to 12 digits.
pub fn is_valid_block(block: &[u8]) -> bool {
    let Some((&control, rest)) = block.split_first() else { return false };
    if block.len() != 8 || control >> 4 != 2 {
        return false;
    }
    let len = usize::from(control & 0x0F);
    if !(4..=12).contains(&len) {
        return false;
    }
    rest.iter()
        .flat_map(|b| [b >> 4, b & 0x0F])
        .enumerate()
        .all(|(i, nibble)| if i < len { nibble <= 9 } else { nibble == 0xF })
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_block_of_1234_and_12345() {
        assert_eq!(pin_block("1234"), Some([0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
        assert_eq!(pin_block("12345"), Some([0x25, 0x12, 0x34, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF]));
        assert!(pin_block("123").is_none());
        assert!(pin_block("12a4").is_none());
    }

    #[test]
    fn generated_blocks_are_valid() {
        for pin in ["1234", "12345", "123456789012"] {
            assert!(is_valid_block(&pin_block(pin).unwrap_or_default()), "{pin}");
        }
        assert!(!is_valid_block(&[0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]));
        assert!(!is_valid_block(&[0x34, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
    }

    #[test]
    fn verify_then_nonrep_consumes_the_right() {
        let mut rights = AccessRights::default();
        rights.grant();
        rights.after_command(0);
        assert!(rights.authorize_non_repudiation(0));
        rights.after_command(0);
        assert!(!rights.authorize_authentication());
    }

    #[test]
    fn aged_verify_becomes_the_authentication_right() {
        let mut rights = AccessRights::default();
        rights.grant();
        rights.after_command(0);
        rights.after_command(0);
        assert!(!rights.authorize_non_repudiation(0));
        assert!(rights.authorize_authentication());
    }
}
