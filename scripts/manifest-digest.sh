#!/usr/bin/env bash
# Recomputes a commit's manifest digest (git-seal brief §2.1) with git and sha256sum
# alone, independently of git-seal: the recipe the README documents.
# Usage: scripts/manifest-digest.sh [REV]   (run inside the repository)
set -euo pipefail
export LC_ALL=C
rev=${1:-HEAD}
# `git ls-tree -r` lists entries in git's tree order, which for full paths is raw
# byte order: exactly the manifest's order. (Its --format option C-quotes odd paths
# even with -z, so the default `-z -l` output is parsed: meta TAB path NUL.)
git ls-tree -r -z -l --full-tree "$rev" |
  while IFS= read -r -d '' line; do
    path=${line#*$'\t'}
    read -r mode type oid size <<<"${line%%$'\t'*}"
    if [ "$type" = commit ]; then
      hash=$oid size=0 # a submodule: its commit id, size 0
    else
      hash=$(git cat-file blob "$oid" | sha256sum | cut -d' ' -f1)
    fi
    printf '%s %s %s %s\0' "$mode" "$hash" "$size" "$path"
  done | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
