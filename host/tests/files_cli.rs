//! `t1c files map | list | unmap`: the real binary, on the data directory when no connector
//! runs and through the admin socket of a running one (whose mappings change at once), with the
//! mappings kept across restarts in a 0600 file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use t1c_host::files::{MAPPINGS_FILE, MappingError, MappingStatus, Mappings, TypeKey};
use t1c_testkit::TestConnector;

const APP: &str = "https://app.example.com";

#[tokio::test]
async fn a_folder_mapped_without_a_connector_is_kept_0600_and_served_after_a_start() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let folder = folder(temp.path(), "invoices");

    let mapped =
        t1c(&data, &["files", "map", "--application", APP, "billing", "pdf", path(&folder)]).await;

    assert_eq!(stdout(&mapped), format!("billing pdf of {APP} mapped to {}\n", folder.display()));
    let file = data.join(MAPPINGS_FILE);
    let mode = std::fs::metadata(&file).expect("the mappings file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let connector = connector_on(&data).await;
    let served = connector.connector().files().get(&key("billing", "pdf")).expect("the type");
    assert_eq!(served.folder.as_deref(), Some(folder.as_path()));
    connector.shutdown().await;
}

#[tokio::test]
async fn map_list_and_unmap_reach_a_running_connector_at_once_and_survive_a_restart() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let pdf = folder(temp.path(), "pdf");
    let xml = folder(temp.path(), "xml");
    let connector = connector_on(&data).await;
    let files = connector.connector().files().clone();

    t1c(&data, &["files", "map", "--application", APP, "billing", "pdf", path(&pdf)]).await;
    assert_eq!(files.get(&key("billing", "pdf")).expect("mapped").folder, Some(pdf.clone()));
    t1c(&data, &["files", "map", "--application", APP, "billing", "xml", path(&xml)]).await;
    t1c(&data, &["files", "unmap", "--application", APP, "billing", "xml"]).await;
    assert_eq!(files.get(&key("billing", "xml")).expect("kept").status(), MappingStatus::Unmapped);
    let listed = t1c(&data, &["files", "list", "--application", APP, "billing"]).await;

    assert_eq!(
        stdout(&listed),
        format!("billing pdf  {}\nbilling xml  (not mapped)\n", pdf.display())
    );
    connector.shutdown().await;
    let on_disk = Mappings::load(&data).expect("the mappings load");
    assert_eq!(on_disk.get(&key("billing", "pdf")).expect("kept").folder, Some(pdf));
    assert_eq!(
        on_disk.get(&key("billing", "xml")).expect("kept").status(),
        MappingStatus::Unmapped
    );
    let restarted = connector_on(&data).await;
    let listed_again = t1c(&data, &["files", "list", "--application", APP, "billing"]).await;
    assert_eq!(stdout(&listed_again), stdout(&listed));
    restarted.shutdown().await;
}

#[tokio::test]
async fn a_mapping_belongs_to_its_application_only() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let folder = folder(temp.path(), "shared");
    t1c(&data, &["files", "map", "--application", APP, "billing", "pdf", path(&folder)]).await;

    let other = t1c(&data, &["files", "list", "--application", "other-label", "billing"]).await;
    let unmap =
        run(&data, &["files", "unmap", "--application", "other-label", "billing", "pdf"]).await;

    assert_eq!(stdout(&other), "no types of billing for other-label\n");
    assert_failed(&unmap, "cannot unmap billing pdf of other-label: no such type");
    let own = Mappings::load(&data).expect("load").get(&key("billing", "pdf")).expect("kept");
    assert_eq!(own.status(), MappingStatus::Mapped);
}

#[tokio::test]
async fn bad_requests_are_clear_errors_with_and_without_a_connector() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let relative = folder(temp.path(), "relative");
    let file = temp.path().join("a-file");
    std::fs::write(&file, b"not a folder").expect("file");
    let missing = temp.path().join("missing");

    for running in [false, true] {
        let connector = if running { Some(connector_on(&data).await) } else { None };
        let map = |folder: &str| {
            let args = ["files", "map", "--application", APP, "billing", "pdf", folder];
            run_in(&data, temp.path(), args.map(str::to_owned).to_vec())
        };

        let output = map("relative").await;
        assert_failed(&output, "cannot map billing pdf of https://app.example.com to relative");
        assert_failed(&output, "the folder must be an absolute path");
        assert!(relative.is_dir());
        assert_failed(&map(path(&missing)).await, "the folder does not exist");
        assert_failed(&map(path(&file)).await, "the path is not a folder");
        let unmap = run(&data, &["files", "unmap", "--application", APP, "billing", "nope"]).await;
        assert_failed(&unmap, "cannot unmap billing nope of https://app.example.com: no such type");

        assert!(matches!(
            Mappings::load(&data).expect("load").get(&key("billing", "pdf")),
            Err(MappingError::Unknown)
        ));
        if let Some(connector) = connector {
            assert!(connector.connector().files().types(APP, "billing").is_empty());
            connector.shutdown().await;
        }
    }
}

#[tokio::test]
async fn an_origin_not_written_as_browsers_send_it_is_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let folder = folder(temp.path(), "invoices");

    for origin in
        ["https://App.example.com", "https://app.example.com/", "https://app.example.com:443"]
    {
        let output =
            run(&data, &["files", "map", "--application", origin, "billing", "pdf", path(&folder)])
                .await;
        assert_failed(&output, "write the origin as browsers send it");
    }
    assert!(!data.join(MAPPINGS_FILE).exists());
}

// --- helpers -------------------------------------------------------------------------------

fn key(entity: &str, type_name: &str) -> TypeKey {
    TypeKey::new(APP, entity, type_name).expect("a valid key")
}

/// A new folder `name` under `dir`, canonical (as the mappings keep it).
fn folder(dir: &Path, name: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir(&folder).expect("folder");
    folder.canonicalize().expect("canonical")
}

/// A test connector whose data directory is `data` (kept after it stops).
async fn connector_on(data: &Path) -> TestConnector {
    let data = data.to_owned();
    TestConnector::builder().config(|c| c.data_dir = Some(data)).start().await
}

/// Runs `t1c` on the data directory `data`; asserts success.
async fn t1c(data: &Path, args: &[&str]) -> Output {
    let output = run(data, args).await;
    assert!(output.status.success(), "t1c {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

async fn run(data: &Path, args: &[&str]) -> Output {
    run_in(data, data.parent().expect("a parent"), args.iter().map(|&a| a.to_owned()).collect())
        .await
}

/// Runs `t1c` in `cwd`, off the test's runtime threads (which serve the admin socket).
async fn run_in(data: &Path, cwd: &Path, args: Vec<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_t1c"));
    command
        .current_dir(cwd)
        .arg("--config")
        .arg(cwd.join("no-config.toml"))
        .args(args)
        .env("T1C_DATA_DIR", data)
        .env("T1C_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().expect("t1c runs"))
        .await
        .expect("the command's thread")
}

fn assert_failed(output: &Output, message: &str) {
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a failure: {}", stdout(output));
    assert!(err.contains(message), "{message:?} not in {err}");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
