//! Limits applied to every call into a module.

use std::time::Duration;

/// Per-call limits. The defaults suit card modules: generous wall time for slow cards and
/// pinpad entry, little CPU and memory for the module itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// Time the module may spend running its own code in one call. Time spent in host calls
    /// (card I/O, PIN entry) does not count.
    pub cpu_time: Duration,
    /// Time one call may take in all, host calls included.
    pub wall_time: Duration,
    /// Linear memory one instance may use, in bytes.
    pub memory_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(5),
            wall_time: Duration::from_secs(120),
            memory_bytes: 64 << 20,
        }
    }
}
