//! The PKCS#15 files of MF and DF(BELPIC), byte for byte as CONT17 §5-6 and CONT18 §5 print
//! them (beid-card.md §1.5).

use super::AppletVersion;

/// EF(DIR) `3F00/2F00`: one application template for DF(BELPIC), OID 2.16.56.2.
pub const EF_DIR: [u8; 37] = [
    0x61, 0x23, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x01, 0x77, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
    0x50, 0x06, 0x42, 0x45, 0x4C, 0x50, 0x49, 0x43, 0x51, 0x04, 0x3F, 0x00, 0xDF, 0x00, 0x73, 0x05,
    0x06, 0x03, 0x60, 0x38, 0x02,
];

/// EF(ODF) `DF00/5031`: paths of the PrKDF, CDF and AODF.
pub const ODF: [u8; 36] = [
    0xA0, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0xDF, 0x00, 0x50, 0x35, //
    0xA4, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0xDF, 0x00, 0x50, 0x37, //
    0xA8, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0xDF, 0x00, 0x50, 0x34,
];

/// EF(AODF) `DF00/5034` (same on 1.7 and 1.8): the cardholder PIN, reference 01, 4 to 8
/// bytes stored, padded with FF.
pub const AODF: [u8; 53] = [
    0x30, 0x33, 0x30, 0x0F, 0x0C, 0x09, b'B', b'a', b's', b'i', b'c', b' ', b'P', b'I', b'N', 0x03,
    0x02, 0x06, 0xC0, 0x30, 0x03, 0x04, 0x01, 0x01, 0xA1, 0x1B, 0x30, 0x19, 0x03, 0x02, 0x02, 0x0C,
    0x0A, 0x01, 0x00, 0x02, 0x01, 0x04, 0x02, 0x01, 0x08, 0x80, 0x01, 0x01, 0x04, 0x01, 0xFF, 0x30,
    0x04, 0x04, 0x02, 0x3F, 0x00,
];

/// EF(TokenInfo) `DF00/5032`: version 0, the chip serial, label "BELPIC", token flags and
/// the four personalisation version bytes.
pub fn token_info(serial: &[u8; 16], version: AppletVersion) -> Vec<u8> {
    let mut out = vec![0x30, 0x27, 0x02, 0x01, 0x00, 0x04, 0x10];
    out.extend_from_slice(serial);
    out.extend_from_slice(&[0x80, 0x06, b'B', b'E', b'L', b'P', b'I', b'C']);
    out.extend_from_slice(&[0x03, 0x02, 0x04, 0x30]);
    // Graphical perso version, electrical perso version, its interface version, RFU.
    out.extend_from_slice(&[0x9E, 0x04, 0x00, version.perso_version(), 0x00, 0x00]);
    out
}

/// EF(PrKDF) `DF00/5035`: the authentication (82) and non-repudiation (83) keys. 1.7 lists
/// RSA keys (`30`) of 2048 bits, 1.8 EC keys (`A0`) of 384 bits.
pub fn prkdf(version: AppletVersion) -> Vec<u8> {
    let (tag, bits) = match version {
        // CONT17 still prints 1024 (04 00); a 1.7 card's keys have 2048 bits.
        AppletVersion::V1_7 => (0x30, [0x08, 0x00]),
        AppletVersion::V1_8 => (0xA0, [0x01, 0x80]),
    };
    let mut out = Vec::with_capacity(0x3C + 0x3B);
    out.extend_from_slice(&[tag, 0x3A, 0x30, 0x17, 0x0C, 0x0E]);
    out.extend_from_slice(b"Authentication");
    out.extend_from_slice(&[0x03, 0x02, 0x06, 0xC0, 0x04, 0x01, 0x01]);
    out.extend_from_slice(&[0x30, 0x0F, 0x04, 0x01, 0x02, 0x03, 0x02, 0x05, 0x20]);
    out.extend_from_slice(&[0x03, 0x02, 0x03, 0xB8, 0x02, 0x02, 0x00, 0x82]);
    out.extend_from_slice(&[
        0xA1, 0x0E, 0x30, 0x0C, 0x30, 0x06, 0x04, 0x04, 0x3F, 0x00, 0xDF, 0x00,
    ]);
    out.extend_from_slice(&[0x02, 0x02, bits[0], bits[1]]);

    out.extend_from_slice(&[tag, 0x39, 0x30, 0x15, 0x0C, 0x09]);
    out.extend_from_slice(b"Signature");
    out.extend_from_slice(&[0x03, 0x02, 0x06, 0xC0, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01]);
    out.extend_from_slice(&[0x30, 0x10, 0x04, 0x01, 0x03, 0x03, 0x03, 0x06, 0x00, 0x40]);
    out.extend_from_slice(&[0x03, 0x02, 0x03, 0xB8, 0x02, 0x02, 0x00, 0x83]);
    out.extend_from_slice(&[
        0xA1, 0x0E, 0x30, 0x0C, 0x30, 0x06, 0x04, 0x04, 0x3F, 0x00, 0xDF, 0x00,
    ]);
    out.extend_from_slice(&[0x02, 0x02, bits[0], bits[1]]);
    out
}

/// EF(CDF) `DF00/5037`: authentication, non-repudiation, CA and root certificates. 1.8
/// flags them modifiable only (`06 40`) and adds implicitTrust FALSE (`83 01 00`).
pub fn cdf(version: AppletVersion) -> Vec<u8> {
    let v18 = version == AppletVersion::V1_8;
    let flags: u8 = if v18 { 0x40 } else { 0xC0 };
    let mut out = Vec::with_capacity(0xAD);
    for (label, id, authority, file) in [
        (&b"Authentication"[..], 0x02, false, 0x38),
        (&b"Signature"[..], 0x03, false, 0x39),
        (&b"CA"[..], 0x04, true, 0x3A),
        (&b"Root"[..], 0x06, true, 0x3B),
    ] {
        let mut common = vec![0x0C, len(label.len())];
        common.extend_from_slice(label);
        common.extend_from_slice(&[0x03, 0x02, 0x06, flags, 0x04, 0x01, 0x01]);
        let mut cert_attrs = vec![0x04, 0x01, id];
        if authority {
            cert_attrs.extend_from_slice(&[0x01, 0x01, 0xFF]);
        }
        if v18 {
            cert_attrs.extend_from_slice(&[0x83, 0x01, 0x00]);
        }
        let x509 =
            [0xA1, 0x0C, 0x30, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0xDF, 0x00, 0x50, file];
        let body_len = 2 + common.len() + 2 + cert_attrs.len() + x509.len();
        out.extend_from_slice(&[0x30, len(body_len), 0x30, len(common.len())]);
        out.extend_from_slice(&common);
        out.extend_from_slice(&[0x30, len(cert_attrs.len())]);
        out.extend_from_slice(&cert_attrs);
        out.extend_from_slice(&x509);
    }
    out
}

/// A short DER length (every length in these files is below 128).
fn len(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(0x7F).min(0x7F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prkdf_1_7_is_two_rsa_entries_of_3a_and_39() {
        let file = prkdf(AppletVersion::V1_7);
        assert_eq!(file.len(), 2 + 0x3A + 2 + 0x39);
        assert_eq!(file[0x3C], 0x30);
        assert_eq!(file[0x3D], 0x39);
    }

    #[test]
    fn cdf_1_7_entry_lengths_match_cont17() {
        let file = cdf(AppletVersion::V1_7);
        let expected_start: [u8; 4] = [0x30, 0x2C, 0x30, 0x17];
        assert_eq!(file[..4], expected_start);
        assert_eq!(file.len(), 0x2E + 0x29 + 0x25 + 0x27);
        assert_eq!(file[0x2E..0x30], [0x30, 0x27]);
    }

    #[test]
    fn cdf_1_8_entry_lengths_follow_cont18_offsets() {
        let file = cdf(AppletVersion::V1_8);
        // Entries start at 00, 31, 5D and 85 (CONT18 §5.3.6).
        assert_eq!(file[..2], [0x30, 0x2F]);
        assert_eq!(file[0x31..0x33], [0x30, 0x2A]);
        assert_eq!(file[0x5D..0x5F], [0x30, 0x26]);
        assert_eq!(file[0x85..0x87], [0x30, 0x28]);
        assert_eq!(file.len(), 0x85 + 2 + 0x28);
    }

    #[test]
    fn token_info_is_41_bytes() {
        assert_eq!(token_info(&[0; 16], AppletVersion::V1_8).len(), 41);
    }
}
