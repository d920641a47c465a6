//! Tag seals (`kind: tag`), the files a snapshot freezes beside them, and their
//! verification.
//!
//! A tag seal lives in the ledger tree at `tags/<tag name>/<digest hex>.yaml`: a path,
//! not a note, because a lightweight tag points at a commit whose note is already its
//! commit seal, and so that a tag moved and resealed keeps every version. A snapshot
//! also freezes `snapshots/<tag name>/MANIFEST.json` and `CHECKSUMS.sha256`.
//!
//! Invariants:
//! - Sealing a tag never seals its target commit: `target_seal` names the commit's
//!   seal, or is null if it had none, and verifying the tag then reports it.
//! - The same digest rule as commit seals: `sha256:` + SHA-256 of the canonical JSON
//!   of every other field.
//! - Verifying a tag never trusts the seal's numbers: the manifest, the evtag
//!   checksum and the target's seal are all recomputed.
//! - A snapshot's seal pins the SHA-256 of both frozen files (`checksums_sha256`,
//!   `manifest_sha256`); verifying compares each file with its pin and with the one
//!   rebuilt from the target's tree ([`SnapshotFiles::of`]), so an edited frozen file
//!   makes the snapshot fail. A seal made before `manifest_sha256` existed has its
//!   manifest compared with the rebuilt one only.
//! - A submodule whose objects are absent never stops a tag seal nor fails a check:
//!   sealing leaves it out of the evtag and names it (`evtag.not_covered`); verifying
//!   reports it as [`Unchecked`], with the command that makes it checkable. What a
//!   seal says it left out must be a gitlink of the target, at that path and commit,
//!   and a seal that leaves anything out is never reported as a whole one.

use chrono::{SecondsFormat, Utc};
use git2::{ObjectType, Oid, Signature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{CacheMode, Manifests};
use crate::config::Config;
use crate::engine::stated_digest;
use crate::error::{Error, Result};
use crate::evtag::{self, Gitlink};
use crate::git::{short, Repo};
use crate::ledger::{Ledger, View};
use crate::limits::TooLarge;
use crate::quote::shell as shell_quote;
use crate::seal::{digest_of, git_time, Identity, ManifestSummary, Person, Tool, SCHEMA};
use crate::submodules::fetch_command;
use crate::verify::{Reason, Verifier};

/// The extended-verification checksum recorded in a tag seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evtag {
    pub algorithm: String,
    pub digest: String,
    /// Submodules whose objects were not where the tag was sealed: `digest` leaves
    /// out each one's commit and everything under it (the gitlink entry, so its
    /// commit id, is still hashed). Absent, as in every seal before it existed, when
    /// the checksum covers everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_covered: Vec<NotCovered>,
}

/// A submodule an evtag checksum leaves out: its full path in the target's tree and
/// the commit its gitlink records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotCovered {
    pub path: String,
    pub commit: String,
}

impl Evtag {
    /// The left-out submodules as gitlinks; None if one names no commit id.
    fn left_out(&self, format: git2::ObjectFormat) -> Option<Vec<Gitlink>> {
        self.not_covered
            .iter()
            .map(|n| {
                Some(Gitlink {
                    path: n.path.clone(),
                    commit: crate::git::parse_id(&n.commit, format)?,
                })
            })
            .collect()
    }
}

/// Where a snapshot's frozen files are in the ledger, and their hashes: the seal's
/// digest covers both, so neither file can change without the seal failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    pub manifest: String,
    pub checksums: String,
    pub checksums_sha256: String,
    /// The frozen MANIFEST.json's SHA-256. Absent in seals made before it existed:
    /// their manifest file is still compared with the one recomputed from the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

/// A tag seal, field by field (documented in the README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSeal {
    pub schema: String,
    pub kind: String,
    /// As in a commit seal: `sha256` in a SHA-256 repository, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_format: Option<String>,
    /// The tag's name, without `refs/tags/`.
    pub tag: String,
    /// The tag object, for an annotated tag; null for a lightweight one.
    pub tag_object: Option<String>,
    pub target: String,
    /// The digest of the target commit's seal; null if it had none when the tag was
    /// sealed (tagging does not seal the commit: that would vouch for its content).
    pub target_seal: Option<String>,
    /// The tagger, for an annotated tag.
    pub tagger: Option<Person>,
    pub tree: String,
    pub manifest: ManifestSummary,
    pub evtag: Evtag,
    /// For a snapshot: the files frozen beside this seal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Frozen>,
    pub sealed_at: String,
    pub sealed_by: Identity,
    pub tool: Tool,
    pub digest: String,
    /// Who vouches (brief §2.4), over the same bytes as `digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signing::Signature>,
}

impl TagSeal {
    /// One line for whoever just made this seal, when its evtag leaves submodules
    /// out: which, and where the fix is.
    pub fn leaves_out_note(&self) -> Option<String> {
        let first = self.evtag.not_covered.first()?;
        let more = match self.evtag.not_covered.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        Some(format!(
            "tag {} sealed; its {} leaves out submodule {} (commit {}){more}, not checked out here: git seal verify {} says how to cover it",
            self.tag,
            evtag::ALGORITHM,
            shell_quote(&first.path),
            first.commit,
            shell_quote(&self.tag)
        ))
    }
}

/// A tag as it is now in the repository.
pub struct TagState {
    pub name: String,
    pub tag_object: Option<Oid>,
    pub target: Oid,
    pub tagger: Option<Person>,
}

/// Whether the ledger can hold a seal of the tag `name`: every `/`-separated part a
/// safe ledger name, and the whole short enough for its path.
pub fn is_sealable_name(name: &str) -> bool {
    name.len() <= MAX_TAG_NAME
        && name
            .split('/')
            .all(|part| crate::ledger::tree::is_safe_name(part.as_bytes()))
}

/// The longest tag name whose seal path fits the ledger's path limit.
const MAX_TAG_NAME: usize = crate::ledger::tree::MAX_PATH - "tags//.yaml".len() - 64;

/// A sealable name close to `name`, for a rename hint: each character the ledger
/// does not allow becomes `-`, and a numeric suffix avoids a tag that exists.
fn sealable_name_for(repo: &Repo, name: &str) -> String {
    let parts: Vec<String> = name
        .split('/')
        .map(|part| {
            let mut out: String = part
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-+@=,".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .take(crate::ledger::tree::MAX_NAME)
                .collect();
            if out.is_empty() || out.starts_with(['.', '-']) {
                out.insert(0, 'v');
                out.truncate(crate::ledger::tree::MAX_NAME);
            }
            out
        })
        .collect();
    let mut base = parts.join("/");
    base.truncate(MAX_TAG_NAME - 4);
    let base = base.trim_end_matches('/').to_string();
    (1..1000)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|candidate| !is_tag(repo, candidate))
        .unwrap_or(base)
}

/// Reads `refs/tags/<name>`.
pub fn tag_state(repo: &Repo, name: &str) -> Result<TagState> {
    let refname = format!("refs/tags/{name}");
    let id = repo.ref_target(&refname).ok().flatten().ok_or_else(|| {
        Error::usage(format!("no tag named '{name}'"))
            .hint(format!("list tags: {}", crate::quote::git("tag --list")))
    })?;
    let obj = repo.git.find_object(id, None)?;
    let (tag_object, tagger) = match obj.kind() {
        Some(ObjectType::Tag) => {
            let tag = repo.git.find_tag(id)?;
            let tagger = tag.tagger().map(|s| Person {
                name: String::from_utf8_lossy(s.name_bytes()).into_owned(),
                email: String::from_utf8_lossy(s.email_bytes()).into_owned(),
                time: git_time(s.when()),
            });
            (Some(id), tagger)
        }
        _ => (None, None),
    };
    let target = obj.peel_to_commit().map_err(|_| {
        Error::usage(format!("tag {name} does not point at a commit"))
            .hint("git-seal seals tags of commits")
    })?;
    Ok(TagState {
        name: name.to_string(),
        tag_object,
        target: target.id(),
        tagger,
    })
}

/// Whether `name` is a tag in this repository.
pub fn is_tag(repo: &Repo, name: &str) -> bool {
    repo.ref_exists(&format!("refs/tags/{name}"))
}

/// Splits revisions given on the command line into tags named by themselves (sealed
/// and verified as tags) and the rest (commits and ranges).
/// A name is a tag exactly when git resolves it to `refs/tags/…` (so `HEAD` is HEAD
/// even beside a tag named `HEAD`, and a tag beats a branch of its name, as in git);
/// tags are returned by their short name.
pub fn split_tags(repo: &Repo, revs: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut rest = Vec::new();
    for r in revs {
        let first = if r.contains("..") {
            None
        } else {
            repo.dwim_refs(r).into_iter().next()
        };
        match first.as_deref().and_then(|f| f.strip_prefix("refs/tags/")) {
            Some(tag) => tags.push(tag.to_string()),
            None => rest.push(r.clone()),
        }
    }
    (tags, rest)
}

/// Warnings as git gives them for names that mean more than one ref.
pub fn ambiguity_warnings(repo: &Repo, revs: &[String]) -> Vec<String> {
    revs.iter()
        .filter(|r| !r.contains("..") && repo.dwim_refs(r).len() > 1)
        .map(|r| {
            format!(
                "warning: refname '{}' is ambiguous.",
                crate::quote::printable(r)
            )
        })
        .collect()
}

/// The ledger path of a tag seal.
pub fn seal_path(name: &str, digest: &str) -> String {
    format!(
        "tags/{name}/{}.yaml",
        digest.strip_prefix("sha256:").unwrap_or(digest)
    )
}

/// A stored tag seal and the digest its content hashes to.
pub type StoredSeal = (TagSeal, String);

/// Every seal stored for tag `name`, parsed, with the digest each actually hashes to.
pub fn stored_seals(view: &View<'_>, name: &str) -> Result<Vec<StoredSeal>> {
    Ok(stored_seals_bounded(view, name)?.0)
}

/// As [`stored_seals`], and the stored seals left unread for their size.
pub fn stored_seals_bounded(
    view: &View<'_>,
    name: &str,
) -> Result<(Vec<StoredSeal>, Vec<TooLarge>)> {
    let mut out = Vec::new();
    let mut too_large = Vec::new();
    for (_, content) in view.files_in_bounded(&format!("tags/{name}"))? {
        let content = match content {
            Ok(c) => c,
            Err(e) => {
                too_large.push(e);
                continue;
            }
        };
        let text = String::from_utf8_lossy(&content);
        if let Ok(value) = crate::yaml::from_str::<serde_json::Value>(&text) {
            let computed = digest_of(value.clone());
            if let Ok(seal) = serde_json::from_value::<TagSeal>(value) {
                out.push((seal, computed));
            }
        }
    }
    Ok((out, too_large))
}

/// The seal of tag `name` as it stands now (its current target and tag object) and
/// the YAML text the ledger stores for it, if the ledger holds one; of several, the
/// one `verify` checks.
pub fn current_seal(repo: &Repo, cfg: &Config, name: &str) -> Result<Option<(TagSeal, String)>> {
    let state = tag_state(repo, name)?;
    let view = Ledger::new(repo, cfg).view()?;
    let (target, tag_object) = (
        state.target.to_string(),
        state.tag_object.map(|o| o.to_string()),
    );
    let mut best: Option<(TagSeal, String)> = None;
    for (_, content) in view.files_in_bounded(&format!("tags/{name}"))? {
        let Ok(content) = content else { continue };
        let text = String::from_utf8_lossy(&content).into_owned();
        let Ok(seal) = crate::yaml::from_str::<TagSeal>(&text) else {
            continue;
        };
        let better = best
            .as_ref()
            .is_none_or(|(b, _)| seal.evtag.not_covered.len() < b.evtag.not_covered.len());
        if seal.target == target && seal.tag_object == tag_object && better {
            best = Some((seal, text));
        }
    }
    Ok(best)
}

/// Of several seals of one tag at one target, the one whose evtag leaves out the
/// fewest submodules (the first of those, in ledger order): a seal that leaves more
/// out, added beside it, never hides it.
fn most_complete(seals: Vec<(TagSeal, String)>) -> Option<(TagSeal, String)> {
    let mut best: Option<(TagSeal, String)> = None;
    for candidate in seals {
        let better = best
            .as_ref()
            .is_none_or(|(b, _)| candidate.0.evtag.not_covered.len() < b.evtag.not_covered.len());
        if better {
            best = Some(candidate);
        }
    }
    best
}

/// What `seal_tag` wrote.
pub struct TagSealed {
    pub seal: TagSeal,
    pub yaml: String,
    /// False when an identical seal (same tag object and target) was already there.
    pub written: bool,
    /// Why it is unsigned although a key is configured (only when signing is not
    /// required: the hooks).
    pub unsigned: Option<crate::signing::SignError>,
}

/// Who signs a tag seal, and whether a signing failure fails the seal.
#[derive(Clone, Copy, Default)]
pub struct TagSigning<'a> {
    pub signer: Option<&'a crate::signing::SealSigner>,
    pub required: bool,
}

/// Files a snapshot freezes beside its seal: (ledger path, content).
pub struct SnapshotFiles {
    pub manifest_json: Vec<u8>,
    pub checksums: Vec<u8>,
}

impl SnapshotFiles {
    /// The files frozen for a snapshot of `commit` whose manifest is `manifest`: the
    /// one builder, used to freeze them and to check them again.
    pub fn of(manifest: &crate::manifest::Manifest, commit: &git2::Commit<'_>) -> SnapshotFiles {
        let json = manifest.to_json(Some(commit.id()), commit.tree_id());
        SnapshotFiles {
            manifest_json: (serde_json::to_string_pretty(&json).unwrap_or_default() + "\n")
                .into_bytes(),
            checksums: manifest.to_sha256sum(),
        }
    }
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Seals tag `name`. With `snapshot`,
/// also freezes its manifest and checksum file in the same ledger append.
pub fn seal_tag(
    repo: &Repo,
    cfg: &Config,
    name: &str,
    snapshot: Option<&SnapshotFiles>,
    dry_run: bool,
    signing: TagSigning<'_>,
) -> Result<TagSealed> {
    let state = tag_state(repo, name)?;
    if !is_sealable_name(name) {
        let new = sealable_name_for(repo, name);
        let (old, new_q) = (shell_quote(name), shell_quote(&new));
        return Err(Error::usage(format!(
            "cannot seal tag {}: the ledger names tags only with A-Z a-z 0-9 . _ - + @ = , (parts of 1-{} bytes, none starting with '.' or '-')",
            crate::quote::c_style(name.as_bytes()),
            crate::ledger::tree::MAX_NAME
        ))
        .hint(format!(
            "rename it, then seal it: {} && {} && {}",
            crate::quote::git(&format!("tag {new_q} {old}")),
            crate::quote::git(&format!("tag -d {old}")),
            crate::quote::git_seal(&format!("seal {new_q}"))
        )));
    }
    let ledger = Ledger::new(repo, cfg);
    let view = ledger.view()?;
    let tag_object = state.tag_object.map(|o| o.to_string());
    let existing = if snapshot.is_none() {
        most_complete(
            stored_seals(&view, name)?
                .into_iter()
                .filter(|(s, _)| s.target == state.target.to_string() && s.tag_object == tag_object)
                .collect(),
        )
    } else {
        None
    };
    let unchanged = |seal: TagSeal| {
        let yaml = crate::yaml::to_string(&seal);
        Ok(TagSealed {
            seal,
            yaml,
            written: false,
            unsigned: None,
        })
    };
    // A seal whose evtag covers everything is final; one that left submodules out
    // is replaced (kept beside, never overwritten) by one that leaves out fewer.
    let existing = match existing {
        Some((seal, _)) if seal.evtag.not_covered.is_empty() => return unchanged(seal),
        other => other.map(|(seal, _)| seal),
    };
    let checksum = evtag::evtag(repo, state.target, &[])?;
    // A snapshot sealed again keeps pointing at the files frozen with it.
    let mut carried = None;
    if let Some(seal) = existing {
        if checksum.absent.len() >= seal.evtag.not_covered.len() {
            return unchanged(seal);
        }
        carried = seal.snapshot;
    }
    let target_seal = stated_digest(&view, state.target)?;
    let commit = repo.git.find_commit(state.target)?;
    let manifest =
        crate::engine::vouched_manifest(repo, &view, CacheMode::unless_dry_run(dry_run), &commit)?;
    let (sealer_name, sealer_email) = repo.identity()?;
    let frozen = snapshot
        .map(|s| Frozen {
            manifest: format!("snapshots/{name}/MANIFEST.json"),
            checksums: format!("snapshots/{name}/CHECKSUMS.sha256"),
            checksums_sha256: sha256_of(&s.checksums),
            manifest_sha256: Some(sha256_of(&s.manifest_json)),
        })
        .or(carried);
    let mut seal = TagSeal {
        schema: SCHEMA.into(),
        kind: "tag".into(),
        object_format: crate::seal::format_field(repo.object_format()),
        tag: name.to_string(),
        tag_object,
        target: state.target.to_string(),
        target_seal,
        tagger: state.tagger,
        tree: commit.tree_id().to_string(),
        manifest: ManifestSummary {
            algorithm: "sha256".into(),
            digest: manifest.digest(),
            files: manifest.files(),
            bytes: manifest.bytes(),
        },
        evtag: Evtag {
            algorithm: evtag::ALGORITHM.into(),
            digest: checksum.digest,
            not_covered: checksum
                .absent
                .iter()
                .map(|g| NotCovered {
                    path: g.path.clone(),
                    commit: g.commit.to_string(),
                })
                .collect(),
        },
        snapshot: frozen.clone(),
        sealed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        sealed_by: Identity {
            name: sealer_name.clone(),
            email: sealer_email.clone(),
        },
        tool: Tool {
            name: "git-seal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        digest: String::new(),
        signature: None,
    };
    seal.digest = digest_of(serde_json::to_value(&seal).unwrap_or_default());
    let mut unsigned = None;
    if let Some(signer) = signing.signer {
        match signer.sign_doc(&serde_json::to_value(&seal).unwrap_or_default()) {
            Ok(sig) => seal.signature = Some(sig),
            Err(e) if signing.required => {
                let hint = e.hint().unwrap_or_else(|| "git seal status".into());
                return Err(
                    Error::usage(format!("cannot sign the seal of tag {name}: {e}")).hint(hint),
                );
            }
            Err(e) => unsigned = Some(e),
        }
    }
    let yaml = crate::yaml::to_string(&seal);
    if !dry_run {
        let mut files = vec![(seal_path(name, &seal.digest), yaml.clone().into_bytes())];
        if let (Some(f), Some(s)) = (&frozen, snapshot) {
            files.push((f.manifest.clone(), s.manifest_json.clone()));
            files.push((f.checksums.clone(), s.checksums.clone()));
        }
        let who = Signature::now(&sealer_name, &sealer_email)?;
        ledger.append_with_files(&[], &files, false, &who, &format!("seal tag {name}"))?;
    }
    Ok(TagSealed {
        seal,
        yaml,
        written: true,
        unsigned,
    })
}

/// Why a tag does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagProblem {
    NoSeal,
    /// Sealed at other targets (short ids) than the one it names now.
    Moved {
        sealed: Vec<String>,
        now: Oid,
    },
    DigestMismatch {
        stated: String,
        computed: String,
    },
    WrongTree {
        stated: String,
        actual: Oid,
    },
    ManifestMismatch {
        stated: String,
        actual: String,
    },
    EvtagMismatch {
        stated: String,
        actual: String,
    },
    /// The seal says its evtag leaves out a submodule the target does not have
    /// (at that path, at that commit): a checksum that claims less than it may.
    EvtagLeavesOutUnknown {
        path: String,
        commit: String,
    },
    TargetSealChanged {
        named: String,
        now: String,
    },
    /// The target commit's own seal does not verify.
    Target {
        commit: Oid,
        reason: Reason,
    },
    FrozenMismatch,
    FrozenMissing,
    /// The frozen MANIFEST.json is not the one the seal pins, or not the manifest
    /// recomputed from the target's tree.
    FrozenManifestMismatch,
    FrozenManifestMissing,
    /// A stored tag seal over the size cap, left unread.
    TooLarge(TooLarge),
    /// The seal names another tag than the one it is stored under and checked as.
    WrongTagName {
        stated: String,
    },
    /// `kind` is not `tag`.
    WrongKind {
        stated: String,
    },
    /// Made in a repository of another object format (`object_format`).
    WrongObjectFormat {
        stated: String,
        actual: &'static str,
    },
    /// The seal's tagger differs from the tag object's.
    WrongTagger,
    /// `manifest.files` or `manifest.bytes` differ from the target tree's.
    WrongTotals {
        stated: (u64, u64),
        actual: (u64, u64),
    },
}

impl TagProblem {
    /// A stable name for this kind of problem, for `--json` (the text is for people).
    pub fn code(&self) -> &'static str {
        match self {
            TagProblem::NoSeal => "no_seal",
            TagProblem::Moved { .. } => "moved",
            TagProblem::DigestMismatch { .. } => "digest_mismatch",
            TagProblem::WrongTree { .. } => "wrong_tree",
            TagProblem::ManifestMismatch { .. } => "manifest_mismatch",
            TagProblem::EvtagMismatch { .. } => "evtag_mismatch",
            TagProblem::EvtagLeavesOutUnknown { .. } => "evtag_leaves_out_unknown",
            TagProblem::TargetSealChanged { .. } => "target_seal_changed",
            TagProblem::Target { .. } => "target",
            TagProblem::FrozenMismatch => "frozen_mismatch",
            TagProblem::FrozenMissing => "frozen_missing",
            TagProblem::FrozenManifestMismatch => "frozen_manifest_mismatch",
            TagProblem::FrozenManifestMissing => "frozen_manifest_missing",
            TagProblem::TooLarge(_) => "too_large",
            TagProblem::WrongTagName { .. } => "wrong_tag_name",
            TagProblem::WrongKind { .. } => "wrong_kind",
            TagProblem::WrongObjectFormat { .. } => "wrong_object_format",
            TagProblem::WrongTagger => "wrong_tagger",
            TagProblem::WrongTotals { .. } => "wrong_totals",
        }
    }
}

impl std::fmt::Display for TagProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagProblem::NoSeal => f.write_str("no tag seal"),
            TagProblem::Moved { sealed, now } => write!(
                f,
                "tag moved: sealed at {}, now at {}",
                sealed.join(", "),
                short(*now)
            ),
            TagProblem::DigestMismatch { stated, computed } => write!(
                f,
                "tag seal digest mismatch: seal states {stated}, its content hashes to {computed}"
            ),
            TagProblem::WrongTree { stated, actual } => {
                write!(f, "tag seal names tree {stated}, target has {actual}")
            }
            TagProblem::ManifestMismatch { stated, actual } => write!(
                f,
                "manifest mismatch: tag seal states {stated}, tree hashes to {actual}"
            ),
            TagProblem::EvtagMismatch { stated, actual } => write!(
                f,
                "{} mismatch: tag seal states {stated}, recomputed {actual}",
                evtag::ALGORITHM
            ),
            TagProblem::EvtagLeavesOutUnknown { path, commit } => write!(
                f,
                "tag seal's {} leaves out submodule {} at {commit}, which the target does not have",
                evtag::ALGORITHM,
                shell_quote(path)
            ),
            TagProblem::TargetSealChanged { named, now } => write!(
                f,
                "target seal changed: tag seal names {named}, target's seal is {now}"
            ),
            TagProblem::Target { commit, reason } => {
                write!(f, "target {}: {reason}", short(*commit))
            }
            TagProblem::FrozenMismatch => {
                f.write_str("frozen checksum file does not match the snapshot")
            }
            TagProblem::FrozenMissing => {
                f.write_str("frozen checksum file is missing from the ledger")
            }
            TagProblem::FrozenManifestMismatch => {
                f.write_str("frozen MANIFEST.json does not match the snapshot")
            }
            TagProblem::FrozenManifestMissing => {
                f.write_str("frozen MANIFEST.json is missing from the ledger")
            }
            TagProblem::TooLarge(e) => write!(f, "unreadable tag seal: {e}"),
            TagProblem::WrongTagName { stated } => write!(
                f,
                "tag seal names tag {}, not this one",
                crate::quote::printable(stated)
            ),
            TagProblem::WrongKind { stated } => write!(
                f,
                "tag seal is of kind {}, not tag",
                crate::quote::printable(stated)
            ),
            TagProblem::WrongObjectFormat { stated, actual } => write!(
                f,
                "tag seal was made in a repository of object format {}, this one is {actual}: its ids name nothing here",
                crate::quote::printable(stated)
            ),
            TagProblem::WrongTagger => f.write_str("tag seal names another tagger than the tag"),
            TagProblem::WrongTotals { stated, actual } => write!(
                f,
                "manifest totals mismatch: tag seal states {} files, {} bytes; tree has {} files, {} bytes",
                stated.0, stated.1, actual.0, actual.1
            ),
        }
    }
}

/// `problems` on one line, separated by semicolons.
pub fn describe(problems: &[TagProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A submodule a tag's evtag check did not cover, and how to cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked {
    pub tag: String,
    pub submodule: Gitlink,
    /// True when the seal's evtag leaves it out (it was absent where the tag was
    /// sealed); false when the seal covers it and its objects are not here, so the
    /// evtag could not be recomputed at all.
    pub left_out_by_seal: bool,
    /// The command that covers it (run from the working tree's top).
    pub fix: String,
}

impl std::fmt::Display for Unchecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sub = format!(
            "submodule {} (commit {})",
            shell_quote(&self.submodule.path),
            self.submodule.commit
        );
        if self.left_out_by_seal {
            write!(
                f,
                "checked except {sub}: the tag seal's {} leaves it out (it was not checked out where the tag was sealed)",
                evtag::ALGORITHM
            )
        } else {
            write!(
                f,
                "{} not checked: it covers {sub}, whose objects are not in this repository",
                evtag::ALGORITHM
            )
        }
    }
}

/// What checking a tag found: problems (the tag does not verify when there is
/// one), and what could not be checked, which is no problem.
#[derive(Debug, Clone, Default)]
pub struct TagCheck {
    pub problems: Vec<TagProblem>,
    pub unchecked: Vec<Unchecked>,
}

/// Why a tag does not verify. Empty when it does.
pub fn verify_tag(
    repo: &Repo,
    cfg: &Config,
    name: &str,
    mode: CacheMode,
) -> Result<Vec<TagProblem>> {
    Ok(check_tag(repo, cfg, name, mode)?.problems)
}

/// Checks tag `name`: its seal, manifest, evtag (all of it that can be checked
/// here) and target seal.
pub fn check_tag(repo: &Repo, cfg: &Config, name: &str, mode: CacheMode) -> Result<TagCheck> {
    let state = tag_state(repo, name)?;
    let view = Ledger::new(repo, cfg).view()?;
    let (seals, too_large) = stored_seals_bounded(&view, name)?;
    let problems = |problems| {
        Ok(TagCheck {
            problems,
            unchecked: Vec::new(),
        })
    };
    if seals.is_empty() {
        if !too_large.is_empty() {
            return problems(too_large.into_iter().map(TagProblem::TooLarge).collect());
        }
        return problems(vec![TagProblem::NoSeal]);
    }
    let tag_object = state.tag_object.map(|o| o.to_string());
    let current = most_complete(
        seals
            .iter()
            .filter(|(s, _)| s.target == state.target.to_string() && s.tag_object == tag_object)
            .cloned()
            .collect(),
    );
    let Some((seal, computed)) = &current else {
        let sealed = seals
            .iter()
            .map(|(s, _)| crate::limits::prefix(&s.target, 7).to_string())
            .collect();
        return problems(vec![TagProblem::Moved {
            sealed,
            now: state.target,
        }]);
    };
    let mut problems = Vec::new();
    let mut unchecked = Vec::new();
    if *computed != seal.digest {
        problems.push(TagProblem::DigestMismatch {
            stated: seal.digest.clone(),
            computed: computed.clone(),
        });
    }
    if seal.tag != name {
        problems.push(TagProblem::WrongTagName {
            stated: seal.tag.clone(),
        });
    }
    if seal.kind != "tag" {
        problems.push(TagProblem::WrongKind {
            stated: seal.kind.clone(),
        });
    }
    let stated = crate::seal::stated_format(seal.object_format.as_deref());
    let actual = crate::git::format_name(repo.object_format());
    if stated != actual {
        problems.push(TagProblem::WrongObjectFormat {
            stated: stated.to_string(),
            actual,
        });
    }
    if seal.tagger != state.tagger {
        problems.push(TagProblem::WrongTagger);
    }
    let commit = repo.git.find_commit(state.target)?;
    if seal.tree != commit.tree_id().to_string() {
        problems.push(TagProblem::WrongTree {
            stated: seal.tree.clone(),
            actual: commit.tree_id(),
        });
    }
    let manifest = Manifests::new(repo, mode).manifest_of(&commit)?;
    if manifest.digest() != seal.manifest.digest {
        problems.push(TagProblem::ManifestMismatch {
            stated: seal.manifest.digest.clone(),
            actual: manifest.digest(),
        });
    }
    let (stated, actual) = (
        (seal.manifest.files, seal.manifest.bytes),
        (manifest.files(), manifest.bytes()),
    );
    if stated != actual {
        problems.push(TagProblem::WrongTotals { stated, actual });
    }
    check_evtag(repo, seal, state.target, &mut problems, &mut unchecked)?;
    if let (Some(named), Some(now)) = (&seal.target_seal, stated_digest(&view, state.target)?) {
        if *named != now {
            problems.push(TagProblem::TargetSealChanged {
                named: named.clone(),
                now,
            });
        }
    }
    let mut verifier = Verifier::new(repo, view, mode);
    for reason in verifier.check(state.target)? {
        problems.push(TagProblem::Target {
            commit: state.target,
            reason,
        });
    }
    if let Some(frozen) = &seal.snapshot {
        let view = Ledger::new(repo, cfg).view()?;
        let expected = SnapshotFiles::of(&manifest, &commit);
        match view.file(&frozen.checksums)? {
            Some(bytes) => {
                if sha256_of(&bytes) != frozen.checksums_sha256 || bytes != expected.checksums {
                    problems.push(TagProblem::FrozenMismatch);
                }
            }
            None => problems.push(TagProblem::FrozenMissing),
        }
        match view.file(&frozen.manifest)? {
            Some(bytes) => {
                let pinned = frozen
                    .manifest_sha256
                    .as_ref()
                    .is_none_or(|p| *p == sha256_of(&bytes));
                if !pinned || !same_json(&bytes, &expected.manifest_json) {
                    problems.push(TagProblem::FrozenManifestMismatch);
                }
            }
            None => problems.push(TagProblem::FrozenManifestMissing),
        }
    }
    Ok(TagCheck {
        problems,
        unchecked,
    })
}

/// Whether two JSON documents hold the same value: a seal made before the manifest
/// was pinned may have been pretty-printed differently, never with other content.
fn same_json(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Recomputes the evtag as the seal made it (leaving out what it says it left out)
/// and compares, unless a submodule it covers is not here: then nothing of the
/// checksum can be compared, and each such submodule is reported unchecked, never
/// as a mismatch. Every left-out submodule is reported too, so a seal that leaves
/// something out never reads as a full check.
fn check_evtag(
    repo: &Repo,
    seal: &TagSeal,
    target: Oid,
    problems: &mut Vec<TagProblem>,
    unchecked: &mut Vec<Unchecked>,
) -> Result<()> {
    let Some(leave_out) = seal.evtag.left_out(repo.object_format()) else {
        for n in &seal.evtag.not_covered {
            if repo.parse_id(&n.commit).is_none() {
                problems.push(TagProblem::EvtagLeavesOutUnknown {
                    path: n.path.clone(),
                    commit: n.commit.clone(),
                });
            }
        }
        return Ok(());
    };
    let checksum = evtag::evtag(repo, target, &leave_out)?;
    for claimed in leave_out.iter().filter(|g| !checksum.left_out.contains(g)) {
        problems.push(TagProblem::EvtagLeavesOutUnknown {
            path: claimed.path.clone(),
            commit: claimed.commit.to_string(),
        });
    }
    let mut finder = crate::submodules::Finder::new(repo.common_dir.as_std_path());
    let reseal = crate::quote::git_seal(&format!("seal {}", shell_quote(&seal.tag)));
    for link in &checksum.left_out {
        let here = has_gitlink(repo, &mut finder, link);
        let fix = if here {
            reseal.clone()
        } else {
            format!(
                "{} && {reseal}",
                fetch_command(repo, target, &link.path, link.commit)
            )
        };
        unchecked.push(Unchecked {
            tag: seal.tag.clone(),
            submodule: link.clone(),
            left_out_by_seal: true,
            fix,
        });
    }
    for link in &checksum.absent {
        unchecked.push(Unchecked {
            tag: seal.tag.clone(),
            submodule: link.clone(),
            left_out_by_seal: false,
            fix: fetch_command(repo, target, &link.path, link.commit),
        });
    }
    if checksum.absent.is_empty() && checksum.digest != seal.evtag.digest {
        problems.push(TagProblem::EvtagMismatch {
            stated: seal.evtag.digest.clone(),
            actual: checksum.digest,
        });
    }
    Ok(())
}

/// Whether the objects of a left-out submodule are here now (a reseal would cover
/// it): its commit is in some repository here. Top-level gitlinks only are looked
/// up exactly; a nested one counts as here when its commit is anywhere.
fn has_gitlink(repo: &Repo, finder: &mut crate::submodules::Finder, link: &Gitlink) -> bool {
    finder.find(&repo.git, &link.path, link.commit).is_some()
}
