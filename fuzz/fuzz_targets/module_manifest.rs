//! The module manifest parser (the kernel reads it before any engine sees
//! the bytes) over arbitrary modules: an answer for every input, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tidemark_kernel::manifest::parse(data);
    // With a valid header in front, the section walk is what gets fuzzed.
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend_from_slice(data);
    let _ = tidemark_kernel::manifest::parse(&m);
});
