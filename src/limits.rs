//! Size caps on everything read from a ledger, so that no document a hostile pusher or
//! a fetched ledger holds can exhaust memory or reach a parser unbounded (brief §6).
//!
//! Invariants:
//! - A blob's size is read from its object header (`odb.read_header`: no inflation of
//!   the content) and compared with its kind's cap before a single content byte is
//!   read; a blob over the cap is never read into memory.
//! - Over the cap is a typed [`TooLarge`], not an I/O failure: a reader reports it as
//!   that document being unreadable ("seal of X is N bytes, over the M-byte cap") and
//!   carries on with the others.
//!
//! The caps, per document kind ([`Doc::cap`]): a seal, an alternate seal, a tag seal
//! and a rollback record are each under 2 KiB in practice (a rollback's reason is the
//! user's text), so 64 KiB leaves room for long names and is still parsed in well
//! under a millisecond; a snapshot's frozen MANIFEST.json and CHECKSUMS.sha256 grow
//! with the tree (about 150 bytes a file), so 256 MiB covers a tree of over a million
//! files.

use git2::{ObjectType, Oid, Repository};

use crate::error::{Error, Result};

/// What a ledger blob is, which decides its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// A commit's note.
    Seal,
    /// A seal kept aside by a ledger merge (`alternates/<commit>/<blob>`).
    Alternate,
    /// `tags/<name>/<digest>.yaml`.
    TagSeal,
    /// `snapshots/<name>/MANIFEST.json` or `CHECKSUMS.sha256`.
    SnapshotFile,
    /// `rollbacks/<run id>.yaml`.
    Rollback,
    /// `countersigns/<commit>/<digest>.yaml`.
    Countersign,
    /// `runs/<run id>.json`: a shared pipeline-step record.
    RunRecord,
}

/// Cap of a seal, an alternate seal, a tag seal, a rollback record and a countersign.
pub const DOCUMENT_CAP: u64 = 64 * 1024;
/// Cap of a shared run record: its inputs and outputs are about 130 bytes a file, so
/// about 2,000 files; a step with more is recorded in the local log only.
pub const RUN_RECORD_CAP: u64 = 256 * 1024;
/// Cap of a snapshot's frozen manifest or checksum file.
pub const SNAPSHOT_FILE_CAP: u64 = 256 * 1024 * 1024;

impl Doc {
    pub fn cap(self) -> u64 {
        match self {
            Doc::SnapshotFile => SNAPSHOT_FILE_CAP,
            Doc::RunRecord => RUN_RECORD_CAP,
            Doc::Seal | Doc::Alternate | Doc::TagSeal | Doc::Rollback | Doc::Countersign => {
                DOCUMENT_CAP
            }
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Doc::Seal => "seal",
            Doc::Alternate => "alternate seal",
            Doc::TagSeal => "tag seal",
            Doc::SnapshotFile => "snapshot file",
            Doc::Rollback => "rollback record",
            Doc::Countersign => "countersign",
            Doc::RunRecord => "shared run record",
        }
    }

    /// The kind of a file under ledger path `path` (a note has no path: [`Doc::Seal`]).
    pub fn of_path(path: &str) -> Doc {
        match path.split('/').next() {
            Some("tags") => Doc::TagSeal,
            Some("snapshots") => Doc::SnapshotFile,
            Some("rollbacks") => Doc::Rollback,
            Some("countersigns") => Doc::Countersign,
            Some("runs") => Doc::RunRecord,
            Some("alternates") => Doc::Alternate,
            _ => Doc::Seal,
        }
    }
}

/// A ledger blob over its kind's cap, left unread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {what} is {size} bytes, over the {cap}-byte cap", kind.noun())]
pub struct TooLarge {
    pub kind: Doc,
    /// Which document: `of <commit>` for a note, the ledger path for a file.
    pub what: String,
    pub blob: Oid,
    pub size: u64,
    pub cap: u64,
}

impl From<TooLarge> for Error {
    fn from(e: TooLarge) -> Self {
        let blob = e.blob;
        Error::check(e.to_string()).hint(format!(
            "no git-seal writes such a document; see its size with: git cat-file -s {blob}"
        ))
    }
}

/// The content of blob `blob`, if its header states at most `kind`'s cap; otherwise
/// [`TooLarge`], without reading the content. `what` names the document in the message.
pub fn read_bounded(git: &Repository, blob: Oid, kind: Doc, what: &str) -> Result<Bounded> {
    read_bounded_with(git, blob, kind, what, true)
}

/// [`read_bounded`] of what the store holds now: a missing blob is an error, never a
/// fetch (the seal reader's thread: the verifier fetches what it reads itself).
pub fn read_bounded_here(git: &Repository, blob: Oid, kind: Doc, what: &str) -> Result<Bounded> {
    read_bounded_with(git, blob, kind, what, false)
}

fn read_bounded_with(
    git: &Repository,
    blob: Oid,
    kind: Doc,
    what: &str,
    fetch: bool,
) -> Result<Bounded> {
    let odb = git.odb()?;
    // The header first, and a probe only when it is missing: a warm verify reads a
    // seal per commit, and each lookup searches every pack.
    let (size, otype) = match odb.read_header(blob) {
        Err(e) if fetch && e.code() == git2::ErrorCode::NotFound => {
            fetch_missing(git, blob, kind, what)?;
            odb.refresh()?;
            odb.read_header(blob)?
        }
        other => other?,
    };
    if otype != ObjectType::Blob {
        return Err(Error::check(format!(
            "{} {what} is a {otype}, not a blob",
            kind.noun()
        )));
    }
    let size = size as u64;
    let cap = kind.cap();
    if size > cap {
        return Ok(Err(TooLarge {
            kind,
            what: what.to_string(),
            blob,
            size,
            cap,
        }));
    }
    Ok(Ok(git.find_blob(blob)?.content().to_vec()))
}

/// Fetches a missing ledger blob the way git does in a partial clone: `git cat-file
/// -e` fetches it lazily from the promisor remote (libgit2 never does, and in a
/// `--filter=blob:none` clone every note blob is missing). Its size is checked
/// before it is read, as for any other blob.
fn fetch_missing(git: &Repository, blob: Oid, kind: Doc, what: &str) -> Result<()> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git.path())
        .args(["cat-file", "-e", &blob.to_string()])
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        _ => {
            // The remote a partial clone fetches missing objects from; `origin` for a
            // repository that is not one (then the blob was lost, not filtered).
            let promisor = git
                .config()
                .and_then(|c| c.get_string("extensions.partialClone"))
                .unwrap_or_else(|_| "origin".to_string());
            Err(Error::environment(format!(
                "{} {what} (blob {blob}) is not in this repository and could not be fetched",
                kind.noun()
            ))
            .hint(format!(
                "in a partial clone, fetch it from its remote: {}",
                crate::quote::git(&format!("fetch {} {blob}", crate::quote::shell(&promisor)))
            )))
        }
    }
}

/// A ledger file's content, or why it was left unread.
pub type Bounded = std::result::Result<Vec<u8>, TooLarge>;

/// The first `chars` characters of `text`: a short id or a bounded excerpt of text that
/// came from a ledger, a push or a repository, cut on a character boundary (slicing
/// at a byte offset panics inside a multi-byte character).
pub fn prefix(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cuts_on_a_character_boundary() {
        assert_eq!(prefix("ééééééééé", 7), "ééééééé");
        assert_eq!(prefix("abc", 7), "abc");
        assert_eq!(prefix("0123456789", 7), "0123456");
        assert_eq!(prefix("", 7), "");
    }
}
