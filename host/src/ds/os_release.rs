//! The operating system's release the connector reports to its DS (`Platform.os_version`),
//! read once at start in a simple way per platform: `/etc/os-release` on Linux, `sw_vers` on
//! macOS, `ver` on Windows. `None` when it cannot be read; the DS then shows it as unknown.

/// Longest release reported, in characters (the DS keeps at most 64).
const MAX_CHARS: usize = 64;

/// The release (`Debian GNU/Linux 12 (bookworm)`, `macOS 14.5`, `Windows 10.0.22631.4169`),
/// or `None`.
pub(super) fn os_version() -> Option<String> {
    read().and_then(|text| tidy(&text))
}

/// Trimmed, without control characters, at most [`MAX_CHARS`]; `None` when empty.
fn tidy(text: &str) -> Option<String> {
    let text: String = text.trim().chars().filter(|c| !c.is_control()).take(MAX_CHARS).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(target_os = "linux")]
fn read() -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| from_os_release(&text))
}

/// `PRETTY_NAME` of an os-release file, else `NAME` and `VERSION_ID`.
#[cfg(any(target_os = "linux", test))]
fn from_os_release(text: &str) -> Option<String> {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.trim().split_once('='))
            .find(|(name, _)| *name == key)
            .map(|(_, value)| unquote(value.trim()))
            .filter(|value| !value.is_empty())
    };
    value("PRETTY_NAME").or_else(|| match (value("NAME"), value("VERSION_ID")) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (name, version) => name.or(version),
    })
}

/// An os-release value without its quotes and shell escapes.
#[cfg(any(target_os = "linux", test))]
fn unquote(value: &str) -> String {
    let inner = ['"', '\'']
        .iter()
        .find_map(|&q| value.strip_prefix(q).and_then(|rest| rest.strip_suffix(q)))
        .unwrap_or(value);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(target_os = "macos")]
fn read() -> Option<String> {
    let output =
        std::process::Command::new("/usr/bin/sw_vers").arg("-productVersion").output().ok()?;
    let version = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !version.trim().is_empty())
        .then(|| format!("macOS {}", version.trim()))
}

#[cfg(windows)]
fn read() -> Option<String> {
    use std::os::windows::process::CommandExt as _;
    /// No console window flashes up for the child.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    let system = std::env::var_os("SystemRoot")?;
    let cmd = std::path::Path::new(&system).join("System32").join("cmd.exe");
    let output = std::process::Command::new(cmd)
        .args(["/D", "/C", "ver"])
        .creation_flags(CREATE_NO_WINDOW)
        .output()
        .ok()?;
    // `Microsoft Windows [Version 10.0.22631.4169]`
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("Version ").nth(1)?.split(']').next()?.trim().to_owned();
    (output.status.success() && !version.is_empty()).then(|| format!("Windows {version}"))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn read() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_gives_its_pretty_name_or_name_and_version() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n";
        assert_eq!(from_os_release(debian).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        let bare = "NAME='Alpine Linux'\nID=alpine\nVERSION_ID=3.20.3\n";
        assert_eq!(from_os_release(bare).as_deref(), Some("Alpine Linux 3.20.3"));
        assert_eq!(
            from_os_release("PRETTY_NAME=\"A \\\"quoted\\\" one\"").as_deref(),
            Some("A \"quoted\" one")
        );
        assert_eq!(from_os_release("garbage\n=\nPRETTY_NAME=\n"), None);
    }

    #[test]
    fn releases_are_tidied() {
        assert_eq!(tidy("  x\u{7}y \n").as_deref(), Some("xy"));
        assert_eq!(tidy(" \n"), None);
        assert_eq!(tidy(&"z".repeat(100)).map(|t| t.len()), Some(MAX_CHARS));
    }

    #[test]
    fn this_machine_has_a_release() {
        if cfg!(target_os = "linux") && std::path::Path::new("/etc/os-release").exists() {
            assert!(os_version().is_some());
        }
    }
}
