//! Just enough X.509 for the card's certificates: serial number, issuer and subject as text,
//! and the subject public key, read from the DER with the SDK's BER-TLV walker.
//!
//! A full X.509 crate would add size to the component for fields nobody here reads; the
//! certificate itself goes to the caller in base64 for anything more.

use t1c_sdk::tlv::ber::{self, Tlv};
use t1c_sdk::{Error, Result};

/// `rsaEncryption`, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// `id-ecPublicKey`, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// `secp384r1`, 1.3.132.0.34.
const SECP384R1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];

const SEQUENCE: u32 = 0x30;
const SET: u32 = 0x31;
const INTEGER: u32 = 0x02;
const BIT_STRING: u32 = 0x03;
const OID: u32 = 0x06;
const EXPLICIT_VERSION: u32 = 0xA0;

/// The fields of a certificate this module reports or uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFields {
    /// The serial number, upper-case hex of its DER INTEGER content.
    pub serial_number: String,
    /// The issuer's distinguished name, RFC 4514 style (`CN=…,O=…,C=BE`).
    pub issuer: String,
    /// The subject's distinguished name, RFC 4514 style.
    pub subject: String,
    /// The subject public key.
    pub public_key: PublicKey,
}

/// A subject public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and public exponent, big-endian.
    Rsa {
        /// The modulus.
        modulus: Vec<u8>,
        /// The public exponent.
        exponent: Vec<u8>,
    },
    /// An uncompressed (or compressed) SEC1 point on P-384.
    P384(Vec<u8>),
    /// Any other algorithm.
    Other,
}

impl CertificateFields {
    /// Reads a DER certificate.
    ///
    /// # Errors
    /// [`Error::Internal`] when the bytes are not a certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let certificate = first(ber::parse(der), SEQUENCE, "certificate")?;
        let mut tbs = first(certificate.children(), SEQUENCE, "tbsCertificate")?.children();
        let mut next = |what: &str| {
            tbs.next()
                .ok_or_else(|| malformed(what))?
                .map_err(|err| Error::internal(format!("certificate: {err}")))
        };
        let mut serial = next("serial number")?;
        if serial.tag().to_u32() == EXPLICIT_VERSION {
            serial = next("serial number")?;
        }
        expect(&serial, INTEGER, "serial number")?;
        let _signature_algorithm = next("signature algorithm")?;
        let issuer = next("issuer")?;
        let _validity = next("validity")?;
        let subject = next("subject")?;
        let spki = next("subject public key info")?;
        Ok(Self {
            serial_number: hex(serial.value()),
            issuer: name(&issuer)?,
            subject: name(&subject)?,
            public_key: public_key(&spki)?,
        })
    }
}

/// A Name as RFC 4514 writes it: the last RDN first, attributes `TYPE=value` joined by `,`
/// (`+` inside a multi-valued RDN).
fn name(name: &Tlv<'_>) -> Result<String> {
    expect(name, SEQUENCE, "name")?;
    let mut rdns = Vec::new();
    for rdn in name.children() {
        let rdn = rdn.map_err(|err| Error::internal(format!("certificate name: {err}")))?;
        expect(&rdn, SET, "relative distinguished name")?;
        let mut attributes = Vec::new();
        for attribute in rdn.children() {
            let attribute =
                attribute.map_err(|err| Error::internal(format!("certificate name: {err}")))?;
            let mut parts = attribute.children();
            let oid = first(&mut parts, OID, "attribute type")?;
            let value = parts.next().ok_or_else(|| malformed("attribute value"))?;
            let value = value.map_err(|err| Error::internal(format!("certificate name: {err}")))?;
            attributes.push(format!("{}={}", attribute_name(oid.value()), attribute_value(&value)));
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn public_key(spki: &Tlv<'_>) -> Result<PublicKey> {
    expect(spki, SEQUENCE, "subject public key info")?;
    let mut parts = spki.children();
    let algorithm = first(&mut parts, SEQUENCE, "public key algorithm")?;
    let key = first(&mut parts, BIT_STRING, "public key")?;
    // A BIT STRING starts with its count of unused bits, zero for keys.
    let key = key.value().get(1..).unwrap_or_default();
    let mut algorithm = algorithm.children();
    let oid = first(&mut algorithm, OID, "public key algorithm")?;
    match oid.value() {
        RSA_ENCRYPTION => {
            let rsa_key = first(ber::parse(key), SEQUENCE, "RSA public key")?;
            let mut integers = rsa_key.children();
            let modulus = first(&mut integers, INTEGER, "RSA modulus")?;
            let exponent = first(&mut integers, INTEGER, "RSA exponent")?;
            Ok(PublicKey::Rsa {
                modulus: modulus.value().to_vec(),
                exponent: exponent.value().to_vec(),
            })
        }
        EC_PUBLIC_KEY => match algorithm.next() {
            Some(Ok(curve)) if curve.tag().to_u32() == OID && curve.value() == SECP384R1 => {
                Ok(PublicKey::P384(key.to_vec()))
            }
            _ => Ok(PublicKey::Other),
        },
        _ => Ok(PublicKey::Other),
    }
}

/// The next element of `elements`, which must carry `tag`.
fn first<'a>(
    mut elements: impl Iterator<Item = std::result::Result<Tlv<'a>, t1c_sdk::tlv::TlvError>>,
    tag: u32,
    what: &str,
) -> Result<Tlv<'a>> {
    let element = elements
        .next()
        .ok_or_else(|| malformed(what))?
        .map_err(|err| Error::internal(format!("certificate {what}: {err}")))?;
    expect(&element, tag, what)?;
    Ok(element)
}

fn expect(element: &Tlv<'_>, tag: u32, what: &str) -> Result<()> {
    if element.tag().to_u32() == tag { Ok(()) } else { Err(malformed(what)) }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("malformed certificate: no valid {what}"))
}

/// Short names of the attribute types the eID's certificates use; others as dotted OIDs.
fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SURNAME",
        [0x55, 0x04, 0x05] => "SERIALNUMBER",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0A] => "O",
        [0x55, 0x04, 0x0B] => "OU",
        [0x55, 0x04, 0x2A] => "GIVENNAME",
        [0x55, 0x04, 0x61] => "ORGANIZATIONIDENTIFIER",
        _ => return dotted(oid),
    };
    short.to_owned()
}

/// A string attribute value with RFC 4514 escapes; anything else as `#` and its hex DER.
fn attribute_value(value: &Tlv<'_>) -> String {
    let text = match value.tag().to_u32() {
        // UTF8String, PrintableString, T61String (Latin-1 in practice), IA5String.
        0x0C | 0x13 | 0x16 => std::str::from_utf8(value.value()).ok().map(str::to_owned),
        0x14 => Some(value.value().iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16BE.
        0x1E => {
            let units = value.value().chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
            char::decode_utf16(units).collect::<std::result::Result<String, _>>().ok()
        }
        _ => None,
    };
    match text {
        Some(text) => escape(&text),
        None => {
            let mut der = Vec::new();
            // The tag came from a parsed element, so encoding it back cannot fail.
            let _ = ber::encode(value.tag(), value.value(), &mut der);
            format!("#{}", hex(&der))
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (index, c) in text.chars().enumerate() {
        let edge_space = c == ' ' && (index == 0 || index == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (index == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for byte in oid {
        value = value.saturating_mul(128) | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// Upper-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_oids() {
        assert_eq!(dotted(RSA_ENCRYPTION), "1.2.840.113549.1.1.1");
        assert_eq!(dotted(SECP384R1), "1.3.132.0.34");
    }

    #[test]
    fn escapes_rfc4514_specials() {
        assert_eq!(escape("Doe, John"), "Doe\\, John");
        assert_eq!(escape(" a "), "\\ a\\ ");
        assert_eq!(escape("#1"), "\\#1");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(CertificateFields::parse(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(CertificateFields::parse(&[0x00; 16]).is_err());
    }
}
