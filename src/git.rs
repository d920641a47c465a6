//! Access to the repository: opening it the way git's own hooks see it, resolving
//! revisions, reading identity and parents, and the few things only the `git`
//! binary does well (push, fetch, `rev-parse --git-path`, reset and stash).
//!
//! Invariant: nothing here decides to write to the repository. Writers live in
//! `ledger`, `hooks` and `cache`, each owning its own files or ref; the git commands
//! `run_git` runs (rollback's reset and stash) are chosen by the command that asks.

use std::process::{Command, Stdio};

use camino::{Utf8Path, Utf8PathBuf};
use git2::{Commit, ObjectFormat, Oid, Repository};

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
    /// Refs are kept in reftable (`extensions.refStorage`), which libgit2 cannot
    /// read or write: every ref then goes through `git` (see `refs`).
    reftable: bool,
    /// reftable only: every ref as one `git for-each-ref` listed it, read at the first
    /// ref asked for and dropped whenever git-seal moves a ref or runs `git` (which
    /// may), so a command pays one process for its refs, not one per ref.
    ref_snapshot: std::cell::RefCell<Option<std::rc::Rc<RefSnapshot>>>,
    /// reftable only: that `for-each-ref`, started when the repository was opened so
    /// that git starts while git-seal reads its config; dropped (killed) with the
    /// snapshot, since what it lists may predate a ref git-seal then moved.
    ref_listing: std::cell::RefCell<Option<Started>>,
}

/// A `git` started ahead of the moment its answer is needed; killed and reaped when
/// dropped unused.
struct Started(Option<std::process::Child>);

impl Started {
    fn output(mut self) -> std::io::Result<std::process::Output> {
        match self.0.take() {
            Some(child) => child.wait_with_output(),
            None => Err(std::io::Error::other("no process")),
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How `Repo::snapshot` has `for-each-ref` list a ref: names hold no spaces (git
/// refuses them in ref names).
const REF_FORMAT: &str = "--format=%(objectname) %(refname) %(symref)";

/// Every ref of a reftable repository at one instant, and `HEAD`.
struct RefSnapshot {
    refs: std::collections::BTreeMap<String, (Oid, bool)>,
    /// Where `HEAD` is: listed with the refs, or asked of git when first wanted (an
    /// unborn branch, an older git).
    head: std::cell::OnceCell<Head>,
    /// Whether git listed root refs (`HEAD` among them) with the refs.
    root_refs: bool,
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
    if msg.contains("objectformat") {
        return Error::usage(format!(
            "{at} uses an object format git-seal does not know: {}",
            e.message()
        ))
        .hint(format!(
            "check the repository's format: {}",
            crate::quote::git("rev-parse --show-object-format")
        ));
    }
    if e.code() == git2::ErrorCode::Owner {
        // As git says "dubious ownership": the fix is the same one git gives.
        let dir = owner_dir(&e, at);
        return Error::usage(format!(
            "{dir} is owned by another user, and git refuses repositories it does not trust"
        ))
        .hint(format!(
            "if you trust it: git config --global --add safe.directory {}",
            crate::quote::shell(&dir)
        ));
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

/// How much raw object data libgit2's object cache holds (its default is 256 MiB).
const OBJECT_CACHE_BYTES: isize = 8 << 20;
/// The size of one mapped window of a pack, and the most mapped at once (libgit2
/// unmaps the least recently used windows past it).
const PACK_WINDOW_BYTES: usize = 16 << 20;
const PACK_MAPPED_BYTES: usize = 64 << 20;

/// libgit2's global options, set once per process, before the first repository is
/// opened. Lets libgit2 open repositories whose refs are in reftable (git 2.45+):
/// libgit2 refuses any repository extension it does not know, and has no reftable backend.
/// Objects, config and the index are read by libgit2 as in any repository; refs there
/// are read and moved only through `git` (`Repo::ref_target` and the rest), because
/// libgit2's files backend would see none of them (git leaves `HEAD` pointing at
/// `refs/heads/.invalid` for older readers) and would write loose refs git ignores.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: libgit2's global options are not synchronised; this runs once,
        // before the first repository is opened, from the thread that opens it
        // (worker threads open repositories only after `Repo::open` returned).
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_extensions(&["refstorage"]) };
        // Bounded memory over any history (issue 14): libgit2 keeps every object it
        // parses in a cache of up to 256 MiB of raw data, and the parsed trees beside
        // it (a backfill of 20,000 commits peaked at 682 MB, heaptrack: 264 MB of
        // inflated trees, 235 MB of parsed ones). A history walk reuses a tree only
        // from one commit to the next, which a small cache still serves.
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_cache_max_size(OBJECT_CACHE_BYTES) };
        // The same for the packs libgit2 maps: every page of a window it touched
        // counts in the process's memory while the window stays mapped, and by
        // default windows are 1 GiB and stay until 8 GiB are mapped (a full verify of
        // curl held 190 MB of its packs beside a 117 MB heap).
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_mwindow_size(PACK_WINDOW_BYTES) };
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_mwindow_mapped_limit(PACK_MAPPED_BYTES) };
    });
}

/// Pack windows for a run that reads a seal per commit over a whole history with
/// several threads (`verify`'s readers): 4 MiB windows, up to 128 MiB mapped.
const HISTORY_WINDOW_BYTES: usize = 4 << 20;
const HISTORY_MAPPED_BYTES: usize = 128 << 20;

/// Tunes libgit2 for a run that reads each object about once, from several threads:
/// its object cache off, and more, smaller pack windows. Call it where only this
/// thread uses libgit2 (before the readers start): the options are global and not
/// synchronised.
///
/// Why (git/git's warm `verify --all`, 81,966 seals in 20 ledger packs, alternating
/// runs): a seal's blob sits in whichever pack the run that wrote it made, so
/// consecutive reads hop between packs, and four 16 MiB windows were mapped and
/// unmapped about once per seal (82,000 `mmap`s; each `munmap` a TLB shootdown on
/// the other core). And an object cache at its bound evicts from the start of its
/// table on every store, which costs more than the one read it saves (each object
/// here is read once or twice). Alternating runs of two each, from a throwaway script
/// (the committed figure is `bench/scale.py`'s warm verify): 4 MiB windows up to 128
/// MiB took 11.5 s, against 15.7 s with the cache on, 14.6 s with 16 MiB windows and
/// 13.8 s up to 96 MiB. The mapped pages are the packs' clean file pages: 227 MB
/// peak, against 148 MB with 16 MiB windows up to 64 MiB.
pub fn tune_for_history_reads() {
    git2::opts::enable_caching(false);
    // SAFETY: as `configure_libgit2`: global options, set while no other thread uses
    // libgit2 (the caller's contract).
    #[allow(unsafe_code)]
    let _ = unsafe { git2::opts::set_mwindow_size(HISTORY_WINDOW_BYTES) };
    #[allow(unsafe_code)]
    let _ = unsafe { git2::opts::set_mwindow_mapped_limit(HISTORY_MAPPED_BYTES) };
}

/// Threads that read objects in a run over a whole history (the store pass's readers,
/// `verify`'s seal readers): as many as cores, one at least, four at most.
pub fn reader_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Pack windows for a pass that reads every object of the store once, in pack order,
/// on several threads (`history::prehash`): each thread reads forward through its
/// stretch, so a few small windows serve it.
const STORE_PASS_WINDOW_BYTES: usize = 4 << 20;
const STORE_PASS_MAPPED_BYTES: usize = 16 << 20;

/// Runs `pass` with libgit2 tuned for reading the whole store once: the object cache
/// off (each reader's handle would keep objects it never reads again) and small pack
/// windows; after it, the windows are as they were and the cache is on. Windows are
/// shared by every handle and stay mapped up to the limit: with the everyday 64 MiB,
/// git/git's backfill peaked at 211 MB in its pass, and kept 25 MB more to its end.
/// Call it where only this thread uses libgit2 (the pass's own threads end within it).
pub fn tuned_for_store_pass<T>(pass: impl FnOnce() -> T) -> T {
    let set = |caching: bool, window: usize, mapped: usize| {
        git2::opts::enable_caching(caching);
        // SAFETY: as `configure_libgit2`: global options, set while no other thread
        // uses libgit2 (the caller's contract).
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_mwindow_size(window) };
        #[allow(unsafe_code)]
        let _ = unsafe { git2::opts::set_mwindow_mapped_limit(mapped) };
    };
    let before = (
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe { git2::opts::get_mwindow_size() }.unwrap_or(PACK_WINDOW_BYTES),
        #[allow(unsafe_code)]
        unsafe { git2::opts::get_mwindow_mapped_limit() }.unwrap_or(PACK_MAPPED_BYTES),
    );
    set(false, STORE_PASS_WINDOW_BYTES, STORE_PASS_MAPPED_BYTES);
    let out = pass();
    set(true, before.0, before.1);
    release_freed_memory();
    out
}

/// Hands the pages of memory freed so far back to the system. glibc keeps freed
/// memory for reuse: what a thread frees stays in that thread's arena, and once a
/// large block (a store pass's index, tens of MB) was freed, up to twice its size
/// stays at the top of each heap. A long run calls it between stretches of work.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: glibc's `malloc_trim` takes no pointers; it walks every arena under its
    // own locks and only returns pages that hold no allocation.
    #[allow(unsafe_code)]
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() {}

/// The `git` binary run in `dir` for unit tests, hermetically (no system or global
/// config, `HOME` there, a fixed identity); panics unless it succeeds; its output.
#[cfg(test)]
pub fn test_git(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .envs(["AUTHOR", "COMMITTER"].map(|who| (format!("GIT_{who}_NAME"), "t")))
        .envs(["AUTHOR", "COMMITTER"].map(|who| (format!("GIT_{who}_EMAIL"), "t@example.com")))
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The directory libgit2 names in its ownership error ("repository path 'X' is not
/// owned by current user"), which is the one safe.directory must list.
fn owner_dir(e: &git2::Error, at: &str) -> String {
    let m = e.message();
    m.find('\'')
        .and_then(|i| {
            let rest = &m[i + 1..];
            rest.find('\'').map(|j| rest[..j].to_string())
        })
        .map(|d| d.trim_end_matches('/').to_string())
        .unwrap_or_else(|| at.to_string())
}

impl Repo {
    /// Opens the repository at `path`, or the one git's environment and the current
    /// directory name (as `git` itself would find it, `GIT_DIR` and worktrees included).
    pub fn open(path: Option<&Utf8Path>) -> Result<Repo> {
        configure_libgit2();
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
            reftable: false,
            ref_snapshot: std::cell::RefCell::new(None),
            ref_listing: std::cell::RefCell::new(None),
        };
        repo.reftable = repo
            .git
            .config()
            .and_then(|c| c.get_string("extensions.refstorage"))
            .is_ok_and(|f| f.eq_ignore_ascii_case("reftable"));
        repo.command_config = repo.read_command_config();
        if repo.reftable {
            // Every command reads refs; a spawn that fails is retried (and reported)
            // at the first read.
            let mut listing = repo.list_refs();
            listing.stdout(Stdio::piped()).stderr(Stdio::piped());
            repo.ref_listing
                .replace(listing.spawn().ok().map(|c| Started(Some(c))));
        }
        Ok(repo)
    }

    /// The repository's object format (`extensions.objectFormat`), as libgit2
    /// read it at open: every id git-seal parses from text is read in it.
    pub fn object_format(&self) -> ObjectFormat {
        self.git.object_format()
    }

    /// The object directory new objects of this handle go to, as libgit2 chose it
    /// when opening: git's `GIT_OBJECT_DIRECTORY` (a `pre-receive` quarantine) when
    /// opened from git's environment, else `<common dir>/objects`.
    pub fn objects_dir(&self) -> Utf8PathBuf {
        match std::env::var("GIT_OBJECT_DIRECTORY") {
            Ok(dir) if self.from_env && !dir.is_empty() => Utf8PathBuf::from(dir),
            _ => self.common_dir.join("objects"),
        }
    }

    /// `s` as a full object id of this repository's format (see [`parse_id`]).
    pub fn parse_id(&self, s: &str) -> Option<Oid> {
        parse_id(s, self.object_format())
    }

    /// The all-zero id of this repository's format: what git writes for "no object"
    /// on hook stdin and in `update-ref`.
    pub fn zero_id(&self) -> Oid {
        zero_id(self.object_format())
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
                    .hint(crate::quote::git(&format!("config {key} true"))),
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
            reftable: self.reftable,
            ref_snapshot: std::cell::RefCell::new(None),
            ref_listing: std::cell::RefCell::new(None),
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
                && self.ref_exists(r)
        })
        .collect()
    }

    /// Resolves `rev` to a commit, peeling tags.
    pub fn commit(&self, rev: &str) -> Result<Commit<'_>> {
        let unknown = || {
            Error::usage(format!("unknown revision '{rev}'")).hint(format!(
                "name a commit, branch or tag that exists: {}",
                crate::quote::git("log --oneline")
            ))
        };
        let obj = if self.reftable {
            // A full id or a plain ref name is answered from the ref snapshot; the
            // rest of git's revision syntax by `git rev-parse`.
            let known = match self.parse_id(rev) {
                Some(id) => Some(id),
                None => match self.dwim_refs(rev).first() {
                    Some(name) => self.ref_target(name)?,
                    None => None,
                },
            };
            let id = match known {
                Some(id) => id,
                None => self.rev_parse(rev)?.ok_or_else(unknown)?,
            };
            self.git.find_object(id, None).map_err(|_| unknown())?
        } else {
            self.git.revparse_single(rev).map_err(|_| unknown())?
        };
        obj.peel_to_commit().map_err(|_| {
            Error::usage(format!("'{rev}' does not name a commit")).hint(format!(
                "name a commit, branch or tag: {}",
                crate::quote::git("log --oneline")
            ))
        })
    }

    /// HEAD's commit, or a clear error on an unborn branch.
    pub fn head_commit(&self) -> Result<Commit<'_>> {
        if self.reftable {
            return match self.head()?.target {
                Some(id) => Ok(self.git.find_commit(id)?),
                None => Err(
                    Error::usage("nothing to seal: the current branch has no commits yet").hint(
                        format!(
                            "make a first commit: {}",
                            crate::quote::git("commit --allow-empty -m 'first commit'")
                        ),
                    ),
                ),
            };
        }
        match self.git.head() {
            Ok(head) => Ok(head.peel_to_commit()?),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Err(Error::usage(
                "nothing to seal: the current branch has no commits yet",
            )
            .hint(format!(
                "make a first commit: {}",
                crate::quote::git("commit --allow-empty -m 'first commit'")
            ))),
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
                let bad = || {
                    let b = crate::quote::shell(&self.default_branch());
                    let e = Error::usage(format!("unknown revision range '{arg}'"));
                    if self.git.is_shallow() {
                        e.hint(format!(
                            "this is a shallow clone, which lacks older commits: {}",
                            crate::quote::git("fetch --unshallow")
                        ))
                    } else {
                        e.hint(format!(
                            "name a range of existing commits, e.g.: {}",
                            crate::quote::git(&format!("log --oneline {b}~1..{b}"))
                        ))
                    }
                };
                if self.reftable {
                    // libgit2 would resolve both ends through its own refs.
                    let (from, to) = arg.split_once("..").ok_or_else(bad)?;
                    if to.starts_with('.') {
                        return Err(bad());
                    }
                    let end = |r: &str| -> Result<Oid> {
                        let r = if r.is_empty() { "HEAD" } else { r };
                        self.rev_parse(&format!("{r}^{{commit}}"))?.ok_or_else(bad)
                    };
                    walk.hide(end(from)?)?;
                    walk.push(end(to)?)?;
                } else {
                    walk.push_range(arg).map_err(|_| bad())?;
                }
                ranged = true;
            } else if let Some(neg) = arg.strip_prefix('^') {
                walk.hide(self.commit(neg)?.id())?;
                ranged = true;
            } else {
                singles.push(self.commit(arg)?.id());
            }
        }
        if !ranged {
            let mut seen = std::collections::BTreeSet::new();
            return Ok(singles.into_iter().filter(|o| seen.insert(*o)).collect());
        }
        for oid in singles {
            walk.push(oid)?;
        }
        Ok(walk.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// The tips of every local branch (`refs/heads/*`), for `verify --all`.
    pub fn branch_tips(&self) -> Result<Vec<Oid>> {
        let mut tips = Vec::new();
        for r in self.git.references_glob("refs/heads/*")? {
            if let Some(oid) = r?.peel_to_commit().ok().map(|c| c.id()) {
                tips.push(oid);
            }
        }
        Ok(tips)
    }

    /// The branch hints name: the one `origin/HEAD` points at (the remote's default),
    /// else the current branch, else `HEAD`. Never a guess such as `main`.
    pub fn default_branch(&self) -> String {
        let short = |r: git2::Reference<'_>| {
            r.symbolic_target()
                .ok()
                .flatten()
                .and_then(|t| {
                    t.strip_prefix("refs/remotes/origin/")
                        .or_else(|| t.strip_prefix("refs/heads/"))
                })
                .map(str::to_string)
        };
        self.git
            .find_reference("refs/remotes/origin/HEAD")
            .ok()
            .and_then(short)
            .or_else(|| self.git.find_reference("HEAD").ok().and_then(short))
            .unwrap_or_else(|| "HEAD".into())
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
        // It may move refs: what was read of them is read again.
        self.forget_refs();
        self.plain_git_command()
    }

    /// A `git` command that moves no ref (`git config --get`, `git --version`): what
    /// was read of the refs is kept.
    pub fn git_query(&self) -> Command {
        self.plain_git_command()
    }

    fn plain_git_command(&self) -> Command {
        let mut cmd = Command::new("git");
        let dir = self.workdir.as_ref().unwrap_or(&self.git_dir);
        cmd.current_dir(dir.as_std_path());
        // As libgit2 reads: the objects themselves, never their `git replace`ments.
        cmd.env("GIT_NO_REPLACE_OBJECTS", "1");
        cmd
    }

    /// Runs `git args…` in the repository and returns its trimmed standard output.
    pub fn run_git(&self, args: &[&str]) -> Result<String> {
        let out = self.run_git_raw(args)?;
        Ok(String::from_utf8_lossy(&out).trim_end().to_string())
    }

    /// Runs `git args…` in the repository and returns its standard output as bytes
    /// (`-z` output, paths that are not UTF-8).
    pub fn run_git_raw(&self, args: &[&str]) -> Result<Vec<u8>> {
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
        Ok(out.stdout)
    }

    /// Who seals: the committer identity as `git commit` itself decides it, so
    /// `GIT_COMMITTER_NAME`/`GIT_COMMITTER_EMAIL` (a CI bot's) come before
    /// `user.name`/`user.email` (`git -c` included).
    pub fn identity(&self) -> Result<(String, String)> {
        let missing = || {
            Error::usage("no identity to seal with: user.name and user.email are not set").hint(
                format!(
                    "{} && {}",
                    crate::quote::git("config user.name 'Your Name'"),
                    crate::quote::git("config user.email you@example.com")
                ),
            )
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

/// Where `HEAD` is: the branch it names (if any) and the commit it resolves to (none on
/// an unborn branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The full ref name `HEAD` points to (`refs/heads/main`); none when detached.
    pub symref: Option<String>,
    pub target: Option<Oid>,
}

/// A ref as listed: its full name and the object it points to (symbolic refs
/// resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEntry {
    pub name: String,
    pub target: Oid,
    pub symbolic: bool,
}

/// What a ref must hold for an update to go ahead (compare-and-swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The ref must not exist yet.
    Absent,
    /// The ref must point exactly here.
    At(Oid),
    /// Whatever it holds (a tracking ref git-seal keeps for itself).
    Any,
}

/// Every read and move of a ref git-seal makes, in one place: libgit2 for the files
/// backend (no process), `git` itself for reftable, whose `update-ref --stdin`
/// transactions check the old value on every backend. Errors of `update_ref` carry
/// libgit2's codes either way (`Modified`, `Exists`: the ref moved; `Locked`: another
/// writer holds it), so a compare-and-swap loop reads them alike.
impl Repo {
    /// Whether refs live in reftable (and so are read through `git`).
    pub fn uses_reftable(&self) -> bool {
        self.reftable
    }

    /// A `git` for ref plumbing: its messages in English, so failures can be classed.
    fn ref_git(&self) -> Command {
        let mut cmd = self.plain_git_command();
        cmd.env("LC_ALL", "C").stdin(Stdio::null());
        cmd
    }

    fn ref_git_output(&self, args: &[&str]) -> Result<std::process::Output> {
        self.ref_git().args(args).output().map_err(|e| {
            Error::usage(format!("cannot run git: {e}")).hint("install git and put it on PATH")
        })
    }

    /// The refs of a reftable repository, `HEAD` among them: one `for-each-ref
    /// --include-root-refs` (a `symbolic-ref` more on an unborn branch, asked when wanted),
    /// kept until a ref may have moved. An older git lists `refs/` alone, and
    /// `symbolic-ref` (and `rev-parse` when `HEAD` is detached) say where `HEAD` is.
    fn snapshot(&self) -> Result<std::rc::Rc<RefSnapshot>> {
        if let Some(snap) = self.ref_snapshot.borrow().as_ref() {
            return Ok(snap.clone());
        }
        let started = self.ref_listing.take();
        let mut out = match started.map(Started::output) {
            Some(Ok(out)) => out,
            _ => self.list_refs().output().map_err(|e| {
                Error::usage(format!("cannot run git: {e}")).hint("install git and put it on PATH")
            })?,
        };
        let root_refs = out.status.success();
        if !root_refs {
            out = self.ref_git_output(&["for-each-ref", REF_FORMAT])?;
        }
        if !out.status.success() {
            return Err(Error::usage(format!(
                "cannot list the repository's refs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .hint(format!(
                "check the repository: {}",
                crate::quote::git("for-each-ref")
            )));
        }
        let mut refs = std::collections::BTreeMap::new();
        let mut head = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut fields = line.splitn(3, ' ');
            if let (Some(id), Some(name), Some(symref)) =
                (fields.next(), fields.next(), fields.next())
            {
                let Some(id) = self.parse_id(id) else {
                    continue;
                };
                if name == "HEAD" {
                    head = Some(Head {
                        symref: (!symref.is_empty()).then(|| symref.to_string()),
                        target: Some(id),
                    });
                } else if name.starts_with("refs/") {
                    // Other root refs (ORIG_HEAD, …) are left to `rev-parse`, as before.
                    refs.insert(name.to_string(), (id, !symref.is_empty()));
                }
            }
        }
        let snap = std::rc::Rc::new(RefSnapshot {
            refs,
            head: head.map(std::cell::OnceCell::from).unwrap_or_default(),
            root_refs,
        });
        self.ref_snapshot.replace(Some(snap.clone()));
        Ok(snap)
    }

    /// Where `HEAD` is, in a reftable repository.
    fn snapshot_head(&self) -> Result<Head> {
        let snap = self.snapshot()?;
        if let Some(head) = snap.head.get() {
            return Ok(head.clone());
        }
        // Unborn (a branch yet to be made lists no `HEAD`), or an older git.
        let out = self.ref_git_output(&["symbolic-ref", "-q", "HEAD"])?;
        let symref = out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string());
        let target = match &symref {
            Some(name) => snap.refs.get(name).map(|(id, _)| *id),
            None if snap.root_refs => None,
            None => self.rev_parse("HEAD")?,
        };
        let head = Head { symref, target };
        let _ = snap.head.set(head.clone());
        Ok(head)
    }

    /// `git for-each-ref` of every ref and `HEAD` (`--include-root-refs`: git 2.47 has it).
    fn list_refs(&self) -> Command {
        let mut cmd = self.ref_git();
        cmd.args(["for-each-ref", "--include-root-refs", REF_FORMAT]);
        cmd
    }

    /// Drops what was read of the refs (and a listing under way): a ref may move.
    fn forget_refs(&self) {
        self.ref_snapshot.replace(None);
        self.ref_listing.take();
    }

    /// `git rev-parse --verify` of `rev`: the object id, or none when it names nothing.
    fn rev_parse(&self, rev: &str) -> Result<Option<Oid>> {
        if rev.starts_with('-') {
            return Ok(None);
        }
        let out = self.ref_git_output(&["rev-parse", "--verify", "-q", "--end-of-options", rev])?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(self.parse_id(String::from_utf8_lossy(&out.stdout).trim()))
    }

    /// Whether the ref `name` exists (a full name, or one in the git dir like `HEAD`).
    pub fn ref_exists(&self, name: &str) -> bool {
        if !self.reftable {
            return self.git.find_reference(name).is_ok();
        }
        self.ref_target(name).is_ok_and(|id| id.is_some())
    }

    /// The object the ref `name` points to (symbolic refs followed), if it exists.
    pub fn ref_target(&self, name: &str) -> Result<Option<Oid>> {
        if !self.reftable {
            return match self.git.find_reference(name) {
                Ok(r) => Ok(r.resolve()?.target()),
                Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
        if name.starts_with("refs/") {
            return Ok(self.snapshot()?.refs.get(name).map(|(id, _)| *id));
        }
        if name == "HEAD" {
            return Ok(self.snapshot_head()?.target);
        }
        self.rev_parse(name)
    }

    /// Every ref whose full name starts with `prefix` (`refs/seal/remotes/`), in name
    /// order.
    pub fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<RefEntry>> {
        if !self.reftable {
            let mut out = Vec::new();
            for r in self.git.references_glob(&format!("{prefix}*"))? {
                let r = r?;
                let Ok(name) = r.name().map(str::to_string) else {
                    continue;
                };
                let symbolic = r.kind() == Some(git2::ReferenceType::Symbolic);
                if let Some(target) = r.resolve().ok().and_then(|r| r.target()) {
                    out.push(RefEntry {
                        name,
                        target,
                        symbolic,
                    });
                }
            }
            return Ok(out);
        }
        Ok(self
            .snapshot()?
            .refs
            .range(prefix.to_string()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, (target, symbolic))| RefEntry {
                name: name.clone(),
                target: *target,
                symbolic: *symbolic,
            })
            .collect())
    }

    /// Where `HEAD` is.
    pub fn head(&self) -> Result<Head> {
        if !self.reftable {
            let symref = self
                .git
                .find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string));
            let target = match self.git.head() {
                Ok(h) => h.target(),
                Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
                Err(e) if e.code() == git2::ErrorCode::NotFound => None,
                Err(e) => return Err(e.into()),
            };
            return Ok(Head { symref, target });
        }
        self.snapshot_head()
    }

    /// Points `name` at `new` if it holds what `expect` says, in one transaction, with
    /// `message` in its reflog.
    pub fn update_ref(
        &self,
        name: &str,
        new: Oid,
        expect: Expect,
        message: &str,
    ) -> std::result::Result<(), git2::Error> {
        self.ref_writer(message).update(name, new, expect)
    }

    /// A writer of refs with `message` in their reflogs. In a reftable repository it
    /// starts its `git update-ref --stdin` now, so that git starts while the caller
    /// builds what the ref will point to; unused, it ends without a transaction.
    pub fn ref_writer(&self, message: &str) -> RefWriter<'_> {
        let started = self
            .reftable
            .then(|| self.update_ref_command(message).spawn().ok())
            .flatten();
        RefWriter {
            repo: self,
            message: message.to_string(),
            started: Started(started),
        }
    }

    /// Deletes `name` if it points at `old`.
    pub fn delete_ref(&self, name: &str, old: Oid) -> std::result::Result<(), git2::Error> {
        if !self.reftable {
            let mut r = self.git.find_reference(name)?;
            if r.target() != Some(old) {
                return Err(git2::Error::new(
                    git2::ErrorCode::Modified,
                    git2::ErrorClass::Reference,
                    format!("{name} moved"),
                ));
            }
            return r.delete();
        }
        self.ref_transaction(
            None,
            &format!("start\ndelete {name} {old}\nprepare\ncommit\n"),
            "",
        )
    }

    /// `git update-ref --stdin`, its messages in English, its reflog message `message`.
    fn update_ref_command(&self, message: &str) -> Command {
        let mut cmd = self.ref_git();
        // As libgit2 moves refs on the files backend: no hook runs (git-seal's own
        // reference-transaction hook has nothing to do with a ref it moves itself).
        cmd.args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "hook.git-seal-reference-transaction.enabled=false",
            "update-ref",
            "--stdin",
        ]);
        if !message.is_empty() {
            cmd.args(["-m", message]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `script` (one transaction) through `started`, or a `git update-ref
    /// --stdin` started now.
    fn ref_transaction(
        &self,
        started: Option<std::process::Child>,
        script: &str,
        message: &str,
    ) -> std::result::Result<(), git2::Error> {
        use std::io::Write;
        // Moved or not, the ref is read again next time (a lost race reads the winner).
        self.forget_refs();
        let failed = |code, msg: String| git2::Error::new(code, git2::ErrorClass::Reference, msg);
        let mut child = match started {
            Some(child) => child,
            None => self.update_ref_command(message).spawn().map_err(|e| {
                failed(
                    git2::ErrorCode::GenericError,
                    format!("cannot run git: {e}"),
                )
            })?,
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(script.as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| {
            failed(
                git2::ErrorCode::GenericError,
                format!("git update-ref: {e}"),
            )
        })?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // git's English messages (LC_ALL=C): an old value that no longer holds is a
        // lost race; a lock another writer holds is contention too.
        let code = if err.contains("but expected") || err.contains("already exists") {
            git2::ErrorCode::Modified
        } else if err.contains("lock") {
            git2::ErrorCode::Locked
        } else {
            git2::ErrorCode::GenericError
        };
        Err(failed(code, format!("git update-ref: {err}")))
    }
}

/// Moves refs with one reflog message (`Repo::ref_writer`): libgit2 on the files
/// backend; in a reftable repository one `git update-ref --stdin` transaction per
/// update, whose old value git checks, the first through the process started with
/// the writer. The compare-and-swap is git's either way.
pub struct RefWriter<'r> {
    repo: &'r Repo,
    message: String,
    started: Started,
}

impl RefWriter<'_> {
    /// Points `name` at `new` if it holds what `expect` says, in one transaction.
    pub fn update(
        &mut self,
        name: &str,
        new: Oid,
        expect: Expect,
    ) -> std::result::Result<(), git2::Error> {
        let repo = self.repo;
        let message = self.message.as_str();
        if !repo.reftable {
            return match expect {
                Expect::At(old) => repo.git.reference_matching(name, new, true, old, message),
                Expect::Absent => repo.git.reference(name, new, false, message),
                Expect::Any => repo.git.reference(name, new, true, message),
            }
            .map(|_| ());
        }
        let zero = repo.zero_id().to_string();
        let old = match expect {
            Expect::At(old) => old.to_string(),
            Expect::Absent => zero,
            Expect::Any => String::new(),
        };
        let script = format!("start\nupdate {name} {new} {old}\nprepare\ncommit\n");
        repo.ref_transaction(self.started.0.take(), &script, message)
    }
}

/// An object id as a hash key. git2's `Hash` for `Oid` (with SHA-256 support built
/// in) covers the id's whole 32-byte buffer, while its equality compares only the
/// id's own length, and libgit2 leaves the rest of a SHA-1 id's buffer as it found
/// it: two equal ids could hash apart, and a `HashMap<Oid, _>` miss what it holds (a
/// backfill once failed with "blob … was not hashed"). This hashes the id's bytes
/// only. Every hashed collection of ids uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdKey(pub Oid);

impl std::hash::Hash for IdKey {
    fn hash<H: std::hash::Hasher>(&self, into: &mut H) {
        self.0.as_bytes().hash(into);
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

/// Hex digits of a full id in `format`: 40 (SHA-1) or 64 (SHA-256).
pub fn hex_len(format: ObjectFormat) -> usize {
    match format {
        ObjectFormat::Sha1 => 40,
        ObjectFormat::Sha256 => 64,
    }
}

/// `s` as a full id of `format`: exactly [`hex_len`] hex digits. git2's parser takes
/// any shorter prefix (and pads it with zeros) and reads text as SHA-1 unless told:
/// an id of the other format, from a hook's stdin, a ledger or git, is `None` here,
/// never a different object.
pub fn parse_id(s: &str, format: ObjectFormat) -> Option<Oid> {
    if s.len() != hex_len(format) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Oid::from_str_ext(s, format).ok()
}

/// The all-zero id of `format`.
pub fn zero_id(format: ObjectFormat) -> Oid {
    match format {
        ObjectFormat::Sha1 => Oid::ZERO_SHA1,
        ObjectFormat::Sha256 => Oid::ZERO_SHA256,
    }
}

/// The name seals give `format` (`object_format`, PRODUCT.md §2.8).
pub fn format_name(format: ObjectFormat) -> &'static str {
    match format {
        ObjectFormat::Sha1 => "sha1",
        ObjectFormat::Sha256 => "sha256",
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
        .filter_map(|hex| parse_id(hex.trim(), commit.id().object_format()))
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

/// The error for a `git` that cannot be started (not on PATH, most often).
pub fn cannot_run_git(e: std::io::Error) -> Error {
    Error::environment(format!("cannot run git: {e}"))
        .with_source(e)
        .hint("install git and put it on PATH")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two equal SHA-1 ids whose unused buffer tails differ (as libgit2 leaves a tree
    /// entry's) are one key: a hashed collection finds one by the other.
    #[test]
    #[allow(unsafe_code)]
    fn equal_ids_are_one_hash_key_whatever_their_buffer_tails() {
        use std::collections::HashMap;
        let clean = Oid::from_str("0a50d3a55c16d8da59759762e41fb9dc10391d53").unwrap();
        // git2's Oid wraps libgit2's `git_oid`: a type byte, then a 32-byte buffer.
        assert_eq!(std::mem::size_of::<Oid>(), 33);
        // SAFETY: same size, and an Oid is plain bytes (a type byte and a buffer); the
        // type byte stays SHA-1's, only the tail past the id's 20 bytes is changed.
        let mut bytes: [u8; 33] = unsafe { std::mem::transmute(clean) };
        for b in &mut bytes[21..] {
            *b = 0xa5;
        }
        let dirty: Oid = unsafe { std::mem::transmute(bytes) };
        assert_eq!(dirty, clean);
        assert_eq!(dirty.to_string(), clean.to_string());
        let mut map = HashMap::new();
        map.insert(IdKey(clean), 1);
        assert_eq!(map.get(&IdKey(dirty)), Some(&1));
    }

    /// Opening a repository bounds libgit2's object cache, so that no walk over a
    /// history holds more than that of its objects (the issue-14 memory bound rests
    /// on it), and a walk over more objects than fit stays within it.
    #[test]
    #[allow(unsafe_code)]
    fn opening_a_repository_bounds_libgit2s_object_cache() {
        let dir = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(dir.path()).unwrap();
        let path = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        let repo = Repo::open(Some(&path)).unwrap();
        // SAFETY: reads libgit2's global counters; no option is changed.
        let (_, allowed) = unsafe { git2::opts::get_cached_memory() }.unwrap();
        assert_eq!(allowed, OBJECT_CACHE_BYTES);
        // SAFETY: reads libgit2's global options.
        let windows = unsafe {
            (
                git2::opts::get_mwindow_size().unwrap(),
                git2::opts::get_mwindow_mapped_limit().unwrap(),
            )
        };
        assert_eq!(windows, (PACK_WINDOW_BYTES, PACK_MAPPED_BYTES));
        // Trees of about 3 KiB each (cached: under libgit2's 4 KiB per-object limit),
        // 4,000 of them: 12 MiB, more than the bound.
        let blob = git.blob(b"x").unwrap();
        let mut trees = Vec::new();
        for t in 0..4_000 {
            let mut b = git.treebuilder(None).unwrap();
            for e in 0..60 {
                b.insert(format!("entry-{t:05}-{e:03}"), blob, 0o100644)
                    .unwrap();
            }
            trees.push(b.write().unwrap());
        }
        for id in &trees {
            let tree = repo.git.find_tree(*id).unwrap();
            assert_eq!(tree.len(), 60);
        }
        let (current, _) = unsafe { git2::opts::get_cached_memory() }.unwrap();
        assert!(current <= OBJECT_CACHE_BYTES, "{current} cached");
    }
}
