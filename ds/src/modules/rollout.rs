//! Which bundle of each module a device is assigned, from the rollouts (pure: no I/O, the
//! sync calls it with the cached rollouts).
//!
//! - A rollout targets connector versions (a semver requirement) and labels or organisations
//!   (a device is targeted once it has reported one of their labels; no target: every device).
//! - Of the targeted devices, a rollout takes `percent`: a device is in when a hash of the
//!   rollout id and the device id falls below it, so raising 10 % → 50 % keeps the first 10 %.
//! - Per module, the newest rollout that takes the device wins. A paused rollout keeps only the
//!   devices that already run its bundle; a rolled-back one takes none, and its devices go back
//!   to the rollout before it that targets them, whatever its percentage or state.
//! - The device's status in the winning rollout comes from its own report: installed (it runs
//!   the bundle), failed (it reports the version failed), else assigned.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use t1c_ds_protocol::assignment::AssignedModule;
use t1c_ds_protocol::messages::{FailedInstall, InstalledModule};

use crate::store::{BundleRecord, Label, Rollout, RolloutReport, RolloutState, RolloutStatus};

/// Basis points in 100 %.
const SCALE: u32 = 10_000;

/// Whether `device_id` is among the first `percent` % of devices for `rollout_id`.
pub fn member(rollout_id: &str, device_id: &str, percent: u8) -> bool {
    bucket(rollout_id, device_id) < u32::from(percent.min(100)) * (SCALE / 100)
}

/// The device's place in the rollout, 0 to 9,999: stable, and independent between rollouts.
fn bucket(rollout_id: &str, device_id: &str) -> u32 {
    let digest = Sha256::digest(format!("{rollout_id}\n{device_id}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SCALE
}

/// The DS path a bundle is downloaded from.
pub fn download_path(digest: &str) -> String {
    format!("/v3_5/bundles/{digest}/content")
}

/// One rollout, ready to match.
#[derive(Debug)]
struct Compiled {
    rollout: Rollout,
    bundle: Arc<BundleRecord>,
    versions: Option<semver::VersionReq>,
    /// Label names it targets; `None`: every device.
    labels: Option<HashSet<String>>,
}

/// Every rollout, grouped by module, newest first.
#[derive(Debug, Default)]
pub struct RolloutPlan {
    modules: Vec<(String, Vec<Compiled>)>,
}

/// What the plan says for one device.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The bundles it should run, by module name.
    pub modules: Vec<AssignedModule>,
    /// Its status in each rollout that assigns it one.
    pub reports: Vec<RolloutReport>,
}

impl RolloutPlan {
    /// From every rollout, the bundles they name and every label (to resolve label and
    /// organisation targets to the label names devices report). A rollout whose bundle is
    /// missing or whose version requirement does not parse assigns nothing.
    pub fn new(
        rollouts: Vec<Rollout>,
        bundles: &HashMap<String, Arc<BundleRecord>>,
        labels: &[Label],
    ) -> Self {
        let mut by_module: HashMap<String, Vec<Compiled>> = HashMap::new();
        for rollout in rollouts {
            let Some(bundle) = bundles.get(&rollout.bundle).cloned() else {
                tracing::error!(rollout = %rollout.id, "rollout names a missing bundle");
                continue;
            };
            let versions = match rollout.connector_versions.trim() {
                "" | "*" => None,
                text => match semver::VersionReq::parse(text) {
                    Ok(req) => Some(req),
                    Err(_) => {
                        tracing::error!(rollout = %rollout.id, "unreadable connector_versions");
                        continue;
                    }
                },
            };
            let targets = if rollout.labels.is_empty() && rollout.organisations.is_empty() {
                None
            } else {
                Some(
                    labels
                        .iter()
                        .filter(|l| {
                            rollout.labels.contains(&l.id)
                                || rollout.organisations.contains(&l.organisation_id)
                        })
                        .map(|l| l.name.clone())
                        .collect(),
                )
            };
            by_module.entry(rollout.module.clone()).or_default().push(Compiled {
                rollout,
                bundle,
                versions,
                labels: targets,
            });
        }
        let mut modules: Vec<(String, Vec<Compiled>)> = by_module.into_iter().collect();
        modules.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, rollouts) in &mut modules {
            rollouts.sort_by_key(|c| std::cmp::Reverse(c.rollout.sequence));
        }
        Self { modules }
    }

    /// The bundles a device should run and its status in their rollouts: the device runs
    /// connector `version`, has reported `labels`, and runs `installed` (failing `failed`).
    pub fn assign(
        &self,
        device_id: &str,
        version: &semver::Version,
        labels: &[String],
        installed: &[InstalledModule],
        failed: &[FailedInstall],
    ) -> Assigned {
        let mut assigned = Assigned::default();
        for (module, rollouts) in &self.modules {
            let runs = |bundle: &BundleRecord| {
                installed.iter().any(|m| m.name == *module && m.digest == bundle.digest)
            };
            let targets = |c: &Compiled| {
                c.versions.as_ref().is_none_or(|req| req.matches(version))
                    && c.labels
                        .as_ref()
                        .is_none_or(|targets| labels.iter().any(|l| targets.contains(l)))
            };
            // A device taken by a rolled-back rollout goes back to the rollout before it that
            // targets it, whatever that one's percentage or state.
            let mut rolled_back = false;
            let chosen = rollouts.iter().find(|c| {
                if !targets(c) {
                    return false;
                }
                let taken = member(&c.rollout.id, device_id, c.rollout.percent);
                match c.rollout.state {
                    RolloutState::RolledBack => {
                        rolled_back |= taken;
                        false
                    }
                    _ if rolled_back => true,
                    RolloutState::Active => taken,
                    RolloutState::Paused => taken && runs(&c.bundle),
                }
            });
            let Some(chosen) = chosen else { continue };
            let bundle = &chosen.bundle;
            let failure = failed.iter().find(|f| f.name == *module && f.version == bundle.version);
            let (status, reason) = if runs(bundle) {
                (RolloutStatus::Installed, None)
            } else if let Some(failure) = failure {
                (RolloutStatus::Failed, Some(failure.reason.chars().take(512).collect()))
            } else {
                (RolloutStatus::Assigned, None)
            };
            assigned.reports.push(RolloutReport {
                rollout_id: chosen.rollout.id.clone(),
                status,
                reason,
            });
            assigned.modules.push(AssignedModule {
                name: module.clone(),
                version: bundle.version.clone(),
                digest: bundle.digest.clone(),
                size: u64::try_from(bundle.size).unwrap_or(0),
                download: download_path(&bundle.digest),
                rollout: chosen.rollout.id.clone(),
            });
        }
        assigned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(digest: &str, version: &str) -> Arc<BundleRecord> {
        Arc::new(BundleRecord {
            digest: digest.into(),
            module: "beid".into(),
            version: version.into(),
            signer: "00".into(),
            contract: "0.1.0".into(),
            capabilities: vec![],
            description: String::new(),
            size: 10,
            created_at: 0,
        })
    }

    fn rollout(id: &str, bundle: &str, percent: u8, created_at: i64) -> Rollout {
        Rollout {
            id: id.into(),
            bundle: bundle.into(),
            module: "beid".into(),
            connector_versions: "*".into(),
            labels: vec![],
            organisations: vec![],
            percent,
            failure_threshold: 0,
            state: RolloutState::Active,
            state_reason: None,
            counted_since: 0,
            sequence: created_at,
            created_at,
            updated_at: created_at,
        }
    }

    fn label(id: &str, org: &str, name: &str) -> Label {
        Label {
            id: id.into(),
            organisation_id: org.into(),
            name: name.into(),
            application: String::new(),
            domains: vec![],
            tags: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn bundles() -> HashMap<String, Arc<BundleRecord>> {
        [("b1", "1.0.0"), ("b2", "2.0.0")]
            .into_iter()
            .map(|(d, v)| (d.to_owned(), bundle(d, v)))
            .collect()
    }

    fn devices(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:032x}")).collect()
    }

    const V: semver::Version = semver::Version::new(3, 6, 1);

    #[test]
    fn raising_the_percentage_keeps_the_devices_already_in() {
        let ids = devices(2000);
        let at = |p: u8| -> HashSet<&String> { ids.iter().filter(|d| member("r", d, p)).collect() };
        let (ten, fifty, all) = (at(10), at(50), at(100));
        assert!(ten.is_subset(&fifty) && fifty.is_subset(&all));
        assert_eq!(all.len(), 2000);
        assert!(at(0).is_empty());
        assert!((150..250).contains(&ten.len()), "about 10 %: {}", ten.len());
        assert!((900..1100).contains(&fifty.len()), "about 50 %: {}", fifty.len());
        let other: HashSet<&String> = ids.iter().filter(|d| member("other", d, 10)).collect();
        assert_ne!(ten, other, "each rollout picks its own devices");
    }

    #[test]
    fn the_newest_rollout_that_takes_the_device_wins() {
        let plan = RolloutPlan::new(
            vec![rollout("r1", "b1", 100, 1), rollout("r2", "b2", 30, 2)],
            &bundles(),
            &[],
        );
        let mut seen = HashMap::new();
        for device in devices(500) {
            let a = plan.assign(&device, &V, &[], &[], &[]);
            assert_eq!(a.modules.len(), 1);
            *seen.entry(a.modules[0].version.clone()).or_insert(0) += 1;
            assert_eq!(a.reports[0].status, RolloutStatus::Assigned);
            assert_eq!(
                a.modules[0].download,
                "/v3_5/bundles/".to_owned() + &a.modules[0].digest + "/content"
            );
        }
        assert!(seen["2.0.0"] > 100 && seen["1.0.0"] > 250, "{seen:?}");
    }

    #[test]
    fn pause_keeps_installed_devices_and_rollback_falls_back() {
        let d = devices(400).into_iter().find(|d| member("r2", d, 50)).expect("a member");
        let runs_b2 =
            [InstalledModule { name: "beid".into(), version: "2.0.0".into(), digest: "b2".into() }];
        let mut r2 = rollout("r2", "b2", 50, 2);
        let plan = |r2: &Rollout| {
            RolloutPlan::new(vec![rollout("r1", "b1", 100, 1), r2.clone()], &bundles(), &[])
        };

        let active = plan(&r2).assign(&d, &V, &[], &runs_b2, &[]);
        assert_eq!(active.modules[0].version, "2.0.0");
        assert_eq!(active.reports[0].status, RolloutStatus::Installed);

        r2.state = RolloutState::Paused;
        let paused = plan(&r2);
        assert_eq!(
            paused.assign(&d, &V, &[], &runs_b2, &[]).modules[0].version,
            "2.0.0",
            "keeps it"
        );
        let fresh = paused.assign(&d, &V, &[], &[], &[]);
        assert_eq!(fresh.modules[0].version, "1.0.0", "does not start installing");
        assert_eq!(fresh.reports[0].rollout_id, "r1");

        r2.state = RolloutState::RolledBack;
        let back = plan(&r2).assign(&d, &V, &[], &runs_b2, &[]);
        assert_eq!(back.modules[0].version, "1.0.0", "back to the rollout before");

        // ... even when that one is paused at a share that leaves the device out.
        let mut r1 = rollout("r1", "b1", 0, 1);
        r1.state = RolloutState::Paused;
        let plan = RolloutPlan::new(vec![r1, r2.clone()], &bundles(), &[]);
        assert_eq!(plan.assign(&d, &V, &[], &runs_b2, &[]).modules[0].version, "1.0.0");
        let outsider = devices(400).into_iter().find(|d| !member("r2", d, 50)).expect("one");
        assert!(plan.assign(&outsider, &V, &[], &[], &[]).modules.is_empty(), "never in r2");
    }

    #[test]
    fn failures_are_reported_for_the_assigned_version() {
        let plan = RolloutPlan::new(vec![rollout("r1", "b1", 100, 1)], &bundles(), &[]);
        let failed = [FailedInstall {
            name: "beid".into(),
            version: "1.0.0".into(),
            reason: "x".repeat(2000),
        }];
        let a = plan.assign("d", &V, &[], &[], &failed);
        assert_eq!(a.reports[0].status, RolloutStatus::Failed);
        assert_eq!(a.reports[0].reason.as_ref().map(String::len), Some(512));
        let other =
            [FailedInstall { name: "beid".into(), version: "0.9.0".into(), reason: "old".into() }];
        assert_eq!(
            plan.assign("d", &V, &[], &[], &other).reports[0].status,
            RolloutStatus::Assigned
        );
    }

    #[test]
    fn versions_labels_and_organisations_target() {
        let mut by_version = rollout("r1", "b1", 100, 1);
        by_version.connector_versions = ">=3.7.0".into();
        let mut by_label = rollout("r2", "b2", 100, 2);
        by_label.labels = vec!["l-shop".into()];
        by_label.organisations = vec!["org-bank".into()];
        let labels = [
            label("l-shop", "org-a", "shop"),
            label("l-bank", "org-bank", "bank"),
            label("l-x", "org-x", "x"),
        ];
        let plan = RolloutPlan::new(vec![by_version, by_label], &bundles(), &labels);
        let names = |a: Assigned| a.modules.iter().map(|m| m.version.clone()).collect::<Vec<_>>();
        assert!(names(plan.assign("d", &V, &[], &[], &[])).is_empty(), "3.6.1, no label");
        let v37 = semver::Version::new(3, 7, 0);
        assert_eq!(names(plan.assign("d", &v37, &["x".into()], &[], &[])), ["1.0.0"]);
        assert_eq!(names(plan.assign("d", &V, &["shop".into()], &[], &[])), ["2.0.0"]);
        assert_eq!(
            names(plan.assign("d", &V, &["bank".into()], &[], &[])),
            ["2.0.0"],
            "by organisation"
        );
    }
}
