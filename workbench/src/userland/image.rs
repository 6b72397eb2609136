//! Packs a directory into vfs's image format (`tidemark_svc::fs::image`).

use std::path::Path;

use tidemark_svc::fs::Kind;
use tidemark_svc::fs::image::{self, ImageEntry};

/// Largest image packed (the region that holds it is kernel memory).
pub const MAX_IMAGE: u64 = 4 << 20;

/// The image at `path`: a directory packed, or an image file as `fs
/// commit --save` writes it (checked entry by entry).
pub fn load(path: &Path) -> Result<Vec<u8>, String> {
    if path.is_dir() {
        return pack(path);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the image {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_IMAGE {
        return Err(format!("the image {} passes {MAX_IMAGE} bytes", path.display()));
    }
    image::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// The image of `dir`: every directory and regular file under it, by path
/// (symlinks and other files are refused, so the image is what the
/// directory shows).
pub fn pack(dir: &Path) -> Result<Vec<u8>, String> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    walk(dir, "", &mut entries, &mut total)?;
    Ok(image::encode(&entries))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<ImageEntry>, total: &mut u64) -> Result<(), String> {
    let mut items: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let name = item.file_name().into_string().map_err(|n| format!("{}: a name that is not UTF-8 ({n:?})", dir.display()))?;
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let ty = item.file_type().map_err(|e| format!("{}: {e}", item.path().display()))?;
        if ty.is_dir() {
            out.push(ImageEntry { path: path.clone(), kind: Kind::Dir, data: Vec::new() });
            walk(&item.path(), &path, out, total)?;
        } else if ty.is_file() {
            let data = std::fs::read(item.path()).map_err(|e| format!("{}: {e}", item.path().display()))?;
            *total += data.len() as u64;
            if *total > MAX_IMAGE {
                return Err(format!("the image passes {MAX_IMAGE} bytes at {}", item.path().display()));
            }
            out.push(ImageEntry { path, kind: Kind::File, data });
        } else {
            return Err(format!("{} is neither a file nor a directory", item.path().display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_packs_into_an_image_that_lists_it() {
        let d = std::env::temp_dir().join(format!("tidemark-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/motd"), "hi\n").unwrap();
        std::fs::write(d.join("top"), "").unwrap();
        let entries = image::decode(&pack(&d).unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(&d);
        let paths: Vec<_> = entries.iter().map(|e| (e.path.as_str(), e.kind, e.data.len())).collect();
        assert_eq!(paths, [("etc", Kind::Dir, 0), ("etc/motd", Kind::File, 3), ("top", Kind::File, 0)]);
    }
}
