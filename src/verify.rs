//! Verification of commit seals (brief §2.2 "valid seal") and of the working tree
//! against HEAD's manifest.
//!
//! Invariant: verification only reads. Each problem found is one [`Problem`] naming
//! the commit and the reason; a commit is valid exactly when it has none.

mod ahead;

use std::fmt;

use git2::Oid;

use crate::cache::{CacheMode, Manifests};
use crate::engine::stated_digest;
use crate::error::Result;
use crate::git::{recorded_parents, short, IdKey, Repo};
use crate::ledger::View;
use crate::manifest::{hash_path, Manifest};
use crate::memo::Generations;
use crate::seal::{person, Parsed as ParsedSeal, Person, Seal};
use crate::signing::{Policy, PolicyResolver, Verdict};
use ahead::Ahead;

/// Why a commit's seal is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NoSeal,
    Unreadable(String),
    WrongCommit {
        stated: String,
    },
    WrongTree {
        stated: String,
        actual: String,
    },
    WrongParents,
    DigestMismatch {
        stated: String,
        actual: String,
    },
    ManifestMismatch {
        stated: String,
        actual: String,
    },
    BrokenChain {
        parent: Oid,
        stated: String,
        actual: Option<String>,
    },
    /// `kind` is not `commit`.
    WrongKind {
        stated: String,
    },
    /// The seal states another object format than the repository's (`object_format`,
    /// absent meaning sha1): it was made in a repository of the other format.
    WrongObjectFormat {
        stated: String,
        actual: &'static str,
    },
    /// The seal's `author` differs from the commit's, as the writer renders it.
    WrongAuthor {
        field: &'static str,
        stated: String,
        actual: String,
    },
    /// The seal's `committer` differs from the commit's.
    WrongCommitter {
        field: &'static str,
        stated: String,
        actual: String,
    },
    /// `manifest.files` is not the tree's file count.
    WrongFileCount {
        stated: u64,
        actual: u64,
    },
    /// `manifest.bytes` is not the tree's byte total.
    WrongByteCount {
        stated: u64,
        actual: u64,
    },
    /// A `null` in `parent_seals` and the parent still has no seal: the chain has a
    /// hole. Reported by [`Verifier::chain_gaps`], and a failure.
    UnsealedParent {
        parent: Oid,
    },
    /// A `null` in `parent_seals` for a parent that has a seal now: it was sealed after
    /// its child, so the child's seal does not pin it. Reported by
    /// [`Verifier::chain_gaps`]; a warning (see [`Reason::is_warning`]).
    SealedAfterChild {
        parent: Oid,
    },
    /// A signature is present and does not verify (or is malformed): always a
    /// problem, whatever the policy (brief §2.4).
    BadSignature(Verdict),
    /// Policy (`seal.requireSigned`) asks for a signature by an allowed signer and the
    /// seal has none that is trusted (unsigned, not allowed, expired, revoked).
    NotTrusted(Verdict),
    /// Policy (`seal.requireCountersign`) asks for `need` countersigns of `role` by
    /// distinct allowed signers covering this commit; `have` cover it.
    MissingCountersign {
        role: String,
        need: usize,
        have: usize,
    },
}

impl Reason {
    /// Whether this reason is said but does not fail a check: a chain link that was
    /// never made, over a parent whose own seal verifies on its own.
    pub fn is_warning(&self) -> bool {
        matches!(self, Reason::SealedAfterChild { .. })
    }
}

impl Reason {
    /// A stable name for this kind of problem, for `--json` (the text is for people).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NoSeal => "no_seal",
            Reason::Unreadable(_) => "unreadable",
            Reason::WrongCommit { .. } => "wrong_commit",
            Reason::WrongTree { .. } => "wrong_tree",
            Reason::WrongParents => "wrong_parents",
            Reason::DigestMismatch { .. } => "digest_mismatch",
            Reason::ManifestMismatch { .. } => "manifest_mismatch",
            Reason::BrokenChain { .. } => "broken_chain",
            Reason::WrongKind { .. } => "wrong_kind",
            Reason::WrongObjectFormat { .. } => "wrong_object_format",
            Reason::WrongAuthor { .. } => "wrong_author",
            Reason::WrongCommitter { .. } => "wrong_committer",
            Reason::WrongFileCount { .. } => "wrong_file_count",
            Reason::WrongByteCount { .. } => "wrong_byte_count",
            Reason::UnsealedParent { .. } => "unsealed_parent",
            Reason::SealedAfterChild { .. } => "sealed_after_child",
            Reason::BadSignature(_) => "bad_signature",
            Reason::NotTrusted(_) => "not_trusted",
            Reason::MissingCountersign { .. } => "missing_countersign",
        }
    }
}

/// How much of a value a seal states a problem shows: every real value (an id, a
/// digest, a name) fits, and a hostile seal's 64 KiB field is not a 160 KB line of
/// output per commit.
const STATED_SHOWN: usize = 256;

/// A value from the ledger as a problem shows it: control characters escaped, and cut
/// at [`STATED_SHOWN`] characters, saying how long it was.
fn shown(stated: &str) -> String {
    let kept = crate::limits::prefix(stated, STATED_SHOWN);
    if kept.len() == stated.len() {
        return crate::quote::printable(stated);
    }
    format!(
        "{}… ({} bytes)",
        crate::quote::printable(kept),
        stated.len()
    )
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = shown;
        match self {
            Reason::NoSeal => f.write_str("no seal"),
            Reason::Unreadable(why) => write!(f, "unreadable seal: {}", p(why)),
            Reason::WrongCommit { stated } => {
                write!(f, "seal names another commit ({})", p(stated))
            }
            Reason::WrongTree { stated, actual } => {
                write!(f, "seal names tree {}, commit has {actual}", p(stated))
            }
            Reason::WrongParents => f.write_str("seal lists other parents than the commit has"),
            Reason::DigestMismatch { stated, actual } => write!(
                f,
                "seal digest mismatch: seal states {}, its content hashes to {actual}",
                p(stated)
            ),
            Reason::ManifestMismatch { stated, actual } => write!(
                f,
                "manifest mismatch: seal states {}, tree hashes to {actual}",
                p(stated)
            ),
            Reason::BrokenChain {
                parent,
                stated,
                actual,
            } => match actual {
                Some(a) => write!(
                    f,
                    "broken parent chain: parent {} seal is {}, seal expects {}",
                    short(*parent),
                    p(a),
                    p(stated)
                ),
                None => write!(
                    f,
                    "broken parent chain: parent {} has no seal, seal expects {}",
                    short(*parent),
                    p(stated)
                ),
            },
            Reason::WrongKind { stated } => {
                write!(f, "seal is of kind {}, not commit", p(stated))
            }
            Reason::WrongObjectFormat { stated, actual } => write!(
                f,
                "seal was made in a repository of object format {}, this one is {actual}: its ids name nothing here",
                p(stated)
            ),
            Reason::WrongAuthor {
                field,
                stated,
                actual,
            } => write!(
                f,
                "author {field} mismatch: seal states {}, commit has {}",
                p(stated),
                p(actual)
            ),
            Reason::WrongCommitter {
                field,
                stated,
                actual,
            } => write!(
                f,
                "committer {field} mismatch: seal states {}, commit has {}",
                p(stated),
                p(actual)
            ),
            Reason::UnsealedParent { parent } => write!(
                f,
                "parent {} has no seal (the seal's parent_seals entry is null)",
                short(*parent)
            ),
            Reason::SealedAfterChild { parent } => write!(
                f,
                "chain not linked: parent {} was sealed after its child",
                short(*parent)
            ),
            Reason::WrongFileCount { stated, actual } => write!(
                f,
                "manifest file count mismatch: seal states {stated}, tree has {actual}"
            ),
            Reason::WrongByteCount { stated, actual } => write!(
                f,
                "manifest byte total mismatch: seal states {stated}, tree has {actual}"
            ),
            Reason::BadSignature(v) => write!(f, "{v}"),
            Reason::NotTrusted(v) => write!(f, "not signed by an allowed signer: {v}"),
            Reason::MissingCountersign { role, need, have } => write!(
                f,
                "needs {need} {role} countersign(s) by distinct allowed signers, has {have}"
            ),
        }
    }
}

/// One problem with one commit.
#[derive(Debug, Clone)]
pub struct Problem {
    pub commit: Oid,
    pub reason: Reason,
}

/// How many commits' seal digests a generation of [`Verifier`]'s memory keeps to check
/// their children's links.
const HOLDS_REMEMBERED_MAX: usize = 4_096;

/// Checks seals against one ledger view, reusing manifests across commits.
pub struct Verifier<'r> {
    repo: &'r Repo,
    view: View<'r>,
    manifests: Manifests<'r>,
    /// The parents each valid seal checked so far leaves unlinked (`null`).
    unlinked: std::collections::BTreeMap<Oid, Vec<Oid>>,
    /// Who judges signatures; `None`: nobody is allowed (signatures are still
    /// checked: a bad one is a problem).
    policy: Option<PolicyResolver>,
    /// The seal each valid commit checked so far is verified by, and its verdict.
    chosen: std::collections::BTreeMap<Oid, Chosen>,
    /// Digests of candidate seals read so far that name their commit and whose own
    /// digest holds, by commit: a child's `parent_seals` link is checked against
    /// them without reading and parsing the parent's seals again.
    holds: Generations<IdKey, Vec<String>>,
}

/// The seal a valid commit is verified by: of its valid candidates, the first whose
/// signature is trusted, else the first (so an untrusted or unsigned seal never
/// displaces a trusted one).
#[derive(Debug, Clone)]
pub struct Chosen {
    pub digest: String,
    pub verdict: Verdict,
    /// Its `parent_seals`, for coverage walks.
    pub parent_seals: Vec<Option<String>>,
    /// How many valid candidates it was chosen from.
    pub candidates: usize,
}

impl<'r> Verifier<'r> {
    /// `CacheMode::Off` recomputes every manifest from blob contents, trusting no
    /// digest remembered on this machine.
    pub fn new(repo: &'r Repo, view: View<'r>, mode: CacheMode) -> Self {
        Verifier {
            repo,
            view,
            manifests: Manifests::new(repo, mode),
            unlinked: std::collections::BTreeMap::new(),
            policy: None,
            chosen: std::collections::BTreeMap::new(),
            holds: Generations::new(HOLDS_REMEMBERED_MAX),
        }
    }

    /// Judges signatures with `policy` (and so lets trust choose between candidates).
    pub fn with_policy(mut self, policy: PolicyResolver) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The seal `oid` was verified by ([`Verifier::check`] found it valid), and its
    /// signature's verdict.
    pub fn chosen(&self, oid: Oid) -> Option<&Chosen> {
        self.chosen.get(&oid)
    }

    /// The repository.
    pub fn repo(&self) -> &'r Repo {
        self.repo
    }

    /// The view seals are read from.
    pub fn view(&self) -> &View<'r> {
        &self.view
    }

    /// The in-repo trust chain's problems on the first-parent lines of `commits`
    /// (`PolicyResolver::trust_problems`), from the resolver that judged them.
    pub fn trust_problems(&mut self, commits: &[Oid]) -> Result<Vec<crate::trust::Problem>> {
        match &mut self.policy {
            Some(p) => p.trust_problems(commits),
            None => Ok(Vec::new()),
        }
    }

    /// The policy judging `oid`'s seal (`None`: none configured).
    pub fn policy_for(&mut self, oid: Oid) -> Result<Option<std::sync::Arc<Policy>>> {
        match &mut self.policy {
            Some(p) => p.policy_for(oid),
            None => Ok(None),
        }
    }

    /// The verdict on `signature` over `message` at `at`, by `oid`'s policy.
    fn judge(
        &mut self,
        oid: Oid,
        signature: Option<&crate::signing::Signature>,
        message: &[u8],
        at: i64,
    ) -> Result<Verdict> {
        if signature.is_none() {
            return Ok(Verdict::Unsigned);
        }
        let policy = self.policy_for(oid)?;
        let empty = Policy::default();
        Ok(policy
            .as_deref()
            .unwrap_or(&empty)
            .verify(signature, message, at))
    }

    /// The problems with `oid`'s seal; empty when it is valid. A commit may have
    /// several candidate seals (its note, seals kept aside by merges, fetched ones):
    /// it is valid when any candidate is, so a hostile seal fetched beside a valid
    /// local one never makes it fail. Otherwise the first candidate's problems.
    pub fn check(&mut self, oid: Oid) -> Result<Vec<Reason>> {
        self.check_with(oid, None)
    }

    /// [`Verifier::check`], with the seal of one blob already read and parsed.
    fn check_with(&mut self, oid: Oid, mut ahead: Option<(Oid, Ahead)>) -> Result<Vec<Reason>> {
        let candidates = self.view.candidates(oid)?;
        if candidates.is_empty() {
            return Ok(vec![Reason::NoSeal]);
        }
        // Read once for every candidate and the chain's links.
        let commit = self.repo.git.find_commit(oid)?;
        let mut first = None;
        let mut valid: Vec<Chosen> = Vec::new();
        for candidate in &candidates {
            let read = match ahead.take() {
                Some((blob, read)) if blob == candidate.blob => read,
                other => {
                    ahead = other;
                    Ahead::NotRead
                }
            };
            let (mut reasons, parsed) = match read {
                Ahead::Parsed(parsed) => self.check_parsed_seal(&commit, *parsed)?,
                Ahead::Unreadable(why) => (vec![Reason::Unreadable(why)], None),
                Ahead::NotRead => match self.view.text(candidate.blob, &format!("of {oid}"))? {
                    Ok(text) => self.check_text(&commit, &text)?,
                    Err(too_large) => (vec![Reason::Unreadable(too_large.to_string())], None),
                },
            };
            if reasons.is_empty() {
                if let Some(p) = parsed {
                    let verdict = match &p.signature_error {
                        Some(why) => Verdict::BadSignature { why: why.clone() },
                        None => {
                            let at = p.seal.sealed_at_unix().unwrap_or(i64::MIN);
                            self.judge(oid, p.seal.signature.as_ref(), &p.signed, at)?
                        }
                    };
                    if verdict.is_bad() {
                        reasons.push(Reason::BadSignature(verdict));
                    } else {
                        let trusted = verdict.is_trusted();
                        valid.push(Chosen {
                            digest: p.seal.digest,
                            verdict,
                            parent_seals: p.seal.parent_seals,
                            candidates: 0,
                        });
                        if trusted {
                            break;
                        }
                        continue;
                    }
                }
            }
            if !reasons.is_empty() {
                first.get_or_insert(reasons);
            }
        }
        let count = valid.len();
        // The first trusted one (the loop stops at it), else the first valid one.
        let pick = valid
            .iter()
            .position(|c| c.verdict.is_trusted())
            .unwrap_or(0);
        if let Some(mut chosen) = valid.into_iter().nth(pick) {
            chosen.candidates = count;
            self.remember_unlinked(&commit, &chosen.parent_seals);
            self.chosen.insert(oid, chosen);
            return Ok(Vec::new());
        }
        Ok(first.unwrap_or_else(|| vec![Reason::NoSeal]))
    }

    /// Notes the parents whose `parent_seals` entry is `null` in `text`, the valid
    /// seal of `commit`, for [`Verifier::chain_gaps`].
    fn remember_unlinked(&mut self, commit: &git2::Commit<'_>, parent_seals: &[Option<String>]) {
        let recorded = recorded_parents(commit);
        let nulls = recorded
            .into_iter()
            .zip(parent_seals)
            .filter(|(_, s)| s.is_none())
            .map(|(parent, _)| parent)
            .collect();
        self.unlinked.insert(commit.id(), nulls);
    }

    /// The problems with `text` as the seal of `commit`, and the seal as parsed (read
    /// once: the signature is judged from the same parse).
    fn check_text(
        &mut self,
        commit: &git2::Commit<'_>,
        text: &str,
    ) -> Result<(Vec<Reason>, Option<ParsedSeal>)> {
        match Seal::parse(text) {
            Ok(parsed) => self.check_parsed_seal(commit, parsed),
            Err(e) => Ok((vec![Reason::Unreadable(e.to_string())], None)),
        }
    }

    fn check_parsed_seal(
        &mut self,
        commit: &git2::Commit<'_>,
        parsed: ParsedSeal,
    ) -> Result<(Vec<Reason>, Option<ParsedSeal>)> {
        self.note_holds(commit.id(), &parsed);
        let reasons = self.check_parsed(commit, &parsed)?;
        Ok((reasons, Some(parsed)))
    }

    fn check_parsed(
        &mut self,
        commit: &git2::Commit<'_>,
        parsed: &ParsedSeal,
    ) -> Result<Vec<Reason>> {
        let seal = &parsed.seal;
        let oid = commit.id();
        let stated = crate::seal::stated_format(seal.object_format.as_deref());
        let actual = crate::git::format_name(self.repo.object_format());
        if stated != actual {
            // Every id in it is of the other length: the other mismatches would be noise.
            return Ok(vec![Reason::WrongObjectFormat {
                stated: stated.to_string(),
                actual,
            }]);
        }
        let mut reasons = Vec::new();
        if seal.commit != oid.to_string() {
            reasons.push(Reason::WrongCommit {
                stated: seal.commit.clone(),
            });
        }
        // The id alone: reading the tree object cost a warm verify a root tree's
        // inflate and parse per commit.
        let tree = commit.tree_id();
        if seal.tree != tree.to_string() {
            reasons.push(Reason::WrongTree {
                stated: seal.tree.clone(),
                actual: tree.to_string(),
            });
        }
        let recorded = recorded_parents(commit);
        let parents: Vec<String> = recorded.iter().map(Oid::to_string).collect();
        if seal.parents != parents || seal.parent_seals.len() != parents.len() {
            reasons.push(Reason::WrongParents);
        }
        if parsed.computed_digest != seal.digest {
            reasons.push(Reason::DigestMismatch {
                stated: seal.digest.clone(),
                actual: parsed.computed_digest.clone(),
            });
        }
        if seal.kind != "commit" {
            reasons.push(Reason::WrongKind {
                stated: seal.kind.clone(),
            });
        }
        // Re-rendered exactly as the writer renders them (`seal::person`), so a seal
        // this tool wrote compares equal byte for byte.
        let author = person(&commit.author());
        for (field, stated, actual) in person_diff(&seal.author, &author) {
            reasons.push(Reason::WrongAuthor {
                field,
                stated,
                actual,
            });
        }
        let committer = person(&commit.committer());
        for (field, stated, actual) in person_diff(&seal.committer, &committer) {
            reasons.push(Reason::WrongCommitter {
                field,
                stated,
                actual,
            });
        }
        let mut summary = self.manifests.summary_of(commit)?;
        let claimed = (
            seal.manifest.digest.clone(),
            seal.manifest.files,
            seal.manifest.bytes,
        );
        if summary != claimed {
            // A remembered digest that disagrees is recomputed before it fails a
            // seal (derived from the parent, so a push of bad seals costs its
            // changes): a damaged cache never fails a valid commit. One that agrees
            // is trusted as this machine's own work; `--no-cache` trusts none.
            let m = self.manifests.manifest_of(commit)?;
            summary = (m.digest(), m.files(), m.bytes());
        }
        let (actual, files, bytes) = summary;
        if actual != seal.manifest.digest {
            reasons.push(Reason::ManifestMismatch {
                stated: seal.manifest.digest.clone(),
                actual,
            });
        }
        if files != seal.manifest.files {
            reasons.push(Reason::WrongFileCount {
                stated: seal.manifest.files,
                actual: files,
            });
        }
        if bytes != seal.manifest.bytes {
            reasons.push(Reason::WrongByteCount {
                stated: seal.manifest.bytes,
                actual: bytes,
            });
        }
        for (&parent, expected) in recorded.iter().zip(&seal.parent_seals) {
            let Some(expected) = expected else { continue };
            if !self.chains_to(parent, expected)? {
                reasons.push(Reason::BrokenChain {
                    parent,
                    stated: expected.clone(),
                    actual: stated_digest(&self.view, parent)?,
                });
            }
        }
        Ok(reasons)
    }

    /// Whether `digest` is the digest of one of `parent`'s candidate seals that names
    /// `parent` and whose own digest holds. (The parent's manifest is checked when the
    /// parent itself is verified.)
    fn chains_to(&mut self, parent: Oid, digest: &str) -> Result<bool> {
        let held = |v: &Self| {
            v.holds
                .get(&IdKey(parent))
                .is_some_and(|h| h.iter().any(|d| d == digest))
        };
        if held(self) {
            return Ok(true);
        }
        for candidate in self.view.candidates(parent)? {
            let Ok(text) = self.view.text(candidate.blob, &format!("of {parent}"))? else {
                continue;
            };
            if let Ok(p) = Seal::parse(&text) {
                self.note_holds(parent, &p);
            }
        }
        Ok(held(self))
    }

    /// Remembers `parsed`'s digest for [`Verifier::chains_to`] when it is a seal of
    /// `oid` whose own digest holds (what a `parent_seals` link may name).
    fn note_holds(&mut self, oid: Oid, parsed: &ParsedSeal) {
        let seal = &parsed.seal;
        if parsed.computed_digest == seal.digest && seal.commit == oid.to_string() {
            // A memory of what was read, not a record (a parent forgotten is read
            // again): a full verify kept an entry per commit (git/git: 14 MB).
            self.holds.turn();
            let held = self.holds.entry(IdKey(oid));
            if !held.contains(&seal.digest) {
                held.push(seal.digest.clone());
            }
        }
    }

    /// The holes in the chain of `oid`'s valid seal (checked by [`Verifier::check`]
    /// before): each `null` in its `parent_seals`, as [`Reason::UnsealedParent`] when
    /// the parent still has no seal, [`Reason::SealedAfterChild`] when it has one now.
    /// Not part of `check`: a push of a child whose parent is already on the server
    /// (history from before git-seal was installed) is not refused for it.
    pub fn chain_gaps(&self, oid: Oid) -> Result<Vec<Reason>> {
        let mut gaps = Vec::new();
        for &parent in self.unlinked.get(&oid).into_iter().flatten() {
            gaps.push(if self.view.candidates(parent)?.is_empty() {
                Reason::UnsealedParent { parent }
            } else {
                Reason::SealedAfterChild { parent }
            });
        }
        Ok(gaps)
    }

    /// Checks each commit, returning every problem found.
    pub fn check_all(&mut self, commits: &[Oid]) -> Result<Vec<Problem>> {
        if commits.len() > 1 {
            self.manifests.for_history();
        }
        // Each commit's note, once: for the seals read ahead and the manifests to
        // prepare.
        let notes = if commits.len() >= ahead::AHEAD_MIN_NOTES {
            let mut notes = Vec::with_capacity(commits.len());
            for &c in commits {
                if let Some(blob) = self.view.note_oid(c)? {
                    notes.push((c, blob));
                }
            }
            notes
        } else {
            Vec::new()
        };
        if commits.len() >= crate::history::FEED_MIN_COMMITS {
            // The commits whose manifest this run will compute: sealed, and with no
            // digest this machine remembers for their tree.
            let mut todo = Vec::with_capacity(notes.len());
            for &(c, _) in &notes {
                if !self
                    .manifests
                    .remembers(self.repo.git.find_commit(c)?.tree_id())
                {
                    todo.push(c);
                }
            }
            self.manifests.prepare_history(&todo)?;
        }
        if notes.len() < ahead::AHEAD_MIN_NOTES {
            return self.check_each(commits, None);
        }
        let locator = self.repo.locator();
        crate::git::tune_for_history_reads();
        std::thread::scope(|scope| {
            let seals = ahead::spawn(scope, locator, &notes);
            self.check_each(commits, Some((&notes, &seals)))
        })
    }

    /// Checks `commits` in order, taking each note's seal from `ahead` (the notes
    /// it reads, in the same order) as it comes.
    fn check_each(
        &mut self,
        commits: &[Oid],
        ahead: Option<(&[(Oid, Oid)], &ahead::SealsAhead)>,
    ) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let mut next_note = 0;
        for &commit in commits {
            let read = match ahead {
                Some((notes, seals)) if notes.get(next_note).is_some_and(|n| n.0 == commit) => {
                    next_note += 1;
                    seals.next()
                }
                _ => None,
            };
            for reason in self.check_with(commit, read)? {
                problems.push(Problem { commit, reason });
            }
        }
        Ok(problems)
    }
}

/// The fields (`name`, `email`, `time`) in which `stated` differs from `actual`.
fn person_diff(stated: &Person, actual: &Person) -> Vec<(&'static str, String, String)> {
    [
        ("name", &stated.name, &actual.name),
        ("email", &stated.email, &actual.email),
        ("time", &stated.time, &actual.time),
    ]
    .into_iter()
    .filter(|(_, s, a)| s != a)
    .map(|(f, s, a)| (f, s.clone(), a.clone()))
    .collect()
}

/// How a file on disk differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeProblem {
    Missing(Vec<u8>),
    Modified(Vec<u8>),
    TypeChanged(Vec<u8>),
    ModeChanged(Vec<u8>),
}

impl WorktreeProblem {
    /// What happened to the file, as a stable name for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            WorktreeProblem::Missing(_) => "missing",
            WorktreeProblem::Modified(_) => "modified",
            WorktreeProblem::TypeChanged(_) => "type_changed",
            WorktreeProblem::ModeChanged(_) => "mode_changed",
        }
    }

    /// The path, as stored in the tree (bytes).
    pub fn path(&self) -> &[u8] {
        match self {
            WorktreeProblem::Missing(p)
            | WorktreeProblem::Modified(p)
            | WorktreeProblem::TypeChanged(p)
            | WorktreeProblem::ModeChanged(p) => p,
        }
    }
}

impl fmt::Display for WorktreeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, path) = match self {
            WorktreeProblem::Missing(p) => ("missing", p),
            WorktreeProblem::Modified(p) => ("modified", p),
            WorktreeProblem::TypeChanged(p) => ("type changed", p),
            WorktreeProblem::ModeChanged(p) => ("mode changed", p),
        };
        write!(f, "{}: {what}", crate::quote::c_style(path))
    }
}

/// Compares the files under `root` with `manifest`: every regular file, executable
/// and symlink it lists must be on disk with the same content and type. Submodules
/// are left to their own repositories; untracked files are not the manifest's concern.
pub fn check_worktree(root: &std::path::Path, manifest: &Manifest) -> Vec<WorktreeProblem> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut problems = Vec::new();
    for e in manifest.entries().filter(|e| !e.is_gitlink()) {
        let path = root.join(std::ffi::OsStr::from_bytes(e.path));
        let owned = e.path.to_vec();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            problems.push(WorktreeProblem::Missing(owned));
            continue;
        };
        if meta.file_type().is_symlink() != e.is_symlink() || meta.is_dir() {
            problems.push(WorktreeProblem::TypeChanged(owned));
            continue;
        }
        match hash_path(&path, e.is_symlink()) {
            Ok((hash, _)) if hash == e.hash => {}
            Ok(_) => {
                problems.push(WorktreeProblem::Modified(owned));
                continue;
            }
            Err(_) => {
                problems.push(WorktreeProblem::Missing(owned));
                continue;
            }
        }
        if e.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            if exec != (e.mode == 0o100755) {
                problems.push(WorktreeProblem::ModeChanged(owned));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stated_value_is_shown_escaped_and_cut() {
        let long = "\0".repeat(32_000);
        let reason = Reason::WrongAuthor {
            field: "name",
            stated: long,
            actual: "Ada".into(),
        };
        let line = reason.to_string();
        assert!(line.len() < 2_000, "{} bytes", line.len());
        assert!(
            line.contains("\\u{0}… (32000 bytes), commit has Ada"),
            "{line}"
        );
        let short = Reason::WrongKind {
            stated: "tag\n".into(),
        };
        assert_eq!(short.to_string(), "seal is of kind tag\\u{a}, not commit");
    }
}
