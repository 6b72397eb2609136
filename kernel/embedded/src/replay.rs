//! `tidemark replay` on wasmi: the recorded module runs alone, each of its
//! hostcalls answered from the recording ([`tidemark_kernel::record::Replay`]).

use alloc::format;
use alloc::string::String;
use core::fmt;

use tidemark_abi::ENTRY_EXPORT;
use tidemark_kernel::protocol::{Recording, ReplayEnd};
use tidemark_kernel::record::{Replay, Step};
use wasmi::{Caller, Engine, Linker, Memory, Module, Store};

/// Fuel a replay may burn (about as many wasm instructions): a guest that
/// loops without hostcalls past it is reported, not waited for.
pub const REPLAY_FUEL: u64 = 1 << 40;

struct Data {
    replay: Replay,
    memory: Option<Memory>,
}

/// Why the guest stopped running: a host error carries it out of wasmi.
#[derive(Debug)]
enum Halt {
    Exit(i32),
    Stopped,
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl wasmi::errors::HostError for Halt {}

/// Replays `rec` with `module` (the recorded one, or another build of it):
/// how far it matched, and where it first diverged. Time is not measured
/// with `clock` (ns): the entry point's run, not the compile before it.
pub fn replay(
    module: &[u8],
    rec: &Recording,
    clock: fn() -> u64,
) -> Result<(usize, ReplayEnd, u64), String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    // The same lowering of atomics as a board's (see `atomics`).
    let lowered = crate::atomics::lower_atomics(module)?;
    let module =
        Module::new(&engine, lowered.as_deref().unwrap_or(module)).map_err(|e| format!("{e}"))?;
    let mut linker = Linker::<Data>::new(&engine);
    crate::link_each(&mut linker, |caller: &mut Caller<'_, Data>, h, args| {
        let number = h.number;
        let memory = caller.data().memory;
        let (mem, data): (&mut [u8], &mut Data) = match memory {
            Some(m) => m.data_and_store_mut(&mut *caller),
            None => (&mut [], caller.data_mut()),
        };
        match data.replay.call(number, args, mem) {
            Ok(Step::Return(v)) => Ok(v),
            Ok(Step::Exit(code)) => Err(wasmi::Error::host(Halt::Exit(code))),
            Err(_) => Err(wasmi::Error::host(Halt::Stopped)),
        }
    })
    .map_err(|e| format!("{e}"))?;
    let data = Data {
        replay: Replay::new(rec),
        memory: None,
    };
    let mut store = Store::new(&engine, data);
    store.set_fuel(REPLAY_FUEL).map_err(|e| format!("{e}"))?;
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("{e}"))?;
    store.data_mut().memory = instance.get_memory(&store, "memory");
    let entry = instance
        .get_typed_func::<(), ()>(&store, ENTRY_EXPORT)
        .map_err(|e| format!("`{ENTRY_EXPORT}`: {e}"))?;
    let started = clock();
    let result = entry.call(&mut store, ());
    let ran_ns = clock().saturating_sub(started);
    let d = store.data();
    let end = d.replay.end(match result {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<Halt>() {
            Some(Halt::Exit(code)) => Ok(*code),
            _ => Err(format!("{e}")),
        },
    });
    Ok((d.replay.replayed(), end, ran_ns))
}
