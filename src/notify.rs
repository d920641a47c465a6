//! `seal.notifyCommand`: a command the user configures to hear of snapshots and
//! rollbacks (mail the maintainers, post to a channel). It runs after the snapshot or
//! rollback is done, through `sh -c`, with the event as one JSON document on stdin.
//!
//! Invariants:
//! - It is read only from git's *protected* configuration: system, global (and XDG)
//!   and the command line (`git -c`, `GIT_CONFIG_COUNT`), never from the repository's
//!   own `.git/config`, `config.worktree` or any file they include, nor from a file
//!   in the worktree. git draws the same line for settings that run commands or
//!   widen trust (`safe.directory`, `uploadPack.packObjectsHook`): a repository's
//!   local config is written by whoever made that directory — an unpacked archive, a
//!   shared or mounted checkout, a tool that ran `git config` in it — not necessarily
//!   by the user who runs `git seal snapshot` there, and no repository may make
//!   git-seal run a command (brief §5, §6).
//! - It never fails the command it follows: a failure to start, a non-zero exit or a
//!   hang (killed after [`TIMEOUT`]) is a warning, and its result is a run record
//!   (`command: notify`) with the exit code and the last [`OUTPUT_TAIL`] bytes of
//!   its output.

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::git::Repo;
use crate::runlog::{Run, Source, Status};

/// The setting.
pub const KEY: &str = "seal.notifyCommand";
/// How long the command may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How much of its output goes into the run record.
pub const OUTPUT_TAIL: usize = 2048;
/// The schema of the event on its stdin.
pub const EVENT_SCHEMA: &str = "git-seal/event/v1";

/// The configured command, from protected configuration only (see the module doc):
/// the last value set at system, global or command-line scope.
pub fn configured(repo: &Repo) -> Option<String> {
    let out = repo
        .git_command()
        .args(["config", "--show-scope", "-z", "--get-all", KEY])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let fields: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    fields
        .chunks(2)
        .filter(|pair| pair.len() == 2 && matches!(pair[0], b"system" | b"global" | b"command"))
        .filter_map(|pair| String::from_utf8(pair[1].to_vec()).ok())
        .rfind(|v| !v.trim().is_empty())
}

/// The value set in the repository's own config, which is ignored (for a warning).
pub fn ignored_local(repo: &Repo) -> bool {
    repo.git_command()
        .args(["config", "--show-scope", "-z", "--get-all", KEY])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .is_some_and(|o| {
            o.stdout
                .split(|b| *b == 0)
                .step_by(2)
                .any(|s| s == b"local" || s == b"worktree")
        })
}

/// An event: `kind` (`snapshot`, `rollback`) and its fields, with the schema and the
/// repository added.
pub fn event(repo: &Repo, kind: &str, fields: Value) -> Value {
    let mut v = json!({
        "schema": EVENT_SCHEMA,
        "event": kind,
        "repository": repo.workdir.as_ref().unwrap_or(&repo.git_dir).to_string(),
        "at": crate::runlog::now(),
    });
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v
}

/// Runs `command` with `event` on its stdin and records the run. Returns a warning
/// to print when it could not run or did not succeed (never an error).
pub fn run(repo: &Repo, command: &str, event: &Value) -> Option<String> {
    let head = event
        .get("commit")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut rec = Run::start(&repo.seal_dir(), Source::Command("notify"), head);
    rec.inputs(json!({"event": event.get("event"), "command": command}));
    let (status, outputs, message) = match execute(repo, command, event) {
        Ok((Some(0), tail)) => (
            Status::Success,
            json!({"exit_code": 0, "output": tail}),
            String::new(),
        ),
        Ok((code, tail)) => {
            let why = match code {
                Some(c) => format!("exited with {c}"),
                None => format!("was killed (signal, or over {}s)", TIMEOUT.as_secs()),
            };
            (
                Status::Failed,
                json!({"exit_code": code, "output": tail}),
                format!("{KEY} {why}"),
            )
        }
        Err(e) => (
            Status::Failed,
            json!({}),
            format!("{KEY} could not run: {e}"),
        ),
    };
    let log = rec.finish(status, outputs, 1, message.clone());
    let mut warnings: Vec<String> = Vec::new();
    if status != Status::Success {
        warnings.push(format!(
            "warning: {}; the {} itself is done",
            crate::quote::printable(&message),
            event
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("command")
        ));
    }
    warnings.extend(log);
    (!warnings.is_empty()).then(|| warnings.join("\n"))
}

fn execute(repo: &Repo, command: &str, event: &Value) -> std::io::Result<(Option<i32>, String)> {
    let mut output = tempfile::tempfile()?;
    let dir = repo.workdir.as_ref().unwrap_or(&repo.git_dir);
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir.as_std_path())
        .env(
            "GIT_SEAL_EVENT",
            event.get("event").and_then(Value::as_str).unwrap_or(""),
        )
        .stdin(Stdio::piped())
        .stdout(output.try_clone()?)
        .stderr(output.try_clone()?)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut bytes = serde_json::to_vec(event).unwrap_or_default();
        bytes.push(b'\n');
        // A command that does not read its stdin closes the pipe: not an error.
        let _ = stdin.write_all(&bytes);
    }
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let len = output.seek(SeekFrom::End(0))?;
    output.seek(SeekFrom::Start(len.saturating_sub(OUTPUT_TAIL as u64)))?;
    let mut tail = Vec::new();
    output.read_to_end(&mut tail)?;
    let tail = crate::quote::printable(&String::from_utf8_lossy(&tail));
    Ok((status.and_then(|s| s.code()), tail))
}
