//! What one call's `Store` holds: WASI with nothing granted, the resource table, the memory
//! limiter, the call's clock, the module's captured output, and the context of each contract
//! interface (see [`crate::imports`]).
//!
//! A fresh [`State`] is made for every call and dropped with its `Store`, so nothing a module
//! does survives the call: no handles, no memory, no output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::imports::files::FilesCtx;
use crate::imports::log::{LogCtx, truncate};
use crate::imports::pkcs11::Pkcs11Ctx;
use crate::limits::CallLimits;

/// Bytes of stdout and of stderr kept per call; a module that writes more gets a write error.
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// The data of one call's `Store`.
pub(crate) struct State {
    module: Arc<str>,
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) clock: CallClock,
    pub(crate) log: LogCtx,
    pub(crate) pkcs11: Pkcs11Ctx,
    pub(crate) files: FilesCtx,
    limiter: Limiter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
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
            log: LogCtx::new(module.clone()),
            pkcs11: Pkcs11Ctx::new(module.clone()),
            files: FilesCtx::default(),
            module,
            wasi,
            table: ResourceTable::new(),
            clock: CallClock::new(limits),
            limiter: Limiter::new(limits.memory_bytes),
            stdout,
            stderr,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    pub(crate) fn memory_denied(&self) -> bool {
        self.limiter.denied
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
    pub(crate) fn new(limits: &CallLimits) -> Self {
        Self {
            started: Instant::now(),
            host_time: Duration::ZERO,
            cpu_budget: limits.cpu_time,
            wall_limit: limits.wall_time,
        }
    }

    /// Runs a host operation on the module's behalf (card or token I/O), counting its time as
    /// host time so it does not eat the module's CPU budget.
    pub(crate) fn host_time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = f();
        self.host_time += started.elapsed();
        result
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
