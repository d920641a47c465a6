//! Verification of commit seals (brief §2.2 "valid seal") and of the working tree
//! against HEAD's manifest.
//!
//! Invariant: verification only reads. Each problem found is one [`Problem`] naming
//! the commit and the reason; a commit is valid exactly when it has none.

use std::fmt;

use git2::Oid;

use crate::cache::{CacheMode, Manifests};
use crate::engine::stated_digest;
use crate::error::Result;
use crate::git::{recorded_parents, short, Repo};
use crate::ledger::View;
use crate::manifest::{hash_path, Manifest};
use crate::seal::Seal;

/// Why a commit's seal is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NoSeal,
    Unreadable(String),
    WrongCommit {
        stated: String,
    },
    WrongTree {
        stated: String,
        actual: String,
    },
    WrongParents,
    DigestMismatch {
        stated: String,
        actual: String,
    },
    ManifestMismatch {
        stated: String,
        actual: String,
    },
    BrokenChain {
        parent: Oid,
        stated: String,
        actual: Option<String>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Stated values come from the ledger: printed with control characters escaped.
        let p = crate::quote::printable;
        match self {
            Reason::NoSeal => f.write_str("no seal"),
            Reason::Unreadable(why) => write!(f, "unreadable seal: {}", p(why)),
            Reason::WrongCommit { stated } => {
                write!(f, "seal names another commit ({})", p(stated))
            }
            Reason::WrongTree { stated, actual } => {
                write!(f, "seal names tree {}, commit has {actual}", p(stated))
            }
            Reason::WrongParents => f.write_str("seal lists other parents than the commit has"),
            Reason::DigestMismatch { stated, actual } => write!(
                f,
                "seal digest mismatch: seal states {}, its content hashes to {actual}",
                p(stated)
            ),
            Reason::ManifestMismatch { stated, actual } => write!(
                f,
                "manifest mismatch: seal states {}, tree hashes to {actual}",
                p(stated)
            ),
            Reason::BrokenChain {
                parent,
                stated,
                actual,
            } => match actual {
                Some(a) => write!(
                    f,
                    "broken parent chain: parent {} seal is {}, seal expects {}",
                    short(*parent),
                    p(a),
                    p(stated)
                ),
                None => write!(
                    f,
                    "broken parent chain: parent {} has no seal, seal expects {}",
                    short(*parent),
                    p(stated)
                ),
            },
        }
    }
}

/// One problem with one commit.
#[derive(Debug, Clone)]
pub struct Problem {
    pub commit: Oid,
    pub reason: Reason,
}

/// Checks seals against one ledger view, reusing manifests across commits.
pub struct Verifier<'r> {
    repo: &'r Repo,
    view: View<'r>,
    manifests: Manifests<'r>,
}

impl<'r> Verifier<'r> {
    /// `CacheMode::Off` recomputes every manifest from blob contents, trusting no
    /// digest remembered on this machine.
    pub fn new(repo: &'r Repo, view: View<'r>, mode: CacheMode) -> Self {
        Verifier {
            repo,
            view,
            manifests: Manifests::new(repo, mode),
        }
    }

    /// The problems with `oid`'s seal; empty when it is valid.
    pub fn check(&mut self, oid: Oid) -> Result<Vec<Reason>> {
        let Some(text) = self.view.note(oid)? else {
            return Ok(vec![Reason::NoSeal]);
        };
        let parsed = match Seal::parse(&text) {
            Ok(p) => p,
            Err(e) => return Ok(vec![Reason::Unreadable(e.to_string())]),
        };
        let seal = parsed.seal;
        let commit = self.repo.git.find_commit(oid)?;
        let mut reasons = Vec::new();
        if seal.commit != oid.to_string() {
            reasons.push(Reason::WrongCommit {
                stated: seal.commit.clone(),
            });
        }
        let tree = commit.tree()?;
        if seal.tree != tree.id().to_string() {
            reasons.push(Reason::WrongTree {
                stated: seal.tree.clone(),
                actual: tree.id().to_string(),
            });
        }
        let recorded = recorded_parents(&commit);
        let parents: Vec<String> = recorded.iter().map(Oid::to_string).collect();
        if seal.parents != parents || seal.parent_seals.len() != parents.len() {
            reasons.push(Reason::WrongParents);
        }
        if parsed.computed_digest != seal.digest {
            reasons.push(Reason::DigestMismatch {
                stated: seal.digest.clone(),
                actual: parsed.computed_digest,
            });
        }
        let actual = self.manifests.digest_of(&commit)?;
        if actual != seal.manifest.digest {
            reasons.push(Reason::ManifestMismatch {
                stated: seal.manifest.digest.clone(),
                actual,
            });
        }
        for (&parent, expected) in recorded.iter().zip(&seal.parent_seals) {
            let Some(expected) = expected else { continue };
            let actual = stated_digest(&self.view, parent)?;
            if actual.as_ref() != Some(expected) && !self.is_alternate(parent, expected)? {
                reasons.push(Reason::BrokenChain {
                    parent,
                    stated: expected.clone(),
                    actual,
                });
            }
        }
        Ok(reasons)
    }

    /// Whether `digest` is a seal of `commit` kept aside by a ledger merge.
    fn is_alternate(&self, commit: Oid, digest: &str) -> Result<bool> {
        Ok(self
            .view
            .alternates(commit)?
            .iter()
            .filter_map(|t| Seal::parse(t).ok())
            .any(|p| p.seal.digest == digest && p.computed_digest == digest))
    }

    /// Checks each commit, returning every problem found.
    pub fn check_all(&mut self, commits: &[Oid]) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        for &commit in commits {
            for reason in self.check(commit)? {
                problems.push(Problem { commit, reason });
            }
        }
        Ok(problems)
    }
}

/// How a file on disk differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeProblem {
    Missing(Vec<u8>),
    Modified(Vec<u8>),
    TypeChanged(Vec<u8>),
    ModeChanged(Vec<u8>),
}

impl fmt::Display for WorktreeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, path) = match self {
            WorktreeProblem::Missing(p) => ("missing", p),
            WorktreeProblem::Modified(p) => ("modified", p),
            WorktreeProblem::TypeChanged(p) => ("type changed", p),
            WorktreeProblem::ModeChanged(p) => ("mode changed", p),
        };
        write!(f, "{}: {what}", crate::quote::c_style(path))
    }
}

/// Compares the files under `root` with `manifest`: every regular file, executable
/// and symlink it lists must be on disk with the same content and type. Submodules
/// are left to their own repositories; untracked files are not the manifest's concern.
pub fn check_worktree(root: &std::path::Path, manifest: &Manifest) -> Vec<WorktreeProblem> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut problems = Vec::new();
    for e in manifest.entries().filter(|e| !e.is_gitlink()) {
        let path = root.join(std::ffi::OsStr::from_bytes(e.path));
        let owned = e.path.to_vec();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            problems.push(WorktreeProblem::Missing(owned));
            continue;
        };
        if meta.file_type().is_symlink() != e.is_symlink() || meta.is_dir() {
            problems.push(WorktreeProblem::TypeChanged(owned));
            continue;
        }
        match hash_path(&path, e.is_symlink()) {
            Ok((hash, _)) if hash == e.hash => {}
            Ok(_) => {
                problems.push(WorktreeProblem::Modified(owned));
                continue;
            }
            Err(_) => {
                problems.push(WorktreeProblem::Missing(owned));
                continue;
            }
        }
        if e.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            if exec != (e.mode == 0o100755) {
                problems.push(WorktreeProblem::ModeChanged(owned));
            }
        }
    }
    problems
}
