//! Snapshots (annotated tags `snapshot/NAME@YYYY-MM-DD`, sealed, their manifest and
//! checksum file frozen in the ledger) and rollbacks to the last one that verifies.
//!
//! A rollback is planned, then applied: [`plan_rollback`] reads and changes nothing
//! (not the index, not the cache) and returns a [`RollbackPlan`]; `--dry-run` prints
//! it; [`apply`] carries it out.
//!
//! Invariants:
//! - A snapshot is made only of a commit whose seal verifies, and its tag exists only
//!   if its seal was written: a failed ledger append deletes the tag again.
//! - Which snapshot is "the last good one" never depends on a date someone wrote:
//!   among snapshots whose target is HEAD or an ancestor of it, the one whose target
//!   is met first walking HEAD's first-parent history, then its whole history in
//!   topological order, that verifies. A snapshot whose target is not in HEAD's
//!   history (a fetched one, say) is taken only when named.
//! - A snapshot that cannot be read or does not verify is passed over, with its
//!   reason, never an abort.
//! - A rollback never loses a file: the commit it leaves is kept by a safety ref
//!   (`refs/seal/safety/<time>`), uncommitted changes (with `--force`) by a stash
//!   commit kept the same way, untracked or ignored files where the snapshot has
//!   files (with `--force`) are moved into `<git dir>/seal/aside/<time>/`; without
//!   `--force` either is refused. The rollback is recorded in the ledger at
//!   `rollbacks/<run id>.yaml`, naming all three. A rollback onto where HEAD already
//!   is, with nothing to restore, records nothing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use camino::Utf8PathBuf;
use chrono::{SecondsFormat, Utc};
use git2::{Oid, Signature};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cache::CacheMode;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{Expect, Repo};
use crate::ledger::Ledger;
use crate::quote::{c_style, shell as shell_quote};
use crate::runlog::{Run, Source, Status};
use crate::tags::{check_tag, SnapshotFiles, TagCheck, TagProblem, TagSealed, Unchecked};
use crate::verify::{check_worktree, Verifier, WorktreeProblem};

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
        .hint(format!(
            "use letters, digits, '-', '_', '.' and '/': {}",
            crate::quote::git_seal("snapshot release-1.4")
        )));
    }
    let mut candidate = base.clone();
    let mut n = 1;
    while crate::tags::is_tag(repo, &candidate) {
        n += 1;
        candidate = format!("{base}.{n}");
    }
    Ok(candidate)
}

/// A snapshot about to be made: of HEAD, whose seal verifies.
pub struct SnapshotPlan {
    pub name: String,
    pub tag: String,
    pub head: Oid,
    pub message: String,
    /// The manifest and checksum file to freeze.
    pub files: SnapshotFiles,
    pub file_count: u64,
}

/// Plans snapshot `name` of HEAD on `date`: refused (exit 1) when HEAD's seal does
/// not verify, (exit 2) when the name cannot make a tag. Writes nothing with a
/// read-only `mode`.
pub fn plan_snapshot(
    repo: &Repo,
    cfg: &Config,
    name: &str,
    message: Option<&str>,
    date: &str,
    mode: CacheMode,
) -> Result<SnapshotPlan> {
    let head = repo.head_commit()?;
    let tag = tag_name(repo, name, date)?;
    let view = Ledger::new(repo, cfg).view()?;
    let mut verifier = Verifier::new(repo, view, mode);
    let problems = verifier.check(head.id())?;
    if !problems.is_empty() {
        let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::check(format!(
            "HEAD ({}) has no valid seal, so it cannot be a snapshot: {}",
            crate::git::short(head.id()),
            why.join("; ")
        ))
        .hint(format!("seal it first: {}", crate::quote::git_seal("seal"))));
    }
    // What the snapshot freezes into the ledger: from no cached manifest a seal
    // does not vouch for.
    let manifest =
        crate::engine::vouched_manifest(repo, verifier.view(), CacheMode::ReadOnly, &head)?;
    Ok(SnapshotPlan {
        name: name.to_string(),
        tag,
        head: head.id(),
        message: message.map_or_else(|| format!("snapshot {name}"), str::to_string),
        files: SnapshotFiles::of(&manifest, &head),
        file_count: manifest.files(),
    })
}

/// Makes the snapshot: the annotated tag, sealed, its files frozen in the same
/// ledger append. When the seal cannot be written the tag is deleted again.
pub fn create_snapshot(repo: &Repo, cfg: &Config, plan: &SnapshotPlan) -> Result<TagSealed> {
    let (name, email) = repo.identity()?;
    let tagger = Signature::now(&name, &email)?;
    let head = repo.git.find_commit(plan.head)?;
    // The tag object, then its ref through the one ref writer (reftable included).
    let tag =
        repo.git
            .tag_annotation_create(&plan.tag, head.as_object(), &tagger, &plan.message)?;
    let refname = format!("refs/tags/{}", plan.tag);
    let signer = signer_for(repo, &email)?;
    repo.update_ref(&refname, tag, Expect::Absent, "git-seal: snapshot")?;
    let signing = crate::tags::TagSigning {
        signer: signer.as_ref(),
        required: true,
    };
    crate::tags::seal_tag(repo, cfg, &plan.tag, Some(&plan.files), false, signing).inspect_err(
        |_| {
            // No tag without its seal.
            let _ = repo.delete_ref(&refname, tag);
        },
    )
}

/// The configured signer of snapshot seals and rollback records (brief §2.4); a key
/// that is configured but cannot be used is an error before anything is written.
fn signer_for(repo: &Repo, email: &str) -> Result<Option<crate::signing::SealSigner>> {
    crate::signing::SealSigner::from_config(repo, Some(email)).map_err(|e| {
        let hint = e.hint().unwrap_or_else(|| "git seal status".into());
        crate::error::Error::usage(format!("cannot sign: {e}")).hint(hint)
    })
}

/// Why a snapshot was passed over.
#[derive(Debug, Clone)]
pub enum PassedReason {
    /// It was checked and does not verify.
    DoesNotVerify(Vec<TagProblem>),
    /// It could not be checked at all: its tag names a missing object, its ledger
    /// files cannot be read …
    Unreadable(String),
    /// Its target is not HEAD nor an ancestor of HEAD; taken only when named.
    NotInHistory,
}

impl std::fmt::Display for PassedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PassedReason::DoesNotVerify(p) => f.write_str(&crate::tags::describe(p)),
            PassedReason::Unreadable(why) => write!(f, "unreadable: {why}"),
            PassedReason::NotInHistory => f.write_str(
                "its commit is not in HEAD's history (a rollback goes there only when the tag is named)",
            ),
        }
    }
}

/// A snapshot not chosen, and why.
#[derive(Debug, Clone)]
pub struct PassedOver {
    pub tag: String,
    pub why: PassedReason,
}

/// How the snapshot was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// Named on the command line.
    Named,
    /// The closest to HEAD in its history that verifies.
    Closest,
}

/// The snapshot a rollback goes to, and those passed over on the way.
#[derive(Debug, Clone)]
pub struct Choice {
    pub tag: String,
    pub target: Oid,
    pub check: TagCheck,
    pub by: ChosenBy,
    pub passed_over: Vec<PassedOver>,
}

/// A snapshot ref as found: its tag name and target commit, or why it has none.
fn snapshot_refs(repo: &Repo) -> Result<Vec<(String, std::result::Result<Oid, String>)>> {
    let mut out = Vec::new();
    for r in repo.refs_with_prefix(&format!("refs/tags/{PREFIX}"))? {
        let Some(name) = r.name.strip_prefix("refs/tags/") else {
            continue;
        };
        let target = match (!r.symbolic).then_some(r.target) {
            None => Err("the tag is a symbolic ref".to_string()),
            Some(id) => match repo.git.find_object(id, None) {
                Err(_) => Err(format!(
                    "the tag points at {id}, which is not in this repository"
                )),
                Ok(obj) => obj
                    .peel_to_commit()
                    .map(|c| c.id())
                    .map_err(|_| format!("the tag {id} does not lead to a commit here")),
            },
        };
        out.push((name.to_string(), target));
    }
    Ok(out)
}

/// How close each of `wanted` is to `head`: (0, n) for the n-th commit of HEAD's
/// first-parent history, (1, n) for the n-th of its whole history in topological
/// order; absent when not in HEAD's history at all.
fn closeness(repo: &Repo, head: Oid, wanted: &[Oid]) -> Result<BTreeMap<Oid, (u8, usize)>> {
    let mut rank = BTreeMap::new();
    let mut missing: std::collections::BTreeSet<Oid> = wanted.iter().copied().collect();
    for (pass, first_parent) in [(0u8, true), (1u8, false)] {
        if missing.is_empty() {
            break;
        }
        let mut walk = repo.git.revwalk()?;
        if first_parent {
            walk.simplify_first_parent()?;
        } else {
            walk.set_sorting(git2::Sort::TOPOLOGICAL)?;
        }
        walk.push(head)?;
        for (n, id) in walk.enumerate() {
            let id = id?;
            if missing.remove(&id) {
                rank.insert(id, (pass, n));
                if missing.is_empty() {
                    break;
                }
            }
        }
    }
    Ok(rank)
}

/// Chooses the snapshot to roll back to: `named`, which must verify, or the one
/// closest to HEAD in HEAD's history that verifies (the rule in the module doc).
pub fn choose(
    repo: &Repo,
    cfg: &Config,
    named: Option<&str>,
    reason: &str,
    head: Oid,
    mode: CacheMode,
) -> Result<Choice> {
    if let Some(tag) = named {
        let check = check_tag(repo, cfg, tag, mode)?;
        if !check.problems.is_empty() {
            return Err(Error::check(format!(
                "{} does not verify, so it is no known-good state: {}",
                shell_quote(tag),
                crate::tags::describe(&check.problems)
            ))
            .hint(format!(
                "roll back to the closest snapshot that verifies: {}",
                crate::quote::git_seal(&format!("rollback --reason {}", shell_quote(reason)))
            )));
        }
        let target = crate::tags::tag_state(repo, tag)?.target;
        return Ok(Choice {
            tag: tag.to_string(),
            target,
            check,
            by: ChosenBy::Named,
            passed_over: Vec::new(),
        });
    }
    let refs = snapshot_refs(repo)?;
    let targets: Vec<Oid> = refs
        .iter()
        .filter_map(|(_, t)| t.as_ref().ok().copied())
        .collect();
    let rank = closeness(repo, head, &targets)?;
    let mut passed_over = Vec::new();
    let mut candidates = Vec::new();
    for (tag, target) in refs {
        match target {
            Err(why) => passed_over.push(PassedOver {
                tag,
                why: PassedReason::Unreadable(why),
            }),
            Ok(t) => match rank.get(&t) {
                Some(r) => candidates.push((*r, tag, t)),
                None => passed_over.push(PassedOver {
                    tag,
                    why: PassedReason::NotInHistory,
                }),
            },
        }
    }
    // Closest first; of several snapshots of one commit, the latest name first.
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
    let mut tried = Vec::new();
    let mut chosen = None;
    for (_, tag, target) in candidates {
        match check_tag(repo, cfg, &tag, mode) {
            Ok(check) if check.problems.is_empty() => {
                chosen = Some((tag, target, check));
                break;
            }
            Ok(check) => tried.push(PassedOver {
                tag,
                why: PassedReason::DoesNotVerify(check.problems),
            }),
            Err(e) => tried.push(PassedOver {
                tag,
                why: PassedReason::Unreadable(e.message),
            }),
        }
    }
    tried.extend(passed_over);
    let Some((tag, target, check)) = chosen else {
        let why = if tried.is_empty() {
            "there are no snapshots".to_string()
        } else {
            let each: Vec<String> = tried
                .iter()
                .map(|p| format!("{}: {}", shell_quote(&p.tag), p.why))
                .collect();
            format!("passed over {}", each.join("; "))
        };
        return Err(Error::check(format!(
            "no snapshot in HEAD's history verifies, so there is no known-good state to return to ({why})"
        ))
        .hint(format!("make one from a sealed commit: {}", crate::quote::git_seal("snapshot known-good"))));
    };
    Ok(Choice {
        tag,
        target,
        check,
        by: ChosenBy::Closest,
        passed_over: tried,
    })
}

/// What a rollback will do, decided before anything changes.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub tag: String,
    pub by: ChosenBy,
    pub from: Oid,
    pub to: Oid,
    /// The branch that moves; None for a detached HEAD (then checked out instead).
    pub branch: Option<String>,
    pub passed_over: Vec<PassedOver>,
    /// What of the snapshot could not be checked here (which does not pass it over).
    pub unchecked: Vec<Unchecked>,
    /// Tracked files with uncommitted changes (stashed and kept, with `--force`).
    pub dirty: Vec<Vec<u8>>,
    /// Untracked or ignored files (or directories holding some) where the snapshot
    /// has files, which moving would overwrite (moved aside, with `--force`).
    pub in_the_way: Vec<Vec<u8>>,
    pub safety_ref: String,
    /// Where files in the way go.
    pub aside_dir: Utf8PathBuf,
    pub reason: String,
    pub force: bool,
}

impl RollbackPlan {
    /// HEAD is already at the snapshot and nothing on disk differs from it.
    pub fn already_there(&self) -> bool {
        self.from == self.to && self.dirty.is_empty() && self.in_the_way.is_empty()
    }

    /// Why apply would refuse this plan, if it would: uncommitted changes or files
    /// in the way, without `--force`.
    pub fn refusal(&self) -> Option<Error> {
        if self.force || (self.dirty.is_empty() && self.in_the_way.is_empty()) {
            return None;
        }
        let list = |paths: &[Vec<u8>]| {
            paths
                .iter()
                .map(|p| c_style(p))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut what = Vec::new();
        if !self.dirty.is_empty() {
            what.push(format!("uncommitted changes: {}", list(&self.dirty)));
        }
        if !self.in_the_way.is_empty() {
            what.push(format!(
                "untracked files where {} has files: {}",
                self.tag,
                list(&self.in_the_way)
            ));
        }
        let kept = match (self.dirty.is_empty(), self.in_the_way.is_empty()) {
            (false, true) => "changes are stashed and kept by a ref",
            (true, false) => "files are moved aside into .git/seal/aside/",
            _ => "changes are stashed and kept by a ref, files moved aside into .git/seal/aside/",
        };
        Some(
            Error::check(format!("the working tree has {}", what.join("; "))).hint(format!(
                "commit or move them, or keep them and roll back (the {kept}): {}",
                crate::quote::git_seal(&format!(
                    "rollback {} --force --reason {}",
                    shell_quote(&self.tag),
                    shell_quote(&self.reason)
                ))
            )),
        )
    }
}

/// Plans a rollback to `named` (or the closest snapshot that verifies). Writes
/// nothing: not the index (git is run with `--no-optional-locks`), not the cache.
pub fn plan_rollback(
    repo: &Repo,
    cfg: &Config,
    named: Option<&str>,
    reason: &str,
    force: bool,
    mode: CacheMode,
) -> Result<RollbackPlan> {
    let root = repo
        .workdir
        .clone()
        .ok_or_else(|| Error::usage("rollback needs a working tree"))?;
    let from = repo.head_commit()?.id();
    let choice = choose(repo, cfg, named, reason, from, mode)?;
    let dirty = dirty_files(repo)?;
    let target_tree = repo.git.find_commit(choice.target)?.tree()?;
    let index = repo.git.index()?;
    let in_the_way = in_the_way(root.as_std_path(), &target_tree, &index)?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut safety_ref = format!("refs/seal/safety/{stamp}");
    let mut n = 1;
    while repo.ref_exists(&safety_ref) {
        n += 1;
        safety_ref = format!("refs/seal/safety/{stamp}-{n}");
    }
    let aside_dir = repo
        .seal_dir()
        .join("aside")
        .join(safety_ref.trim_start_matches("refs/seal/safety/"));
    let branch = repo
        .head()?
        .symref
        .and_then(|r| r.strip_prefix("refs/heads/").map(str::to_string));
    Ok(RollbackPlan {
        tag: choice.tag,
        by: choice.by,
        from,
        to: choice.target,
        branch,
        passed_over: choice.passed_over,
        unchecked: choice.check.unchecked,
        dirty,
        in_the_way,
        safety_ref,
        aside_dir,
        reason: reason.to_string(),
        force,
    })
}

/// Tracked files whose index or worktree differ from HEAD, read without taking the
/// index lock or refreshing it.
fn dirty_files(repo: &Repo) -> Result<Vec<Vec<u8>>> {
    let out = repo.run_git_raw(&[
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=no",
    ])?;
    let mut files = Vec::new();
    let mut fields = out.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        let Some(path) = entry.get(3..) else { continue };
        files.push(path.to_vec());
        // A rename or copy is followed by the path it came from.
        if matches!(entry.first(), Some(b'R' | b'C')) {
            fields.next();
        }
    }
    Ok(files)
}

/// Files on disk that are not in the index and sit where `target` has a file (or
/// are a file where it has a directory): what `git reset --hard` would overwrite.
fn in_the_way(root: &Path, target: &git2::Tree<'_>, index: &git2::Index) -> Result<Vec<Vec<u8>>> {
    let tracked = |p: &[u8]| {
        (0..=3).any(|stage| {
            index
                .get_path(Path::new(OsStr::from_bytes(p)), stage)
                .is_some()
        })
    };
    let tracked_under = |p: &[u8]| {
        let mut prefix = p.to_vec();
        prefix.push(b'/');
        index.iter().any(|e| e.path.starts_with(&prefix))
    };
    let mut found = std::collections::BTreeSet::new();
    let mut parents_seen = std::collections::HashSet::new();
    let mut err = None;
    target.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Tree) {
            return git2::TreeWalkResult::Ok;
        }
        // A submodule's directory is never overwritten by a checkout.
        if entry.filemode() == 0o160000 {
            return git2::TreeWalkResult::Ok;
        }
        let mut path = dir.as_bytes().to_vec();
        path.extend_from_slice(entry.name_bytes());
        // A file on disk at one of its parent directories.
        let mut end = 0;
        while let Some(i) = path[end..].iter().position(|b| *b == b'/') {
            let parent = &path[..end + i];
            end += i + 1;
            if !parents_seen.insert(parent.to_vec()) {
                continue;
            }
            if let Ok(meta) = std::fs::symlink_metadata(root.join(OsStr::from_bytes(parent))) {
                if !meta.is_dir() && !tracked(parent) {
                    found.insert(parent.to_vec());
                }
            }
        }
        let on_disk = root.join(OsStr::from_bytes(&path));
        match std::fs::symlink_metadata(&on_disk) {
            Ok(meta) if meta.is_dir() => match dir_has_untracked(&on_disk, &path, &tracked) {
                Ok(true) => {
                    found.insert(path);
                }
                Ok(false) => {}
                Err(e) => {
                    err = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            },
            Ok(_) if !tracked(&path) && !tracked_under(&path) => {
                found.insert(path);
            }
            _ => {}
        }
        git2::TreeWalkResult::Ok
    })?;
    if let Some(e) = err {
        return Err(
            Error::environment(format!("cannot read the working tree: {e}")).with_source(e),
        );
    }
    Ok(found.into_iter().collect())
}

/// Whether directory `dir` (at `rel` in the worktree) holds anything not tracked.
fn dir_has_untracked(
    dir: &Path,
    rel: &[u8],
    tracked: &dyn Fn(&[u8]) -> bool,
) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut path = rel.to_vec();
        path.push(b'/');
        path.extend_from_slice(entry.file_name().as_bytes());
        if entry.file_type()?.is_dir() {
            if path.ends_with(b"/.git") || dir_has_untracked(&entry.path(), &path, tracked)? {
                return Ok(true);
            }
        } else if !tracked(&path) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a rollback did.
#[derive(Debug)]
pub struct Applied {
    pub record: RollbackRecord,
    pub worktree_problems: Vec<WorktreeProblem>,
    /// Why the ledger record could not be written, if it could not.
    pub not_recorded: Option<Error>,
    /// Why the run log could not be written, if it could not.
    pub log_warning: Option<String>,
}

/// Carries out `plan`: keeps where HEAD was, keeps uncommitted changes and files in
/// the way, moves to the snapshot, checks the files, records it. Refuses what the
/// plan's [`RollbackPlan::refusal`] names; a plan that is [`RollbackPlan::already_there`]
/// is for the caller to report (this returns None and changes nothing).
pub fn apply(repo: &Repo, cfg: &Config, plan: &RollbackPlan) -> Result<Option<Applied>> {
    if let Some(e) = plan.refusal() {
        return Err(e);
    }
    if plan.already_there() {
        return Ok(None);
    }
    let root = repo
        .workdir
        .clone()
        .ok_or_else(|| Error::usage("rollback needs a working tree"))?;
    let (name, email) = repo.identity()?;
    let me = crate::seal::Identity { name, email };
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("rollback"),
        Some(plan.from.to_string()),
    );
    run.inputs(json!({"tag": plan.tag, "reason": plan.reason, "force": plan.force}));
    // The run log is best effort; the error returned says where everything is.
    let fail = |run: Run, e: Error, what: String| {
        let _ = run.finish(
            Status::Failed,
            json!({"safety_ref": plan.safety_ref}),
            1,
            e.message.clone(),
        );
        e.context(what)
    };
    repo.update_ref(
        &plan.safety_ref,
        plan.from,
        Expect::Absent,
        &format!("git-seal rollback: {}", plan.reason),
    )?;
    let kept = format!("where you were is kept as {}", plan.safety_ref);
    let mut aside = Vec::new();
    for path in &plan.in_the_way {
        if let Err(e) = move_aside(root.as_std_path(), plan.aside_dir.as_std_path(), path) {
            return Err(fail(
                run,
                e,
                format!(
                    "rollback to {} stopped before moving anything tracked; {kept}, files moved so far are in {}",
                    plan.tag, plan.aside_dir
                ),
            ));
        }
        aside.push(String::from_utf8_lossy(path).into_owned());
    }
    let stash_ref = if plan.dirty.is_empty() {
        None
    } else {
        let stashed = repo
            .run_git(&[
                "stash",
                "push",
                "--quiet",
                "-m",
                &format!("git-seal rollback to {}", plan.tag),
            ])
            .and_then(|_| {
                repo.ref_target("refs/stash")?
                    .ok_or_else(|| Error::usage("git stash made no refs/stash"))
            });
        let stash = match stashed {
            Ok(s) => s,
            Err(e) => {
                return Err(fail(
                    run,
                    e,
                    format!("rollback to {} stopped; {kept}", plan.tag),
                ))
            }
        };
        let name = format!("{}-worktree", plan.safety_ref);
        repo.update_ref(
            &name,
            stash,
            Expect::Absent,
            "git-seal rollback: uncommitted changes",
        )?;
        Some(name)
    };
    let to = plan.to.to_string();
    let moved = if plan.branch.is_some() {
        repo.run_git(&["reset", "--hard", "--quiet", &to])
    } else {
        repo.run_git(&["checkout", "--detach", "--quiet", &to])
    };
    if let Err(e) = moved {
        return Err(fail(
            run,
            e,
            format!("rollback to {} failed; {kept}", plan.tag),
        ));
    }
    let commit = repo.git.find_commit(plan.to)?;
    let view = Ledger::new(repo, cfg).view()?;
    let manifest = crate::engine::vouched_manifest(repo, &view, CacheMode::ReadWrite, &commit)?;
    let worktree_problems = check_worktree(root.as_std_path(), &manifest);
    let record = RollbackRecord {
        schema: ROLLBACK_SCHEMA.into(),
        run_id: uuid::Uuid::now_v7().to_string(),
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        by: me.clone(),
        reason: plan.reason.clone(),
        tag: plan.tag.clone(),
        from: plan.from.to_string(),
        to: to.clone(),
        safety_ref: plan.safety_ref.clone(),
        stash_ref,
        aside_dir: (!aside.is_empty()).then(|| plan.aside_dir.to_string()),
        aside,
        worktree_verified: worktree_problems.is_empty(),
        signature: None,
    };
    let mut record = record;
    // The worktree has moved already: a record unsigned (and said so) beats none.
    let mut sign_failed = None;
    match crate::signing::SealSigner::from_config(repo, Some(&me.email)) {
        Ok(Some(signer)) => {
            match signer.sign_doc(&serde_json::to_value(&record).unwrap_or_default()) {
                Ok(sig) => record.signature = Some(sig),
                Err(e) => sign_failed = Some(e.to_string()),
            }
        }
        Ok(None) => {}
        Err(e) => sign_failed = Some(e.to_string()),
    }
    let yaml = crate::yaml::to_string(&record);
    let who = Signature::now(&me.name, &me.email)?;
    let path = format!("rollbacks/{}.yaml", record.run_id);
    let not_recorded = Ledger::new(repo, cfg)
        .append_with_files(
            &[],
            &[(path, yaml.into_bytes())],
            false,
            &who,
            &format!("rollback to {}", plan.tag),
        )
        .err();
    let outputs = json!({"from": record.from, "to": record.to, "tag": record.tag,
        "safety_ref": record.safety_ref, "stash_ref": record.stash_ref,
        "aside_dir": record.aside_dir, "aside": record.aside,
        "worktree_problems": worktree_problems.len()});
    let status = if not_recorded.is_none() && worktree_problems.is_empty() && sign_failed.is_none()
    {
        Status::Success
    } else {
        Status::Partial
    };
    let log_warning = run.finish(
        status,
        outputs,
        1,
        format!("rollback to {}: {}", plan.tag, plan.reason),
    );
    Ok(Some(Applied {
        record,
        worktree_problems,
        not_recorded,
        log_warning,
    }))
}

/// Moves `rel` (a file or directory in the worktree at `root`) to the same path under
/// `aside`, by a rename: never a copy and a delete, so a failure leaves it where it
/// was (the rollback then stops before anything tracked moves).
fn move_aside(root: &Path, aside: &Path, rel: &[u8]) -> Result<()> {
    let rel = Path::new(OsStr::from_bytes(rel));
    let from = root.join(rel);
    let to = aside.join(rel);
    let io = |e: std::io::Error| {
        Error::environment(format!(
            "cannot move {} aside to {}: {e}",
            c_style(rel.as_os_str().as_bytes()),
            to.display()
        ))
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if std::fs::symlink_metadata(&to).is_ok() {
        return Err(io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
    }
    std::fs::rename(&from, &to).map_err(io)
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
    /// Where untracked files that were in the way were moved (under it, at their
    /// paths), and which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aside_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aside: Vec<String>,
    pub worktree_verified: bool,
    /// Who vouches (brief §2.4), over the canonical JSON of every other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signing::Signature>,
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
