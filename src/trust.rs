//! Trust that travels with the repository (brief §2.7): the policy chain of
//! `.seal/allowed_signers`, from a root commit the user pins once (`seal.trustRoot`).
//!
//! The file `.seal/allowed_signers` in a commit's tree (OpenSSH's allowed-signers
//! format, `namespaces="git-seal"`) is the policy *in force* at that commit, once the
//! chain has accepted it. A commit's seal signature is judged by the policy in force
//! at its first parent. The root starts the chain only when its own seal is signed
//! by a signer its own policy trusts, or, when a key fingerprint is pinned with the
//! root, by that key (`verify` then still judges the root's signature by the root's
//! policy); a root that cannot start it is an error for every commit that reaches it.
//!
//! Invariants:
//! - A commit that changes anything under `.seal/` (its `.seal` tree entry differs
//!   from its first parent's) counts only if one of its seals is signed by a signer
//!   the parent's policy trusts at `sealed_at`; otherwise it is a
//!   [`Problem::Violation`] naming the commit and the key, and its change never takes
//!   effect: the parent's policy stays in force for it and its descendants. An
//!   attacker's policy therefore never judges anything.
//! - Merges are judged by their first parent only: a second parent's policy change
//!   reaches the first-parent line only through the merge itself, which then changes
//!   `.seal/` relative to its first parent and must be signed by a signer that
//!   parent's policy allows.
//! - A commit whose first-parent line does not reach the root (older history, an
//!   unrelated or orphan branch, a shallow boundary) is outside the chain: it is
//!   judged by the empty policy, which trusts nobody (fail closed), and
//!   [`Chain::standing`] says so.
//! - A policy file is read through its object header first and refused over
//!   [`MAX_POLICY_BYTES`] (signing's cap) before its content is read; parsing is one
//!   linear pass. A `.seal` or `.seal/allowed_signers` that is a symbolic link,
//!   submodule or the wrong kind of object, a file that is not UTF-8 or has content
//!   but no usable line, is a [`Problem::BadPolicy`] at the commit that brings it,
//!   and the previous policy stays in force. Nothing read from a tree panics.
//! - Cost is linear in the commits walked: each commit's standing is computed once
//!   per [`Chain`] (iteratively, no recursion), a commit that leaves `.seal`
//!   unchanged shares its parent's policy (`Arc`), and a policy is parsed once per
//!   blob id of `.seal/allowed_signers`.
//!
//! This module reads commits and trees but no config, ledger or environment: the
//! caller passes the root and a [`SealSource`] that yields a commit's seals.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{recorded_parents, short, Repo};
use crate::ledger::Ledger;
use crate::seal::Seal;
use crate::signing::allowed_signers::MAX_POLICY_BYTES;
use crate::signing::{AllowedSigners, Policy, Revocations, Signature, Verdict};

/// The directory of the in-repository policy.
pub const POLICY_DIR: &str = ".seal";
/// The allowed-signers file inside [`POLICY_DIR`].
pub const POLICY_FILE: &str = "allowed_signers";
/// Its path in a tree, for messages.
pub const POLICY_PATH: &str = ".seal/allowed_signers";

/// Where trust starts: `seal.trustRoot`, with an optional pinned key fingerprint
/// (`SHA256:…`, as `ssh-keygen -l` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub commit: Oid,
    pub key: Option<String>,
}

/// Whether `s` is an OpenSSH SHA256 key fingerprint (`SHA256:` + 43 unpadded
/// base64 characters).
pub fn is_fingerprint(s: &str) -> bool {
    s.strip_prefix("SHA256:").is_some_and(|b| {
        b.len() == 43
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

/// Parses `seal.trustRoot`'s value: `<commit id>` or `<commit id> <fingerprint>`.
pub fn parse_root(value: &str) -> Option<(String, Option<String>)> {
    let mut it = value.split_whitespace();
    let rev = it.next()?.to_string();
    let key = it.next().map(str::to_string);
    if it.next().is_some() || key.as_deref().is_some_and(|k| !is_fingerprint(k)) {
        return None;
    }
    Some((rev, key))
}

/// One seal of a commit, ready to be judged: already checked to name the commit
/// and its tree, with a digest that holds.
#[derive(Debug, Clone)]
pub struct SignedSeal {
    pub signature: Option<Signature>,
    /// The signed message (canonical JSON of the seal without digest and signature).
    pub message: Vec<u8>,
    /// `sealed_at`, as unix time.
    pub at: i64,
}

/// Yields a commit's seals (the ledger's candidates, for the product).
pub trait SealSource {
    fn seals_of(&mut self, commit: Oid) -> Result<Vec<SignedSeal>>;
}

/// Why a policy file in a tree cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadPolicy {
    /// `.seal` or the file is a symbolic link.
    Symlink {
        path: &'static str,
    },
    /// The file (or `.seal`) is not what it must be (a tree, a blob).
    WrongKind {
        path: &'static str,
        found: String,
    },
    TooLarge {
        bytes: u64,
    },
    NotUtf8,
    /// Content, but not one line OpenSSH could use; the first bad line.
    NoUsableLine {
        line: usize,
        why: String,
    },
}

impl fmt::Display for BadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadPolicy::Symlink { path } => write!(f, "{path} is a symbolic link"),
            BadPolicy::WrongKind { path, found } => write!(f, "{path} is a {found}"),
            BadPolicy::TooLarge { bytes } => {
                write!(
                    f,
                    "{POLICY_PATH} is {bytes} bytes, over the {MAX_POLICY_BYTES}-byte limit"
                )
            }
            BadPolicy::NotUtf8 => write!(f, "{POLICY_PATH} is not UTF-8 text"),
            BadPolicy::NoUsableLine { line, why } => write!(
                f,
                "{POLICY_PATH} has no usable line (line {line}: {})",
                crate::quote::printable(why)
            ),
        }
    }
}

/// A problem the chain finds at one commit. Both fail `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The commit changes `.seal/` and no seal of it is signed by a signer its
    /// parent's policy allows. `verdict` is the best one its seals got (it names the
    /// key fingerprint when the seal is signed).
    Violation {
        commit: Oid,
        parent: Oid,
        verdict: Verdict,
    },
    /// The commit's change to the policy is signed as it must be, but the file it
    /// brings cannot be used; the parent's policy stays in force.
    BadPolicy { commit: Oid, why: BadPolicy },
}

impl Problem {
    pub fn commit(&self) -> Oid {
        match self {
            Problem::Violation { commit, .. } | Problem::BadPolicy { commit, .. } => *commit,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Violation {
                parent, verdict, ..
            } => write!(
                f,
                "changes {POLICY_DIR}/ without a signature its parent's policy allows \
                 (policy of {}): {verdict}",
                short(*parent)
            ),
            Problem::BadPolicy { why, .. } => write!(
                f,
                "unusable trust policy: {why}; the parent's policy stays in force"
            ),
        }
    }
}

/// Why the pinned root cannot start the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootProblem {
    NotACommit,
    NoPolicy,
    BadPolicy(BadPolicy),
    NoSeal,
    /// Its seal is not signed by the pinned key; the fingerprints that did sign.
    NotPinnedKey {
        pinned: String,
        found: Vec<String>,
    },
    /// Its seal is not trusted by its own policy.
    NotTrusted(Verdict),
}

impl fmt::Display for RootProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootProblem::NotACommit => write!(f, "it is not a commit in this repository"),
            RootProblem::NoPolicy => write!(f, "its tree has no {POLICY_PATH}"),
            RootProblem::BadPolicy(why) => write!(f, "{why}"),
            RootProblem::NoSeal => write!(f, "it has no valid seal"),
            RootProblem::NotPinnedKey { pinned, found } if found.is_empty() => {
                write!(f, "its seal is not signed (the pin requires key {pinned})")
            }
            RootProblem::NotPinnedKey { pinned, found } => write!(
                f,
                "its seal is signed by {}, not by the pinned key {pinned}",
                found.join(", ")
            ),
            RootProblem::NotTrusted(verdict) => {
                write!(f, "its seal is not trusted by its own policy: {verdict}")
            }
        }
    }
}

/// Where a commit stands in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its first-parent line reaches the root.
    Chained,
    /// It does not descend from the root by first parents.
    Outside,
}

#[derive(Debug, Clone)]
struct Node {
    /// The policy in force at this commit (what its children are judged by).
    policy: Arc<Policy>,
    /// The id of its `.seal` tree entry (None: absent).
    seal_entry: Option<Oid>,
    standing: Standing,
    problem: Option<Problem>,
    /// The nearest commit before this one on its first-parent line with a problem:
    /// the problems of a line are a linked list, read in O(problems).
    before: Option<Oid>,
}

impl Node {
    fn last_problem(&self, me: Oid) -> Option<Oid> {
        if self.problem.is_some() {
            Some(me)
        } else {
            self.before
        }
    }
}

/// One run's view of the chain, with its cache.
pub struct Chain {
    git: Repository,
    root: Root,
    revoked: Revocations,
    nodes: BTreeMap<Oid, Node>,
    by_blob: BTreeMap<Oid, Arc<Policy>>,
    empty: Arc<Policy>,
    root_problem: Option<RootProblem>,
}

/// What a tree says about the policy.
enum TreePolicy {
    Absent,
    File(Oid),
    Bad(BadPolicy),
}

impl Chain {
    /// `revoked`: the configured revocation list, applied beside every in-repo policy.
    /// `git`: a handle of its own (a `Repository` is not shared across threads).
    pub fn new(git: Repository, root: Root, revoked: Revocations) -> Self {
        let empty = Arc::new(Policy {
            allowed: AllowedSigners::default(),
            revoked: revoked.clone(),
        });
        Chain {
            git,
            root,
            revoked,
            nodes: BTreeMap::new(),
            by_blob: BTreeMap::new(),
            empty,
            root_problem: None,
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The policy `commit`'s seal signature is judged by: the policy in force at its
    /// first parent; at the root, the root's own. Outside the chain, the empty policy.
    pub fn policy_for(&mut self, commit: Oid, seals: &mut dyn SealSource) -> Result<Arc<Policy>> {
        self.walk(commit, seals)?;
        let Some(node) = self.nodes.get(&commit) else {
            return Ok(self.empty.clone());
        };
        if node.standing == Standing::Outside {
            return Ok(self.empty.clone());
        }
        if commit == self.root.commit {
            return Ok(node.policy.clone());
        }
        let parent = self.first_parent(commit);
        Ok(parent
            .and_then(|p| self.nodes.get(&p))
            .map(|n| n.policy.clone())
            .unwrap_or_else(|| self.empty.clone()))
    }

    /// The policy in force at `commit` (what its children are judged by).
    pub fn in_force(&mut self, commit: Oid, seals: &mut dyn SealSource) -> Result<Arc<Policy>> {
        self.walk(commit, seals)?;
        Ok(self
            .nodes
            .get(&commit)
            .map(|n| n.policy.clone())
            .unwrap_or_else(|| self.empty.clone()))
    }

    /// The chain's problem at `commit`, if any.
    pub fn problem(&mut self, commit: Oid, seals: &mut dyn SealSource) -> Result<Option<Problem>> {
        self.walk(commit, seals)?;
        Ok(self.nodes.get(&commit).and_then(|n| n.problem.clone()))
    }

    /// Every problem on `commit`'s first-parent line from the root to it, oldest
    /// first: what a verifier walking from the root meets on the way.
    pub fn problems_on_line(
        &mut self,
        commit: Oid,
        seals: &mut dyn SealSource,
    ) -> Result<Vec<Problem>> {
        self.walk(commit, seals)?;
        let mut found = Vec::new();
        let mut next = self.nodes.get(&commit).and_then(|n| n.last_problem(commit));
        while let Some(c) = next {
            let Some(node) = self.nodes.get(&c) else {
                break;
            };
            found.extend(node.problem.clone());
            next = node.before;
        }
        found.reverse();
        Ok(found)
    }

    pub fn standing(&mut self, commit: Oid, seals: &mut dyn SealSource) -> Result<Standing> {
        self.walk(commit, seals)?;
        Ok(self
            .nodes
            .get(&commit)
            .map_or(Standing::Outside, |n| n.standing))
    }

    /// Checks the root alone: what `git seal trust --root` validates. `Some`: why
    /// it cannot start the chain.
    pub fn check_root(&mut self, seals: &mut dyn SealSource) -> Result<Option<RootProblem>> {
        let root = self.root.commit;
        match self.walk(root, seals) {
            Ok(()) => Ok(None),
            Err(e) => match &self.root_problem {
                Some(why) => Ok(Some(why.clone())),
                None => Err(e),
            },
        }
    }

    /// How many commits this run has placed (for benchmarks and tests).
    pub fn walked(&self) -> usize {
        self.nodes.len()
    }

    /// How many distinct policies this run has parsed.
    pub fn policies_parsed(&self) -> usize {
        self.by_blob.len()
    }

    fn first_parent(&self, commit: Oid) -> Option<Oid> {
        let c = self.git.find_commit(commit).ok()?;
        recorded_parents(&c).first().copied()
    }

    fn root_error(&self, why: &RootProblem) -> Error {
        Error::check(format!(
            "the trust root {} (seal.trustRoot) cannot start the chain: {why}",
            short(self.root.commit)
        ))
        .hint(format!(
            "{}   # then pin a root whose seal is signed (REV: the commit you trust): {}",
            crate::quote::git_seal("trust --show"),
            crate::quote::git_seal("trust --root REV")
        ))
    }

    /// Places `commit` and every first-parent ancestor not yet placed, oldest first.
    fn walk(&mut self, commit: Oid, seals: &mut dyn SealSource) -> Result<()> {
        if let Some(why) = &self.root_problem {
            return Err(self.root_error(why));
        }
        // One object read per commit: its parent and its `.seal` entry together.
        let mut line: Vec<(Oid, Option<Oid>)> = Vec::new();
        let mut cur = commit;
        let base = loop {
            if self.nodes.contains_key(&cur) {
                break Some(Some(cur));
            }
            let Ok(c) = self.git.find_commit(cur) else {
                break self.outside(std::mem::take(&mut line));
            };
            let entry = c
                .tree()
                .ok()
                .and_then(|t| t.get_name(POLICY_DIR).map(|e| e.id()));
            line.push((cur, entry));
            if cur == self.root.commit {
                break Some(None);
            }
            let parent = recorded_parents(&c).first().copied();
            drop(c);
            match parent {
                Some(p) => cur = p,
                None => break self.outside(std::mem::take(&mut line)),
            }
        };
        // Some(Some(p)): continue from the placed `p`; Some(None): from the root.
        let Some(base) = base else {
            return Ok(());
        };
        let mut parent = base;
        for &(c, entry) in line.iter().rev() {
            let node = match parent {
                None => match self.root_node(c, entry, seals)? {
                    Ok(n) => n,
                    Err(why) => {
                        let e = self.root_error(&why);
                        self.root_problem = Some(why);
                        return Err(e);
                    }
                },
                Some(p) => {
                    let Some(pn) = self.nodes.get(&p).cloned() else {
                        return Err(Error::usage(format!("trust chain lost {}", short(p))));
                    };
                    self.child_node(c, entry, p, &pn, seals)?
                }
            };
            self.nodes.insert(c, node);
            parent = Some(c);
        }
        Ok(())
    }

    /// Places a first-parent line that does not reach the root as outside the chain.
    /// Returns what `walk` breaks with: nothing left to place.
    #[allow(clippy::type_complexity)]
    fn outside(&mut self, line: Vec<(Oid, Option<Oid>)>) -> Option<Option<Oid>> {
        for (c, seal_entry) in line {
            self.nodes.insert(
                c,
                Node {
                    policy: self.empty.clone(),
                    seal_entry,
                    standing: Standing::Outside,
                    problem: None,
                    before: None,
                },
            );
        }
        None
    }

    fn root_node(
        &mut self,
        c: Oid,
        seal_entry: Option<Oid>,
        seals: &mut dyn SealSource,
    ) -> Result<std::result::Result<Node, RootProblem>> {
        let policy = match self.tree_policy(c) {
            TreePolicy::Absent => return Ok(Err(RootProblem::NoPolicy)),
            TreePolicy::Bad(why) => return Ok(Err(RootProblem::BadPolicy(why))),
            TreePolicy::File(blob) => match self.load(blob)? {
                Ok(p) => p,
                Err(why) => return Ok(Err(RootProblem::BadPolicy(why))),
            },
        };
        let found = seals.seals_of(c)?;
        if found.is_empty() {
            return Ok(Err(RootProblem::NoSeal));
        }
        if let Some(pinned) = &self.root.key {
            let signers: Vec<String> = found
                .iter()
                .filter_map(|s| {
                    let sig = s.signature.as_ref()?;
                    crate::signing::check(sig, &s.message).ok()
                })
                .map(|checked| checked.fingerprint)
                .collect();
            if !signers.iter().any(|f| f == pinned) {
                return Ok(Err(RootProblem::NotPinnedKey {
                    pinned: pinned.clone(),
                    found: signers,
                }));
            }
        } else if let Err(verdict) = best_verdict(&policy, &found) {
            return Ok(Err(RootProblem::NotTrusted(verdict)));
        }
        Ok(Ok(Node {
            policy,
            seal_entry,
            standing: Standing::Chained,
            problem: None,
            before: None,
        }))
    }

    fn child_node(
        &mut self,
        c: Oid,
        seal_entry: Option<Oid>,
        p: Oid,
        parent: &Node,
        seals: &mut dyn SealSource,
    ) -> Result<Node> {
        let mut node = Node {
            policy: parent.policy.clone(),
            seal_entry,
            standing: parent.standing,
            problem: None,
            before: parent.last_problem(p),
        };
        if parent.standing == Standing::Outside || seal_entry == parent.seal_entry {
            return Ok(node);
        }
        let found = seals.seals_of(c)?;
        if let Err(verdict) = best_verdict(&parent.policy, &found) {
            node.problem = Some(Problem::Violation {
                commit: c,
                parent: p,
                verdict,
            });
            return Ok(node);
        }
        let loaded = match self.tree_policy(c) {
            TreePolicy::Absent => Ok(self.empty.clone()),
            TreePolicy::Bad(why) => Err(why),
            TreePolicy::File(blob) => self.load(blob)?,
        };
        match loaded {
            Ok(policy) => node.policy = policy,
            Err(why) => node.problem = Some(Problem::BadPolicy { commit: c, why }),
        }
        Ok(node)
    }

    fn tree_policy(&self, c: Oid) -> TreePolicy {
        let Some(tree) = self.git.find_commit(c).ok().and_then(|c| c.tree().ok()) else {
            return TreePolicy::Absent;
        };
        let Some(dir) = tree.get_name(POLICY_DIR) else {
            return TreePolicy::Absent;
        };
        match dir.filemode() {
            0o040000 => {}
            0o120000 => return TreePolicy::Bad(BadPolicy::Symlink { path: POLICY_DIR }),
            m => {
                return TreePolicy::Bad(BadPolicy::WrongKind {
                    path: POLICY_DIR,
                    found: kind_name(m).into(),
                })
            }
        }
        let Some(sub) = self.git.find_tree(dir.id()).ok() else {
            return TreePolicy::Bad(BadPolicy::WrongKind {
                path: POLICY_DIR,
                found: "missing tree".into(),
            });
        };
        let Some(file) = sub.get_name(POLICY_FILE) else {
            return TreePolicy::Absent;
        };
        match file.filemode() {
            0o100644 | 0o100755 => TreePolicy::File(file.id()),
            0o120000 => TreePolicy::Bad(BadPolicy::Symlink { path: POLICY_PATH }),
            m => TreePolicy::Bad(BadPolicy::WrongKind {
                path: POLICY_PATH,
                found: kind_name(m).into(),
            }),
        }
    }

    /// The parsed policy of blob `blob`, once per blob id; its size read from the
    /// object header before its content.
    fn load(&mut self, blob: Oid) -> Result<std::result::Result<Arc<Policy>, BadPolicy>> {
        if let Some(p) = self.by_blob.get(&blob) {
            return Ok(Ok(p.clone()));
        }
        let (size, kind) = self.git.odb()?.read_header(blob)?;
        if kind != ObjectType::Blob {
            return Ok(Err(BadPolicy::WrongKind {
                path: POLICY_PATH,
                found: kind.str().into(),
            }));
        }
        if size as u64 > MAX_POLICY_BYTES {
            return Ok(Err(BadPolicy::TooLarge { bytes: size as u64 }));
        }
        let bytes = self.git.find_blob(blob)?.content().to_vec();
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(Err(BadPolicy::NotUtf8));
        };
        let allowed = AllowedSigners::parse(&text);
        if allowed.entries().next().is_none() {
            if let Some(first) = allowed.problems().into_iter().next() {
                return Ok(Err(BadPolicy::NoUsableLine {
                    line: first.line,
                    why: first.why,
                }));
            }
        }
        let policy = Arc::new(Policy {
            allowed,
            revoked: self.revoked.clone(),
        });
        self.by_blob.insert(blob, policy.clone());
        Ok(Ok(policy))
    }
}

/// The seals of commits as the ledger holds them: every candidate (note,
/// alternates, fetched ledgers) that names the commit and its tree and whose digest
/// holds. The manifest is not recomputed here: `verify` checks it.
pub struct LedgerSeals {
    repo: Repo,
    cfg: Config,
}

impl LedgerSeals {
    pub fn new(repo: Repo, cfg: Config) -> Self {
        LedgerSeals { repo, cfg }
    }
}

impl SealSource for LedgerSeals {
    fn seals_of(&mut self, commit: Oid) -> Result<Vec<SignedSeal>> {
        // Asked only at the root and at commits that change `.seal/`.
        let view = Ledger::new(&self.repo, &self.cfg).view()?;
        let tree = self.repo.git.find_commit(commit)?.tree_id().to_string();
        let id = commit.to_string();
        let mut out = Vec::new();
        for candidate in view.candidates(commit)? {
            let Ok(text) = view.text(candidate.blob, &format!("of {commit}"))? else {
                continue;
            };
            let Ok(p) = Seal::parse(&text) else { continue };
            if p.seal.commit != id || p.seal.tree != tree || p.computed_digest != p.seal.digest {
                continue;
            }
            let Ok(at) = chrono::DateTime::parse_from_rfc3339(&p.seal.sealed_at) else {
                continue;
            };
            out.push(SignedSeal {
                message: p.seal.signed_message(),
                signature: p.seal.signature,
                at: at.timestamp(),
            });
        }
        Ok(out)
    }
}

/// The in-repository policy as a command uses it: the chain from `seal.trustRoot`
/// over the ledger's seals.
pub struct InRepo {
    chain: Chain,
    seals: LedgerSeals,
}

impl fmt::Debug for InRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InRepo")
            .field("root", &self.chain.root)
            .finish_non_exhaustive()
    }
}

/// The hint that pins a root: pasted, it lists the commits that set a policy; which
/// one to trust is the user's decision (REV), never git-seal's.
pub fn pin_hint() -> String {
    format!(
        "{}   # then pin the commit whose .seal/allowed_signers you trust: {}",
        crate::quote::git("log --oneline -- .seal/allowed_signers"),
        crate::quote::git_seal("trust --root REV")
    )
}

/// `seal.trustRoot` as pinned: `None` when unset; an error when it does not parse or
/// names no commit here.
pub fn configured_root(repo: &Repo) -> Result<Option<Root>> {
    let Some(value) = repo.config_string(ROOT_KEY) else {
        return Ok(None);
    };
    let Some((rev, key)) = parse_root(&value) else {
        return Err(Error::usage(format!(
            "{ROOT_KEY} is '{}'; it must be a commit id, optionally followed by a key fingerprint (SHA256:…)",
            crate::quote::printable(&value)
        ))
        .hint(format!(
            "{}   # then pin the commit whose .seal/allowed_signers you trust: {}",
            crate::quote::git(&format!("config --unset {ROOT_KEY}")),
            crate::quote::git_seal("trust --root REV")
        )));
    };
    let commit = repo
        .parse_id(&rev)
        .and_then(|oid| repo.git.find_commit(oid).ok())
        .ok_or_else(|| {
            Error::usage(format!(
                "{ROOT_KEY} names {}, which is not a commit in this repository",
                crate::quote::printable(&rev)
            ))
            .hint(format!(
                "{}   # the root may not be fetched yet; or find the commits that set the policy, to pin one: {}",
                crate::quote::git("fetch"),
                crate::quote::git("log --oneline -- .seal/allowed_signers")
            ))
        })?;
    Ok(Some(Root {
        commit: commit.id(),
        key,
    }))
}

/// The git config key of the pinned root.
pub const ROOT_KEY: &str = "seal.trustRoot";

impl InRepo {
    /// The chain from the pinned root, or `None` when no root is pinned.
    pub fn from_config(repo: &Repo, revoked: Revocations) -> Result<Option<InRepo>> {
        let Some(root) = configured_root(repo)? else {
            return Ok(None);
        };
        InRepo::with_root(repo, root, revoked).map(Some)
    }

    pub fn root(&self) -> &Root {
        self.chain.root()
    }

    /// The policy `commit`'s seal is judged by (see [`Chain::policy_for`]).
    pub fn policy_for(&mut self, commit: Oid) -> Result<Arc<Policy>> {
        self.chain.policy_for(commit, &mut self.seals)
    }

    /// The policy in force at `commit`.
    pub fn in_force(&mut self, commit: Oid) -> Result<Arc<Policy>> {
        self.chain.in_force(commit, &mut self.seals)
    }

    pub fn standing(&mut self, commit: Oid) -> Result<Standing> {
        self.chain.standing(commit, &mut self.seals)
    }

    /// Checks that the root can start the chain (`Some`: why not).
    pub fn check_root(&mut self) -> Result<Option<RootProblem>> {
        self.chain.check_root(&mut self.seals)
    }

    /// A chain from `root` (not necessarily the pinned one), over the ledger.
    pub fn with_root(repo: &Repo, root: Root, revoked: Revocations) -> Result<InRepo> {
        let git = repo
            .locator()
            .open()
            .map_err(|e| Error::usage(format!("cannot reopen the repository: {}", e.message())))?;
        let cfg = Config::load(repo)?;
        Ok(InRepo {
            chain: Chain::new(git, root, revoked),
            seals: LedgerSeals::new(repo.reopen()?, cfg),
        })
    }

    /// The chain's problems on the first-parent lines of `commits`, each once, in
    /// the order met.
    pub fn problems(&mut self, commits: &[Oid]) -> Result<Vec<Problem>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for &c in commits {
            for p in self.chain.problems_on_line(c, &mut self.seals)? {
                if seen.insert(p.commit()) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }
}

/// `Ok` when one of `seals` is trusted by `policy`; else the most telling verdict
/// (a signed one, which names the key, before an unsigned one).
fn best_verdict(policy: &Policy, seals: &[SignedSeal]) -> std::result::Result<(), Verdict> {
    let mut best: Option<Verdict> = None;
    for s in seals {
        let v = policy.verify(s.signature.as_ref(), &s.message, s.at);
        if v.is_trusted() {
            return Ok(());
        }
        if best.is_none() || best == Some(Verdict::Unsigned) {
            best = Some(v);
        }
    }
    Err(best.unwrap_or(Verdict::Unsigned))
}

fn kind_name(mode: i32) -> &'static str {
    match mode {
        0o040000 => "directory",
        0o160000 => "submodule",
        0o120000 => "symbolic link",
        _ => "file",
    }
}

/// The oldest commit on `head`'s first-parent line from which every commit up to
/// `head` has `.seal/allowed_signers`: the root `install` suggests, so the chain
/// covers every policy change since the policy came in. `None`: `head` has none.
pub fn suggested_root(git: &Repository, head: Oid) -> Option<Oid> {
    let has = |c: &git2::Commit<'_>| {
        c.tree()
            .ok()
            .and_then(|t| t.get_path(std::path::Path::new(POLICY_PATH)).ok())
            .is_some()
    };
    let mut cur = git.find_commit(head).ok()?;
    if !has(&cur) {
        return None;
    }
    loop {
        let parent = recorded_parents(&cur)
            .first()
            .and_then(|p| git.find_commit(*p).ok());
        match parent {
            Some(p) if has(&p) => cur = p,
            _ => return Some(cur.id()),
        }
    }
}

/// The text of `commit`'s `.seal/allowed_signers` if it is a regular file within
/// the size cap and UTF-8 (what `install` shows); `None` otherwise.
pub fn policy_text(git: &Repository, commit: Oid) -> Option<String> {
    let tree = git.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(std::path::Path::new(POLICY_PATH)).ok()?;
    if !matches!(entry.filemode(), 0o100644 | 0o100755) {
        return None;
    }
    let (size, kind) = git.odb().ok()?.read_header(entry.id()).ok()?;
    if kind != ObjectType::Blob || size as u64 > MAX_POLICY_BYTES {
        return None;
    }
    String::from_utf8(git.find_blob(entry.id()).ok()?.content().to_vec()).ok()
}

/// The fingerprints of the usable keys in a policy's text, with their principals,
/// as `install` shows them (as SSH shows an unknown host key).
pub fn fingerprints(text: &str) -> Vec<(String, String)> {
    AllowedSigners::parse(text)
        .entries()
        .map(|e| {
            (
                crate::quote::printable(&e.principals),
                e.key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_checked_for_shape() {
        assert!(is_fingerprint(
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        ));
        assert!(!is_fingerprint("SHA256:short"));
        assert!(!is_fingerprint(
            "MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        ));
        assert!(!is_fingerprint(
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF="
        ));
    }

    #[test]
    fn root_values_parse() {
        assert_eq!(parse_root("abc"), Some(("abc".into(), None)));
        let fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
        assert_eq!(
            parse_root(&format!("abc {fp}")),
            Some(("abc".into(), Some(fp.into())))
        );
        assert_eq!(parse_root("abc nonsense"), None);
        assert_eq!(parse_root("abc def ghi"), None);
        assert_eq!(parse_root(""), None);
    }
}
