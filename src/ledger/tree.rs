//! The one codec of the ledger tree: its canonical shape, the note lookup, the diff
//! of two trees, and the writer. Appends, merges, the server's rule, `verify` and
//! every lookup read the tree through this module only, so no two readers can
//! disagree on what a tree holds.
//!
//! The canonical shape (what [`check_shape`] accepts and every writer produces):
//! - The top level holds notes and only the directories [`KNOWN_DIRS`].
//! - A note is a blob named by the commit id in lowercase hex of the repository's
//!   object-id length ([`Shape::hex_len`]), fanned out in 2-lowercase-hex subtrees. At
//!   each level either every note is fanned out or none is, so each commit has exactly
//!   one path. Names are never case-folded: `ABCD…` is not the note of `abcd…`.
//! - Entries are blobs (mode 100644) or trees (040000): no symlinks, gitlinks or
//!   executables. No tree is empty. Entries are in git's order, each name once
//!   (lookups search by name and rely on it).
//! - Under a known directory every name is [`is_safe_name`] and a path is at most
//!   [`MAX_PATH`] bytes. `alternates/` is exactly `<commit>/<blob id>`, each entry
//!   named by its own blob id. `countersigns/` is exactly
//!   `<commit>/<64 lowercase hex>.yaml` (a countersign named by its digest).
//!
//! The diff walks the two trees side by side and skips every subtree whose id is the
//! same on both sides, so it costs what changed, not the ledger's size. Notes are
//! compared by commit id, not by path: a fanout change that moves notes is no change.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use git2::{ObjectType, Oid, Tree};

use crate::error::Result;
use crate::git::{IdKey, Repo};
use crate::ledger::pack::Sink;

/// The directories the top level may hold besides notes.
pub const KNOWN_DIRS: [&str; 6] = [
    "alternates",
    "countersigns",
    "rollbacks",
    "runs",
    "snapshots",
    "tags",
];

/// Notes a tree level holds before the writer splits it into 2-hex subtrees.
pub const FANOUT_LIMIT: usize = 256;

/// The longest name of one entry under a known directory.
pub const MAX_NAME: usize = 128;

/// The longest path of a file under a known directory, from the top level.
pub const MAX_PATH: usize = 512;

const MODE_BLOB: i32 = 0o100644;
const MODE_TREE: i32 = 0o040000;

/// The parameter of the canonical shape that depends on the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Hex digits of an object id: 40 (SHA-1) or 64 (SHA-256).
    pub hex_len: usize,
}

impl Shape {
    /// The shape for `repo`'s object format.
    pub fn of(repo: &Repo) -> Shape {
        let sha256 = repo
            .git
            .config()
            .and_then(|c| c.get_string("extensions.objectformat"))
            .is_ok_and(|f| f.eq_ignore_ascii_case("sha256"));
        Shape {
            hex_len: if sha256 { 64 } else { 40 },
        }
    }
}

/// Whether `name` may appear under a known directory: 1 to [`MAX_NAME`] bytes of
/// ASCII letters, digits and `. _ - + @ = ,`, not starting with `.` or `-`. Names
/// read from a ledger reach terminals, file names and shell hints: this set needs no
/// quoting in any of them. (Tag names with other characters cannot be sealed.)
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name[0] != b'.'
        && name[0] != b'-'
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+@=,".contains(b))
}

fn is_lower_hex(name: &[u8], len: usize) -> bool {
    name.len() == len && name.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What is not canonical about one entry of a ledger tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeIssue {
    /// A top-level name that is neither a note nor a known directory.
    UnknownTopLevel,
    /// In a fanout subtree, a name that is not the rest of a lowercase-hex commit id.
    BadNoteName,
    /// A level that holds both notes and fanout subtrees.
    MixedFanout,
    /// A mode other than 100644 (blob) or 040000 (tree).
    BadMode(i32),
    /// A blob where a tree belongs, or a tree where a blob belongs.
    WrongKind,
    /// An empty tree.
    EmptyTree,
    /// A name under a known directory outside the safe set.
    UnsafeName,
    /// A path longer than [`MAX_PATH`].
    PathTooLong,
    /// `alternates/<commit>/<name>` whose name is not its blob's id, or a commit
    /// directory that is not a lowercase-hex id.
    BadAlternate,
    /// `countersigns/<commit>/<name>` whose name is not 64 lowercase hex + `.yaml`,
    /// or a commit directory that is not a lowercase-hex id.
    BadCountersign,
    /// Under `runs/`, anything but a `<run id>.json` file.
    BadRunRecord,
    /// Entries out of git's order, or one name twice.
    Unsorted,
}

impl ShapeIssue {
    /// A stable name for the issue, for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            ShapeIssue::UnknownTopLevel => "unknown_top_level",
            ShapeIssue::BadNoteName => "bad_note_name",
            ShapeIssue::MixedFanout => "mixed_fanout",
            ShapeIssue::BadMode(_) => "bad_mode",
            ShapeIssue::WrongKind => "wrong_kind",
            ShapeIssue::EmptyTree => "empty_tree",
            ShapeIssue::UnsafeName => "unsafe_name",
            ShapeIssue::PathTooLong => "path_too_long",
            ShapeIssue::BadAlternate => "bad_alternate",
            ShapeIssue::BadCountersign => "bad_countersign",
            ShapeIssue::BadRunRecord => "bad_run_record",
            ShapeIssue::Unsorted => "unsorted",
        }
    }
}

/// One non-canonical entry: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProblem {
    /// The entry's path in the ledger tree (lossy, escaped for printing).
    pub path: String,
    pub issue: ShapeIssue,
}

impl fmt::Display for ShapeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeIssue::UnknownTopLevel => write!(
                f,
                "not a note (lowercase hex commit id) nor one of {}/",
                KNOWN_DIRS.join("/, ")
            ),
            ShapeIssue::BadNoteName => {
                f.write_str("not a note name (lowercase hex, fanned out by 2 digits)")
            }
            ShapeIssue::MixedFanout => {
                f.write_str("holds notes both flat and fanned out (two paths for one commit)")
            }
            ShapeIssue::BadMode(m) => write!(
                f,
                "has mode {m:06o}; only blobs (100644) and trees (040000) belong in a ledger"
            ),
            ShapeIssue::WrongKind => f.write_str("is a file where a directory belongs, or back"),
            ShapeIssue::EmptyTree => f.write_str("is an empty tree"),
            ShapeIssue::UnsafeName => write!(
                f,
                "has a name outside the ledger's set (1-{MAX_NAME} of A-Z a-z 0-9 . _ - + @ = ,)"
            ),
            ShapeIssue::PathTooLong => write!(f, "is a path longer than {MAX_PATH} bytes"),
            ShapeIssue::BadAlternate => {
                f.write_str("is not alternates/<commit id>/<its own blob id>")
            }
            ShapeIssue::BadCountersign => {
                f.write_str("is not countersigns/<commit id>/<64 hex digest>.yaml")
            }
            ShapeIssue::BadRunRecord => f.write_str("is not runs/<run id>.json"),
            ShapeIssue::Unsorted => f.write_str("is out of git's order or named twice"),
        }
    }
}

impl fmt::Display for ShapeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.issue)
    }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).escape_debug().to_string()
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// One raw entry of a tree.
#[derive(Clone)]
struct Entry {
    name: Vec<u8>,
    id: Oid,
    mode: i32,
}

impl Entry {
    fn is_tree(&self) -> bool {
        self.mode == MODE_TREE
    }
}

fn entries(tree: &Tree<'_>) -> Vec<Entry> {
    tree.iter()
        .map(|e| Entry {
            name: e.name_bytes().to_vec(),
            id: e.id(),
            mode: e.filemode_raw(),
        })
        .collect()
}

/// Problems with a level as a whole: order, duplicate names, empty. `items` are
/// (name, mode) in the tree's order.
fn check_level<'a>(
    items: impl Iterator<Item = (&'a [u8], i32)>,
    path: &[u8],
    top: bool,
    out: &mut Vec<ShapeProblem>,
) {
    let mut names: HashSet<&[u8]> = HashSet::new();
    let mut last: Option<(&[u8], bool)> = None;
    let mut empty = true;
    for (name, mode) in items {
        empty = false;
        let is_tree = mode == MODE_TREE;
        let fresh = names.insert(name);
        let ordered = last.is_none_or(|(l, lt)| git_order(l, lt, name, is_tree).is_lt());
        if !fresh || !ordered {
            out.push(ShapeProblem {
                path: show(&join(path, name)),
                issue: ShapeIssue::Unsorted,
            });
        }
        last = Some((name, is_tree));
    }
    if empty && !top {
        out.push(ShapeProblem {
            path: show(path),
            issue: ShapeIssue::EmptyTree,
        });
    }
}

/// git's tree order: names compared as bytes, a tree's name as if it ended in `/`.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        std::cmp::Ordering::Equal => {}
        o => return o,
    }
    let end = |name: &[u8], tree: bool| match name.get(n) {
        Some(c) => *c,
        None if tree => b'/',
        None => 0,
    };
    end(a, a_tree)
        .cmp(&end(b, b_tree))
        .then(a.len().cmp(&b.len()))
}

fn owned_items(list: &[Entry]) -> impl Iterator<Item = (&[u8], i32)> {
    list.iter().map(|e| (e.name.as_slice(), e.mode))
}

/// The entries of `old` and of `new` (either absent: empty) that the other lacks with
/// the same name, id and mode: a merge-join in git's order, which skips what is
/// unchanged without decoding it. With `check`, the whole `new` level is checked
/// (order, names once, not empty; a note level: notes not mixed with fanouts).
fn changed_entries(
    repo: &Repo,
    shape: Shape,
    old: Option<Oid>,
    new: Option<Oid>,
    note_level: Option<&str>,
    path: &[u8],
    check: Option<&mut Vec<ShapeProblem>>,
) -> Result<(Vec<Entry>, Vec<Entry>)> {
    let old_tree = old.map(|t| repo.git.find_tree(t)).transpose()?;
    let new_tree = new.map(|t| repo.git.find_tree(t)).transpose()?;
    let a: Vec<git2::TreeEntry<'_>> = old_tree.iter().flat_map(|t| t.iter()).collect();
    let b: Vec<git2::TreeEntry<'_>> = new_tree.iter().flat_map(|t| t.iter()).collect();
    if let (Some(out), Some(_)) = (check, new) {
        let items = b.iter().map(|e| (e.name_bytes(), e.filemode_raw()));
        check_level(items, path, path.is_empty(), out);
        if let Some(prefix) = note_level {
            let rest = shape.hex_len.saturating_sub(prefix.len());
            let notes = b
                .iter()
                .any(|e| e.filemode_raw() == MODE_BLOB && is_lower_hex(e.name_bytes(), rest));
            let fans = rest > 2
                && b.iter()
                    .any(|e| e.filemode_raw() == MODE_TREE && is_lower_hex(e.name_bytes(), 2));
            if notes && fans {
                let p = fanout_path(prefix);
                out.push(ShapeProblem {
                    path: if p.is_empty() {
                        "(top level)".into()
                    } else {
                        format!("{p}/")
                    },
                    issue: ShapeIssue::MixedFanout,
                });
            }
        }
    }
    let own = |e: &git2::TreeEntry<'_>| Entry {
        name: e.name_bytes().to_vec(),
        id: e.id(),
        mode: e.filemode_raw(),
    };
    let (mut i, mut j) = (0, 0);
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => git_order(
                x.name_bytes(),
                x.filemode_raw() == MODE_TREE,
                y.name_bytes(),
                y.filemode_raw() == MODE_TREE,
            ),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                gone.push(own(&a[i]));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                came.push(own(&b[j]));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if a[i].id() != b[j].id() || a[i].filemode_raw() != b[j].filemode_raw() {
                    gone.push(own(&a[i]));
                    came.push(own(&b[j]));
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok((gone, came))
}

/// A level of notes (the top level, or a fanout subtree), decoded.
#[derive(Default)]
struct Level {
    /// Notes at this level: full commit hex → blob.
    notes: BTreeMap<String, Oid>,
    /// Fanout subtrees: full hex prefix → tree.
    fanouts: BTreeMap<String, Oid>,
    /// Everything else.
    others: Vec<Entry>,
}

/// The one naming rule of note levels: with `prefix` already consumed, a note is a
/// 100644 entry named by the rest of the id, a fanout subtree a 040000 entry named by
/// the next two digits (when more than two remain). Lowercase only.
fn read_level(shape: Shape, prefix: &str, entries: Vec<Entry>) -> Level {
    let rest = shape.hex_len.saturating_sub(prefix.len());
    let mut level = Level::default();
    // Names checked as lower hex are ASCII: taken as they are, not escaped.
    let hex = |name: &[u8]| String::from_utf8_lossy(name).into_owned();
    for e in entries {
        if e.mode == MODE_BLOB && is_lower_hex(&e.name, rest) {
            level
                .notes
                .insert(format!("{prefix}{}", hex(&e.name)), e.id);
        } else if e.mode == MODE_TREE && rest > 2 && is_lower_hex(&e.name, 2) {
            level
                .fanouts
                .insert(format!("{prefix}{}", hex(&e.name)), e.id);
        } else {
            level.others.push(e);
        }
    }
    level
}

/// Tree levels read once per view. libgit2 caches no tree over 4 KiB, and a full
/// fanout level is about 12 KiB: without this, every lookup inflates each level again.
#[derive(Default)]
pub struct TreeCache {
    // Hashed: a lookup asks it for every level of a note's path, and a tree of
    // 65,536 levels made that 16 id comparisons a level.
    levels: std::cell::RefCell<std::collections::HashMap<IdKey, std::rc::Rc<SortedLevel>>>,
}

/// A level's entries ordered by (name, mode), equal keys in tree order, so a lookup is
/// a binary search that finds what a scan in tree order finds first. A scan of a
/// full fanout level per lookup, two levels a note, was git/git's warm verify's
/// largest single cost (`memcmp`, 6.5%).
struct SortedLevel(Vec<Entry>);

impl SortedLevel {
    fn new(mut entries: Vec<Entry>) -> SortedLevel {
        // Stable: among equal keys (a malformed tree) tree order stays.
        entries.sort_by(|a, b| (&a.name, a.mode).cmp(&(&b.name, b.mode)));
        SortedLevel(entries)
    }

    /// The first entry, in tree order, named `name` with `mode`.
    fn find(&self, name: &[u8], mode: i32) -> Option<Oid> {
        let key = (name, mode);
        let at = self
            .0
            .partition_point(|e| (e.name.as_slice(), e.mode) < key);
        self.0
            .get(at)
            .filter(|e| e.name == name && e.mode == mode)
            .map(|e| e.id)
    }
}

impl TreeCache {
    fn level(&self, repo: &Repo, id: Oid) -> Result<std::rc::Rc<SortedLevel>> {
        if let Some(l) = self.levels.borrow().get(&IdKey(id)) {
            return Ok(l.clone());
        }
        let level = std::rc::Rc::new(SortedLevel::new(entries(&repo.git.find_tree(id)?)));
        self.levels.borrow_mut().insert(IdKey(id), level.clone());
        Ok(level)
    }
}

/// The blob of `commit`'s note in the tree `root`, by the same naming rule as every
/// other reader (exact lowercase names, 100644 notes, 040000 fanout subtrees). In a
/// canonical tree there is one path for it; this follows it.
pub fn note_in(
    repo: &Repo,
    shape: Shape,
    root: Oid,
    commit: &str,
    cache: &TreeCache,
) -> Result<Option<Oid>> {
    if !is_lower_hex(commit.as_bytes(), shape.hex_len) {
        return Ok(None);
    }
    let mut level = cache.level(repo, root)?;
    let mut rest = commit.as_bytes();
    loop {
        if let Some(blob) = level.find(rest, MODE_BLOB) {
            return Ok(Some(blob));
        }
        if rest.len() <= 2 {
            return Ok(None);
        }
        let (dir, tail) = rest.split_at(2);
        match level.find(dir, MODE_TREE) {
            Some(id) => {
                level = cache.level(repo, id)?;
                rest = tail;
            }
            None => return Ok(None),
        }
    }
}

/// The blob at `path` (`a/b/c`) in `root`, if it is a 100644 blob.
pub fn file_in(root: &Tree<'_>, path: &str) -> Option<Oid> {
    root.get_path(std::path::Path::new(path))
        .ok()
        .filter(|e| e.filemode_raw() == MODE_BLOB && e.kind() == Some(ObjectType::Blob))
        .map(|e| e.id())
}

/// The 100644 blobs directly under `dir` in `root`: (name, blob), in tree order.
pub fn files_under(repo: &Repo, root: &Tree<'_>, dir: &str) -> Result<Vec<(String, Oid)>> {
    let Ok(entry) = root.get_path(std::path::Path::new(dir)) else {
        return Ok(Vec::new());
    };
    if entry.filemode_raw() != MODE_TREE {
        return Ok(Vec::new());
    }
    let sub = repo.git.find_tree(entry.id())?;
    Ok(sub
        .iter()
        .filter(|e| e.filemode_raw() == MODE_BLOB)
        .map(|e| (show(e.name_bytes()), e.id()))
        .collect())
}

/// Which known directory a path is under, for its rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Alternates,
    Countersigns,
    /// `runs/<run id>.json`: shared run records, one level, nothing else.
    Runs,
    Plain,
}

/// The rule for one entry at `depth` (1 = directly under the known dir) of `dir`.
fn check_entry(shape: Shape, dir: Dir, depth: usize, path: &[u8], e: &Entry) -> Option<ShapeIssue> {
    if e.mode != MODE_BLOB && e.mode != MODE_TREE {
        return Some(ShapeIssue::BadMode(e.mode));
    }
    if path.len() > MAX_PATH {
        return Some(ShapeIssue::PathTooLong);
    }
    match dir {
        Dir::Alternates => {
            let ok = match depth {
                1 => e.is_tree() && is_lower_hex(&e.name, shape.hex_len),
                2 => !e.is_tree() && e.name == e.id.to_string().into_bytes(),
                _ => false,
            };
            (!ok).then_some(ShapeIssue::BadAlternate)
        }
        Dir::Countersigns => {
            let ok = match depth {
                1 => e.is_tree() && is_lower_hex(&e.name, shape.hex_len),
                2 => {
                    !e.is_tree()
                        && e.name.len() == 64 + 5
                        && e.name.ends_with(b".yaml")
                        && is_lower_hex(&e.name[..64], 64)
                }
                _ => false,
            };
            (!ok).then_some(ShapeIssue::BadCountersign)
        }
        Dir::Runs if !is_safe_name(&e.name) => Some(ShapeIssue::UnsafeName),
        Dir::Runs => {
            let ok = depth == 1 && !e.is_tree() && e.name.ends_with(b".json");
            (!ok).then_some(ShapeIssue::BadRunRecord)
        }
        Dir::Plain => (!is_safe_name(&e.name)).then_some(ShapeIssue::UnsafeName),
    }
}

fn dir_of(name: &[u8]) -> Option<Dir> {
    match name {
        b"alternates" => Some(Dir::Alternates),
        b"countersigns" => Some(Dir::Countersigns),
        b"runs" => Some(Dir::Runs),
        n if KNOWN_DIRS.iter().any(|k| k.as_bytes() == n) => Some(Dir::Plain),
        _ => None,
    }
}

/// A file (leaf) of the tree that is not a note: path → (blob, mode).
pub type Files = BTreeMap<String, (Oid, i32)>;

/// Reads every leaf under `tree` (at `path`, `depth` below known dir `dir`), checking
/// each level when `check` is set.
#[allow(clippy::too_many_arguments)]
fn read_dir(
    repo: &Repo,
    shape: Shape,
    dir: Option<Dir>,
    depth: usize,
    tree: Oid,
    path: &[u8],
    check: Option<&mut Vec<ShapeProblem>>,
    files: &mut Files,
) -> Result<()> {
    let tree = repo.git.find_tree(tree)?;
    let list = entries(&tree);
    let mut check = check;
    if let Some(out) = check.as_deref_mut() {
        check_level(owned_items(&list), path, false, out);
    }
    for e in list {
        let p = join(path, &e.name);
        if let (Some(out), Some(d)) = (check.as_deref_mut(), dir) {
            if let Some(issue) = check_entry(shape, d, depth, &p, &e) {
                out.push(ShapeProblem {
                    path: show(&p),
                    issue,
                });
            }
        }
        if e.is_tree() {
            read_dir(
                repo,
                shape,
                dir,
                depth + 1,
                e.id,
                &p,
                check.as_deref_mut(),
                files,
            )?;
        } else {
            files.insert(show(&p), (e.id, e.mode));
        }
    }
    Ok(())
}

/// Reads every note under a note level (flattening its fanout), checking each level
/// when `check` is set.
fn read_notes(
    repo: &Repo,
    shape: Shape,
    tree: Oid,
    prefix: &str,
    mut check: Option<&mut Vec<ShapeProblem>>,
    notes: &mut BTreeMap<String, Oid>,
    files: &mut Files,
) -> Result<()> {
    let list = entries(&repo.git.find_tree(tree)?);
    let path = fanout_path(prefix);
    if let Some(out) = check.as_deref_mut() {
        check_level(owned_items(&list), path.as_bytes(), false, out);
    }
    let level = read_level(shape, prefix, list);
    if let Some(out) = check.as_deref_mut() {
        check_fanout_level(&level, &path, out);
    }
    notes.extend(level.notes);
    for e in level.others {
        files.insert(show(&join(path.as_bytes(), &e.name)), (e.id, e.mode));
    }
    for (sub, id) in level.fanouts {
        read_notes(repo, shape, id, &sub, check.as_deref_mut(), notes, files)?;
    }
    Ok(())
}

/// `ab/cd/` for the prefix `abcd`: where a fanout level is.
fn fanout_path(prefix: &str) -> String {
    let mut p = String::new();
    for (i, c) in prefix.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            p.push('/');
        }
        p.push(c);
    }
    p
}

/// The rules of a fanout subtree beyond the top: only notes or only subtrees.
fn check_fanout_level(level: &Level, path: &str, out: &mut Vec<ShapeProblem>) {
    check_fanout_others(level, path, out);
    if !level.notes.is_empty() && !level.fanouts.is_empty() {
        out.push(ShapeProblem {
            path: if path.is_empty() {
                "(top level)".into()
            } else {
                format!("{path}/")
            },
            issue: ShapeIssue::MixedFanout,
        });
    }
}

/// In a fanout subtree, every entry is a note or a fanout subtree.
fn check_fanout_others(level: &Level, path: &str, out: &mut Vec<ShapeProblem>) {
    for e in &level.others {
        let issue = if e.mode != MODE_BLOB && e.mode != MODE_TREE {
            ShapeIssue::BadMode(e.mode)
        } else {
            ShapeIssue::BadNoteName
        };
        out.push(ShapeProblem {
            path: show(&join(path.as_bytes(), &e.name)),
            issue,
        });
    }
}

/// The rules of the top level's entries that are not notes nor fanout subtrees.
fn check_top_other(e: &Entry) -> Option<ShapeIssue> {
    if e.mode != MODE_BLOB && e.mode != MODE_TREE {
        return Some(ShapeIssue::BadMode(e.mode));
    }
    match dir_of(&e.name) {
        Some(_) if e.is_tree() => None,
        Some(_) => Some(ShapeIssue::WrongKind),
        None => Some(ShapeIssue::UnknownTopLevel),
    }
}

/// Every way the tree `root` is not canonical (empty when it is). Reads it whole.
pub fn check_shape(repo: &Repo, shape: Shape, root: Oid) -> Result<Vec<ShapeProblem>> {
    Ok(read_whole(repo, shape, root)?.problems)
}

/// A ledger tree read whole by the shape check.
pub struct Whole {
    /// Every way it is not canonical (empty when it is).
    pub problems: Vec<ShapeProblem>,
    /// Every note, when the tree is canonical (`None` otherwise).
    pub notes: Option<NoteIndex>,
}

/// Every note of a canonical tree by commit id (lowercase hex). A canonical tree has
/// one path per commit and each name once, so this answers what [`note_in`] finds,
/// with one hash lookup instead of a walk down the fanout levels (git/git's warm
/// verify spent 6% of its samples walking them, a cache miss per step). Built only
/// from a tree that passed the shape check: in any other tree, lookups walk.
pub struct NoteIndex(std::collections::HashMap<String, Oid>);

impl NoteIndex {
    pub fn get(&self, commit: &str) -> Option<Oid> {
        self.0.get(commit).copied()
    }
}

/// Reads the tree `root` whole: its shape problems and, when it has none, its notes.
pub fn read_whole(repo: &Repo, shape: Shape, root: Oid) -> Result<Whole> {
    let mut problems = Vec::new();
    let changes = diff(repo, shape, None, Some(root), Some(&mut problems))?;
    let notes = problems.is_empty().then(|| {
        NoteIndex(
            changes
                .notes
                .into_iter()
                .filter_map(|n| n.new.map(|blob| (n.commit, blob)))
                .collect(),
        )
    });
    Ok(Whole { problems, notes })
}

/// One note that differs between two trees (`old`/`new`: its blob on each side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteChange {
    pub commit: String,
    pub old: Option<Oid>,
    pub new: Option<Oid>,
}

/// One file (not a note) that differs: its (blob, mode) on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub old: Option<(Oid, i32)>,
    pub new: Option<(Oid, i32)>,
}

/// What differs between two ledger trees, and what is not canonical in the new
/// tree's changed parts.
#[derive(Debug, Default)]
pub struct Changes {
    pub notes: Vec<NoteChange>,
    pub files: Vec<FileChange>,
    pub shape: Vec<ShapeProblem>,
}

/// The changes from `old` to `new` (either may be absent: empty). With `check`, the
/// shape of every part of `new` that differs from `old` is checked into it; parts
/// equal to `old`'s are skipped, so the cost is what changed.
pub fn diff(
    repo: &Repo,
    shape: Shape,
    old: Option<Oid>,
    new: Option<Oid>,
    check: Option<&mut Vec<ShapeProblem>>,
) -> Result<Changes> {
    let mut changes = Changes::default();
    let mut check = check;
    if old != new {
        diff_top(repo, shape, old, new, &mut check, &mut changes)?;
    }
    Ok(changes)
}

fn diff_top(
    repo: &Repo,
    shape: Shape,
    old: Option<Oid>,
    new: Option<Oid>,
    check: &mut Option<&mut Vec<ShapeProblem>>,
    changes: &mut Changes,
) -> Result<()> {
    let (gone, came) = changed_entries(repo, shape, old, new, Some(""), b"", check.as_deref_mut())?;
    let a = read_level(shape, "", gone);
    let b = read_level(shape, "", came);
    if let Some(out) = check.as_deref_mut() {
        for e in &b.others {
            if let Some(issue) = check_top_other(e) {
                out.push(ShapeProblem {
                    path: show(&e.name),
                    issue,
                });
            }
        }
    }
    diff_note_levels(
        repo, shape, a.notes, a.fanouts, b.notes, b.fanouts, check, changes,
    )?;
    diff_dirs(
        repo, shape, None, 0, b"", a.others, b.others, check, changes,
    )
}

/// Compares two note levels: fanout subtrees present on both sides with one id are
/// skipped, on both sides with different ids compared recursively, on one side only
/// flattened, and then the notes compared by commit id.
#[allow(clippy::too_many_arguments)]
fn diff_note_levels(
    repo: &Repo,
    shape: Shape,
    mut a_notes: BTreeMap<String, Oid>,
    a_fan: BTreeMap<String, Oid>,
    mut b_notes: BTreeMap<String, Oid>,
    b_fan: BTreeMap<String, Oid>,
    check: &mut Option<&mut Vec<ShapeProblem>>,
    changes: &mut Changes,
) -> Result<()> {
    let mut stray = Files::new();
    let mut b_stray = Files::new();
    let keys: std::collections::BTreeSet<&String> = a_fan.keys().chain(b_fan.keys()).collect();
    for key in keys {
        match (a_fan.get(key), b_fan.get(key)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(&x), Some(&y)) => {
                let path = fanout_path(key);
                let (gone, came) = changed_entries(
                    repo,
                    shape,
                    Some(x),
                    Some(y),
                    Some(key),
                    path.as_bytes(),
                    check.as_deref_mut(),
                )?;
                let a = read_level(shape, key, gone);
                let b = read_level(shape, key, came);
                if let Some(out) = check.as_deref_mut() {
                    check_fanout_others(&b, &path, out);
                }
                for e in a.others {
                    stray.insert(show(&join(path.as_bytes(), &e.name)), (e.id, e.mode));
                }
                for e in b.others {
                    b_stray.insert(show(&join(path.as_bytes(), &e.name)), (e.id, e.mode));
                }
                diff_note_levels(
                    repo, shape, a.notes, a.fanouts, b.notes, b.fanouts, check, changes,
                )?;
            }
            (Some(&x), None) => {
                read_notes(repo, shape, x, key, None, &mut a_notes, &mut stray)?;
            }
            (None, Some(&y)) => {
                read_notes(
                    repo,
                    shape,
                    y,
                    key,
                    check.as_deref_mut(),
                    &mut b_notes,
                    &mut b_stray,
                )?;
            }
            (None, None) => {}
        }
    }
    for (commit, &old) in &a_notes {
        match b_notes.remove(commit) {
            Some(new) if new == old => {}
            new => changes.notes.push(NoteChange {
                commit: commit.clone(),
                old: Some(old),
                new,
            }),
        }
    }
    for (commit, new) in b_notes {
        changes.notes.push(NoteChange {
            commit,
            old: None,
            new: Some(new),
        });
    }
    diff_files(stray, b_stray, changes);
    Ok(())
}

fn diff_files(a: Files, mut b: Files, changes: &mut Changes) {
    for (path, old) in a {
        match b.remove(&path) {
            Some(new) if new == old => {}
            new => changes.files.push(FileChange {
                path,
                old: Some(old),
                new,
            }),
        }
    }
    for (path, new) in b {
        changes.files.push(FileChange {
            path,
            old: None,
            new: Some(new),
        });
    }
}

/// Compares two lists of entries that are not notes (at `path`, `depth` below the
/// known directory `dir`; the top level when `dir` is `None`), by name.
#[allow(clippy::too_many_arguments)]
fn diff_dirs(
    repo: &Repo,
    shape: Shape,
    dir: Option<Dir>,
    depth: usize,
    path: &[u8],
    a: Vec<Entry>,
    b: Vec<Entry>,
    check: &mut Option<&mut Vec<ShapeProblem>>,
    changes: &mut Changes,
) -> Result<()> {
    let mut a_files = Files::new();
    let mut b_files = Files::new();
    let mut a_by: BTreeMap<Vec<u8>, Entry> = a.into_iter().map(|e| (e.name.clone(), e)).collect();
    for e in b {
        let p = join(path, &e.name);
        let sub_dir = dir.or_else(|| dir_of(&e.name));
        let old = a_by.remove(&e.name);
        if old
            .as_ref()
            .is_some_and(|o| o.id == e.id && o.mode == e.mode)
        {
            continue;
        }
        if let (Some(out), Some(d)) = (check.as_deref_mut(), dir) {
            if let Some(issue) = check_entry(shape, d, depth, &p, &e) {
                out.push(ShapeProblem {
                    path: show(&p),
                    issue,
                });
            }
        }
        match old {
            Some(o) if o.is_tree() && e.is_tree() => {
                let (old_list, new_list) = changed_entries(
                    repo,
                    shape,
                    Some(o.id),
                    Some(e.id),
                    None,
                    &p,
                    check.as_deref_mut(),
                )?;
                diff_dirs(
                    repo,
                    shape,
                    sub_dir,
                    depth + 1,
                    &p,
                    old_list,
                    new_list,
                    check,
                    changes,
                )?;
            }
            old => {
                if let Some(o) = old {
                    take_leaves(repo, shape, sub_dir, depth + 1, &o, &p, None, &mut a_files)?;
                }
                take_leaves(
                    repo,
                    shape,
                    sub_dir,
                    depth + 1,
                    &e,
                    &p,
                    check.as_deref_mut(),
                    &mut b_files,
                )?;
            }
        }
    }
    for (name, o) in a_by {
        let p = join(path, &name);
        let sub_dir = dir.or_else(|| dir_of(&name));
        take_leaves(repo, shape, sub_dir, depth + 1, &o, &p, None, &mut a_files)?;
    }
    diff_files(a_files, b_files, changes);
    Ok(())
}

/// The leaves of one entry: itself if it is not a tree, else everything under it.
#[allow(clippy::too_many_arguments)]
fn take_leaves(
    repo: &Repo,
    shape: Shape,
    dir: Option<Dir>,
    depth: usize,
    e: &Entry,
    path: &[u8],
    check: Option<&mut Vec<ShapeProblem>>,
    files: &mut Files,
) -> Result<()> {
    if e.is_tree() {
        read_dir(repo, shape, dir, depth, e.id, path, check, files)
    } else {
        files.insert(show(path), (e.id, e.mode));
        Ok(())
    }
}

/// Writes a tree: `base` (or an empty tree) with `notes` (commit hex → blob) set and
/// `files` (path → blob) added, its new trees put in `objects` (the trees it reads
/// are `base`'s, from the repository). Notes keep the fanout of the level they land
/// in; a flat level that grows past [`FANOUT_LIMIT`] is split. Returns the new root.
pub fn write(
    repo: &Repo,
    objects: &mut Sink<'_>,
    shape: Shape,
    base: Option<Oid>,
    notes: &BTreeMap<String, Oid>,
    files: &BTreeMap<String, Oid>,
) -> Result<Oid> {
    let current = base.map(|t| repo.git.find_tree(t)).transpose()?;
    if let (Some(t), true) = (&current, notes.is_empty() && files.is_empty()) {
        return Ok(t.id());
    }
    let mut root = Builder::of(current.as_ref());
    let notes: Vec<(&str, Oid)> = notes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    set_notes(
        repo,
        objects,
        shape,
        current.as_ref(),
        &mut root,
        "",
        &notes,
    )?;
    let files: Vec<(&str, Oid)> = files.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    insert_files(repo, objects, &mut root, &files)?;
    root.write(objects)
}

/// A tree level being rewritten: each name once (a later insert replaces), written
/// in git's order. The one writer of ledger trees.
struct Builder(BTreeMap<Vec<u8>, (i32, Oid)>);

impl Builder {
    fn of(tree: Option<&Tree<'_>>) -> Builder {
        let entries = tree.into_iter().flat_map(|t| t.iter());
        Builder(
            entries
                .map(|e| (e.name_bytes().to_vec(), (e.filemode_raw(), e.id())))
                .collect(),
        )
    }

    fn insert(&mut self, name: &str, id: Oid, mode: i32) {
        self.0.insert(name.as_bytes().to_vec(), (mode, id));
    }

    fn remove(&mut self, name: &str) {
        self.0.remove(name.as_bytes());
    }

    fn tree(&self, name: &str) -> Option<Oid> {
        match self.0.get(name.as_bytes()) {
            Some(&(MODE_TREE, id)) => Some(id),
            _ => None,
        }
    }

    /// The tree object, as git writes one: `<octal mode> <name>\0<raw id>` per entry.
    fn write(self, objects: &mut Sink<'_>) -> Result<Oid> {
        let mut list: Vec<_> = self.0.into_iter().collect();
        list.sort_by(|(a, (am, _)), (b, (bm, _))| {
            git_order(a, *am == MODE_TREE, b, *bm == MODE_TREE)
        });
        let mut bytes = Vec::with_capacity(list.len() * 64);
        for (name, (mode, id)) in &list {
            bytes.extend_from_slice(format!("{mode:o} ").as_bytes());
            bytes.extend_from_slice(name);
            bytes.push(0);
            bytes.extend_from_slice(id.as_bytes());
        }
        objects.put(ObjectType::Tree, &bytes)
    }
}

/// Sets `notes` (sorted, each starting with `prefix`) in the note level `builder`,
/// whose tree before was `current`.
fn set_notes(
    repo: &Repo,
    objects: &mut Sink<'_>,
    shape: Shape,
    current: Option<&Tree<'_>>,
    builder: &mut Builder,
    prefix: &str,
    notes: &[(&str, Oid)],
) -> Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let list = current.map(entries).unwrap_or_default();
    let level = read_level(shape, prefix, list);
    let rest = shape.hex_len - prefix.len();
    let flat_count = level.notes.len()
        + notes
            .iter()
            .filter(|(h, _)| !level.notes.contains_key(*h))
            .count();
    let fan = rest > 2 && (!level.fanouts.is_empty() || flat_count > FANOUT_LIMIT);
    if !fan {
        for (hex, blob) in notes {
            builder.insert(&hex[prefix.len()..], *blob, MODE_BLOB);
        }
        return Ok(());
    }
    // Fanned out: every note of this level goes into its 2-hex subtree, those that
    // were flat here included, so the level never mixes.
    let mut groups: BTreeMap<String, Vec<(&str, Oid)>> = BTreeMap::new();
    for (hex, blob) in &level.notes {
        builder.remove(&hex[prefix.len()..]);
        if notes
            .binary_search_by(|(h, _)| (*h).cmp(hex.as_str()))
            .is_err()
        {
            groups
                .entry(hex[..prefix.len() + 2].to_string())
                .or_default()
                .push((hex.as_str(), *blob));
        }
    }
    for (hex, blob) in notes {
        groups
            .entry(hex[..prefix.len() + 2].to_string())
            .or_default()
            .push((hex, *blob));
    }
    for (sub_prefix, mut group) in groups {
        group.sort();
        let existing = level.fanouts.get(&sub_prefix).copied();
        let tree = existing.map(|t| repo.git.find_tree(t)).transpose()?;
        let mut sub = Builder::of(tree.as_ref());
        set_notes(
            repo,
            objects,
            shape,
            tree.as_ref(),
            &mut sub,
            &sub_prefix,
            &group,
        )?;
        builder.insert(&sub_prefix[prefix.len()..], sub.write(objects)?, MODE_TREE);
    }
    Ok(())
}

/// Adds `files` (paths relative to the level `builder`), writing a subtree per
/// directory.
fn insert_files(
    repo: &Repo,
    objects: &mut Sink<'_>,
    builder: &mut Builder,
    files: &[(&str, Oid)],
) -> Result<()> {
    let mut dirs: BTreeMap<&str, Vec<(&str, Oid)>> = BTreeMap::new();
    for (path, blob) in files {
        match path.split_once('/') {
            Some((dir, rest)) => dirs.entry(dir).or_default().push((rest, *blob)),
            None => builder.insert(path, *blob, MODE_BLOB),
        }
    }
    for (dir, sub_files) in dirs {
        let tree = builder
            .tree(dir)
            .map(|t| repo.git.find_tree(t))
            .transpose()?;
        let mut sub = Builder::of(tree.as_ref());
        insert_files(repo, objects, &mut sub, &sub_files)?;
        builder.insert(dir, sub.write(objects)?, MODE_TREE);
    }
    Ok(())
}

/// Whether `path` is a file path a writer may add: under a known directory, every
/// name safe (alternates: `<commit>/<blob id>`), at most [`MAX_PATH`] bytes.
pub fn check_file_path(shape: Shape, path: &str, blob: Oid) -> Option<ShapeIssue> {
    let mut parts = path.split('/');
    let top = parts.next().unwrap_or_default();
    let Some(dir) = dir_of(top.as_bytes()) else {
        return Some(ShapeIssue::UnknownTopLevel);
    };
    if path.len() > MAX_PATH {
        return Some(ShapeIssue::PathTooLong);
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return Some(ShapeIssue::WrongKind);
    }
    let last = rest.len() - 1;
    for (i, name) in rest.iter().enumerate() {
        let e = Entry {
            name: name.as_bytes().to_vec(),
            id: blob,
            mode: if i == last { MODE_BLOB } else { MODE_TREE },
        };
        if let Some(issue) = check_entry(shape, dir, i + 1, path.as_bytes(), &e) {
            return Some(issue);
        }
    }
    if dir == Dir::Alternates && rest.len() != 2 {
        return Some(ShapeIssue::BadAlternate);
    }
    if dir == Dir::Countersigns && rest.len() != 2 {
        return Some(ShapeIssue::BadCountersign);
    }
    if dir == Dir::Runs && rest.len() != 1 {
        return Some(ShapeIssue::BadRunRecord);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ledger::tests::repo;

    /// `notes` written over `base` as loose objects, as a hook's append writes them.
    fn write_loose(
        repo: &Repo,
        shape: Shape,
        base: Option<Oid>,
        notes: &BTreeMap<String, Oid>,
    ) -> Oid {
        let mut objects = Sink::Odb(repo.git.odb().unwrap());
        write(repo, &mut objects, shape, base, notes, &BTreeMap::new()).unwrap()
    }

    fn notes(repo: &Repo, range: std::ops::Range<u32>) -> BTreeMap<String, Oid> {
        range
            .map(|i| {
                let hex = format!("{:040x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15);
                (hex, repo.git.blob(format!("seal {i}").as_bytes()).unwrap())
            })
            .collect()
    }

    /// The tree writer lays entries out as libgit2's treebuilder does: git's order
    /// (a tree's name compared as if it ended in `/`), octal modes without padding,
    /// a name once (the later insert wins), odd modes of an existing tree kept.
    #[test]
    fn the_tree_writer_writes_what_the_treebuilder_writes() {
        let (_d, repo) = repo();
        let git = &repo.git;
        let blob = git.blob(b"x").unwrap();
        let other = git.blob(b"y").unwrap();
        let empty = git.treebuilder(None).unwrap().write().unwrap();
        // Written raw, in git's order: a treebuilder refuses to insert mode 100664.
        let mut raw = Vec::new();
        for (mode, name, id) in [
            ("120000", "a", other),
            ("100664", "fo", blob),
            ("100755", "foo-bar", blob),
            ("100644", "foo.c", blob),
            ("40000", "foo", empty),
        ] {
            raw.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            raw.extend_from_slice(id.as_bytes());
        }
        let written = git.odb().unwrap().write(ObjectType::Tree, &raw).unwrap();
        let existing = git.find_tree(written).unwrap();
        let mut ours = Builder::of(Some(&existing));
        let mut theirs = git.treebuilder(Some(&existing)).unwrap();
        for (name, id, mode) in [
            ("foo/", blob, MODE_BLOB),
            ("a", blob, MODE_BLOB),
            ("foo0", empty, MODE_TREE),
        ] {
            let name = name.trim_end_matches('/');
            ours.insert(name, id, mode);
            theirs.insert(name, id, mode).unwrap();
        }
        ours.remove("foo-bar");
        theirs.remove("foo-bar").unwrap();
        let mut sink = Sink::Odb(git.odb().unwrap());
        assert_eq!(ours.write(&mut sink).unwrap(), theirs.write().unwrap());
        let mut memory = Sink::memory(git2::ObjectFormat::Sha1);
        assert_eq!(
            Builder::of(Some(&existing)).write(&mut memory).unwrap(),
            existing.id()
        );
    }

    /// The whole-tree note index answers what the path lookup answers, and only a
    /// canonical tree gets one: in a tree where one commit has two paths (a flat note
    /// beside the fanout subtree that also holds it), flattening could answer the other
    /// blob, so lookups there keep walking.
    #[test]
    fn the_note_index_answers_as_the_lookup_and_only_for_a_canonical_tree() {
        let (_d, repo) = repo();
        let shape = Shape { hex_len: 40 };
        let all = notes(&repo, 0..600);
        let fanned = write_loose(&repo, shape, None, &all);
        let whole = read_whole(&repo, shape, fanned).unwrap();
        assert_eq!(whole.problems, vec![]);
        let index = whole.notes.expect("a canonical tree has an index");
        let cache = TreeCache::default();
        for (hex, blob) in &all {
            assert_eq!(index.get(hex), Some(*blob));
            assert_eq!(
                note_in(&repo, shape, fanned, hex, &cache).unwrap(),
                Some(*blob)
            );
        }
        let absent = format!("{:040x}", 7u128);
        assert!(!all.contains_key(&absent));
        assert_eq!(index.get(&absent), None);

        // One commit's note also flat at the top level, with another blob.
        let (hex, _) = all.iter().next().unwrap();
        let other = repo.git.blob(b"another seal").unwrap();
        let mut top = repo
            .git
            .treebuilder(Some(&repo.git.find_tree(fanned).unwrap()))
            .unwrap();
        top.insert(hex, other, MODE_BLOB).unwrap();
        let mixed = top.write().unwrap();
        let whole = read_whole(&repo, shape, mixed).unwrap();
        assert!(whole
            .problems
            .iter()
            .any(|p| p.issue == ShapeIssue::MixedFanout));
        assert!(whole.notes.is_none());
        let cache = TreeCache::default();
        assert_eq!(
            note_in(&repo, shape, mixed, hex, &cache).unwrap(),
            Some(other)
        );
    }

    #[test]
    fn safe_names() {
        assert!(is_safe_name(b"v1.0-rc+2@2026-01-01"));
        for bad in [
            &b""[..],
            b".hidden",
            b"-x",
            b"a b",
            b"$(x)",
            b"a/b",
            "é".as_bytes(),
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        assert!(!is_safe_name(&[b'a'; MAX_NAME + 1]));
    }

    #[test]
    fn a_sorted_level_finds_what_a_scan_in_tree_order_finds_first() {
        // Out of order, with a name twice under one mode and once under another (what a
        // hostile ledger may hold): the search must answer as the scan it replaced.
        let oid = |n: u8| Oid::from_bytes(&[n; 20]).unwrap();
        let raw = [
            ("b3", MODE_TREE, 1),
            ("a0", MODE_BLOB, 2),
            ("b3", MODE_BLOB, 3),
            ("0f", MODE_TREE, 4),
            ("b3", MODE_TREE, 5),
            ("ff", MODE_TREE, 6),
            ("a0", MODE_TREE, 7),
            ("a", MODE_TREE, 8),
        ];
        let entries: Vec<Entry> = raw
            .iter()
            .map(|&(name, mode, id)| Entry {
                name: name.as_bytes().to_vec(),
                id: oid(id),
                mode,
            })
            .collect();
        let level = SortedLevel::new(entries.clone());
        for name in ["b3", "a0", "0f", "ff", "a", "00", "b", "b30", "zz", ""] {
            for mode in [MODE_TREE, MODE_BLOB, 0o120000] {
                let scan = entries
                    .iter()
                    .find(|e| e.name == name.as_bytes() && e.mode == mode)
                    .map(|e| e.id);
                assert_eq!(level.find(name.as_bytes(), mode), scan, "{name} {mode:o}");
            }
        }
        assert_eq!(level.find(b"b3", MODE_TREE), Some(oid(1)));
    }

    #[test]
    fn the_writer_fans_out_past_the_limit_and_every_note_is_found_on_its_one_path() {
        let (_d, repo) = repo();
        let shape = Shape { hex_len: 40 };
        let first = notes(&repo, 0..200);
        let flat = write_loose(&repo, shape, None, &first);
        assert_eq!(repo.git.find_tree(flat).unwrap().len(), 200);
        let more = notes(&repo, 200..600);
        let fanned = write_loose(&repo, shape, Some(flat), &more);
        let root = repo.git.find_tree(fanned).unwrap();
        assert!(root.iter().all(|e| e.name_bytes().len() == 2));
        assert_eq!(check_shape(&repo, shape, fanned).unwrap(), vec![]);
        for (hex, blob) in first.iter().chain(&more) {
            let cache = TreeCache::default();
            assert_eq!(
                note_in(&repo, shape, fanned, hex, &cache).unwrap(),
                Some(*blob)
            );
            if hex.to_uppercase() != *hex {
                assert_eq!(
                    note_in(&repo, shape, fanned, &hex.to_uppercase(), &cache).unwrap(),
                    None
                );
            }
        }
        // The fanout change moved 200 notes and added 400: the diff sees only additions.
        let changes = diff(&repo, shape, Some(flat), Some(fanned), None).unwrap();
        assert_eq!(changes.notes.len(), 400);
        assert!(changes.notes.iter().all(|n| n.old.is_none()));
        // Equal trees: nothing to read.
        let none = diff(&repo, shape, Some(fanned), Some(fanned), None).unwrap();
        assert!(none.notes.is_empty() && none.files.is_empty());
    }

    #[test]
    fn file_paths_a_writer_may_add() {
        let shape = Shape { hex_len: 40 };
        let blob = Oid::from_str(&"b".repeat(40)).unwrap();
        let commit = "c".repeat(40);
        assert_eq!(
            check_file_path(shape, "tags/release/v1/abc.yaml", blob),
            None
        );
        assert_eq!(
            check_file_path(shape, &format!("alternates/{commit}/{blob}"), blob),
            None
        );
        assert_eq!(
            check_file_path(shape, &format!("alternates/{commit}/x"), blob),
            Some(ShapeIssue::BadAlternate)
        );
        let hex64 = "d".repeat(64);
        assert_eq!(
            check_file_path(shape, &format!("countersigns/{commit}/{hex64}.yaml"), blob),
            None
        );
        for bad in [
            format!("countersigns/{commit}/x.yaml"),
            format!("countersigns/{commit}/{hex64}.yml"),
            format!("countersigns/{commit}"),
            format!("countersigns/{commit}/a/{hex64}.yaml"),
            format!("countersigns/{}/{hex64}.yaml", "C".repeat(40)),
        ] {
            assert_eq!(
                check_file_path(shape, &bad, blob),
                Some(ShapeIssue::BadCountersign),
                "{bad}"
            );
        }
        assert_eq!(
            check_file_path(shape, "README", blob),
            Some(ShapeIssue::UnknownTopLevel)
        );
        assert_eq!(
            check_file_path(
                shape,
                "runs/01900000-0000-7000-8000-000000000001.json",
                blob
            ),
            None
        );
        assert_eq!(
            check_file_path(shape, "runs/a/b.json", blob),
            Some(ShapeIssue::BadRunRecord)
        );
        assert_eq!(
            check_file_path(shape, "runs/x.yaml", blob),
            Some(ShapeIssue::BadRunRecord)
        );
        assert_eq!(
            check_file_path(shape, "tags/a b/x.yaml", blob),
            Some(ShapeIssue::UnsafeName)
        );
        assert_eq!(
            check_file_path(shape, "tags", blob),
            Some(ShapeIssue::WrongKind)
        );
    }
}
