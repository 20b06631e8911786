//! `cargo xtask`: the project's build helper.
//!
//! - `cargo xtask run [-- ARGS]`: what a newcomer runs first: installs what is missing (the
//!   Debian packages marked `run` in `xtask/system-packages.txt`, the `wasm32-wasip2` target),
//!   builds the modules, and starts the connector with the simulated Belgian eID
//!   (`t1c serve --simulate --bundles target/modules`, then ARGS).
//! - `cargo xtask ds [-- ARGS]`: installs what is missing (the packages marked `run` and `ds`)
//!   and starts the Distribution Service with no configuration (`t1c-ds serve`, then ARGS).
//! - `cargo xtask build-modules`: compiles every crate in `modules/` to a `wasm32-wasip2`
//!   component, loads each in the connector's runtime (which checks that it is a component,
//!   exports the contract, and has a valid manifest), copies it to `target/modules/` and packs
//!   it as a bundle signed with the repository's development key (`xtask/development-key.pem`,
//!   public: local runs and tests only; the connector trusts it only in debug builds), as
//!   `target/modules/<name>.t1cm`.
//! - `cargo xtask package [--signing-key FILE]`: the connector's and the DS's Debian packages
//!   (`packaging/`, cargo-deb, release build) in `target/debian`, checked (see `package`).
//! - `cargo xtask footprint`: the release connector's installed size, start time and idle
//!   memory with the three modules; see `footprint`.
//! - `cargo xtask cross`: the connector built (and linted) for Windows with mingw-w64, and the
//!   crates that need no C toolchain checked for macOS; see `cross`.
//! - `cargo xtask supply-chain`: cargo-deny (`deny.toml`: licenses, bans, sources, advisories)
//!   and cargo-audit over every crate the workspace builds, modules included; see
//!   `supply_chain` for the advisory database offline (`T1C_ADVISORY_DB`).
//! - `cargo xtask test`: installs what the tests need (every package of
//!   `xtask/system-packages.txt`, the target, rustfmt, clippy, cargo-nextest, cargo-fuzz,
//!   cargo-deny, cargo-audit, schemathesis) when missing, then the full suite: `cargo fmt
//!   --check`, `fresh-machine` (first: its root is deleted before the suite's builds grow
//!   `target/`, so the disk holds one or the other), `build-modules`, `cargo clippy
//!   --all-targets -D warnings`, the supply-chain checks (`cargo xtask supply-chain`:
//!   cargo-deny and cargo-audit), every test with `cargo nextest` (one process per test), the
//!   doc tests, schemathesis against a running connector's and a running Distribution
//!   Service's OpenAPI documents, the fuzzers, the packages, `cross` (the Windows build and the
//!   macOS checks), and the browser tests (t1c-sdk-js in headless Chromium, `tests/browser/`).
//! - `cargo xtask fresh-machine`: the README's first command, run in a fresh Debian 12 root
//!   (debootstrap) that has only rustup, answers `/v3/readers` with the simulated eID, and
//!   `cargo xtask ds` then answers `/readyz`; needs root or sudo. See `fresh_machine` for what
//!   it proves and what not.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use t1c_runtime::{Runtime, RuntimeConfig};
use t1c_testkit::components;

mod cross;
mod footprint;
mod fresh_install;
mod fresh_machine;
mod package;
mod setup;
mod supply_chain;

#[derive(Parser)]
#[command(about = "T1C build helper")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing, build the modules and start the connector with the simulated
    /// eID.
    Run {
        /// More arguments for `t1c serve` (for instance `--port 51984`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Install what is missing and start the Distribution Service with no configuration
    /// (SQLite in its data directory, HTTPS on port 8443, a bootstrap administrator at first
    /// start).
    Ds {
        /// More arguments for `t1c-ds serve` (for instance `--listen 127.0.0.1:9443`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build every module in modules/ as a component and check it against the contract.
    BuildModules {
        /// Where to put the checked components.
        #[arg(long, default_value = "target/modules")]
        out: PathBuf,
    },
    /// Build the modules, then run fmt, clippy, the supply-chain checks and every test.
    Test,
    /// Build the connector's and the DS's Debian packages (release build, cargo-deb) into
    /// target/debian and check them: contents, lintian, an unpacked install that starts, the
    /// DS serving the connector's package as its Linux download, and an apt-get install of
    /// both into a fresh Debian 12 root (needs root or sudo).
    Package {
        /// Sign the packaged modules with this key (PEM); the package's unit trusts its public
        /// half. Default: the repository's development key, for test packages only.
        #[arg(long, value_name = "FILE")]
        signing_key: Option<PathBuf>,
        /// Package the debug binaries already in target/debug (what `cargo xtask test` does)
        /// instead of a release build: quick, for checking the packaging only.
        #[arg(long)]
        test_binaries: bool,
    },
    /// Build the connector for Windows (mingw-w64) and lint it for that target, and check the
    /// crates that need no C toolchain for macOS.
    Cross,
    /// Check every crate's license, source and advisories (cargo-deny with `deny.toml`, and
    /// cargo-audit). Offline, `T1C_ADVISORY_DB` names a local clone of RustSec's database.
    SupplyChain,
    /// Run the README's first command (`cargo xtask run`) in a fresh Debian 12 root
    /// (debootstrap) that has only rustup and check that the connector answers with the
    /// simulated eID, then `cargo xtask ds` and check that the DS is ready; then delete the
    /// root. Needs root (or sudo).
    FreshMachine,
    /// Install the two packages into a fresh Debian 12 root and check them (the last check of
    /// `package`, which runs this through sudo when not root).
    #[command(hide = true)]
    FreshInstall {
        /// The connector's package.
        connector: PathBuf,
        /// The DS's package.
        ds: PathBuf,
    },
    /// Measure the release connector's footprint: installed size, start time with the modules
    /// compiled and cached, and idle memory with the three modules (Linux).
    Footprint,
    /// Fuzz the device-message parser (`ds/protocol/fuzz`) for a bounded time.
    FuzzMessages {
        /// How long to fuzz, in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
    },
    /// Fuzz the bundle reader (`sdk/bundle/fuzz`) for a bounded time, seeded with the bundles
    /// `build-modules` wrote to target/modules.
    FuzzBundle {
        /// How long to fuzz, in seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u32,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    match cli.command {
        Task::Run { args } => run_connector(&root, &args),
        Task::Ds { args } => {
            setup::ensure(&root, setup::Need::Ds)?;
            run(cargo().args(["run", "-p", "t1c-ds", "--", "serve"]).args(&args))
        }
        Task::BuildModules { out } => build_modules(&root, &out).map(|_| ()),
        Task::Test => test(&root),
        Task::Package { signing_key, test_binaries } => {
            setup::ensure(&root, setup::Need::Test)?;
            setup::ensure_tools()?;
            let key = signing_key.unwrap_or_else(|| root.join("xtask/development-key.pem"));
            let build =
                if test_binaries { package::Build::TestBinaries } else { package::Build::Release };
            package::build_and_check(&root, &key, build).map(drop)
        }
        Task::Cross => cross::check(&root),
        Task::SupplyChain => {
            setup::ensure_tools()?;
            supply_chain::check(&root)
        }
        Task::FreshMachine => {
            setup::ensure(&root, setup::Need::Test)?;
            fresh_machine::check(&root)
        }
        Task::FreshInstall { connector, ds } => fresh_install::check(&root, &connector, &ds),
        Task::Footprint => {
            setup::ensure(&root, setup::Need::Run)?;
            footprint::measure(&root)
        }
        Task::FuzzBundle { seconds } => fuzz_bundle_reader(&root, seconds),
        Task::FuzzMessages { seconds } => fuzz_messages(&root, seconds),
    }
}

/// `cargo xtask run`: the README's first command.
fn run_connector(root: &Path, args: &[String]) -> Result<()> {
    setup::ensure(root, setup::Need::Run)?;
    build_modules(root, &root.join("target/modules"))?;
    run(cargo()
        .args(["run", "-p", "t1c-host", "--bin", "t1c", "--", "serve", "--simulate"])
        .args(["--bundles", "target/modules"])
        .args(args))
}

fn test(root: &Path) -> Result<()> {
    setup::ensure(root, setup::Need::Test)?;
    setup::ensure_tools()?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // The runtime's per-contract-version code is `include!`d, which `cargo fmt` does not see.
    let versioned = std::fs::read_dir(root.join("host/runtime/src/versioned"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    run(Command::new("rustfmt").args(["--edition", "2024", "--check"]).args(&versioned))?;
    // First: the README's first command on a fresh Debian machine (a cold build in a new root,
    // about 7.5 GB, deleted when it is done). Before the suite's own builds fill `target/`, so
    // the run needs the larger of the two on disk, not their sum.
    fresh_machine::check(root)?;
    build_modules(root, &root.join("target/modules"))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    supply_chain::check(root)?;
    // Process per test: tests that start a private pcscd point the PC/SC client library at it
    // through the environment, which is per process.
    run(cargo().args(["nextest", "run", "--workspace", "--no-fail-fast"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    api_fuzz(root)?;
    ds_api_fuzz(root)?;
    fuzz_bundle_reader(root, 30)?;
    fuzz_messages(root, 30)?;
    // The packages, from the binaries the tests ran (the release build is `cargo xtask package`).
    let development_key = root.join("xtask/development-key.pem");
    package::build_and_check(root, &development_key, package::Build::TestBinaries)?;
    cross::check(root)?;
    // The published t1c-sdk-js in headless Chromium against the running connector.
    run(Command::new("npm").args(["ci", "--prefix", "tests/browser", "--no-audit", "--no-fund"]))?;
    run(Command::new("node").args(["--test", "tests/browser/"]))?;
    println!("all checks passed");
    Ok(())
}

/// Builds the workspace's binaries (`target/debug/t1c`, `target/debug/t1c-ds`) exactly as the
/// test run built them: the same targets give the same feature unification, so after
/// `cargo nextest run --workspace` this is a no-op. Building one package alone (`-p t1c-ds`)
/// would resolve other features for shared dependencies and compile them all a second time.
fn build_test_binaries() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--tests"]))
}

/// Runs the schema-driven fuzzer (schemathesis) against a running connector: every response
/// must match the OpenAPI document the connector serves, and none may be a 5xx.
fn api_fuzz(root: &Path) -> Result<()> {
    build_test_binaries()?;
    let data = tempdir_in(root)?;
    let port = free_port()?;
    let mut connector = Command::new(root.join("target/debug/t1c"))
        .args(["serve", "--simulate", "--port", &port.to_string(), "--bundles", "target/modules"])
        .env("T1C_DATA_DIR", &data)
        .env("T1C_LOG", "warn")
        .spawn()
        .context("cannot start the connector")?;
    let outcome = (|| {
        let ca = data.join("tls/ca.pem");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !ca.exists() {
            if std::time::Instant::now() > deadline {
                bail!("the connector did not start listening on port {port}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let url = format!("https://localhost:{port}/openapi.json");
        run(Command::new("schemathesis").args([
            "run",
            &url,
            "--tls-verify",
            &ca.display().to_string(),
            "--checks",
            "all",
            "--max-examples",
            "50",
            "--seed",
            "1",
        ]))
    })();
    let _ = connector.kill();
    let _ = connector.wait();
    let _ = std::fs::remove_dir_all(&data);
    outcome
}

/// Runs schemathesis against a running Distribution Service, logged in as its bootstrap
/// administrator: every response must match the OpenAPI document the DS serves, and none may
/// be a 5xx. The rate limits are off (schemathesis sends many deliberately wrong credentials);
/// logging in and out is left to the DS's own tests (a generated logout would end the session
/// the fuzzer runs with).
fn ds_api_fuzz(root: &Path) -> Result<()> {
    build_test_binaries()?;
    let data = tempdir_in(root)?.join("ds");
    std::fs::create_dir_all(&data)?;
    let config = data.join("ds.toml");
    std::fs::write(
        &config,
        "[api_keys]\nrequests_per_key_per_minute = 0\nfailures_per_address_per_minute = 0\n",
    )?;
    let port = free_port()?;
    let mut ds = Command::new(root.join("target/debug/t1c-ds"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("T1C_DS_LOG", "warn")
        .spawn()
        .context("cannot start the DS")?;
    let outcome = (|| {
        let ca = data.join("tls/ca.pem");
        package::wait_for(port, &ca)?;
        let base = format!("https://localhost:{port}");
        let token = package::admin_token(&data, &base, || {
            let mut curl = Command::new("curl");
            curl.args(["--silent", "--show-error", "--fail-with-body", "--cacert"]).arg(&ca);
            curl
        })?;
        run(Command::new("schemathesis").args([
            "--config-file",
            "ds/schemathesis.toml",
            "run",
            &format!("{base}/v3_5/openapi.json"),
            "--tls-verify",
            &ca.display().to_string(),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--exclude-path",
            "/v3_5/auth/token",
            // Every check runs by default; `--checks all` would also override the per-operation
            // settings of ds/schemathesis.toml.
            "--max-examples",
            "30",
            "--seed",
            "1",
        ]))
    })();
    let _ = ds.kill();
    let _ = ds.wait();
    let _ = std::fs::remove_dir_all(&data);
    outcome
}

/// Runs the bundle reader's fuzz target (`sdk/bundle/fuzz`, cargo-fuzz + libFuzzer) for
/// `seconds`, seeded with the signed bundles `build-modules` left in target/modules. CI has only
/// the stable toolchain: cargo-fuzz's default AddressSanitizer needs nightly (`-Zsanitizer`), so
/// this runs with `--sanitizer none` (the reader is safe Rust: a bug shows as a panic, which
/// libFuzzer catches), which leaves only stable `-C` flags; `RUSTC_BOOTSTRAP=1` is set so any
/// nightly-only flag a cargo-fuzz release adds does not break the step. A failing input is left
/// in target/fuzz/artifacts/bundle_read.
fn fuzz_bundle_reader(root: &Path, seconds: u32) -> Result<()> {
    let corpus = root.join("target/fuzz/corpus/bundle_read");
    let _ = std::fs::remove_dir_all(&corpus);
    std::fs::create_dir_all(&corpus)?;
    let mut seeds = 0;
    for entry in std::fs::read_dir(root.join("target/modules"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "t1cm") {
            std::fs::copy(&path, corpus.join(path.file_name().context("bundle file name")?))?;
            seeds += 1;
        }
    }
    if seeds == 0 {
        bail!("no bundles in target/modules to seed the fuzzer: run `cargo xtask build-modules`");
    }
    // A tiny signed bundle too (an empty component): the real ones are hundreds of KiB, and
    // libFuzzer gets through many more mutations of a small input.
    let manifest = t1c_bundle::BundleManifest {
        name: t1c_bundle::ModuleName::new("seed")?,
        version: semver::Version::new(0, 1, 0),
        contract: semver::Version::new(0, 1, 0),
        description: "fuzzer seed".into(),
        capabilities: vec![t1c_bundle::Capability::Reader],
        atrs: vec!["3b00/ff00".parse()?],
    };
    let key = t1c_bundle::SigningKey::read_pem_file(&root.join("xtask/development-key.pem"))?;
    let tiny = t1c_bundle::sign(&t1c_bundle::pack(&manifest, b"\0asm\x0d\x00\x01\x00")?, &key)?;
    std::fs::write(corpus.join("tiny.t1cm"), tiny)?;
    let artifacts = root.join("target/fuzz/artifacts/bundle_read");
    std::fs::create_dir_all(&artifacts)?;
    run(cargo()
        .current_dir(root.join("sdk/bundle/fuzz"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", root.join("target/fuzz"))
        .args(["fuzz", "run", "bundle_read", "--sanitizer", "none"])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1"))
}

/// Runs the device-message parser's fuzz target (`ds/protocol/fuzz`) for `seconds`, the same way
/// as the bundle reader's. Seeds: messages shaped like the protocol's (a JWE naming the DS key
/// the target holds, an envelope, a JWK), so mutations start past the first checks. A failing
/// input is left in target/fuzz/artifacts/message_open.
fn fuzz_messages(root: &Path, seconds: u32) -> Result<()> {
    let corpus = root.join("target/fuzz/corpus/message_open");
    let _ = std::fs::remove_dir_all(&corpus);
    std::fs::create_dir_all(&corpus)?;
    let b64 = |text: &str| {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    };
    let header = b64(
        r#"{"alg":"ECDH-ES","enc":"A256GCM","kid":"ds-enc","cty":"JWS","epk":{"kty":"OKP","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#,
    );
    let seeds = [
        ("jwe", format!("{header}..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA")),
        (
            "envelope",
            r#"{"v":1,"device_id":"d","message_id":"00000000000000000000000000000000","issued_at":0,"body":{"state":"running","platform":{"os":"linux","arch":"x86_64","version":"3.1.0"},"counters":{"seq":1,"rows":[{"day":"2026-11-30","label":"shop","tag":"","module":"beid","use_case":"identity_read","total":1}]}}}"#.to_owned(),
        ),
        ("jwk", r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#.to_owned()),
    ];
    for (name, seed) in seeds {
        std::fs::write(corpus.join(name), seed)?;
    }
    let artifacts = root.join("target/fuzz/artifacts/message_open");
    std::fs::create_dir_all(&artifacts)?;
    run(cargo()
        .current_dir(root.join("ds/protocol/fuzz"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", root.join("target/fuzz"))
        .args(["fuzz", "run", "message_open", "--sanitizer", "none"])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1"))
}

fn tempdir_in(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/tmp").join(format!("api-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Builds, checks and copies every module; returns the copied files.
fn build_modules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    build_modules_with(root, out, &root.join("xtask/development-key.pem"))
}

/// Builds the modules into `out` as bundles signed with the key in `signing_key` (PEM);
/// returns that key's public half (`t1c-ed25519:...`), for the connector's trust.
fn build_modules_signed(root: &Path, out: &Path, signing_key: &Path) -> Result<String> {
    build_modules_with(root, out, signing_key)?;
    let key = t1c_bundle::SigningKey::read_pem_file(signing_key)
        .with_context(|| format!("reading the signing key {}", signing_key.display()))?;
    Ok(key.public_key().to_string())
}

fn build_modules_with(root: &Path, out: &Path, signing_key: &Path) -> Result<Vec<PathBuf>> {
    let crates = components::crates_in(&root.join("modules"))?;
    if crates.is_empty() {
        bail!("no module crates in modules/");
    }
    let artifacts = components::build(root, &crates, false)?;

    std::fs::create_dir_all(out)?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let signing_key = t1c_bundle::SigningKey::read_pem_file(signing_key)?;
    let mut written = Vec::new();
    for package in &crates {
        let wasm = components::artifact(&artifacts, package);
        let module = runtime.load_file(&wasm).with_context(|| {
            format!("{package}: the component does not pass the contract check")
        })?;
        let target = out.join(format!("{}.wasm", module.name()));
        std::fs::copy(&wasm, &target)?;
        let bundle = out.join(format!("{}.{}", module.name(), t1c_bundle::FILE_EXTENSION));
        let signed = t1c_testkit::bundle::sign(&module, &std::fs::read(&wasm)?, &signing_key)?;
        std::fs::write(&bundle, signed)?;
        let size = std::fs::metadata(&target)?.len();
        println!(
            "module {} {} ({} KiB, capabilities {:?}) -> {}",
            module.name(),
            module.manifest().version,
            size / 1024,
            module.manifest().capabilities,
            target.display()
        );
        written.push(target);
    }
    Ok(written)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}
