//! `git seal provenance PATH`: which recorded run produced this file's content.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::commands::outln;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::quote::{c_style, printable};
use crate::steps::{self, InputNow, SignatureState};

/// Show which recorded runs produced a file's current content
///
/// Hashes PATH and lists the recorded pipeline steps (local log and the records
/// shared in the ledger, fetched ones included) with an output of that SHA-256,
/// newest first: the step, its status, who ran it when, the commit it ran on and
/// that commit's seal, and each input with whether it still matches. Exit 1 when no
/// recorded run produced this content.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file
    pub path: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

fn sig_json(s: &Option<SignatureState>) -> Value {
    match s {
        None => json!(null),
        Some(SignatureState::Unsigned) => json!({"state": "unsigned"}),
        Some(SignatureState::Good {
            principal,
            fingerprint,
        }) => json!({"state": "good", "principal": principal, "fingerprint": fingerprint}),
        Some(SignatureState::Bad(why)) => json!({"state": "bad", "why": why}),
    }
}

fn origin(s: &Option<SignatureState>) -> String {
    match s {
        None => "local log".into(),
        Some(SignatureState::Unsigned) => "shared, unsigned".into(),
        Some(SignatureState::Good {
            principal,
            fingerprint,
        }) => format!(
            "shared, signature by {} ({fingerprint}) holds; not judged by an allowed-signers policy",
            printable(principal)
        ),
        Some(SignatureState::Bad(why)) => {
            format!("shared, SIGNATURE DOES NOT VERIFY: {}", printable(why))
        }
    }
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let Some(workdir) = repo.workdir.clone() else {
        return Err(
            Error::usage("provenance reads files in a worktree; this repository is bare")
                .hint("run it in a clone"),
        );
    };
    let root = std::fs::canonicalize(workdir.as_std_path())?;
    let rel = steps::declare(&root, &std::env::current_dir()?, &args.path)?;
    let prov = steps::provenance(&repo, &cfg, &root, &rel)?;
    for p in &prov.shared_problems {
        eprintln!("warning: {p}");
    }
    let file = &prov.file;
    if args.json {
        let runs: Vec<Value> = prov
            .producers
            .iter()
            .map(|p| {
                let r = &p.record;
                json!({
                    "run_id": r.run_id,
                    "name": r.name,
                    "status": r.status.as_str(),
                    "command": r.argv,
                    "by": r.by,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "head": r.head,
                    "head_seal": r.head_seal,
                    "worktree_clean": r.worktree_clean,
                    "output": p.output,
                    "inputs": p.inputs.iter().map(|(a, now)| json!({
                        "path": a.path, "sha256": a.sha256, "size": a.size, "now": now,
                    })).collect::<Vec<_>>(),
                    "inputs_match": p.inputs.iter().all(|(_, n)| *n == InputNow::Matches),
                    "shared": p.shared.is_some(),
                    "signature": sig_json(&p.shared),
                })
            })
            .collect();
        let doc = json!({
            "schema": "git-seal/provenance/v1",
            // The shared records that were set aside, as the text warns on stderr.
            "warnings": prov.shared_problems.iter().map(|p| json!({"path": p.path, "reason": p.why})).collect::<Vec<_>>(),
            "path": file.path, "sha256": file.sha256, "size": file.size,
            "runs": runs,
            "changed_since": prov.wrote_path_before.iter().map(|r| &r.run_id).collect::<Vec<_>>(),
        });
        outln(serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        return Ok(if prov.producers.is_empty() { 1 } else { 0 });
    }
    let shown = c_style(file.path.as_bytes());
    if prov.producers.is_empty() {
        let mut msg = format!(
            "no recorded run produced the current content of {shown} (sha256 {})",
            file.sha256
        );
        if let Some(last) = prov.wrote_path_before.first() {
            msg.push_str(&format!(
                "; run {} ({}) wrote it, and it changed since",
                last.run_id,
                printable(last.name.as_deref().unwrap_or("?"))
            ));
        }
        return Err(Error::check(msg).hint(format!(
            "record the step that makes it: git seal run --output {} -- CMD",
            crate::quote::shell(&file.path)
        )));
    }
    outln(format!(
        "{shown}  sha256 {}  {} bytes",
        file.sha256, file.size
    ))?;
    for p in &prov.producers {
        let r = &p.record;
        let by =
            r.by.as_ref()
                .map(|w| format!("{} <{}>", printable(&w.name), printable(&w.email)))
                .unwrap_or_else(|| "?".into());
        outln(format!(
            "produced by run {}  step {}  {}",
            r.run_id,
            printable(r.name.as_deref().unwrap_or("?")),
            r.status.as_str()
        ))?;
        if p.output.path != file.path {
            outln(format!("  as output {}", c_style(p.output.path.as_bytes())))?;
        }
        outln(format!("  by {by} at {}", printable(&r.finished_at)))?;
        let head = r.head.as_deref().unwrap_or("(no commit)");
        let clean = match r.worktree_clean {
            Some(true) => "inputs as committed",
            Some(false) => "inputs differed from the commit",
            None => "",
        };
        outln(format!(
            "  on commit {}  seal {}  {clean}",
            printable(head),
            printable(r.head_seal.as_deref().unwrap_or("unknown"))
        ))?;
        outln(format!("  from {}", origin(&p.shared)))?;
        for (a, now) in &p.inputs {
            let state = match now {
                InputNow::Matches => "matches".to_string(),
                InputNow::Changed { sha256 } => format!("CHANGED (now {sha256})"),
                InputNow::Missing => "MISSING".to_string(),
            };
            outln(format!(
                "  input {}  sha256 {}  {state}",
                c_style(a.path.as_bytes()),
                a.sha256
            ))?;
        }
    }
    Ok(0)
}
