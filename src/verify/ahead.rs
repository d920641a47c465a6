//! Reading and parsing seals ahead of the verifier, on the other cores.
//!
//! A full verify reads a seal per commit and parses it (YAML, then the canonical JSON
//! its digest covers): on an already-verified history that was over 40% of the run
//! (git/git, warm: `Seal::parse` 26%, reading the blobs 17%). [`spawn`] does both on
//! reader threads, one per core (reader `i` of `n` takes the notes `i`, `i + n` …),
//! for the notes the verifier will read, and hands them over in the order it reads
//! them, while it checks the commits before. With one reader, that reader was the
//! slower side and the cores sat idle a third of the run; the verifier and two readers
//! keep two cores busy.
//!
//! Invariants:
//! - It decides nothing. What it hands over is what the verifier computes itself from
//!   the same blob, keyed by the blob's id (an id names its content): the text
//!   [`crate::limits::read_bounded_here`] gives under the seal cap, parsed by
//!   [`Seal::parse`]. A blob it could not read (a git error, a partial clone's missing
//!   object) is handed over as [`Ahead::NotRead`], and the verifier reads it itself, so
//!   its error is the one it always reported.
//! - Bounded: at most [`AHEAD_MAX`] parsed seals wait (split between the readers),
//!   each of a blob of at most [`AHEAD_SEAL_MAX`] bytes (a larger one is
//!   [`Ahead::NotRead`]). A reader ends after its last note, or at its next hand-over
//!   once the verifier drops its end.
//! - It fetches nothing: a blob a partial clone lacks is [`Ahead::NotRead`], and the
//!   verifier fetches what it reads itself, once.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;

use git2::Oid;

use crate::git::Locator;
use crate::limits::{read_bounded_here, Doc};
use crate::seal::{Parsed, Seal};

/// Seals read ahead at most: enough to keep the other core busy through a commit whose
/// check takes long (a manifest to derive), small beside a run's memory (a parsed
/// seal is about 2 KB).
pub const AHEAD_MAX: usize = 256;

/// Below this many notes a second thread and repository handle cost more than the
/// parses they take over (about 50 µs each).
pub const AHEAD_MIN_NOTES: usize = 64;

/// The largest seal read here. A real one is under 2 KiB (`limits`); one at the 64 KiB
/// cap, which only a hostile ledger holds, parses to up to about 190 KB (its
/// canonical JSON), and [`AHEAD_MAX`] of them waiting would be 47 MB: it is left to
/// the verifier, which holds one at a time.
pub const AHEAD_SEAL_MAX: usize = 4 * 1024;

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
    /// One channel per reader; reader `i` reads the notes `i`, `i + n`, `i + 2n` …
    handed: Vec<Receiver<(Oid, Ahead)>>,
    next: std::cell::Cell<usize>,
}

impl SealsAhead {
    /// The next note's blob and its seal; `None` once its reader has stopped (it could
    /// not open the repository): the verifier then reads that seal itself.
    pub fn next(&self) -> Option<(Oid, Ahead)> {
        let i = self.next.get();
        self.next.set(i + 1);
        self.handed[i % self.handed.len()].recv().ok()
    }
}

/// Readers to start: one per core (`git::reader_threads`), beside the verifier. On
/// two cores the verifier and two readers keep both busy: one reader alone was the
/// slower side of a warm verify (its YAML parse), and the cores sat idle a third of
/// the time.
fn readers() -> usize {
    crate::git::reader_threads()
}

/// Starts reading `notes` on threads of `scope`.
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    repo: Locator,
    notes: &'env [(Oid, Oid)],
) -> SealsAhead {
    spawn_readers(scope, repo, notes, readers())
}

fn spawn_readers<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    repo: Locator,
    notes: &'env [(Oid, Oid)],
    n: usize,
) -> SealsAhead {
    let mut handed = Vec::with_capacity(n);
    for first in 0..n {
        let (hand, receiver) = sync_channel(AHEAD_MAX.div_ceil(n));
        handed.push(receiver);
        let repo = repo.clone();
        let started = std::thread::Builder::new()
            .name("git-seal-read-ahead".into())
            .spawn_scoped(scope, move || {
                let Ok(git) = repo.open() else { return };
                for &(commit, blob) in notes.iter().skip(first).step_by(n) {
                    if hand.send((blob, read(&git, commit, blob))).is_err() {
                        return;
                    }
                }
            });
        // A thread that cannot start drops `hand` with the closure: its notes are
        // then `None`, and the verifier reads them itself.
        drop(started);
    }
    SealsAhead {
        handed,
        next: std::cell::Cell::new(0),
    }
}

/// One note's seal, read and parsed as the verifier would.
fn read(git: &git2::Repository, commit: Oid, blob: Oid) -> Ahead {
    let what = format!("of {commit}");
    match read_bounded_here(git, blob, Doc::Seal, &what) {
        Ok(Ok(bytes)) if bytes.len() > AHEAD_SEAL_MAX => Ahead::NotRead,
        Ok(Ok(bytes)) => match Seal::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(parsed) => Ahead::Parsed(Box::new(parsed)),
            Err(e) => Ahead::Unreadable(e.to_string()),
        },
        Ok(Err(too_large)) => Ahead::Unreadable(too_large.to_string()),
        Err(_) => Ahead::NotRead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEAL: &str = "schema: git-seal/seal/v1\nkind: commit\ncommit: 01895c2c76561026812c8581de91ad9c76490511\ntree: 2563fc17baf678c62bb5ea72958a66f9c51f1330\nparents:\n- ab6259c2b696f1ebf6a10441f6a73453e1a5019f\nparent_seals:\n- sha256:565a129ecbc143174cda41e56f657d05fe1677580757bba51fc93af10e910b49\nauthor:\n  name: H\n  email: h@example.com\n  time: 2023-11-14T22:17:51+00:00\ncommitter:\n  name: H\n  email: h@example.com\n  time: 2023-11-14T22:17:51+00:00\nmanifest:\n  algorithm: sha256\n  digest: sha256:6eb38d5026749aa6cde1803eca404f0a6f7b383cb167e75cae385d229dd3c51f\n  files: 10\n  bytes: 20\nsealed_at: 2026-12-07T12:55:00Z\nsealed_by:\n  name: C\n  email: c@e\ntool:\n  name: git-seal\n  version: 0.1.0\ndigest: sha256:3ce2cf23a8be85a35a726dfa9119fe63d7d775bd06eca605d54cea09f7159f27\n";

    fn repo() -> (tempfile::TempDir, git2::Repository) {
        let dir = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(dir.path()).unwrap();
        (dir, git)
    }

    /// Heap bytes one hand-over keeps while it waits, near enough.
    fn held(ahead: &Ahead) -> usize {
        match ahead {
            Ahead::Parsed(p) => {
                p.signed.len()
                    + p.computed_digest.len()
                    + serde_json::to_string(&p.seal).map_or(0, |s| s.len())
            }
            Ahead::Unreadable(why) => why.len(),
            Ahead::NotRead => 0,
        }
    }

    /// A hostile ledger may hold seals at the 64 KiB cap, made to grow when parsed
    /// (each `\0`, two bytes of YAML, is six, `\u0000`, in the canonical JSON a
    /// parse keeps): the seals waiting must stay "small beside a run's memory".
    #[test]
    fn seals_waiting_stay_small_whatever_the_ledger_holds() {
        let (_d, git) = repo();
        let locator = Locator::of(&git).unwrap();
        let commit = Oid::from_str("01895c2c76561026812c8581de91ad9c76490511").unwrap();
        for size in [4_000, 16_000, 65_000] {
            let mut text = SEAL.to_string();
            text.push_str("x: \"");
            while text.len() < size {
                text.push_str("\\0");
            }
            text.push_str("\"\n");
            assert!(text.len() as u64 <= crate::limits::DOCUMENT_CAP);
            let notes = [(commit, git.blob(text.as_bytes()).unwrap())];
            let one = std::thread::scope(|scope| {
                let seals = spawn(scope, locator.clone(), &notes);
                let (_, ahead) = seals.next().unwrap();
                held(&ahead)
            });
            assert!(
                AHEAD_MAX * one <= 4 << 20,
                "{AHEAD_MAX} seals of {size} bytes waiting hold {} MB",
                (AHEAD_MAX * one) >> 20
            );
        }
    }

    /// Several readers, each taking every n-th note: the hand-overs still come in the
    /// notes' order, each with its own seal, whatever the number of readers.
    #[test]
    fn several_readers_hand_over_in_the_notes_order() {
        let (_d, git) = repo();
        let locator = Locator::of(&git).unwrap();
        let notes: Vec<(Oid, Oid)> = (0..40u8)
            .map(|i| {
                let commit = Oid::from_bytes(&[i + 1; 20]).unwrap();
                let text = SEAL.replace("name: H\n", &format!("name: H{i}\n"));
                (commit, git.blob(text.as_bytes()).unwrap())
            })
            .collect();
        for readers in [1, 2, 3, 7] {
            let handed: Vec<(Oid, String)> = std::thread::scope(|scope| {
                let seals = spawn_readers(scope, locator.clone(), &notes, readers);
                (0..notes.len())
                    .map(|_| match seals.next().unwrap() {
                        (blob, Ahead::Parsed(p)) => (blob, p.seal.author.name.clone()),
                        _ => panic!("not parsed"),
                    })
                    .collect()
            });
            for (i, (blob, name)) in handed.iter().enumerate() {
                assert_eq!(*blob, notes[i].1, "{readers} readers, note {i}");
                assert_eq!(*name, format!("H{i}"), "{readers} readers, note {i}");
            }
        }
    }

    /// The verifier stops (an error) while the reader waits on a full channel: the
    /// scope still ends, the reader woken by the channel's end dropped.
    #[test]
    fn a_verifier_that_stops_early_never_waits_for_the_reader() {
        let (_d, git) = repo();
        let blob = git.blob(SEAL.as_bytes()).unwrap();
        let commit = Oid::from_str("01895c2c76561026812c8581de91ad9c76490511").unwrap();
        let notes = vec![(commit, blob); 4 * AHEAD_MAX];
        let locator = Locator::of(&git).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let watched = std::thread::spawn(move || {
            std::thread::scope(|scope| {
                let seals = spawn(scope, locator, &notes);
                assert!(seals.next().is_some());
                // Long enough for the reader to fill the channel and block.
                std::thread::sleep(std::time::Duration::from_millis(500));
            });
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the scope did not end");
        watched.join().unwrap();
    }
}
