//! `git seal countersign`: vouch for existing seals (brief §2.5).

use serde_json::json;

use crate::commands::{outln, warn_log};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::runlog::{Run, Source, Status};

/// Countersign the seals of commits (default HEAD) after verifying them
///
/// Appends a signed countersign of ROLE to the ledger for each commit whose seal
/// verifies here. Because seals chain, a countersign of a tip vouches for every
/// sealed ancestor it chains to. Needs a signing key (seal.signingKey, or
/// user.signingKey with gpg.format=ssh). Push it with `git seal push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commits or ranges to countersign
    #[arg(value_name = "REV|RANGE")]
    pub revs: Vec<String>,
    /// What the countersign attests: one word (ci, review, release …)
    #[arg(long)]
    pub role: String,
    /// A note kept in the countersign
    #[arg(short = 'm', long = "message", value_name = "NOTE")]
    pub note: Option<String>,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let revs = if args.revs.is_empty() {
        vec!["HEAD".to_string()]
    } else {
        args.revs.clone()
    };
    let commits = repo.expand_revs(&revs)?;
    if commits.is_empty() {
        return Err(
            Error::usage("no commits to countersign in the range given").hint(
                crate::quote::git_seal(&format!(
                    "countersign HEAD --role {}",
                    crate::quote::shell(&args.role)
                )),
            ),
        );
    }
    let signer = crate::signing::SealSigner::from_config(&repo, None)
        .map_err(|e| {
            let hint = e.hint().unwrap_or_else(|| "git seal status".into());
            Error::usage(format!("cannot countersign: {e}")).hint(hint)
        })?
        .ok_or_else(|| {
            Error::usage(
                "cannot countersign: no signing key is configured (a countersign is always signed)",
            )
            .hint(format!(
                "{} && {}",
                crate::quote::git("config gpg.format ssh"),
                crate::quote::git("config user.signingKey ~/.ssh/id_ed25519")
            ))
        })?;
    let mut run = Run::start(
        &repo.seal_dir(),
        Source::Command("countersign"),
        repo.git
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|h| h.to_string()),
    );
    run.inputs(json!({"revs": args.revs, "role": args.role, "commits": commits.len()}));
    let written = match crate::countersign::countersign_commits(
        &repo,
        &cfg,
        &commits,
        &args.role,
        args.note.clone(),
        &signer,
    ) {
        Ok(w) => w,
        Err(e) => {
            warn_log(run.finish(Status::Failed, json!({}), 1, e.message.clone()));
            return Err(e);
        }
    };
    for (c, cs) in &written {
        outln(format!(
            "countersigned {} ({}) as {} by {}",
            short(*c),
            cs.seal,
            cs.role,
            signer.principal
        ))?;
    }
    warn_log(run.finish(
        Status::Success,
        json!({"countersigned": written.iter().map(|(c, cs)| json!({"commit": c.to_string(), "digest": cs.digest})).collect::<Vec<_>>()}),
        1,
        format!("{} countersign(s) of role {}", written.len(), args.role),
    ));
    eprintln!("hint: share it with: {}", crate::quote::git_seal("push"));
    Ok(0)
}
