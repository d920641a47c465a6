//! Git-EVTag-v0-SHA512: git-evtag's extended-verification checksum over everything a
//! commit holds, independent of git's SHA-1.
//!
//! The algorithm is git-evtag's published one: a SHA-512 over the raw objects, each
//! with its header (`<type> <size>\0<content>`), in this order: the commit, then its
//! tree walked depth first in tree order: each tree object before its entries, each
//! blob as met, and for a submodule (gitlink) the submodule's commit and its tree,
//! recursively, read from whichever repository here holds that commit
//! (`submodules::Finder`: found by the gitlink's id, not by today's `.gitmodules`).
//!
//! A submodule whose objects are not here (a clone without `--recurse-submodules`)
//! is left out: its commit and everything under it are not hashed, the gitlink entry
//! in its parent tree still is (so its commit id stays covered), and the result names
//! it in [`Checksum::absent`]. A checksum with anything left out equals git-evtag's
//! only in what it covers; callers record or report what it left out, and never
//! compare it with a checksum that left out less.
//!
//! In a SHA-256 repository the same walk hashes the SHA-256 objects' bytes (their
//! ids, in commits and trees, are SHA-256 ones). git-evtag 2022.1 (Debian's, on
//! libgit2 without SHA-256) refuses such a repository ("unsupported extension name
//! extensions.objectformat"), so there is no reference checksum to match; the tests
//! compare with the published algorithm derived by hand (`git cat-file`, `sha512sum`),
//! and the README says no reference tool recomputes it there yet.
//!
//! Inflating the blobs is most of the cost, so reader threads (as many as rayon
//! would use, at most 4) fetch them in fixed batches while one thread hashes.
//!
//! Invariants: the checksum is the same whatever the number of threads: batches are
//! cut from the walk's order and hashed in that order. Read-ahead memory is bounded
//! (see `READ_AHEAD_MAX`). A submodule is hashed whole or not at all: a missing
//! commit or tree in it (or, in a partial clone, a missing blob) leaves the whole
//! submodule out (named), never a partial walk; a missing object of the
//! superproject itself is an error, as is a blob missing from a full clone (that is
//! a corrupt store, for `git fsck`).

use std::sync::mpsc::{sync_channel, Receiver};

use git2::{ObjectType, Oid, Repository};
use sha2::{Digest, Sha512};

use crate::error::{Error, Result};
use crate::git::{Locator, Repo};
use crate::manifest::STREAM_THRESHOLD;
use crate::submodules::{Finder, Found};

pub const ALGORITHM: &str = "Git-EVTag-v0-SHA512";

/// Blobs in a batch handed to one reader thread.
const BATCH: usize = 64;
/// Blobs up to this size are read ahead by the reader threads; larger ones are read
/// by the hashing thread itself, streamed when large. With one batch queued per
/// reader, one being filled and one being hashed, read-ahead holds at most
/// 3 × BATCH × READ_AHEAD_MAX per reader (48 MiB), and a few hundred KiB for
/// source files.
const READ_AHEAD_MAX: usize = 256 << 10;

/// A submodule commit at a path of the walked tree (full path from the top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gitlink {
    pub path: String,
    pub commit: Oid,
}

/// A checksum and what it does not cover.
#[derive(Debug, Clone)]
pub struct Checksum {
    /// Lowercase hex SHA-512.
    pub digest: String,
    /// Submodules whose objects are not here, left out.
    pub absent: Vec<Gitlink>,
    /// Entries of the `leave_out` asked for that the walk met (and left out).
    pub left_out: Vec<Gitlink>,
}

/// The Git-EVTag-v0-SHA512 checksum of `commit`, leaving out the submodules named
/// in `leave_out` (to recompute a checksum made without them) and any whose objects
/// are not here.
///
/// The walk (commits and trees) is cheap and runs first; reading the blobs, mostly
/// inflating them, is what costs, so reader threads fetch them in order-keeping
/// batches while this thread feeds the single SHA-512.
pub fn evtag(repo: &Repo, commit: Oid, leave_out: &[Gitlink]) -> Result<Checksum> {
    let mut plan = Plan {
        main: &repo.git,
        submodules: Vec::new(),
        locators: vec![repo.locator()],
        partial: vec![is_partial(&repo.git)],
        pieces: Vec::new(),
        finder: Finder::new(repo.common_dir.as_std_path()),
        leave_out,
        absent: Vec::new(),
        left_out: Vec::new(),
    };
    plan.walk_commit(0, commit, "", 0, false)?;
    let mut hasher = Sha512::new();
    plan.hash(&mut hasher)?;
    Ok(Checksum {
        digest: hex::encode(hasher.finalize()),
        absent: plan.absent,
        left_out: plan.left_out,
    })
}

/// One step of the checksum, in checksum order.
enum Piece {
    /// An object read during the walk (a commit or tree), header included.
    Raw(Vec<u8>),
    /// A blob of the repository at this index of `Plan::locators`.
    Blob { repo: usize, oid: Oid },
}

struct Plan<'r> {
    main: &'r Repository,
    /// Submodule repositories, index `i + 1` in `locators`.
    submodules: Vec<Repository>,
    locators: Vec<Locator>,
    pieces: Vec<Piece>,
    finder: Finder,
    /// Per repository (as `locators`): a partial clone, whose blobs may be missing.
    partial: Vec<bool>,
    leave_out: &'r [Gitlink],
    absent: Vec<Gitlink>,
    left_out: Vec<Gitlink>,
}

/// A blob as a reader thread hands it over.
enum Fetched {
    Raw(Vec<u8>),
    /// Not read ahead (too large, or no reader threads): the hasher reads it.
    Large,
}

impl Plan<'_> {
    fn repo(&self, index: usize) -> &Repository {
        match index {
            0 => self.main,
            i => &self.submodules[i - 1],
        }
    }

    /// Adds `commit` and its tree. `at` is its full path from the top (empty for the
    /// top commit), `rel` the byte offset in it where paths of `repo` start. Inside a
    /// submodule (`optional`), a missing object makes this return false, and the
    /// caller drops what it added.
    fn walk_commit(
        &mut self,
        repo: usize,
        commit: Oid,
        at: &str,
        rel: usize,
        optional: bool,
    ) -> Result<bool> {
        if !self.add_raw(repo, commit, optional)? {
            return Ok(false);
        }
        let tree = match self.repo(repo).find_commit(commit) {
            Ok(c) => c.tree_id(),
            Err(_) if optional => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        self.walk_tree(repo, tree, at, rel, optional)
    }

    fn walk_tree(
        &mut self,
        repo: usize,
        tree: Oid,
        at: &str,
        rel: usize,
        optional: bool,
    ) -> Result<bool> {
        if !self.add_raw(repo, tree, optional)? {
            return Ok(false);
        }
        let entries: Vec<(Vec<u8>, Option<ObjectType>, Oid)> = match self.repo(repo).find_tree(tree)
        {
            Ok(t) => t
                .iter()
                .map(|e| (e.name_bytes().to_vec(), e.kind(), e.id()))
                .collect(),
            Err(_) if optional => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if optional && self.partial[repo] {
            // Only a partial clone lacks blobs of a commit it has (a shallow one has
            // every tree and blob of its commits; a missing commit or tree is caught
            // above). Checking each blob elsewhere cost 10% of a verify.
            let odb = self.repo(repo).odb()?;
            let blobs = entries.iter().filter(|(_, kind, _)| {
                !matches!(kind, Some(ObjectType::Tree | ObjectType::Commit))
            });
            if blobs.into_iter().any(|(_, _, oid)| !odb.exists(*oid)) {
                return Ok(false);
            }
        }
        for (name, kind, oid) in entries {
            let name = String::from_utf8_lossy(&name);
            let path = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}/{name}")
            };
            let whole = match kind {
                Some(ObjectType::Tree) => self.walk_tree(repo, oid, &path, rel, optional)?,
                Some(ObjectType::Commit) => {
                    self.walk_gitlink(repo, oid, path, rel)?;
                    true
                }
                _ => {
                    self.pieces.push(Piece::Blob { repo, oid });
                    true
                }
            };
            if !whole {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Adds the submodule commit `commit` at `path` whole, or names it as left out.
    fn walk_gitlink(&mut self, repo: usize, commit: Oid, path: String, rel: usize) -> Result<()> {
        let link = Gitlink { path, commit };
        if self.leave_out.contains(&link) {
            self.left_out.push(link);
            return Ok(());
        }
        let holder = match repo {
            0 => self.main,
            i => &self.submodules[i - 1],
        };
        let index = match self.finder.find(holder, &link.path[rel..], commit) {
            None => {
                self.absent.push(link);
                return Ok(());
            }
            Some(Found::Here) => repo,
            Some(Found::Other(sub)) => {
                self.locators.push(Locator::of(&sub)?);
                self.partial.push(is_partial(&sub));
                self.submodules.push(sub);
                self.locators.len() - 1
            }
        };
        let (pieces, absent, left_out) =
            (self.pieces.len(), self.absent.len(), self.left_out.len());
        let sub_rel = link.path.len() + 1;
        if !self.walk_commit(index, commit, &link.path, sub_rel, true)? {
            self.pieces.truncate(pieces);
            self.absent.truncate(absent);
            self.left_out.truncate(left_out);
            self.absent.push(link);
        }
        Ok(())
    }

    /// Adds the raw object; false when `optional` and it is missing.
    fn add_raw(&mut self, repo: usize, oid: Oid, optional: bool) -> Result<bool> {
        let bytes = {
            let odb = self.repo(repo).odb()?;
            let read = odb.read(oid);
            match read {
                Ok(obj) => raw(&obj),
                Err(e) if optional && e.code() == git2::ErrorCode::NotFound => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        };
        self.pieces.push(Piece::Raw(bytes));
        Ok(true)
    }

    fn hash(&self, hasher: &mut Sha512) -> Result<()> {
        let blobs: Vec<(usize, Oid)> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Blob { repo, oid } => Some((*repo, *oid)),
                Piece::Raw(_) => None,
            })
            .collect();
        let readers = rayon::current_num_threads().clamp(1, 4);
        if blobs.len() < 2 * BATCH || readers == 1 {
            return self.feed(hasher, || Ok(Fetched::Large));
        }
        std::thread::scope(|scope| {
            // Reader r reads batches r, r + readers, r + 2 * readers, … into a channel
            // of its own, so the hasher takes them in order from the reader whose
            // batch comes next.
            let inboxes: Vec<Receiver<Result<Vec<Fetched>>>> = (0..readers)
                .map(|r| {
                    let (tx, rx) = sync_channel(1);
                    let blobs = &blobs;
                    let locators = &self.locators;
                    scope.spawn(move || {
                        let mut handles: Vec<Option<Repository>> =
                            (0..locators.len()).map(|_| None).collect();
                        for batch in blobs.chunks(BATCH).skip(r).step_by(readers) {
                            let fetched: Result<Vec<Fetched>> = batch
                                .iter()
                                .map(|(repo, oid)| read_ahead(&mut handles, locators, *repo, *oid))
                                .collect();
                            let failed = fetched.is_err();
                            if tx.send(fetched).is_err() || failed {
                                return; // the hasher stopped, or will at this error
                            }
                        }
                    });
                    rx
                })
                .collect();
            let mut batch = Vec::new().into_iter();
            let mut taken = 0;
            self.feed(hasher, || {
                if taken % BATCH == 0 {
                    batch = inboxes[(taken / BATCH) % readers]
                        .recv()
                        .map_err(|_| Error::internal("cannot read blobs: a reader thread died"))??
                        .into_iter();
                }
                taken += 1;
                Ok(batch
                    .next()
                    .expect("a batch holds BATCH blobs, the last one the rest"))
            })
        })
    }

    /// Hashes every piece in order, taking each blob from `next_blob` (which hands
    /// them over in walk order).
    fn feed(
        &self,
        hasher: &mut Sha512,
        mut next_blob: impl FnMut() -> Result<Fetched>,
    ) -> Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Raw(bytes) => hasher.update(bytes),
                Piece::Blob { repo, oid } => match next_blob()? {
                    Fetched::Raw(bytes) => hasher.update(&bytes),
                    Fetched::Large => add_blob(self.repo(*repo), hasher, *oid)?,
                },
            }
        }
        Ok(())
    }
}

/// Whether `repo` is a partial clone (`git clone --filter`): its objects may be
/// missing by design, fetched on demand by git, never by libgit2.
fn is_partial(repo: &Repository) -> bool {
    let Ok(cfg) = repo.config() else {
        return true;
    };
    if cfg.get_string("extensions.partialclone").is_ok() {
        return true;
    }
    let Ok(mut entries) = cfg.entries(Some(r"remote\..*\.promisor")) else {
        return true;
    };
    let mut promisor = false;
    while let Some(Ok(e)) = entries.next() {
        promisor |= e.has_value() && e.value().is_ok_and(|v| v == "true");
    }
    promisor
}

/// The object's raw form: `<type> <size>\0<content>`.
fn raw(obj: &git2::OdbObject<'_>) -> Vec<u8> {
    let header = format!("{} {}\0", obj.kind().str(), obj.len());
    let mut bytes = Vec::with_capacity(header.len() + obj.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(obj.data());
    bytes
}

fn read_ahead(
    handles: &mut [Option<Repository>],
    locators: &[Locator],
    repo: usize,
    oid: Oid,
) -> Result<Fetched> {
    let git = match &mut handles[repo] {
        Some(git) => git,
        slot => slot.insert(locators[repo].open()?),
    };
    let odb = git.odb()?;
    let (size, _) = odb.read_header(oid)?;
    if size > READ_AHEAD_MAX {
        return Ok(Fetched::Large);
    }
    let bytes = raw(&odb.read(oid)?);
    Ok(Fetched::Raw(bytes))
}

/// Adds one blob in its raw form, header included. Large blobs are streamed from
/// their object files, as for manifests, so memory stays bounded.
fn add_blob(repo: &Repository, hasher: &mut Sha512, oid: Oid) -> Result<()> {
    let odb = repo.odb()?;
    let (size, kind) = odb.read_header(oid)?;
    if kind == ObjectType::Blob && size as u64 > STREAM_THRESHOLD {
        let stream = crate::objects::open_blob(repo.path(), oid, size as u64)?;
        hasher.update(format!("blob {}\0", stream.size).as_bytes());
        return stream.copy_into(oid, hasher);
    }
    hasher.update(raw(&odb.read(oid)?));
    Ok(())
}
