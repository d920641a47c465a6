//! Local, disposable memory of manifests already computed on this machine, so that a
//! hook costs what changed and not what the repository holds.
//!
//! Two stores under `<common dir>/seal/cache/`:
//! - `manifests/<tree id>`: canonical manifest bytes of recently sealed trees, the
//!   base from which the next commit's manifest is derived by a tree diff. At most
//!   [`KEEP_MANIFESTS`] are kept, the least recently written evicted first.
//! - `digests/<2 hex>/<38 hex>`: the manifest digest of every tree whose manifest was
//!   computed here, so that `verify` and `pre-push` need not recompute it.
//!
//! Invariants: entries are written atomically and only from manifests computed from
//! the tree they are named after; a missing, unreadable or corrupt entry is a miss,
//! never an error; deleting the whole directory loses nothing but time.
//! `verify --no-cache` bypasses both stores.

use std::collections::VecDeque;
use std::rc::Rc;

use camino::Utf8PathBuf;
use git2::{Oid, Tree};

use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::git::Repo;
use crate::manifest::{Builder, Manifest};

/// How many full manifests the cache keeps on disk.
pub const KEEP_MANIFESTS: usize = 6;

/// How many manifests one run keeps in memory as bases for the next commit.
const KEEP_IN_MEMORY: usize = 4;

/// How a run may use the on-disk cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read it, and record what this run computes.
    ReadWrite,
    /// Read it, write nothing (dry runs).
    ReadOnly,
    /// Neither: recompute everything from blob contents (`verify --no-cache`).
    Off,
}

/// Computes manifests with the help of the cache.
pub struct Manifests<'r> {
    builder: Builder<'r>,
    dir: Utf8PathBuf,
    mode: CacheMode,
    recent: VecDeque<(Oid, Rc<Manifest>)>,
}

impl<'r> Manifests<'r> {
    pub fn new(repo: &'r Repo, mode: CacheMode) -> Self {
        Manifests {
            builder: Builder::new(repo),
            dir: repo.seal_dir().join("cache"),
            mode,
            recent: VecDeque::new(),
        }
    }

    /// The manifest digest of `tree`: remembered if this machine computed it before,
    /// computed (and remembered) otherwise. `bases` are trees likely to be close
    /// (the commit's parents), used to derive the manifest incrementally.
    pub fn digest(&mut self, tree: &Tree<'_>, bases: &[Tree<'_>]) -> Result<String> {
        if self.mode != CacheMode::Off {
            if let Some(d) = self.known_digest(tree.id()) {
                return Ok(d);
            }
        }
        Ok(self.manifest(tree, bases)?.digest())
    }

    /// The full manifest of `tree`.
    pub fn manifest(&mut self, tree: &Tree<'_>, bases: &[Tree<'_>]) -> Result<Rc<Manifest>> {
        if let Some(m) = self.lookup(tree.id()) {
            return Ok(m);
        }
        let mut built = None;
        for base in bases {
            if let Some(base_manifest) = self.lookup(base.id()) {
                built = Some(self.builder.from_base(base, &base_manifest, tree)?);
                break;
            }
        }
        let manifest = Rc::new(match built {
            Some(m) => m,
            None => self.builder.full(tree)?,
        });
        self.remember(tree.id(), &manifest);
        Ok(manifest)
    }

    /// A manifest held in memory or in the on-disk cache.
    fn lookup(&mut self, tree: Oid) -> Option<Rc<Manifest>> {
        if let Some((_, m)) = self.recent.iter().find(|(t, _)| *t == tree) {
            return Some(Rc::clone(m));
        }
        if self.mode == CacheMode::Off {
            return None;
        }
        let bytes = fs_err::read(self.manifest_path(tree)).ok()?;
        let m = Rc::new(Manifest::from_cache_bytes(bytes)?);
        self.keep_recent(tree, Rc::clone(&m));
        Some(m)
    }

    fn keep_recent(&mut self, tree: Oid, m: Rc<Manifest>) {
        if self.recent.len() == KEEP_IN_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back((tree, m));
    }

    /// Records a manifest computed here. Cache writes are best-effort: a read-only or
    /// full disk costs speed later, never correctness now.
    fn remember(&mut self, tree: Oid, m: &Rc<Manifest>) {
        self.keep_recent(tree, Rc::clone(m));
        if self.mode != CacheMode::ReadWrite {
            return;
        }
        let _ = write_atomic(&self.digest_path(tree), m.digest().as_bytes());
        if write_atomic(&self.manifest_path(tree), &m.to_cache_bytes()).is_ok() {
            self.evict();
        }
    }

    /// Keeps the [`KEEP_MANIFESTS`] most recently written manifests.
    fn evict(&self) {
        let Ok(dir) = fs_err::read_dir(self.dir.join("manifests")) else {
            return;
        };
        let mut files: Vec<_> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() <= KEEP_MANIFESTS {
            return;
        }
        files.sort();
        for (_, path) in &files[..files.len() - KEEP_MANIFESTS] {
            let _ = std::fs::remove_file(path);
        }
    }

    fn known_digest(&self, tree: Oid) -> Option<String> {
        let d = fs_err::read_to_string(self.digest_path(tree)).ok()?;
        let ok = d.len() == 71
            && d.starts_with("sha256:")
            && d[7..].bytes().all(|b| b.is_ascii_hexdigit());
        ok.then_some(d)
    }

    fn manifest_path(&self, tree: Oid) -> Utf8PathBuf {
        self.dir.join("manifests").join(tree.to_string())
    }

    fn digest_path(&self, tree: Oid) -> Utf8PathBuf {
        let hex = tree.to_string();
        self.dir.join("digests").join(&hex[..2]).join(&hex[2..])
    }
}
