//! Golden-file tests of every command's output, human and `--json`, run
//! through `tidemark run` on a fresh hosted kernel. Regenerate with
//! `TRYCMD=overwrite cargo test -p tidemark --test cli` and review the diff;
//! timing fields and hashes are `[..]`.

#[test]
fn cli_golden() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}

/// Scripts that must fail, reporting the right line with what was expected and seen.
#[test]
fn failing_scripts_report_the_line() {
    trycmd::TestCases::new().case("tests/fail/*.toml");
}
