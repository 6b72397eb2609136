//! The scheduler processes run on. A process is one future (its wasmtime
//! `call_async`, which runs the guest on a fiber of its own); a few worker
//! threads (one per core) poll whichever process is ready, first come first
//! served. A process parked on a channel, a sleep or a wait is a future
//! nobody polls: it costs its fiber's stack and no thread.
//!
//! * A running guest yields its worker at each epoch tick (every
//!   [`crate::SLICE`]) and is queued again; the queue is fair (`Lines`):
//!   busy guests share the workers in turn, and a parked guest that is
//!   woken goes ahead of them.
//! * A wake-up ([`Signal::notify`]) queues the process at most once, however
//!   many arrive; one that arrives while the process runs makes the worker
//!   poll it again.
//! * A spawn from outside the workers (the monitor, a test, the shell) runs
//!   the new process's first slice on the spawner's thread, up to its first
//!   wait or yield: a spawn then costs no thread wake-up before the guest's
//!   first instruction. A spawn from a guest queues the child as if woken.

use std::cell::Cell;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::SLICE;

/// A process's run, boxed.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

// A task's states. A task is in the queue only while QUEUED, and polled by
// one thread only while RUNNING or NOTIFIED.
const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const RUNNING: u8 = 2;
/// Woken while running: poll again once the others waiting had their turn.
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

struct Task {
    state: AtomicU8,
    /// Worker time it has had, in ns, plus what waking gave it ([`Lines`]).
    ran: AtomicU64,
    job: Mutex<Option<Job>>,
    queue: Weak<Queue>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let next = match s {
                IDLE => QUEUED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s == IDLE
            && let Some(q) = self.queue.upgrade()
        {
            q.push_woken(self.clone());
        }
    }
}

/// The processes ready to run, by how much worker time each has had: the
/// one that has run least goes first (a fair queue, as Linux's CFS keeps).
/// A process's count grows by the time it is polled. One woken from a park
/// is put no further back than one slice before the least count running
/// lately, so a guest that mostly waits (a server, one side of a ping-pong)
/// answers within microseconds however many guests compute beside it, yet
/// never owns the workers: once it has run a slice more than they have, they
/// go first. Busy guests take turns a slice at a time and none starves.
#[derive(Default)]
struct Lines {
    heap: BinaryHeap<Earliest<u64, Arc<Task>>>,
    /// The count of the process last taken (only grows).
    floor: u64,
    seq: u64,
}

/// A heap entry that comes out of a (max-)`BinaryHeap` least key first,
/// then first pushed: the run queue's and the timers' order.
struct Earliest<K, T> {
    key: K,
    seq: u64,
    item: T,
}

impl<K: Ord, T> PartialEq for Earliest<K, T> {
    fn eq(&self, o: &Self) -> bool {
        (&self.key, self.seq) == (&o.key, o.seq)
    }
}
impl<K: Ord, T> Eq for Earliest<K, T> {}
impl<K: Ord, T> PartialOrd for Earliest<K, T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<K: Ord, T> Ord for Earliest<K, T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&o.key, o.seq).cmp(&(&self.key, self.seq))
    }
}

impl Lines {
    fn push(&mut self, task: Arc<Task>, woken: bool) {
        let mut key = task.ran.load(Ordering::Relaxed);
        if woken {
            key = key.max(self.floor.saturating_sub(SLICE_NS));
            task.ran.store(key, Ordering::Relaxed);
        }
        self.seq += 1;
        self.heap.push(Earliest {
            key,
            seq: self.seq,
            item: task,
        });
    }

    fn pop(&mut self) -> Option<Arc<Task>> {
        let e = self.heap.pop()?;
        self.floor = self.floor.max(e.key);
        Some(e.item)
    }
}

const SLICE_NS: u64 = SLICE.as_nanos() as u64;

#[derive(Default)]
struct Queue {
    lines: Mutex<Lines>,
    /// Processes in `lines`, for a look without the lock (`others_ready`).
    queued: AtomicUsize,
    more: Condvar,
    closing: AtomicBool,
}

impl Queue {
    fn push_back(&self, t: Arc<Task>) {
        self.push(t, false);
    }

    fn push_woken(&self, t: Arc<Task>) {
        self.push(t, true);
    }

    fn push(&self, t: Arc<Task>, woken: bool) {
        self.lines.lock().push(t, woken);
        self.queued.fetch_add(1, Ordering::Release);
        self.more.notify_one();
    }

    fn pop(&self, lines: &mut Lines) -> Option<Arc<Task>> {
        let t = lines.pop()?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Some(t)
    }

    /// Polls a task this thread took from the queue (or just made).
    fn run(&self, task: Arc<Task>) {
        // A spawn from inside this poll (a guest's `proc_spawn`) is queued,
        // never run nested in it.
        let outer = POLLING.replace(true);
        self.poll(task);
        POLLING.set(outer);
    }

    fn poll(&self, task: Arc<Task>) {
        task.state.store(RUNNING, Ordering::Release);
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut job = task.job.lock();
        let Some(f) = job.as_mut() else { return };
        let t0 = Instant::now();
        let ready = f.as_mut().poll(&mut cx).is_ready();
        task.ran
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if ready {
            task.state.store(DONE, Ordering::Release);
            // Dropping the store here, not in a waker's last clone.
            *job = None;
            return;
        }
        drop(job);
        if task
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // NOTIFIED while it ran.
            task.state.store(QUEUED, Ordering::Release);
            self.push_back(task);
        }
    }

    fn work(&self) {
        loop {
            let task = {
                let mut lines = self.lines.lock();
                loop {
                    if let Some(t) = self.pop(&mut lines) {
                        break t;
                    }
                    // Checked under the lock `close` notifies under: never missed.
                    if self.closing.load(Ordering::Acquire) {
                        return;
                    }
                    self.more.wait(&mut lines);
                }
            };
            self.run(task);
        }
    }
}

thread_local! {
    /// This thread is polling a process (a worker, or a spawner running a
    /// child's first slice).
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// The workers and the timer thread of one hosted kernel.
pub(crate) struct Scheduler {
    queue: Arc<Queue>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    timers: Arc<Timers>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

impl Scheduler {
    /// Starts `workers` worker threads (at least one) and the timer thread.
    pub(crate) fn new(workers: usize) -> Scheduler {
        let queue = Arc::new(Queue::default());
        let handles = (0..workers.max(1))
            .map(|i| {
                let q = queue.clone();
                thread::Builder::new()
                    .name(format!("tidemark-worker-{i}"))
                    .spawn(move || q.work())
                    .expect("spawning a worker thread")
            })
            .collect();
        let timers = Arc::new(Timers::default());
        let t = timers.clone();
        let timer = thread::Builder::new()
            .name("tidemark-timers".into())
            .spawn(move || t.run())
            .expect("spawning the timer thread");
        Scheduler {
            queue,
            workers: Mutex::new(handles),
            timers,
            timer: Mutex::new(Some(timer)),
        }
    }

    /// Runs a new process: its first slice on this thread, unless this
    /// thread is polling a process (a worker), which queues it as if woken.
    pub(crate) fn spawn(&self, job: Job) {
        let task = Arc::new(Task {
            state: AtomicU8::new(QUEUED),
            ran: AtomicU64::new(0),
            job: Mutex::new(Some(job)),
            queue: Arc::downgrade(&self.queue),
        });
        if POLLING.get() {
            self.queue.push_woken(task);
        } else {
            self.queue.run(task);
        }
    }

    /// Whether other processes wait for a worker (so spinning would hold them up).
    pub(crate) fn others_ready(&self) -> bool {
        self.queue.queued.load(Ordering::Acquire) > 0
    }

    /// The timers sleeps with a deadline are registered with.
    pub(crate) fn timers(&self) -> &Arc<Timers> {
        &self.timers
    }

    /// Stops the workers once the queue is empty, drops the processes still
    /// parked, and joins every thread.
    pub(crate) fn close(&self) {
        self.queue.closing.store(true, Ordering::Release);
        {
            let _g = self.queue.lines.lock();
            self.queue.more.notify_all();
        }
        for h in std::mem::take(&mut *self.workers.lock()) {
            let _ = h.join();
        }
        self.timers.close();
        if let Some(t) = self.timer.lock().take() {
            let _ = t.join();
        }
        // Processes still queued (none once a shutdown killed them all).
        let left = std::mem::take(&mut self.queue.lines.lock().heap);
        self.queue.queued.store(0, Ordering::Relaxed);
        drop(left);
    }
}

/// A process's wake-up: set by the kernel's wake effect, a kill, a reload
/// or a timer; taken by the process's next wait. A notify before the wait
/// makes the wait return at once (as an unpark before a park does).
#[derive(Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// Wakes the process if it waits, or its next wait.
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }

    /// Waits for a notify, or until `deadline` (registered with `timers`).
    /// Returns early for a notify meant for an earlier wait: callers look
    /// again at what they wait for.
    pub(crate) fn wait<'a>(
        self: &'a Arc<Self>,
        deadline: Option<Instant>,
        timers: &'a Arc<Timers>,
    ) -> impl Future<Output = ()> + Send + 'a {
        let (mut armed, mut registered) = (false, false);
        std::future::poll_fn(move |cx| {
            // Done waiting: take the waker back, so a notify that comes while
            // the process runs (it is spinning, or busy) only sets the flag
            // and queues nothing.
            let done = |registered: bool| {
                if registered {
                    self.waker.lock().take();
                }
                Poll::Ready(())
            };
            if self.set.swap(false, Ordering::AcqRel) {
                return done(registered);
            }
            *self.waker.lock() = Some(cx.waker().clone());
            registered = true;
            // A notify between the first look and storing the waker.
            if self.set.swap(false, Ordering::AcqRel) {
                return done(registered);
            }
            match deadline {
                Some(d) if Instant::now() >= d => done(registered),
                Some(d) => {
                    if !armed {
                        armed = true;
                        timers.add(d, Arc::downgrade(self));
                    }
                    Poll::Pending
                }
                None => Poll::Pending,
            }
        })
    }
}

/// Gives the worker to the processes waiting, then carries on.
pub(crate) fn yield_now() -> impl Future<Output = ()> + Send {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Deadlines of sleeping processes, fired by one thread. A timer whose
/// process woke earlier fires anyway, as a spurious notify its next wait
/// looks past.
#[derive(Default)]
pub(crate) struct Timers {
    heap: Mutex<(BinaryHeap<Earliest<Instant, Weak<Signal>>>, u64)>,
    changed: Condvar,
    closing: AtomicBool,
}

impl Timers {
    fn add(&self, at: Instant, signal: Weak<Signal>) {
        let mut g = self.heap.lock();
        let (heap, seq) = &mut *g;
        *seq += 1;
        let earliest = heap.peek().is_none_or(|t| at < t.key);
        heap.push(Earliest {
            key: at,
            seq: *seq,
            item: signal,
        });
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut g = self.heap.lock();
        while !self.closing.load(Ordering::Acquire) {
            let now = Instant::now();
            let mut due = Vec::new();
            while g.0.peek().is_some_and(|t| t.key <= now) {
                due.push(g.0.pop().expect("peeked").item);
            }
            if !due.is_empty() {
                drop(g);
                for s in due.iter().filter_map(Weak::upgrade) {
                    s.notify();
                }
                g = self.heap.lock();
                continue;
            }
            match g.0.peek().map(|t| t.key) {
                Some(at) => {
                    self.changed.wait_until(&mut g, at);
                }
                None => self.changed.wait(&mut g),
            }
        }
    }

    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let _g = self.heap.lock();
        self.changed.notify_all();
    }
}

/// Runs a future to completion on this thread (a spawner instantiating a
/// process, whose start function may wait like any hostcall).
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn a_notify_before_the_wait_is_kept_and_a_deadline_ends_it() {
        let s = Scheduler::new(1);
        let sig = Arc::new(Signal::default());
        sig.notify();
        block_on(sig.wait(None, s.timers()));
        let t0 = Instant::now();
        block_on(sig.wait(Some(t0 + Duration::from_millis(20)), s.timers()));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        s.close();
    }

    #[test]
    fn many_wakes_queue_a_task_once_and_every_task_finishes() {
        let s = Arc::new(Scheduler::new(2));
        let polls = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let signals: Vec<Arc<Signal>> = (0..50).map(|_| Arc::default()).collect();
        for sig in &signals {
            let (polls, done, sig, s2) = (polls.clone(), done.clone(), sig.clone(), s.clone());
            s.spawn(Box::pin(async move {
                polls.fetch_add(1, Ordering::Relaxed);
                yield_now().await;
                sig.wait(None, s2.timers()).await;
                done.fetch_add(1, Ordering::Relaxed);
            }));
        }
        // Woken many times over, each task still runs its body once.
        while done.load(Ordering::Relaxed) < 50 {
            for sig in &signals {
                sig.notify();
                sig.notify();
            }
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(polls.load(Ordering::Relaxed), 50);
        s.close();
    }
}
