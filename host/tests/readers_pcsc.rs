//! The PC/SC reader backend against a real, private `pcscd` with vpcd readers, virtual cards
//! plugged in through the SDK's vpcd bridge.
//!
//! libpcsclite finds its daemon through `PCSCLITE_CSOCK_NAME`, read once per process: run these
//! with `cargo nextest` (one process per test).
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use t1c_host::readers::{
    PcscBackend, PcscConfig, ReaderBackend, ReaderError, ReaderId, ReaderInfo, ServiceStatus,
};
use t1c_sdk::CardError;
use t1c_sdk::apdu::Command;
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::t0::{CardLogic, T0};
use t1c_sdk::simulator::vpcd::VpcdBridge;
use t1c_sdk::simulator::{VirtualCard, VirtualReader};
use t1c_sdk::status::StatusWord;

const ATR_A: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];
const ATR_B: [u8; 4] = [0x3B, 0x02, 0x14, 0x51];
const SELECT: [u8; 7] = [0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00];
/// Generous: pcscd polls vpcd about every 400 ms, the backend reconnects with backoff.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn readers_are_listed_with_stable_ids_cards_and_atrs() {
    let rig = Rig::start(2);
    let backend = rig.backend();
    let listed = rig.wait_until(&backend, "both cards listed", |readers| {
        (0..2).all(|i| card_atr(readers, &rig.id(i)) == Some(ATR_A.to_vec()))
    });
    for i in 0..2 {
        let reader = listed.iter().find(|reader| reader.id == rig.id(i)).expect("listed");
        assert_eq!(reader.name, rig.name(i));
        assert!(!reader.pinpad, "vpcd has no keypad");
    }
    assert_eq!(backend.status(), ServiceStatus::Running);

    // Same ids from a fresh backend: they derive from the names only.
    drop(backend);
    let again = rig.backend();
    let relisted = rig.wait_until(&again, "readers listed again", |readers| {
        card_atr(readers, &rig.id(0)).is_some()
    });
    assert!(relisted.iter().any(|reader| reader.id == rig.id(0) && reader.name == rig.name(0)));
}

#[test]
fn a_session_reads_the_atr_and_exchanges_apdus() {
    let rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session");
    assert_eq!(card.atr(), ATR_A);
    assert_eq!(card.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
    assert!(!card.pinpad().verify_pin, "vpcd has no keypad");
}

#[test]
fn a_pin_is_verified_through_transmit_and_no_pin_needs_a_pinpad() {
    let rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session");
    let request = t1c_sdk::pin::PinVerifyRequest {
        apdu: vec![0x00, 0x20, 0x00, 0x01, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        block_offset: 0,
        block_size: 8,
        pin_bit_offset: 8,
        encoding: t1c_sdk::pin::PinEncoding::Bcd,
        length_field: Some(t1c_sdk::pin::PinLengthField { bit_position: 4, bit_size: 4 }),
        min_length: 4,
        max_length: 12,
        timeout_seconds: 30,
    };
    let pin = t1c_sdk::Pin::from_digits("1234");
    assert_eq!(card.verify_pin(&request, Some(&pin)), Ok(0x9000));
    assert!(matches!(card.verify_pin(&request, None), Err(CardError::NotSupported(_))));
}

#[test]
fn sessions_on_one_reader_take_turns() {
    let rig = Rig::start(1);
    let mut config = rig.config();
    config.queue_capacity = 1;
    let backend = Arc::new(rig.backend_with(config));
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut first = backend.connect(&rig.id(0), DEADLINE).expect("first session");
    let first_released = Arc::new(AtomicBool::new(false));
    let second = thread::spawn({
        let (backend, id, first_released) =
            (Arc::clone(&backend), rig.id(0), Arc::clone(&first_released));
        move || {
            let mut card = backend.connect(&id, DEADLINE).expect("second session");
            let after_first = first_released.load(Ordering::SeqCst);
            (after_first, card.transmit(&SELECT))
        }
    });
    // The second session is queued once the one waiting place is taken.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match backend.connect(&rig.id(0), Duration::ZERO).err() {
            Some(ReaderError::QueueFull { .. }) => break,
            other => assert!(Instant::now() < deadline, "second session never queued: {other:?}"),
        }
        thread::yield_now();
    }
    assert_eq!(first.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
    first_released.store(true, Ordering::SeqCst);
    drop(first);
    let (after_first, response) = second.join().expect("second thread");
    assert!(after_first, "the second session began before the first ended");
    assert_eq!(response.expect("transmit"), [0x90, 0x00]);
}

#[test]
fn a_session_end_resets_the_card_for_everyone() {
    use pcsc::{Context, Protocols, Scope, ShareMode};
    let rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    // Another application's connection sees the reset, so no verified PIN outlives a session.
    let other = Context::establish(Scope::User).expect("context");
    let name = std::ffi::CString::new(rig.name(0)).expect("no NUL");
    let other_card = other.connect(&name, ShareMode::Shared, Protocols::ANY).expect("connect");
    let mut buffer = [0u8; 258];
    assert!(other_card.transmit(&SELECT, &mut buffer).is_ok());

    drop(backend.connect(&rig.id(0), DEADLINE).expect("session"));
    let after = other_card.transmit(&SELECT, &mut buffer).map(<[u8]>::to_vec);
    assert_eq!(after, Err(pcsc::Error::ResetCard));
}

#[test]
fn sessions_on_different_readers_do_not_wait_for_each_other() {
    let rig = Rig::start(2);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    rig.wait_for_card(&backend, 1, &ATR_A);
    let mut a = backend.connect(&rig.id(0), DEADLINE).expect("session on reader 0");
    // Zero wait: a session queued behind reader 0's would time out at once.
    let mut b = backend.connect(&rig.id(1), Duration::ZERO).expect("session on reader 1");
    assert_eq!(a.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
    assert_eq!(b.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
}

#[test]
fn a_full_queue_is_refused_with_a_typed_error() {
    let rig = Rig::start(1);
    let mut config = rig.config();
    config.queue_capacity = 0;
    let backend = rig.backend_with(config);
    rig.wait_for_card(&backend, 0, &ATR_A);
    let _held = backend.connect(&rig.id(0), DEADLINE).expect("session");
    let refused = backend.connect(&rig.id(0), DEADLINE).err();
    assert!(matches!(refused, Some(ReaderError::QueueFull { .. })), "{refused:?}");
}

#[test]
fn a_card_removed_mid_session_is_reported_and_a_reinserted_card_works() {
    let rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session");
    let removed = rig.readers[0].remove().expect("card inserted");
    // pcscd notices within its polling interval; until then vpcd may fail otherwise.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match card.transmit(&SELECT) {
            Err(CardError::CardRemoved) => break,
            other => assert!(Instant::now() < deadline, "no removal reported; last: {other:?}"),
        }
        thread::yield_now();
    }
    drop(card);
    rig.wait_until(&backend, "card gone from the listing", |readers| {
        readers.iter().any(|reader| reader.id == rig.id(0) && reader.card.is_none())
    });
    let empty = backend.connect(&rig.id(0), DEADLINE).err();
    assert!(matches!(empty, Some(ReaderError::NoCard(_))), "{empty:?}");

    rig.readers[0].insert(removed);
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session after reinsertion");
    assert_eq!(card.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
}

#[test]
fn another_card_inserted_shows_its_own_atr() {
    let rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    rig.readers[0].remove();
    rig.wait_until(&backend, "card gone from the listing", |readers| {
        readers.iter().any(|reader| reader.id == rig.id(0) && reader.card.is_none())
    });
    rig.readers[0].insert(tiny_card(&ATR_B));
    rig.wait_for_card(&backend, 0, &ATR_B);
    let card = backend.connect(&rig.id(0), DEADLINE).expect("session");
    assert_eq!(card.atr(), ATR_B);
}

#[test]
fn a_killed_pcscd_is_reported_and_a_restarted_one_is_picked_up() {
    let mut rig = Rig::start(1);
    let backend = rig.backend();
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session");

    rig.pcscd.kill().expect("pcscd killed");
    let failed = card.transmit(&SELECT).err();
    assert!(matches!(failed, Some(CardError::Transport(_))), "{failed:?}");
    drop(card);
    rig.wait_until(&backend, "service reported gone", |readers| {
        readers.is_empty() && matches!(backend.status(), ServiceStatus::Unavailable(_))
    });
    let refused = backend.connect(&rig.id(0), DEADLINE).err();
    assert!(matches!(refused, Some(ReaderError::ServiceUnavailable(_))), "{refused:?}");

    rig.pcscd.restart().expect("pcscd restarted");
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session after restart");
    assert_eq!(card.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
    assert_eq!(backend.status(), ServiceStatus::Running);
}

#[test]
fn a_backend_started_without_pcscd_lists_nothing_then_recovers() {
    let mut rig = Rig::start(1);
    rig.pcscd.kill().expect("pcscd killed");
    let backend = rig.backend();
    assert!(backend.readers().is_empty());
    assert!(matches!(backend.status(), ServiceStatus::Unavailable(_)), "{:?}", backend.status());

    rig.pcscd.restart().expect("pcscd started");
    rig.wait_for_card(&backend, 0, &ATR_A);
    let mut card = backend.connect(&rig.id(0), DEADLINE).expect("session");
    assert_eq!(card.transmit(&SELECT).expect("transmit"), [0x90, 0x00]);
}

/// Answers SELECT and VERIFY with 9000, everything else 6D00.
struct TinyCard {
    atr: Vec<u8>,
}

impl CardLogic for TinyCard {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn reset(&mut self) {}

    fn execute(&mut self, command: &Command) -> (Vec<u8>, StatusWord) {
        match command.ins() {
            0xA4 | 0x20 => (Vec::new(), StatusWord::SUCCESS),
            _ => (Vec::new(), StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

fn tiny_card(atr: &[u8]) -> Box<dyn VirtualCard> {
    Box::new(T0::new(TinyCard { atr: atr.to_vec() }))
}

/// A private pcscd with `count` readers, a bridge per reader and card A in each.
struct Rig {
    pcscd: PrivatePcscd,
    readers: Vec<VirtualReader>,
    _bridges: Vec<VpcdBridge>,
}

impl Rig {
    fn start(count: usize) -> Self {
        let pcscd = PrivatePcscd::start(count).expect("private pcscd starts");
        // SAFETY: one test per process (nextest), and no other thread has started yet.
        #[allow(unsafe_code)]
        unsafe {
            pcscd.use_for_this_process()
        };
        let mut readers = Vec::new();
        let mut bridges = Vec::new();
        for i in 0..count {
            let reader = VirtualReader::new(format!("virtual {i}"));
            reader.insert(tiny_card(&ATR_A));
            let port = pcscd.port(i).expect("reader exists");
            bridges.push(VpcdBridge::start(reader.clone(), "127.0.0.1", port).expect("bridge"));
            readers.push(reader);
        }
        Self { pcscd, readers, _bridges: bridges }
    }

    fn backend(&self) -> PcscBackend {
        self.backend_with(self.config())
    }

    fn config(&self) -> PcscConfig {
        let mut config = PcscConfig::default();
        config.max_backoff = Duration::from_millis(200);
        config
    }

    fn backend_with(&self, config: PcscConfig) -> PcscBackend {
        PcscBackend::start(config).expect("backend starts")
    }

    fn name(&self, i: usize) -> String {
        self.pcscd.reader_name(i).expect("reader exists")
    }

    fn id(&self, i: usize) -> ReaderId {
        ReaderId::from_name(&self.name(i))
    }

    fn wait_for_card(&self, backend: &PcscBackend, i: usize, atr: &[u8]) {
        self.wait_until(backend, &format!("card {atr:02X?} in reader {i}"), |readers| {
            card_atr(readers, &self.id(i)).as_deref() == Some(atr)
        });
    }

    /// Polls the backend's listing until `accept` takes it, or fails with pcscd's log.
    fn wait_until(
        &self,
        backend: &PcscBackend,
        what: &str,
        accept: impl Fn(&[ReaderInfo]) -> bool,
    ) -> Vec<ReaderInfo> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let readers = backend.readers();
            if accept(&readers) {
                return readers;
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.pcscd.log_path()).unwrap_or_default();
                panic!(
                    "waited in vain for {what}: {readers:?}, {:?}\npcscd log:\n{log}",
                    backend.status()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn card_atr(readers: &[ReaderInfo], id: &ReaderId) -> Option<Vec<u8>> {
    readers.iter().find(|reader| &reader.id == id)?.card.as_ref().map(|card| card.atr.clone())
}
