//! Integration tests of the connector library, one binary (wasmtime-style `tests/all`).

mod bundles;
mod cache;
mod fixtures;
mod hot_swap;
mod loading;
mod pin_hygiene;
mod policy;
mod sandbox;
mod server;
mod sigkill;
