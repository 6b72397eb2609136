//! Golden-file tests of every command's output, human and `--json`, run
//! through `tidemark run` on a fresh hosted kernel. Regenerate with
//! `TRYCMD=overwrite cargo test -p tidemark --test cli` and review the diff;
//! timing fields and hashes are `[..]`.

#[test]
fn cli_golden() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
