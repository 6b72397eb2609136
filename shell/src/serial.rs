//! Serial links: a board that speaks the monitor protocol on a serial line
//! (`serial:PATH[@BAUD]`), or the ESP32-C6's USB-Serial-JTAG found by its
//! USB identity.
//!
//! The port is bridged onto one end of a Unix socket pair, so the client,
//! the multiplexer and everything above them run unchanged. The bridge
//! owns reconnecting: a reset or re-flash re-enumerates the USB device and
//! may move it from `/dev/ttyACM0` to `ttyACM1`, so when the port fails it
//! finds the board again (by USB vendor, product and serial number when it
//! knows them, else by the path, which a `/dev/serial/by-id/...` symlink
//! keeps stable), retrying with a bounded backoff (20 ms to 250 ms). Meanwhile [`LinkStatus`]
//! says "down"; the client sees the new generation on its next request,
//! says hello again and reports "reattached". Past [`REATTACH_WINDOW`] the
//! bridge gives up and closes the socket: the session ends with an error.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serialport::SerialPort;

/// Baud rate when none is given (USB-Serial-JTAG ignores it).
pub const DEFAULT_BAUD: u32 = 115_200;

/// How long the bridge looks for a board that went away before giving up.
pub const REATTACH_WINDOW: Duration = Duration::from_secs(30);

/// How long one read of the port waits: the bridge's latency floor.
const READ_WAIT: Duration = Duration::from_millis(2);

/// A USB identity to find a board by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbId {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number, when the device reports one.
    pub serial: Option<String>,
}

/// Where a board's serial line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locator {
    /// The device path (followed through symlinks at every open).
    pub path: PathBuf,
    /// Baud rate.
    pub baud: u32,
    /// The board's USB identity: when set, a board that comes back under
    /// another path is found by it.
    pub usb: Option<UsbId>,
}

impl Locator {
    /// Parses `PATH[@BAUD]` (what follows `serial:`).
    pub fn parse(s: &str) -> Result<Locator, String> {
        let (path, baud) = match s.rsplit_once('@') {
            Some((p, b)) => (
                p,
                b.parse::<u32>()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| format!("`{b}` is not a baud rate (serial:PATH@115200)"))?,
            ),
            None => (s, DEFAULT_BAUD),
        };
        if path.is_empty() {
            return Err("serial: needs a device path (serial:/dev/ttyACM0)".into());
        }
        Ok(Locator {
            path: path.into(),
            baud,
            usb: None,
        })
    }

    /// Where the board is now: by its USB identity when it has one and a
    /// port with it is present, else the path.
    fn find(&self) -> PathBuf {
        if let Some(id) = &self.usb
            && let Ok(ports) = serialport::available_ports()
        {
            for p in ports {
                if let serialport::SerialPortType::UsbPort(u) = &p.port_type
                    && u.vid == id.vid
                    && u.pid == id.pid
                    && (id.serial.is_none() || u.serial_number == id.serial)
                {
                    return p.port_name.into();
                }
            }
        }
        self.path.clone()
    }

    fn open(&self) -> io::Result<(PathBuf, Box<dyn SerialPort>)> {
        let path = self.find();
        let port = serialport::new(path.to_string_lossy(), self.baud)
            .timeout(READ_WAIT)
            .open()
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        Ok((path, port))
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "serial:{}", self.path.display())?;
        if self.baud != DEFAULT_BAUD {
            write!(f, "@{}", self.baud)?;
        }
        Ok(())
    }
}

/// The state of a bridged link, shared with every client on it.
#[derive(Default)]
pub struct LinkStatus {
    /// Bumped each time the board is reached again after a loss.
    generation: AtomicU64,
    down: Mutex<Option<(Instant, String)>>,
    gone: AtomicBool,
    /// Reattaches since the bridge started, with how long each took.
    history: Mutex<Vec<Duration>>,
}

impl LinkStatus {
    /// Reattaches so far: a client that saw another number says hello again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Why the link is down and since when, while it is.
    pub fn down(&self) -> Option<(Instant, String)> {
        self.down.lock().clone()
    }

    /// Whether the bridge gave up on the board.
    pub fn gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// How long each reattach took, oldest first.
    pub fn reattach_times(&self) -> Vec<Duration> {
        self.history.lock().clone()
    }
}

/// A board's serial line bridged onto a Unix socket.
pub struct Bridge {
    /// The client's end.
    pub stream: UnixStream,
    /// The link's state.
    pub status: Arc<LinkStatus>,
    /// The port the board was found on first.
    pub path: PathBuf,
}

/// Opens the board's port and starts the bridge.
pub fn bridge(loc: &Locator) -> io::Result<Bridge> {
    let (path, port) = loc.open()?;
    let (ours, theirs) = UnixStream::pair()?;
    let status = Arc::new(LinkStatus::default());
    let writer: Arc<Mutex<Option<Box<dyn SerialPort>>>> =
        Arc::new(Mutex::new(Some(port.try_clone()?)));
    {
        let mut from_client = ours.try_clone()?;
        let writer = writer.clone();
        std::thread::Builder::new()
            .name("serial-tx".into())
            .spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = from_client.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // While the link is down, what the client sends is lost:
                    // its request times out, or is answered after the hello.
                    let mut w = writer.lock();
                    if let Some(p) = w.as_mut()
                        && p.write_all(&buf[..n]).and_then(|()| p.flush()).is_err()
                    {
                        *w = None;
                    }
                }
            })?;
    }
    {
        let status = status.clone();
        let loc = loc.clone();
        std::thread::Builder::new()
            .name("serial-rx".into())
            .spawn(move || rx_loop(&loc, port, ours, &writer, &status))?;
    }
    Ok(Bridge {
        stream: theirs,
        status,
        path,
    })
}

fn rx_loop(
    loc: &Locator,
    mut port: Box<dyn SerialPort>,
    mut to_client: UnixStream,
    writer: &Mutex<Option<Box<dyn SerialPort>>>,
    status: &LinkStatus,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let why = match port.read(&mut buf) {
            Ok(0) => "the port closed".to_string(),
            Ok(n) => {
                if to_client.write_all(&buf[..n]).is_err() {
                    return; // the session ended
                }
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) =>
            {
                if writer.lock().is_some() {
                    continue;
                }
                "writing to the port failed".to_string()
            }
            Err(e) => e.to_string(),
        };
        let since = Instant::now();
        *writer.lock() = None;
        *status.down.lock() = Some((since, why));
        match reopen(loc, since) {
            Some(p) => match p.try_clone() {
                Ok(w) => {
                    *writer.lock() = Some(w);
                    port = p;
                    status.history.lock().push(since.elapsed());
                    *status.down.lock() = None;
                    status.generation.fetch_add(1, Ordering::AcqRel);
                }
                Err(_) => break,
            },
            None => break,
        }
    }
    status.gone.store(true, Ordering::Release);
    let _ = to_client.shutdown(std::net::Shutdown::Both);
}

/// Finds the board again, backing off from 20 ms to 250 ms between tries
/// (a reset board re-enumerates within a second), for [`REATTACH_WINDOW`]
/// at most.
fn reopen(loc: &Locator, since: Instant) -> Option<Box<dyn SerialPort>> {
    let mut wait = Duration::from_millis(20);
    while since.elapsed() < REATTACH_WINDOW {
        std::thread::sleep(wait);
        if let Ok((_, p)) = loc.open() {
            return Some(p);
        }
        wait = (wait * 2).min(Duration::from_millis(250));
    }
    None
}

/// Whether `s` names a serial link (`serial:...`).
pub fn is_serial(s: &str) -> bool {
    s.starts_with("serial:")
}

/// Where a session attaches: a Unix socket, or a serial line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A kernel's monitor socket (`tidemark boot --listen`, QEMU's UART).
    Socket(PathBuf),
    /// A board on a serial line.
    Serial(Locator),
    /// A board's RTT channels through the debug probe with this serial
    /// number (`rtt:SERIAL`); the workbench opens it with probe-rs.
    Rtt(String),
}

impl std::str::FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Address, String> {
        if let Some(probe) = s.strip_prefix("rtt:") {
            return if probe.is_empty() {
                Err("rtt: needs a probe's serial number (`tidemark probes` lists them)".into())
            } else {
                Ok(Address::Rtt(probe.into()))
            };
        }
        match s.strip_prefix("serial:") {
            Some(rest) => Locator::parse(rest).map(Address::Serial),
            None => Ok(Address::Socket(s.into())),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Socket(p) => write!(f, "{}", p.display()),
            Address::Serial(l) => l.fmt(f),
            Address::Rtt(p) => write!(f, "rtt:{p}"),
        }
    }
}

impl Address {
    /// Reaches the kernel: the socket's stream, or a bridge onto the port
    /// with the link's status.
    pub fn open(&self) -> io::Result<(UnixStream, Option<Arc<LinkStatus>>)> {
        match self {
            Address::Socket(p) => Ok((UnixStream::connect(p)?, None)),
            Address::Serial(l) => bridge(l).map(|b| (b.stream, Some(b.status))),
            Address::Rtt(_) => Err(io::Error::new(
                ErrorKind::Unsupported,
                "an RTT link is opened by the workbench (probe-rs)",
            )),
        }
    }

    /// The socket path, for addresses that are one.
    pub fn socket(&self) -> Option<&Path> {
        match self {
            Address::Socket(p) => Some(p),
            Address::Serial(_) | Address::Rtt(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "/tmp/k.sock".parse::<Address>(),
            Ok(Address::Socket("/tmp/k.sock".into()))
        );
        let Ok(Address::Serial(l)) = "serial:/dev/ttyACM0@921600".parse::<Address>() else {
            panic!()
        };
        assert_eq!(
            (l.path.as_path(), l.baud),
            (Path::new("/dev/ttyACM0"), 921_600)
        );
        let Ok(Address::Serial(l)) =
            "serial:/dev/serial/by-id/usb-Espressif-if00".parse::<Address>()
        else {
            panic!()
        };
        assert_eq!(l.baud, DEFAULT_BAUD);
        assert_eq!(l.to_string(), "serial:/dev/serial/by-id/usb-Espressif-if00");
        assert!(
            "serial:/dev/ttyACM0@fast"
                .parse::<Address>()
                .unwrap_err()
                .contains("not a baud rate")
        );
        assert!(
            "serial:"
                .parse::<Address>()
                .unwrap_err()
                .contains("needs a device path")
        );
        assert_eq!(
            "rtt:0001A2".parse::<Address>(),
            Ok(Address::Rtt("0001A2".into()))
        );
        assert!(
            "rtt:"
                .parse::<Address>()
                .unwrap_err()
                .contains("serial number")
        );
    }

    #[test]
    fn a_missing_port_is_a_clear_error() {
        let e = bridge(&Locator::parse("/nonexistent/tty").unwrap())
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/tty"), "{e}");
    }
}
