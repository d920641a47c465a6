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

/// Writes `bytes` atomically at `root/rel`, creating the directories between, and
/// never through a symbolic link: a directory or file under `root` that is a link
/// is refused, so what is written stays under `root` (which the caller named).
pub fn write_under(root: &Utf8Path, rel: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    fs_err::create_dir_all(root)?;
    let mut at = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for (i, part) in components.iter().enumerate() {
        if !matches!(part, camino::Utf8Component::Normal(_)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{rel} is not a plain relative path"),
            ));
        }
        at.push(part.as_str());
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{at} is a symbolic link; git-seal does not write through links"),
                ))
            }
            Ok(m) if i + 1 < components.len() && !m.is_dir() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{at} is not a directory"),
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if i + 1 < components.len() {
                    fs_err::create_dir(&at)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    write_atomic(&at, bytes)
}
