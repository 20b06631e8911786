//! [`Pkcs11Service`]: the PKCS#11 token slots as the connector serves them: listed as readers
//! under their [`ReaderId`], one operation at a time per token, over libraries that the
//! configuration file names or that the API replaced (the override file).
//!
//! Operations on one token are exclusive, as on a PC/SC card: PKCS#11 keeps the login state per
//! token and process, so two requests interleaving on one token would share a login.
//!
//! It knows nothing about HTTP; the API's configuration routes call it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{Pkcs11Error, Pkcs11Host, SlotHandle, TokenSlot};
use crate::config::{LibraryPaths, Pkcs11Config};
use crate::readers::ReaderId;

/// The PKCS#11 libraries and their token slots, as the connector serves and configures them.
pub struct Pkcs11Service {
    host: Arc<Pkcs11Host>,
    defaults: LibraryPaths,
    override_file: PathBuf,
    api_config: bool,
    current: Mutex<LibraryPaths>,
    locks: Mutex<HashMap<ReaderId, Arc<Mutex<()>>>>,
    /// The slots of the last listing served: a request on a token a page saw listed finds it
    /// even if it left the snapshot since (the host checks the token again when it opens the
    /// slot, and a token gone is reported removed rather than unknown).
    known: Mutex<Vec<TokenSlot>>,
}

impl Pkcs11Service {
    /// Serves `host` with the libraries of `config`, or the ones the API saved in
    /// `override_file` (which win), and applies them to the host at once.
    pub fn new(host: Arc<Pkcs11Host>, config: &Pkcs11Config, override_file: PathBuf) -> Self {
        let defaults = config.libraries();
        let current = LibraryPaths::load(&override_file).unwrap_or_else(|| defaults.clone());
        host.set_libraries(current.for_this_os());
        Self {
            host,
            defaults,
            override_file,
            api_config: config.api_config,
            current: Mutex::new(current),
            locks: Mutex::default(),
            known: Mutex::default(),
        }
    }

    /// The slots that hold a token, as the libraries listed them last (see
    /// [`Pkcs11Host::slots`]; blocks only while a library has not listed once yet).
    pub fn slots(&self) -> Vec<TokenSlot> {
        self.served(self.host.slots())
    }

    /// [`Pkcs11Service::slots`] without blocking: `None` while a library has not listed its
    /// slots once yet (just configured).
    pub fn slots_now(&self) -> Option<Vec<TokenSlot>> {
        self.host.slots_now().map(|slots| self.served(slots))
    }

    /// The slot with this id as last served, else as listed now (blocking only while a library
    /// has not listed once yet). A token removed since is reported when the slot is opened.
    pub fn slot(&self, id: &ReaderId) -> Option<TokenSlot> {
        let known = self.lock_known().iter().find(|slot| &slot.id == id).cloned();
        known.or_else(|| self.slots().into_iter().find(|slot| &slot.id == id))
    }

    /// Remembers `slots` as the last listing served.
    fn served(&self, slots: Vec<TokenSlot>) -> Vec<TokenSlot> {
        let mut known = self.lock_known();
        if *known != slots {
            known.clone_from(&slots);
        }
        slots
    }

    fn lock_known(&self) -> std::sync::MutexGuard<'_, Vec<TokenSlot>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens `slot` and runs `f` with it, holding the token: calls on one token run one after
    /// the other (blocking).
    ///
    /// # Errors
    /// The host's errors opening the slot; [`Pkcs11Error::TokenRemoved`] when a new listing no
    /// longer has the token.
    pub fn with_slot<R>(
        &self,
        slot: &TokenSlot,
        f: impl FnOnce(SlotHandle) -> R,
    ) -> Result<R, Pkcs11Error> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(slot.id.clone()).or_default().clone()
        };
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let handle = match self.host.open(slot) {
            Ok(handle) => handle,
            Err(err @ (Pkcs11Error::Timeout | Pkcs11Error::WorkerCrashed(_))) => return Err(err),
            // The slot came from the last listing: a token gone since fails in the library in
            // its own way (SoftHSM: CKR_GENERAL_ERROR). Gone from the listing the host made
            // when opening failed, it was removed.
            Err(err) => {
                self.lock_known().retain(|s| s.id != slot.id);
                let listed = self.host.slots().iter().any(|s| s.id == slot.id);
                return Err(if listed { err } else { Pkcs11Error::TokenRemoved });
            }
        };
        Ok(f(handle))
    }

    /// The libraries served now, per OS.
    pub fn libraries(&self) -> LibraryPaths {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether the configuration lets the API change the libraries (`pkcs11.api_config`).
    pub fn api_config(&self) -> bool {
        self.api_config
    }

    /// Saves `paths` in the override file and serves them from now on (blocking).
    ///
    /// # Errors
    /// The override file cannot be written; the libraries are then unchanged.
    pub fn set_libraries(&self, paths: LibraryPaths) -> std::io::Result<()> {
        paths.save(&self.override_file)?;
        self.apply(paths);
        Ok(())
    }

    /// Removes the override file and serves the configuration file's libraries again
    /// (blocking).
    ///
    /// # Errors
    /// The override file cannot be removed; the libraries are then unchanged.
    pub fn reset_libraries(&self) -> std::io::Result<()> {
        LibraryPaths::clear(&self.override_file)?;
        self.apply(self.defaults.clone());
        Ok(())
    }

    fn apply(&self, paths: LibraryPaths) {
        self.host.set_libraries(paths.for_this_os());
        self.lock_known().clear();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = paths;
    }
}
