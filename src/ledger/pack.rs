//! The packs a ledger append writes: the objects it adds, as one git pack (version 2,
//! every object whole, none stored as a delta), streamed to the object database's
//! indexer, which checks and indexes it as it would a fetched pack.
//!
//! Written here rather than by libgit2's packbuilder, which searches for deltas
//! between the objects it packs: a tenth of a long backfill's time (git/git: 9% of
//! the samples in `git_delta_create_from_index`), spent to save space that `git gc`
//! saves anyway when it repacks. A pack of whole objects is a header, each object's
//! type, size and zlib stream, and a checksum: the format is git's
//! (`gitformat-pack`), the writer is small.
//!
//! Invariants: the header counts exactly the objects written, each once; the trailer
//! is the repository's own hash (SHA-1 or SHA-256) of every byte before it; nothing
//! is visible in the object database until the indexer has checked the whole pack.

use std::io::Write;

use git2::{ObjectFormat, ObjectType, Oid};
use sha2::digest::DynDigest;

use crate::error::{Error, Result};

/// zlib's fastest level: the pack is read back soon, and `git gc` recompresses.
const LEVEL: flate2::Compression = flate2::Compression::fast();

/// Writes `ids` (distinct, all readable from `source`) to `target` as one pack.
pub fn write(
    source: &git2::Odb<'_>,
    target: &git2::Odb<'_>,
    ids: &[Oid],
    format: ObjectFormat,
) -> Result<()> {
    let indexer = target.packwriter()?;
    let trailer: Box<dyn DynDigest> = match format {
        ObjectFormat::Sha256 => Box::new(sha2::Sha256::default()),
        _ => Box::new(sha1::Sha1::default()),
    };
    let mut out = Hashing {
        out: indexer,
        hash: trailer,
    };
    let cannot = |e: std::io::Error| {
        Error::environment("cannot write the ledger's objects as a pack").with_source(e)
    };
    let count =
        u32::try_from(ids.len()).map_err(|_| Error::internal("a pack of over 2^32 objects"))?;
    out.write_all(b"PACK").map_err(cannot)?;
    out.write_all(&2u32.to_be_bytes()).map_err(cannot)?;
    out.write_all(&count.to_be_bytes()).map_err(cannot)?;
    // One compressor for every object, reset between them: a new one per object
    // zeroed its tables each time (1.3% of git/git's backfill in memset).
    let mut zlib = flate2::Compress::new(LEVEL, true);
    let mut deflated = Vec::new();
    for id in ids {
        let object = source.read(*id)?;
        let data = object.data();
        deflate(&mut zlib, data, &mut deflated)?;
        out.write_all(&object_header(type_code(object.kind())?, data.len() as u64))
            .map_err(cannot)?;
        out.write_all(&deflated).map_err(cannot)?;
    }
    let Hashing { mut out, hash } = out;
    out.write_all(&hash.finalize()).map_err(cannot)?;
    out.commit()?;
    Ok(())
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

/// A writer that hashes what it passes on: the pack's trailer is the hash of every
/// byte before it.
struct Hashing<W> {
    out: W,
    hash: Box<dyn DynDigest>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
