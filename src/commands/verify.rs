//! `git seal verify`: check seals, and optionally the working tree.

use crate::cache::{CacheMode, Manifests};
use crate::commands::{outln, subject};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{short, Repo};
use crate::ledger::Ledger;
use crate::tags::TagProblem;
use crate::verify::{check_worktree, Problem, Reason, Verifier};

/// Check the seals of commits (default HEAD)
///
/// Prints one line per problem, naming the commit and the reason, and exits 1 if
/// there is any. A range (A..B) checks every commit in it; `--all` every commit
/// reachable from the refs given, or from every branch.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commits or ranges to check
    #[arg(value_name = "REV|RANGE")]
    pub revs: Vec<String>,
    /// Check every commit reachable from the REVs given, or from every branch (CI)
    #[arg(long)]
    pub all: bool,
    /// Also check the files on disk against HEAD's manifest
    #[arg(long)]
    pub worktree: bool,
    /// Recompute every manifest from file contents, trusting no digest this machine
    /// remembered from earlier runs
    #[arg(long)]
    pub no_cache: bool,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    // A tag named by itself is checked as a tag: its seal, its evtag checksum, and
    // its target's seal chain.
    let (tags, mut revs) = if args.all {
        (Vec::new(), args.revs.clone())
    } else {
        crate::tags::split_tags(&repo, &args.revs)
    };
    for w in crate::tags::ambiguity_warnings(&repo, &args.revs) {
        eprintln!("{w}");
    }
    let commits = if args.all {
        let tips = if revs.is_empty() {
            repo.branch_tips()?
        } else {
            revs.iter()
                .map(|r| repo.commit(r).map(|c| c.id()))
                .collect::<Result<Vec<_>>>()?
        };
        if tips.is_empty() {
            return Err(nothing_to_verify(&repo));
        }
        repo.history_of(&tips)?
    } else {
        if revs.is_empty() && tags.is_empty() {
            if let Err(e) = repo.git.head() {
                if e.code() == git2::ErrorCode::UnbornBranch
                    || e.code() == git2::ErrorCode::NotFound
                {
                    return Err(nothing_to_verify(&repo));
                }
            }
            revs.push("HEAD".to_string());
        }
        repo.expand_revs(&revs)?
    };
    let mut view = Ledger::new(&repo, &cfg).view()?;
    // A ledger tree outside the one canonical shape can hide or swap seals from some
    // reader: it is a problem in itself. Checked first: a canonical tree's notes, read
    // whole, then answer every note lookup.
    let shape = view.check_shape()?;
    let cache_mode = if args.no_cache {
        CacheMode::Off
    } else {
        CacheMode::ReadWrite
    };
    if repo.git.is_shallow() && !args.json {
        // The parents past the shallow boundary are not here: their seals, and the
        // chain's links to them, cannot be checked, and "ok" must not hide that.
        eprintln!(
            "note: this is a shallow clone: seals are checked for the commits it holds, not for the history past its boundary"
        );
        eprintln!(
            "hint: to check the whole history: {} && {}",
            crate::quote::git("fetch --unshallow"),
            crate::quote::git_seal("verify --all")
        );
    }
    let resolver = crate::signing::PolicyResolver::from_config(&repo)?;
    let policy = crate::policy::SignPolicy::from_config(&repo)?;
    let mut verifier = Verifier::new(&repo, view, cache_mode).with_policy(resolver);
    let mut problems = verifier.check_all(&commits)?;
    // Signatures: a bad one is already a problem; an untrusted one is one only where
    // policy (seal.requireSigned, for the refs named) asks for signatures.
    let rule = named_refs(&repo, &revs)
        .iter()
        .fold(policy.global.clone(), |mut r, name| {
            r.require_signed |= policy.for_ref(name).require_signed;
            r
        });
    let mut signatures = Vec::new();
    for &commit in &commits {
        if let Some(chosen) = verifier.chosen(commit) {
            if rule.require_signed && !chosen.verdict.is_trusted() {
                problems.push(Problem {
                    commit,
                    reason: Reason::NotTrusted(chosen.verdict.clone()),
                });
            }
            signatures.push((commit, chosen.verdict.clone()));
        }
    }
    let coverage = coverage_of(&repo, &mut verifier, &revs)?;
    // A null parent_seals entry is never silent: over a parent that still has no seal
    // it fails, over one sealed after its child it is a warning.
    let mut warnings = Vec::new();
    for &commit in &commits {
        for reason in verifier.chain_gaps(commit)? {
            let p = Problem { commit, reason };
            if p.reason.is_warning() {
                warnings.push(p);
            } else {
                problems.push(p);
            }
        }
    }
    let mut tag_problems = Vec::new();
    let mut unchecked = Vec::new();
    for tag in &tags {
        let check = crate::tags::check_tag(&repo, &cfg, tag, cache_mode)?;
        for p in check.problems {
            tag_problems.push((tag.as_str(), p));
        }
        unchecked.extend(check.unchecked);
    }
    let mut lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{} {}: {}",
                short(p.commit),
                subject(&repo, p.commit),
                p.reason
            )
        })
        .collect();
    lines.extend(
        tag_problems
            .iter()
            .map(|(tag, p)| format!("tag {tag}: {p}")),
    );
    // The in-repo policy chain (brief §2.7): a change to .seal/ its parent's policy
    // does not allow fails, wherever on the checked commits' lines from the root.
    let trust = verifier.trust_problems(&commits)?;
    lines.extend(
        trust
            .iter()
            .map(|p| format!("{} {}: {p}", short(p.commit()), subject(&repo, p.commit()))),
    );
    lines.extend(
        shape
            .iter()
            .map(|p| format!("ledger {}: not canonical: {p}", cfg.ledger_ref)),
    );
    let mut worktree = Vec::new();
    if args.worktree {
        let root = repo.workdir.clone().ok_or_else(|| {
            Error::usage("--worktree needs a working tree; this repository is bare")
                .hint("run git seal verify without --worktree")
        })?;
        let head = repo.head_commit()?;
        let manifest = Manifests::new(&repo, cache_mode).manifest_of(&head)?;
        worktree = check_worktree(root.as_std_path(), &manifest);
        for p in &worktree {
            lines.push(format!("worktree {p}"));
        }
    }
    if args.json {
        // Built from the typed results, never from the lines printed above.
        let report = crate::report::Verify {
            schema: crate::report::VERIFY_SCHEMA,
            ok: lines.is_empty(),
            commits: commits.len(),
            problems: problems.iter().map(Into::into).collect(),
            warnings: warnings.iter().map(Into::into).collect(),
            tags: tags
                .iter()
                .map(|t| crate::report::TagReport::of(t, &tag_problems))
                .collect(),
            worktree: worktree.iter().map(Into::into).collect(),
            not_checked: unchecked.iter().map(Into::into).collect(),
            ledger: shape.iter().map(Into::into).collect(),
            trust: trust.iter().map(Into::into).collect(),
            signatures: signatures
                .iter()
                .map(|(c, v)| crate::report::SignatureReport::of(*c, v))
                .collect(),
            coverage: coverage.clone(),
        };
        outln(serde_json::to_string_pretty(&report).unwrap_or_default())?;
    } else {
        for line in &lines {
            outln(line)?;
        }
        for w in &warnings {
            outln(format!(
                "warning: {} {}: {}",
                short(w.commit),
                subject(&repo, w.commit),
                w.reason
            ))?;
        }
        if let Some(line) = signature_summary(&signatures) {
            outln(line)?;
        }
        for c in &coverage {
            outln(coverage_line(c))?;
        }
        // What could not be checked is said as exactly that, never as a problem:
        // it does not change the exit code.
        for u in &unchecked {
            outln(format!("tag {}: {u}", u.tag))?;
        }
        if lines.is_empty() {
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(", {} tag(s)", tags.len())
            };
            let except = if unchecked.is_empty() {
                ""
            } else {
                ", except what is listed as not checked"
            };
            let warned = match warnings.len() {
                0 => String::new(),
                n => format!(", {n} warning(s) above"),
            };
            outln(format!(
                "ok: {} commit(s){tags} verified{except}{warned}",
                commits.len()
            ))?;
            if !warnings.is_empty() {
                eprintln!(
                    "hint: a child sealed before its parent does not pin the parent's seal; each seal still verifies on its own"
                );
            }
        }
        let mut hinted = std::collections::BTreeSet::new();
        for u in &unchecked {
            if hinted.insert(&u.fix) {
                let what = if u.left_out_by_seal {
                    "seal it again, covering the submodule"
                } else {
                    "make it checkable"
                };
                eprintln!("hint: {what}: {}", u.fix);
            }
        }
    }
    if lines.is_empty() {
        return Ok(0);
    }
    if !args.json && !shape.is_empty() {
        eprintln!(
            "hint: the ledger was written by something other than git-seal; list it with {}",
            crate::quote::git(&format!(
                "ls-tree -r {}",
                crate::quote::shell(&cfg.ledger_ref)
            ))
        );
    } else if let (false, Some(p)) = (args.json, trust.first()) {
        eprintln!(
            "hint: see who sealed it: {}   # a change to .seal/ counts only when a signer its parent's policy allows signs its seal",
            crate::quote::git_seal(&format!("show {}", short(p.commit())))
        );
    } else if !args.json {
        eprintln!("hint: {}", hint(&problems, &tag_problems));
    }
    Ok(1)
}

/// On an unborn branch (or with no branch at all) there is nothing to check yet.
fn nothing_to_verify(repo: &Repo) -> Error {
    let branch = repo
        .git
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string))
        .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_string));
    let what = match branch {
        Some(b) => format!(
            "branch '{}' has no commits yet",
            crate::quote::printable(&b)
        ),
        None => "this repository has no commits yet".into(),
    };
    Error::usage(format!("nothing to verify: {what}")).hint(format!(
        "make a first commit, then verify it: {}",
        crate::quote::git("commit --allow-empty -m 'first commit'")
    ))
}

/// The one next step for the gravest kind of problem found: content or a seal that
/// changed after sealing, then what was never sealed.
fn hint(problems: &[Problem], tag_problems: &[(&str, TagProblem)]) -> String {
    if !problems.is_empty()
        && tag_problems.is_empty()
        && problems
            .iter()
            .all(|p| matches!(p.reason, Reason::NotTrusted(_)))
    {
        return "seal.requireSigned: a seal counts when signed by a key in your allowed signers (git seal status names the file); add a signer you trust with: echo 'EMAIL namespaces=\"git-seal\" KEY' >> FILE".into();
    }
    if problems.is_empty() && tag_problems.is_empty() {
        // Only the working tree differs from HEAD's manifest.
        return "see what differs from HEAD's commit: git status --short && git diff --stat".into();
    }
    let unsealed_commits = problems
        .iter()
        .filter(|p| matches!(p.reason, Reason::NoSeal | Reason::UnsealedParent { .. }))
        .count()
        + tag_problems
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    TagProblem::Target {
                        reason: Reason::NoSeal,
                        ..
                    }
                )
            })
            .count();
    let unsealed_tags: Vec<&str> = tag_problems
        .iter()
        .filter(|(_, p)| *p == TagProblem::NoSeal)
        .map(|(tag, _)| *tag)
        .collect();
    let changed = problems
        .iter()
        .find(|p| !matches!(p.reason, Reason::NoSeal | Reason::UnsealedParent { .. }))
        .map(|p| short(p.commit))
        .or_else(|| {
            let (tag, _) = tag_problems
                .iter()
                .find(|(_, p)| *p != TagProblem::NoSeal)?;
            Some(crate::quote::shell(tag))
        });
    if unsealed_commits + unsealed_tags.len() < problems.len() + tag_problems.len() {
        let show = crate::quote::git_seal(&format!("show {}", changed.unwrap_or_default()));
        format!(
            "a seal that does not match was changed after sealing, or the content was: \
             read it with {show}, and check the object store with git fsck"
        )
    } else if unsealed_commits > 0 {
        format!(
            "seal what has no seal with: {}",
            crate::quote::git_seal("seal --missing")
        )
    } else {
        format!(
            "seal tags by hand with: {}",
            crate::quote::git_seal(&format!("seal {}", unsealed_tags.join(" ")))
        )
    }
}

/// The refs the revisions name (`main`, `A..main` → `refs/heads/main`; none given:
/// the branch HEAD is on), for the policy scoped to them.
fn named_refs(repo: &Repo, revs: &[String]) -> Vec<String> {
    revs.iter()
        .filter_map(|r| {
            let tip = r.rsplit("..").next().unwrap_or(r);
            let tip = if tip.is_empty() { "HEAD" } else { tip };
            if tip == "HEAD" {
                return repo
                    .git
                    .head()
                    .ok()
                    .and_then(|h| h.name().ok().map(str::to_string));
            }
            repo.dwim_refs(tip).into_iter().next()
        })
        .collect()
}

/// One line counting the verdicts on the signatures of the seals verified, when any
/// is signed: "signatures: 3 trusted, 1 unsigned, …".
fn signature_summary(signatures: &[(git2::Oid, crate::signing::Verdict)]) -> Option<String> {
    use crate::signing::Verdict;
    if signatures.iter().all(|(_, v)| *v == Verdict::Unsigned) {
        return None;
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, v) in signatures {
        let k = match v {
            Verdict::Trusted { .. } => "trusted",
            Verdict::Unsigned => "unsigned",
            Verdict::NotAllowed { .. } => "signer not allowed",
            Verdict::Expired { .. } => "key expired",
            Verdict::NotYetValid { .. } => "key not yet valid",
            Verdict::Revoked { .. } => "key revoked",
            Verdict::BadSignature { .. } | Verdict::WrongNamespace { .. } => "bad",
        };
        match counts.iter_mut().find(|(n, _)| *n == k) {
            Some((_, c)) => *c += 1,
            None => counts.push((k, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut line = format!("signatures: {}", parts.join(", "));
    // Name the first untrusted one: which key, which principal.
    if let Some((c, v)) = signatures
        .iter()
        .find(|(_, v)| !v.is_trusted() && *v != Verdict::Unsigned)
    {
        line.push_str(&format!(" ({}: {v})", short(*c)));
    }
    Some(line)
}

/// For each revision named (a tip), what vouches for its history: the trusted
/// signature on its seal and its countersigns, over how many commits.
fn coverage_of(
    repo: &Repo,
    verifier: &mut Verifier<'_>,
    revs: &[String],
) -> Result<Vec<crate::report::Coverage>> {
    let mut out = Vec::new();
    for rev in revs {
        let name = rev.rsplit("..").next().unwrap_or(rev);
        let name = if name.is_empty() { "HEAD" } else { name };
        let Ok(tip) = repo.commit(name).map(|c| c.id()) else {
            continue;
        };
        if verifier.chosen(tip).is_none() && !verifier.check(tip)?.is_empty() {
            continue;
        }
        let vouchers = crate::policy::vouchers(verifier, tip)?;
        let signed_by = verifier.chosen(tip).and_then(|c| match &c.verdict {
            crate::signing::Verdict::Trusted { principal, .. } => Some(principal.clone()),
            _ => None,
        });
        if vouchers.is_empty() && signed_by.is_none() {
            continue;
        }
        out.push(crate::report::Coverage {
            rev: name.to_string(),
            tip: tip.to_string(),
            commits: crate::policy::chained(verifier, tip)?,
            signed_by,
            countersigns: vouchers
                .iter()
                .map(|(role, who)| crate::report::RoleCountersign {
                    role: role.to_string(),
                    by: who.iter().cloned().collect(),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// "main: 1,204 commit(s), covered by review countersign of <tip> by alice@…".
fn coverage_line(c: &crate::report::Coverage) -> String {
    let tip = c.tip.get(..7).unwrap_or(&c.tip);
    let mut by: Vec<String> = c
        .countersigns
        .iter()
        .map(|r| format!("{} countersign of {tip} by {}", r.role, r.by.join(", ")))
        .collect();
    if let Some(p) = &c.signed_by {
        by.push(format!("the seal of {tip} signed by {p}"));
    }
    format!(
        "{}: {} commit(s), covered by {}",
        c.rev,
        thousands(c.commits),
        by.join("; ")
    )
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
