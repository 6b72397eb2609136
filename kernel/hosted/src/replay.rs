//! `tidemark replay` on wasmtime: the recorded module runs alone, each of
//! its hostcalls answered from the recording
//! ([`tidemark_kernel::record::Replay`]); the wasmi twin is
//! `tidemark_embedded::replay`, and only the engine calls differ.

use tidemark_abi::{ENTRY_EXPORT, IMPORT_MODULE, ValType as Abi};
use tidemark_kernel::protocol::{Recording, ReplayEnd};
use tidemark_kernel::record::{Replay, Step};
use wasmtime::{Caller, Engine, FuncType, Linker, Memory, Module, Store, Val, ValType};

/// Fuel a replay may burn, as on wasmi.
pub const REPLAY_FUEL: u64 = 1 << 40;

struct Data {
    replay: Replay,
    memory: Option<Memory>,
    exit: Option<i32>,
}

/// Replays `rec` with `module` on wasmtime: how many calls it went
/// through, how it ended, and the entry point's run time by `clock` (ns).
pub fn replay(
    module: &[u8],
    rec: &Recording,
    clock: fn() -> u64,
) -> Result<(usize, ReplayEnd, u64), String> {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).map_err(|e| e.to_string())?;
    let module = Module::new(&engine, module).map_err(|e| format!("{e:#}"))?;
    let mut linker = Linker::<Data>::new(&engine);
    let ty = |t: Abi| match t {
        Abi::I32 => ValType::I32,
        Abi::I64 => ValType::I64,
    };
    for h in tidemark_abi::HOSTCALLS {
        let func_ty = FuncType::new(&engine, h.params.iter().map(|p| ty(p.ty)), [ty(h.result)]);
        let (number, wide) = (h.number, h.result == Abi::I64);
        linker
            .func_new(
                IMPORT_MODULE,
                h.name,
                func_ty,
                move |mut caller: Caller<'_, Data>, params, results| {
                    let args: Vec<i64> = params
                        .iter()
                        .map(|p| match p {
                            Val::I32(v) => i64::from(*v),
                            Val::I64(v) => *v,
                            _ => 0,
                        })
                        .collect();
                    let memory = caller.data().memory;
                    let (mem, data): (&mut [u8], &mut Data) = match memory {
                        Some(m) => m.data_and_store_mut(&mut caller),
                        None => (&mut [], caller.data_mut()),
                    };
                    let v = match data.replay.call(number, &args, mem) {
                        Ok(Step::Return(v)) => v,
                        Ok(Step::Exit(code)) => {
                            data.exit = Some(code);
                            return Err(wasmtime::Error::msg("exit"));
                        }
                        Err(_) => return Err(wasmtime::Error::msg("replay stopped")),
                    };
                    results[0] = if wide {
                        Val::I64(v)
                    } else {
                        Val::I32(v as i32)
                    };
                    Ok(())
                },
            )
            .map_err(|e| e.to_string())?;
    }
    let data = Data {
        replay: Replay::new(rec),
        memory: None,
        exit: None,
    };
    let mut store = Store::new(&engine, data);
    store.set_fuel(REPLAY_FUEL).map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| format!("{e:#}"))?;
    store.data_mut().memory = instance.get_memory(&mut store, "memory");
    let entry = instance
        .get_typed_func::<(), ()>(&mut store, ENTRY_EXPORT)
        .map_err(|e| format!("`{ENTRY_EXPORT}`: {e}"))?;
    let started = clock();
    let result = entry.call(&mut store, ());
    let ran_ns = clock().saturating_sub(started);
    let d = store.data();
    let end = d.replay.end(match (result, d.exit) {
        (_, Some(code)) => Ok(code),
        (Ok(()), None) => Ok(0),
        (Err(e), None) => Err(crate::reload::trap(&e).to_string()),
    });
    Ok((d.replay.replayed(), end, ran_ns))
}
