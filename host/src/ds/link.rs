//! What the rest of the connector sees of the DS: the sync status (for `/info` and `t1c ds
//! status`), whether module calls are refused and why, and the labels and browsers the API saw
//! since the last sync.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use t1c_ds_protocol::messages::Digests;
use t1c_ds_protocol::version::UpgradeAdvice;

/// Labels and browsers remembered between two syncs, at most.
const SEEN_LIMIT: usize = 64;

/// The sync as it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsStatus {
    /// The DS.
    pub url: String,
    /// The device id, once registered.
    pub device_id: Option<String>,
    /// When the last sync succeeded, seconds since the epoch.
    pub last_sync: Option<i64>,
    /// When the next sync is due.
    pub next_sync: Option<i64>,
    /// Failed syncs (or registrations) in a row.
    pub consecutive_failures: u32,
    /// Failed syncs in a row after which module calls are refused.
    pub failure_limit: u32,
    /// The DS's version verdict: none, notify or block.
    pub upgrade: Option<UpgradeAdvice>,
    /// The latest connector version, as the DS says.
    pub latest_version: Option<String>,
    /// Where to download it (an absolute URL at the DS).
    pub download: Option<String>,
    /// The digests of the sections applied.
    pub digests: Digests,
    /// The serial of the module assignment applied.
    pub assignment_serial: Option<u64>,
    /// Why the last sync failed, or which sections it could not apply.
    pub last_error: Option<String>,
    /// The connector version the verdict is about.
    #[serde(default)]
    pub connector_version: String,
}

/// Why module calls are refused now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The DS requires an upgrade (the latest version is mandatory, or this one is no longer
    /// allowed).
    UpgradeRequired {
        /// The version to install.
        latest: Option<String>,
        /// Where to download it.
        download: Option<String>,
    },
    /// The DS could not be reached this many times in a row.
    DsUnreachable {
        /// Failed syncs in a row.
        failures: u32,
    },
}

/// The shared link to the DS sync.
#[derive(Debug, Default)]
pub struct DsLink {
    status: Mutex<DsStatus>,
    seen: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
}

impl DsLink {
    /// A link for the DS at `url` with `failure_limit`.
    pub fn new(url: &str, failure_limit: u32) -> Self {
        let status = DsStatus { url: url.to_owned(), failure_limit, ..DsStatus::default() };
        Self { status: Mutex::new(status), seen: Mutex::default() }
    }

    /// The status now.
    pub fn status(&self) -> DsStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why module calls are refused now, if they are.
    pub fn refusal(&self) -> Option<Refusal> {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if status.upgrade == Some(UpgradeAdvice::Block) {
            return Some(Refusal::UpgradeRequired {
                latest: status.latest_version.clone(),
                download: status.download.clone(),
            });
        }
        (status.failure_limit > 0 && status.consecutive_failures >= status.failure_limit)
            .then_some(Refusal::DsUnreachable { failures: status.consecutive_failures })
    }

    /// Notes the label (from the caller's token) and browser of an API call.
    pub fn note_call(&self, label: Option<&str>, user_agent: Option<&str>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = label
            && seen.0.len() < SEEN_LIMIT
            && label.len() <= 64
        {
            seen.0.insert(label.to_owned());
        }
        if let Some(agent) = user_agent
            && seen.1.len() < SEEN_LIMIT
            && agent.len() <= 512
        {
            seen.1.insert(agent.to_owned());
        }
    }

    /// The labels and User-Agents seen since the last call, emptied.
    pub(crate) fn take_seen(&self) -> (Vec<String>, Vec<String>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (labels, agents) = std::mem::take(&mut *seen);
        (labels.into_iter().collect(), agents.into_iter().collect())
    }

    /// Puts back what a failed sync took (merged with what was seen meanwhile).
    pub(crate) fn restore_seen(&self, labels: Vec<String>, agents: Vec<String>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.0.extend(labels.into_iter().take(SEEN_LIMIT));
        seen.1.extend(agents.into_iter().take(SEEN_LIMIT));
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut DsStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_calls_are_refused_for_a_required_upgrade_or_too_many_failures() {
        let link = DsLink::new("https://ds.example", 3);
        assert_eq!(link.refusal(), None);
        link.update(|s| s.consecutive_failures = 3);
        assert_eq!(link.refusal(), Some(Refusal::DsUnreachable { failures: 3 }));
        link.update(|s| {
            s.consecutive_failures = 0;
            s.upgrade = Some(UpgradeAdvice::Block);
            s.download = Some("https://ds.example/x".into());
        });
        assert!(matches!(link.refusal(), Some(Refusal::UpgradeRequired { .. })));
        link.update(|s| s.upgrade = Some(UpgradeAdvice::Notify));
        assert_eq!(link.refusal(), None, "notify only tells the user");
    }

    #[test]
    fn seen_labels_are_taken_once_and_bounded() {
        let link = DsLink::new("u", 3);
        for i in 0..100 {
            link.note_call(Some(&format!("label-{i}")), Some("Mozilla/5.0"));
        }
        let (labels, agents) = link.take_seen();
        assert_eq!((labels.len(), agents.len()), (SEEN_LIMIT, 1));
        assert_eq!(link.take_seen(), (vec![], vec![]));
    }
}
