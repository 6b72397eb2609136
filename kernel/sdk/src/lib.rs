//! The Tidemark guest SDK: safe wrappers for every hostcall.
//!
//! A guest is a `no_std` `cdylib` built for `wasm32-unknown-unknown`:
//!
//! ```ignore
//! #![no_std]
//! use tidemark_sdk::{channel::Channel, info};
//!
//! tidemark_sdk::main!(run, classes: log, channel);
//!
//! fn run() -> Result<(), tidemark_sdk::Error> {
//!     let out = Channel::lookup("out")?.writer()?;
//!     out.write(b"hello")?;
//!     info!("sent {} bytes", 5);
//!     Ok(())
//! }
//! ```
//!
//! Channels are reached through [`channel::Reader`] and [`channel::Writer`].
//! Today every frame goes through the copying hostcalls; the descriptor
//! returned at attach time says whether the ring is also mapped into the
//! guest's memory, so an in-place path can take over without changing guest
//! code.
#![no_std]
#![warn(missing_docs)]

pub use tidemark_abi as abi;
pub use tidemark_abi::{Backpressure, Error, Level, Rights};

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "services")]
pub mod bus;
pub mod cap;
pub mod channel;
#[cfg(feature = "services")]
pub mod client;
pub mod display;
#[cfg(feature = "services")]
pub mod fs;
#[cfg(feature = "services")]
pub mod kv;
#[cfg(feature = "services")]
pub mod service;
#[cfg(feature = "services")]
pub use tidemark_svc as svc;
pub mod log;
pub mod process;
pub mod shm;
pub mod time;

/// The global allocator of guests built with the `alloc` feature.
#[cfg(all(feature = "alloc", target_arch = "wasm32", not(test)))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Raw imports, one per catalogue entry. Prefer the safe wrappers.
pub mod sys {
    macro_rules! declare_imports {
        ($( $(#[doc = $doc:literal])* $num:literal $class:ident $name:ident ( $( $arg:ident : $ty:ident ),* ) -> $ret:ident ; )*) => {
            #[link(wasm_import_module = "tidemark")]
            unsafe extern "C" {
                $( $(#[doc = $doc])* pub fn $name( $( $arg: $ty ),* ) -> $ret; )*
            }
        };
    }
    tidemark_abi::for_each_hostcall!(declare_imports);

    macro_rules! declare_dispatch {
        ($( $(#[doc = $doc:literal])* $num:literal $class:ident $name:ident ( $( $arg:ident : $ty:ident ),* ) -> $ret:ident ; )*) => {
            /// Calls hostcall `number` with `args` (each truncated to its
            /// parameter's type; missing ones are 0); `None` for a number
            /// the catalogue lacks. For test guests that sweep the whole
            /// catalogue: the arguments are whatever the caller chose.
            ///
            /// # Safety
            /// Pointer arguments are the caller's to make valid (or not).
            pub unsafe fn call(number: u16, args: &[i64]) -> Option<i64> {
                match number {
                    $( $num => {
                        let mut at = 0usize;
                        #[allow(unused_mut, unused_variables)]
                        let mut next = || {
                            let v = args.get(at).copied().unwrap_or(0);
                            at += 1;
                            v
                        };
                        // SAFETY: the caller's, as documented.
                        Some(unsafe { $name( $( { let _ = stringify!($arg); next() as $ty } ),* ) } as i64)
                    } )*
                    _ => None,
                }
            }
        };
    }
    tidemark_abi::for_each_hostcall!(declare_dispatch);
}

/// Result of SDK calls.
pub type Result<T> = core::result::Result<T, Error>;

/// Turns a hostcall's return value into a `Result`.
pub fn check(ret: i32) -> Result<u32> {
    if ret >= 0 {
        Ok(ret as u32)
    } else {
        Err(Error::from_code(ret as i64).unwrap_or(Error::InvalidArgument))
    }
}

/// What an entry function may return.
pub trait ExitCode {
    /// The process exit code.
    fn code(self) -> i32;
}

impl ExitCode for () {
    fn code(self) -> i32 {
        0
    }
}

impl ExitCode for i32 {
    fn code(self) -> i32 {
        self
    }
}

impl<T: ExitCode> ExitCode for Result<T> {
    fn code(self) -> i32 {
        match self {
            Ok(v) => v.code(),
            Err(e) => {
                log::write(Level::Error, format_args!("exiting on error: {e}"));
                e.code()
            }
        }
    }
}

/// Copies a `&str` into a byte array at compile time (for manifest sections).
#[doc(hidden)]
pub const fn __bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Declares the guest's entry point and the capability classes it asks for.
///
/// `main!(run)` asks for nothing but `core`; `main!(run, classes: log, channel)`
/// embeds a `tidemark.manifest` custom section asking for those classes. The
/// entry function returns `()`, an `i32` exit code, or a `Result` of either.
#[macro_export]
macro_rules! main {
    ($f:path $(, classes: $($class:ident),* )? $(,)?) => {
        const __TIDEMARK_MANIFEST_TEXT: &str = concat!("classes=" $($(, stringify!($class), ",")*)?, "\n");
        #[used]
        #[unsafe(link_section = "tidemark.manifest")]
        static __TIDEMARK_MANIFEST: [u8; __TIDEMARK_MANIFEST_TEXT.len()] =
            $crate::__bytes::<{ __TIDEMARK_MANIFEST_TEXT.len() }>(__TIDEMARK_MANIFEST_TEXT);

        #[unsafe(no_mangle)]
        pub extern "C" fn tidemark_main() {
            let code = $crate::ExitCode::code($f());
            $crate::process::exit(code)
        }
    };
}

#[cfg(all(target_arch = "wasm32", not(test), feature = "panic-handler"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log::write(Level::Error, format_args!("panic: {info}"));
    core::arch::wasm32::unreachable()
}
