//! The SSHSIG wire format (OpenSSH's PROTOCOL.sshsig): armor, parse, and the
//! cryptographic check of one signature over one message.
//!
//! Invariants: the armored text is capped at [`MAX_SIGNATURE_BYTES`] before any
//! decoding; parsing is one linear pass that never panics and refuses trailing
//! data, versions above 1, hash algorithms other than sha256/sha512, non-empty
//! `reserved` fields (OpenSSH signs over an empty one) and RSA signatures other than
//! rsa-sha2-256/512. The check is made over the namespace the caller expects, never
//! over the one the signature names, so a signature made for another namespace
//! cannot verify here.

use base64ct::{Base64, Encoding};
use ssh_encoding::{Decode, Reader};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, Certificate, HashAlg, SshSig};

/// The largest armored signature accepted (an RSA-16384 certificate signature is
/// well under it).
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// Who made a signature: a plain key, or a key with an OpenSSH certificate.
#[derive(Debug, Clone)]
pub enum Signer {
    Key(KeyData),
    Certificate(Box<Certificate>),
}

impl Signer {
    /// The signing key itself (a certificate's subject key).
    pub fn key(&self) -> &KeyData {
        match self {
            Signer::Key(k) => k,
            Signer::Certificate(c) => c.public_key(),
        }
    }
}

/// A parsed signature, not yet checked.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub signer: Signer,
    pub namespace: String,
    hash_alg: HashAlg,
    signature: ssh_key::Signature,
}

/// Why a signature could not be parsed or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("signature is {0} bytes, over the {MAX_SIGNATURE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not an SSH signature: missing \"{BEGIN}\"")]
    MissingHeader,
    #[error("truncated SSH signature: missing \"{END}\"")]
    MissingFooter,
    #[error("SSH signature armor is not valid base64")]
    Base64,
    #[error("malformed SSH signature: {0}")]
    Malformed(String),
    #[error("unsupported SSH signature: {0}")]
    Unsupported(String),
    #[error("signature does not match the message")]
    Mismatch,
}

/// Removes the armor: header line, base64 body (whitespace ignored, as OpenSSH
/// does), footer. Text before the header or after the footer is refused.
pub fn dearmor(armored: &str) -> Result<Vec<u8>, SigError> {
    if armored.len() > MAX_SIGNATURE_BYTES {
        return Err(SigError::TooLarge(armored.len()));
    }
    let rest = armored.strip_prefix(BEGIN).ok_or(SigError::MissingHeader)?;
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))
        .ok_or(SigError::MissingHeader)?;
    let end = rest.find(END).ok_or(SigError::MissingFooter)?;
    if !rest[end + END.len()..].trim().is_empty() {
        return Err(SigError::Malformed("text after the signature".into()));
    }
    let b64: String = rest[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Base64::decode_vec(&b64).map_err(|_| SigError::Base64)
}

/// Armors a signature blob as OpenSSH does (70-column lines, trailing newline).
pub fn armor(blob: &[u8]) -> String {
    let b64 = Base64::encode_string(blob);
    let mut out = String::with_capacity(b64.len() + b64.len() / 70 + 64);
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn malformed(e: impl std::fmt::Display) -> SigError {
    SigError::Malformed(e.to_string())
}

/// Parses an armored signature.
pub fn parse(armored: &str) -> Result<Parsed, SigError> {
    let blob = dearmor(armored)?;
    let mut r: &[u8] = &blob;
    let mut magic = [0u8; 6];
    r.read(&mut magic).map_err(malformed)?;
    if &magic != b"SSHSIG" {
        return Err(SigError::Malformed("missing the SSHSIG preamble".into()));
    }
    let version = u32::decode(&mut r).map_err(malformed)?;
    if version != 1 {
        return Err(SigError::Unsupported(format!("version {version}")));
    }
    let key_blob = Vec::<u8>::decode(&mut r).map_err(malformed)?;
    let namespace = String::decode(&mut r).map_err(malformed)?;
    let reserved = Vec::<u8>::decode(&mut r).map_err(malformed)?;
    let hash_name = String::decode(&mut r).map_err(malformed)?;
    let sig_blob = Vec::<u8>::decode(&mut r).map_err(malformed)?;
    if !r.is_empty() {
        return Err(SigError::Malformed("trailing data".into()));
    }
    if !reserved.is_empty() {
        return Err(SigError::Unsupported("a non-empty reserved field".into()));
    }
    let hash_alg = match hash_name.as_str() {
        "sha256" => HashAlg::Sha256,
        "sha512" => HashAlg::Sha512,
        other => {
            return Err(SigError::Unsupported(format!(
                "hash algorithm \"{}\"",
                crate::quote::printable(other)
            )))
        }
    };
    let signer = parse_signer(&key_blob)?;
    let signature = ssh_key::Signature::try_from(sig_blob.as_slice()).map_err(malformed)?;
    // As OpenSSH's sshkey_verify: the signature's type is the key's (any RSA hash).
    let same_type = match (signer.key().algorithm(), signature.algorithm()) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        (k, s) => k == s,
    };
    if !same_type {
        return Err(SigError::Malformed(format!(
            "a {} signature from a {} key",
            signature.algorithm(),
            signer.key().algorithm()
        )));
    }
    if let Algorithm::Rsa { hash } = signature.algorithm() {
        if hash.is_none() {
            return Err(SigError::Unsupported(
                "RSA signature with SHA-1 (ssh-rsa)".into(),
            ));
        }
    }
    Ok(Parsed {
        signer,
        namespace,
        hash_alg,
        signature,
    })
}

fn parse_signer(blob: &[u8]) -> Result<Signer, SigError> {
    let mut peek: &[u8] = blob;
    let algorithm = String::decode(&mut peek).map_err(malformed)?;
    if algorithm.ends_with(CERT_SUFFIX) {
        let cert = Certificate::from_bytes(blob).map_err(|e| {
            SigError::Unsupported(format!(
                "certificate \"{}\": {e}",
                crate::quote::printable(&algorithm)
            ))
        })?;
        return Ok(Signer::Certificate(Box::new(cert)));
    }
    let mut r: &[u8] = blob;
    let key = KeyData::decode(&mut r).map_err(|e| {
        SigError::Unsupported(format!(
            "key type \"{}\": {e}",
            crate::quote::printable(&algorithm)
        ))
    })?;
    if !r.is_empty() {
        return Err(SigError::Malformed(
            "trailing data in the public key".into(),
        ));
    }
    if let KeyData::Other(_) = key {
        return Err(SigError::Unsupported(format!(
            "key type \"{}\"",
            crate::quote::printable(&algorithm)
        )));
    }
    Ok(Signer::Key(key))
}

impl Parsed {
    /// Checks the signature over `message` in `namespace` with the embedded key.
    pub fn check(&self, namespace: &str, message: &[u8]) -> Result<(), SigError> {
        use signature::Verifier;
        let signed = SshSig::signed_data(namespace, self.hash_alg, message)
            .map_err(|e| SigError::Malformed(e.to_string()))?;
        self.signer
            .key()
            .verify(&signed, &self.signature)
            .map_err(|_| SigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_round_trips_and_garbage_is_typed() {
        let blob = b"SSHSIG\x00\x00\x00\x01".to_vec();
        assert_eq!(dearmor(&armor(&blob)).unwrap(), blob);
        assert_eq!(dearmor("hello").unwrap_err(), SigError::MissingHeader);
        assert_eq!(
            dearmor(&format!("{BEGIN}\nAAAA\n")).unwrap_err(),
            SigError::MissingFooter
        );
        assert_eq!(
            dearmor(&format!("{BEGIN}\n!!!!\n{END}\n")).unwrap_err(),
            SigError::Base64
        );
        let huge = format!("{BEGIN}\n{}\n{END}\n", "A".repeat(MAX_SIGNATURE_BYTES));
        assert!(matches!(dearmor(&huge), Err(SigError::TooLarge(_))));
        assert!(matches!(parse(&armor(&blob)), Err(SigError::Malformed(_))));
        assert!(matches!(
            parse(&armor(b"nope")),
            Err(SigError::Malformed(_))
        ));
    }

    #[test]
    fn lying_length_prefixes_are_malformed_not_panics() {
        let mut blob = b"SSHSIG\x00\x00\x00\x01".to_vec();
        blob.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0, 1, 2, 3]);
        assert!(matches!(parse(&armor(&blob)), Err(SigError::Malformed(_))));
        for n in 0..blob.len() {
            let _ = parse(&armor(&blob[..n]));
        }
    }
}
