//! `t1c-module`: what a module author runs, from a new crate to a signed bundle.
//!
//! - `new <name>`: a module crate from the template, with a native test against the simulator;
//! - `build`: the `wasm32-wasip2` component, checked against the contract by loading it in the
//!   connector's runtime;
//! - `pack`: an unsigned bundle whose manifest is what the component declares;
//! - `keygen`, `sign`, `verify`, `inspect`: keys and signatures (see `sdk/bundle/FORMAT.md`).
//!
//! The bundle format itself lives in `t1c-bundle`; the contract check in `t1c-runtime`.
//! This binary only wires them to the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use t1c_bundle::{Bundle, BundleManifest, PublicKey, SigningKey, TrustStore};
use t1c_runtime::{LoadedModule, Runtime, RuntimeConfig};

mod template;

#[derive(Parser)]
#[command(name = "t1c-module", version, about = "Build, pack and sign T1C card modules")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Create a module crate from the template.
    New {
        /// The module's name: 1-64 of a-z, 0-9, '-' and '_'.
        name: String,
        /// Where to create it (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Depend on the SDK at this path instead of by version (default: this repository's
        /// sdk/ when the tool was built from it).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Build the module as a wasm32-wasip2 component and check it against the contract.
    Build {
        /// The module crate's Cargo.toml.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
    /// Write an unsigned bundle, <name>-<version>.t1cm, from the component.
    Pack {
        /// The component (default: build the crate of --manifest-path first).
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The module crate's Cargo.toml, when --wasm is not given.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
        /// The bundle file (default: <name>-<version>.t1cm).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Generate a signing key: <out> (secret, PKCS#8 PEM, 0600) and <out>.pub (public key).
    Keygen {
        /// The secret key file; never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a bundle in place (replacing any earlier signature).
    Sign {
        /// The bundle.
        bundle: PathBuf,
        /// The secret key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify a bundle against trusted public keys; fails with the reason.
    Verify {
        /// The bundle.
        bundle: PathBuf,
        /// Files of trusted public keys, one per line (from `keygen`: <key>.pub).
        #[arg(long, required = true, num_args = 1..)]
        trust: Vec<PathBuf>,
    },
    /// Show a bundle's manifest, digest, signer, capabilities, ATRs and size.
    Inspect {
        /// The bundle.
        bundle: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("T1C_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::New { name, dir, sdk_path } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = sdk_path.or_else(template::repository_sdk);
            template::create(&name, &dir, sdk.as_deref())?;
            println!("created module `{name}` in {}", dir.display());
            Ok(())
        }
        Task::Build { manifest_path } => {
            let (wasm, module) = build(&manifest_path)?;
            print_module(&module, &wasm)
        }
        Task::Pack { wasm, manifest_path, out } => {
            let wasm = match wasm {
                Some(wasm) => wasm,
                None => build(&manifest_path)?.0,
            };
            let bytes = std::fs::read(&wasm).with_context(|| format!("{}", wasm.display()))?;
            let module = load(&bytes, &wasm)?;
            let manifest = bundle_manifest(&module)?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "{}-{}.{}",
                    manifest.name,
                    manifest.version,
                    t1c_bundle::FILE_EXTENSION
                ))
            });
            let bundle = t1c_bundle::pack(&manifest, &bytes)?;
            std::fs::write(&out, bundle).with_context(|| format!("{}", out.display()))?;
            println!(
                "packed {} {} -> {} (unsigned)",
                manifest.name,
                manifest.version,
                out.display()
            );
            Ok(())
        }
        Task::Keygen { out } => {
            let public = pub_path(&out);
            if public.exists() {
                bail!("{} exists; refusing to overwrite it", public.display());
            }
            let key = SigningKey::generate();
            key.write_pem_file(&out)?;
            std::fs::write(&public, format!("{}\n", key.public_key()))
                .with_context(|| format!("{}", public.display()))?;
            println!("secret key: {} (keep it private)", out.display());
            println!("public key: {} (key id {})", public.display(), key.public_key().id());
            Ok(())
        }
        Task::Sign { bundle, key } => {
            let key = SigningKey::read_pem_file(&key)?;
            let bytes = read_bundle(&bundle)?;
            let signed = t1c_bundle::sign(&bytes, &key)
                .with_context(|| format!("{} is not a valid bundle", bundle.display()))?;
            write_atomically(&bundle, &signed)?;
            println!("signed {} with key {}", bundle.display(), key.public_key().id());
            Ok(())
        }
        Task::Verify { bundle, trust } => {
            let mut store = TrustStore::new();
            for file in &trust {
                let text =
                    std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
                let keys =
                    TrustStore::from_lines(&text).with_context(|| format!("{}", file.display()))?;
                keys.keys().cloned().for_each(|k: PublicKey| store.add(k));
            }
            let verified = Bundle::read(&read_bundle(&bundle)?)
                .and_then(|b| b.verify(&store))
                .with_context(|| format!("{} does not verify", bundle.display()))?;
            println!(
                "{}: OK, {} {} signed by trusted key {} (digest {})",
                bundle.display(),
                verified.manifest().name,
                verified.manifest().version,
                verified.signer(),
                verified.digest()
            );
            Ok(())
        }
        Task::Inspect { bundle: path } => {
            let bundle = Bundle::read(&read_bundle(&path)?)
                .with_context(|| format!("{} is not a valid bundle", path.display()))?;
            let m = bundle.manifest();
            println!("bundle:       {}", path.display());
            println!("name:         {}", m.name);
            println!("version:      {}", m.version);
            println!("contract:     {}", m.contract);
            println!("description:  {}", m.description);
            println!("capabilities: {}", list(&m.capabilities));
            println!("atrs:         {}", list(&m.atrs));
            println!("digest:       {}", bundle.digest());
            match bundle.signer() {
                Some(id) => println!("signer:       key {id} (not verified; use `verify`)"),
                None => println!("signer:       unsigned"),
            }
            println!("wasm:         {} bytes", bundle.wasm().len());
            Ok(())
        }
    }
}

/// Builds the crate as a component, then loads it in the connector's runtime (which checks it
/// exports the contract, declares a valid manifest and imports only what it declares).
fn build(manifest_path: &Path) -> Result<(PathBuf, LoadedModule)> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--target", "wasm32-wasip2", "--profile", "wasm-release"])
        .args(["--message-format", "json-render-diagnostics", "--manifest-path"])
        .arg(manifest_path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build failed ({})", output.status);
    }
    let wasm = component_artifact(&String::from_utf8_lossy(&output.stdout))
        .context("cargo built no .wasm library: is the crate a `cdylib`?")?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("{}", wasm.display()))?;
    let module = load(&bytes, &wasm)?;
    Ok((wasm, module))
}

/// The `.wasm` of the last `cdylib` in cargo's JSON messages.
fn component_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find_map(|f| f.ends_with(".wasm").then(|| PathBuf::from(f)))
        })
        .next()
}

fn load(wasm: &[u8], path: &Path) -> Result<LoadedModule> {
    let runtime = Runtime::new(RuntimeConfig::default())?;
    runtime.load(wasm, &path.display().to_string()).with_context(|| {
        format!("{}: the component does not pass the contract check", path.display())
    })
}

/// What `manifest.toml` says about a loaded component: exactly what it declares (the same
/// mapping the connector checks bundles with).
fn bundle_manifest(module: &LoadedModule) -> Result<BundleManifest> {
    let manifest = t1c_runtime::manifest_of(module).context("the module's manifest")?;
    manifest.validate()?;
    Ok(manifest)
}

fn print_module(module: &LoadedModule, wasm: &Path) -> Result<()> {
    let manifest = bundle_manifest(module)?;
    let size = std::fs::metadata(wasm)?.len();
    println!("built {} {} -> {} ({size} bytes)", manifest.name, manifest.version, wasm.display());
    println!("contract {} ok; capabilities: {}", manifest.contract, list(&manifest.capabilities));
    println!("atrs: {}", list(&manifest.atrs));
    Ok(())
}

fn read_bundle(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len();
    if size > t1c_bundle::limits::BUNDLE {
        bail!("{} is {size} bytes, over the bundle limit", path.display());
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

/// Writes through a temporary file and a rename, so a failed write leaves the old bundle.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))
}

fn pub_path(secret: &Path) -> PathBuf {
    let mut public = secret.as_os_str().to_owned();
    public.push(".pub");
    PathBuf::from(public)
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
    }
}
