//! The version policy: for each connector version, whether it is `allowed`, `recommended` or
//! `mandatory`, and what a connector running a given version must do (T1C's rules).

use serde::{Deserialize, Serialize};

/// The flags an operator sets on a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionFlags {
    /// Offered to users running an older version.
    pub recommended: bool,
    /// Users on an older version must upgrade before modules serve again.
    pub mandatory: bool,
    /// Connectors of this version may run at all.
    pub allowed: bool,
}

/// What a connector running some version must do, given the latest version's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeAdvice {
    /// Nothing: the connector runs the latest version, or an allowed one with no recommended
    /// or mandatory successor.
    None,
    /// Tell the user a newer version is recommended, with the download link.
    Notify,
    /// Stop serving module calls until upgraded.
    Block,
}

/// T1C's rules: the same version as the latest → nothing; the device's own version not
/// allowed, or the latest mandatory → block; the latest recommended → notify.
///
/// `own` is `None` when the device's version is unknown to the DS, which counts as not
/// allowed.
pub fn advice(
    own_is_latest: bool,
    own: Option<VersionFlags>,
    latest: VersionFlags,
) -> UpgradeAdvice {
    if own_is_latest {
        return UpgradeAdvice::None;
    }
    if !own.is_some_and(|flags| flags.allowed) || latest.mandatory {
        return UpgradeAdvice::Block;
    }
    if latest.recommended {
        return UpgradeAdvice::Notify;
    }
    UpgradeAdvice::None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: VersionFlags =
        VersionFlags { recommended: false, mandatory: false, allowed: true };

    #[test]
    fn t1c_rules() {
        let recommended = VersionFlags { recommended: true, ..ALLOWED };
        let mandatory = VersionFlags { mandatory: true, ..ALLOWED };
        let refused = VersionFlags { allowed: false, ..ALLOWED };
        assert_eq!(advice(true, Some(refused), mandatory), UpgradeAdvice::None);
        assert_eq!(advice(false, Some(ALLOWED), recommended), UpgradeAdvice::Notify);
        assert_eq!(advice(false, Some(ALLOWED), mandatory), UpgradeAdvice::Block);
        assert_eq!(advice(false, Some(refused), recommended), UpgradeAdvice::Block);
        assert_eq!(advice(false, None, ALLOWED), UpgradeAdvice::Block);
        assert_eq!(advice(false, Some(ALLOWED), ALLOWED), UpgradeAdvice::None);
    }
}
