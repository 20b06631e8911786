//! The set of loaded modules, by name, and the match of a card's ATR to the modules claiming it.
//!
//! [`Registry`] is an immutable snapshot; [`ModuleSet`] holds the current one and swaps it
//! atomically. A request takes a snapshot (or one module's `Arc`) when it starts and keeps it
//! until it ends, so a module replaced or removed meanwhile finishes the requests already
//! running on it while every new request sees the new set. Nothing is locked on the request path.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::LoadError;
use crate::module::LoadedModule;

/// Loaded modules by name. Cloning is cheap (the modules are shared).
#[derive(Debug, Default, Clone)]
pub struct Registry {
    modules: BTreeMap<String, Arc<LoadedModule>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a loaded module and returns its name.
    ///
    /// # Errors
    /// [`LoadError::Duplicate`] when a module of that name is already there.
    pub fn insert(&mut self, module: LoadedModule) -> Result<String, LoadError> {
        let name = module.name().to_owned();
        if self.modules.contains_key(&name) {
            return Err(LoadError::Duplicate(name));
        }
        self.modules.insert(name.clone(), Arc::new(module));
        Ok(name)
    }

    /// Adds `module`, replacing any module of the same name; returns the one replaced.
    pub fn replace(&mut self, module: Arc<LoadedModule>) -> Option<Arc<LoadedModule>> {
        self.modules.insert(module.name().to_owned(), module)
    }

    /// Takes the module called `name` out; returns it.
    pub fn remove(&mut self, name: &str) -> Option<Arc<LoadedModule>> {
        self.modules.remove(name)
    }

    /// The module called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedModule>> {
        self.modules.get(name).cloned()
    }

    /// Every module, by name.
    pub fn modules(&self) -> impl Iterator<Item = &Arc<LoadedModule>> {
        self.modules.values()
    }

    /// The modules that claim a card with this ATR, by name.
    pub fn modules_for_atr(&self, atr: &[u8]) -> Vec<Arc<LoadedModule>> {
        self.modules.values().filter(|m| m.matches_atr(atr)).cloned().collect()
    }
}

/// The module set being served: a [`Registry`] snapshot that is replaced atomically.
#[derive(Debug, Default)]
pub struct ModuleSet {
    current: arc_swap::ArcSwap<Registry>,
}

impl ModuleSet {
    /// A set serving `registry`.
    pub fn new(registry: Registry) -> Self {
        Self { current: arc_swap::ArcSwap::from_pointee(registry) }
    }

    /// The modules served now. Hold the snapshot for the whole request: a swap meanwhile does
    /// not affect it.
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Applies `change` to a copy of the current set and serves the result from now on.
    /// Concurrent updates are applied one after the other (none is lost).
    pub fn update(&self, change: impl Fn(&mut Registry)) {
        self.current.rcu(|current| {
            let mut next = Registry::clone(current);
            change(&mut next);
            next
        });
    }
}

impl From<Registry> for ModuleSet {
    fn from(registry: Registry) -> Self {
        Self::new(registry)
    }
}
