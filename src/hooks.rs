//! Owns the hooks directory: installing git-seal's shims, chaining hooks that were
//! there before, and restoring the directory on uninstall.
//!
//! Invariants:
//! - Only this module writes into the hooks directory.
//! - A hook that is not ours is never overwritten: it is renamed to
//!   `<name>.seal-chained` beside our shim (same directory, so its `$0`-relative
//!   lookups still work) and the shim runs it first with the same arguments and
//!   stdin. Uninstall renames it back, so its bytes and mode are exactly as before.
//! - Install is idempotent: running it again rewrites our shims (picking up a new
//!   binary path) and chains nothing twice.
//! - Install writes only into this repository's own hooks directories: a
//!   `core.hooksPath` from the user's or the machine's config (shared by every
//!   repository) or one holding tracked files (a committed hooks directory) is
//!   named and left alone unless the user asks for it. A relative `core.hooksPath`
//!   is resolved in every worktree, as git resolves it where a hook runs.
//! - What install did is recorded in `<common dir>/seal/install.json`; uninstall
//!   undoes exactly that, removing a hooks directory only if install created it.

use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ResultExt};
use crate::fsutil::write_atomic;
use crate::git::Repo;

/// The shim template; `@HOOK@` and `@BIN@` are filled in at install.
pub const SHIM_TEMPLATE: &str = include_str!("../hooks/shim.sh");
/// The line that marks a hook file as ours.
pub const MARKER: &str = "# git-seal hook shim";
pub const CHAINED_SUFFIX: &str = ".seal-chained";

/// Hooks every installation wires.
pub const CLIENT_HOOKS: &[&str] = &[
    "post-commit",
    "post-merge",
    "post-rewrite",
    "post-applypatch",
    "pre-push",
    "reference-transaction",
];
/// Hooks `install --server` wires: the gate. A server only checks: it writes no seal.
pub const SERVER_HOOKS: &[&str] = &["pre-receive"];

const RECORD: &str = "install.json";

/// What install did, so that uninstall can undo exactly that.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InstallRecord {
    /// Every hooks directory install wrote into (one per worktree when
    /// `core.hooksPath` is relative).
    #[serde(default)]
    pub dirs: Vec<DirRecord>,
    pub binary: Utf8PathBuf,
    // Records written before `dirs` existed named a single directory.
    #[serde(default, skip_serializing)]
    hooks_dir: Option<Utf8PathBuf>,
    #[serde(default, skip_serializing)]
    created_dir: bool,
}

/// What install did in one hooks directory.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DirRecord {
    pub path: Utf8PathBuf,
    pub created_dir: bool,
}

impl InstallRecord {
    fn dir_mut(&mut self, path: &Utf8Path) -> &mut DirRecord {
        let at = match self.dirs.iter().position(|d| d.path == path) {
            Some(at) => at,
            None => {
                self.dirs.push(DirRecord {
                    path: path.to_path_buf(),
                    created_dir: false,
                });
                self.dirs.len() - 1
            }
        };
        &mut self.dirs[at]
    }

    fn upgrade(mut self) -> Self {
        if let Some(path) = self.hooks_dir.take() {
            if !self.dirs.iter().any(|d| d.path == path) {
                self.dirs.push(DirRecord {
                    path,
                    created_dir: self.created_dir,
                });
            }
        }
        self
    }
}

/// One step of an install or uninstall, in the order it is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateDir(Utf8PathBuf),
    Chain { from: Utf8PathBuf, to: Utf8PathBuf },
    WriteShim(Utf8PathBuf),
    RemoveShim(Utf8PathBuf),
    RemoveDir(Utf8PathBuf),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::CreateDir(p) => write!(f, "create directory {p}"),
            Step::Chain { from, to } => write!(f, "keep existing hook {from} as {to} (chained)"),
            Step::WriteShim(p) => write!(f, "write hook {p}"),
            Step::RemoveShim(p) => write!(f, "remove hook {p}"),
            Step::RemoveDir(p) => write!(f, "remove directory {p}"),
        }
    }
}

/// Where git looks for this repository's hooks, and whose directory that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksLocation {
    /// The directories git runs hooks from: one, or one per worktree when
    /// `core.hooksPath` is relative (git resolves it in the worktree a hook runs in).
    pub dirs: Vec<Utf8PathBuf>,
    pub owner: Owner,
}

/// Whose hooks directory it is, which decides whether install may write into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This repository's own (`<git dir>/hooks`, or a `core.hooksPath` set in its
    /// own config): install writes there.
    Repository,
    /// `core.hooksPath` comes from the user's or the machine's config, so every
    /// repository using that config runs these hooks: left alone unless asked.
    Shared { scope: String, origin: String },
    /// The directory holds files tracked by this repository (a committed hooks
    /// directory): writing there would change them. Left alone unless asked.
    Tracked { dir: Utf8PathBuf },
}

/// Finds the hooks directories git uses for this repository (`core.hooksPath`
/// respected, a relative one resolved in each worktree, as git resolves it).
pub fn locate(repo: &Repo) -> Result<HooksLocation> {
    let Some(setting) = hooks_path_setting(repo)? else {
        return Ok(HooksLocation {
            dirs: vec![repo.common_dir.join("hooks")],
            owner: Owner::Repository,
        });
    };
    let configured = Utf8PathBuf::from(expand_home(&setting.value));
    let dirs = if configured.is_absolute() {
        vec![configured]
    } else if repo.workdir.is_none() {
        vec![repo.git_dir.join(&configured)]
    } else {
        worktree_roots(repo)?
            .into_iter()
            .map(|root| root.join(&configured))
            .collect()
    };
    let owner = if matches!(setting.scope.as_str(), "global" | "system") {
        Owner::Shared {
            scope: setting.scope,
            origin: setting.origin,
        }
    } else if let Some(dir) = dirs.iter().find(|d| holds_tracked_files(repo, d)) {
        Owner::Tracked { dir: dir.clone() }
    } else {
        Owner::Repository
    };
    Ok(HooksLocation { dirs, owner })
}

struct Setting {
    value: String,
    scope: String,
    origin: String,
}

/// `core.hooksPath` with where it is set, if it is.
fn hooks_path_setting(repo: &Repo) -> Result<Option<Setting>> {
    let out = repo
        .git_query()
        .args([
            "config",
            "--show-scope",
            "--show-origin",
            "--get",
            "core.hooksPath",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::environment(format!("cannot run git: {e}"))
                .with_source(e)
                .hint("put git on PATH")
        })?;
    // `git config --get` exits 1 exactly when the key is not set.
    if out.status.code() == Some(1) {
        return Ok(None);
    }
    if !out.status.success() {
        return Err(Error::environment(format!(
            "cannot read core.hooksPath: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint("check it: git config --show-origin --get core.hooksPath"));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let mut fields = line.trim_end_matches('\n').splitn(3, '\t');
    let mut next = || fields.next().unwrap_or_default().to_string();
    let (scope, origin, value) = (next(), next(), next());
    Ok(Some(Setting {
        value,
        scope,
        origin,
    }))
}

fn expand_home(value: &str) -> String {
    match (value.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => value.to_string(),
    }
}

/// The root of every worktree of the repository: the main one and each linked one.
pub fn worktree_roots(repo: &Repo) -> Result<Vec<Utf8PathBuf>> {
    let out = repo.run_git(&["worktree", "list", "--porcelain"])?;
    let mut roots = Vec::new();
    let mut current: Option<Utf8PathBuf> = None;
    for line in out.lines().chain(std::iter::once("")) {
        if let Some(path) = line.strip_prefix("worktree ") {
            current = Some(Utf8PathBuf::from(path));
        } else if line == "bare" {
            current = None;
        } else if line.is_empty() {
            roots.extend(current.take());
        }
    }
    Ok(roots)
}

/// Whether `dir` lies in this worktree and holds files the repository tracks.
fn holds_tracked_files(repo: &Repo, dir: &Utf8Path) -> bool {
    let Some(root) = &repo.workdir else {
        return false;
    };
    let Ok(rel) = dir.strip_prefix(root) else {
        return false;
    };
    let rel = if rel.as_str().is_empty() {
        "."
    } else {
        rel.as_str()
    };
    repo.run_git(&["ls-files", "--", rel])
        .is_ok_and(|out| !out.is_empty())
}

/// Whether the file at `path` is one of our shims.
pub fn is_ours(path: &Utf8Path) -> bool {
    fs_err::read_to_string(path).is_ok_and(|s| s.lines().nth(1) == Some(MARKER))
}

/// The hooks this installation wires.
pub fn wanted_hooks(server: bool) -> Vec<&'static str> {
    if server {
        SERVER_HOOKS.to_vec()
    } else {
        CLIENT_HOOKS.to_vec()
    }
}

/// Steps that remove our shims for `hooks` (putting chained hooks back), in every
/// directory: a server that once had the client's hooks converges to its own.
pub fn plan_removal(dirs: &[Utf8PathBuf], hooks: &[&str]) -> Vec<Step> {
    let mut steps = Vec::new();
    for dir in dirs {
        for hook in hooks {
            let path = dir.join(hook);
            if !is_ours(&path) {
                continue;
            }
            steps.push(Step::RemoveShim(path.clone()));
            let chained = dir.join(format!("{hook}{CHAINED_SUFFIX}"));
            if chained.symlink_metadata().is_ok() {
                steps.push(Step::Chain {
                    from: chained,
                    to: path,
                });
            }
        }
    }
    steps
}

/// Works out the install steps for every directory without changing anything.
pub fn plan_install(dirs: &[Utf8PathBuf], hooks: &[&str]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for dir in dirs {
        plan_install_in(dir, hooks, &mut steps)?;
    }
    Ok(steps)
}

fn plan_install_in(dir: &Utf8Path, hooks: &[&str], steps: &mut Vec<Step>) -> Result<()> {
    if !dir.is_dir() {
        if dir.exists() {
            return Err(
                Error::usage(format!("hooks path {dir} exists but is not a directory"))
                    .hint("point core.hooksPath elsewhere: git config --unset core.hooksPath"),
            );
        }
        steps.push(Step::CreateDir(dir.to_path_buf()));
    }
    for hook in hooks {
        let path = dir.join(hook);
        let chained = dir.join(format!("{hook}{CHAINED_SUFFIX}"));
        let exists = path.symlink_metadata().is_ok();
        // pre-commit and prek, installed after git-seal, keep our shim as
        // `<hook>.legacy` and run it: chaining theirs would run git-seal twice.
        if exists && !is_ours(&path) && is_ours(&dir.join(format!("{hook}.legacy"))) {
            continue;
        }
        // husky's generated `_/<hook>` runs the project's `.husky/<hook>` script by
        // its own file name: chained under another name it would run nothing, and
        // husky rewrites it anyway. git-seal goes into that script instead (status).
        if exists && crate::hook_managers::is_husky_stub(&path) {
            continue;
        }
        if exists && !is_ours(&path) {
            if chained.symlink_metadata().is_ok() {
                // A tool rewrote the hook over our shim (husky, pre-commit, lefthook
                // re-run): the chained one is stale. The same bytes again need no
                // keeping; different ones replace it, and the stale one is kept.
                if same_file(&path, &chained) {
                    steps.push(Step::RemoveShim(path.clone()));
                    steps.push(Step::WriteShim(path));
                    continue;
                }
                let stale = dir.join(format!("{hook}{CHAINED_SUFFIX}.stale"));
                if stale.symlink_metadata().is_ok() {
                    return Err(Error::usage(format!(
                        "cannot chain {path}: {chained} and {stale} already exist"
                    ))
                    .hint(format!(
                        "remove the oldest, then install again: rm {} && {}",
                        crate::quote::shell(stale.as_str()),
                        crate::quote::git_seal("install")
                    )));
                }
                steps.push(Step::Chain {
                    from: chained.clone(),
                    to: stale,
                });
            }
            steps.push(Step::Chain {
                from: path.clone(),
                to: chained,
            });
        }
        // lefthook renames a hook it replaces to `<hook>.old` and never runs it; a
        // shim of ours left there blocks its next install ("file already exists").
        let old = dir.join(format!("{hook}.old"));
        if is_ours(&old) {
            steps.push(Step::RemoveShim(old));
        }
        steps.push(Step::WriteShim(path));
    }
    Ok(())
}

/// Whether two hook files hold the same bytes.
fn same_file(a: &Utf8Path, b: &Utf8Path) -> bool {
    matches!((fs_err::read(a), fs_err::read(b)), (Ok(x), Ok(y)) if x == y)
}

/// Fills the shim template for one hook.
pub fn shim(hook: &str, binary: &Utf8Path) -> String {
    // Single-quoted in sh: only a single quote needs escaping.
    let quoted = binary.as_str().replace('\'', r"'\''");
    SHIM_TEMPLATE
        .replacen("#!/bin/sh\n", &format!("#!/bin/sh\n{MARKER}\n"), 1)
        .replace("@HOOK@", hook)
        .replace("@BIN@", &quoted)
}

/// Carries out install steps and records them.
pub fn install(repo: &Repo, steps: &[Step], binary: &Utf8Path) -> Result<()> {
    let mut record = read_record(repo).unwrap_or_default();
    record.binary = binary.to_path_buf();
    for step in steps {
        match step {
            Step::CreateDir(d) => {
                fs_err::create_dir_all(d).context("cannot create the hooks directory")?;
                record.dir_mut(d).created_dir = true;
            }
            Step::Chain { from, to } => {
                fs_err::rename(from, to).context("cannot keep the existing hook")?;
            }
            Step::WriteShim(path) => {
                let hook = path.file_name().unwrap_or_default();
                write_atomic(path, shim(hook, binary).as_bytes())
                    .context(format!("cannot write {path}"))?;
                fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
                if let Some(dir) = path.parent() {
                    record.dir_mut(dir);
                }
            }
            Step::RemoveShim(p) => fs_err::remove_file(p)?,
            Step::RemoveDir(_) => {}
        }
    }
    let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    write_atomic(&repo.seal_dir().join(RECORD), &json).context("cannot record the install")?;
    Ok(())
}

pub fn read_record(repo: &Repo) -> Option<InstallRecord> {
    let bytes = fs_err::read(repo.seal_dir().join(RECORD)).ok()?;
    serde_json::from_slice::<InstallRecord>(&bytes)
        .ok()
        .map(InstallRecord::upgrade)
}

/// Works out the uninstall steps: in every directory install wrote into (and the
/// ones git uses now), remove every shim of ours, put chained hooks back, and remove
/// a directory install created once nothing else is left in it.
pub fn plan_uninstall(repo: &Repo) -> Result<Vec<Step>> {
    let mut dirs = read_record(repo).unwrap_or_default().dirs;
    for dir in locate(repo)?.dirs {
        if !dirs.iter().any(|d| d.path == dir) {
            dirs.push(DirRecord {
                path: dir,
                created_dir: false,
            });
        }
    }
    let mut steps = Vec::new();
    for dir in &dirs {
        plan_uninstall_in(dir, &mut steps);
    }
    Ok(steps)
}

fn plan_uninstall_in(dir: &DirRecord, steps: &mut Vec<Step>) {
    let Ok(entries) = fs_err::read_dir(&dir.path) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut left = names.len();
    for name in &names {
        let path = dir.path.join(name);
        if name.ends_with(CHAINED_SUFFIX) || !is_ours(&path) {
            continue;
        }
        steps.push(Step::RemoveShim(path.clone()));
        left -= 1;
        let chained = dir.path.join(format!("{name}{CHAINED_SUFFIX}"));
        if chained.symlink_metadata().is_ok() {
            steps.push(Step::Chain {
                from: chained,
                to: path,
            });
        }
    }
    if dir.created_dir && left == 0 {
        steps.push(Step::RemoveDir(dir.path.clone()));
    }
}

/// Carries out uninstall steps and forgets the install.
pub fn uninstall(repo: &Repo, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            Step::RemoveShim(p) => fs_err::remove_file(p)?,
            Step::Chain { from, to } => fs_err::rename(from, to)?,
            Step::RemoveDir(d) => fs_err::remove_dir(d)?,
            Step::CreateDir(_) | Step::WriteShim(_) => {}
        }
    }
    match fs_err::remove_file(repo.seal_dir().join(RECORD)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Per hook: whether our shim is in place in every directory git runs hooks from.
pub fn installed(repo: &Repo, server: bool) -> Result<Vec<(&'static str, bool)>> {
    let dirs = locate(repo)?.dirs;
    Ok(wanted_hooks(server)
        .into_iter()
        .map(|h| (h, dirs.iter().all(|d| is_ours(&d.join(h)))))
        .collect())
}
