//! Blob contents read from the checkout instead of the object store, when a file
//! there provably holds them: what lets the first seal of a large repository cost
//! reading its files, not inflating every object (zlib inflates at a fraction of the
//! speed SHA-256 hashes).
//!
//! The index names, for each blob id, a path in the working tree that held that
//! blob when git last looked. Nothing about that is trusted: the file is read once,
//! and the same bytes are hashed twice, into the object id git would give them
//! (`blob <size>\0` then the bytes, under the repository's object format) and into
//! the SHA-256 a manifest records. Only when the id equals the blob's is the
//! SHA-256 used; any other outcome (an edited, missing, converted or special file,
//! one that changes while it is read) is a miss, and the blob is read from the
//! object store as before.
//!
//! Invariants:
//! - A hash returned here is of bytes whose object id is the blob's id: the same
//!   manifest the object store gives, byte for byte.
//! - Only sealing reads the checkout. `verify` and the gates read objects alone: a
//!   check must find a blob substituted under a colliding SHA-1, which a file in the
//!   checkout would hide. For sealing the checkout can only fail closed: a file that
//!   collides with the committed blob would make the seal pin bytes git does not
//!   hold, which every later verify reports.
//! - Only regular files are opened (checked on the open file, which is opened
//!   without blocking), so a FIFO or device put where the index has a file never
//!   stalls a hook.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use git2::{ObjectFormat, Oid};
use sha2::{Digest, Sha256};

use crate::git::Repo;

/// Index flag bits (git's `index-format.txt`): the entry's merge stage, and the
/// extended flags that say its file is not in the working tree.
const STAGE_MASK: u16 = 0x3000;
const SKIP_WORKTREE: u16 = 1 << 14;
const INTENT_TO_ADD: u16 = 1 << 13;

/// The files of a checkout that the index says hold a blob, by blob id.
pub struct Checkout {
    workdir: PathBuf,
    format: ObjectFormat,
    /// A BTreeMap, not a HashMap: with `unstable-sha256`, git2 hashes an `Oid`'s
    /// whole buffer, of which a SHA-1 id fills only 20 bytes, so equal ids from the
    /// index and from a tree could hash apart (ARCHITECTURE.md, object formats).
    files: BTreeMap<Oid, (Vec<u8>, u32)>,
}

/// What a file of the checkout hashed to: its SHA-256 and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHash {
    pub sha256: [u8; 32],
    pub size: u64,
}

impl Checkout {
    /// The checkout of `repo`, from its index; `None` for a bare repository or one
    /// whose index cannot be read (then every blob comes from the object store).
    pub fn open(repo: &Repo) -> Option<Checkout> {
        let workdir = repo.git.workdir()?.to_path_buf();
        let index = repo.git.index().ok()?;
        let mut files = BTreeMap::new();
        for entry in index.iter() {
            let regular = matches!(entry.mode, 0o100644 | 0o100755);
            let staged = entry.flags & STAGE_MASK != 0;
            let absent = entry.flags_extended & (SKIP_WORKTREE | INTENT_TO_ADD) != 0;
            if regular && !staged && !absent {
                files
                    .entry(entry.id)
                    .or_insert((entry.path, entry.file_size));
            }
        }
        Some(Checkout {
            workdir,
            format: repo.object_format(),
            files,
        })
    }

    /// The SHA-256 and size of blob `oid`, read from the file the index names for
    /// it, if that file now holds exactly the blob's bytes; `None` otherwise.
    pub fn hash(&self, oid: Oid) -> Option<FileHash> {
        let (path, indexed_size) = self.files.get(&oid)?;
        let path = self
            .workdir
            .join(Path::new(std::ffi::OsStr::from_bytes(path)));
        // Cheap refusals first: a file edited to another size (the index keeps the
        // size modulo 2^32) or no longer a regular file is not read at all. A size
        // of 0 says nothing: git zeroes it in entries it writes while their file is
        // racily clean (`racy-git.txt`).
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let resized = *indexed_size != 0 && meta.len() as u32 != *indexed_size;
        if !meta.file_type().is_file() || resized {
            return None;
        }
        hash_file(&path, oid, self.format)
    }
}

/// Reads `path` once, hashing its bytes into `format`'s blob id and into SHA-256;
/// the SHA-256 if the id is `oid`.
fn hash_file(path: &Path, oid: Oid, format: ObjectFormat) -> Option<FileHash> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let size = meta.len();
    let header = format!("blob {size}\0");
    let mut id = IdHasher::new(format);
    id.update(header.as_bytes());
    let mut sha256 = Sha256::new();
    let mut buf = vec![0u8; (size as usize).clamp(1, 1 << 20)];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        read += n as u64;
        if read > size {
            // Grown while being read: the header hashed a size the bytes are not.
            return None;
        }
        id.update(&buf[..n]);
        sha256.update(&buf[..n]);
    }
    if read != size || id.finish() != oid.as_bytes() {
        return None;
    }
    Some(FileHash {
        sha256: sha256.finalize().into(),
        size,
    })
}

/// The hash behind object ids of one format.
enum IdHasher {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl IdHasher {
    fn new(format: ObjectFormat) -> IdHasher {
        match format {
            ObjectFormat::Sha256 => IdHasher::Sha256(Sha256::new()),
            _ => IdHasher::Sha1(sha1::Sha1::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            IdHasher::Sha1(h) => h.update(bytes),
            IdHasher::Sha256(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            IdHasher::Sha1(h) => h.finalize().to_vec(),
            IdHasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_file_hashes_to_its_blob_id_in_both_formats_and_another_id_is_a_miss() {
        let bytes = b"hello\n";
        let (_dir, path) = temp_file(bytes);
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        for format in [ObjectFormat::Sha1, ObjectFormat::Sha256] {
            let id = Oid::hash_object_ext(git2::ObjectType::Blob, bytes, format).unwrap();
            let hit = hash_file(&path, id, format).unwrap();
            assert_eq!(hit, FileHash { sha256, size: 6 });
            let other = Oid::hash_object_ext(git2::ObjectType::Blob, b"hello!\n", format).unwrap();
            assert_eq!(hash_file(&path, other, format), None);
        }
        // git's own id for these bytes, as `git hash-object` prints it.
        let git_id = Oid::from_str("ce013625030ba8dba906f756967f9e9ca394464a").unwrap();
        assert!(hash_file(&path, git_id, ObjectFormat::Sha1).is_some());
    }

    #[test]
    fn an_empty_file_and_a_file_over_the_buffer_hash_whole() {
        for bytes in [Vec::new(), vec![7u8; (1 << 20) * 3 + 5]] {
            let (_dir, path) = temp_file(&bytes);
            let id =
                Oid::hash_object_ext(git2::ObjectType::Blob, &bytes, ObjectFormat::Sha1).unwrap();
            let hit = hash_file(&path, id, ObjectFormat::Sha1).unwrap();
            assert_eq!(hit.size, bytes.len() as u64);
            assert_eq!(hit.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
        }
    }

    #[test]
    fn a_fifo_or_directory_is_a_miss_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let id = Oid::hash_object_ext(git2::ObjectType::Blob, b"", ObjectFormat::Sha1).unwrap();
        assert_eq!(hash_file(&fifo, id, ObjectFormat::Sha1), None);
        assert_eq!(hash_file(dir.path(), id, ObjectFormat::Sha1), None);
    }
}
