//! `tidemark image`: build a board's kernel image and show what it is made
//! of, section by section (the sizes firmware developers budget against).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::firmware::Variant;

/// Allocated bytes of an image by kind of section (an ELF file's, or a
/// WebAssembly module's for the wasm-js board: its code section is the
/// text, its data segments the data, every other section the rodata, its
/// zero-filled initial memory the bss, and the stack below `__stack_pointer`'s
/// initial value the stack).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Sections {
    /// The ELF file.
    pub path: PathBuf,
    /// Code.
    pub text: u64,
    /// Read-only data (the boot bundle's modules live here).
    pub rodata: u64,
    /// Initialised data.
    pub data: u64,
    /// Zeroed data.
    pub bss: u64,
    /// Stacks reserved by the linker script (guard included).
    pub stack: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// Reads the section headers of a little-endian ELF32 file, or the
/// sections of a WebAssembly module.
pub fn sections(path: &Path) -> Result<Sections, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.starts_with(b"\0asm") {
        return wasm_sections(path, &b)
            .ok_or_else(|| format!("{}: a truncated WebAssembly module", path.display()));
    }
    let bad = || format!("{}: not a little-endian ELF32 file", path.display());
    if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err(bad());
    }
    let (shoff, shentsize, shnum, shstrndx) = (
        u32_at(&b, 0x20),
        u16_at(&b, 0x2e),
        u16_at(&b, 0x30),
        u16_at(&b, 0x32),
    );
    let (Some(shoff), Some(shentsize), Some(shnum), Some(shstrndx)) =
        (shoff, shentsize, shnum, shstrndx)
    else {
        return Err(bad());
    };
    let header = |i: u64| -> Option<(u64, u64, u64, u64)> {
        let at = (shoff + i * shentsize) as usize;
        // name, flags, offset, size
        Some((
            u32_at(&b, at)?,
            u32_at(&b, at + 8)?,
            u32_at(&b, at + 16)?,
            u32_at(&b, at + 20)?,
        ))
    };
    let (_, _, strtab, _) = header(shstrndx).ok_or_else(bad)?;
    let mut s = Sections {
        path: path.to_path_buf(),
        ..Sections::default()
    };
    for i in 0..shnum {
        let (name_at, flags, _, size) = header(i).ok_or_else(bad)?;
        const ALLOC: u64 = 2;
        if flags & ALLOC == 0 {
            continue;
        }
        let start = (strtab + name_at) as usize;
        let name = b
            .get(start..)
            .and_then(|t| t.split(|c| *c == 0).next())
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let slot = match name.as_ref() {
            n if n.starts_with(".text") => &mut s.text,
            n if n.starts_with(".rodata") || n.starts_with(".srodata") => &mut s.rodata,
            n if n.starts_with(".data") || n.starts_with(".sdata") => &mut s.data,
            n if n.starts_with(".bss") || n.starts_with(".sbss") => &mut s.bss,
            ".stack" => &mut s.stack,
            _ => &mut s.rodata,
        };
        *slot += size;
    }
    Ok(s)
}

/// An unsigned LEB128 number at `*at`, moving past it.
fn leb(b: &[u8], at: &mut usize) -> Option<u64> {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// A module's sections by kind (see [`Sections`]).
fn wasm_sections(path: &Path, b: &[u8]) -> Option<Sections> {
    const CODE: u8 = 10;
    const DATA: u8 = 11;
    const MEMORY: u8 = 5;
    const GLOBAL: u8 = 6;
    const I32_CONST: u8 = 0x41;
    let mut s = Sections {
        path: path.to_path_buf(),
        ..Sections::default()
    };
    let mut at = 8;
    let mut memory = 0;
    while at < b.len() {
        let id = b[at];
        at += 1;
        let size = leb(b, &mut at)?;
        let body = at;
        at = at.checked_add(usize::try_from(size).ok()?)?;
        if at > b.len() {
            return None;
        }
        match id {
            CODE => s.text += size,
            DATA => s.data += size,
            MEMORY => {
                let mut p = body;
                if leb(b, &mut p)? > 0 {
                    let _flags = leb(b, &mut p)?;
                    memory = leb(b, &mut p)? * 65536;
                }
                s.rodata += size;
            }
            GLOBAL => {
                // The linker's first global is `__stack_pointer`: a mutable
                // i32 whose initial value is the top of a stack placed first.
                let mut p = body;
                if leb(b, &mut p)? > 0 && b.get(p..p + 3)? == [0x7f, 1, I32_CONST] {
                    p += 3;
                    s.stack = leb(b, &mut p)?;
                }
                s.rodata += size;
            }
            _ => s.rodata += size,
        }
    }
    s.bss = memory.saturating_sub(s.stack + s.data);
    Some(s)
}

impl Sections {
    fn human(&self) -> String {
        let size = tidemark_shell::output::size;
        format!(
            "image     {}\ntext      {}\nrodata    {}\ndata      {}\nbss       {}\nstack     {} (reserved)",
            self.path.display(),
            size(self.text),
            size(self.rodata),
            size(self.data),
            size(self.bss),
            size(self.stack)
        )
    }
}

/// `tidemark image`.
pub fn run(
    board: crate::Board,
    guests: bool,
    bare_wasmi: bool,
    json: bool,
) -> Result<ExitCode, String> {
    if board.manifest().build.is_none() {
        return Err(format!(
            "board `{}` has no kernel image of its own (it runs inside the workbench)",
            board.name()
        ));
    }
    let variant = if bare_wasmi {
        Variant::BareWasmi
    } else {
        Variant::Kernel { guests }
    };
    let s = sections(&crate::firmware::build(board, variant)?)?;
    if json {
        println!("{}", serde_json::to_string(&s).map_err(|e| e.to_string())?);
    } else {
        println!("{}", s.human());
    }
    Ok(ExitCode::SUCCESS)
}
