//! A QEMU Machine Protocol client for what only QEMU can tell: what its
//! display device scans out (`screendump`). Line-delimited JSON on the
//! Unix socket a board's `{qmp}` argument gives QEMU.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tidemark_shell::picture::Picture;

/// A QMP session, past its capabilities negotiation.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to `socket` and enters command mode.
    pub fn connect(socket: &Path) -> Result<Qmp, String> {
        let s = UnixStream::connect(socket)
            .map_err(|e| format!("QMP socket {}: {e}", socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        let mut q = Qmp {
            reader: BufReader::new(s),
            writer,
        };
        let greeting = q.line()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP greeting expected, got {greeting}"));
        }
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn line(&mut self) -> Result<Value, String> {
        let mut l = String::new();
        match self.reader.read_line(&mut l) {
            Ok(0) => Err("QEMU closed its QMP socket".into()),
            Ok(_) => serde_json::from_str(&l).map_err(|e| format!("QMP sent `{}`: {e}", l.trim())),
            Err(e) => Err(format!("reading QMP: {e}")),
        }
    }

    /// Runs `command`; its `return` value, or QEMU's error as text.
    /// Asynchronous events that arrive meanwhile are skipped.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let msg = json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{msg}").map_err(|e| format!("writing QMP: {e}"))?;
        self.answer(command)
    }

    /// Hands QEMU a descriptor under `name` (`getfd`, with the descriptor
    /// attached to the command's bytes as `SCM_RIGHTS`), for a later
    /// command to use by that name.
    #[cfg_attr(not(feature = "qemu-display"), allow(dead_code))]
    pub fn send_fd(&mut self, name: &str, fd: &impl std::os::fd::AsFd) -> Result<(), String> {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
        let msg = format!(
            "{}\n",
            json!({ "execute": "getfd", "arguments": { "fdname": name } })
        );
        let fds = [fd.as_fd()];
        let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        if !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err("no room to pass a descriptor".into());
        }
        let sent = sendmsg(
            &self.writer,
            &[std::io::IoSlice::new(msg.as_bytes())],
            &mut ancillary,
            SendFlags::empty(),
        )
        .map_err(|e| format!("writing QMP: {e}"))?;
        // The descriptor went with the first byte; the rest as plain bytes.
        self.writer
            .write_all(&msg.as_bytes()[sent..])
            .map_err(|e| format!("writing QMP: {e}"))?;
        self.answer("getfd").map(|_| ())
    }

    /// The answer to the command just sent, skipping events.
    fn answer(&mut self, command: &str) -> Result<Value, String> {
        loop {
            let v = self.line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                let desc = e
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("no description");
                return Err(format!("QEMU refused `{command}`: {desc}"));
            }
        }
    }

    /// What the display device scans out now.
    pub fn screendump(&mut self) -> Result<Picture, String> {
        // A directory only this user can enter: QEMU writes wherever the
        // name leads, so nobody else may plant a link there.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tidemark-screendump-{}-{n}", std::process::id()));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = dir.join("screen.ppm");
        let done = self.execute("screendump", json!({ "filename": file }));
        let bytes =
            done.and_then(|_| std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display())));
        let _ = std::fs::remove_dir_all(&dir);
        Picture::from_ppm(&bytes?)
    }
}
