//! The packs a ledger append writes: the objects it built in memory, as one git pack
//! (version 2, every object whole, none stored as a delta) and its index (version 2),
//! both written here and moved into the object directory's `pack/` once complete.
//!
//! Written here rather than by libgit2: its packbuilder searches for deltas between
//! the objects it packs (git/git's backfill: 9% of its samples in
//! `git_delta_create_from_index`), to save space that `git gc` saves anyway, and its
//! indexer inflates and hashes again, with collision-detecting SHA-1, every object
//! the writer has just built (git/git's backfill: 8 s of its main thread), to check
//! a pack that came from nowhere else. A pack of whole objects is a header, each
//! object's type, size and zlib stream, and a checksum; its index, the sorted ids
//! with each object's CRC-32 and offset: the formats are git's (`gitformat-pack`).
//!
//! Invariants: the header counts exactly the objects written, each once; every
//! checksum is the repository's own hash (SHA-1 or SHA-256) of every byte before it;
//! each id is the hash libgit2 gives the object's content; nothing is visible in the
//! object database until both files are whole: the pack is renamed into place first,
//! its index last (git and libgit2 see a pack only through its index).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use git2::{ObjectFormat, ObjectType, Oid};
use sha2::digest::DynDigest;

use crate::error::{Error, Result};
use crate::git::IdKey;

/// zlib's fastest level: the pack is read back soon, and `git gc` recompresses.
const LEVEL: flate2::Compression = flate2::Compression::fast();

/// An object built in memory for a pack.
pub struct Object {
    pub id: Oid,
    pub kind: ObjectType,
    pub data: Vec<u8>,
}

/// The id of `data` as an object of `kind` in a repository of `format`: libgit2's
/// hash, as its object database computes it (collision-detecting SHA-1 included).
pub fn object_id(kind: ObjectType, data: &[u8], format: ObjectFormat) -> Result<Oid> {
    Ok(Oid::hash_object_ext(kind, data, format)?)
}

/// A commit object, as libgit2's `git_commit_create` writes one: the tree, each
/// parent, author and committer (`who`, `<name> <<email>> <seconds> <±hhmm>`), a
/// blank line, the message as given.
pub fn commit_object(
    tree: Oid,
    parents: &[Oid],
    who: &git2::Signature<'_>,
    message: &str,
) -> Vec<u8> {
    let when = who.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 || when.sign() == '-' {
        '-'
    } else {
        '+'
    };
    let offset = offset.unsigned_abs();
    let mut person = Vec::new();
    person.extend_from_slice(who.name_bytes());
    person.extend_from_slice(b" <");
    person.extend_from_slice(who.email_bytes());
    person.extend_from_slice(
        format!(
            "> {} {sign}{:02}{:02}\n",
            when.seconds(),
            offset / 60,
            offset % 60
        )
        .as_bytes(),
    );
    let mut out = format!("tree {tree}\n").into_bytes();
    for parent in parents {
        out.extend_from_slice(format!("parent {parent}\n").as_bytes());
    }
    for header in [&b"author "[..], b"committer "] {
        out.extend_from_slice(header);
        out.extend_from_slice(&person);
    }
    out.push(b'\n');
    out.extend_from_slice(message.as_bytes());
    out
}

/// Where a ledger write puts the objects it builds: the object database, which
/// writes each as a loose file, or memory, to become one pack ([`write`]).
pub enum Sink<'r> {
    Odb(git2::Odb<'r>),
    Memory(Built),
}

/// Objects built in memory, each once, in the order built (a tree after what it
/// holds).
pub struct Built {
    format: ObjectFormat,
    objects: Vec<Object>,
    seen: HashSet<IdKey>,
}

impl Built {
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }
}

impl Sink<'_> {
    pub fn memory(format: ObjectFormat) -> Sink<'static> {
        Sink::Memory(Built {
            format,
            objects: Vec::new(),
            seen: HashSet::new(),
        })
    }

    /// Stores `data` as an object of `kind`; returns its id.
    pub fn put(&mut self, kind: ObjectType, data: &[u8]) -> Result<Oid> {
        match self {
            Sink::Odb(odb) => Ok(odb.write(kind, data)?),
            Sink::Memory(built) => {
                let id = object_id(kind, data, built.format)?;
                self.add(id, kind, data)?;
                Ok(id)
            }
        }
    }

    /// Stores `data`, whose id [`object_id`] gave as `id`.
    pub fn add(&mut self, id: Oid, kind: ObjectType, data: &[u8]) -> Result<()> {
        match self {
            Sink::Odb(odb) => {
                let written = odb.write(kind, data)?;
                if written != id {
                    return Err(Error::internal(format!(
                        "object {id} was written as {written}"
                    )));
                }
            }
            Sink::Memory(built) => {
                if built.seen.insert(IdKey(id)) {
                    built.objects.push(Object {
                        id,
                        kind,
                        data: data.to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Where each object went in the pack, for its index.
struct Placed {
    id: Oid,
    crc32: u32,
    offset: u64,
}

/// Writes `objects` (distinct ids) as one pack and its index into `pack_dir` (an
/// object directory's `pack/`), named `pack-<checksum>` as git names packs.
pub fn write(objects: &[Object], pack_dir: &Path, format: ObjectFormat) -> Result<()> {
    let cannot = |e: std::io::Error| {
        Error::environment(format!(
            "cannot write the ledger's objects as a pack in {}",
            pack_dir.display()
        ))
        .with_source(e)
    };
    let count =
        u32::try_from(objects.len()).map_err(|_| Error::internal("a pack of over 2^32 objects"))?;
    let temp = |prefix: &str| {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempfile_in(pack_dir)
            .map_err(cannot)
    };
    let pack_file = temp("tmp_pack_")?;
    let mut out = Hashing {
        out: std::io::BufWriter::with_capacity(
            1 << 16,
            pack_file.as_file().try_clone().map_err(cannot)?,
        ),
        hash: hasher(format),
        written: 0,
    };
    out.write_all(b"PACK").map_err(cannot)?;
    out.write_all(&2u32.to_be_bytes()).map_err(cannot)?;
    out.write_all(&count.to_be_bytes()).map_err(cannot)?;
    // One compressor for every object, reset between them: a new one per object
    // zeroed its tables each time (1.3% of git/git's backfill in memset).
    let mut zlib = flate2::Compress::new(LEVEL, true);
    let mut deflated = Vec::new();
    let mut placed = Vec::with_capacity(objects.len());
    for object in objects {
        deflate(&mut zlib, &object.data, &mut deflated)?;
        let header = object_header(type_code(object.kind)?, object.data.len() as u64);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(&deflated);
        placed.push(Placed {
            id: object.id,
            crc32: crc.finalize(),
            offset: out.written,
        });
        out.write_all(&header).map_err(cannot)?;
        out.write_all(&deflated).map_err(cannot)?;
    }
    let Hashing { mut out, hash, .. } = out;
    let checksum = hash.finalize();
    out.write_all(&checksum).map_err(cannot)?;
    out.flush().map_err(cannot)?;
    drop(out);

    let mut index_file = temp("tmp_idx_")?;
    let index = index(placed, &checksum, format);
    index_file.write_all(&index).map_err(cannot)?;

    // Read-only to everyone, as git and libgit2 leave packs (whatever the umask):
    // a temporary file is private to its owner, and in a repository shared by a
    // group the others could not read the ledger.
    for file in [&pack_file, &index_file] {
        set_read_only(file.as_file()).map_err(cannot)?;
    }
    let name = pack_dir.join(format!("pack-{}", hex::encode(&checksum)));
    pack_file
        .persist(name.with_extension("pack"))
        .map_err(|e| cannot(e.error))?;
    index_file
        .persist(name.with_extension("idx"))
        .map_err(|e| cannot(e.error))?;
    Ok(())
}

fn set_read_only(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o444))
}

/// A pack index, version 2: magic and version, the fanout table (how many ids start
/// with each byte or less), the sorted ids, their CRC-32s, their offsets (31 bits,
/// else the top bit set and the index of a 64-bit offset after them), the pack's
/// checksum, and the index's own.
fn index(mut placed: Vec<Placed>, pack_checksum: &[u8], format: ObjectFormat) -> Vec<u8> {
    placed.sort_unstable_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
    let id_len = pack_checksum.len();
    let mut out = Vec::with_capacity(8 + 1024 + placed.len() * (id_len + 8) + 2 * id_len);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for p in &placed {
        fanout[p.id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for p in &placed {
        out.extend_from_slice(p.id.as_bytes());
    }
    for p in &placed {
        out.extend_from_slice(&p.crc32.to_be_bytes());
    }
    let mut large = Vec::new();
    for p in &placed {
        let small = match u32::try_from(p.offset) {
            Ok(o) if o < 1 << 31 => o,
            _ => {
                large.push(p.offset);
                (1 << 31) | (large.len() as u32 - 1)
            }
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let mut hash = hasher(format);
    hash.update(&out);
    out.extend_from_slice(&hash.finalize());
    out
}

/// The repository's hash, for checksums.
fn hasher(format: ObjectFormat) -> Box<dyn DynDigest> {
    match format {
        ObjectFormat::Sha256 => Box::new(sha2::Sha256::default()),
        _ => Box::new(sha1::Sha1::default()),
    }
}

/// `data` as one zlib stream in `out` (replacing what it held).
fn deflate(zlib: &mut flate2::Compress, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
    zlib.reset();
    out.clear();
    loop {
        let read = usize::try_from(zlib.total_in())
            .unwrap_or(data.len())
            .min(data.len());
        // zlib writes only into spare capacity: room for the rest, stored, and more.
        out.reserve(data.len() - read + 64);
        match zlib.compress_vec(&data[read..], out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::environment("cannot compress a ledger object").with_source(e))
            }
        }
    }
}

/// The pack's type code of a whole object.
fn type_code(kind: ObjectType) -> Result<u8> {
    match kind {
        ObjectType::Commit => Ok(1),
        ObjectType::Tree => Ok(2),
        ObjectType::Blob => Ok(3),
        ObjectType::Tag => Ok(4),
        other => Err(Error::internal(format!("a {other} in a ledger append"))),
    }
}

/// An object's header in a pack: its type in bits 4-6 of the first byte, its size
/// in the low 4 bits of that byte and 7 bits of each next one, least significant
/// first, the top bit of each byte saying another follows.
fn object_header(code: u8, size: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
    out
}

/// A writer that hashes and counts what it passes on: the pack's trailer is the hash
/// of every byte before it, and an object's offset the count before its header.
struct Hashing<W> {
    out: W,
    hash: Box<dyn DynDigest>,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects built in memory, some repeated, and one over a deflate buffer.
    fn built(format: ObjectFormat) -> Built {
        let mut sink = Sink::memory(format);
        let mut blobs = Vec::new();
        for i in 0..300u32 {
            let content = format!("seal {}\n", i % 250).repeat(1 + (i % 250) as usize % 7);
            blobs.push(sink.put(ObjectType::Blob, content.as_bytes()).unwrap());
        }
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        sink.put(ObjectType::Blob, &big).unwrap();
        let mut tree = Vec::new();
        for (i, id) in blobs.iter().take(250).enumerate() {
            tree.extend_from_slice(format!("100644 n{i:03}\0").as_bytes());
            tree.extend_from_slice(id.as_bytes());
        }
        sink.put(ObjectType::Tree, &tree).unwrap();
        match sink {
            Sink::Memory(built) => built,
            Sink::Odb(_) => unreachable!(),
        }
    }

    /// The pack and index are git's formats to the byte: `git index-pack` builds the
    /// same index from the pack, `git verify-pack` and `git fsck` accept them, and
    /// libgit2 reads every object back, in SHA-1 and SHA-256 repositories.
    #[test]
    fn a_pack_and_its_index_are_what_git_index_pack_makes() {
        for (format, name) in [
            (ObjectFormat::Sha1, "sha1"),
            (ObjectFormat::Sha256, "sha256"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let git = |args: &[&str]| crate::git::test_git(dir.path(), args);
            git(&["init", "-q", &format!("--object-format={name}")]);
            let built = built(format);
            assert_eq!(built.objects().len(), 252, "each object once");
            let pack_dir = dir.path().join(".git/objects/pack");
            write(built.objects(), &pack_dir, format).unwrap();
            let mut written: Vec<_> = std::fs::read_dir(&pack_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            written.sort();
            assert_eq!(written.len(), 2, "a pack and its index only: {written:?}");
            let index = pack_dir.join(&written[0]);
            let pack = pack_dir.join(&written[1]);
            assert!(written[0].ends_with(".idx") && written[1].ends_with(".pack"));
            for file in [&index, &pack] {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o444, "{}", file.display());
            }
            let theirs = dir.path().join("theirs.idx");
            git(&[
                "index-pack",
                "-o",
                theirs.to_str().unwrap(),
                pack.to_str().unwrap(),
            ]);
            assert_eq!(
                std::fs::read(&theirs).unwrap(),
                std::fs::read(&index).unwrap(),
                "{name}"
            );
            git(&["verify-pack", index.to_str().unwrap()]);
            let repo = git2::Repository::open(dir.path()).unwrap();
            let odb = repo.odb().unwrap();
            for object in built.objects() {
                let read = odb.read(object.id).unwrap();
                assert_eq!((read.kind(), read.data()), (object.kind, &object.data[..]));
            }
            let tree = built.objects().last().unwrap().id.to_string();
            let commit = String::from_utf8(git(&["commit-tree", &tree, "-m", "t"])).unwrap();
            git(&["update-ref", "refs/test", commit.trim()]);
            git(&["fsck", "--full", "--strict", "--no-dangling"]);
        }
    }

    /// A ledger commit is the bytes libgit2 writes for the same tree, parents,
    /// signature and message, east and west of UTC, with no parent and with one.
    #[test]
    fn a_commit_object_is_what_libgit2_writes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        for offset in [0, 330, -90, -600] {
            let when = git2::Time::new(1_700_000_000, offset);
            let who = git2::Signature::new("Zoë O'Brien", "zoe@example.com", &when).unwrap();
            let first = repo
                .commit_create_buffer(&who, &who, "seal 3 commits", &tree, &[])
                .unwrap();
            assert_eq!(
                commit_object(tree.id(), &[], &who, "seal 3 commits"),
                &first[..]
            );
            let parent = repo
                .odb()
                .unwrap()
                .write(ObjectType::Commit, &first)
                .unwrap();
            let parent = repo.find_commit(parent).unwrap();
            let second = repo
                .commit_create_buffer(&who, &who, "merge\n\nbody\n", &tree, &[&parent])
                .unwrap();
            assert_eq!(
                commit_object(tree.id(), &[parent.id()], &who, "merge\n\nbody\n"),
                &second[..],
                "{offset}"
            );
        }
    }

    /// Offsets past 2^31 bytes go to the 64-bit table, in id order, and the 32-bit
    /// entry names their place in it with its top bit set.
    #[test]
    fn offsets_past_two_gib_go_to_the_large_offset_table() {
        let id = |b: u8| Oid::from_bytes(&[b; 20]).unwrap();
        let placed = vec![
            Placed {
                id: id(3),
                crc32: 7,
                offset: 5 << 32,
            },
            Placed {
                id: id(1),
                crc32: 8,
                offset: 12,
            },
            Placed {
                id: id(2),
                crc32: 9,
                offset: 1 << 31,
            },
        ];
        let index = index(placed, &[0xaa; 20], ObjectFormat::Sha1);
        let word = |at: usize| u32::from_be_bytes(index[at..at + 4].try_into().unwrap());
        let n = 3;
        let ids = 8 + 1024;
        let crcs = ids + 20 * n;
        let offsets = crcs + 4 * n;
        let large = offsets + 4 * n;
        assert_eq!(&index[..8], b"\xfftOc\0\0\0\x02");
        assert_eq!(
            (word(8), word(8 + 4), word(8 + 4 * 3), word(8 + 4 * 255)),
            (0, 1, 3, 3)
        );
        assert_eq!(&index[ids..ids + 20], &[1; 20]);
        assert_eq!((word(crcs), word(crcs + 4), word(crcs + 8)), (8, 9, 7));
        assert_eq!(word(offsets), 12);
        assert_eq!(word(offsets + 4), 0x8000_0000);
        assert_eq!(word(offsets + 8), 0x8000_0001);
        let long = |at: usize| u64::from_be_bytes(index[at..at + 8].try_into().unwrap());
        assert_eq!((long(large), long(large + 8)), (1 << 31, 5 << 32));
        assert_eq!(&index[large + 16..large + 36], &[0xaa; 20]);
        let mut hash = sha1::Sha1::default();
        sha1::Digest::update(&mut hash, &index[..large + 36]);
        assert_eq!(&index[large + 36..], &sha1::Digest::finalize(hash)[..]);
    }

    #[test]
    fn one_compressor_deflates_each_object_whole() {
        use std::io::Read;
        let mut zlib = flate2::Compress::new(LEVEL, true);
        let mut out = Vec::new();
        // Incompressible bytes, past any one buffer, then small ones with the same
        // compressor: each stream inflates to exactly its input.
        let noise: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for data in [noise.as_slice(), b"seal\n", b"", noise.as_slice()] {
            deflate(&mut zlib, data, &mut out).unwrap();
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn object_headers_spell_type_and_size_as_git_reads_them() {
        // gitformat-pack: a blob (3) of 15 bytes fits one byte; of 16 it needs two.
        assert_eq!(object_header(3, 15), vec![0x3f]);
        assert_eq!(object_header(3, 16), vec![0xb0, 0x01]);
        // A commit (1) of 1,000 bytes: 1000 = 0b1111101000 -> low 4 bits 1000, then 0111110.
        assert_eq!(object_header(1, 1000), vec![0x98, 0x3e]);
        assert_eq!(object_header(2, 0), vec![0x20]);
    }
}
