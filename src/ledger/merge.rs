//! Union merge of a fetched ledger into the local one.
//!
//! Invariants:
//! - Local seals are never replaced or lost: where both sides seal one commit
//!   differently, the local note keeps its slot and the fetched one is kept at
//!   `alternates/<commit>/<blob id>`. Files (not notes): ours are kept, theirs added
//!   where new; a path both hold with different content keeps ours and is reported.
//! - A fetched ledger is never taken wholesale: the local ref fast-forwards to it only
//!   when that move passes the append-only rule with no note changed
//!   ([`SlotChange::Never`]); otherwise a merge commit (parents: ours, theirs) holds
//!   the union.
//! - A fetched ledger whose new parts are not canonical is not merged at all.
//! - The merge is computed from the diff of the two trees, so it costs what differs.
//! - Countersigns are files like any other (append-only, added where new); one over
//!   the document cap is left out (`Merged::left_out`), never merged.

use std::collections::BTreeMap;
use std::fmt;

use git2::{Oid, Signature};

use super::rule::{self, SlotChange};
use super::tree::{self, Shape, ShapeProblem};
use super::Ledger;
use crate::error::{Error, Result};
use crate::git::Repo;

/// What merging one fetched ledger did.
#[derive(Debug, Default, Clone)]
pub struct Merged {
    /// The new local tip, when the local ledger moved.
    pub tip: Option<Oid>,
    /// Whether the local ref fast-forwarded (no merge commit).
    pub fast_forward: bool,
    /// Seals added for commits the local ledger had none for.
    pub added: usize,
    /// Fetched seals kept at `alternates/` beside a different local seal.
    pub kept_aside: usize,
    /// Fetched files not merged: countersigns over the document cap.
    pub left_out: Vec<String>,
    /// Paths both hold with different content: ours kept.
    pub conflicts: Vec<String>,
}

/// Why a fetched ledger was not merged.
#[derive(Debug, Clone)]
pub enum MergeError {
    /// What it adds is not canonical.
    NotCanonical {
        theirs: Oid,
        problems: Vec<ShapeProblem>,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::NotCanonical { theirs, problems } => {
                write!(
                    f,
                    "the fetched ledger {} is not canonical ({} problem(s)), not merged",
                    crate::git::short(*theirs),
                    problems.len()
                )?;
                if let Some(p) = problems.first() {
                    write!(f, ": {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// The new tip for merging `theirs` into `ours` (`None`: nothing to do), and what it
/// did. Writes objects only; the caller moves the ref.
pub fn plan(
    repo: &Repo,
    shape: Shape,
    ours: Option<Oid>,
    theirs: Oid,
) -> Result<std::result::Result<Merged, MergeError>> {
    let git = &repo.git;
    if let Some(o) = ours {
        if o == theirs || git.graph_descendant_of(o, theirs)? {
            return Ok(Ok(Merged::default()));
        }
    }
    let our_tree = ours
        .map(|o| git.find_commit(o).map(|c| c.tree_id()))
        .transpose()?;
    let their_tree = git.find_commit(theirs)?.tree_id();
    let mut problems = Vec::new();
    let changes = tree::diff(repo, shape, our_tree, Some(their_tree), Some(&mut problems))?;
    if !problems.is_empty() {
        return Ok(Err(MergeError::NotCanonical { theirs, problems }));
    }
    let mut merged = Merged::default();
    let descends = match ours {
        None => true,
        Some(o) => git.graph_descendant_of(theirs, o)?,
    };
    if descends && rule::violations(repo, &changes, their_tree, SlotChange::Never)?.is_empty() {
        merged.tip = Some(theirs);
        merged.fast_forward = true;
        merged.added = changes.notes.len();
        return Ok(Ok(merged));
    }
    let Some(ours) = ours else {
        // Unreachable: without a local ledger every fetched one is a fast-forward.
        return Ok(Ok(merged));
    };
    let our_root = git.find_tree(our_tree.unwrap_or(repo.zero_id()))?;
    let mut notes = BTreeMap::new();
    let mut files = BTreeMap::new();
    for n in &changes.notes {
        match (n.old, n.new) {
            (None, Some(t)) => {
                notes.insert(n.commit.clone(), t);
                merged.added += 1;
            }
            (Some(_), Some(t)) => {
                let path = format!("alternates/{}/{t}", n.commit);
                if tree::file_in(&our_root, &path).is_none() {
                    files.insert(path, t);
                    merged.kept_aside += 1;
                }
            }
            _ => {}
        }
    }
    for f in &changes.files {
        match (f.old, f.new) {
            (None, Some((blob, _))) => {
                // A countersign over the cap is left behind: the local ledger would
                // carry it to a server that refuses it (`rule::Violation::TooLarge`).
                if f.path.starts_with("countersigns/")
                    && git.odb()?.read_header(blob)?.0 as u64 > crate::limits::DOCUMENT_CAP
                {
                    merged.left_out.push(f.path.clone());
                    continue;
                }
                files.insert(f.path.clone(), blob);
            }
            (Some(_), Some(_)) => merged.conflicts.push(f.path.clone()),
            _ => {}
        }
    }
    // A fetched alternate may name the seal now kept aside: one path, one blob.
    let mut objects = super::pack::Sink::Odb(git.odb()?);
    let root = tree::write(repo, &mut objects, shape, our_tree, &notes, &files)?;
    let sig = Signature::now("git-seal", "git-seal@localhost")?;
    let parents = [&git.find_commit(ours)?, &git.find_commit(theirs)?];
    let tree = git.find_tree(root)?;
    merged.tip = Some(git.commit(None, &sig, &sig, "merge fetched ledger", &tree, &parents)?);
    Ok(Ok(merged))
}

/// Merges `theirs` into the local ledger under the writers' lock.
pub fn merge_into_local(
    ledger: &Ledger<'_>,
    theirs: Oid,
) -> Result<std::result::Result<Merged, MergeError>> {
    let mut outcome: std::result::Result<Merged, MergeError> = Ok(Merged::default());
    let (tip, _) = ledger.update("merge fetched ledger", |view| {
        outcome = plan(ledger.repo, ledger.shape, view.tip, theirs)?;
        Ok(outcome.as_ref().ok().and_then(|m| m.tip))
    })?;
    if let Ok(m) = &mut outcome {
        m.tip = tip;
    }
    Ok(outcome)
}

impl From<MergeError> for Error {
    fn from(e: MergeError) -> Self {
        let MergeError::NotCanonical { theirs, .. } = &e;
        let hint = format!(
            "inspect it (git ls-tree -r {theirs}) and ask its owner to repair it; the local ledger is unchanged"
        );
        Error::check(e.to_string()).hint(hint)
    }
}
