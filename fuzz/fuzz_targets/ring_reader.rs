//! The channel ring over memory a hostile guest scribbled on: a ring is set
//! up and written as the kernel would, then arbitrary bytes land at
//! arbitrary offsets of its region (header, cursors, frame records, data),
//! and a reader (and a writer) go on using it. Every operation must answer
//! (a frame, Empty, Corrupt, ...) without panicking, looping forever or
//! reading outside the region, and a frame read fits the buffer it got.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_ring::{Geometry, Ring};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let geo = Geometry::new(
        8 << (data[0] % 10),
        1 + u32::from(data[1] % 64),
        1 + u32::from(data[2] % 4),
        1 + u32::from(data[3] % 4),
        u32::from(data[2] >> 7),
    )
    .expect("in range");
    let size = geo.region_size();
    let mut mem = vec![0u64; size.div_ceil(8)];
    let base = mem.as_mut_ptr().cast::<u8>();
    // SAFETY: `mem` is 8-aligned, `size` bytes long, and only used through
    // this ring or as bytes below (the contract allows that: it is how a
    // guest scribbles).
    let ring = unsafe { Ring::init(base, geo) };
    let w = ring.attach_writer().expect("a fresh ring has writer slots");
    let r = ring.attach_reader().expect("a fresh ring has reader slots");
    for i in 0..u32::from(data[3] % 8) {
        let _ = ring.write(w, &i.to_le_bytes().repeat(i as usize + 1));
    }
    // Scribbles: (offset, byte) pairs over the whole region.
    for pair in data[4..].chunks_exact(3) {
        let off = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % size;
        // SAFETY: inside the region.
        unsafe { base.add(off).write_volatile(pair[2]) };
    }
    let _ = ring.validate_header();
    let _ = ring.validate_header_fully();
    let mut buf = [0u8; 512];
    for _ in 0..2 * geo.frame_cap + 2 {
        match ring.read(r, &mut buf) {
            Ok(f) => assert!(f.len as usize <= buf.len()),
            Err(_) => break,
        }
    }
    let _ = ring.validate_cursor(r);
    let _ = ring.drain(r);
    let _ = ring.write(w, b"after the scribble");
    let _ = ring.repair_writer(w);
    let _ = ring.stats();
    let _ = ring.readers().count();
    let _ = ring.writers().count();
    ring.detach_reader(r);
    // A reader attaching to the scribbled ring, as a late guest would.
    if let Ok(r2) = ring.attach_reader() {
        let _ = ring.read(r2, &mut buf);
    }
    drop(mem);
});
