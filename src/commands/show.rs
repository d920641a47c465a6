//! `git seal show`: print the seal of a commit, or of a tag named by itself.

use crate::commands::{out, outln};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::seal::Seal;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Print the seal of a commit, or of a tag
///
/// A tag named by itself (`git seal show v1.4`) shows the tag's seal; `v1.4^{commit}`
/// shows its commit's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit or tag (default HEAD)
    #[arg(default_value = "HEAD")]
    pub rev: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let json = args.json || matches!(args.format, Format::Json);
    let (tags, _) = crate::tags::split_tags(&repo, std::slice::from_ref(&args.rev));
    if let Some(tag) = tags.first() {
        let Some((seal, text)) = crate::tags::current_seal(&repo, &cfg, tag)? else {
            return Err(Error::check(format!("tag {tag} has no seal")).hint(format!(
                "seal it: {}",
                crate::quote::git_seal(&format!("seal {}", crate::quote::shell(tag)))
            )));
        };
        if json {
            outln(serde_json::to_string_pretty(&seal).unwrap_or_default())?;
        } else {
            out(text.as_bytes())?;
        }
        return Ok(0);
    }
    let commit = repo.commit(&args.rev)?.id();
    let view = Ledger::new(&repo, &cfg).view()?;
    let Some(text) = view.note(commit)? else {
        return Err(
            Error::check(format!("commit {} has no seal", short(commit))).hint(format!(
                "seal it: {}",
                crate::quote::git_seal(&format!("seal {}", crate::quote::shell(&args.rev)))
            )),
        );
    };
    let parsed = Seal::parse(&text).map_err(|e| {
        Error::usage(format!("the seal of {} cannot be read: {e}", short(commit))).hint(format!(
            "replace it with a fresh seal: {}",
            crate::quote::git_seal(&format!("seal --force {commit}"))
        ))
    })?;
    // The seal verify uses: of the valid candidates, the one whose signature is
    // trusted; the note when none is valid (its problems are verify's to say).
    let resolver = crate::signing::PolicyResolver::from_config(&repo)?;
    let mut verifier =
        crate::verify::Verifier::new(&repo, view, crate::cache::CacheMode::ReadWrite)
            .with_policy(resolver);
    let reasons = verifier.check(commit)?;
    let (text, parsed) = match chosen_text(&verifier, commit)? {
        Some((t, p)) => (t, p),
        None => (text, parsed),
    };
    let mut status = Vec::new();
    match verifier.chosen(commit) {
        Some(c) => {
            status.push(format!("signature: {}", c.verdict));
            if c.candidates > 1 {
                status.push(format!(
                    "chosen from {} valid seals (a trusted signature wins; all are kept)",
                    c.candidates
                ));
            }
        }
        None => status.push(format!(
            "does not verify: {}",
            reasons
                .first()
                .map(ToString::to_string)
                .unwrap_or_else(|| "no seal".into())
        )),
    }
    let policy = verifier.policy_for(commit)?;
    for s in crate::countersign::of_commit(verifier.view(), commit)? {
        let verdict = crate::countersign::judge(&s, policy.as_deref());
        let of_this = if s.countersign.seal == parsed.seal.digest {
            ""
        } else {
            " (of another seal of this commit)"
        };
        status.push(format!(
            "countersign {} at {}{of_this}: {verdict}",
            crate::quote::printable(&s.countersign.role),
            crate::quote::printable(&s.countersign.at),
        ));
    }
    // Unsigned, without countersigns and alone: nothing to add to the seal itself.
    let plain = parsed.seal.signature.is_none()
        && parsed.signature_error.is_none()
        && status.len() == 1
        && verifier.chosen(commit).is_some_and(|c| c.candidates <= 1);
    if plain {
        status.clear();
    }
    if json {
        outln(serde_json::to_string_pretty(&parsed.seal.to_json()).unwrap_or_default())?;
        for line in &status {
            eprintln!("{line}");
        }
    } else {
        out(text.as_bytes())?;
        // YAML comments: the output still reads as the seal.
        for line in &status {
            outln(format!("# {line}"))?;
        }
    }
    Ok(0)
}

/// The text and parse of the seal `verifier` chose for `commit`.
fn chosen_text(
    verifier: &crate::verify::Verifier<'_>,
    commit: git2::Oid,
) -> Result<Option<(String, crate::seal::Parsed)>> {
    let Some(digest) = verifier.chosen(commit).map(|c| c.digest.clone()) else {
        return Ok(None);
    };
    let view = verifier.view();
    for c in view.candidates(commit)? {
        let Ok(text) = view.text(c.blob, &format!("of {commit}"))? else {
            continue;
        };
        if let Ok(p) = Seal::parse(&text) {
            if p.seal.digest == digest {
                return Ok(Some((text, p)));
            }
        }
    }
    Ok(None)
}
