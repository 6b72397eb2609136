//! The monitor link: the C6's built-in USB-Serial-JTAG, or RTT through a
//! debug probe (feature `rtt`). Neither ever waits: esp-hal's blocking
//! writes spin forever when no host reads, so only the non-blocking calls
//! are used, and the shared loop's queue decides what to keep.

#[cfg(not(feature = "rtt"))]
mod imp {
    use esp_hal::Blocking;
    use esp_hal::peripherals::USB_DEVICE;
    use esp_hal::usb::usb_serial_jtag::UsbSerialJtag;

    /// USB-Serial-JTAG: a 64-byte FIFO each way.
    pub struct Link {
        usb: UsbSerialJtag<'static, Blocking>,
    }

    impl Link {
        pub fn new(usb: USB_DEVICE<'static>) -> Link {
            Link {
                usb: UsbSerialJtag::new(usb),
            }
        }

        pub fn read(&mut self, buf: &mut [u8]) -> usize {
            let mut n = 0;
            while n < buf.len()
                && let Ok(b) = self.usb.read_byte()
            {
                buf[n] = b;
                n += 1;
            }
            n
        }

        /// What the FIFO takes now; then a flush, so the host gets it
        /// without waiting for 64 bytes to gather.
        pub fn write(&mut self, bytes: &[u8]) -> usize {
            let mut n = 0;
            while n < bytes.len() && self.usb.write_byte_nb(bytes[n]).is_ok() {
                n += 1;
            }
            if n > 0 {
                let _ = self.usb.flush_tx_nb();
            }
            n
        }
    }

    /// A panic's message, as far as the FIFO takes it without waiting.
    pub fn last_words(info: &core::panic::PanicInfo) {
        use core::fmt::Write;
        struct Nb;
        impl Write for Nb {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                // SAFETY: the kernel is gone; nobody else uses the FIFO now.
                let regs = unsafe { USB_DEVICE::steal() };
                let mut usb = UsbSerialJtag::new(regs);
                for &b in s.as_bytes() {
                    if usb.write_byte_nb(b).is_err() {
                        return Err(core::fmt::Error);
                    }
                }
                let _ = usb.flush_tx_nb();
                Ok(())
            }
        }
        let _ = write!(Nb, "\r\ntidemark: kernel panic: {info}\r\n");
    }
}

#[cfg(feature = "rtt")]
mod imp {
    use esp_hal::peripherals::USB_DEVICE;
    use rtt_target::{ChannelMode, DownChannel, UpChannel, rtt_init};

    /// RTT: an up and a down channel in RAM the probe reads and writes.
    pub struct Link {
        up: UpChannel,
        down: DownChannel,
    }

    impl Link {
        pub fn new(_usb: USB_DEVICE<'static>) -> Link {
            let ch = rtt_init! {
                up: { 0: { size: 4096, mode: ChannelMode::NoBlockTrim, name: "tidemark" } }
                down: { 0: { size: 1024, name: "tidemark" } }
            };
            Link {
                up: ch.up.0,
                down: ch.down.0,
            }
        }

        pub fn read(&mut self, buf: &mut [u8]) -> usize {
            self.down.read(buf)
        }

        /// `NoBlockTrim`: what fits is written and counted, never waited for.
        pub fn write(&mut self, bytes: &[u8]) -> usize {
            self.up.write(bytes)
        }
    }

    pub fn last_words(_info: &core::panic::PanicInfo) {}
}

pub use imp::{Link, last_words};
