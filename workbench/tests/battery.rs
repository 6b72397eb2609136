//! The hostile-guest battery, on the hosted board and on qemu-riscv32 (a
//! real QEMU booting the real image): every hostcall in the catalogue with
//! hostile arguments, a million forged handles (fewer under QEMU's
//! emulation), use after revoke, ring scribbles, a spawn bomb, a log flood,
//! an endless sleep then killed, a stack overflow, a memory bomb, a spinner,
//! traps, a module that is not wasm and one of 20,000 functions. All of them run in one kernel,
//! one after another, next to a healthy `counter` that must answer after
//! each. The session is generated from the catalogue and the case list
//! below, run with `tidemark run --json`, and the table (guest, how it
//! ended, whether the counter answered) is printed from its output.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One hostile guest and what the kernel must make of it.
struct Case {
    /// Display name (`h-…`), unique in the session.
    name: String,
    /// The spawn line after `spawn` (package, args, caps, memory).
    spawn: String,
    /// An event to wait for before the counter is asked (the guest is at it).
    wait: Option<&'static str>,
    /// Monitor commands after the wait (a revoke).
    poke: Vec<String>,
    /// Killed by the session (as a tree) after the counter answered.
    kill: bool,
    /// How `ps --all` must show it ended (regex on its state column), or,
    /// for a module refused at spawn, the error (regex).
    ended: String,
    /// Refused at spawn: `spawn` must fail with `ended`.
    refused: bool,
    /// Monitor commands before the spawn (an upload).
    before: Vec<String>,
}

fn case(name: &str, spawn: String, ended: &str) -> Case {
    Case {
        name: format!("h-{name}"),
        spawn,
        wait: None,
        poke: Vec::new(),
        kill: false,
        ended: ended.into(),
        refused: false,
        before: Vec::new(),
    }
}

fn cases(board: &str, junk_path: &Path, wide_path: &Path) -> Vec<Case> {
    let qemu = board != "hosted";
    // Interpreted under emulation each call costs ~100x more: the same
    // sweep, shorter.
    let (rounds, forged) = if qemu {
        (200, 20_000)
    } else {
        (2_000, 1_000_000)
    };
    let mut v: Vec<Case> = tidemark_abi::HOSTCALLS
        .iter()
        .map(|h| {
            let code = if h.number == tidemark_abi::nr::proc_exit {
                r"code -2147483648"
            } else {
                r"code 0\b"
            };
            case(
                h.name,
                format!(
                    "hostile --args \"calls {} {} {rounds}\"",
                    h.name,
                    h.number + 1
                ),
                &format!(r"exited.*{code}"),
            )
        })
        .collect();
    v.push(case(
        "forge",
        format!("probe --args \"forge 7 {forged}\""),
        r"exited.*code 0\b",
    ));
    let mut revoked = case(
        "revoked",
        "probe --args hold --cap c=battery:rw".into(),
        r"exited.*code 12\b",
    );
    revoked.wait = Some("probe: holding");
    revoked.poke = vec!["revoke h-revoked c".into()];
    v.push(revoked);
    let mut scribble = case(
        "scribble",
        "hostile --args scribble".into(),
        r"exited.*code 0\b",
    );
    scribble.wait = Some("hostile: scribble");
    v.push(scribble);
    let mut bomb = case("bomb", "probe --args bomb".into(), "killed");
    bomb.wait = Some("probe: spawn refused: LimitReached");
    bomb.kill = true;
    v.push(bomb);
    let mut flood = case("flood", "hostile --args flood".into(), "killed");
    flood.wait = Some(r"log lines suppressed");
    flood.kill = true;
    v.push(flood);
    let mut sleep = case("forever", "hostile --args sleep".into(), "killed");
    sleep.wait = Some("hostile: sleeping forever");
    sleep.kill = true;
    v.push(sleep);
    v.push(case("stack", "deep".into(), r"trapped.*(stack|recursion)"));
    // Growing past its limit is a trap worth seeing (both engines).
    v.push(case(
        "memory",
        "grow --memory 2097152".into(),
        "trapped.*memory limit",
    ));
    let mut spin = case("spin", "spin".into(), "killed");
    spin.kill = true;
    v.push(spin);
    // Out-of-bounds pointers on a real handle: every call refused (exit 0 = none accepted).
    v.push(case(
        "oob",
        "oob --cap c=battery:rw".into(),
        r"exited.*code 0\b",
    ));
    v.push(case("maintrap", "maintrap".into(), "trapped.*unreachable"));
    let mut starttrap = case(
        "starttrap",
        "starttrap".into(),
        "(?s)failed to start.*unreachable",
    );
    starttrap.refused = true;
    v.push(starttrap);
    // A module that is not wasm (but for its first 8 bytes) is refused at
    // spawn; nothing else notices.
    let mut junk = case("junk", "junk".into(), "(runs past its end|failed to start)");
    junk.refused = true;
    junk.before = vec![format!("pkg upload junk {}", junk_path.display())];
    v.push(junk);
    // 20,000 functions, every one called once through a table: uploading,
    // validating and translating it never holds the monitor for long
    // (wasmi translates each function in the slice that first calls it).
    let mut wide = case("wide", "wide".into(), &format!(r"exited.*code {WIDE}\b"));
    wide.before = vec![format!("pkg upload wide {}", wide_path.display())];
    v.push(wide);
    v
}

/// Functions in the `wide` module.
const WIDE: u32 = 20_000;

/// A module of [`WIDE`] small functions; `tidemark_main` calls each once
/// through a table and exits with how many answered their own index.
fn wide_module() -> Vec<u8> {
    let mut w = String::from(
        "(module\n(import \"tidemark\" \"proc_exit\" (func $exit (param i32) (result i32)))\n\
         (memory (export \"memory\") 1)\n(type $f (func (result i32)))\n",
    );
    writeln!(w, "(table {WIDE} funcref)").unwrap();
    for i in 0..WIDE {
        writeln!(w, "(func $f{i} (result i32) i32.const {i})").unwrap();
    }
    w.push_str("(elem (i32.const 0) func");
    for i in 0..WIDE {
        write!(w, " $f{i}").unwrap();
    }
    w.push_str(")\n");
    writeln!(
        w,
        "(func (export \"tidemark_main\") (local $i i32) (local $ok i32)\n\
         (loop $l\n\
           (if (i32.eq (call_indirect (type $f) (local.get $i)) (local.get $i))\n\
             (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))\n\
           (local.set $i (i32.add (local.get $i) (i32.const 1)))\n\
           (br_if $l (i32.lt_u (local.get $i) (i32.const {WIDE}))))\n\
         (drop (call $exit (local.get $ok)))))"
    )
    .unwrap();
    wat::parse_str(&w).unwrap()
}

/// The session for `cases`: a counter, then each case followed by one
/// `inc` the counter must answer with the running count.
fn session(cases: &[Case]) -> String {
    let mut s = String::from(
        "# Generated by workbench/tests/battery.rs\n\
         chan new req\nchan new resp\nchan new battery\n\
         spawn counter --cap req=req:r --cap resp=resp:w\n\
         expect event /counter: ready/\n",
    );
    let mut count = 0;
    let mut answer = |s: &mut String| {
        count += 1;
        writeln!(s, "chan send req inc").unwrap();
        writeln!(s, "chan tail resp --count 1 --for 30s").unwrap();
        writeln!(s, "expect /0x{count:02x}00000000000000/").unwrap();
    };
    for c in cases {
        writeln!(s, "# case {}", c.name).unwrap();
        for b in &c.before {
            writeln!(s, "{b}").unwrap();
        }
        if c.refused {
            writeln!(s, "! spawn {} --name {}", c.spawn, c.name).unwrap();
            writeln!(s, "expect /{}/", c.ended).unwrap();
            answer(&mut s);
            continue;
        }
        writeln!(s, "spawn {} --name {}", c.spawn, c.name).unwrap();
        if let Some(w) = c.wait {
            writeln!(s, "expect event /{w}/ within 120s").unwrap();
        }
        for p in &c.poke {
            writeln!(s, "{p}").unwrap();
        }
        answer(&mut s);
        if c.kill {
            writeln!(s, "kill --tree {}", c.name).unwrap();
        }
        writeln!(s, "ps --all").unwrap();
        writeln!(s, r"expect /{}\s+{}/ within 120s", c.name, c.ended).unwrap();
        // Nothing of it is left behind (a bomb's tree dies with it): the
        // counter is the only live process again.
        writeln!(s, "ps").unwrap();
        writeln!(
            s,
            r"expect /\A\s*PID[^\n]*\n\s*1\s+counter[^\n]*\s*\z/ within 120s"
        )
        .unwrap();
    }
    s
}

/// Runs the battery on `board`; prints its table; fails on any row that
/// did not end as it must or left the counter silent.
fn battery_on(board: &str) {
    let dir = std::env::temp_dir().join(format!("tidemark-battery-{board}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.wasm");
    // The shell refuses a file without wasm's magic itself: give it the
    // magic, then garbage, so the kernel is the one to refuse it.
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&junk, bytes).unwrap();
    let wide = dir.join("wide.wasm");
    std::fs::write(&wide, wide_module()).unwrap();
    let cases = cases(board, &junk, &wide);
    let script = dir.join("battery.tms");
    std::fs::write(&script, session(&cases)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .arg("run")
        .arg(&script)
        .args(["--board", board, "--json"])
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let table = table(board, &cases, &lines);
    println!("{table}");
    assert!(
        out.status.success(),
        "the battery failed on {board}:\n{}\n{table}\nsession: {}",
        String::from_utf8_lossy(&out.stderr),
        script.display()
    );
    // Every case has its row, and the counter answered after every one.
    assert_eq!(
        table.lines().filter(|l| l.ends_with("| yes |")).count(),
        cases.len(),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The closing-note table, from the session's `--json` lines.
fn table(board: &str, cases: &[Case], lines: &[Value]) -> String {
    let mut t =
        format!("battery on {board}\n| guest | how it ended | counter answered |\n|---|---|---|\n");
    let mut at = 0;
    let rows = cases
        .iter()
        .map(|c| (c.name.as_str(), c.spawn.split(' ').next().unwrap_or("")));
    for (name, package) in rows {
        let mark = format!("--name {name}");
        let Some(start) = lines[at..]
            .iter()
            .position(|l| l["command"].as_str().is_some_and(|c| c.contains(&mark)))
        else {
            writeln!(t, "| {name} ({package}) | not reached | - |").unwrap();
            continue;
        };
        let start = at + start;
        let next = lines[start + 1..]
            .iter()
            .position(|l| {
                l["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("--name h-"))
            })
            .map_or(lines.len(), |p| start + 1 + p);
        let own = &lines[start..next];
        let answered = own.iter().any(|l| {
            l["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("chan tail"))
                && l["output"]["frames"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty())
        });
        let ended = own
            .iter()
            .rev()
            .find_map(|l| {
                l["output"]
                    .as_array()?
                    .iter()
                    .find(|p| p["name"] == name)
                    .map(|p| ended(&p["state"]))
            })
            .or_else(|| {
                own[0]["output"]["error"]["message"].as_str().map(|m| {
                    format!(
                        "refused at spawn: {}",
                        m.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })
            })
            .unwrap_or_else(|| "?".into());
        writeln!(
            t,
            "| {name} ({package}) | {ended} | {} |",
            if answered { "yes" } else { "no" }
        )
        .unwrap();
        at = next.min(lines.len());
    }
    t
}

/// A process state as one cell: `exited 0`, `killed`, `trapped: …`.
fn ended(state: &Value) -> String {
    match &state["ended"] {
        Value::Object(e) => {
            if let Some(code) = e.get("code") {
                format!("exited {code}")
            } else if let Some(trap) = e.get("trap") {
                format!("trapped: {}", trap["reason"].as_str().unwrap_or("?"))
            } else if let Some(why) = e.get("failed") {
                format!("failed: {}", why.as_str().unwrap_or("?"))
            } else {
                e.keys().next().cloned().unwrap_or_default()
            }
        }
        Value::String(s) => s.clone(),
        _ => state.to_string(),
    }
}

#[test]
fn hostile_guests_hurt_only_themselves_on_hosted() {
    battery_on("hosted");
}

#[test]
fn hostile_guests_hurt_only_themselves_on_qemu_riscv32() {
    battery_on("qemu-riscv32");
}
