//! in-toto exports (brief §2.6): a Statement v1 whose predicate is the link predicate
//! v0.3, for a pipeline step's run record and for a commit's seal.
//!
//! Invariants: a Statement always has at least one subject, each with a digest
//! (in-toto requires both); every digest is copied from a record or seal, never
//! recomputed here; the documents are built from typed values, printed by serde.
//!
//! - A step: subjects are its outputs (`{name: path, digest: {sha256}}`); the predicate
//!   names the step, its command, its inputs as materials (plus the commit it ran on,
//!   `{digest: {gitCommit}}`), and as byproducts the rest of the record (status, exit
//!   code, the commit's seal, who, when).
//! - A commit seal: subjects are the commit (`digest: {gitCommit}`) and its manifest
//!   (`digest: {sha256}`, the manifest digest's hex); the predicate's materials are the
//!   parent commits, its byproducts the seal itself.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::runlog::Record;
use crate::steps::artifacts;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const LINK_PREDICATE: &str = "https://in-toto.io/attestation/link/v0.3";

/// A ResourceDescriptor (name and digests only).
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Resource {
    fn new(name: impl Into<String>, algorithm: &str, hex: impl Into<String>) -> Resource {
        Resource {
            name: name.into(),
            digest: [(algorithm.to_string(), hex.into())].into_iter().collect(),
        }
    }
}

/// The link predicate v0.3.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub name: String,
    pub command: Vec<String>,
    pub materials: Vec<Resource>,
    pub byproducts: Value,
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: &'static str,
    pub subject: Vec<Resource>,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub predicate: Link,
}

/// The Statement of a pipeline step's record; refused (exit 1) for a record without
/// outputs, which has nothing to be a subject.
pub fn of_run(r: &Record) -> Result<Statement> {
    let subject: Vec<Resource> = artifacts(&r.outputs)
        .into_iter()
        .map(|a| Resource::new(a.path, "sha256", a.sha256))
        .collect();
    if subject.is_empty() {
        return Err(Error::check(format!(
            "run {} recorded no outputs, and an in-toto Statement needs at least one subject",
            r.run_id
        ))
        .hint(format!(
            "record the step with its outputs (PATH and CMD: yours): {}",
            crate::quote::git_seal("run --output PATH -- CMD")
        )));
    }
    let mut materials: Vec<Resource> = artifacts(&r.inputs)
        .into_iter()
        .map(|a| Resource::new(a.path, "sha256", a.sha256))
        .collect();
    if let Some(head) = &r.head {
        materials.push(Resource::new("HEAD", "gitCommit", head.clone()));
    }
    let command = r.argv.clone().unwrap_or_default();
    Ok(Statement {
        kind: STATEMENT_TYPE,
        subject,
        predicate_type: LINK_PREDICATE,
        predicate: Link {
            name: r.name.clone().unwrap_or_default(),
            command,
            materials,
            byproducts: json!({
                "run_id": r.run_id,
                "status": r.status.as_str(),
                "exit_code": r.exit_code,
                "signal": r.signal,
                "head": r.head,
                "head_seal": r.head_seal,
                "worktree_clean": r.worktree_clean,
                "missing": r.missing,
                "message": r.message,
                "by": r.by,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "tool": {"name": "git-seal", "version": r.tool_version},
            }),
        },
    })
}

/// The Statement of a commit's seal (`seal`: the seal as JSON, already verified by
/// the caller).
pub fn of_seal(seal: &Value) -> Result<Statement> {
    let text = |k: &str| seal.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(commit), Some(manifest)) = (
        text("commit"),
        seal.pointer("/manifest/digest")
            .and_then(Value::as_str)
            .and_then(|d| d.strip_prefix("sha256:"))
            .map(str::to_string),
    ) else {
        return Err(Error::check("the seal names no commit or manifest digest"));
    };
    let materials = seal
        .get("parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|p| Resource::new(format!("parent:{p}"), "gitCommit", p))
        .collect();
    Ok(Statement {
        kind: STATEMENT_TYPE,
        subject: vec![
            Resource::new(format!("commit:{commit}"), "gitCommit", commit.clone()),
            Resource::new(format!("manifest:{commit}"), "sha256", manifest),
        ],
        predicate_type: LINK_PREDICATE,
        predicate: Link {
            name: "git-seal".into(),
            command: Vec::new(),
            materials,
            byproducts: json!({ "seal": seal }),
        },
    })
}
