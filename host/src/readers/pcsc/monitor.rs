//! The monitor thread: keeps the reader snapshot current with `SCardGetStatusChange`, including
//! the `\\?PnP?\Notification` pseudo-reader for readers plugged in and out, and reconnects
//! with backoff whenever the PC/SC service is not there.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use tracing::{debug, info, warn};

use super::{SeenReader, ServiceStatus, Shared, lock};
use crate::readers::part10::{self, Features};
use crate::readers::{CardInfo, ReaderInfo};

/// Runs until the backend stops.
pub(super) fn run(shared: &Shared) {
    let mut backoff = FIRST_BACKOFF;
    while !shared.stopping() {
        match Context::establish(Scope::User) {
            Ok(context) => {
                *lock(&shared.monitor_context) = Some(context.clone());
                // Checked after publishing the context, so a concurrent stop either sees the
                // context to cancel or is seen here.
                if shared.stopping() {
                    break;
                }
                info!("connected to the PC/SC service");
                let outcome = watch(shared, &context);
                *lock(&shared.monitor_context) = None;
                match outcome {
                    Ok(()) => break,
                    Err(error) => {
                        warn!(%error, "lost the PC/SC service");
                        shared.publish(ServiceStatus::Unavailable(error.to_string()), Vec::new());
                        backoff = FIRST_BACKOFF;
                    }
                }
            }
            Err(error) => {
                debug!(%error, ?backoff, "the PC/SC service is not available");
                shared.publish(ServiceStatus::Unavailable(error.to_string()), Vec::new());
            }
        }
        shared.pause(backoff);
        backoff = (backoff * 2).min(shared.config.max_backoff.max(FIRST_BACKOFF));
    }
    debug!("PC/SC monitor stopped");
}

const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Longest single wait for a change; bounds how late a silently dead service is noticed.
const STATUS_POLL: Duration = Duration::from_secs(1);

/// Follows readers and cards on `context` until the backend stops (`Ok`) or the service fails.
fn watch(shared: &Shared, context: &Context) -> Result<(), pcsc::Error> {
    let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
    let mut features: HashMap<CString, Features> = HashMap::new();
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let names = match context.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(error) => return Err(error),
        };
        track(&mut states, &names);
        features.retain(|name, _| names.contains(name));
        match context.get_status_change(STATUS_POLL, &mut states) {
            Ok(()) => states.iter_mut().for_each(ReaderState::sync_current_state),
            // Timeout: nothing changed. Cancelled: stopping, checked above. UnknownReader: a
            // reader left between listing and waiting; list again.
            Err(pcsc::Error::Timeout | pcsc::Error::Cancelled | pcsc::Error::UnknownReader) => {}
            Err(error) => return Err(error),
        }
        let readers: Vec<SeenReader> = states
            .iter()
            .filter(|state| state.name() != pcsc::PNP_NOTIFICATION() && is_listed(state))
            .map(|state| {
                let name = state.name().to_owned();
                let found = *features.entry(name.clone()).or_insert_with(|| probe(context, &name));
                seen(state, found)
            })
            .collect();
        shared.publish(ServiceStatus::Running, readers);
    }
}

/// Keeps one state per listed reader (plus the PnP pseudo-reader), adding new readers as
/// unaware so the next wait reports them at once.
fn track(states: &mut Vec<ReaderState>, names: &[CString]) {
    states.retain(|state| {
        state.name() == pcsc::PNP_NOTIFICATION()
            || names.iter().any(|name| name.as_c_str() == state.name())
    });
    for name in names {
        if !states.iter().any(|state| state.name() == name.as_c_str()) {
            debug!(reader = %name.to_string_lossy(), "reader appeared");
            states.push(ReaderState::new(name.clone(), State::UNAWARE));
        }
    }
}

/// Whether a reader's state has been reported and says the reader exists.
fn is_listed(state: &ReaderState) -> bool {
    let current = state.current_state();
    current != State::UNAWARE && !current.intersects(State::UNKNOWN | State::IGNORE)
}

fn seen(state: &ReaderState, features: Features) -> SeenReader {
    let current = state.current_state();
    let card = (current.contains(State::PRESENT) && !current.contains(State::MUTE))
        .then(|| CardInfo::new(state.atr().to_vec()));
    let name = state.name();
    SeenReader {
        info: ReaderInfo::new(name.to_string_lossy(), features.pinpad().verify_pin, card),
        name: name.to_owned(),
    }
}

/// Asks the reader for its part 10 features over a direct connection (no card needed). A
/// reader that does not answer has none.
fn probe(context: &Context, name: &CStr) -> Features {
    let card = match context.connect(name, ShareMode::Direct, Protocols::UNDEFINED) {
        Ok(card) => card,
        Err(error) => {
            debug!(reader = %name.to_string_lossy(), %error, "no direct connection for features");
            return Features::default();
        }
    };
    let mut answer = [0u8; 256];
    let features = match card.control(part10::get_feature_request(), &[], &mut answer) {
        Ok(tlv) => Features::parse(tlv),
        Err(error) => {
            debug!(reader = %name.to_string_lossy(), %error, "GET_FEATURE_REQUEST failed");
            Features::default()
        }
    };
    if let Err((_, error)) = card.disconnect(Disposition::LeaveCard) {
        debug!(%error, "closing the direct connection failed");
    }
    features
}
