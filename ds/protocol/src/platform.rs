//! The platforms an installer is published for, named as T1C's download paths name them
//! (`/v3_5/downloads/installers/{os}`).

use serde::{Deserialize, Serialize};

/// An installer platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Windows, 32-bit x86.
    Win32,
    /// Windows, 64-bit (x64 and Arm64 through emulation).
    Win64,
    /// Linux and other Unix desktops (ChromeOS through its Linux environment).
    Unix,
    /// macOS on Intel.
    Macos,
    /// macOS on Apple silicon.
    Macosarm,
}

/// The text is not one of `win32`, `win64`, `unix`, `macos`, `macosarm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?}: expected one of win32, win64, unix, macos, macosarm")]
pub struct UnknownOs(pub String);

impl Os {
    /// Every platform, in path-name order.
    pub const ALL: [Os; 5] = [Os::Win32, Os::Win64, Os::Unix, Os::Macos, Os::Macosarm];

    /// The path name (`win64`, `macosarm`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Win32 => "win32",
            Os::Win64 => "win64",
            Os::Unix => "unix",
            Os::Macos => "macos",
            Os::Macosarm => "macosarm",
        }
    }
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Os {
    type Err = UnknownOs;

    /// Case-insensitive, so T1C's `MACOS` in version documents parses too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Os::ALL
            .into_iter()
            .find(|os| os.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownOs(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ignore_case() {
        for os in Os::ALL {
            assert_eq!(os.as_str().parse::<Os>(), Ok(os));
            assert_eq!(os.as_str().to_uppercase().parse::<Os>(), Ok(os));
        }
        assert!("windows".parse::<Os>().is_err());
    }
}
