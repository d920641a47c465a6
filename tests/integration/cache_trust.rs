//! The manifest cache as an attacker sees it: post-commit derives from the nearest
//! ancestor this machine holds a manifest of (not only the parent), and what it
//! derives must equal the manifest computed from scratch; an entry rewritten on disk
//! (CRC-32 made right, as a poisoned CI cache would be) never becomes a wrong seal;
//! `verify --no-cache` reads nothing of the cache.

use std::path::PathBuf;

use crate::harness::{Sandbox, TestRepo};

/// More files than `cache::CACHE_MIN_FILES`, so manifests are cached; a symlink, an
/// executable and a submodule among them. Committed with the hooks on: sealed, and
/// its manifest stored whole (computed by a whole walk).
fn cached_repo(sb: &Sandbox) -> TestRepo<'_> {
    let sub = sb.init("sub", &[]);
    sub.commit_file("s.txt", "sub\n", "sub");
    let repo = sb.installed("r");
    for i in 0..2_100 {
        repo.write(
            &format!("bulk/{:02}/f{i:04}.txt", i % 37),
            &format!("{i}\n"),
        );
    }
    repo.write("run.sh", "#!/bin/sh\n");
    std::os::unix::fs::symlink("bulk/00/f0000.txt", repo.path.join("link")).unwrap();
    repo.add_submodule("sub", "modules/sub");
    repo.git(&["add", "-A"]).ok();
    repo.git(&["commit", "-q", "-m", "bulk"]).ok();
    assert!(
        repo.note("HEAD").is_some(),
        "post-commit sealed the first commit"
    );
    repo
}

fn cache(repo: &TestRepo<'_>, store: &str, rev: &str) -> PathBuf {
    let tree = repo.rev(&format!("{rev}^{{tree}}"));
    repo.path.join(".git/seal/cache").join(store).join(tree)
}

/// The problem codes `verify --no-cache --json REV` reports: its manifests computed
/// from the objects alone, by a whole walk.
fn problems_from_scratch(repo: &TestRepo<'_>, rev: &str) -> Vec<String> {
    let out = repo.seal(&["verify", "--no-cache", "--json", rev]);
    assert!(out.code() <= 1, "{}", out.stderr());
    let report: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

/// Rewrites one entry's SHA-256 in the cached whole manifest of `rev`'s tree and
/// makes its CRC-32 right again: only something that does not trust the file can
/// tell.
fn poison_manifest(repo: &TestRepo<'_>, rev: &str) {
    let path = cache(repo, "manifests", rev);
    let bytes = std::fs::read(&path).unwrap();
    let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
    let (header, body) = (
        String::from_utf8(bytes[..nl].to_vec()).unwrap(),
        &bytes[nl + 1..],
    );
    let mut body = body.to_vec();
    // `<mode> <64 hex> …`: the first hex digit of the first entry.
    body[7] = if body[7] == b'0' { b'1' } else { b'0' };
    let crc = header.rsplit_once("crc32=").unwrap().0;
    let header = format!("{crc}crc32={:08x}\n", crc32fast::hash(&body));
    std::fs::write(&path, [header.as_bytes(), &body].concat()).unwrap();
}

#[test]
fn post_commit_after_unsealed_parents_derives_what_a_whole_walk_computes() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    assert!(cache(&repo, "manifests", "HEAD").exists());
    // Commits made with the hooks off (as if fetched from someone without git-seal):
    // a rename, a mode change, a new symlink, a symlink retargeted, a submodule
    // moved to another commit, a deletion, a file becoming a directory.
    let hooks_off = |args: &[&str]| repo.git_hooks_off(args).ok();
    hooks_off(&["mv", "bulk/01/f0001.txt", "renamed.txt"]);
    hooks_off(&["commit", "-q", "-m", "rename"]);
    hooks_off(&["update-index", "--chmod=+x", "run.sh"]);
    hooks_off(&["commit", "-q", "-m", "mode"]);
    std::os::unix::fs::symlink("renamed.txt", repo.path.join("link2")).unwrap();
    std::fs::remove_file(repo.path.join("link")).unwrap();
    std::os::unix::fs::symlink("bulk/02/f0002.txt", repo.path.join("link")).unwrap();
    hooks_off(&["add", "-A"]);
    hooks_off(&["commit", "-q", "-m", "symlinks"]);
    let sub = repo.path.join("modules/sub");
    std::fs::write(sub.join("s.txt"), "sub 2\n").unwrap();
    repo.cmd(
        "git",
        &["-C", sub.to_str().unwrap(), "commit", "-q", "-am", "s2"],
    )
    .output()
    .unwrap();
    hooks_off(&["add", "modules/sub"]);
    hooks_off(&["commit", "-q", "-m", "submodule"]);
    hooks_off(&["rm", "-q", "bulk/03/f0003.txt"]);
    hooks_off(&["commit", "-q", "-m", "delete"]);
    hooks_off(&["rm", "-q", "bulk/04/f0004.txt"]);
    repo.write("bulk/04/f0004.txt/inside", "a directory now\n");
    hooks_off(&["add", "-A"]);
    hooks_off(&["commit", "-q", "-m", "file to dir"]);
    assert!(repo.note("HEAD").is_none());

    // With the hooks on again: post-commit seals HEAD (and only HEAD, as documented).
    let head = repo.commit_file("last.txt", "last\n", "hooks on again");
    assert!(repo.note(&head).is_some(), "post-commit sealed HEAD");
    assert!(repo.note("HEAD~1").is_none(), "post-commit seals HEAD only");
    // Derived: stored as the changes from the first commit's whole manifest, which
    // only a derivation records (a whole walk stores its manifest whole).
    assert!(
        cache(&repo, "deltas", "HEAD").exists() && !cache(&repo, "manifests", "HEAD").exists(),
        "post-commit derived HEAD's manifest from the cached ancestor's"
    );
    // The same digest as the whole walk: only the unsealed parent is said.
    assert_eq!(problems_from_scratch(&repo, "HEAD"), ["unsealed_parent"]);
}

#[test]
fn a_rewritten_cache_entry_never_becomes_a_wrong_seal() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    // The parent's cached manifest rewritten: post-commit must not derive from it.
    poison_manifest(&repo, "HEAD");
    repo.commit_file("bulk/00/f0000.txt", "changed\n", "sealed parent");
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    // The same through the search past an unsealed parent: that manifest was
    // computed whole (nothing vouched for a base), so it is stored whole.
    assert!(cache(&repo, "manifests", "HEAD").exists());
    poison_manifest(&repo, "HEAD");
    repo.commit_unsealed("unsealed.txt", "unsealed");
    repo.commit_file("after.txt", "after\n", "after an unsealed parent");
    assert_eq!(problems_from_scratch(&repo, "HEAD"), ["unsealed_parent"]);
}

/// Rewrites the totals in the header of `rev`'s cached whole manifest, its canonical
/// bytes and their CRC-32 left as they were: the bytes still hash to what the seal
/// states, only the file count and byte total lie.
fn poison_totals(repo: &TestRepo<'_>, rev: &str) {
    let path = cache(repo, "manifests", rev);
    let bytes = std::fs::read(&path).unwrap();
    let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
    let header = String::from_utf8(bytes[..nl].to_vec()).unwrap();
    let mut fields: Vec<String> = header.split(' ').map(str::to_string).collect();
    for field in &mut fields {
        for name in ["files=", "bytes="] {
            if let Some(n) = field.strip_prefix(name) {
                *field = format!("{name}{}", n.parse::<u64>().unwrap() + 7);
            }
        }
    }
    let header = fields.join(" ");
    std::fs::write(&path, [header.as_bytes(), &bytes[nl..]].concat()).unwrap();
}

#[test]
fn a_cached_manifest_whose_totals_lie_never_becomes_a_seal_with_wrong_totals() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    poison_totals(&repo, "HEAD");
    // A sealed parent (derived from it, or walked) and a delta over it.
    repo.commit_file("bulk/00/f0000.txt", "changed\n", "sealed parent");
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    repo.commit_file("bulk/01/f0001.txt", "changed\n", "and its child");
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    // And a backfill from it.
    poison_totals(&repo, "HEAD~2");
    repo.commit_unsealed("one.txt", "one");
    repo.commit_unsealed("two.txt", "two");
    repo.seal(&["seal", "--missing"]).ok();
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
}

#[test]
fn a_vouched_base_is_derived_from_and_a_rewritten_one_walked_in_a_backfill_too() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    let bulk = repo.rev("HEAD");
    // An honest sealed parent: post-commit derives (a delta), and the seal holds.
    repo.commit_file("bulk/00/f0000.txt", "changed\n", "sealed parent");
    assert!(
        cache(&repo, "deltas", "HEAD").exists() && !cache(&repo, "manifests", "HEAD").exists(),
        "post-commit derived from the vouched parent"
    );
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    // The whole manifest under the parent's delta rewritten: walked whole.
    poison_manifest(&repo, &bulk);
    let walked = repo.commit_file(
        "bulk/01/f0001.txt",
        "changed\n",
        "delta over a rewritten root",
    );
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    assert!(cache(&repo, "manifests", &walked).exists(), "walked whole");
    // A backfill (a run over a history, whose bases are kept whole) from a
    // rewritten cached manifest of the last sealed commit.
    poison_manifest(&repo, &walked);
    repo.commit_unsealed("one.txt", "one");
    repo.commit_unsealed("two.txt", "two");
    repo.seal(&["seal", "--missing"]).ok();
    assert_eq!(problems_from_scratch(&repo, "HEAD"), Vec::<String>::new());
    assert_eq!(problems_from_scratch(&repo, "HEAD~1"), Vec::<String>::new());
}

#[test]
fn verify_no_cache_reads_nothing_the_cache_says() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    repo.seal(&["verify", "HEAD"]).ok();
    let tree = repo.rev("HEAD^{tree}");
    let journal = repo.path.join(".git/seal/cache/digests/journal");
    let entry = std::fs::read_to_string(&journal).unwrap();
    let mut fields = entry
        .lines()
        .rev()
        .find(|l| l.starts_with(&tree))
        .expect("verify remembered HEAD's digest")
        .split(' ')
        .skip(1);
    let honest = fields.next().unwrap().to_string();
    let files: u64 = fields.next().unwrap().parse().unwrap();
    let bytes: u64 = fields.next().unwrap().parse().unwrap();
    let other = format!("sha256:{}", "ab".repeat(32));
    // Appended last, a line that names the tree again wins.
    let poison = || {
        let line = git_seal::cache::journal_line(&tree, &(other.clone(), files, bytes));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
    };

    // A remembered digest that disagrees with a valid seal is recomputed first: a
    // damaged cache does not fail a valid commit.
    poison();
    repo.seal(&["verify", "HEAD"]).ok();
    repo.seal(&["verify", "--no-cache", "HEAD"]).ok();

    // A seal that lies about its manifest, and a cache poisoned to agree with it:
    // the cache is trusted as this machine's own work (documented), `--no-cache`
    // recomputes the manifest from the objects and catches it.
    assert_eq!(repo.sealed_manifest_digest("HEAD"), honest);
    repo.forge_seal("HEAD", |seal| {
        seal["manifest"]["digest"] = other.clone().into()
    });
    poison();
    repo.seal(&["verify", "HEAD"]).ok();
    assert_eq!(problems_from_scratch(&repo, "HEAD"), ["manifest_mismatch"]);
    // Without the poisoned entry the default verify catches it too.
    std::fs::remove_file(&journal).unwrap();
    let out = repo.seal(&["verify", "--json", "HEAD"]).fails_with(1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(report["problems"][0]["code"], "manifest_mismatch");
}

#[test]
fn sealing_hooks_remember_digests_in_one_journal_not_a_file_per_tree() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    for i in 0..3 {
        repo.commit_file(
            &format!("bulk/00/f000{i}.txt"),
            &format!("edit {i}\n"),
            "edit",
        );
    }
    let digests = repo.path.join(".git/seal/cache/digests");
    let names: Vec<_> = std::fs::read_dir(&digests)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["journal"]);
    let journal = std::fs::read_to_string(digests.join("journal")).unwrap();
    let trees: Vec<_> = journal
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let expected: Vec<_> = (0..4)
        .rev()
        .map(|n| repo.rev(&format!("HEAD~{n}^{{tree}}")))
        .collect();
    assert_eq!(trees, expected, "one line per sealed commit, in order");
    for l in journal.lines() {
        let (tree, rest) = l.split_once(' ').unwrap();
        let fields: Vec<&str> = rest.split(' ').collect();
        let summary = (
            fields[0].to_string(),
            fields[1].parse().unwrap(),
            fields[2].parse().unwrap(),
        );
        assert_eq!(
            format!("{l}\n"),
            git_seal::cache::journal_line(tree, &summary)
        );
    }
    repo.seal(&["verify", "--all"]).ok();
}

/// A journal past its size hands its older half to a digest pack, so a repository
/// sealed commit by commit keeps every digest it computed.
#[test]
fn a_full_journal_moves_its_older_digests_into_a_pack() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    let journal = repo.path.join(".git/seal/cache/digests/journal");
    let summary = (format!("sha256:{}", "cd".repeat(32)), 7u64, 70u64);
    let fake = |n: usize| format!("{n:040x}");
    let mut body = std::fs::read_to_string(&journal).unwrap();
    let mut n = 1;
    while body.len() < 300 << 10 {
        body.push_str(&git_seal::cache::journal_line(&fake(n), &summary));
        n += 1;
    }
    std::fs::write(&journal, body).unwrap();
    repo.commit_file("bulk/00/f0000.txt", "again\n", "one more");
    let (_, _, records) = repo.only_digest_pack();
    let packed: std::collections::BTreeSet<String> =
        records.chunks(68).map(|r| hex::encode(&r[..20])).collect();
    let kept = std::fs::read_to_string(&journal).unwrap();
    assert!(kept.len() <= 128 << 10, "{}", kept.len());
    for tree in (1..n).map(fake).chain([repo.rev("HEAD~1^{tree}")]) {
        assert!(
            packed.contains(&tree) != kept.contains(&tree),
            "{tree}: in the pack or the journal, once"
        );
    }
    assert!(kept.contains(&repo.rev("HEAD^{tree}")));
    repo.seal(&["verify", "--all"]).ok();
}

/// Documents written from a commit's manifest (a tag seal here; rollback records,
/// run records and exports take the same path) never state a cached manifest no
/// seal vouches for: a rewritten entry, CRC made right, costs time only.
#[test]
fn a_tag_seal_over_a_poisoned_cached_manifest_states_the_true_one() {
    let sb = Sandbox::new();
    let repo = cached_repo(&sb);
    repo.commit_file("bulk/00/f0000.txt", "edit\n", "edit");
    assert!(cache(&repo, "manifests", "HEAD~1").exists());
    poison_manifest(&repo, "HEAD~1");
    repo.git(&["tag", "-a", "v1", "-m", "v1", "HEAD~1"]).ok();
    repo.seal(&["verify", "--no-cache", "v1"]).ok();
    // Sealing the tag walked the tree and cached it again: poisoned once more.
    poison_manifest(&repo, "HEAD~1");
    repo.seal(&["export", "HEAD~1", "--out", "exported"]).ok();
    repo.git(&["checkout", "-q", "HEAD~1"]).ok();
    let sums = std::fs::read_dir(repo.path.join("exported/checksums"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a checksum file");
    assert_checkout_matches(&repo, &sums);

    // A snapshot of HEAD, whose cached delta sits on a poisoned whole root: the
    // checksums it freezes in the ledger are the checkout's.
    repo.git(&["checkout", "-q", "main"]).ok();
    poison_manifest(&repo, "HEAD~1");
    let out = repo.seal(&["snapshot", "rel"]).ok().stdout();
    let tag = out
        .split_whitespace()
        .find(|w| w.starts_with("snapshot/rel@"))
        .unwrap_or_else(|| panic!("the snapshot's tag: {out}"))
        .trim_end_matches(':');
    let frozen = repo.git_out(&[
        "show",
        &format!("refs/notes/seal:snapshots/{tag}/CHECKSUMS.sha256"),
    ]);
    std::fs::write(repo.path.join("frozen.sha256"), format!("{frozen}\n")).unwrap();
    assert_checkout_matches(&repo, &repo.path.join("frozen.sha256"));
}

/// `sha256sum -c` of `sums` in the checkout passes.
fn assert_checkout_matches(repo: &TestRepo<'_>, sums: &std::path::Path) {
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet"])
        .arg(sums)
        .current_dir(&repo.path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
