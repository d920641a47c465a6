//! OpenSSH allowed-signers files (`man ssh-keygen`, ALLOWED SIGNERS) and the
//! revocation list beside them: parsing, and deciding whether a key may sign for a
//! principal in a namespace at a time.
//!
//! Invariants: a file is read only up to [`MAX_POLICY_BYTES`] (a longer one is an
//! error, never a truncated policy); parsing is one pass over the lines, each
//! linear in its length. Decisions follow OpenSSH's `sshsig_check_allowed_keys`:
//! lines are tried in order and only those whose principals match; the first line
//! that matches key, namespace and validity trusts the signature; a malformed line
//! is skipped, as OpenSSH skips it, and named in the refusal when no line trusts. A revocation
//! list that is a binary KRL is refused as unsupported, never read as "no key
//! revoked".

use std::io::Read;
use std::path::Path;

use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ssh_key::public::KeyData;
use ssh_key::{Certificate, HashAlg, PublicKey};

use super::pattern::{matches_list, ListMatch};
use super::sshsig::Signer;

/// The largest allowed-signers or revocation file read.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Why a policy file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: cannot read: {why}")]
    Read { path: String, why: String },
    #[error("{path}: over the {MAX_POLICY_BYTES}-byte limit")]
    TooLarge { path: String },
    #[error("{path}: is a binary KRL; git-seal reads only a revocation list of public keys, one per line")]
    KrlUnsupported { path: String },
    #[error("{path}:{line}: {why}")]
    Revocation {
        path: String,
        line: usize,
        why: String,
    },
}

/// One usable line of an allowed-signers file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub principals: String,
    pub key: KeyData,
    pub cert_authority: bool,
    pub namespaces: Option<String>,
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
}

#[derive(Debug, Clone)]
enum Line {
    Entry(Entry),
    Invalid {
        line: usize,
        principals: String,
        why: String,
    },
}

/// A parsed allowed-signers file.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    lines: Vec<Line>,
}

/// A malformed line, as `status` may list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub why: String,
}

/// What the allowed-signers file says about one signer and principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Trusted,
    /// No line trusts this key for this principal; `listed_for` names the principal
    /// patterns of lines that do list the key (empty: the key is not listed).
    NotListed {
        listed_for: Vec<String>,
    },
    /// A line lists key and principal, but not for the `git-seal` namespace.
    Namespace {
        line: usize,
        namespaces: String,
    },
    /// A certificate signed by a listed CA, but not valid for this principal or time.
    Certificate {
        line: usize,
        why: String,
    },
    Expired {
        line: usize,
        valid_before: i64,
    },
    NotYetValid {
        line: usize,
        valid_after: i64,
    },
    /// Nothing trusted, and the first line for this principal that refused was
    /// malformed.
    Invalid {
        line: usize,
        why: String,
    },
}

/// Reads a policy file, capped at [`MAX_POLICY_BYTES`].
pub fn read_capped(path: &Path) -> Result<Vec<u8>, PolicyError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| PolicyError::Read {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PolicyError::Read {
            path: shown.clone(),
            why: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge { path: shown });
    }
    Ok(bytes)
}

impl AllowedSigners {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = read_capped(path)?;
        if bytes.len() as u64 > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                path: path.display().to_string(),
            });
        }
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Parses a file's text. Never fails: malformed lines are kept as problems.
    pub fn parse(text: &str) -> Self {
        let lines = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| parse_line(i + 1, l))
            .collect();
        AllowedSigners { lines }
    }

    /// Usable lines.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry(e) => Some(e),
            Line::Invalid { .. } => None,
        })
    }

    /// Malformed lines.
    pub fn problems(&self) -> Vec<LineProblem> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Invalid { line, why, .. } => Some(LineProblem {
                    line: *line,
                    why: why.clone(),
                }),
                Line::Entry(_) => None,
            })
            .collect()
    }

    /// Decides whether `signer` may sign for `principal` in `namespace` at unix time
    /// `at`.
    pub fn decide(&self, signer: &Signer, principal: &str, namespace: &str, at: i64) -> Decision {
        let mut first_refusal: Option<Decision> = None;
        for line in &self.lines {
            let (principals, entry) = match line {
                Line::Entry(e) => (&e.principals, Some(e)),
                Line::Invalid { principals, .. } => (principals, None),
            };
            if matches_list(principal, principals) != ListMatch::Yes {
                continue;
            }
            let Some(e) = entry else {
                if let Line::Invalid { line, why, .. } = line {
                    first_refusal.get_or_insert(Decision::Invalid {
                        line: *line,
                        why: why.clone(),
                    });
                }
                continue;
            };
            let refusal = match (e.cert_authority, signer) {
                (false, Signer::Key(k)) if *k == e.key => None,
                (true, Signer::Certificate(c)) if *c.signature_key() == e.key => {
                    cert_refusal(c, principal, at)
                        .map(|why| Decision::Certificate { line: e.line, why })
                }
                _ => continue,
            }
            .or_else(|| {
                let ns = e.namespaces.as_deref()?;
                (matches_list(namespace, ns) != ListMatch::Yes).then(|| Decision::Namespace {
                    line: e.line,
                    namespaces: ns.to_string(),
                })
            })
            .or_else(|| {
                let va = e.valid_after?;
                (at < va).then_some(Decision::NotYetValid {
                    line: e.line,
                    valid_after: va,
                })
            })
            .or_else(|| {
                let vb = e.valid_before?;
                (at > vb).then_some(Decision::Expired {
                    line: e.line,
                    valid_before: vb,
                })
            });
            match refusal {
                None => return Decision::Trusted,
                Some(r) => {
                    first_refusal.get_or_insert(r);
                }
            }
        }
        first_refusal.unwrap_or_else(|| Decision::NotListed {
            listed_for: self
                .entries()
                .filter(|e| match signer {
                    Signer::Key(k) => !e.cert_authority && *k == e.key,
                    Signer::Certificate(c) => e.cert_authority && *c.signature_key() == e.key,
                })
                .map(|e| e.principals.clone())
                .collect(),
        })
    }
}

/// Why a certificate does not vouch for `principal` at `at` (OpenSSH's
/// `sshkey_cert_check_authority`: a user certificate, validly signed by its CA,
/// within its validity, naming the principal exactly).
fn cert_refusal(cert: &Certificate, principal: &str, at: i64) -> Option<String> {
    if !cert.cert_type().is_user() {
        return Some("not a user certificate".into());
    }
    let fp = cert.signature_key().fingerprint(HashAlg::Sha256);
    let at = u64::try_from(at).unwrap_or(0);
    if cert.validate_at(at, [&fp]).is_err() {
        return Some("certificate signature or validity does not hold at the seal's time".into());
    }
    if !cert.valid_principals().iter().any(|p| p == principal) {
        return Some(format!(
            "certificate does not name principal \"{}\"",
            crate::quote::printable(principal)
        ));
    }
    None
}

/// Splits the first token as OpenSSH's `strdelimw` does: up to whitespace, or a
/// double-quoted run (the quotes removed).
fn first_token(s: &str) -> Option<(String, &str)> {
    let stop = s.find([' ', '\t', '"']);
    match stop {
        None => Some((s.to_string(), "")),
        Some(i) if s.as_bytes()[i] == b'"' => {
            let after = &s[i + 1..];
            let close = after.find('"')?;
            let token = format!("{}{}", &s[..i], &after[..close]);
            Some((token, after[close + 1..].trim_start_matches([' ', '\t'])))
        }
        Some(i) => Some((s[..i].to_string(), s[i..].trim_start_matches([' ', '\t']))),
    }
}

/// The end of an options field: the first blank outside double quotes, `\"`
/// escaping a quote (OpenSSH's `sshkey_advance_past_options`).
fn options_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    (!quoted).then_some(b.len())
}

/// Parses `type base64 [comment]`.
fn parse_key(s: &str) -> Option<KeyData> {
    let mut it = s.split([' ', '\t']).filter(|t| !t.is_empty());
    let (ty, b64) = (it.next()?, it.next()?);
    let key = PublicKey::from_openssh(&format!("{ty} {b64}")).ok()?;
    match key.key_data() {
        KeyData::Other(_) => None,
        k => Some(k.clone()),
    }
}

fn parse_line(number: usize, raw: &str) -> Option<Line> {
    let line = raw.trim_start_matches([' ', '\t', '\r', '\n']);
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let invalid = |principals: &str, why: &str| Line::Invalid {
        line: number,
        principals: principals.to_string(),
        why: why.to_string(),
    };
    let Some((principals, rest)) = first_token(line) else {
        return Some(invalid("", "invalid line: unterminated quote"));
    };
    if rest.is_empty() {
        return Some(invalid(&principals, "invalid line: no key"));
    }
    if let Some(key) = parse_key(rest) {
        return Some(Line::Entry(Entry {
            line: number,
            principals,
            key,
            cert_authority: false,
            namespaces: None,
            valid_after: None,
            valid_before: None,
        }));
    }
    let Some(end) = options_end(rest) else {
        return Some(invalid(&principals, "invalid options: unterminated quote"));
    };
    let (opts, key_text) = (&rest[..end], rest[end..].trim_start_matches([' ', '\t']));
    if key_text.is_empty() {
        return Some(invalid(&principals, "missing key"));
    }
    let Some(key) = parse_key(key_text) else {
        return Some(invalid(&principals, "invalid key"));
    };
    match parse_options(opts) {
        Ok(o) => Some(Line::Entry(Entry {
            line: number,
            principals,
            key,
            cert_authority: o.ca,
            namespaces: o.namespaces,
            valid_after: o.valid_after,
            valid_before: o.valid_before,
        })),
        Err(why) => Some(invalid(&principals, &format!("bad options: {why}"))),
    }
}

#[derive(Default)]
struct Options {
    ca: bool,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A `"…"` value (`\"` is a quote); returns it and what follows.
fn dequote(s: &str) -> Result<(String, &str), &'static str> {
    let mut chars = s.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err("missing start quote");
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
            out.push('"');
            i += 2;
            continue;
        }
        if b[i] == b'"' {
            return Ok((out, &s[i + 1..]));
        }
        let ch = s[i..].chars().next().ok_or("bad character")?;
        out.push(ch);
        i += ch.len_utf8();
    }
    Err("missing end quote")
}

fn parse_options(mut s: &str) -> Result<Options, String> {
    let mut o = Options::default();
    while !s.is_empty() {
        if let Some(rest) = strip_prefix_ci(s, "cert-authority") {
            o.ca = true;
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "namespaces=") {
            if o.namespaces.is_some() {
                return Err("multiple \"namespaces\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.namespaces = Some(v);
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-after=") {
            if o.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.valid_after = Some(parse_time(&v).ok_or("invalid \"valid-after\" time")?);
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-before=") {
            if o.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.valid_before = Some(parse_time(&v).ok_or("invalid \"valid-before\" time")?);
            s = rest;
        }
        if s.is_empty() {
            break;
        }
        let Some(rest) = s.strip_prefix(',') else {
            return Err("unknown key option".into());
        };
        if rest.is_empty() {
            return Err("unexpected end-of-options".into());
        }
        s = rest;
    }
    if let (Some(a), Some(b)) = (o.valid_after, o.valid_before) {
        if b <= a {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(o)
}

/// Parses a time as OpenSSH's `parse_absolute_time`: `YYYYMMDD`, `YYYYMMDDHHMM` or
/// `YYYYMMDDHHMMSS`, in UTC when followed by `Z` or `UTC` (any case), otherwise in
/// the local time zone. Returns unix seconds; 0 and before are refused as OpenSSH
/// refuses them.
pub fn parse_time(s: &str) -> Option<i64> {
    let (digits, utc) = if let Some(d) = strip_suffix_ci(s, "utc").filter(|d| !d.is_empty()) {
        (d, true)
    } else if let Some(d) = strip_suffix_ci(s, "z").filter(|d| !d.is_empty()) {
        (d, true)
    } else {
        (s, false)
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r)?.parse::<u32>().ok();
    let (h, m, sec) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        14 => (num(8..10)?, num(10..12)?, num(12..14)?),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let naive: NaiveDateTime = date.and_hms_opt(h, m, sec)?;
    let t = if utc {
        Utc.from_utc_datetime(&naive).timestamp()
    } else {
        Local.from_local_datetime(&naive).earliest()?.timestamp()
    };
    (t > 0).then_some(t)
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..at])
}

/// A revocation list: public keys, one a line (`#` comments and blank lines
/// allowed), as OpenSSH reads a revoked-keys file that is not a KRL.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    keys: Vec<KeyData>,
}

const KRL_MAGIC: &[u8] = b"SSHKRL\n\0";

impl Revocations {
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = read_capped(path)?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parses a revocation list; `path` names it in errors. A malformed line is an
    /// error (OpenSSH then fails every verification).
    pub fn parse(bytes: &[u8], path: &str) -> Result<Self, PolicyError> {
        if bytes.starts_with(KRL_MAGIC) {
            return Err(PolicyError::KrlUnsupported { path: path.into() });
        }
        if bytes.len() as u64 > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge { path: path.into() });
        }
        let text = String::from_utf8_lossy(bytes);
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches([' ', '\t']).trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = parse_key(line).ok_or_else(|| PolicyError::Revocation {
                path: path.into(),
                line: i + 1,
                why: "not a public key".into(),
            })?;
            keys.push(key);
        }
        Ok(Revocations { keys })
    }

    /// Whether the signer's key, or the CA that certified it, is revoked.
    pub fn revokes(&self, signer: &Signer) -> bool {
        let ca = match signer {
            Signer::Certificate(c) => Some(c.signature_key()),
            Signer::Key(_) => None,
        };
        self.keys.iter().any(|k| k == signer.key() || Some(k) == ca)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPw8a6gJS4niqqdUk5FclHvjrxiWjSUQOmO7NuSb84fN";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDIcAAXyoUd44zfUGk30dYMfL41TLpzuV6CsxAFNKOsx";

    fn signer(k: &str) -> Signer {
        Signer::Key(parse_key(k).unwrap())
    }

    #[test]
    fn times_parse_as_openssh_parses_them() {
        assert_eq!(parse_time("20260101Z"), Some(1_767_225_600));
        assert_eq!(parse_time("202601010000Z"), Some(1_767_225_600));
        assert_eq!(parse_time("20260101000001UTC"), Some(1_767_225_601));
        assert_eq!(parse_time("20260101000001utc"), Some(1_767_225_601));
        assert_eq!(parse_time("2026010"), None);
        assert_eq!(parse_time("20261301Z"), None);
        assert_eq!(parse_time("2026-01-01"), None);
        assert_eq!(parse_time("Z"), None);
        assert_eq!(parse_time("19700101Z"), None);
    }

    #[test]
    fn options_quotes_comments_and_blank_lines() {
        let text = format!(
            "# team\n\n  \"alice@x.org,bob@x.org\" namespaces=\"git,git-seal\",valid-before=\"20270101Z\" {KEY_A} alice\n*@ops.x.org {KEY_B}\n"
        );
        let a = AllowedSigners::parse(&text);
        assert!(a.problems().is_empty(), "{:?}", a.problems());
        let e: Vec<_> = a.entries().collect();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].principals, "alice@x.org,bob@x.org");
        assert_eq!(e[0].namespaces.as_deref(), Some("git,git-seal"));
        assert_eq!(e[0].valid_before, Some(1_798_761_600));
        assert_eq!(e[0].line, 3);
        let t = 1_767_225_600;
        assert_eq!(
            a.decide(&signer(KEY_A), "bob@x.org", "git-seal", t),
            Decision::Trusted
        );
        assert_eq!(
            a.decide(&signer(KEY_B), "eve@ops.x.org", "git-seal", t),
            Decision::Trusted
        );
        assert_eq!(
            a.decide(&signer(KEY_A), "alice@x.org", "git-seal", 1_900_000_000),
            Decision::Expired {
                line: 3,
                valid_before: 1_798_761_600
            }
        );
        assert_eq!(
            a.decide(&signer(KEY_A), "alice@x.org", "file", t),
            Decision::Namespace {
                line: 3,
                namespaces: "git,git-seal".into()
            }
        );
        assert_eq!(
            a.decide(&signer(KEY_B), "alice@x.org", "git-seal", t),
            Decision::NotListed {
                listed_for: vec!["*@ops.x.org".into()]
            }
        );
    }

    #[test]
    fn malformed_lines_stop_only_their_principals() {
        let text = format!(
            "eve@x.org bogus=\"1\" {KEY_B}\nmallory@x.org valid-after=\"soon\" {KEY_B}\nalice@x.org {KEY_A}\nbob@x.org namespaces=\"a\",namespaces=\"b\" {KEY_B}\ncarol@x.org \"unterminated {KEY_B}\ndave@x.org ssh-ed25519 AAAA!!\n"
        );
        let a = AllowedSigners::parse(&text);
        assert_eq!(a.problems().len(), 5, "{:?}", a.problems());
        assert_eq!(
            a.decide(&signer(KEY_A), "alice@x.org", "git-seal", 10),
            Decision::Trusted
        );
        assert!(matches!(
            a.decide(&signer(KEY_B), "eve@x.org", "git-seal", 10),
            Decision::Invalid { line: 1, .. }
        ));
    }

    #[test]
    fn negated_principal_pattern_excludes() {
        let a = AllowedSigners::parse(&format!("*@x.org,!eve@x.org {KEY_A}\n"));
        assert_eq!(
            a.decide(&signer(KEY_A), "bob@x.org", "git-seal", 10),
            Decision::Trusted
        );
        assert!(matches!(
            a.decide(&signer(KEY_A), "eve@x.org", "git-seal", 10),
            Decision::NotListed { .. }
        ));
    }

    #[test]
    fn revocation_lists_and_krls() {
        let r =
            Revocations::parse(format!("# gone\n{KEY_B} old laptop\n").as_bytes(), "rev").unwrap();
        assert!(r.revokes(&signer(KEY_B)));
        assert!(!r.revokes(&signer(KEY_A)));
        assert!(matches!(
            Revocations::parse(b"SSHKRL\n\0\0\0\0\x01", "rev"),
            Err(PolicyError::KrlUnsupported { .. })
        ));
        assert!(matches!(
            Revocations::parse(b"garbage\n", "rev"),
            Err(PolicyError::Revocation { line: 1, .. })
        ));
    }

    #[test]
    fn a_huge_line_parses_quickly() {
        let text = format!("{} {KEY_A}\n", "a*".repeat(400_000));
        let t = std::time::Instant::now();
        let a = AllowedSigners::parse(&text);
        let _ = a.decide(&signer(KEY_A), &"a".repeat(1000), "git-seal", 10);
        // Linear work here takes milliseconds; a quadratic scan of this line takes
        // minutes. The bound leaves room for a machine running other builds.
        assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    }
}
