//! The ABI reference page (`docs/abi.md`), generated from the catalogue.

use core::fmt::{self, Write};

use crate::{Class, Error, HOSTCALLS, Wire};

/// Writes the ABI reference as Markdown.
pub fn write_reference(out: &mut impl Write) -> fmt::Result {
    writeln!(
        out,
        "# Tidemark guest ABI reference (version {})",
        crate::ABI_VERSION
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "<!-- Generated from kernel/abi by `TIDEMARK_BLESS=1 cargo test -p tidemark-abi`; do not edit. -->"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Every hostcall is imported from the wasm module `{}`. Arguments are `i32`/`i64`; a \
         negative result is an error code. A guest exports `{}` as its entry point and may carry \
         a `{}` custom section (`classes=log,channel`) asking for capability classes; hostcalls \
         of classes it is not granted return `PermissionDenied`.",
        crate::IMPORT_MODULE,
        crate::ENTRY_EXPORT,
        crate::MANIFEST_SECTION
    )?;
    for class in Class::ALL {
        writeln!(out)?;
        writeln!(out, "## Class `{}`", class.name())?;
        writeln!(out)?;
        writeln!(out, "| # | hostcall | returns | description |")?;
        writeln!(out, "|---|---|---|---|")?;
        for h in HOSTCALLS.iter().filter(|h| h.class == class) {
            write!(out, "| {} | `{}(", h.number, h.name)?;
            for (i, p) in h.params.iter().enumerate() {
                write!(
                    out,
                    "{}{}: {}",
                    if i > 0 { ", " } else { "" },
                    p.name,
                    p.ty.name()
                )?;
            }
            writeln!(out, ")` | `{}` | {} |", h.result.name(), h.doc.trim())?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Error codes")?;
    writeln!(out)?;
    writeln!(out, "| code | name | meaning |")?;
    writeln!(out, "|---|---|---|")?;
    for e in Error::ALL {
        writeln!(out, "| {} | `{}` | {} |", e.code(), e.name(), e.describe())?;
    }
    writeln!(out)?;
    writeln!(out, "## Handles, rights and wire types")?;
    writeln!(out)?;
    writeln!(
        out,
        "A handle is a non-negative `i32`: slot index in bits 0-15, generation (1-32767) in bits \
         16-30. Revocation bumps the generation, so every copy of a revoked handle fails with \
         `Revoked`; generations never wrap (a slot that has used them all is retired), so a \
         stale handle never names a live entry again. Rights: `r` read = 1, `w` write = 2, \
         `g` grant = 4, `d` delete = 8. Backpressure: park = 0, drop = 1. Roles: reader = 1, writer = 2. I/O flags: \
         `NONBLOCK` = {}. Channel flags (`chan_create`): `DROP` = {}, `SINGLE` = {}.",
        crate::io_flags::NONBLOCK,
        crate::chan_flags::DROP,
        crate::chan_flags::SINGLE,
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Structures written by hostcalls are little-endian `u32` words:"
    )?;
    writeln!(out)?;
    writeln!(out, "| type | bytes | words |")?;
    writeln!(out, "|---|---|---|")?;
    writeln!(
        out,
        "| `ChannelDescriptor` | {} | channel, role, endpoint, arena, offset, len, mapped_at, backpressure |",
        crate::ChannelDescriptor::SIZE
    )?;
    writeln!(
        out,
        "| `ShmRegion` | {} | arena, offset, len, mapped_at |",
        crate::ShmRegion::SIZE
    )?;
    writeln!(
        out,
        "| `DisplayInfo` | {} | width, height, stride, format (1 XRGB8888: a little-endian `u32` 0x00RRGGBB per pixel), presents |",
        crate::DisplayInfo::SIZE
    )?;
    writeln!(
        out,
        "| `FrameMeta` | {} | writer, seq, len, pid |",
        crate::FrameMeta::SIZE
    )?;
    writeln!(
        out,
        "| `CapInfo` | {} | kind (1 channel, 2 region), rights, object, generation |",
        crate::CapInfo::SIZE
    )?;
    writeln!(
        out,
        "| `ChildExit` | {} | pid, kind (0 exited, 1 trapped, 2 killed, 3 failed), code |",
        crate::ChildExit::SIZE
    )?;
    Ok(())
}
