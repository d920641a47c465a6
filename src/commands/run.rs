//! `git seal run` and `git seal record`: record a pipeline step (brief §2.6).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::Repo;
use crate::runlog::{self, Status, Who};
use crate::steps::{self, Ended, HeadInfo, StepRecord};

/// Run a pipeline step and record what it read and wrote
///
/// Hashes the inputs (files or directories, recursively, tracked or not), runs
/// CMD with its own stdin, stdout and stderr, hashes the outputs, and appends a
/// run record (source: run) tied to HEAD and its seal. The exit code is CMD's
/// (128+N when signal N ended it; 127 when it cannot start). Status: SUCCESS (exit 0,
/// every output written), PARTIAL (exit 0, an output missing or not written),
/// FAILED (non-zero exit, signal, not started), SKIPPED (--skip-unchanged, and the
/// last SUCCESS run of this name and command had these inputs and left these
/// outputs). SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are passed on to CMD; SIGINT and
/// SIGQUIT reach it from the terminal. A record that cannot be written is a
/// warning, never the step's failure.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The step's name (default: the command's file name)
    #[arg(long)]
    pub name: Option<String>,
    /// A file or directory the step reads (repeatable)
    #[arg(long = "input", value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub inputs: Vec<PathBuf>,
    /// A file or directory the step writes (repeatable)
    #[arg(long = "output", value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub outputs: Vec<PathBuf>,
    /// Do not run when the last SUCCESS run had these inputs and left these outputs
    #[arg(long)]
    pub skip_unchanged: bool,
    /// Also append the record to the ledger, so clones see it (default: seal.shareRuns)
    #[arg(long)]
    pub share: bool,
    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Record a step that ran elsewhere (never fails the caller)
///
/// Appends a run record (source: run) with the given status, the inputs and
/// outputs hashed now, HEAD and its seal. Arguments are checked (exit 2 when wrong);
/// a record that cannot be written is a warning with exit 0.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The step's name
    #[arg(long)]
    pub name: String,
    /// How the step ended
    #[arg(long, value_enum)]
    pub status: Status,
    /// A file or directory the step read (repeatable)
    #[arg(long = "input", value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub inputs: Vec<PathBuf>,
    /// A file or directory the step wrote (repeatable)
    #[arg(long = "output", value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    pub outputs: Vec<PathBuf>,
    /// What happened, in words
    #[arg(short, long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Also append the record to the ledger (default: seal.shareRuns)
    #[arg(long)]
    pub share: bool,
}

/// What both commands need before the step: the repository, its top, the paths.
struct Prepared {
    repo: Repo,
    cfg: Config,
    root: PathBuf,
    inputs: Vec<String>,
    outputs: Vec<String>,
    share: bool,
}

/// The repository, its settings and the worktree's top (canonical).
fn open() -> Result<(Repo, Config, PathBuf)> {
    let repo = Repo::open(None)?;
    let cfg = Config::load(&repo)?;
    let Some(workdir) = repo.workdir.clone() else {
        return Err(Error::usage(
            "a pipeline step is recorded in a worktree; this repository is bare",
        )
        .hint("to record it, run it in a clone of this repository"));
    };
    let root = std::fs::canonicalize(workdir.as_std_path())?;
    Ok((repo, cfg, root))
}

/// Checks the declared paths (exit 2 when one cannot be recorded).
fn prepare(
    (repo, cfg, root): (Repo, Config, PathBuf),
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    share: bool,
) -> Result<Prepared> {
    let cwd = std::env::current_dir()?;
    let declare = |list: &[PathBuf]| -> Result<Vec<String>> {
        list.iter()
            .map(|p| steps::declare(&root, &cwd, p))
            .collect()
    };
    let inputs = declare(inputs)?;
    let outputs = declare(outputs)?;
    let share = share || repo.config_bool("seal.shareRuns")?.unwrap_or(false);
    Ok(Prepared {
        repo,
        cfg,
        root,
        inputs,
        outputs,
        share,
    })
}

fn who(repo: &Repo) -> Option<Who> {
    repo.identity()
        .ok()
        .map(|(name, email)| Who { name, email })
}

/// Writes the record (and shares it when asked); every failure is a warning.
fn write(p: &Prepared, step: &StepRecord) -> Option<String> {
    let record = step.to_record();
    if let Err(e) = runlog::append(&p.repo.seal_dir(), &record) {
        return Some(format!(
            "warning: the run record of step {} was not written: {e}",
            crate::quote::printable(&step.name)
        ));
    }
    if p.share {
        let signer = signer(&p.repo);
        let key = match &signer {
            Ok(k) => k.as_ref().map(|(k, who)| (k, who.as_str())),
            Err(e) => {
                return Some(format!(
                    "warning: run {} recorded locally, not shared: {e}",
                    record.run_id
                ))
            }
        };
        if let Err(e) = steps::share(&p.repo, &p.cfg, &record, key) {
            let hint = e.hint.map(|h| format!("\nhint: {h}")).unwrap_or_default();
            return Some(format!(
                "warning: run {} recorded locally, not shared: {}{hint}",
                record.run_id, e.message
            ));
        }
    }
    None
}

/// The signing key (and the principal, user.email) when one is configured.
fn signer(
    repo: &Repo,
) -> std::result::Result<Option<(crate::signing::SigningKey, String)>, String> {
    let config = crate::signing::KeyConfig {
        seal_signing_key: repo.config_string("seal.signingKey"),
        user_signing_key: repo.config_string("user.signingKey"),
        gpg_format: repo.config_string("gpg.format"),
    };
    let env = crate::signing::SignEnv {
        home: std::env::var_os("HOME").map(PathBuf::from),
        ssh_auth_sock: std::env::var_os("SSH_AUTH_SOCK"),
    };
    let Some(key) = crate::signing::resolve(&config, &env).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let principal = repo
        .config_string("user.email")
        .or_else(|| std::env::var("GIT_COMMITTER_EMAIL").ok())
        .ok_or("a signing key is configured but user.email is not set")?;
    Ok(Some((key, principal)))
}

fn head_info(p: &Prepared, inputs: &steps::Hashed) -> HeadInfo {
    steps::head_info(&p.repo, &p.cfg, inputs).unwrap_or_default()
}

fn warn_unreadable(h: &steps::Hashed) {
    for (path, why) in &h.unreadable {
        eprintln!(
            "warning: {} could not be hashed: {}",
            crate::quote::c_style(path.as_bytes()),
            crate::quote::printable(why)
        );
    }
}

pub fn run_run(args: RunArgs) -> Result<u8> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Error::usage("no command to run").hint("git seal run --name NAME -- CMD ARGS"));
    };
    let argv: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let name = match &args.name {
        Some(n) => n.clone(),
        None => Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| argv[0].clone()),
    };
    steps::check_name(&name)?;
    let opened = match open() {
        Ok(o) => o,
        Err(e) => {
            // Not recordable here (no repository, a bare one): the step still runs.
            eprintln!(
                "warning: step {} runs unrecorded: {}",
                crate::quote::printable(&name),
                e.message
            );
            if let Some(h) = &e.hint {
                eprintln!("hint: {h}");
            }
            return Ok(exit_code(&execute(program, rest)));
        }
    };
    let p = prepare(opened, &args.inputs, &args.outputs, args.share)?;
    let started_at = runlog::now();
    let inputs = steps::hash_declared(&p.root, &p.inputs);
    let before = steps::hash_declared(&p.root, &p.outputs);
    warn_unreadable(&inputs);
    if args.skip_unchanged {
        if let Some(last) =
            steps::unchanged_since_last_success(&p.repo.seal_dir(), &name, &argv, &inputs, &before)
        {
            let step = StepRecord {
                name: name.clone(),
                argv: Some(argv),
                head: head_info(&p, &inputs),
                inputs,
                outputs: before,
                status: Status::Skipped,
                message: format!("unchanged since run {last}"),
                ended: None,
                by: who(&p.repo),
                started_at,
            };
            crate::commands::warn_log(write(&p, &step));
            eprintln!(
                "skipped {}: inputs and outputs are as run {last} left them",
                crate::quote::printable(&name)
            );
            return Ok(0);
        }
    }
    let head = head_info(&p, &inputs);
    let ended = execute(program, rest);
    let after = steps::hash_declared(&p.root, &p.outputs);
    warn_unreadable(&after);
    let (status, message) = steps::decide(&ended, &p.outputs, &before, &after);
    let code = exit_code(&ended);
    let step = StepRecord {
        name,
        argv: Some(argv),
        inputs,
        outputs: after,
        status,
        message,
        ended: Some(ended),
        head,
        by: who(&p.repo),
        started_at,
    };
    crate::commands::warn_log(write(&p, &step));
    Ok(code)
}

/// The exit code of `git seal run`: the step's, 128+N for signal N, 127 when it
/// could not start (as a shell reports them).
fn exit_code(ended: &Ended) -> u8 {
    let code = match ended {
        Ended::Exited(c) => *c,
        Ended::Signalled(s) => 128 + s,
        Ended::NotStarted(why) => {
            eprintln!("error: {}", crate::quote::printable(why));
            127
        }
    };
    u8::try_from(code & 0xff).unwrap_or(1)
}

/// Runs the step with inherited stdio; forwards the signals that are sent to a
/// process rather than to the terminal's process group.
fn execute(program: &OsString, rest: &[OsString]) -> Ended {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    // Registered before the child starts, so no signal between spawn and wait is
    // lost; SIGINT and SIGQUIT are caught (so git-seal outlives the step to record
    // it) but not passed on: the terminal sends them to the step too.
    let signals =
        signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2]);
    let mut child = match std::process::Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ended::NotStarted(format!("cannot run {}: {e}", program.to_string_lossy()))
        }
    };
    let pid = rustix::process::Pid::from_child(&child);
    let handle = signals.ok().map(|mut signals| {
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for sig in signals.forever() {
                if sig == SIGINT || sig == SIGQUIT {
                    continue;
                }
                if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
                    let _ = rustix::process::kill_process(pid, s);
                }
            }
        });
        (handle, thread)
    });
    let status = child.wait();
    if let Some((handle, _thread)) = handle {
        // Ends the forwarding loop; not joined: its wake-up can take tens of
        // milliseconds, and the process exits soon after anyway.
        handle.close();
    }
    match status {
        Ok(s) => ended_of(s),
        Err(e) => Ended::NotStarted(format!("cannot wait for the step: {e}")),
    }
}

fn ended_of(s: ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(sig)) => Ended::Signalled(sig),
        (None, None) => Ended::Exited(1),
    }
}

pub fn run_record(args: RecordArgs) -> Result<u8> {
    steps::check_name(&args.name)?;
    if let Some(m) = &args.message {
        if m.chars().count() > steps::MAX_MESSAGE {
            return Err(Error::usage(format!(
                "-m is {} characters, over {}",
                m.chars().count(),
                steps::MAX_MESSAGE
            ))
            .hint("say it shorter, e.g. -m 'validated 3 of 5 files'"));
        }
    }
    // Arguments are checked loudly (exit 2); from here on nothing fails the caller.
    let opened = match open() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "warning: step {} not recorded: {}",
                crate::quote::printable(&args.name),
                e.message
            );
            if let Some(h) = &e.hint {
                eprintln!("hint: {h}");
            }
            return Ok(0);
        }
    };
    let p = prepare(opened, &args.inputs, &args.outputs, args.share)?;
    let inputs = steps::hash_declared(&p.root, &p.inputs);
    let outputs = steps::hash_declared(&p.root, &p.outputs);
    warn_unreadable(&inputs);
    warn_unreadable(&outputs);
    let step = StepRecord {
        name: args.name,
        argv: None,
        head: head_info(&p, &inputs),
        inputs,
        outputs,
        status: args.status,
        message: args.message.unwrap_or_default(),
        ended: None,
        by: who(&p.repo),
        started_at: runlog::now(),
    };
    crate::commands::warn_log(write(&p, &step));
    Ok(0)
}
