//! The module manifest: a `tidemark.manifest` custom section naming the
//! capability classes a module asks for.

use tidemark_abi::{Class, Classes, MANIFEST_SECTION};

/// What a module declares about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ModuleManifest {
    /// Classes asked for (`Core` is implied).
    pub classes: Classes,
}

/// Why a module's bytes were refused before reaching an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Not a wasm binary (bad magic or version).
    NotWasm,
    /// A section runs past the end of the module.
    Truncated,
    /// The manifest is not UTF-8 `key=value` lines with known classes.
    BadManifest,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ManifestError::NotWasm => "not a wasm module (no `\\0asm` magic and version 1)",
            ManifestError::Truncated => "a section of the module runs past its end",
            ManifestError::BadManifest => {
                "its `tidemark.manifest` section is not `key=value` lines naming known classes"
            }
        })
    }
}

fn leb_u32(b: &[u8], at: &mut usize) -> Result<u32, ManifestError> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at).ok_or(ManifestError::Truncated)?;
        *at += 1;
        v |= u32::from(byte & 0x7F)
            .checked_shl(shift)
            .ok_or(ManifestError::Truncated)?;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ManifestError::Truncated)
}

/// Reads the manifest from a module's custom sections. A module without one
/// asks for `Core` only.
pub fn parse(module: &[u8]) -> Result<ModuleManifest, ManifestError> {
    if module.len() < 8 || &module[..4] != b"\0asm" || module[4..8] != [1, 0, 0, 0] {
        return Err(ManifestError::NotWasm);
    }
    let mut at = 8;
    let mut manifest = ModuleManifest {
        classes: Classes::CORE,
    };
    while at < module.len() {
        let id = module[at];
        at += 1;
        let len = leb_u32(module, &mut at)? as usize;
        let end = at
            .checked_add(len)
            .filter(|e| *e <= module.len())
            .ok_or(ManifestError::Truncated)?;
        if id == 0 {
            let mut p = at;
            let nlen = leb_u32(module, &mut p)? as usize;
            let name = module.get(p..p + nlen).ok_or(ManifestError::Truncated)?;
            if name == MANIFEST_SECTION.as_bytes() {
                let body = core::str::from_utf8(&module[p + nlen..end])
                    .map_err(|_| ManifestError::BadManifest)?;
                for line in body
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let (k, v) = line.split_once('=').ok_or(ManifestError::BadManifest)?;
                    if k.trim() == "classes" {
                        for c in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                            manifest.classes = manifest
                                .classes
                                .with(Class::parse(c).ok_or(ManifestError::BadManifest)?);
                        }
                    }
                }
            }
        }
        at = end;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(section: &[u8]) -> alloc::vec::Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        let name = MANIFEST_SECTION.as_bytes();
        m.push(0);
        m.push((1 + name.len() + section.len()) as u8);
        m.push(name.len() as u8);
        m.extend_from_slice(name);
        m.extend_from_slice(section);
        m
    }

    #[test]
    fn reads_classes_and_rejects_garbage() {
        let m = parse(&module_with(b"classes=log, channel\n")).unwrap();
        assert!(
            m.classes.has(Class::Log)
                && m.classes.has(Class::Channel)
                && !m.classes.has(Class::Time)
        );
        assert_eq!(
            parse(&module_with(b"classes=root")),
            Err(ManifestError::BadManifest)
        );
        assert_eq!(
            parse(b"\0asm\x01\0\0\0\x00\x7f"),
            Err(ManifestError::Truncated)
        );
        assert_eq!(parse(b"ELF"), Err(ManifestError::NotWasm));
        assert_eq!(parse(b"\0asm\x01\0\0\0").unwrap().classes, Classes::CORE);
    }
}
