//! `log`: structured log lines from the module, tagged with its name, cut at
//! [`MAX_LOG_LINE`] bytes, at most [`MAX_LOG_LINES`] per call.

use std::sync::Arc;

use tracing::Level;
use wasmtime::component::HasData;

/// Longest log line forwarded; longer ones are cut.
pub(crate) const MAX_LOG_LINE: usize = 4096;
/// Log lines forwarded per call; the rest are counted and dropped.
pub(crate) const MAX_LOG_LINES: u32 = 1000;

/// What `log` keeps for one call.
pub(crate) struct LogCtx {
    module: Arc<str>,
    lines: u32,
}

impl LogCtx {
    pub(crate) fn new(module: Arc<str>) -> Self {
        Self { module, lines: 0 }
    }

    /// Writes one of the module's lines to the host's log, tagged, cut and counted.
    fn write(&mut self, level: Level, message: &str) {
        self.lines = self.lines.saturating_add(1);
        if self.lines > MAX_LOG_LINES {
            if self.lines == MAX_LOG_LINES + 1 {
                tracing::warn!(module = %self.module, "log line limit reached; dropping the rest");
            }
            return;
        }
        let message = truncate(message);
        let module = &*self.module;
        match level {
            Level::TRACE => tracing::trace!(module, "{message}"),
            Level::DEBUG => tracing::debug!(module, "{message}"),
            Level::INFO => tracing::info!(module, "{message}"),
            Level::WARN => tracing::warn!(module, "{message}"),
            _ => tracing::error!(module, "{message}"),
        }
    }
}

struct LogImports;

impl HasData for LogImports {
    type Data<'a> = &'a mut LogCtx;
}

/// `log` of contract 0.1.0.
pub(crate) mod v0_1 {
    use crate::bindings::v0_1::t1c::card::log;
    include!("../versioned/log.rs");
}

/// `log` of contract 0.2.0.
pub(crate) mod v0_2 {
    use crate::bindings::v0_2::t1c::card::log;
    include!("../versioned/log.rs");
}

/// `s` cut to at most [`MAX_LOG_LINE`] bytes, on a character boundary.
pub(crate) fn truncate(s: &str) -> &str {
    truncate_to(s, MAX_LOG_LINE)
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate_to(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let line = "é".repeat(MAX_LOG_LINE);
        let cut = truncate(&line);
        assert!(cut.len() <= MAX_LOG_LINE);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate("short"), "short");
    }
}
