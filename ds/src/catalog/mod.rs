//! The rules of what operators manage: organisations, labels, versions and publisher keys.
//! What a valid name, origin, tag, version id or publisher key is, and which version is the
//! latest. The API layer calls these before anything reaches the store, so the store only ever
//! holds values that pass them.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use t1c_ds_protocol::version::{UpgradeAdvice, VersionFlags};

use crate::store::Version;

/// Longest name of an organisation, label, application or account.
pub const MAX_NAME_LEN: usize = 128;
/// Most registered domains per label.
pub const MAX_DOMAINS: usize = 64;
/// Most tags per label.
pub const MAX_TAGS: usize = 32;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 64;

/// A value an operator sent breaks a rule; the text says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid { field, reason: reason.into() }
}

/// A display name: 1 to [`MAX_NAME_LEN`] characters, no control characters, no leading or
/// trailing space.
pub fn name(field: &'static str, value: &str) -> Result<String, Invalid> {
    let length = value.chars().count();
    if length == 0 || length > MAX_NAME_LEN {
        return Err(invalid(field, format!("must have 1 to {MAX_NAME_LEN} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with white space"));
    }
    Ok(value.to_owned())
}

/// A label name: it is the `sub` of tokens and the key transactions are counted under, so it is
/// restricted to 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn label_name(value: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && value.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            "name",
            "a label name has 1 to 64 of a-z, 0-9, '.', '_', '-' and starts with a letter or digit",
        ))
    }
}

/// A registered domain as the origin browsers send: `https://host[:port]`, lowercase, no path;
/// `http://` only for `localhost` and loopback addresses. Returned normalised.
pub fn origin(value: &str) -> Result<String, Invalid> {
    let bad = |reason: &str| invalid("domains", format!("{:?}: {reason}", truncate(value)));
    if value.len() > 256 {
        return Err(bad("too long"));
    }
    let url =
        reqwest::Url::parse(value).map_err(|_| bad("not an origin like https://app.example"))?;
    let host = url.host_str().ok_or_else(|| bad("has no host"))?;
    let loopback = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be https (http only for localhost)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || value.ends_with('/')
    {
        return Err(bad("must be an origin only, with no path"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The registered domains of a label, normalised, without duplicates.
pub fn origins(values: &[String]) -> Result<Vec<String>, Invalid> {
    if values.len() > MAX_DOMAINS {
        return Err(invalid("domains", format!("at most {MAX_DOMAINS}")));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let origin = origin(value)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Billing tags: up to [`MAX_TAGS`] of 1 to [`MAX_TAG_LEN`] printable characters.
pub fn tags(values: &[String]) -> Result<Vec<String>, Invalid> {
    if values.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS}")));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for tag in values {
        let length = tag.chars().count();
        if length == 0 || length > MAX_TAG_LEN || tag.chars().any(char::is_control) {
            return Err(invalid(
                "tags",
                format!("a tag has 1 to {MAX_TAG_LEN} printable characters"),
            ));
        }
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

/// A version id: semver (`3.8.2`, `4.0.0-rc.1`), at most 64 characters.
pub fn version_id(value: &str) -> Result<semver::Version, Invalid> {
    if value.len() > 64 {
        return Err(invalid("id", "a version id has at most 64 characters"));
    }
    semver::Version::parse(value).map_err(|e| invalid("id", format!("not a semantic version: {e}")))
}

/// A publisher's Ed25519 public key, base64 of its 32 bytes; returns the key id (the first 16
/// hex characters of its SHA-256) and the canonical base64.
pub fn publisher_key(value: &str) -> Result<(String, String), Invalid> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| invalid("public_key", "not base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| invalid("public_key", "an Ed25519 public key has 32 bytes"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| invalid("public_key", "not a valid Ed25519 point"))?;
    let id = hex::encode(&Sha256::digest(key)[..8]);
    Ok((id, base64::engine::general_purpose::STANDARD.encode(key)))
}

/// The latest version: the highest semver that is not a pre-release (pre-releases only when
/// nothing else exists).
pub fn latest(versions: &[Version]) -> Option<&Version> {
    let parsed = versions.iter().filter_map(|v| semver::Version::parse(&v.id).ok().map(|s| (s, v)));
    let (releases, pre): (Vec<_>, Vec<_>) = parsed.partition(|(s, _)| s.pre.is_empty());
    let pick = if releases.is_empty() { pre } else { releases };
    pick.into_iter().max_by(|a, b| a.0.cmp(&b.0)).map(|(_, v)| v)
}

/// What a connector running `own` must do, by T1C's rules, given every version.
pub fn advice_for(own: &str, versions: &[Version]) -> UpgradeAdvice {
    let flags = |v: &Version| VersionFlags {
        recommended: v.recommended,
        mandatory: v.mandatory,
        allowed: v.allowed,
    };
    let Some(latest) = latest(versions) else { return UpgradeAdvice::None };
    let own_version = versions.iter().find(|v| v.id == own);
    t1c_ds_protocol::version::advice(latest.id == own, own_version.map(flags), flags(latest))
}

fn truncate(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, recommended: bool, mandatory: bool, allowed: bool) -> Version {
        Version {
            id: id.into(),
            recommended,
            mandatory,
            allowed,
            installers: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(origin("https://Shop.Example").as_deref(), Ok("https://shop.example"));
        assert_eq!(origin("https://shop.example:443").as_deref(), Ok("https://shop.example"));
        assert_eq!(origin("https://shop.example:8443").as_deref(), Ok("https://shop.example:8443"));
        assert_eq!(origin("http://localhost:3000").as_deref(), Ok("http://localhost:3000"));
        for bad in [
            "http://shop.example",
            "https://shop.example/path",
            "https://u:p@shop.example",
            "shop.example",
            "javascript:alert(1)",
            "https://shop.example/",
            "'; DROP TABLE labels; --",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
        assert_eq!(
            origins(&["https://a.example".into(), "https://A.example".into()]).map(|o| o.len()),
            Ok(1)
        );
    }

    #[test]
    fn names_labels_tags_and_versions() {
        assert!(name("name", "Acme NV").is_ok());
        for bad in ["", " lead", "trail ", "a\u{0}b", &"x".repeat(129)] {
            assert!(name("name", bad).is_err(), "{bad:?}");
        }
        assert!(label_name("shop-prod.1").is_ok());
        for bad in ["Shop", "-shop", "shop prod", "shop'--", ""] {
            assert!(label_name(bad).is_err(), "{bad:?}");
        }
        assert!(tags(&["a".into(), "a".into()]).is_ok_and(|t| t.len() == 1));
        assert!(tags(&[String::new()]).is_err());
        assert!(version_id("3.8.2").is_ok() && version_id("3.8").is_err());
    }

    #[test]
    fn publisher_keys_parse_to_a_stable_id() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let text = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
        let (id, canonical) = publisher_key(&text).expect("valid");
        assert_eq!(id.len(), 16);
        assert_eq!(canonical, text);
        assert!(publisher_key("AAAA").is_err());
        assert!(publisher_key("not base64!").is_err());
    }

    #[test]
    fn latest_and_t1c_advice() {
        let versions = vec![
            version("3.9.0", true, false, true),
            version("3.10.0-rc.1", false, false, true),
            version("3.8.2", false, false, true),
            version("3.7.0", false, false, false),
        ];
        assert_eq!(latest(&versions).map(|v| v.id.as_str()), Some("3.9.0"));
        assert_eq!(advice_for("3.9.0", &versions), UpgradeAdvice::None);
        assert_eq!(advice_for("3.8.2", &versions), UpgradeAdvice::Notify);
        assert_eq!(advice_for("3.7.0", &versions), UpgradeAdvice::Block);
        assert_eq!(advice_for("1.0.0", &versions), UpgradeAdvice::Block);
    }
}
