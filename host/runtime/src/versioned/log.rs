// The host side of `log` against one contract version's bindings: included by `imports/log.rs`
// once per version, with that version's `log` in scope. Not a module of its own; see
// `crate::contract`.

use tracing::Level;
use wasmtime::component::Linker;

use super::{LogCtx, LogImports};
use crate::error::LoadError;
use crate::imports::link_error;
use crate::store::State;

/// Links `log` (always granted).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
    log::add_to_linker::<State, LogImports>(linker, |state| &mut state.log).map_err(link_error)
}

impl log::Host for LogCtx {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => Level::TRACE,
            log::Level::Debug => Level::DEBUG,
            log::Level::Info => Level::INFO,
            log::Level::Warn => Level::WARN,
            log::Level::Error => Level::ERROR,
        };
        self.write(level, &message);
        Ok(())
    }
}
