//! Local, disposable memory of manifests already computed on this machine, so that a
//! hook costs what changed and not what the repository holds.
//!
//! Three stores under `<common dir>/seal/cache/`:
//! - `manifests/<tree id>`: a whole manifest (a header with its totals and a CRC-32,
//!   then the canonical bytes). At most [`KEEP_FULL`] are kept.
//! - `deltas/<tree id>`: a manifest as the changes from a whole one (`base=<tree>`),
//!   so that a commit writes a few hundred bytes, not the repository's size. Once
//!   the changes since the base pass [`delta_limit`] the next manifest is stored
//!   whole. At most [`KEEP_DELTAS`] are kept.
//! - `digests/journal`: the manifest digest of every tree whose manifest a run over
//!   single commits computed here (a hook, `verify` of a few commits), one line
//!   appended per tree, so that `verify` and `pre-push` need not recompute it
//!   ([`journal`]: bounded; past 256 KiB its older half moves into a pack).
//! - `digests/packs/<hash>.pack`: the same entries from a run over a history
//!   ([`Manifests::for_history`]), in one file per run (sorted fixed-size records
//!   under a CRC-32), since creating one file per commit cost more than sealing it.
//!   At most [`KEEP_PACKS`]; past that the writer merges them into one.
//!
//! Every store names entries by the full tree id, 40 or 64 hex digits (a SHA-256
//! repository), and reads names back in the repository's format.
//!
//! A run writes the digest of every manifest it computes, but only the last manifest
//! itself (the one the next commit derives from), when it ends.
//!
//! Manifests of fewer than [`CACHE_MIN_FILES`] entries are not cached, and their
//! digests are remembered only by a history run, in its pack.
//!
//! Invariants: entries are written atomically and only from manifests computed from
//! the tree they are named after; a missing, unreadable or corrupt entry (or a delta
//! whose base is gone) is a miss, never an error; deleting the whole directory loses
//! nothing but time. `verify --no-cache` bypasses every store. A sealing run
//! ([`Manifests::vouched_by`]) derives from a manifest read from disk only when a
//! seal states its digest, so a rewritten entry costs time, never a wrong seal.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use camino::Utf8PathBuf;
use git2::{Commit, Oid, Tree};

use crate::error::Result;
use crate::fsutil::write_atomic_parts;
use crate::git::{IdKey, Repo};
use crate::history::{self, DiffFeed};
use crate::manifest::{Builder, Changes, Manifest};
use crate::memo::Generations;

mod journal;

/// What a seal states about a manifest, and what the cache remembers of one: its
/// digest (`sha256:<hex>`), file count and byte total.
pub type Summary = (String, u64, u64);

/// How many whole manifests the cache keeps on disk.
pub const KEEP_FULL: usize = 4;
/// How many trees a generation of [`Manifests::reaches_raw_modes`]' memory holds: one
/// tree larger than this costs one walk, not one per commit (the memory keeps what
/// the last walk answered); remembering 2^20 held 37 MB at git/git's backfill's peak.
const RAW_REMEMBERED_MAX: usize = 1 << 16;
/// How many delta manifests the cache keeps on disk (trimmed back to this on about
/// one delta write in 16).
pub const KEEP_DELTAS: usize = 512;
/// Changes from its base past which a manifest is stored whole, and past which a
/// manifest held in memory is rebuilt whole (see [`Manifests::remember`]).
///
/// Every later derivation costs what the changes since the whole base hold (each
/// is looked up in the base, twice per commit, and written in every delta), while
/// a rebuild costs one copy of the manifest: a limit of one 64th of the entries
/// keeps the copy's share small and the changes' share bounded, so a run over a
/// long history costs linear time, not time quadratic in its length.
pub fn delta_limit(files: u64) -> usize {
    usize::try_from(files / 64)
        .unwrap_or(usize::MAX)
        .clamp(256, 4096)
}

/// Manifests with fewer entries are not written to the cache, nor their digests as
/// files: recomputing them costs less than the files would (this keeps a small
/// repository's hooks at their fixed cost). A history run's digest pack holds them.
pub const CACHE_MIN_FILES: u64 = 2_000;

/// A line of the digest journal for `tree` (hex), as its writer writes it: for tests
/// that rewrite the cache as an attacker would.
#[doc(hidden)]
pub fn journal_line(tree: &str, summary: &Summary) -> String {
    journal::line(tree, summary)
}

/// How many digest packs the cache keeps before merging them into one.
pub const KEEP_PACKS: usize = 8;
/// Digest entries a history run holds before writing them as a pack, so that its
/// memory stays bounded whatever the history's length.
const PACK_MAX: usize = 1 << 16;
/// A pack record: tree id, manifest digest, files and bytes (little-endian u64), in
/// the repository's id length ([`PackLayout`]); held in memory in the longest.
const RECORD_MAX: usize = 32 + 32 + 8 + 8;
/// The most records one pack holds (4 Mi trees, 285 MB of SHA-1 records on disk and
/// 335 MB held for a merge: far past the longest public histories), so that reading
/// one is bounded whatever the file on disk says: a longer file is a miss, and a
/// merge keeps the newest packs that fit.
const PACK_RECORDS_MAX: usize = 1 << 22;
/// The longest pack header the reader accepts (the writer's is under 64 bytes).
const PACK_HEADER_MAX: usize = 128;

/// The shape of a repository's digest packs: SHA-1 records are 68 bytes under
/// `git-seal digest pack v1`, SHA-256 records 80 bytes under
/// `git-seal digest pack v1-sha256` (a pack of the other shape is a miss).
#[derive(Clone, Copy)]
struct PackLayout {
    id: usize,
    magic: &'static str,
}

impl PackLayout {
    fn of(format: git2::ObjectFormat) -> PackLayout {
        match format {
            git2::ObjectFormat::Sha1 => PackLayout {
                id: 20,
                magic: "git-seal digest pack v1",
            },
            _ => PackLayout {
                id: 32,
                magic: "git-seal digest pack v1-sha256",
            },
        }
    }

    fn record(self) -> usize {
        self.id + 48
    }
}

/// How many manifests one run keeps in memory as bases for the next commit.
const KEEP_IN_MEMORY: usize = 4;
/// How many commits the search for a cached ancestor reads (see
/// [`Manifests::manifest_of`]) before a whole walk is cheaper to risk.
pub const ANCESTRY_LIMIT: usize = 1_000;
const DELTA_MAGIC: &str = "git-seal manifest delta v1";

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

impl CacheMode {
    /// What a command that takes `--dry-run` may do with the cache: a dry run
    /// changes nothing, not even the cache.
    pub fn unless_dry_run(dry_run: bool) -> CacheMode {
        if dry_run {
            CacheMode::ReadOnly
        } else {
            CacheMode::ReadWrite
        }
    }
}

/// A manifest and, when it derives from a whole one, that one's tree.
#[derive(Clone)]
struct Known {
    manifest: Rc<Manifest>,
    root: Option<Oid>,
}

/// Computes manifests with the help of the cache.
pub struct Manifests<'r> {
    repo: &'r Repo,
    builder: Builder<'r>,
    /// Entries are named by the full hex id, in either format.
    format: git2::ObjectFormat,
    dir: Utf8PathBuf,
    mode: CacheMode,
    recent: VecDeque<(Oid, Known)>,
    /// The last manifest computed, to store when the run ends.
    newest: Option<(Oid, Known)>,
    /// A run over a history: bases are kept whole, digests go into one pack.
    history: bool,
    /// Digest records of this run not written yet (history runs).
    pending: Vec<[u8; RECORD_MAX]>,
    /// The digest packs on disk, read on the first lookup.
    packs: std::cell::OnceCell<Vec<Vec<u8>>>,
    /// The digests single-commit runs computed (`digests/journal`).
    journal: journal::Journal,
    /// Whether this run searched the ancestry for a cached base already: once per
    /// run, for its first manifest (later ones derive from what the run holds).
    searched: bool,
    /// What vouches for a manifest read from disk before it serves as a base: the
    /// manifest (digest, files, bytes) a commit's seal states
    /// ([`Manifests::vouched_by`]).
    vouch: Option<Box<dyn Fn(Oid) -> Option<Summary> + 'r>>,
    /// git's diff of each planned commit from its base, computed ahead
    /// ([`Manifests::prepare_history`]).
    feed: Option<DiffFeed>,
    /// Trees of the store holding a mode git shows rewritten, and whether each tree
    /// asked about reaches one ([`Manifests::reaches_raw_modes`]).
    raw_trees: BTreeSet<Oid>,
    raw_reach: Option<history::RawReach>,
    reaches_raw: Generations<IdKey, bool>,
    /// Manifests read from disk whose seal states a digest not checked yet (tree,
    /// stated digest): held in `recent`, but no base until [`Manifests::manifest`]
    /// checks them, in the same pass as the manifest derived from them.
    unvouched: Vec<(Oid, String)>,
}

impl Drop for Manifests<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl<'r> Manifests<'r> {
    pub fn new(repo: &'r Repo, mode: CacheMode) -> Self {
        Manifests {
            repo,
            builder: Builder::new(repo),
            format: repo.object_format(),
            dir: repo.seal_dir().join("cache"),
            mode,
            recent: VecDeque::new(),
            newest: None,
            history: false,
            pending: Vec::new(),
            packs: std::cell::OnceCell::new(),
            journal: journal::Journal::new(
                repo.seal_dir()
                    .join("cache")
                    .join("digests")
                    .join("journal"),
                repo.object_format(),
            ),
            searched: false,
            vouch: None,
            feed: None,
            raw_trees: BTreeSet::new(),
            raw_reach: None,
            reaches_raw: Generations::new(RAW_REMEMBERED_MAX),
            unvouched: Vec::new(),
        }
    }

    /// Prepares for manifests of many commits, parents before children: each one
    /// derived is kept whole as the next one's base (one copy, against the digest's
    /// pass over the same bytes, instead of a chain of changes that every later
    /// commit looks up again), and digests are written as one pack when the run
    /// ends instead of one file per commit.
    pub fn for_history(&mut self) {
        self.history = true;
    }

    /// Prepares a run that computes the manifests of `commits`, in this order (parents
    /// before children), when it is long enough and covers enough of the store to pay
    /// (`history::worth_it`): reads every object of the store once, hashing the blobs,
    /// and starts git's diff of each commit from its planned base, which
    /// [`Manifests::manifest_of`] then takes in turn. An accelerator: if git fails,
    /// the run computes as it would have without it.
    pub fn prepare_history(&mut self, commits: &[Oid]) -> Result<()> {
        if !history::worth_it(self.repo, commits.len()) {
            return Ok(());
        }
        self.history = true;
        let order = commits
            .iter()
            .map(|&c| Ok((c, self.repo.git.find_commit(c)?.parent_ids().collect())))
            .collect::<Result<Vec<_>>>()?;
        // Started first, so that git diffs ahead while the store is read.
        let feed = DiffFeed::start(self.repo, history::plan(&order, KEEP_IN_MEMORY)).ok();
        let builder = &mut self.builder;
        let prehashed = history::prehash(self.repo, |blob, sha256, size| {
            builder.add_hashed(blob, sha256, size)
        });
        let Ok(store) = prehashed else {
            return Ok(());
        };
        if !store.unscannable {
            self.feed = feed;
            self.raw_trees = store.raw_trees;
            self.raw_reach = store.reach;
        }
        Ok(())
    }

    /// Whether git's diff from `base` to `tree` is exact: neither reaches a tree
    /// holding a mode git shows rewritten (git would show a changed entry's mode
    /// canonicalised, and a change of mode alone not at all).
    fn feed_is_exact(&mut self, base: Option<Oid>, tree: Oid) -> Result<bool> {
        if self.raw_trees.is_empty() {
            return Ok(true);
        }
        Ok(!self.reaches_raw_modes(tree)?
            && !base
                .map(|b| self.reaches_raw_modes(b))
                .transpose()?
                .unwrap_or(false))
    }

    /// Whether `root` is, or holds at any depth, a tree of `raw_trees`. Remembered per
    /// tree, so a run reads each distinct tree once; walked with a stack, so a deep
    /// tree cannot exhaust the call stack. A tree the pass over the store indexed is
    /// answered from that index ([`history::RawReach`]), without reading it.
    fn reaches_raw_modes(&mut self, root: Oid) -> Result<bool> {
        if let Some(reaches) = self.raw_reach.as_ref().and_then(|r| r.answer(root)) {
            return Ok(reaches);
        }
        self.reaches_raw.turn();
        let mut stack: Vec<(Oid, Option<Vec<Oid>>)> = vec![(root, None)];
        while let Some((tree, subtrees)) = stack.pop() {
            if self.reaches_raw.get(&IdKey(tree)).is_some() {
                continue;
            }
            if self.raw_trees.contains(&tree) {
                self.reaches_raw.insert(IdKey(tree), true);
                continue;
            }
            if let Some(reaches) = self.raw_reach.as_ref().and_then(|r| r.answer(tree)) {
                self.reaches_raw.insert(IdKey(tree), reaches);
                continue;
            }
            match subtrees {
                None => {
                    let subtrees: Vec<Oid> = self
                        .repo
                        .git
                        .find_tree(tree)?
                        .iter()
                        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                        .map(|e| e.id())
                        .collect();
                    let pending: Vec<Oid> = subtrees
                        .iter()
                        .filter(|s| self.reaches_raw.get(&IdKey(**s)).is_none())
                        .copied()
                        .collect();
                    stack.push((tree, Some(subtrees)));
                    stack.extend(pending.into_iter().map(|s| (s, None)));
                }
                Some(subtrees) => {
                    // Each was answered above it on the stack, or before this walk
                    // (the memory is reset only before one starts).
                    let reaches = subtrees
                        .iter()
                        .any(|s| self.reaches_raw.get(&IdKey(*s)).copied().unwrap_or(true));
                    self.reaches_raw.insert(IdKey(tree), reaches);
                }
            }
        }
        Ok(self.reaches_raw.get(&IdKey(root)).copied().unwrap_or(true))
    }

    /// Uses a manifest read from the on-disk cache as a base only when `stated`
    /// (the manifest digest, file count and byte total the seal of a commit states,
    /// if it has one) says the same as the manifest, and never the entry of the tree
    /// being computed itself (no seal can vouch for it yet). A CRC-32 catches a torn
    /// or corrupt entry, not one rewritten on purpose (a poisoned CI cache): with
    /// this, such an entry costs a whole walk, never a seal with a wrong digest or
    /// wrong totals. What sealing runs use.
    pub fn vouched_by(mut self, stated: impl Fn(Oid) -> Option<Summary> + 'r) -> Self {
        self.vouch = Some(Box::new(stated));
        self
    }

    /// Lets the manifests computed read blobs from the checkout where a file there
    /// provably holds them (`checkout`): sealing only, never a check.
    pub fn reading_checkout(mut self) -> Self {
        self.builder.reading_checkout();
        self
    }

    /// The manifest digest of `commit`'s tree: remembered if this machine computed it
    /// before, computed (and remembered) otherwise.
    pub fn digest_of(&mut self, commit: &Commit<'_>) -> Result<String> {
        if self.mode != CacheMode::Off {
            if let Some(d) = self.known_digest(commit.tree_id()) {
                return Ok(d);
            }
        }
        Ok(self.manifest_of(commit)?.digest())
    }

    /// The manifest digest, file count and byte total of `commit`'s tree: what a
    /// seal's `manifest` claims, all three from the remembered digest entry when it
    /// holds them (entries written before it did are a miss).
    pub fn summary_of(&mut self, commit: &Commit<'_>) -> Result<Summary> {
        if self.mode != CacheMode::Off {
            if let Some(known) = self.known_summary(commit.tree_id()) {
                return Ok(known);
            }
        }
        let m = self.manifest_of(commit)?;
        Ok((m.digest(), m.files(), m.bytes()))
    }

    /// The full manifest of `commit`'s tree, derived from a parent's where one is
    /// known (the trees likely to be closest), else from the nearest ancestor's in
    /// the on-disk cache (a commit made with hooks off, or fetched from someone
    /// without git-seal, has none: its child then costs the diff from the last tree
    /// this machine computed, not the repository), computed whole otherwise.
    pub fn manifest_of(&mut self, commit: &Commit<'_>) -> Result<Rc<Manifest>> {
        if let Some(m) = self.fed_manifest(commit)? {
            return Ok(m);
        }
        let tree = commit.tree()?;
        let mut bases = Vec::new();
        for parent in commit.parents() {
            if self.base_candidate(&parent) {
                bases.push(parent.tree()?);
                break;
            }
        }
        if bases.is_empty() && !self.in_memory(tree.id()) && !self.searched {
            self.searched = true;
            bases.extend(self.cached_ancestor(commit)?);
        }
        self.manifest(&tree, &bases)
    }

    /// `commit`'s manifest from the feed's changes, when the feed holds them and the
    /// base they are from is known (held by this run, or cached and vouched for).
    fn fed_manifest(&mut self, commit: &Commit<'_>) -> Result<Option<Rc<Manifest>>> {
        let Some((base, diff)) = self.feed.as_mut().and_then(|f| f.take(commit.id())) else {
            return Ok(None);
        };
        let tree = commit.tree_id();
        if self.in_memory(tree) {
            return Ok(None);
        }
        let base = base.map(|b| self.repo.git.find_commit(b)).transpose()?;
        if !self.feed_is_exact(base.as_ref().map(Commit::tree_id), tree)? {
            return Ok(None);
        }
        let base = match base {
            None => Known {
                manifest: Rc::new(Manifest::empty()),
                root: None,
            },
            Some(b) => {
                // The feed's base is checked alone: its changes are derived whole.
                if !(self.base_candidate(&b) && self.check_unvouched(b.tree_id())) {
                    return Ok(None);
                }
                match self.lookup(b.tree_id()) {
                    Some(known) => known,
                    None => return Ok(None),
                }
            }
        };
        let changes = self.builder.changes_from(diff)?;
        let first = Rc::new(Manifest::derive_whole(&base.manifest, changes));
        // The planned commits right after this one that derive from it, in a chain,
        // derived now too, so that their digests (a SHA-256 pass over each whole
        // manifest, most of a long run's own work) are taken on every core at once.
        let mut batch = vec![(tree, first)];
        let mut last = commit.id();
        while batch.len() < KEEP_IN_MEMORY {
            let Some(feed) = self.feed.as_mut() else {
                break;
            };
            let Some(next) = feed.next_step().filter(|s| s.base == Some(last)) else {
                break;
            };
            let next_tree = self.repo.git.find_commit(next.commit)?.tree_id();
            let last_tree = batch.last().map(|(t, _)| *t);
            if !self.feed_is_exact(last_tree, next_tree)? {
                break;
            }
            let Some(feed) = self.feed.as_mut() else {
                break;
            };
            let Some((_, diff)) = feed.take(next.commit) else {
                break;
            };
            let changes = self.builder.changes_from(diff)?;
            let Some((_, previous)) = batch.last() else {
                break;
            };
            let derived = Rc::new(Manifest::derive_whole(previous, changes));
            batch.push((next_tree, derived));
            last = next.commit;
        }
        let manifests: Vec<&Manifest> = batch.iter().map(|(_, m)| &**m).collect();
        Manifest::compute_digests(&manifests);
        let manifest = Rc::clone(&batch[0].1);
        for (tree, manifest) in batch {
            self.remember(
                tree,
                Known {
                    manifest,
                    root: None,
                },
            );
        }
        Ok(Some(manifest))
    }

    /// The nearest ancestor of `commit` (breadth first, at most [`ANCESTRY_LIMIT`]
    /// commits read) whose manifest is in the on-disk cache and vouched for.
    fn cached_ancestor<'t>(&mut self, commit: &Commit<'t>) -> Result<Option<Tree<'t>>> {
        let stored = self.stored_trees();
        if stored.is_empty() {
            return Ok(None);
        }
        let mut queue: VecDeque<Commit<'t>> = commit.parents().collect();
        let mut seen: BTreeSet<Oid> = queue.iter().map(Commit::id).collect();
        let mut read = 0;
        while let Some(c) = queue.pop_front() {
            read += 1;
            if read > ANCESTRY_LIMIT {
                break;
            }
            if stored.contains(&c.tree_id()) && self.base_candidate(&c) {
                return Ok(Some(c.tree()?));
            }
            for p in c.parents() {
                if seen.insert(p.id()) {
                    queue.push_back(p);
                }
            }
        }
        Ok(None)
    }

    /// The trees whose manifest the on-disk cache holds, whole or as a delta (the
    /// stores are kept small, so listing them costs less than a file per commit).
    fn stored_trees(&self) -> BTreeSet<Oid> {
        if self.mode == CacheMode::Off {
            return BTreeSet::new();
        }
        ["manifests", "deltas"]
            .iter()
            .filter_map(|store| std::fs::read_dir(self.dir.join(store)).ok())
            .flatten()
            .filter_map(|e| crate::git::parse_id(e.ok()?.file_name().to_str()?, self.format))
            .collect()
    }

    /// Whether `commit`'s manifest is known and may serve as a base: computed in
    /// this run, or read from disk and (when sealing) its commit's seal states a
    /// digest. That digest is not checked here: the manifest is recorded as
    /// `unvouched`, and [`Manifests::manifest`] checks it in the same pass as the
    /// manifest it derives from it, before keeping or writing anything (any other
    /// user of a candidate checks it first: [`Manifests::check_unvouched`]). One that
    /// is not a candidate is forgotten, so no later commit of the run derives from it.
    fn base_candidate(&mut self, commit: &Commit<'_>) -> bool {
        let tree = commit.tree_id();
        if self.in_memory(tree) {
            return true;
        }
        let Some(known) = self.lookup(tree) else {
            return false;
        };
        let Some(vouch) = &self.vouch else {
            return true;
        };
        let stated = vouch(commit.id());
        // The totals come from the entry's header, which its CRC does not cover:
        // checked here, at no cost; the digest, in the pass that hashes the bytes.
        let totals = (known.manifest.files(), known.manifest.bytes());
        if let Some((digest, ..)) = stated.filter(|(_, files, bytes)| (*files, *bytes) == totals) {
            self.unvouched.retain(|(t, _)| *t != tree);
            self.unvouched.push((tree, digest));
            return true;
        }
        self.forget(tree);
        false
    }

    /// Whether this run holds `tree`'s manifest, checked (or computed here).
    fn in_memory(&self, tree: Oid) -> bool {
        self.recent.iter().any(|(t, _)| *t == tree)
            && !self.unvouched.iter().any(|(t, _)| *t == tree)
    }

    fn forget(&mut self, tree: Oid) {
        self.recent.retain(|(t, _)| *t != tree);
        self.unvouched.retain(|(t, _)| *t != tree);
    }

    /// The digest a seal stated for `base`, when its manifest was read from disk and
    /// not checked yet: it must be checked before anything derived from it is kept.
    fn take_unvouched(&mut self, base: Oid) -> Option<String> {
        let at = self.unvouched.iter().position(|(t, _)| *t == base)?;
        Some(self.unvouched.swap_remove(at).1)
    }

    /// Checks now the digest stated for `tree`'s manifest, if it is unvouched (one
    /// SHA-256 pass over it): whether it may serve as a base. One that disagrees is
    /// forgotten.
    fn check_unvouched(&mut self, tree: Oid) -> bool {
        let Some(stated) = self.take_unvouched(tree) else {
            return true;
        };
        if self
            .lookup(tree)
            .is_some_and(|k| k.manifest.digest() == stated)
        {
            return true;
        }
        self.forget(tree);
        false
    }

    /// The full manifest of `tree`, derived from the first of `bases` that is known.
    fn manifest(&mut self, tree: &Tree<'_>, bases: &[Tree<'_>]) -> Result<Rc<Manifest>> {
        let own = match self.vouch {
            Some(_) if !self.in_memory(tree.id()) => None,
            _ => self.lookup(tree.id()),
        };
        if let Some(k) = own {
            return Ok(k.manifest);
        }
        let mut known_base = bases
            .iter()
            .find_map(|base| Some((base, self.lookup(base.id())?)));
        let base_id = known_base.as_ref().map(|(base, _)| base.id());
        let stated = match base_id {
            // A history run keeps each manifest whole: its base is checked alone.
            Some(id) if self.history => {
                if !self.check_unvouched(id) {
                    known_base = None;
                }
                None
            }
            Some(id) => self.take_unvouched(id),
            None => None,
        };
        let known = match known_base {
            Some((base, b)) if self.history => Known {
                manifest: Rc::new(Manifest::derive_whole(
                    &b.manifest,
                    self.builder.changes(base, tree)?,
                )),
                root: None,
            },
            Some((base, b)) => {
                let derived = Manifest::derive(&b.manifest, self.builder.changes(base, tree)?);
                match &stated {
                    // The base read from disk and the manifest derived from it are
                    // hashed at once; what derives from a base its seal does not
                    // vouch for is dropped, and the tree walked whole.
                    Some(stated) if Manifest::digest_pair(&b.manifest, &derived).0 != *stated => {
                        self.forget(base.id());
                        Known {
                            manifest: Rc::new(self.builder.full(tree)?),
                            root: None,
                        }
                    }
                    _ => Known {
                        manifest: Rc::new(derived),
                        root: Some(b.root.unwrap_or(base.id())),
                    },
                }
            }
            None => Known {
                manifest: Rc::new(self.builder.full(tree)?),
                root: None,
            },
        };
        let manifest = Rc::clone(&known.manifest);
        self.remember(tree.id(), known);
        Ok(manifest)
    }

    /// A manifest held in memory or in the on-disk cache.
    fn lookup(&mut self, tree: Oid) -> Option<Known> {
        if let Some((_, k)) = self.recent.iter().find(|(t, _)| *t == tree) {
            return Some(k.clone());
        }
        if self.mode == CacheMode::Off {
            return None;
        }
        let known = match self.read_full(tree) {
            Some(m) => Known {
                manifest: Rc::new(m),
                root: None,
            },
            None => self.read_delta(tree)?,
        };
        self.keep_recent(tree, known.clone());
        Some(known)
    }

    fn read_full(&self, tree: Oid) -> Option<Manifest> {
        Manifest::read_cache(&std::fs::File::open(self.full_path(tree)).ok()?)
    }

    fn read_delta(&self, tree: Oid) -> Option<Known> {
        let mut reader = BufReader::new(std::fs::File::open(self.delta_path(tree)).ok()?);
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let mut fields = header
            .trim_end()
            .strip_prefix(DELTA_MAGIC)?
            .split_whitespace();
        let mut field = |name: &str| fields.next()?.strip_prefix(name).map(str::to_string);
        let base = crate::git::parse_id(&field("base=")?, self.format)?;
        let files: u64 = field("files=")?.parse().ok()?;
        let bytes: u64 = field("bytes=")?.parse().ok()?;
        let crc = u32::from_str_radix(&field("crc32=")?, 16).ok()?;
        let mut body = Vec::new();
        reader.read_to_end(&mut body).ok()?;
        if crc32fast::hash(&body) != crc {
            return None;
        }
        let changes = Changes::from_bytes(&body)?;
        let manifest = Manifest::derive(&Rc::new(self.read_full(base)?), changes);
        (manifest.files() == files && manifest.bytes() == bytes).then(|| Known {
            manifest: Rc::new(manifest),
            root: Some(base),
        })
    }

    fn keep_recent(&mut self, tree: Oid, known: Known) {
        if self.recent.len() == KEEP_IN_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back((tree, known));
    }

    /// Records a manifest computed here: its digest entry now, and the manifest itself
    /// when this run ends ([`Manifests::flush`]), so that a run over a long history
    /// writes one manifest, not one per commit (creating and evicting thousands of
    /// files cost more than computing the manifests). Cache writes are best-effort: a
    /// read-only or full disk costs speed later, never correctness now.
    fn remember(&mut self, tree: Oid, mut known: Known) {
        let m = &known.manifest;
        let cached = self.writes(m);
        // A history run remembers every digest, whatever the manifest's size: a
        // record is 68 bytes (80 in SHA-256) of a pack the run writes anyway, and the
        // size threshold is there to spare a small repository's hook a file. Real
        // histories start small (curl's first 18,000 commits hold under 2,000
        // files): left out, their manifests were recomputed by every warm verify.
        if self.mode == CacheMode::ReadWrite && self.history {
            self.pending.push(record(self.layout(), tree, m));
            if self.pending.len() >= PACK_MAX {
                self.write_pack();
            }
        } else if cached {
            let moved = self
                .journal
                .append(tree, &(m.digest(), m.files(), m.bytes()));
            // What a compaction moves out of the journal is kept in a pack, so that a
            // repository sealed commit by commit never forgets a digest.
            if !moved.is_empty() {
                let layout = self.layout();
                self.pending
                    .extend(moved.iter().filter_map(|(t, s)| record_of(layout, *t, s)));
                self.write_pack();
            }
        }
        if cached {
            self.newest = Some((tree, known.clone()));
        }
        // The chain of changes kept in memory stays bounded: the next commit derives
        // from this one, and a chain that only grows made a backfill cost the square
        // of the history's length.
        let long = |c: &Changes| c.len() > delta_limit(known.manifest.files());
        if known.manifest.derivation().is_some_and(|c| long(c)) {
            known = Known {
                manifest: Rc::new(Manifest::whole(&known.manifest)),
                root: None,
            };
        }
        self.keep_recent(tree, known);
    }

    fn writes(&self, manifest: &Manifest) -> bool {
        self.mode == CacheMode::ReadWrite && manifest.files() >= CACHE_MIN_FILES
    }

    /// Stores the manifest this run computed last (the one the next commit derives
    /// from): as a delta from its whole base while that is small and the base is on
    /// disk, else whole. Runs when the run ends ([`Drop`]); a run killed first loses
    /// nothing but the time the next run spends recomputing it.
    pub fn flush(&mut self) {
        self.write_pack();
        let Some((tree, known)) = self.newest.take() else {
            return;
        };
        let m = &known.manifest;
        let as_delta = known.root.zip(m.derivation()).filter(|(root, changes)| {
            changes.len() <= delta_limit(m.files()) && self.full_path(*root).exists()
        });
        match as_delta {
            Some((base, changes)) => {
                let body = changes.to_bytes();
                let header = format!(
                    "{DELTA_MAGIC} base={base} files={} bytes={} crc32={:08x}\n",
                    m.files(),
                    m.bytes(),
                    crc32fast::hash(&body)
                );
                let parts = [header.as_bytes(), &body[..]];
                // Trimming scans the whole store, so it is not done on every run:
                // on one delta write in 16 (by the tree id, which is uniform),
                // keeping the store near KEEP_DELTAS.
                let trim = tree.as_bytes()[0].is_multiple_of(16);
                if write_atomic_parts(&self.delta_path(tree), &parts).is_ok() && trim {
                    self.evict("deltas", KEEP_DELTAS);
                }
            }
            None => {
                let header = m.cache_header();
                let parts = [header.as_bytes(), m.canonical()];
                if write_atomic_parts(&self.full_path(tree), &parts).is_ok() {
                    self.evict("manifests", KEEP_FULL);
                }
            }
        }
    }

    /// Keeps the `keep` most recently written entries of one store.
    fn evict(&self, store: &str, keep: usize) {
        let Ok(dir) = fs_err::read_dir(self.dir.join(store)) else {
            return;
        };
        let mut files: Vec<_> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() <= keep {
            return;
        }
        files.sort();
        for (_, path) in &files[..files.len() - keep] {
            let _ = std::fs::remove_file(path);
        }
    }

    fn known_digest(&self, tree: Oid) -> Option<String> {
        self.known_summary(tree).map(|(digest, _, _)| digest)
    }

    /// Whether [`Manifests::summary_of`] would answer for `tree` from what this machine
    /// remembers, without computing its manifest.
    pub fn remembers(&self, tree: Oid) -> bool {
        self.mode != CacheMode::Off && self.known_summary(tree).is_some()
    }

    fn known_summary(&self, tree: Oid) -> Option<Summary> {
        // The packs first, mapped: after a backfill they hold every tree, and a warm
        // `verify --all` asks once per commit (a failed open per commit was 3% of
        // git/git's). Both stores are this machine's own work, equally trusted.
        if let Some(summary) = self.packed(tree) {
            return Some(summary);
        }
        self.journal.get(tree)
    }

    /// Writes the digests this run holds as one pack, and merges the packs into one
    /// when there are more than [`KEEP_PACKS`].
    fn write_pack(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut records = std::mem::take(&mut self.pending);
        let dir = self.dir.join("digests").join("packs");
        let layout = self.layout();
        let _ = write_pack_file(layout, &dir, &mut records);
        let Ok(listing) = fs_err::read_dir(&dir) else {
            return;
        };
        let mut paths: Vec<_> = listing
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .filter(|(_, p)| p.extension().is_some_and(|x| x == "pack"))
            .collect();
        if paths.len() <= KEEP_PACKS {
            return;
        }
        // Newest first: when they do not all fit in one pack, the oldest are dropped.
        paths.sort_by_key(|p| std::cmp::Reverse(p.0));
        let mut all: Vec<[u8; RECORD_MAX]> = Vec::new();
        for (_, path) in &paths {
            let Some(body) = read_pack(layout, path) else {
                continue;
            };
            if all.len() + body.len() / layout.record() > PACK_RECORDS_MAX {
                break;
            }
            all.extend(body.chunks_exact(layout.record()).map(|r| {
                let mut held = [0u8; RECORD_MAX];
                held[..r.len()].copy_from_slice(r);
                held
            }));
        }
        if write_pack_file(layout, &dir, &mut all).is_ok() {
            let keep = pack_name(layout, &all);
            for (_, path) in paths
                .iter()
                .filter(|(_, p)| p.file_name() != Some(keep.as_ref()))
            {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The digest entry of `tree` in the packs on disk (read once per run, at most
    /// `4 * KEEP_PACKS` of them; a pack that is damaged is skipped whole).
    fn packed(&self, tree: Oid) -> Option<Summary> {
        let layout = self.layout();
        let packs = self.packs.get_or_init(|| {
            let dir = self.dir.join("digests").join("packs");
            let Ok(listing) = fs_err::read_dir(dir) else {
                return Vec::new();
            };
            // Past what writers leave (KEEP_PACKS, plus runs racing to merge), the
            // rest is a miss: what one run reads stays bounded.
            listing
                .filter_map(|e| read_pack(layout, &e.ok()?.path()))
                .take(4 * KEEP_PACKS)
                .collect()
        });
        let key = tree.as_bytes();
        let (id, len) = (layout.id, layout.record());
        packs.iter().find_map(|body| {
            let count = body.len() / len;
            let at = |i: usize| &body[i * len..(i + 1) * len];
            let i = binary_search(count, |i| at(i)[..id].cmp(key))?;
            let r = at(i);
            let word = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap_or_default());
            Some((
                format!("sha256:{}", hex::encode(&r[id..id + 32])),
                word(id + 32),
                word(id + 40),
            ))
        })
    }

    fn full_path(&self, tree: Oid) -> Utf8PathBuf {
        self.dir.join("manifests").join(tree.to_string())
    }

    fn delta_path(&self, tree: Oid) -> Utf8PathBuf {
        self.dir.join("deltas").join(tree.to_string())
    }
}

impl Manifests<'_> {
    fn layout(&self) -> PackLayout {
        PackLayout::of(self.format)
    }
}

/// One pack record for a manifest computed here.
fn record(layout: PackLayout, tree: Oid, m: &Manifest) -> [u8; RECORD_MAX] {
    // The digest is `sha256:` and 64 hex digits, made here.
    record_of(layout, tree, &(m.digest(), m.files(), m.bytes())).unwrap_or([0; RECORD_MAX])
}

/// The pack record of a remembered summary; `None` if its digest is not
/// `sha256:` and 64 hex digits or the id is not of the repository's length.
fn record_of(
    layout: PackLayout,
    tree: Oid,
    (digest, files, bytes): &Summary,
) -> Option<[u8; RECORD_MAX]> {
    let id = layout.id;
    if tree.as_bytes().len() != id {
        return None;
    }
    let mut r = [0u8; RECORD_MAX];
    r[..id].copy_from_slice(tree.as_bytes());
    hex::decode_to_slice(digest.strip_prefix("sha256:")?, &mut r[id..id + 32]).ok()?;
    r[id + 32..id + 40].copy_from_slice(&files.to_le_bytes());
    r[id + 40..id + 48].copy_from_slice(&bytes.to_le_bytes());
    Some(r)
}

/// The file name of a pack of `records` (sorted): named by its content, so runs
/// never overwrite each other's packs.
fn pack_name(layout: PackLayout, records: &[[u8; RECORD_MAX]]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for r in records {
        hasher.update(&r[..layout.record()]);
    }
    format!("{}.pack", &hex::encode(hasher.finalize())[..32])
}

/// Writes `records` (sorted here, one per tree) as a pack in `dir`.
fn write_pack_file(
    layout: PackLayout,
    dir: &camino::Utf8Path,
    records: &mut Vec<[u8; RECORD_MAX]>,
) -> std::io::Result<()> {
    let id = layout.id;
    records.sort_unstable_by(|a, b| a[..id].cmp(&b[..id]));
    records.dedup_by(|a, b| a[..id] == b[..id]);
    let body: Vec<u8> = records
        .iter()
        .flat_map(|r| &r[..layout.record()])
        .copied()
        .collect();
    let header = format!(
        "{} count={} crc32={:08x}\n",
        layout.magic,
        records.len(),
        crc32fast::hash(&body)
    );
    write_atomic_parts(
        &dir.join(pack_name(layout, records)),
        &[header.as_bytes(), &body],
    )
}

/// A pack's records, or `None` if it is not a regular file, or its header, length,
/// CRC or order is off. Reads at most the header and [`PACK_RECORDS_MAX`] records,
/// whatever the file holds.
fn read_pack(layout: PackLayout, path: &std::path::Path) -> Option<Vec<u8>> {
    if path.extension()? != "pack" {
        return None;
    }
    let (id, len) = (layout.id, layout.record());
    // Not a FIFO or a device (opening one could block, reading one need not end).
    let meta = std::fs::symlink_metadata(path).ok()?;
    let limit = PACK_HEADER_MAX + PACK_RECORDS_MAX * len;
    if !meta.is_file() || meta.len() > limit as u64 {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    let nl = memchr::memchr(b'\n', &bytes[..bytes.len().min(PACK_HEADER_MAX)])?;
    let header = std::str::from_utf8(&bytes[..nl]).ok()?;
    let mut fields = header.strip_prefix(layout.magic)?.split(' ');
    if !fields.next()?.is_empty() {
        return None;
    }
    let count: usize = fields.next()?.strip_prefix("count=")?.parse().ok()?;
    let crc = u32::from_str_radix(fields.next()?.strip_prefix("crc32=")?, 16).ok()?;
    if fields.next().is_some() || count > PACK_RECORDS_MAX {
        return None;
    }
    let body = &bytes[nl + 1..];
    if body.len() != count * len || crc32fast::hash(body) != crc {
        return None;
    }
    let sorted = body
        .chunks_exact(len)
        .zip(body.chunks_exact(len).skip(1))
        .all(|(a, b)| a[..id] < b[..id]);
    sorted.then(|| {
        bytes.drain(..=nl);
        bytes
    })
}

/// The index in `0..count` where `probe` says `Equal`, for a probe ascending in
/// the index.
fn binary_search(count: usize, probe: impl Fn(usize) -> std::cmp::Ordering) -> Option<usize> {
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match probe(mid) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}
