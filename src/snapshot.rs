//! Snapshots (annotated tags `snapshot/NAME@YYYY-MM-DD`, sealed, their manifest and
//! checksum file frozen in the ledger) and rollbacks to the last one that verifies.
//!
//! Invariants:
//! - A snapshot is made only of a commit whose seal verifies, and its tag exists only
//!   if its seal was written: a failed ledger append deletes the tag again.
//! - A rollback never deletes: the commit it leaves is kept by a safety ref
//!   (`refs/seal/safety/<time>`), uncommitted changes (with `--force`) by a stash
//!   commit kept the same way, and the rollback itself is recorded in the ledger at
//!   `rollbacks/<run id>.yaml`.

use serde::{Deserialize, Serialize};

use crate::cache::CacheMode;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::Ledger;
use crate::tags::{check_tag, TagCheck, TagProblem};

pub const PREFIX: &str = "snapshot/";
pub const ROLLBACK_SCHEMA: &str = "git-seal/rollback/v1";

/// The tag name for snapshot `name` made on `date`: `snapshot/NAME@DATE`, or with a
/// `.2`, `.3` … suffix when one was already made that day.
pub fn tag_name(repo: &Repo, name: &str, date: &str) -> Result<String> {
    let base = format!("{PREFIX}{name}@{date}");
    if name.is_empty()
        || name.contains('@')
        || !git2::Reference::is_valid_name(&format!("refs/tags/{base}"))
    {
        return Err(Error::usage(format!(
            "'{name}' cannot name a snapshot: refs/tags/{base} is not a valid tag name"
        ))
        .hint("use letters, digits, '-', '_', '.' and '/': git seal snapshot release-1.4"));
    }
    let mut candidate = base.clone();
    let mut n = 1;
    while crate::tags::is_tag(repo, &candidate) {
        n += 1;
        candidate = format!("{base}.{n}");
    }
    Ok(candidate)
}

/// Snapshot tags, newest first (by tagger time, then name).
pub fn snapshot_tags(repo: &Repo) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    for r in repo.git.references_glob(&format!("refs/tags/{PREFIX}*"))? {
        let r = r?;
        let Some(name) = r.name().and_then(|n| n.strip_prefix("refs/tags/")) else {
            continue;
        };
        let time = r
            .peel_to_tag()
            .ok()
            .and_then(|t| t.tagger().map(|s| s.when().seconds()))
            .unwrap_or(0);
        tags.push((time, name.to_string()));
    }
    tags.sort_by(|a, b| b.cmp(a));
    Ok(tags.into_iter().map(|(_, n)| n).collect())
}

/// Snapshots passed over, each with why it does not verify.
pub type Skipped = Vec<(String, Vec<TagProblem>)>;

/// The newest snapshot that still verifies (with what of it could not be checked
/// here, which does not pass it over), and why each newer one was passed over.
pub fn last_known_good(repo: &Repo, cfg: &Config) -> Result<(Option<(String, TagCheck)>, Skipped)> {
    let mut skipped = Vec::new();
    for tag in snapshot_tags(repo)? {
        let check = check_tag(repo, cfg, &tag, CacheMode::ReadWrite)?;
        if check.problems.is_empty() {
            return Ok((Some((tag, check)), skipped));
        }
        skipped.push((tag, check.problems));
    }
    Ok((None, skipped))
}

/// What a rollback records in the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub schema: String,
    pub run_id: String,
    pub at: String,
    pub by: crate::seal::Identity,
    pub reason: String,
    pub tag: String,
    pub from: String,
    pub to: String,
    pub safety_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stash_ref: Option<String>,
    pub worktree_verified: bool,
}

/// Past rollbacks, oldest first.
pub fn rollbacks(repo: &Repo, cfg: &Config) -> Result<Vec<RollbackRecord>> {
    let view = Ledger::new(repo, cfg).view()?;
    let mut out: Vec<RollbackRecord> = view
        .files_in("rollbacks")?
        .into_iter()
        .filter_map(|(_, bytes)| crate::yaml::from_slice(&bytes).ok())
        .collect();
    out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(out)
}
