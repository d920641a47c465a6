//! The ledger (brief §2.3): a notes ref (default `refs/notes/seal`) whose tree maps
//! each sealed commit to its seal, so `git notes --ref=seal show <commit>` prints it.
//!
//! Invariants:
//! - The ref only moves forward: every append is a new commit whose first parent is
//!   the tip it was built on, published by compare-and-swap; a lost race rebuilds on
//!   the new tip after an exponential backoff, so concurrent writers never lose a
//!   seal. A failed append leaves the ref exactly as it was.
//! - git-seal's writers take an OS file lock (`<common dir>/seal/ledger.lock`,
//!   `flock`) around each append, so they queue instead of racing, and a writer
//!   killed at any instant releases it with its death. While it is held, a ref lock
//!   file (`<ref>.lock`) older than [`STALE_REF_LOCK`] can only have been left by a
//!   killed process (git's own writers hold it for milliseconds) and is removed.
//! - Appends never touch the working tree, the index, HEAD or any other ref.
//! - Each append writes one blob per note plus the trees on the path to it, through
//!   the one codec of the tree ([`tree`]): the cost of an append grows with what
//!   changed, not with the ledger. Appends never replace a seal without keeping it: a
//!   forced re-seal keeps the old one at `alternates/<commit>/<blob id>`.
//! - Only canonical names are written ([`tree::check_file_path`]); the append-only
//!   rule ([`rule`]) and the union merge ([`merge`]) read trees through the same codec.
//!
//! Layout: `mod.rs` (the ref, views, appends, the lock), `tree` (shape, lookup, diff,
//! writer), `rule` (append-only), `merge` (union merge of fetched ledgers).

pub mod merge;
mod pack;
pub mod rule;
pub mod tree;

use std::thread::sleep;
use std::time::Duration;

use std::collections::BTreeMap;

use git2::{ErrorCode, ObjectType, Oid, Signature, Tree};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{Expect, Repo};

pub use tree::{Shape, ShapeProblem, FANOUT_LIMIT};

/// Appends of at least this many documents write their objects as one pack instead
/// of a loose file each (creating files was a sixth of a long backfill).
pub const PACK_WRITE_MIN: usize = 64;

/// What a packed append hands the objects it built to.
type PackWriter<'a> = dyn Fn(&[pack::Object]) -> Result<()> + 'a;

/// Writes the objects an append built in memory as one pack in `repo`'s object
/// directory, and makes this handle see it. The objects are the blobs, trees and the
/// ledger commit the append added (each once, the commit last).
fn write_as_pack(repo: &Repo, objects: &[pack::Object]) -> Result<()> {
    let Some(root) = objects.last() else {
        return Ok(());
    };
    let pack_dir = repo.objects_dir().join("pack");
    pack::write(objects, pack_dir.as_std_path(), repo.object_format())?;
    let odb = repo.git.odb()?;
    odb.refresh()?;
    if !odb.exists(root.id) {
        // Written where this handle does not look: the loose path is taken instead.
        return Err(Error::environment(format!(
            "the ledger's new pack in {} is not read by this repository",
            repo.objects_dir()
        )));
    }
    Ok(())
}

/// What one append writes.
#[derive(Clone, Copy)]
struct Batch<'a> {
    notes: &'a [(Oid, Vec<u8>)],
    files: &'a [(String, Vec<u8>)],
    only_new: bool,
    who: &'a Signature<'a>,
    message: &'a str,
}

/// Age past which a ref lock file found while holding the writers' lock is stale.
pub const STALE_REF_LOCK: Duration = Duration::from_secs(2);

/// The longest a writer waits for the writers' lock, whatever the settings say.
const WRITER_WAIT_MAX: Duration = Duration::from_secs(30);

/// How long a writer waits for the writers' lock before giving up: ten times the
/// backoff its retries would take (`seal.retryBaseMs` doubled `seal.maxRetries`
/// times), so a held lock costs a commit what its settings allow (3 s by default,
/// 200 ms with `seal.maxRetries=0`), at most [`WRITER_WAIT_MAX`].
pub fn writer_wait(max_retries: u32, retry_base_ms: u64) -> Duration {
    let backoff = retry_base_ms
        .max(1)
        .saturating_mul((1u64 << (max_retries.min(20) + 1)) - 1);
    Duration::from_millis(backoff.saturating_mul(10)).min(WRITER_WAIT_MAX)
}

/// The writers' lock: held for the duration of one append or merge.
struct WriterLock {
    _file: std::fs::File,
}

impl WriterLock {
    /// Waits (with backoff) for the lock on `<seal dir>/ledger.lock`.
    fn acquire(repo: &Repo, wait: Duration) -> Result<WriterLock> {
        let dir = repo.seal_dir();
        fs_err::create_dir_all(&dir).map_err(|e| {
            Error::environment(format!("cannot write to {dir}: {e}"))
                .with_source(e)
                .hint("check that the git directory is writable and has space")
        })?;
        let path = dir.join("ledger.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::environment(format!("cannot open {path}: {e}")).with_source(e))?;
        let deadline = std::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriterLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::environment(format!(
                        "another git-seal process has held {path} for {} ms (the wait seal.maxRetries and seal.retryBaseMs allow)",
                        wait.as_millis()
                    ))
                    .hint(format!("if it is stuck, stop it; then retry: {}", crate::quote::git_seal("seal --missing"))))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::environment(format!("cannot lock {path}: {e}")).with_source(e))
                }
            }
        }
    }
}

/// Removes `<ref>.lock` if it is older than [`STALE_REF_LOCK`]. Only called while
/// holding the [`WriterLock`]. Returns whether one was removed.
fn clear_stale_ref_lock(repo: &Repo, refname: &str) -> bool {
    let lock = repo.common_dir.join(format!("{refname}.lock"));
    let age = std::fs::metadata(&lock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    match age {
        Some(age) if age >= STALE_REF_LOCK => std::fs::remove_file(&lock).is_ok(),
        _ => false,
    }
}

/// Where `remote`'s copy of the ledger `refname` is fetched to:
/// `refs/seal/remotes/<remote>/<name>`, the name without `refs/notes/`.
pub fn tracking_ref(refname: &str, remote: &str) -> String {
    format!("refs/seal/remotes/{remote}/{}", short_name(refname))
}

fn short_name(refname: &str) -> &str {
    refname.strip_prefix("refs/notes/").unwrap_or(refname)
}

/// The ledger ref of one repository: where seals are read, and the one way it moves.
pub struct Ledger<'r> {
    repo: &'r Repo,
    shape: Shape,
    pub refname: String,
    max_retries: u32,
    retry_base_ms: u64,
}

/// The ledger as of one tip: consistent reads while others append. Besides the
/// local ledger it reads the remote-tracking ledgers a plain `git fetch` brought
/// (`refs/seal/remotes/*`), so fetched seals count before they are merged.
pub struct View<'r> {
    repo: &'r Repo,
    shape: Shape,
    pub tip: Option<Oid>,
    tree: Option<Tree<'r>>,
    /// Fetched ledgers not merged yet: (tracking ref, tree).
    fetched: Vec<(String, Tree<'r>)>,
    cache: tree::TreeCache,
    /// The local tree's notes, once the shape check found it canonical.
    notes: Option<tree::NoteIndex>,
}

/// Where a candidate seal of a commit was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The commit's note in the local ledger.
    Note,
    /// `alternates/<commit>/<blob id>` in the local ledger.
    Alternate,
    /// The note in a fetched ledger not merged yet (its tracking ref).
    Fetched(String),
    /// An alternate in a fetched ledger not merged yet.
    FetchedAlternate(String),
}

/// One seal the ledger holds for a commit. A commit may have several (its note,
/// seals kept aside by merges, fetched ones); `verify` uses a valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub blob: Oid,
    pub origin: Origin,
}

/// What an append did.
#[derive(Debug, Default)]
pub struct Appended {
    /// The new tip, when anything was written.
    pub tip: Option<Oid>,
    /// Commits whose note was written.
    pub written: Vec<Oid>,
    /// Commits skipped because a note for them appeared meanwhile.
    pub skipped: Vec<Oid>,
    /// Compare-and-swap attempts used (1 when uncontended).
    pub attempts: u32,
}

impl<'r> Ledger<'r> {
    pub fn new(repo: &'r Repo, cfg: &Config) -> Self {
        Ledger {
            repo,
            shape: Shape::of(repo),
            refname: cfg.ledger_ref.clone(),
            max_retries: cfg.max_retries,
            retry_base_ms: cfg.retry_base_ms,
        }
    }

    /// The current tip commit, if the ledger exists.
    pub fn tip(&self) -> Result<Option<Oid>> {
        let Some(target) = self.repo.ref_target(&self.refname)? else {
            return Ok(None);
        };
        match Some(self.repo.git.find_object(target, None)) {
            Some(Ok(obj)) if obj.kind() == Some(ObjectType::Commit) => Ok(Some(obj.id())),
            _ => Err(Error::usage(format!(
                "the ledger ref {} does not point to a commit",
                self.refname
            ))
            .hint(format!(
                "inspect it ({}) or set another ledger: {}",
                crate::quote::git(&format!("cat-file -t {}", self.refname)),
                crate::quote::git("config seal.ref refs/notes/seal-new")
            ))),
        }
    }

    /// A consistent view of the ledger at its current tip, with fetched ledgers.
    pub fn view(&self) -> Result<View<'r>> {
        let tip = self.tip()?;
        let mut view = View::at(self.repo, tip)?;
        let suffix = format!("/{}", short_name(&self.refname));
        for r in self.repo.refs_with_prefix("refs/seal/remotes/")? {
            if !r.name.ends_with(&suffix) {
                continue;
            }
            if let Ok(tree) = self
                .repo
                .git
                .find_object(r.target, None)
                .and_then(|o| o.peel_to_tree())
            {
                view.fetched.push((r.name, tree));
            }
        }
        Ok(view)
    }

    /// Appends notes (commit → content) in one ledger commit. With `only_new`, notes
    /// for commits that already have one at the tip are skipped, so that racing
    /// writers seal each commit once. Retries lost races with exponential backoff.
    pub fn append(
        &self,
        notes: &[(Oid, Vec<u8>)],
        only_new: bool,
        who: &Signature<'_>,
        message: &str,
    ) -> Result<Appended> {
        self.append_with_files(notes, &[], only_new, who, message)
    }

    /// Like [`Ledger::append`], also adding files at paths in the ledger tree that
    /// are not notes (`tags/…`, `snapshots/…`, `rollbacks/…`). A path that already
    /// holds a file is refused: the ledger keeps what it was given.
    pub fn append_with_files(
        &self,
        notes: &[(Oid, Vec<u8>)],
        files: &[(String, Vec<u8>)],
        only_new: bool,
        who: &Signature<'_>,
        message: &str,
    ) -> Result<Appended> {
        let batch = Batch {
            notes,
            files,
            only_new,
            who,
            message,
        };
        if notes.len() + files.len() < PACK_WRITE_MIN {
            return self.append_through(None, &batch);
        }
        self.append_packed(&batch, |objects| write_as_pack(self.repo, objects))
    }

    /// An append whose objects are built in memory and reach the disk through `pack`
    /// (one pack, before the ref moves). The pack is a speed-up: if it cannot be
    /// written, the append is done again as a loose file per object.
    fn append_packed(
        &self,
        batch: &Batch<'_>,
        pack: impl Fn(&[pack::Object]) -> Result<()>,
    ) -> Result<Appended> {
        let pack_failed = std::cell::Cell::new(false);
        let to_pack = |objects: &[pack::Object]| -> Result<()> {
            let written = pack(objects);
            pack_failed.set(written.is_err());
            written
        };
        match self.append_through(Some(&to_pack), batch) {
            Err(_) if pack_failed.get() => self.append_through(None, batch),
            appended => appended,
        }
    }

    /// [`Ledger::append_with_files`]: its objects written loose, or, with `pack`, built
    /// in memory and handed to it before the ref moves.
    fn append_through(&self, pack: Option<&PackWriter<'_>>, batch: &Batch<'_>) -> Result<Appended> {
        let Batch {
            notes,
            files,
            only_new,
            who,
            message,
        } = *batch;
        let git = &self.repo.git;
        let format = self.repo.object_format();
        let mut out = Appended::default();
        let (tip, attempts) = self.update(message, |view| {
            out = Appended::default();
            let mut objects = match pack {
                Some(_) => pack::Sink::memory(format),
                None => pack::Sink::Odb(git.odb()?),
            };
            let mut new_notes = BTreeMap::new();
            let mut new_files = BTreeMap::new();
            for (commit, content) in notes {
                let blob = pack::object_id(ObjectType::Blob, content, format)?;
                match view.local_note(*commit)? {
                    Some(_) if only_new => {
                        out.skipped.push(*commit);
                        continue;
                    }
                    Some(old) if old == blob => {
                        out.skipped.push(*commit);
                        continue;
                    }
                    Some(old) => {
                        // Replaced (seal --force): the old seal stays in the ledger.
                        new_files.insert(format!("alternates/{commit}/{old}"), old);
                    }
                    None if only_new && view.note_oid(*commit)?.is_some() => {
                        out.skipped.push(*commit);
                        continue;
                    }
                    None => {}
                }
                objects.add(blob, ObjectType::Blob, content)?;
                new_notes.insert(commit.to_string(), blob);
                out.written.push(*commit);
            }
            for (path, content) in files {
                let blob = objects.put(ObjectType::Blob, content)?;
                if let Some(issue) = tree::check_file_path(self.shape, path, blob) {
                    return Err(Error::usage(format!(
                        "cannot write {path} into the ledger: it {issue}"
                    ))
                    .hint("name it with A-Z a-z 0-9 . _ - + @ = , only (tags and snapshots are checked before they get here)"));
                }
                if view.file(path)?.is_some() {
                    return Err(Error::usage(format!(
                        "the ledger already holds {path}; it is never overwritten"
                    )));
                }
                new_files.insert(path.clone(), blob);
            }
            if new_notes.is_empty() && new_files.is_empty() {
                return Ok(None);
            }
            let base = view.tree.as_ref().map(|t| t.id());
            let root = tree::write(
                self.repo,
                &mut objects,
                self.shape,
                base,
                &new_notes,
                &new_files,
            )?;
            let parents: Vec<Oid> = view.tip.into_iter().collect();
            let commit = objects.put(
                ObjectType::Commit,
                &pack::commit_object(root, &parents, who, message),
            )?;
            if let (Some(pack), pack::Sink::Memory(built)) = (pack, &objects) {
                pack(built.objects())?;
            }
            Ok(Some(commit))
        })?;
        out.tip = tip;
        out.attempts = attempts;
        Ok(out)
    }

    /// The shape of ledger trees in this repository.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Moves the ledger ref to the commit `next` builds on the current view (`None`:
    /// nothing to write), by compare-and-swap under the writers' lock. A lost race is
    /// rebuilt on the new tip after an exponential backoff; a ref lock left by a
    /// killed writer is cleared. Returns the new tip (if any) and the attempts used.
    /// The one way the ledger ref moves: appends and merges both go through it.
    pub fn update(
        &self,
        what: &str,
        mut next: impl FnMut(&View<'r>) -> Result<Option<Oid>>,
    ) -> Result<(Option<Oid>, u32)> {
        let _writer =
            WriterLock::acquire(self.repo, writer_wait(self.max_retries, self.retry_base_ms))?;
        let reflog = format!("git-seal: {what}");
        // Started before the first build, which it then does not wait for.
        let mut writer = self.repo.ref_writer(&reflog);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let view = self.view()?;
            let built = match next(&view) {
                Err(e) if is_object_write_race(&e) && attempt <= self.max_retries => {
                    sleep(backoff(self.retry_base_ms, attempt));
                    continue;
                }
                built => built?,
            };
            let Some(new) = built else {
                return Ok((None, attempt));
            };
            let expect = match view.tip {
                Some(old) => Expect::At(old),
                None => Expect::Absent,
            };
            let swapped = writer.update(&self.refname, new, expect);
            match swapped {
                Ok(_) => return Ok((Some(new), attempt)),
                Err(e)
                    if e.code() == ErrorCode::Locked
                        && clear_stale_ref_lock(self.repo, &self.refname) =>
                {
                    // A killed writer's lock file: removed; try again at once.
                }
                Err(e)
                    if e.code() == ErrorCode::Modified
                        && attempt == 1
                        && self.repo.uses_reftable() =>
                {
                    // The tip came from refs listed before the writers' lock was
                    // taken (git-seal lists a reftable's refs once): perhaps before
                    // the writer ahead moved it. The failed swap dropped them: read
                    // again at once.
                }
                Err(e) if is_contention(&e) && attempt <= self.max_retries => {
                    sleep(backoff(self.retry_base_ms, attempt));
                }
                Err(e) if e.code() == ErrorCode::Locked => {
                    let lock = self.repo.common_dir.join(format!("{}.lock", self.refname));
                    return Err(Error::environment(format!(
                        "the ledger {} is locked by another git process ({attempt} attempts): {lock} exists",
                        self.refname
                    ))
                    .hint(format!("if no git process is running, remove it: rm {}", crate::quote::shell(lock.as_str()))));
                }
                Err(e) if is_contention(&e) => {
                    return Err(Error::environment(format!(
                        "the ledger {} kept moving under concurrent writers ({attempt} attempts): {}",
                        self.refname,
                        e.message()
                    ))
                    .hint(format!("retry, or raise the limit: {}", crate::quote::git("config seal.maxRetries 10"))));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Delay before retry `attempt` (1-based): base · 2^(attempt-1), plus jitter from the
/// clock so that racing processes spread out.
pub fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << (attempt - 1).min(16));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = if base_ms > 0 {
        nanos % base_ms.max(1)
    } else {
        0
    };
    Duration::from_millis(exp + jitter)
}

/// Whether `e` is a loose-object write that lost a race with git's own maintenance.
/// libgit2 writes an object to `objects/tmp_object…`, creates its fanout directory,
/// then renames the file into it; `git maintenance`'s loose-objects task (run after
/// commits by default since git 2.5x) ends in `prune-packed`, which removes fanout
/// directories it emptied, sometimes between those two steps. git retries that
/// rename itself; libgit2 reports an OS error (or a filesystem one, when the
/// directory is in the middle of changing as it is made). Objects are
/// content-addressed, so building the same update again is safe, and an error that
/// stays is reported after the retries.
fn is_object_write_race(e: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(g) = c.downcast_ref::<git2::Error>() {
            return matches!(
                g.class(),
                git2::ErrorClass::Os | git2::ErrorClass::Filesystem
            );
        }
        cause = c.source();
    }
    false
}

fn is_contention(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists
    )
}

impl<'r> View<'r> {
    /// The ledger as of `tip` (`None`: empty).
    pub fn at(repo: &'r Repo, tip: Option<Oid>) -> Result<View<'r>> {
        let tree = match tip {
            Some(t) => Some(repo.git.find_commit(t)?.tree()?),
            None => None,
        };
        Ok(View {
            repo,
            shape: Shape::of(repo),
            tip,
            tree,
            fetched: Vec::new(),
            cache: tree::TreeCache::default(),
            notes: None,
        })
    }

    /// Every way the local ledger's tree is not canonical (empty when it is, or when
    /// there is no ledger). Reads the whole tree; when it is canonical, keeps its notes
    /// so that this view's lookups of local notes are one hash lookup each.
    pub fn check_shape(&mut self) -> Result<Vec<ShapeProblem>> {
        match &self.tree {
            Some(t) => {
                let whole = tree::read_whole(self.repo, self.shape, t.id())?;
                self.notes = whole.notes;
                Ok(whole.problems)
            }
            None => Ok(Vec::new()),
        }
    }

    /// The blob of the local ledger's note for `hex`: from the whole tree's notes when
    /// the shape check kept them, else by the path lookup.
    fn note_in_local(&self, t: &Tree<'r>, hex: &str) -> Result<Option<Oid>> {
        match &self.notes {
            Some(notes) => Ok(notes.get(hex)),
            None => tree::note_in(self.repo, self.shape, t.id(), hex, &self.cache),
        }
    }

    /// The blob of `commit`'s note in the local ledger only.
    fn local_note(&self, commit: Oid) -> Result<Option<Oid>> {
        match &self.tree {
            Some(t) => self.note_in_local(t, &commit.to_string()),
            None => Ok(None),
        }
    }

    /// The blob id of the note for `commit`: the local ledger's, else a fetched one's.
    pub fn note_oid(&self, commit: Oid) -> Result<Option<Oid>> {
        let hex = commit.to_string();
        if let Some(t) = &self.tree {
            if let Some(blob) = self.note_in_local(t, &hex)? {
                return Ok(Some(blob));
            }
        }
        for (_, tree) in &self.fetched {
            if let Some(blob) = tree::note_in(self.repo, self.shape, tree.id(), &hex, &self.cache)?
            {
                return Ok(Some(blob));
            }
        }
        Ok(None)
    }

    /// Every seal held for `commit`, in order of precedence: the local note, the local
    /// alternates, then each fetched ledger's note and alternates. Each blob once.
    pub fn candidates(&self, commit: Oid) -> Result<Vec<Candidate>> {
        let hex = commit.to_string();
        let mut out: Vec<Candidate> = Vec::new();
        let mut push = |blob: Oid, origin: Origin| {
            if !out.iter().any(|c| c.blob == blob) {
                out.push(Candidate { blob, origin });
            }
        };
        let alternates = format!("alternates/{hex}");
        if let Some(t) = &self.tree {
            if let Some(b) = self.note_in_local(t, &hex)? {
                push(b, Origin::Note);
            }
            for (_, b) in tree::files_under(self.repo, t, &alternates)? {
                push(b, Origin::Alternate);
            }
        }
        for (name, t) in &self.fetched {
            if let Some(b) = tree::note_in(self.repo, self.shape, t.id(), &hex, &self.cache)? {
                push(b, Origin::Fetched(name.clone()));
            }
            for (_, b) in tree::files_under(self.repo, t, &alternates)? {
                push(b, Origin::FetchedAlternate(name.clone()));
            }
        }
        Ok(out)
    }

    /// The text of a seal's blob (lossy for bytes that are not UTF-8, which a seal
    /// never has; the parser then reports what is wrong), or why it was left unread
    /// (over the seal size cap: never read into memory).
    pub fn text(
        &self,
        blob: Oid,
        what: &str,
    ) -> Result<std::result::Result<String, crate::limits::TooLarge>> {
        let content =
            crate::limits::read_bounded(&self.repo.git, blob, crate::limits::Doc::Seal, what)?;
        Ok(content.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The content of the file at `path` (not a note): the local ledger's, else a
    /// fetched one's (a snapshot made upstream freezes its files there; the seal
    /// that names it pins its hash). Over its kind's size cap it is an error.
    pub fn file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        for root in self.tree.iter().chain(self.fetched.iter().map(|(_, t)| t)) {
            if let Some(id) = tree::file_in(root, path) {
                let kind = crate::limits::Doc::of_path(path);
                return Ok(Some(crate::limits::read_bounded(
                    &self.repo.git,
                    id,
                    kind,
                    path,
                )??));
            }
        }
        Ok(None)
    }

    /// The files directly under `dir` in the local and fetched ledgers: (name, content).
    /// A file over its kind's size cap is left out (see [`View::files_in_bounded`]).
    pub fn files_in(&self, dir: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .files_in_bounded(dir)?
            .into_iter()
            .filter_map(|(name, content)| Some((name, content.ok()?)))
            .collect())
    }

    /// The files directly under `dir`: (name, content, or why it was left unread).
    pub fn files_in_bounded(&self, dir: &str) -> Result<Vec<(String, crate::limits::Bounded)>> {
        let kind = crate::limits::Doc::of_path(dir);
        let mut out: Vec<(String, crate::limits::Bounded)> = Vec::new();
        for tree in self.tree.iter().chain(self.fetched.iter().map(|(_, t)| t)) {
            for (name, id) in tree::files_under(self.repo, tree, dir)? {
                if !out.iter().any(|(n, _)| *n == name) {
                    let path = format!("{dir}/{name}");
                    let content = crate::limits::read_bounded(&self.repo.git, id, kind, &path)?;
                    out.push((name, content));
                }
            }
        }
        Ok(out)
    }

    /// The seals kept for `commit` beside its note after a merge conflict
    /// (`alternates/<commit>/<blob id>`), as text.
    pub fn alternates(&self, commit: Oid) -> Result<Vec<String>> {
        Ok(self
            .files_in(&format!("alternates/{commit}"))?
            .into_iter()
            .map(|(_, content)| String::from_utf8_lossy(&content).into_owned())
            .collect())
    }

    /// The note text for `commit`, if any (lossy for bytes that are not UTF-8, which a
    /// seal never has; the parser then reports what is wrong).
    /// A note over the seal size cap is an error here; [`View::note_bounded`] says so
    /// as a value.
    pub fn note(&self, commit: Oid) -> Result<Option<String>> {
        match self.note_bounded(commit)? {
            Some(text) => Ok(Some(text?)),
            None => Ok(None),
        }
    }

    /// The note text for `commit`, or why it was left unread (over the seal size cap).
    pub fn note_bounded(
        &self,
        commit: Oid,
    ) -> Result<Option<std::result::Result<String, crate::limits::TooLarge>>> {
        let Some(blob) = self.note_oid(commit)? else {
            return Ok(None);
        };
        Ok(Some(self.text(blob, &format!("of {commit}"))?))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A fresh repository in a temporary directory, for the ledger's unit tests.
    pub(super) fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let path = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        (dir, Repo::open(Some(&path)).unwrap())
    }

    /// Blocks the fanout directory of the seal blob `content` is stored as, the way
    /// `prune-packed` removing it under libgit2 makes the rename into it fail.
    fn block_fanout(repo: &Repo, content: &[u8]) -> std::path::PathBuf {
        let blob = Oid::hash_object(ObjectType::Blob, content)
            .unwrap()
            .to_string();
        let fanout = repo.git.path().join("objects").join(&blob[..2]);
        std::fs::write(&fanout, b"not a directory").unwrap();
        fanout
    }

    #[test]
    fn an_append_whose_pack_cannot_be_written_lands_as_loose_objects() {
        let (_d, repo) = repo();
        let cfg = Config::load(&repo).unwrap();
        let notes: Vec<(Oid, Vec<u8>)> = (0..PACK_WRITE_MIN as u32 + 10)
            .map(|i| {
                let id = Oid::hash_object(ObjectType::Blob, &i.to_be_bytes()).unwrap();
                (id, format!("seal {i}\n").into_bytes())
            })
            .collect();
        let who = Signature::now("t", "t@example.com").unwrap();
        let batch = Batch {
            notes: &notes,
            files: &[],
            only_new: true,
            who: &who,
            message: "seal",
        };
        let ledger = Ledger::new(&repo, &cfg);
        let refused = std::cell::Cell::new(0);
        let appended = ledger
            .append_packed(&batch, |_| {
                refused.set(refused.get() + 1);
                Err(Error::environment("no pack today"))
            })
            .unwrap();
        assert!(refused.get() >= 1, "the pack was tried first");
        assert_eq!(appended.written.len(), notes.len());
        let view = ledger.view().unwrap();
        for (commit, content) in &notes {
            let blob = view.note_oid(*commit).unwrap().unwrap();
            assert_eq!(repo.git.find_blob(blob).unwrap().content(), &content[..]);
        }
        // Loose: one file per seal, as a small append writes.
        let loose = walk_files(&repo.git.path().join("objects"));
        assert!(loose >= notes.len(), "{loose} loose objects");
    }

    fn walk_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { walk_files(&p) } else { 1 })
            .sum()
    }

    #[test]
    fn an_object_write_that_loses_a_race_with_maintenance_is_built_again() {
        let (_d, repo) = repo();
        let cfg = Config::load(&repo).unwrap();
        let commit = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let content = b"seal of one commit\n".to_vec();
        let fanout = block_fanout(&repo, &content);
        let unblock = std::thread::spawn(move || {
            sleep(Duration::from_millis(30));
            std::fs::remove_file(&fanout).unwrap();
        });
        let who = Signature::now("t", "t@example.com").unwrap();
        let appended = Ledger::new(&repo, &cfg)
            .append(&[(commit, content.clone())], true, &who, "seal")
            .unwrap();
        unblock.join().unwrap();
        assert_eq!(appended.written, vec![commit]);
        let view = Ledger::new(&repo, &cfg).view().unwrap();
        let blob = view.note_oid(commit).unwrap().unwrap();
        assert_eq!(repo.git.find_blob(blob).unwrap().content(), &content[..]);
    }

    #[test]
    fn an_object_write_that_keeps_failing_is_reported_after_the_retries() {
        let (_d, repo) = repo();
        let cfg = Config::load(&repo).unwrap();
        let commit = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let content = b"seal of one commit\n".to_vec();
        block_fanout(&repo, &content);
        let who = Signature::now("t", "t@example.com").unwrap();
        let err = Ledger::new(&repo, &cfg)
            .append(&[(commit, content)], true, &who, "seal")
            .unwrap_err();
        assert!(is_object_write_race(&err), "{err}");
        assert_eq!(Ledger::new(&repo, &cfg).tip().unwrap(), None);
    }
}
