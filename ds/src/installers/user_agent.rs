//! Guessing the visitor's platform for `GET /v3_5/downloads/installer`, best effort.
//!
//! The `User-Agent` names the system; the client hints, when a Chromium browser sends them,
//! name it better: `Sec-CH-UA-Platform` (sent by default), `Sec-CH-UA-Arch` and
//! `Sec-CH-UA-Bitness` (sent only after the server asked for them with
//! `Accept-CH: Sec-CH-UA-Arch, Sec-CH-UA-Bitness`). Chromium's reduced User-Agent always says
//! `Intel Mac OS X` on a Mac and `Win64; x64` on Windows, so only the hints tell Apple silicon
//! and 32-bit Windows apart.

use axum::http::HeaderMap;
use t1c_ds_protocol::platform::Os;

/// The installer platform that fits the browser that sent `headers`, or `None` for phones,
/// tablets and anything unrecognised (the caller then lets the visitor choose).
///
/// - Windows: [`Os::Win64`] when the User-Agent says `Win64`, `x64`, `WOW64` or `ARM64`, or
///   `Sec-CH-UA-Bitness` says 64; [`Os::Win32`] otherwise. A bitness hint of 32 wins over
///   the User-Agent, whose reduced form claims 64 bits everywhere.
/// - macOS: [`Os::Macosarm`] when `Sec-CH-UA-Arch` says `arm`, else [`Os::Macos`].
/// - Linux desktops and ChromeOS: [`Os::Unix`].
/// - Android, iPhone, iPad, anything else: `None`.
pub fn os_from_request(headers: &HeaderMap) -> Option<Os> {
    let ua = header(headers, "user-agent").unwrap_or_default();
    let family = header(headers, "sec-ch-ua-platform")
        .and_then(|hint| Family::from_hint(&hint))
        .unwrap_or_else(|| Family::from_user_agent(&ua));
    match family {
        Family::Windows => {
            let win64 = match header(headers, "sec-ch-ua-bitness").as_deref() {
                Some("64") => true,
                Some("32") => false,
                _ => ["Win64", "x64", "WOW64", "ARM64", "aarch64"]
                    .iter()
                    .any(|token| contains_ignore_case(&ua, token)),
            };
            Some(if win64 { Os::Win64 } else { Os::Win32 })
        }
        Family::Mac => {
            let arm = header(headers, "sec-ch-ua-arch")
                .is_some_and(|arch| arch.eq_ignore_ascii_case("arm"));
            Some(if arm { Os::Macosarm } else { Os::Macos })
        }
        Family::Linux | Family::ChromeOs => Some(Os::Unix),
        Family::Mobile | Family::Unknown => None,
    }
}

/// An operating system family, before the architecture is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Windows,
    Mac,
    Linux,
    ChromeOs,
    /// Android, iOS, iPadOS, Windows Phone: no connector for them.
    Mobile,
    Unknown,
}

impl Family {
    /// From `Sec-CH-UA-Platform`; `None` for values it does not settle (`"Unknown"`, empty).
    fn from_hint(hint: &str) -> Option<Family> {
        let hint = hint.to_ascii_lowercase();
        match hint.as_str() {
            "windows" => Some(Family::Windows),
            "macos" => Some(Family::Mac),
            "linux" => Some(Family::Linux),
            "chrome os" | "chromium os" => Some(Family::ChromeOs),
            "android" | "ios" => Some(Family::Mobile),
            _ => None,
        }
    }

    /// From the User-Agent. Order matters: iOS says `like Mac OS X`, Android says `Linux`,
    /// Windows Phone says `Android`.
    fn from_user_agent(ua: &str) -> Family {
        let has = |token: &str| contains_ignore_case(ua, token);
        if ["iPhone", "iPad", "iPod", "Android", "Windows Phone"].iter().any(|t| has(t)) {
            Family::Mobile
        } else if has("CrOS") {
            Family::ChromeOs
        } else if has("Windows NT") {
            Family::Windows
        } else if has("Macintosh") || has("Mac OS X") {
            Family::Mac
        } else if has("X11") || has("Linux") {
            Family::Linux
        } else {
            Family::Unknown
        }
    }
}

/// A header's value as text, with a structured-field string's quotes removed
/// (`"macOS"` → `macOS`); `None` when absent or not visible ASCII.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    Some(value.to_owned())
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    /// Client hints sent with a User-Agent: (header, value).
    type Hints = &'static [(&'static str, &'static str)];

    /// (what, User-Agent, client hints, expected).
    const TABLE: &[(&str, &str, Hints, Option<Os>)] = &[
        (
            "Chrome on Windows 10 x64",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"Windows\"")],
            Some(Os::Win64),
        ),
        (
            "Edge on Windows 11 x64",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            &[],
            Some(Os::Win64),
        ),
        (
            "Firefox on Windows 10 x64",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[],
            Some(Os::Win64),
        ),
        (
            "Firefox 32-bit on 64-bit Windows (WOW64)",
            "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:52.0) Gecko/20100101 Firefox/52.0",
            &[],
            Some(Os::Win64),
        ),
        (
            "Firefox on 32-bit Windows 10",
            "Mozilla/5.0 (Windows NT 10.0; rv:115.0) Gecko/20100101 Firefox/115.0",
            &[],
            Some(Os::Win32),
        ),
        (
            "Internet Explorer 11 on 32-bit Windows 7",
            "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
            &[],
            Some(Os::Win32),
        ),
        (
            "Chrome on 32-bit Windows: reduced UA says Win64, the bitness hint says 32",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"Windows\""), ("sec-ch-ua-bitness", "\"32\"")],
            Some(Os::Win32),
        ),
        (
            "Edge on Windows on ARM (unreduced UA)",
            "Mozilla/5.0 (Windows NT 10.0; ARM64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 Edg/91.0.864.59",
            &[],
            Some(Os::Win64),
        ),
        (
            "Chrome on Windows on ARM (reduced UA, arm hint)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[
                ("sec-ch-ua-platform", "\"Windows\""),
                ("sec-ch-ua-arch", "\"arm\""),
                ("sec-ch-ua-bitness", "\"64\""),
            ],
            Some(Os::Win64),
        ),
        (
            "Safari on macOS",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
            &[],
            Some(Os::Macos),
        ),
        (
            "Chrome on an Intel Mac, with hints",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"macOS\""), ("sec-ch-ua-arch", "\"x86\"")],
            Some(Os::Macos),
        ),
        (
            "Chrome on Apple silicon, with the arch hint",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[
                ("sec-ch-ua-platform", "\"macOS\""),
                ("sec-ch-ua-arch", "\"arm\""),
                ("sec-ch-ua-bitness", "\"64\""),
            ],
            Some(Os::Macosarm),
        ),
        (
            "Chrome on Apple silicon, without the arch hint (indistinguishable)",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"macOS\"")],
            Some(Os::Macos),
        ),
        (
            "Firefox on macOS",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[],
            Some(Os::Macos),
        ),
        (
            "Chrome on Linux x86_64",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"Linux\"")],
            Some(Os::Unix),
        ),
        (
            "Firefox on Ubuntu x86_64",
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[],
            Some(Os::Unix),
        ),
        (
            "Firefox on Fedora x86_64",
            "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[],
            Some(Os::Unix),
        ),
        (
            "Firefox on Linux aarch64",
            "Mozilla/5.0 (X11; Linux aarch64; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[],
            Some(Os::Unix),
        ),
        (
            "Chromium on Linux aarch64",
            "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[],
            Some(Os::Unix),
        ),
        (
            "Chrome on ChromeOS",
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"Chrome OS\"")],
            Some(Os::Unix),
        ),
        (
            "Chrome on Android",
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            &[("sec-ch-ua-platform", "\"Android\"")],
            None,
        ),
        (
            "Chrome on Android asking for the desktop site (the hint still says Android)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            &[("sec-ch-ua-platform", "\"Android\"")],
            None,
        ),
        (
            "Firefox on Android",
            "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
            &[],
            None,
        ),
        (
            "Safari on iPhone (says 'like Mac OS X')",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
            &[],
            None,
        ),
        (
            "Safari on iPad",
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            &[],
            None,
        ),
        ("curl", "curl/8.5.0", &[], None),
        ("empty User-Agent", "", &[], None),
        (
            "unknown platform hint falls back to the User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            &[("sec-ch-ua-platform", "\"Unknown\"")],
            Some(Os::Unix),
        ),
    ];

    #[test]
    fn user_agent_table() {
        let mut failures = Vec::new();
        for (what, ua, hints, expected) in TABLE {
            let mut headers = HeaderMap::new();
            headers.insert("user-agent", HeaderValue::from_static(ua));
            for (name, value) in *hints {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            let got = os_from_request(&headers);
            if got != *expected {
                failures.push(format!("{what}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(TABLE.len() >= 15);
    }

    #[test]
    fn no_user_agent_header_is_none() {
        assert_eq!(os_from_request(&HeaderMap::new()), None);
    }

    #[test]
    fn non_ascii_user_agent_is_none_not_a_panic() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "user-agent",
            HeaderValue::from_bytes(b"Mozilla/5.0 (\xff\xfe)").expect("opaque bytes are a value"),
        );
        assert_eq!(os_from_request(&headers), None);
    }
}
