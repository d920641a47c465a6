//! The run log (brief §4): one JSON record per hook or command run, appended to
//! `<common dir>/seal/runs.jsonl`, shared by every linked worktree.
//!
//! Invariants:
//! - Append-only: a record is written by one `write` of the whole line while holding
//!   an exclusive lock on the file, so concurrent writers never interleave within a
//!   line, and no line is ever rewritten.
//! - A torn last line (a writer killed mid-write) is never extended: the next append
//!   first ends it with a newline, and readers skip any line that does not parse.
//! - Every append is read back and validated; any failure is returned as a warning
//!   for the caller to print, never as an error that fails a hook.
//! - Past [`ROTATE_BYTES`] the file is renamed to `runs-<run id>.jsonl` (under the
//!   lock) and a new one begun; readers read the rotated files and the live one
//!   together, oldest first, so rotation loses nothing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The schema records are written with. v2 renamed `tool_version` to `tool.version`
/// (as seals spell it); v1 records are still read.
pub const SCHEMA: &str = "git-seal/run/v2";

/// Whether `schema` names a run record this reader understands: v2, and v1 (which
/// spelled the version `tool_version`).
pub fn is_run_schema(schema: &str) -> bool {
    ["git-seal/run/v1", "git-seal/run/v2"]
        .iter()
        .any(|v| schema.starts_with(v))
}
const FILE: &str = "runs.jsonl";
/// Size past which the live log is rotated.
pub const ROTATE_BYTES: u64 = 16 << 20;
/// At most this many items of a list that a push decides (its ref updates, the
/// problems found) go into a record; the record states the total beside them.
pub const LIST_CAP: usize = 100;
/// At most this many characters of any string in such a list (a ref name, a reason).
pub const STRING_CAP: usize = 256;

/// `items` bounded for a record: the first [`LIST_CAP`] of them, each string in them
/// cut to [`STRING_CAP`] characters (marked with `…`), and how many there were in
/// all. What a push can make a server log is then bounded whatever it sends.
pub fn bounded_list(items: impl IntoIterator<Item = Value>) -> (Value, usize) {
    let mut listed = Vec::new();
    let mut total = 0;
    for item in items {
        if listed.len() < LIST_CAP {
            listed.push(bounded_strings(item));
        }
        total += 1;
    }
    (Value::Array(listed), total)
}

fn bounded_strings(value: Value) -> Value {
    match value {
        Value::String(s) if s.chars().nth(STRING_CAP).is_some() => {
            Value::String(format!("{}…", crate::limits::prefix(&s, STRING_CAP)))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(bounded_strings).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, bounded_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// How a run ended. SUCCESS: everything it set out to do was done. PARTIAL: some of
/// it was done and kept (e.g. 3 of 5 commits sealed) but not all. FAILED: none of
/// the intended outcome (nothing written, or a check failed / a push was refused).
/// SKIPPED: deliberately not run (nothing to do, or bypassed with `SEAL_SKIP=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Partial,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Partial => "PARTIAL",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
        }
    }
}

/// Who ran a pipeline step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Who {
    pub name: String,
    pub email: String,
}

/// One run record, as written. The fields after `tool_version` are additive (still
/// `git-seal/run/v1`): pipeline steps (`source: run`) write them, hooks and commands
/// do not, and a reader of either kind reads both.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub schema: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The git-seal subcommand of a command run (`seal`); for a pipeline step, its
    /// command line (each word shell-quoted), so that v1 readers read it as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub status: Status,
    pub head: Option<String>,
    pub inputs: Value,
    pub outputs: Value,
    pub attempts: u32,
    pub message: String,
    /// Which git-seal wrote the record, spelled as in seals (`tool.version`).
    #[serde(default = "unknown_tool")]
    pub tool: crate::seal::Tool,
    /// How records before `tool` named the version; read, never written.
    #[serde(default, skip_serializing)]
    pub tool_version: Option<String>,
    /// `run` for a pipeline step (`git seal run`, `git seal record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The step's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The step's argument vector, as run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// The step's exit code (`None`: killed by a signal, not started, or recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended the step, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The seal digest of `head` (`sha256:…`), `unsealed`, or `invalid` (a seal that
    /// does not verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seal: Option<String>,
    /// Whether every input was, on disk, as `head` has it (tracked, same content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_clean: Option<bool>,
    /// Declared inputs or outputs that did not exist (repository-relative paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Who>,
}

fn unknown_tool() -> crate::seal::Tool {
    crate::seal::Tool {
        name: "git-seal".into(),
        version: String::new(),
    }
}

impl Record {
    /// The version of git-seal that wrote this record, whichever spelling it used.
    pub fn written_by(&self) -> &str {
        match &self.tool_version {
            Some(v) if self.tool.version.is_empty() => v,
            _ => &self.tool.version,
        }
    }
}

/// A run in progress; [`Run::finish`] writes its record.
pub struct Run {
    dir: Utf8PathBuf,
    record: Record,
}

/// What ran: a hook or a command, by name.
pub enum Source<'a> {
    Hook(&'a str),
    Command(&'a str),
}

impl Run {
    /// Starts a run whose record will go to the log in `seal_dir`.
    pub fn start(seal_dir: &Utf8Path, source: Source<'_>, head: Option<String>) -> Run {
        let (hook, command) = match source {
            Source::Hook(h) => (Some(h.to_string()), None),
            Source::Command(c) => (None, Some(c.to_string())),
        };
        Run {
            dir: seal_dir.to_path_buf(),
            record: Record {
                hook,
                command,
                head,
                ..Record::new()
            },
        }
    }

    pub fn inputs(&mut self, inputs: Value) {
        self.record.inputs = inputs;
    }

    /// Ends the run and appends its record. Returns a warning when the log could not
    /// be written or read back; the caller prints it and carries on.
    pub fn finish(
        mut self,
        status: Status,
        outputs: Value,
        attempts: u32,
        message: impl Into<String>,
    ) -> Option<String> {
        self.record.finished_at = now();
        self.record.status = status;
        self.record.outputs = outputs;
        self.record.attempts = attempts;
        self.record.message = message.into();
        append(&self.dir, &self.record)
            .err()
            .map(|e| format!("warning: run log not written: {e}"))
    }
}

impl Record {
    /// An empty record with a fresh run id, started now, SUCCESS until told otherwise.
    pub fn new() -> Record {
        Record {
            schema: SCHEMA.into(),
            run_id: uuid::Uuid::now_v7().to_string(),
            hook: None,
            command: None,
            started_at: now(),
            finished_at: String::new(),
            status: Status::Success,
            head: None,
            inputs: Value::Object(Default::default()),
            outputs: Value::Object(Default::default()),
            attempts: 0,
            message: String::new(),
            tool: crate::seal::Tool {
                name: "git-seal".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            tool_version: None,
            source: None,
            name: None,
            argv: None,
            exit_code: None,
            signal: None,
            head_seal: None,
            worktree_clean: None,
            missing: Vec::new(),
            by: None,
        }
    }
}

impl Default for Record {
    fn default() -> Self {
        Record::new()
    }
}

/// Now, as records write times (RFC 3339, milliseconds, UTC).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Appends one record under the lock, then reads it back and checks it.
pub fn append(seal_dir: &Utf8Path, record: &Record) -> std::io::Result<()> {
    fs_err::create_dir_all(seal_dir)?;
    let path = seal_dir.join(FILE);
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)?;
    file.lock()?;
    let result = append_locked(seal_dir, &path, &mut file, &line, &record.run_id);
    let _ = file.unlock();
    result
}

fn append_locked(
    seal_dir: &Utf8Path,
    path: &Utf8Path,
    file: &mut File,
    line: &[u8],
    run_id: &str,
) -> std::io::Result<()> {
    let mut len = file.metadata()?.len();
    if len >= ROTATE_BYTES {
        let rotated = seal_dir.join(format!("runs-{run_id}.jsonl"));
        fs_err::rename(path, &rotated)?;
        *file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        file.lock()?;
        len = 0;
    }
    let mut buf = Vec::with_capacity(line.len() + 1);
    if len > 0 && !ends_with_newline(file, len)? {
        // A writer died mid-line: close its fragment so it stays a line of its own.
        buf.push(b'\n');
    }
    buf.extend_from_slice(line);
    file.write_all(&buf)?;
    // Read back what we wrote and check that it is the record we meant.
    let start = len + (buf.len() - line.len()) as u64;
    let mut back = vec![0u8; line.len()];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut back)?;
    let parsed: Record = serde_json::from_slice(&back)
        .map_err(|e| std::io::Error::other(format!("read-back does not parse: {e}")))?;
    if back != line || parsed.run_id != run_id {
        return Err(std::io::Error::other(
            "read-back differs from the record written",
        ));
    }
    Ok(())
}

fn ends_with_newline(file: &mut File, len: u64) -> std::io::Result<bool> {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// What a reader needs of a record to filter and list it, and the line as stored.
/// Inputs and outputs must be present but are not decoded (they are the bulk of a
/// record): the full [`Record`] is parsed from `line` only when asked for.
#[derive(Debug, Clone)]
pub struct Entry {
    pub run_id: String,
    pub hook: Option<String>,
    pub command: Option<String>,
    /// `run` for a pipeline step.
    pub source: Option<String>,
    /// A pipeline step's name.
    pub name: Option<String>,
    pub started_at: String,
    pub status: Status,
    pub head: Option<String>,
    pub message: String,
    pub line: String,
}

impl Entry {
    /// The entry of a record read from elsewhere (a shared one, from the ledger).
    pub fn of_record(r: &Record) -> Entry {
        Entry {
            run_id: r.run_id.clone(),
            hook: r.hook.clone(),
            command: r.command.clone(),
            source: r.source.clone(),
            name: r.name.clone(),
            started_at: r.started_at.clone(),
            status: r.status,
            head: r.head.clone(),
            message: r.message.clone(),
            line: serde_json::to_string(r).unwrap_or_default(),
        }
    }

    /// The whole record.
    pub fn record(&self) -> Option<Record> {
        serde_json::from_str(&self.line).ok()
    }
}

#[derive(Deserialize)]
struct EntryFields<'a> {
    #[serde(borrow)]
    schema: std::borrow::Cow<'a, str>,
    run_id: String,
    #[serde(default)]
    hook: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    name: Option<String>,
    started_at: String,
    #[allow(dead_code)]
    finished_at: serde::de::IgnoredAny,
    status: Status,
    head: Option<String>,
    #[allow(dead_code)]
    inputs: serde::de::IgnoredAny,
    #[allow(dead_code)]
    outputs: serde::de::IgnoredAny,
    #[allow(dead_code)]
    attempts: serde::de::IgnoredAny,
    message: String,
    // `tool_version` (older records) or `tool` (newer): either, or neither, is read.
}

/// Everything read from the log: the records and the lines that did not parse.
#[derive(Debug, Default)]
pub struct Contents {
    pub records: Vec<Entry>,
    /// (file, 1-based line number) of every line that is not a valid record.
    pub bad_lines: Vec<(Utf8PathBuf, usize)>,
}

/// Reads the rotated logs and the live one, oldest first.
pub fn read(seal_dir: &Utf8Path) -> std::io::Result<Contents> {
    read_matching(seal_dir, &[])
}

/// Like [`read`], keeping only the lines that contain one of `needles` (a digest, a
/// path a caller looks for; none: every line) before any is parsed, so a search of a
/// long log costs a byte scan.
pub fn read_matching(seal_dir: &Utf8Path, needles: &[&[u8]]) -> std::io::Result<Contents> {
    let finders: Vec<memchr::memmem::Finder<'_>> =
        needles.iter().map(memchr::memmem::Finder::new).collect();
    let mut files: Vec<Utf8PathBuf> = match fs_err::read_dir(seal_dir) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .filter_map(|e| Utf8PathBuf::from_path_buf(e.path()).ok())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.starts_with("runs-") && n.ends_with(".jsonl"))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(e) => return Err(e),
    };
    // Rotated names carry a time-ordered run id, so name order is age order.
    files.sort();
    files.push(seal_dir.join(FILE));
    let mut contents = Contents::default();
    for path in files {
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.is_empty()
                || (!finders.is_empty() && finders.iter().all(|f| f.find(line).is_none()))
            {
                continue;
            }
            match serde_json::from_slice::<EntryFields<'_>>(line) {
                Ok(f) if is_run_schema(&f.schema) => contents.records.push(Entry {
                    run_id: f.run_id,
                    hook: f.hook,
                    command: f.command,
                    source: f.source,
                    name: f.name,
                    started_at: f.started_at,
                    status: f.status,
                    head: f.head,
                    message: f.message,
                    line: String::from_utf8_lossy(line).into_owned(),
                }),
                _ => contents.bad_lines.push((path.clone(), i + 1)),
            }
        }
    }
    Ok(contents)
}

/// Parses an RFC 3339 time as the log writes it.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
