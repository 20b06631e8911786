//! The compiled-component cache: hits, and recovery from corrupt, truncated and foreign entries.

use std::path::{Path, PathBuf};

use t1c_runtime::{CacheOutcome, Device, Runtime, RuntimeConfig};

use crate::fixtures::{self, MemoryCard};

fn cached_runtime(dir: &Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        limits: fixtures::test_limits(),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    entries.sort();
    entries
}

fn load_hello(runtime: &Runtime) -> CacheOutcome {
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    // Whatever the cache did, the module must work.
    module.token_info(Device::Card(Box::new(MemoryCard::default()))).expect("callable");
    module.cache_outcome()
}

#[test]
fn second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(load_hello(&cached_runtime(dir.path())), CacheOutcome::Compiled);
    assert_eq!(load_hello(&cached_runtime(dir.path())), CacheOutcome::Hit);
    assert_eq!(entries(dir.path()).len(), 1);
}

#[test]
fn corrupt_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    let entry = &entries(dir.path())[0];
    let mut bytes = std::fs::read(entry).expect("entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(entry, bytes).expect("corrupt");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    assert_eq!(load_hello(&runtime), CacheOutcome::Hit, "the entry was rewritten");
}

#[test]
fn truncated_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    let entry = &entries(dir.path())[0];
    for keep in [0, 10, 100] {
        let bytes = std::fs::read(entry).expect("entry");
        std::fs::write(entry, &bytes[..keep.min(bytes.len())]).expect("truncate");
        assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    }
}

#[test]
fn foreign_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    runtime.load(&t1c_testkit::components::bytes("t1c-test-hostile"), "hostile").expect("loads");
    let hostile_entry = entries(dir.path())[0].clone();
    load_hello(&runtime);
    let hello_entry =
        entries(dir.path()).into_iter().find(|e| *e != hostile_entry).expect("second entry");
    // Another module's valid entry under hello's key must not be loaded as hello.
    std::fs::copy(&hostile_entry, &hello_entry).expect("swap");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    // A raw wasmtime artifact without our header is not trusted either.
    std::fs::write(&hello_entry, b"\x7fELF not ours").expect("write");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
}
