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

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    rt::init_heap();
    uart::init();
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, tidemark_baremetal::BARE_WASMI_MODULE).expect("module");
    let mut store = Store::new(&engine, 0u32);
    store.set_fuel(1_000).expect("fuel");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "tick", |mut c: Caller<'_, u32>, x: i32| -> i32 {
            *c.data_mut() += 1;
            x + 1
        })
        .expect("link");
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .expect("instantiate");
    let run = instance
        .get_typed_func::<i32, i32>(&store, "run")
        .expect("run");
    let out = run.call(&mut store, 41).expect("call");
    uart::write_str(if out == 42 {
        "bare wasmi: run(41) = 42\r\n"
    } else {
        "bare wasmi: wrong answer\r\n"
    });
    rt::power_off(if out == 42 { 0 } else { 1 })
}
