//! Property tests of the APDU, TLV and ISO 7816 helpers: nothing panics on arbitrary bytes,
//! encoders and parsers round-trip, and the card loops always end.

use proptest::collection::vec;
use proptest::prelude::*;
use t1c_sdk::apdu::{Command, MAX_LE, Response};
use t1c_sdk::card::{Card, CardError};
use t1c_sdk::iso7816::{self, MAX_GET_RESPONSES, ReadLimits};
use t1c_sdk::pin::{Pin, PinVerifyRequest};
use t1c_sdk::tlv::ber::{self, Tag};
use t1c_sdk::tlv::simple::{self, SimpleTlv};

/// A card answering with `answers` in turn, over and over (or failing if there are none).
struct ArbitraryCard {
    answers: Vec<Vec<u8>>,
    next: usize,
    transmits: usize,
}

impl ArbitraryCard {
    fn new(answers: Vec<Vec<u8>>) -> Self {
        Self { answers, next: 0, transmits: 0 }
    }
}

impl Card for ArbitraryCard {
    fn atr(&self) -> Vec<u8> {
        Vec::new()
    }

    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.transmits += 1;
        if self.answers.is_empty() {
            return Err(CardError::Transport("no answers".into()));
        }
        let answer = self.answers[self.next % self.answers.len()].clone();
        self.next += 1;
        Ok(answer)
    }

    fn verify_pin(&mut self, _: &PinVerifyRequest, _: Option<&Pin<'_>>) -> Result<u16, CardError> {
        Err(CardError::NotSupported("verify".into()))
    }
}

/// Answers a card might give, biased towards the status words the helpers act on.
fn card_answer() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        Just([0x90, 0x00]),
        Just([0x62, 0x82]),
        Just([0x6B, 0x00]),
        any::<u8>().prop_map(|sw2| [0x61, sw2]),
        any::<u8>().prop_map(|sw2| [0x6C, sw2]),
        any::<[u8; 2]>(),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..4),
        (vec(any::<u8>(), 0..300), status).prop_map(|(mut data, sw)| {
            data.extend_from_slice(&sw);
            data
        }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let data = prop_oneof![4 => vec(any::<u8>(), 0..=300), 1 => vec(any::<u8>(), 0..=70_000)];
    let le = prop_oneof![Just(None), (1..=MAX_LE).prop_map(Some), (1..=256u32).prop_map(Some)];
    (any::<[u8; 4]>(), data, le).prop_filter_map(
        "data too long",
        |([cla, ins, p1, p2], data, le)| {
            let command = Command::new(cla, ins, p1, p2).with_data(data).ok()?;
            match le {
                Some(le) => command.with_le(le).ok(),
                None => Some(command),
            }
        },
    )
}

/// Well-formed BER tags of one to four bytes, constructed or primitive.
fn tag(constructed: bool) -> impl Strategy<Value = Tag> {
    let form = if constructed { 0x20u8 } else { 0x00 };
    let single =
        (0u8..4, 0u8..0x1F).prop_map(move |(class, number)| u32::from(class << 6 | form | number));
    let multi =
        (0u8..4, vec(0x80u8..=0xFF, 0..=2), 0u8..0x80).prop_map(move |(class, middle, last)| {
            let mut raw = u32::from(class << 6 | form | 0x1F);
            for byte in middle {
                raw = raw << 8 | u32::from(byte);
            }
            raw << 8 | u32::from(last)
        });
    prop_oneof![single, multi].prop_filter_map("not a valid tag", Tag::new)
}

#[derive(Debug, Clone)]
enum Node {
    Primitive(Tag, Vec<u8>),
    Constructed(Tag, Vec<Node>),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf =
        (tag(false), vec(any::<u8>(), 0..200)).prop_map(|(tag, value)| Node::Primitive(tag, value));
    leaf.prop_recursive(6, 64, 5, |inner| {
        (tag(true), vec(inner, 0..5)).prop_map(|(tag, children)| Node::Constructed(tag, children))
    })
}

fn encode_node(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Primitive(tag, value) => ber::encode(*tag, value, out).expect("encodable"),
        Node::Constructed(tag, children) => {
            let mut value = Vec::new();
            for child in children {
                encode_node(child, &mut value);
            }
            ber::encode(*tag, &value, out).expect("encodable");
        }
    }
}

fn assert_matches(node: &Node, element: &ber::Tlv<'_>) {
    match node {
        Node::Primitive(tag, value) => {
            assert_eq!(element.tag(), *tag);
            assert_eq!(element.value(), value.as_slice());
        }
        Node::Constructed(tag, children) => {
            assert_eq!(element.tag(), *tag);
            let parsed: Vec<_> =
                element.children().collect::<Result<_, _>>().expect("valid children");
            assert_eq!(parsed.len(), children.len());
            for (child, parsed) in children.iter().zip(&parsed) {
                assert_matches(child, parsed);
            }
        }
    }
}

/// Walks every element at every depth; returns how many there were.
fn walk(iter: ber::Iter<'_>) -> usize {
    let mut count = 0;
    for element in iter {
        let Ok(element) = element else { break };
        count += 1 + walk(element.children());
    }
    count
}

proptest! {
    #[test]
    fn command_parse_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        let _ = Command::parse(&bytes);
    }

    #[test]
    fn parsed_command_re_encodes_to_an_equal_command(bytes in vec(any::<u8>(), 0..600)) {
        if let Ok(command) = Command::parse(&bytes) {
            prop_assert_eq!(Command::parse(&command.to_bytes()), Ok(command));
        }
    }

    #[test]
    fn response_parse_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(response) = Response::parse(&bytes) {
            prop_assert_eq!(response.to_bytes(), bytes);
        }
    }

    #[test]
    fn command_round_trips(command in command()) {
        let bytes = command.to_bytes();
        prop_assert_eq!(bytes.len() > 4 && bytes[4] == 0 && bytes.len() > 5, command.is_extended());
        prop_assert_eq!(Command::parse(&bytes), Ok(command));
    }

    #[test]
    fn simple_parse_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        for element in simple::parse(&bytes) {
            if element.is_err() {
                break;
            }
        }
    }

    #[test]
    fn simple_round_trips(elements in vec((any::<u8>(), vec(any::<u8>(), 0..600)), 0..8)) {
        let mut bytes = Vec::new();
        for (tag, value) in &elements {
            simple::encode(*tag, value, &mut bytes);
        }
        // Documented: a final tag-00 element with an empty value reads as zero padding.
        let mut expected: Vec<_> =
            elements.iter().map(|(tag, value)| SimpleTlv { tag: *tag, value }).collect();
        while expected.last().is_some_and(|e| e.tag == 0 && e.value.is_empty()) {
            expected.pop();
        }
        let parsed: Vec<_> = simple::parse(&bytes).collect::<Result<_, _>>().expect("valid");
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn simple_round_trips_with_zero_padding(
        elements in vec((1..=0xFFu8, vec(any::<u8>(), 0..300)), 0..8),
        padding in 0usize..100,
    ) {
        let mut bytes = Vec::new();
        for (tag, value) in &elements {
            simple::encode(*tag, value, &mut bytes);
        }
        bytes.resize(bytes.len() + padding, 0);
        let parsed: Vec<_> = simple::parse(&bytes)
            .map(|e| e.map(|e| (e.tag, e.value.to_vec())))
            .collect::<Result<_, _>>()
            .expect("valid");
        prop_assert_eq!(parsed, elements);
    }

    #[test]
    fn ber_parse_and_walk_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        let _ = walk(ber::parse(&bytes));
        if let Some(tag) = Tag::new(u32::from(bytes.first().copied().unwrap_or(1))) {
            let _ = ber::find(&bytes, tag);
        }
    }

    #[test]
    fn ber_parse_of_nested_constructed_bytes_never_panics(depth in 0usize..100, tail in vec(any::<u8>(), 0..20)) {
        // Deep nesting: 30 80 is rejected, 30 LL with a fitting length nests.
        let mut bytes = tail;
        for _ in 0..depth {
            let mut outer = Vec::new();
            ber::encode(Tag::new(0x30).expect("tag"), &bytes, &mut outer).expect("encodable");
            bytes = outer;
        }
        let _ = walk(ber::parse(&bytes));
        let _ = ber::find(&bytes, Tag::new(0x04).expect("tag"));
    }

    #[test]
    fn ber_siblings_round_trip(elements in vec((prop_oneof![tag(false), tag(true)], vec(any::<u8>(), 0..300)), 0..8)) {
        let mut bytes = Vec::new();
        for (tag, value) in &elements {
            ber::encode(*tag, value, &mut bytes).expect("encodable");
        }
        let parsed: Vec<_> = ber::parse(&bytes)
            .map(|e| e.map(|e| (e.tag(), e.value().to_vec())))
            .collect::<Result<_, _>>()
            .expect("valid");
        prop_assert_eq!(parsed, elements);
    }

    #[test]
    fn ber_trees_round_trip(tree in node()) {
        let mut bytes = Vec::new();
        encode_node(&tree, &mut bytes);
        let parsed: Vec<_> = ber::parse(&bytes).collect::<Result<_, _>>().expect("valid");
        prop_assert_eq!(parsed.len(), 1);
        assert_matches(&tree, &parsed[0]);
    }

    #[test]
    fn transceive_ends_against_any_card(command in command(), answers in vec(card_answer(), 0..8)) {
        let mut card = ArbitraryCard::new(answers);
        let _ = iso7816::transceive(&mut card, &command);
        prop_assert!(card.transmits <= 2 + MAX_GET_RESPONSES);
    }

    #[test]
    fn read_file_ends_against_any_card(
        answers in vec(card_answer(), 0..8),
        max_chunk in 0usize..=300,
        max_size in 0usize..=4096,
    ) {
        let mut card = ArbitraryCard::new(answers);
        if let Ok(file) = iso7816::read_file_with_limits(&mut card, ReadLimits { max_chunk, max_size }) {
            prop_assert!(file.len() <= max_size);
        }
    }

    #[test]
    fn read_file_with_default_limits_ends_against_any_card(
        answers in vec(card_answer(), 0..4),
        max_chunk in 1usize..=256,
    ) {
        let mut card = ArbitraryCard::new(answers);
        let _ = iso7816::read_file(&mut card, max_chunk);
    }
}
