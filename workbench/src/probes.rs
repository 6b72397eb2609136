//! `tidemark probes`: the debug probes probe-rs sees (the ESP32-C6's
//! built-in USB-JTAG among them: probe-rs 0.32 moved Espressif's chips and
//! probe driver into `probe-rs-espressif`, registered here once), and
//! flashing through one (`tidemark flash --probe SERIAL`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Once;

use serde::Serialize;

/// One debug probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Probe {
    /// What probe-rs calls it.
    pub identifier: String,
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// Serial number (what `--probe` takes).
    pub serial: Option<String>,
    /// Whether it is an Espressif chip's own USB-JTAG (303a:1001).
    pub esp_usb_jtag: bool,
}

/// Every probe, for the human table and `--json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Probes {
    /// The probes, in probe-rs's order.
    pub probes: Vec<Probe>,
}

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(probe_rs_espressif::register_plugin);
}

/// The probes attached now.
pub fn list() -> Vec<Probe> {
    register();
    probe_rs::probe::list::Lister::new()
        .list_all()
        .into_iter()
        .map(|p| Probe {
            esp_usb_jtag: (p.vendor_id, p.product_id) == (0x303a, 0x1001),
            identifier: p.identifier,
            vid: p.vendor_id,
            pid: p.product_id,
            serial: p.serial_number,
        })
        .collect()
}

impl Probes {
    fn human(&self) -> String {
        if self.probes.is_empty() {
            return "no debug probes found (an ESP32-C6's USB-JTAG shows as 303a:1001; on Linux it needs access to /dev/bus/usb)".into();
        }
        let mut s = format!(
            "{:<28} {:<10} {:<20} {}\n",
            "PROBE", "USB", "SERIAL", "KIND"
        );
        for p in &self.probes {
            s.push_str(&format!(
                "{:<28} {:04x}:{:04x}  {:<20} {}\n",
                p.identifier,
                p.vid,
                p.pid,
                p.serial.as_deref().unwrap_or("-"),
                if p.esp_usb_jtag {
                    "ESP USB-JTAG"
                } else {
                    "debug probe"
                }
            ));
        }
        s.trim_end().into()
    }
}

/// `tidemark probes`.
pub fn run(json: bool) -> Result<ExitCode, String> {
    let p = Probes { probes: list() };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&p).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", p.human());
    }
    Ok(ExitCode::SUCCESS)
}

/// A probe-rs session on `chip` through the probe whose serial number (or
/// identifier) is `which`.
fn session(which: &str, chip: &str) -> Result<probe_rs::Session, String> {
    register();
    let all = probe_rs::probe::list::Lister::new().list_all();
    let info = all
        .iter()
        .find(|p| p.serial_number.as_deref() == Some(which) || p.identifier == which)
        .ok_or_else(|| format!("no debug probe `{which}` (`tidemark probes` lists them)"))?;
    let probe = info.open().map_err(|e| format!("probe {which}: {e}"))?;
    probe
        .attach(chip, probe_rs::Permissions::default())
        .map_err(|e| format!("probe {which}: cannot attach to the {chip}: {e}"))
}

/// The monitor over RTT (`rtt:SERIAL`): the kernel's up channel 0 and down
/// channel 0 (the image's `rtt` feature) bridged onto a Unix socket by a
/// thread that owns the probe session, so the client runs unchanged. The
/// probe polls target RAM: a millisecond's sleep when nothing moved.
pub fn rtt_link(which: &str, chip: &str) -> Result<std::os::unix::net::UnixStream, String> {
    use std::io::{ErrorKind, Read, Write};
    use std::time::{Duration, Instant};
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let (ready, started) = std::sync::mpsc::channel::<Result<(), String>>();
    let (which, chip) = (which.to_string(), chip.to_string());
    std::thread::Builder::new()
        .name("rtt".into())
        .spawn(move || {
            let mut session = match session(&which, &chip) {
                Ok(s) => s,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let mut core = match session.core(0) {
                Ok(c) => c,
                Err(e) => return drop(ready.send(Err(format!("probe {which}: {e}")))),
            };
            // The kernel sets its control block up at boot: look for a while.
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut rtt = loop {
                let found = probe_rs::rtt::Rtt::attach(&mut core).map(|mut r| {
                    let both = r.up_channel(0).is_some() && r.down_channel(0).is_some();
                    (r, both)
                });
                match found {
                    Ok((r, true)) => break r,
                    _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    Ok(_) => {
                        let why = "the kernel's RTT block has no up/down channel 0 (built without the `rtt` feature?)";
                        return drop(ready.send(Err(why.into())));
                    }
                    Err(e) => {
                        let why = format!("no RTT control block on the {chip} ({e}); flash it with --transport rtt");
                        return drop(ready.send(Err(why)));
                    }
                }
            };
            if ready.send(Ok(())).is_err() || ours.set_nonblocking(true).is_err() {
                return;
            }
            let mut buf = vec![0u8; 4096];
            loop {
                let mut moved = false;
                let n = match rtt.up_channel(0).map(|up| up.read(&mut core, &mut buf)) {
                    Some(Ok(n)) => n,
                    _ => return, // the probe or the target went away: the socket closes
                };
                if n > 0 {
                    moved = true;
                    let _ = ours.set_nonblocking(false);
                    if ours.write_all(&buf[..n]).is_err() {
                        return;
                    }
                    let _ = ours.set_nonblocking(true);
                }
                match ours.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        moved = true;
                        let mut rest = &buf[..n];
                        while !rest.is_empty() {
                            match rtt.down_channel(0).map(|d| d.write(&mut core, rest)) {
                                Some(Ok(w)) => rest = &rest[w..],
                                _ => return,
                            }
                            if !rest.is_empty() {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
                if !moved {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    started
        .recv()
        .map_err(|_| "the RTT thread ended".to_string())??;
    Ok(theirs)
}

/// Flashes `elf` to `chip` through the probe whose serial number (or
/// identifier) is `which`, then resets the core into it.
pub fn flash(which: &str, chip: &str, elf: &Path) -> Result<(), String> {
    use probe_rs::flashing::{self, DownloadOptions, FlashProgress, ProgressEvent};
    let mut session = session(which, chip)?;
    let loader = flashing::image_format("idf")
        .ok_or("probe-rs has no `idf` image format (probe-rs-espressif not registered)")?
        .create_loader(None);
    let mut opts = DownloadOptions::default();
    opts.verify = true;
    let mut bar = crate::flash::Progress::new();
    let (mut total, mut done) = (0u64, 0u64);
    opts.progress = FlashProgress::new(move |ev| match ev {
        ProgressEvent::AddProgressBar { total: Some(t), .. } => total += t,
        ProgressEvent::Progress { size, .. } => {
            done += size;
            bar.fraction(done, total);
        }
        _ => {}
    });
    flashing::download_file_with_options(&mut session, elf, loader, opts)
        .map_err(|e| format!("probe-rs: flashing failed: {e}"))?;
    session
        .core(0)
        .and_then(|mut c| c.reset())
        .map_err(|e| format!("probe-rs: cannot reset the core: {e}"))?;
    eprintln!();
    Ok(())
}
