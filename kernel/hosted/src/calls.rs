//! The hostcall path: linking the catalogue, local hostcalls answered
//! without the kernel lock, the dispatch that parks a process as the core
//! asks, and mapping channel windows the core's `attached` effect names.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::future::Future;
use std::sync::Arc;
use tidemark_abi::{Class, Classes, IMPORT_MODULE};
use tidemark_kernel::caps::CapTable;
use tidemark_kernel::hostcall::{answer_local, is_local};
use tidemark_kernel::{Kernel, Outcome, Pid, Wait};
use wasmtime::{Caller, Linker};

use crate::proc::{Control, ProcData, Stop};
use crate::sched::{Timers, yield_now};
use crate::window::{self, MemfdBacking, Window};

/// Retries of a would-block hostcall before the process parks (only while
/// no other process waits for a worker).
const SPIN_RETRIES: u32 = 8;
/// Spin-loop hints between retries (a few hundred ns).
const SPIN_LOOPS: u32 = 200;

macro_rules! link_catalogue {
    ($( $(#[doc = $doc:literal])* $num:literal $class:ident $name:ident ( $( $arg:ident : $ty:ident ),* ) -> $ret:ident ; )*) => {
        /// Links every hostcall: the real call for granted classes (local
        /// ones as plain host functions, the rest as async ones, which may
        /// park the process's fiber), a `PermissionDenied` stub for the rest.
        /// A `recorded` process gets no local path: each of its calls goes
        /// through the kernel, which records it.
        pub(crate) fn link(linker: &mut Linker<ProcData>, classes: Classes, recorded: bool) -> wasmtime::Result<()> {
            $(
                if classes.has(Class::$class) && is_local($num) && !recorded {
                    linker.func_wrap(IMPORT_MODULE, stringify!($name),
                        |mut caller: Caller<'_, ProcData>, $($arg: $ty),*| -> $ret {
                            local(caller.data_mut(), $num, &[$($arg as i64),*]) as $ret
                        })?;
                } else if classes.has(Class::$class) {
                    linker.func_wrap_async(IMPORT_MODULE, stringify!($name),
                        |mut caller: Caller<'_, ProcData>, ($($arg,)*): ($($ty,)*)|
                            -> Box<dyn Future<Output = wasmtime::Result<$ret>> + Send + '_> {
                            // A leading 0 gives the array its type when there are no arguments.
                            let args = [0i64 $(, $arg as i64)*];
                            match first_try(&mut caller, $num, &args[1..]) {
                                Ok(done) => Box::new(std::future::ready(done.map(|v| v as $ret))),
                                Err(blocked) => Box::new(async move {
                                    parked(&mut caller, $num, &args[1..], blocked).await.map(|v| v as $ret)
                                }),
                            }
                        })?;
                } else {
                    linker.func_wrap(IMPORT_MODULE, stringify!($name),
                        |caller: Caller<'_, ProcData>, $($arg: $ty),*| -> $ret {
                            let args = [0i64 $(, $arg as i64)*];
                            let d = caller.data();
                            d.shared.kernel.lock().deny(d.pid, $num, &args[1..]) as $ret
                        })?;
                }
            )*
            Ok(())
        }
    };
}

tidemark_abi::for_each_hostcall!(link_catalogue);

/// [`ProcData::count_local`], for callers holding a borrow of another field.
pub(crate) fn count_local(pid: Pid, uncounted: &mut u64, k: &mut Kernel) {
    if *uncounted > 0 {
        k.count_hostcalls(pid, std::mem::take(uncounted));
    }
}

/// Answers a local hostcall ([`is_local`]) without the kernel lock, from
/// the process's copy of its capability table, refreshed when the kernel's
/// table has changed since. The call is counted here and handed to the
/// kernel at the process's next safe point or kernel call
/// ([`ProcData::count_local`]), so the path is a counter, one load and
/// the table lookup.
#[inline(always)]
fn local(d: &mut ProcData, number: u16, args: &[i64]) -> i64 {
    d.uncounted += 1;
    if d.caps_version.load(Ordering::Acquire) != d.caps_seen {
        sync_local(d);
    }
    let time = d.time;
    answer_local(&d.caps, d.pid, number, args, || time.now()).unwrap_or(0)
}

/// Takes a fresh copy of the table if it changed, and hands the count of
/// local hostcalls to the kernel.
#[cold]
#[inline(never)]
fn sync_local(d: &mut ProcData) {
    let mut k = d.shared.kernel.lock();
    let version = d.caps_version.load(Ordering::Acquire);
    if version != d.caps_seen {
        // Changes happen only under the lock: the copy matches `version`.
        d.caps_seen = version;
        d.caps = k
            .process(d.pid)
            .map_or_else(CapTable::default, |p| p.caps.clone());
    }
    count_local(d.pid, &mut d.uncounted, &mut k);
}

/// The first try at a hostcall, before any future exists: most calls end
/// here (an answer, or an exit), and only a call that must wait goes on to
/// [`parked`]. Keeping the common case out of the async state machine keeps
/// the copying path's per-frame cost what a plain host function pays.
#[inline]
fn first_try(
    caller: &mut Caller<'_, ProcData>,
    number: u16,
    args: &[i64],
) -> Result<wasmtime::Result<i64>, (Wait, u64)> {
    let (outcome, remaining, attached) = call(caller, number, args);
    match outcome {
        Outcome::Return(v) => {
            if let Some(a) = attached {
                map_window(caller, a.descriptor);
            }
            Ok(Ok(v))
        }
        Outcome::Exit(code) => Ok(Err(wasmtime::Error::new(Stop::Exit(code)))),
        Outcome::Block(w) => Err((w, remaining)),
    }
}

/// Runs a hostcall the kernel answered `Block` for: parks the process's
/// fiber as it asks, and retries when woken.
async fn parked(
    caller: &mut Caller<'_, ProcData>,
    number: u16,
    args: &[i64],
    (mut wait, mut remaining): (Wait, u64),
) -> wasmtime::Result<i64> {
    let mut spins = 0;
    loop {
        match wait {
            Wait::Yield => {
                caller.data_mut().settle(false);
                yield_now().await;
                return Ok(0);
            }
            Wait::Until(_) => {
                caller.data_mut().settle(true);
                let deadline = Instant::now() + Duration::from_nanos(remaining);
                let (control, timers) = waits(caller.data());
                while Instant::now() < deadline {
                    if let Some(stop) = control.stop_reason() {
                        return Err(stop);
                    }
                    control.signal.wait(Some(deadline), &timers).await;
                    crate::proc::serve_memory(&mut *caller);
                }
                return Ok(0);
            }
            Wait::Readable(_) | Wait::Writable(_) | Wait::Package | Wait::Select(_) => {
                let d = caller.data_mut();
                d.settle(true);
                // The other side is usually mid-hostcall on another core:
                // retry a few times before paying for a park and a wake-up,
                // unless another process waits for this worker. Busy-wait
                // rather than yield: a yield can hand the worker to a
                // compute-bound guest for a whole slice.
                if spins < SPIN_RETRIES && !d.shared.sched.others_ready() {
                    spins += 1;
                    for _ in 0..SPIN_LOOPS {
                        std::hint::spin_loop();
                    }
                } else {
                    // A select with a deadline retries once it passes (and answers `Empty`).
                    let deadline = matches!(wait, Wait::Select(Some(_)))
                        .then(|| Instant::now() + Duration::from_nanos(remaining.max(1)));
                    let (control, timers) = waits(d);
                    control.signal.wait(deadline, &timers).await;
                    if let Some(stop) = control.stop_reason() {
                        return Err(stop);
                    }
                    crate::proc::serve_memory(&mut *caller);
                }
            }
        }
        match first_try(caller, number, args) {
            Ok(done) => return done,
            Err(blocked) => (wait, remaining) = blocked,
        }
    }
}

/// What a parked process waits with: its control (signal, stop reasons) and the timers.
fn waits(d: &ProcData) -> (Arc<Control>, Arc<Timers>) {
    (d.control.clone(), d.shared.sched.timers().clone())
}

/// One try at a hostcall under the kernel lock: the outcome, the time left
/// for a timed wait, and this call's own attachment, if it made one. Effects
/// for other processes are carried out here.
fn call(
    caller: &mut Caller<'_, ProcData>,
    number: u16,
    args: &[i64],
) -> (Outcome, u64, Option<tidemark_kernel::Attached>) {
    let memory = caller.data().memory;
    let (mem, data): (&mut [u8], &mut ProcData) = match memory {
        Some(m) => m.data_and_store_mut(&mut *caller),
        None => (&mut [], caller.data_mut()),
    };
    let pid = data.pid;
    let (outcome, mut effects, remaining) = {
        let mut k = data.shared.kernel.lock();
        count_local(pid, &mut data.uncounted, &mut k);
        let o = k.hostcall(pid, number, args, mem);
        let remaining = match o {
            Outcome::Block(Wait::Until(t) | Wait::Select(Some(t))) => t.saturating_sub(k.now()),
            _ => 0,
        };
        (o, k.take_effects(), remaining)
    };
    // This call's own attachment is mapped here, where its memory is at hand.
    let attached = effects
        .attached
        .iter()
        .position(|a| a.pid == pid)
        .map(|i| effects.attached.swap_remove(i));
    if !effects.is_empty() {
        data.shared.apply(effects);
    }
    (outcome, remaining, attached)
}

/// After a successful `chan_attach`: maps the ring into the caller's memory
/// and patches the window's address into the descriptor it was given. Any
/// failure leaves `mapped_at` 0, and the SDK uses the copying hostcalls.
fn map_window(caller: &mut Caller<'_, ProcData>, desc_ptr: u32) {
    use tidemark_abi::{ChannelDescriptor, Wire};
    let shared = caller.data().shared.clone();
    let (Some(windows), Some(memory)) = (shared.windows.as_ref(), caller.data().memory) else {
        return;
    };
    let pid = caller.data().pid;
    let at = desc_ptr as usize..(desc_ptr as usize).saturating_add(ChannelDescriptor::SIZE);
    let Some(mut desc) = memory
        .data(&*caller)
        .get(at.clone())
        .map(ChannelDescriptor::decode)
    else {
        return;
    };
    // The ring's region, when its arena can be mapped page by page.
    let mappable = |k: &Kernel| -> Option<tidemark_kernel::arena::Region> {
        let c = k
            .channel(desc.channel)
            .filter(|c| c.attachments.iter().any(|a| a.pid == pid))?;
        let r = *k.arenas().region(c.region)?;
        let memfd = k
            .arenas()
            .arena(r.arena)?
            .backing()
            .as_any()
            .is::<MemfdBacking>();
        (memfd && r.offset % window::PAGE == 0 && r.len % window::PAGE == 0).then_some(r)
    };
    let Some(region) = mappable(&shared.kernel.lock()) else {
        return;
    };
    let base = memory.data_ptr(&*caller) as usize;
    let wasm_addr = match windows.existing(base, region.id) {
        Some(w) => w.wasm_addr,
        None => {
            let pages = window::window_pages(region.len);
            caller.data_mut().growing_window = true;
            let grown = memory.grow(&mut *caller, pages);
            caller.data_mut().growing_window = false;
            let Ok(old) = grown else { return };
            caller.data_mut().window_bytes += pages as usize * 65536;
            match u32::try_from(old * 65536) {
                Ok(a) => a,
                Err(_) => return,
            }
        }
    };
    // Map under the kernel lock, and only if the attachment is still there:
    // a revoke in between would otherwise leave a window without a capability.
    let mapped = {
        let k = shared.kernel.lock();
        match mappable(&k).filter(|r| r.id == region.id) {
            Some(r) => {
                let arena = k.arenas().arena(r.arena).expect("region's arena");
                let backing = arena
                    .backing()
                    .as_any()
                    .downcast_ref::<MemfdBacking>()
                    .expect("checked mappable");
                let w = Window {
                    pid,
                    region: r.id,
                    memory: base,
                    wasm_addr,
                    len: r.len,
                    arena: r.arena,
                    offset: r.offset,
                    mapped: true,
                };
                windows.map(backing, w).is_ok()
            }
            None => false,
        }
    };
    if mapped {
        desc.mapped_at = wasm_addr;
        if let Some(out) = memory.data_mut(&mut *caller).get_mut(at) {
            desc.encode(out);
        }
    }
}
