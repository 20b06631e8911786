//! Which web origins may call the connector.
//!
//! An allowlist of exact origins (`https://app.example.com`, `http://localhost:8080`) and
//! explicit wildcard-subdomain patterns (`https://*.example.com`). Incoming `Origin` headers are
//! parsed strictly: a browser always sends the canonical form (lowercase, default port omitted,
//! no path, no user info, no trailing dot), so anything else — `null`, `https://Example.com`,
//! `https://example.com.`, `https://user@example.com` — is refused rather than normalised into a
//! match.

use std::fmt;
use std::str::FromStr;

/// A parsed, canonical origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Why an origin or a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The opaque origin `null` (sandboxed frames, `file:` pages).
    #[error("the opaque origin `null` is never allowed")]
    Null,
    /// Not `http://` or `https://`.
    #[error("only http and https origins are supported")]
    Scheme,
    /// A path, query, fragment or user info is present.
    #[error("an origin has no path, query, fragment or user info")]
    Extra,
    /// The host is empty, has bad characters, or a trailing dot.
    #[error("invalid host")]
    Host,
    /// The port is not a number in 1..=65535.
    #[error("invalid port")]
    Port,
    /// Not in the canonical form a browser sends (case, default port).
    #[error("not in canonical form")]
    NotCanonical,
    /// A wildcard anywhere but as the whole first label.
    #[error("a wildcard must be the whole first label: https://*.example.com")]
    Wildcard,
}

impl Origin {
    /// Parses an `Origin` header value, accepting only the canonical serialisation.
    ///
    /// # Errors
    /// [`OriginError`] for `null`, other schemes, paths, user info, bad hosts, non-canonical
    /// spellings.
    pub fn parse_header(value: &str) -> Result<Self, OriginError> {
        let origin = parse(value, false).map(|(origin, _)| origin)?;
        if origin.to_string() != value {
            return Err(OriginError::NotCanonical);
        }
        Ok(origin)
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    origin: Origin,
    subdomains: bool,
}

impl FromStr for OriginPattern {
    type Err = OriginError;

    /// Parses a configured pattern. Case is folded here (it is our own configuration), but the
    /// structure rules are the same as for headers.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (origin, subdomains) = parse(&value.to_ascii_lowercase(), true)?;
        Ok(Self { origin, subdomains })
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subdomains {
            let text = self.origin.to_string();
            let prefix = format!("{}://", self.origin.scheme.as_str());
            write!(f, "{prefix}*.{}", &text[prefix.len()..])
        } else {
            self.origin.fmt(f)
        }
    }
}

impl OriginPattern {
    /// Whether `origin` matches: same scheme and port, and the same host, or for a wildcard
    /// pattern a host ending in `.` + the pattern's domain (one or more labels before it).
    pub fn matches(&self, origin: &Origin) -> bool {
        if origin.scheme != self.origin.scheme || origin.port != self.origin.port {
            return false;
        }
        if self.subdomains {
            origin
                .host
                .strip_suffix(self.origin.host.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
        } else {
            origin.host == self.origin.host
        }
    }
}

/// The allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    patterns: Vec<OriginPattern>,
}

impl CorsPolicy {
    /// Builds the allowlist from configured patterns.
    ///
    /// # Errors
    /// The first invalid pattern, with its text.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, (String, OriginError)> {
        let patterns = patterns
            .iter()
            .map(|p| p.as_ref().parse().map_err(|e| (p.as_ref().to_owned(), e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// The origin of an `Origin` header when it is allowed.
    pub fn allowed(&self, header: &str) -> Option<Origin> {
        let origin = Origin::parse_header(header).ok()?;
        self.patterns.iter().any(|p| p.matches(&origin)).then_some(origin)
    }

    /// The patterns, as configured (canonical form).
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns.iter().map(ToString::to_string)
    }
}

/// Parses `scheme://host[:port]`; with `wildcard`, a leading `*.` label is allowed.
fn parse(value: &str, wildcard: bool) -> Result<(Origin, bool), OriginError> {
    if value == "null" {
        return Err(OriginError::Null);
    }
    let (scheme, rest) = if let Some(rest) = value.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = value.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(OriginError::Scheme);
    };
    if rest.contains(['/', '?', '#', '@', '\\']) || rest.chars().any(char::is_whitespace) {
        return Err(OriginError::Extra);
    }
    let (host, port) = split_port(rest)?;
    let port = match port {
        Some(port) => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.starts_with('0')
            {
                return Err(OriginError::Port);
            }
            port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(OriginError::Port)?
        }
        None => scheme.default_port(),
    };
    let (host, subdomains) = match host.strip_prefix("*.") {
        Some(domain) if wildcard => (domain, true),
        _ => (host, false),
    };
    if host.contains('*') {
        return Err(OriginError::Wildcard);
    }
    if !valid_host(host) {
        return Err(OriginError::Host);
    }
    if subdomains && host.starts_with('[') {
        return Err(OriginError::Wildcard);
    }
    Ok((Origin { scheme, host: host.to_owned(), port }, subdomains))
}

fn split_port(rest: &str) -> Result<(&str, Option<&str>), OriginError> {
    if rest.starts_with('[') {
        let end = rest.find(']').ok_or(OriginError::Host)?;
        let (host, after) = rest.split_at(end + 1);
        return match after {
            "" => Ok((host, None)),
            _ => after.strip_prefix(':').map(|p| (host, Some(p))).ok_or(OriginError::Host),
        };
    }
    Ok(match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.to_string() == inner);
    }
    if host.is_empty() || host.len() > 253 || host.ends_with('.') {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::new(&[
            "https://app.example.com",
            "https://*.example.org",
            "http://localhost:8080",
        ])
        .expect("valid patterns")
    }

    #[test]
    fn exact_origins_match() {
        assert!(policy().allowed("https://app.example.com").is_some());
        assert!(policy().allowed("http://localhost:8080").is_some());
    }

    #[test]
    fn null_is_refused() {
        assert!(policy().allowed("null").is_none());
        assert_eq!(Origin::parse_header("null"), Err(OriginError::Null));
    }

    #[test]
    fn suffix_tricks_are_refused() {
        let policy = policy();
        for origin in [
            "https://evil-app.example.com",
            "https://app.example.com.evil.test",
            "https://evilexample.org",
            "https://example.org",
            "https://.example.org",
        ] {
            assert!(policy.allowed(origin).is_none(), "{origin}");
        }
    }

    #[test]
    fn wildcard_matches_subdomains_at_any_depth() {
        assert!(policy().allowed("https://a.example.org").is_some());
        assert!(policy().allowed("https://b.a.example.org").is_some());
    }

    #[test]
    fn userinfo_paths_and_odd_spellings_are_refused() {
        let policy = policy();
        for origin in [
            "https://user@app.example.com",
            "https://app.example.com@evil.test",
            "https://app.example.com/",
            "https://APP.example.com",
            "HTTPS://app.example.com",
            "https://app.example.com.",
            "https://app.example.com:443",
            "https://app.example.com:",
            "https://app.example.com:0443",
            " https://app.example.com",
        ] {
            assert!(policy.allowed(origin).is_none(), "{origin}");
        }
    }

    #[test]
    fn ports_and_schemes_must_match() {
        let policy = policy();
        for origin in [
            "https://app.example.com:8443",
            "http://app.example.com",
            "http://localhost",
            "https://localhost:8080",
            "http://localhost:8081",
        ] {
            assert!(policy.allowed(origin).is_none(), "{origin}");
        }
    }

    #[test]
    fn configured_patterns_are_normalised_and_validated() {
        let pattern: OriginPattern = "HTTPS://App.Example.com:443".parse().expect("valid");
        assert_eq!(pattern.to_string(), "https://app.example.com");
        assert_eq!(
            "https://*.example.org".parse::<OriginPattern>().map(|p| p.to_string()),
            Ok("https://*.example.org".into())
        );
        for bad in [
            "null",
            "ftp://a.test",
            "https://a.test/path",
            "https://a.*.test",
            "https://*.",
            "https://a.test:99999",
        ] {
            assert!(bad.parse::<OriginPattern>().is_err(), "{bad}");
        }
        assert!(CorsPolicy::new(&["https://ok.test", "https://bad.test/x"]).is_err());
    }

    #[test]
    fn ipv6_loopback_origins_work() {
        let policy = CorsPolicy::new(&["http://[::1]:3000"]).expect("valid");
        assert!(policy.allowed("http://[::1]:3000").is_some());
        assert!(policy.allowed("http://[0::1]:3000").is_none());
    }
}
