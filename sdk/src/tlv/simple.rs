//! Simple-TLV in the BELPIC style, as in the Belgian eID identity and address files.
//!
//! Each element is a one-byte tag, a length, and the value. The length is one byte below `FF`;
//! each `FF` byte before it adds 255 (`FF FF 03` is 513). Files are zero-padded to their
//! allocated size, so a run of `00` bytes reaching the end of the data is padding, not
//! elements: [`parse`] ends there. Elsewhere tag `00` is an ordinary element (the identity
//! file starts with one, the file structure version).

use std::iter::FusedIterator;

use super::TlvError;

/// One simple-TLV element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SimpleTlv<'a> {
    /// The tag.
    pub tag: u8,
    /// The value.
    pub value: &'a [u8],
}

/// The elements of `data`, in order.
///
/// Parsing ends cleanly at the trailing zero padding: once only `00` bytes remain where an
/// element would start. (An element with tag `00` and an empty value right before the
/// padding is indistinguishable from padding and is not returned.) Parsing ends with an
/// error at the first malformed element: [`TlvError::Truncated`] when the data ends inside
/// its length, [`TlvError::LengthOverflow`] when its value runs past the end.
pub fn parse(data: &[u8]) -> Iter<'_> {
    let content_end = data.iter().rposition(|byte| *byte != 0).map_or(0, |last| last + 1);
    Iter { data, pos: 0, content_end, done: false }
}

/// The value of the first element tagged `tag`, if any.
///
/// # Errors
/// The error of the first malformed element before it.
pub fn find(data: &[u8], tag: u8) -> Result<Option<&[u8]>, TlvError> {
    for element in parse(data) {
        let element = element?;
        if element.tag == tag {
            return Ok(Some(element.value));
        }
    }
    Ok(None)
}

/// Appends the element `tag`, `value` to `out`.
pub fn encode(tag: u8, value: &[u8], out: &mut Vec<u8>) {
    const STEP: usize = 0xFF;
    out.reserve(1 + value.len() / STEP + 1 + value.len());
    out.push(tag);
    let mut left = value.len();
    while left >= STEP {
        out.push(0xFF);
        left -= STEP;
    }
    out.push(u8::try_from(left).unwrap_or(0xFE));
    out.extend_from_slice(value);
}

/// Iterator over simple-TLV elements, from [`parse`]. After an error it returns `None`.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the trailing zero padding starts.
    content_end: usize,
    done: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<SimpleTlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.content_end {
            self.done = true;
            return None;
        }
        let result = self.read_element();
        match &result {
            Ok((_, next)) => self.pos = *next,
            Err(_) => self.done = true,
        }
        Some(result.map(|(element, _)| element))
    }
}

impl FusedIterator for Iter<'_> {}

impl<'a> Iter<'a> {
    /// The element at `self.pos` and the position after it.
    fn read_element(&self) -> Result<(SimpleTlv<'a>, usize), TlvError> {
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or_default();
        let [tag, after_tag @ ..] = rest else {
            return Err(TlvError::Truncated { offset });
        };
        let (length, length_len) = read_length(after_tag).ok_or(TlvError::Truncated { offset })?;
        let after_length = after_tag.get(length_len..).unwrap_or_default();
        let value = after_length.get(..length).ok_or(TlvError::LengthOverflow {
            offset,
            length,
            available: after_length.len(),
        })?;
        let next = offset + 1 + length_len + length;
        Ok((SimpleTlv { tag: *tag, value }, next))
    }
}

/// The length at the start of `bytes` and the number of bytes it takes, or `None` if
/// `bytes` ends inside it.
fn read_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut length = 0usize;
    for (index, byte) in bytes.iter().enumerate() {
        length = length.saturating_add(usize::from(*byte));
        if *byte != 0xFF {
            return Some((length, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(data: &[u8]) -> Vec<Result<SimpleTlv<'_>, TlvError>> {
        parse(data).collect()
    }

    #[test]
    fn parses_consecutive_elements() {
        let data = [0x01, 0x02, 0xAA, 0xBB, 0x02, 0x00, 0x03, 0x01, 0xCC];
        assert_eq!(
            elements(&data),
            [
                Ok(SimpleTlv { tag: 0x01, value: &[0xAA, 0xBB] }),
                Ok(SimpleTlv { tag: 0x02, value: &[] }),
                Ok(SimpleTlv { tag: 0x03, value: &[0xCC] }),
            ]
        );
    }

    #[test]
    fn ff_length_bytes_add_255() {
        let mut data = vec![0x11, 0xFF, 0xFF, 0x03];
        data.extend(vec![0x5A; 513]);
        let parsed = elements(&data);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].as_ref().map(|e| e.value.len()), Ok(513));
    }

    #[test]
    fn ff_then_00_is_255() {
        let mut data = vec![0x11, 0xFF, 0x00];
        data.extend(vec![0x5A; 255]);
        assert_eq!(elements(&data)[0].as_ref().map(|e| e.value.len()), Ok(255));
    }

    #[test]
    fn trailing_zero_padding_ends_parsing() {
        let data = [0x01, 0x01, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(elements(&data), [Ok(SimpleTlv { tag: 0x01, value: b"A" })]);
    }

    #[test]
    fn all_zero_data_has_no_elements() {
        assert!(elements(&[0x00; 16]).is_empty());
        assert!(elements(&[]).is_empty());
    }

    #[test]
    fn leading_tag_00_is_an_element() {
        let data = [0x00, 0x02, 0x01, 0x08, 0x01, 0x01, 0x41, 0x00, 0x00];
        assert_eq!(
            elements(&data),
            [
                Ok(SimpleTlv { tag: 0x00, value: &[0x01, 0x08] }),
                Ok(SimpleTlv { tag: 0x01, value: b"A" }),
            ]
        );
    }

    #[test]
    fn zero_value_bytes_at_the_end_belong_to_the_value() {
        let data = [0x01, 0x02, 0x00, 0x00];
        assert_eq!(elements(&data), [Ok(SimpleTlv { tag: 0x01, value: &[0x00, 0x00] })]);
    }

    #[test]
    fn missing_length_is_truncated() {
        assert_eq!(
            elements(&[0x01, 0x01, 0x41, 0x02]),
            [Ok(SimpleTlv { tag: 0x01, value: b"A" }), Err(TlvError::Truncated { offset: 3 }),]
        );
    }

    #[test]
    fn unfinished_ff_length_is_truncated() {
        assert_eq!(elements(&[0x01, 0xFF, 0xFF]), [Err(TlvError::Truncated { offset: 0 })]);
    }

    #[test]
    fn value_past_the_end_is_length_overflow() {
        assert_eq!(
            elements(&[0x01, 0x05, 0x41]),
            [Err(TlvError::LengthOverflow { offset: 0, length: 5, available: 1 })]
        );
    }

    #[test]
    fn iteration_stops_after_an_error() {
        let mut iter = parse(&[0x01, 0x05, 0x41]);
        assert!(matches!(iter.next(), Some(Err(_))));
        assert_eq!(iter.next(), None);
    }

    #[test]
    fn find_returns_first_match() {
        let data = [0x01, 0x01, 0x41, 0x02, 0x01, 0x42, 0x02, 0x01, 0x43];
        assert_eq!(find(&data, 0x02), Ok(Some(&b"B"[..])));
        assert_eq!(find(&data, 0x09), Ok(None));
    }

    #[test]
    fn find_reports_malformed_data_before_a_match() {
        assert_eq!(
            find(&[0x01, 0x05], 0x02),
            Err(TlvError::LengthOverflow { offset: 0, length: 5, available: 0 })
        );
    }

    #[test]
    fn encode_uses_ff_continuation() {
        let mut out = Vec::new();
        encode(0x07, &[0x11; 600], &mut out);
        assert_eq!(out[..4], [0x07, 0xFF, 0xFF, 0x5A]);
        assert_eq!(out.len(), 4 + 600);
    }

    #[test]
    fn encode_of_255_bytes_ends_with_00_length() {
        let mut out = Vec::new();
        encode(0x07, &[0x11; 255], &mut out);
        assert_eq!(out[..3], [0x07, 0xFF, 0x00]);
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let mut out = Vec::new();
        encode(0x01, b"Wetstraat 16", &mut out);
        encode(0x02, &[0x00; 300], &mut out);
        encode(0x03, b"", &mut out);
        assert_eq!(
            elements(&out),
            [
                Ok(SimpleTlv { tag: 0x01, value: b"Wetstraat 16" }),
                Ok(SimpleTlv { tag: 0x02, value: &[0x00; 300] }),
                Ok(SimpleTlv { tag: 0x03, value: &[] }),
            ]
        );
    }
}
