//! Hints of signing, trust, countersigns, policy settings and pipeline steps, each
//! provoked through the real binary and pasted through `sh -c` (as in hints.rs):
//! the problem is gone afterwards, or, for a hint that only shows something, what it
//! shows names the problem. docs/HINTS.md lists which test runs which hint.

use std::path::PathBuf;

use crate::harness::{assert_has, Run, Sandbox, TestRepo};
use crate::hints::{hinted, paste};

/// An ed25519 key made by `ssh-keygen` at `~/.ssh/NAME` in the sandbox's HOME:
/// (path, its SHA256 fingerprint).
fn keygen(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let dir = sb.path().join("home/.ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let p = path.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut cmd = sb.command("ssh-keygen", sb.path());
        cmd.args(args);
        Run {
            out: cmd.output().expect("spawn ssh-keygen"),
        }
        .ok()
    };
    run(&["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", &p]);
    let listed = run(&["-l", "-f", &format!("{p}.pub")]).stdout();
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_string();
    (path, fingerprint)
}

/// The allowed-signers line of the key at `path` for `principal`.
fn signer_line(principal: &str, path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let mut it = text.split_whitespace();
    let public = format!("{} {}", it.next().unwrap(), it.next().unwrap());
    format!("{principal} namespaces=\"git-seal\" {public}\n")
}

fn sign_with(repo: &TestRepo<'_>, key: &std::path::Path, principal: &str) {
    repo.git(&["config", "seal.signingKey", key.to_str().unwrap()])
        .ok();
    repo.git(&["config", "seal.signingPrincipal", principal])
        .ok();
}

/// The whole command of the first `hint: ` line of `text`.
fn the_hint(text: &str) -> String {
    hinted(text, "")
}

#[test]
fn countersign_hints_pasted_sign_share_and_show_what_failed() {
    let sb = Sandbox::new();
    let repo = crate::hints::installed_with_hub(&sb);
    let hub = sb.at(sb.path().join("hub.git"));
    let first = repo.commit_file("a", "1\n", "first");
    // No key: the hint names the usual key file; with a key there, pasted, it signs.
    let r = repo
        .seal(&["countersign", "HEAD", "--role", "review"])
        .fails_with(2);
    r.stderr_has("no signing key is configured");
    let fix = the_hint(&r.stderr());
    keygen(&sb, "id_ed25519");
    paste(&repo, &fix).ok();
    repo.seal(&["countersign", "HEAD", "--role", "ci"])
        .ok()
        .stdout_has("as ci");

    // A key file that is gone: the signing error's own hint passes through.
    repo.git(&["config", "seal.signingKey", "~/.ssh/gone"]).ok();
    let r = repo
        .seal(&["countersign", "HEAD", "--role", "ci"])
        .fails_with(2);
    paste(&repo, &the_hint(&r.stderr())).ok();
    repo.seal(&["countersign", "HEAD", "--role", "ci"]).ok();

    // An empty range: the hint keeps the role given and names HEAD.
    let r = repo
        .seal(&["countersign", "HEAD..HEAD", "--role", "qa"])
        .fails_with(2);
    let fix = the_hint(&r.stderr());
    assert!(fix.contains("--role qa"), "{fix}");
    paste(&repo, &fix).ok().stdout_has("as qa");
    // Under --repo, pasted from where the user is.
    let outside = sb.at(sb.path());
    let path = repo.path.to_str().unwrap();
    let r = outside
        .seal(&["--repo", path, "countersign", "HEAD..HEAD", "--role", "qa2"])
        .fails_with(2);
    paste(&outside, &the_hint(&r.stderr()))
        .ok()
        .stdout_has("as qa2");

    // A role that is no word: the hint's example role works.
    let r = repo
        .seal(&["countersign", "HEAD", "--role", "no good"])
        .fails_with(2);
    paste(&repo, &the_hint(&r.stderr()))
        .ok()
        .stdout_has("as review");

    // A note over 4096 bytes: the hint keeps the role and says it shorter.
    let long = "x".repeat(5000);
    let r = repo
        .seal(&["countersign", "HEAD", "--role", "sec", "-m", &long])
        .fails_with(2);
    let fix = the_hint(&r.stderr());
    assert!(fix.contains("--role sec"), "{fix}");
    paste(&repo, &fix).ok().stdout_has("as sec");

    // A seal that does not verify: the hint names that commit, not the first given.
    let unsealed = repo.commit_unsealed("b", "unsealed");
    let r = repo
        .seal(&["countersign", &first, &unsealed, "--role", "review"])
        .fails_with(1);
    let fix = hinted(&r.stderr(), "see why with: ");
    let shown = paste(&repo, &fix).fails_with(1);
    let text = shown.stdout() + &shown.stderr();
    assert_has(&text, &unsealed[..7]);
    assert!(!text.contains(&first[..7]), "{text}");

    // Shared as the success hint says: the hub's ledger holds the countersigns.
    let r = repo.seal(&["countersign", &first, "--role", "ship"]).ok();
    let fix = hinted(&r.stderr(), "share it with: ");
    let listed = |h: &TestRepo<'_>| {
        h.git(&["ls-tree", "-r", "--name-only", "refs/notes/seal"])
            .stdout()
    };
    assert!(!listed(&hub).contains(&format!("countersigns/{first}/")));
    paste(&repo, &fix).ok();
    assert_has(&listed(&hub), format!("countersigns/{first}/"));
}

#[test]
fn trust_hints_pasted_show_the_policy_commits_and_clear_a_bad_root() {
    let sb = Sandbox::new();
    let (alice, alice_fp) = keygen(&sb, "id_ed25519");
    let (mallory, mallory_fp) = keygen(&sb, "mallory");
    let origin = sb.installed("origin");
    sign_with(&origin, &alice, "alice@example.com");
    origin.commit_file("a", "1\n", "base");
    let root = origin.commit_file(
        ".seal/allowed_signers",
        &signer_line("alice@example.com", &alice),
        "trust: alice",
    );
    origin.commit_file("b", "2\n", "work");

    // Nothing pinned: the hint lists the commits that set a policy.
    let r = origin.seal(&["trust", "--show"]).ok();
    let shown = paste(&origin, &the_hint(&r.stdout())).ok().stdout();
    assert_has(&shown, format!("{} trust: alice", &root[..7]));
    let outside = sb.at(sb.path());
    let path = origin.path.to_str().unwrap();
    let r = outside.seal(&["--repo", path, "trust", "--show"]).ok();
    let fix = the_hint(&r.stdout());
    assert!(fix.contains("trust --root REV"), "{fix}");
    let shown = paste(&outside, &fix).ok().stdout();
    assert_has(&shown, format!("{} trust: alice", &root[..7]));

    // A key that is no fingerprint: the hint prints the key's.
    let r = origin
        .seal(&["trust", "--root", &root, "--key", "SHA256:nope"])
        .fails_with(2);
    let shown = paste(&origin, &the_hint(&r.stderr())).ok().stdout();
    assert_has(&shown, &alice_fp);
    origin
        .seal(&["trust", "--root", &root, "--key", &alice_fp])
        .ok();

    // A root with no policy in its tree: the hint lists those that have one.
    let r = origin.seal(&["trust", "--root", "HEAD~2"]).fails_with(1);
    let shown = paste(&origin, &the_hint(&r.stderr())).ok().stdout();
    assert_has(&shown, format!("{} trust: alice", &root[..7]));

    // Pinned with another key: the hint shows who did sign the root's seal.
    let r = origin
        .seal(&["trust", "--root", &root, "--key", &mallory_fp])
        .fails_with(1);
    let shown = paste(&origin, &the_hint(&r.stderr())).ok().stdout();
    assert_has(&shown, "alice@example.com");
    let _ = mallory;

    // An unsealed root: the hint seals it, and then it pins.
    let unsealed = origin.commit_unsealed(".seal/x", "unsealed");
    let r = origin.seal(&["trust", "--root", &unsealed]).fails_with(1);
    paste(&origin, &the_hint(&r.stderr())).ok();
    origin.seal(&["trust", "--root", &unsealed]).ok();

    // A configured allowed-signers file wins over the pinned root: the hint unsets it.
    let file = sb.path().join("allowed");
    std::fs::write(&file, signer_line("alice@example.com", &alice)).unwrap();
    origin
        .git(&["config", "seal.allowedSignersFile", file.to_str().unwrap()])
        .ok();
    let r = origin.seal(&["trust", "--root", &root]).ok();
    let fix = hinted(&r.stdout(), "to use the in-repo policy: ");
    paste(&origin, &fix).ok();
    let shown = origin.seal(&["trust", "--show"]).ok().stdout();
    assert!(!shown.contains("seal.allowedSignersFile"), "{shown}");

    // A seal.trustRoot that does not parse stops verify; the hint unsets it.
    origin
        .git(&["config", "seal.trustRoot", "not a commit"])
        .ok();
    let r = origin.seal(&["verify"]).fails_with(2);
    paste(&origin, &the_hint(&r.stderr())).ok();
    origin.seal(&["verify"]).ok();

    // A root pinned by hand on a commit whose seal cannot start the chain: the hint
    // shows the root, and names it.
    origin.git(&["config", "seal.trustRoot", &unsealed]).ok();
    origin.tamper_seal(&unsealed, |s| s.replace("  files: ", "  files: 1"));
    let r = origin.seal(&["verify"]);
    assert_ne!(r.code(), 0, "{}", r.stdout());
    let all = r.stdout() + &r.stderr();
    let fix = the_hint(
        all.lines()
            .find(|l| l.starts_with("hint: ") && l.contains("trust --show"))
            .unwrap_or_else(|| panic!("no trust hint in:\n{all}")),
    );
    let shown = paste(&origin, &fix).stdout();
    assert_has(&shown, &unsealed[..7]);
}

#[test]
fn a_trust_root_not_fetched_yet_hints_a_fetch_that_brings_it() {
    let sb = Sandbox::new();
    let origin = sb.installed("origin");
    origin.commit_file("a", "1\n", "base");
    let clone = sb.clone("origin", "c");
    clone.install();
    let root = origin.commit_file(".seal/allowed_signers", "", "trust: nobody yet");
    clone.git(&["config", "seal.trustRoot", &root]).ok();
    let r = clone.seal(&["verify"]).fails_with(2);
    r.stderr_has("which is not a commit in this repository");
    paste(&clone, &the_hint(&r.stderr())).ok();
    let r = clone.seal(&["verify"]);
    assert!(
        !r.stderr().contains("not a commit in this repository"),
        "{}",
        r.stderr()
    );
}

#[test]
fn unreadable_policy_files_hint_unsetting_them_and_verify_then_runs() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let empty = sb.path().join("allowed");
    std::fs::write(&empty, "").unwrap();
    for setting in ["seal.allowedSignersFile", "seal.revocationFile"] {
        if setting == "seal.revocationFile" {
            let empty = empty.to_str().unwrap();
            repo.git(&["config", "seal.allowedSignersFile", empty]).ok();
        }
        repo.git(&["config", setting, "~/no/such/file"]).ok();
        let r = repo.seal(&["verify"]).fails_with(2);
        r.stderr_has(format!("error: {setting}: "));
        paste(&repo, &the_hint(&r.stderr())).ok();
        repo.seal(&["verify"]).ok();
    }
}

#[test]
fn policy_settings_that_do_not_parse_hint_values_that_do_even_with_a_glob_in_the_key() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    // A file the unquoted key would glob to, as a worktree may hold.
    for (key, bad) in [
        ("seal.refs/heads/*.requireSigned", "maybe"),
        ("seal.refs/heads/*.requireCountersign", "review:lots"),
        ("seal.requireCountersign", "review:0"),
    ] {
        repo.write(&key.to_ascii_lowercase().replace('*', "x"), "");
        repo.git(&["config", key, bad]).ok();
        let r = repo.seal(&["verify"]).fails_with(2);
        // git reports the key's last part in lower case.
        let lower = key.to_ascii_lowercase();
        assert_has(
            &r.stderr().to_ascii_lowercase(),
            format!("{lower} is '{bad}'"),
        );
        paste(&repo, &the_hint(&r.stderr())).ok();
        let r = repo.seal(&["verify"]);
        assert_ne!(r.code(), 2, "{}", r.stderr());
        let after = r.stderr().to_ascii_lowercase();
        assert!(!after.contains(&format!("{lower} is")), "{after}");
        repo.git(&["config", "--unset-all", key]).ok();
    }
}

#[test]
fn step_hints_name_the_file_and_show_what_is_recorded() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a.csv", "1\n", "data");
    // A file no run produced: the hint names it; with the user's command for CMD,
    // pasted, provenance finds the run.
    repo.write("out.csv", "made by hand\n");
    let r = repo.seal(&["provenance", "out.csv"]).fails_with(1);
    let fix = hinted(&r.stderr(), "record the step that makes it (CMD: yours): ");
    assert!(fix.contains("--output out.csv -- CMD"), "{fix}");
    paste(&repo, &fix.replace("CMD", "cp a.csv out.csv")).ok();
    repo.seal(&["provenance", "out.csv"]).ok();
    // Not a file: the hint lists the files it can name.
    let r = repo.seal(&["provenance", "nope.csv"]).fails_with(2);
    let fix = hinted(
        &r.stderr(),
        "name a file; list those in the worktree with: ",
    );
    let shown = paste(&repo, &fix).ok().stdout();
    assert_has(&shown, "out.csv");

    // A record without outputs has no in-toto subject: the hint, with the user's
    // PATH and CMD, records one that exports.
    repo.seal(&["record", "--name", "check", "--status", "SUCCESS"])
        .ok();
    let id = |repo: &TestRepo<'_>| {
        let log = repo.seal(&["log", "--json"]).ok().stdout();
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        last["run_id"].as_str().unwrap().to_string()
    };
    let r = repo.seal(&["log", "--in-toto", &id(&repo)]).fails_with(1);
    let fix = hinted(
        &r.stderr(),
        "record the step with its outputs (PATH and CMD: yours): ",
    );
    paste(
        &repo,
        &fix.replace("PATH", "b.csv")
            .replace("CMD", "cp a.csv b.csv"),
    )
    .ok();
    repo.seal(&["log", "--in-toto", &id(&repo)])
        .ok()
        .stdout_has("b.csv");

    // Hints that give an example of a flag (the value is the user's), printed.
    let r = repo
        .seal(&["run", "--output", "../x", "--", "true"])
        .fails_with(2);
    r.stderr_has(
        "hint: name files and directories inside the worktree, e.g. --output data/export.csv",
    );
    let r = repo
        .seal(&["run", "--name", "", "--", "true"])
        .fails_with(2);
    r.stderr_has("characters of your choice, e.g. --name export");
    let long = "m".repeat(5000);
    let r = repo
        .seal(&["record", "--name", "x", "--status", "SUCCESS", "-m", &long])
        .fails_with(2);
    r.stderr_has("hint: say it shorter, e.g. -m 'validated 3 of 5 files'");

    // A bare repository: provenance says to run it in a clone (no command: where is
    // the user's); a step there runs, unrecorded, with the reason.
    let bare = sb.bare("b.git");
    bare.seal(&["provenance", "x"])
        .fails_with(2)
        .stderr_has("hint: run it in a clone");
    let r = bare.seal(&["run", "--", "true"]).ok();
    r.stderr_has("runs unrecorded: a pipeline step is recorded in a worktree");
    r.stderr_has("hint: to record it, run it in a clone of this repository");
    bare.seal(&["record", "--name", "x", "--status", "SUCCESS"])
        .ok()
        .stderr_has("hint: to record it, run it in a clone of this repository");
}

#[test]
fn a_run_record_too_big_to_share_hints_the_local_log_that_holds_it() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    repo.commit_file("a", "1\n", "first");
    let dir = repo.path.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..4000 {
        std::fs::write(
            dir.join(format!("file-with-a-longish-name-{i:05}.csv")),
            "x\n",
        )
        .unwrap();
    }
    let r = repo
        .seal(&[
            "record", "--name", "bulk", "--status", "SUCCESS", "--output", "data", "--share",
        ])
        .ok();
    r.stderr_has("over the 262144-byte cap of a shared record");
    let shown = paste(
        &repo,
        &hinted(&r.stderr(), "it is in the local log, which has no cap: "),
    )
    .ok()
    .stdout();
    assert_has(&shown, "\"bulk\"");
    assert_has(&shown, "file-with-a-longish-name-03999.csv");
}

#[test]
fn a_usage_error_under_json_hints_the_usage_which_names_the_flags() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    let r = repo.seal(&["status", "--bogus", "--json"]).fails_with(2);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    let hint = doc["error"]["hint"].as_str().unwrap().to_string();
    let fix = hint.strip_prefix("see the usage: ").unwrap();
    let shown = paste(&repo, fix).ok().stdout();
    assert_has(&shown, "Usage:");
    assert_has(&shown, "status");
}
