//! The manifest and checksum file, checked by outside tools: sha256sum, and the
//! README's recipe (git ls-tree + git cat-file + sha256sum) run as a script.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{assert_has, write_script, Sandbox, TestRepo};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A repository with every awkward kind of entry: odd names, symlinks, a submodule,
/// an executable, nested directories.
fn odd_repo(sb: &Sandbox) -> TestRepo<'_> {
    let sub = sb.init("sub", &[]);
    sub.commit_file("s.txt", "sub\n", "sub");
    let repo = sb.installed("r");
    for name in [
        "with space.txt",
        "unicodé ünï.txt",
        "back\\slash",
        "new\nline",
        "cr\rname",
        "dir/nested/deep.txt",
        "a-b",
        "a/b",
    ] {
        repo.write(name, &format!("content of {name}\n"));
    }
    std::fs::write(
        repo.path.join(OsStr::from_bytes(b"latin1-\xe9.txt")),
        b"not utf-8 name\n",
    )
    .unwrap();
    write_script(repo.path.join("run.sh"), "#!/bin/sh\n");
    std::os::unix::fs::symlink("with space.txt", repo.path.join("link")).unwrap();
    std::os::unix::fs::symlink("dangling/target", repo.path.join("dangling")).unwrap();
    repo.add_submodule("sub", "modules/sub");
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "odd names"]).ok();
    repo
}

#[test]
fn checksum_file_passes_sha256sum_strict_with_odd_names() {
    let sb = Sandbox::new();
    let repo = odd_repo(&sb);
    let sums = repo
        .seal(&["manifest", "HEAD", "--format", "sha256sum"])
        .ok();
    let file = sb.path().join("CHECKSUMS");
    std::fs::write(&file, &sums.out.stdout).unwrap();
    let check = repo
        .cmd("sha256sum", &["-c", "--strict", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let text = String::from_utf8_lossy(&sums.out.stdout);
    // symlinks and the submodule are in the manifest, not in the checksum file
    assert!(
        !text.contains("link") && !text.contains("modules/sub"),
        "{text}"
    );
    assert_has(&text, "  back\\\\slash\n");
    assert_has(&text, "  new\\nline\n");
    // The lines are what sha256sum itself prints for the same files, in C-locale
    // order. (coreutils 9 also escapes CR, which the brief's format leaves raw and
    // `sha256sum -c` reads as itself, as checked above; that one name is left out.)
    let mut files: Vec<Vec<u8>> = Vec::new();
    for line in repo
        .git(&["ls-files", "-z", "-s"])
        .ok()
        .out
        .stdout
        .split(|b| *b == 0)
    {
        if line.starts_with(b"100") && !line.contains(&b'\r') {
            let tab = line.iter().position(|b| *b == b'\t').unwrap();
            files.push(line[tab + 1..].to_vec());
        }
    }
    files.sort();
    let mut cmd = repo.cmd("sha256sum", &["--"]);
    for f in &files {
        cmd.arg(OsStr::from_bytes(f));
    }
    let theirs = cmd.output().unwrap().stdout;
    let ours: Vec<&[u8]> = sums
        .out
        .stdout
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| !l.contains(&b'\r'))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&ours.concat()),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn seal_digests_recompute_with_the_readme_recipe() {
    let sb = Sandbox::new();
    let repo = odd_repo(&sb);
    repo.commit_file("later.txt", "later\n", "later");
    for rev in ["HEAD", "HEAD~1"] {
        let recipe = repo
            .cmd(format!("{ROOT}/scripts/manifest-digest.sh"), &[rev])
            .output()
            .unwrap();
        assert!(
            recipe.status.success(),
            "{}",
            String::from_utf8_lossy(&recipe.stderr)
        );
        let independent = String::from_utf8_lossy(&recipe.stdout).trim().to_string();
        let seal = repo.note(rev).unwrap();
        let py = crate::harness::run_with_stdin(
            repo.cmd("python3", &[&format!("{ROOT}/scripts/seal-digest.py")]),
            seal.as_bytes(),
        );
        assert_eq!(
            py.code(),
            0,
            "seal digest differs: {} {}",
            py.stdout(),
            py.stderr()
        );
        let v: serde_json::Value = serde_json::from_str(&py.stdout()).unwrap();
        assert_eq!(
            v["manifest"],
            independent.as_str(),
            "manifest digest of {rev}"
        );
        assert!(independent.starts_with("sha256:") && independent.len() == 71);
    }
}

#[test]
fn json_manifest_keeps_non_utf8_paths_losslessly() {
    let sb = Sandbox::new();
    let repo = odd_repo(&sb);
    let out = repo.seal(&["manifest", "HEAD", "--json"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "git-seal/manifest/v1");
    assert_eq!(v["commit"], repo.rev("HEAD"));
    assert_eq!(v["tree"], repo.rev("HEAD^{tree}"));
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(v["files"], entries.len());
    let latin = entries
        .iter()
        .find(|e| e.get("path_hex").is_some())
        .unwrap();
    assert_eq!(latin["path_hex"], hex(b"latin1-\xe9.txt"));
    let sub = entries.iter().find(|e| e["path"] == "modules/sub").unwrap();
    assert_eq!(sub["mode"], "160000");
    assert_eq!(sub["sha256"], repo.rev("HEAD:modules/sub"));
    let link = entries.iter().find(|e| e["path"] == "link").unwrap();
    assert_eq!(link["mode"], "120000");
    assert_eq!(link["size"], "with space.txt".len());
    let canonical = repo
        .seal(&["manifest", "HEAD", "--format", "canonical"])
        .ok()
        .out
        .stdout;
    assert_eq!(canonical.iter().filter(|b| **b == 0).count(), entries.len());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn incremental_manifests_equal_full_recomputation() {
    let sb = Sandbox::new();
    let repo = odd_repo(&sb);
    // Enough files that manifests are cached (cache::CACHE_MIN_FILES), so that each
    // commit below is derived from its parent's cached manifest as a delta.
    for i in 0..2_100 {
        repo.write(
            &format!("bulk/{:02}/f{i:04}.txt", i % 37),
            &format!("{i}\n"),
        );
    }
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "bulk"]).ok();
    // Adds, deletions, modifications, a file becoming a directory, a symlink becoming
    // a file, mode changes: each commit's manifest is derived from its parent's.
    repo.commit_file("dir/nested/deep.txt", "modified\n", "modify");
    std::fs::remove_file(repo.path.join("a-b")).unwrap();
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "delete"]).ok();
    std::fs::remove_file(repo.path.join("with space.txt")).unwrap();
    repo.commit_file("with space.txt/inside", "now a dir\n", "file to dir");
    std::fs::remove_file(repo.path.join("link")).unwrap();
    repo.commit_file("link", "a file now\n", "symlink to file");
    std::fs::set_permissions(
        repo.path.join("run.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    repo.git(&["commit", "-q", "-a", "-m", "mode"]).ok();
    repo.commit_file("zzz/last", "z\n", "append at the end");
    repo.commit_file("0first", "0\n", "insert at the start");
    let deltas = std::fs::read_dir(repo.path.join(".git/seal/cache/deltas"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(deltas >= 7, "the commits were derived as deltas ({deltas})");
    // --no-cache recomputes every manifest from the blobs alone.
    repo.seal(&["verify", "HEAD~7..HEAD", "--no-cache"]).ok();
    let recipe = repo
        .cmd(format!("{ROOT}/scripts/manifest-digest.sh"), &["HEAD"])
        .output()
        .unwrap();
    let seal: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "--json"]).ok().stdout()).unwrap();
    assert_eq!(
        seal["manifest"]["digest"],
        String::from_utf8_lossy(&recipe.stdout).trim()
    );
}

#[test]
fn large_blobs_stream_loose_and_packed_with_the_same_digest() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    // Above the 32 MiB streaming threshold; pseudo-random so zlib cannot shrink it.
    let mut big = Vec::with_capacity(40 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while big.len() < 40 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(repo.path.join("big.bin"), &big).unwrap();
    repo.git(&["add", "big.bin"]).ok();
    repo.git(&["commit", "-q", "-m", "big"]).ok();
    let recipe = || {
        let out = repo
            .cmd(format!("{ROOT}/scripts/manifest-digest.sh"), &["HEAD"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let digest = |extra: &[&str]| {
        let mut args = vec!["manifest", "HEAD", "--json"];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&repo.seal(&args).ok().stdout()).unwrap();
        v["digest"].as_str().unwrap().to_string()
    };
    let expected = recipe();
    assert_eq!(digest(&[]), expected, "loose object");
    repo.git(&["repack", "-adq"]).ok();
    let _ = std::fs::remove_dir_all(repo.path.join(".git/seal"));
    assert_eq!(digest(&[]), expected, "packed object");
    // The git that streams it maps the pack in bounded windows: with git's default
    // window (1 GiB) every page it read stayed resident, a 1 GB blob's whole size.
    let _ = std::fs::remove_dir_all(repo.path.join(".git/seal"));
    let trace = repo.path.join("../trace.json");
    let mut cmd = repo.cmd(crate::harness::SEAL, &["manifest", "HEAD", "--json"]);
    cmd.env("GIT_TRACE2_EVENT", &trace);
    assert!(cmd.status().unwrap().success());
    let events = std::fs::read_to_string(&trace).unwrap();
    let streams: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "start")
        .filter(|e| {
            e["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "cat-file"))
        })
        .collect();
    assert_eq!(streams.len(), 1, "{events}");
    let argv = streams[0]["argv"].to_string();
    for setting in ["core.packedGitWindowSize=16m", "core.packedGitLimit=64m"] {
        assert!(argv.contains(setting), "{setting} not in {argv}");
    }
}

/// A history of `commits` commits over 2,100 files (enough to be cached), one file
/// changed per commit, made without hooks.
fn cached_history(sb: &Sandbox, commits: usize) -> TestRepo<'_> {
    let repo = sb.init("r", &[]);
    let mut stream = String::from(
        "commit refs/heads/main\nmark :1\ncommitter C <c@x> 1700000000 +0000\ndata 2\nc\n",
    );
    for i in 0..2_100 {
        stream.push_str(&format!(
            "M 644 inline d{}/f{i}\ndata {}\n{i}\n",
            i % 9,
            i.to_string().len()
        ));
    }
    for c in 2..=commits {
        let content = format!("v{c}");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{c}\ncommitter C <c@x> {} +0000\ndata 2\nc\nfrom :{}\nM 644 inline d{}/f{}\ndata {}\n{content}\n",
            1_700_000_000 + c,
            c - 1,
            c % 9,
            c * 7 % 2_100,
            content.len(),
        ));
    }
    repo.fast_import(&stream);
    repo
}

fn digest_packs(repo: &TestRepo<'_>) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(repo.path.join(".git/seal/cache/digests/packs"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default()
}

#[test]
fn a_backfill_of_small_manifests_remembers_their_digests_in_its_pack() {
    // Under cache::CACHE_MIN_FILES no manifest is cached, but a history run keeps
    // every digest in its pack: real histories start small (curl's first 18,000
    // commits hold under 2,000 files), and a warm verify must not recompute them.
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    for i in 0..6 {
        repo.commit_unsealed(&format!("f{}", i % 3), &format!("c{i}"));
    }
    repo.seal(&["seal", "--missing"]).ok();
    let packs = digest_packs(&repo);
    assert_eq!(packs.len(), 1, "one pack for the run: {packs:?}");
    let bytes = std::fs::read(&packs[0]).unwrap();
    let body = &bytes[bytes.iter().position(|b| *b == b'\n').unwrap() + 1..];
    let trees: std::collections::BTreeSet<String> = repo
        .git_out(&["log", "--format=%T"])
        .lines()
        .map(str::to_string)
        .collect();
    let packed: std::collections::BTreeSet<String> =
        body.chunks(68).map(|r| hex::encode(&r[..20])).collect();
    assert_eq!(packed, trees, "every tree's digest");
    assert_eq!(body.len(), trees.len() * 68, "each once");
    for store in ["manifests", "deltas"] {
        let dir = repo.path.join(".git/seal/cache").join(store);
        let held = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(held, 0, "small manifests are not cached in {store}");
    }
    repo.seal(&["verify", "--all"]).ok();
    repo.seal(&["verify", "--all", "--no-cache"]).ok();
}

#[test]
fn a_backfill_remembers_digests_in_one_pack_and_a_damaged_pack_is_a_miss() {
    let sb = Sandbox::new();
    let repo = cached_history(&sb, 12);
    repo.seal(&["seal", "--missing"]).ok();
    let packs = digest_packs(&repo);
    assert_eq!(packs.len(), 1, "one pack for the run: {packs:?}");
    let digests = repo.path.join(".git/seal/cache/digests");
    let others: Vec<_> = std::fs::read_dir(&digests)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "packs")
        .collect();
    assert_eq!(
        others,
        Vec::<std::ffi::OsString>::new(),
        "no file per commit, no journal"
    );
    // Derived whole from each parent, every commit's digest is the recipe's.
    for rev in ["HEAD", "HEAD~5", "HEAD~11"] {
        assert_eq!(
            repo.sealed_manifest_digest(rev),
            repo.recipe_digest(rev),
            "{rev}"
        );
    }
    repo.seal(&["verify", "--all"]).ok();

    let tree = repo.git_out(&["rev-parse", "HEAD^{tree}"]);
    let journal = digests.join("journal");
    let bytes = std::fs::read(&packs[0]).unwrap();
    let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
    let honest_body = bytes[nl + 1..].to_vec();
    let key: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&tree[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let at = honest_body
        .chunks(68)
        .position(|r| r[..20] == key[..])
        .unwrap()
        * 68;
    let other = format!("sha256:{}", "ab".repeat(32));
    let mut poisoned = honest_body.clone();
    poisoned[at + 20..at + 52].fill(0xab);
    let header = |count: usize, body: &[u8]| {
        format!(
            "git-seal digest pack v1 count={count} crc32={:08x}\n",
            crc32fast::hash(body)
        )
    };
    let write = |header: String, body: &[u8]| {
        let _ = std::fs::remove_file(&packs[0]);
        std::fs::write(&packs[0], [header.as_bytes(), body].concat()).unwrap();
    };

    // A record rewritten (CRC made right) to disagree with a valid seal is
    // recomputed before it fails anything: a damaged cache never fails a commit.
    write(header(poisoned.len() / 68, &poisoned), &poisoned);
    repo.seal(&["verify", "HEAD"]).ok();
    let _ = std::fs::remove_file(&journal);

    // A seal that lies about its manifest, and a pack poisoned to agree with it:
    // believed, as this machine's own memory (documented; so the pack is what
    // verify reads); `--no-cache` reads none of it.
    repo.forge_seal("HEAD", |seal| {
        seal["manifest"]["digest"] = other.clone().into()
    });
    repo.seal(&["verify", "HEAD"]).ok();
    repo.seal(&["verify", "--no-cache", "HEAD"]).fails_with(1);

    // Every pack that is not exactly what the writer writes is a miss: the lie is
    // caught (recomputed from the objects), never believed, never a panic or a hang.
    let mut unsorted = poisoned.clone();
    let last = unsorted.len() - 68;
    let (first, rest) = unsorted.split_at_mut(68);
    first.swap_with_slice(&mut rest[last - 68..]);
    let count = poisoned.len() / 68;
    let cut = &poisoned[..poisoned.len() - 10];
    let hostile: Vec<(&str, String, Vec<u8>)> = vec![
        ("old CRC", header(count, &honest_body), poisoned.clone()),
        (
            "count one more",
            header(count + 1, &poisoned),
            poisoned.clone(),
        ),
        (
            "count one less",
            header(count - 1, &poisoned),
            poisoned.clone(),
        ),
        (
            "truncated mid-record",
            header(count, &poisoned),
            cut.to_vec(),
        ),
        (
            "truncated, CRC of what is left",
            header(count, cut),
            cut.to_vec(),
        ),
        ("unsorted", header(count, &unsorted), unsorted.clone()),
        (
            "count past u64",
            "git-seal digest pack v1 count=18446744073709551617 crc32=0\n".to_string(),
            poisoned.clone(),
        ),
        (
            "count past the bound",
            header(1 << 40, &poisoned),
            poisoned.clone(),
        ),
        ("no header", String::new(), poisoned.clone()),
        (
            "another magic",
            header(count, &poisoned).replace("v1", "v2"),
            poisoned.clone(),
        ),
        (
            "extra field",
            header(count, &poisoned).replace('\n', " x=1\n"),
            poisoned.clone(),
        ),
    ];
    for (what, header, body) in hostile {
        write(header, &body);
        let out = repo.seal(&["verify", "HEAD"]);
        assert_eq!(out.code(), 1, "{what}: {}{}", out.stdout(), out.stderr());
        assert!(!out.stderr().contains("panicked"), "{what}");
        let _ = std::fs::remove_file(&journal);
    }
    // Not a regular file: a FIFO (opening it would block), a file too long to be a
    // pack (sparse: nothing of it is read), a directory.
    let _ = std::fs::remove_file(&packs[0]);
    let fifo = std::process::Command::new("mkfifo")
        .arg(&packs[0])
        .status()
        .unwrap();
    assert!(fifo.success());
    repo.seal(&["verify", "HEAD"]).fails_with(1);
    let _ = std::fs::remove_file(&journal);
    std::fs::remove_file(&packs[0]).unwrap();
    write(header(count, &poisoned), &poisoned);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&packs[0])
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    repo.seal(&["verify", "HEAD"]).fails_with(1);
    let _ = std::fs::remove_file(&journal);
    std::fs::remove_file(&packs[0]).unwrap();
    std::fs::create_dir(&packs[0]).unwrap();
    repo.seal(&["verify", "HEAD"]).fails_with(1);
}

#[test]
fn digest_packs_past_the_limit_are_merged_into_one() {
    let sb = Sandbox::new();
    let repo = cached_history(&sb, 3);
    // Each backfill of a new branch tip is one run, one pack; the ninth merges.
    for i in 0..9 {
        repo.commit_unsealed(&format!("n{i}"), &format!("one {i}"));
        repo.commit_unsealed(&format!("n{i}"), &format!("two {i}"));
        repo.seal(&["seal", "--missing"]).ok();
    }
    let packs = digest_packs(&repo);
    assert_eq!(packs.len(), 1, "{packs:?}");
    // The merged pack holds every tree the nine runs computed, once.
    let trees: std::collections::HashSet<String> = repo
        .git_out(&["log", "HEAD", "--format=%T"])
        .lines()
        .map(str::to_string)
        .collect();
    let bytes = std::fs::read(&packs[0]).unwrap();
    let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
    let header = String::from_utf8_lossy(&bytes[..nl]).to_string();
    assert!(
        header.contains(&format!(" count={} ", trees.len())),
        "{header}: {} trees",
        trees.len()
    );
    assert_eq!(bytes.len() - nl - 1, trees.len() * 68);
    repo.seal(&["verify", "--all"]).ok();
}

/// A repository of `files` distinct committed files (loose objects, hooks off), and
/// the manifest digest the README's recipe gives its HEAD from the objects alone.
fn checkout_repo<'s>(
    sb: &'s Sandbox,
    name: &str,
    init: &[&str],
    files: usize,
) -> (TestRepo<'s>, String) {
    let repo = sb.init(name, init);
    for i in 0..files {
        repo.write(
            &format!("d{}/f{i:03}.txt", i % 4),
            &format!("file {i}\n").repeat(i + 1),
        );
    }
    write_script(repo.path.join("run.sh"), "#!/bin/sh\necho run\n");
    std::os::unix::fs::symlink("d0/f000.txt", repo.path.join("link")).unwrap();
    repo.git(&["add", "-A"]).ok();
    repo.git_hooks_off(&["commit", "-q", "-m", "files"]).ok();
    let recipe = repo
        .cmd(format!("{ROOT}/scripts/manifest-digest.sh"), &["HEAD"])
        .output()
        .unwrap();
    assert!(
        recipe.status.success(),
        "{}",
        String::from_utf8_lossy(&recipe.stderr)
    );
    let digest = String::from_utf8_lossy(&recipe.stdout).trim().to_string();
    (repo, digest)
}

/// Moves the loose object files of the blobs at `paths` (of HEAD) out of the
/// object store; returns where each went, to put back.
fn take_blobs(
    repo: &TestRepo<'_>,
    paths: &[String],
) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let objects = repo.path.join(".git/objects");
    let aside = repo.path.join(".git/aside");
    std::fs::create_dir_all(&aside).unwrap();
    paths
        .iter()
        .map(|p| {
            let id = repo.rev(&format!("HEAD:{p}"));
            let from = objects.join(&id[..2]).join(&id[2..]);
            let to = aside.join(&id);
            std::fs::rename(&from, &to).unwrap();
            (from, to)
        })
        .collect()
}

/// The manifest digest HEAD's seal states, read from the note as written (`show`
/// would read the objects).
fn sealed_digest(repo: &TestRepo<'_>) -> String {
    let seal: serde_norway::Value = serde_norway::from_str(&repo.note("HEAD").unwrap()).unwrap();
    seal["manifest"]["digest"].as_str().unwrap().to_string()
}

/// The first seal reads a file from the checkout when its bytes have the blob's id,
/// and reads the object store for every file that differs from its blob in any way
/// the index does or does not notice: the seal is the objects' manifest either way.
fn first_seal_reads_the_checkout_only_where_it_holds_the_blob(init: &[&str]) {
    let sb = Sandbox::new();
    let (repo, expected) = checkout_repo(&sb, "r", init, 80);
    let p = |i: usize| format!("d{}/f{i:03}.txt", i % 4);
    let at = |i: usize| repo.path.join(p(i));
    // Same size, other bytes: only the id tells.
    let same_size = std::fs::read(at(1))
        .unwrap()
        .iter()
        .map(|b| b ^ 1)
        .collect::<Vec<u8>>();
    std::fs::write(at(1), same_size).unwrap();
    std::fs::write(at(2), "another size\n").unwrap();
    std::fs::remove_file(at(3)).unwrap();
    std::fs::remove_file(at(4)).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(at(4))
        .status()
        .unwrap();
    assert!(fifo.success());
    std::fs::remove_file(at(5)).unwrap();
    std::os::unix::fs::symlink(p(6).replace("d2/", "../d2/"), at(5)).unwrap();
    std::fs::remove_file(at(7)).unwrap();
    std::fs::create_dir(at(7)).unwrap();
    repo.git(&["update-index", "--skip-worktree", &p(8)]).ok();
    std::fs::write(
        at(8),
        std::fs::read(at(8))
            .unwrap()
            .iter()
            .map(|b| b ^ 2)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    // The untouched files' objects are gone: a seal that still comes out right read
    // them from the checkout.
    let untouched: Vec<String> = (10..80).map(p).collect();
    let taken = take_blobs(&repo, &untouched);
    let r = repo.seal(&["seal", "HEAD"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(sealed_digest(&repo), expected);
    // A check never reads the checkout: with the objects gone, verify cannot pass.
    let v = repo.seal(&["verify", "--no-cache"]);
    assert_ne!(
        v.code(),
        0,
        "verify passed without the objects: {}",
        v.stdout()
    );
    for (from, to) in taken {
        std::fs::rename(to, from).unwrap();
    }
    repo.seal(&["verify", "--no-cache"]).ok();
}

#[test]
fn a_first_seal_reads_the_checkout_only_where_it_holds_the_blob() {
    first_seal_reads_the_checkout_only_where_it_holds_the_blob(&[]);
}

#[test]
fn a_first_seal_in_a_sha256_repository_reads_the_checkout_by_its_sha256_ids() {
    first_seal_reads_the_checkout_only_where_it_holds_the_blob(&["--object-format=sha256"]);
}
