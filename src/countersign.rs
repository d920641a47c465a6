//! Countersigns (brief §2.5): a signed statement by anyone that they verified a seal,
//! kept in the ledger at `countersigns/<commit>/<digest hex>.yaml`.
//!
//! Invariants: a countersign is written only for a seal that verifies here, and only
//! signed (there is no unsigned countersign); it names the seal by its digest and
//! counts only for that seal. Files are append-only like every ledger file (the rule
//! and the merge treat them as files: never overwritten, never removed; a fetched one
//! is added beside ours) and read through the ledger's size cap. What counts is
//! decided by its signature under the policy of the countersigned commit (the same
//! [`PolicyResolver`] as seals), never by where the file came from.

use chrono::{DateTime, SecondsFormat, Utc};
use git2::Oid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ledger::View;
use crate::seal::{digest_of, signature_in, signed_message, Identity, Tool};
use crate::signing::{SealSigner, Signature, Verdict};

/// The schema this version writes and reads.
pub const SCHEMA: &str = "git-seal/countersign/v1";

/// The longest role name (one word: `ci`, `review`, `release` …).
pub const MAX_ROLE: usize = 32;

/// A countersign, field by field as the brief gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Countersign {
    pub schema: String,
    pub commit: String,
    pub seal: String,
    pub role: String,
    pub verdict: String,
    pub by: Identity,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub tool: Tool,
    pub digest: String,
    pub signature: Option<Signature>,
}

/// Whether `role` is one word a countersign may carry.
pub fn valid_role(role: &str) -> bool {
    !role.is_empty()
        && role.len() <= MAX_ROLE
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The ledger directory of `commit`'s countersigns.
pub fn dir_of(commit: Oid) -> String {
    format!("countersigns/{commit}")
}

impl Countersign {
    /// Builds and signs the countersign of `seal_digest` (of `commit`) by `signer`.
    pub fn new(
        commit: Oid,
        seal_digest: &str,
        role: &str,
        note: Option<String>,
        by: Identity,
        signer: &SealSigner,
    ) -> Result<Countersign> {
        let mut c = Countersign {
            schema: SCHEMA.into(),
            commit: commit.to_string(),
            seal: seal_digest.into(),
            role: role.into(),
            verdict: "verified".into(),
            by,
            // Milliseconds: two signers who vouch for one seal under one identity in the
            // same second must not write the same document (its digest names its path).
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            note,
            tool: Tool {
                name: "git-seal".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            digest: String::new(),
            signature: None,
        };
        let value = serde_json::to_value(&c).unwrap_or(Value::Null);
        c.digest = digest_of(value.clone());
        let sig = signer.sign_doc(&value).map_err(|e| {
            let hint = e.hint().unwrap_or_else(|| "git seal status".into());
            Error::usage(format!("cannot sign the countersign: {e}")).hint(hint)
        })?;
        c.signature = Some(sig);
        Ok(c)
    }

    /// Its path in the ledger.
    pub fn path(&self) -> String {
        let hex = self.digest.strip_prefix("sha256:").unwrap_or(&self.digest);
        format!("countersigns/{}/{hex}.yaml", self.commit)
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self)
    }
}

/// A countersign as read from the ledger, with what its signature signs.
#[derive(Debug, Clone)]
pub struct Stored {
    pub countersign: Countersign,
    /// Its digest holds and it is filed where its commit and digest say.
    pub intact: bool,
    pub signed: Vec<u8>,
    pub signature_error: Option<String>,
}

impl Stored {
    /// `at` as unix seconds (what its signature is judged at).
    pub fn at_unix(&self) -> i64 {
        DateTime::parse_from_rfc3339(&self.countersign.at)
            .map(|t| t.timestamp())
            .unwrap_or(i64::MIN)
    }
}

/// Every countersign of `commit` the view holds (local and fetched ledgers), each
/// read under the document cap; files that are not countersigns are skipped.
pub fn of_commit(view: &View<'_>, commit: Oid) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    for (name, content) in view.files_in_bounded(&dir_of(commit))? {
        let Ok(bytes) = content else { continue };
        let Ok(value) = crate::yaml::from_slice::<Value>(&bytes) else {
            continue;
        };
        if value.get("schema").and_then(Value::as_str) != Some(SCHEMA) {
            continue;
        }
        let (signature, signature_error) = match signature_in(&value) {
            Ok(s) => (s, None),
            Err(e) => (None, Some(e)),
        };
        let signed = signed_message(&value);
        let computed = digest_of(value.clone());
        let mut fields = value;
        if let Value::Object(m) = &mut fields {
            m.remove("signature");
        }
        let Ok(mut countersign) = serde_json::from_value::<Countersign>(fields) else {
            continue;
        };
        countersign.signature = signature;
        let hex = computed.strip_prefix("sha256:").unwrap_or_default();
        let intact = countersign.digest == computed
            && countersign.commit == commit.to_string()
            && name == format!("{hex}.yaml");
        out.push(Stored {
            countersign,
            intact,
            signed,
            signature_error,
        });
    }
    Ok(out)
}

/// The verdict on a stored countersign: its signature judged by `policy` at its
/// `at`; a broken digest or misfiled countersign is a bad signature.
pub fn judge(stored: &Stored, policy: Option<&crate::signing::Policy>) -> Verdict {
    if let Some(why) = &stored.signature_error {
        return Verdict::BadSignature { why: why.clone() };
    }
    if !stored.intact {
        return Verdict::BadSignature {
            why: "the countersign's digest does not hold, or it is filed under another name".into(),
        };
    }
    let empty = crate::signing::Policy::default();
    policy.unwrap_or(&empty).verify(
        stored.countersign.signature.as_ref(),
        &stored.signed,
        stored.at_unix(),
    )
}

/// What [`countersign_commits`] wrote: (commit, countersign).
pub type Written = Vec<(Oid, Countersign)>;

/// Verifies the seal of each of `commits`, then appends one signed countersign of
/// `role` per commit, all in one ledger append. Nothing is written when any seal
/// fails (the error lists each).
pub fn countersign_commits(
    repo: &crate::git::Repo,
    cfg: &crate::config::Config,
    commits: &[Oid],
    role: &str,
    note: Option<String>,
    signer: &SealSigner,
) -> Result<Written> {
    use crate::git::short;
    if !valid_role(role) {
        return Err(Error::usage(format!(
            "--role is '{}'; a role is one word of letters, digits, - or _ (at most {MAX_ROLE})",
            crate::quote::printable(role)
        ))
        .hint(crate::quote::git_seal("countersign HEAD --role review")));
    }
    if let Some(n) = &note {
        if n.len() > 4096 {
            return Err(Error::usage("the note (-m) is over 4096 bytes").hint(
                crate::quote::git_seal(&format!(
                    "countersign HEAD --role {} -m 'reviewed in PR 12'",
                    crate::quote::shell(role)
                )),
            ));
        }
    }
    let ledger = crate::ledger::Ledger::new(repo, cfg);
    let resolver = crate::signing::PolicyResolver::from_config(repo)?;
    let mut verifier =
        crate::verify::Verifier::new(repo, ledger.view()?, crate::cache::CacheMode::ReadWrite)
            .with_policy(resolver);
    let mut failed = Vec::new();
    let mut first_failed = None;
    let mut digests = Vec::new();
    for &c in commits {
        let reasons = verifier.check(c)?;
        match verifier.chosen(c) {
            Some(chosen) if reasons.is_empty() => digests.push((c, chosen.digest.clone())),
            _ => failed.push({
                first_failed.get_or_insert(c);
                format!(
                    "{}: {}",
                    short(c),
                    reasons
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "no seal".into())
                )
            }),
        }
    }
    if !failed.is_empty() {
        return Err(Error::check(format!(
            "nothing countersigned: {} seal(s) do not verify ({})",
            failed.len(),
            failed.join("; ")
        ))
        .hint(format!(
            "see why with: {}",
            crate::quote::git_seal(&format!(
                "verify {}",
                short(first_failed.unwrap_or(commits[0]))
            ))
        )));
    }
    let (name, email) = repo.identity()?;
    let by = Identity {
        name: name.clone(),
        email: email.clone(),
    };
    let mut written = Vec::new();
    let mut files = Vec::new();
    for (c, digest) in digests {
        let cs = Countersign::new(c, &digest, role, note.clone(), by.clone(), signer)?;
        let yaml = cs.to_yaml();
        if yaml.len() as u64 > crate::limits::DOCUMENT_CAP {
            return Err(
                Error::usage("the countersign would be over the ledger's document cap")
                    .hint("use a shorter note (-m)"),
            );
        }
        files.push((cs.path(), yaml.into_bytes()));
        written.push((c, cs));
    }
    if files.is_empty() {
        return Ok(written);
    }
    let who = git2::Signature::now(&name, &email)?;
    let message = match written.len() {
        1 => format!("countersign {} ({role})", short(written[0].0)),
        n => format!("countersign {n} commits ({role})"),
    };
    ledger.append_with_files(&[], &files, false, &who, &message)?;
    Ok(written)
}
