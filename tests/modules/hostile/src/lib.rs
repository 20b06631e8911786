//! A module that attacks its sandbox, one extension operation per attack. The host's sandbox
//! tests call each and expect a typed error, while well-behaved calls carry on.
//!
//! Operations (all `POST`, no device):
//! - `ok`: answers `{"ok":true}`, the control.
//! - `spin`: loops forever.
//! - `hoard`: allocates 1 MiB blocks until memory runs out.
//! - `panic`: panics.
//! - `read-file`: reads `/etc/passwd`, or the path given as the request, through WASI.
//! - `read-env`: reads the `HOME` and `PATH` environment variables and the arguments.
//! - `connect`: opens a TCP connection to the address given as the request.
//! - `remember` / `recall`: the first fills memory (a static and the heap) with a marker, the
//!   second looks for that marker in uninitialised heap memory and the static; a later call
//!   must never see what an earlier one left.

use std::io::Read;

use t1c_sdk::{
    Device, DeviceKind, Error, Extension, HttpMethod, Manifest, Module, Operation, Result, Token,
};

struct Hostile;

const OPERATIONS: [&str; 9] =
    ["ok", "spin", "hoard", "panic", "read-file", "read-env", "connect", "remember", "recall"];

const MARKER: u8 = 0xA5;
const BLOCK: usize = 64 << 10;
static SECRET: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

impl Module for Hostile {
    fn manifest() -> Manifest {
        OPERATIONS.iter().fold(
            Manifest::new("hostile", "0.1.0", "Sandbox escape attempts, for tests"),
            |manifest, name| {
                manifest.with_operation(Operation::new(
                    *name,
                    HttpMethod::Post,
                    DeviceKind::None,
                    "test",
                    "sandbox test",
                ))
            },
        )
    }
}

impl Token for Hostile {}

impl Extension for Hostile {
    // `recall` reads a fresh heap block on purpose: it proves no data of an earlier call leaks.
    #[allow(unsafe_code)]
    fn invoke(_device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        match operation {
            "ok" => Ok("{\"ok\":true}".to_owned()),
            "spin" => spin(),
            "hoard" => hoard(),
            "panic" => panic!("hostile module panicked on purpose"),
            "read-file" => {
                let path =
                    if request.is_empty() || request == "{}" { "/etc/passwd" } else { request };
                let mut content = String::new();
                std::fs::File::open(path)
                    .and_then(|mut f| f.read_to_string(&mut content))
                    .map_err(|e| Error::internal(format!("file access failed: {e}")))?;
                Ok(format!("{{\"stolen\":{}}}", content.len()))
            }
            "read-env" => {
                let vars: Vec<(String, String)> = std::env::vars().collect();
                let args: Vec<String> = std::env::args().collect();
                if vars.is_empty() && args.is_empty() {
                    Err(Error::internal("environment and arguments are empty"))
                } else {
                    Ok(format!("{{\"stolen\":\"{vars:?} {args:?}\"}}"))
                }
            }
            "connect" => std::net::TcpStream::connect(request)
                .map(|_| "{\"stolen\":\"connected\"}".to_owned())
                .map_err(|e| Error::internal(format!("connect failed: {e}"))),
            "remember" => {
                SECRET.store(MARKER, std::sync::atomic::Ordering::Relaxed);
                let block = vec![MARKER; BLOCK];
                std::mem::forget(block);
                Ok("{}".to_owned())
            }
            "recall" => {
                let layout = std::alloc::Layout::from_size_align(BLOCK, 8)
                    .map_err(|e| Error::internal(e.to_string()))?;
                // SAFETY: the layout has a non-zero size; the block is read as bytes (any
                // value is valid for u8) and freed with the same layout.
                let leaked_heap = unsafe {
                    let block = std::alloc::alloc(layout);
                    if block.is_null() {
                        return Err(Error::internal("allocation failed"));
                    }
                    let seen = std::slice::from_raw_parts(block, BLOCK).contains(&MARKER);
                    std::alloc::dealloc(block, layout);
                    seen
                };
                let leaked_static = SECRET.load(std::sync::atomic::Ordering::Relaxed) == MARKER;
                Ok(format!("{{\"heap\":{leaked_heap},\"static\":{leaked_static}}}"))
            }
            other => Err(Error::NotSupported(format!("operation `{other}`"))),
        }
    }
}

#[inline(never)]
fn spin() -> Result<String> {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn hoard() -> Result<String> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[0] = 1;
        blocks.push(std::hint::black_box(block));
    }
}

t1c_sdk::export_module!(Hostile);
