//! The ledger against a hostile pusher and a hostile fetched ledger: real bare servers
//! gated with `git seal install --server`, hostile ledgers built with git plumbing
//! (mktree, commit-tree, update-ref). Each test is one attack: the refusal, its
//! message, and the untouched state are asserted.

use crate::harness::{run_with_stdin, Run, Sandbox, TestRepo};

/// A bare server gated by git-seal.
fn gated_server<'s>(sb: &'s Sandbox, name: &str) -> TestRepo<'s> {
    let server = sb.init(name, &["--bare"]);
    server.seal(&["install", "--server"]).ok();
    server
}

/// A clone of `server` with git-seal installed and its own identity.
fn clone<'s>(sb: &'s Sandbox, server: &TestRepo<'_>, name: &str) -> TestRepo<'s> {
    let mut cmd = sb.command("git", sb.path());
    cmd.args(["clone", "-q", server.path.to_str().unwrap(), name]);
    Run {
        out: cmd.output().unwrap(),
    }
    .ok();
    let repo = sb.at(sb.path().join(name));
    repo.git(&["config", "user.name", "Sam Sealer"]).ok();
    repo.git(&["config", "user.email", "sam@example.com"]).ok();
    repo.install();
    repo
}

/// A gated server and a client whose sealed `main` and ledger it already holds.
fn served<'s>(sb: &'s Sandbox) -> (TestRepo<'s>, TestRepo<'s>) {
    let server = gated_server(sb, "server.git");
    let client = clone(sb, &server, "client");
    client.commit_file("a", "1", "first");
    client.commit_file("a", "2", "second");
    client.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(server.rev("refs/notes/seal"), client.rev("refs/notes/seal"));
    (server, client)
}

/// `git mktree` of raw `ls-tree` lines.
fn mktree(repo: &TestRepo<'_>, lines: &[String]) -> String {
    let mut input = lines.join("\n");
    input.push('\n');
    if lines.is_empty() {
        input.clear();
    }
    run_with_stdin(repo.cmd("git", &["mktree", "--missing"]), input.as_bytes())
        .ok()
        .stdout()
        .trim()
        .to_string()
}

fn ls_tree(repo: &TestRepo<'_>, tree: &str) -> Vec<String> {
    repo.git_out(&["ls-tree", tree])
        .lines()
        .map(str::to_string)
        .collect()
}

fn name_of(line: &str) -> &str {
    line.split_once('\t').map(|(_, n)| n).unwrap_or_default()
}

/// `tree` with the entry at `path` replaced by `entry` ("<mode> <type> <id>"), added,
/// or removed (`None`), writing the trees on the way.
fn edit_tree(repo: &TestRepo<'_>, tree: Option<&str>, path: &str, entry: Option<&str>) -> String {
    let mut lines = tree.map(|t| ls_tree(repo, t)).unwrap_or_default();
    let (first, rest) = match path.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    let existing = lines.iter().position(|l| name_of(l) == first);
    let new_line = match rest {
        None => entry.map(|e| format!("{e}\t{first}")),
        Some(rest) => {
            let sub = existing.map(|i| lines[i].split_whitespace().nth(2).unwrap().to_string());
            let sub = edit_tree(repo, sub.as_deref(), rest, entry);
            (!ls_tree(repo, &sub).is_empty()).then(|| format!("040000 tree {sub}\t{first}"))
        }
    };
    if let Some(i) = existing {
        lines.remove(i);
    }
    lines.extend(new_line);
    mktree(repo, &lines)
}

/// Points the client's ledger at a commit of `tree` on top of its tip (a fast-forward
/// built with plumbing).
fn forge_ledger(repo: &TestRepo<'_>, tree: &str) -> String {
    let tip = repo.rev("refs/notes/seal");
    let commit = repo.git_out(&["commit-tree", tree, "-p", &tip, "-m", "forged"]);
    repo.git(&["update-ref", "refs/notes/seal", &commit]).ok();
    commit
}

fn ledger_tree(repo: &TestRepo<'_>) -> String {
    repo.rev("refs/notes/seal^{tree}")
}

fn blob(repo: &TestRepo<'_>, content: &str) -> String {
    run_with_stdin(
        repo.cmd("git", &["hash-object", "-w", "--stdin"]),
        content.as_bytes(),
    )
    .ok()
    .stdout()
    .trim()
    .to_string()
}

/// Pushes the client's ledger, skipping its own pre-push: only the server decides.
fn push_ledger(repo: &TestRepo<'_>) -> Run {
    repo.git(&["push", "-q", "--no-verify", "origin", "refs/notes/seal"])
}

/// The push is refused with `why`, and the server's ledger is still `before`.
#[track_caller]
fn refused(server: &TestRepo<'_>, client: &TestRepo<'_>, before: &str, why: &str) {
    let r = push_ledger(client).fails_with(1);
    r.stderr_has(why);
    r.stderr_has("is append-only");
    assert_eq!(
        server.rev("refs/notes/seal"),
        before,
        "the server's ledger moved"
    );
}

#[test]
fn a_fast_forward_that_deletes_a_tag_seal_is_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    client.git(&["tag", "v1"]).ok();
    client.seal(&["push"]).ok();
    let before = server.rev("refs/notes/seal");
    assert!(
        client
            .git(&["cat-file", "-e", "refs/notes/seal:tags/v1"])
            .code()
            == 0
    );
    let tree = edit_tree(&client, Some(&ledger_tree(&client)), "tags", None);
    forge_ledger(&client, &tree);
    refused(&server, &client, &before, "the update removes tags/v1/");
}

#[test]
fn a_fast_forward_that_rewrites_a_snapshot_file_is_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    client.seal(&["snapshot", "rel", "-m", "release"]).ok();
    client.seal(&["push"]).ok();
    let before = server.rev("refs/notes/seal");
    let snapshots = client.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        "snapshots",
    ]);
    let checksums = snapshots
        .lines()
        .find(|p| p.ends_with("CHECKSUMS.sha256"))
        .expect("a frozen checksum file")
        .to_string();
    let forged = blob(&client, "0000  a\n");
    let entry = format!("100644 blob {forged}");
    let tree = edit_tree(
        &client,
        Some(&ledger_tree(&client)),
        &checksums,
        Some(&entry),
    );
    forge_ledger(&client, &tree);
    refused(
        &server,
        &client,
        &before,
        &format!("the update changes {checksums}"),
    );
}

#[test]
fn an_uppercase_note_that_takes_over_a_seal_is_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    let before = server.rev("refs/notes/seal");
    let head = client.rev("HEAD");
    // The seal moves to an uppercase name: a reader that folds case still sees it, one
    // that does not finds no seal. And beside the real one, a forged seal in upper case.
    let mut lines = ls_tree(&client, &ledger_tree(&client));
    let note = lines.iter().position(|l| name_of(l) == head).unwrap();
    let moved = lines[note].replace(&head, &head.to_uppercase());
    lines[note] = moved;
    forge_ledger(&client, &mktree(&client, &lines));
    refused(
        &server,
        &client,
        &before,
        &format!("{}: not a note", head.to_uppercase()),
    );

    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let forged = blob(&client, "schema: git-seal/seal/v1\n");
    let mut lines = ls_tree(&client, &ledger_tree(&client));
    lines.push(format!("100644 blob {forged}\t{}", head.to_uppercase()));
    forge_ledger(&client, &mktree(&client, &lines));
    refused(
        &server,
        &client,
        &before,
        "not a note (lowercase hex commit id)",
    );
}

#[test]
fn a_note_at_two_fanout_depths_is_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    let before = server.rev("refs/notes/seal");
    let head = client.rev("HEAD");
    // The flat note stays; a second one for the same commit under `ab/`, which a reader
    // that looks fanned-out first would take.
    let forged = blob(&client, "schema: git-seal/seal/v1\nforged: true\n");
    let path = format!("{}/{}", &head[..2], &head[2..]);
    let entry = format!("100644 blob {forged}");
    let tree = edit_tree(&client, Some(&ledger_tree(&client)), &path, Some(&entry));
    forge_ledger(&client, &tree);
    refused(
        &server,
        &client,
        &before,
        "holds notes both flat and fanned out",
    );
}

#[test]
fn symlink_and_gitlink_entries_are_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    let before = server.rev("refs/notes/seal");
    let target = blob(&client, "/etc/passwd");
    let root = ledger_tree(&client);
    let tree = edit_tree(
        &client,
        Some(&root),
        "runs/r1.json",
        Some(&format!("120000 blob {target}")),
    );
    forge_ledger(&client, &tree);
    refused(&server, &client, &before, "runs/r1.json: has mode 120000");

    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let commit = client.rev("HEAD");
    let tree = edit_tree(
        &client,
        Some(&root),
        "tags/v1/sub",
        Some(&format!("160000 commit {commit}")),
    );
    forge_ledger(&client, &tree);
    refused(&server, &client, &before, "tags/v1/sub: has mode 160000");

    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let tree = edit_tree(
        &client,
        Some(&root),
        "tags/v1/run.sh",
        Some(&format!("100755 blob {target}")),
    );
    forge_ledger(&client, &tree);
    refused(&server, &client, &before, "tags/v1/run.sh: has mode 100755");
}

#[test]
fn unknown_top_level_names_and_unsafe_names_are_refused() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    let before = server.rev("refs/notes/seal");
    let root = ledger_tree(&client);
    let readme = blob(&client, "hello");
    let entry = format!("100644 blob {readme}");
    forge_ledger(
        &client,
        &edit_tree(&client, Some(&root), "README", Some(&entry)),
    );
    refused(&server, &client, &before, "README: not a note");

    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let path = "rollbacks/$(touch pwned).yaml";
    forge_ledger(
        &client,
        &edit_tree(&client, Some(&root), path, Some(&entry)),
    );
    refused(
        &server,
        &client,
        &before,
        "has a name outside the ledger's set",
    );

    // A short, not-quite note name at the top.
    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    forge_ledger(
        &client,
        &edit_tree(&client, Some(&root), "abc123", Some(&entry)),
    );
    refused(&server, &client, &before, "abc123: not a note");
}

#[test]
fn moving_notes_into_fanout_subtrees_keeps_them_and_is_accepted() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    // Every note moves into its 2-hex subtree, each with its own blob: no seal changes.
    let mut tree = ledger_tree(&client);
    for line in ls_tree(&client, &tree) {
        let name = name_of(&line).to_string();
        if name.len() == 40 {
            let entry = line.split_once('\t').unwrap().0.to_string();
            tree = edit_tree(&client, Some(&tree), &name, None);
            let path = format!("{}/{}", &name[..2], &name[2..]);
            tree = edit_tree(&client, Some(&tree), &path, Some(&entry));
        }
    }
    let forged = forge_ledger(&client, &tree);
    push_ledger(&client).ok();
    assert_eq!(server.rev("refs/notes/seal"), forged);
    server.git(&["notes", "--ref=seal", "show", "main"]).ok();
    // Moving one back flat beside fanned ones mixes the level: refused.
    let head = client.rev("HEAD");
    let entry = ls_tree(&client, &format!("{tree}:{}", &head[..2]))[0]
        .split_once('\t')
        .unwrap()
        .0
        .to_string();
    let mixed = edit_tree(&client, Some(&tree), &head, Some(&entry));
    forge_ledger(&client, &mixed);
    refused(
        &server,
        &client,
        &forged,
        "holds notes both flat and fanned out",
    );
}

#[test]
fn changing_a_seal_is_refused_unless_the_old_one_is_kept_in_alternates() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    let before = server.rev("refs/notes/seal");
    let head = client.rev("HEAD");
    let old = client.git_out(&["rev-parse", &format!("refs/notes/seal:{head}")]);
    let other = blob(&client, "schema: git-seal/seal/v1\nother: true\n");
    let root = ledger_tree(&client);
    let swapped = edit_tree(
        &client,
        Some(&root),
        &head,
        Some(&format!("100644 blob {other}")),
    );
    forge_ledger(&client, &swapped);
    refused(
        &server,
        &client,
        &before,
        &format!("changes the seal of {}", &head[..7]),
    );
    // Kept under a name that is not its own id: not canonical, refused.
    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let wrong = edit_tree(
        &client,
        Some(&swapped),
        &format!("alternates/{head}/{other}"),
        Some(&format!("100644 blob {old}")),
    );
    forge_ledger(&client, &wrong);
    refused(
        &server,
        &client,
        &before,
        "is not alternates/<commit id>/<its own blob id>",
    );
    // Kept at alternates/<commit>/<old blob>: both seals are there; accepted.
    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let kept = edit_tree(
        &client,
        Some(&swapped),
        &format!("alternates/{head}/{old}"),
        Some(&format!("100644 blob {old}")),
    );
    let tip = forge_ledger(&client, &kept);
    push_ledger(&client).ok();
    assert_eq!(server.rev("refs/notes/seal"), tip);
    // The valid seal kept aside still verifies the commit on the server's ledger.
    let fresh = clone(&sb, &server, "fresh");
    fresh.seal(&["fetch"]).ok();
    fresh.seal(&["verify", "main"]).ok();
}

#[test]
fn verify_flags_a_local_ledger_that_is_not_canonical() {
    let sb = Sandbox::new();
    let repo = sb.installed("repo");
    repo.commit_file("a", "1", "first");
    repo.seal(&["verify"])
        .ok()
        .stdout_has("ok: 1 commit(s) verified");
    let readme = blob(&repo, "hello");
    let tree = edit_tree(
        &repo,
        Some(&ledger_tree(&repo)),
        "README",
        Some(&format!("100644 blob {readme}")),
    );
    forge_ledger(&repo, &tree);
    let r = repo.seal(&["verify"]).fails_with(1);
    r.stdout_has("ledger refs/notes/seal: not canonical: README: not a note");
    r.stderr_has("hint: the ledger was written by something other than git-seal");
    let json = repo.seal(&["verify", "--json"]).fails_with(1).stdout();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["ok"], false);
    // Each entry as values: where, a stable code, and the wording.
    assert_eq!(doc["ledger"][0]["path"], "README");
    assert_eq!(doc["ledger"][0]["code"], "unknown_top_level");
    assert!(doc["ledger"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not a note"));
}

/// A remote nobody gates (where a hostile ledger can sit), and a sealed `victim`
/// clone of it whose ledger it holds.
fn open_remote<'s>(sb: &'s Sandbox) -> (TestRepo<'s>, TestRepo<'s>) {
    let remote = sb.init("open.git", &["--bare"]);
    let victim = clone(sb, &remote, "victim");
    victim.commit_file("a", "1", "first");
    victim.commit_file("a", "2", "second");
    victim.git(&["push", "-q", "origin", "main"]).ok();
    (remote, victim)
}

/// A clone that takes the remote's ledger as its own, to rewrite it.
fn attacker<'s>(sb: &'s Sandbox, remote: &TestRepo<'_>) -> TestRepo<'s> {
    let mallory = clone(sb, remote, "mallory");
    mallory
        .git(&["fetch", "-q", "origin", "+refs/notes/seal:refs/notes/seal"])
        .ok();
    mallory
}

#[test]
fn a_fetched_ledger_descending_from_ours_that_changes_our_seal_keeps_ours() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let head = victim.rev("HEAD");
    let ours = victim.note("HEAD").unwrap();
    // Mallory rewrites the seal of HEAD in a fast-forward of the ledger.
    let mallory = attacker(&sb, &remote);
    mallory.tamper_seal("HEAD", |s| s.replace("Ada Author", "Mallory"));
    mallory
        .git(&["push", "-q", "--no-verify", "origin", "refs/notes/seal"])
        .ok();
    let ours_tip = victim.rev("refs/notes/seal");
    mallory
        .git(&["merge-base", "--is-ancestor", &ours_tip, "refs/notes/seal"])
        .ok();
    victim.seal(&["fetch"]).ok();
    assert_eq!(
        victim.note("HEAD").unwrap(),
        ours,
        "the local seal keeps its slot"
    );
    let theirs = mallory.git_out(&["rev-parse", &format!("refs/notes/seal:{head}")]);
    let kept = victim.git_out(&[
        "cat-file",
        "-p",
        &format!("refs/notes/seal:alternates/{head}/{theirs}"),
    ]);
    crate::harness::assert_has(&kept, "Mallory");
    // The hostile seal beside it never makes the commit fail.
    victim.seal(&["verify", "HEAD~1..HEAD"]).ok();
    // The local ledger did not take theirs wholesale: a merge commit with both parents.
    let parents = victim.git_out(&["rev-list", "--parents", "-1", "refs/notes/seal"]);
    assert_eq!(parents.split_whitespace().count(), 3, "{parents}");
}

#[test]
fn a_fetched_ledger_that_is_not_canonical_is_not_merged() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let before = victim.rev("refs/notes/seal");
    let mallory = attacker(&sb, &remote);
    let head = mallory.rev("HEAD");
    let root = ledger_tree(&mallory);
    let mut lines = ls_tree(&mallory, &root);
    let forged = blob(&mallory, "schema: git-seal/seal/v1\n");
    lines.push(format!("100644 blob {forged}\t{}", head.to_uppercase()));
    forge_ledger(&mallory, &mktree(&mallory, &lines));
    mallory
        .git(&["push", "-q", "--no-verify", "origin", "refs/notes/seal"])
        .ok();
    let r = victim.seal(&["fetch"]).fails_with(1);
    r.stderr_has("is not canonical");
    r.stderr_has("not merged");
    assert_eq!(
        victim.rev("refs/notes/seal"),
        before,
        "the local ledger moved"
    );
}

#[test]
fn diverged_ledgers_merge_into_the_union() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let other = clone(&sb, &remote, "other");
    other.git(&["config", "user.name", "Olga"]).ok();
    other.git(&["fetch", "-q", "origin"]).ok();
    // Both seal new commits, and both seal one shared commit independently.
    let shared = victim.commit_unsealed("s", "shared");
    victim
        .git(&["push", "-q", "--no-verify", "origin", "main"])
        .ok();
    other
        .git(&["pull", "-q", "--no-rebase", "origin", "main"])
        .ok();
    victim.seal(&["seal", &shared]).ok();
    // Who seals follows git's committer identity (GIT_COMMITTER_* first).
    let mut olga = other.cmd(crate::harness::SEAL, &["seal", &shared]);
    olga.env("GIT_COMMITTER_NAME", "Olga");
    assert!(olga.output().unwrap().status.success());
    let ours = victim.note(&shared).unwrap();
    assert_ne!(ours, other.note(&shared).unwrap());
    let mine = victim.commit_file("v", "1", "victim's");
    other.git(&["checkout", "-q", "-b", "o"]).ok();
    let theirs = other.commit_file("o", "1", "other's");
    other.seal(&["push"]).ok();
    other.git(&["push", "-q", "origin", "o"]).ok();
    victim.seal(&["fetch"]).ok();
    victim.git(&["fetch", "-q", "origin"]).ok();
    assert_eq!(
        victim.note(&shared).unwrap(),
        ours,
        "the local seal keeps its slot"
    );
    assert!(victim.note(&mine).is_some() && victim.note(&theirs).is_some());
    victim.seal(&["verify", &shared, &mine, &theirs]).ok();
    let alternates = victim.git_out(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/notes/seal",
        "alternates",
    ]);
    assert_eq!(alternates.lines().count(), 1, "{alternates}");
}

#[test]
fn a_rewound_remote_loses_no_seal_that_was_fetched() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let other = clone(&sb, &remote, "other");
    other.git(&["fetch", "-q", "origin"]).ok();
    let before = remote.rev("refs/notes/seal");
    let pulled = other.commit_file("b", "1", "pulled");
    other.git(&["push", "-q", "origin", "main"]).ok();
    // A plain pull: the ledger comes with it and is merged for good.
    victim.git(&["pull", "-q"]).ok();
    assert_eq!(victim.rev("HEAD"), pulled);
    // The remote's ledger is rewound (someone with access to it), and fetched again.
    remote.git(&["update-ref", "refs/notes/seal", &before]).ok();
    victim.git(&["fetch", "-q", "origin"]).ok();
    assert_eq!(victim.rev("refs/seal/remotes/origin/seal"), before);
    victim.seal(&["verify", "HEAD"]).ok();
    assert!(
        victim.note("HEAD").is_some(),
        "the pulled seal left the local ledger"
    );
}

#[test]
fn git_log_shows_the_seal_of_a_pulled_commit() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let other = clone(&sb, &remote, "other");
    other.git(&["pull", "-q"]).ok();
    other.commit_file("b", "1", "pulled");
    other.git(&["push", "-q", "origin", "main"]).ok();
    victim.git(&["pull", "-q"]).ok();
    let log = victim.git_out(&["log", "--show-notes=seal", "-1"]);
    crate::harness::assert_has(&log, "schema: git-seal/seal/v1");
}

#[test]
fn the_reference_transaction_hook_absorbs_a_fetched_ledger() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let other = clone(&sb, &remote, "other");
    other.git(&["pull", "-q"]).ok();
    let pulled = other.commit_file("b", "1", "pulled");
    other.git(&["push", "-q", "origin", "main"]).ok();
    // A fetch with hooks off: the seal is only in the tracking ref.
    victim.git_hooks_off(&["fetch", "-q", "origin"]).ok();
    assert!(victim.note(&pulled).is_none());
    let tracking = victim.rev("refs/seal/remotes/origin/seal");
    let line = format!(
        "{} {tracking} refs/seal/remotes/origin/seal\n",
        "0".repeat(40)
    );
    run_with_stdin(
        victim.cmd(
            crate::harness::SEAL,
            &["hook", "reference-transaction", "committed"],
        ),
        line.as_bytes(),
    )
    .ok();
    assert!(victim.note(&pulled).is_some(), "the hook merged nothing");
}

#[test]
fn pulling_from_one_remote_then_pushing_to_a_gated_one_carries_the_seals() {
    let sb = Sandbox::new();
    let (remote, victim) = open_remote(&sb);
    let other = clone(&sb, &remote, "other");
    let gated = gated_server(&sb, "gated.git");
    // Sealed after the clone's install fetched the ledger, and brought by a fetch
    // (and a fast-forward) that ran no hook: only pre-push can merge its seals.
    victim.commit_file("a", "3", "third");
    victim.git(&["push", "-q", "origin", "main"]).ok();
    other.git_hooks_off(&["fetch", "-q", "origin"]).ok();
    other
        .git_hooks_off(&["merge", "-q", "--ff-only", "origin/main"])
        .ok();
    assert!(other.note("HEAD").is_none());
    other
        .git(&["remote", "add", "gated", gated.path.to_str().unwrap()])
        .ok();
    other.git(&["push", "-q", "gated", "main"]).ok();
    assert_eq!(gated.rev("main"), other.rev("main"));
    assert!(gated.note("main").is_some() && gated.note("main~1").is_some());
}

#[test]
fn a_shared_run_record_is_append_only_and_one_level_deep() {
    let sb = Sandbox::new();
    let (server, client) = served(&sb);
    client.write("out.csv", "1\n");
    client
        .seal(&[
            "run", "--share", "--name", "export", "--output", "out.csv", "--", "touch", "out.csv",
        ])
        .ok();
    client.seal(&["push"]).ok();
    let before = server.rev("refs/notes/seal");
    let path = client
        .git_out(&["ls-tree", "-r", "--name-only", "refs/notes/seal", "runs"])
        .lines()
        .next()
        .expect("a shared run record")
        .to_string();
    // Rewriting it (say, FAILED into SUCCESS) is refused by the server.
    let forged = blob(&client, "{}\n");
    let entry = format!("100644 blob {forged}");
    let tree = edit_tree(&client, Some(&ledger_tree(&client)), &path, Some(&entry));
    forge_ledger(&client, &tree);
    refused(
        &server,
        &client,
        &before,
        &format!("the update changes {path}"),
    );
    // So is adding one below a subdirectory of runs/.
    client.git(&["update-ref", "refs/notes/seal", &before]).ok();
    let tree = edit_tree(
        &client,
        Some(&ledger_tree(&client)),
        "runs/x/01900000-0000-7000-8000-000000000001.json",
        Some(&entry),
    );
    forge_ledger(&client, &tree);
    refused(&server, &client, &before, "is not runs/<run id>.json");
}
