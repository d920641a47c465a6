//! Access to the repository: opening it the way git's own hooks see it, resolving
//! revisions, reading identity and parents, and the few things only the `git`
//! binary does well (push, fetch, `rev-parse --git-path`, reset and stash).
//!
//! Invariant: nothing here decides to write to the repository. Writers live in
//! `ledger`, `hooks` and `cache`, each owning its own files or ref; the git commands
//! `run_git` runs (rollback's reset and stash) are chosen by the command that asks.

use std::process::{Command, Stdio};

use camino::{Utf8Path, Utf8PathBuf};
use git2::{Commit, Oid, Repository};

use crate::error::{Error, Result};

/// An opened repository and the directories git-seal uses in it.
pub struct Repo {
    pub git: Repository,
    /// This worktree's git dir (`.git`, or `.git/worktrees/<name>` in a linked worktree).
    pub git_dir: Utf8PathBuf,
    /// The directory shared by every worktree; git-seal's own state lives under it.
    pub common_dir: Utf8PathBuf,
    /// The worktree root, absent in a bare repository.
    pub workdir: Option<Utf8PathBuf>,
    /// Opened from git's environment (a hook) rather than a path: worker threads must
    /// reopen it the same way to see quarantined objects during `pre-receive`.
    from_env: bool,
    /// Settings given on git's command line (`git -c seal.push=off push`): git hands
    /// them to hooks in its environment, where libgit2 does not look.
    command_config: Vec<(String, String)>,
}

/// Whether every object libgit2 reads is hashed again with SHA-1 and compared with its
/// id. git itself does not (`cat-file`, checkout and diff trust the object store, and
/// `git fsck` checks it), with collision detection it was a third of a full seal's
/// time, and the manifest's SHA-256 is the content check that matters here: a blob
/// rewritten under its old id is a manifest mismatch. Process-wide; commands turn it
/// off.
pub fn rehash_objects_on_read(on: bool) {
    git2::opts::strict_hash_verification(on);
}

fn utf8(path: &std::path::Path) -> Result<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(path.to_path_buf()).map_err(|p| {
        Error::usage(format!(
            "repository path {} is not valid UTF-8, which git-seal does not support",
            p.display()
        ))
        .hint("move the repository to a path that is valid UTF-8")
    })
}

fn open_error(e: git2::Error, at: &str) -> Error {
    let msg = e.message().to_ascii_lowercase();
    if msg.contains("objectformat") || msg.contains("sha256") {
        return Error::usage(format!(
            "{at} is a SHA-256 repository, which git-seal does not support yet"
        ))
        .hint("use git-seal on a SHA-1 repository (git init --object-format=sha1)");
    }
    if e.code() == git2::ErrorCode::NotFound {
        return Error::environment(format!(
            "{at} is not a git repository (or any parent up to /)"
        ))
        .hint("run git-seal inside a repository, or pass --repo PATH");
    }
    Error::environment(format!(
        "cannot open the repository at {at}: {}",
        e.message()
    ))
    .with_source(e)
}

impl Repo {
    /// Opens the repository at `path`, or the one git's environment and the current
    /// directory name (as `git` itself would find it, `GIT_DIR` and worktrees included).
    pub fn open(path: Option<&Utf8Path>) -> Result<Repo> {
        let git = match path {
            Some(p) => {
                if !p.exists() {
                    return Err(Error::usage(format!("{p}: no such directory"))
                        .hint("pass --repo PATH naming an existing repository"));
                }
                Repository::discover(p).map_err(|e| open_error(e, p.as_str()))?
            }
            None => Repository::open_from_env().map_err(|e| {
                let here = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| ".".into());
                open_error(e, &here)
            })?,
        };
        Repo::from_git(git, path.is_none())
    }

    fn from_git(git: Repository, from_env: bool) -> Result<Repo> {
        let git_dir = utf8(git.path())?;
        let common_dir = utf8(git.commondir())?;
        let workdir = git.workdir().map(utf8).transpose()?;
        let mut repo = Repo {
            git,
            git_dir: trim_slash(git_dir),
            common_dir: trim_slash(common_dir),
            workdir: workdir.map(trim_slash),
            from_env,
            command_config: Vec::new(),
        };
        repo.command_config = repo.read_command_config();
        repo.refuse_sha256()?;
        Ok(repo)
    }

    fn refuse_sha256(&self) -> Result<()> {
        let format = self
            .git
            .config()
            .and_then(|c| c.get_string("extensions.objectformat"));
        match format {
            Ok(f) if !f.eq_ignore_ascii_case("sha1") => Err(open_error(
                git2::Error::from_str("objectformat"),
                self.common_dir.as_str(),
            )),
            _ => Ok(()),
        }
    }

    /// The `git -c` settings of the git that runs us, read by git itself (its own
    /// quoting rules), and only when git's environment says there are some.
    fn read_command_config(&self) -> Vec<(String, String)> {
        let given = ["GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"]
            .iter()
            .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        if !given {
            return Vec::new();
        }
        let Ok(out) = self
            .git_command()
            .args(["config", "-z", "--list", "--show-scope"])
            .stdin(Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        let mut fields = out.stdout.split(|b| *b == 0);
        let mut found = Vec::new();
        while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
            if scope != b"command" {
                continue;
            }
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('\n').unwrap_or((&entry, "true"));
            found.push((key.to_ascii_lowercase(), value.to_string()));
        }
        found
    }

    /// A config value as git would see it: `git -c` first, then the config files.
    pub fn config_string(&self, key: &str) -> Option<String> {
        let wanted = key.to_ascii_lowercase();
        if let Some((_, v)) = self.command_config.iter().rev().find(|(k, _)| *k == wanted) {
            return Some(v.clone());
        }
        self.git.config().ok()?.get_string(key).ok()
    }

    /// A boolean config value, read as git reads booleans.
    pub fn config_bool(&self, key: &str) -> Result<Option<bool>> {
        let Some(v) = self.config_string(key) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err(
                Error::usage(format!("{key} is '{v}', which is not a boolean"))
                    .hint(format!("git config {key} true")),
            ),
        }
    }

    /// A second handle on this repository, opened the way this one was (quarantined
    /// objects of a `pre-receive` included), with the same `git -c` settings.
    pub fn reopen(&self) -> Result<Repo> {
        let git = self
            .locator()
            .open()
            .map_err(|e| open_error(e, self.git_dir.as_str()))?;
        Ok(Repo {
            git,
            git_dir: self.git_dir.clone(),
            common_dir: self.common_dir.clone(),
            workdir: self.workdir.clone(),
            from_env: self.from_env,
            command_config: self.command_config.clone(),
        })
    }

    /// How to reach this repository again from another thread or process.
    pub fn locator(&self) -> Locator {
        Locator {
            git_dir: self.git_dir.clone(),
            common_dir: self.common_dir.clone(),
            from_env: self.from_env,
        }
    }

    /// The directory that holds git-seal's local state (cache, run log, install record).
    pub fn seal_dir(&self) -> Utf8PathBuf {
        self.common_dir.join("seal")
    }

    /// The refs a short name can mean, in git's order (`git help revisions`):
    /// `$GIT_DIR/<name>` (HEAD first of all), `refs/<name>`, `refs/tags/<name>`,
    /// `refs/heads/<name>`, `refs/remotes/<name>`, `refs/remotes/<name>/HEAD`. The
    /// first is what git resolves the name to; more than one is git's "refname is
    /// ambiguous". libgit2's revparse follows the same order, so a commit found by
    /// `commit` is the first of these.
    pub fn dwim_refs(&self, name: &str) -> Vec<String> {
        if name.is_empty() || name.starts_with('-') {
            return Vec::new();
        }
        [
            name.to_string(),
            format!("refs/{name}"),
            format!("refs/tags/{name}"),
            format!("refs/heads/{name}"),
            format!("refs/remotes/{name}"),
            format!("refs/remotes/{name}/HEAD"),
        ]
        .into_iter()
        .filter(|r| {
            // The first rule is for refs directly in the git dir (HEAD, FETCH_HEAD)
            // or full names: git takes no other name there.
            (r != name
                || r == "HEAD"
                || r.starts_with("refs/")
                || r.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
                && self.git.find_reference(r).is_ok()
        })
        .collect()
    }

    /// Resolves `rev` to a commit, peeling tags.
    pub fn commit(&self, rev: &str) -> Result<Commit<'_>> {
        let obj = self.git.revparse_single(rev).map_err(|_| {
            Error::usage(format!("unknown revision '{rev}'"))
                .hint("name a commit, branch or tag that exists: git log --oneline")
        })?;
        obj.peel_to_commit().map_err(|_| {
            Error::usage(format!("'{rev}' does not name a commit"))
                .hint("name a commit, branch or tag: git log --oneline")
        })
    }

    /// HEAD's commit, or a clear error on an unborn branch.
    pub fn head_commit(&self) -> Result<Commit<'_>> {
        match self.git.head() {
            Ok(head) => Ok(head.peel_to_commit()?),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Err(Error::usage(
                "nothing to seal: the current branch has no commits yet",
            )
            .hint("make a first commit: git commit")),
            Err(e) => Err(e.into()),
        }
    }

    /// Expands revision arguments (`REV`, `A..B`, `^A B`) into commits, oldest first
    /// (parents before children), each once.
    pub fn expand_revs(&self, args: &[String]) -> Result<Vec<Oid>> {
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        let mut singles = Vec::new();
        let mut ranged = false;
        for arg in args {
            if arg.contains("..") {
                walk.push_range(arg).map_err(|_| {
                    Error::usage(format!("unknown revision range '{arg}'"))
                        .hint("name a range of existing commits, e.g. main..HEAD")
                })?;
                ranged = true;
            } else if let Some(neg) = arg.strip_prefix('^') {
                walk.hide(self.commit(neg)?.id())?;
                ranged = true;
            } else {
                singles.push(self.commit(arg)?.id());
            }
        }
        if !ranged {
            let mut seen = std::collections::HashSet::new();
            return Ok(singles.into_iter().filter(|o| seen.insert(*o)).collect());
        }
        for oid in singles {
            walk.push(oid)?;
        }
        Ok(walk.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Every commit reachable from `tip`, parents before children.
    pub fn history(&self, tip: Oid) -> Result<Vec<Oid>> {
        self.history_of(&[tip])
    }

    /// Every commit reachable from any of `tips`, parents before children, each once.
    pub fn history_of(&self, tips: &[Oid]) -> Result<Vec<Oid>> {
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        for tip in tips {
            walk.push(*tip)?;
        }
        Ok(walk.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// A `git` command run in this repository, with its environment as git gave it.
    pub fn git_command(&self) -> Command {
        let mut cmd = Command::new("git");
        let dir = self.workdir.as_ref().unwrap_or(&self.git_dir);
        cmd.current_dir(dir.as_std_path());
        // As libgit2 reads: the objects themselves, never their `git replace`ments.
        cmd.env("GIT_NO_REPLACE_OBJECTS", "1");
        cmd
    }

    /// Runs `git args…` in the repository and returns its trimmed standard output.
    pub fn run_git(&self, args: &[&str]) -> Result<String> {
        let out = self
            .git_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::environment(format!("cannot run git: {e}"))
                    .with_source(e)
                    .hint("install git and put it on PATH")
            })?;
        if !out.status.success() {
            return Err(Error::environment(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Who seals: the committer identity as `git commit` itself decides it, so
    /// `GIT_COMMITTER_NAME`/`GIT_COMMITTER_EMAIL` (a CI bot's) come before
    /// `user.name`/`user.email` (`git -c` included).
    pub fn identity(&self) -> Result<(String, String)> {
        let missing = || {
            Error::usage("no identity to seal with: user.name and user.email are not set")
                .hint("git config user.name 'Your Name' && git config user.email you@example.com")
        };
        let value = |key: &str, env: &str| {
            std::env::var(env)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| self.config_string(key))
        };
        let name = value("user.name", "GIT_COMMITTER_NAME").ok_or_else(missing)?;
        let email = value("user.email", "GIT_COMMITTER_EMAIL").ok_or_else(missing)?;
        Ok((name, email))
    }
}

/// Where a repository is, in a form that can cross threads (a `Repository` cannot).
#[derive(Debug, Clone)]
pub struct Locator {
    git_dir: Utf8PathBuf,
    common_dir: Utf8PathBuf,
    from_env: bool,
}

impl Locator {
    /// Where `git` is, for a repository opened by path (a submodule's, say).
    pub fn of(git: &Repository) -> Result<Locator> {
        Ok(Locator {
            git_dir: trim_slash(utf8(git.path())?),
            common_dir: trim_slash(utf8(git.commondir())?),
            from_env: false,
        })
    }

    /// A new handle on the repository, opened the way the original was.
    pub fn open(&self) -> std::result::Result<Repository, git2::Error> {
        if self.from_env {
            Repository::open_from_env()
        } else {
            Repository::open(self.git_dir.as_std_path())
        }
    }

    /// The object directories git would search for this repository.
    pub fn object_dirs(&self) -> Vec<std::path::PathBuf> {
        crate::objects::object_dirs(self.common_dir.as_std_path())
    }
}

fn trim_slash(p: Utf8PathBuf) -> Utf8PathBuf {
    let s = p.as_str();
    if s.len() > 1 && s.ends_with('/') {
        Utf8PathBuf::from(&s[..s.len() - 1])
    } else {
        p
    }
}

/// A commit's parents as its object records them. In a shallow clone libgit2 shows
/// the boundary commits as parentless; a seal must name the parents the commit
/// really has, or a full clone would find it wrong.
pub fn recorded_parents(commit: &Commit<'_>) -> Vec<Oid> {
    let header = commit.raw_header_bytes();
    header
        .split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"parent "))
        .filter_map(|hex| std::str::from_utf8(hex).ok())
        .filter_map(|hex| Oid::from_str(hex.trim()).ok())
        .collect()
}

/// The trees of a commit's parents that are present (not cut off by a shallow
/// clone): the bases a manifest is derived from.
pub fn parent_trees<'r>(commit: &Commit<'r>) -> Result<Vec<git2::Tree<'r>>> {
    Ok(commit
        .parents()
        .map(|p| p.tree())
        .collect::<std::result::Result<_, _>>()?)
}

/// Short form of an object id, as git prints it by default.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..7].to_string()
}
