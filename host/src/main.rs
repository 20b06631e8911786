//! `t1c`: the T1C connector's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use t1c_host::runtime::{Registry, Runtime, RuntimeConfig};

#[derive(Parser)]
#[command(name = "t1c", version, about = "T1C smart-card connector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every module (*.wasm) in a directory and list what loaded and what did not.
    Modules {
        /// Directory of module components.
        #[arg(long, default_value = "target/modules")]
        dir: PathBuf,
        /// Cache compiled modules here (default: the user's cache directory).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("t1c: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Modules { dir, cache_dir } => {
            let cache_dir = cache_dir.or_else(default_cache_dir);
            let runtime = Runtime::new(RuntimeConfig { cache_dir, ..RuntimeConfig::default() })?;
            let mut registry = Registry::new();
            let report = registry
                .load_directory(&runtime, &dir)
                .with_context(|| format!("cannot read module directory {}", dir.display()))?;
            for module in registry.modules() {
                let manifest = module.manifest();
                let capabilities: Vec<String> =
                    manifest.capabilities.iter().map(ToString::to_string).collect();
                let operations: Vec<&str> =
                    manifest.operations.iter().map(|o| o.name.as_str()).collect();
                println!(
                    "{} {}  contract {}  capabilities [{}]  atr patterns {}  token {}  operations [{}]\n    {}",
                    manifest.name,
                    manifest.version,
                    manifest.contract,
                    capabilities.join(", "),
                    manifest.atrs.len(),
                    if manifest.token { "yes" } else { "no" },
                    operations.join(", "),
                    manifest.description,
                );
            }
            for (path, err) in &report.failed {
                println!("NOT LOADED {}: {err}", path.display());
            }
            Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
    }
}

/// `$XDG_CACHE_HOME/t1c/modules`, or `~/.cache/t1c/modules`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("t1c").join("modules"))
}
