//! The hostcall catalogue: declared once, expanded everywhere.

/// Invokes `$m!` with the whole hostcall catalogue.
///
/// Each entry reads `NUMBER Class name(arg: type, ...) -> type;` with its
/// rustdoc. Types are wasm value types (`i32`, `i64`). The kernel's engines
/// expand it into linker entries, the SDK into `extern` imports, and this
/// crate into [`HOSTCALLS`], from which `docs/abi.md` is generated.
#[macro_export]
macro_rules! for_each_hostcall {
    ($m:ident) => {
        $m! {
            /// Checks that `handle` is live and carries at least `rights`; returns 0. The cheapest capability-checked call (used to measure hostcall overhead).
            0 Core cap_check(handle: i32, rights: i32) -> i32;
            /// Looks up a capability granted to this process under `name`; returns its handle.
            1 Core cap_lookup(name_ptr: i32, name_len: i32) -> i32;
            /// Writes the `CapInfo` of `handle` at `out_ptr`; returns 0.
            2 Core cap_info(handle: i32, out_ptr: i32) -> i32;
            /// Removes `handle` from this process's table (and revokes what was delegated from it).
            3 Core cap_drop(handle: i32) -> i32;
            /// Gives process `pid` a copy of `handle` narrowed to `rights`, under `name`. Needs the `g` right.
            4 Core cap_delegate(handle: i32, pid: i32, rights: i32, name_ptr: i32, name_len: i32) -> i32;
            /// Revokes every capability delegated from `handle` (transitively); `handle` itself stays. Needs `g`.
            5 Core cap_revoke(handle: i32) -> i32;
            /// Returns this process's pid.
            6 Core proc_self() -> i32;
            /// Copies up to `cap` bytes of the spawn arguments to `ptr`; returns their full length.
            7 Core proc_args(ptr: i32, cap: i32) -> i32;
            /// Ends this process with `code`. Does not return.
            8 Core proc_exit(code: i32) -> i32;
            /// Gives up the rest of this time slice.
            9 Core yield_now() -> i32;
            /// Copies up to `cap` bytes of the state the previous instance of this process handed over at its last hot reload (its `tidemark_save` export) to `ptr`; returns the full length (0 when there is none).
            10 Core proc_state(ptr: i32, cap: i32) -> i32;
            /// Writes a log line (`level` 1 = error ... 5 = trace) of UTF-8 text.
            16 Log log(level: i32, ptr: i32, len: i32) -> i32;
            /// Nanoseconds since boot.
            24 Time time_now() -> i64;
            /// Sleeps for `nanos` nanoseconds (parks the process).
            25 Time sleep(nanos: i64) -> i32;
            /// Creates a channel with a data ring of `data_bytes` and a frame ring of `frames` (both rounded up to powers of two); `flags` (`chan_flags`): `DROP` (1) discards frames written to a full ring instead of parking the writer, `SINGLE` (2) makes it a one-writer, one-reader channel (no writer lock; a second process attaching in either role gets `Exists`); returns a handle with all rights.
            32 Channel chan_create(data_bytes: i32, frames: i32, flags: i32) -> i32;
            /// Attaches as `role` (1 reader, 2 writer); writes a `ChannelDescriptor` at `out_ptr` (0 to skip); returns 0.
            33 Channel chan_attach(handle: i32, role: i32, out_ptr: i32) -> i32;
            /// Detaches `role`.
            34 Channel chan_detach(handle: i32, role: i32) -> i32;
            /// Writes one frame of `len` bytes; parks when full under `Park` unless `flags` has `NONBLOCK`; returns `len`.
            35 Channel chan_write(handle: i32, ptr: i32, len: i32, flags: i32) -> i32;
            /// Reads one frame into `ptr[..cap]` and its `FrameMeta` at `meta_ptr` (0 to skip); parks when empty unless `NONBLOCK`; returns the frame length.
            36 Channel chan_read(handle: i32, ptr: i32, cap: i32, meta_ptr: i32, flags: i32) -> i32;
            /// Skips every frame pending for this process's reader; returns how many.
            37 Channel chan_drain(handle: i32) -> i32;
            /// Deletes the channel (needs `d`); every holder then gets `Closed`.
            38 Channel chan_delete(handle: i32) -> i32;
            /// In-place path: parks this process, attached as `role`, until the ring's doorbell word differs from `seen` (returns at once if it already does). Set the ring's waiter bit and retry the operation once before calling it.
            39 Channel chan_wait(handle: i32, role: i32, seen: i32) -> i32;
            /// In-place path: wakes the processes parked on the channel's `role` side (1 readers, 2 writers); call it when a ring operation reports that side's waiter bit was set.
            40 Channel chan_notify(handle: i32, role: i32) -> i32;
            /// Waits for a frame on any of `count` (at most 64) channel handles, an `i32` array at `handles_ptr`, each attached as a reader; returns the index of the first with a frame pending. `deadline` is a `time_now` value to give up at (`Empty` then), or negative to wait as long as it takes; 0 polls.
            41 Channel chan_select(handles_ptr: i32, count: i32, deadline: i64) -> i32;
            /// Allocates a shared-memory region of `size` bytes aligned to `align`; returns a handle with all rights.
            48 Shm shm_alloc(size: i32, align: i32) -> i32;
            /// Attaches the region; writes its `ShmRegion` at `out_ptr` (0 to skip); returns 0.
            49 Shm shm_attach(handle: i32, out_ptr: i32) -> i32;
            /// Detaches the region.
            50 Shm shm_detach(handle: i32) -> i32;
            /// Copies `len` bytes at `offset` of the region into `ptr` (needs `r`).
            51 Shm shm_read(handle: i32, offset: i32, ptr: i32, len: i32) -> i32;
            /// Copies `len` bytes from `ptr` to `offset` of the region (needs `w`).
            52 Shm shm_write(handle: i32, offset: i32, ptr: i32, len: i32) -> i32;
            /// Writes the `DisplayInfo` (width, height, stride, format, presents) of the board's framebuffer at `out_ptr`, when `handle` names it (granted as `display`); `InvalidHandle` for any other region.
            53 Shm display_info(handle: i32, out_ptr: i32) -> i32;
            /// Shows what the framebuffer region `handle` holds now (needs `w`): the board scans it out (QEMU's virtio-gpu) and `screenshot` sees it; returns how many presents the display has had.
            54 Shm display_present(handle: i32) -> i32;
            /// Spawns package `name` from the package cache with `args`; returns the child's pid.
            64 Process proc_spawn(name_ptr: i32, name_len: i32, args_ptr: i32, args_len: i32) -> i32;
            /// Spawns package `name` as `proc_spawn` does, granting the child, before its first instruction, copies of capabilities this process holds with the `g` right: `grants_len` bytes at `grants_ptr` of records `handle: i32, rights: u32, name_len: u32, name` (little-endian, packed). Nothing is spawned when a grant is refused.
            67 Process proc_spawn_caps(name_ptr: i32, name_len: i32, args_ptr: i32, args_len: i32, grants_ptr: i32, grants_len: i32) -> i32;
            /// From now on, when a child of this process ends, the kernel writes a `ChildExit` frame on channel `handle` (needs `w`; a full channel drops the frame, counted); a negative `handle` stops it.
            68 Process proc_watch(handle: i32) -> i32;
            /// Kills child process `pid`.
            65 Process proc_kill(pid: i32) -> i32;
            /// Resolves package `name` to its SHA-256, written as 32 bytes at `hash_ptr`; returns the module's size. A package not in the cache but in the signed catalog is fetched from the package server, verified and cached first (the process parks meanwhile); spawn it by the hash's hex with `proc_spawn`. `NotFound` when no catalog lists it, `Unavailable` when the fetch or its verification failed.
            66 Process pkg_resolve(name_ptr: i32, name_len: i32, hash_ptr: i32) -> i32;
        }
    };
}

/// A wasm value type of a hostcall parameter or result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
}

impl ValType {
    /// WebAssembly text name.
    pub const fn name(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
        }
    }
}

/// One parameter of a hostcall.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub ty: ValType,
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct HostcallDesc {
    /// Stable number.
    pub number: u16,
    /// Import name.
    pub name: &'static str,
    /// Class a process must hold to get the real call instead of a `PermissionDenied` stub.
    pub class: crate::Class,
    /// Parameters.
    pub params: &'static [Param],
    /// Result type.
    pub result: ValType,
    /// Description.
    pub doc: &'static str,
}

#[doc(hidden)]
#[macro_export]
macro_rules! __abi_valtype {
    (i32) => {
        $crate::ValType::I32
    };
    (i64) => {
        $crate::ValType::I64
    };
}

macro_rules! declare_catalogue {
    ($( $(#[doc = $doc:literal])* $num:literal $class:ident $name:ident ( $( $arg:ident : $ty:ident ),* ) -> $ret:ident ; )*) => {
        /// Every hostcall, in number order.
        pub const HOSTCALLS: &[HostcallDesc] = &[
            $( HostcallDesc {
                number: $num,
                name: stringify!($name),
                class: crate::Class::$class,
                params: &[ $( Param { name: stringify!($arg), ty: __abi_valtype!($ty) } ),* ],
                result: __abi_valtype!($ret),
                doc: concat!($($doc),*),
            }, )*
        ];

        /// The class and parameter count of hostcall `number` (a jump table,
        /// for the kernel's dispatch).
        pub const fn signature(number: u16) -> Option<(crate::Class, usize)> {
            match number {
                $( $num => Some((crate::Class::$class, <[&str]>::len(&[$(stringify!($arg)),*]))), )*
                _ => None,
            }
        }

        /// Hostcall numbers, one constant per hostcall.
        #[allow(non_upper_case_globals, missing_docs)]
        pub mod nr {
            $( pub const $name: u16 = $num; )*
        }
    };
}

for_each_hostcall!(declare_catalogue);

/// Looks up a hostcall by import name.
pub fn hostcall(name: &str) -> Option<&'static HostcallDesc> {
    HOSTCALLS.iter().find(|h| h.name == name)
}
