//! Reading and parsing seals ahead of the verifier, on the other core.
//!
//! A full verify reads a seal per commit and parses it (YAML, then the canonical JSON
//! its digest covers): on an already-verified history that was over 40% of the run
//! (git/git, warm: `Seal::parse` 26%, reading the blobs 17%). [`spawn`] does both on a
//! second thread, for the notes the verifier will read, in the order it reads them,
//! while it checks the commits before.
//!
//! Invariants:
//! - It decides nothing. What it hands over is what the verifier computes itself from
//!   the same blob, keyed by the blob's id (an id names its content): the text
//!   [`crate::limits::read_bounded`] gives under the seal cap, parsed by
//!   [`Seal::parse`]. A blob it could not read (a git error, a partial clone's missing
//!   object) is handed over as [`Ahead::NotRead`], and the verifier reads it itself, so
//!   its error is the one it always reported.
//! - Bounded: at most [`AHEAD_MAX`] parsed seals wait. The thread ends after the last
//!   note, or at its next hand-over once the verifier drops its end.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;

use git2::Oid;

use crate::git::Locator;
use crate::limits::{read_bounded, Doc};
use crate::seal::{Parsed, Seal};

/// Seals read ahead at most: enough to keep the other core busy through a commit whose
/// check takes long (a manifest to derive), small beside a run's memory (a parsed
/// seal is about 2 KB).
pub const AHEAD_MAX: usize = 256;

/// Below this many notes a second thread and repository handle cost more than the
/// parses they take over (about 50 µs each).
pub const AHEAD_MIN_NOTES: usize = 64;

/// One seal, as the verifier would have read it.
pub enum Ahead {
    Parsed(Box<Parsed>),
    /// Too large to read, or not a seal: the reason the verifier reports.
    Unreadable(String),
    /// Not read here: the verifier reads it itself.
    NotRead,
}

/// The seals of `notes` ((commit, note blob), in the verifier's order), one hand-over
/// per note, in that order.
pub struct SealsAhead {
    handed: Receiver<(Oid, Ahead)>,
}

impl SealsAhead {
    /// The next note's blob and its seal; `None` once the thread has stopped (it could
    /// not open the repository): the verifier then reads every seal itself.
    pub fn next(&self) -> Option<(Oid, Ahead)> {
        self.handed.recv().ok()
    }
}

/// Starts reading `notes` on a thread of `scope`.
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    repo: Locator,
    notes: &'env [(Oid, Oid)],
) -> SealsAhead {
    let (hand, handed) = sync_channel(AHEAD_MAX);
    let started = std::thread::Builder::new()
        .name("git-seal-read-ahead".into())
        .spawn_scoped(scope, move || {
            let Ok(git) = repo.open() else { return };
            for &(commit, blob) in notes {
                let ahead = match read_bounded(&git, blob, Doc::Seal, &format!("of {commit}")) {
                    Ok(Ok(bytes)) => match Seal::parse(&String::from_utf8_lossy(&bytes)) {
                        Ok(parsed) => Ahead::Parsed(Box::new(parsed)),
                        Err(e) => Ahead::Unreadable(e.to_string()),
                    },
                    Ok(Err(too_large)) => Ahead::Unreadable(too_large.to_string()),
                    Err(_) => Ahead::NotRead,
                };
                if hand.send((blob, ahead)).is_err() {
                    return;
                }
            }
        });
    // A thread that cannot start drops `hand` with the closure: `next` is then `None`.
    drop(started);
    SealsAhead { handed }
}
