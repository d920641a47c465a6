//! The manifest of a commit (brief §2.1): one entry per blob, symlink and gitlink of
//! its tree, as canonical bytes, plus the digest and renderings derived from them.
//!
//! Invariants:
//! - A manifest is a pure function of a tree. [`Manifest`] always holds canonical
//!   bytes that parse, with entries in strictly ascending raw-byte path order, and the
//!   digest, file count and byte total of exactly those bytes.
//! - Blob contents are hashed as streams: a blob larger than [`STREAM_THRESHOLD`] is
//!   inflated from its object file chunk by chunk (`objects`), so memory stays bounded.
//! - [`Builder::from_base`] (parent manifest + tree diff) and [`Builder::full`]
//!   (whole tree walk) produce identical bytes for the same tree; tests hold them to it.

use std::collections::HashMap;

use git2::{Delta, DiffOptions, ObjectType, Oid, Repository, Tree};
use rayon::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::git::{Locator, Repo};

/// Blobs above this size are streamed from their object files instead of being read
/// whole into memory.
pub const STREAM_THRESHOLD: u64 = 32 << 20;

/// How many blobs to hash before spreading the work over threads.
const PARALLEL_MIN: usize = 64;

const MODE_GITLINK: u32 = 0o160000;
const MODE_SYMLINK: u32 = 0o120000;

/// A manifest: canonical bytes and the figures derived from them.
#[derive(Clone)]
pub struct Manifest {
    canonical: Vec<u8>,
    digest: [u8; 32],
    files: u64,
    bytes: u64,
}

/// One manifest entry, borrowed from the canonical bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub mode: u32,
    /// Lowercase hex SHA-256 of the content, or the submodule commit id for a gitlink.
    pub hash: &'a str,
    pub size: u64,
    pub path: &'a [u8],
}

impl Entry<'_> {
    /// Regular and executable files: the entries a checksum file lists.
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
    pub fn is_symlink(&self) -> bool {
        self.mode == MODE_SYMLINK
    }
    pub fn is_gitlink(&self) -> bool {
        self.mode == MODE_GITLINK
    }
}

fn push_entry(out: &mut Vec<u8>, mode: u32, hash: &str, size: u64, path: &[u8]) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{mode:06o} {hash} {size} ");
    out.extend_from_slice(path);
    out.push(0);
}

/// Splits one canonical entry (without its NUL) into its fields.
fn parse_entry(raw: &[u8]) -> Option<Entry<'_>> {
    let mut parts = raw.splitn(4, |b| *b == b' ');
    let mode = parts.next()?;
    let hash = parts.next()?;
    let size = parts.next()?;
    let path = parts.next()?;
    if mode.len() != 6 || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) || path.is_empty() {
        return None;
    }
    let mode = u32::from_str_radix(std::str::from_utf8(mode).ok()?, 8).ok()?;
    let hash_ok = (hash.len() == 64 || (mode == MODE_GITLINK && hash.len() == 40))
        && hash
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if !hash_ok || size.is_empty() || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(Entry {
        mode,
        hash: std::str::from_utf8(hash).ok()?,
        size: std::str::from_utf8(size).ok()?.parse().ok()?,
        path,
    })
}

/// Iterates the raw entries of canonical bytes: (entry without NUL, parsed entry).
fn raw_entries(canonical: &[u8]) -> impl Iterator<Item = Option<(&[u8], Entry<'_>)>> {
    let mut rest = canonical;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(nul) = memchr::memchr(0, rest) else {
            rest = &[];
            return Some(None);
        };
        let raw = &rest[..nul];
        rest = &rest[nul + 1..];
        Some(parse_entry(raw).map(|e| (raw, e)))
    })
}

impl Manifest {
    /// Takes canonical bytes from an untrusted source (a cache file), checking that
    /// every entry parses and that paths ascend strictly.
    pub fn from_canonical(canonical: Vec<u8>) -> Result<Manifest> {
        let corrupt = || Error::usage("manifest bytes are not canonical");
        let (mut files, mut bytes) = (0u64, 0u64);
        let mut last: Option<&[u8]> = None;
        for item in raw_entries(&canonical) {
            let (_, e) = item.ok_or_else(corrupt)?;
            if last.is_some_and(|l| l >= e.path) {
                return Err(corrupt());
            }
            last = Some(e.path);
            files += 1;
            bytes += e.size;
        }
        let digest = Sha256::digest(&canonical).into();
        Ok(Manifest {
            canonical,
            digest,
            files,
            bytes,
        })
    }

    fn from_parts(canonical: Vec<u8>, files: u64, bytes: u64) -> Manifest {
        let digest = Sha256::digest(&canonical).into();
        Manifest {
            canonical,
            digest,
            files,
            bytes,
        }
    }

    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }
    /// `sha256:<hex>` of the canonical bytes.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.digest))
    }
    pub fn files(&self) -> u64 {
        self.files
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        // Every Manifest was checked or built canonical, so every entry parses.
        raw_entries(&self.canonical).flatten().map(|(_, e)| e)
    }

    /// The manifest as JSON (`git seal manifest --format json`).
    pub fn to_json(&self, commit: Option<Oid>, tree: Oid) -> Value {
        let entries: Vec<Value> = self
            .entries()
            .map(|e| {
                let mut v = json!({
                    "path": String::from_utf8_lossy(e.path),
                    "mode": format!("{:06o}", e.mode),
                    "size": e.size,
                    "sha256": e.hash,
                });
                if std::str::from_utf8(e.path).is_err() {
                    // Lossless form of a path that is not UTF-8; `path` is then only
                    // for display (invalid bytes shown as U+FFFD).
                    v["path_hex"] = Value::String(hex::encode(e.path));
                }
                v
            })
            .collect();
        json!({
            "schema": "git-seal/manifest/v1",
            "commit": commit.map(|c| c.to_string()),
            "tree": tree.to_string(),
            "digest": self.digest(),
            "files": self.files,
            "bytes": self.bytes,
            "entries": entries,
        })
    }

    /// The checksum file (`git seal manifest --format sha256sum`): GNU `sha256sum`
    /// lines for regular and executable files, in manifest order.
    pub fn to_sha256sum(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.canonical.len());
        for e in self.entries().filter(Entry::is_file) {
            let escape = e.path.iter().any(|b| *b == b'\\' || *b == b'\n');
            if escape {
                out.push(b'\\');
            }
            out.extend_from_slice(e.hash.as_bytes());
            out.extend_from_slice(b"  ");
            for &b in e.path {
                match b {
                    b'\\' if escape => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ => out.push(b),
                }
            }
            out.push(b'\n');
        }
        out
    }

    /// Entry lookup by exact path (binary search would need an index; manifests are
    /// read front to back everywhere else, so a scan is enough here).
    pub fn get(&self, path: &[u8]) -> Option<Entry<'_>> {
        self.entries().find(|e| e.path == path)
    }
}

/// SHA-256 and size of one blob.
#[derive(Clone, Copy)]
struct BlobHash {
    sha256: [u8; 32],
    size: u64,
}

/// Builds manifests, remembering every blob it hashed so that a run over many
/// commits hashes each blob once.
pub struct Builder<'r> {
    repo: &'r Repo,
    blobs: HashMap<Oid, BlobHash>,
}

/// A tree entry to put in a manifest, before its blob is hashed.
struct Pending {
    path: Vec<u8>,
    mode: u32,
    oid: Oid,
}

impl<'r> Builder<'r> {
    pub fn new(repo: &'r Repo) -> Self {
        Builder {
            repo,
            blobs: HashMap::new(),
        }
    }

    /// The manifest of `tree`, hashing every blob (reusing those already seen).
    pub fn full(&mut self, tree: &Tree<'_>) -> Result<Manifest> {
        let mut pending = Vec::new();
        self.walk(tree, &mut Vec::new(), &mut pending)?;
        pending.sort_by(|a, b| a.path.cmp(&b.path));
        self.hash_all(&pending)?;
        let mut canonical = Vec::with_capacity(pending.len() * 100);
        let (mut files, mut bytes) = (0, 0);
        for p in &pending {
            let (hash, size) = self.entry_fields(p);
            push_entry(&mut canonical, p.mode, &hash, size, &p.path);
            files += 1;
            bytes += size;
        }
        Ok(Manifest::from_parts(canonical, files, bytes))
    }

    /// The manifest of `tree`, derived from `base` (the manifest of `base_tree`) by
    /// hashing only what the diff between the two trees changed.
    pub fn from_base(
        &mut self,
        base_tree: &Tree<'_>,
        base: &Manifest,
        tree: &Tree<'_>,
    ) -> Result<Manifest> {
        let mut opts = DiffOptions::new();
        opts.include_typechange(true);
        let diff = self
            .repo
            .git
            .diff_tree_to_tree(Some(base_tree), Some(tree), Some(&mut opts))?;
        let mut changes: Vec<(Vec<u8>, Option<Pending>)> = Vec::new();
        for delta in diff.deltas() {
            match delta.status() {
                Delta::Deleted => {
                    if let Some(p) = delta.old_file().path_bytes() {
                        changes.push((p.to_vec(), None));
                    }
                }
                Delta::Added | Delta::Modified | Delta::Typechange => {
                    let f = delta.new_file();
                    let path = f.path_bytes().unwrap_or_default().to_vec();
                    let pending = Pending {
                        path: path.clone(),
                        mode: u32::from(f.mode()),
                        oid: f.id(),
                    };
                    changes.push((path, Some(pending)));
                }
                _ => {}
            }
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        let to_hash: Vec<Pending> = changes
            .iter()
            .filter_map(|(_, p)| p.as_ref())
            .map(|p| Pending {
                path: Vec::new(),
                mode: p.mode,
                oid: p.oid,
            })
            .collect();
        self.hash_all(&to_hash)?;

        let mut out = Vec::with_capacity(base.canonical.len() + changes.len() * 100);
        let mut totals = (0u64, 0u64);
        let mut next = changes.iter().peekable();
        for (raw, e) in raw_entries(&base.canonical).flatten() {
            while let Some((_, change)) = next.next_if(|(p, _)| p.as_slice() < e.path) {
                self.emit(&mut out, change.as_ref(), &mut totals);
            }
            // A change at this very path replaces (or deletes) the base entry.
            if let Some((_, change)) = next.next_if(|(p, _)| p.as_slice() == e.path) {
                self.emit(&mut out, change.as_ref(), &mut totals);
                continue;
            }
            out.extend_from_slice(raw);
            out.push(0);
            totals.0 += 1;
            totals.1 += e.size;
        }
        for (_, change) in next {
            self.emit(&mut out, change.as_ref(), &mut totals);
        }
        Ok(Manifest::from_parts(out, totals.0, totals.1))
    }

    /// Appends the entry for `p` (nothing for a deletion) and counts it.
    fn emit(&self, out: &mut Vec<u8>, p: Option<&Pending>, totals: &mut (u64, u64)) {
        if let Some(p) = p {
            let (hash, size) = self.entry_fields(p);
            push_entry(out, p.mode, &hash, size, &p.path);
            totals.0 += 1;
            totals.1 += size;
        }
    }

    fn entry_fields(&self, p: &Pending) -> (String, u64) {
        if p.mode == MODE_GITLINK {
            return (p.oid.to_string(), 0);
        }
        // hash_all ran over every pending blob before this is called.
        let h = self.blobs.get(&p.oid).copied().unwrap_or(BlobHash {
            sha256: [0; 32],
            size: 0,
        });
        (hex::encode(h.sha256), h.size)
    }

    fn walk(&self, tree: &Tree<'_>, prefix: &mut Vec<u8>, out: &mut Vec<Pending>) -> Result<()> {
        for entry in tree.iter() {
            let len = prefix.len();
            prefix.extend_from_slice(entry.name_bytes());
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self.repo.git.find_tree(entry.id())?;
                    prefix.push(b'/');
                    self.walk(&sub, prefix, out)?;
                }
                _ => out.push(Pending {
                    path: prefix.clone(),
                    mode: entry.filemode_raw() as u32,
                    oid: entry.id(),
                }),
            }
            prefix.truncate(len);
        }
        Ok(())
    }

    /// Hashes every blob of `pending` not hashed yet, in parallel when there are many.
    fn hash_all(&mut self, pending: &[Pending]) -> Result<()> {
        let mut todo: Vec<Oid> = pending
            .iter()
            .filter(|p| p.mode != MODE_GITLINK && !self.blobs.contains_key(&p.oid))
            .map(|p| p.oid)
            .collect();
        todo.sort_unstable();
        todo.dedup();
        let hashed: Vec<(Oid, BlobHash)> = if todo.len() < PARALLEL_MIN {
            let at = self.repo.locator();
            todo.iter()
                .map(|oid| Ok((*oid, hash_blob(&self.repo.git, &at, *oid)?)))
                .collect::<Result<_>>()?
        } else {
            let at = self.repo.locator();
            todo.par_iter()
                .map_init(
                    || at.open(),
                    |git, oid| match git {
                        Ok(git) => Ok((*oid, hash_blob(git, &at, *oid)?)),
                        Err(e) => Err(Error::usage(format!("cannot reopen repository: {e}"))),
                    },
                )
                .collect::<Result<_>>()?
        };
        self.blobs.extend(hashed);
        Ok(())
    }
}

fn hash_blob(git: &Repository, at: &Locator, oid: Oid) -> Result<BlobHash> {
    let (size, kind) = git.odb()?.read_header(oid)?;
    if kind != ObjectType::Blob {
        return Err(Error::usage(format!("tree entry {oid} is not a blob")));
    }
    if (size as u64) <= STREAM_THRESHOLD {
        let blob = git.find_blob(oid)?;
        return Ok(BlobHash {
            sha256: Sha256::digest(blob.content()).into(),
            size: size as u64,
        });
    }
    stream_blob(git, at, oid)
}

/// Hashes a large blob as a stream from its object file, falling back to a whole
/// read for the rare deltified one.
fn stream_blob(git: &Repository, at: &Locator, oid: Oid) -> Result<BlobHash> {
    let opened = crate::objects::open_blob(&at.object_dirs(), oid)
        .map_err(|e| Error::usage(format!("cannot read blob {oid}: {e}")))?;
    let Some((mut reader, size)) = opened else {
        let blob = git.find_blob(oid)?;
        return Ok(BlobHash {
            sha256: Sha256::digest(blob.content()).into(),
            size: blob.size() as u64,
        });
    };
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut reader, &mut hasher)
        .map_err(|e| Error::usage(format!("cannot read blob {oid}: {e}")))?;
    if copied != size {
        return Err(Error::usage(format!(
            "blob {oid} is damaged: {copied} bytes where its header states {size}"
        ))
        .hint("check the repository: git fsck"));
    }
    Ok(BlobHash {
        sha256: hasher.finalize().into(),
        size,
    })
}

/// SHA-256 (hex) and size of a file or symlink on disk, streamed.
pub fn hash_path(path: &std::path::Path, symlink: bool) -> std::io::Result<(String, u64)> {
    if symlink {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(path)?;
        let bytes = target.as_os_str().as_bytes();
        return Ok((hex::encode(Sha256::digest(bytes)), bytes.len() as u64));
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), size))
}
