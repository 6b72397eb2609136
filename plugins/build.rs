//! Shared build script of the system services: each links with a 64 KiB
//! stack instead of Rust's 1 MiB wasm32 default, so a service's linear
//! memory is what it holds, not mostly an idle stack (they run on boards
//! with a RAM budget). Their deepest call chains (postcard decoding of a
//! request, a vfs rename walk) stay far below it.

fn main() {
    println!("cargo:rustc-link-arg=-zstack-size=65536");
}
