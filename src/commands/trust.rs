//! `git seal trust`: pin the commit the in-repository trust policy starts from
//! (`seal.trustRoot`, brief §2.7), show the policy in force, and the offer `install`
//! makes on first use.

use std::io::IsTerminal;

use crate::commands::{outln, subject};
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::signing::{PolicyResolver, PolicySource, Revocations};
use crate::trust::{self, InRepo, Root, ROOT_KEY};

/// Pin the commit trust starts from, or show the policy in force
///
/// The root's .seal/allowed_signers is the first policy; after it, a change to
/// .seal/ counts only when its commit is sealed and signed by a signer the policy
/// of its parent allows. The pin is written to this clone's config (seal.trustRoot).
/// A configured seal.allowedSignersFile takes precedence over the in-repo policy.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit trust starts from (its seal must be signed by a signer its own
    /// .seal/allowed_signers lists, or by --key)
    #[arg(long, value_name = "REV", required_unless_present = "show")]
    pub root: Option<String>,
    /// The SHA256 fingerprint of the key that signed the root's seal, as
    /// `ssh-keygen -l` prints it (SHA256:…)
    #[arg(long, value_name = "FINGERPRINT", requires = "root")]
    pub key: Option<String>,
    /// Print the pinned root and the policy in force (exit 1 when the chain from the
    /// root to HEAD has a problem)
    #[arg(long, conflicts_with = "root")]
    pub show: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    match args.root {
        Some(rev) => pin(&repo, &rev, args.key),
        None => show(&repo),
    }
}

fn pin(repo: &Repo, rev: &str, key: Option<String>) -> Result<u8> {
    if let Some(k) = &key {
        if !trust::is_fingerprint(k) {
            return Err(Error::usage(format!(
                "--key '{}' is not a SHA256 key fingerprint",
                crate::quote::printable(k)
            ))
            .hint(
                "ssh-keygen -l -f ~/.ssh/id_ed25519.pub   # prints SHA256:…; pass that to --key",
            ));
        }
    }
    let commit = repo.commit(rev)?.id();
    let root = Root {
        commit,
        key: key.clone(),
    };
    let mut chain = InRepo::with_root(repo, root, Revocations::default())?;
    if let Some(why) = chain.check_root()? {
        let hint = match why {
            trust::RootProblem::NoSeal => {
                crate::quote::git_seal(&format!("seal {}", short(commit)))
            }
            trust::RootProblem::NoPolicy | trust::RootProblem::BadPolicy(_) => {
                format!(
                    "{}   # pin a commit that has the policy",
                    crate::quote::git("log --oneline -- .seal/allowed_signers")
                )
            }
            _ => {
                crate::quote::git_seal(&format!("show {}", short(commit)))
                    + "   # see who signed its seal"
            }
        };
        return Err(Error::check(format!(
            "cannot pin {} as the trust root: {why}",
            short(commit)
        ))
        .hint(hint));
    }
    let value = match &key {
        Some(k) => format!("{commit} {k}"),
        None => commit.to_string(),
    };
    repo.git
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .and_then(|mut c| c.set_str(ROOT_KEY, &value))
        .map_err(|e| {
            Error::usage(format!("cannot write {ROOT_KEY}: {}", e.message())).hint(
                crate::quote::git(&format!(
                    "config {ROOT_KEY} {}",
                    crate::quote::shell(&value)
                )),
            )
        })?;
    outln(format!(
        "pinned {ROOT_KEY} = {commit} ({})",
        subject(repo, commit)
    ))?;
    if let Some(k) = &key {
        outln(format!("  its seal is signed by the pinned key {k}"))?;
    }
    print_signers(repo, commit, "  signers its .seal/allowed_signers allows:")?;
    if let PolicySource::Configured { setting, .. } = PolicyResolver::from_config(repo)?.source() {
        outln(format!(
            "note: {setting} is set and takes precedence over the in-repo policy"
        ))?;
        outln(format!(
            "hint: to use the in-repo policy: {}",
            crate::quote::git(&format!("config --unset {setting}"))
        ))?;
    }
    Ok(0)
}

fn print_signers(repo: &Repo, commit: git2::Oid, title: &str) -> Result<()> {
    let text = trust::policy_text(&repo.git, commit).unwrap_or_default();
    outln(title)?;
    for (principals, fp) in trust::fingerprints(&text) {
        outln(format!("    {principals} {fp}"))?;
    }
    Ok(())
}

fn show(repo: &Repo) -> Result<u8> {
    let mut resolver = PolicyResolver::from_config(repo)?;
    let root = trust::configured_root(repo)?;
    match &root {
        Some(r) => outln(format!(
            "trust root: {} ({}){}",
            r.commit,
            subject(repo, r.commit),
            r.key
                .as_ref()
                .map(|k| format!(", signed by {k}"))
                .unwrap_or_default()
        ))?,
        None => outln("trust root: none pinned")?,
    }
    match resolver.source() {
        PolicySource::Configured { path, setting } => {
            outln(format!(
                "policy in force: {} ({setting}){}",
                path.display(),
                if root.is_some() {
                    ", which takes precedence over the in-repo policy"
                } else {
                    ""
                }
            ))?;
        }
        PolicySource::None => {
            outln("policy in force: none (signatures are checked, but no signer is allowed)")?;
            outln(format!("hint: {}", trust::pin_hint()))?;
        }
        PolicySource::InRepo { .. } => {
            let head = repo.head_commit()?.id();
            let Some(in_repo) = resolver.in_repo() else {
                return Ok(0);
            };
            if in_repo.standing(head)? == trust::Standing::Outside {
                outln(
                    "policy in force at HEAD: none: HEAD does not descend from the root by first parents",
                )?;
                return Ok(1);
            }
            let policy = in_repo.in_force(head)?;
            outln(format!(
                "policy in force at HEAD ({}): .seal/allowed_signers as the chain from the root accepted it",
                short(head)
            ))?;
            for e in policy.allowed.entries() {
                outln(format!(
                    "    {} {}",
                    crate::quote::printable(&e.principals),
                    e.key.fingerprint(ssh_key::HashAlg::Sha256)
                ))?;
            }
            let problems = resolver.trust_problems(&[head])?;
            for p in &problems {
                outln(format!(
                    "{} {}: {p}",
                    short(p.commit()),
                    subject(repo, p.commit())
                ))?;
            }
            if !problems.is_empty() {
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// What `install` says on first use when HEAD's tree has `.seal/allowed_signers`
/// and no root is pinned, as SSH shows an unknown host key: the command to pin it
/// and the fingerprints the file lists. It asks only when stdin is a terminal
/// (`install` never runs in a hook), and pins only on an explicit yes.
pub fn offer(repo: &Repo) -> Result<()> {
    if repo.config_string(ROOT_KEY).is_some() {
        return Ok(());
    }
    let Ok(head) = repo.head_commit() else {
        return Ok(());
    };
    let Some(root) = trust::suggested_root(&repo.git, head.id()) else {
        return Ok(());
    };
    outln("This repository keeps its trust policy in .seal/allowed_signers, and no trust root is pinned.")?;
    print_signers(
        repo,
        root,
        &format!(
            "The signers it lists at {} ({}), where it came in:",
            short(root),
            subject(repo, root)
        ),
    )?;
    let command = format!("git seal trust --root {root}");
    if !std::io::stdin().is_terminal() {
        outln(format!(
            "To trust signatures by this policy (check the fingerprints with their owners first), run:\n  {command}"
        ))?;
        return Ok(());
    }
    eprint!("Pin {} as the trust root? [y/N] ", short(root));
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err()
        || !matches!(answer.trim(), "y" | "Y" | "yes")
    {
        outln(format!("Not pinned. To pin it later: {command}"))?;
        return Ok(());
    }
    pin(repo, &root.to_string(), None).map(|_| ())
}
