//! Link settings for the `t1c` binary.
//!
//! On Linux with glibc 2.36 or later (Debian 12, Ubuntu 22.10, Fedora 37 and later), the binary
//! is linked with packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the table the
//! loader walks at every start to fix up pointers shrinks from about 0.9 MB to a few KB, which the
//! installed file and the memory of every running connector no longer carry. The linker then
//! records a dependency on glibc's `GLIBC_ABI_DT_RELR`, so an older glibc refuses the binary with a
//! clear message instead of crashing. When the building system's glibc is older, or its version
//! cannot be read, the binary is linked as before and runs there.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    if target_os == "linux" && target_env == "gnu" && native && glibc_has_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the building system's glibc (which the binary is linked against) is 2.36 or later.
fn glibc_has_relr() -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (2, 36)
}
