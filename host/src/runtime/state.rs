//! What one call's `Store` holds, and the host side of the contract's imports: `types.pin`,
//! `log` and `reader.card`.
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

use super::bindings::t1c::card::{log, reader, types};
use super::limits::CallLimits;

/// Bytes of stdout and of stderr kept per call; a module that writes more gets a write error.
const OUTPUT_CAPACITY: usize = 64 * 1024;
/// Longest log line forwarded; longer ones are cut.
const MAX_LOG_LINE: usize = 4096;
/// Log lines forwarded per call; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 1000;

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
