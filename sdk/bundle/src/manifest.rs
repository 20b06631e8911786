//! `manifest.toml`: what the bundle says about its module.

use serde::{Deserialize, Serialize};

use crate::{BundleError, limits};

/// Longest description accepted, in characters.
const MAX_DESCRIPTION: usize = 1024;
/// Most capabilities a manifest may list.
const MAX_CAPABILITIES: usize = 16;
/// Most ATR patterns a manifest may list.
const MAX_ATRS: usize = 256;
/// Longest ATR (ISO 7816-3: TS plus at most 32 bytes).
const MAX_ATR_BYTES: usize = 33;

/// The bundle's `manifest.toml`. It repeats what the component declares about itself, so the
/// DS and the connector can show and check it before loading the component; the connector
/// still compares it with the component's own answer when it loads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// The module's name: 1 to 64 of `a-z`, `0-9`, `-` and `_` (as in `t1c_sdk::Manifest`).
    pub name: String,
    /// The module's version.
    pub version: semver::Version,
    /// The version of the WIT contract (`t1c:card`) the module was built against.
    pub contract: semver::Version,
    /// One line on what the module supports (at most 1024 characters, no control characters).
    #[serde(default)]
    pub description: String,
    /// Host capabilities the module imports (`reader`, `pkcs11`, `files`, ...), each at most
    /// once.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// ATR patterns the module claims, as `<value hex>` or `<value hex>/<mask hex>`
    /// (informational; see [`parse_atr_pattern`]).
    #[serde(default)]
    pub atrs: Vec<String>,
}

impl BundleManifest {
    /// Parses and validates `manifest.toml`.
    ///
    /// # Errors
    /// [`BundleError::EntryTooLarge`] past the manifest limit, [`BundleError::ManifestMalformed`]
    /// for non-UTF-8, bad TOML, unknown, missing or mistyped fields,
    /// [`BundleError::ManifestInvalid`] for an invalid value.
    pub fn from_toml(bytes: &[u8]) -> Result<BundleManifest, BundleError> {
        if bytes.len() as u64 > limits::MANIFEST {
            return Err(BundleError::EntryTooLarge {
                name: crate::MANIFEST_ENTRY.to_owned(),
                limit: limits::MANIFEST,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| BundleError::ManifestMalformed(format!("not UTF-8: {e}")))?;
        let manifest: BundleManifest =
            toml::from_str(text).map_err(|e| BundleError::ManifestMalformed(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as TOML, after validating it.
    ///
    /// # Errors
    /// [`BundleError::ManifestInvalid`] for an invalid value.
    pub fn to_toml(&self) -> Result<Vec<u8>, BundleError> {
        self.validate()?;
        toml::to_string(self)
            .map(String::into_bytes)
            .map_err(|e| BundleError::ManifestMalformed(e.to_string()))
    }

    /// Checks every field's value.
    ///
    /// # Errors
    /// [`BundleError::ManifestInvalid`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), BundleError> {
        let invalid = |field, reason: String| Err(BundleError::ManifestInvalid { field, reason });
        if !is_identifier(&self.name) {
            return invalid(
                "name",
                format!("`{}`: use 1 to 64 of a-z, 0-9, '-' and '_'", self.name.escape_debug()),
            );
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            return invalid("description", format!("longer than {MAX_DESCRIPTION} characters"));
        }
        if self.description.chars().any(char::is_control) {
            return invalid("description", "has control characters (use one line)".to_owned());
        }
        if self.capabilities.len() > MAX_CAPABILITIES {
            return invalid("capabilities", format!("more than {MAX_CAPABILITIES} entries"));
        }
        for (i, capability) in self.capabilities.iter().enumerate() {
            if !is_identifier(capability) {
                return invalid(
                    "capabilities",
                    format!("`{}` is not a capability name", capability.escape_debug()),
                );
            }
            if self.capabilities[..i].contains(capability) {
                return invalid("capabilities", format!("`{capability}` is listed twice"));
            }
        }
        if self.atrs.len() > MAX_ATRS {
            return invalid("atrs", format!("more than {MAX_ATRS} patterns"));
        }
        for atr in &self.atrs {
            if let Err(reason) = parse_atr_pattern(atr) {
                return invalid("atrs", format!("`{}`: {reason}", atr.escape_debug()));
            }
        }
        Ok(())
    }
}

/// Parses an ATR pattern string, `<value hex>` (mask all ones) or `<value hex>/<mask hex>`,
/// into `(value, mask)`. Both are 1 to 33 bytes and of equal length.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_atr_pattern(pattern: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (value, mask) = match pattern.split_once('/') {
        Some((value, mask)) => (value, Some(mask)),
        None => (pattern, None),
    };
    let value = hex::decode(value).map_err(|e| format!("value is not hex: {e}"))?;
    if value.is_empty() || value.len() > MAX_ATR_BYTES {
        return Err(format!("value must be 1 to {MAX_ATR_BYTES} bytes"));
    }
    let mask = match mask {
        Some(mask) => hex::decode(mask).map_err(|e| format!("mask is not hex: {e}"))?,
        None => vec![0xFF; value.len()],
    };
    if mask.len() != value.len() {
        return Err("mask and value differ in length".to_owned());
    }
    Ok((value, mask))
}

/// Formats an ATR pattern as the manifest writes it: `<value hex>/<mask hex>`, lowercase.
pub fn format_atr_pattern(value: &[u8], mask: &[u8]) -> String {
    format!("{}/{}", hex::encode(value), hex::encode(mask))
}

/// 1 to 64 of `a-z`, `0-9`, `-`, `_`: the rule of `t1c_sdk::Manifest` names.
fn is_identifier(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> BundleManifest {
        BundleManifest {
            name: "beid".into(),
            version: semver::Version::new(1, 2, 3),
            contract: semver::Version::new(0, 1, 0),
            description: "Belgian eID".into(),
            capabilities: vec!["reader".into()],
            atrs: vec!["3b9813400aa503010101ad1311/ffffffffffffffffffffffffff".into()],
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let m = manifest();
        assert_eq!(BundleManifest::from_toml(&m.to_toml().unwrap()).unwrap(), m);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut text = String::from_utf8(manifest().to_toml().unwrap()).unwrap();
        text.push_str("extra = 1\n");
        let err = BundleManifest::from_toml(text.as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::ManifestMalformed(_)), "{err}");
    }

    #[test]
    fn names_follow_the_sdk_rule() {
        for bad in ["", "Beid", "be id", "../x", &"a".repeat(65)] {
            let m = BundleManifest { name: bad.into(), ..manifest() };
            assert!(matches!(
                m.validate(),
                Err(BundleError::ManifestInvalid { field: "name", .. })
            ));
        }
    }

    #[test]
    fn atr_patterns_parse_with_and_without_mask() {
        assert_eq!(parse_atr_pattern("3b98").unwrap(), (vec![0x3b, 0x98], vec![0xff, 0xff]));
        assert_eq!(parse_atr_pattern("3B98/FF00").unwrap(), (vec![0x3b, 0x98], vec![0xff, 0]));
        assert!(parse_atr_pattern("3b98/ff").is_err());
        assert!(parse_atr_pattern("zz").is_err());
        assert!(parse_atr_pattern("").is_err());
    }

    #[test]
    fn duplicate_capabilities_are_refused() {
        let m =
            BundleManifest { capabilities: vec!["reader".into(), "reader".into()], ..manifest() };
        assert!(matches!(m.validate(), Err(BundleError::ManifestInvalid { .. })));
    }
}
