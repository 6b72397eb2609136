//! The monitor client: requests with ids over any byte stream, events
//! collected as they arrive.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tidemark_monitor::{Body, DecodeError, Decoder, EventRecord, KernelInfo, PROTOCOL_VERSION, Request, Response, encode};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The link failed or closed.
    #[error("monitor link: {0}")]
    Io(#[from] io::Error),
    /// No answer in time.
    #[error("the kernel did not answer within {0:?}")]
    Timeout(Duration),
    /// The kernel refused the session.
    #[error("attach refused: {0}")]
    Refused(String),
}

/// The error for a frame of another protocol version.
fn version_mismatch(theirs: u16) -> ClientError {
    ClientError::Refused(format!("the kernel speaks monitor protocol v{theirs}; this tidemark speaks v{PROTOCOL_VERSION}"))
}

/// A client session attached to a kernel.
pub struct Client {
    stream: UnixStream,
    decoder: Decoder,
    next_id: u32,
    events: VecDeque<EventRecord>,
    /// What the kernel said on attach.
    pub kernel: KernelInfo,
    /// How long a request may take.
    pub timeout: Duration,
    closed: bool,
}

impl Client {
    /// Attaches over `stream`: says hello and checks the protocol version.
    pub fn attach(stream: UnixStream) -> Result<Client, ClientError> {
        let placeholder = KernelInfo { version: String::new(), protocol: 0, abi: 0, board: String::new(), engine: String::new(), uptime_ns: 0, memory: None };
        let mut c = Client { stream, decoder: Decoder::new(), next_id: 1, events: VecDeque::new(), kernel: placeholder, timeout: Duration::from_millis(250), closed: false };
        // A machine still booting may lose the first bytes (a UART resetting
        // its FIFO): say hello again, briefly, before waiting in earnest.
        let hello = || Request::Hello { version: PROTOCOL_VERSION, client: "tidemark".into() };
        let mut answer = c.request(hello());
        for wait in [1, 10] {
            if !matches!(answer, Err(ClientError::Timeout(_))) {
                break;
            }
            c.timeout = Duration::from_secs(wait);
            answer = c.request(hello());
        }
        c.timeout = Duration::from_secs(10);
        match answer? {
            Response::Hello(info) => {
                c.kernel = info;
                Ok(c)
            }
            Response::Error(e) => Err(ClientError::Refused(e.message)),
            other => Err(ClientError::Refused(format!("unexpected answer to hello: {other:?}"))),
        }
    }

    /// Attaches to a Unix socket.
    pub fn connect(path: &std::path::Path) -> Result<Client, ClientError> {
        Client::attach(UnixStream::connect(path)?)
    }

    /// Sends a request and waits for its response (events arriving meanwhile are kept).
    pub fn request(&mut self, req: Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let Err(e) = self.stream.write_all(&encode(id, &Body::Request(req))) {
            self.closed = true;
            return Err(e.into());
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            while let Some(f) = self.decoder.next_frame() {
                match f {
                    Ok(f) => match f.body {
                        Body::Response(r) if f.id == id => return Ok(r),
                        Body::Event(e) => self.events.push_back(e),
                        _ => {} // a late answer to an abandoned request
                    },
                    // A kernel of another protocol version: nothing it says
                    // can be understood, so waiting for an answer is futile.
                    Err(DecodeError::Version { version, .. }) => return Err(version_mismatch(version)),
                    Err(_) => {} // garbage on the link: skipped by the decoder
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(self.timeout));
            }
            self.fill(left)?;
        }
    }

    fn fill(&mut self, wait: Duration) -> Result<(), ClientError> {
        self.stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                Err(ClientError::Io(io::Error::new(ErrorKind::UnexpectedEof, "the kernel closed the link")))
            }
            Ok(n) => {
                self.decoder.push(&buf[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => Ok(()),
            Err(e) => {
                self.closed = true;
                Err(e.into())
            }
        }
    }

    /// Whether the link is gone (the kernel hung up, or the machine died).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Events received so far (and any that arrive within `wait`).
    pub fn take_events(&mut self, wait: Duration) -> Result<Vec<EventRecord>, ClientError> {
        if self.events.is_empty() && !wait.is_zero() {
            self.fill(wait)?;
            while let Some(f) = self.decoder.next_frame() {
                if let Ok(f) = f {
                    if let Body::Event(e) = f.body {
                        self.events.push_back(e);
                    }
                }
            }
        }
        Ok(self.events.drain(..).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake kernel of another protocol version answers the hello: the
    /// client reports the mismatch instead of waiting for a timeout.
    #[test]
    fn attach_reports_protocol_version_mismatch() {
        let (client_end, mut kernel_end) = UnixStream::pair().unwrap();
        let theirs = PROTOCOL_VERSION + 1;
        let fake = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let n = kernel_end.read(&mut buf).unwrap();
            assert!(n >= 12 && buf[..2] == *b"TM", "a hello frame");
            let id = u32::from_le_bytes(buf[4..8].try_into().unwrap());
            let info = KernelInfo { version: "9.9.9".into(), protocol: theirs, abi: 0, board: "fake".into(), engine: "none".into(), uptime_ns: 0, memory: None };
            let mut frame = encode(id, &Body::Response(Response::Hello(info)));
            frame[2..4].copy_from_slice(&theirs.to_le_bytes());
            kernel_end.write_all(&frame).unwrap();
            // Keep the link open until the client is done with it.
            let _ = kernel_end.read(&mut buf);
        });
        let err = match Client::attach(client_end) {
            Ok(_) => panic!("attach to a kernel of another protocol version succeeded"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(matches!(err, ClientError::Refused(_)), "got {err:?}");
        assert!(msg.contains(&format!("the kernel speaks monitor protocol v{theirs}; this tidemark speaks v{PROTOCOL_VERSION}")), "{msg}");
        fake.join().unwrap();
    }
}
