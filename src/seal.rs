//! The seal of a commit (brief §2.2): what it records, its YAML form, and its digest
//! over canonical JSON.
//!
//! Invariants:
//! - `digest` is `sha256:` + hex SHA-256 of the canonical JSON of every other field
//!   present (keys sorted, no whitespace, UTF-8 unescaped), so fields added by later
//!   minor versions are covered too.
//! - A reader accepts schema `git-seal/seal/v1` (with or without added fields) and
//!   refuses any other major with [`ParseError::UnknownSchema`].

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use git2::{Commit, Oid};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::signing::{SealSigner, SignError, Signature};

/// The schema a seal of this version writes.
pub const SCHEMA: &str = "git-seal/seal/v1";
const SCHEMA_PREFIX: &str = "git-seal/seal/";
const SCHEMA_MAJOR: &str = "v1";

/// A person as git records them, with the time of their action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: String,
    /// RFC 3339 with the offset git recorded.
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    pub algorithm: String,
    pub digest: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// A commit seal, field for field as the brief specifies, in its YAML order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub schema: String,
    pub kind: String,
    /// `sha256` in a SHA-256 repository; absent means SHA-1 (PRODUCT.md §2.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_format: Option<String>,
    pub commit: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub parent_seals: Vec<Option<String>>,
    pub author: Person,
    pub committer: Person,
    pub manifest: ManifestSummary,
    pub sealed_at: String,
    pub sealed_by: Identity,
    pub tool: Tool,
    pub digest: String,
    /// Who vouches (brief §2.4): an SSH signature over [`Seal::signed_message`].
    /// Outside `digest`, so signing never changes what a seal's digest is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

/// Why a stored seal could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("seal is not valid YAML: {0}")]
    Yaml(String),
    #[error("seal has unknown schema '{0}' (this git-seal reads {SCHEMA})")]
    UnknownSchema(String),
    #[error("seal lacks a required field or has one of the wrong type: {0}")]
    Fields(String),
}

/// A seal as read from the ledger: the typed fields, and the digest its content
/// actually hashes to (which a valid seal states as its `digest`).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub seal: Seal,
    pub computed_digest: String,
    /// The bytes its signature must sign ([`signed_message`] of the document as
    /// stored, unknown fields included).
    pub signed: Vec<u8>,
    /// A `signature` present but not of the field's shape: a bad signature (the
    /// seal's other fields still read).
    pub signature_error: Option<String>,
}

/// Everything a seal records besides the commit itself.
pub struct SealInputs {
    pub parent_seals: Vec<Option<String>>,
    pub manifest: ManifestSummary,
    pub sealed_at: DateTime<Utc>,
    pub sealed_by: Identity,
}

impl Seal {
    /// Builds and digests the seal of `commit`.
    pub fn new(commit: &Commit<'_>, inputs: SealInputs) -> Seal {
        let mut seal = Seal {
            schema: SCHEMA.into(),
            kind: "commit".into(),
            object_format: format_field(commit.id().object_format()),
            commit: commit.id().to_string(),
            tree: commit.tree_id().to_string(),
            parents: crate::git::recorded_parents(commit)
                .iter()
                .map(Oid::to_string)
                .collect(),
            parent_seals: inputs.parent_seals,
            author: person(&commit.author()),
            committer: person(&commit.committer()),
            manifest: inputs.manifest,
            sealed_at: inputs.sealed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            sealed_by: inputs.sealed_by,
            tool: Tool {
                name: "git-seal".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            digest: String::new(),
            signature: None,
        };
        let value = serde_json::to_value(&seal).unwrap_or(Value::Null);
        seal.digest = digest_of(value);
        seal
    }

    /// The bytes a seal's signature signs: the canonical JSON whose SHA-256 is its
    /// `digest` (every field but `digest` and `signature`).
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.to_json())
    }

    /// Signs the seal (replacing any signature), or says why it could not.
    pub fn sign(&mut self, signer: &SealSigner) -> Result<(), SignError> {
        self.signature = Some(signer.sign_doc(&self.to_json())?);
        Ok(())
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self)
    }

    /// `sealed_at` as unix seconds (what a signature is judged at); `None` when it
    /// is not RFC 3339.
    pub fn sealed_at_unix(&self) -> Option<i64> {
        DateTime::parse_from_rfc3339(&self.sealed_at)
            .ok()
            .map(|t| t.timestamp())
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a seal from YAML, checking its schema major.
    pub fn parse(text: &str) -> Result<Parsed, ParseError> {
        let value: Value = crate::yaml::from_str(text).map_err(ParseError::Yaml)?;
        let schema = value
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| ParseError::Fields("schema".into()))?;
        let major = schema.strip_prefix(SCHEMA_PREFIX);
        if major != Some(SCHEMA_MAJOR) {
            // Bounded: the schema is the ledger's text, and this goes to a terminal.
            return Err(ParseError::UnknownSchema(
                crate::limits::prefix(schema, 64).to_string(),
            ));
        }
        let (signature, signature_error) = match signature_in(&value) {
            Ok(s) => (s, None),
            Err(e) => (None, Some(e)),
        };
        let signed = signed_message(&value);
        let mut fields = value;
        if let Value::Object(map) = &mut fields {
            map.remove("signature");
        }
        let mut seal: Seal =
            serde_json::from_value(fields).map_err(|e| ParseError::Fields(e.to_string()))?;
        seal.signature = signature;
        Ok(Parsed {
            seal,
            computed_digest: format!("sha256:{}", hex::encode(Sha256::digest(&signed))),
            signed,
            signature_error,
        })
    }
}

/// The `object_format` a ledger document made in `format` carries: absent for
/// SHA-1, so SHA-1 seals are as before (PRODUCT.md §2.8). The one writer.
pub fn format_field(format: git2::ObjectFormat) -> Option<String> {
    match format {
        git2::ObjectFormat::Sha1 => None,
        other => Some(crate::git::format_name(other).to_string()),
    }
}

/// The object format a document states: its `object_format`, absent meaning `sha1`.
/// The one reader; a value other than the repository's means the document was made
/// in a repository of the other format (its ids name nothing here).
pub fn stated_format(field: Option<&str>) -> &str {
    field.unwrap_or("sha1")
}

/// `sha256:` + hex SHA-256 of the canonical JSON of `value` without its `digest`
/// and `signature`: the same bytes [`signed_message`] gives a signer.
pub fn digest_of(value: Value) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(signed_message(&value)))
    )
}

/// The one definition of what a ledger document's `digest` covers and its
/// `signature` signs (seals, tag and snapshot seals, countersigns, rollback
/// records): the canonical JSON of every field but `digest` and `signature`.
pub fn signed_message(value: &Value) -> Vec<u8> {
    /// The document's fields less those two, printed as [`canonical_json`] prints a
    /// map (keys in order, compact) without copying the document: a full verify
    /// computes this once per seal.
    struct Covered<'a>(&'a serde_json::Map<String, Value>);
    impl serde::Serialize for Covered<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(
                self.0
                    .iter()
                    .filter(|(k, _)| *k != "digest" && *k != "signature"),
            )
        }
    }
    match value {
        Value::Object(map) => serde_json::to_vec(&Covered(map)).unwrap_or_default(),
        other => canonical_json(other).into_bytes(),
    }
}

/// The `signature` field of a ledger document as read (the one reader of the field):
/// `Ok(None)` when absent, `Err` when present but not of the signature's shape (a
/// bad signature, never "unsigned").
pub fn signature_in(value: &Value) -> Result<Option<Signature>, String> {
    match value.get("signature") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value::<Signature>(v.clone())
            .map(Some)
            .map_err(|e| format!("the signature field is malformed: {e}")),
    }
}

/// Canonical JSON: keys sorted, no insignificant whitespace, non-ASCII unescaped;
/// what Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` prints. serde_json's map is ordered by key (its
/// `preserve_order` feature is off), so plain compact printing is canonical.
pub fn canonical_json(value: &Value) -> String {
    value.to_string()
}

/// A person as a seal records them: what the writer stores and verify compares.
pub fn person(sig: &git2::Signature<'_>) -> Person {
    Person {
        name: String::from_utf8_lossy(sig.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(sig.email_bytes()).into_owned(),
        time: git_time(sig.when()),
    }
}

/// A git timestamp as RFC 3339 with its recorded offset.
pub fn git_time(t: git2::Time) -> String {
    let offset = FixedOffset::east_opt(t.offset_minutes() * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    match offset.timestamp_opt(t.seconds(), 0).single() {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Secs, false),
        None => t.seconds().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_keeps_unicode() {
        let v = serde_json::json!({"b": 1, "a": ["é", null], "c": {"z": "x\ny", "y": 2}});
        assert_eq!(
            canonical_json(&v),
            "{\"a\":[\"é\",null],\"b\":1,\"c\":{\"y\":2,\"z\":\"x\\ny\"}}"
        );
    }

    #[test]
    fn unknown_major_is_refused() {
        let err = Seal::parse("schema: git-seal/seal/v2\nkind: commit\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::UnknownSchema("git-seal/seal/v2".into()),
            "{err}"
        );
    }

    #[test]
    fn the_signed_message_is_the_canonical_json_of_the_document_less_two_fields() {
        let doc = serde_json::json!({
            "zeta": [1, -2.5, null, true, "é ü \u{1F600}", {"b": 1, "a": [{}]}],
            "digest": "sha256:aa",
            "alpha": {"y": "\"quoted\"\n", "x": 18446744073709551615u64},
            "signature": {"key": "k"},
            "mid": "",
        });
        let mut less = doc.clone();
        let map = less.as_object_mut().unwrap();
        map.remove("digest");
        map.remove("signature");
        assert_eq!(signed_message(&doc), canonical_json(&less).into_bytes());
        assert_eq!(signed_message(&serde_json::json!("x")), b"\"x\"".to_vec());
    }

    #[test]
    fn digest_ignores_its_own_field() {
        let a = serde_json::json!({"x": 1, "digest": "sha256:aa"});
        let b = serde_json::json!({"x": 1});
        assert_eq!(digest_of(a), digest_of(b));
    }
}
