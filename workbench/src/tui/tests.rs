//! Screen tests: `TestBackend` snapshots against `tests/screens/` goldens
//! (`TIDEMARK_BLESS=1` rewrites them) and the panes' behaviour.

use super::*;
use ratatui::backend::TestBackend;
use tidemark_abi::{Backpressure, Class, Classes, Level, Rights};
use tidemark_protocol::{
    Counters, EventKind, Object, PackageInfo, ProcState, Purpose, ReaderInfo, RegionInfo, Wait,
    WriterInfo,
};

fn known() -> Snapshot {
    let proc_ = |pid: u32, name: &str, state: ProcState| ProcessInfo {
        pid,
        name: name.into(),
        package: name.into(),
        hash: "ab".repeat(32),
        state,
        since_ns: 0,
        classes: Classes::CORE.with(Class::Log).with(Class::Channel),
        caps: 2,
        memory: 1 << 20,
        memory_limit: 16 << 20,
        parent: 0,
        reloads: 0,
        counters: Counters {
            hostcalls: 42,
            denials: 0,
            frames_out: 7,
            frames_in: 7,
            parks: 3,
        },
    };
    Snapshot {
        at: None,
        info: Some(KernelInfo {
            version: "0.1.0".into(),
            protocol: 2,
            abi: 1,
            board: "hosted".into(),
            engine: "wasmtime 48".into(),
            uptime_ns: 12_000_000_000,
            memory: None,
            link: None,
            fetches: false,
        }),
        ps: vec![
            proc_(1, "service", ProcState::Blocked(Wait::Readable(1))),
            proc_(2, "client", ProcState::Blocked(Wait::Until(0))),
        ],
        caps: vec![CapInfo {
            handle: 0x10000,
            index: 0,
            generation: 1,
            object: Object::Channel(1),
            rights: Rights::READ,
            name: "req".into(),
            parent: None,
            children: 0,
        }],
        channels: vec![ChannelInfo {
            id: 1,
            name: "req".into(),
            backpressure: Backpressure::Park,
            single: false,
            data_cap: 4096,
            frame_cap: 64,
            bytes_in_flight: 2048,
            data_in_flight: 2048,
            frames_in_flight: 3,
            head_seq: 10,
            drops: 0,
            readers: vec![ReaderInfo {
                pid: 1,
                slot: 0,
                seq: 7,
                lag: 3,
            }],
            writers: vec![WriterInfo {
                pid: 2,
                id: 0,
                frames: 10,
            }],
            parked_readers: vec![],
            parked_writers: vec![2],
            held_back_by: Some(ReaderInfo {
                pid: 1,
                slot: 0,
                seq: 7,
                lag: 3,
            }),
            corrupt: None,
            holders: 2,
        }],
        arenas: vec![ArenaInfo {
            id: 1,
            size: 1 << 20,
            used: 5696,
            free: (1 << 20) - 5696,
            high_water: 5696,
            fragmentation: 0.0,
            regions: vec![RegionInfo {
                id: 2,
                offset: 0,
                len: 5696,
                owner: 0,
                purpose: Purpose::Channel(1),
            }],
        }],
        packages: Some(CacheInfo {
            slots: 16,
            hits: 2,
            misses: 0,
            evictions: 0,
            verify_failures: 1,
            fetching: 1,
            packages: vec![PackageInfo {
                name: "service".into(),
                hash: "cd".repeat(32),
                size: 9171,
                pinned: false,
            }],
        }),
        events: vec![KernelEvent {
            seq: 1,
            time_ns: 1_500_000_000,
            kind: EventKind::Log {
                pid: 1,
                level: Level::Info,
                text: "service: ready".into(),
            },
        }],
        link_ok: true,
        notes: vec![],
        units: vec![],
        graph: None,
        display: None,
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = ratatui::Terminal::new(TestBackend::new(w, h)).unwrap();
    render(&mut term, app).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn golden(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/screens")
        .join(name);
    if std::env::var_os("TIDEMARK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == text,
        "screen {name} changed (TIDEMARK_BLESS=1 to accept):\n{text}"
    );
}

fn app() -> App {
    let mut app = App::new("two-guest");
    app.update(known());
    app.dev_event(&DevEvent::Reloaded(crate::dev::ReloadReport {
        guest: "service".into(),
        pid: 1,
        hash: "ef".repeat(32),
        build: Duration::from_millis(1200),
        prepare: Duration::from_micros(41_000),
        swap: Duration::from_micros(1500),
        save_to_running: Duration::from_millis(1350),
    }));
    app
}

#[test]
fn screen_with_a_known_kernel_state() {
    golden("dev-100x30.txt", &screen(&app(), 100, 30));
}

#[test]
fn screen_resizes_and_shows_help() {
    let mut a = app();
    golden("dev-60x20.txt", &screen(&a, 60, 20));
    a.help = true;
    golden("dev-help-100x30.txt", &screen(&a, 100, 30));
}

#[test]
fn input_line_shares_the_shell_history_file() {
    let dir = std::env::temp_dir().join(format!("tidemark-tui-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A file as `tidemark shell` (rustyline) leaves it.
    let file = dir.join("state/history");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "#V2\ninfo\nchan send req a\\\\b\n").unwrap();
    let mut input = InputLine::with_history_file(Some(file.clone()));
    input.recall(true);
    assert_eq!(
        input.buffer, "chan send req a\\b",
        "the shell's last line comes first"
    );
    input.recall(true);
    assert_eq!(input.buffer, "info");
    input.buffer = "  ps ".into();
    assert_eq!(input.take(), "  ps ");
    input.buffer = "ps".into();
    input.take();
    input.buffer = "say a\\n".into();
    input.take();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text, "#V2\ninfo\nchan send req a\\\\b\nps\nsay a\\\\n\n",
        "entered lines appended in the shell's format"
    );
    // The next screen (or shell) sees them.
    let mut again = InputLine::with_history_file(Some(file.clone()));
    again.recall(true);
    assert_eq!(again.buffer, "say a\\n");
    again.recall(true);
    assert_eq!(again.buffer, "ps");
    // A fresh file (and its directory) is created with rustyline's header.
    let fresh = dir.join("new/dir/history");
    let mut input = InputLine::with_history_file(Some(fresh.clone()));
    input.buffer = "info".into();
    input.take();
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "#V2\ninfo\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn key(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_line(app: &mut App, line: &str) {
    for c in line.chars() {
        key(app, KeyCode::Char(c));
    }
    key(app, KeyCode::Enter);
}

/// A `reload` typed in the screen runs on the worker: while it is
/// pending the screen draws new snapshots (and says what runs), and its
/// answer lands in the log when it comes.
#[test]
fn screen_keeps_drawing_while_a_reload_is_pending() {
    let mut a = app();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let (done, done_rx) = std::sync::mpsc::channel();
    a.worker = Some(Worker::from_channels(lines_tx, done_rx));
    type_line(&mut a, "reload service service-v2");
    assert_eq!(
        lines.try_recv().unwrap(),
        "reload service service-v2",
        "the line went to the worker"
    );
    let first = screen(&a, 100, 30);
    assert!(
        first.contains("running `reload service service-v2`") && first.contains("up 12s"),
        "{first}"
    );
    let mut later = known();
    later.info.as_mut().unwrap().uptime_ns = 13_000_000_000;
    later.events.clear();
    a.update(later);
    a.tick += 1;
    let second = screen(&a, 100, 30);
    assert!(
        second.contains("up 13s") && second.contains("running `reload service service-v2`"),
        "redrawn while pending:\n{second}"
    );
    assert_ne!(first, second);
    done.send((
        "reload service service-v2".into(),
        Ok("pid 1 now runs service-v2".into()),
    ))
    .unwrap();
    a.poll_worker();
    let third = screen(&a, 100, 30);
    assert!(!third.contains("running `"), "{third}");
    assert!(
        a.log
            .text()
            .ends_with("tidemark> reload service service-v2\npid 1 now runs service-v2"),
        "{}",
        a.log.text()
    );
}

/// A failed build stays in the status line (red) and the first-error
/// panel however much the guests log, and the next good build clears both.
#[test]
fn a_failed_build_sticks_until_the_next_good_build() {
    let mut a = app();
    let output = "   Compiling service v0.1.0\nservice/src/lib.rs:14:23: error: expected expression, found `;`\nerror: could not compile `service` (lib) due to 1 previous error\n";
    a.dev_event(&DevEvent::Failed {
        guest: "service".into(),
        at: crate::dev::FailedAt::Build,
        output: output.into(),
        running: true,
    });
    // A chatty guest: the failure scrolls out of the log, not out of sight.
    for i in 0..200 {
        a.log.push(&format!("client: answer {i}"));
    }
    golden("dev-failed-100x30.txt", &screen(&a, 100, 30));
    let d = a.dump();
    assert!(
        d.contains("service: build failed, old version running")
            && d.contains("service/src/lib.rs:14:23: error: expected expression"),
        "{d}"
    );
    key(&mut a, KeyCode::F(3));
    assert!(
        !screen(&a, 100, 30).contains("first error"),
        "F3 hides the panel"
    );
    assert!(
        screen(&a, 100, 30).contains("service: build failed"),
        "the status stays"
    );
    a.dev_event(&DevEvent::Reloaded(crate::dev::ReloadReport {
        guest: "service".into(),
        pid: 1,
        hash: "ef".repeat(32),
        build: Duration::from_millis(900),
        prepare: Duration::from_micros(41_000),
        swap: Duration::from_micros(1500),
        save_to_running: Duration::from_millis(1000),
    }));
    let s = screen(&a, 100, 30);
    assert!(
        !s.contains("build failed")
            && !s.contains("first error")
            && s.contains("last reload: service"),
        "{s}"
    );
}

/// RATE is frames per second as measured over the last seconds, not
/// the last poll's count over the poll interval (which showed 4/s for a
/// channel carrying one frame a second, polled every 250 ms).
#[test]
fn channel_rate_is_frames_per_second_as_measured() {
    let mut pane = ChannelsPane::default();
    let t0 = Instant::now();
    for k in 0..40u32 {
        let mut s = known();
        s.at = Some(t0 + Duration::from_millis(250 * u64::from(k)));
        s.channels[0].head_seq = k / 4; // one frame a second
        pane.update(&s);
    }
    let rate = pane.rate(1);
    assert!((0.8..=1.25).contains(&rate), "measured {rate}/s");
    assert!(pane.text().contains("1.0/s"), "{}", pane.text());
}

/// Keys go to the focused pane: Tab moves the focus; Up/Down select a
/// process there and recall history on the line.
#[test]
fn keys_go_to_the_focused_pane() {
    let mut a = app();
    assert_eq!(a.focus, Focus::Input);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Focus::Processes);
    key(&mut a, KeyCode::Down);
    assert_eq!((a.procs.selected, a.caps.pid), (1, Some(2)));
    key(&mut a, KeyCode::Char('p'));
    assert_eq!(a.input.buffer, "p", "typing reaches the line from any pane");
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Up);
    assert_eq!(
        (a.focus, a.log.scroll, a.procs.selected),
        (Focus::Log, 1, 1)
    );
}

#[test]
fn dump_holds_every_pane_as_text() {
    let d = app().dump();
    for part in [
        "== processes",
        "1    service  blocked",
        "== capabilities",
        "0x10000  req",
        "50%   ·········▄",
        "reloaded service (pid 1)",
        "board hosted",
    ] {
        assert!(d.contains(part), "{part:?} missing from:\n{d}");
    }
}

/// A serial link that drops and comes back: the status bar says "link
/// down" while it is, the log says what the bridge did, and the screen
/// carries on with the new kernel's state.
#[test]
fn a_link_that_drops_and_comes_back_is_shown() {
    let mut a = app();
    a.update(Snapshot {
        link_ok: false,
        notes: vec!["link down: the port closed; finding the board again".into()],
        ..Snapshot::default()
    });
    let d = a.dump();
    assert!(d.contains("| link down |"), "{d}");
    assert!(d.contains("tidemark: link down: the port closed"), "{d}");
    let mut back = known();
    back.notes = vec!["reattached after 0.62 s (the kernel rebooted)".into()];
    a.update(back);
    let d = a.dump();
    assert!(
        d.contains("| attached |") && d.contains("tidemark: reattached after 0.62 s"),
        "{d}"
    );
}

/// With the userland, init's units show beside the capabilities: a failed
/// service in red with why, one in backoff, and the F2 dump lists them.
#[test]
fn the_services_pane_shows_inits_units() {
    use tidemark_svc::init::{State, UnitInfo};
    let unit = |name: &str, state: State, pid: Option<u32>, restarts: u32, last: Option<&str>| UnitInfo {
        name: name.into(),
        package: name.into(),
        state,
        pid,
        restarts,
        last_error: last.map(String::from),
        after: vec![],
    };
    let mut s = known();
    s.units = vec![
        unit("vfs", State::Running, Some(2), 0, None),
        unit("kv", State::Backoff, None, 1, Some("trapped")),
        unit("bus", State::Failed, None, 5, Some("trapped; out of restarts (5 in 30000 ms)")),
    ];
    let mut a = app();
    a.update(s);
    golden("dev-services-100x30.txt", &screen(&a, 100, 30));
    let d = a.dump();
    assert!(d.contains("== services\nNAME"), "{d}");
    assert!(d.contains("bus   failed   -    5    trapped; out of restarts"), "{d}");
    // Without units the pane is gone again.
    a.update(known());
    assert!(!a.dump().contains("== services"));
}

/// The channels pane keeps a strip of each channel's occupancy over the
/// last polls, newest on the right; the graph pane (F4) shows who holds
/// what, from whom, with the traffic since the last poll.
#[test]
fn channels_show_occupancy_over_time_and_f4_shows_the_capability_graph() {
    use tidemark_shell::graph::{CapGraph, Edge, Node};
    let mut a = app();
    for frames in [0, 1, 2, 4, 3] {
        let mut s = known();
        s.channels[0].frames_in_flight = frames;
        s.channels[0].frame_cap = 4;
        s.channels[0].data_in_flight = 0;
        s.events.clear();
        a.update(s);
    }
    // The app's first snapshot, then the five above (the gauge is the
    // fuller of frames and data; frames here).
    let strip = a.chans.strip(1);
    assert_eq!(strip.chars().count(), crate::tui::panes::STRIP);
    assert!(strip.ends_with(" ▂▄█▆"), "{strip:?}");
    let edge = |pid: u32, process: &str, rights, from, written, read| Edge {
        pid,
        process: process.into(),
        handle: 0x10000,
        name: "req".into(),
        object: Object::Channel(1),
        rights,
        from,
        written,
        read,
        counts: (None, None),
    };
    let mut s = known();
    s.events.clear();
    s.graph = Some(CapGraph {
        objects: vec![Node {
            object: Object::Channel(1),
            name: "req".into(),
        }],
        edges: vec![
            edge(1, "service", Rights::READ, None, None, Some(7)),
            edge(2, "client", Rights::WRITE, Some((1, 0x10001)), Some(7), None),
        ],
    });
    a.update(s);
    key(&mut a, KeyCode::F(4));
    assert!(a.caps.show_graph);
    golden("dev-graph-100x30.txt", &screen(&a, 100, 30));
    key(&mut a, KeyCode::F(4));
    assert!(!a.caps.show_graph);
}

/// F5 puts the board's display where the memory pane was: two pixel rows
/// a cell (the upper as the glyph's colour, the lower as its background),
/// scaled to the pane; a board without a display says so.
#[test]
fn f5_shows_the_display_in_half_blocks() {
    use tidemark_shell::picture::Picture;
    let mut a = app();
    let mut s = known();
    s.events.clear();
    s.display = Some(Err("this board has no display".into()));
    a.update(s);
    key(&mut a, KeyCode::F(5));
    assert!(a.display.shown);
    assert!(screen(&a, 100, 30).contains("this board has no display"));
    // 2x2 pixels: red, green over blue, white.
    let pic = Picture {
        width: 2,
        height: 2,
        rgb: vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255],
        presents: Some(4),
    };
    let mut s = known();
    s.events.clear();
    s.display = Some(Ok(pic.clone()));
    a.update(s);
    golden("dev-display-100x30.txt", &screen(&a, 100, 30));
    let mut term = ratatui::Terminal::new(TestBackend::new(100, 30)).unwrap();
    render(&mut term, &a).unwrap();
    let buf = term.backend().buffer().clone();
    // Inside the border: 38 columns, 7 rows (14 pixel rows) for 2x2
    // pixels. The middle row splits: pixel row 0 above, row 1 below.
    let colours = |x, y| {
        let c = &buf[(x, y)];
        assert_eq!(c.symbol(), "▀", "({x}, {y})");
        (c.fg, c.bg)
    };
    let (red, green, blue, white) = (
        Color::Rgb(255, 0, 0),
        Color::Rgb(0, 255, 0),
        Color::Rgb(0, 0, 255),
        Color::Rgb(255, 255, 255),
    );
    assert_eq!(colours(61, 12), (red, red));
    assert_eq!(colours(98, 12), (green, green));
    assert_eq!(colours(61, 15), (red, blue));
    assert_eq!(colours(98, 15), (green, white));
    assert_eq!(colours(61, 18), (blue, blue));
    assert!(a.dump().contains(&format!("== display\ndisplay 2x2, 4 presents, digest {}", pic.digest())));
    // A poll without a new present keeps the picture.
    let mut s = known();
    s.events.clear();
    a.update(s);
    assert!(a.dump().contains("display 2x2, 4 presents"));
    key(&mut a, KeyCode::F(5));
    assert!(!a.display.shown);
    assert!(!a.dump().contains("== display"));
}
