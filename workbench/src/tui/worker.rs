//! REPL lines typed in the screen run here, off the UI thread, in order:
//! a slow `reload` or `chan tail` never stops the screen from drawing.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use tidemark_shell::Session;

/// A line's outcome: the line, and its output or error text.
pub type Done = (String, Result<String, String>);

/// The UI's end of the worker.
pub struct Worker {
    lines: Sender<String>,
    done: Receiver<Done>,
    /// Lines sent and not yet answered, oldest first.
    pub pending: Vec<String>,
}

impl Worker {
    /// A worker running lines on `session` on its own thread.
    pub fn spawn(mut session: Session) -> Worker {
        let (lines, rx) = channel::<String>();
        let (tx, done) = channel();
        std::thread::Builder::new()
            .name("repl".into())
            .spawn(move || {
                for line in rx {
                    let r = tidemark_shell::execute(&mut session, &line, false)
                        .map_err(|e| format!("error: {e}"));
                    // What happened to the link meanwhile goes above the answer.
                    let notes: String = session
                        .client
                        .take_notices()
                        .into_iter()
                        .map(|n| format!("tidemark: {n}\n"))
                        .collect();
                    let r = if notes.is_empty() {
                        r
                    } else {
                        r.map(|o| format!("{notes}{o}"))
                            .map_err(|e| format!("{notes}{e}"))
                    };
                    if tx.send((line, r)).is_err() {
                        return;
                    }
                }
            })
            .expect("repl thread");
        Worker {
            lines,
            done,
            pending: Vec::new(),
        }
    }

    /// A worker over channels the caller holds (tests drive both ends).
    #[cfg(test)]
    pub fn from_channels(lines: Sender<String>, done: Receiver<Done>) -> Worker {
        Worker {
            lines,
            done,
            pending: Vec::new(),
        }
    }

    /// Queues a line.
    pub fn submit(&mut self, line: String) {
        if self.lines.send(line.clone()).is_ok() {
            self.pending.push(line);
        }
    }

    /// Outcomes ready now.
    pub fn poll(&mut self) -> Vec<Done> {
        let mut out = Vec::new();
        loop {
            match self.done.try_recv() {
                Ok(d) => {
                    if let Some(i) = self.pending.iter().position(|l| *l == d.0) {
                        self.pending.remove(i);
                    }
                    out.push(d);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }
}
