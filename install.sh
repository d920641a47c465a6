#!/bin/sh
# Builds git-seal and installs it: the binary, its man pages and shell completions.
# Wires a repository's hooks only when you name one.
#
#   ./install.sh [--prefix DIR] [REPO]
#
# --prefix DIR   install under DIR (default: $HOME/.local): DIR/bin/git-seal,
#                DIR/share/man/man1/git-seal*.1, and completions for bash, zsh, fish
# REPO           also wire that repository's hooks (same as: git seal install --repo REPO)
# --no-hooks     accepted for compatibility; hooks are wired only when REPO is given
# Needs a Rust toolchain (cargo) and git. Safe to run again.
set -eu

prefix="${HOME:?HOME is not set}/.local"
repo=
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "error: --prefix needs a directory" >&2; exit 2; }
        prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --no-hooks) shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; echo "hint: ./install.sh --help" >&2; exit 2 ;;
    *) repo=$1; shift ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
command -v cargo >/dev/null 2>&1 || {
    echo "error: cargo is not on PATH, and git-seal is built from source" >&2
    echo "hint: install a Rust toolchain (https://rustup.rs), then run ./install.sh again" >&2
    exit 2
}
command -v git >/dev/null 2>&1 || { echo "error: git is not on PATH" >&2; echo "hint: install git" >&2; exit 2; }
if [ -n "$repo" ] && ! git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    echo "error: $repo is not a git repository" >&2
    echo "hint: ./install.sh /path/to/repository" >&2
    exit 2
fi

echo "building git-seal (release; the first build takes a few minutes)..."
# cargo's own progress lines ("Compiling …", a progress bar on a terminal) show it moving.
cargo build --release --locked --manifest-path "$here/Cargo.toml"
mkdir -p "$prefix/bin"
# Copy then rename, so that a hook running right now never sees a half-written binary.
cp "$here/target/release/git-seal" "$prefix/bin/.git-seal.new"
mv -f "$prefix/bin/.git-seal.new" "$prefix/bin/git-seal"
echo "installed $prefix/bin/git-seal"

bin="$prefix/bin/git-seal"
man="$prefix/share/man/man1"
"$bin" man --out "$man"
echo "installed man pages in $man (git seal --help and git help seal open them)"
bash_dir="$prefix/share/bash-completion/completions"
zsh_dir="$prefix/share/zsh/site-functions"
fish_dir="$prefix/share/fish/vendor_completions.d"
mkdir -p "$bash_dir" "$zsh_dir" "$fish_dir"
# bash-completion loads "git-seal" for `git-seal <TAB>`, and git's own completion
# loads it for `git seal <TAB>`.
"$bin" completions bash >"$bash_dir/git-seal"
"$bin" completions zsh >"$zsh_dir/_git-seal"
"$bin" completions fish >"$fish_dir/git-seal.fish"
echo "installed completions for bash, zsh and fish under $prefix/share"

case ":$PATH:" in
*":$prefix/bin:"*) ;;
*) echo "note: $prefix/bin is not on your PATH; add it so that 'git seal' (and man) find it:"
   echo "      export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
if [ -z "$repo" ]; then
    echo "to seal a repository: cd into it and run: git seal install"
    exit 0
fi
"$bin" install --repo "$repo"
