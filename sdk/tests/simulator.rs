//! The card simulator in process: reader slots, card handles and T=0 semantics. No daemon.
#![cfg(feature = "simulator")]

use proptest::prelude::*;

use t1c_sdk::apdu::Command;
use t1c_sdk::card::{Card, CardError};
use t1c_sdk::iso7816;
use t1c_sdk::pin::{Pin, PinEncoding, PinLengthField, PinVerifyRequest};
use t1c_sdk::simulator::t0::{CardLogic, T0};
use t1c_sdk::simulator::{VirtualCard, VirtualReader};
use t1c_sdk::status::StatusWord;

/// A small file-system card: SELECT picks the file, READ BINARY reads it, INTERNAL
/// AUTHENTICATE returns `auth_len` bytes, VERIFY accepts PIN 1234 (format 2 block), 0x6F answers an error
/// with data (which T=0 must drop).
struct FileCard {
    atr: Vec<u8>,
    file: Vec<u8>,
    auth_len: usize,
    selected: bool,
}

impl FileCard {
    fn new(atr: &[u8]) -> Self {
        Self { atr: atr.to_vec(), file: (0..20).collect(), auth_len: 300, selected: false }
    }
}

impl CardLogic for FileCard {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn reset(&mut self) {
        self.selected = false;
    }

    fn execute(&mut self, command: &Command) -> (Vec<u8>, StatusWord) {
        match command.ins() {
            0xA4 => {
                self.selected = true;
                (Vec::new(), StatusWord::SUCCESS)
            }
            0xB0 if !self.selected => (Vec::new(), StatusWord::new(0x69, 0x86)),
            0xB0 => {
                let offset = usize::from(u16::from_be_bytes([command.p1(), command.p2()]));
                match self.file.get(offset..) {
                    Some(rest) if !rest.is_empty() => {
                        let le = command.le().unwrap_or(256) as usize;
                        (rest[..rest.len().min(le)].to_vec(), StatusWord::SUCCESS)
                    }
                    _ => (Vec::new(), StatusWord::WRONG_P1P2),
                }
            }
            0x88 => ((0..self.auth_len).map(|i| i as u8).collect(), StatusWord::SUCCESS),
            0x20 if command.data().starts_with(&[0x24, 0x12, 0x34]) => {
                (Vec::new(), StatusWord::SUCCESS)
            }
            0x20 => (Vec::new(), StatusWord::new(0x63, 0xC2)),
            0x6F => (vec![1, 2, 3], StatusWord::FILE_NOT_FOUND),
            _ => (Vec::new(), StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

const ATR_A: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];
const ATR_B: [u8; 4] = [0x3B, 0x02, 0x14, 0x51];

fn card(atr: &[u8]) -> Box<dyn VirtualCard> {
    Box::new(T0::new(FileCard::new(atr)))
}

fn reader_with_card() -> VirtualReader {
    let reader = VirtualReader::new("Test Reader");
    reader.insert(card(&ATR_A));
    reader
}

fn t0() -> T0<FileCard> {
    T0::new(FileCard::new(&ATR_A))
}

/// The Belgian eID VERIFY shape: format 2 block, BCD digits, `F` padding.
fn verify_request() -> PinVerifyRequest {
    PinVerifyRequest {
        apdu: vec![0x00, 0x20, 0x00, 0x01, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        block_offset: 0,
        block_size: 8,
        pin_bit_offset: 8,
        encoding: PinEncoding::Bcd,
        length_field: Some(PinLengthField { bit_position: 4, bit_size: 4 }),
        min_length: 4,
        max_length: 12,
        timeout_seconds: 30,
    }
}

// --- VirtualReader and SimulatedCard ---

#[test]
fn empty_reader_has_no_card_and_reports_card_removed() {
    let reader = VirtualReader::new("Empty");
    assert!(!reader.has_card());
    assert_eq!(reader.atr(), None);
    assert_eq!(reader.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardRemoved));
    assert!(matches!(reader.connect(), Err(CardError::CardRemoved)));
}

#[test]
fn inserted_card_is_present_with_its_atr() {
    let reader = reader_with_card();
    assert!(reader.has_card());
    assert_eq!(reader.name(), "Test Reader");
    assert_eq!(reader.atr(), Some(ATR_A.to_vec()));
    let card = reader.connect().expect("card present");
    assert_eq!(card.atr(), ATR_A);
}

#[test]
fn reader_transmit_reaches_the_current_card() {
    let reader = reader_with_card();
    assert_eq!(reader.transmit(&[0x00, 0xA4, 0x00, 0x00]), Ok(vec![0x90, 0x00]));
}

#[test]
fn clones_share_one_slot_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<VirtualReader>();
    let reader = VirtualReader::new("Shared");
    let clone = reader.clone();
    std::thread::spawn(move || clone.insert(card(&ATR_A))).join().expect("thread ran");
    assert!(reader.has_card());
}

#[test]
fn generation_changes_on_insert_remove_swap_and_reset() {
    let reader = VirtualReader::new("Counting");
    let mut seen = vec![reader.generation()];
    reader.insert(card(&ATR_A));
    seen.push(reader.generation());
    reader.reset();
    seen.push(reader.generation());
    reader.swap(card(&ATR_B));
    seen.push(reader.generation());
    reader.remove();
    seen.push(reader.generation());
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct, seen, "every change must give a new generation");
}

#[test]
fn remove_returns_the_card_and_empties_the_slot() {
    let reader = reader_with_card();
    let removed = reader.remove().expect("a card was inserted");
    assert_eq!(removed.atr(), ATR_A);
    assert!(!reader.has_card());
    assert!(reader.remove().is_none());
}

#[test]
fn removing_the_card_fails_its_handle_with_card_removed() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    reader.remove();
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardRemoved));
}

#[test]
fn reinserting_a_card_does_not_revive_an_old_handle() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    let removed = reader.remove().expect("card present");
    reader.insert(removed);
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardRemoved));
}

#[test]
fn swapping_fails_the_old_handle_and_a_new_connect_sees_the_new_atr() {
    let reader = reader_with_card();
    let mut old = reader.connect().expect("card present");
    let previous = reader.swap(card(&ATR_B)).expect("a card was inserted");
    assert_eq!(previous.atr(), ATR_A);
    assert_eq!(old.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardRemoved));
    assert_eq!(reader.connect().expect("card present").atr(), ATR_B);
}

#[test]
fn reset_fails_the_handle_with_card_reset_until_reconnect() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    reader.reset();
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardReset));
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]), Err(CardError::CardReset));
    card.reconnect().expect("card still present");
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]), Ok(vec![0x90, 0x00]));
}

#[test]
fn reset_clears_the_selected_file() {
    let reader = reader_with_card();
    let read = [0x00, 0xB0, 0x00, 0x00, 0x04];
    reader.transmit(&[0x00, 0xA4, 0x00, 0x00]).expect("card present");
    assert_eq!(reader.transmit(&read), Ok(vec![0, 1, 2, 3, 0x90, 0x00]));
    reader.reset();
    assert_eq!(reader.transmit(&read), Ok(vec![0x69, 0x86]));
}

#[test]
fn inserting_powers_the_card_on() {
    let mut logic = FileCard::new(&ATR_A);
    logic.selected = true;
    let reader = VirtualReader::new("Power");
    reader.insert(Box::new(T0::new(logic)));
    assert_eq!(reader.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04]), Ok(vec![0x69, 0x86]));
}

#[test]
fn module_helpers_read_a_file_through_a_simulated_card() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    let selected = iso7816::select_by_fid(&mut card, [0x50, 0x38]).expect("select");
    assert!(selected.is_success());
    let file = iso7816::read_file(&mut card, 8).expect("read");
    assert_eq!(file, (0..20).collect::<Vec<u8>>());
}

#[test]
fn verify_pin_with_a_pin_sends_the_filled_block_and_returns_the_status_word() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    let sw = card.verify_pin(&verify_request(), Some(&Pin::from_digits("1234"))).expect("sent");
    assert_eq!(sw, 0x9000);
    let sw = card.verify_pin(&verify_request(), Some(&Pin::from_digits("1299"))).expect("sent");
    assert_eq!(sw, 0x63C2);
}

#[test]
fn verify_pin_without_a_pin_on_a_plain_reader_is_not_supported() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    assert!(!card.pinpad().verify_pin);
    assert_eq!(
        card.verify_pin(&verify_request(), None),
        Err(CardError::NotSupported("reader has no pinpad".to_owned()))
    );
}

#[test]
fn verify_pin_on_a_pinpad_reader_uses_the_entered_digits() {
    let reader = VirtualReader::with_pinpad("Pinpad", "1234".to_owned());
    reader.insert(card(&ATR_A));
    let mut card = reader.connect().expect("card present");
    assert!(card.pinpad().verify_pin);
    assert_eq!(card.verify_pin(&verify_request(), None), Ok(0x9000));
}

#[test]
fn pinpad_entry_of_nothing_reports_cancel() {
    let reader = VirtualReader::with_pinpad("Pinpad", String::new());
    reader.insert(card(&ATR_A));
    let mut card = reader.connect().expect("card present");
    assert_eq!(card.verify_pin(&verify_request(), None), Err(CardError::PinCancelled));
}

#[test]
fn verify_pin_on_a_removed_card_reports_card_removed() {
    let reader = reader_with_card();
    let mut card = reader.connect().expect("card present");
    reader.remove();
    let pin = Pin::from_digits("1234");
    assert_eq!(card.verify_pin(&verify_request(), Some(&pin)), Err(CardError::CardRemoved));
}

#[test]
fn debug_output_hides_the_pinpad_digits() {
    let reader = VirtualReader::with_pinpad("Pinpad", "987654".to_owned());
    assert!(!format!("{reader:?}").contains("987654"));
}

// --- T=0 ---

#[test]
fn case_4_answers_61xx_and_get_response_returns_the_data() {
    let mut card = t0();
    card.logic_mut().auth_len = 8;
    assert_eq!(card.process(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x00]), [0x61, 0x08]);
    assert_eq!(card.process(&[0x00, 0xC0, 0x00, 0x00, 0x08]), [0, 1, 2, 3, 4, 5, 6, 7, 0x90, 0x00]);
}

#[test]
fn long_responses_come_in_chunks_announced_by_61xx() {
    let mut card = t0();
    assert_eq!(card.process(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x00]), [0x61, 0x00]);
    let first = card.process(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
    assert_eq!(first.len(), 256 + 2);
    assert_eq!(first[256..], [0x61, 44]);
    let second = card.process(&[0x00, 0xC0, 0x00, 0x00, 44]);
    assert_eq!(second[..44], (0..44).map(|i| (256 + i) as u8).collect::<Vec<_>>()[..]);
    assert_eq!(second[44..], [0x90, 0x00]);
}

#[test]
fn get_response_with_too_large_an_le_answers_6cxx_and_keeps_the_data() {
    let mut card = t0();
    card.logic_mut().auth_len = 8;
    card.process(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x00]);
    assert_eq!(card.process(&[0x00, 0xC0, 0x00, 0x00, 0x10]), [0x6C, 0x08]);
    assert_eq!(card.process(&[0x00, 0xC0, 0x00, 0x00, 0x08]).len(), 10);
}

#[test]
fn module_helpers_follow_61xx_through_get_response() {
    let reader = VirtualReader::new("T0");
    reader.insert(Box::new(t0()));
    let mut card = reader.connect().expect("card present");
    let command = Command::new(0x00, 0x88, 0x00, 0x00)
        .with_data(vec![0xAA])
        .and_then(|command| command.with_le(256))
        .expect("valid command");
    let response = iso7816::transceive(&mut card, &command).expect("transceive");
    assert_eq!(response.data(), (0..300).map(|i| i as u8).collect::<Vec<_>>());
}

#[test]
fn case_2_with_too_large_an_le_answers_6cxx_without_data() {
    let mut card = t0();
    card.process(&[0x00, 0xA4, 0x00, 0x00]);
    assert_eq!(card.process(&[0x00, 0xB0, 0x00, 0x10, 0x00]), [0x6C, 0x04]);
    assert_eq!(card.process(&[0x00, 0xB0, 0x00, 0x10, 0x04]), [16, 17, 18, 19, 0x90, 0x00]);
}

#[test]
fn case_2_with_a_smaller_le_returns_the_first_le_bytes() {
    let mut card = t0();
    assert_eq!(card.process(&[0x00, 0x88, 0x00, 0x00, 0x03]), [0, 1, 2, 0x90, 0x00]);
}

#[test]
fn another_command_discards_a_pending_response() {
    let mut card = t0();
    card.process(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x00]);
    card.process(&[0x00, 0xA4, 0x00, 0x00]);
    assert_eq!(card.process(&[0x00, 0xC0, 0x00, 0x00, 0x08]), [0x6D, 0x00]);
}

#[test]
fn get_response_with_nothing_pending_goes_to_the_logic() {
    assert_eq!(t0().process(&[0x00, 0xC0, 0x00, 0x00, 0x08]), [0x6D, 0x00]);
}

#[test]
fn reset_discards_a_pending_response() {
    let mut card = t0();
    card.process(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x00]);
    card.reset();
    assert_eq!(card.process(&[0x00, 0xC0, 0x00, 0x00, 0x08]), [0x6D, 0x00]);
}

#[test]
fn an_error_status_word_comes_without_data() {
    assert_eq!(t0().process(&[0x00, 0x6F, 0x00, 0x00, 0x03]), [0x6A, 0x82]);
    assert_eq!(t0().process(&[0x00, 0x6F, 0x00, 0x00, 0x01, 0x00, 0x03]), [0x6A, 0x82]);
}

#[test]
fn an_apdu_shorter_than_its_header_is_wrong_length() {
    for apdu in [&[][..], &[0x00], &[0x00, 0xA4, 0x00]] {
        assert_eq!(t0().process(apdu), [0x67, 0x00]);
    }
}

#[test]
fn an_lc_that_disagrees_with_the_body_is_wrong_length() {
    assert_eq!(t0().process(&[0x00, 0xA4, 0x00, 0x00, 0x05, 0x01]), [0x67, 0x00]);
    assert_eq!(t0().process(&[0x00, 0xA4, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03]), [0x67, 0x00]);
}

#[test]
fn extended_length_is_wrong_length_unless_the_card_supports_it() {
    let extended_le = [0x00, 0x88, 0x00, 0x00, 0x00, 0x01, 0x2C];
    assert_eq!(t0().process(&extended_le), [0x67, 0x00]);
    let mut card = T0::with_extended_length(FileCard::new(&ATR_A));
    let response = card.process(&extended_le);
    assert_eq!(response.len(), 300 + 2);
    assert_eq!(response[300..], [0x90, 0x00]);
}

proptest! {
    #[test]
    fn process_never_panics_and_always_answers_a_status_word(
        apdus in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..600),
                (any::<u8>(), prop::option::of(any::<u8>()))
                    .prop_map(|(ins, le)| {
                        let mut apdu = vec![0x00, ins, 0x00, 0x00];
                        apdu.extend(le);
                        apdu
                    }),
                any::<u8>().prop_map(|le| vec![0x00, 0xC0, 0x00, 0x00, le]),
            ],
            1..8,
        ),
        extended in any::<bool>(),
    ) {
        let logic = FileCard::new(&ATR_A);
        let mut card = if extended { T0::with_extended_length(logic) } else { T0::new(logic) };
        for apdu in apdus {
            prop_assert!(card.process(&apdu).len() >= 2);
        }
    }
}
