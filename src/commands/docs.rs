//! `git seal completions SHELL` and `git seal man --out DIR`: shell completions and
//! man pages, generated from the same clap definitions as the parser, so they cannot
//! drift from it. `install.sh` installs both.

use camino::Utf8PathBuf;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::out;
use crate::error::{Error, Result};

/// Print shell completions (bash, zsh, fish)
///
/// bash: also defines `_git_seal`, which git's own completion calls for
/// `git seal <TAB>`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Write the man pages: git-seal(1) and one per subcommand (git-seal-install(1) …)
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: Utf8PathBuf,
}

/// The command tree as the standalone program `git-seal` (what shells complete and
/// what `man git-seal` documents; git runs it for `git seal`).
fn program() -> clap::Command {
    Cli::command()
}

/// Lets git's bash completion (`git seal <TAB>`) use ours: git calls `_git_seal`
/// with the words of the whole git command line.
const GIT_BASH_BRIDGE: &str = r#"
# git's completion calls _git_seal for `git seal ...`: complete as git-seal would.
_git_seal() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local i seal_at=-1
    for ((i = 0; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == seal ]]; then seal_at=$i; break; fi
    done
    ((seal_at < 0)) && return
    local COMP_WORDS=(git-seal "${COMP_WORDS[@]:seal_at+1}")
    local COMP_CWORD=$((COMP_CWORD - seal_at))
    local COMP_LINE="${COMP_WORDS[*]}"
    local COMP_POINT=${#COMP_LINE}
    local spec fn
    spec=$(complete -p git-seal 2>/dev/null) || return
    fn=${spec##*-F }
    fn=${fn%% *}
    "$fn" git-seal "$cur" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

pub fn run_completions(args: CompletionsArgs) -> Result<u8> {
    let mut cmd = program();
    let mut buf = Vec::new();
    match args.shell {
        Shell::Bash => {
            let mut script = Vec::new();
            clap_complete::generate(
                clap_complete::Shell::Bash,
                &mut cmd,
                "git-seal",
                &mut script,
            );
            // clap_complete escapes the `-` of `git-seal` one way where it records the
            // subcommand and another where it matches it; one spelling makes options
            // complete (the bash test checks both).
            let script = String::from_utf8_lossy(&script).replace("git__subcmd__seal", "git__seal");
            buf.extend_from_slice(script.as_bytes());
            buf.extend_from_slice(GIT_BASH_BRIDGE.as_bytes());
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "git-seal", &mut buf)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "git-seal", &mut buf)
        }
    }
    out(&buf)?;
    Ok(0)
}

pub fn run_man(args: ManArgs) -> Result<u8> {
    fs_err::create_dir_all(&args.out).map_err(|e| {
        Error::environment(format!("cannot create {}: {e}", args.out))
            .with_source(e)
            .hint(format!(
                "name a directory you can write: {}",
                crate::quote::git_seal("man --out ./man")
            ))
    })?;
    let mut cmd = program();
    // Built first, so that each subcommand holds the global options (`--repo`) its
    // own options refer to when it is rendered alone.
    cmd.build();
    write_page(&args.out, &cmd, "git-seal")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("git-seal-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("git seal {}", sub.get_name()));
        write_page(&args.out, &page, &name)?;
    }
    Ok(0)
}

fn write_page(dir: &Utf8PathBuf, cmd: &clap::Command, name: &str) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_ascii_uppercase())
        .section("1")
        .manual("git-seal manual")
        .render(&mut buf)
        .map_err(|e| {
            Error::internal(format!("cannot render the {name} man page: {e}")).with_source(e)
        })?;
    let path = dir.join(format!("{name}.1"));
    crate::fsutil::write_atomic(&path, &buf)
        .map_err(|e| Error::environment(format!("cannot write {path}: {e}")).with_source(e))?;
    Ok(())
}
