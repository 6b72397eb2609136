//! Puts `link.x` on the linker's path. (The boot bundle is linked by
//! `tidemark-baremetal`, from `$TIDEMARK_BUNDLE`.)

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-search={dir}");
    println!("cargo:rerun-if-changed=link.x");
}
