//! Runs over long histories (`history`): a backfill or full verify of at least
//! `history::FEED_MIN_COMMITS` commits reads the store through git (blobs hashed in
//! pack order, changes from `git diff-tree --stdin`) and must seal exactly what the
//! commit-by-commit path computes, for every shape a tree change can take.

use std::fmt::Write as _;

use crate::harness::{run_with_stdin, Sandbox, TestRepo};

/// Enough commits for a run to read the store whole (`FEED_MIN_COMMITS` is 2,000).
const LONG: usize = 2_100;
/// Commits of the first-parent line at which the check splits the history, so that
/// each part is verified commit by commit (under `FEED_MIN_COMMITS`).
const SPLIT: usize = 1_000;

/// A fast-import stream for `main`: a root holding every kind of entry (an executable,
/// a symlink, a gitlink, a name with a space, one with a newline, one that is not
/// UTF-8), then `LONG` commits that change files, flip modes, turn a file into a
/// directory and back, move the symlink and the gitlink, delete and re-add; a branch
/// forked near the start merged back much later, and a second root merged in.
fn long_history(hex_len: usize) -> String {
    let mut s = String::new();
    let gitlink = |n: usize| format!("{n:0>width$x}", width = hex_len);
    let mut when = 1_700_000_000u64;
    let mut commit = |s: &mut String, branch: &str, mark: usize, body: &str, extra: &str| {
        when += 60;
        write!(
            s,
            "commit refs/heads/{branch}\nmark :{mark}\ncommitter H <h@example.com> {when} +0000\ndata 2\nc\n{extra}{body}\n"
        )
        .unwrap();
    };
    let root = format!(
        "M 100644 inline a.txt\ndata 2\na\n\
         M 100644 inline dir/deep/b.txt\ndata 2\nb\n\
         M 100755 inline run.sh\ndata 10\n#!/bin/sh\n\n\
         M 120000 inline link\ndata 5\na.txt\
         \nM 160000 {} sub\n\
         M 100644 inline \"sp ace.txt\"\ndata 1\ns\n\
         M 100644 inline \"nl\\nname\"\ndata 1\nn\n\
         M 100644 inline \"bin\\377\\376\"\ndata 1\nx\n",
        gitlink(1)
    );
    commit(&mut s, "main", 1, &root, "");
    for i in 2..=LONG {
        let body = match i {
            200 => "M 100755 inline dir/deep/b.txt\ndata 2\nb\n".to_string(),
            300 => "M 100644 inline dir/deep/b.txt\ndata 2\nb\n".to_string(),
            500 => "D a.txt\nM 100644 inline a.txt/inner\ndata 6\ninner\n".to_string(),
            900 => "D a.txt\nM 100644 inline a.txt\ndata 5\nback\n".to_string(),
            700 => "M 120000 inline link\ndata 7\nrun.sh\n".to_string(),
            800 => format!("M 160000 {} sub\n", gitlink(2)),
            1_100 => "D dir\n".to_string(),
            1_200 => "M 100644 inline dir/deep/b.txt\ndata 5\nagain\n".to_string(),
            1_300 => "D link\nM 100644 inline link\ndata 8\nnot one\n".to_string(),
            _ => format!(
                "M 100644 inline f{}/g{}.txt\ndata {}\n{}\n",
                i % 7,
                i % 13,
                format!("{i}").len() + 1,
                i
            ),
        };
        let extra = match i {
            1_500 => "merge :20030\n",
            1_800 => "merge :30005\n",
            _ => "",
        };
        commit(&mut s, "main", i, &body, extra);
        if i == 50 {
            // The side branch forks here and is written now; main goes on.
            for j in 0..30 {
                let from = if j == 0 {
                    "from :50\n".to_string()
                } else {
                    String::new()
                };
                let body = format!("M 100644 inline side/s{j}.txt\ndata 2\n{}\n", j % 10);
                commit(&mut s, "side", 20_000 + j + 1, &body, &from);
            }
            for j in 0..5 {
                let body = format!("M 100644 inline other/o{j}.txt\ndata 2\n{j}\n");
                commit(&mut s, "other", 30_000 + j + 1, &body, "");
            }
        }
    }
    s
}

/// A fast-import stream of `commits` linear commits on `main`, each rewriting one of
/// `files` small files; the first starts from `from` (a commit id) when given.
fn linear_history(commits: usize, files: usize, from: Option<&str>) -> String {
    let mut stream = String::new();
    for i in 0..commits {
        let from = match (i, from) {
            (0, Some(id)) => format!("from {id}\n"),
            _ => String::new(),
        };
        write!(
            stream,
            "commit refs/heads/main\ncommitter H <h@example.com> {} +0000\ndata 2\nc\n{from}M 100644 inline f{}.txt\ndata 2\n{}\n\n",
            1_700_000_000 + i,
            i % files,
            i % 10
        )
        .unwrap();
    }
    stream
}

/// Runs `seal --missing`, which must succeed, and returns git's trace2 events of the
/// git processes it started.
fn traced_backfill(repo: &TestRepo<'_>) -> String {
    let trace = repo.path.join("../trace.json");
    let mut cmd = repo.cmd(crate::harness::SEAL, &["seal", "--missing"]);
    cmd.env("GIT_TRACE2_EVENT", &trace);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&trace).unwrap_or_default()
}

/// Backfills a long history through the store-wide path, then checks every commit's
/// seal commit by commit (two `verify --no-cache` runs, each under
/// `FEED_MIN_COMMITS`, which recompute each manifest with libgit2) and a few against
/// the README's recipe.
fn backfill_matches_commit_by_commit(repo: &TestRepo<'_>, hex_len: usize) {
    repo.fast_import(&long_history(hex_len));
    let events = traced_backfill(repo);
    assert!(
        events.contains(r#""diff-tree","--stdin""#)
            && events.contains(r#""cat-file","--batch-all-objects""#),
        "a run this long reads through git"
    );
    assert!(
        events.contains(r#""core.deltaBaseCacheLimit=32m""#)
            && events.contains(r#""core.packedGitLimit=64m""#),
        "with git's memory bounded"
    );
    let all: usize = repo
        .git_out(&["rev-list", "--count", "main"])
        .parse()
        .unwrap();
    assert!(all >= LONG + 35, "{all}");
    assert_eq!(
        repo.git_out(&["notes", "--ref", "seal", "list"])
            .lines()
            .count(),
        all
    );

    let split = repo.rev(&format!("main~{}", LONG - SPLIT));
    repo.seal(&["verify", "--no-cache", "--all", &split]).ok();
    let rest = format!("{split}..main");
    let after: usize = repo
        .git_out(&["rev-list", "--count", &rest])
        .parse()
        .unwrap();
    assert!(
        after < 2_000 && all - after < 2_000,
        "each part is checked commit by commit"
    );
    repo.seal(&["verify", "--no-cache", &rest]).ok();
    // And the whole history, itself through git, agrees.
    repo.seal(&["verify", "--no-cache", "--all"]).ok();

    for rev in ["main", "main~1500", "main~600^2", "main~300^2"] {
        assert_eq!(
            repo.sealed_manifest_digest(rev),
            repo.recipe_digest(rev),
            "{rev}"
        );
    }
}

#[test]
fn a_long_backfill_read_through_git_seals_what_commit_by_commit_computes() {
    let sb = Sandbox::new();
    let repo = sb.init("long", &[]);
    backfill_matches_commit_by_commit(&repo, 40);
}

#[test]
fn a_long_backfill_in_a_sha256_repository_seals_what_commit_by_commit_computes() {
    let sb = Sandbox::new();
    let repo = sb.init("long256", &["--object-format=sha256"]);
    backfill_matches_commit_by_commit(&repo, 64);
}

/// A tree of one file `old.txt` holding `blob`, written as is (`mode` may be one git
/// would rewrite).
fn literal_tree(repo: &TestRepo<'_>, mode: &str, blob: &str) -> String {
    let mut tree = format!("{mode} old.txt\0").into_bytes();
    tree.extend((0..20).map(|i| u8::from_str_radix(&blob[2 * i..2 * i + 2], 16).unwrap()));
    run_with_stdin(
        repo.cmd(
            "git",
            &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
        ),
        &tree,
    )
    .ok()
    .stdout()
    .trim()
    .to_string()
}

/// `rev`'s manifest as `git seal manifest` computes it for that commit alone.
fn single_manifest(repo: &TestRepo<'_>, rev: &str) -> serde_json::Value {
    serde_json::from_str(
        &repo
            .seal(&["manifest", rev, "--format", "json"])
            .ok()
            .stdout(),
    )
    .unwrap()
}

/// Each of `revs`' sealed manifest digest is the one `git seal manifest` computes for
/// that commit alone.
fn seals_match_single_commits(repo: &TestRepo<'_>, revs: &[&str]) {
    for rev in revs {
        let single = single_manifest(repo, rev);
        assert_eq!(repo.sealed_manifest_digest(rev), single["digest"], "{rev}");
    }
}

/// The first entry of `rev`'s manifest, computed alone, has `mode`.
fn assert_first_mode(repo: &TestRepo<'_>, rev: &str, mode: &str) {
    let manifest = single_manifest(repo, rev);
    assert_eq!(manifest["entries"][0]["mode"], mode, "{manifest}");
}

/// git shows `100664` as `100644`; the manifest keeps the mode as stored. A store
/// holding such a tree is computed commit by commit, so the seals keep it.
#[test]
fn a_store_with_modes_git_rewrites_keeps_them_in_a_long_backfill() {
    let sb = Sandbox::new();
    let repo = sb.init("modes", &[]);
    let blob = repo.blob(b"old mode\n");
    let tree_id = literal_tree(&repo, "100664", &blob);
    let root = repo.git_out(&["commit-tree", &tree_id, "-m", "root"]);
    let stream = linear_history(LONG, 50, Some(&root));
    repo.fast_import(&stream);
    assert_first_mode(&repo, &root, "100664");
    repo.seal(&["seal", "--missing"]).ok();
    seals_match_single_commits(&repo, &[root.as_str(), "main~1000", "main"]);
}

/// A root commit whose tree holds `old.txt` as `100664` and its child changing only
/// that mode to `100644` (each tree passed through `wrap`), then a long history on
/// top, backfilled through git's diffs. Returns the root, the fix and the fix's child.
fn mode_fixed_then_long(
    repo: &TestRepo<'_>,
    wrap: impl Fn(String) -> String,
) -> (String, String, String) {
    let blob = repo.blob(b"old mode\n");
    let raw = wrap(literal_tree(repo, "100664", &blob));
    let root = repo.git_out(&["commit-tree", &raw, "-m", "root"]);
    let fixed = wrap(literal_tree(repo, "100644", &blob));
    let fix = repo.git_out(&["commit-tree", &fixed, "-p", &root, "-m", "mode only"]);
    repo.fast_import(&linear_history(LONG, 50, Some(&fix)));
    let events = traced_backfill(repo);
    assert!(
        events.contains(r#""diff-tree","--stdin""#),
        "git's diffs were read"
    );
    let child = repo.rev(&format!("main~{}", LONG - 1));
    assert_eq!(repo.rev(&format!("{child}^")), fix);
    (root, fix, child)
}

/// Raw modes only in the oldest trees (git's own history: 98 of 168,516 trees, from
/// 2005): the commits whose tree or base's tree reach one are computed commit by
/// commit, the rest through git's diffs. Past them, a commit that changes only a
/// mode (`100664` to `100644`, the same blob), which git's diff does not show.
#[test]
fn raw_modes_in_the_oldest_trees_are_kept_and_git_reads_the_rest() {
    let sb = Sandbox::new();
    let repo = sb.init("old-modes", &[]);
    let (root, fix, child) = mode_fixed_then_long(&repo, |tree| tree);
    let first = format!("{fix}~0");
    seals_match_single_commits(&repo, &[root.as_str(), &first, &child, "main~1000", "main"]);
}

/// A raw mode one directory down: the trees above the raw one reach it too (the pass
/// over the store indexes every tree's subtrees and answers from that, git's own
/// history's case), so the root and its mode-only fix below `dir/` are computed
/// commit by commit, and the rest through git's diffs.
#[test]
fn a_raw_mode_below_the_root_is_found_through_the_trees_above_it() {
    let sb = Sandbox::new();
    let repo = sb.init("deep-modes", &[]);
    let in_dir = |tree: String| {
        run_with_stdin(
            repo.cmd("git", &["mktree"]),
            format!("040000 tree {tree}\tdir\n").as_bytes(),
        )
        .ok()
        .stdout()
        .trim()
        .to_string()
    };
    let (root, fix, child) = mode_fixed_then_long(&repo, in_dir);
    assert_first_mode(&repo, &root, "100664");
    seals_match_single_commits(&repo, &[root.as_str(), &fix, &child, "main~1000", "main"]);
    repo.seal(&["verify", "--all", "--no-cache"]).ok();
}

/// A batch of seals reaches the disk as one pack written before the ledger moves,
/// not a loose file per seal, and git reads it like any other.
#[test]
fn a_large_append_lands_as_one_pack_git_reads() {
    let sb = Sandbox::new();
    let repo = sb.init("packed", &[]);
    let stream = linear_history(100, 10, None);
    repo.fast_import(&stream);
    let counts = repo.object_counts();
    repo.seal(&["seal", "--missing"]).ok();
    repo.assert_appended_as_one_pack(counts, 100);
    assert!(repo.note("HEAD~42").unwrap().contains("kind: commit"));
    repo.seal(&["verify", "--all", "--no-cache"]).ok();
    // A second packed append packs what it adds, not the ledger it adds to (libgit2's
    // own dump packed every seal again in every chunk of a backfill).
    let packs_dir = repo.path.join(".git/objects/pack");
    let idx_files = || -> std::collections::BTreeSet<std::path::PathBuf> {
        std::fs::read_dir(&packs_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect()
    };
    let before = idx_files();
    repo.fast_import(&linear_history(80, 10, Some(&repo.rev("HEAD"))));
    repo.seal(&["seal", "--missing"]).ok();
    let added: Vec<_> = idx_files().difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one pack for the second append");
    let listing = repo.git_out(&["verify-pack", "-v", added[0].to_str().unwrap()]);
    let of_type = |kind: &str| {
        listing
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(kind))
            .count()
    };
    assert_eq!(
        of_type("blob"),
        80,
        "the 80 new seals, none of the 100 before"
    );
    assert_eq!(of_type("commit"), 1);
    repo.git(&["fsck", "--strict", "--no-dangling"]).ok();
    repo.seal(&["verify", "--all", "--no-cache"]).ok();
    // A hook's single seal stays a loose object (git's own maintenance off: since
    // 2.5x a commit may pack loose objects itself).
    repo.git(&["config", "maintenance.auto", "false"]).ok();
    repo.git(&["config", "gc.auto", "0"]).ok();
    repo.install();
    repo.commit_file("one.txt", "one\n", "one");
    assert_eq!(repo.object_counts().1, counts.1 + 2);
    repo.seal(&["verify", "HEAD"]).ok();
}

/// A seal whose own digest holds but whose manifest lies: what a pusher with a
/// tampered git-seal would bring. Its `parent_seals` links stay valid, so only the
/// manifest, recomputed from the pushed objects, can tell.
fn forge_manifest(repo: &TestRepo<'_>, rev: &str) {
    use sha2::{Digest, Sha256};
    repo.tamper_seal(rev, |seal| {
        let mut v: serde_json::Value = serde_norway::from_str(&seal).unwrap();
        v["manifest"]["digest"] = format!("sha256:{}", "ab".repeat(32)).into();
        let mut body = v.clone();
        body.as_object_mut().unwrap().remove("digest");
        let canonical = serde_json::to_string(&body).unwrap();
        v["digest"] = format!("sha256:{}", hex::encode(Sha256::digest(canonical))).into();
        serde_norway::to_string(&v).unwrap()
    });
    let forged = repo.note(rev).unwrap();
    let recomputed = run_with_stdin(
        repo.cmd(
            "python3",
            &[&format!(
                "{}/scripts/seal-digest.py",
                env!("CARGO_MANIFEST_DIR")
            )],
        ),
        forged.as_bytes(),
    );
    assert_eq!(
        recomputed.code(),
        0,
        "the forged seal's own digest holds: {}",
        recomputed.stdout()
    );
}

/// A gated server taking a whole long history (its pre-receive reads the quarantined
/// push through git) accepts it sealed, and refuses it when one seal in the middle
/// states a manifest the pushed tree does not hash to.
#[test]
fn a_gate_taking_a_long_history_refuses_one_lying_manifest_in_it() {
    let sb = Sandbox::new();
    let honest = sb.bare("honest.git");
    honest.seal(&["install", "--server"]).ok();
    let server = sb.bare("server.git");
    server.seal(&["install", "--server"]).ok();
    let repo = sb.init("pusher", &[]);
    repo.fast_import(&long_history(40));
    repo.seal(&["seal", "--missing"]).ok();
    let url = |s: &TestRepo<'_>| s.path.to_str().unwrap().to_string();

    repo.git(&[
        "push",
        "--no-verify",
        "-q",
        &url(&honest),
        "refs/notes/seal",
    ])
    .ok();
    repo.git(&["push", "--no-verify", "-q", &url(&honest), "main"])
        .ok();
    assert_eq!(honest.rev("main"), repo.rev("main"));

    let liar = repo.rev("main~700");
    forge_manifest(&repo, &liar);
    repo.seal(&["verify", &liar]).fails_with(1);
    repo.git(&[
        "push",
        "--no-verify",
        "-q",
        &url(&server),
        "refs/notes/seal",
    ])
    .ok();
    let trace = sb.path().join("gate-trace.json");
    let mut push = repo.cmd("git", &["push", "--no-verify", &url(&server), "main"]);
    push.env("GIT_TRACE2_EVENT", &trace);
    let r = crate::harness::Run {
        out: push.output().unwrap(),
    }
    .fails_with(1);
    let events = std::fs::read_to_string(&trace).unwrap();
    assert!(
        events.contains(r#""diff-tree","--stdin""#),
        "the gate read the quarantined push through git"
    );
    r.stderr_has("push refused");
    r.stderr_has(format!("{} c: manifest mismatch", &liar[..7]));
    assert!(server.git(&["rev-parse", "--verify", "-q", "main"]).code() != 0);
}

/// A backfill longer than `engine::APPEND_CHUNK` appends in chunks, so that what it
/// holds before writing stays bounded: one ledger commit per chunk, every commit
/// sealed once, the chains whole across chunks.
#[test]
fn a_backfill_past_one_chunk_appends_chunk_by_chunk() {
    const PAST: usize = 104;
    let commits = git_seal::engine::APPEND_CHUNK + PAST;
    let sb = Sandbox::new();
    let repo = sb.init("chunks", &[]);
    let stream = linear_history(commits, 20, None);
    repo.fast_import(&stream);
    let out = repo.seal(&["seal", "--missing"]).ok();
    out.stdout_has(format!("sealed {commits} commit(s)"));
    assert_eq!(
        repo.git_out(&["rev-list", "--count", "refs/notes/seal"]),
        "2"
    );
    assert_eq!(
        repo.git_out(&["notes", "--ref", "seal", "list"])
            .lines()
            .count(),
        commits
    );
    repo.seal(&["verify", "--all"]).ok();
    let first_of_second_chunk = repo.rev(&format!("main~{}", PAST - 1));
    let seal = repo.note(&first_of_second_chunk).unwrap();
    assert!(
        !seal.contains("- null"),
        "its parent's seal, from the chunk before, is named"
    );
}

/// git keeps every commit it parses until it exits, so the diff feed starts one
/// `git diff-tree` per `history::FEED_SEGMENT` commits: a history just past one
/// segment is read by two, each answering every line it was given (exit 0, not
/// killed), and the seals on both sides of the boundary are what single-commit
/// manifests compute.
#[test]
fn a_history_past_one_feed_segment_is_diffed_by_one_git_per_segment() {
    let sb = Sandbox::new();
    let repo = sb.init("segments", &[]);
    let commits = git_seal::history::FEED_SEGMENT + 150;
    repo.fast_import(&linear_history(commits, 40, None));
    let events = traced_backfill(&repo);
    let mut argv_of = std::collections::BTreeMap::new();
    let mut exit_of = std::collections::BTreeMap::new();
    for line in events.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let sid = event["sid"].as_str().unwrap_or_default().to_string();
        match event["event"].as_str() {
            Some("start") => {
                argv_of.insert(sid, event["argv"].to_string());
            }
            Some("exit") => {
                exit_of.insert(sid, event["code"].as_i64());
            }
            _ => {}
        }
    }
    let diff_trees: Vec<&String> = argv_of
        .iter()
        .filter(|(_, argv)| argv.contains(r#""diff-tree","--stdin""#))
        .map(|(sid, _)| sid)
        .collect();
    assert_eq!(diff_trees.len(), 2, "one git diff-tree per segment");
    for sid in diff_trees {
        assert_eq!(exit_of.get(sid), Some(&Some(0)), "{sid} answered all");
    }
    let boundary = format!("main~{}", commits - git_seal::history::FEED_SEGMENT);
    let after = format!("main~{}", commits - git_seal::history::FEED_SEGMENT - 1);
    seals_match_single_commits(&repo, &[&boundary, &after, "main~1", "main"]);
    repo.seal(&["verify", "--all"]).ok();
}

/// The problems a `verify --json` run reports: (commit, code, reason), sorted.
fn reported(run: &crate::harness::Run) -> Vec<(String, String, String)> {
    assert!(run.code() <= 1, "{}", run.stderr());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let mut problems: Vec<_> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap().to_string();
            (field("commit"), field("code"), field("reason"))
        })
        .collect();
    problems.sort();
    problems
}

/// A verify of many commits reads and parses their seals on a second thread
/// (`verify::ahead`); it decides nothing, so a full verify reports, commit by commit,
/// what a verify of each commit alone (which reads nothing ahead) reports, whatever
/// the notes hold.
#[test]
fn seals_read_ahead_are_judged_as_each_seal_read_alone() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.fast_import(&linear_history(100, 10, None));
    repo.seal(&["seal", "--missing"]).ok();
    let at = |n: usize| repo.rev(&format!("HEAD~{n}"));
    let note_blob = |c: &str| repo.git_out(&["notes", "--ref=seal", "list", c]);
    // Over the seal cap; no YAML; a field edited; another commit's seal; no seal (its
    // child's link then breaks); an edited note whose original is kept as an alternate.
    let big = repo.blob(&vec![b'#'; 70 * 1024]);
    repo.git(&["notes", "--ref=seal", "add", "-f", "-C", &big, &at(90)])
        .ok();
    repo.git(&["notes", "--ref=seal", "add", "-f", "-m", "{[", &at(70)])
        .ok();
    repo.tamper_seal(&at(50), |s| s.replace("h@example.com", "m@example.com"));
    let borrowed = note_blob(&at(31));
    repo.git(&["notes", "--ref=seal", "add", "-f", "-C", &borrowed, &at(30)])
        .ok();
    repo.git(&["notes", "--ref=seal", "remove", &at(20)]).ok();
    let kept = repo.note(&at(10)).unwrap();
    let kept_blob = note_blob(&at(10));
    repo.tamper_seal(&at(10), |s| s.replace("h@example.com", "m@example.com"));
    repo.hostile_ledger_file(
        &format!("alternates/{}/{kept_blob}", at(10)),
        kept.as_bytes(),
    );

    let together = reported(&repo.seal(&["verify", "--all", "--json"]));
    let mut alone = Vec::new();
    for n in 0..100 {
        let commit = at(n);
        let run = repo.seal(&["verify", "--json", &commit]);
        alone.extend(reported(&run).into_iter().filter(|p| p.0 == commit));
    }
    alone.sort();
    assert_eq!(together, alone);
    let codes = |n: usize| -> Vec<&str> {
        let commit = at(n);
        together
            .iter()
            .filter(|p| p.0 == commit)
            .map(|p| p.1.as_str())
            .collect()
    };
    assert_eq!(codes(90), ["unreadable"]);
    assert_eq!(codes(70), ["unreadable"]);
    assert!(codes(50).contains(&"digest_mismatch"), "{:?}", codes(50));
    assert!(codes(30).contains(&"wrong_commit"), "{:?}", codes(30));
    assert_eq!(codes(20), ["no_seal"]);
    assert!(codes(19).contains(&"broken_chain"), "{:?}", codes(19));
    assert!(codes(10).is_empty(), "{:?}", codes(10));
}
