//! `manifest.toml`: what the bundle says about its module.

use serde::{Deserialize, Serialize};
use t1c_sdk::module::ManifestError;
use t1c_sdk::{AtrPattern, Capability, ModuleName};

use crate::{BundleError, limits};

/// Longest description accepted, in characters.
const MAX_DESCRIPTION: usize = 1024;
/// Most capabilities a manifest may list.
const MAX_CAPABILITIES: usize = 16;
/// Most ATR patterns a manifest may list.
const MAX_ATRS: usize = 256;

/// The bundle's `manifest.toml`. It repeats what the component declares about itself, so the
/// DS and the connector can show and check it before loading the component; the connector
/// still compares it with the component's own answer when it loads it.
///
/// Fields are typed: a name that follows the module-name rule, known capabilities, parsed ATR
/// patterns. The TOML text maps to them in [`BundleManifest::from_toml`] and back in
/// [`BundleManifest::to_toml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleManifest {
    /// The module's name (the rule of `t1c_sdk::Manifest` names).
    pub name: ModuleName,
    /// The module's version.
    pub version: semver::Version,
    /// The version of the WIT contract (`t1c:card`) the module was built against.
    pub contract: semver::Version,
    /// One line on what the module supports (at most 1024 characters, no control characters).
    pub description: String,
    /// Host capabilities the module imports, each at most once.
    pub capabilities: Vec<Capability>,
    /// ATR patterns the module claims (informational: the component's own list is what the
    /// connector matches with).
    pub atrs: Vec<AtrPattern>,
}

/// `manifest.toml` as text fields; [`BundleManifest`] is what it parses into.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    name: String,
    version: semver::Version,
    contract: semver::Version,
    #[serde(default)]
    description: String,
    /// Capability names (`reader`, `pkcs11`, `files`).
    #[serde(default)]
    capabilities: Vec<String>,
    /// `<value hex>` or `<value hex>/<mask hex>`.
    #[serde(default)]
    atrs: Vec<String>,
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
        let toml: ManifestToml =
            toml::from_str(text).map_err(|e| BundleError::ManifestMalformed(e.to_string()))?;
        let invalid = |field, reason: String| BundleError::ManifestInvalid { field, reason };
        // Counts first, so a manifest listing a million entries is refused before they parse.
        if toml.capabilities.len() > MAX_CAPABILITIES {
            return Err(invalid("capabilities", format!("more than {MAX_CAPABILITIES} entries")));
        }
        if toml.atrs.len() > MAX_ATRS {
            return Err(invalid("atrs", format!("more than {MAX_ATRS} patterns")));
        }
        let name = ModuleName::new(toml.name).map_err(|e| match e {
            ManifestError::InvalidName(name) => invalid(
                "name",
                format!("`{}`: use 1 to 64 of a-z, 0-9, '-' and '_'", escaped(&name)),
            ),
            other => invalid("name", other.to_string()),
        })?;
        let capabilities = toml
            .capabilities
            .iter()
            .map(|c| {
                Capability::from_name(c).ok_or_else(|| {
                    invalid("capabilities", format!("`{}` is not a capability name", escaped(c)))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let atrs = toml
            .atrs
            .iter()
            .map(|atr| {
                atr.parse::<AtrPattern>().map_err(|e| match e {
                    ManifestError::InvalidAtrText { reason, .. } => {
                        invalid("atrs", format!("`{}`: {reason}", escaped(atr)))
                    }
                    other => invalid("atrs", other.to_string()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let manifest = BundleManifest {
            name,
            version: toml.version,
            contract: toml.contract,
            description: toml.description,
            capabilities,
            atrs,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as TOML, after validating it.
    ///
    /// # Errors
    /// [`BundleError::ManifestInvalid`] for an invalid value.
    pub fn to_toml(&self) -> Result<Vec<u8>, BundleError> {
        self.validate()?;
        let toml = ManifestToml {
            name: self.name.to_string(),
            version: self.version.clone(),
            contract: self.contract.clone(),
            description: self.description.clone(),
            capabilities: self.capabilities.iter().map(|c| c.name().to_owned()).collect(),
            atrs: self.atrs.iter().map(AtrPattern::to_string).collect(),
        };
        toml::to_string(&toml)
            .map(String::into_bytes)
            .map_err(|e| BundleError::ManifestMalformed(e.to_string()))
    }

    /// Checks what the types do not: the description, the number of entries, duplicates, and
    /// ATR patterns' shape.
    ///
    /// # Errors
    /// [`BundleError::ManifestInvalid`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), BundleError> {
        let invalid = |field, reason: String| Err(BundleError::ManifestInvalid { field, reason });
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
            if self.capabilities[..i].contains(capability) {
                return invalid("capabilities", format!("`{capability}` is listed twice"));
            }
        }
        if self.atrs.len() > MAX_ATRS {
            return invalid("atrs", format!("more than {MAX_ATRS} patterns"));
        }
        for atr in &self.atrs {
            if atr.value.is_empty()
                || atr.value.len() > AtrPattern::MAX_LEN
                || atr.mask.len() != atr.value.len()
            {
                return invalid(
                    "atrs",
                    format!(
                        "`{atr}`: value and mask must be 1 to {} bytes of equal length",
                        AtrPattern::MAX_LEN
                    ),
                );
            }
        }
        Ok(())
    }
}

/// `s` for an error message: escaped and cut, so a hostile manifest cannot flood or forge logs.
fn escaped(s: &str) -> String {
    s.chars().take(80).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> BundleManifest {
        BundleManifest {
            name: ModuleName::new("beid").unwrap(),
            version: semver::Version::new(1, 2, 3),
            contract: semver::Version::new(0, 1, 0),
            description: "Belgian eID".into(),
            capabilities: vec![Capability::Reader],
            atrs: vec!["3b9813400aa503010101ad1311/ffffffffffffffffffffffffff".parse().unwrap()],
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

    /// The manifest's TOML with `field = value` replaced.
    fn toml_with(field: &str, value: &str) -> Vec<u8> {
        let text = String::from_utf8(manifest().to_toml().unwrap()).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{field} =")))
            .map(str::to_owned)
            .collect();
        lines.insert(0, format!("{field} = {value}"));
        lines.join("\n").into_bytes()
    }

    #[test]
    fn names_follow_the_sdk_rule() {
        for bad in ["", "Beid", "be id", "../x", &"a".repeat(65)] {
            let err = BundleManifest::from_toml(&toml_with("name", &format!("{bad:?}")));
            assert!(
                matches!(err, Err(BundleError::ManifestInvalid { field: "name", .. })),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn unknown_capabilities_and_bad_atr_patterns_are_invalid() {
        let err = BundleManifest::from_toml(&toml_with("capabilities", r#"["reader", "usb"]"#));
        assert!(matches!(err, Err(BundleError::ManifestInvalid { field: "capabilities", .. })));
        for bad in [r#"["3b98/ff"]"#, r#"["zz"]"#, r#"[""]"#] {
            let err = BundleManifest::from_toml(&toml_with("atrs", bad));
            assert!(
                matches!(err, Err(BundleError::ManifestInvalid { field: "atrs", .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn duplicate_capabilities_are_refused() {
        let m = BundleManifest {
            capabilities: vec![Capability::Reader, Capability::Reader],
            ..manifest()
        };
        assert!(matches!(m.validate(), Err(BundleError::ManifestInvalid { .. })));
        let err = BundleManifest::from_toml(&toml_with("capabilities", r#"["reader", "reader"]"#));
        assert!(matches!(err, Err(BundleError::ManifestInvalid { field: "capabilities", .. })));
    }
}
