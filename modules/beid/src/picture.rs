//! EF(ID#Photo) (`DF01/4035`): a baseline greyscale JPEG. Only its size is read from it, from
//! the first start-of-frame segment.

/// Width and height of a JPEG, from its first SOFn segment; `None` when the bytes are not a
/// JPEG or end before one.
pub fn dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut rest = jpeg.strip_prefix(&[0xFF, 0xD8])?;
    loop {
        let [0xFF, marker, high, low, body @ ..] = rest else { return None };
        let length = usize::from(u16::from_be_bytes([*high, *low]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let [_precision, h1, h2, w1, w2, ..] = body else { return None };
            return Some((u16::from_be_bytes([*w1, *w2]), u16::from_be_bytes([*h1, *h2])));
        }
        if *marker == 0xD9 || *marker == 0xDA || length < 2 {
            return None;
        }
        rest = rest.get(2 + length..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frame_size() {
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00,
            0xC8, 0x00, 0x8C, 0x01, 0x01, 0x11, 0x00,
        ];
        assert_eq!(dimensions(&jpeg), Some((140, 200)));
        assert_eq!(dimensions(b"not a jpeg"), None);
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00]), None);
    }
}
