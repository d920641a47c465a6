//! The documents `verify --json` and `status --json` print, as typed values: built
//! from the checks' own results (`Problem`, `TagProblem`, `WorktreeProblem`,
//! `Unchecked`, a hook's `Holder`, a remote's `RemoteLedger`), never from the lines
//! the text output prints, so the JSON and the text always list the same problems
//! (`status` renders its text from its `Status`).
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

/// The schema of `status --json`. v2: `signing.key` and `signing.allowed_signers`
/// are objects with a `state` (v1 gave the sentence the text prints), and
/// `hook_holders` and `tags_sealed_by_hook` say what the text says about hooks.
pub const STATUS_SCHEMA: &str = "git-seal/status/v2";

/// What `git seal status` shows, text and `--json` alike: the text is rendered
/// from this value, and `--json` is this value serialized.
#[derive(Debug, Serialize)]
pub struct Status {
    pub schema: &'static str,
    /// Per hook: whether git-seal runs when git runs it.
    pub hooks: std::collections::BTreeMap<String, bool>,
    /// Per hook: what holds it.
    pub hook_holders: std::collections::BTreeMap<String, HookHolder>,
    /// Per hook, what `git hook list` shows (git 2.54 or later; empty before).
    pub hook_list: std::collections::BTreeMap<String, Vec<crate::hookconfig::Listed>>,
    /// The git-seal binary the hooks run, when it still exists.
    pub binary: Option<String>,
    pub ledger: LedgerStatus,
    pub branch: BranchStatus,
    pub signing: SigningStatus,
    /// Whether git has the reference-transaction hook (2.28 or later), which seals
    /// tags as they are made; without it tags are sealed by hand.
    pub tags_sealed_by_hook: bool,
}

/// What holds a hook. `fix` is the command that puts git-seal back in (absent when
/// git-seal runs anyway).
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum HookHolder {
    /// git-seal's own hook (a shim or a config-defined hook).
    Installed,
    /// Another tool's hook that runs git-seal, through `via`.
    Via { tool: String, via: String },
    /// Another tool's hook that does not run git-seal; `moved`: where it put ours.
    Taken {
        tool: String,
        moved: Option<String>,
        fix: String,
    },
    /// No hook at all.
    Missing { fix: String },
}

impl HookHolder {
    /// The fix, when git-seal does not run.
    pub fn fix(&self) -> Option<&str> {
        match self {
            HookHolder::Taken { fix, .. } | HookHolder::Missing { fix } => Some(fix),
            HookHolder::Installed | HookHolder::Via { .. } => None,
        }
    }
}

impl std::fmt::Display for HookHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookHolder::Installed => f.write_str("installed"),
            HookHolder::Via { tool, via } => write!(f, "run by {tool}, through {via}"),
            HookHolder::Taken { tool, moved, .. } => {
                write!(f, "taken by {tool}")?;
                match moved {
                    Some(m) => write!(f, "; it moved git-seal's hook to {m}, which nothing runs"),
                    None => Ok(()),
                }
            }
            HookHolder::Missing { .. } => f.write_str("missing"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LedgerStatus {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub tip: Option<String>,
    /// Per remote: how its ledger stands to the local one.
    pub upstream: std::collections::BTreeMap<String, crate::sync::RemoteLedger>,
}

/// Seal coverage of the current branch's history.
#[derive(Debug, Serialize)]
pub struct BranchStatus {
    pub sealed: u64,
    pub unsealed: u64,
}

#[derive(Debug, Serialize)]
pub struct SigningStatus {
    pub key: KeyStatus,
    pub allowed_signers: SignersStatus,
}

/// The signing key in use.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum KeyStatus {
    /// No key configured: seals are unsigned.
    None,
    Configured {
        /// The setting and where the key is (`user.signingKey = key file …`).
        key: String,
        fingerprint: Option<String>,
        principal: String,
        /// `seal.signingPrincipal` or `user.email`.
        principal_from: String,
    },
    /// A key is configured but cannot be used.
    Unusable { reason: String },
}

/// The allowed signers in force.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SignersStatus {
    /// Signatures are checked, nobody is trusted.
    None,
    /// A file named in git config, by `setting`.
    Configured {
        path: String,
        setting: String,
    },
    /// The repository's own `.seal/allowed_signers`, trusted from `root`.
    InRepo {
        root: String,
    },
    Unusable {
        reason: String,
    },
}
