//! Integration tests of the connector library, one binary (wasmtime-style `tests/all`).

mod cache;
mod fixtures;
mod loading;
mod pin_hygiene;
mod sandbox;
mod server;
mod sigkill;
