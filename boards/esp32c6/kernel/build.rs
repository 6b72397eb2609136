//! The boot bundle is linked by `tidemark-baremetal` (from
//! `$TIDEMARK_BUNDLE`); esp-hal supplies the linker scripts.

fn main() {
    println!("cargo:rerun-if-env-changed=TIDEMARK_BUNDLE");
}
