//! The process-wide wasmtime engine: Cranelift, the pooling allocator and epoch interruption
//! driven by a ticker thread.

use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each pooled linear memory kept resident between instances (a Rust module's stack,
/// data and the heap of a typical call fit in it).
const KEEP_RESIDENT: usize = 2 << 20;

/// How often the epoch advances; the granularity of every deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine.
///
/// `instances` bounds the instances alive at once (calls in flight); `memory_bytes` is the
/// largest linear memory any instance may have.
pub(crate) fn build(instances: u32, memory_bytes: usize) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    // A component built from Rust has one core module with a memory plus a few small shims.
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_memories_per_component(2)
        .max_core_instances_per_component(16)
        .max_tables_per_component(16)
        .max_memory_size(memory_bytes)
        // Reset the pages an instance dirtied with memset, found with Linux's PAGEMAP_SCAN,
        // instead of madvise: the next instance in the slot then takes no page faults.
        // (Without PAGEMAP_SCAN support this falls back to madvise past the first bytes.)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
///
/// # Errors
/// The thread cannot be spawned; without it no deadline would ever fire.
pub(crate) fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    thread::Builder::new().name("t1c-epoch".into()).spawn(move || {
        loop {
            thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    })?;
    Ok(())
}
