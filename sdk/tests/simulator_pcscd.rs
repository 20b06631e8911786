//! The card simulator behind a real, private `pcscd` with vpcd readers, checked with the
//! ordinary PC/SC client library.
//!
//! Each test points `libpcsclite` at its own daemon through `PCSCLITE_CSOCK_NAME`, which the
//! library reads once per process: run these with `cargo nextest` (one process per test).
#![cfg(all(feature = "simulator", target_os = "linux"))]

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};

use t1c_sdk::apdu::Command;
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::t0::{CardLogic, T0};
use t1c_sdk::simulator::vpcd::VpcdBridge;
use t1c_sdk::simulator::{VirtualCard, VirtualReader};
use t1c_sdk::status::StatusWord;

const ATR_A: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];
const ATR_B: [u8; 4] = [0x3B, 0x02, 0x14, 0x51];
const SELECT: [u8; 7] = [0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00];
/// How long pcscd may take to notice a change (it polls vpcd about every 400 ms).
const DEADLINE: Duration = Duration::from_secs(10);

/// Answers SELECT with 9000 and GET DATA (`CA`) with the card's ATR, everything else 6D00.
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
            0xA4 => (Vec::new(), StatusWord::SUCCESS),
            0xCA => (self.atr.clone(), StatusWord::SUCCESS),
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
    bridges: Vec<VpcdBridge>,
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
        Self { pcscd, readers, bridges }
    }

    fn name(&self, i: usize) -> CString {
        CString::new(self.pcscd.reader_name(i).expect("reader exists")).expect("no NUL")
    }

    /// Waits until pcscd reports reader `i` in a state `accept` takes, returning its ATR.
    fn wait_for(
        &self,
        context: &Context,
        i: usize,
        accept: impl Fn(State, &[u8]) -> bool,
    ) -> Vec<u8> {
        let deadline = Instant::now() + DEADLINE;
        let mut states = [ReaderState::new(self.name(i), State::UNAWARE)];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match context.get_status_change(remaining, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => {
                    self.fail(&format!("reader {i} timed out in {:?}", states[0].event_state()))
                }
                Err(err) => self.fail(&format!("get_status_change: {err}")),
            }
            let state = &mut states[0];
            if accept(state.event_state(), state.atr()) {
                return state.atr().to_vec();
            }
            state.sync_current_state();
        }
    }

    fn wait_present(&self, context: &Context, i: usize, atr: &[u8]) {
        self.wait_for(context, i, |state, seen| state.contains(State::PRESENT) && seen == atr);
    }

    fn wait_empty(&self, context: &Context, i: usize) {
        self.wait_for(context, i, |state, _| state.contains(State::EMPTY));
    }

    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(self.pcscd.log_path()).unwrap_or_default();
        panic!("{what}; pcscd log:\n{log}");
    }
}

fn context() -> Context {
    Context::establish(Scope::User).expect("PC/SC context")
}

fn transmit(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    card.transmit(apdu, &mut buffer).expect("transmit").to_vec()
}

#[test]
fn both_readers_are_listed_with_the_card_and_its_atr() {
    let rig = Rig::start(2);
    let context = context();
    let listed = context.list_readers_owned().expect("readers listed");
    for i in 0..2 {
        assert!(listed.contains(&rig.name(i)), "{:?} not in {listed:?}", rig.name(i));
        rig.wait_present(&context, i, &ATR_A);
    }
}

#[test]
fn a_command_round_trips_through_pcscd() {
    let rig = Rig::start(2);
    let context = context();
    rig.wait_present(&context, 1, &ATR_A);
    let card = context.connect(&rig.name(1), ShareMode::Shared, Protocols::ANY).expect("connect");
    assert_eq!(card.status2_owned().expect("status").atr(), ATR_A);
    assert_eq!(transmit(&card, &SELECT), [0x90, 0x00]);
    // T=0 semantics survive the trip: 61xx, then GET RESPONSE.
    assert_eq!(transmit(&card, &[0x00, 0xCA, 0x00, 0x00, 0x01, 0x00, 0x00]), [0x61, 0x04]);
    let mut expected = ATR_A.to_vec();
    expected.extend([0x90, 0x00]);
    assert_eq!(transmit(&card, &[0x00, 0xC0, 0x00, 0x00, 0x04]), expected);
}

#[test]
fn removing_the_card_empties_the_reader_in_pcscd() {
    let rig = Rig::start(2);
    let context = context();
    rig.wait_present(&context, 0, &ATR_A);
    rig.readers[0].remove();
    rig.wait_empty(&context, 0);
    // The other reader keeps its card.
    rig.wait_present(&context, 1, &ATR_A);
}

#[test]
fn a_reinserted_card_is_present_again() {
    let rig = Rig::start(2);
    let context = context();
    let card = rig.readers[0].remove().expect("card inserted");
    rig.wait_empty(&context, 0);
    rig.readers[0].insert(card);
    rig.wait_present(&context, 0, &ATR_A);
    let card = context.connect(&rig.name(0), ShareMode::Shared, Protocols::ANY).expect("connect");
    assert_eq!(transmit(&card, &SELECT), [0x90, 0x00]);
}

#[test]
fn a_swapped_card_shows_its_atr_and_ends_the_old_connection() {
    let rig = Rig::start(2);
    let context = context();
    rig.wait_present(&context, 0, &ATR_A);
    let old = context.connect(&rig.name(0), ShareMode::Shared, Protocols::ANY).expect("connect");
    rig.readers[0].swap(tiny_card(&ATR_B));
    rig.wait_present(&context, 0, &ATR_B);
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    assert!(old.transmit(&SELECT, &mut buffer).is_err(), "the old card's handle must fail");
    let new = context.connect(&rig.name(0), ShareMode::Shared, Protocols::ANY).expect("connect");
    assert_eq!(new.status2_owned().expect("status").atr(), ATR_B);
}

#[test]
fn stopping_the_bridge_takes_the_card_away() {
    let mut rig = Rig::start(2);
    let context = context();
    rig.wait_present(&context, 0, &ATR_A);
    let started = Instant::now();
    rig.bridges[0].stop();
    assert!(started.elapsed() < Duration::from_secs(1), "stop must be prompt");
    assert!(!rig.bridges[0].is_connected());
    rig.wait_empty(&context, 0);
}

#[test]
fn the_bridge_reconnects_after_pcscd_restarts() {
    let mut rig = Rig::start(2);
    {
        let context = context();
        rig.wait_present(&context, 0, &ATR_A);
    }
    rig.pcscd.kill().expect("pcscd killed");
    assert!(!rig.pcscd.is_running());
    rig.pcscd.restart().expect("pcscd restarted");
    // Contexts die with the daemon; a new one reaches the restarted daemon on the same socket.
    let context = context();
    for i in 0..2 {
        rig.wait_present(&context, i, &ATR_A);
    }
    let card = context.connect(&rig.name(0), ShareMode::Shared, Protocols::ANY).expect("connect");
    assert_eq!(transmit(&card, &SELECT), [0x90, 0x00]);
}

#[test]
fn a_private_pcscd_needs_at_least_one_reader() {
    let err = PrivatePcscd::start(0).expect_err("no readers");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn an_odd_reader_count_still_gives_each_reader_its_own_port_and_name() {
    let pcscd = PrivatePcscd::start(3).expect("private pcscd starts");
    let ports: Vec<u16> = (0..3).filter_map(|i| pcscd.port(i)).collect();
    assert_eq!(ports.len(), 3);
    assert_eq!(ports[1], ports[0] + 1);
    assert!(pcscd.port(3).is_none());
    assert_eq!(pcscd.reader_name(2).as_deref(), Some("T1C Virtual PCD 1 00 00"));
    let name: &CStr = &CString::new(pcscd.reader_name(0).expect("reader 0")).expect("no NUL");
    assert_eq!(name.to_str().ok(), Some("T1C Virtual PCD 0 00 00"));
}
