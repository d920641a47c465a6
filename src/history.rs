//! What a run over a long history (a backfill, a full `verify`, a gate taking a whole
//! history) reads in one pass instead of object by object: every blob's SHA-256 in
//! the order git stored the objects, and each commit's tree changes from a planned
//! base.
//!
//! Read one at a time in history order, the objects of a real, deltified history cost
//! many times their inflation: a backfill reads the oldest versions first, which sit
//! at the far end of delta chains whose bases libgit2's small delta cache has long
//! dropped (curl's backfill spent most of its time re-inflating bases). In pack
//! order every base precedes its deltas. So a run of at least [`FEED_MIN_COMMITS`]
//! commits that covers a good part of the store ([`worth_it`]):
//!
//! 1. hashes every blob of the store once, in pack order ([`prehash`]): git lists
//!    the objects as it stores them (`cat-file --batch-all-objects --batch-check
//!    --unordered`), and one reader per core reads stretches of that list through
//!    libgit2, hashing blobs and scanning every tree for file modes git would
//!    rewrite on reading. (Until session 29 git sent every object through a pipe:
//!    8 GB for git/git, a core of copying on each side);
//! 2. has `git diff-tree --stdin` compute, ahead and on the other core, the changes
//!    from each commit's planned base ([`plan`], [`DiffFeed`]; a new git per
//!    [`FEED_SEGMENT`] commits, since git keeps every commit it parses).
//!
//! Invariants:
//! - An accelerator only: whatever is read here is a blob's own content or git's diff
//!   of two trees of the same store; a commit the feed cannot serve exactly (not the
//!   next planned, a base not known, a header that is not the commit asked, git
//!   failing) is computed the ordinary way, never guessed.
//! - git shows tree entries' modes canonicalised (`100664` as `100644`) where the
//!   manifest keeps the raw mode libgit2 reads: the feed's changes are used only for
//!   a commit whose tree and whose base's tree reach no tree holding a mode git
//!   would rewrite ([`Prehashed::raw_trees`]; `cache` checks), and not at all when
//!   such trees are too many or a tree is too large to scan
//!   ([`Prehashed::unscannable`]). Which trees reach one is answered from the
//!   pass's index of subtree entries ([`RawReach`]); a tree it did not read, or any
//!   tree when the index overflowed, is walked.
//! - Everything read from git is bounded: a listing line, a path, a diff record; the
//!   parsers are single passes; the pass holds a few stretches of the listing, not
//!   the listing, and hands on at most [`PREHASH_MAX_BLOBS`] blob hashes; the feed
//!   holds [`FEED_AHEAD`] commits' changes, whatever the history's length. A blob over
//!   [`STREAM_THRESHOLD`](crate::manifest::STREAM_THRESHOLD) is not read whole by the
//!   pass: a commit that needs it hashes it streamed.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use git2::{ObjectFormat, Oid};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::git::{hex_len, parse_id, Repo};
use crate::manifest::TreeChange;

/// Runs shorter than this compute commit by commit: starting two git processes and
/// reading the store costs more than it saves (and a gate's push of up to 1,000
/// commits stays on the path whose cost is its change).
pub const FEED_MIN_COMMITS: usize = 2_000;
/// A run covers enough of the store for a whole pass over it to pay when it holds at
/// least one commit per this many objects (curl: 12.6 objects a commit; reading the
/// store costs about what 5,000 of its commits cost one by one).
const OBJECTS_PER_COMMIT: u64 = 64;
/// The most blob hashes kept from the pass over the store (about 60 MB); blobs past
/// it are hashed when a commit needs them.
pub const PREHASH_MAX_BLOBS: usize = 1 << 19;
/// How many commits' changes the diff feed computes ahead of the run.
pub const FEED_AHEAD: usize = 256;
/// The longest token (a header, a path) accepted from git.
const TOKEN_MAX: usize = 1 << 16;
/// The largest tree scanned for modes; a larger one turns the feed off.
const TREE_SCAN_MAX: u64 = 64 << 20;
/// The most trees holding raw modes remembered; one more turns the feed off. (git's
/// own history has 98 among 168,516 trees, all from 2005.)
pub const RAW_TREES_MAX: usize = 1 << 14;
/// The most trees, and subtree entries, the pass indexes to answer which trees reach
/// a raw mode without reading them again (at most about 24 MB of ids and 32 MB of
/// entries while the pass runs, freed when it ends; what a run keeps is 32 bytes a
/// tree, and only when the store has raw trees: git's own history, 228,811 trees with
/// the ledger's, keeps 7 MB). A larger store is answered by walking each new tree, as
/// without an index.
const TREE_INDEX_MAX: usize = 1 << 19;
const SUBTREE_INDEX_MAX: usize = 1 << 22;

/// Whether a run computing `commits` manifests should read the store whole: long
/// enough, and covering enough of the objects in `repo`'s store (its own packs, a
/// quarantine's and alternates').
pub fn worth_it(repo: &Repo, commits: usize) -> bool {
    commits >= FEED_MIN_COMMITS
        && (commits as u64).saturating_mul(OBJECTS_PER_COMMIT) >= packed_objects(repo)
}

/// The objects in the store's packs, from each pack index's fan-out table (loose
/// objects are few where a pass over the store matters, and not counted).
fn packed_objects(repo: &Repo) -> u64 {
    let mut total = 0u64;
    for dir in crate::objects::object_dirs(repo.git.commondir()) {
        let Ok(entries) = std::fs::read_dir(dir.join("pack")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "idx") {
                total = total.saturating_add(idx_count(&path).unwrap_or(0));
            }
        }
    }
    total
}

/// The object count of a version 2 pack index: the last entry of its fan-out table.
fn idx_count(path: &std::path::Path) -> Option<u64> {
    let mut head = [0u8; 8 + 256 * 4];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if head[..8] != [0xff, b't', b'O', b'c', 0, 0, 0, 2] {
        return None;
    }
    let last: [u8; 4] = head[head.len() - 4..].try_into().ok()?;
    Some(u64::from(u32::from_be_bytes(last)))
}

/// What the pass over the store found.
#[derive(Default)]
pub struct Prehashed {
    /// How many blobs' hashes were handed on, at most [`PREHASH_MAX_BLOBS`].
    pub blobs: usize,
    /// The trees that hold an entry whose mode git shows rewritten: git's diff of a
    /// commit whose tree, or whose base's tree, reaches one cannot stand in for
    /// libgit2's.
    pub raw_trees: BTreeSet<Oid>,
    /// Whether git's diffs cannot be used at all: a tree too large to scan, or more
    /// than [`RAW_TREES_MAX`] trees with raw modes.
    pub unscannable: bool,
    /// Which trees of the store reach a raw tree, when there are raw trees and the
    /// store is small enough to index ([`TREE_INDEX_MAX`]).
    pub reach: Option<RawReach>,
}

/// A tree id as a fixed-size key (SHA-1 ids zero-padded).
type TreeKey = [u8; 32];

fn tree_key(id: &[u8]) -> TreeKey {
    let mut key = [0u8; 32];
    let n = id.len().min(32);
    key[..n].copy_from_slice(&id[..n]);
    key
}

/// Which trees of the store are, or hold at any depth, a tree with raw modes: found
/// from the subtree entries of every tree the pass read, so that a run asks it
/// instead of reading each new tree again through libgit2 (a tenth of a full verify
/// of git's own history, whose 98 raw trees are all from 2005).
pub struct RawReach {
    /// Every tree the pass read, sorted.
    known: Vec<TreeKey>,
    /// The trees among them that reach a raw tree, sorted.
    reaching: Vec<TreeKey>,
}

impl RawReach {
    /// Whether `tree` reaches a raw tree; `None` for a tree the pass did not read
    /// (the caller walks it).
    pub fn answer(&self, tree: Oid) -> Option<bool> {
        let key = tree_key(tree.as_bytes());
        self.known.binary_search(&key).ok()?;
        Some(self.reaching.binary_search(&key).is_ok())
    }
}

/// The subtree entries of every tree read, while the pass runs.
#[derive(Default)]
struct TreeIndex {
    ids: std::collections::HashMap<TreeKey, u32>,
    /// (subtree, tree holding it), by index into `ids`.
    edges: Vec<(u32, u32)>,
    /// Past [`TREE_INDEX_MAX`] or [`SUBTREE_INDEX_MAX`]: no answers.
    full: bool,
}

impl TreeIndex {
    fn intern(&mut self, id: &[u8]) -> Option<u32> {
        let next = u32::try_from(self.ids.len()).ok()?;
        if self.ids.len() >= TREE_INDEX_MAX {
            return self.ids.get(&tree_key(id)).copied();
        }
        Some(*self.ids.entry(tree_key(id)).or_insert(next))
    }

    /// Records `tree` and its subtrees (`tree` holds canonical modes only).
    fn add(&mut self, tree: &[u8], subtrees: &[TreeKey]) {
        if self.full {
            return;
        }
        let Some(parent) = self.intern(tree) else {
            self.full = true;
            return;
        };
        for id in subtrees {
            match self.intern(id) {
                Some(child) if self.edges.len() < SUBTREE_INDEX_MAX => {
                    self.edges.push((child, parent))
                }
                _ => {
                    self.full = true;
                    return;
                }
            }
        }
    }

    /// The answers, given the raw trees: every tree from which a raw tree is reached
    /// through subtree entries, found by a walk up from the raw trees.
    fn reach(mut self, raw: &BTreeSet<Oid>) -> Option<RawReach> {
        if self.full {
            return None;
        }
        let mut keys = vec![[0u8; 32]; self.ids.len()];
        for (key, &i) in &self.ids {
            keys[i as usize] = *key;
        }
        self.edges.sort_unstable();
        let mut reaches = vec![false; keys.len()];
        let mut todo: Vec<u32> = Vec::new();
        let mut reaching: Vec<TreeKey> = Vec::new();
        for id in raw {
            let key = tree_key(id.as_bytes());
            reaching.push(key);
            if let Some(&i) = self.ids.get(&key) {
                if !std::mem::replace(&mut reaches[i as usize], true) {
                    todo.push(i);
                }
            }
        }
        while let Some(child) = todo.pop() {
            let from = self.edges.partition_point(|&(c, _)| c < child);
            for &(c, parent) in &self.edges[from..] {
                if c != child {
                    break;
                }
                if !std::mem::replace(&mut reaches[parent as usize], true) {
                    reaching.push(keys[parent as usize]);
                    todo.push(parent);
                }
            }
        }
        drop(self);
        reaching.sort_unstable();
        reaching.dedup();
        keys.sort_unstable();
        Some(RawReach {
            known: keys,
            reaching,
        })
    }
}

/// Reads every blob and tree of the store once, in pack order: `git cat-file
/// --batch-all-objects --batch-check --unordered` lists them as git stores them (its
/// packs, loose objects, a quarantine's and alternates'), and [`readers`] threads
/// each read a stretch of that list through libgit2, hashing each blob and scanning
/// each tree's modes and subtrees. A blob over
/// [`STREAM_THRESHOLD`](crate::manifest::STREAM_THRESHOLD) is left to be hashed,
/// streamed, when a commit needs it.
///
/// In pack order a delta's base was read just before it, so libgit2's delta cache
/// serves it; having git inflate everything and send 8 GB through a pipe (git/git's
/// store) cost a core of its own plus the copying on both sides.
pub fn prehash(repo: &Repo, on_blob: impl FnMut(Oid, [u8; 32], u64)) -> Result<Prehashed> {
    let format = repo.object_format();
    let mut child = repo
        .git_query()
        .args(crate::objects::GIT_MEMORY)
        .args([
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype) %(objectsize)",
            "--unordered",
        ])
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(crate::git::cannot_run_git)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::internal("git cat-file has no output pipe"));
    };
    let locator = repo.locator();
    let listing = BufReader::with_capacity(1 << 16, stdout);
    let found = crate::git::tuned_for_store_pass(|| {
        read_store(
            &locator,
            listing,
            format,
            crate::git::reader_threads(),
            on_blob,
        )
    });
    let status = child.wait();
    let found = found?;
    if !status.is_ok_and(|s| s.success()) {
        return Err(Error::environment(
            "git cat-file --batch-all-objects failed while listing the object store",
        ));
    }
    Ok(found)
}

/// A stretch of the listing a reader takes at once: at most this many objects…
const STRETCH_OBJECTS: usize = 4096;
/// …or this many bytes of their content.
const STRETCH_BYTES: u64 = 16 << 20;

/// A blob or tree of the store's listing.
struct Listed {
    id: Oid,
    tree: bool,
    size: u64,
}

/// Parses `cat-file --batch-check` lines, `<id> <type> <size>`, handing the blobs
/// and trees to `stretch` in the order listed, in stretches; stops early when it
/// returns `false`.
fn parse_listing(
    mut input: impl BufRead,
    format: ObjectFormat,
    mut stretch: impl FnMut(Vec<Listed>) -> bool,
) -> Result<()> {
    let bad = |what: &str| Error::environment(format!("git cat-file: {what}"));
    let mut listed = Vec::new();
    let mut bytes = 0u64;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        (&mut input)
            .take(256)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad("cannot read its output").with_source(e))?;
        if line.is_empty() {
            if !listed.is_empty() {
                stretch(listed);
            }
            return Ok(());
        }
        let text = line
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
            .ok_or_else(|| bad("a line is cut or not text"))?;
        let mut fields = text.split(' ');
        let (Some(id), Some(kind), Some(size), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(&format!(
                "unexpected line {}",
                crate::quote::printable(text)
            )));
        };
        let tree = match kind {
            "blob" => false,
            "tree" => true,
            _ => continue,
        };
        let size: u64 = size
            .parse()
            .map_err(|_| bad("a size that is not a number"))?;
        listed.push(Listed {
            id: parse_id(id, format).ok_or_else(|| bad("an object id of the wrong format"))?,
            tree,
            size,
        });
        bytes = bytes.saturating_add(size);
        if listed.len() >= STRETCH_OBJECTS || bytes >= STRETCH_BYTES {
            if !stretch(std::mem::take(&mut listed)) {
                return Ok(());
            }
            bytes = 0;
        }
    }
}

/// What a reader found in one object.
enum Found {
    Blob(Oid, [u8; 32], u64),
    /// A tree, with its subtrees when every mode is one git shows as stored (`None`
    /// within: too many to index).
    Tree(Oid, Option<Option<Vec<TreeKey>>>),
    /// A tree too large to scan.
    Unscannable,
}

/// Reads the objects `listing` names on `threads` threads: one thread parses the
/// listing into stretches, each reader takes the next stretch when done with one,
/// and this thread gathers what they found. Memory holds a few stretches, not the
/// listing.
fn read_store(
    repo: &crate::git::Locator,
    listing: impl BufRead + Send,
    format: ObjectFormat,
    threads: usize,
    mut on_blob: impl FnMut(Oid, [u8; 32], u64),
) -> Result<Prehashed> {
    let id_len = hex_len(format) / 2;
    let (work, stretches) = sync_channel::<Vec<Listed>>(threads * 2);
    // Taken (dropped) to stop the listing when the gathering fails.
    let stretches = Mutex::new(Some(stretches));
    // Each message holds at most SUBTREES_PER_TREE subtrees (128 KiB).
    let (tx, rx) = sync_channel::<Result<Found>>(64);
    let mut pass = Pass::default();
    std::thread::scope(|scope| {
        let listed_tx = tx.clone();
        std::thread::Builder::new()
            .name("git-seal-listing".into())
            .spawn_scoped(scope, move || {
                if let Err(e) = parse_listing(listing, format, |s| work.send(s).is_ok()) {
                    let _ = listed_tx.send(Err(e));
                }
            })
            .map_err(|e| {
                Error::environment("cannot start a thread to read the store").with_source(e)
            })?;
        let mut started = 0;
        for _ in 0..threads {
            let (tx, stretches) = (tx.clone(), &stretches);
            // Another reader takes the stretches of one that cannot start.
            started += std::thread::Builder::new()
                .name("git-seal-prehash".into())
                .spawn_scoped(scope, move || read_stretches(repo, stretches, id_len, &tx))
                .map_or(0, |_| 1);
        }
        drop(tx);
        let gathered = (|| {
            if started == 0 {
                return Err(Error::environment(
                    "cannot start a thread to read the store",
                ));
            }
            for found in &rx {
                pass.take(found?, &mut on_blob);
            }
            Ok(())
        })();
        if gathered.is_err() {
            drop(lock(&stretches).take());
            drop(rx);
        }
        gathered
    })?;
    Ok(pass.finish())
}

/// A reader thread: takes the next stretch until the listing ends, and sends what it
/// finds (or the first error, then stops).
fn read_stretches(
    repo: &crate::git::Locator,
    stretches: &Mutex<Option<Receiver<Vec<Listed>>>>,
    id_len: usize,
    tx: &SyncSender<Result<Found>>,
) {
    let git = match repo.open() {
        Ok(git) => git,
        Err(e) => {
            let _ = tx.send(Err(e.into()));
            return;
        }
    };
    let odb = match git.odb() {
        Ok(odb) => odb,
        Err(e) => {
            let _ = tx.send(Err(e.into()));
            return;
        }
    };
    loop {
        let stretch = match lock(stretches).as_ref().map(Receiver::recv) {
            Some(Ok(stretch)) => stretch,
            _ => return,
        };
        for l in &stretch {
            let found = read_one(&odb, l, id_len);
            let failed = found.is_err();
            let Some(found) = found.transpose() else {
                continue;
            };
            if tx.send(found).is_err() || failed {
                return;
            }
        }
    }
}

/// One listed object, read: `None` for a blob left to be hashed when needed.
fn read_one(odb: &git2::Odb<'_>, l: &Listed, id_len: usize) -> Result<Option<Found>> {
    if l.tree && l.size > TREE_SCAN_MAX {
        return Ok(Some(Found::Unscannable));
    }
    if !l.tree && l.size > crate::manifest::STREAM_THRESHOLD {
        return Ok(None);
    }
    let object = odb.read(l.id)?;
    let data = object.data();
    if data.len() as u64 != l.size {
        return Err(Error::environment(format!(
            "object {} is {} bytes, where git listed {}",
            l.id,
            data.len(),
            l.size
        )));
    }
    Ok(Some(if l.tree {
        Found::Tree(l.id, subtrees_if_canonical(data, id_len))
    } else {
        Found::Blob(l.id, Sha256::digest(data).into(), l.size)
    }))
}

/// What the pass has found so far.
#[derive(Default)]
struct Pass {
    found: Prehashed,
    index: TreeIndex,
}

impl Pass {
    fn take(&mut self, found: Found, on_blob: &mut impl FnMut(Oid, [u8; 32], u64)) {
        let f = &mut self.found;
        match found {
            Found::Blob(id, digest, size) => {
                if f.blobs < PREHASH_MAX_BLOBS {
                    f.blobs += 1;
                    on_blob(id, digest, size);
                }
            }
            Found::Tree(id, Some(Some(subtrees))) => self.index.add(id.as_bytes(), &subtrees),
            Found::Tree(_, Some(None)) => self.index.full = true,
            Found::Tree(id, None) => {
                f.raw_trees.insert(id);
                f.unscannable |= f.raw_trees.len() > RAW_TREES_MAX;
            }
            Found::Unscannable => f.unscannable = true,
        }
    }

    fn finish(self) -> Prehashed {
        let Pass { mut found, index } = self;
        if !found.unscannable && !found.raw_trees.is_empty() {
            found.reach = index.reach(&found.raw_trees);
        }
        found
    }
}

/// The most subtrees one tree hands to the index: a wider tree (a push can make one
/// of millions of entries) turns the index off, and trees are then walked.
const SUBTREES_PER_TREE: usize = 4096;

/// The subtrees of raw tree bytes when every entry has a mode git shows as it is
/// stored: the four leaf modes and `40000`. Anything else (`100664`, a zero-padded
/// mode, bytes that do not parse) is `None`. Past [`SUBTREES_PER_TREE`] subtrees,
/// `Some(None)`: canonical, too wide to index.
fn subtrees_if_canonical(mut tree: &[u8], id_len: usize) -> Option<Option<Vec<TreeKey>>> {
    let mut subtrees = Some(Vec::new());
    while !tree.is_empty() {
        let space = memchr::memchr(b' ', tree)?;
        let mode = &tree[..space];
        if !matches!(
            mode,
            b"100644" | b"100755" | b"120000" | b"160000" | b"40000"
        ) {
            return None;
        }
        let nul = memchr::memchr(0, &tree[space..])?;
        let id_at = space + nul + 1;
        let id = tree.get(id_at..id_at + id_len)?;
        if mode == b"40000" {
            if let Some(list) = &mut subtrees {
                list.push(tree_key(id));
                if list.len() > SUBTREES_PER_TREE {
                    subtrees = None;
                }
            }
        }
        tree = &tree[id_at + id_len..];
    }
    Some(subtrees)
}

/// One commit of a run and the commit whose tree its changes are taken from (`None`:
/// from the empty tree, a root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub commit: Oid,
    pub base: Option<Oid>,
}

/// The bases for a run computing `commits` (parents before children, each with its
/// parents): a parent among the `recent` commits computed last, whose manifest the
/// run still holds, else the commit computed just before (a branch forked long ago
/// costs its difference from that tree, never a whole walk); the first commit takes
/// its first parent (its manifest may be cached), or the empty tree when it has none.
pub fn plan(commits: &[(Oid, Vec<Oid>)], recent: usize) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::with_capacity(commits.len());
    for (i, (commit, parents)) in commits.iter().enumerate() {
        let window = &commits[i.saturating_sub(recent)..i];
        let base = parents
            .iter()
            .find(|p| window.iter().any(|(c, _)| c == *p))
            .copied()
            .or_else(|| match i {
                0 => parents.first().copied(),
                _ => Some(commits[i - 1].0),
            });
        steps.push(Step {
            commit: *commit,
            base,
        });
    }
    steps
}

type FeedItem = std::result::Result<(Oid, Vec<TreeChange>), String>;

/// Commits per `git diff-tree` process: git keeps every commit it parses, with its
/// buffer, until it exits (one process over git/git's 81,966 commits grew to
/// 167 MB), so a new one per segment bounds that whatever the history's length.
pub const FEED_SEGMENT: usize = 8_192;

/// `git diff-tree --stdin` computing the planned steps' changes ahead of the run, one
/// process per [`FEED_SEGMENT`] steps.
pub struct DiffFeed {
    /// The plan, shared with the threads that write it to git and read git's answer:
    /// one copy of a list as long as the history (four copies were 20 MB of git/git's
    /// backfill).
    steps: Arc<[Step]>,
    /// The first step not passed yet.
    next: usize,
    /// Each planned commit and its place in `steps`, sorted by commit: tells a
    /// commit further on from one not planned or passed.
    places: Vec<(Oid, usize)>,
    items: Option<Receiver<FeedItem>>,
    /// The git of the segment being read, which `drop` ends.
    running: Arc<Mutex<Running>>,
    reader: Option<JoinHandle<()>>,
    broken: bool,
}

/// The feed's git process, as its reader and its owner see it.
enum Running {
    Idle,
    Git(Child),
    /// The feed was dropped: no further git is started.
    Stopped,
}

impl DiffFeed {
    pub fn start(repo: &Repo, steps: Vec<Step>) -> Result<DiffFeed> {
        let format = repo.object_format();
        let steps: Arc<[Step]> = steps.into();
        // Made here, one a segment: a `Repo` stays on this thread.
        let gits: Vec<Command> = (0..steps.len().div_ceil(FEED_SEGMENT))
            .map(|_| diff_tree(repo))
            .collect();
        let running = Arc::new(Mutex::new(Running::Idle));
        let (tx, rx) = sync_channel(FEED_AHEAD);
        let reader = {
            let (steps, running) = (Arc::clone(&steps), Arc::clone(&running));
            std::thread::spawn(move || read_segments(gits, &steps, format, &running, &tx))
        };
        let mut places: Vec<(Oid, usize)> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.commit, i))
            .collect();
        places.sort_unstable();
        Ok(DiffFeed {
            steps,
            next: 0,
            places,
            items: Some(rx),
            running,
            reader: Some(reader),
            broken: false,
        })
    }

    /// The next planned step, unless git has failed.
    pub fn next_step(&self) -> Option<Step> {
        self.steps.get(self.next).copied().filter(|_| !self.broken)
    }

    /// The planned base of `commit` and the changes from it, when `commit` is planned
    /// and not passed yet (the steps before it, never asked, are dropped); `None`
    /// otherwise, or once git has failed.
    pub fn take(&mut self, commit: Oid) -> Option<(Option<Oid>, Vec<TreeChange>)> {
        if self.broken {
            return None;
        }
        // A commit planned twice is served at its first place not passed.
        let first = self.places.partition_point(|(c, _)| *c < commit);
        let place = self.places[first..]
            .iter()
            .take_while(|(c, _)| *c == commit)
            .map(|(_, i)| *i)
            .find(|i| *i >= self.next)?;
        let items = self.items.as_ref()?;
        while self.next <= place {
            let step = self.steps[self.next];
            self.next += 1;
            match items.recv() {
                Ok(Ok((c, changes))) if c == step.commit => {
                    if self.next > place {
                        return Some((step.base, changes));
                    }
                }
                _ => {
                    self.broken = true;
                    return None;
                }
            }
        }
        None
    }
}

/// The `git diff-tree --stdin` that computes one segment's changes.
fn diff_tree(repo: &Repo) -> Command {
    let mut git = repo.git_query();
    git.args(crate::objects::GIT_MEMORY)
        .args([
            "diff-tree",
            "--stdin",
            "-r",
            "--root",
            "--raw",
            "-z",
            "--always",
            "--no-renames",
            "--no-abbrev",
            "--no-relative",
            "--ignore-submodules=none",
        ])
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    git
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The reader's thread: for each segment of `steps`, starts its git, writes its lines
/// from a second thread (git answers while it reads), and sends each step's changes
/// in order; stops at the first failure, or when the feed is dropped.
fn read_segments(
    gits: Vec<Command>,
    steps: &Arc<[Step]>,
    format: ObjectFormat,
    running: &Mutex<Running>,
    tx: &SyncSender<FeedItem>,
) {
    for (segment, mut git) in gits.into_iter().enumerate() {
        let range = segment * FEED_SEGMENT..((segment + 1) * FEED_SEGMENT).min(steps.len());
        let (stdin, stdout) = {
            let mut state = lock(running);
            if matches!(*state, Running::Stopped) {
                return;
            }
            let mut child = match git.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot run git diff-tree: {e}")));
                    return;
                }
            };
            let pipes = (child.stdin.take(), child.stdout.take());
            *state = Running::Git(child);
            match pipes {
                (Some(stdin), Some(stdout)) => (stdin, stdout),
                _ => {
                    let _ = tx.send(Err("git diff-tree has no pipes".into()));
                    return;
                }
            }
        };
        let writer = {
            let (steps, range) = (Arc::clone(steps), range.clone());
            std::thread::spawn(move || write_lines(stdin, &steps[range]))
        };
        let mut input = BufReader::with_capacity(1 << 16, stdout);
        let mut parser = Parser::new(format);
        let mut ok = true;
        for step in &steps[range] {
            let item = parser.next_commit(&mut input, step.commit);
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                ok = false;
                break;
            }
        }
        let stopped = end_segment(running, ok);
        let _ = writer.join();
        if !ok || stopped {
            return;
        }
    }
}

/// Writes one segment's lines to git (`<commit> [<base>]`).
fn write_lines(stdin: std::process::ChildStdin, steps: &[Step]) {
    let mut stdin = BufWriter::with_capacity(1 << 16, stdin);
    for s in steps {
        // A git that stopped reading has failed; the reader reports it.
        let written = match s.base {
            Some(b) => writeln!(stdin, "{} {b}", s.commit),
            None => writeln!(stdin, "{}", s.commit),
        };
        if written.is_err() {
            return;
        }
    }
    let _ = stdin.flush();
}

/// Ends a segment's git, which has answered every line (`answered`) or is not wanted
/// (killed); whether the feed was dropped meanwhile, which keeps it stopped: no
/// further git starts.
fn end_segment(running: &Mutex<Running>, answered: bool) -> bool {
    let mut state = lock(running);
    match std::mem::replace(&mut *state, Running::Idle) {
        Running::Git(mut child) => {
            if !answered {
                let _ = child.kill();
            }
            let _ = child.wait();
            false
        }
        Running::Stopped => {
            *state = Running::Stopped;
            true
        }
        Running::Idle => false,
    }
}

impl Drop for DiffFeed {
    fn drop(&mut self) {
        // Unblocks a reader waiting to send, then ends the git it reads (no other
        // starts): its pipes close and the threads return.
        self.items.take();
        if let Running::Git(mut child) =
            std::mem::replace(&mut *lock(&self.running), Running::Stopped)
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Reads `diff-tree --stdin -r --raw -z --always` output: per input line the commit
/// id, then `:<old mode> <new mode> <old id> <new id> <status>` and the path per
/// change, each token ending in NUL.
struct Parser {
    format: ObjectFormat,
    /// A token read past the end of the previous commit's changes (its header).
    pending: Option<Vec<u8>>,
}

impl Parser {
    fn new(format: ObjectFormat) -> Self {
        Parser {
            format,
            pending: None,
        }
    }

    fn token(&mut self, input: &mut impl BufRead) -> std::result::Result<Option<Vec<u8>>, String> {
        if let Some(t) = self.pending.take() {
            return Ok(Some(t));
        }
        let mut token = Vec::new();
        input
            .by_ref()
            .take(TOKEN_MAX as u64 + 1)
            .read_until(0, &mut token)
            .map_err(|e| format!("cannot read git diff-tree: {e}"))?;
        match token.pop() {
            None => Ok(None),
            Some(0) => Ok(Some(token)),
            Some(_) => Err("git diff-tree: a token is cut or too long".into()),
        }
    }

    /// The changes of `commit`, which must be the next header.
    fn next_commit(&mut self, input: &mut impl BufRead, commit: Oid) -> FeedItem {
        let header = self
            .token(input)?
            .ok_or_else(|| format!("git diff-tree stopped before {commit}"))?;
        if std::str::from_utf8(&header)
            .ok()
            .and_then(|h| parse_id(h, self.format))
            != Some(commit)
        {
            return Err(format!("git diff-tree: expected {commit}"));
        }
        let mut changes = Vec::new();
        while let Some(token) = self.token(input)? {
            let Some(meta) = token.strip_prefix(b":") else {
                self.pending = Some(token);
                break;
            };
            let new = self.record(meta)?;
            let path = self
                .token(input)?
                .filter(|p| !p.is_empty())
                .ok_or("git diff-tree: a change without its path")?;
            changes.push((path, new));
        }
        Ok((commit, changes))
    }

    /// The new side of one raw record: `None` for a deletion.
    fn record(&self, meta: &[u8]) -> std::result::Result<Option<(u32, Oid)>, String> {
        let bad = || {
            format!(
                "git diff-tree: unexpected record {}",
                String::from_utf8_lossy(meta)
            )
        };
        let text = std::str::from_utf8(meta).map_err(|_| bad())?;
        let fields: Vec<&str> = text.split(' ').collect();
        let [_, new_mode, _, new_id, status] = fields[..] else {
            return Err(bad());
        };
        if status == "D" {
            return Ok(None);
        }
        if !matches!(status, "A" | "M" | "T") {
            return Err(bad());
        }
        let mode = u32::from_str_radix(new_mode, 8).map_err(|_| bad())?;
        let id = parse_id(new_id, self.format).ok_or_else(bad)?;
        Ok(Some((mode, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn plan_takes_a_recent_parent_else_the_commit_before() {
        let (a, b, c, d, e) = (id(1), id(2), id(3), id(4), id(5));
        let steps = plan(
            &[
                (a, vec![id(9)]),
                (b, vec![a]),
                (c, vec![id(8)]),
                (d, vec![id(7), b]),
                (e, vec![]),
            ],
            4,
        );
        let bases: Vec<_> = steps.iter().map(|s| s.base).collect();
        assert_eq!(bases, vec![Some(id(9)), Some(a), Some(b), Some(b), Some(d)]);
        assert_eq!(plan(&[(a, vec![])], 4)[0].base, None);
    }

    #[test]
    fn modes_git_would_rewrite_are_found() {
        let entry = |mode: &str, name: &str, id: u8| {
            let mut e = format!("{mode} {name}\0").into_bytes();
            e.extend_from_slice(&[id; 20]);
            e
        };
        let good: Vec<u8> = [
            entry("100644", "a", 7),
            entry("40000", "d", 8),
            entry("120000", "l", 7),
            entry("40000", "e", 9),
        ]
        .concat();
        assert_eq!(
            subtrees_if_canonical(&good, 20),
            Some(Some(vec![tree_key(&[8; 20]), tree_key(&[9; 20])]))
        );
        // A tree too wide to index is still canonical.
        let wide: Vec<u8> = (0..=SUBTREES_PER_TREE)
            .map(|i| entry("40000", &format!("d{i}"), 8))
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(subtrees_if_canonical(&wide, 20), Some(None));
        for bad in ["100664", "040000", "100640", "644"] {
            let tree = [entry("100644", "a", 7), entry(bad, "b", 7)].concat();
            assert_eq!(subtrees_if_canonical(&tree, 20), None, "{bad}");
        }
        assert_eq!(
            subtrees_if_canonical(&good[..good.len() - 1], 20),
            None,
            "cut short"
        );
    }

    use crate::git::test_git as git;

    /// The pass reads a real store: every blob of its packs and its loose objects
    /// hashed once, the tree holding a mode git shows rewritten found, in SHA-1 and
    /// SHA-256 repositories, on one reader and on several.
    #[test]
    fn the_pass_hashes_every_blob_of_the_store_and_finds_raw_trees() {
        for format in ["sha1", "sha256"] {
            let dir = tempfile::tempdir().unwrap();
            git(
                dir.path(),
                &["init", "-q", &format!("--object-format={format}")],
            );
            let handle = git2::Repository::open(dir.path()).unwrap();
            let odb = handle.odb().unwrap();
            let mut blobs = BTreeSet::new();
            // Past one stretch of objects, so that readers share the listing.
            for i in 0..(STRETCH_OBJECTS + 100) {
                let content = format!("blob {i}\n").repeat(1 + i % 5);
                let id = odb
                    .write(git2::ObjectType::Blob, content.as_bytes())
                    .unwrap();
                blobs.insert((
                    id,
                    <[u8; 32]>::from(Sha256::digest(&content)),
                    content.len() as u64,
                ));
            }
            let some = blobs.iter().next().unwrap().0;
            let raw = [b"100664 x\0".as_slice(), some.as_bytes()].concat();
            let raw = odb.write(git2::ObjectType::Tree, &raw).unwrap();
            git(dir.path(), &["repack", "-adq"]);
            // And one loose blob beside the pack.
            let loose = b"written after the repack\n";
            let id = odb.write(git2::ObjectType::Blob, loose).unwrap();
            blobs.insert((id, Sha256::digest(loose).into(), loose.len() as u64));
            let path = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
            let repo = Repo::open(Some(&path)).unwrap();
            for threads in [1, 3] {
                let listing = git(
                    dir.path(),
                    &[
                        "cat-file",
                        "--batch-all-objects",
                        "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                        "--unordered",
                    ],
                );
                let mut hashed = BTreeSet::new();
                let found = read_store(
                    &repo.locator(),
                    &listing[..],
                    repo.object_format(),
                    threads,
                    |id, sha, size| {
                        assert!(hashed.insert((id, sha, size)), "{id} hashed twice");
                    },
                )
                .unwrap();
                assert_eq!(hashed, blobs, "{format}, {threads} readers");
                assert_eq!(found.blobs, blobs.len());
                assert_eq!(found.raw_trees, BTreeSet::from([raw]));
                assert!(!found.unscannable);
            }
            let mut through_git = 0;
            prehash(&repo, |_, _, _| through_git += 1).unwrap();
            assert_eq!(through_git, blobs.len());
        }
    }

    /// The listing parser takes blobs and trees in stretches, skips other objects,
    /// and refuses what git would not print: a cut line, a wrong id, a bad size.
    #[test]
    fn the_listing_comes_in_stretches_and_odd_lines_are_refused() {
        let mut text = String::new();
        for i in 0..(STRETCH_OBJECTS + 3) as u32 {
            let oid = Oid::hash_object(git2::ObjectType::Blob, &i.to_be_bytes()).unwrap();
            text.push_str(&format!(
                "{oid} {} 10\n",
                if i % 2 == 0 { "blob" } else { "tree" }
            ));
            text.push_str(&format!("{oid} commit 10\n"));
        }
        let mut stretches = Vec::new();
        parse_listing(text.as_bytes(), ObjectFormat::Sha1, |s| {
            stretches.push(s.len());
            true
        })
        .unwrap();
        assert_eq!(stretches, vec![STRETCH_OBJECTS, 3]);
        let mut first = 0;
        parse_listing(text.as_bytes(), ObjectFormat::Sha1, |_| {
            first += 1;
            false
        })
        .unwrap();
        assert_eq!(first, 1, "stopped when asked");
        for bad in [
            format!("{} blob 10", id(1)),
            format!("{} blob ten\n", id(1)),
            format!("{} blob 10 x\n", id(1)),
            format!("{}00 blob 10\n", id(1)),
        ] {
            assert!(
                parse_listing(bad.as_bytes(), ObjectFormat::Sha1, |_| true).is_err(),
                "{bad}"
            );
        }
        let long = format!("{} blob {}\n", id(1), "9".repeat(300));
        assert!(parse_listing(long.as_bytes(), ObjectFormat::Sha1, |_| true).is_err());
    }

    /// A tree body from (mode, name, id) entries.
    fn tree_body(entries: &[(&str, &str, Oid)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (mode, name, entry) in entries {
            body.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            body.extend_from_slice(entry.as_bytes());
        }
        body
    }

    #[test]
    fn the_pass_answers_which_trees_reach_a_raw_mode_at_any_depth() {
        let (raw, above, top, plain, beside, unread) = (id(1), id(2), id(3), id(4), id(5), id(6));
        let mut pass = Pass::default();
        let mut no_blobs = |_, _, _| panic!("no blobs here");
        // Parents before and after their subtrees: pack order is neither.
        for (tree, entries) in [
            (top, vec![("40000", "a", above), ("40000", "p", plain)]),
            (above, vec![("40000", "r", raw), ("100644", "f", id(9))]),
            (raw, vec![("100664", "x", id(9))]),
            (plain, vec![("100644", "f", id(9))]),
            (beside, vec![("40000", "p", plain), ("120000", "l", id(9))]),
        ] {
            let found = Found::Tree(tree, subtrees_if_canonical(&tree_body(&entries), 20));
            pass.take(found, &mut no_blobs);
        }
        let found = pass.finish();
        assert_eq!(found.raw_trees, BTreeSet::from([raw]));
        let reach = found.reach.expect("an index");
        for (tree, reaches) in [
            (raw, true),
            (above, true),
            (top, true),
            (plain, false),
            (beside, false),
        ] {
            assert_eq!(reach.answer(tree), Some(reaches), "{tree}");
        }
        assert_eq!(reach.answer(unread), None, "a tree the pass did not read");
        // No raw trees: nothing to answer, nothing kept.
        let mut clean = Pass::default();
        let body = tree_body(&[("100644", "f", id(9))]);
        clean.take(
            Found::Tree(plain, subtrees_if_canonical(&body, 20)),
            &mut no_blobs,
        );
        assert!(clean.finish().reach.is_none());
        // An index that overflowed answers nothing (each tree is walked instead).
        let mut index = TreeIndex::default();
        index.add(top.as_bytes(), &[]);
        index.full = true;
        assert!(index.reach(&BTreeSet::from([raw])).is_none());
        // So does one fed a tree too wide to index (a push of one tree with millions
        // of subtrees costs walks, never a message of all of them).
        let mut wide = Pass::default();
        wide.take(Found::Tree(top, Some(None)), &mut no_blobs);
        wide.take(Found::Tree(raw, None), &mut no_blobs);
        let found = wide.finish();
        assert_eq!(found.raw_trees, BTreeSet::from([raw]));
        assert!(found.reach.is_none());
        // One tree with raw modes past RAW_TREES_MAX (a push made to slow a gate's
        // walk down) turns git's diffs off for the run, as a tree too large does.
        let mut many = Pass::default();
        for n in 0..=RAW_TREES_MAX as u32 {
            let oid = Oid::hash_object(git2::ObjectType::Tree, &n.to_be_bytes()).unwrap();
            many.take(Found::Tree(oid, None), &mut no_blobs);
        }
        let found = many.finish();
        assert!(found.unscannable);
        assert_eq!(found.raw_trees.len(), RAW_TREES_MAX + 1);
        let mut large = Pass::default();
        large.take(Found::Unscannable, &mut no_blobs);
        assert!(large.finish().unscannable);
    }

    #[test]
    fn the_diff_parser_reads_changes_and_refuses_the_wrong_commit() {
        let (a, b) = (id(1), id(2));
        let zero = "0".repeat(40);
        let out =
            format!("{a}\0:100644 100755 {b} {b} M\0x y\0:100644 000000 {b} {zero} D\0gone\0{b}\0");
        let mut input = out.as_bytes();
        let mut p = Parser::new(ObjectFormat::Sha1);
        let (c, changes) = p.next_commit(&mut input, a).unwrap();
        assert_eq!(c, a);
        assert_eq!(
            changes,
            vec![
                (b"x y".to_vec(), Some((0o100755, b))),
                (b"gone".to_vec(), None)
            ]
        );
        let (c, changes) = p.next_commit(&mut input, b).unwrap();
        assert_eq!((c, changes.len()), (b, 0));
        let mut p = Parser::new(ObjectFormat::Sha1);
        assert!(p.next_commit(&mut out.as_bytes(), b).is_err());
        let renamed = format!("{a}\0:100644 100644 {b} {b} R100\0x\0y\0");
        assert!(Parser::new(ObjectFormat::Sha1)
            .next_commit(&mut renamed.as_bytes(), a)
            .is_err());
    }
}
