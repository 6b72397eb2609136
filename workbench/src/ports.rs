//! `tidemark ports`: the serial ports a board could be attached on, each
//! named by what its USB ids say it is (an ESP32-C6's built-in
//! USB-Serial-JTAG, a devkit's USB-UART bridge). Enumerated by the
//! `serialport` crate without libudev (sysfs on Linux).

use std::process::ExitCode;

use serde::Serialize;

/// What a USB id pair is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Known {
    /// Espressif's built-in USB-Serial-JTAG (ESP32-C6, also C3/S3/H2):
    /// the monitor link and the flashing port in one.
    EspUsbSerialJtag,
    /// A USB-UART bridge (CP210x, CH340, FTDI) on a devkit's UART port.
    UartBridge,
}

impl Known {
    /// Recognises a USB vendor/product id pair.
    pub fn of(vid: u16, pid: u16) -> Option<Known> {
        match (vid, pid) {
            (0x303a, 0x1001) => Some(Known::EspUsbSerialJtag),
            (0x10c4, 0xea60)
            | (0x1a86, 0x7523)
            | (0x1a86, 0x55d4)
            | (0x0403, 0x6001)
            | (0x0403, 0x6010) => Some(Known::UartBridge),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Known::EspUsbSerialJtag => "ESP USB-Serial-JTAG (esp32c6)",
            Known::UartBridge => "USB-UART bridge",
        }
    }
}

/// A port's USB identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Usb {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number, when the device reports one.
    pub serial: Option<String>,
    /// Manufacturer string.
    pub manufacturer: Option<String>,
    /// Product string.
    pub product: Option<String>,
}

/// One serial port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Port {
    /// Device path (`--port` takes it).
    pub path: String,
    /// USB identity; none for a built-in UART, Bluetooth or PCI port.
    pub usb: Option<Usb>,
    /// What the USB ids say it is.
    pub known: Option<Known>,
}

/// What `tidemark ports` prints: candidates first, then other USB ports
/// (then, with `--all`, every port).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Ports(pub Vec<Port>);

impl Ports {
    /// From the enumerated `(path, USB identity)` pairs, in display order.
    pub fn from_enumerated(found: Vec<(String, Option<Usb>)>, all: bool) -> Ports {
        let mut ports: Vec<Port> = found
            .into_iter()
            .filter(|(_, usb)| all || usb.is_some())
            .map(|(path, usb)| {
                let known = usb.as_ref().and_then(|u| Known::of(u.vid, u.pid));
                Port { path, usb, known }
            })
            .collect();
        ports.sort_by_key(|p| (p.known.is_none(), p.usb.is_none(), p.path.clone()));
        Ports(ports)
    }

    /// The table (or a sentence saying there is nothing).
    pub fn human(&self, all: bool) -> String {
        if self.0.is_empty() {
            return if all {
                "no serial ports found".into()
            } else {
                "no USB serial ports found (is the board plugged in? `--all` lists every port)"
                    .into()
            };
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|p| {
                let u = p.usb.as_ref();
                vec![
                    p.path.clone(),
                    u.map_or("-".into(), |u| format!("{:04x}:{:04x}", u.vid, u.pid)),
                    u.and_then(|u| u.serial.clone())
                        .unwrap_or_else(|| "-".into()),
                    u.and_then(|u| u.product.clone().or_else(|| u.manufacturer.clone()))
                        .unwrap_or_else(|| "-".into()),
                    p.known.map_or("-", Known::describe).into(),
                ]
            })
            .collect();
        tidemark_shell::output::table(&["PORT", "VID:PID", "SERIAL", "PRODUCT", "BOARD"], &rows)
    }
}

/// Every port `serialport` finds. Its `UsbPortInfo` is only read here,
/// never built: probe-rs turns on a feature that adds fields to it.
pub fn enumerate() -> Result<Vec<(String, Option<Usb>)>, String> {
    let found =
        serialport::available_ports().map_err(|e| format!("could not list serial ports: {e}"))?;
    Ok(found
        .into_iter()
        .map(|p| {
            let usb = match p.port_type {
                serialport::SerialPortType::UsbPort(u) => Some(Usb {
                    vid: u.vid,
                    pid: u.pid,
                    serial: u.serial_number,
                    manufacturer: u.manufacturer,
                    product: u.product,
                }),
                _ => None,
            };
            (p.port_name, usb)
        })
        .collect())
}

/// `tidemark ports`.
pub fn run(all: bool, json: bool) -> Result<ExitCode, String> {
    let ports = Ports::from_enumerated(enumerate()?, all);
    if json {
        println!(
            "{}",
            serde_json::to_string(&ports).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", ports.human(all));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb(path: &str, vid: u16, pid: u16) -> (String, Option<Usb>) {
        let u = Usb {
            vid,
            pid,
            serial: Some("F4:12:FA:00:11:22".into()),
            manufacturer: Some("Espressif".into()),
            product: Some("USB JTAG/serial debug unit".into()),
        };
        (path.into(), Some(u))
    }

    #[test]
    fn usb_ids_name_the_board() {
        assert_eq!(Known::of(0x303a, 0x1001), Some(Known::EspUsbSerialJtag));
        assert_eq!(Known::of(0x10c4, 0xea60), Some(Known::UartBridge));
        assert_eq!(Known::of(0x1234, 0x5678), None);
    }

    #[test]
    fn candidates_come_first_and_builtin_uarts_only_with_all() {
        let found = vec![
            ("/dev/ttyS0".to_string(), None),
            usb("/dev/ttyUSB0", 0x1234, 0x5678),
            usb("/dev/ttyACM0", 0x303a, 0x1001),
        ];
        let p = Ports::from_enumerated(found.clone(), false);
        let paths: Vec<&str> = p.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/dev/ttyACM0", "/dev/ttyUSB0"]);
        assert_eq!(p.0[0].known, Some(Known::EspUsbSerialJtag));
        let human = p.human(false);
        assert!(human.contains("/dev/ttyACM0  303a:1001"), "{human}");
        assert!(human.contains("ESP USB-Serial-JTAG (esp32c6)"), "{human}");
        let all = Ports::from_enumerated(found, true);
        assert_eq!(all.0.last().unwrap().path, "/dev/ttyS0");
        assert_eq!(
            Ports(vec![]).human(false),
            "no USB serial ports found (is the board plugged in? `--all` lists every port)"
        );
    }

    /// The enumeration runs on this machine (sysfs, no libudev) and every
    /// port it finds has a path.
    #[test]
    fn the_machine_s_ports_enumerate() {
        let found = enumerate().unwrap();
        assert!(
            found.iter().all(|(path, _)| path.starts_with("/dev/")),
            "{found:?}"
        );
    }
}
