//! The scripted-session parser over arbitrary text: a script or an error
//! with a span inside the source, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tidemark_shell::script::Script::parse("fuzz.tms", text);
    }
});
