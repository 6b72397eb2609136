//! A valid wasm module of a chosen size: the header and one custom section
//! of padding. Shared by tests/packages.rs and benches/packages.rs.

/// A module of at least `n` bytes (a few more for the section header).
pub fn module(n: usize) -> Vec<u8> {
    let mut body = vec![3, b'p', b'a', b'd'];
    body.resize(body.len().max(n), 0x5a);
    let mut m = b"\0asm\x01\0\0\0\0".to_vec();
    // The section's length, unsigned LEB128.
    let mut len = body.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        m.push(if len == 0 { b } else { b | 0x80 });
        if len == 0 {
            break;
        }
    }
    m.extend(body);
    m
}
