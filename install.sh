#!/bin/sh
# Builds git-seal, installs it onto PATH, and wires its hooks into a repository.
#
#   ./install.sh [--prefix DIR] [--no-hooks] [REPO]
#
# --prefix DIR   install the binary as DIR/bin/git-seal (default: $HOME/.local)
# --no-hooks     install the binary only
# REPO           the repository to wire (default: the one the current directory is
#                in, if any)
# Needs a Rust toolchain (cargo) and git. Safe to run again.
set -eu

prefix="${HOME:?HOME is not set}/.local"
hooks=1
repo=
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "error: --prefix needs a directory" >&2; exit 2; }
        prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --no-hooks) hooks=; shift ;;
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

echo "building git-seal (release)..."
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
mkdir -p "$prefix/bin"
# Copy then rename, so that a hook running right now never sees a half-written binary.
cp "$here/target/release/git-seal" "$prefix/bin/.git-seal.new"
mv -f "$prefix/bin/.git-seal.new" "$prefix/bin/git-seal"
echo "installed $prefix/bin/git-seal"
case ":$PATH:" in
*":$prefix/bin:"*) ;;
*) echo "note: $prefix/bin is not on your PATH; add it so that 'git seal' works:"
   echo "      export PATH=\"$prefix/bin:\$PATH\"" ;;
esac

[ -n "$hooks" ] || exit 0
if [ -z "$repo" ]; then
    if git rev-parse --git-dir >/dev/null 2>&1; then
        repo=$(pwd)
    else
        echo "no repository here: run 'git seal install' inside one to wire its hooks"
        exit 0
    fi
fi
"$prefix/bin/git-seal" install --repo "$repo"
