//! The append-only rule: which moves of a ledger ref keep everything it held.
//!
//! An update from `old` to `new` passes when `new` descends from `old` (a
//! fast-forward; deleting the ref is refused) and every entry of `old`'s tree is in
//! `new`'s with the same blob, with two exceptions: notes are identified by commit id,
//! not by path (a fanout change that moves a note keeps it), and a note may change
//! from blob B to C only where `new` keeps B at `alternates/<commit>/<B>` (so two
//! users who sealed one commit independently can both push; no seal is lost).
//! Everything `new` adds must be canonical ([`super::tree`]); a countersign it adds
//! must be within the document cap (`countersigns/` is append-only like every file).
//!
//! The rule is computed from the diff of the two trees, which skips every subtree
//! whose id did not change: a server's check costs what the push changes, not the
//! size of its ledger.

use std::fmt;

use git2::Oid;

use super::tree::{self, Changes, Shape, ShapeProblem};
use crate::error::Result;
use crate::git::Repo;

/// Whether a note may change to another blob when the old one is kept aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotChange {
    /// A changed note passes when `alternates/<commit>/<old blob>` holds the old blob
    /// (the server's rule).
    KeptAside,
    /// No note may change (what a merge requires of a fast-forward: the local seal
    /// keeps its slot).
    Never,
}

/// Why an update of the ledger is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The update deletes the ledger ref.
    Deleted,
    /// The new tip does not descend from the old one.
    NotFastForward,
    /// A note the old tree held is gone.
    SealRemoved { commit: String },
    /// A note holds another blob, and the old one is not kept aside.
    SealChanged { commit: String },
    /// A file (not a note) is gone.
    FileRemoved { path: String },
    /// A file (not a note) holds another blob or mode.
    FileChanged { path: String },
    /// What the update adds is not in the canonical shape.
    NotCanonical(ShapeProblem),
    /// A countersign the update adds is over the document cap (no reader would read
    /// it; a server does not keep what nobody reads).
    TooLarge { path: String, size: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |c: &str| c.get(..7).unwrap_or(c).to_string();
        match self {
            Violation::Deleted => f.write_str("the ledger may not be deleted"),
            Violation::NotFastForward => {
                f.write_str("the ledger update is not a fast-forward (history rewritten)")
            }
            Violation::SealRemoved { commit } => {
                write!(f, "the update removes the seal of {}", short(commit))
            }
            Violation::SealChanged { commit } => write!(
                f,
                "the update changes the seal of {} without keeping the old one in alternates/",
                short(commit)
            ),
            Violation::FileRemoved { path } => write!(f, "the update removes {path}"),
            Violation::FileChanged { path } => write!(f, "the update changes {path}"),
            Violation::NotCanonical(p) => {
                write!(f, "the update adds a non-canonical ledger entry: {p}")
            }
            Violation::TooLarge { path, size } => write!(
                f,
                "the update adds {path} of {size} bytes, over the {}-byte cap",
                crate::limits::DOCUMENT_CAP
            ),
        }
    }
}

/// The violations of the append-only rule by an update of a ledger ref from `old` to
/// `new` (zero ids: no ref). Empty when it passes.
pub fn check_update(repo: &Repo, shape: Shape, old: Oid, new: Oid) -> Result<Vec<Violation>> {
    if new.is_zero() {
        return Ok(vec![Violation::Deleted]);
    }
    if old == new {
        return Ok(Vec::new());
    }
    if !old.is_zero() && !repo.git.graph_descendant_of(new, old)? {
        return Ok(vec![Violation::NotFastForward]);
    }
    let old_tree = (!old.is_zero())
        .then(|| repo.git.find_commit(old).map(|c| c.tree_id()))
        .transpose()?;
    let new_tree = repo.git.find_commit(new)?.tree_id();
    let mut shape_problems = Vec::new();
    let changes = tree::diff(
        repo,
        shape,
        old_tree,
        Some(new_tree),
        Some(&mut shape_problems),
    )?;
    let mut out: Vec<Violation> = shape_problems
        .into_iter()
        .map(Violation::NotCanonical)
        .collect();
    out.extend(violations(repo, &changes, new_tree, SlotChange::KeptAside)?);
    Ok(out)
}

/// The violations among `changes` (from a tree to `new_tree`): what was removed or
/// changed. Shape problems are the caller's (they come with the diff).
pub fn violations(
    repo: &Repo,
    changes: &Changes,
    new_tree: Oid,
    slot: SlotChange,
) -> Result<Vec<Violation>> {
    let mut out = Vec::new();
    let new_root = repo.git.find_tree(new_tree)?;
    for n in &changes.notes {
        match (n.old, n.new) {
            (None, _) => {}
            (Some(_), None) => out.push(Violation::SealRemoved {
                commit: n.commit.clone(),
            }),
            (Some(old), Some(_)) => {
                let kept = slot == SlotChange::KeptAside
                    && tree::file_in(&new_root, &format!("alternates/{}/{old}", n.commit))
                        == Some(old);
                if !kept {
                    out.push(Violation::SealChanged {
                        commit: n.commit.clone(),
                    });
                }
            }
        }
    }
    for f in &changes.files {
        match (f.old, f.new) {
            (None, Some((new, _))) if f.path.starts_with("countersigns/") => {
                // Sized from the object header: the blob is never read here.
                let size = repo.git.odb()?.read_header(new)?.0 as u64;
                if size > crate::limits::DOCUMENT_CAP {
                    out.push(Violation::TooLarge {
                        path: f.path.clone(),
                        size,
                    });
                }
            }
            (None, _) => {}
            (Some(_), None) => out.push(Violation::FileRemoved {
                path: f.path.clone(),
            }),
            (Some(_), Some(_)) => out.push(Violation::FileChanged {
                path: f.path.clone(),
            }),
        }
    }
    Ok(out)
}
