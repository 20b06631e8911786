//! The compiled-component cache: hits, mapping from the entry's file, the kept manifest, and
//! recovery from corrupt, truncated, foreign and half-written entries.

use std::path::{Path, PathBuf};

use t1c_runtime::{CacheOutcome, Device, LoadedModule, Runtime, RuntimeConfig};

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

/// Loads `hello` and calls it: whatever the cache did, the module must work.
fn hello_module(runtime: &Runtime) -> LoadedModule {
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    module.token_info(Device::Card(Box::new(MemoryCard::default()))).expect("callable");
    module
}

fn load_hello(runtime: &Runtime) -> CacheOutcome {
    hello_module(runtime).cache_outcome()
}

#[test]
fn second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(load_hello(&cached_runtime(dir.path())), CacheOutcome::Compiled);
    assert_eq!(load_hello(&cached_runtime(dir.path())), CacheOutcome::Hit);
    assert_eq!(entries(dir.path()).len(), 1);
}

/// The check file beside an entry's payload.
fn check_file(entry: &Path) -> PathBuf {
    entry.with_extension("check")
}

/// The manifest kept beside an entry.
fn manifest_file(entry: &Path) -> PathBuf {
    entry.with_extension("manifest")
}

#[test]
fn a_hit_is_served_with_the_kept_manifest_without_running_the_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(load_hello(&cached_runtime(dir.path())), CacheOutcome::Compiled);
    let entry = entries(dir.path())[0].clone();
    let kept = std::fs::read_to_string(manifest_file(&entry)).expect("the manifest was kept");
    // Change what the module would say about itself: only the kept file can say this.
    let edited = kept.replace("\"description\":\"", "\"description\":\"(kept) ");
    assert_ne!(edited, kept);
    std::fs::write(manifest_file(&entry), edited).expect("edit");
    let module = hello_module(&cached_runtime(dir.path()));
    assert_eq!(module.cache_outcome(), CacheOutcome::Hit);
    assert!(module.manifest().description.starts_with("(kept) "), "{:?}", module.manifest());
}

#[test]
fn a_missing_or_bad_kept_manifest_is_asked_for_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    let entry = entries(dir.path())[0].clone();
    let good = std::fs::read_to_string(manifest_file(&entry)).expect("kept");
    let other_key = good.replacen("\"key\":\"", "\"key\":\"0", 1);
    let invalid_name = good.replacen("\"name\":\"hello\"", "\"name\":\"Not A Name\"", 1);
    assert_ne!(invalid_name, good);
    for bad in [None, Some("not json".to_owned()), Some(other_key), Some(invalid_name)] {
        match &bad {
            None => std::fs::remove_file(manifest_file(&entry)).expect("remove"),
            Some(text) => std::fs::write(manifest_file(&entry), text).expect("write"),
        }
        assert_eq!(hello_module(&runtime).manifest().name, "hello", "{bad:?}");
        // Asked again and kept again.
        assert_eq!(std::fs::read_to_string(manifest_file(&entry)).expect("kept"), good, "{bad:?}");
    }
}

#[test]
fn an_entry_is_its_payload_and_a_check_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    load_hello(&cached_runtime(dir.path()));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let entry = &entries(dir.path())[0];
    // The payload is wasmtime's artifact itself (an ELF object), so it can be mapped as it is.
    assert_eq!(&std::fs::read(entry).expect("payload")[..4], b"\x7fELF");
    assert!(check_file(entry).is_file());
    assert!(manifest_file(entry).is_file());
}

#[cfg(target_os = "linux")]
#[test]
fn a_cached_component_is_mapped_from_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    load_hello(&cached_runtime(dir.path()));
    let entry = entries(dir.path())[0].clone();
    let mapped = || {
        std::fs::read_to_string("/proc/self/maps")
            .expect("maps")
            .lines()
            .any(|line| line.ends_with(&*entry.to_string_lossy()))
    };
    let module = hello_module(&cached_runtime(dir.path()));
    assert_eq!(module.cache_outcome(), CacheOutcome::Hit);
    assert!(mapped(), "the hit's code is the entry's file, mapped");
}

#[test]
fn entry_without_its_check_file_is_compiled_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    let entry = &entries(dir.path())[0];
    // What a crash between writing the payload and its check file leaves.
    std::fs::remove_file(check_file(entry)).expect("remove");
    assert_eq!(load_hello(&runtime), CacheOutcome::Compiled);
    assert_eq!(load_hello(&runtime), CacheOutcome::Hit, "the entry was rewritten");
}

#[test]
fn check_file_without_its_payload_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    std::fs::remove_file(&entries(dir.path())[0]).expect("remove");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    assert_eq!(load_hello(&runtime), CacheOutcome::Hit);
}

#[test]
fn corrupt_check_file_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = cached_runtime(dir.path());
    load_hello(&runtime);
    let check = check_file(&entries(dir.path())[0]);
    let good = std::fs::read(&check).expect("check");
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 1;
    let mut bad_digest = good.clone();
    let last = bad_digest.len() - 1;
    bad_digest[last] ^= 1;
    let mut longer = good.clone();
    longer.push(0);
    for bad in [bad_magic, bad_digest, longer, good[..10].to_vec(), Vec::new()] {
        std::fs::write(&check, bad).expect("write");
        assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    }
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
    // Another module's valid entry under hello's key must not be loaded as hello: neither its
    // payload under hello's check file, nor its payload and check file together.
    std::fs::copy(&hostile_entry, &hello_entry).expect("swap");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    std::fs::copy(&hostile_entry, &hello_entry).expect("swap");
    std::fs::copy(check_file(&hostile_entry), check_file(&hello_entry)).expect("swap");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
    // Bytes that are not the payload its check file describes are not trusted either.
    std::fs::write(&hello_entry, b"\x7fELF not ours").expect("write");
    assert_eq!(load_hello(&runtime), CacheOutcome::Recompiled);
}
