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
//! - What install did is recorded in `<common dir>/seal/install.json`; uninstall
//!   undoes exactly that, removing the hooks directory only if install created it.

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
/// Hooks `install --server` adds.
pub const SERVER_HOOKS: &[&str] = &["pre-receive"];

const RECORD: &str = "install.json";

/// What install did, so that uninstall can undo exactly that.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InstallRecord {
    pub hooks_dir: Utf8PathBuf,
    pub created_dir: bool,
    pub hooks: Vec<String>,
    pub chained: Vec<String>,
    pub binary: Utf8PathBuf,
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

/// The hooks directory git uses for this repository (`core.hooksPath` respected).
pub fn hooks_dir(repo: &Repo) -> Result<Utf8PathBuf> {
    let out = repo.run_git(&["rev-parse", "--git-path", "hooks"])?;
    let path = Utf8PathBuf::from(out);
    if path.is_absolute() {
        return Ok(path);
    }
    let base = repo.workdir.as_ref().unwrap_or(&repo.git_dir);
    Ok(base.join(path))
}

/// Whether the file at `path` is one of our shims.
pub fn is_ours(path: &Utf8Path) -> bool {
    fs_err::read_to_string(path).is_ok_and(|s| s.lines().nth(1) == Some(MARKER))
}

/// The hooks this installation wires.
pub fn wanted_hooks(server: bool) -> Vec<&'static str> {
    let mut hooks = CLIENT_HOOKS.to_vec();
    if server {
        hooks.extend_from_slice(SERVER_HOOKS);
    }
    hooks
}

/// Works out the install steps without changing anything.
pub fn plan_install(dir: &Utf8Path, hooks: &[&str]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    if !dir.is_dir() {
        if dir.exists() {
            return Err(
                Error::usage(format!("hooks path {dir} exists but is not a directory")).hint(
                    "point core.hooksPath at a directory: git config core.hooksPath .git/hooks",
                ),
            );
        }
        steps.push(Step::CreateDir(dir.to_path_buf()));
    }
    for hook in hooks {
        let path = dir.join(hook);
        let chained = dir.join(format!("{hook}{CHAINED_SUFFIX}"));
        let exists = path.symlink_metadata().is_ok();
        if exists && !is_ours(&path) {
            if chained.symlink_metadata().is_ok() {
                return Err(
                    Error::usage(format!("cannot chain {path}: {chained} already exists"))
                        .hint("move one of them away, then run git seal install again"),
                );
            }
            steps.push(Step::Chain {
                from: path.clone(),
                to: chained,
            });
        }
        steps.push(Step::WriteShim(path));
    }
    Ok(steps)
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
pub fn install(repo: &Repo, dir: &Utf8Path, steps: &[Step], binary: &Utf8Path) -> Result<()> {
    let mut record = read_record(repo).unwrap_or_default();
    if record.hooks_dir != dir {
        record = InstallRecord::default();
    }
    record.hooks_dir = dir.to_path_buf();
    record.binary = binary.to_path_buf();
    for step in steps {
        match step {
            Step::CreateDir(d) => {
                fs_err::create_dir_all(d).context("cannot create the hooks directory")?;
                record.created_dir = true;
            }
            Step::Chain { from, to } => {
                fs_err::rename(from, to).context("cannot keep the existing hook")?;
                let name = from.file_name().unwrap_or_default().to_string();
                if !record.chained.contains(&name) {
                    record.chained.push(name);
                }
            }
            Step::WriteShim(path) => {
                let hook = path.file_name().unwrap_or_default();
                write_atomic(path, shim(hook, binary).as_bytes())
                    .context(format!("cannot write {path}"))?;
                fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
                if !record.hooks.iter().any(|h| h == hook) {
                    record.hooks.push(hook.to_string());
                }
            }
            Step::RemoveShim(_) | Step::RemoveDir(_) => {}
        }
    }
    let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    write_atomic(&repo.seal_dir().join(RECORD), &json).context("cannot record the install")?;
    Ok(())
}

pub fn read_record(repo: &Repo) -> Option<InstallRecord> {
    let bytes = fs_err::read(repo.seal_dir().join(RECORD)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Works out the uninstall steps: remove every shim of ours, put chained hooks back,
/// remove the directory if install created it and nothing else is left in it.
pub fn plan_uninstall(repo: &Repo) -> Result<Vec<Step>> {
    let record = read_record(repo);
    let dir = match &record {
        Some(r) => r.hooks_dir.clone(),
        None => hooks_dir(repo)?,
    };
    let mut steps = Vec::new();
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Ok(steps);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut left = names.len();
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(CHAINED_SUFFIX) || !is_ours(&path) {
            continue;
        }
        steps.push(Step::RemoveShim(path.clone()));
        left -= 1;
        let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
        if chained.symlink_metadata().is_ok() {
            steps.push(Step::Chain {
                from: chained,
                to: path,
            });
        }
    }
    if record.is_some_and(|r| r.created_dir) && left == 0 {
        steps.push(Step::RemoveDir(dir));
    }
    Ok(steps)
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

/// Per hook: whether our shim is in place.
pub fn installed(repo: &Repo, server: bool) -> Result<Vec<(&'static str, bool)>> {
    let dir = hooks_dir(repo)?;
    Ok(wanted_hooks(server)
        .into_iter()
        .map(|h| (h, is_ours(&dir.join(h))))
        .collect())
}
