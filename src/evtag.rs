//! Git-EVTag-v0-SHA512: git-evtag's extended-verification checksum over everything a
//! commit holds, independent of git's SHA-1.
//!
//! The algorithm is git-evtag's published one: a SHA-512 over the raw objects, each
//! with its header (`<type> <size>\0<content>`), in this order: the commit, then its
//! tree walked depth first in tree order: each tree object before its entries, each
//! blob as met, and for a submodule (gitlink) the submodule's commit and its tree,
//! recursively, read from the submodule's own repository.
//!
//! Invariant: a submodule whose repository is not present is an error naming it,
//! never a silently different checksum.

use git2::{ObjectType, Oid, Repository};
use sha2::{Digest, Sha512};

use crate::error::{Error, Result};
use crate::manifest::STREAM_THRESHOLD;

pub const ALGORITHM: &str = "Git-EVTag-v0-SHA512";

/// The Git-EVTag-v0-SHA512 checksum of `commit`, as lowercase hex.
pub fn evtag(repo: &Repository, commit: Oid) -> Result<String> {
    let mut hasher = Sha512::new();
    walk_commit(repo, &mut hasher, commit, "")?;
    Ok(hex::encode(hasher.finalize()))
}

fn walk_commit(repo: &Repository, hasher: &mut Sha512, commit: Oid, at: &str) -> Result<()> {
    add_object(repo, hasher, commit)?;
    let tree = repo.find_commit(commit)?.tree_id();
    walk_tree(repo, hasher, tree, at)
}

fn walk_tree(repo: &Repository, hasher: &mut Sha512, tree: Oid, at: &str) -> Result<()> {
    add_object(repo, hasher, tree)?;
    let tree = repo.find_tree(tree)?;
    for entry in tree.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes());
        let path = if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}/{name}")
        };
        match entry.kind() {
            Some(ObjectType::Tree) => walk_tree(repo, hasher, entry.id(), &path)?,
            Some(ObjectType::Commit) => {
                let sub = open_submodule(repo, &path)?;
                walk_commit(&sub, hasher, entry.id(), "")?;
            }
            _ => add_object(repo, hasher, entry.id())?,
        }
    }
    Ok(())
}

/// Adds one object in its raw form, header included. Large blobs are streamed
/// from their object files, as for manifests, so memory stays bounded.
fn add_object(repo: &Repository, hasher: &mut Sha512, oid: Oid) -> Result<()> {
    let odb = repo.odb()?;
    let (size, kind) = odb.read_header(oid)?;
    if kind == ObjectType::Blob && size as u64 > STREAM_THRESHOLD {
        let dirs = crate::objects::object_dirs(repo.commondir());
        if let Some((mut reader, len)) = crate::objects::open_blob(&dirs, oid)? {
            hasher.update(format!("blob {len}\0").as_bytes());
            let copied = std::io::copy(&mut reader, hasher)?;
            if copied != len {
                return Err(Error::usage(format!("blob {oid} is damaged")).hint("git fsck"));
            }
            return Ok(());
        }
    }
    let obj = odb.read(oid)?;
    hasher.update(format!("{} {}\0", obj.kind().str(), obj.len()).as_bytes());
    hasher.update(obj.data());
    Ok(())
}

fn open_submodule(repo: &Repository, path: &str) -> Result<Repository> {
    let missing = || {
        Error::usage(format!(
            "submodule {path} is not checked out, and the extended checksum covers it"
        ))
        .hint(format!("fetch it: git submodule update --init -- '{path}'"))
    };
    let sub = repo.find_submodule(path).map_err(|_| missing())?;
    sub.open().map_err(|_| missing())
}
