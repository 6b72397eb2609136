//! A bare wasmi embedding built exactly like the kernel image (same wasmi
//! features, profile, runtime and target), as the baseline its size is
//! measured against: one engine with fuel, one module with one host
//! function, one call; it prints the result and powers the machine off.

#![no_std]
#![no_main]

extern crate alloc;

#[path = "../rt.rs"]
mod rt;
#[path = "../uart.rs"]
#[allow(dead_code)] // the kernel's UART driver; this image only writes
mod uart;

use wasmi::{Caller, Config, Engine, Linker, Module, Store};

/// `(module (import "env" "tick" (func (param i32) (result i32)))
///  (func (export "run") (param i32) (result i32) local.get 0 call 0))`
const MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
    0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // types
    0x02, 0x0c, 0x01, 0x03, b'e', b'n', b'v', 0x04, b't', b'i', b'c', b'k', 0x00, 0x00, // imports
    0x03, 0x02, 0x01, 0x00, // functions
    0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x01, // exports
    0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b, // code
];

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    rt::init_heap();
    uart::init();
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, MODULE).expect("module");
    let mut store = Store::new(&engine, 0u32);
    store.set_fuel(1_000).expect("fuel");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "tick", |mut c: Caller<'_, u32>, x: i32| -> i32 {
            *c.data_mut() += 1;
            x + 1
        })
        .expect("link");
    let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiate");
    let run = instance.get_typed_func::<i32, i32>(&store, "run").expect("run");
    let out = run.call(&mut store, 41).expect("call");
    uart::write_str(if out == 42 { "bare wasmi: run(41) = 42\r\n" } else { "bare wasmi: wrong answer\r\n" });
    rt::power_off(if out == 42 { 0 } else { 1 })
}
