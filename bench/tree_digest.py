#!/usr/bin/env python3
"""What a manifest digest built from subtrees would cost, beside today's (issue 14).

    python3 bench/tree_digest.py REPO [--runs N]

Today a commit's manifest digest is SHA-256 over its whole canonical listing (PRODUCT
§2.1), so hashing a history costs the sum, over every commit, of its listing's bytes,
and a commit costs its repository's size. A digest built from subtrees (each
directory's digest over the listing of its direct entries, a subdirectory entry
carrying its digest) would cost, over a history, the listing bytes of each distinct
tree once, and a commit the directories it changed.

This is a proposal's figure, not a format git-seal writes: it reads REPO's history of
HEAD and prints both byte totals, OpenSSL's SHA-256 time over each (median of
--runs), and their ratio. The tree-shaped listing is sized as today's entries are
(`<mode 6> SP <sha256 hex 64> SP <size> SP <name> NUL`), with a subdirectory's entry
carrying its digest and its byte total.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import entry_len, floor_manifests, listing_bytes  # noqa: E402
from bench import env_for  # noqa: E402

# A subdirectory's entry carries its byte total; 7 digits is a fair length for it.
SUBTREE_TOTAL = 1_000_000


def tree_shaped_bytes(repo, env):
    """The listing bytes of every distinct tree reachable from HEAD's history, and
    how many trees that is."""
    objects = subprocess.run(["git", "rev-list", "--objects", "--no-object-names", "HEAD"], cwd=repo, env=env,
                             stdout=subprocess.PIPE, check=True).stdout
    check = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
                           cwd=repo, env=env, input=objects, stdout=subprocess.PIPE, check=True).stdout
    sizes, trees = {}, []
    for line in check.split(b"\n"):
        parts = line.split(b" ")
        if len(parts) != 3:
            continue
        if parts[1] == b"blob":
            sizes[bytes.fromhex(parts[0].decode())] = int(parts[2])
        elif parts[1] == b"tree":
            trees.append(parts[0])
    raw = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, env=env, input=b"\n".join(trees) + b"\n",
                         stdout=subprocess.PIPE, check=True).stdout
    hexlen = len(trees[0]) if trees else 40
    idlen = hexlen // 2
    total, at = 0, 0
    for _ in trees:
        nl = raw.index(b"\n", at)
        size = int(raw[at:nl].split(b" ")[2])
        body = raw[nl + 1:nl + 1 + size]
        at = nl + 1 + size + 1
        i = 0
        while i < len(body):
            sp = body.index(b" ", i)
            nul = body.index(b"\0", sp)
            mode, name = body[i:sp], body[sp + 1:nul]
            oid = body[nul + 1:nul + 1 + idlen]
            i = nul + 1 + idlen
            total += entry_len(name, SUBTREE_TOTAL if mode == b"40000" else sizes.get(oid, 0))
    return total, len(trees)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    env = env_for(tempfile.mkdtemp(prefix="git-seal-tree-digest-"))
    commits = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=a.repo, env=env,
                                 stdout=subprocess.PIPE, check=True).stdout)
    today = listing_bytes(a.repo, env)
    shaped, trees = tree_shaped_bytes(a.repo, env)
    t_today = floor_manifests(today, a.runs)
    t_shaped = floor_manifests(shaped, a.runs)
    print(f"{a.repo}: {commits} commits, {trees} distinct trees", flush=True)
    print(f"today (SHA-256 over every commit's whole listing): {today / 1e9:.3f} GB, {t_today:.2f} s", flush=True)
    print(f"built from subtrees (each distinct tree's listing once): {shaped / 1e9:.3f} GB, {t_shaped:.2f} s; "
          f"ratio {shaped / today:.4f} of the bytes, {t_shaped / t_today:.4f} of the time", flush=True)


if __name__ == "__main__":
    main()
