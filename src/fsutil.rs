//! File writes that a kill at any instant cannot tear.
//!
//! Invariant: a file written through [`write_atomic`] is either absent, its old
//! content, or its complete new content: bytes go to a temporary file in the same
//! directory, which is then renamed over the target. (No fsync: the guarantee is
//! against a killed process, the threat a hook faces, not against power loss.)

use std::io::Write;

use camino::Utf8Path;

/// Writes `bytes` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_parts(path, &[bytes])
}

/// Writes the concatenation of `parts` to `path` atomically, without building it.
pub fn write_atomic_parts(path: &Utf8Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir.as_std_path())?;
    for part in parts {
        tmp.write_all(part)?;
    }
    tmp.persist(path.as_std_path()).map_err(|e| e.error)?;
    Ok(())
}
