//! Signing policy (brief §2.4, §2.5, issue 11): what a gate requires of the seals
//! landing on a ref, read from git config, and the rule that checks it.
//!
//! Config: `seal.requireSigned` and `seal.requireCountersign ROLE[:N]` (multi-valued)
//! apply to every gated ref; the same keys in a subsection named by a ref pattern
//! apply to the refs it matches, as git scopes `[branch "main"]` or `[remote "origin"]`:
//!
//! ```text
//! [seal "refs/heads/main"]
//!     requireSigned = true
//!     requireCountersign = review:1
//! ```
//!
//! A pattern is a full ref name where `*` matches any run of characters (`/`
//! included) and `?` one. The rules of every matching section add up.
//!
//! Invariants: the policy comes only from git config (the server's own on a server);
//! signatures are judged only through the [`PolicyResolver`] the caller built; the
//! commits a rule looks at are those the update brings onto the ref (`old..new`; for a
//! new ref its tip and whatever the receiving side does not have yet), so a ref cannot
//! be fast-forwarded onto commits that another ref brought in without the countersign;
//! the rule returns typed [`Problem`]s and prints nothing.

use std::collections::{BTreeMap, BTreeSet};

use git2::Oid;

use crate::error::{Error, Result};
use crate::git::Repo;
use crate::verify::{Problem, Reason, Verifier};

/// What one ref requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub require_signed: bool,
    /// (role, how many distinct allowed signers)
    pub countersigns: Vec<(String, usize)>,
}

impl Rule {
    pub fn is_empty(&self) -> bool {
        !self.require_signed && self.countersigns.is_empty()
    }

    fn add(&mut self, other: &Rule) {
        self.require_signed |= other.require_signed;
        for (role, n) in &other.countersigns {
            match self.countersigns.iter_mut().find(|(r, _)| r == role) {
                Some((_, m)) => *m = (*m).max(*n),
                None => self.countersigns.push((role.clone(), *n)),
            }
        }
    }
}

/// The signing policy of a repository.
#[derive(Debug, Clone, Default)]
pub struct SignPolicy {
    pub global: Rule,
    /// (ref pattern, rule), in config order.
    pub scoped: Vec<(String, Rule)>,
}

/// Parses `ROLE[:N]`.
pub fn parse_countersign(key: &str, value: &str) -> Result<(String, usize)> {
    let bad = || {
        Error::usage(format!(
            "{key} is '{}'; it must be ROLE or ROLE:N (a word and a count from 1)",
            crate::quote::printable(value)
        ))
        .hint(crate::quote::git(&format!(
            "config {} review:1",
            crate::quote::shell(key)
        )))
    };
    let (role, n) = match value.trim().split_once(':') {
        Some((r, n)) => (r, n.trim().parse::<usize>().map_err(|_| bad())?),
        None => (value.trim(), 1),
    };
    if !crate::countersign::valid_role(role) || n == 0 || n > 64 {
        return Err(bad());
    }
    Ok((role.to_string(), n))
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(
            Error::usage(format!("{key} is '{v}', which is not a boolean")).hint(
                crate::quote::git(&format!("config {} true", crate::quote::shell(key))),
            ),
        ),
    }
}

impl SignPolicy {
    pub fn from_config(repo: &Repo) -> Result<SignPolicy> {
        let mut policy = SignPolicy::default();
        if let Some(v) = repo.config_bool("seal.requireSigned")? {
            policy.global.require_signed = v;
        }
        let config = repo.git.config()?.snapshot()?;
        let mut scoped: Vec<(String, Rule)> = Vec::new();
        let mut entries = config.entries(Some(r"^seal\..*"))?;
        while let Some(entry) = entries.next() {
            let entry = entry?;
            if !entry.has_value() {
                continue;
            }
            let (Ok(name), Ok(value)) = (entry.name(), entry.value()) else {
                continue;
            };
            // `seal.<subsection>.<key>`; the subsection may itself hold dots.
            let Some(rest) = name.strip_prefix("seal.") else {
                continue;
            };
            let (section, key) = match rest.rsplit_once('.') {
                Some((s, k)) => (Some(s), k),
                None => (None, rest),
            };
            let key_l = key.to_ascii_lowercase();
            if key_l != "requiresigned" && key_l != "requirecountersign" {
                continue;
            }
            let mut rule = Rule::default();
            if key_l == "requiresigned" {
                if section.is_none() {
                    continue; // read above, `git -c` included
                }
                rule.require_signed = parse_bool(name, value)?;
            } else {
                rule.countersigns.push(parse_countersign(name, value)?);
            }
            match section {
                None => policy.global.add(&rule),
                Some(pattern) => match scoped.iter_mut().find(|(p, _)| p == pattern) {
                    Some((_, r)) => r.add(&rule),
                    None => scoped.push((pattern.to_string(), rule)),
                },
            }
        }
        if let Some(v) = repo.config_string("seal.requireCountersign") {
            // `git -c seal.requireCountersign=…` (config files were read above).
            let rule = Rule {
                countersigns: vec![parse_countersign("seal.requireCountersign", &v)?],
                ..Rule::default()
            };
            policy.global.add(&rule);
        }
        policy.scoped = scoped;
        Ok(policy)
    }

    /// What `refname` requires: the global rule and every matching section's.
    pub fn for_ref(&self, refname: &str) -> Rule {
        let mut rule = self.global.clone();
        for (pattern, r) in &self.scoped {
            if crate::signing::matches(refname, pattern) {
                rule.add(r);
            }
        }
        rule
    }

    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.scoped.iter().all(|(_, r)| r.is_empty())
    }
}

/// The commits an update brings onto its ref, children before parents: `old..new`,
/// or for a new ref its tip and what is not `vetted`.
pub fn landing(repo: &Repo, old: Oid, new: Oid, vetted: &[Oid]) -> Result<Vec<Oid>> {
    let mut walk = repo.git.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL)?;
    walk.push(new)?;
    if old.is_zero() {
        for v in vetted {
            if *v != new && repo.git.find_commit(*v).is_ok() {
                walk.hide(*v)?;
            }
        }
    } else if repo.git.find_commit(old).is_ok() {
        walk.hide(old)?;
    }
    let mut out = walk.collect::<std::result::Result<Vec<_>, _>>()?;
    if out.is_empty() {
        out.push(new);
    }
    Ok(out)
}

/// What a ref's rule finds wrong with the commits landing on it (children first, as
/// [`landing`] gives them), judged by `verifier`'s policy.
pub fn check_rule(
    verifier: &mut Verifier<'_>,
    rule: &Rule,
    commits: &[Oid],
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    for &c in commits {
        let reasons = verifier.check(c)?;
        if !reasons.is_empty() {
            problems.extend(
                reasons
                    .into_iter()
                    .map(|reason| Problem { commit: c, reason }),
            );
            continue;
        }
        valid.push(c);
        if rule.require_signed {
            if let Some(chosen) = verifier.chosen(c) {
                if !chosen.verdict.is_trusted() {
                    problems.push(Problem {
                        commit: c,
                        reason: Reason::NotTrusted(chosen.verdict.clone()),
                    });
                }
            }
        }
    }
    for (role, need) in &rule.countersigns {
        let cover = coverage(verifier, role, &valid)?;
        for &c in &valid {
            let have = cover.get(&c).map_or(0, BTreeSet::len);
            if have < *need {
                problems.push(Problem {
                    commit: c,
                    reason: Reason::MissingCountersign {
                        role: role.clone(),
                        need: *need,
                        have,
                    },
                });
            }
        }
    }
    Ok(problems)
}

/// The trusted countersigners of `role` whose countersign covers `commit`: on the
/// seal `verifier` chose for it, by a principal other than the one who signed that
/// seal (so `review:1` is a second person).
pub fn countersigners(
    verifier: &mut Verifier<'_>,
    role: &str,
    commit: Oid,
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let Some(chosen) = verifier.chosen(commit).cloned() else {
        return Ok(out);
    };
    let digest = chosen.digest;
    // The seal's own signer vouching again is not a second person.
    let sealer = match chosen.verdict {
        crate::signing::Verdict::Trusted { principal, .. } => Some(principal),
        _ => None,
    };
    let stored = crate::countersign::of_commit(verifier.view(), commit)?;
    if stored.is_empty() {
        return Ok(out);
    }
    let policy = verifier.policy_for(commit)?;
    for s in stored {
        if s.countersign.role != role || s.countersign.seal != digest {
            continue;
        }
        if let crate::signing::Verdict::Trusted { principal, .. } =
            crate::countersign::judge(&s, policy.as_deref())
        {
            if sealer.as_ref() != Some(&principal) {
                out.insert(principal);
            }
        }
    }
    Ok(out)
}

/// For each of `commits` (valid, children first), the distinct trusted signers of
/// `role` countersigns that cover it: its own, and those of each child among
/// `commits` whose seal links to it (a non-null `parent_seals` entry). A null link
/// breaks coverage.
pub fn coverage(
    verifier: &mut Verifier<'_>,
    role: &str,
    commits: &[Oid],
) -> Result<BTreeMap<Oid, BTreeSet<String>>> {
    let set: BTreeSet<Oid> = commits.iter().copied().collect();
    let mut cover: BTreeMap<Oid, BTreeSet<String>> = BTreeMap::new();
    for &c in commits {
        let own = countersigners(verifier, role, c)?;
        let mine = cover.entry(c).or_default();
        mine.extend(own);
        let mine = mine.clone();
        let Some(chosen) = verifier.chosen(c).cloned() else {
            continue;
        };
        let parents = crate::git::recorded_parents(&verifier.repo().git.find_commit(c)?);
        for (p, link) in parents.iter().zip(&chosen.parent_seals) {
            if link.is_some() && set.contains(p) {
                cover.entry(*p).or_default().extend(mine.iter().cloned());
            }
        }
    }
    Ok(cover)
}

/// The trusted countersigns of `commit`'s chosen seal, by role: (role, principals).
pub fn vouchers(
    verifier: &mut Verifier<'_>,
    commit: Oid,
) -> Result<Vec<(String, BTreeSet<String>)>> {
    let mut roles: Vec<String> = Vec::new();
    for s in crate::countersign::of_commit(verifier.view(), commit)? {
        if !roles.contains(&s.countersign.role) {
            roles.push(s.countersign.role.clone());
        }
    }
    let mut out = Vec::new();
    for role in roles {
        let who = countersigners(verifier, &role, commit)?;
        if !who.is_empty() {
            out.push((role, who));
        }
    }
    Ok(out)
}

/// How many commits the chosen seal of `tip` vouches for through its chain: itself
/// and every ancestor reached by non-null `parent_seals` links whose digest a seal of
/// that parent states and holds. A null link (or a missing parent seal) stops it.
pub fn chained(verifier: &Verifier<'_>, tip: Oid) -> Result<usize> {
    let Some(first) = verifier.chosen(tip).map(|c| c.digest.clone()) else {
        return Ok(0);
    };
    let repo = verifier.repo();
    let view = verifier.view();
    let mut seen = BTreeSet::new();
    let mut stack = vec![(tip, first)];
    while let Some((c, digest)) = stack.pop() {
        if !seen.insert(c) {
            continue;
        }
        // The seal verify chose carries its links already; another one is read.
        let links = match verifier.chosen(c) {
            Some(ch) if ch.digest == digest => Some(ch.parent_seals.clone()),
            _ => seal_with_digest(view, c, &digest)?.map(|s| s.parent_seals),
        };
        let Some(links) = links else {
            seen.remove(&c);
            continue;
        };
        let Ok(commit) = repo.git.find_commit(c) else {
            continue;
        };
        for (p, link) in crate::git::recorded_parents(&commit).into_iter().zip(links) {
            if let Some(d) = link {
                stack.push((p, d));
            }
        }
    }
    Ok(seen.len())
}

/// The candidate seal of `commit` stating `digest`, whose digest holds.
fn seal_with_digest(
    view: &crate::ledger::View<'_>,
    commit: Oid,
    digest: &str,
) -> Result<Option<crate::seal::Seal>> {
    for c in view.candidates(commit)? {
        let Ok(text) = view.text(c.blob, &format!("of {commit}"))? else {
            continue;
        };
        if let Ok(p) = crate::seal::Seal::parse(&text) {
            if p.seal.digest == digest && p.computed_digest == digest {
                return Ok(Some(p.seal));
            }
        }
    }
    Ok(None)
}
