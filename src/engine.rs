//! The sealing engine: turns commits into seals and appends them to the ledger.
//!
//! Invariants:
//! - Commits are sealed parents first, in one ledger append per call (per
//!   [`APPEND_CHUNK`] seals in a longer run, so that its memory stays bounded), so a
//!   batch's `parent_seals` can name seals written in the same batch or a chunk
//!   before it.
//! - A commit that already has a seal keeps it (seals are write-once); only `force`
//!   replaces one, and only one that does not verify (a valid seal is refused: its
//!   children's chains name it); the replaced seal stays at `alternates/`.
//! - A seal's manifest digest is always computed from the commit's own tree.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use git2::{Oid, Signature};

use crate::cache::{CacheMode, Manifests, Summary};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{recorded_parents, short, IdKey, Repo};
use crate::ledger::{Ledger, View};
use crate::memo::Generations;
use crate::seal::{Identity, ManifestSummary, Seal, SealInputs};
use crate::signing::SealSigner;

/// What a sealing run did.
#[derive(Debug, Default)]
pub struct Sealed {
    /// Commits sealed now, with their seal digests.
    pub written: Vec<(Oid, String)>,
    /// Commits that already had a seal.
    pub already: Vec<Oid>,
    /// Ledger attempts used.
    pub attempts: u32,
    /// Why the seals written are unsigned although a signing key is configured (the
    /// first failure; no further signing is tried in this run).
    pub unsigned: Option<crate::signing::SignError>,
}

/// Seals a long run appends per ledger commit: what it holds before writing (the
/// seals, and the objects of one append) stays bounded whatever the history's
/// length, and a run stopped midway keeps the chunks it appended. Since an append
/// packs only what it adds, smaller chunks cost little: alternating curl backfills,
/// 16,384 took 21.8-22.4 s at 157-160 MB, 4,096 23.4-23.7 s at 151 MB; on git's own
/// history the peak fell from 352 MB to 265 MB.
pub const APPEND_CHUNK: usize = 4_096;

/// Options of one sealing run.
pub struct SealRun<'a> {
    pub force: bool,
    pub dry_run: bool,
    /// Called after each commit is prepared, for progress bars.
    pub progress: Option<&'a dyn Fn()>,
    /// Seal a commit whose note is no seal of it (git's `notes.rewriteRef` copies
    /// the old commit's note onto an amended one, or concatenates it onto the new
    /// seal), keeping that note at `alternates/`: what the sealing hooks do.
    pub replace_foreign: bool,
    /// Who signs the seals written (brief §2.4); `None`: unsigned.
    pub signer: Option<&'a SealSigner>,
    /// A signing failure fails the run (a command) instead of leaving the seal
    /// unsigned (a hook, which never fails).
    pub signing_required: bool,
}

/// Seals `commits` (parents before children), skipping those already sealed.
pub fn seal_commits(
    repo: &Repo,
    cfg: &Config,
    commits: &[Oid],
    run: &SealRun<'_>,
) -> Result<Sealed> {
    let ledger = Ledger::new(repo, cfg);
    let view = ledger.view()?;
    let (name, email) = repo.identity()?;
    let who = (name.clone(), email.clone());
    let seals = StatedSeals::new(&view);
    let mut manifests = Manifests::new(repo, CacheMode::unless_dry_run(run.dry_run))
        .vouched_by(|commit| seals.manifest(commit))
        .reading_checkout();
    if commits.len() > 1 {
        manifests.for_history();
        let mut todo = Vec::with_capacity(commits.len());
        for &c in commits {
            if run.force || view.note_oid(c)?.is_none() {
                todo.push(c);
            }
        }
        manifests.prepare_history(&todo)?;
    }
    // Where each commit sealed in this run sits in `sealed.written`, whose digest its
    // children's `parent_seals` name: an index, not a second copy of every digest
    // (two were 15 MB of git/git's backfill).
    let mut sealed_here: BTreeMap<Oid, usize> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut sealed = Sealed::default();
    if run.force {
        refuse_valid(repo, &ledger, commits)?;
    }
    let mut foreign = BTreeSet::new();
    // A set: a backfill writes tens of thousands, and a list's `contains` made the
    // partition at the end quadratic (a tenth of curl's backfill).
    let mut written = BTreeSet::new();
    for &oid in commits {
        if !run.force && view.note_oid(oid)?.is_some() {
            if !run.replace_foreign || names_itself(&view, oid)? {
                sealed.already.push(oid);
                continue;
            }
            foreign.insert(oid);
        }
        let seal = build_seal(
            repo,
            &seals,
            &mut manifests,
            |p| sealed_here.get(&p).map(|&i| sealed.written[i].1.clone()),
            oid,
            &name,
            &email,
        )?;
        let mut seal = seal;
        if let (Some(signer), None) = (run.signer, &sealed.unsigned) {
            if let Err(e) = seal.sign(signer) {
                if run.signing_required {
                    let hint = e.hint();
                    let err = Error::usage(format!("cannot sign the seal of {}: {e}", short(oid)));
                    return Err(match hint {
                        Some(h) => err.hint(h),
                        None => err.hint("git seal status   # shows the signing key in use"),
                    });
                }
                sealed.unsigned = Some(e);
            }
        }
        sealed_here.insert(oid, sealed.written.len());
        sealed.written.push((oid, seal.digest.clone()));
        let yaml = seal.to_yaml().into_bytes();
        // What no reader would read back is not written (`limits`).
        if yaml.len() as u64 > crate::limits::DOCUMENT_CAP {
            return Err(Error::check(format!(
                "the seal of {oid} would be {} bytes, over the {}-byte cap: its names or emails are that long",
                yaml.len(),
                crate::limits::DOCUMENT_CAP
            ))
            .hint(format!("see them with: {}", crate::quote::git(&format!("log -1 --format='%an <%ae> / %cn <%ce>' {oid}")))));
        }
        notes.push((oid, yaml));
        if notes.len() >= APPEND_CHUNK && !run.dry_run {
            let chunk = std::mem::take(&mut notes);
            append(
                &ledger,
                &who,
                chunk,
                &foreign,
                run.force,
                &mut sealed,
                &mut written,
            )?;
            crate::git::release_freed_memory();
        }
        if let Some(p) = run.progress {
            p();
        }
    }
    if run.dry_run {
        return Ok(sealed);
    }
    append(
        &ledger,
        &who,
        notes,
        &foreign,
        run.force,
        &mut sealed,
        &mut written,
    )?;
    // Commits someone else sealed while we raced count as already sealed.
    let (now, raced): (Vec<_>, Vec<_>) = sealed
        .written
        .into_iter()
        .partition(|(oid, _)| written.contains(oid));
    sealed.written = now;
    sealed.already.extend(raced.into_iter().map(|(oid, _)| oid));
    Ok(sealed)
}

/// Appends `notes` (seals already in the ledger kept, those replacing a foreign note
/// kept beside it at `alternates/`), recording what landed in `written`.
fn append(
    ledger: &Ledger<'_>,
    who: &(String, String),
    notes: Vec<(Oid, Vec<u8>)>,
    foreign: &BTreeSet<Oid>,
    force: bool,
    sealed: &mut Sealed,
    written: &mut BTreeSet<Oid>,
) -> Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let who = Signature::now(&who.0, &who.1)?;
    let message = match notes.len() {
        1 => format!("seal {}", short(notes[0].0)),
        n => format!("seal {n} commits"),
    };
    let (replacing, new): (Vec<_>, Vec<_>) = notes
        .into_iter()
        .partition(|(oid, _)| foreign.contains(oid));
    for (batch, only_new) in [(new, !force), (replacing, false)] {
        if batch.is_empty() {
            continue;
        }
        let appended = ledger.append(&batch, only_new, &who, &message)?;
        sealed.attempts += appended.attempts;
        written.extend(appended.written);
    }
    Ok(())
}

/// `--force` replaces only seals that do not verify: a valid seal is what its
/// children's `parent_seals` name, so replacing it would break their chains.
fn refuse_valid(repo: &Repo, ledger: &Ledger<'_>, commits: &[Oid]) -> Result<()> {
    let view = ledger.view()?;
    let mut verifier = crate::verify::Verifier::new(repo, ledger.view()?, CacheMode::ReadOnly);
    for &oid in commits {
        if view.note_oid(oid)?.is_some() && verifier.check(oid)?.is_empty() {
            return Err(Error::check(format!(
                "seal --force refused: the seal of {} verifies, and its children's seals name it",
                short(oid)
            ))
            .hint(format!(
                "--force replaces only a seal that fails: {}",
                crate::quote::git_seal(&format!("verify {oid}"))
            )));
        }
    }
    Ok(())
}

fn build_seal(
    repo: &Repo,
    seals: &StatedSeals<'_, '_>,
    manifests: &mut Manifests<'_>,
    sealed_here: impl Fn(Oid) -> Option<String>,
    oid: Oid,
    name: &str,
    email: &str,
) -> Result<Seal> {
    let commit = repo.git.find_commit(oid)?;
    let manifest = manifests.manifest_of(&commit)?;
    let parent_seals = recorded_parents(&commit)
        .into_iter()
        .map(|p| match sealed_here(p) {
            Some(d) => Ok(Some(d)),
            None => seals.digest(p),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Seal::new(
        &commit,
        SealInputs {
            parent_seals,
            manifest: ManifestSummary {
                algorithm: "sha256".into(),
                digest: manifest.digest(),
                files: manifest.files(),
                bytes: manifest.bytes(),
            },
            sealed_at: Utc::now(),
            sealed_by: Identity {
                name: name.into(),
                email: email.into(),
            },
        },
    ))
}

/// The manifest of `commit` for a document written into the ledger or handed to
/// others (a tag seal, a rollback record, a run record, an export): a manifest read
/// from the cache serves only as a base that a seal vouches for, as for a commit's
/// seal (`Manifests::vouched_by`), so a rewritten cache entry costs time, never a
/// document stating a manifest the commit does not have.
pub fn vouched_manifest(
    repo: &Repo,
    view: &View<'_>,
    mode: CacheMode,
    commit: &git2::Commit<'_>,
) -> Result<std::rc::Rc<crate::manifest::Manifest>> {
    let seals = StatedSeals::new(view);
    let mut manifests = Manifests::new(repo, mode).vouched_by(|c| seals.manifest(c));
    let manifest = manifests.manifest_of(commit)?;
    Ok(manifest)
}

/// Whether `commit`'s note is a seal that parses and names `commit` itself.
fn names_itself(view: &View<'_>, commit: Oid) -> Result<bool> {
    Ok(view
        .note_bounded(commit)?
        .and_then(|text| Seal::parse(&text.ok()?).ok())
        .is_some_and(|p| p.seal.commit == commit.to_string()))
}

/// The digest a commit's seal states, if it has a seal that parses.
pub fn stated_digest(view: &View<'_>, commit: Oid) -> Result<Option<String>> {
    Ok(view
        .note_bounded(commit)?
        .and_then(|text| Seal::parse(&text.ok()?).ok())
        .map(|p| p.seal.digest))
}

/// How many answers a generation of [`StatedSeals`]' memory keeps.
const STATED_REMEMBERED_MAX: usize = 4_096;

/// What the seals of the commits a run asks about state, each note read and parsed
/// once while remembered (`memo`, [`STATED_REMEMBERED_MAX`] a generation): the
/// sealing hook asks about its parent's twice (the manifest digest that vouches for a
/// cached manifest, then `parent_seals`), and reading a seal is mostly parsing its
/// YAML. The view is the run's, fixed, so nothing read goes stale.
struct StatedSeals<'v, 'r> {
    view: &'v View<'r>,
    read: std::cell::RefCell<Generations<IdKey, Option<Stated>>>,
}

/// A seal that parses: its own digest, and the manifest it states (digest, files,
/// bytes) when it is a seal of its commit whose own digest holds.
#[derive(Clone)]
struct Stated {
    digest: String,
    manifest: Option<Summary>,
}

impl<'v, 'r> StatedSeals<'v, 'r> {
    fn new(view: &'v View<'r>) -> Self {
        StatedSeals {
            view,
            read: std::cell::RefCell::new(Generations::new(STATED_REMEMBERED_MAX)),
        }
    }

    fn stated(&self, commit: Oid) -> Result<Option<Stated>> {
        if let Some(known) = self.read.borrow().get(&IdKey(commit)) {
            return Ok(known.clone());
        }
        let stated = self
            .view
            .note_bounded(commit)?
            .and_then(|text| Seal::parse(&text.ok()?).ok())
            .map(|p| Stated {
                manifest: (p.seal.commit == commit.to_string()
                    && p.computed_digest == p.seal.digest)
                    .then(|| {
                        let m = &p.seal.manifest;
                        (m.digest.clone(), m.files, m.bytes)
                    }),
                digest: p.seal.digest,
            });
        // A run asks about a commit's seal while sealing its children, which come
        // soon after it: remembering every answer of a backfill held one entry per
        // commit (git/git: 82k).
        let mut read = self.read.borrow_mut();
        read.turn();
        read.insert(IdKey(commit), stated.clone());
        Ok(stated)
    }

    /// The digest `commit`'s seal states (as [`stated_digest`]).
    fn digest(&self, commit: Oid) -> Result<Option<String>> {
        Ok(self.stated(commit)?.map(|s| s.digest))
    }

    /// The manifest (digest, files, bytes) stated by `commit`'s seal, if its note is
    /// a seal of it whose own digest holds: what vouches for a cached manifest
    /// before a seal derives from it (a hostile one can only make that cache entry
    /// unused).
    fn manifest(&self, commit: Oid) -> Option<Summary> {
        self.stated(commit).ok()??.manifest
    }
}
