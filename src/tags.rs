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

use chrono::{SecondsFormat, Utc};
use git2::{ObjectType, Oid, Signature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{CacheMode, Manifests};
use crate::config::Config;
use crate::engine::stated_digest;
use crate::error::{Error, Result};
use crate::evtag;
use crate::git::{short, Repo};
use crate::ledger::{Ledger, View};
use crate::limits::TooLarge;
use crate::seal::{digest_of, git_time, Identity, ManifestSummary, Person, Tool, SCHEMA};
use crate::verify::{Reason, Verifier};

/// The extended-verification checksum recorded in a tag seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evtag {
    pub algorithm: String,
    pub digest: String,
}

/// Where a snapshot's frozen files are in the ledger, and the checksum file's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    pub manifest: String,
    pub checksums: String,
    pub checksums_sha256: String,
}

/// A tag seal, field by field (documented in the README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSeal {
    pub schema: String,
    pub kind: String,
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
}

/// A tag as it is now in the repository.
pub struct TagState {
    pub name: String,
    pub tag_object: Option<Oid>,
    pub target: Oid,
    pub tagger: Option<Person>,
}

/// Reads `refs/tags/<name>`.
pub fn tag_state(repo: &Repo, name: &str) -> Result<TagState> {
    let refname = format!("refs/tags/{name}");
    let reference = repo.git.find_reference(&refname).map_err(|_| {
        Error::usage(format!("no tag named '{name}'")).hint("list tags: git tag --list")
    })?;
    let id = reference
        .target()
        .ok_or_else(|| Error::usage(format!("tag {name} is symbolic")))?;
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
    repo.git
        .find_reference(&format!("refs/tags/{name}"))
        .is_ok()
}

/// Splits revisions given on the command line into tags named by themselves (sealed
/// and verified as tags) and the rest (commits and ranges).
pub fn split_tags(repo: &Repo, revs: &[String]) -> (Vec<String>, Vec<String>) {
    revs.iter()
        .cloned()
        .partition(|r| !r.contains("..") && is_tag(repo, r))
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

/// What `seal_tag` wrote.
pub struct TagSealed {
    pub seal: TagSeal,
    pub yaml: String,
    /// False when an identical seal (same tag object and target) was already there.
    pub written: bool,
}

/// Files a snapshot freezes beside its seal: (ledger path, content).
pub struct SnapshotFiles {
    pub manifest_json: Vec<u8>,
    pub checksums: Vec<u8>,
}

/// Seals tag `name`. With `snapshot`,
/// also freezes its manifest and checksum file in the same ledger append.
pub fn seal_tag(
    repo: &Repo,
    cfg: &Config,
    name: &str,
    snapshot: Option<&SnapshotFiles>,
    dry_run: bool,
) -> Result<TagSealed> {
    let state = tag_state(repo, name)?;
    let ledger = Ledger::new(repo, cfg);
    let view = ledger.view()?;
    let tag_object = state.tag_object.map(|o| o.to_string());
    if snapshot.is_none() {
        let existing = stored_seals(&view, name)?
            .into_iter()
            .find(|(s, _)| s.target == state.target.to_string() && s.tag_object == tag_object);
        if let Some((seal, _)) = existing {
            let yaml = crate::yaml::to_string(&seal);
            return Ok(TagSealed {
                seal,
                yaml,
                written: false,
            });
        }
    }
    let target_seal = stated_digest(&view, state.target)?;
    let commit = repo.git.find_commit(state.target)?;
    let manifest = Manifests::new(repo, CacheMode::unless_dry_run(dry_run)).manifest_of(&commit)?;
    let (sealer_name, sealer_email) = repo.identity()?;
    let frozen = snapshot.map(|s| Frozen {
        manifest: format!("snapshots/{name}/MANIFEST.json"),
        checksums: format!("snapshots/{name}/CHECKSUMS.sha256"),
        checksums_sha256: format!("sha256:{}", hex::encode(Sha256::digest(&s.checksums))),
    });
    let mut seal = TagSeal {
        schema: SCHEMA.into(),
        kind: "tag".into(),
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
            digest: evtag::evtag(repo, state.target)?,
        },
        snapshot: frozen.clone(),
        sealed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, false),
        sealed_by: Identity {
            name: sealer_name.clone(),
            email: sealer_email.clone(),
        },
        tool: Tool {
            name: "git-seal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        digest: String::new(),
    };
    seal.digest = digest_of(serde_json::to_value(&seal).unwrap_or_default());
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
    /// A stored tag seal over the size cap, left unread.
    TooLarge(TooLarge),
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
            TagProblem::TooLarge(e) => write!(f, "unreadable tag seal: {e}"),
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

/// Why a tag does not verify. Empty when it does.
pub fn verify_tag(
    repo: &Repo,
    cfg: &Config,
    name: &str,
    mode: CacheMode,
) -> Result<Vec<TagProblem>> {
    let state = tag_state(repo, name)?;
    let view = Ledger::new(repo, cfg).view()?;
    let (seals, too_large) = stored_seals_bounded(&view, name)?;
    if seals.is_empty() {
        if !too_large.is_empty() {
            return Ok(too_large.into_iter().map(TagProblem::TooLarge).collect());
        }
        return Ok(vec![TagProblem::NoSeal]);
    }
    let tag_object = state.tag_object.map(|o| o.to_string());
    let current = seals
        .iter()
        .find(|(s, _)| s.target == state.target.to_string() && s.tag_object == tag_object);
    let Some((seal, computed)) = current else {
        let sealed = seals
            .iter()
            .map(|(s, _)| crate::limits::prefix(&s.target, 7).to_string())
            .collect();
        return Ok(vec![TagProblem::Moved {
            sealed,
            now: state.target,
        }]);
    };
    let mut problems = Vec::new();
    if *computed != seal.digest {
        problems.push(TagProblem::DigestMismatch {
            stated: seal.digest.clone(),
            computed: computed.clone(),
        });
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
    let evtag = evtag::evtag(repo, state.target)?;
    if evtag != seal.evtag.digest {
        problems.push(TagProblem::EvtagMismatch {
            stated: seal.evtag.digest.clone(),
            actual: evtag,
        });
    }
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
        match view.file(&frozen.checksums)? {
            Some(bytes) => {
                let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
                if actual != frozen.checksums_sha256 || bytes != manifest.to_sha256sum() {
                    problems.push(TagProblem::FrozenMismatch);
                }
            }
            None => problems.push(TagProblem::FrozenMissing),
        }
    }
    Ok(problems)
}
