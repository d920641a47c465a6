//! verify compares every field a seal claims with what it seals: each test forges a
//! field the way a hostile ledger would, with the seal's digest made right, so only
//! the comparison under test can catch it.

use std::path::Path;

use crate::harness::{assert_has, run_with_stdin, Sandbox, TestRepo};

fn sealed_repo(sb: &Sandbox) -> TestRepo<'_> {
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_file("b", "22\n", "second");
    repo
}

/// The seal of `rev` as JSON.
fn seal_of(repo: &TestRepo<'_>, rev: &str) -> serde_json::Value {
    serde_norway::from_str(&repo.note(rev).unwrap()).unwrap()
}

/// Rewrites the seal note of `rev` by `edit`, with its digest recomputed.
fn forge(repo: &TestRepo<'_>, rev: &str, edit: impl Fn(&mut serde_json::Value)) {
    repo.forge_seal(rev, edit);
}

#[test]
fn every_claimed_field_is_compared_with_the_commit() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.seal(&["verify", "HEAD"]).ok();
    let honest = repo.note("HEAD").unwrap();
    let time = seal_of(&repo, "HEAD")["author"]["time"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(&str, serde_json::Value, String)> = vec![
        (
            "/author/name",
            "Mallory".into(),
            "author name mismatch: seal states Mallory, commit has Ada Author".into(),
        ),
        (
            "/author/email",
            "m@evil.example".into(),
            "author email mismatch: seal states m@evil.example".into(),
        ),
        (
            "/author/time",
            "2020-01-01T00:00:00+00:00".into(),
            format!(
                "author time mismatch: seal states 2020-01-01T00:00:00+00:00, commit has {time}"
            ),
        ),
        (
            "/committer/name",
            "Mallory".into(),
            "committer name mismatch: seal states Mallory".into(),
        ),
        (
            "/committer/email",
            "m@evil.example".into(),
            "committer email mismatch: seal states m@evil.example".into(),
        ),
        (
            "/committer/time",
            "2020-01-01T00:00:00+00:00".into(),
            "committer time mismatch: seal states 2020-01-01T00:00:00+00:00".into(),
        ),
        (
            "/manifest/files",
            7.into(),
            "manifest file count mismatch: seal states 7, tree has 2".into(),
        ),
        (
            "/manifest/bytes",
            999.into(),
            "manifest byte total mismatch: seal states 999, tree has 5".into(),
        ),
        (
            "/kind",
            "tag".into(),
            "seal is of kind tag, not commit".into(),
        ),
    ];
    let short = &repo.rev("HEAD")[..7];
    for (pointer, value, line) in cases {
        forge(&repo, "HEAD", |s| {
            *s.pointer_mut(pointer).unwrap() = value.clone()
        });
        for extra in [&[][..], &["--no-cache"][..]] {
            let mut args = vec!["verify", "HEAD"];
            args.extend_from_slice(extra);
            let r = repo.seal(&args).fails_with(1);
            r.stdout_has(format!("{short} second: {line}"));
            assert!(
                !r.stdout().contains("digest mismatch"),
                "{pointer}: {}",
                r.stdout()
            );
        }
        repo.git(&["notes", "--ref=seal", "add", "-f", "-m", &honest, "HEAD"])
            .ok();
        repo.seal(&["verify", "HEAD"]).ok();
    }
}

#[test]
fn a_time_in_another_offset_is_a_mismatch() {
    // The same instant written with another offset is not what the commit records.
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let time = seal_of(&repo, "HEAD")["author"]["time"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(time.ends_with("+00:00"), "{time}");
    let shifted = time.replace("+00:00", "Z");
    forge(&repo, "HEAD", |s| {
        s["author"]["time"] = shifted.clone().into()
    });
    repo.seal(&["verify", "HEAD"])
        .fails_with(1)
        .stdout_has(format!("author time mismatch: seal states {shifted}"));
}

fn ledger_tip(repo: &TestRepo<'_>) -> String {
    repo.rev("refs/notes/seal")
}

/// Moves the ledger to a commit of its tree as `edit` leaves it in an index.
fn ledger_edit(repo: &TestRepo<'_>, edit: impl Fn(&Path)) {
    let tip = ledger_tip(repo);
    let index = repo.path.join(".git/forge-index");
    let mut read = repo.cmd("git", &["read-tree", &tip]);
    read.env("GIT_INDEX_FILE", &index);
    run_with_stdin(read, b"").ok();
    edit(&index);
    let mut write = repo.cmd("git", &["write-tree"]);
    write.env("GIT_INDEX_FILE", &index);
    let tree = run_with_stdin(write, b"").ok().stdout();
    let commit = repo.git_out(&["commit-tree", tree.trim(), "-p", &tip, "-m", "forged"]);
    repo.git(&["update-ref", "refs/notes/seal", &commit]).ok();
    std::fs::remove_file(&index).unwrap();
}

#[test]
fn a_tag_seal_stored_under_another_tag_is_refused() {
    // v1's valid seal, copied under tags/v2/ in place of v2's: both tags name the
    // same commit, so only the tag name tells them apart.
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git(&["tag", "v1"]).ok();
    repo.git(&["tag", "v2"]).ok();
    repo.seal(&["verify", "v2"]).ok();
    let tip = ledger_tip(&repo);
    let path_of = |tag: &str| {
        repo.git_out(&[
            "ls-tree",
            "-r",
            "--name-only",
            &tip,
            &format!("tags/{tag}/"),
        ])
    };
    let (v1, v2) = (path_of("v1"), path_of("v2"));
    assert!(!v1.is_empty() && !v2.is_empty() && !v1.contains('\n'));
    let blob = repo.rev(&format!("{tip}:{v1}"));
    ledger_edit(&repo, |index| {
        let mut rm = repo.cmd("git", &["update-index", "--force-remove", &v2]);
        rm.env("GIT_INDEX_FILE", index);
        run_with_stdin(rm, b"").ok();
        let entry = format!("100644,{blob},{}", v1.replacen("tags/v1/", "tags/v2/", 1));
        let mut add = repo.cmd("git", &["update-index", "--add", "--cacheinfo", &entry]);
        add.env("GIT_INDEX_FILE", index);
        run_with_stdin(add, b"").ok();
    });
    let r = repo.seal(&["verify", "v2"]).fails_with(1);
    r.stdout_has("tag v2: tag seal names tag v1, not this one");
    repo.seal(&["verify", "v1"]).ok();
    assert_has(&r.stdout(), "v2");
}

#[test]
fn a_null_parent_seal_over_an_unsealed_parent_fails_plain_verify() {
    // The parent is committed with hooks off, its child sealed: the child's seal says
    // null for it. Checking the child alone must not say ok over that hole.
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let parent = repo.commit_unsealed("b", "unsealed");
    repo.commit_file("c", "3\n", "child");
    assert_eq!(
        seal_of(&repo, "HEAD")["parent_seals"][0],
        serde_json::Value::Null
    );
    let r = repo.seal(&["verify"]).fails_with(1);
    r.stdout_has(format!(
        "child: parent {} has no seal (the seal's parent_seals entry is null)",
        &parent[..7]
    ));
    assert!(!r.stdout().contains("ok:"), "{}", r.stdout());
    r.stderr_has("hint: seal what has no seal with: git seal seal --missing");
    let j = repo.seal(&["verify", "--json"]).fails_with(1);
    let v: serde_json::Value = serde_json::from_str(&j.stdout()).unwrap();
    assert_eq!(v["ok"], false);
}

#[test]
fn a_parent_sealed_after_its_child_is_a_warning_not_a_whole_chain() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let parent = repo.commit_unsealed("b", "unsealed");
    repo.commit_file("c", "3\n", "child");
    repo.seal(&["seal", "--missing"]).ok();
    assert!(repo.note(&parent).is_some());
    let r = repo.seal(&["verify"]).ok();
    r.stdout_has(format!(
        "warning: {} child: chain not linked: parent {} was sealed after its child",
        &repo.rev("HEAD")[..7],
        &parent[..7]
    ));
    r.stdout_has("ok: 1 commit(s) verified, 1 warning(s) above");
    r.stderr_has("hint: a child sealed before its parent");
    let j = repo.seal(&["verify", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout()).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
    // A chain whose links are all made says nothing of the kind.
    let linked = repo.seal(&["verify", "HEAD~1"]).ok();
    assert!(!linked.stdout().contains("warning"), "{}", linked.stdout());
}

#[test]
fn force_refuses_a_seal_that_verifies_and_keeps_the_one_it_replaces() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let honest = repo.note("HEAD~1").unwrap();
    let ledger = repo.rev("refs/notes/seal");
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["seal", "--force", "HEAD~1"];
        args.extend_from_slice(extra);
        let r = repo.seal(&args).fails_with(1);
        r.stderr_has(format!(
            "error: seal --force refused: the seal of {} verifies",
            &repo.rev("HEAD~1")[..7]
        ));
        r.stderr_has(format!(
            "hint: --force replaces only a seal that fails: git seal verify {}",
            repo.rev("HEAD~1")
        ));
    }
    assert_eq!(
        repo.rev("refs/notes/seal"),
        ledger,
        "a refused --force wrote"
    );
    assert_eq!(repo.note("HEAD~1").unwrap(), honest);
    repo.seal(&["verify", "HEAD~1..HEAD"]).ok();

    // A seal that does not verify is replaced, and the old one kept at alternates/.
    forge(&repo, "HEAD~1", |s| s["manifest"]["files"] = 9.into());
    let broken = repo.git_out(&["notes", "--ref=seal", "list", "HEAD~1"]);
    repo.seal(&["seal", "--force", "HEAD~1", "--dry-run"])
        .ok()
        .stdout_has("would seal");
    repo.seal(&["seal", "--force", "HEAD~1"]).ok();
    repo.seal(&["verify", "HEAD~1"]).ok();
    let kept = repo.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        &format!("alternates/{}/", repo.rev("HEAD~1")),
    ]);
    assert_has(&kept, &broken);
}

#[test]
fn a_tag_named_head_does_not_change_what_verify_head_checks() {
    // A pushed refs/tags/HEAD at an older, valid commit: HEAD is still HEAD, as in git.
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let old = repo.rev("HEAD~1");
    repo.git(&["update-ref", "refs/tags/HEAD", &old]).ok();
    repo.tamper_seal("HEAD", |s| s.replace("Ada Author", "Mallory"));
    let git = repo.git(&["rev-parse", "HEAD"]).ok();
    assert_eq!(
        git.stdout().trim(),
        repo.git_out(&["rev-parse", "refs/heads/main"])
    );
    git.stderr_has("warning: refname 'HEAD' is ambiguous.");
    for args in [&["verify", "HEAD"][..], &["verify"][..]] {
        let r = repo.seal(args).fails_with(1);
        r.stdout_has(format!(
            "{} second: seal digest mismatch",
            &repo.rev("refs/heads/main")[..7]
        ));
        assert!(!r.stdout().contains("tag HEAD"), "{}", r.stdout());
    }
    repo.seal(&["verify", "HEAD"])
        .fails_with(1)
        .stderr_has("warning: refname 'HEAD' is ambiguous.");
}

#[test]
fn a_tag_and_a_branch_of_one_name_resolve_as_git_resolves_them() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let (first, second) = (repo.rev("HEAD~1"), repo.rev("HEAD"));
    repo.git(&["tag", "v1", &first]).ok();
    repo.git(&["update-ref", "refs/heads/v1", &second]).ok();
    repo.tamper_seal(&second, |s| s.replace("Ada Author", "Mallory"));
    // git takes the tag: so does verify, which checks it as a tag, and warns alike.
    let git = repo.git(&["rev-parse", "v1^{commit}"]).ok();
    assert_eq!(git.stdout().trim(), first);
    let r = repo.seal(&["verify", "v1"]).ok();
    r.stdout_has("1 tag(s) verified");
    r.stderr_has("warning: refname 'v1' is ambiguous.");
    // The branch, named in full, is the branch.
    repo.seal(&["verify", "refs/heads/v1"])
        .fails_with(1)
        .stdout_has(format!("{} second: seal digest mismatch", &second[..7]));
    repo.seal(&["verify", "heads/v1"]).fails_with(1);
}

/// The SHA-256 the manifest lists for `path` at HEAD.
fn manifest_hash(repo: &TestRepo<'_>, path: &str) -> String {
    let sums = repo
        .seal(&["manifest", "HEAD", "--format", "sha256sum"])
        .ok()
        .stdout();
    let line = sums
        .lines()
        .find(|l| l.ends_with(&format!("  {path}")))
        .unwrap_or_else(|| panic!("{path} not in:\n{sums}"));
    line.split(' ').next().unwrap().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn replaced_objects_are_sealed_as_the_id_holds_them_not_as_git_replace_shows() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.commit_file("f", "real\n", "real content");
    let real = repo.rev("HEAD:f");
    let mut hash = repo.cmd("git", &["hash-object", "-w", "--stdin"]);
    hash.arg("--no-filters");
    let fake = run_with_stdin(hash, b"fake\n")
        .ok()
        .stdout()
        .trim()
        .to_string();
    repo.git(&["replace", &real, &fake]).ok();
    assert_eq!(
        repo.git_out(&["cat-file", "blob", &real]),
        "fake",
        "git honours it"
    );
    assert_eq!(manifest_hash(&repo, "f"), sha256_hex(b"real\n"));
    repo.seal(&["verify", "--no-cache"]).ok();
    // A commit made while the replacement stands is sealed with the real content too.
    repo.commit_file("g", "1\n", "after replace");
    assert_eq!(manifest_hash(&repo, "f"), sha256_hex(b"real\n"));
    repo.seal(&["verify", "--no-cache", "HEAD~1..HEAD"]).ok();
}

#[test]
fn a_big_blob_packed_and_loose_with_two_contents_is_read_as_git_reads_it() {
    // Over the 32 MiB streaming threshold, so git-seal streams it through git.
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let size = (33 << 20) + 5;
    let packed: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let loose: Vec<u8> = (0..size).map(|i| (i % 239) as u8).collect();
    let mut hash = repo.cmd("git", &["hash-object", "-w", "--stdin", "--no-filters"]);
    hash.arg("--literally");
    let oid = run_with_stdin(hash, &packed)
        .ok()
        .stdout()
        .trim()
        .to_string();
    let pack = repo.cmd("git", &["pack-objects", "-q", ".git/objects/pack/pack"]);
    run_with_stdin(pack, format!("{oid}\n").as_bytes()).ok();
    // Overwrite the loose copy with other content under the same id.
    let path = repo
        .path
        .join(format!(".git/objects/{}/{}", &oid[..2], &oid[2..]));
    std::fs::remove_file(&path).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    use std::io::Write;
    z.write_all(format!("blob {size}\0").as_bytes()).unwrap();
    z.write_all(&loose).unwrap();
    std::fs::write(&path, z.finish().unwrap()).unwrap();
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{oid},big"),
    ])
    .ok();
    repo.git(&["commit", "-q", "-m", "big"]).ok();
    // git 2.47 reads the packed copy, git 2.55 the loose one (its packed stream
    // serves only objects over core.bigFileThreshold): git-seal hashes whichever the
    // git on PATH reads, which is what `git checkout` writes.
    let git_reads = repo.git(&["cat-file", "blob", &oid]).ok().out.stdout;
    assert_eq!(git_reads.len(), size);
    assert!(git_reads == packed || git_reads == loose);
    crate::harness::report(&format!(
        "{} reads the {} copy of a blob stored twice; git-seal agrees",
        crate::harness::git_ran_on(),
        if git_reads == packed {
            "packed"
        } else {
            "loose"
        }
    ));
    let expected = sha256_hex(&git_reads);
    assert_eq!(manifest_hash(&repo, "big"), expected);
    repo.seal(&["verify", "--no-cache"]).ok();
}

#[test]
fn a_held_writer_lock_costs_a_commit_what_seal_max_retries_allows() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git(&["config", "seal.maxRetries", "0"]).ok();
    let lock = repo.path.join(".git/seal/ledger.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // `flock FILE cat` holds the lock until its standard input closes.
    let mut holder = repo
        .cmd("flock", &[lock.to_str().unwrap(), "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the lock is held.
    let held = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        repo.cmd("flock", &["-n", lock.to_str().unwrap(), "true"])
            .status()
            .is_ok_and(|s| !s.success())
    });
    assert!(held, "the lock was never held");
    let start = std::time::Instant::now();
    repo.write("c", "4\n");
    repo.git(&["add", "c"]).ok();
    let r = repo.git(&["commit", "-q", "-m", "while locked"]).ok();
    let took = start.elapsed();
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(
        took < std::time::Duration::from_secs(8),
        "commit took {took:?}"
    );
    r.stderr_has("warning: git-seal");
    r.stderr_has("200 ms");
    assert!(repo.note("HEAD").is_none());
    repo.seal(&["seal", "--missing"]).ok();
    repo.seal(&["verify"]).ok();
}

#[test]
fn notes_rewrite_ref_copying_the_old_seal_onto_an_amended_commit_does_not_stop_sealing() {
    // git copies the old commit's note onto the amended one: concatenated onto the
    // seal post-commit wrote (the default rewriteMode), or in its place (overwrite).
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    for (rewrite_ref, mode) in [
        ("refs/notes/seal", "concatenate"),
        ("refs/notes/*", "overwrite"),
    ] {
        repo.git(&["config", "notes.rewriteRef", rewrite_ref]).ok();
        repo.git(&["config", "notes.rewriteMode", mode]).ok();
        let old = repo.rev("HEAD");
        let old_blob = repo.git_out(&["notes", "--ref=seal", "list", &old]);
        repo.git(&[
            "commit",
            "-q",
            "--amend",
            "-m",
            &format!("amended ({mode})"),
        ])
        .ok();
        let new = repo.rev("HEAD");
        assert_ne!(old, new);
        let seal = seal_of(&repo, "HEAD");
        assert_eq!(
            seal["commit"],
            new.as_str(),
            "{mode}: the note is not HEAD's seal"
        );
        repo.seal(&["verify", "--no-cache"]).ok();
        // What git copied is kept, not lost.
        let kept = repo.git_out(&[
            "ls-tree",
            "-r",
            "--name-only",
            "refs/notes/seal",
            &format!("alternates/{new}/"),
        ]);
        assert!(!kept.is_empty(), "{mode}: the copied note was dropped");
        if mode == "overwrite" {
            assert_has(&kept, &old_blob);
        }
    }
}

#[test]
fn a_blobless_partial_clone_fetches_note_blobs_and_seals() {
    let sb = Sandbox::new();
    let up = sealed_repo(&sb);
    up.git(&["config", "uploadpack.allowFilter", "true"]).ok();
    up.git(&["config", "uploadpack.allowAnySHA1InWant", "true"])
        .ok();
    let url = format!("file://{}", up.path.display());
    let mut clone = sb.command("git", sb.path());
    clone.args(["clone", "-q", "--filter=blob:none", &url, "cl"]);
    assert!(clone.status().unwrap().success());
    let cl = sb.at(sb.path().join("cl"));
    cl.git(&["config", "user.name", "Sam Sealer"]).ok();
    cl.git(&["config", "user.email", "sam@example.com"]).ok();
    cl.install();
    cl.seal(&["fetch"]).ok();
    let parent = cl.rev("HEAD");
    let note_blob = cl.git_out(&["notes", "--ref=seal", "list", &parent]);
    // The note blob is missing here, as in every blobless clone, until it is read.
    let missing = cl.git_out(&[
        "rev-list",
        "--objects",
        "--missing=print",
        "refs/notes/seal",
    ]);
    assert_has(&missing, format!("?{note_blob}"));
    let r = cl
        .git(&[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "in the partial clone",
        ])
        .ok();
    assert!(!r.stderr().contains("warning"), "{}", r.stderr());
    let seal = seal_of(&cl, "HEAD");
    assert_eq!(seal["commit"], cl.rev("HEAD").as_str());
    assert_eq!(
        seal["parent_seals"][0],
        seal_of(&up, &parent)["digest"],
        "the chain is linked to the fetched seal"
    );
    cl.seal(&["verify", "HEAD~1..HEAD"]).ok();
}
