//! Logging to the kernel's event stream.

use core::fmt::{self, Write};

use crate::{Level, sys};

/// Most bytes of one log line; longer lines are cut.
pub const LINE: usize = 512;

struct Line {
    buf: [u8; LINE],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE - self.len;
        // Cut on a character boundary so the kernel always gets UTF-8.
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes a formatted line at `level`. Fails silently without the `log` class.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; LINE],
        len: 0,
    };
    let _ = line.write_fmt(args);
    // SAFETY: pointer and length describe `line.buf`, valid for the call.
    unsafe { sys::log(level as i32, line.buf.as_ptr() as i32, line.len as i32) };
}

/// Logs at a level: `log!(Level::Warn, "x = {}", x)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => { $crate::log::write($level, format_args!($($arg)*)) };
}

/// Logs at `Info`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::Level::Info, format_args!($($arg)*)) };
}

/// Logs at `Error`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::Level::Error, format_args!($($arg)*)) };
}

/// Logs at `Warn`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::Level::Warn, format_args!($($arg)*)) };
}
