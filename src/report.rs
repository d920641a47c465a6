//! The documents `verify --json` prints, as typed values: built from the checks'
//! own results (`Problem`, `TagProblem`, `WorktreeProblem`, `Unchecked`), never from
//! the lines the text output prints, so the JSON and the text always list the same
//! problems.
//!
//! Invariants: every problem carries a stable `code` (a value a script can match)
//! beside its `reason` (the wording people read); the schema names the shape and
//! changes its major when a field is removed or changes meaning.

use serde::Serialize;

use crate::tags::{TagProblem, Unchecked};
use crate::verify::{Problem, WorktreeProblem};

/// The schema of `verify --json`.
pub const VERIFY_SCHEMA: &str = "git-seal/verify/v1";

/// What `git seal verify --json` prints.
#[derive(Debug, Serialize)]
pub struct Verify {
    pub schema: &'static str,
    pub ok: bool,
    /// How many commits were checked.
    pub commits: usize,
    pub problems: Vec<CommitProblem>,
    /// Said, but not failing (a chain link never made over a parent sealed later).
    pub warnings: Vec<CommitProblem>,
    pub tags: Vec<TagReport>,
    pub worktree: Vec<FileProblem>,
    pub not_checked: Vec<NotChecked>,
    /// Ways the ledger's tree is not canonical.
    pub ledger: Vec<String>,
    /// Changes to the in-repository policy its parent's policy does not allow.
    pub trust: Vec<TrustProblem>,
    /// The signature verdict of each checked commit's chosen seal.
    pub signatures: Vec<SignatureReport>,
    /// Which signatures and countersigns vouch for each tip named, and for how many
    /// commits of its sealed ancestry.
    pub coverage: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TrustProblem {
    pub commit: String,
    pub reason: String,
}

impl From<&crate::trust::Problem> for TrustProblem {
    fn from(p: &crate::trust::Problem) -> Self {
        TrustProblem {
            commit: p.commit().to_string(),
            reason: p.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SignatureReport {
    pub commit: String,
    pub trusted: bool,
    pub verdict: String,
}

impl SignatureReport {
    pub fn of(commit: git2::Oid, verdict: &crate::signing::Verdict) -> Self {
        SignatureReport {
            commit: commit.to_string(),
            trusted: verdict.is_trusted(),
            verdict: verdict.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CommitProblem {
    pub commit: String,
    pub code: &'static str,
    pub reason: String,
}

impl From<&Problem> for CommitProblem {
    fn from(p: &Problem) -> Self {
        CommitProblem {
            commit: p.commit.to_string(),
            code: p.reason.code(),
            reason: p.reason.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TagReport {
    pub tag: String,
    pub ok: bool,
    pub problems: Vec<Coded>,
}

/// A problem that names nothing beyond what holds it: a code and its wording.
#[derive(Debug, Serialize)]
pub struct Coded {
    pub code: &'static str,
    pub reason: String,
}

impl TagReport {
    /// The report of `tag`, from every (tag, problem) pair found.
    pub fn of(tag: &str, problems: &[(&str, TagProblem)]) -> TagReport {
        let problems: Vec<Coded> = problems
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, p)| Coded {
                code: p.code(),
                reason: p.to_string(),
            })
            .collect();
        TagReport {
            tag: tag.to_string(),
            ok: problems.is_empty(),
            problems,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FileProblem {
    /// The path as stored in the tree (lossy UTF-8).
    pub path: String,
    pub code: &'static str,
    pub reason: String,
}

impl From<&WorktreeProblem> for FileProblem {
    fn from(p: &WorktreeProblem) -> Self {
        FileProblem {
            path: String::from_utf8_lossy(p.path()).into_owned(),
            code: p.code(),
            reason: p.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NotChecked {
    pub tag: String,
    pub submodule: Submodule,
    pub left_out_by_seal: bool,
    pub reason: String,
    pub fix: String,
}

#[derive(Debug, Serialize)]
pub struct Submodule {
    pub path: String,
    pub commit: String,
}

impl From<&Unchecked> for NotChecked {
    fn from(u: &Unchecked) -> Self {
        NotChecked {
            tag: u.tag.clone(),
            submodule: Submodule {
                path: u.submodule.path.clone(),
                commit: u.submodule.commit.to_string(),
            },
            left_out_by_seal: u.left_out_by_seal,
            reason: u.to_string(),
            fix: u.fix.clone(),
        }
    }
}
