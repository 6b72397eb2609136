//! A bare wasmi embedding built exactly like the kernel image (same wasmi
//! features, profile, HAL and target), as the baseline its size is
//! measured against: one engine with fuel, one module with one host
//! function, one call, the answer on USB-Serial-JTAG.

#![no_std]
#![no_main]

extern crate alloc;

use esp_hal::usb::usb_serial_jtag::UsbSerialJtag;
use wasmi::{Caller, Config, Engine, Linker, Module, Store};

esp_bootloader_esp_idf::esp_app_desc!();

#[esp_hal::main]
fn main() -> ! {
    let p = esp_hal::init(esp_hal::Config::default());
    esp_alloc::heap_allocator!(size: 320 * 1024);
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let mut store = Store::new(&engine, ());
    let _ = store.set_fuel(10_000);
    let mut linker = Linker::new(&engine);
    let _ = linker.func_wrap("env", "tick", |_: Caller<'_, ()>, x: i32| x + 1);
    let out = Module::new(&engine, tidemark_baremetal::BARE_WASMI_MODULE)
        .ok()
        .and_then(|m| linker.instantiate_and_start(&mut store, &m).ok())
        .and_then(|i| i.get_typed_func::<i32, i32>(&store, "run").ok())
        .and_then(|f| f.call(&mut store, 41).ok());
    let mut usb = UsbSerialJtag::new(p.USB_DEVICE);
    let msg: &[u8] = if out == Some(42) {
        b"bare wasmi: run(41) = 42\r\n"
    } else {
        b"bare wasmi: wrong answer\r\n"
    };
    for &b in msg {
        let _ = usb.write_byte_nb(b);
    }
    let _ = usb.flush_tx_nb();
    loop {
        esp_hal::riscv::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    esp_hal::system::software_reset()
}
