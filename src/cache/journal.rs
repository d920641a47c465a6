//! `digests/journal`: the manifest digests that runs over single commits (hooks,
//! `verify` of a few commits) computed, one line per tree, appended to one file.
//!
//! A line is `<tree id> sha256:<64 hex> <files> <bytes> <crc32>\n`, the CRC-32 (8 hex
//! digits) over everything before its space. Appending a line costs one `write` to a
//! file that exists: one file per tree cost a new inode and a rename in every
//! post-commit (a millisecond on ext4 without a journal, a tenth of the hook).
//!
//! Invariants: this module is the journal's one reader and one writer. A line is one
//! `write` to a file opened for appending, so concurrent writers interleave whole
//! lines; a line torn by a kill, damaged, or of another format is skipped, never an
//! error (the cache is disposable). Reading is bounded: at most [`READ_MAX`] bytes,
//! the newest. Past [`COMPACT_AT`] bytes the appending run rewrites the file
//! atomically with its newest valid lines (at most [`KEEP_AFTER_COMPACTION`] bytes):
//! a line appended by a racing run in that instant is lost, which costs only time.
//! The newest line for a tree wins. The journal is opened without following a
//! symbolic link and read only if it is a regular file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;

use camino::Utf8PathBuf;
use git2::{ObjectFormat, Oid};

use super::Summary;
use crate::fsutil::write_atomic;

/// Past this size the next append rewrites the journal (about 8,000 lines).
pub const COMPACT_AT: u64 = 1 << 20;
/// What a compaction keeps: the newest half.
pub const KEEP_AFTER_COMPACTION: u64 = COMPACT_AT / 2;
/// The most a reader reads, the newest bytes, whatever the file holds.
pub const READ_MAX: u64 = COMPACT_AT + (64 << 10);

/// The journal of one cache directory, read at most once per run.
pub struct Journal {
    path: Utf8PathBuf,
    format: ObjectFormat,
    entries: std::cell::OnceCell<HashMap<Oid, Summary>>,
    appender: Option<Appender>,
}

struct Appender {
    file: std::fs::File,
    /// The file's size when opened, plus what this run appended.
    size: u64,
}

impl Journal {
    pub fn new(path: Utf8PathBuf, format: ObjectFormat) -> Journal {
        Journal {
            path,
            format,
            entries: std::cell::OnceCell::new(),
            appender: None,
        }
    }

    /// The newest valid entry for `tree`.
    pub fn get(&self, tree: Oid) -> Option<Summary> {
        self.entries
            .get_or_init(|| match read_newest(&self.path, READ_MAX) {
                Some(bytes) => parse(&bytes, self.format),
                None => HashMap::new(),
            })
            .get(&tree)
            .cloned()
    }

    /// Appends `tree`'s entry, best effort: a cache that cannot be written is a
    /// cache that misses.
    pub fn append(&mut self, tree: Oid, summary: &Summary) {
        let line = line(tree, summary);
        if let Some(entries) = self.entries.get_mut() {
            entries.insert(tree, summary.clone());
        }
        if self.appender.is_none() {
            self.appender = open_appender(&self.path);
        }
        let Some(appender) = self.appender.as_mut() else {
            return;
        };
        // One write per line: appends of concurrent runs interleave whole lines.
        if appender.file.write_all(line.as_bytes()).is_err() {
            self.appender = None;
            return;
        }
        appender.size += line.len() as u64;
        if appender.size > COMPACT_AT {
            self.appender = None;
            compact(&self.path, self.format);
        }
    }
}

/// The one writer of a line.
pub fn line(tree: impl std::fmt::Display, (digest, files, bytes): &Summary) -> String {
    let body = format!("{tree} {digest} {files} {bytes}");
    format!("{body} {:08x}\n", crc32fast::hash(body.as_bytes()))
}

fn open_appender(path: &Utf8PathBuf) -> Option<Appender> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir).ok()?;
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some(Appender {
        file,
        size: meta.len(),
    })
}

/// At most the last `max` bytes of the journal, starting at a line, or `None` if it
/// is missing or not a regular file.
fn read_newest(path: &Utf8PathBuf, max: u64) -> Option<Vec<u8>> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let skip = meta.len().saturating_sub(max);
    file.seek(SeekFrom::Start(skip)).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    if skip > 0 {
        // Started mid-line: the partial first line is dropped.
        let nl = memchr::memchr(b'\n', &bytes)?;
        bytes.drain(..=nl);
    }
    Some(bytes)
}

/// The valid lines of `bytes`, the newest entry of each tree.
fn parse(bytes: &[u8], format: ObjectFormat) -> HashMap<Oid, Summary> {
    let mut entries = HashMap::new();
    for (tree, summary) in complete_lines(bytes).filter_map(|raw| parse_line(raw, format)) {
        entries.insert(tree, summary);
    }
    entries
}

/// The lines of `bytes` that end in a newline, in order: a last line without one
/// was torn.
fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let complete = match memchr::memrchr(b'\n', bytes) {
        Some(nl) => &bytes[..nl],
        None => &bytes[..0],
    };
    complete
        .split(|&b| b == b'\n')
        .filter(|raw| !raw.is_empty())
}

/// One line: `<tree> sha256:<hex> <files> <bytes> <crc32>`, or `None`.
fn parse_line(raw: &[u8], format: ObjectFormat) -> Option<(Oid, Summary)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (body, crc) = text.rsplit_once(' ')?;
    if crc.len() != 8 || u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body.as_bytes()) {
        return None;
    }
    let mut fields = body.split(' ');
    let tree = crate::git::parse_id(fields.next()?, format)?;
    let digest = fields.next().filter(|d| {
        d.len() == 71 && d.starts_with("sha256:") && d[7..].bytes().all(|b| b.is_ascii_hexdigit())
    })?;
    let files = number(fields.next()?)?;
    let bytes = number(fields.next()?)?;
    fields
        .next()
        .is_none()
        .then(|| (tree, (digest.to_string(), files, bytes)))
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Rewrites the journal with its newest valid lines, at most
/// [`KEEP_AFTER_COMPACTION`] bytes of them.
fn compact(path: &Utf8PathBuf, format: ObjectFormat) {
    let Some(bytes) = read_newest(path, KEEP_AFTER_COMPACTION) else {
        return;
    };
    let mut kept = Vec::with_capacity(bytes.len());
    for raw in complete_lines(&bytes).filter(|raw| parse_line(raw, format).is_some()) {
        kept.extend_from_slice(raw);
        kept.push(b'\n');
    }
    let _ = write_atomic(path, &kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    fn summary(n: u8) -> Summary {
        (
            format!("sha256:{}", hex::encode([n; 32])),
            u64::from(n),
            1000 + u64::from(n),
        )
    }

    fn journal(dir: &tempfile::TempDir) -> Journal {
        let path = Utf8PathBuf::from_path_buf(dir.path().join("digests/journal")).unwrap();
        Journal::new(path, ObjectFormat::Sha1)
    }

    #[test]
    fn appended_entries_are_read_back_by_the_next_run_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = journal(&dir);
        first.append(tree(1), &summary(1));
        first.append(tree(2), &summary(2));
        first.append(tree(1), &summary(9));
        assert_eq!(first.get(tree(1)), Some(summary(9)), "seen by its own run");
        let next = journal(&dir);
        assert_eq!(next.get(tree(1)), Some(summary(9)));
        assert_eq!(next.get(tree(2)), Some(summary(2)));
        assert_eq!(next.get(tree(3)), None);
    }

    #[test]
    fn torn_damaged_and_foreign_lines_are_misses_and_the_rest_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(&dir);
        j.append(tree(1), &summary(1));
        let path = dir.path().join("digests/journal");
        let good = line(tree(2), &summary(2));
        let mut flipped = line(tree(3), &summary(3)).into_bytes();
        flipped[50] = if flipped[50] == b'a' { b'b' } else { b'a' };
        let not_an_id = line(tree(4), &summary(4)).replacen(&tree(4).to_string(), "zz", 1);
        let mut body = std::fs::read(&path).unwrap();
        body.extend_from_slice(b"garbage \xff\xfe with no crc\n");
        body.extend_from_slice(&flipped);
        body.extend_from_slice(good.as_bytes());
        body.extend_from_slice(not_an_id.as_bytes());
        // Torn by a kill: no newline.
        body.extend_from_slice(&line(tree(5), &summary(5)).as_bytes()[..40]);
        std::fs::write(&path, body).unwrap();
        let j = journal(&dir);
        assert_eq!(j.get(tree(1)), Some(summary(1)));
        assert_eq!(j.get(tree(2)), Some(summary(2)));
        assert_eq!(j.get(tree(3)), None, "a flipped byte fails the CRC");
        assert_eq!(j.get(tree(5)), None, "a torn line");
    }

    #[test]
    fn a_long_journal_is_compacted_to_its_newest_lines_and_reading_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(&dir);
        let path = dir.path().join("digests/journal");
        let id = |i: u64| {
            let mut b = [0u8; 20];
            b[..8].copy_from_slice(&i.to_be_bytes());
            Oid::from_bytes(&b).unwrap()
        };
        let mut last_size = 0;
        let mut i = 0;
        let compacted_to = loop {
            j.append(id(i), &summary((i % 200) as u8));
            let size = std::fs::metadata(&path).unwrap().len();
            if size < last_size {
                break size;
            }
            assert!(size <= COMPACT_AT + 256, "never past the cap: {size}");
            last_size = size;
            i += 1;
        };
        assert!(
            compacted_to <= KEEP_AFTER_COMPACTION,
            "compacted: {compacted_to}"
        );
        assert!(journal(&dir).get(id(i)).is_some(), "the newest kept");
        assert_eq!(journal(&dir).get(id(0)), None, "the oldest dropped");

        // A file far past the cap (written by something else) is read from its end.
        let mut huge = vec![b'x'; (READ_MAX * 3) as usize];
        huge.push(b'\n');
        huge.extend_from_slice(line(tree(7), &summary(7)).as_bytes());
        std::fs::write(&path, &huge).unwrap();
        let bytes = read_newest(&Utf8PathBuf::from_path_buf(path).unwrap(), READ_MAX).unwrap();
        assert!(bytes.len() as u64 <= READ_MAX);
        assert_eq!(journal(&dir).get(tree(7)), Some(summary(7)));
    }

    #[test]
    fn a_journal_that_is_a_link_or_a_fifo_is_neither_read_nor_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("digests")).unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, line(tree(1), &summary(1))).unwrap();
        let path = dir.path().join("digests/journal");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let mut j = journal(&dir);
        assert_eq!(j.get(tree(1)), None, "not read through a link");
        j.append(tree(2), &summary(2));
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            line(tree(1), &summary(1)),
            "not written through a link"
        );
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut j = journal(&dir);
        assert_eq!(j.get(tree(1)), None, "a FIFO does not block the reader");
        j.append(tree(2), &summary(2));
    }
}
