//! The PKCS#11 host layer against real SoftHSMv2 tokens and purpose-built broken libraries.
//!
//! Every test makes its own token directory (`t1c_testkit::softhsm`) and its own `Pkcs11Host`,
//! whose workers are the real `t1c pkcs11-worker` processes.

mod broken;
mod softhsm_tokens;

use std::path::PathBuf;
use std::time::Duration;

use t1c_host::pkcs11::{Pkcs11Host, Pkcs11Options};

use t1c_testkit::softhsm::SoftHsm;

/// Options with the `t1c` binary as worker, the token's environment and short deadlines.
fn options(hsm: &SoftHsm) -> Pkcs11Options {
    let mut options = Pkcs11Options::new(PathBuf::from(env!("CARGO_BIN_EXE_t1c")));
    options.env = hsm.env();
    options.call_timeout = Duration::from_secs(2);
    options.login_timeout = Duration::from_secs(2);
    options.init_timeout = Duration::from_secs(2);
    options
}

/// A host serving `libraries`.
fn host(hsm: &SoftHsm, libraries: Vec<PathBuf>) -> Pkcs11Host {
    let host = Pkcs11Host::new(options(hsm));
    host.set_libraries(libraries);
    host
}
