//! Installing and uninstalling hooks: chaining, core.hooksPath, bare repositories,
//! linked worktrees, awkward paths, idempotence. These are the shim files' rules
//! (`--hooks files`, what git before 2.54 gets); config-defined hooks are in
//! `config_hooks`.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{assert_has, write_script, Sandbox};

const FOREIGN: &str = "#!/bin/sh\n# someone else's hook\necho \"foreign $*\" >> \"$(git rev-parse --git-common-dir)/foreign.log\"\ncat >> \"$(git rev-parse --git-common-dir)/foreign.log\"\n";

#[test]
fn existing_hook_is_chained_then_restored_byte_for_byte() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let hook = repo.path.join(".git/hooks/post-commit");
    crate::harness::write_script(&hook, FOREIGN);
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
    let before = std::fs::read_dir(repo.path.join(".git/hooks"))
        .unwrap()
        .count();

    let out = repo.seal(&["install", "--hooks", "files"]).ok().stdout();
    assert_has(&out, "kept: keep existing hook");
    repo.install_shims(); // idempotent: nothing chained twice
    assert!(!repo
        .path
        .join(".git/hooks/post-commit.seal-chained.seal-chained")
        .exists());

    repo.commit_file("a", "a", "first");
    let log = std::fs::read_to_string(repo.path.join(".git/foreign.log")).unwrap();
    assert_eq!(log, "foreign \n", "the chained hook ran once");
    assert!(repo.note("HEAD").is_some(), "and git-seal sealed");

    repo.seal(&["uninstall"]).ok();
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), FOREIGN);
    assert_eq!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(
        std::fs::read_dir(repo.path.join(".git/hooks"))
            .unwrap()
            .count(),
        before
    );
    repo.commit_file("a", "b", "second");
    assert!(repo.note("HEAD").is_none(), "uninstalled: no more seals");
}

#[test]
fn chained_hook_gets_same_stdin_and_args() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    write_script(repo.path.join(".git/hooks/post-rewrite"), FOREIGN);
    repo.install_shims();
    let old = repo.commit_file("a", "a", "first");
    repo.git(&["commit", "-q", "--amend", "-m", "amended"]).ok();
    let new = repo.rev("HEAD");
    let log = std::fs::read_to_string(repo.path.join(".git/foreign.log")).unwrap();
    assert_eq!(log, format!("foreign amend\n{old} {new}\n"));
    repo.seal(&["verify"]).ok();
}

#[test]
fn core_hooks_path_is_respected_and_dir_removed_on_uninstall() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.git(&["config", "core.hooksPath", "my hooks"]).ok();
    let dry = repo
        .seal(&["install", "--hooks", "files", "--dry-run"])
        .ok()
        .stdout();
    assert_has(&dry, "would create directory");
    assert!(
        !repo.path.join("my hooks").exists(),
        "dry run changed nothing"
    );
    repo.install_shims();
    assert!(repo.path.join("my hooks/post-commit").exists());
    assert!(!repo.path.join(".git/hooks/post-commit").exists());
    repo.commit_file("a", "a", "first");
    assert!(repo.note("HEAD").is_some());
    let status = repo.seal(&["status"]).ok().stdout();
    assert!(
        status.lines().any(|l| l
            .split_whitespace()
            .eq(["hook", "post-commit", "installed"])),
        "{status}"
    );
    assert_has(&status, "branch: 1 sealed, 0 unsealed");
    repo.seal(&["uninstall"]).ok();
    assert!(!repo.path.join("my hooks").exists());
}

#[test]
fn repo_path_with_spaces_and_quotes_and_bare_server_install() {
    let sb = Sandbox::new();
    let repo = sb.init("it's a \"repo\" here", &[]);
    let r = repo
        .seal(&[
            "install",
            "--hooks",
            "files",
            "--repo",
            repo.path.to_str().unwrap(),
        ])
        .ok();
    assert!(r.stdout().contains("hooks installed"));
    repo.commit_file("a", "a", "first");
    repo.seal(&["verify"]).ok();

    let bare = sb.init("server.git", &["--bare"]);
    let r = bare.seal(&["install", "--hooks", "files", "--server"]).ok();
    r.stdout_has("1 hooks installed");
    assert!(bare.path.join("hooks/pre-receive").exists());
    // A server only checks: no sealing hook.
    assert!(!bare.path.join("hooks/post-commit").exists());
    let status = bare.seal(&["status"]).ok().stdout();
    assert_has(&status, "hook pre-receive");
}

#[test]
fn linked_worktree_shares_the_hooks_and_the_ledger() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    repo.commit_file("a", "a", "first");
    let wt = sb.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()])
        .ok();
    let linked = sb.at(&wt);
    linked.install_shims(); // installing from the linked worktree wires the shared hooks dir
    assert!(repo.path.join(".git/hooks/post-commit").exists());
    let c = linked.commit_file("b", "b", "in worktree");
    assert!(repo.note(&c).is_some());
    // "first" predates the install: verify says so until it is sealed.
    linked
        .seal(&["verify"])
        .fails_with(1)
        .stdout_has("has no seal (the seal's parent_seals entry is null)");
    linked.seal(&["seal", "--missing"]).ok();
    linked.seal(&["verify"]).ok();
    assert!(
        repo.path.join(".git/seal/runs.jsonl").exists(),
        "one log for all worktrees"
    );
}

#[test]
fn status_says_when_git_is_too_old_for_the_tag_hook() {
    let sb = Sandbox::new();
    let repo = sb.installed("r");
    // A git that reports 2.20 (before reference-transaction existed), and otherwise
    // is the real one.
    let real = String::from_utf8(
        repo.cmd("sh", &["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = sb.path().join("oldgit");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'git version 2.20.1'; exit 0; }}\nexec {} \"$@\"\n",
        real.trim()
    );
    write_script(bin.join("git"), &script);
    let mut cmd = repo.cmd(crate::harness::SEAL, &["status"]);
    cmd.env(
        "PATH",
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    );
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    assert_has(&out, "git 2.20 has no reference-transaction hook");
    let hint = crate::hints::hinted(
        &out,
        "seal the tags by hand (those sealed already stay as they are): ",
    );
    assert_eq!(hint, "git seal seal $(git tag --list)");
    // Pasted, it seals every tag git made without the hook.
    repo.commit_file("a", "1\n", "first");
    repo.git_hooks_off(&["tag", "v1"]).ok();
    repo.git_hooks_off(&["tag", "-a", "v2", "-m", "two"]).ok();
    crate::hints::paste(&repo, &hint).ok();
    repo.seal(&["verify", "v1", "v2"]).ok();
    let now = repo.seal(&["status"]).ok().stdout();
    assert!(!now.contains("no reference-transaction hook"), "{now}");
}

#[test]
fn install_sh_builds_installs_man_pages_and_completions_and_wires_only_the_repo_named() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let prefix = sb.path().join("prefix dir");
    let root = env!("CARGO_MANIFEST_DIR");
    // cargo and rustup live under the real HOME, which the sandbox replaces.
    let real_home = std::env::var("HOME").unwrap_or_default();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or(format!("{real_home}/.cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or(format!("{real_home}/.rustup"));
    let run = |args: &[&str]| {
        let mut cmd = repo.cmd("bash", &[]);
        cmd.arg(format!("{root}/install.sh"))
            .args(args)
            .env("CARGO_HOME", &cargo_home)
            .env("RUSTUP_HOME", &rustup_home)
            .env("CARGO_TARGET_DIR", format!("{root}/target"));
        cmd.output().unwrap()
    };
    let out = run(&[
        "--prefix",
        prefix.to_str().unwrap(),
        repo.path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = prefix.join("bin/git-seal");
    assert!(bin.exists());
    assert_has(&stdout, format!("installed {}", bin.display()));
    assert_has(&stdout, "is not on your PATH");
    // A shim file, or on git ≥ 2.54 a config-defined hook.
    let shim = std::fs::read_to_string(repo.path.join(".git/hooks/post-commit"))
        .unwrap_or_else(|_| repo.git_out(&["config", "hook.git-seal-post-commit.command"]));
    assert!(
        shim.contains(bin.to_str().unwrap()),
        "hooks call the installed binary"
    );
    // Idempotent: again, same result, hooks still ours and not chained to themselves.
    let again = run(&[
        "--prefix",
        prefix.to_str().unwrap(),
        repo.path.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(!repo
        .path
        .join(".git/hooks/post-commit.seal-chained")
        .exists());
    repo.commit_file("a", "a", "sealed by the installed binary");
    assert!(repo.note("HEAD").is_some());
    // Man pages where man finds them: beside the bin directory on PATH.
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        prefix.join("bin").display()
    );
    let man = repo
        .cmd("man", &["-w", "git-seal-verify"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        man.status.success(),
        "{}",
        String::from_utf8_lossy(&man.stderr)
    );
    assert_has(
        &String::from_utf8_lossy(&man.stdout),
        prefix
            .join("share/man/man1/git-seal-verify.1")
            .to_str()
            .unwrap(),
    );
    // `git help seal` opens git-seal(1) (as `git seal --help` does): shown as text.
    let help = repo
        .cmd("git", &["help", "seal"])
        .env("PATH", &path)
        .env("MANPAGER", "cat")
        .env("GIT_PAGER", "cat")
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    assert_has(&String::from_utf8_lossy(&help.stdout), "git-seal");
    // git looks for git-seal(1) itself; `git seal --help` is `git help seal`.
    let page = repo
        .cmd("man", &["-w", "git-seal"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&page.stdout).trim(),
        prefix.join("share/man/man1/git-seal.1").to_str().unwrap()
    );
    let help = repo
        .cmd("git", &["seal", "--help"])
        .env("PATH", &path)
        .env("MANPAGER", "cat")
        .env("GIT_PAGER", "cat")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    assert_has(&text, "GIT-SEAL(1)");
    assert_has(&text, "git-seal-verify(1)");
    // Completions, loaded by a real bash: `git seal ver<TAB>` through git's own
    // completion, and options of a subcommand.
    let git_completion = "/usr/share/bash-completion/completions/git";
    if std::path::Path::new(git_completion).exists() {
        let script = format!(
            r#"source {git_completion}
source '{}'
COMP_WORDS=(git seal ver); COMP_CWORD=2; COMP_LINE="git seal ver"; COMP_POINT=${{#COMP_LINE}}
__git_wrap__git_main git ver seal; echo "1:${{COMPREPLY[*]}}"
COMP_WORDS=(git seal verify --wo); COMP_CWORD=3; COMP_LINE="git seal verify --wo"; COMP_POINT=${{#COMP_LINE}}
__git_wrap__git_main git --wo verify; echo "2:${{COMPREPLY[*]}}""#,
            prefix
                .join("share/bash-completion/completions/git-seal")
                .display()
        );
        let out = repo.cmd("bash", &["-c", &script]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_has(&text, "1:verify");
        assert_has(&text, "2:--worktree");
    } else {
        eprintln!("skipped the git completion check: {git_completion} is absent");
    }
    for f in [
        "share/zsh/site-functions/_git-seal",
        "share/fish/vendor_completions.d/git-seal.fish",
    ] {
        assert!(prefix.join(f).exists(), "{f}");
    }
    // Loaded by a real zsh (compinit finds `_git-seal` on fpath and binds it to
    // git-seal) and a real fish (which completes from the file, as at a prompt).
    let shell_path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    match repo.cmd("zsh", &["--version"]).output() {
        Ok(o) if o.status.success() => {
            let script = format!(
                "fpath=('{}' $fpath); autoload -U compinit; compinit -u -D; print -r -- \"bound:${{_comps[git-seal]}} defined:${{+functions[_git-seal]}}\"",
                prefix.join("share/zsh/site-functions").display()
            );
            let out = repo
                .cmd("zsh", &["-f", "-c", &script])
                .env("PATH", &shell_path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_has(&text, "bound:_git-seal defined:1");
            assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        _ => crate::harness::report("not run: the zsh completion check (zsh is not on PATH; scripts/test installs it as root)"),
    }
    match repo.cmd("fish", &["--version"]).output() {
        Ok(o) if o.status.success() => {
            let script = format!(
                "set -p fish_complete_path '{}'; complete -C 'git-seal ver'; echo SPLIT; complete -C 'git-seal verify --wo'",
                prefix.join("share/fish/vendor_completions.d").display()
            );
            let out = repo
                .cmd("fish", &["--no-config", "-c", &script])
                .env("PATH", &shell_path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let (subcommands, options) = text.split_once("SPLIT\n").unwrap_or((&text, ""));
            assert!(subcommands.lines().any(|l| l.starts_with("verify")), "{text}");
            assert!(options.lines().any(|l| l.starts_with("--worktree")), "{text}");
        }
        _ => crate::harness::report("not run: the fish completion check (fish is not on PATH; scripts/test installs it as root)"),
    }
    // Run inside a repository without naming it: that repository is left alone.
    let other = sb.init("other", &[]);
    let mut cmd = other.cmd("bash", &[]);
    cmd.arg(format!("{root}/install.sh"))
        .args(["--prefix", prefix.to_str().unwrap()])
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .env("CARGO_TARGET_DIR", format!("{root}/target"));
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert_has(
        &String::from_utf8_lossy(&out.stdout),
        "to seal a repository: cd into it and run: git seal install",
    );
    assert!(!other.path.join(".git/hooks/post-commit").exists());
    // Clear errors.
    let bad = run(&[
        "--prefix",
        prefix.to_str().unwrap(),
        sb.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a git repository"));
    let bad = run(&["--frobnicate"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("hint: ./install.sh --help"));
}

#[test]
fn no_tag_hook_leaves_tags_to_be_sealed_by_hand() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let r = repo
        .seal(&["install", "--hooks", "files", "--no-tag-hook"])
        .ok();
    r.stdout_has("5 hooks installed");
    assert!(!repo.path.join(".git/hooks/reference-transaction").exists());
    assert!(repo.path.join(".git/hooks/post-commit").exists());
    repo.commit_file("a", "a", "first");
    repo.git(&["tag", "v1"]).ok();
    repo.seal(&["verify", "v1"]).fails_with(1);
    repo.seal(&["seal", "v1"]).ok();
    repo.seal(&["verify", "v1"]).ok();
}

/// `git seal man` as the binary the tests build runs it (install.sh's release build
/// is checked above): git-seal(1) and a page per subcommand, found by `man -w` and
/// opened by `git help seal` and `git seal --help` under the prefix on PATH.
#[test]
fn man_pages_under_a_prefix_open_for_git_help_seal_and_git_seal_help() {
    let sb = Sandbox::new();
    let repo = sb.init("r", &[]);
    let prefix = sb.path().join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::os::unix::fs::symlink(crate::harness::SEAL, prefix.join("bin/git-seal")).unwrap();
    let man1 = prefix.join("share/man/man1");
    repo.seal(&["man", "--out", man1.to_str().unwrap()]).ok();
    for page in ["git-seal.1", "git-seal-install.1", "git-seal-verify.1"] {
        assert!(man1.join(page).exists(), "{page}");
    }
    let path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = repo
        .cmd("man", &["-w", "git-seal"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        man1.join("git-seal.1").to_str().unwrap()
    );
    for args in [&["help", "seal"][..], &["seal", "--help"]] {
        let out = repo
            .cmd("git", args)
            .env("PATH", &path)
            .env("MANPAGER", "cat")
            .env("GIT_PAGER", "cat")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_has(&text, "GIT-SEAL(1)");
        assert_has(&text, "git-seal-verify(1)");
    }
}
