//! The atomics lowering is exact on one core: every atomic instruction, at
//! every width, run as written on wasmtime (real atomics) and lowered on
//! wasmi, gives the same result and leaves the same memory.

use tidemark_embedded::atomics::lower_atomics;

const RMW: [&str; 7] = ["add", "sub", "and", "or", "xor", "xchg", "cmpxchg"];
/// (value type, instruction prefix, access suffix) for each width.
const WIDTHS: [(&str, &str, &str); 7] = [
    ("i32", "i32.atomic.rmw", ""),
    ("i64", "i64.atomic.rmw", ""),
    ("i32", "i32.atomic.rmw8", "_u"),
    ("i32", "i32.atomic.rmw16", "_u"),
    ("i64", "i64.atomic.rmw8", "_u"),
    ("i64", "i64.atomic.rmw16", "_u"),
    ("i64", "i64.atomic.rmw32", "_u"),
];
const LOADS: [(&str, &str); 7] = [
    ("i32", "i32.atomic.load"),
    ("i64", "i64.atomic.load"),
    ("i32", "i32.atomic.load8_u"),
    ("i32", "i32.atomic.load16_u"),
    ("i64", "i64.atomic.load8_u"),
    ("i64", "i64.atomic.load16_u"),
    ("i64", "i64.atomic.load32_u"),
];
const STORES: [(&str, &str); 7] = [
    ("i32", "i32.atomic.store"),
    ("i64", "i64.atomic.store"),
    ("i32", "i32.atomic.store8"),
    ("i32", "i32.atomic.store16"),
    ("i64", "i64.atomic.store8"),
    ("i64", "i64.atomic.store16"),
    ("i64", "i64.atomic.store32"),
];

/// `value` as the width's type from the i64 parameter `$p`.
fn arg(ty: &str, p: &str) -> String {
    if ty == "i32" {
        format!("(i32.wrap_i64 (local.get {p}))")
    } else {
        format!("(local.get {p})")
    }
}
fn widen(ty: &str) -> &'static str {
    if ty == "i32" {
        "i64.extend_i32_u"
    } else {
        "nop"
    }
}

/// One module whose export `f(addr, v, e) -> i64` runs `body`; a declared
/// local before and after keeps the scratch-local numbering honest.
fn module(body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            (memory (export "memory") 1)
            (data (i32.const 8) "\f0\e1\d2\c3\b4\a5\96\87\78\69\5a\4b\3c\2d\1e\0f")
            (func (export "f") (param $a i32) (param $v i64) (param $e i64) (result i64) (local $x i64)
                (local.set $x (i64.const 7))
                {body}
                (i64.add (local.get $x))
                (drop (memory.atomic.notify (local.get $a) (i32.const 1)))
                (atomic.fence)))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn every_case() -> Vec<(String, Vec<u8>)> {
    let mut cases = Vec::new();
    for (ty, prefix, suffix) in WIDTHS {
        for op in RMW {
            let operands = if op == "cmpxchg" {
                format!("{} {}", arg(ty, "$e"), arg(ty, "$v"))
            } else {
                arg(ty, "$v")
            };
            let body = format!(
                "({}.{op}{suffix} (local.get $a) {operands}) ({})",
                prefix,
                widen(ty)
            );
            cases.push((format!("{prefix}.{op}{suffix}"), module(&body)));
        }
    }
    for (ty, name) in LOADS {
        cases.push((
            name.into(),
            module(&format!("({name} (local.get $a)) ({})", widen(ty))),
        ));
    }
    for (ty, name) in STORES {
        cases.push((
            name.into(),
            module(&format!(
                "({name} (local.get $a) {}) (i64.const 0)",
                arg(ty, "$v")
            )),
        ));
    }
    cases
}

fn on_wasmtime(bytes: &[u8], args: (i32, i64, i64)) -> (i64, Vec<u8>) {
    let mut config = wasmtime::Config::new();
    config.wasm_threads(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, bytes).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance
        .get_typed_func::<(i32, i64, i64), i64>(&mut store, "f")
        .unwrap();
    let r = f.call(&mut store, args).unwrap();
    let mem = instance
        .get_memory(&mut store, "memory")
        .unwrap()
        .data(&store)[..32]
        .to_vec();
    (r, mem)
}

fn on_wasmi(bytes: &[u8], args: (i32, i64, i64)) -> (i64, Vec<u8>) {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, bytes).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let f = instance
        .get_typed_func::<(i32, i64, i64), i64>(&store, "f")
        .unwrap();
    let r = f.call(&mut store, args).unwrap();
    let mem = instance.get_memory(&store, "memory").unwrap().data(&store)[..32].to_vec();
    (r, mem)
}

#[test]
fn lowered_atomics_match_real_atomics_at_every_width() {
    let cases = every_case();
    assert_eq!(cases.len(), 7 * 7 + 14);
    // Values that hit and miss cmpxchg at each width (the memory's current
    // contents, with and without high bits set), wrap sub, and mix bits.
    let current = i64::from_le_bytes([0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87]);
    let inputs = [
        (8, 0x1234_5678_9abc_def0_u64 as i64, current),
        (8, -1, current | (0xFF_i64 << 32)),
        (8, 1, current & 0xFF),
        (8, 0x1_0000_0001, current & 0xFFFF_FFFF),
        (16, 0x7f, 0x3c2d_1e0f_4b5a_6978_u64 as i64),
        (24, 5, 0),
    ];
    for (name, bytes) in &cases {
        assert!(
            wasmi::Module::new(&wasmi::Engine::default(), &bytes[..]).is_err(),
            "{name}: wasmi takes atomics as written?"
        );
        let lowered = lower_atomics(bytes)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: nothing lowered"));
        for args in inputs {
            assert_eq!(
                on_wasmi(&lowered, args),
                on_wasmtime(bytes, args),
                "{name} with {args:x?}"
            );
        }
    }
}

#[test]
fn modules_without_atomics_are_left_alone() {
    let plain = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 1))"#).unwrap();
    assert_eq!(lower_atomics(&plain).unwrap(), None);
    assert_eq!(lower_atomics(b"not wasm").unwrap(), None);
}

#[test]
fn truncated_modules_are_errors_not_panics() {
    let bytes = module("(i64.atomic.rmw.add (local.get $a) (local.get $v))");
    for cut in (9..bytes.len()).step_by(7) {
        let _ = lower_atomics(&bytes[..cut]);
    }
}

#[test]
fn the_example_guests_compile_on_wasmi_after_lowering() {
    // The guests with channel code carry the SDK's in-place ring (atomics).
    for name in ["ping", "pong", "counter"] {
        let g = tidemark_guest_artifacts::ALL
            .iter()
            .find(|g| g.name == name)
            .unwrap();
        let lowered = lower_atomics(g.bytes)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: built without atomics?"));
        wasmi::Module::new(&wasmi::Engine::default(), &lowered[..])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
