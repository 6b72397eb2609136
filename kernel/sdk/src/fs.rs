//! The file system's client. Paths are relative to the directory this
//! connection was granted.

use alloc::string::String;
use alloc::vec::Vec;
use tidemark_svc::fs::{Answer, Entry, Request};
use tidemark_svc::Service;

use crate::client::{CallResult, Connection, unexpected};

pub use tidemark_svc::fs::{Kind, MAX_IO};

/// A connection to vfs.
pub struct Fs(Connection);


impl Fs {
    /// Sets how long a call waits for its reply (default 5 s).
    pub fn set_timeout(&mut self, nanos: u64) {
        self.0.set_timeout(nanos);
    }

    /// Connects through `fs.req`/`fs.resp`.
    pub fn connect() -> CallResult<Fs> {
        Connection::open(Service::Fs, "fs").map(Fs)
    }

    /// Connects through another grant name (a service reaching vfs for itself).
    pub fn connect_as(name: &str) -> CallResult<Fs> {
        Connection::open(Service::Fs, name).map(Fs)
    }

    fn done(&mut self, req: &Request) -> CallResult<()> {
        match self.0.call(req)? {
            Answer::Done => Ok(()),
            a => unexpected(a),
        }
    }

    /// Reads a whole file (in pieces of at most [`MAX_IO`]).
    pub fn read(&mut self, path: &str) -> CallResult<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let req = Request::Get { path: path.into(), offset: out.len() as u64, len: MAX_IO as u32 };
            match self.0.call(&req)? {
                Answer::Data(d) if d.is_empty() => return Ok(out),
                Answer::Data(d) => out.extend_from_slice(&d),
                a => return unexpected(a),
            }
        }
    }

    /// Replaces a file with `data` (created if missing).
    pub fn write(&mut self, path: &str, data: &[u8]) -> CallResult<()> {
        let mut chunks = data.chunks(MAX_IO);
        let first = chunks.next().unwrap_or(&[]);
        self.put(path, first, false)?;
        for c in chunks {
            self.put(path, c, true)?;
        }
        Ok(())
    }

    /// Appends `data` to a file (created if missing).
    pub fn append(&mut self, path: &str, data: &[u8]) -> CallResult<()> {
        for c in data.chunks(MAX_IO) {
            self.put(path, c, true)?;
        }
        Ok(())
    }

    fn put(&mut self, path: &str, data: &[u8], append: bool) -> CallResult<()> {
        match self.0.call(&Request::Put { path: path.into(), data: data.into(), append })? {
            Answer::Written(_) => Ok(()),
            a => unexpected(a),
        }
    }

    /// A directory's entries.
    pub fn list(&mut self, path: &str) -> CallResult<Vec<Entry>> {
        match self.0.call(&Request::List(path.into()))? {
            Answer::Entries(e) => Ok(e),
            a => unexpected(a),
        }
    }

    /// What a path is.
    pub fn stat(&mut self, path: &str) -> CallResult<Entry> {
        match self.0.call(&Request::Stat(path.into()))? {
            Answer::Stat(e) => Ok(e),
            a => unexpected(a),
        }
    }

    /// Makes a directory.
    pub fn mkdir(&mut self, path: &str) -> CallResult<()> {
        self.done(&Request::Mkdir(path.into()))
    }

    /// Moves a file or directory.
    pub fn rename(&mut self, from: &str, to: &str) -> CallResult<()> {
        self.done(&Request::Rename { from: from.into(), to: String::from(to) })
    }

    /// Removes a file or an empty directory.
    pub fn remove(&mut self, path: &str) -> CallResult<()> {
        self.done(&Request::Remove(path.into()))
    }

    /// Sets a file's length.
    pub fn truncate(&mut self, path: &str, len: u64) -> CallResult<()> {
        self.done(&Request::Truncate { path: path.into(), len })
    }

    /// Opens a file for handle-based reads and writes.
    pub fn open(&mut self, path: &str, create: bool, truncate: bool) -> CallResult<u32> {
        match self.0.call(&Request::Open { path: path.into(), create, truncate })? {
            Answer::Handle(h) => Ok(h),
            a => unexpected(a),
        }
    }

    /// Reads up to `len` bytes at a handle's position.
    pub fn read_at_handle(&mut self, handle: u32, len: u32) -> CallResult<Vec<u8>> {
        match self.0.call(&Request::Read { handle, len })? {
            Answer::Data(d) => Ok(d),
            a => unexpected(a),
        }
    }

    /// Writes at a handle's position.
    pub fn write_at_handle(&mut self, handle: u32, data: &[u8]) -> CallResult<u32> {
        match self.0.call(&Request::Write { handle, data: data.into() })? {
            Answer::Written(n) => Ok(n),
            a => unexpected(a),
        }
    }

    /// Moves a handle's position.
    pub fn seek(&mut self, handle: u32, pos: u64) -> CallResult<()> {
        self.done(&Request::Seek { handle, pos })
    }

    /// Closes a handle.
    pub fn close(&mut self, handle: u32) -> CallResult<()> {
        self.done(&Request::Close(handle))
    }
}
