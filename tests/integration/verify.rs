//! Tampering is caught and named; bad input gets one clear error and exit 2.

use crate::harness::{assert_has, Sandbox, TestRepo};

fn sealed_repo(sb: &Sandbox) -> TestRepo<'_> {
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    repo.commit_file("a", "2\n", "second");
    repo.commit_file("b", "3\n", "third");
    repo
}

#[test]
fn edited_seal_fails_with_digest_mismatch() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.tamper_seal("HEAD", |s| s.replace("Ada Author", "Mallory"));
    let r = repo.seal(&["verify", "HEAD"]).fails_with(1);
    let short = &repo.rev("HEAD")[..7];
    r.stdout_has(format!("{short} third: seal digest mismatch"));
}

#[test]
fn seal_pointing_at_another_tree_is_named() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let other = repo.rev("HEAD~1^{tree}");
    let real = repo.rev("HEAD^{tree}");
    repo.tamper_seal("HEAD", |s| s.replace(&real, &other));
    let r = repo.seal(&["verify", "HEAD"]).fails_with(1);
    r.stdout_has(format!("seal names tree {other}, commit has {real}"));
}

#[test]
fn manifest_digest_that_does_not_match_the_tree_is_named() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let mine: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "HEAD", "--json"]).ok().stdout()).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&repo.seal(&["show", "HEAD~1", "--json"]).ok().stdout()).unwrap();
    let (d1, d2) = (
        mine["manifest"]["digest"].as_str().unwrap(),
        theirs["manifest"]["digest"].as_str().unwrap(),
    );
    repo.tamper_seal("HEAD", |s| s.replace(d1, d2));
    for extra in [&[][..], &["--no-cache"][..]] {
        let mut args = vec!["verify", "HEAD"];
        args.extend_from_slice(extra);
        let r = repo.seal(&args).fails_with(1);
        r.stdout_has(format!(
            "manifest mismatch: seal states {d2}, tree hashes to {d1}"
        ));
    }
}

#[test]
fn dropped_parent_seal_breaks_the_chain() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.git(&["notes", "--ref=seal", "remove", "HEAD~1"]).ok();
    let r = repo.seal(&["verify", "HEAD~2..HEAD"]).fails_with(1);
    let parent = &repo.rev("HEAD~1")[..7];
    let out = r.stdout();
    assert_has(&out, format!("{parent} second: no seal"));
    assert_has(
        &out,
        format!("broken parent chain: parent {parent} has no seal"),
    );
    r.stderr_has("hint: ");
    // --json names the same problems
    let j = repo
        .seal(&["verify", "HEAD~2..HEAD", "--json"])
        .fails_with(1);
    let v: serde_json::Value = serde_json::from_str(&j.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn unknown_schema_major_is_refused_clearly() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.tamper_seal("HEAD", |s| {
        s.replace("git-seal/seal/v1", "git-seal/seal/v9")
    });
    let r = repo.seal(&["verify"]).fails_with(1);
    r.stdout_has("unknown schema 'git-seal/seal/v9'");
}

#[test]
fn worktree_check_names_changed_files() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.seal(&["verify", "--worktree"]).ok();
    repo.write("a", "changed\n");
    std::fs::remove_file(repo.path.join("b")).unwrap();
    let r = repo.seal(&["verify", "--worktree"]).fails_with(1);
    r.stdout_has("worktree a: modified");
    r.stdout_has("worktree b: missing");
}

#[test]
fn bad_input_is_one_clear_error_with_exit_2() {
    let sb = Sandbox::new();
    // not a repository
    let plain = sb.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let r = sb.at(&plain).seal(&["status"]).fails_with(2);
    assert!(
        r.stderr().starts_with("error: ") && r.stderr().contains("is not a git repository"),
        "{}",
        r.stderr()
    );
    r.stderr_has("\nhint: ");

    // unborn branch
    let repo = sb.init("r", &[]);
    let r = repo.seal(&["seal"]).fails_with(2);
    r.stderr_has("nothing to seal: the current branch has no commits yet");

    // unknown revision
    repo.commit_file("a", "1", "first");
    let r = repo.seal(&["show", "no-such-rev"]).fails_with(2);
    assert_eq!(
        r.stderr(),
        "error: unknown revision 'no-such-rev'\nhint: name a commit, branch or tag that exists: git log --oneline\n"
    );
    repo.seal(&["verify", "nope..HEAD"]).fails_with(2);

    // corrupt YAML in a note
    repo.git(&[
        "notes",
        "--ref=seal",
        "add",
        "-f",
        "-m",
        "schema: [unclosed",
        "HEAD",
    ])
    .ok();
    let r = repo.seal(&["show", "HEAD"]).fails_with(2);
    r.stderr_has("cannot be read: seal is not valid YAML");
    r.stderr_has("hint: replace it with a fresh seal: git seal seal --force");
    let r = repo.seal(&["seal", "HEAD"]).fails_with(2);
    r.stderr_has("is not a readable seal");
    repo.seal(&["verify"]).fails_with(1);
    repo.seal(&["seal", "--force", "HEAD"]).ok();
    repo.seal(&["verify"]).ok();

    // usage
    repo.seal(&["frobnicate"]).fails_with(2);
    // no seal at all is a failed check
    repo.commit_file("a", "2", "second (no hooks here, so unsealed)");
    let r = repo.seal(&["show", "HEAD"]).fails_with(1);
    r.stderr_has("has no seal\nhint: seal it: git seal seal HEAD");
}

#[test]
fn shallow_clones_seal_what_the_commit_records() {
    let sb = Sandbox::new();
    let src = sb.init("src", &[]);
    for i in 0..4 {
        src.commit_file("f", &i.to_string(), &format!("c{i}"));
    }
    let url = format!("file://{}", src.path.display());
    let mut cmd = sb.command("git", sb.path());
    cmd.args(["clone", "-q", "--depth", "2", &url, "shallow"]);
    assert!(cmd.output().unwrap().status.success());
    let shallow = sb.at(sb.path().join("shallow"));
    shallow.git(&["config", "user.name", "Sam Sealer"]).ok();
    shallow
        .git(&["config", "user.email", "sam@example.com"])
        .ok();
    shallow.install();
    shallow.commit_file("f", "4", "c4");
    shallow.seal(&["seal", "--missing"]).ok();
    shallow.seal(&["verify", "HEAD~2..HEAD"]).ok();
    // The boundary commit's seal names the parent the commit records, although the
    // shallow clone does not have it ...
    let boundary: serde_json::Value =
        serde_json::from_str(&shallow.seal(&["show", "HEAD~2", "--json"]).ok().stdout()).unwrap();
    assert_eq!(boundary["parents"][0], src.rev("HEAD~2"));
    assert_eq!(boundary["parent_seals"], serde_json::json!([null]));
    // ... so a full clone, given those seals, finds them valid.
    src.git(&[
        "fetch",
        "-q",
        shallow.path.to_str().unwrap(),
        "+refs/notes/seal:refs/notes/seal",
    ])
    .ok();
    src.git(&[
        "fetch",
        "-q",
        shallow.path.to_str().unwrap(),
        "main:from-shallow",
    ])
    .ok();
    src.seal(&["verify", "HEAD~1..from-shallow"]).ok();
}

#[test]
fn blob_rewritten_under_its_old_id_is_a_manifest_mismatch() {
    // git trusts its object store and reads the forged content without complaint;
    // the seal's SHA-256 manifest, independent of SHA-1, does not.
    use std::io::Write;
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    let id = repo.rev("HEAD:b");
    let object = repo.path.join(".git/objects").join(&id[..2]).join(&id[2..]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"blob 2\x004\n").unwrap();
    std::fs::remove_file(&object).unwrap();
    std::fs::write(&object, z.finish().unwrap()).unwrap();
    assert_eq!(repo.git_out(&["cat-file", "-p", &id]), "4");

    let short = &repo.rev("HEAD")[..7];
    for args in [&["verify", "HEAD"][..], &["verify", "--no-cache", "HEAD"]] {
        let r = repo.seal(args).fails_with(1);
        r.stdout_has(format!("{short} third: manifest mismatch"));
        r.stderr_has("git fsck");
    }
    let fsck = repo.git(&["fsck", "--no-dangling"]);
    assert_ne!(fsck.code(), 0, "git fsck found nothing: {}", fsck.stderr());
}

#[test]
fn the_hint_fits_the_gravest_problem() {
    let sb = Sandbox::new();
    let repo = sealed_repo(&sb);
    repo.commit_unsealed("c", "unsealed");
    let r = repo.seal(&["verify"]).fails_with(1);
    r.stderr_has("hint: seal what has no seal with: git seal seal --missing");
    repo.tamper_seal("HEAD~1", |s| s.replace("Ada Author", "Mallory"));
    let r = repo.seal(&["verify", "HEAD~2..HEAD"]).fails_with(1);
    r.stderr_has(format!("git seal show {}", &repo.rev("HEAD~1")[..7]));
}
