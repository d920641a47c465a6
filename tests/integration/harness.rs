//! The one place tests build repositories: hermetic git (HOME in the temp dir, no
//! global or system config), fixed identities, and dates that advance by one minute
//! per commit so that ids are stable from run to run.

use std::cell::Cell;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SEAL: &str = env!("CARGO_BIN_EXE_git-seal");

/// A sandbox: a temp dir holding HOME and any number of repositories.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    clock: Cell<u64>,
}

/// A repository inside a sandbox.
pub struct TestRepo<'s> {
    pub sandbox: &'s Sandbox,
    pub path: PathBuf,
}

/// Output of a command, with handy accessors.
pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.out.status.success(),
            "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// Asserts that standard error contains `needle`, showing all of it if not.
    #[track_caller]
    pub fn stderr_has(&self, needle: impl AsRef<str>) -> &Self {
        assert_contains("stderr", &self.stderr(), needle.as_ref());
        self
    }
    /// Asserts that standard output contains `needle`, showing all of it if not.
    #[track_caller]
    pub fn stdout_has(&self, needle: impl AsRef<str>) -> &Self {
        assert_contains("stdout", &self.stdout(), needle.as_ref());
        self
    }
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "expected exit {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("git-seal-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Sandbox {
            dir,
            clock: Cell::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Advances the clock as one command would: a twin sandbox that runs one command
    /// fewer (no `git seal install`, say) stays in step with the other.
    pub fn tick(&self) {
        self.clock.set(self.clock.get() + 1);
    }

    /// A hermetic command: only PATH survives from the outside environment.
    pub fn command(&self, program: impl AsRef<OsStr>, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        let tick = self.clock.get() + 1;
        self.clock.set(tick);
        let date = format!("{} +0000", 1_767_225_600 + tick * 60);
        let seal_dir = Path::new(SEAL).parent().expect("binary dir");
        let path = format!(
            "{}:{}",
            seal_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.path().join("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada Author")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Cy Committer")
            .env("GIT_COMMITTER_EMAIL", "cy@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// `git init` a new repository at `name` (with `extra` init options).
    pub fn init(&self, name: &str, extra: &[&str]) -> TestRepo<'_> {
        let path = self.path().join(name);
        let mut args = vec!["init", "-q", "-b", "main"];
        args.extend_from_slice(extra);
        let mut cmd = self.command("git", self.path());
        cmd.args(&args).arg(&path);
        Run {
            out: cmd.output().expect("git init"),
        }
        .ok();
        let repo = TestRepo {
            sandbox: self,
            path,
        };
        repo.git(&["config", "user.name", "Sam Sealer"]).ok();
        repo.git(&["config", "user.email", "sam@example.com"]).ok();
        repo
    }

    /// A new repository (`git init`) with git-seal installed.
    pub fn installed(&self, name: &str) -> TestRepo<'_> {
        let repo = self.init(name, &[]);
        repo.install();
        repo
    }

    /// `git clone -q <from> <name>` inside the sandbox (paths relative to it).
    pub fn clone(&self, from: &str, name: &str) -> TestRepo<'_> {
        Run {
            out: self
                .command("git", self.path())
                .args(["clone", "-q", from, name])
                .output()
                .expect("git clone"),
        }
        .ok();
        self.at(self.path().join(name))
    }

    /// A bare repository at `name`, as a server or hub.
    pub fn bare(&self, name: &str) -> TestRepo<'_> {
        self.init(name, &["--bare"])
    }

    /// A repository handle for an existing path (a clone, a linked worktree).
    pub fn at(&self, path: impl Into<PathBuf>) -> TestRepo<'_> {
        TestRepo {
            sandbox: self,
            path: path.into(),
        }
    }
}

impl TestRepo<'_> {
    pub fn cmd(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.command(program, &self.path);
        cmd.args(args);
        cmd
    }

    pub fn git(&self, args: &[&str]) -> Run {
        Run {
            out: self.cmd("git", args).output().expect("run git"),
        }
    }

    /// `git args…` with git-seal's hooks off, in both forms (`HOOKS_OFF`).
    pub fn git_hooks_off(&self, args: &[&str]) -> Run {
        let mut all = HOOKS_OFF.to_vec();
        all.extend_from_slice(args);
        self.git(&all)
    }

    pub fn seal(&self, args: &[&str]) -> Run {
        Run {
            out: self.cmd(SEAL, args).output().expect("run git-seal"),
        }
    }

    /// Feeds `stream` to `git fast-import` (hooks do not run: histories it writes are
    /// unsealed) and checks out `main`, which the stream builds.
    pub fn fast_import(&self, stream: &str) {
        let r = run_with_stdin(
            self.cmd("git", &["fast-import", "--quiet"]),
            stream.as_bytes(),
        );
        assert_eq!(r.code(), 0, "{}", r.stderr());
        self.git(&["checkout", "-q", "-f", "main"]).ok();
    }

    /// The manifest digest of `rev` by the README's recipe (`scripts/manifest-digest.sh`:
    /// git and sha256sum alone, independent of git-seal).
    pub fn recipe_digest(&self, rev: &str) -> String {
        let script = format!("{}/scripts/manifest-digest.sh", env!("CARGO_MANIFEST_DIR"));
        let out = self.cmd(script, &[rev]).output().expect("run the recipe");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The manifest digest `rev`'s seal states (`git seal show --json`).
    pub fn sealed_manifest_digest(&self, rev: &str) -> String {
        let seal: serde_json::Value =
            serde_json::from_str(&self.seal(&["show", "--json", rev]).ok().stdout()).unwrap();
        seal["manifest"]["digest"].as_str().unwrap().to_string()
    }

    /// Rewrites the seal note of `rev` by `edit`, with its digest recomputed: a
    /// forged seal that holds together.
    pub fn forge_seal(&self, rev: &str, edit: impl Fn(&mut serde_json::Value)) {
        let mut seal: serde_json::Value = serde_norway::from_str(&self.note(rev).unwrap()).unwrap();
        edit(&mut seal);
        seal["digest"] = git_seal::seal::digest_of(seal.clone()).into();
        let yaml = serde_norway::to_string(&seal).unwrap();
        self.git(&["notes", "--ref=seal", "add", "-f", "-m", &yaml, rev])
            .ok();
    }

    /// The one digest pack in the cache: its path, header line and records.
    pub fn only_digest_pack(&self) -> (PathBuf, String, Vec<u8>) {
        let packs: Vec<_> = std::fs::read_dir(self.path.join(".git/seal/cache/digests/packs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(packs.len(), 1, "{packs:?}");
        let bytes = std::fs::read(&packs[0]).unwrap();
        let nl = bytes.iter().position(|b| *b == b'\n').unwrap();
        let header = String::from_utf8(bytes[..nl].to_vec()).unwrap();
        (packs[0].clone(), header, bytes[nl + 1..].to_vec())
    }

    /// Trimmed stdout of a successful git command.
    pub fn git_out(&self, args: &[&str]) -> String {
        self.git(args).ok().stdout().trim_end().to_string()
    }

    /// `git count-objects -v`'s (loose objects, packs).
    pub fn object_counts(&self) -> (usize, usize) {
        let out = self.git_out(&["count-objects", "-v"]);
        let count = |key: &str| -> usize {
            out.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                .unwrap()
        };
        (count("count:"), count("packs:"))
    }

    /// What an append of `seals` seals that must land as one pack leaves, against
    /// `before` ([`TestRepo::object_counts`] then): no loose object added, one pack
    /// more, a store `git fsck --strict` accepts, and `seals` notes git lists.
    pub fn assert_appended_as_one_pack(&self, before: (usize, usize), seals: usize) {
        let (loose, packs) = self.object_counts();
        assert_eq!(loose, before.0, "no loose object per seal");
        assert_eq!(packs, before.1 + 1, "one pack for the append");
        self.git(&["fsck", "--strict", "--no-dangling"]).ok();
        let listed = self.git_out(&["notes", "--ref", "seal", "list"]);
        assert_eq!(listed.lines().count(), seals);
    }

    /// Every ref with its value, one `<name> <id>` a line, but git-seal's own (the
    /// ledger under refs/notes/seal*, and refs/seal/*): what a user's git sees.
    pub fn user_refs(&self) -> String {
        self.git_out(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .lines()
            .filter(|l| !l.starts_with("refs/notes/seal") && !l.starts_with("refs/seal/"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    pub fn rev(&self, rev: &str) -> String {
        self.git_out(&["rev-parse", rev])
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    /// Writes a file, stages everything and commits.
    pub fn commit_file(&self, rel: &str, content: &str, msg: &str) -> String {
        self.write(rel, content);
        self.git(&["add", "-A"]).ok();
        self.git(&["commit", "-q", "-m", msg]).ok();
        self.rev("HEAD")
    }

    /// Writes `msg` into a file and commits it with hooks off: a commit without a seal.
    pub fn commit_unsealed(&self, rel: &str, msg: &str) -> String {
        self.write(rel, msg);
        self.git(&["add", "-A"]).ok();
        self.git_hooks_off(&["commit", "-q", "-m", msg]).ok();
        self.rev("HEAD")
    }

    /// Adds the sibling repository `../<name>` as a submodule at `path` (staged).
    pub fn add_submodule(&self, name: &str, path: &str) {
        let url = format!("../{name}");
        self.git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &url,
            path,
        ])
        .ok();
    }

    /// Creates the branches `b0` .. `b{count-1}` at HEAD, in one transaction.
    pub fn create_branches(&self, count: usize) {
        let updates: String = (0..count)
            .map(|i| format!("create refs/heads/b{i} HEAD\n"))
            .collect();
        run_with_stdin(
            self.cmd("git", &["update-ref", "--stdin"]),
            updates.as_bytes(),
        )
        .ok();
    }

    pub fn install(&self) {
        self.seal(&["install"]).ok();
    }

    /// Installs the shim files (`--hooks files`), whatever the git: for tests of the
    /// hooks directory's rules, which config-defined hooks (git ≥ 2.54) do not touch.
    pub fn install_shims(&self) {
        self.seal(&["install", "--hooks", "files"]).ok();
    }

    /// Replaces the seal of `rev` in the ledger with `edit(seal)`, using git notes.
    pub fn tamper_seal(&self, rev: &str, edit: impl Fn(String) -> String) {
        let seal = self.note(rev).unwrap();
        let edited = edit(seal.clone());
        assert_ne!(seal, edited, "tamper changed nothing");
        self.git(&["notes", "--ref=seal", "add", "-f", "-m", &edited, rev])
            .ok();
    }

    /// Writes `content` as a blob with `git hash-object -w`, returning its id.
    pub fn blob(&self, content: &[u8]) -> String {
        let r = run_with_stdin(self.cmd("git", &["hash-object", "-w", "--stdin"]), content).ok();
        r.stdout().trim().to_string()
    }

    /// Writes `content` at `path` in the local ledger's tree with a crafted ledger
    /// commit (git plumbing), as a hostile ledger would.
    pub fn hostile_ledger_file(&self, path: &str, content: &[u8]) {
        let id = self.blob(content);
        let index = self.sandbox.path().join("hostile-index");
        let index = index.to_str().unwrap();
        let git_with_index = |args: &[&str]| {
            let mut c = self.cmd("git", args);
            c.env("GIT_INDEX_FILE", index);
            run_with_stdin(c, b"").ok().stdout().trim().to_string()
        };
        git_with_index(&["read-tree", "refs/notes/seal"]);
        git_with_index(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{id},{path}"),
        ]);
        let tree = git_with_index(&["write-tree"]);
        let parent = self.rev("refs/notes/seal");
        let commit = self.git_out(&["commit-tree", &tree, "-p", &parent, "-m", "hostile"]);
        self.git(&["update-ref", "refs/notes/seal", &commit]).ok();
        std::fs::remove_file(index).unwrap();
    }

    /// The seal note of `rev`, via `git notes` (not via git-seal).
    pub fn note(&self, rev: &str) -> Option<String> {
        let r = self.git(&["notes", "--ref=seal", "show", rev]);
        (r.code() == 0).then(|| r.stdout())
    }
}

#[track_caller]
fn assert_contains(stream: &str, text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in {stream}:\n{text}");
}

/// Asserts that `text` contains `needle`, showing all of `text` if not.
#[track_caller]
pub fn assert_has(text: &str, needle: impl AsRef<str>) {
    assert_contains("the text", text, needle.as_ref());
}

/// Writes an executable script (a hook, a stand-in program) at `path`.
pub fn write_script(path: impl AsRef<Path>, body: &str) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path.as_ref());
    run_with_stdin(cmd, body.as_bytes()).ok();
}

/// Copies the executable `from` to `to`, to be run from there.
///
/// Executables the tests run are written by a child process, never by this one: a
/// file this process holds open for writing is inherited by every child another test
/// thread forks until that child execs, and running the file in that window fails
/// with ETXTBSY ("Text file busy"; seen in CI on the copied git-seal binary).
pub fn copy_executable(from: impl AsRef<Path>, to: impl AsRef<Path>) {
    let mut cmd = Command::new("cp");
    cmd.arg(from.as_ref()).arg(to.as_ref());
    run_with_stdin(cmd, b"").ok();
}

pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Run {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    Run {
        out: child.wait_with_output().expect("wait"),
    }
}

/// The git the tests run (the first on the hermetic PATH): its `git version` line's
/// number, as text ("2.47.3") and as (major, minor, patch). Asked once per test binary.
pub fn git_version() -> &'static (String, (u32, u32, u32)) {
    static VERSION: std::sync::OnceLock<(String, (u32, u32, u32))> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let out = Sandbox::new()
            .command("git", Path::new("/"))
            .arg("version")
            .output()
            .expect("run git version");
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let text = line
            .trim()
            .strip_prefix("git version ")
            .unwrap_or_else(|| panic!("not a `git version` line: {line:?}"))
            .to_string();
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        let number = (next(), next(), next());
        (text, number)
    })
}

/// `git -c …` that turns git-seal's hooks off in both forms: shims in the hooks
/// directory (`core.hooksPath`) and config-defined hooks (git ≥ 2.54), which a
/// `core.hooksPath` does not turn off.
pub const HOOKS_OFF: &[&str] = &[
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "hook.git-seal-post-commit.enabled=false",
    "-c",
    "hook.git-seal-post-merge.enabled=false",
    "-c",
    "hook.git-seal-post-rewrite.enabled=false",
    "-c",
    "hook.git-seal-post-applypatch.enabled=false",
    "-c",
    "hook.git-seal-pre-push.enabled=false",
    "-c",
    "hook.git-seal-reference-transaction.enabled=false",
    "-c",
    "hook.git-seal-pre-receive.enabled=false",
];

/// "git 2.47.3": which git a test ran on, for its messages and reports.
pub fn git_ran_on() -> String {
    format!("git {}", git_version().0)
}

/// For a test that needs a feature of git `major.minor` or later: true when the git on
/// PATH has it (and the test reports the git it ran on); false, with a loud "skipped"
/// report, when it is older, and the test then returns at once. scripts/test runs the
/// suite again on the newest git and fails if anything is skipped there.
pub fn require_git(major: u32, minor: u32) -> bool {
    let (_, (have_major, have_minor, _)) = git_version();
    if (*have_major, *have_minor) >= (major, minor) {
        report(&format!(
            "needs git ≥ {major}.{minor}, ran on {}",
            git_ran_on()
        ));
        true
    } else {
        report(&format!(
            "skipped: needs git ≥ {major}.{minor}, ran on {}",
            git_version().0
        ));
        false
    }
}

/// A line for the run's report: on stderr (shown with --nocapture or on failure) and,
/// under scripts/test, appended to $GIT_SEAL_TEST_REPORT, which it prints after the run
/// ("<what>: <test name>").
pub fn report(what: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let line = format!("{what}: {}\n", thread.name().unwrap_or("?"));
    eprint!("{line}");
    if let Some(path) = std::env::var_os("GIT_SEAL_TEST_REPORT") {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path);
        // One write of one short line, so lines from parallel tests do not interleave.
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Whether `git seal install` writes shims into the hooks directory by default: on
/// git before 2.54. On newer git it registers config-defined hooks and leaves the
/// hooks directory to other managers, so a test of how shims live beside their files
/// does not apply there (config_hooks.rs tests that form); it says so and returns.
pub fn shims_by_default() -> bool {
    let (_, (major, minor, _)) = git_version();
    if (*major, *minor) >= (2, 54) {
        // Not "skipped:", which scripts/test reads as a test waiting for a newer git:
        // this one tests older git's form, and ran on the git on PATH.
        report(&format!(
            "does not apply: on {} install registers config-defined hooks and leaves the hooks directory alone",
            git_ran_on()
        ));
        false
    } else {
        true
    }
}
