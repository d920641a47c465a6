//! Submodules as git-seal meets them: finding the repository that holds a gitlink's
//! commit, and the command that fetches it when no repository here does.
//!
//! A commit seal never needs a submodule's objects (its manifest records the gitlink
//! id); only the evtag checksum of a tag seal reads them. A plain `git clone` has
//! none of them, and a submodule may have lived at another path in an older commit,
//! so a gitlink is looked up by the commit id the tree records, never by today's
//! `.gitmodules`: in the superproject's own object store (and its alternates), in the
//! submodule checked out at that path today, in every repository under
//! `<common dir>/modules/` (nested ones included, and those of linked worktrees), and
//! in `<common dir>/seal/submodules/`, where the fallback fetch command puts a bare
//! clone.
//!
//! Invariants: looking up reads only. Every hint is a command that works when pasted
//! into a POSIX shell: each path and URL from a repository is quoted by
//! [`crate::quote::shell`], so none can run anything, and URLs follow `--`.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use crate::git::Repo;

/// Where a gitlink's commit was found.
pub enum Found {
    /// In the repository that holds the gitlink (its own objects or alternates).
    Here,
    /// In another repository, opened.
    Other(Repository),
}

/// Looks gitlink commits up among the repositories of one superproject.
pub struct Finder {
    common_dir: PathBuf,
    /// Repositories under `modules/` and `seal/submodules/`, opened once, in a fixed
    /// order (sorted paths), on first need.
    scanned: Option<Vec<PathBuf>>,
}

impl Finder {
    pub fn new(common_dir: &Path) -> Finder {
        Finder {
            common_dir: common_dir.to_path_buf(),
            scanned: None,
        }
    }

    /// The repository holding `commit`, the gitlink at `rel` (relative to `holder`,
    /// the repository whose tree has it), or None when no repository here has it.
    pub fn find(&mut self, holder: &Repository, rel: &str, commit: Oid) -> Option<Found> {
        if has(holder, commit) {
            return Some(Found::Here);
        }
        if let Some(sub) = holder
            .find_submodule(rel)
            .ok()
            .and_then(|s| s.open().ok())
            .filter(|r| has(r, commit))
        {
            return Some(Found::Other(sub));
        }
        let common = self.common_dir.clone();
        let dirs = self.scanned.get_or_insert_with(|| scan(&common));
        dirs.iter()
            .filter_map(|d| Repository::open_bare(d).ok())
            .find(|r| has(r, commit))
            .map(Found::Other)
    }
}

fn has(repo: &Repository, commit: Oid) -> bool {
    repo.odb().map(|o| o.exists(commit)).unwrap_or(false)
}

/// Every git directory under `modules/` (recursively: names may hold slashes, and a
/// submodule's own submodules live in its `modules/`), under each linked worktree's
/// `modules/`, and under `seal/submodules/`.
fn scan(common: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(&common.join("modules"), &mut out, 0);
    collect(&common.join("seal").join("submodules"), &mut out, 0);
    if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
        for e in entries.flatten() {
            collect(&e.path().join("modules"), &mut out, 0);
        }
    }
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    // Deep enough for any real layout; a bound so a symlink loop cannot spin.
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if !path.is_dir() {
            continue;
        }
        if path.join("HEAD").is_file() && path.join("objects").is_dir() {
            collect(&path.join("modules"), out, depth + 1);
            out.push(path);
        } else {
            collect(&path, out, depth + 1);
        }
    }
}

/// The command that brings the objects of submodule commit `commit`, at `path` in
/// `target`'s tree, into a repository where [`Finder`] looks. Run from the
/// superproject's working tree.
///
/// The submodule is named by `target`'s own `.gitmodules` (the one that put it at
/// `path`); if that name is a submodule today, at whatever path, git's own
/// `git submodule update --init` fetches it (or a fetch in it, when it is there but
/// lacks the commit, or a diff that makes git fetch the blobs a partial clone of it
/// lacks). Otherwise (removed or renamed since) its URL is cloned bare
/// into `seal/submodules/<commit>`, git-seal's own directory, which no git command
/// mistakes for a submodule.
pub fn fetch_command(repo: &Repo, target: Oid, path: &str, commit: Oid) -> String {
    let top = path.split('/').next().unwrap_or(path);
    let at_target = gitmodules_at(repo, target);
    let Some(entry) = at_target.iter().find(|m| m.path == path) else {
        // Nested in a submodule (its .gitmodules is in its own repository), or
        // named by no .gitmodules: git's recursive update is the way in.
        if let Some(now) = current_path_of_path(repo, top) {
            return format!(
                "git submodule update --init --recursive -- {}",
                crate::quote::shell(&now)
            );
        }
        return "git submodule update --init --recursive".into();
    };
    let today = repo
        .git
        .find_submodule(&entry.name)
        .ok()
        .or_else(|| {
            repo.git
                .submodules()
                .ok()?
                .into_iter()
                .find(|s| s.name().ok() == Some(entry.name.as_str()))
        })
        .filter(|s| s.index_id().is_some() || s.head_id().is_some());
    if let Some(sub) = today {
        let now = sub.path().to_string_lossy().into_owned();
        let at = crate::quote::shell(&now);
        return match sub.open().ok() {
            // A partial clone with the commit but not all its blobs: a diff from the
            // empty tree makes git fetch them, in one batch.
            Some(r) if has(&r, commit) => format!(
                "git -C {at} diff --stat \"$(git -C {at} hash-object -t tree /dev/null)\" {commit} >/dev/null"
            ),
            Some(_) => format!("git -C {at} fetch --quiet origin"),
            None => format!("git submodule update --init -- {at}"),
        };
    }
    let url = resolve_url(repo, &entry.url);
    let dest = repo
        .common_dir
        .join("seal")
        .join("submodules")
        .join(commit.to_string());
    format!(
        "git clone --bare --quiet -- {} {}",
        crate::quote::shell(&url),
        crate::quote::shell(dest.as_str())
    )
}

fn current_path_of_path(repo: &Repo, top: &str) -> Option<String> {
    repo.git
        .find_submodule(top)
        .ok()
        .map(|s| s.path().to_string_lossy().into_owned())
}

struct Module {
    name: String,
    path: String,
    url: String,
}

/// The submodules `commit`'s `.gitmodules` declares, read by git's own parser.
fn gitmodules_at(repo: &Repo, commit: Oid) -> Vec<Module> {
    let blob = repo
        .git
        .find_commit(commit)
        .and_then(|c| c.tree())
        .and_then(|t| t.get_path(Path::new(".gitmodules")))
        .map(|e| e.id());
    let Ok(blob) = blob else {
        return Vec::new();
    };
    let Ok(listing) = repo.run_git(&[
        "config",
        "--null",
        "--blob",
        &blob.to_string(),
        "--get-regexp",
        r"^submodule\..*\.(path|url)$",
    ]) else {
        return Vec::new();
    };
    let mut modules: Vec<Module> = Vec::new();
    for item in listing.split('\0') {
        let Some((key, value)) = item.split_once('\n') else {
            continue;
        };
        let Some(rest) = key.strip_prefix("submodule.") else {
            continue;
        };
        let (name, field) = match (rest.strip_suffix(".path"), rest.strip_suffix(".url")) {
            (Some(n), _) => (n, "path"),
            (_, Some(n)) => (n, "url"),
            _ => continue,
        };
        let i = match modules.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                modules.push(Module {
                    name: name.to_string(),
                    path: String::new(),
                    url: String::new(),
                });
                modules.len() - 1
            }
        };
        match field {
            "path" => modules[i].path = value.to_string(),
            _ => modules[i].url = value.to_string(),
        }
    }
    modules
}

/// A `.gitmodules` URL as `git submodule` resolves it: `./` and `../` are relative
/// to the superproject's `origin` (or, without one, to the superproject itself).
fn resolve_url(repo: &Repo, url: &str) -> String {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return url.to_string();
    }
    let mut base = repo
        .git
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(str::to_string))
        .unwrap_or_else(|| {
            repo.workdir
                .as_ref()
                .map(|w| w.to_string())
                .unwrap_or_else(|| repo.common_dir.to_string())
        });
    while base.ends_with('/') {
        base.pop();
    }
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
            match base.rfind(['/', ':']) {
                Some(i) => base.truncate(i),
                None => base.clear(),
            }
        } else {
            break;
        }
    }
    if base.is_empty() {
        rest.to_string()
    } else {
        format!("{base}/{rest}")
    }
}
