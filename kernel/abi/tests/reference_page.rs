//! `docs/abi.md` is generated from the catalogue; this fails when it is stale.
//! Regenerate with `TIDEMARK_BLESS=1 cargo test -p tidemark-abi`.

use std::path::PathBuf;

#[test]
fn abi_reference_page_is_current() {
    let mut page = String::new();
    tidemark_abi::write_reference(&mut page).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/abi.md");
    if std::env::var_os("TIDEMARK_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "docs/abi.md is stale: regenerate it with `TIDEMARK_BLESS=1 cargo test -p tidemark-abi`"
    );
    for h in tidemark_abi::HOSTCALLS {
        assert!(
            page.contains(&format!("`{}(", h.name)),
            "{} missing",
            h.name
        );
    }
}

#[test]
fn catalogue_numbers_and_names_are_unique() {
    let hs = tidemark_abi::HOSTCALLS;
    for (i, a) in hs.iter().enumerate() {
        for b in &hs[i + 1..] {
            assert!(
                a.number != b.number && a.name != b.name,
                "{} / {}",
                a.name,
                b.name
            );
        }
        assert_eq!(
            tidemark_abi::signature(a.number),
            Some((a.class, a.params.len()))
        );
    }
}
