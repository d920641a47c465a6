//! The manifest of a commit (brief §2.1): one entry per blob, symlink and gitlink of
//! its tree, as canonical bytes, plus the digest and renderings derived from them.
//!
//! Invariants:
//! - A manifest is a pure function of a tree. [`Manifest`] always stands for
//!   canonical bytes that parse (held, or derived on demand), with entries in
//!   strictly ascending raw-byte path order, and the digest, file count and byte total
//!   of exactly those bytes.
//! - Blob contents are hashed as streams: a blob larger than [`STREAM_THRESHOLD`] is
//!   inflated from its object file chunk by chunk (`objects`), so memory stays bounded.
//! - A manifest derived from its parent's ([`Builder::changes`] then
//!   [`Manifest::derive`]) and one built by a whole tree walk ([`Builder::full`]) are
//!   identical bytes and digest for the same tree; tests hold them to it.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::rc::Rc;

use git2::{ObjectType, Oid, Repository, Tree};
use rayon::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::checkout::Checkout;
use crate::error::{Error, Result};
use crate::git::{IdKey, Repo};

/// Blobs above this size are streamed from their object files instead of being read
/// whole into memory.
pub const STREAM_THRESHOLD: u64 = 32 << 20;

/// How many blobs to hash before spreading the work over threads.
const PARALLEL_MIN: usize = 64;

const MODE_GITLINK: u32 = 0o160000;
const CACHE_MAGIC: &str = "git-seal manifest cache v1";
const MODE_SYMLINK: u32 = 0o120000;

/// A manifest: canonical bytes and the figures derived from them.
///
/// A manifest derived from another (a commit's from its parent's) is kept as its
/// whole root manifest plus the changes from it, so that a hook never copies the
/// repository's worth of bytes: the digest streams SHA-256 over the merged segments,
/// and the bytes are built only when something reads them. Derivations compose: the
/// root is always a whole manifest.
#[derive(Clone)]
pub struct Manifest {
    canonical: OnceCell<Bytes>,
    derived: Option<(Rc<Manifest>, Rc<Changes>)>,
    digest: OnceCell<[u8; 32]>,
    files: u64,
    bytes: u64,
}

/// Canonical bytes: built in memory, or a cache file's body mapped read-only (a
/// hook's base is a repository's worth of bytes: reading it into fresh memory cost
/// more in page faults than hashing it).
#[derive(Clone)]
enum Bytes {
    Built(Vec<u8>),
    Mapped(Rc<memmap2::Mmap>, usize),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Built(v) => v,
            Bytes::Mapped(map, start) => &map[*start..],
        }
    }
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
    // By hand, not `write!`: a backfill writes an entry per changed file of every
    // commit, and the formatting machinery was a visible part of it.
    if mode <= 0o777_777 {
        let mut digits = [b'0'; MODE];
        let mut rest = mode;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest & 7) as u8;
            rest >>= 3;
        }
        out.extend_from_slice(&digits);
    } else {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{mode:o}");
    }
    out.push(b' ');
    out.extend_from_slice(hash.as_bytes());
    out.push(b' ');
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = size;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.push(b' ');
    out.extend_from_slice(path);
    out.push(0);
}

/// The width of an entry's mode field.
const MODE: usize = 6;

/// An entry's (mode, hash, size, path) fields, unchecked.
type EntryFields<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// Splits one canonical entry (without its NUL) into its mode, hash, size and path
/// fields, where the layout puts them (`<mode 6> SP <hash> SP <size> SP <path>`),
/// checking no field's content: the one reading of the layout, which
/// [`parse_entry`] checks and a search ([`path_at`]) takes the path from.
fn entry_fields(raw: &[u8]) -> Option<EntryFields<'_>> {
    // A SHA-1 gitlink's hash is 40 hex digits, any other 64; past a gitlink's 40,
    // byte 71 is in its path, which may hold a space there.
    let hash_len = if raw.starts_with(b"160000") && raw.get(MODE + 1 + 40) == Some(&b' ') {
        40
    } else {
        64
    };
    if raw.get(MODE) != Some(&b' ') || raw.get(MODE + 1 + hash_len) != Some(&b' ') {
        return None;
    }
    let rest = &raw[MODE + 2 + hash_len..];
    let space = memchr::memchr(b' ', rest)?;
    Some((
        &raw[..MODE],
        &raw[MODE + 1..MODE + 1 + hash_len],
        &rest[..space],
        &rest[space + 1..],
    ))
}

/// Splits one canonical entry (without its NUL) into its fields, checking each. On
/// the hot path of every hook (a base manifest of 100,000 entries is parsed once per
/// commit), so it works on bytes at fixed offsets and allocates nothing.
fn parse_entry(raw: &[u8]) -> Option<Entry<'_>> {
    let (mode_bytes, hash, size, path) = entry_fields(raw)?;
    if !mode_bytes.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let mode = mode_bytes
        .iter()
        .fold(0u32, |m, b| m * 8 + u32::from(b - b'0'));
    if !hash
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    if size.is_empty() || size.len() > 20 || path.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in size {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(Entry {
        mode,
        // Checked above to be ASCII hex digits.
        hash: std::str::from_utf8(hash).ok()?,
        size: n,
        path,
    })
}

/// Feeds `sink` the canonical bytes of `root` with `changes` applied, in order, and
/// returns the resulting totals. Unchanged runs of entries go out as whole slices of
/// `root`; each changed path is found by binary search.
fn merge(root: &Manifest, changes: &Changes, sink: impl FnMut(&[u8])) -> (u64, u64) {
    merge_bytes(root.canonical(), (root.files, root.bytes), changes, sink)
}

/// The canonical bytes and totals of `root` with `changes` applied.
fn merged(root: &Manifest, changes: &Changes) -> (Vec<u8>, u64, u64) {
    let mut out = Vec::with_capacity(root.canonical().len() + changes.len() * 100);
    let (files, bytes) = merge(root, changes, |part| out.extend_from_slice(part));
    (out, files, bytes)
}

/// [`merge`] over a whole manifest's bytes and totals: what a thread that holds no
/// `Manifest` (they are not `Sync`) can run.
fn merge_bytes(
    canonical: &[u8],
    totals: (u64, u64),
    changes: &Changes,
    mut sink: impl FnMut(&[u8]),
) -> (u64, u64) {
    let (mut files, mut bytes) = totals;
    let mut pos = 0;
    for (path, change) in &changes.0 {
        let at = lower_bound(canonical, pos, path);
        sink(&canonical[pos..at]);
        pos = at;
        if let Some((end, entry)) = entry_at(canonical, at) {
            if entry.path == path.as_slice() {
                // Replaced or deleted: the base entry goes. (Saturating: totals from
                // a cache entry not vouched for yet may lie; its digest check fails.)
                files = files.saturating_sub(1);
                bytes = bytes.saturating_sub(entry.size);
                pos = end;
            }
        }
        if let Some(line) = change {
            // Built by push_entry or checked by Changes::from_bytes: it parses.
            if let Some(e) = parse_entry(&line[..line.len() - 1]) {
                sink(line);
                files += 1;
                bytes += e.size;
            }
        }
    }
    sink(&canonical[pos..]);
    (files, bytes)
}

/// The entry starting at byte `at` and the offset just past its NUL.
fn entry_at(canonical: &[u8], at: usize) -> Option<(usize, Entry<'_>)> {
    let rest = canonical.get(at..)?;
    let nul = memchr::memchr(0, rest)?;
    Some((at + nul + 1, parse_entry(&rest[..nul])?))
}

/// The offset of the first entry at or after `from` whose path is not below `path`
/// (`canonical.len()` if none). `from` must be an entry boundary.
///
/// Changes are applied in path order, so the next one is usually a few entries past
/// `from`: the search gallops forward from there before it bisects, which costs the
/// log of that distance, not of the manifest (a backfill applies thousands of changes
/// to a manifest when a commit's base is a tree far from it).
fn lower_bound(canonical: &[u8], from: usize, path: &[u8]) -> usize {
    let below = |start: usize| match path_at(canonical, start) {
        Some((end, p)) if p < path => Some(end),
        _ => None,
    };
    let (mut lo, mut hi) = (from, canonical.len());
    let mut step = GALLOP_FIRST_STEP;
    while let Some(probe) = lo.checked_add(step).filter(|p| *p < hi) {
        let start = next_boundary(canonical, probe);
        if start >= hi {
            break;
        }
        match below(start) {
            Some(end) => {
                lo = end;
                step = step.saturating_mul(2);
            }
            None => {
                hi = start;
                break;
            }
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The first entry boundary at or after mid; if none lies before hi, the
        // entry at lo is the only one left in [lo, hi).
        let mut start = next_boundary(canonical, mid);
        if start >= hi {
            start = lo;
        }
        match below(start) {
            Some(end) => lo = end,
            None => hi = start,
        }
    }
    lo
}

/// How far (in bytes) [`lower_bound`]'s first probe looks past where it starts: a
/// few entries.
const GALLOP_FIRST_STEP: usize = 512;

/// The first entry boundary at or after `at` (`canonical.len()` if none).
fn next_boundary(canonical: &[u8], at: usize) -> usize {
    if at == 0 || canonical.get(at - 1) == Some(&0) {
        return at;
    }
    memchr::memchr(0, &canonical[at..]).map_or(canonical.len(), |n| at + n + 1)
}

/// The path of the entry starting at byte `at`, and the offset just past its NUL:
/// what a search compares, read without checking the other fields (the bytes
/// searched are a manifest this process built, or a cache entry whose checksum held;
/// an entry the search lands on is parsed whole before it is used).
fn path_at(canonical: &[u8], at: usize) -> Option<(usize, &[u8])> {
    let rest = canonical.get(at..)?;
    let nul = memchr::memchr(0, rest)?;
    let (_, _, _, path) = entry_fields(&rest[..nul])?;
    Some((at + nul + 1, path))
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
    /// The header line of the cache form: the totals and a CRC-32 of the canonical
    /// bytes, which follow it. Loading checks the CRC instead of parsing every entry,
    /// which is what keeps a hook's cost near that of a memcpy.
    pub fn cache_header(&self) -> String {
        format!(
            "{CACHE_MAGIC} files={} bytes={} crc32={:08x}\n",
            self.files,
            self.bytes,
            crc32fast::hash(self.canonical())
        )
    }

    /// Reads a file in the cache form (header, then canonical bytes), mapping it
    /// rather than copying it; `None` if it cannot be read, or its header or checksum
    /// is off.
    pub fn read_cache(file: &std::fs::File) -> Option<Manifest> {
        // SAFETY: a cache file is only ever written whole under a temporary name and
        // renamed into place (`fsutil::write_atomic_parts`), never changed in place,
        // so the mapped bytes stay what the CRC below checked. Something else that
        // truncated the file in place would make a read fault (the process dies),
        // never return other bytes.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        Manifest::from_cache_form(Bytes::Mapped(Rc::new(map), 0))
    }

    /// The manifest a whole cache form holds (its header, then its canonical bytes).
    fn from_cache_form(form: Bytes) -> Option<Manifest> {
        let newline = memchr::memchr(b'\n', &form[..form.len().min(256)])?;
        let text = std::str::from_utf8(&form[..newline]).ok()?;
        let mut fields = text.strip_prefix(CACHE_MAGIC)?.split_whitespace();
        let mut field = |name: &str| fields.next()?.strip_prefix(name).map(str::to_string);
        let files = field("files=")?.parse().ok()?;
        let total = field("bytes=")?.parse().ok()?;
        let crc = u32::from_str_radix(&field("crc32=")?, 16).ok()?;
        let body = match form {
            Bytes::Built(mut v) => Bytes::Built(v.split_off(newline + 1)),
            Bytes::Mapped(map, start) => Bytes::Mapped(map, start + newline + 1),
        };
        (crc32fast::hash(&body) == crc).then(|| Manifest::from_bytes(body, files, total))
    }

    /// The manifest of the empty tree: what a root commit derives from.
    pub fn empty() -> Manifest {
        Manifest::from_parts(Vec::new(), 0, 0)
    }

    fn from_parts(canonical: Vec<u8>, files: u64, bytes: u64) -> Manifest {
        Manifest::from_bytes(Bytes::Built(canonical), files, bytes)
    }

    fn from_bytes(canonical: Bytes, files: u64, bytes: u64) -> Manifest {
        Manifest {
            canonical: OnceCell::from(canonical),
            derived: None,
            digest: OnceCell::new(),
            files,
            bytes,
        }
    }

    /// The same manifest as a whole one (its bytes built if it derives), to serve as
    /// the root of later derivations.
    pub fn whole(m: &Manifest) -> Manifest {
        Manifest::from_parts(m.canonical().to_vec(), m.files, m.bytes)
    }

    /// `base` with `changes` applied, its bytes built in the one pass over its root
    /// that also counts its totals: the manifest a run over a history keeps as the
    /// next commit's base.
    pub fn derive_whole(base: &Rc<Manifest>, changes: Changes) -> Manifest {
        let (root, changes) = base.root_and(changes);
        let (out, files, bytes) = merged(&root, &changes);
        Manifest::from_parts(out, files, bytes)
    }

    /// `base` with `changes` applied, without copying it: O(changes · log entries).
    pub fn derive(base: &Rc<Manifest>, changes: Changes) -> Manifest {
        let (root, changes) = base.root_and(changes);
        let (files, bytes) = merge(&root, &changes, |_| {});
        Manifest {
            canonical: OnceCell::new(),
            derived: Some((root, Rc::new(changes))),
            digest: OnceCell::new(),
            files,
            bytes,
        }
    }

    /// Takes the digests of `manifests` not taken yet, in parallel: each is one
    /// SHA-256 pass over its bytes, which nothing can split.
    pub fn compute_digests(manifests: &[&Manifest]) {
        let todo: Vec<&Manifest> = manifests
            .iter()
            .copied()
            .filter(|m| m.digest.get().is_none())
            .collect();
        let bytes: Vec<&[u8]> = todo.iter().map(|m| m.canonical()).collect();
        let digests: Vec<[u8; 32]> = bytes.par_iter().map(|b| Sha256::digest(b).into()).collect();
        for (m, d) in todo.into_iter().zip(digests) {
            let _ = m.digest.set(d);
        }
    }

    /// The changes from the whole manifest this one derives from, if it derives.
    pub fn derivation(&self) -> Option<&Rc<Changes>> {
        self.derived.as_ref().map(|(_, c)| c)
    }

    /// The whole manifest `self` derives from (itself when whole), and every change
    /// from it once `changes` follow.
    fn root_and(self: &Rc<Manifest>, changes: Changes) -> (Rc<Manifest>, Changes) {
        match &self.derived {
            Some((root, earlier)) => (Rc::clone(root), earlier.then(&changes)),
            None => (Rc::clone(self), changes),
        }
    }

    pub fn canonical(&self) -> &[u8] {
        self.canonical.get_or_init(|| match &self.derived {
            Some((root, changes)) => Bytes::Built(merged(root, changes).0),
            // A manifest that does not derive was made with its bytes.
            None => Bytes::Built(Vec::new()),
        })
    }

    /// `sha256:<hex>` of the canonical bytes (streamed over the merge when derived).
    pub fn digest(&self) -> String {
        let digest = self.digest.get_or_init(|| self.digest_pass().run());
        format!("sha256:{}", hex::encode(digest))
    }

    /// The digests of `a` and `b` (as [`Manifest::digest`]), the two SHA-256 passes
    /// run at once on two threads when both are large: a sealing hook checks the
    /// base it derives from against its seal and hashes the new manifest, two
    /// passes over the same root that nothing orders. Falls back to one thread
    /// when a second cannot start.
    pub fn digest_pair(a: &Manifest, b: &Manifest) -> (String, String) {
        let unknown = |m: &Manifest| m.digest.get().is_none();
        if unknown(a) && unknown(b) {
            let (ja, jb) = (a.digest_pass(), b.digest_pass());
            if ja.len().min(jb.len()) >= PAIR_MIN_BYTES {
                let done = std::thread::scope(|s| {
                    let other = std::thread::Builder::new()
                        .name("git-seal-digest".into())
                        .spawn_scoped(s, || ja.run())
                        .ok()?;
                    let mine = jb.run();
                    Some((other.join().ok()?, mine))
                });
                if let Some((da, db)) = done {
                    let _ = a.digest.set(da);
                    let _ = b.digest.set(db);
                }
            }
        }
        (a.digest(), b.digest())
    }

    /// The pass that computes this manifest's digest: over its bytes when they are
    /// built, else streamed over the merge of its root and changes.
    fn digest_pass(&self) -> DigestJob<'_> {
        match (self.canonical.get(), &self.derived) {
            (None, Some((root, changes))) => DigestJob::Merge {
                root: root.canonical(),
                totals: (root.files, root.bytes),
                changes,
            },
            _ => DigestJob::Bytes(self.canonical()),
        }
    }

    pub fn files(&self) -> u64 {
        self.files
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        // Every Manifest was checked or built canonical, so every entry parses.
        raw_entries(self.canonical()).flatten().map(|(_, e)| e)
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
        let mut out = Vec::with_capacity(self.canonical().len());
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
}

/// The smaller manifest of a pair below which [`Manifest::digest_pair`] hashes both
/// on one thread: starting a thread costs about what hashing this much does.
const PAIR_MIN_BYTES: usize = 256 << 10;

/// The bytes one digest pass reads, borrowed from a manifest's own (`Send`).
enum DigestJob<'a> {
    Bytes(&'a [u8]),
    Merge {
        root: &'a [u8],
        totals: (u64, u64),
        changes: &'a Changes,
    },
}

impl DigestJob<'_> {
    fn len(&self) -> usize {
        match self {
            DigestJob::Bytes(b) => b.len(),
            DigestJob::Merge { root, .. } => root.len(),
        }
    }

    fn run(&self) -> [u8; 32] {
        match self {
            DigestJob::Bytes(b) => Sha256::digest(b).into(),
            DigestJob::Merge {
                root,
                totals,
                changes,
            } => {
                let mut hasher = Sha256::new();
                merge_bytes(root, *totals, changes, |part| hasher.update(part));
                hasher.finalize().into()
            }
        }
    }
}

/// Entries that differ from some base manifest: path → the new canonical entry
/// (with its NUL), or `None` for a deletion. Ordered by path, as the manifest is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes(pub std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl Changes {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These changes followed by `later` (which wins where both name a path).
    pub fn then(&self, later: &Changes) -> Changes {
        let mut out = self.clone();
        out.0
            .extend(later.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }

    /// Serialised: per change `+<entry>` (the entry ends with its NUL) or
    /// `-<path>\0`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, entry) in &self.0 {
            match entry {
                Some(e) => {
                    out.push(b'+');
                    out.extend_from_slice(e);
                }
                None => {
                    out.push(b'-');
                    out.extend_from_slice(path);
                    out.push(0);
                }
            }
        }
        out
    }

    /// Reads [`Changes::to_bytes`] back, checking every entry.
    pub fn from_bytes(mut bytes: &[u8]) -> Option<Changes> {
        let mut out = Changes::default();
        while let Some((&op, rest)) = bytes.split_first() {
            let nul = memchr::memchr(0, rest)?;
            let body = &rest[..nul];
            match op {
                b'+' => {
                    let entry = parse_entry(body)?;
                    out.0
                        .insert(entry.path.to_vec(), Some(rest[..=nul].to_vec()));
                }
                b'-' if !body.is_empty() => {
                    out.0.insert(body.to_vec(), None);
                }
                _ => return None,
            }
            bytes = &rest[nul + 1..];
        }
        Some(out)
    }
}

/// One path that differs between two trees: the new (mode, id), or `None` if gone.
pub type TreeChange = (Vec<u8>, Option<(u32, Oid)>);

/// SHA-256 and size of one blob.
#[derive(Clone, Copy)]
struct BlobHash {
    sha256: [u8; 32],
    size: u64,
}

/// The lowercase hex of a hash or an object id (at most 32 bytes), on the stack.
struct HashHex {
    text: [u8; 64],
    len: usize,
}

impl HashHex {
    fn of(bytes: &[u8]) -> HashHex {
        let mut text = [0u8; 64];
        let len = 2 * bytes.len().min(32);
        // Cannot fail: the output is exactly twice the input's length.
        let _ = hex::encode_to_slice(&bytes[..len / 2], &mut text[..len]);
        HashHex { text, len }
    }
}

impl std::ops::Deref for HashHex {
    type Target = str;
    fn deref(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.text[..self.len]).unwrap_or_default()
    }
}

/// Builds manifests, remembering every blob it hashed so that a run over many
/// commits hashes each blob once.
pub struct Builder<'r> {
    repo: &'r Repo,
    // Hashed, not ordered: a backfill looks up every changed entry of every commit
    // among up to 2^19 blobs, and a B-tree's levels were a cache miss each.
    blobs: HashMap<IdKey, BlobHash>,
    /// Whether blobs may be read from the checkout ([`Builder::reading_checkout`]),
    /// and the checkout once a batch large enough to be worth its index was asked.
    checkout: Option<OnceCell<Option<Checkout>>>,
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
            checkout: None,
        }
    }

    /// Lets batches of blobs be read from the checkout where a file there holds
    /// them (`checkout` says when that is proved). Only sealing asks this: a check
    /// reads the object store alone.
    pub fn reading_checkout(&mut self) {
        self.checkout = Some(OnceCell::new());
    }

    /// The checkout to read a batch of blobs from, its index read on first use.
    fn checkout(&self) -> Option<&Checkout> {
        self.checkout
            .as_ref()?
            .get_or_init(|| Checkout::open(self.repo))
            .as_ref()
    }

    /// The manifest of `tree`, hashing every blob (reusing those already seen).
    pub fn full(&mut self, tree: &Tree<'_>) -> Result<Manifest> {
        let mut pending = Vec::new();
        self.walk(tree, &mut Vec::new(), &mut pending)?;
        pending.sort_by(|a, b| a.path.cmp(&b.path));
        self.hash_all(pending.iter().map(|p| (p.mode, p.oid)))?;
        let mut canonical = Vec::with_capacity(pending.len() * 100);
        let (mut files, mut bytes) = (0, 0);
        for p in &pending {
            let (hash, size) = self.entry_fields(p.mode, p.oid)?;
            push_entry(&mut canonical, p.mode, &hash, size, &p.path);
            files += 1;
            bytes += size;
        }
        Ok(Manifest::from_parts(canonical, files, bytes))
    }

    /// What changed between two trees, as manifest entries: only the blobs the diff
    /// names are hashed.
    pub fn changes(&mut self, base_tree: &Tree<'_>, tree: &Tree<'_>) -> Result<Changes> {
        let mut diff = Vec::new();
        self.diff(Some(base_tree), Some(tree), &mut Vec::new(), &mut diff)?;
        self.changes_from(diff)
    }

    /// A blob's hash computed elsewhere (`history::prehash`, from the same store).
    pub fn add_hashed(&mut self, blob: Oid, sha256: [u8; 32], size: u64) {
        self.blobs.insert(IdKey(blob), BlobHash { sha256, size });
    }

    /// Manifest entries for tree changes found by a diff (this builder's, or git's),
    /// hashing the blobs not hashed yet.
    pub fn changes_from(&mut self, diff: Vec<TreeChange>) -> Result<Changes> {
        self.hash_all(diff.iter().filter_map(|(_, blob)| *blob))?;
        let mut changes = Changes::default();
        for (path, blob) in diff {
            let entry = match blob {
                Some((mode, oid)) => {
                    let (hash, size) = self.entry_fields(mode, oid)?;
                    let mut line = Vec::with_capacity(80 + path.len());
                    push_entry(&mut line, mode, &hash, size, &path);
                    Some(line)
                }
                None => None,
            };
            changes.0.insert(path, entry);
        }
        Ok(changes)
    }

    /// The entries that differ between two trees, as (path, new (mode, id) or `None`
    /// for a deletion). Subtrees with equal ids are skipped without being read, so the
    /// cost is that of the change, not of the tree (libgit2's tree diff walks both
    /// trees whole).
    fn diff(
        &self,
        old: Option<&Tree<'_>>,
        new: Option<&Tree<'_>>,
        prefix: &mut Vec<u8>,
        out: &mut Vec<TreeChange>,
    ) -> Result<()> {
        let git = &self.repo.git;
        let index = |t: Option<&Tree<'_>>| -> HashMap<Vec<u8>, (Oid, i32, bool)> {
            t.map(|t| {
                t.iter()
                    .map(|e| {
                        let is_tree = e.kind() == Some(ObjectType::Tree);
                        (e.name_bytes().to_vec(), (e.id(), e.filemode_raw(), is_tree))
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let (before, after) = (index(old), index(new));
        let mut names: Vec<&Vec<u8>> = before.keys().chain(after.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let (a, b) = (before.get(name), after.get(name));
            if let (Some(a), Some(b)) = (a, b) {
                if a.0 == b.0 && a.1 == b.1 {
                    continue;
                }
            }
            let len = prefix.len();
            prefix.extend_from_slice(name);
            let subtree = |e: Option<&(Oid, i32, bool)>| -> Result<Option<Tree<'_>>> {
                match e {
                    Some((id, _, true)) => Ok(Some(git.find_tree(*id)?)),
                    _ => Ok(None),
                }
            };
            let (old_sub, new_sub) = (subtree(a)?, subtree(b)?);
            if old_sub.is_some() || new_sub.is_some() {
                prefix.push(b'/');
                self.diff(old_sub.as_ref(), new_sub.as_ref(), prefix, out)?;
                prefix.pop();
            }
            let old_leaf = a.is_some_and(|e| !e.2);
            match b {
                Some(&(oid, mode, false)) => out.push((prefix.clone(), Some((mode as u32, oid)))),
                _ if old_leaf => out.push((prefix.clone(), None)),
                _ => {}
            }
            prefix.truncate(len);
        }
        Ok(())
    }

    /// The hash and size an entry records. Every blob was hashed by `hash_all`
    /// first; one that was not is an error, never a made-up hash in a manifest.
    fn entry_fields(&self, mode: u32, oid: Oid) -> Result<(HashHex, u64)> {
        if mode == MODE_GITLINK {
            return Ok((HashHex::of(oid.as_bytes()), 0));
        }
        let h = self
            .blobs
            .get(&IdKey(oid))
            .ok_or_else(|| Error::internal(format!("blob {oid} was not hashed")))?;
        Ok((HashHex::of(&h.sha256), h.size))
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

    /// Hashes every blob among `entries` (mode, id) not hashed yet, in parallel when
    /// there are many.
    fn hash_all(&mut self, entries: impl Iterator<Item = (u32, Oid)>) -> Result<()> {
        let mut todo: Vec<Oid> = entries
            .filter(|(mode, oid)| *mode != MODE_GITLINK && !self.blobs.contains_key(&IdKey(*oid)))
            .map(|(_, oid)| oid)
            .collect();
        todo.sort_unstable();
        todo.dedup();
        let at = self.repo.locator();
        let hashed: Vec<(Oid, BlobHash)> = if todo.len() < PARALLEL_MIN {
            todo.iter()
                .map(|oid| Ok((*oid, hash_blob(&self.repo.git, *oid)?)))
                .collect::<Result<_>>()?
        } else {
            // Reading the index is worth it for a batch, not for a hook's few blobs.
            let checkout = self.checkout();
            // A few chunks per thread, each with its own repository handle: opening
            // one loads the pack indexes, so it must not happen per blob or per split.
            let chunk = todo.len().div_ceil(rayon::current_num_threads() * 4);
            let chunks: Vec<Vec<(Oid, BlobHash)>> = todo
                .par_chunks(chunk)
                .map(|oids| {
                    let git = at.open().map_err(|e| {
                        Error::environment(format!("cannot reopen the repository: {}", e.message()))
                            .with_source(e)
                    })?;
                    oids.iter()
                        .map(|oid| match checkout.and_then(|c| c.hash(*oid)) {
                            Some(h) => Ok((
                                *oid,
                                BlobHash {
                                    sha256: h.sha256,
                                    size: h.size,
                                },
                            )),
                            None => Ok((*oid, hash_blob(&git, *oid)?)),
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?;
            chunks.into_iter().flatten().collect()
        };
        self.blobs
            .extend(hashed.into_iter().map(|(oid, h)| (IdKey(oid), h)));
        Ok(())
    }
}

fn hash_blob(git: &Repository, oid: Oid) -> Result<BlobHash> {
    let (size, kind) = git.odb()?.read_header(oid)?;
    if kind != ObjectType::Blob {
        return Err(Error::environment(format!(
            "tree entry {oid} is not a blob"
        )));
    }
    if (size as u64) <= STREAM_THRESHOLD {
        let blob = git.find_blob(oid)?;
        return Ok(BlobHash {
            sha256: Sha256::digest(blob.content()).into(),
            size: size as u64,
        });
    }
    stream_blob(git, oid, size as u64)
}

/// Hashes a large blob as a stream from `git cat-file`, which reads it as git
/// itself does (objects.rs says why that matters).
fn stream_blob(git: &Repository, oid: Oid, size: u64) -> Result<BlobHash> {
    let stream = crate::objects::open_blob(git.path(), oid, size)?;
    let mut hasher = Sha256::new();
    stream.copy_into(oid, &mut hasher)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(path: &str, size: u64) -> Vec<u8> {
        let mut out = Vec::new();
        push_entry(&mut out, 0o100644, &"ab".repeat(32), size, path.as_bytes());
        out
    }

    fn manifest(paths: &[(&str, u64)]) -> Manifest {
        let canonical: Vec<u8> = paths.iter().flat_map(|(p, s)| line(p, *s)).collect();
        let (files, bytes) = (paths.len() as u64, paths.iter().map(|(_, s)| s).sum());
        Manifest::from_parts(canonical, files, bytes)
    }

    /// The hand-written entry writer is the `format!` layout it replaced, byte for
    /// byte: modes zero-padded to six octal digits (wider ones whole), sizes in
    /// decimal, hashes of both lengths.
    #[test]
    fn entries_are_written_as_the_format_layout() {
        let sha256 = "ab".repeat(32);
        let sha1 = "c".repeat(40);
        for mode in [
            0,
            0o644,
            0o040000,
            0o100644,
            0o100755,
            0o120000,
            0o160000,
            0o777_777,
            0o1_000_000,
            u32::MAX,
        ] {
            for size in [0, 7, 9, 10, 99, 100, 48_223_877, u64::MAX] {
                for hash in [&sha256, &sha1] {
                    let mut ours = Vec::new();
                    push_entry(&mut ours, mode, hash, size, b"dir/a b");
                    let layout = format!("{mode:06o} {hash} {size} dir/a b\0");
                    assert_eq!(String::from_utf8(ours).unwrap(), layout);
                }
            }
        }
        let id = Oid::from_str("0a50d3a55c16d8da59759762e41fb9dc10391d53").unwrap();
        assert_eq!(&*HashHex::of(id.as_bytes()), id.to_string());
        assert_eq!(&*HashHex::of(&[0xab; 32]), sha256);
    }

    #[test]
    fn apply_inserts_replaces_and_deletes_anywhere() {
        let base = manifest(&[("b", 1), ("d/e", 2), ("f", 3)]);
        let mut changes = Changes::default();
        changes.0.insert(b"a".to_vec(), Some(line("a", 10)));
        changes.0.insert(b"c".to_vec(), Some(line("c", 20)));
        changes.0.insert(b"d/e".to_vec(), None);
        changes.0.insert(b"f".to_vec(), Some(line("f", 30)));
        changes.0.insert(b"not-there".to_vec(), None);
        changes.0.insert(b"z".to_vec(), Some(line("z", 40)));
        let got = Manifest::derive(&Rc::new(base), changes);
        let streamed = got.digest();
        let want = manifest(&[("a", 10), ("b", 1), ("c", 20), ("f", 30), ("z", 40)]);
        assert_eq!(streamed, want.digest(), "streamed digest");
        assert_eq!(got.canonical(), want.canonical());
        assert_eq!((got.files(), got.bytes()), (5, 101));
        assert_eq!(got.digest(), want.digest());
        // Derivations compose onto the same root.
        let mut more = Changes::default();
        more.0.insert(b"b".to_vec(), None);
        let again = Manifest::derive(&Rc::new(got), more);
        let want = manifest(&[("a", 10), ("c", 20), ("f", 30), ("z", 40)]);
        assert_eq!(again.digest(), want.digest());
        assert_eq!(again.canonical(), want.canonical());
    }

    #[test]
    fn digest_pair_agrees_with_each_digest_on_one_thread_or_two() {
        // Below and above PAIR_MIN_BYTES: hashed on one thread, then on two.
        for n in [3, 4_000] {
            let paths: Vec<(String, u64)> = (0..n).map(|i| (format!("d/f{i:06}"), i)).collect();
            let refs: Vec<(&str, u64)> = paths.iter().map(|(p, s)| (p.as_str(), *s)).collect();
            let base = Rc::new(manifest(&refs));
            assert_eq!(base.canonical().len() >= PAIR_MIN_BYTES, n > 3);
            let mut changes = Changes::default();
            changes
                .0
                .insert(b"d/f000001".to_vec(), Some(line("d/f000001", 7)));
            changes.0.insert(b"d/f000002".to_vec(), None);
            changes.0.insert(b"e".to_vec(), Some(line("e", 9)));
            let derived = Manifest::derive(&base, changes);
            // Built whole, with nothing computed yet: what each digest must be.
            let want = (
                Manifest::whole(&base).digest(),
                Manifest::whole(&derived).digest(),
            );
            assert_ne!(want.0, want.1);
            assert_eq!(Manifest::digest_pair(&base, &derived), want);
            // Known already: kept, not recomputed.
            assert_eq!(Manifest::digest_pair(&base, &derived), want);
            assert_eq!((base.digest(), derived.digest()), want);
            // A derivation of a derivation, against its own (derived) base.
            let mut more = Changes::default();
            more.0.insert(b"d/f000000".to_vec(), None);
            let again = Manifest::derive(&Rc::new(derived.clone()), more);
            let want2 = Manifest::whole(&again).digest();
            let fresh = Manifest::derive(&base, derived.derivation().unwrap().as_ref().clone());
            assert_eq!(
                Manifest::digest_pair(&fresh, &again),
                (want.1.clone(), want2)
            );
        }
    }

    #[test]
    fn a_gitlink_with_a_space_where_a_sha256_hash_would_end_parses_and_derives() {
        // "160000 <40 hex> 0 " is 50 bytes: the path's byte 21 is the entry's byte 71.
        let path = format!("{} b", "a".repeat(21));
        let mut gitlink = Vec::new();
        push_entry(
            &mut gitlink,
            MODE_GITLINK,
            &"12".repeat(20),
            0,
            path.as_bytes(),
        );
        assert_eq!(gitlink[71], b' ');
        let entry = parse_entry(&gitlink[..gitlink.len() - 1]).expect("parses");
        assert_eq!((entry.path, entry.hash.len()), (path.as_bytes(), 40));
        let canonical = [gitlink.clone(), line("z", 1)].concat();
        let base = Rc::new(Manifest::from_parts(canonical, 2, 1));
        let mut changes = Changes::default();
        changes.0.insert(b"b".to_vec(), Some(line("b", 2)));
        let derived = Manifest::derive(&base, changes);
        assert_eq!(
            derived.canonical(),
            [gitlink, line("b", 2), line("z", 1)].concat()
        );
        assert_eq!((derived.files(), derived.bytes()), (3, 3));
        assert_eq!(base.entries().count(), 2);
    }

    #[test]
    fn apply_to_empty_and_to_everything() {
        let empty = manifest(&[]);
        let mut add = Changes::default();
        add.0.insert(b"x".to_vec(), Some(line("x", 1)));
        assert_eq!(
            Manifest::derive(&Rc::new(empty), add).canonical(),
            manifest(&[("x", 1)]).canonical()
        );
        let full = manifest(&[("x", 1)]);
        let mut del = Changes::default();
        del.0.insert(b"x".to_vec(), None);
        assert!(Manifest::derive(&Rc::new(full), del).canonical().is_empty());
    }

    #[test]
    fn lower_bound_finds_every_position() {
        let m = manifest(&[("a", 1), ("b b", 2), ("c", 3)]);
        let c = m.canonical();
        assert_eq!(lower_bound(c, 0, b"0"), 0);
        assert_eq!(lower_bound(c, 0, b"a"), 0);
        let second = line("a", 1).len();
        assert_eq!(lower_bound(c, 0, b"a0"), second);
        assert_eq!(lower_bound(c, 0, b"b b"), second);
        assert_eq!(lower_bound(c, 0, b"zz"), c.len());
    }

    /// The galloping search against a linear scan, from every entry boundary, over a
    /// manifest long enough for many gallops: paths with spaces, SHA-1 gitlinks (a
    /// shorter hash), paths present and paths between them.
    #[test]
    fn lower_bound_agrees_with_a_scan_from_every_boundary() {
        let mut paths: Vec<Vec<u8>> = (0..600u32)
            .map(|i| format!("d{:03}/f {i}", i / 7).into_bytes())
            .collect();
        paths.sort();
        let mut canonical = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            match i % 5 {
                0 => push_entry(&mut canonical, MODE_GITLINK, &"c".repeat(40), 0, path),
                _ => push_entry(&mut canonical, 0o100644, &"ab".repeat(32), i as u64, path),
            }
        }
        let boundaries: Vec<usize> = std::iter::once(0)
            .chain(memchr::memchr_iter(0, &canonical).map(|n| n + 1))
            .collect();
        let scan = |from: usize, path: &[u8]| -> usize {
            boundaries
                .iter()
                .copied()
                .filter(|b| *b >= from)
                .find(|b| path_at(&canonical, *b).is_none_or(|(_, p)| p >= path))
                .unwrap_or(canonical.len())
        };
        let mut probes: Vec<Vec<u8>> = paths.clone();
        probes.extend(paths.iter().map(|p| [p.as_slice(), b"0"].concat()));
        probes.extend([b"".to_vec(), b"a".to_vec(), b"zzz".to_vec()]);
        for from in boundaries.iter().step_by(13).copied() {
            for probe in &probes {
                assert_eq!(
                    lower_bound(&canonical, from, probe),
                    scan(from, probe),
                    "from {from}, probe {}",
                    String::from_utf8_lossy(probe)
                );
            }
        }
    }

    #[test]
    fn changes_round_trip_and_reject_garbage() {
        let mut changes = Changes::default();
        changes.0.insert(b"a".to_vec(), Some(line("a", 1)));
        changes.0.insert(b"gone".to_vec(), None);
        let bytes = changes.to_bytes();
        assert_eq!(Changes::from_bytes(&bytes), Some(changes));
        assert_eq!(Changes::from_bytes(b"+not an entry\0"), None);
        assert_eq!(Changes::from_bytes(b"?x\0"), None);
    }

    #[test]
    fn cache_form_round_trips_and_detects_damage() {
        let m = manifest(&[("a", 1), ("b", 2)]);
        let mut bytes = m.cache_header().into_bytes();
        bytes.extend_from_slice(m.canonical());
        let dir = tempfile::tempdir().unwrap();
        let read = |content: &[u8]| {
            let path = dir.path().join("entry");
            std::fs::write(&path, content).unwrap();
            Manifest::read_cache(&std::fs::File::open(&path).unwrap())
        };
        let back = read(&bytes).unwrap();
        assert_eq!(back.canonical(), m.canonical());
        assert_eq!((back.files(), back.bytes()), (2, 3));
        assert_eq!(back.digest(), m.digest());
        // Empty, cut after the header, and one bit off: each a miss.
        let header = m.cache_header().len();
        assert!(read(b"").is_none());
        assert!(read(&bytes[..header]).is_none());
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        assert!(read(&bytes).is_none());
        assert!(Manifest::from_cache_form(Bytes::Built(bytes)).is_none());
    }
}
