//! The playground in a real browser: `tidemark serve-playground` serves the
//! page, headless Chromium (Debian's, installed by `scripts/setup`) loads
//! it, the kernel boots in the page's worker, and the test types commands
//! into the terminal with DevTools key events, reads the answers from the
//! page, and keeps a screenshot (`target/playground/playground.png`).

use std::path::PathBuf;

use serde_json::json;

#[path = "support/cdp.rs"]
mod cdp;

#[test]
fn the_playground_runs_the_kernel_in_chromium_and_answers_the_repl() {
    let (mut pg, figures) = cdp::Playground::open(env!("CARGO_BIN_EXE_tidemark"));
    println!("kernel .wasm: {} bytes", pg.served["kernel_bytes"]);
    println!(
        "Chromium: kernel boot in its worker {:.1} ms; page load to first prompt {:.0} ms",
        figures["bootMs"].as_f64().unwrap(),
        figures["firstPromptMs"].as_f64().unwrap()
    );
    let page = &mut pg.page;
    let info = page.type_line("info");
    assert!(info.contains("wasm-js"), "{info}");
    for l in ["chan new req", "chan new resp"] {
        let out = page.type_line(l);
        assert!(out.contains("created channel"), "{out}");
    }
    let out = page.type_line("spawn counter --cap req=req:r --cap resp=resp:w");
    assert!(out.contains("spawned counter as pid"), "{out}");
    page.type_line("chan send req inc");
    page.type_line("chan send req \"add 41\"");
    let tail = page.type_line("chan tail resp --count 2 --for 10s");
    assert!(tail.contains("0x0100000000000000"), "{tail}");
    assert!(tail.contains("0x2a00000000000000"), "{tail}");
    let ps = page.type_line("ps");
    assert!(ps.contains("counter"), "{ps}");
    let chans = page.type_line("chan ls");
    assert!(chans.contains("req") && chans.contains("resp"), "{chans}");
    let err = page.type_line("chan send nowhere x");
    assert!(err.contains("error:"), "{err}");
    let log = page.type_line("log");
    assert!(!log.is_empty(), "{log}");
    // The kernel answering is in a page: the server's files are not its to touch.
    let refused = page.type_line("pkg upload x /etc/passwd");
    assert!(
        refused.contains("reads or writes the server's files"),
        "{refused}"
    );

    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/playground");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("playground.png"), &png).unwrap();
    println!("screenshot: {}", dir.join("playground.png").display());

    // Another site's page may open a WebSocket to the server: it gets none.
    let ws_url = pg.served["url"]
        .as_str()
        .unwrap()
        .replace("http://", "ws://")
        + "ws";
    use tungstenite::client::IntoClientRequest;
    let mut foreign = ws_url.as_str().into_client_request().unwrap();
    foreign
        .headers_mut()
        .insert("Origin", "http://elsewhere.example".parse().unwrap());
    match tungstenite::connect(foreign) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a foreign origin was let in: {:?}", other.map(|_| ())),
    }
    assert!(
        tungstenite::connect(ws_url.as_str()).is_err(),
        "no origin was let in"
    );
}
