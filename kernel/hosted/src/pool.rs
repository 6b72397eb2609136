//! The threads processes run on. Each process has a thread of its own while
//! it runs; when it ends, the thread parks and waits for the next spawn.
//! Creating a thread is most of what a spawn costs (tens of µs here);
//! handing a process to a parked thread is one wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle, Thread};

use parking_lot::Mutex;

/// Most threads kept waiting for a process.
const MAX_IDLE: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    thread: OnceLock<Thread>,
    job: Mutex<Option<(String, Job)>>,
}

/// Process threads, running and idle.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Arc<Worker>>>,
    all: Mutex<Vec<JoinHandle<()>>>,
    closing: AtomicBool,
}

impl Pool {
    /// Runs `job` on an idle thread, or a new one; returns that thread (to
    /// unpark it). `name` names the thread while the job runs.
    pub(crate) fn run(self: &Arc<Self>, name: String, job: Job) -> Thread {
        if let Some(w) = self.idle.lock().pop() {
            *w.job.lock() = Some((name, job));
            let t = w
                .thread
                .get()
                .expect("set before the worker went idle")
                .clone();
            t.unpark();
            return t;
        }
        let w = Arc::new(Worker {
            thread: OnceLock::new(),
            job: Mutex::new(Some((name.clone(), job))),
        });
        let (pool, me) = (self.clone(), w.clone());
        let handle = thread::Builder::new()
            .name(name)
            .spawn(move || pool.work(me))
            .expect("spawning a process thread");
        let t = handle.thread().clone();
        let _ = w.thread.set(t.clone());
        let mut all = self.all.lock();
        all.retain(|h| !h.is_finished());
        all.push(handle);
        t
    }

    fn work(&self, me: Arc<Worker>) {
        // Before it can go idle, so `run` always finds its handle.
        let _ = me.thread.set(thread::current());
        let mut first = true;
        loop {
            let (name, job) = loop {
                if let Some(j) = me.job.lock().take() {
                    break j;
                }
                if self.closing.load(Ordering::Acquire) {
                    return;
                }
                // Spurious returns (a stale unpark meant for the last
                // process) just look again.
                thread::park();
            };
            if !first {
                name_thread(&name);
            }
            first = false;
            job();
            let mut idle = self.idle.lock();
            if self.closing.load(Ordering::Acquire) || idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(me.clone());
        }
    }

    /// Lets every thread finish its process, and joins them all.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        for w in self.idle.lock().drain(..) {
            if let Some(t) = w.thread.get() {
                t.unpark();
            }
        }
        let all = std::mem::take(&mut *self.all.lock());
        for h in all {
            let _ = h.join();
        }
    }
}

/// Names the calling thread (what `ps -L`, `top -H` and debuggers show).
fn name_thread(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        let _ = rustix::thread::set_name(&c);
    }
}
