//! Pipeline steps (brief §2.6): what a user's step (`git seal run`, `git seal record`)
//! read and wrote, hashed, tied to the commit it ran on, recorded in the run log and,
//! when asked, shared through the ledger (`runs/<run id>.json`); and the questions
//! asked of those records afterwards (`provenance`, skip-unchanged).
//!
//! Status lifecycle of a step (the boundary between PARTIAL and FAILED is the exit
//! code: a step that says it failed is FAILED whatever it wrote):
//! - SUCCESS: exit 0, and every declared output exists and was written by the step.
//! - PARTIAL: exit 0, but a declared output is missing, or was not written (same
//!   content and same modification time as before the step).
//! - FAILED: a non-zero exit, death by a signal, or a command that could not start.
//! - SKIPPED: `--skip-unchanged`, and the last SUCCESS run of that name, with the same
//!   command, had exactly these inputs and left exactly these outputs: not run.
//!
//! Invariants:
//! - Paths in a record are relative to the worktree's top, `/`-separated, UTF-8,
//!   never absolute, never with `.` or `..` components, never inside `.git`: what a
//!   step declares outside the worktree is refused before it runs.
//! - A record is written once, when the step has ended (a step killed with git-seal
//!   leaves no record, never half of one), by `runlog::append`.
//! - A shared record is the run record plus `digest` (SHA-256 of the canonical JSON
//!   of every other field but `signature`) and, when a signing key is configured, an
//!   SSH `signature` over those same bytes. A shared record read back (ours or a
//!   fetched ledger's) is read under [`crate::limits::Doc::RunRecord`]'s cap and
//!   checked ([`check_shared`]) before any of it is used: schema, digest, and every
//!   path and name it carries. It is only ever printed (quoted), never written to disk.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use git2::Oid;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cache::CacheMode;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::ledger::Ledger;
use crate::runlog::{self, Record, Status, Who};
use crate::verify::Verifier;

/// The `source` of a pipeline step's record.
pub const SOURCE: &str = "run";
/// Where shared records live in the ledger tree.
pub const LEDGER_DIR: &str = "runs";
/// The longest step name.
pub const MAX_NAME: usize = 256;
/// The longest path a record may carry (bytes).
pub const MAX_PATH: usize = 4096;
/// The longest `-m` text of `git seal record`.
pub const MAX_MESSAGE: usize = 4096;

/// One file a step read or wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// Declared paths, hashed: every file under them, and those that did not exist.
#[derive(Debug, Default, Clone)]
pub struct Hashed {
    /// Every file, sorted by path, each once.
    pub files: Vec<Artifact>,
    /// Modification time (ns) of each file, by path.
    pub mtimes: HashMap<String, i128>,
    /// Declared paths that did not exist.
    pub missing: Vec<String>,
    /// Files that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

impl Hashed {
    /// The files under declared path `p` (the file itself, or a directory's files).
    pub fn under<'a>(&'a self, p: &'a str) -> impl Iterator<Item = &'a Artifact> + 'a {
        self.files
            .iter()
            .filter(move |a| p.is_empty() || a.path == p || a.path.starts_with(&format!("{p}/")))
    }
}

/// Where a path a step names must be, and why it is not.
fn bad_path(given: &Path, why: &str) -> Error {
    Error::usage(format!(
        "{} cannot be recorded: {why}",
        crate::quote::c_style(given.as_os_str().as_encoded_bytes())
    ))
    .hint("name files and directories inside the worktree, e.g. --output data/export.csv")
}

/// `given` (relative to `cwd`, or absolute) as a repository-relative path under
/// `root` (the worktree's top, canonical): lexically normalised, refused when
/// outside the worktree, inside `.git`, or not UTF-8. The top itself is `""`.
pub fn declare(root: &Path, cwd: &Path, given: &Path) -> Result<String> {
    let joined = if given.is_absolute() {
        given.to_path_buf()
    } else {
        cwd.join(given)
    };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in joined.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p),
        }
    }
    let normal: PathBuf = std::iter::once(std::ffi::OsStr::new("/"))
        .chain(parts.iter().copied())
        .collect();
    let Ok(rel) = normal.strip_prefix(root) else {
        return Err(bad_path(given, "it is outside the worktree"));
    };
    let Some(rel) = rel.to_str() else {
        return Err(bad_path(given, "its name is not UTF-8"));
    };
    if rel.split('/').next() == Some(".git") {
        return Err(bad_path(given, "it is inside .git"));
    }
    if rel.len() > MAX_PATH || rel.chars().any(char::is_control) {
        return Err(bad_path(
            given,
            "its name is too long or has control characters",
        ));
    }
    Ok(rel.to_string())
}

/// Hashes every file under the declared paths (directories recursively, tracked or
/// not; `.git` directories and the ledger's own state are skipped; a symbolic link
/// is hashed as its target text, as git stores it, and never followed inside a
/// directory). Files are hashed in parallel.
pub fn hash_declared(root: &Path, declared: &[String]) -> Hashed {
    let mut out = Hashed::default();
    let mut found: BTreeMap<String, bool> = BTreeMap::new();
    for d in declared {
        let path = root.join(d);
        match std::fs::symlink_metadata(&path) {
            Err(_) => out.missing.push(d.clone()),
            Ok(m) if m.is_dir() => walk(root, &path, &mut found, &mut out.unreadable),
            Ok(m) => {
                found.insert(d.clone(), m.file_type().is_symlink());
            }
        }
    }
    let hash = |(rel, symlink): (String, bool)| {
        let r = hash_file(&root.join(&rel), symlink);
        (rel, r)
    };
    // One file needs no thread pool (starting one costs a step with no inputs).
    let hashed: Vec<(String, std::io::Result<FileHash>)> = if found.len() < 2 {
        found.into_iter().map(hash).collect()
    } else {
        found.into_par_iter().map(hash).collect()
    };
    for (rel, r) in hashed {
        match r {
            Ok((sha256, size, mtime)) => {
                out.mtimes.insert(rel.clone(), mtime);
                out.files.push(Artifact {
                    path: rel,
                    sha256,
                    size,
                });
            }
            Err(e) => out.unreadable.push((rel, e.to_string())),
        }
    }
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    found: &mut BTreeMap<String, bool>,
    unreadable: &mut Vec<(String, String)>,
) {
    let rel_of = |p: &Path| {
        p.strip_prefix(root)
            .ok()
            .and_then(Path::to_str)
            .map(str::to_string)
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            unreadable.push((rel_of(dir).unwrap_or_default(), e.to_string()));
            return;
        }
    };
    for entry in entries.flatten() {
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let Some(rel) = rel_of(&path) else {
            unreadable.push((
                path.to_string_lossy().into_owned(),
                "name is not UTF-8".into(),
            ));
            continue;
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, found, unreadable),
            Ok(t) => {
                found.insert(rel, t.is_symlink());
            }
            Err(e) => unreadable.push((rel, e.to_string())),
        }
    }
}

/// SHA-256 (hex), size and modification time (ns) of a file.
type FileHash = (String, u64, i128);

/// SHA-256, size and modification time of one file (streamed, 1 MiB at a time).
fn hash_file(path: &Path, symlink: bool) -> std::io::Result<FileHash> {
    let meta = std::fs::symlink_metadata(path)?;
    let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    if symlink {
        let (sha, size) = crate::manifest::hash_path(path, true)?;
        return Ok((sha, size, mtime));
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size, mtime))
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// It could not be started (why).
    NotStarted(String),
}

/// The status of a step that ended so, given its outputs before and after (see the
/// module doc), and the message saying why when it is not SUCCESS.
pub fn decide(
    ended: &Ended,
    declared_outputs: &[String],
    before: &Hashed,
    after: &Hashed,
) -> (Status, String) {
    match ended {
        Ended::Exited(0) => {}
        Ended::Exited(code) => return (Status::Failed, format!("exited with {code}")),
        Ended::Signalled(sig) => return (Status::Failed, format!("killed by signal {sig}")),
        Ended::NotStarted(why) => return (Status::Failed, why.clone()),
    }
    let mut problems = Vec::new();
    for d in declared_outputs {
        let now: Vec<&Artifact> = after.under(d).collect();
        if now.is_empty() {
            problems.push(format!("output {} missing", show(d)));
            continue;
        }
        let then: Vec<&Artifact> = before.under(d).collect();
        let untouched = then == now
            && now
                .iter()
                .all(|a| before.mtimes.get(&a.path) == after.mtimes.get(&a.path));
        if untouched {
            problems.push(format!("output {} not written", show(d)));
        }
    }
    if problems.is_empty() {
        (Status::Success, String::new())
    } else {
        (Status::Partial, problems.join("; "))
    }
}

/// A declared path for messages (`.` for the top).
fn show(p: &str) -> String {
    crate::quote::c_style(if p.is_empty() { b"." } else { p.as_bytes() })
}

/// What a record says of the commit a step ran on.
#[derive(Debug, Clone, Default)]
pub struct HeadInfo {
    pub head: Option<Oid>,
    /// `sha256:…`, `unsealed` or `invalid`.
    pub seal: Option<String>,
    /// Whether every input is tracked at HEAD with the content it has on disk.
    pub clean: Option<bool>,
}

/// HEAD, its seal's digest (when it verifies), and whether `inputs` are as HEAD has
/// them. Writes nothing but the manifest cache.
pub fn head_info(repo: &Repo, cfg: &Config, inputs: &Hashed) -> Result<HeadInfo> {
    let Ok(head) = repo.head_commit() else {
        return Ok(HeadInfo {
            clean: Some(inputs.files.is_empty() && inputs.missing.is_empty()),
            ..HeadInfo::default()
        });
    };
    let view = Ledger::new(repo, cfg).view()?;
    let stated = crate::engine::stated_digest(&view, head.id())?;
    let seal = match stated {
        None => "unsealed".to_string(),
        Some(digest) => {
            // The cache may be written (a failed write is ignored): a cold cache in a
            // large repository would cost every later step a whole manifest.
            let reasons = Verifier::new(repo, view, CacheMode::ReadWrite).check(head.id())?;
            if reasons.iter().all(|r| r.is_warning()) {
                digest
            } else {
                "invalid".to_string()
            }
        }
    };
    let clean = if inputs.files.is_empty() {
        inputs.missing.is_empty()
    } else {
        let want: HashMap<&str, &str> = inputs
            .files
            .iter()
            .map(|a| (a.path.as_str(), a.sha256.as_str()))
            .collect();
        let view = Ledger::new(repo, cfg).view()?;
        let manifest = crate::engine::vouched_manifest(repo, &view, CacheMode::ReadWrite, &head)?;
        let mut matched = 0;
        for e in manifest.entries() {
            let Ok(p) = std::str::from_utf8(e.path) else {
                continue;
            };
            if want.get(p).is_some_and(|h| *h == e.hash) {
                matched += 1;
            }
        }
        inputs.missing.is_empty() && matched == want.len()
    };
    Ok(HeadInfo {
        head: Some(head.id()),
        seal: Some(seal),
        clean: Some(clean),
    })
}

/// A step's record, before it is written.
pub struct StepRecord {
    pub name: String,
    pub argv: Option<Vec<String>>,
    pub inputs: Hashed,
    pub outputs: Hashed,
    pub status: Status,
    pub message: String,
    pub ended: Option<Ended>,
    pub head: HeadInfo,
    pub by: Option<Who>,
    pub started_at: String,
}

impl StepRecord {
    /// The run record (`source: run`).
    pub fn to_record(&self) -> Record {
        let (exit_code, signal) = match &self.ended {
            Some(Ended::Exited(c)) => (Some(*c), None),
            Some(Ended::Signalled(s)) => (None, Some(*s)),
            _ => (None, None),
        };
        let mut missing: Vec<String> = self.inputs.missing.clone();
        missing.extend(self.outputs.missing.iter().cloned());
        let list = |h: &Hashed| serde_json::to_value(&h.files).unwrap_or(Value::Array(vec![]));
        Record {
            command: self.argv.as_ref().map(|a| {
                a.iter()
                    .map(|w| crate::quote::shell(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            argv: self.argv.clone(),
            started_at: self.started_at.clone(),
            finished_at: runlog::now(),
            status: self.status,
            head: self.head.head.map(|h| h.to_string()),
            inputs: list(&self.inputs),
            outputs: list(&self.outputs),
            attempts: 1,
            message: self.message.clone(),
            source: Some(SOURCE.into()),
            name: Some(self.name.clone()),
            exit_code,
            signal,
            head_seal: self.head.seal.clone(),
            worktree_clean: self.head.clean,
            missing,
            by: self.by.clone(),
            ..Record::new()
        }
    }
}

/// Checks a step name: 1 to [`MAX_NAME`] characters, no control characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "step name {} is not 1-{MAX_NAME} characters without control characters",
            crate::quote::c_style(name.as_bytes())
        ))
        .hint(format!(
            "name it with 1-{MAX_NAME} characters of your choice, e.g. --name export"
        )));
    }
    Ok(())
}

/// The inputs or outputs of a record, typed (empty when they are not a list of
/// artifacts: a hook's record).
pub fn artifacts(v: &Value) -> Vec<Artifact> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// Whether the last SUCCESS run of `name` with `argv` had `inputs` and left the
/// outputs as `outputs` finds them now: then the step may be skipped.
pub fn unchanged_since_last_success(
    seal_dir: &camino::Utf8Path,
    name: &str,
    argv: &[String],
    inputs: &Hashed,
    outputs: &Hashed,
) -> Option<String> {
    if !outputs.missing.is_empty() || !inputs.unreadable.is_empty() {
        return None;
    }
    let contents = runlog::read_matching(seal_dir, &[b"\"source\":\"run\""]).ok()?;
    let last = contents
        .records
        .iter()
        .rev()
        .filter(|e| e.source.as_deref() == Some(SOURCE) && e.name.as_deref() == Some(name))
        .filter(|e| e.status == Status::Success)
        .filter_map(|e| e.record())
        .find(|r| r.argv.as_deref() == Some(argv))?;
    let same = artifacts(&last.inputs) == inputs.files && artifacts(&last.outputs) == outputs.files;
    same.then_some(last.run_id)
}

/// A run record as shared in the ledger: the record, its digest, its signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SharedDoc {
    #[serde(flatten)]
    pub record: Record,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signing::Signature>,
}

/// The bytes a shared record's digest and signature cover: the canonical JSON of the
/// record (every field but `digest` and `signature`).
pub fn signed_bytes(record: &Record) -> Vec<u8> {
    let value = serde_json::to_value(record).unwrap_or(Value::Null);
    crate::seal::canonical_json(&value).into_bytes()
}

/// The ledger path of a shared record.
pub fn ledger_path(run_id: &str) -> String {
    format!("{LEDGER_DIR}/{run_id}.json")
}

/// Appends `record` to the ledger as `runs/<run id>.json`, signed with `key` for
/// `principal` when given. Over the record cap it is refused (a step with that many
/// files is recorded locally only).
pub fn share(
    repo: &Repo,
    cfg: &Config,
    record: &Record,
    signer: Option<(&crate::signing::SigningKey, &str)>,
) -> Result<()> {
    let message = signed_bytes(record);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&message)));
    let signature = match signer {
        Some((key, principal)) => {
            Some(crate::signing::sign(key, principal, &message).map_err(|e| {
                let hint = e.hint();
                let err = Error::usage(format!("cannot sign the shared run record: {e}"));
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            })?)
        }
        None => None,
    };
    let doc = SharedDoc {
        record: record.clone(),
        digest,
        signature,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| Error::usage(format!("cannot encode the run record: {e}")))?;
    bytes.push(b'\n');
    let cap = crate::limits::Doc::RunRecord.cap();
    if bytes.len() as u64 > cap {
        return Err(Error::usage(format!(
            "the run record is {} bytes, over the {cap}-byte cap of a shared record; kept in the local log only",
            bytes.len()
        ))
        .hint(format!(
            "it is in the local log, which has no cap: {}",
            crate::quote::git_seal("log --json")
        )));
    }
    let (name, email) = repo.identity()?;
    let who = git2::Signature::now(&name, &email)?;
    Ledger::new(repo, cfg).append_with_files(
        &[],
        &[(ledger_path(&record.run_id), bytes)],
        false,
        &who,
        &format!("run {}", record.run_id),
    )?;
    Ok(())
}

/// What a shared record's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    Unsigned,
    /// It verifies over the record with the key it carries (not judged by a policy).
    Good {
        principal: String,
        fingerprint: String,
    },
    Bad(String),
}

/// A shared record read from a ledger, checked.
#[derive(Debug, Clone)]
pub struct SharedRun {
    pub record: Record,
    /// The ledger it came from: `local`, or the fetched ledger's tracking ref.
    pub path: String,
    pub signature: SignatureState,
}

/// Why a shared record (ours or a fetched one) is not used.
#[derive(Debug, Clone)]
pub struct SharedProblem {
    pub path: String,
    pub why: String,
}

impl std::fmt::Display for SharedProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shared run record {}: {}",
            crate::quote::c_style(self.path.as_bytes()),
            crate::quote::printable(&self.why)
        )
    }
}

/// Whether a path from a record is one git-seal could have written: relative,
/// `/`-separated, without `.`/`..` components or control characters, bounded.
pub fn is_record_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PATH
        && !p.starts_with('/')
        && !p.chars().any(char::is_control)
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && p.split('/').next() != Some(".git")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a shared document read from the ledger at `path` (`runs/<name>`), bounded
/// already: it must parse, be a `source: run` record of schema v1 named by its own
/// run id, hold its digest, and carry only record paths, 64-hex digests and a name
/// within bounds.
pub fn check_shared(path: &str, bytes: &[u8]) -> std::result::Result<SharedRun, String> {
    let doc: SharedDoc =
        serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))?;
    let r = &doc.record;
    if !crate::runlog::is_run_schema(&r.schema) {
        return Err("is not a git-seal/run/v1 or v2 record".into());
    }
    if r.source.as_deref() != Some(SOURCE) {
        return Err("is not a pipeline step's record (source: run)".into());
    }
    if path != ledger_path(&r.run_id) {
        return Err("is not named by its own run id".into());
    }
    let computed = format!("sha256:{}", hex::encode(Sha256::digest(signed_bytes(r))));
    if computed != doc.digest {
        return Err("its digest does not hold (altered after it was written)".into());
    }
    if r.name
        .as_deref()
        .is_none_or(|n| n.is_empty() || n.chars().count() > MAX_NAME)
    {
        return Err("has no name, or one over 256 characters".into());
    }
    for a in artifacts(&r.inputs)
        .iter()
        .chain(artifacts(&r.outputs).iter())
    {
        if !is_record_path(&a.path) {
            return Err(
                "names a path outside the worktree (absolute, `..`, control characters or .git)"
                    .into(),
            );
        }
        if !is_hex64(&a.sha256) {
            return Err("has a digest that is not 64 lowercase hex digits".into());
        }
    }
    let signature = match &doc.signature {
        None => SignatureState::Unsigned,
        Some(sig) => match crate::signing::check(sig, &signed_bytes(r)) {
            Ok(c) => SignatureState::Good {
                principal: c.principal,
                fingerprint: c.fingerprint,
            },
            Err(v) => SignatureState::Bad(v.to_string()),
        },
    };
    Ok(SharedRun {
        record: doc.record,
        path: path.to_string(),
        signature,
    })
}

/// Every shared record in the local ledger and the fetched ones, checked; those that
/// fail a check (or are over the cap, left unread) are returned as problems.
pub fn shared(repo: &Repo, cfg: &Config) -> Result<(Vec<SharedRun>, Vec<SharedProblem>)> {
    let view = Ledger::new(repo, cfg).view()?;
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    for (name, content) in view.files_in_bounded(LEDGER_DIR)? {
        let path = format!("{LEDGER_DIR}/{name}");
        match content {
            Err(too_large) => problems.push(SharedProblem {
                path,
                why: format!(
                    "is {} bytes, over the {}-byte cap",
                    too_large.size, too_large.cap
                ),
            }),
            Ok(bytes) => match check_shared(&path, &bytes) {
                Ok(run) => runs.push(run),
                Err(why) => problems.push(SharedProblem { path, why }),
            },
        }
    }
    Ok((runs, problems))
}

/// One recorded run, from the local log or shared.
#[derive(Debug, Clone)]
pub struct Known {
    pub record: Record,
    pub shared: Option<SignatureState>,
}

/// Every pipeline-step record (local log first, then shared ones not in it), the log
/// read only where a line contains one of `needles` (none: all), and the shared
/// records' problems.
pub fn known_runs(
    repo: &Repo,
    cfg: &Config,
    needles: &[&[u8]],
) -> Result<(Vec<Known>, Vec<SharedProblem>)> {
    let contents = runlog::read_matching(&repo.seal_dir(), needles)?;
    let (shared, problems) = shared(repo, cfg)?;
    let mut by_id: HashMap<String, SharedRun> = shared
        .into_iter()
        .map(|s| (s.record.run_id.clone(), s))
        .collect();
    let mut out = Vec::new();
    for e in contents.records {
        if e.source.as_deref() != Some(SOURCE) {
            continue;
        }
        if let Some(r) = e.record() {
            // A run shared from here: the local record, with the shared copy's signature.
            let shared = by_id.remove(&r.run_id).map(|s| s.signature);
            out.push(Known { record: r, shared });
        }
    }
    let mut rest: Vec<SharedRun> = by_id.into_values().collect();
    rest.sort_by(|a, b| a.record.started_at.cmp(&b.record.started_at));
    for s in rest {
        out.push(Known {
            record: s.record,
            shared: Some(s.signature),
        });
    }
    Ok((out, problems))
}

/// How an input of a producing run stands today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputNow {
    Matches,
    Changed { sha256: String },
    Missing,
}

/// A run that produced a file's current content.
#[derive(Debug, Clone)]
pub struct Producer {
    pub record: Record,
    pub shared: Option<SignatureState>,
    /// The output entry that matched (its recorded path may differ from the file's).
    pub output: Artifact,
    pub inputs: Vec<(Artifact, InputNow)>,
}

/// The answer to `git seal provenance PATH`.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub file: Artifact,
    /// Newest first.
    pub producers: Vec<Producer>,
    /// Runs that wrote this path with other content (newest first): it changed since.
    pub wrote_path_before: Vec<Record>,
    pub shared_problems: Vec<SharedProblem>,
}

/// Which recorded runs produced the current content of `rel` (repository-relative,
/// under `root`): those with an output of the same SHA-256, newest first, with each
/// input checked against the worktree now.
pub fn provenance(repo: &Repo, cfg: &Config, root: &Path, rel: &str) -> Result<Provenance> {
    let hashed = hash_declared(root, &[rel.to_string()]);
    let file = match hashed.files.as_slice() {
        [one] if one.path == rel => one.clone(),
        _ => {
            return Err(
                Error::usage(format!("{} is not a file in the worktree", show(rel))).hint(format!(
                    "name a file; list those in the worktree with: {}",
                    crate::quote::git("ls-files --cached --others --exclude-standard")
                )),
            )
        }
    };
    // A record names the file's digest or its path; no other line is parsed.
    let path_needle = serde_json::to_string(rel).unwrap_or_default();
    let (known, shared_problems) =
        known_runs(repo, cfg, &[file.sha256.as_bytes(), path_needle.as_bytes()])?;
    let mut producers = Vec::new();
    let mut wrote_path_before = Vec::new();
    let mut input_cache: HashMap<String, InputNow> = HashMap::new();
    for k in known.into_iter().rev() {
        let outputs = artifacts(&k.record.outputs);
        if let Some(out) = outputs.iter().find(|a| a.sha256 == file.sha256) {
            let inputs = artifacts(&k.record.inputs)
                .into_iter()
                .map(|a| {
                    let now = input_cache
                        .entry(a.path.clone())
                        .or_insert_with(|| {
                            let h = hash_declared(root, std::slice::from_ref(&a.path));
                            match h.files.iter().find(|f| f.path == a.path) {
                                None => InputNow::Missing,
                                Some(f) => InputNow::Changed {
                                    sha256: f.sha256.clone(),
                                },
                            }
                        })
                        .clone();
                    let now = match now {
                        InputNow::Changed { sha256 } if sha256 == a.sha256 => InputNow::Matches,
                        other => other,
                    };
                    (a, now)
                })
                .collect();
            producers.push(Producer {
                output: out.clone(),
                record: k.record,
                shared: k.shared,
                inputs,
            });
        } else if outputs.iter().any(|a| a.path == rel) {
            wrote_path_before.push(k.record);
        }
    }
    Ok(Provenance {
        file,
        producers,
        wrote_path_before,
        shared_problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(files: &[(&str, &str, i128)]) -> Hashed {
        let mut h = Hashed::default();
        for (p, sha, mtime) in files {
            h.files.push(Artifact {
                path: p.to_string(),
                sha256: sha.to_string(),
                size: 1,
            });
            h.mtimes.insert(p.to_string(), *mtime);
        }
        h
    }

    #[test]
    fn the_exit_code_is_the_boundary_between_partial_and_failed() {
        let outs = vec!["out".to_string(), "dir".to_string()];
        let before = hashed(&[("out", "a", 1), ("dir/x", "b", 1)]);
        let written = hashed(&[("out", "a", 2), ("dir/x", "c", 2)]);
        let ok = decide(&Ended::Exited(0), &outs, &before, &written);
        assert_eq!(
            ok,
            (Status::Success, String::new()),
            "same content rewritten counts"
        );
        let untouched = decide(&Ended::Exited(0), &outs, &before, &before);
        assert_eq!(untouched.0, Status::Partial);
        assert_eq!(
            untouched.1,
            "output out not written; output dir not written"
        );
        let gone = decide(
            &Ended::Exited(0),
            &outs,
            &before,
            &hashed(&[("out", "a", 2)]),
        );
        assert_eq!(gone, (Status::Partial, "output dir missing".to_string()));
        assert_eq!(
            decide(&Ended::Exited(2), &outs, &before, &written).0,
            Status::Failed
        );
        assert_eq!(
            decide(&Ended::Signalled(9), &outs, &before, &written).0,
            Status::Failed
        );
        assert_eq!(
            decide(&Ended::NotStarted("x".into()), &[], &before, &written).0,
            Status::Failed
        );
    }

    #[test]
    fn declared_paths_stay_in_the_worktree() {
        let root = Path::new("/w/repo");
        let cwd = Path::new("/w/repo/sub");
        assert_eq!(declare(root, cwd, Path::new("a.csv")).unwrap(), "sub/a.csv");
        assert_eq!(declare(root, cwd, Path::new("../b/./c")).unwrap(), "b/c");
        assert_eq!(declare(root, cwd, Path::new("..")).unwrap(), "");
        assert_eq!(declare(root, cwd, Path::new("/w/repo/x")).unwrap(), "x");
        assert!(declare(root, cwd, Path::new("../../etc")).is_err());
        assert!(declare(root, cwd, Path::new("/w/repository/x")).is_err());
        assert!(declare(root, cwd, Path::new("../.git/config")).is_err());
        assert!(declare(root, cwd, Path::new("a\nb")).is_err());
    }

    #[test]
    fn record_paths_from_a_ledger_are_checked() {
        assert!(is_record_path("data/a.csv"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            ".git/config",
            "a\u{1b}b",
        ] {
            assert!(!is_record_path(bad), "{bad:?}");
        }
    }
}
