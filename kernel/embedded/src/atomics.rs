//! Lowering of wasm atomic instructions to plain ones, for wasmi (which has
//! no threads proposal).
//!
//! Guests are built with `+atomics` so that, on the hosted kernel, the SDK's
//! ring code runs on rings mapped into the guest with real atomics. Here the
//! same binary must run unchanged. It can, exactly: the embedded engine runs
//! one guest at a time on one core, its memory is not shared, and the kernel
//! touches it only between instructions, so an atomic read-modify-write is
//! indistinguishable from the plain load/op/store sequence it becomes. Only
//! the atomics' alignment traps are lost (plain accesses may be unaligned).
//!
//! The module is rewritten before compilation: function bodies that contain
//! `0xFE`-prefixed instructions get seven scratch locals and each such
//! instruction is replaced; every other byte is copied as it was. The
//! package's hash is taken from the original bytes, so the workbench still
//! sees the hash it built.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use wasmparser::{BinaryReader, CodeSectionReader, FunctionSectionReader, TypeSectionReader};

/// Plain loads in the order of the atomic loads (0xFE 0x10..=0x16), which is
/// also the order of the widths of every read-modify-write group:
/// i32, i64, i32 8u, i32 16u, i64 8u, i64 16u, i64 32u.
const LOADS: [u8; 7] = [0x28, 0x29, 0x2D, 0x2F, 0x31, 0x33, 0x35];
/// Plain stores in the order of the atomic stores (0xFE 0x17..=0x1D).
const STORES: [u8; 7] = [0x36, 0x37, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E];
/// Which widths are i64-typed.
const IS64: [bool; 7] = [false, true, false, false, true, true, true];
/// The mask a `cmpxchg` applies to `expected` at each width (0: none).
const MASK: [u64; 7] = [0, 0, 0xFF, 0xFFFF, 0xFF, 0xFFFF, 0xFFFF_FFFF];
/// add, sub, and, or, xor for i32 and for i64.
const BINOPS: [[u8; 5]; 2] = [
    [0x6A, 0x6B, 0x71, 0x72, 0x73],
    [0x7C, 0x7D, 0x83, 0x84, 0x85],
];

const LOCAL_GET: u8 = 0x20;
const LOCAL_SET: u8 = 0x21;
const LOCAL_TEE: u8 = 0x22;

fn leb_u32(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb_i64(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads an unsigned LEB128 at `at`; returns (value, bytes used).
fn read_leb(bytes: &[u8], at: usize) -> Result<(u32, usize), String> {
    let mut v: u64 = 0;
    for i in 0..5 {
        let b = *bytes.get(at + i).ok_or("truncated LEB128")?;
        v |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(v)
                .map(|v| (v, i + 1))
                .map_err(|_| "LEB128 out of range".into());
        }
    }
    Err("LEB128 too long".into())
}

/// Scratch locals added to a function that needs lowering.
struct Scratch {
    addr: u32,
    v: [u32; 2],
    e: [u32; 2],
    o: [u32; 2],
}

impl Scratch {
    fn new(base: u32) -> Scratch {
        // Declared as four i32 (addr, v32, e32, o32) then three i64.
        Scratch {
            addr: base,
            v: [base + 1, base + 4],
            e: [base + 2, base + 5],
            o: [base + 3, base + 6],
        }
    }
}

fn local(out: &mut Vec<u8>, op: u8, idx: u32) {
    out.push(op);
    leb_u32(out, idx);
}

/// Emits the plain equivalent of atomic instruction `sub` (after 0xFE) whose
/// memarg bytes are `memarg`.
fn lower_one(out: &mut Vec<u8>, sub: u32, memarg: &[u8], s: &Scratch) -> Result<(), String> {
    match sub {
        // memory.atomic.notify: no other thread can wait on unshared memory.
        0x00 => out.extend_from_slice(&[0x1A, 0x1A, 0x41, 0x00]),
        // memory.atomic.wait32/64 trap on unshared memory.
        0x01 | 0x02 => out.push(0x00),
        // atomic.fence: one core, no reordering to prevent.
        0x03 => {}
        0x10..=0x16 => {
            out.push(LOADS[(sub - 0x10) as usize]);
            out.extend_from_slice(memarg);
        }
        0x17..=0x1D => {
            out.push(STORES[(sub - 0x17) as usize]);
            out.extend_from_slice(memarg);
        }
        0x1E..=0x4E => {
            let (group, width) = (((sub - 0x1E) / 7) as usize, ((sub - 0x1E) % 7) as usize);
            let t = usize::from(IS64[width]);
            let (load, store) = (LOADS[width], STORES[width]);
            let mem = |out: &mut Vec<u8>, op: u8| {
                out.push(op);
                out.extend_from_slice(memarg);
            };
            if group == 6 {
                // cmpxchg [addr, expected, replacement] -> old
                local(out, LOCAL_SET, s.v[t]);
                local(out, LOCAL_SET, s.e[t]);
                local(out, LOCAL_SET, s.addr);
                local(out, LOCAL_GET, s.addr);
                mem(out, load);
                local(out, LOCAL_TEE, s.o[t]);
                local(out, LOCAL_GET, s.e[t]);
                if MASK[width] != 0 {
                    if t == 1 {
                        out.push(0x42);
                        sleb_i64(out, MASK[width] as i64);
                        out.push(0x83);
                    } else {
                        out.push(0x41);
                        sleb_i64(out, MASK[width] as i64);
                        out.push(0x71);
                    }
                }
                out.push(if t == 1 { 0x51 } else { 0x46 }); // eq
                out.extend_from_slice(&[0x04, 0x40]); // if (no result)
                local(out, LOCAL_GET, s.addr);
                local(out, LOCAL_GET, s.v[t]);
                mem(out, store);
                out.push(0x0B); // end
                local(out, LOCAL_GET, s.o[t]);
            } else {
                // rmw [addr, value] -> old
                local(out, LOCAL_SET, s.v[t]);
                local(out, LOCAL_SET, s.addr);
                local(out, LOCAL_GET, s.addr);
                local(out, LOCAL_GET, s.addr);
                mem(out, load);
                if group == 5 {
                    // xchg
                    local(out, LOCAL_SET, s.o[t]);
                    local(out, LOCAL_GET, s.v[t]);
                } else {
                    local(out, LOCAL_TEE, s.o[t]);
                    local(out, LOCAL_GET, s.v[t]);
                    out.push(BINOPS[t][group]);
                }
                mem(out, store);
                local(out, LOCAL_GET, s.o[t]);
            }
        }
        other => return Err(alloc::format!("unknown atomic instruction 0xFE {other:#x}")),
    }
    Ok(())
}

/// The module with its atomic instructions lowered, or `None` when it has
/// none (the original bytes are used as they are).
pub fn lower_atomics(wasm: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let err = |e: wasmparser::BinaryReaderError| e.to_string();
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Ok(None); // not ours to judge: the engine reports it
    }
    // Walk the sections by hand: three are read (code bodies index the
    // defined functions only), one is rewritten.
    let mut params: Vec<u32> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut code = None;
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let (size, n) = read_leb(wasm, pos + 1)?;
        let start = pos + 1 + n;
        let end = start
            .checked_add(size as usize)
            .filter(|e| *e <= wasm.len())
            .ok_or("section past the end")?;
        let reader = BinaryReader::new(&wasm[start..end], start);
        match id {
            1 => {
                for group in TypeSectionReader::new(reader).map_err(err)? {
                    for sub in group.map_err(err)?.into_types() {
                        let n = match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        };
                        params.push(n);
                    }
                }
            }
            3 => {
                for t in FunctionSectionReader::new(reader).map_err(err)? {
                    func_types.push(t.map_err(err)?);
                }
            }
            10 => code = Some((pos, start, end)),
            _ => {}
        }
        pos = end;
    }
    let Some((header, start, end)) = code else {
        return Ok(None);
    };

    let mut bodies = Vec::new();
    let mut changed = false;
    let reader =
        CodeSectionReader::new(BinaryReader::new(&wasm[start..end], start)).map_err(err)?;
    for (i, body) in reader.into_iter().enumerate() {
        let body = body.map_err(err)?;
        let range = body.range();
        // Find the atomic instructions (start, end) of this body.
        let mut ops = body.get_operators_reader().map_err(err)?;
        let code_start = ops.original_position();
        let mut atomics: Vec<(usize, usize)> = Vec::new();
        let mut prev: Option<usize> = None;
        while !ops.eof() {
            let (_, at) = ops.read_with_offset().map_err(err)?;
            if let Some(p) = prev.take() {
                atomics.push((p, at));
            }
            if wasm[at] == 0xFE {
                prev = Some(at);
            }
        }
        if let Some(p) = prev {
            atomics.push((p, range.end));
        }
        if atomics.is_empty() {
            bodies.push(wasm[range.clone()].to_vec());
            continue;
        }
        changed = true;
        // Locals: the original groups, then 4 x i32 and 3 x i64 of scratch.
        let (groups, n) = read_leb(wasm, range.start)?;
        let mut declared = 0u32;
        let mut locals = body.get_locals_reader().map_err(err)?;
        for _ in 0..locals.get_count() {
            declared = declared
                .checked_add(locals.read().map_err(err)?.0)
                .ok_or("too many locals")?;
        }
        let ty = *func_types.get(i).ok_or("code without a function entry")?;
        let base = params
            .get(ty as usize)
            .copied()
            .ok_or("function type out of range")?
            .checked_add(declared)
            .ok_or("too many locals")?;
        let scratch = Scratch::new(base);
        let mut out = Vec::with_capacity(range.len() + 64);
        leb_u32(&mut out, groups + 2);
        out.extend_from_slice(&wasm[range.start + n..code_start]);
        out.extend_from_slice(&[4, 0x7F, 3, 0x7E]);
        let mut at = code_start;
        for (a, b) in atomics {
            out.extend_from_slice(&wasm[at..a]);
            let (sub, n) = read_leb(wasm, a + 1)?;
            lower_one(&mut out, sub, &wasm[a + 1 + n..b], &scratch)?;
            at = b;
        }
        out.extend_from_slice(&wasm[at..range.end]);
        bodies.push(out);
    }
    if !changed {
        return Ok(None);
    }
    let mut section = Vec::new();
    leb_u32(&mut section, bodies.len() as u32);
    for b in &bodies {
        leb_u32(&mut section, b.len() as u32);
        section.extend_from_slice(b);
    }
    let mut module = Vec::with_capacity(wasm.len() + section.len() - (end - start));
    module.extend_from_slice(&wasm[..header]);
    module.push(10);
    leb_u32(&mut module, section.len() as u32);
    module.extend_from_slice(&section);
    module.extend_from_slice(&wasm[end..]);
    Ok(Some(module))
}
