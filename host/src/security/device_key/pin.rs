//! PIN decryption with the device key, with no timing or error difference between a bad
//! ciphertext and a good one until the single accept/refuse decision.
//!
//! # What it does
//! The private RSA operation runs in OpenSSL with `RSA_NO_PADDING`, so OpenSSL never checks the
//! PKCS#1 v1.5 padding. [`pin_length`] then checks the padding and the PIN's format together,
//! over every byte of the encoded message, with the `subtle` crate's constant-time operations and
//! no branch on secret data. A wrong key, a bad padding, and a good padding around something that
//! is not a PIN (empty, longer than 64 bytes, a byte outside `0x21..=0x7E`) do the same work and
//! end in the same `None`, which the caller turns into its one typed error (T1C code 104006).
//!
//! # What OpenSSL guarantees here (3.0.8 or later; 1.1.1t or later)
//! - The private operation is blinded with a fresh random factor per call and exponentiates with
//!   `BN_FLG_CONSTTIME` (fixed-window Montgomery, CRT). Since 3.0.8 / 1.1.1t the unblinding and
//!   the conversion to bytes are constant time too (CVE-2022-4304, the timing leak that the Marvin
//!   attack measured in OpenSSL's RSA decryption, for every padding mode).
//! - With `RSA_NO_PADDING` the call fails only for a ciphertext longer than the modulus or not
//!   smaller than it: facts about the attacker's own input, not about the key or the plaintext.
//!   A ciphertext shorter than the modulus is accepted as a number, as JSEncrypt needs (it drops
//!   leading zero bytes, about one ciphertext in 256).
//!
//! # Why not OpenSSL's or AWS-LC's PKCS#1 v1.5 mode
//! - OpenSSL 3.0 (Debian 12 and this project's machines) checks the padding with constant-time
//!   code but reports a bad one as an error, returned early and put on the error queue: the
//!   padding oracle that Marvin times. Implicit rejection (OpenSSL 3.2+) answers a bad padding
//!   with a synthetic message instead, which fits TLS but not a PIN: a synthetic PIN would reach
//!   the card and burn a PIN try, and the format check after it would still tell the two apart.
//! - AWS-LC (aws-lc-rs `Pkcs1PrivateDecryptingKey`) also checks the padding in constant time,
//!   also ends a bad one in an error (its own source says the API cannot fully avoid
//!   Bleichenbacher and points to raw RSA plus a constant-time check), has no implicit rejection,
//!   and aws-lc-rs offers no raw RSA. It would also be a second C crypto library in the
//!   connector, with its own build for the Windows (x86_64-pc-windows-gnu) target, where OpenSSL
//!   is linked anyway for the DS protocol (josekit).
//!
//! # What is not guaranteed
//! - The decision itself shows: an accepted PIN goes to the card, a refused one gets 104006. So
//!   the connector still answers "does this ciphertext decrypt to 00 02, at least 8 non-zero
//!   bytes, 00, then 1 to 64 printable ASCII bytes?". For a random ciphertext that holds with
//!   probability about 1.3 × 10⁻⁸ (2⁻¹⁶ for the header times about 8.5 × 10⁻⁴ for the rest), so a
//!   Bleichenbacher-style attack needs of the order of 10⁸ requests before its first step
//!   succeeds, each one a private-key operation on the user's machine. The strict format check
//!   is what makes this oracle this weak; it must stay combined with the padding check.
//! - `subtle` keeps the compiler from turning its masks into branches with an optimisation
//!   barrier; that is best effort, not a language guarantee. Cache and other microarchitectural
//!   channels are covered as far as OpenSSL covers them for the private operation; the checks
//!   here touch every byte in the same order whatever the input.
//! - The base64 text and the ciphertext's length are public (they are the attacker's input) and
//!   are refused early.

use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use subtle::{
    Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess,
    CtOption,
};
use zeroize::Zeroizing;

/// Longest PIN accepted after decryption.
const MAX_PIN_LEN: u32 = 64;
/// PKCS#1 v1.5: `00 02`, then at least this many non-zero padding bytes, then `00`.
const MIN_PADDING_LEN: u32 = 8;

/// The device key's private half, for decrypting PINs only.
///
/// OpenSSL takes the key on the first PIN to decrypt, not when the connector starts: until a
/// page asks for a PIN, the connector does not initialise OpenSSL (its configuration, providers
/// and tables are a few MB of memory that most sessions never need).
pub(super) struct PinDecryptor {
    /// PKCS#8 DER, until (and after) OpenSSL has it.
    pkcs8: Zeroizing<Vec<u8>>,
    rsa: OnceLock<Option<Rsa<Private>>>,
    /// Length of the modulus in bytes: of every encoded message.
    size: usize,
}

impl PinDecryptor {
    /// Keeps the key, in PKCS#8 DER, whose modulus is `size` bytes long.
    pub(super) fn from_pkcs8(der: &[u8], size: usize) -> Self {
        Self { pkcs8: Zeroizing::new(der.to_vec()), rsa: OnceLock::new(), size }
    }

    /// The key in OpenSSL, loaded on first use.
    fn rsa(&self) -> Option<&Rsa<Private>> {
        self.rsa
            .get_or_init(|| {
                let loaded: Result<_, ErrorStack> =
                    PKey::private_key_from_pkcs8(&self.pkcs8).and_then(|key| key.rsa());
                match loaded {
                    Ok(rsa) if usize::try_from(rsa.size()).ok() == Some(self.size) => Some(rsa),
                    Ok(_) => {
                        tracing::error!("OpenSSL reads another modulus length from the device key");
                        None
                    }
                    Err(err) => {
                        tracing::error!("OpenSSL cannot load the device key: {err}");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The PIN in `ciphertext` (RSA PKCS#1 v1.5, encrypted to this key), or `None` for every
    /// kind of failure alike.
    pub(super) fn decrypt(&self, ciphertext: &[u8]) -> Option<Zeroizing<String>> {
        // Public facts about the attacker's input: refused before the key is used.
        if ciphertext.is_empty() || ciphertext.len() > self.size {
            return None;
        }
        let rsa = self.rsa()?;
        let mut encoded = Zeroizing::new(vec![0; self.size]);
        // Fails only for a ciphertext not smaller than the modulus (public, as above).
        let written = rsa.private_decrypt(ciphertext, &mut encoded, Padding::NONE).ok()?;
        let encoded = encoded.get(..written)?;
        // The decision: the only branch on what the ciphertext decrypted to.
        let length = usize::try_from(Option::<u32>::from(pin_length(encoded))?).ok()?;
        let bytes = encoded.get(encoded.len() - length..)?;
        let mut pin = Zeroizing::new(String::with_capacity(length));
        pin.extend(bytes.iter().map(|b| char::from(*b)));
        Some(pin)
    }
}

/// The length of the PIN at the end of `encoded` (an RSA PKCS#1 v1.5 encryption block, as long
/// as the modulus), present only when the padding is valid and what it pads is 1 to 64 bytes,
/// each printable ASCII (`0x21..=0x7E`). Constant time in the contents of `encoded`: every byte
/// is read, in the same order, and nothing branches on what it holds.
fn pin_length(encoded: &[u8]) -> CtOption<u32> {
    let Ok(size) = u32::try_from(encoded.len()) else {
        return CtOption::new(0, Choice::from(0));
    };
    if size < 3 + MIN_PADDING_LEN {
        return CtOption::new(0, Choice::from(0));
    }
    // The first zero byte after the two header bytes ends the padding.
    let mut separator = 0_u32;
    let mut found = Choice::from(0);
    for (index, byte) in (0_u32..).zip(encoded).skip(2) {
        let is_zero = byte.ct_eq(&0);
        separator.conditional_assign(&index, is_zero & !found);
        found |= is_zero;
    }
    let mut valid = encoded[0].ct_eq(&0) & encoded[1].ct_eq(&2) & found;
    valid &= separator.ct_gt(&(1 + MIN_PADDING_LEN));
    // Without a separator this is garbage, and `valid` is already false.
    let length = size - 1 - separator;
    valid &= length.ct_gt(&0) & !length.ct_gt(&MAX_PIN_LEN);
    for (index, byte) in (0_u32..).zip(encoded) {
        let in_pin = index.ct_gt(&separator);
        let printable = byte.wrapping_sub(0x21).ct_lt(&(0x7F - 0x21));
        valid &= !in_pin | printable;
    }
    CtOption::new(length, valid)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An encryption block for a 2048-bit key: `00 02`, `padding` non-zero bytes, `00`, `message`;
    /// the padding fills what `message` leaves.
    fn block(message: &[u8]) -> Vec<u8> {
        let padding = 256 - 3 - message.len();
        [&[0, 2][..], &vec![0x5A; padding], &[0], message].concat()
    }

    fn length(encoded: &[u8]) -> Option<u32> {
        pin_length(encoded).into()
    }

    #[test]
    fn a_pin_of_one_to_sixty_four_printable_bytes_is_found() {
        assert_eq!(length(&block(b"1234")), Some(4));
        assert_eq!(length(&block(b"!")), Some(1));
        assert_eq!(length(&block(b"~")), Some(1));
        assert_eq!(length(&block(&[b'7'; 64])), Some(64));
    }

    #[test]
    fn a_bad_header_is_refused() {
        let mut first = block(b"1234");
        first[0] = 1;
        let mut second = block(b"1234");
        second[1] = 1;
        assert_eq!(length(&first), None);
        assert_eq!(length(&second), None);
    }

    #[test]
    fn padding_shorter_than_eight_bytes_or_without_separator_is_refused() {
        let mut short = vec![0, 2, 1, 2, 3, 4, 5, 6, 7, 0];
        short.extend(std::iter::repeat_n(b'1', 256 - short.len()));
        assert_eq!(length(&short), None);
        let mut eight = vec![0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        eight.extend(std::iter::repeat_n(b'1', 256 - eight.len()));
        // Valid padding, but 245 bytes are no PIN.
        assert_eq!(length(&eight), None);
        assert_eq!(length(&[[0, 2].as_slice(), &[0x5A; 254]].concat()), None);
    }

    #[test]
    fn well_padded_plaintexts_that_are_not_pins_are_refused() {
        for message in [
            &b""[..],
            &[b'1'; 65],
            b"12 34",
            b"12\x0034",
            b"1234\x7F",
            b"\x201234",
            "1234é".as_bytes(),
        ] {
            assert_eq!(length(&block(message)), None, "{message:?}");
        }
    }

    #[test]
    fn blocks_of_the_wrong_size_are_refused() {
        assert_eq!(length(&[]), None);
        assert_eq!(length(&[0, 2, 0x5A, 0x5A, 0, b'1']), None);
    }

    /// What [`pin_length`] decides, written the plain way.
    fn reference(encoded: &[u8]) -> Option<u32> {
        if encoded.len() < 11 || encoded[0] != 0 || encoded[1] != 2 {
            return None;
        }
        let separator = encoded[2..].iter().position(|b| *b == 0)? + 2;
        let pin = &encoded[separator + 1..];
        let plausible = (1..=64).contains(&pin.len()) && pin.iter().all(u8::is_ascii_graphic);
        (separator >= 10 && plausible).then(|| u32::try_from(pin.len()).expect("short"))
    }

    proptest! {
        #[test]
        fn agrees_with_the_plain_check(
            header in prop_oneof![4 => Just([0_u8, 2]), 1 => any::<[u8; 2]>()],
            separator in 2_usize..256,
            padding in proptest::collection::vec(1_u8..=255, 254),
            tail in proptest::collection::vec(0x1F_u8..=0x80, 254),
        ) {
            let encoded =
                [&header[..], &padding[..separator - 2], &[0], &tail[..255 - separator]].concat();
            prop_assert_eq!(encoded.len(), 256);
            prop_assert_eq!(Option::<u32>::from(pin_length(&encoded)), reference(&encoded));
        }
    }
}
