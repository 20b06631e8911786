//! `log`: structured log lines from the module, tagged with its name, cut at
//! [`MAX_LOG_LINE`] bytes, at most [`MAX_LOG_LINES`] per call.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use super::link_error;
use crate::bindings::t1c::card::log;
use crate::error::LoadError;
use crate::store::State;

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
}

struct LogImports;

impl HasData for LogImports {
    type Data<'a> = &'a mut LogCtx;
}

/// Links `log` (always granted).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
    log::add_to_linker::<State, LogImports>(linker, |state| &mut state.log).map_err(link_error)
}

impl log::Host for LogCtx {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.lines = self.lines.saturating_add(1);
        if self.lines > MAX_LOG_LINES {
            if self.lines == MAX_LOG_LINES + 1 {
                tracing::warn!(module = %self.module, "log line limit reached; dropping the rest");
            }
            return Ok(());
        }
        let message = truncate(&message);
        let module = &*self.module;
        match level {
            log::Level::Trace => tracing::trace!(module, "{message}"),
            log::Level::Debug => tracing::debug!(module, "{message}"),
            log::Level::Info => tracing::info!(module, "{message}"),
            log::Level::Warn => tracing::warn!(module, "{message}"),
            log::Level::Error => tracing::error!(module, "{message}"),
        }
        Ok(())
    }
}

/// `s` cut to at most [`MAX_LOG_LINE`] bytes, on a character boundary.
pub(crate) fn truncate(s: &str) -> &str {
    if s.len() <= MAX_LOG_LINE {
        return s;
    }
    let mut end = MAX_LOG_LINE;
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
