//! Bundles the dashboard's front end at build time: `npm ci` in `dashboard/` (the packages named
//! by its committed `package-lock.json`, into `dashboard/node_modules`, which git ignores) when
//! they are missing or the lock changed, then copies the files the pages load into `OUT_DIR`,
//! where `src/dashboard/assets.rs` embeds them. The binary serves them itself: no CDN, and no
//! Node.js at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files the pages load: (file in `OUT_DIR`, its source under `dashboard/`).
const ASSETS: &[(&str, &str)] = &[
    ("chart.umd.min.js", "node_modules/chart.js/dist/chart.umd.min.js"),
    ("dashboard.js", "src/dashboard.js"),
    ("dashboard.css", "src/dashboard.css"),
];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let front = root.join("dashboard");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    for watched in ["package.json", "package-lock.json", "src"] {
        println!("cargo::rerun-if-changed={}", front.join(watched).display());
    }
    // npm writes this file last in `npm ci`: missing (a fresh clone, or node_modules removed)
    // means the packages must be installed; it is watched so that removing it reruns us.
    let installed = front.join("node_modules").join(".package-lock.json");
    println!("cargo::rerun-if-changed={}", installed.display());
    if is_stale(&installed, &front.join("package-lock.json")) {
        npm_ci(&front);
    }
    for (name, source) in ASSETS {
        let from = front.join(source);
        if let Err(err) = std::fs::copy(&from, out.join(name)) {
            panic!("dashboard asset {}: {err}", from.display());
        }
    }
}

/// Whether the installed packages are missing or older than the lock file.
fn is_stale(installed: &Path, lock: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(installed), modified(lock)) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}

fn npm_ci(front: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(front)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`npm ci` in {} failed ({status}); the dashboard's packages come from the npm registry",
            front.display()
        ),
        Err(err) => panic!(
            "cannot run npm ({err}): building t1c-ds bundles the dashboard's front end with \
             Node.js and npm; install the Debian packages `nodejs` and `npm` \
             (`apt-get install nodejs npm`) and build again"
        ),
    }
}
