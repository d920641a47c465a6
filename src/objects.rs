//! Streaming reads of large blobs straight from git's object files, so that hashing
//! a file of any size holds one buffer, not the file.
//!
//! libgit2 and `git cat-file` both inflate a blob whole into memory. A loose object
//! and an undeltified pack entry are each a single zlib stream, and git stores every
//! blob above `core.bigFileThreshold` (512 MiB by default) undeltified, so those are
//! inflated here chunk by chunk. A deltified blob returns `None` and the caller reads
//! it whole.
//!
//! Objects are read as git reads them: packs before loose objects, and replacement
//! refs (`git replace`) never: a seal pins the content of the id itself, as `git
//! fsck` and transfer see it (libgit2 does not honour them either, and every `git`
//! git-seal runs gets `GIT_NO_REPLACE_OBJECTS=1`).
//!
//! Invariant: the byte count of every stream is checked against the size the object
//! header states; a short or long stream is an error, never a wrong hash.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;
use git2::Oid;

use crate::error::{Error, Result};

/// The object directories to search: the repository's, and those git's environment
/// adds (a `pre-receive` quarantine, alternates).
pub fn object_dirs(common_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("GIT_OBJECT_DIRECTORY") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(common_dir.join("objects"));
    if let Some(alts) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
        dirs.extend(std::env::split_paths(&alts));
    }
    if let Ok(text) = std::fs::read_to_string(common_dir.join("objects/info/alternates")) {
        dirs.extend(
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(PathBuf::from),
        );
    }
    dirs
}

/// A streaming reader over a blob's content, if the blob is stored in a form that
/// streams (loose, or undeltified in a pack).
pub fn open_blob(dirs: &[PathBuf], oid: Oid) -> std::io::Result<Option<BlobStream>> {
    let hex = oid.to_string();
    // Packs first, in every object directory, then loose objects: the order git
    // (`oid_object_info_extended`) and libgit2 (the pack backend's priority) read
    // in, so when a pack and a loose file both hold `oid` with different contents,
    // the copy hashed here is the one every other reader sees.
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("pack")) else {
            continue;
        };
        let mut idxs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        idxs.sort();
        for idx in idxs {
            if let Some(offset) = find_in_index(&idx, oid)? {
                return open_packed(&idx.with_extension("pack"), offset);
            }
        }
    }
    for dir in dirs {
        let loose = dir.join(&hex[..2]).join(&hex[2..]);
        if let Ok(file) = File::open(&loose) {
            return open_loose(file).map(Some);
        }
    }
    Ok(None)
}

/// A blob's content as a stream, and the size its object header states.
pub struct BlobStream {
    reader: Box<dyn Read>,
    pub size: u64,
}

impl BlobStream {
    /// Copies the content of blob `oid` into `sink`, checking that it holds exactly
    /// the size its header states.
    pub fn copy_into(mut self, oid: Oid, sink: &mut impl Write) -> Result<()> {
        let copied = std::io::copy(&mut self.reader, sink)
            .map_err(|e| Error::usage(format!("cannot read blob {oid}: {e}")))?;
        if copied != self.size {
            return Err(Error::usage(format!(
                "blob {oid} is damaged: {copied} bytes where its header states {}",
                self.size
            ))
            .hint("check the repository: git fsck"));
        }
        Ok(())
    }
}

fn open_loose(file: File) -> std::io::Result<BlobStream> {
    let mut z = ZlibDecoder::new(BufReader::new(file));
    // Header: "blob <size>\0".
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        z.read_exact(&mut byte)?;
        if byte[0] == 0 {
            break;
        }
        header.push(byte[0]);
        if header.len() > 32 {
            return Err(std::io::Error::other("loose object header too long"));
        }
    }
    let header = String::from_utf8_lossy(&header);
    let size = header
        .strip_prefix("blob ")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other(format!("not a blob: '{header}'")))?;
    Ok(BlobStream {
        reader: Box::new(z),
        size,
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The pack offset of `oid` from a version 2 pack index, by binary search.
fn find_in_index(idx: &Path, oid: Oid) -> std::io::Result<Option<u64>> {
    let mut f = File::open(idx)?;
    let mut head = [0u8; 8 + 256 * 4];
    f.read_exact(&mut head)?;
    if head[..4] != [0xff, b't', b'O', b'c'] || be32(&head[4..8]) != 2 {
        return Ok(None);
    }
    let fanout = |i: usize| be32(&head[8 + i * 4..]) as u64;
    let first = oid.as_bytes()[0] as usize;
    let total = fanout(255);
    let (mut lo, mut hi) = (
        if first == 0 { 0 } else { fanout(first - 1) },
        fanout(first),
    );
    let names = 8 + 256 * 4;
    let mut name = [0u8; 20];
    while lo < hi {
        let mid = (lo + hi) / 2;
        f.seek(SeekFrom::Start(names + mid * 20))?;
        f.read_exact(&mut name)?;
        match name.as_slice().cmp(oid.as_bytes()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let offsets = names + total * 20 + total * 4;
                let mut b = [0u8; 4];
                f.seek(SeekFrom::Start(offsets + mid * 4))?;
                f.read_exact(&mut b)?;
                let small = be32(&b);
                if small & 0x8000_0000 == 0 {
                    return Ok(Some(small as u64));
                }
                let large = offsets + total * 4 + (small & 0x7fff_ffff) as u64 * 8;
                let mut b = [0u8; 8];
                f.seek(SeekFrom::Start(large))?;
                f.read_exact(&mut b)?;
                return Ok(Some(u64::from_be_bytes(b)));
            }
        }
    }
    Ok(None)
}

/// A stream over an undeltified blob entry of a pack, or `None` for any other kind.
fn open_packed(pack: &Path, offset: u64) -> std::io::Result<Option<BlobStream>> {
    let mut f = BufReader::new(File::open(pack)?);
    f.seek(SeekFrom::Start(offset))?;
    let mut byte = [0u8; 1];
    f.read_exact(&mut byte)?;
    let kind = (byte[0] >> 4) & 7;
    let mut size = (byte[0] & 0x0f) as u64;
    let mut shift = 4;
    while byte[0] & 0x80 != 0 {
        f.read_exact(&mut byte)?;
        size |= ((byte[0] & 0x7f) as u64) << shift;
        shift += 7;
    }
    const BLOB: u8 = 3;
    if kind != BLOB {
        return Ok(None);
    }
    Ok(Some(BlobStream {
        reader: Box::new(ZlibDecoder::new(f)),
        size,
    }))
}
