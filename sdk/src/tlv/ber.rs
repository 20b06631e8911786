//! BER-TLV as ISO 7816-4 uses it (a subset of X.690 BER).
//!
//! - Tags of one to four bytes: a first byte whose low five bits are all set (`xx & 1F == 1F`)
//!   is followed by bytes with bit 8 set, up to a last byte with bit 8 clear. Bit 6 of the
//!   first byte marks a constructed element, whose value is itself BER-TLV.
//! - Definite lengths only: one byte below `80`, or `81` to `84` followed by one to four
//!   length bytes. The indefinite length (`80`) and longer forms are errors.
//! - `00` and `FF` bytes where a tag would start are padding and are skipped (ISO 7816-4
//!   allows them before, between and after data objects; neither is a valid first tag byte).
//!
//! [`parse`] iterates over sibling elements; [`Tlv::children`] over the elements inside a
//! constructed one. Nesting is limited to [`MAX_DEPTH`] levels, so walking hostile data
//! recursively cannot exhaust the stack.

use std::fmt;
use std::iter::FusedIterator;

use super::TlvError;

/// Deepest nesting the parser accepts: top-level elements are at depth 0, and an element
/// at depth `MAX_DEPTH` or deeper is a [`TlvError::TooDeep`].
pub const MAX_DEPTH: usize = 32;

/// A BER-TLV tag: its one to four encoded bytes as a big-endian number (`5F20` is the
/// two-byte tag `5F 20`).
///
/// Valid by construction: only [`Tag::new`] and the parser make one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// The tag whose encoded bytes, big-endian, are `raw`; `None` if those bytes are not a
    /// well-formed tag (see the [module documentation](self)), or start with `00` or `FF`.
    ///
    /// ```
    /// # use t1c_sdk::tlv::ber::Tag;
    /// assert!(Tag::new(0x5F20).is_some());
    /// assert!(Tag::new(0x1F).is_none()); // announces a second byte
    /// ```
    pub const fn new(raw: u32) -> Option<Self> {
        let len = encoded_len(raw);
        let first = (raw >> (8 * (len - 1))) as u8;
        // Leading zero bytes are not part of the tag, so the first byte is 00 only for 0.
        if raw == 0 || first == 0xFF {
            return None;
        }
        if len == 1 {
            return if first & 0x1F == 0x1F { None } else { Some(Self(raw)) };
        }
        if first & 0x1F != 0x1F {
            return None;
        }
        // Subsequent bytes: bit 8 set on all but the last.
        let mut index = len - 1;
        while index > 0 {
            index -= 1;
            let byte = (raw >> (8 * index)) as u8;
            let last = index == 0;
            if (byte & 0x80 == 0) != last {
                return None;
            }
        }
        Some(Self(raw))
    }

    /// The encoded bytes as a big-endian number.
    pub const fn to_u32(self) -> u32 {
        self.0
    }

    /// Whether the element's value is itself BER-TLV (bit 6 of the first byte).
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The tag's class (bits 8 and 7 of the first byte).
    pub const fn class(self) -> TagClass {
        match self.first_byte() >> 6 {
            0 => TagClass::Universal,
            1 => TagClass::Application,
            2 => TagClass::ContextSpecific,
            _ => TagClass::Private,
        }
    }

    /// Number of bytes of the encoded tag, 1 to 4.
    pub const fn encoded_len(self) -> usize {
        encoded_len(self.0)
    }

    /// Appends the encoded tag to `out`.
    pub fn encode(self, out: &mut Vec<u8>) {
        let bytes = self.0.to_be_bytes();
        let skip = bytes.len() - self.encoded_len();
        out.extend(bytes.iter().skip(skip));
    }

    const fn first_byte(self) -> u8 {
        (self.0 >> (8 * (self.encoded_len() - 1))) as u8
    }
}

impl fmt::Display for Tag {
    /// The encoded bytes in upper-case hex: `5F20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$X}", self.0, width = 2 * self.encoded_len())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

/// The class of a [`Tag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagClass {
    /// Universal (`00xxxxxx`), ASN.1 types.
    Universal,
    /// Application (`01xxxxxx`), interindustry data objects such as `6F` or `5F20`.
    Application,
    /// Context-specific (`10xxxxxx`), such as `84` or `A5`.
    ContextSpecific,
    /// Private (`11xxxxxx`).
    Private,
}

/// One BER-TLV element, borrowing its value from the parsed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    tag: Tag,
    value: &'a [u8],
    offset: usize,
    value_offset: usize,
    depth: usize,
}

impl<'a> Tlv<'a> {
    /// The tag.
    pub fn tag(&self) -> Tag {
        self.tag
    }

    /// The value bytes.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Offset of the element's first byte from the start of the outermost parsed data.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Nesting depth: 0 for elements returned by [`parse`], one more for each
    /// [`Tlv::children`] level.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the value is itself BER-TLV.
    pub fn is_constructed(&self) -> bool {
        self.tag.is_constructed()
    }

    /// The elements inside this one's value. Empty for a primitive element; parse its
    /// [`value`](Tlv::value) with [`parse`] to read it as BER-TLV anyway.
    ///
    /// The children of an element at depth [`MAX_DEPTH`]` - 1` are a [`TlvError::TooDeep`].
    pub fn children(&self) -> Iter<'a> {
        let value = if self.is_constructed() { self.value } else { &[] };
        Iter { data: value, pos: 0, base: self.value_offset, depth: self.depth + 1, done: false }
    }

    /// The first element tagged `tag` among this one's descendants, depth first.
    ///
    /// # Errors
    /// The first error met before finding it.
    pub fn find(&self, tag: Tag) -> Result<Option<Tlv<'a>>, TlvError> {
        find_in(self.children(), tag)
    }
}

/// The top-level elements of `data`, in order.
///
/// The iterator returns an error for the first malformed element and then ends.
pub fn parse(data: &[u8]) -> Iter<'_> {
    Iter { data, pos: 0, base: 0, depth: 0, done: false }
}

/// The first element tagged `tag` in `data`, at any depth, depth first.
///
/// # Errors
/// The first error met before finding it (only the data before the match is examined).
pub fn find(data: &[u8], tag: Tag) -> Result<Option<Tlv<'_>>, TlvError> {
    find_in(parse(data), tag)
}

/// Appends the element `tag`, `value` to `out`, with the shortest definite length.
///
/// # Errors
/// [`TlvError::ValueTooLong`] for a value of more than `u32::MAX` bytes; `out` is unchanged.
pub fn encode(tag: Tag, value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    let length =
        u32::try_from(value.len()).map_err(|_| TlvError::ValueTooLong { length: value.len() })?;
    out.reserve(tag.encoded_len() + 5 + value.len());
    tag.encode(out);
    let bytes = length.to_be_bytes();
    let significant = bytes.iter().skip_while(|byte| **byte == 0).count();
    if length < 0x80 {
        out.extend(bytes.iter().skip(3));
    } else {
        out.push(0x80 | significant as u8);
        out.extend(bytes.iter().skip(bytes.len() - significant));
    }
    out.extend_from_slice(value);
    Ok(())
}

/// Iterator over sibling BER-TLV elements, from [`parse`] or [`Tlv::children`]. After an
/// error it returns `None`.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data` in the outermost parsed data.
    base: usize,
    depth: usize,
    done: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let padding = rest.iter().take_while(|byte| matches!(byte, 0x00 | 0xFF)).count();
        self.pos += padding;
        let rest = rest.get(padding..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let offset = self.base + self.pos;
        let result = if self.depth >= MAX_DEPTH {
            Err(TlvError::TooDeep { offset, max_depth: MAX_DEPTH })
        } else {
            read_element(rest, offset, self.depth)
        };
        match &result {
            Ok((_, len)) => self.pos += len,
            Err(_) => self.done = true,
        }
        Some(result.map(|(element, _)| element))
    }
}

impl FusedIterator for Iter<'_> {}

/// Depth-first search without recursion; the stack is bounded by [`MAX_DEPTH`].
fn find_in(iter: Iter<'_>, tag: Tag) -> Result<Option<Tlv<'_>>, TlvError> {
    let mut stack = vec![iter];
    while let Some(iter) = stack.last_mut() {
        match iter.next() {
            None => {
                stack.pop();
            }
            Some(Err(err)) => return Err(err),
            Some(Ok(element)) if element.tag == tag => return Ok(Some(element)),
            Some(Ok(element)) => {
                if element.is_constructed() {
                    stack.push(element.children());
                }
            }
        }
    }
    Ok(None)
}

/// The element at the start of `bytes` (found at `offset`) and its encoded length.
fn read_element(bytes: &[u8], offset: usize, depth: usize) -> Result<(Tlv<'_>, usize), TlvError> {
    let (tag, tag_len) = read_tag(bytes, offset)?;
    let after_tag = bytes.get(tag_len..).unwrap_or_default();
    let (length, length_len) = read_length(after_tag, offset)?;
    let header_len = tag_len + length_len;
    let after_header = bytes.get(header_len..).unwrap_or_default();
    let value = after_header.get(..length).ok_or(TlvError::LengthOverflow {
        offset,
        length,
        available: after_header.len(),
    })?;
    let element = Tlv { tag, value, offset, value_offset: offset + header_len, depth };
    Ok((element, header_len + length))
}

/// The tag at the start of `bytes` and its length.
fn read_tag(bytes: &[u8], offset: usize) -> Result<(Tag, usize), TlvError> {
    const MAX_TAG_LEN: usize = 4;
    let [first, subsequent @ ..] = bytes else {
        return Err(TlvError::Truncated { offset });
    };
    let mut raw = u32::from(*first);
    if first & 0x1F != 0x1F {
        return Ok((Tag(raw), 1));
    }
    for (index, byte) in subsequent.iter().enumerate() {
        let len = index + 2;
        if len > MAX_TAG_LEN {
            return Err(TlvError::TagTooLong { offset });
        }
        raw = raw << 8 | u32::from(*byte);
        if byte & 0x80 == 0 {
            return Ok((Tag(raw), len));
        }
    }
    if subsequent.len() + 1 >= MAX_TAG_LEN {
        Err(TlvError::TagTooLong { offset })
    } else {
        Err(TlvError::Truncated { offset })
    }
}

/// The definite length at the start of `bytes` and the number of bytes it takes.
fn read_length(bytes: &[u8], offset: usize) -> Result<(usize, usize), TlvError> {
    let [first, rest @ ..] = bytes else {
        return Err(TlvError::Truncated { offset });
    };
    match first {
        0x00..=0x7F => Ok((usize::from(*first), 1)),
        0x80 => Err(TlvError::IndefiniteLength { offset }),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            let digits = rest.get(..count).ok_or(TlvError::Truncated { offset })?;
            let length = digits.iter().fold(0u32, |acc, byte| acc << 8 | u32::from(*byte));
            Ok((usize::try_from(length).unwrap_or(usize::MAX), 1 + count))
        }
        _ => Err(TlvError::UnsupportedLength { offset, first_byte: *first }),
    }
}

/// Number of significant bytes of `raw`, at least 1.
const fn encoded_len(raw: u32) -> usize {
    let significant = 4 - (raw.leading_zeros() / 8) as usize;
    if significant == 0 { 1 } else { significant }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(raw: u32) -> Tag {
        Tag::new(raw).expect("valid tag")
    }

    fn tlvs(data: &[u8]) -> Vec<Result<(Tag, &[u8]), TlvError>> {
        parse(data).map(|r| r.map(|e| (e.tag(), e.value()))).collect()
    }

    #[test]
    fn parses_single_byte_tag_and_short_length() {
        assert_eq!(tlvs(&[0x84, 0x02, 0xA0, 0x00]), [Ok((tag(0x84), &[0xA0, 0x00][..]))]);
    }

    #[test]
    fn parses_multi_byte_tags() {
        assert_eq!(tlvs(&[0x5F, 0x20, 0x01, 0x41]), [Ok((tag(0x5F20), &b"A"[..]))]);
        assert_eq!(tlvs(&[0x9F, 0x81, 0x01, 0x00]), [Ok((tag(0x9F8101), &[][..]))]);
        assert_eq!(tlvs(&[0xDF, 0x81, 0x82, 0x03, 0x00]), [Ok((tag(0xDF818203), &[][..]))]);
    }

    #[test]
    fn tag_of_five_bytes_is_too_long() {
        assert_eq!(
            tlvs(&[0x5F, 0x81, 0x82, 0x83, 0x04, 0x00]),
            [Err(TlvError::TagTooLong { offset: 0 })]
        );
        assert_eq!(tlvs(&[0x5F, 0x81, 0x82, 0x83]), [Err(TlvError::TagTooLong { offset: 0 })]);
    }

    #[test]
    fn unfinished_tag_is_truncated() {
        assert_eq!(tlvs(&[0x5F]), [Err(TlvError::Truncated { offset: 0 })]);
        assert_eq!(tlvs(&[0x5F, 0x81]), [Err(TlvError::Truncated { offset: 0 })]);
    }

    #[test]
    fn parses_long_form_lengths() {
        for header in [
            vec![0x04, 0x81, 0x80],
            vec![0x04, 0x82, 0x00, 0x80],
            vec![0x04, 0x83, 0x00, 0x00, 0x80],
            vec![0x04, 0x84, 0x00, 0x00, 0x00, 0x80],
        ] {
            let mut data = header;
            data.extend([0x33; 0x80]);
            let parsed = tlvs(&data);
            assert_eq!(parsed, [Ok((tag(0x04), &[0x33; 0x80][..]))]);
        }
    }

    #[test]
    fn indefinite_length_is_rejected() {
        assert_eq!(
            tlvs(&[0x30, 0x80, 0x00, 0x00]),
            [Err(TlvError::IndefiniteLength { offset: 0 })]
        );
    }

    #[test]
    fn length_form_85_and_up_is_rejected() {
        assert_eq!(
            tlvs(&[0x04, 0x85, 0, 0, 0, 0, 1, 0]),
            [Err(TlvError::UnsupportedLength { offset: 0, first_byte: 0x85 })]
        );
    }

    #[test]
    fn length_past_the_end_is_rejected() {
        assert_eq!(
            tlvs(&[0x04, 0x82, 0xFF, 0xFF, 0x00]),
            [Err(TlvError::LengthOverflow { offset: 0, length: 0xFFFF, available: 1 })]
        );
    }

    #[test]
    fn unfinished_length_is_truncated() {
        assert_eq!(tlvs(&[0x04]), [Err(TlvError::Truncated { offset: 0 })]);
        assert_eq!(tlvs(&[0x04, 0x82, 0x01]), [Err(TlvError::Truncated { offset: 0 })]);
    }

    #[test]
    fn padding_00_and_ff_is_skipped() {
        let data = [0x00, 0xFF, 0x80, 0x01, 0x11, 0x00, 0x00, 0x81, 0x00, 0xFF];
        assert_eq!(tlvs(&data), [Ok((tag(0x80), &[0x11][..])), Ok((tag(0x81), &[][..]))]);
    }

    #[test]
    fn children_of_constructed_element() {
        // FCI: 6F { 84 A0 00, A5 { 88 01 } }
        let data = [0x6F, 0x09, 0x84, 0x02, 0xA0, 0x00, 0xA5, 0x03, 0x88, 0x01, 0x01];
        let fci = parse(&data).next().expect("one element").expect("valid");
        assert!(fci.is_constructed());
        let children: Vec<_> = fci.children().collect::<Result<_, _>>().expect("valid");
        assert_eq!(children.len(), 2);
        assert_eq!(children[0].tag(), tag(0x84));
        assert_eq!(children[0].offset(), 2);
        assert_eq!(children[1].tag(), tag(0xA5));
        assert_eq!(children[1].depth(), 1);
        let grandchild = children[1].children().next().expect("one").expect("valid");
        assert_eq!(
            (grandchild.tag(), grandchild.value(), grandchild.offset()),
            (tag(0x88), &[0x01][..], 8)
        );
    }

    #[test]
    fn primitive_element_has_no_children() {
        let element = parse(&[0x84, 0x02, 0x84, 0x00]).next().expect("one").expect("valid");
        assert_eq!(element.children().count(), 0);
    }

    #[test]
    fn child_error_offsets_are_absolute() {
        let data = [0x01, 0x00, 0x6F, 0x02, 0x84, 0x05];
        let outer = parse(&data).nth(1).expect("two").expect("valid");
        assert_eq!(
            outer.children().next(),
            Some(Err(TlvError::LengthOverflow { offset: 4, length: 5, available: 0 }))
        );
    }

    #[test]
    fn find_searches_depth_first() {
        let data = [0x6F, 0x09, 0x84, 0x02, 0xA0, 0x00, 0xA5, 0x03, 0x88, 0x01, 0x07, 0x88, 0x00];
        let found = find(&data, tag(0x88)).expect("valid").expect("present");
        assert_eq!(found.value(), [0x07]);
        assert_eq!(find(&data, tag(0x5F20)), Ok(None));
        let fci = parse(&data).next().expect("one").expect("valid");
        assert_eq!(fci.find(tag(0x84)).expect("valid").map(|e| e.value()), Some(&[0xA0, 0x00][..]));
    }

    #[test]
    fn find_reports_errors_before_the_match() {
        assert_eq!(
            find(&[0x6F, 0x02, 0x84, 0x05], tag(0x88)),
            Err(TlvError::LengthOverflow { offset: 2, length: 5, available: 0 })
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        // 40 nested constructed elements: 20 { 20 { ... } }.
        let mut data = Vec::new();
        for _ in 0..40 {
            let mut outer = Vec::new();
            encode(tag(0x20), &data, &mut outer).expect("encodable");
            data = outer;
        }
        assert!(matches!(
            find(&data, tag(0x04)),
            Err(TlvError::TooDeep { max_depth: MAX_DEPTH, .. })
        ));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let mut data = vec![0x04, 0x00];
        for _ in 0..MAX_DEPTH - 1 {
            let mut outer = Vec::new();
            encode(tag(0x20), &data, &mut outer).expect("encodable");
            data = outer;
        }
        assert_eq!(find(&data, tag(0x04)).expect("valid").map(|e| e.depth()), Some(MAX_DEPTH - 1));
    }

    #[test]
    fn tag_new_accepts_well_formed_tags() {
        for raw in [0x01, 0x30, 0x5F20, 0x7F49, 0x9F7F, 0xBF0C, 0x5F8101, 0xDF818203] {
            assert_eq!(Tag::new(raw).map(Tag::to_u32), Some(raw), "{raw:X}");
        }
    }

    #[test]
    fn tag_new_rejects_malformed_tags() {
        for raw in [0x00, 0xFF, 0x1F, 0x5F, 0x0120, 0x5F81, 0x5F0101, 0xFF01, 0x5F818283] {
            assert_eq!(Tag::new(raw), None, "{raw:X}");
        }
    }

    #[test]
    fn tag_reports_class_and_constructed_bit() {
        assert_eq!(tag(0x30).class(), TagClass::Universal);
        assert_eq!(tag(0x5F20).class(), TagClass::Application);
        assert_eq!(tag(0xA5).class(), TagClass::ContextSpecific);
        assert_eq!(tag(0xDF01).class(), TagClass::Private);
        assert!(tag(0x7F49).is_constructed());
        assert!(!tag(0x5F20).is_constructed());
    }

    #[test]
    fn tag_formats_as_hex_bytes() {
        assert_eq!(tag(0x5F20).to_string(), "5F20");
        assert_eq!(tag(0x04).to_string(), "04");
        assert_eq!(format!("{:?}", tag(0x9F7F)), "Tag(9F7F)");
    }

    #[test]
    fn encode_uses_shortest_length() {
        let cases: [(usize, &[u8]); 5] = [
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x80]),
            (0x100, &[0x82, 0x01, 0x00]),
            (0x1_0000, &[0x83, 0x01, 0x00, 0x00]),
            (0, &[0x00]),
        ];
        for (len, header) in cases {
            let mut out = Vec::new();
            encode(tag(0x5F20), &vec![0; len], &mut out).expect("encodable");
            assert_eq!(out[..2], [0x5F, 0x20]);
            assert_eq!(&out[2..2 + header.len()], header, "{len}");
            assert_eq!(out.len(), 2 + header.len() + len);
        }
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let mut inner = Vec::new();
        encode(tag(0x84), &[0xA0, 0x00, 0x00, 0x01, 0x77], &mut inner).expect("encodable");
        encode(tag(0x5F2D), b"nlfr", &mut inner).expect("encodable");
        let mut data = Vec::new();
        encode(tag(0x6F), &inner, &mut data).expect("encodable");
        let fci = parse(&data).next().expect("one").expect("valid");
        assert_eq!(fci.tag(), tag(0x6F));
        assert_eq!(fci.value(), inner);
        let children: Vec<_> = fci
            .children()
            .map(|r| r.map(|e| (e.tag(), e.value())))
            .collect::<Result<_, _>>()
            .expect("valid");
        assert_eq!(
            children,
            [(tag(0x84), &[0xA0, 0x00, 0x00, 0x01, 0x77][..]), (tag(0x5F2D), &b"nlfr"[..])]
        );
    }
}
