//! Repository formats git is moving to: refs in reftable (`git init
//! --ref-format=reftable`, git ≥ 2.45), which libgit2 cannot read, so git-seal reads
//! and moves every ref there through `git`. SHA-256 object ids: sha256.rs.

use crate::harness::{require_git, Sandbox, TestRepo};

fn reftable<'s>(sb: &'s Sandbox, name: &str) -> TestRepo<'s> {
    let repo = sb.init(name, &["--ref-format=reftable"]);
    assert_eq!(
        repo.git_out(&["rev-parse", "--show-ref-format"]),
        "reftable"
    );
    repo
}

#[test]
fn reftable_commits_of_every_shape_are_sealed_verified_and_tampering_is_found() {
    if !require_git(2, 45) {
        return;
    }
    let sb = Sandbox::new();
    let repo = reftable(&sb, "r");
    repo.install();
    let base = repo.commit_file("a", "1", "base");
    repo.git(&["checkout", "-q", "-b", "side"]).ok();
    repo.commit_file("b", "1", "side");
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.commit_file("c", "1", "main");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge", "side"])
        .ok();
    repo.git(&["commit", "-q", "--amend", "-m", "merge, amended"])
        .ok();
    for rev in [base.as_str(), "HEAD", "HEAD^1", "HEAD^2"] {
        assert!(repo.note(rev).is_some(), "{rev} not sealed");
    }
    assert!(
        !repo.path.join(".git/refs/notes").exists(),
        "the ledger went into reftable, not a loose ref"
    );
    repo.seal(&["verify", "main", "side", "HEAD~1..HEAD"]).ok();
    repo.seal(&["status"])
        .ok()
        .stdout_has("branch: 4 sealed, 0 unsealed commit(s)");

    // Unsealed, then backfilled, through a range.
    let bare = repo.commit_unsealed("d", "hooks off");
    repo.seal(&["verify"]).fails_with(1);
    repo.seal(&["seal", &format!("{base}..HEAD")]).ok();
    assert!(repo.note(&bare).is_some());

    repo.tamper_seal("HEAD", |s| s.replace("Cy Committer", "Eve"));
    repo.seal(&["verify"]).fails_with(1);
}

#[test]
fn reftable_export_passes_sha256sum_and_tags_are_sealed() {
    if !require_git(2, 45) {
        return;
    }
    let sb = Sandbox::new();
    let repo = reftable(&sb, "r");
    repo.install();
    repo.commit_file("dir/a file", "content\n", "one");
    let id = repo.commit_file("b", "two\n", "two");
    let out = sb.path().join("export");
    repo.seal(&["export", "HEAD", "--out", out.to_str().unwrap()])
        .ok();
    let sums = out.join(format!("checksums/CHECKSUMS-{id}.sha256"));
    repo.cmd("sha256sum", &["-c", "--strict", sums.to_str().unwrap()])
        .status()
        .map(|s| assert!(s.success(), "sha256sum -c failed"))
        .unwrap();

    repo.git(&["tag", "-a", "v1", "-m", "release"]).ok();
    repo.git(&["tag", "light"]).ok();
    repo.seal(&["verify", "v1", "light"]).ok();
    repo.seal(&["show", "v1"]).ok();
    // A tag moved past its seal is found.
    repo.commit_file("b", "three\n", "three");
    repo.git_hooks_off(&["tag", "-f", "v1"]).ok();
    repo.seal(&["verify", "v1"])
        .fails_with(1)
        .stdout_has("tag v1: tag moved");
    // A snapshot is a tag ref written through git, and rollback finds it.
    repo.seal(&["snapshot", "s1"]).ok();
    let tags = repo.git_out(&["tag", "--list", "snapshot/*"]);
    assert!(tags.starts_with("snapshot/s1@"), "{tags}");
    repo.seal(&["verify", &tags]).ok();
}

#[test]
fn reftable_push_to_a_gated_reftable_server_is_refused_unsealed_and_accepted_sealed() {
    if !require_git(2, 45) {
        return;
    }
    let sb = Sandbox::new();
    let server = sb.init("server.git", &["--bare", "--ref-format=reftable"]);
    server.seal(&["install", "--server"]).ok();
    let made = sb
        .command("git", sb.path())
        .args([
            "clone",
            "-q",
            "--ref-format=reftable",
            "server.git",
            "client",
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let client = sb.at(sb.path().join("client"));
    assert_eq!(
        client.git_out(&["rev-parse", "--show-ref-format"]),
        "reftable",
        "the client keeps its refs in reftable too"
    );
    push_is_refused_unsealed_and_accepted_sealed(&sb, &server, &client);
}

#[test]
fn reftable_ledger_compare_and_swap_loses_no_seal_under_concurrent_writers() {
    if !require_git(2, 45) {
        return;
    }
    let sb = Sandbox::new();
    let repo = reftable(&sb, "r");
    let mut commits = Vec::new();
    for i in 0..12 {
        commits.push(repo.commit_unsealed(&format!("f{i}"), &format!("c{i}")));
    }
    // Parents first: the first seals the chain's root, the rest race for the ledger.
    repo.seal(&["seal", &commits[0]]).ok();
    let children: Vec<_> = commits[1..]
        .iter()
        .map(|c| {
            repo.cmd(crate::harness::SEAL, &["seal", c])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for c in &commits {
        assert!(repo.note(c).is_some(), "seal of {c} lost");
    }
    repo.seal(&["verify", &format!("{}..HEAD", commits[0])])
        .ok();
    // The ledger only moved forward: its history holds every append.
    let appends = repo.git_out(&["rev-list", "--count", "refs/notes/seal"]);
    assert!(appends.parse::<usize>().unwrap() >= 2, "{appends}");
}

/// A client of a gated server (`install --server`), of any format: a sealed push
/// lands with its ledger, an unsealed one is refused by pre-push and, past
/// `--no-verify`, by pre-receive, and once sealed it lands; a fresh clone then fetches
/// the seals and verifies.
pub fn push_is_refused_unsealed_and_accepted_sealed(
    sb: &Sandbox,
    server: &TestRepo<'_>,
    client: &TestRepo<'_>,
) {
    client.git(&["config", "user.name", "Sam Sealer"]).ok();
    client
        .git(&["config", "user.email", "sam@example.com"])
        .ok();
    client.install();
    client.commit_file("a", "1\n", "sealed");
    client.git(&["push", "-q", "origin", "main"]).ok();
    assert!(server.note("main").is_some(), "the ledger went along");

    let bad = client.commit_unsealed("b", "hooks off");
    client
        .git(&["push", "-q", "origin", "main"])
        .fails_with(1)
        .stderr_has("push refused");
    client
        .git(&["push", "-q", "--no-verify", "origin", "main"])
        .fails_with(1)
        .stderr_has("pre-receive");
    assert_ne!(server.rev("main"), bad);
    client.seal(&["seal", "--missing"]).ok();
    client.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("main"), bad);
    // The seals come back by fetch, into the fetched-ledger ref (reftable too).
    let other = sb.clone("server.git", "other");
    other.install();
    other.seal(&["fetch"]).ok();
    other.seal(&["verify", "main"]).ok();
}
