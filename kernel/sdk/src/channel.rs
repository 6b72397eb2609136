//! Channels: create, attach, read and write frames.

use crate::abi::{ChannelDescriptor, FrameMeta, Role, Wire, io_flags};
use crate::cap::Cap;
use crate::{Backpressure, Result, check, sys};

/// A channel capability.
#[derive(Clone, Copy, Debug)]
pub struct Channel {
    /// The capability.
    pub cap: Cap,
}

/// Metadata of a frame read.
pub type Frame = FrameMeta;

impl Channel {
    /// Creates a channel (needs the `channel` class).
    pub fn create(data_bytes: u32, frames: u32, backpressure: Backpressure) -> Result<Channel> {
        // SAFETY: no pointers.
        check(unsafe { sys::chan_create(data_bytes as i32, frames as i32, backpressure as i32) })
            .map(|h| Channel { cap: Cap(h as i32) })
    }

    /// A channel granted under `name`.
    pub fn lookup(name: &str) -> Result<Channel> {
        Cap::lookup(name).map(|cap| Channel { cap })
    }

    fn attach(&self, role: Role) -> Result<ChannelDescriptor> {
        let mut b = [0u8; ChannelDescriptor::SIZE];
        // SAFETY: `b` is ChannelDescriptor::SIZE bytes.
        check(unsafe { sys::chan_attach(self.cap.0, role as i32, b.as_mut_ptr() as i32) })?;
        Ok(ChannelDescriptor::decode(&b))
    }

    /// Attaches as a writer.
    pub fn writer(&self) -> Result<Writer> {
        Ok(Writer { cap: self.cap, desc: self.attach(Role::Writer)? })
    }

    /// Attaches as a reader (starting at the oldest retained frame).
    pub fn reader(&self) -> Result<Reader> {
        Ok(Reader { cap: self.cap, desc: self.attach(Role::Reader)? })
    }

    /// Deletes the channel (needs the `d` right).
    pub fn delete(self) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::chan_delete(self.cap.0) }).map(|_| ())
    }
}

/// The writing end of an attachment. Detaches on drop.
#[derive(Debug)]
pub struct Writer {
    cap: Cap,
    desc: ChannelDescriptor,
}

impl Writer {
    /// What attach reported (writer id, ring location, whether mapped).
    pub fn descriptor(&self) -> &ChannelDescriptor {
        &self.desc
    }

    fn put(&self, frame: &[u8], flags: u32) -> Result<()> {
        // SAFETY: pointer and length describe `frame`.
        check(unsafe { sys::chan_write(self.cap.0, frame.as_ptr() as i32, frame.len() as i32, flags as i32) }).map(|_| ())
    }

    /// Writes a frame. Under `Park` backpressure waits for room; under
    /// `Drop` a full channel returns `Err(Error::Dropped)` (counted).
    pub fn write(&self, frame: &[u8]) -> Result<()> {
        self.put(frame, 0)
    }

    /// Writes a frame or returns `Err(Error::Full)` at once.
    pub fn try_write(&self, frame: &[u8]) -> Result<()> {
        self.put(frame, io_flags::NONBLOCK)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: no pointers.
        unsafe { sys::chan_detach(self.cap.0, Role::Writer as i32) };
    }
}

/// The reading end of an attachment, with its own cursor. Detaches on drop.
#[derive(Debug)]
pub struct Reader {
    cap: Cap,
    desc: ChannelDescriptor,
}

impl Reader {
    /// What attach reported.
    pub fn descriptor(&self) -> &ChannelDescriptor {
        &self.desc
    }

    fn get(&self, buf: &mut [u8], flags: u32) -> Result<Frame> {
        let mut meta = [0u8; FrameMeta::SIZE];
        // SAFETY: pointers and lengths describe `buf` and `meta`.
        check(unsafe {
            sys::chan_read(self.cap.0, buf.as_mut_ptr() as i32, buf.len() as i32, meta.as_mut_ptr() as i32, flags as i32)
        })?;
        Ok(FrameMeta::decode(&meta))
    }

    /// Reads the next frame into `buf`, waiting for one. A frame larger than
    /// `buf` stays queued and `Err(Error::TooLarge)` is returned.
    pub fn read(&self, buf: &mut [u8]) -> Result<Frame> {
        self.get(buf, 0)
    }

    /// Reads the next frame or returns `Err(Error::Empty)` at once.
    pub fn try_read(&self, buf: &mut [u8]) -> Result<Frame> {
        self.get(buf, io_flags::NONBLOCK)
    }

    /// Skips every pending frame; returns how many.
    pub fn drain(&self) -> Result<u32> {
        // SAFETY: no pointers.
        check(unsafe { sys::chan_drain(self.cap.0) })
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: no pointers.
        unsafe { sys::chan_detach(self.cap.0, Role::Reader as i32) };
    }
}
