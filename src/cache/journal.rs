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
//! atomically with its newest valid lines (at most [`KEEP_AFTER_COMPACTION`] bytes)
//! and hands the older ones to its caller, which keeps them in a digest pack: a line
//! appended by a racing run in that instant is lost, which costs only time. The
//! newest line for a tree wins. A run's first few lookups search the bytes from
//! the end for the tree's id; past [`SEARCHES_BEFORE_INDEX`] it indexes every line
//! once. The journal is opened without following a symbolic link and read only if it
//! is a regular file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;

use camino::Utf8PathBuf;
use git2::{ObjectFormat, Oid};

use super::Summary;
use crate::fsutil::write_atomic;
use crate::git::IdKey;

/// Past this size the next append rewrites the journal (about 1,900 lines of a SHA-1
/// repository): indexing a full one costs a few milliseconds, once per run.
pub const COMPACT_AT: u64 = 256 << 10;
/// What a compaction keeps: the newest half.
pub const KEEP_AFTER_COMPACTION: u64 = COMPACT_AT / 2;
/// The most a reader reads, the newest bytes, whatever the file holds.
pub const READ_MAX: u64 = COMPACT_AT + (64 << 10);
/// Lookups answered by searching the bytes (a tenth of a millisecond each at the
/// cap) before the run indexes every line.
pub const SEARCHES_BEFORE_INDEX: usize = 8;

/// The journal of one cache directory, read at most once per run.
pub struct Journal {
    path: Utf8PathBuf,
    format: ObjectFormat,
    /// The newest bytes read, with the lookups answered from them so far.
    bytes: std::cell::OnceCell<Vec<u8>>,
    searches: std::cell::Cell<usize>,
    entries: std::cell::OnceCell<HashMap<IdKey, Summary>>,
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
            bytes: std::cell::OnceCell::new(),
            searches: std::cell::Cell::new(0),
            entries: std::cell::OnceCell::new(),
            appender: None,
        }
    }

    /// The newest valid entry for `tree`.
    pub fn get(&self, tree: Oid) -> Option<Summary> {
        if let Some(entries) = self.entries.get() {
            return entries.get(&IdKey(tree)).cloned();
        }
        let bytes = self
            .bytes
            .get_or_init(|| read_newest(&self.path, READ_MAX).unwrap_or_default());
        if self.searches.get() < SEARCHES_BEFORE_INDEX {
            self.searches.set(self.searches.get() + 1);
            return search(bytes, tree, self.format);
        }
        self.entries
            .get_or_init(|| parse(bytes, self.format))
            .get(&IdKey(tree))
            .cloned()
    }

    /// Appends `tree`'s entry, best effort: a cache that cannot be written is a
    /// cache that misses. Returns the entries a compaction moved out of the journal
    /// (oldest first), for the caller to keep elsewhere.
    pub fn append(&mut self, tree: Oid, summary: &Summary) -> Vec<(Oid, Summary)> {
        let line = line(tree, summary);
        // What this run reads from now on includes its own line.
        if let Some(bytes) = self.bytes.get_mut() {
            bytes.extend_from_slice(line.as_bytes());
        }
        if let Some(entries) = self.entries.get_mut() {
            entries.insert(IdKey(tree), summary.clone());
        }
        // Reopened when another run's compaction replaced the file this run holds:
        // lines written to the replaced one would be lost.
        if !self
            .appender
            .as_ref()
            .is_some_and(|a| a.is_current(&self.path))
        {
            self.appender = open_appender(&self.path);
        }
        let Some(appender) = self.appender.as_mut() else {
            return Vec::new();
        };
        // One write per line: appends of concurrent runs interleave whole lines.
        if appender.file.write_all(line.as_bytes()).is_err() {
            self.appender = None;
            return Vec::new();
        }
        appender.size += line.len() as u64;
        if appender.size <= COMPACT_AT {
            return Vec::new();
        }
        self.appender = None;
        compact(&self.path, self.format, (tree, summary))
    }
}

impl Appender {
    fn is_current(&self, path: &Utf8PathBuf) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Ok(held), Ok(named)) = (self.file.metadata(), std::fs::symlink_metadata(path)) else {
            return false;
        };
        held.dev() == named.dev() && held.ino() == named.ino()
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
    use std::os::unix::fs::{FileExt, MetadataExt};
    let mut file = options()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    // Appending writes in place: never into a file that is also named elsewhere
    // (a hard link), which a replacing rename would not have touched.
    if !meta.is_file() || meta.nlink() != 1 {
        return None;
    }
    let mut size = meta.len();
    // A last line left without its newline (a kill, a full disk) is ended first, so
    // that it does not swallow the line appended after it.
    let mut last = [0u8; 1];
    if size > 0 && file.read_at(&mut last, size - 1).ok()? == 1 && last[0] != b'\n' {
        file.write_all(b"\n").ok()?;
        size += 1;
    }
    Some(Appender { file, size })
}

/// How the journal is opened, for reading and for appending: never through a
/// symbolic link, never blocking (a FIFO planted there).
fn options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32);
    options
}

/// At most the last `max` bytes of the journal, starting at a line, or `None` if it
/// is missing or not a regular file.
fn read_newest(path: &Utf8PathBuf, max: u64) -> Option<Vec<u8>> {
    let mut file = options().open(path).ok()?;
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

/// The newest valid line for `tree` in `bytes`, searched from the end.
fn search(bytes: &[u8], tree: Oid, format: ObjectFormat) -> Option<Summary> {
    let id = tree.to_string();
    let finder = memchr::memmem::FinderRev::new(id.as_bytes());
    let mut end = bytes.len();
    while let Some(at) = finder.rfind(&bytes[..end]) {
        end = at;
        let starts_line = at == 0 || bytes[at - 1] == b'\n';
        let Some(nl) = memchr::memchr(b'\n', &bytes[at..]) else {
            continue;
        };
        if !starts_line {
            continue;
        }
        if let Some((found, summary)) = parse_line(&bytes[at..at + nl], format) {
            if found == tree {
                return Some(summary);
            }
        }
    }
    None
}

/// The valid lines of `bytes`, the newest entry of each tree.
fn parse(bytes: &[u8], format: ObjectFormat) -> HashMap<IdKey, Summary> {
    let mut entries = HashMap::new();
    for (tree, summary) in complete_lines(bytes).filter_map(|raw| parse_line(raw, format)) {
        entries.insert(IdKey(tree), summary);
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
/// [`KEEP_AFTER_COMPACTION`] bytes of them, and returns the older valid entries
/// (oldest first; only those the kept lines do not name again). `appended`, the line
/// that made it compact, is kept whatever the file held around it.
fn compact(
    path: &Utf8PathBuf,
    format: ObjectFormat,
    appended: (Oid, &Summary),
) -> Vec<(Oid, Summary)> {
    let Some(bytes) = read_newest(path, READ_MAX) else {
        return Vec::new();
    };
    let split = bytes.len().saturating_sub(KEEP_AFTER_COMPACTION as usize);
    let split = match memchr::memchr(b'\n', &bytes[split..]) {
        Some(nl) if split > 0 => split + nl + 1,
        _ => split,
    };
    let (older, newer) = bytes.split_at(split);
    let mut kept = Vec::with_capacity(newer.len());
    let mut kept_trees = std::collections::HashSet::new();
    for (raw, (tree, _)) in
        complete_lines(newer).filter_map(|raw| Some((raw, parse_line(raw, format)?)))
    {
        kept.extend_from_slice(raw);
        kept.push(b'\n');
        kept_trees.insert(IdKey(tree));
    }
    let mut moved: Vec<_> = complete_lines(older)
        .filter_map(|raw| parse_line(raw, format))
        .filter(|(tree, _)| !kept_trees.contains(&IdKey(*tree)))
        .collect();
    if !kept_trees.contains(&IdKey(appended.0)) {
        moved.retain(|(tree, _)| *tree != appended.0);
        kept.extend_from_slice(line(appended.0, appended.1).as_bytes());
    }
    if write_atomic(path, &kept).is_err() {
        return Vec::new();
    }
    moved
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
        assert_eq!(first.get(tree(1)), None, "read before it appends");
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

    fn id(i: u64) -> Oid {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&i.to_be_bytes());
        Oid::from_bytes(&b).unwrap()
    }

    #[test]
    fn a_long_journal_hands_its_older_half_over_and_reading_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(&dir);
        let path = dir.path().join("digests/journal");
        let mut last_size = 0;
        let mut i = 0;
        let (compacted_to, moved) = loop {
            let moved = j.append(id(i), &summary((i % 200) as u8));
            let size = std::fs::metadata(&path).unwrap().len();
            if size < last_size {
                break (size, moved);
            }
            assert!(moved.is_empty());
            assert!(size <= COMPACT_AT + 256, "never past the cap: {size}");
            last_size = size;
            i += 1;
        };
        assert!(
            compacted_to <= KEEP_AFTER_COMPACTION + 256,
            "compacted: {compacted_to}"
        );
        // Every entry is either still in the journal or handed over, oldest first.
        let left = journal(&dir);
        assert_eq!(moved.first().map(|m| m.0), Some(id(0)));
        let moved: HashMap<Oid, Summary> = moved.into_iter().collect();
        for n in 0..=i {
            let kept = left.get(id(n));
            let handed = moved.get(&id(n)).cloned();
            assert!(
                kept.is_some() != handed.is_some(),
                "{n}: kept {kept:?}, handed {handed:?}"
            );
            assert_eq!(kept.or(handed), Some(summary((n % 200) as u8)));
        }

        // Garbage without a newline around the line that makes it compact: that line
        // is kept.
        std::fs::write(&path, vec![b'x'; (COMPACT_AT + 10) as usize]).unwrap();
        let mut j = journal(&dir);
        j.append(tree(8), &summary(8));
        assert_eq!(journal(&dir).get(tree(8)), Some(summary(8)));
        // Whatever the file held, the line that made it compact stays.
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        let utf8 = Utf8PathBuf::from_path_buf(path.clone()).unwrap();
        assert!(compact(&utf8, ObjectFormat::Sha1, (tree(9), &summary(9))).is_empty());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            line(tree(9), &summary(9))
        );

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
    fn lookups_past_the_searches_read_the_index_and_agree_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(&dir);
        for n in 0..40 {
            j.append(id(n % 20), &summary(n as u8));
        }
        let path = dir.path().join("digests/journal");
        let mut body = std::fs::read(&path).unwrap();
        // A damaged newer line for tree 3: the older valid one answers, both ways.
        let mut bad = line(id(3), &summary(99)).into_bytes();
        bad[45] ^= 1;
        body.extend_from_slice(&bad);
        std::fs::write(&path, body).unwrap();
        let j = journal(&dir);
        assert_eq!(j.get(id(3)), Some(summary(23)));
        assert!(
            j.entries.get().is_none(),
            "a first lookup searches, indexes nothing"
        );
        let answers: Vec<_> = (0..2 * SEARCHES_BEFORE_INDEX as u64 + 30)
            .map(|n| j.get(id(n % 25)))
            .collect();
        assert!(j.entries.get().is_some(), "indexed after the searches");
        for (n, answer) in answers.iter().enumerate() {
            let t = n as u64 % 25;
            let expected = (t < 20).then(|| summary((t + 20) as u8));
            assert_eq!(*answer, expected, "lookup {n} of tree {t}");
        }
    }

    #[test]
    fn a_run_keeps_appending_after_another_compacts_and_a_torn_tail_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let mut long_run = journal(&dir);
        long_run.append(tree(1), &summary(1));
        let mut other = journal(&dir);
        let mut n = 100;
        while other.append(id(n), &summary(2)).is_empty() {
            n += 1;
        }
        for k in 0..50u8 {
            long_run.append(id(10_000 + u64::from(k)), &summary(k));
        }
        let fresh = journal(&dir);
        for k in 0..50u8 {
            assert_eq!(
                fresh.get(id(10_000 + u64::from(k))),
                Some(summary(k)),
                "{k}"
            );
        }

        // Killed mid-line: the next run ends that line before writing its own.
        let path = dir.path().join("digests/journal");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&line(tree(5), &summary(5)).as_bytes()[..30])
            .unwrap();
        let mut next = journal(&dir);
        next.append(tree(6), &summary(6));
        assert_eq!(journal(&dir).get(tree(6)), Some(summary(6)));
        assert_eq!(journal(&dir).get(tree(5)), None);
    }

    #[test]
    fn a_journal_named_elsewhere_too_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("digests")).unwrap();
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "precious\n").unwrap();
        std::fs::hard_link(&precious, dir.path().join("digests/journal")).unwrap();
        journal(&dir).append(tree(1), &summary(1));
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
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
