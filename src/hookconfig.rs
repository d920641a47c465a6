//! Config-defined hooks (git ≥ 2.54): git-seal's hooks as `[hook "git-seal-<event>"]`
//! entries (`event`, `command`) in a repository's, the user's or the machine's git
//! config, instead of shim files in a hooks directory.
//!
//! git runs every config-defined hook of an event in config order, then the hooks
//! directory's script, each with the same arguments and standard input, and a gate
//! (`pre-push`, `pre-receive`) fails if any of them does (`git hook list <event>` shows
//! them). So with config hooks git-seal leaves the hooks directory to other managers:
//! nothing is chained or renamed.
//!
//! Invariants:
//! - Only this module writes `hook.git-seal-*` keys, and it writes no other key: install
//!   sets exactly `hook.git-seal-<event>.event` (one value) and `.command`; uninstall
//!   removes exactly the `hook.git-seal-*` sections of the scope it is given.
//! - The entry names are fixed per event, so installing in several scopes (`--global`
//!   and a repository) still runs git-seal once per event: git keys hooks by name, the
//!   innermost `command` wins.
//! - Every value written goes through `git config`, never by editing a file.

use std::process::{Command, Stdio};

use camino::Utf8Path;

use crate::error::{Error, Result};

/// The first git that runs hooks defined in config.
pub const MIN_GIT: (u32, u32) = (2, 54);

/// Whose config the hooks are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The repository's own config (`git config --local`).
    Local,
    /// The user's (`--global`): every repository of the user runs them.
    Global,
    /// The machine's (`--system`).
    System,
}

impl Scope {
    fn flag(self) -> &'static str {
        match self {
            Scope::Local => "--local",
            Scope::Global => "--global",
            Scope::System => "--system",
        }
    }

    /// The word git's `--show-scope` prints for it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
            Scope::System => "system",
        }
    }
}

/// Where `git` runs: a repository's directory (needed for `--local`), or anywhere.
pub struct Git<'a> {
    pub dir: Option<&'a Utf8Path>,
}

impl Git<'_> {
    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        if let Some(dir) = self.dir {
            cmd.current_dir(dir.as_std_path());
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn output(&self, args: &[&str]) -> Result<std::process::Output> {
        self.command().args(args).output().map_err(|e| {
            Error::usage(format!("cannot run git: {e}")).hint("install git and put it on PATH")
        })
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.output(args)?;
        if !out.status.success() {
            return Err(Error::usage(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// git's (major, minor) version.
    pub fn version(&self) -> Option<(u32, u32)> {
        let out = self.run(&["--version"]).ok()?;
        let mut parts = out.split_whitespace().nth(2)?.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }

    /// Whether this git runs hooks defined in config.
    pub fn supports_config_hooks(&self) -> bool {
        self.version().is_some_and(|v| v >= MIN_GIT)
    }
}

/// The config name of git-seal's hook for `event`.
pub fn name(event: &str) -> String {
    format!("git-seal-{event}")
}

/// The shell command git runs for `event` (git appends `"$@"` when the hook has
/// arguments). As the shim: git's pid goes along as `SEAL_GIT_PID` (the hook reads
/// git's command line), a missing binary is one clear line (a gate then refuses, a
/// sealing hook warns), and reference-transaction starts no process unless a committed
/// transaction names a tag or a fetched ledger.
pub fn command(event: &str, binary: &Utf8Path) -> String {
    let bin = crate::quote::shell(binary.as_str());
    let gone = match event {
        "pre-push" | "pre-receive" => format!(
            "[ -x {bin} ] || {{ echo 'error: git-seal cannot check this push: its binary is gone' {bin} >&2; \
             echo 'hint: reinstall it with ./install.sh, then run: git seal install' >&2; exit 1; }}; "
        ),
        "reference-transaction" => String::new(),
        _ => format!(
            "[ -x {bin} ] || {{ echo 'warning: git-seal ({event}): its binary is gone' {bin} 'nothing was sealed' >&2; \
             echo 'hint: reinstall it with ./install.sh, then run: git seal seal --missing' >&2; exit 0; }}; "
        ),
    };
    if event == "reference-transaction" {
        // The trailing `:` takes the `"$@"` git appends.
        return format!(
            "[ \"$1\" = committed ] && [ -x {bin} ] || exit 0; \
             while read -r o n r; do case \"$r\" in refs/tags/*|refs/seal/remotes/*) \
             {{ printf '%s\\n' \"$o $n $r\"; cat; }} | SEAL_GIT_PID=$PPID {bin} hook {event} \"$1\"; exit $?;; \
             esac; done; :"
        );
    }
    format!("{gone}SEAL_GIT_PID=$PPID exec {bin} hook {event}")
}

/// One git-seal hook found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    pub events: Vec<String>,
    pub command: Option<String>,
}

/// git-seal's hooks in the config of `scope`, in config order.
pub fn registered(git: &Git<'_>, scope: Scope) -> Result<Vec<Registered>> {
    let out = git.output(&[
        "config",
        scope.flag(),
        "-z",
        "--get-regexp",
        r"^hook\.git-seal-[^.]*\.",
    ])?;
    // `--get-regexp` exits 1 when nothing matches; a missing global or system file
    // is nothing registered, too.
    if !out.status.success() {
        return Ok(Vec::new());
    }
    let mut found: Vec<Registered> = Vec::new();
    for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let (key, value) = entry.split_once('\n').unwrap_or((&entry, ""));
        let Some(rest) = key.strip_prefix("hook.") else {
            continue;
        };
        let Some((name, var)) = rest.rsplit_once('.') else {
            continue;
        };
        let at = match found.iter().position(|r| r.name == name) {
            Some(at) => at,
            None => {
                found.push(Registered {
                    name: name.to_string(),
                    events: Vec::new(),
                    command: None,
                });
                found.len() - 1
            }
        };
        match var {
            "event" => found[at].events.push(value.to_string()),
            "command" => found[at].command = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(found)
}

/// One change to a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Set {
        scope: Scope,
        key: String,
        value: String,
    },
    RemoveSection {
        scope: Scope,
        name: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Set { scope, key, value } => {
                write!(f, "set {key} = {value} in the {} config", scope.name())
            }
            Step::RemoveSection { scope, name } => {
                write!(f, "remove hook {name} from the {} config", scope.name())
            }
        }
    }
}

/// The steps that make `scope`'s config hold exactly git-seal's hooks for `events`
/// (pointing at `binary`), removing its hooks for other events. Nothing already right
/// is rewritten.
pub fn plan_install(
    git: &Git<'_>,
    scope: Scope,
    events: &[&str],
    binary: &Utf8Path,
) -> Result<Vec<Step>> {
    let have = registered(git, scope)?;
    let mut steps = Vec::new();
    for r in &have {
        if !events.iter().any(|e| name(e) == r.name) {
            steps.push(Step::RemoveSection {
                scope,
                name: r.name.clone(),
            });
        }
    }
    for event in events {
        let name = name(event);
        let command = command(event, binary);
        let current = have.iter().find(|r| r.name == name);
        if current.is_some_and(|r| r.events != [event.to_string()]) {
            // A hand-edited entry with other events: start it again.
            steps.push(Step::RemoveSection {
                scope,
                name: name.clone(),
            });
        }
        let fresh = current.is_none_or(|r| r.events != [event.to_string()]);
        if fresh {
            steps.push(Step::Set {
                scope,
                key: format!("hook.{name}.event"),
                value: event.to_string(),
            });
        }
        if fresh || current.and_then(|r| r.command.as_deref()) != Some(command.as_str()) {
            steps.push(Step::Set {
                scope,
                key: format!("hook.{name}.command"),
                value: command,
            });
        }
    }
    Ok(steps)
}

/// The steps that remove every git-seal hook from `scope`'s config.
pub fn plan_uninstall(git: &Git<'_>, scope: Scope) -> Result<Vec<Step>> {
    Ok(registered(git, scope)?
        .into_iter()
        .map(|r| Step::RemoveSection {
            scope,
            name: r.name,
        })
        .collect())
}

/// Carries out config steps, in order.
pub fn apply(git: &Git<'_>, steps: &[Step]) -> Result<()> {
    for step in steps {
        match step {
            Step::Set { scope, key, value } => {
                git.run(&["config", scope.flag(), "--replace-all", key, value])?;
            }
            Step::RemoveSection { scope, name } => {
                git.run(&[
                    "config",
                    scope.flag(),
                    "--remove-section",
                    &format!("hook.{name}"),
                ])?;
            }
        }
    }
    Ok(())
}

/// One line of `git hook list --show-scope <event>`: what git runs for the event, in
/// its order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    /// `local`, `global`, `system`, … or `hookdir` for the hooks directory's script.
    pub scope: String,
    /// The hook's config name, or `hook from hookdir`.
    pub name: String,
    pub disabled: bool,
}

impl Listed {
    pub fn is_ours(&self) -> bool {
        self.scope != "hookdir" && self.name.starts_with("git-seal-")
    }
}

impl std::fmt::Display for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.scope == "hookdir" {
            return write!(f, "{}", self.name);
        }
        write!(f, "{} ({})", self.name, self.scope)?;
        if self.disabled {
            write!(f, " disabled")?;
        }
        Ok(())
    }
}

/// What git runs for `event`, as `git hook list` shows it; empty on a git without
/// config hooks.
pub fn list(git: &Git<'_>, event: &str) -> Result<Vec<Listed>> {
    let out = git.output(&["hook", "list", "-z", "--show-scope", event])?;
    if !out.status.success() {
        return Ok(Vec::new());
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let line = String::from_utf8_lossy(line);
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                [scope, "disabled", name] => Listed {
                    scope: scope.to_string(),
                    name: name.to_string(),
                    disabled: true,
                },
                [scope, name] if *name != "hook from hookdir" => Listed {
                    scope: scope.to_string(),
                    name: name.to_string(),
                    disabled: false,
                },
                _ => Listed {
                    scope: "hookdir".to_string(),
                    name: fields.last().unwrap_or(&"").to_string(),
                    disabled: false,
                },
            }
        })
        .collect())
}
