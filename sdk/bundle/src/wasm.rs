//! The component check this crate can do without a runtime: the binary header.

use crate::BundleError;

const MAGIC: [u8; 4] = *b"\0asm";
/// Core modules: version 1, layer 0.
const CORE_MODULE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// Components: version 0x0d, layer 1 (the component-model binary format).
const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// Checks that `wasm` starts with the component-model binary header.
pub(crate) fn check_component(wasm: &[u8]) -> Result<(), BundleError> {
    let refuse = |reason: &str| Err(BundleError::NotAComponent { reason: reason.to_owned() });
    let Some((magic, rest)) = wasm.split_first_chunk::<4>() else {
        return refuse("too short to be WebAssembly (under 8 bytes)");
    };
    if *magic != MAGIC {
        return refuse("no WebAssembly magic number (\\0asm)");
    }
    let Some((header, _)) = rest.split_first_chunk::<4>() else {
        return refuse("too short to be WebAssembly (under 8 bytes)");
    };
    match *header {
        COMPONENT => Ok(()),
        CORE_MODULE => {
            refuse("it is a core WebAssembly module; build a component with --target wasm32-wasip2")
        }
        [version_lo, version_hi, 0x01, 0x00] => Err(BundleError::NotAComponent {
            reason: format!(
                "component binary format version {:#06x} is not supported (expected 0x000d)",
                u16::from_le_bytes([version_lo, version_hi])
            ),
        }),
        _ => refuse("unknown WebAssembly version or layer in the header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_component_header() {
        assert!(check_component(b"\0asm\x0d\x00\x01\x00rest").is_ok());
    }

    #[test]
    fn refuses_a_core_module_with_advice() {
        let err = check_component(b"\0asm\x01\x00\x00\x00").unwrap_err();
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    }

    #[test]
    fn refuses_garbage_and_short_input() {
        assert!(check_component(b"").is_err());
        assert!(check_component(b"\0asm").is_err());
        assert!(check_component(b"PK\x03\x04\0\0\0\0").is_err());
    }
}
