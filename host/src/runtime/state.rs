//! What one call's `Store` holds, and the host side of the contract's imports: `types.pin`,
//! `log`, `reader.card`, and `pkcs11.slot` and `pkcs11.session`.
//!
//! A fresh [`State`] is made for every call and dropped with its `Store`, so nothing a module
//! does survives the call: no handles, no memory, no output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use zeroize::Zeroizing;

use t1c_sdk::Card;
use t1c_sdk::pin::{Pin, PinEncoding, PinLengthField, PinVerifyRequest};

use super::bindings::t1c::card::{log, pkcs11, reader, types};
use super::limits::CallLimits;
use crate::pkcs11::{self as host_pkcs11, Pkcs11Error, SessionHandle, SlotHandle};

/// Bytes of stdout and of stderr kept per call; a module that writes more gets a write error.
const OUTPUT_CAPACITY: usize = 64 * 1024;
/// Longest log line forwarded; longer ones are cut.
const MAX_LOG_LINE: usize = 4096;
/// Log lines forwarded per call; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 1000;
/// PKCS#11 sessions a call may hold open at once; one more fails with `CKR_SESSION_COUNT`.
pub(crate) const MAX_OPEN_SESSIONS: u32 = 8;
/// PKCS#11 sessions a call may open in all (each costs the token a C_OpenSession).
pub(crate) const MAX_SESSIONS_PER_CALL: u32 = 64;
/// Objects one `find-objects` returns at most.
const MAX_OBJECTS: usize = 1024;

/// A PIN held by the host for one call. The module only ever sees a handle to it.
pub struct PinSecret(Zeroizing<String>);

impl PinSecret {
    /// Takes ownership of `pin`; it is wiped from memory when the secret is dropped.
    pub fn new(pin: Zeroizing<String>) -> Self {
        Self(pin)
    }
}

impl std::fmt::Debug for PinSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinSecret(***)")
    }
}

/// The card of the current call, as the module's `reader.card` resource.
pub struct CardHandle {
    card: Box<dyn Card + Send>,
}

impl CardHandle {
    pub(crate) fn new(card: Box<dyn Card + Send>) -> Self {
        Self { card }
    }
}

/// The PKCS#11 slot of the current call, as the module's `pkcs11.slot` resource.
pub struct SlotResource {
    slot: SlotHandle,
}

impl SlotResource {
    pub(crate) fn new(slot: SlotHandle) -> Self {
        Self { slot }
    }
}

/// A session a module opened, as its `pkcs11.session` resource. Dropped (and closed) when the
/// module drops it or the call ends; logged out first if the module logged in and did not log
/// out, so no login outlives the call.
pub struct SessionResource {
    session: SessionHandle,
    logged_in: bool,
}

impl Drop for SessionResource {
    fn drop(&mut self) {
        if self.logged_in
            && let Err(err) = self.session.logout()
        {
            tracing::debug!("logout of a PKCS#11 session left logged in: {err}");
        }
    }
}

/// The data of one call's `Store`.
pub(crate) struct State {
    module: Arc<str>,
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    limiter: Limiter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    clock: CallClock,
    log_lines: u32,
    sessions_open: u32,
    sessions_opened: u32,
}

impl State {
    pub(crate) fn new(module: Arc<str>, limits: &CallLimits) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        // Nothing is granted: no preopened directories, no environment, no arguments, no
        // sockets, no name lookups. Clocks and random numbers work.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            module,
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.memory_bytes),
            stdout,
            stderr,
            clock: CallClock::new(limits),
            log_lines: 0,
            sessions_open: 0,
            sessions_opened: 0,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    pub(crate) fn memory_denied(&self) -> bool {
        self.limiter.denied
    }

    pub(crate) fn clock(&self) -> &CallClock {
        &self.clock
    }

    /// Sends what the module wrote on stdout and stderr to the log, line by line, and returns
    /// the last non-empty stderr line (a Rust panic message ends up there).
    pub(crate) fn flush_output(&self) -> Option<String> {
        for line in String::from_utf8_lossy(&self.stdout.contents()).lines() {
            tracing::info!(module = %self.module, stream = "stdout", "{}", truncate(line));
        }
        let stderr = self.stderr.contents();
        let stderr = String::from_utf8_lossy(&stderr);
        for line in stderr.lines() {
            tracing::warn!(module = %self.module, stream = "stderr", "{}", truncate(line));
        }
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
            .map(|l| truncate(l).to_owned())
    }

    /// Runs a host operation on the module's behalf, counting its time as host time so it
    /// does not eat the module's CPU budget.
    fn host_time<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let started = Instant::now();
        let result = f(self);
        self.clock.host_time += started.elapsed();
        result
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Time accounting of one call, read by the epoch callback.
pub(crate) struct CallClock {
    started: Instant,
    host_time: Duration,
    cpu_budget: Duration,
    wall_limit: Duration,
}

/// Which limit a call ran into.
pub(crate) enum Overrun {
    Cpu(Duration),
    Wall(Duration),
}

impl CallClock {
    fn new(limits: &CallLimits) -> Self {
        Self {
            started: Instant::now(),
            host_time: Duration::ZERO,
            cpu_budget: limits.cpu_time,
            wall_limit: limits.wall_time,
        }
    }

    /// Whether the call is over one of its limits: time spent in the module itself (wall time
    /// minus time in host calls such as card I/O), or the whole call's wall time.
    pub(crate) fn overrun(&self) -> Option<Overrun> {
        let elapsed = self.started.elapsed();
        if elapsed >= self.wall_limit {
            return Some(Overrun::Wall(self.wall_limit));
        }
        if elapsed.saturating_sub(self.host_time) >= self.cpu_budget {
            return Some(Overrun::Cpu(self.cpu_budget));
        }
        None
    }
}

/// Store limits that remember whether a memory growth was refused, so a trap that follows can
/// be reported as memory exhaustion rather than a crash.
struct Limiter {
    inner: StoreLimits,
    denied: bool,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .instances(64)
            .tables(64)
            .memories(8)
            .build();
        Self { inner, denied: false }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl types::Host for State {}

impl types::HostPin for State {
    fn length(&mut self, pin: Resource<PinSecret>) -> wasmtime::Result<u32> {
        let pin = self.table.get(&pin)?;
        Ok(u32::try_from(pin.0.chars().count()).unwrap_or(u32::MAX))
    }

    fn drop(&mut self, pin: Resource<PinSecret>) -> wasmtime::Result<()> {
        self.table.delete(pin)?;
        Ok(())
    }
}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
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

impl reader::Host for State {}

impl reader::HostCard for State {
    fn atr(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&card)?.card.atr())
    }

    fn transmit(
        &mut self,
        card: Resource<CardHandle>,
        apdu: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, types::CardError>> {
        // Longest extended APDU: header, 3-byte Lc, 65535 data bytes, 2-byte Le.
        const MAX_APDU: usize = 4 + 3 + 65_535 + 2;
        if apdu.len() < 4 || apdu.len() > MAX_APDU {
            return Ok(Err(types::CardError::InvalidInput(format!(
                "an APDU has 4 to {MAX_APDU} bytes, not {}",
                apdu.len()
            ))));
        }
        self.table.get(&card)?;
        let result = self.host_time(|state| {
            let handle = state.table.get_mut(&card)?;
            Ok::<_, wasmtime::Error>(handle.card.transmit(&apdu))
        })?;
        Ok(result.map_err(card_error_to_wit))
    }

    fn pinpad(
        &mut self,
        card: Resource<CardHandle>,
    ) -> wasmtime::Result<reader::PinpadCapabilities> {
        let caps = self.table.get(&card)?.card.pinpad();
        Ok(reader::PinpadCapabilities { verify_pin: caps.verify_pin, modify_pin: caps.modify_pin })
    }

    fn verify_pin(
        &mut self,
        card: Resource<CardHandle>,
        request: reader::PinVerifyRequest,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<u16, types::CardError>> {
        let request = PinVerifyRequest {
            apdu: request.apdu,
            block_offset: request.block_offset,
            block_size: request.block_size,
            pin_bit_offset: request.pin_bit_offset,
            encoding: match request.encoding {
                reader::PinEncoding::Ascii => PinEncoding::Ascii,
                reader::PinEncoding::Bcd => PinEncoding::Bcd,
            },
            length_field: request
                .length_field
                .map(|f| PinLengthField { bit_position: f.bit_position, bit_size: f.bit_size }),
            min_length: request.min_length,
            max_length: request.max_length,
            timeout_seconds: request.timeout_seconds,
        };
        let digits = match pin {
            Some(pin) => Some(self.table.get(&pin)?.0.clone()),
            None => None,
        };
        let result = self.host_time(|state| {
            let handle = state.table.get_mut(&card)?;
            let pin = digits.as_deref().map(|d| Pin::from_digits(d));
            Ok::<_, wasmtime::Error>(handle.card.verify_pin(&request, pin.as_ref()))
        })?;
        Ok(result.map_err(card_error_to_wit))
    }

    fn drop(&mut self, card: Resource<CardHandle>) -> wasmtime::Result<()> {
        self.table.delete(card)?;
        Ok(())
    }
}

impl pkcs11::Host for State {}

impl pkcs11::HostSlot for State {
    fn info(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<pkcs11::TokenInfo, pkcs11::TokenError>> {
        self.table.get(&slot)?;
        let info =
            self.host_time(|state| Ok::<_, wasmtime::Error>(state.table.get(&slot)?.slot.info()))?;
        Ok(info.map(token_info_to_wit).map_err(token_error_to_wit))
    }

    fn mechanisms(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Vec<pkcs11::MechanismInfo>, pkcs11::TokenError>> {
        self.table.get(&slot)?;
        let mechanisms = self.host_time(|state| {
            Ok::<_, wasmtime::Error>(state.table.get(&slot)?.slot.mechanisms())
        })?;
        Ok(mechanisms
            .map(|list| list.into_iter().map(mechanism_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn open_session(
        &mut self,
        slot: Resource<SlotResource>,
    ) -> wasmtime::Result<Result<Resource<SessionResource>, pkcs11::TokenError>> {
        self.table.get(&slot)?;
        if self.sessions_open >= MAX_OPEN_SESSIONS || self.sessions_opened >= MAX_SESSIONS_PER_CALL
        {
            tracing::warn!(module = %self.module, "PKCS#11 session limit of the call reached");
            return Ok(Err(pkcs11::TokenError::Library("CKR_SESSION_COUNT".into())));
        }
        let opened = self.host_time(|state| {
            Ok::<_, wasmtime::Error>(state.table.get(&slot)?.slot.open_session())
        })?;
        let session = match opened {
            Ok(session) => session,
            Err(err) => return Ok(Err(token_error_to_wit(err))),
        };
        self.sessions_open += 1;
        self.sessions_opened += 1;
        let handle = self.table.push(SessionResource { session, logged_in: false })?;
        Ok(Ok(handle))
    }

    fn drop(&mut self, slot: Resource<SlotResource>) -> wasmtime::Result<()> {
        self.table.delete(slot)?;
        Ok(())
    }
}

impl pkcs11::HostSession for State {
    fn find_objects(
        &mut self,
        session: Resource<SessionResource>,
        query: pkcs11::ObjectQuery,
    ) -> wasmtime::Result<Result<Vec<pkcs11::ObjectInfo>, pkcs11::TokenError>> {
        const MAX_LABEL: usize = 1024;
        const MAX_ID: usize = 1024;
        if query.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL)
            || query.id.as_ref().is_some_and(|i| i.len() > MAX_ID)
        {
            return Ok(Err(pkcs11::TokenError::InvalidInput(
                "a label or id to search for is too long".into(),
            )));
        }
        let query = host_pkcs11::ObjectQuery {
            class: query.class.map(class_from_wit),
            label: query.label,
            id: query.id,
        };
        self.table.get(&session)?;
        let found = self.host_time(|state| {
            Ok::<_, wasmtime::Error>(state.table.get(&session)?.session.find_objects(&query))
        })?;
        Ok(found
            .map(|objects| objects.into_iter().take(MAX_OBJECTS).map(object_to_wit).collect())
            .map_err(token_error_to_wit))
    }

    fn value(
        &mut self,
        session: Resource<SessionResource>,
        handle: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, pkcs11::TokenError>> {
        self.table.get(&session)?;
        let value = self.host_time(|state| {
            Ok::<_, wasmtime::Error>(state.table.get(&session)?.session.value(handle))
        })?;
        Ok(value.map_err(token_error_to_wit))
    }

    fn login(
        &mut self,
        session: Resource<SessionResource>,
        pin: Option<Resource<PinSecret>>,
    ) -> wasmtime::Result<Result<(), pkcs11::TokenError>> {
        let pin = match pin {
            Some(pin) => Some(self.table.get(&pin)?.0.clone()),
            None => None,
        };
        self.table.get(&session)?;
        let result = self.host_time(|state| {
            let resource = state.table.get_mut(&session)?;
            let result = resource.session.login(pin.as_ref());
            resource.logged_in |= result.is_ok();
            Ok::<_, wasmtime::Error>(result)
        })?;
        Ok(result.map_err(token_error_to_wit))
    }

    fn logout(
        &mut self,
        session: Resource<SessionResource>,
    ) -> wasmtime::Result<Result<(), pkcs11::TokenError>> {
        self.table.get(&session)?;
        let result = self.host_time(|state| {
            let resource = state.table.get_mut(&session)?;
            let result = resource.session.logout();
            resource.logged_in &= result.is_err();
            Ok::<_, wasmtime::Error>(result)
        })?;
        Ok(result.map_err(token_error_to_wit))
    }

    fn sign(
        &mut self,
        session: Resource<SessionResource>,
        key: u64,
        scheme: pkcs11::SignatureScheme,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, pkcs11::TokenError>> {
        // Longest input a signature takes: a raw CKM_RSA_PKCS block of a 16384-bit key.
        const MAX_DATA: usize = 2048;
        if data.len() > MAX_DATA {
            return Ok(Err(pkcs11::TokenError::InvalidInput(format!(
                "at most {MAX_DATA} bytes are signed at once"
            ))));
        }
        let scheme = match scheme {
            pkcs11::SignatureScheme::RsaPkcs1(hash) => {
                host_pkcs11::SignatureScheme::RsaPkcs1(hash.map(hash_from_wit))
            }
            pkcs11::SignatureScheme::RsaPss(hash) => {
                host_pkcs11::SignatureScheme::RsaPss(hash_from_wit(hash))
            }
            pkcs11::SignatureScheme::Ecdsa => host_pkcs11::SignatureScheme::Ecdsa,
        };
        self.table.get(&session)?;
        let signature = self.host_time(|state| {
            Ok::<_, wasmtime::Error>(state.table.get(&session)?.session.sign(key, &scheme, &data))
        })?;
        Ok(signature.map_err(token_error_to_wit))
    }

    fn drop(&mut self, session: Resource<SessionResource>) -> wasmtime::Result<()> {
        let resource = self.table.delete(session)?;
        self.sessions_open = self.sessions_open.saturating_sub(1);
        drop(resource);
        Ok(())
    }
}

/// The contract's `token-error` of a host PKCS#11 failure. Texts that could name the library
/// (load failures, worker crashes) stay in the host's log.
fn token_error_to_wit(err: Pkcs11Error) -> pkcs11::TokenError {
    use pkcs11::TokenError as W;
    match err {
        Pkcs11Error::Timeout => W::Timeout,
        Pkcs11Error::WorkerCrashed(detail) => {
            tracing::warn!("PKCS#11 worker crashed during a module call: {detail}");
            W::Timeout
        }
        Pkcs11Error::TokenRemoved | Pkcs11Error::NoSuchSlot => W::TokenRemoved,
        Pkcs11Error::PinIncorrect(tries) => W::PinIncorrect(match tries {
            host_pkcs11::PinTries::Unknown => pkcs11::PinTries::Unknown,
            host_pkcs11::PinTries::Low => pkcs11::PinTries::Low,
            host_pkcs11::PinTries::FinalTry => pkcs11::PinTries::FinalTry,
        }),
        Pkcs11Error::PinLocked => W::PinLocked,
        Pkcs11Error::NotLoggedIn => W::NotLoggedIn,
        Pkcs11Error::ObjectNotFound => W::ObjectNotFound,
        Pkcs11Error::NotSupported(what) => W::NotSupported(what),
        Pkcs11Error::InvalidInput(what) => W::InvalidInput(what),
        Pkcs11Error::Library(code) => W::Library(code),
        Pkcs11Error::LibraryLoad(detail) => {
            tracing::warn!("PKCS#11 library unavailable during a module call: {detail}");
            W::Library("CKR_GENERAL_ERROR".into())
        }
        Pkcs11Error::StaleSession => W::Library("CKR_SESSION_HANDLE_INVALID".into()),
    }
}

fn token_info_to_wit(info: host_pkcs11::TokenInfo) -> pkcs11::TokenInfo {
    use pkcs11::TokenFlags as W;
    let f = info.flags;
    let mut flags = W::empty();
    for (set, flag) in [
        (f.rng, W::RNG),
        (f.write_protected, W::WRITE_PROTECTED),
        (f.login_required, W::LOGIN_REQUIRED),
        (f.user_pin_initialized, W::USER_PIN_INITIALIZED),
        (f.restore_key_not_needed, W::RESTORE_KEY_NOT_NEEDED),
        (f.clock_on_token, W::CLOCK_ON_TOKEN),
        (f.protected_authentication_path, W::PROTECTED_AUTHENTICATION_PATH),
        (f.dual_crypto_operations, W::DUAL_CRYPTO_OPERATIONS),
        (f.token_initialized, W::TOKEN_INITIALIZED),
        (f.secondary_authentication, W::SECONDARY_AUTHENTICATION),
        (f.user_pin_count_low, W::USER_PIN_COUNT_LOW),
        (f.user_pin_final_try, W::USER_PIN_FINAL_TRY),
        (f.user_pin_locked, W::USER_PIN_LOCKED),
        (f.user_pin_to_be_changed, W::USER_PIN_TO_BE_CHANGED),
        (f.so_pin_count_low, W::SO_PIN_COUNT_LOW),
        (f.so_pin_final_try, W::SO_PIN_FINAL_TRY),
        (f.so_pin_locked, W::SO_PIN_LOCKED),
        (f.so_pin_to_be_changed, W::SO_PIN_TO_BE_CHANGED),
    ] {
        if set {
            flags |= flag;
        }
    }
    pkcs11::TokenInfo {
        label: info.label,
        manufacturer_id: info.manufacturer_id,
        model: info.model,
        serial_number: info.serial_number,
        flags,
        max_session_count: info.max_session_count,
        session_count: info.session_count,
        max_rw_session_count: info.max_rw_session_count,
        max_pin_length: info.max_pin_length,
        min_pin_length: info.min_pin_length,
        total_public_memory: info.total_public_memory,
        free_public_memory: info.free_public_memory,
        total_private_memory: info.total_private_memory,
        free_private_memory: info.free_private_memory,
        hardware_version: info.hardware_version,
        firmware_version: info.firmware_version,
    }
}

fn mechanism_to_wit(m: host_pkcs11::MechanismInfo) -> pkcs11::MechanismInfo {
    use pkcs11::MechanismFlags as W;
    let f = m.flags;
    let mut flags = W::empty();
    for (set, flag) in [
        (f.hardware, W::HARDWARE),
        (f.encrypt, W::ENCRYPT),
        (f.decrypt, W::DECRYPT),
        (f.digest, W::DIGEST),
        (f.sign, W::SIGN),
        (f.sign_recover, W::SIGN_RECOVER),
        (f.verify, W::VERIFY),
        (f.verify_recover, W::VERIFY_RECOVER),
        (f.generate, W::GENERATE),
        (f.generate_key_pair, W::GENERATE_KEY_PAIR),
        (f.wrap, W::WRAP),
        (f.unwrap, W::UNWRAP),
        (f.extension, W::EXTENSION),
        (f.ec_fp, W::EC_FP),
        (f.ec_named_curve, W::EC_NAMED_CURVE),
        (f.ec_uncompress, W::EC_UNCOMPRESS),
        (f.ec_compress, W::EC_COMPRESS),
    ] {
        if set {
            flags |= flag;
        }
    }
    pkcs11::MechanismInfo {
        name: m.name,
        code: m.code,
        min_key_size: m.min_key_size,
        max_key_size: m.max_key_size,
        flags,
    }
}

fn class_from_wit(class: pkcs11::ObjectClass) -> host_pkcs11::ObjectClass {
    match class {
        pkcs11::ObjectClass::Certificate => host_pkcs11::ObjectClass::Certificate,
        pkcs11::ObjectClass::PublicKey => host_pkcs11::ObjectClass::PublicKey,
        pkcs11::ObjectClass::PrivateKey => host_pkcs11::ObjectClass::PrivateKey,
        pkcs11::ObjectClass::Data => host_pkcs11::ObjectClass::Data,
    }
}

fn object_to_wit(object: host_pkcs11::ObjectInfo) -> pkcs11::ObjectInfo {
    pkcs11::ObjectInfo {
        handle: object.handle,
        class: match object.class {
            host_pkcs11::ObjectClass::Certificate => pkcs11::ObjectClass::Certificate,
            host_pkcs11::ObjectClass::PublicKey => pkcs11::ObjectClass::PublicKey,
            host_pkcs11::ObjectClass::PrivateKey => pkcs11::ObjectClass::PrivateKey,
            host_pkcs11::ObjectClass::Data => pkcs11::ObjectClass::Data,
        },
        label: object.label,
        id: object.id,
        key_type: object.key_type.map(|k| match k {
            host_pkcs11::KeyType::Rsa => pkcs11::KeyType::Rsa,
            host_pkcs11::KeyType::Ec => pkcs11::KeyType::Ec,
            host_pkcs11::KeyType::Other => pkcs11::KeyType::Other,
        }),
    }
}

fn hash_from_wit(hash: types::HashAlgorithm) -> host_pkcs11::HashAlgorithm {
    match hash {
        types::HashAlgorithm::Sha1 => host_pkcs11::HashAlgorithm::Sha1,
        types::HashAlgorithm::Sha256 => host_pkcs11::HashAlgorithm::Sha256,
        types::HashAlgorithm::Sha384 => host_pkcs11::HashAlgorithm::Sha384,
        types::HashAlgorithm::Sha512 => host_pkcs11::HashAlgorithm::Sha512,
    }
}

fn card_error_to_wit(err: t1c_sdk::CardError) -> types::CardError {
    use t1c_sdk::CardError as E;
    match err {
        E::CardRemoved => types::CardError::CardRemoved,
        E::CardReset => types::CardError::CardReset,
        E::Timeout => types::CardError::Timeout,
        E::Transport(msg) => types::CardError::Transport(msg),
        E::PinCancelled => types::CardError::PinCancelled,
        E::NotSupported(msg) => types::CardError::NotSupported(msg),
        E::InvalidInput(msg) => types::CardError::InvalidInput(msg),
        other => types::CardError::Transport(other.to_string()),
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_LOG_LINE {
        return s;
    }
    let mut end = MAX_LOG_LINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
