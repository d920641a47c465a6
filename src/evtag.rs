//! Git-EVTag-v0-SHA512: git-evtag's extended-verification checksum over everything a
//! commit holds, independent of git's SHA-1.
//!
//! The algorithm is git-evtag's published one: a SHA-512 over the raw objects, each
//! with its header (`<type> <size>\0<content>`), in this order: the commit, then its
//! tree walked depth first in tree order: each tree object before its entries, each
//! blob as met, and for a submodule (gitlink) the submodule's commit and its tree,
//! recursively, read from the submodule's own repository.
//!
//! Inflating the blobs is most of the cost, so reader threads (as many as rayon
//! would use, at most 4) fetch them in fixed batches while one thread hashes.
//!
//! Invariants: the checksum is the same whatever the number of threads: batches are
//! cut from the walk's order and hashed in that order. Read-ahead memory is bounded
//! (see `READ_AHEAD_MAX`). A submodule whose repository is not present is an error
//! naming it, never a silently different checksum.

use std::sync::mpsc::{sync_channel, Receiver};

use git2::{ObjectType, Oid, Repository};
use sha2::{Digest, Sha512};

use crate::error::{Error, Result};
use crate::git::{Locator, Repo};
use crate::manifest::STREAM_THRESHOLD;

pub const ALGORITHM: &str = "Git-EVTag-v0-SHA512";

/// Blobs in a batch handed to one reader thread.
const BATCH: usize = 64;
/// Blobs up to this size are read ahead by the reader threads; larger ones are read
/// by the hashing thread itself, streamed when large. With one batch queued per
/// reader, one being filled and one being hashed, read-ahead holds at most
/// 3 × BATCH × READ_AHEAD_MAX per reader (48 MiB), and a few hundred KiB for
/// source files.
const READ_AHEAD_MAX: usize = 256 << 10;

/// The Git-EVTag-v0-SHA512 checksum of `commit`, as lowercase hex.
///
/// The walk (commits and trees) is cheap and runs first; reading the blobs, mostly
/// inflating them, is what costs, so reader threads fetch them in order-keeping
/// batches while this thread feeds the single SHA-512.
pub fn evtag(repo: &Repo, commit: Oid) -> Result<String> {
    let mut plan = Plan {
        main: &repo.git,
        submodules: Vec::new(),
        locators: vec![repo.locator()],
        pieces: Vec::new(),
    };
    plan.walk_commit(0, commit, "")?;
    let mut hasher = Sha512::new();
    plan.hash(&mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
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

    fn walk_commit(&mut self, repo: usize, commit: Oid, at: &str) -> Result<()> {
        self.add_raw(repo, commit)?;
        let tree = self.repo(repo).find_commit(commit)?.tree_id();
        self.walk_tree(repo, tree, at)
    }

    fn walk_tree(&mut self, repo: usize, tree: Oid, at: &str) -> Result<()> {
        self.add_raw(repo, tree)?;
        let entries: Vec<(Vec<u8>, Option<ObjectType>, Oid)> = self
            .repo(repo)
            .find_tree(tree)?
            .iter()
            .map(|e| (e.name_bytes().to_vec(), e.kind(), e.id()))
            .collect();
        for (name, kind, oid) in entries {
            let name = String::from_utf8_lossy(&name);
            let path = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}/{name}")
            };
            match kind {
                Some(ObjectType::Tree) => self.walk_tree(repo, oid, &path)?,
                Some(ObjectType::Commit) => {
                    let sub = open_submodule(self.repo(repo), &path)?;
                    self.locators.push(Locator::of(&sub)?);
                    self.submodules.push(sub);
                    self.walk_commit(self.locators.len() - 1, oid, "")?;
                }
                _ => self.pieces.push(Piece::Blob { repo, oid }),
            }
        }
        Ok(())
    }

    fn add_raw(&mut self, repo: usize, oid: Oid) -> Result<()> {
        let bytes = {
            let odb = self.repo(repo).odb()?;
            let obj = odb.read(oid)?;
            raw(&obj)
        };
        self.pieces.push(Piece::Raw(bytes));
        Ok(())
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
                        .map_err(|_| Error::usage("cannot read blobs: a reader thread died"))??
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
        let dirs = crate::objects::object_dirs(repo.commondir());
        if let Some(stream) = crate::objects::open_blob(&dirs, oid)? {
            hasher.update(format!("blob {}\0", stream.size).as_bytes());
            return stream.copy_into(oid, hasher);
        }
    }
    hasher.update(raw(&odb.read(oid)?));
    Ok(())
}

fn open_submodule(repo: &Repository, path: &str) -> Result<Repository> {
    let missing = || {
        Error::usage(format!(
            "submodule {path} is not checked out, and the extended checksum covers it"
        ))
        .hint(format!("fetch it: git submodule update --init -- '{path}'"))
    };
    let sub = repo.find_submodule(path).map_err(|_| missing())?;
    sub.open().map_err(|_| missing())
}
