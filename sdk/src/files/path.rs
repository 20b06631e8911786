//! [`RelPath`]: a path below a mapped folder, parsed from outside text.
//!
//! The grammar is deliberately narrower than any one file system's: `/`-separated components of
//! at most [`MAX_COMPONENT_BYTES`] bytes, at most [`MAX_PATH_BYTES`] bytes in all, and nothing
//! that means something special on Linux, macOS or Windows. What is refused, and why:
//!
//! - absolute paths (`/etc`), UNC names (`\\server\share`, `//server`), drive letters (`C:`):
//!   they name another root;
//! - `..` (leaves the folder) and `.` (an alias), empty components (`a//b`, a trailing `/`);
//! - `\` anywhere: a separator on Windows;
//! - `:` anywhere: a drive letter or an NTFS alternate data stream (`name:stream`) on Windows;
//! - NUL, control characters (C0, DEL, C1) and the bidirectional overrides (U+202A–U+202E,
//!   U+2066–U+2069) that make a name display as another;
//! - Unicode look-alikes of `/`, `\`, `.` and `:` ([`LOOK_ALIKES`]). They are refused rather than
//!   kept as ordinary characters because Windows' "best fit" conversion to a code page turns
//!   several of them (U+FF0F, U+FF0E, U+2215, …) into the real separator or dot, so a name that is
//!   harmless here could become `../` in another program that reads the folder;
//! - percent-encoded dots and separators (`%2e`, `%2f`, `%5c`, any case): harmless as names here,
//!   but a program that decodes them once more (a web server, a sync tool) reads `../`;
//! - Windows device names (`CON`, `NUL`, `COM1`, `LPT1`, …, also with an extension) and names
//!   ending in `.` or a space, which Windows silently strips so that two names mean one file.
//!
//! The empty string is the folder itself ([`RelPath::root`]). Errors never repeat the refused
//! text: they say what was wrong and in which component, so they are safe to log and to return.
//!
//! The connector parses every path a module or a request names with it, and so does
//! [`super::MemoryFiles`], so a module's native tests meet the same rules. A `RelPath` is only
//! half of the protection: the connector's file operations also resolve every path beneath the
//! folder with the kernel's help, so a symbolic link cannot lead out either.

use std::fmt;
use std::path::PathBuf;

/// Longest component, in bytes (the limit of ext4, NTFS and APFS).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Characters that look like `/`, `\`, `.` or `:` and are refused in names.
pub const LOOK_ALIKES: &[char] = &[
    '\u{2044}', // FRACTION SLASH
    '\u{2215}', // DIVISION SLASH
    '\u{29F8}', // BIG SOLIDUS
    '\u{FF0F}', // FULLWIDTH SOLIDUS
    '\u{2216}', // SET MINUS
    '\u{29F5}', // REVERSE SOLIDUS OPERATOR
    '\u{29F9}', // BIG REVERSE SOLIDUS
    '\u{FE68}', // SMALL REVERSE SOLIDUS
    '\u{FF3C}', // FULLWIDTH REVERSE SOLIDUS
    '\u{2024}', // ONE DOT LEADER
    '\u{2025}', // TWO DOT LEADER
    '\u{FE52}', // SMALL FULL STOP
    '\u{FF0E}', // FULLWIDTH FULL STOP
    '\u{A789}', // MODIFIER LETTER COLON
    '\u{FE13}', // PRESENTATION FORM FOR VERTICAL COLON
    '\u{FE55}', // SMALL COLON
    '\u{FF1A}', // FULLWIDTH COLON
];

/// A relative path beneath a mapped folder, valid by construction (see the module docs).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(String);

/// Why a text is not a [`RelPath`]. Component indexes count from 0; no variant carries the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is {len} bytes long, more than {MAX_PATH_BYTES}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The path starts with `/`.
    #[error("the path is absolute")]
    Absolute,
    /// The path starts with `\\` or `//`: a Windows network or device name.
    #[error("the path is a UNC name")]
    Unc,
    /// The path starts with a drive letter (`C:`).
    #[error("the path starts with a drive letter")]
    DriveLetter,
    /// The path contains a NUL byte.
    #[error("the path contains a NUL byte")]
    Nul,
    /// The path contains `\`.
    #[error("the path contains a backslash")]
    Backslash,
    /// A component is empty (`a//b`, a trailing `/`).
    #[error("component {index} is empty")]
    EmptyComponent {
        /// Which component.
        index: usize,
    },
    /// A component is `.` or `..`.
    #[error("component {index} is `.` or `..`")]
    DotComponent {
        /// Which component.
        index: usize,
    },
    /// A component is longer than [`MAX_COMPONENT_BYTES`].
    #[error("component {index} is {len} bytes long, more than {MAX_COMPONENT_BYTES}")]
    ComponentTooLong {
        /// Which component.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A component contains a control or bidirectional formatting character.
    #[error("component {index} contains a control character")]
    ControlCharacter {
        /// Which component.
        index: usize,
    },
    /// A component contains `:`.
    #[error("component {index} contains a colon")]
    Colon {
        /// Which component.
        index: usize,
    },
    /// A component contains a look-alike of `/`, `\`, `.` or `:` ([`LOOK_ALIKES`]).
    #[error("component {index} contains a look-alike of a separator, a dot or a colon")]
    LookAlike {
        /// Which component.
        index: usize,
    },
    /// A component ends with `.` or a space.
    #[error("component {index} ends with a dot or a space")]
    TrailingDotOrSpace {
        /// Which component.
        index: usize,
    },
    /// A component is a Windows device name (`CON`, `NUL`, `COM1`, …).
    #[error("component {index} is a reserved device name")]
    ReservedName {
        /// Which component.
        index: usize,
    },
    /// A component contains a percent-encoded dot or separator (`%2e`, `%2f`, `%5c`).
    #[error("component {index} contains a percent-encoded dot or separator")]
    PercentEncoded {
        /// Which component.
        index: usize,
    },
    /// A name given as one component contains `/`.
    #[error("component {index} contains a slash")]
    Slash {
        /// Which component.
        index: usize,
    },
}

impl RelPath {
    /// The mapped folder itself.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses `/`-separated `text`; the empty string is [`RelPath::root`].
    ///
    /// # Errors
    /// A [`PathError`] naming the first rule `text` breaks.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Ok(Self::root());
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong { len: text.len() });
        }
        if text.starts_with("\\\\") || text.starts_with("//") {
            return Err(PathError::Unc);
        }
        if text.starts_with('/') {
            return Err(PathError::Absolute);
        }
        let bytes = text.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(PathError::DriveLetter);
        }
        if text.contains('\0') {
            return Err(PathError::Nul);
        }
        if text.contains('\\') {
            return Err(PathError::Backslash);
        }
        for (index, component) in text.split('/').enumerate() {
            check_component(index, component)?;
        }
        Ok(Self(text.to_owned()))
    }

    /// The path made of `names`, each one component (the API's `relPath` arrays); no names is
    /// [`RelPath::root`].
    ///
    /// # Errors
    /// [`PathError::Slash`] when a name contains `/`, and the errors of [`RelPath::parse`].
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, PathError> {
        let mut joined = String::new();
        for (index, name) in names.into_iter().enumerate() {
            if name.contains('/') {
                return Err(PathError::Slash { index });
            }
            if index > 0 {
                joined.push('/');
            }
            joined.push_str(name);
            if joined.len() > MAX_PATH_BYTES {
                return Err(PathError::TooLong { len: joined.len() });
            }
            if joined.is_empty() {
                // A first name that is empty would otherwise parse as the root.
                return Err(PathError::EmptyComponent { index });
            }
        }
        Self::parse(&joined)
    }

    /// This path with one more component, `name`.
    ///
    /// # Errors
    /// As [`RelPath::from_names`].
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        Self::from_names(self.components().chain([name]))
    }

    /// Whether this is the folder itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first; none for the root.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// The path without its last component; `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(at) => Self(self.0[..at].to_owned()),
            None => Self::root(),
        })
    }

    /// The path as text, `/`-separated (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path for the file system calls, relative to the folder (`.` for the root).
    pub fn to_fs_path(&self) -> PathBuf {
        if self.is_root() {
            return PathBuf::from(".");
        }
        self.components().collect()
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

/// Whether `name`, read from a directory, is one component a [`RelPath`] can name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && check_component(0, name).is_ok()
}

fn check_component(index: usize, component: &str) -> Result<(), PathError> {
    if component.is_empty() {
        return Err(PathError::EmptyComponent { index });
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(PathError::ComponentTooLong { index, len: component.len() });
    }
    if component == "." || component == ".." {
        return Err(PathError::DotComponent { index });
    }
    for c in component.chars() {
        if c.is_control() || is_bidi_control(c) {
            return Err(PathError::ControlCharacter { index });
        }
        if c == ':' {
            return Err(PathError::Colon { index });
        }
        if LOOK_ALIKES.contains(&c) {
            return Err(PathError::LookAlike { index });
        }
    }
    if component.ends_with(['.', ' ']) {
        return Err(PathError::TrailingDotOrSpace { index });
    }
    if is_percent_encoded_dot_or_separator(component) {
        return Err(PathError::PercentEncoded { index });
    }
    if is_windows_device(component) {
        return Err(PathError::ReservedName { index });
    }
    Ok(())
}

fn is_percent_encoded_dot_or_separator(component: &str) -> bool {
    component.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'e') | (b'2', b'f') | (b'5', b'c')
            )
    })
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9` (also with superscript digits),
/// `CONIN$`, `CONOUT$`: Windows opens the device for these, whatever the extension.
fn is_windows_device(component: &str) -> bool {
    let stem = component.split('.').next().unwrap_or(component).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$") {
        return true;
    }
    let Some(digit) = upper.strip_prefix("COM").or_else(|| upper.strip_prefix("LPT")) else {
        return false;
    };
    let mut chars = digit.chars();
    matches!((chars.next(), chars.next()), (Some('0'..='9' | '\u{B9}' | '\u{B2}' | '\u{B3}'), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> PathError {
        match RelPath::parse(text) {
            Ok(path) => panic!("{path:?} was accepted"),
            Err(err) => err,
        }
    }

    #[test]
    fn plain_paths_parse_into_components() {
        let path = RelPath::parse("reports/2024/q1 summary.pdf").expect("valid");
        assert_eq!(path.components().collect::<Vec<_>>(), ["reports", "2024", "q1 summary.pdf"]);
        assert_eq!(path.file_name(), Some("q1 summary.pdf"));
        assert_eq!(path.parent().map(|p| p.to_string()), Some("reports/2024".to_owned()));
        assert_eq!(path.to_fs_path(), PathBuf::from("reports/2024/q1 summary.pdf"));
    }

    #[test]
    fn empty_text_is_the_root() {
        let root = RelPath::parse("").expect("root");
        assert!(root.is_root());
        assert_eq!(root.file_name(), None);
        assert_eq!(root.parent(), None);
        assert_eq!(root.to_fs_path(), PathBuf::from("."));
        assert_eq!(RelPath::parse("a").expect("a").parent(), Some(RelPath::root()));
    }

    #[test]
    fn parent_components_are_refused() {
        assert_eq!(refused(".."), PathError::DotComponent { index: 0 });
        assert_eq!(refused("../etc/passwd"), PathError::DotComponent { index: 0 });
        assert_eq!(refused("a/../../b"), PathError::DotComponent { index: 1 });
        assert_eq!(refused("a/.."), PathError::DotComponent { index: 1 });
        assert_eq!(refused("./a"), PathError::DotComponent { index: 0 });
    }

    #[test]
    fn backslash_traversal_is_refused() {
        assert_eq!(refused("..\\secret"), PathError::Backslash);
        assert_eq!(refused("a\\b"), PathError::Backslash);
    }

    #[test]
    fn absolute_paths_are_refused() {
        assert_eq!(refused("/etc/passwd"), PathError::Absolute);
        assert_eq!(refused("/"), PathError::Absolute);
    }

    #[test]
    fn drive_letters_are_refused() {
        assert_eq!(refused("C:"), PathError::DriveLetter);
        assert_eq!(refused("c:\\Windows"), PathError::DriveLetter);
        assert_eq!(refused("C:/Windows"), PathError::DriveLetter);
        assert_eq!(refused("z:relative"), PathError::DriveLetter);
        assert_eq!(refused("a/C:"), PathError::Colon { index: 1 });
        assert_eq!(refused("file.txt:stream"), PathError::Colon { index: 0 });
    }

    #[test]
    fn unc_names_are_refused() {
        assert_eq!(refused("\\\\server\\share"), PathError::Unc);
        assert_eq!(refused("\\\\?\\C:\\x"), PathError::Unc);
        assert_eq!(refused("//server/share"), PathError::Unc);
    }

    #[test]
    fn nul_and_control_characters_are_refused() {
        assert_eq!(refused("a\0b"), PathError::Nul);
        assert_eq!(refused("a/b\nc"), PathError::ControlCharacter { index: 1 });
        assert_eq!(refused("\u{7f}"), PathError::ControlCharacter { index: 0 });
        assert_eq!(refused("\u{85}x"), PathError::ControlCharacter { index: 0 });
        assert_eq!(refused("invoice\u{202E}fdp.exe"), PathError::ControlCharacter { index: 0 });
    }

    #[test]
    fn empty_components_are_refused() {
        assert_eq!(refused("a//b"), PathError::EmptyComponent { index: 1 });
        assert_eq!(refused("a/"), PathError::EmptyComponent { index: 1 });
        assert_eq!(RelPath::from_names([""]), Err(PathError::EmptyComponent { index: 0 }));
        assert_eq!(RelPath::from_names(["a", ""]), Err(PathError::EmptyComponent { index: 1 }));
    }

    #[test]
    fn over_long_names_are_refused() {
        let name = "x".repeat(MAX_COMPONENT_BYTES);
        assert!(RelPath::parse(&name).is_ok());
        let long = "x".repeat(MAX_COMPONENT_BYTES + 1);
        assert_eq!(
            refused(&format!("a/{long}")),
            PathError::ComponentTooLong { index: 1, len: MAX_COMPONENT_BYTES + 1 }
        );
        assert_eq!(refused(&"y".repeat(4096 * 2)), PathError::TooLong { len: 8192 });
        let many = vec!["abcdefgh"; 600].join("/");
        assert_eq!(refused(&many), PathError::TooLong { len: many.len() });
        // A 4 KiB name is refused whichever rule sees it first, and the error does not echo it.
        let err = refused(&"n".repeat(4096));
        assert!(!err.to_string().contains("nnnn"), "{err}");
    }

    #[test]
    fn look_alikes_of_separators_and_dots_are_refused() {
        for c in
            ['\u{2215}', '\u{2044}', '\u{FF0F}', '\u{FF0E}', '\u{2024}', '\u{FF3C}', '\u{FF1A}']
        {
            let text = format!("a{c}{c}b");
            assert_eq!(refused(&text), PathError::LookAlike { index: 0 }, "U+{:04X}", c as u32);
            let dots = format!("{c}{c}");
            assert!(RelPath::parse(&dots).is_err());
        }
        // Other non-ASCII text is fine.
        assert!(RelPath::parse("façade/データ/résumé.pdf").is_ok());
    }

    #[test]
    fn percent_encoded_dots_and_separators_are_refused() {
        for text in ["%2e%2e%2fetc", "a/%2E%2E", "x%2Fy", "x%5cy", "%2e"] {
            assert!(
                matches!(refused(text), PathError::PercentEncoded { .. }),
                "{text} was not refused as percent-encoded"
            );
        }
        // A percent sign alone, or encoding something else, is an ordinary character.
        assert!(RelPath::parse("100% done/50%20off.pdf").is_ok());
    }

    #[test]
    fn windows_aliases_are_refused() {
        assert_eq!(refused("NUL"), PathError::ReservedName { index: 0 });
        assert_eq!(refused("a/con.txt"), PathError::ReservedName { index: 1 });
        assert_eq!(refused("com1"), PathError::ReservedName { index: 0 });
        assert_eq!(refused("LPT9.log"), PathError::ReservedName { index: 0 });
        assert!(RelPath::parse("console.txt").is_ok());
        assert!(RelPath::parse("com10").is_ok());
        assert_eq!(refused("name."), PathError::TrailingDotOrSpace { index: 0 });
        assert_eq!(refused("name "), PathError::TrailingDotOrSpace { index: 0 });
        assert!(RelPath::parse(".hidden").is_ok());
    }

    #[test]
    fn names_join_one_component_at_a_time() {
        let dir = RelPath::from_names(["a", "b"]).expect("valid");
        assert_eq!(dir.as_str(), "a/b");
        assert_eq!(dir.join("c.txt").expect("valid").as_str(), "a/b/c.txt");
        assert_eq!(dir.join("c/d"), Err(PathError::Slash { index: 2 }));
        assert_eq!(dir.join(".."), Err(PathError::DotComponent { index: 2 }));
        assert_eq!(RelPath::root().join("x").expect("valid").as_str(), "x");
        assert_eq!(RelPath::from_names(Vec::<&str>::new()), Ok(RelPath::root()));
    }

    #[test]
    fn errors_never_repeat_the_refused_text() {
        for text in ["../secret-name", "/secret-name", "secret-name\0", "C:secret-name"] {
            let err = refused(text);
            assert!(!err.to_string().contains("secret-name"), "{err}");
        }
    }
}
