//! The monitor's frame decoder over arbitrary bytes, fed in arbitrary
//! chunks: it never panics, always makes progress, and every frame it
//! accepts encodes back to bytes that decode and encode to the same bytes
//! (bytes, not values: a float field may carry NaN, unequal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocol::frame::{Decoder, encode};

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut d = Decoder::new();
    for part in bytes.chunks(chunk) {
        d.push(part);
        while let Some(next) = d.next_frame() {
            if let Ok(frame) = next {
                let again = encode(frame.id, &frame.body);
                let mut d2 = Decoder::new();
                d2.push(&again);
                match d2.next_frame() {
                    Some(Ok(f2)) => assert_eq!(
                        encode(f2.id, &f2.body),
                        again,
                        "a frame re-encodes to itself"
                    ),
                    other => panic!("a re-encoded frame did not decode: {other:?}"),
                }
            }
        }
    }
    assert!(d.pending() <= bytes.len());
});
