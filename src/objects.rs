//! Streaming reads of large blobs, through the `git` binary itself, so that hashing
//! a file of any size holds one buffer, not the file, and hashes exactly the bytes
//! git would give for it.
//!
//! libgit2 inflates a blob whole into memory, so a blob over
//! [`STREAM_THRESHOLD`](crate::manifest::STREAM_THRESHOLD) is read from
//! `git cat-file blob`, which streams (loose objects and undeltified pack entries
//! chunk by chunk) and whose output is what `git checkout` writes. Asking git, rather
//! than parsing its object files here, is what keeps the two agreeing when one id is
//! stored twice with two contents (a corrupt loose copy beside a packed one): which
//! copy git reads depends on its version and on `core.bigFileThreshold`. git 2.47
//! looks the object up packs first; git 2.55 opens a packed stream only for objects
//! over `core.bigFileThreshold` and otherwise falls through to the loose copy
//! (`packfile_read_object_stream` in its `packfile.c`, `istream_source` in
//! `odb/streaming.c`). Replacement refs (`git replace`) are never followed
//! (`GIT_NO_REPLACE_OBJECTS=1`): a seal pins the content of the id itself, as libgit2
//! reads it for small blobs.
//!
//! Invariant: the byte count of every stream is checked against the size the object
//! header states, and git's exit status is checked after the last byte; a short, long
//! or failed stream is an error, never a wrong hash.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use git2::Oid;

use crate::error::{Error, Result};

/// What every git process that reads objects for git-seal may hold, so that a run's
/// memory stays bounded whatever the store's size: by default git maps packs in 1 GiB
/// windows up to 8 GiB and caches 96 MiB of delta bases. A history pass over curl's
/// store peaked at 337 MB (with these, 153 MB, and 6% slower); streaming a 1 GiB
/// packed blob mapped the whole pack at once, and every page read stayed resident
/// until git exited (`bench.py memory`: a 1,028 MB peak; with these, 68 MB).
pub const GIT_MEMORY: [&str; 6] = [
    "-c",
    "core.packedGitWindowSize=16m",
    "-c",
    "core.packedGitLimit=64m",
    "-c",
    "core.deltaBaseCacheLimit=32m",
];

/// The object directories to search: the repository's, and those git's environment
/// adds (a `pre-receive` quarantine, alternates).
pub fn object_dirs(common_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("GIT_OBJECT_DIRECTORY") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(common_dir.join("objects"));
    if let Some(alts) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
        dirs.extend(std::env::split_paths(&alts));
    }
    if let Ok(text) = std::fs::read_to_string(common_dir.join("objects/info/alternates")) {
        dirs.extend(
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(PathBuf::from),
        );
    }
    dirs
}

/// A stream over the content of blob `oid` of the repository at `git_dir`, as `git`
/// reads it; `size` is the size its header states. git's environment (a quarantine's
/// object directory, alternates) is inherited.
pub fn open_blob(git_dir: &Path, oid: Oid, size: u64) -> Result<BlobStream> {
    let child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        // Bounded pack windows: read through git's default single 1 GiB window, a
        // packed blob's pages all stay resident until git exits.
        .args(GIT_MEMORY)
        .args(["cat-file", "blob", &oid.to_string()])
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::environment(format!("cannot run git to read blob {oid}"))
                .with_source(e)
                .hint("install git and put it on PATH")
        })?;
    Ok(BlobStream { child, size })
}

/// A blob's content as a stream from `git cat-file`, and the size its header states.
pub struct BlobStream {
    child: Child,
    pub size: u64,
}

impl BlobStream {
    /// Copies the content of blob `oid` into `sink`, checking that it holds exactly
    /// the size its header states and that git read it without error.
    pub fn copy_into(mut self, oid: Oid, sink: &mut impl Write) -> Result<()> {
        let copied = match self.child.stdout.take() {
            Some(mut out) => std::io::copy(&mut out, sink),
            None => Ok(0),
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = (&mut pipe).take(64 * 1024).read_to_string(&mut stderr);
        }
        let status = self.child.wait();
        let copied = copied.map_err(|e| {
            Error::environment(format!("cannot read blob {oid} from git")).with_source(e)
        })?;
        match status {
            Ok(s) if s.success() => {}
            Ok(_) => {
                return Err(Error::environment(format!(
                    "git cannot read blob {oid}: {}",
                    crate::quote::printable(stderr.trim())
                ))
                .hint(format!(
                    "check the repository: {}",
                    crate::quote::git("fsck")
                )))
            }
            Err(e) => {
                return Err(
                    Error::environment(format!("cannot read blob {oid} from git")).with_source(e),
                )
            }
        }
        if copied != self.size {
            return Err(Error::environment(format!(
                "blob {oid} is damaged: {copied} bytes where its header states {}",
                self.size
            ))
            .hint(format!(
                "check the repository: {}",
                crate::quote::git("fsck")
            )));
        }
        Ok(())
    }
}

impl Drop for BlobStream {
    fn drop(&mut self) {
        // A stream dropped unread must not leave git running or a zombie behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
