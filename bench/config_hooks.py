#!/usr/bin/env python3
"""post-commit through a config-defined hook (git >= 2.54) vs through the shim file.

    python3 bench/config_hooks.py [--runs N] [--git DIR]

A small repository (200 files); each run commits one changed file and git-seal
seals it. Prints the median commit time with the shim, with the config hook, with no
hook at all (the floor), and the ratio config / shim (the issue's bar: 1.0 or less).
Runs alternate between the forms so drift on a noisy machine hits both alike. Uses
target/release/git-seal and the git in --git (default: the newest git scripts/test
builds, ~/.cache/git-seal/test-tools/git-2.55.0/bin).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, alternate, env_for, write_small_tree  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--git", default=os.path.expanduser(
        "~/.cache/git-seal/test-tools/git-2.55.0/bin"))
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    base = tempfile.mkdtemp(prefix="git-seal-bench-hooks-")
    env = env_for(base, args.git)
    version = subprocess.run(["git", "--version"], env=env, capture_output=True,
                             text=True).stdout.strip()

    def run(cwd, *a):
        p = subprocess.run(a, cwd=cwd, env=env, capture_output=True)
        if p.returncode != 0:
            sys.exit(f"{' '.join(a)} failed: {p.stderr.decode().strip()}")
        return p

    repos = {}
    for form in ["files", "config", "none"]:
        path = os.path.join(base, form)
        run(base, "git", "init", "-q", "-b", "main", path)
        write_small_tree(path)
        run(path, "git", "add", "-A")
        run(path, "git", "commit", "-q", "-m", "base")
        if form != "none":
            run(path, BIN, "install", "--hooks", form, "--no-fetch-refspec")
            run(path, BIN, "seal", "--missing")
        repos[form] = path

    def step(i, form, path):
        with open(os.path.join(path, "d0", "f0.txt"), "a") as f:
            f.write(f"{i}\n")
        t = time.perf_counter()
        run(path, "git", "commit", "-q", "-a", "-m", f"c{i}")
        return time.perf_counter() - t

    times = alternate(repos, args.runs, step)
    for form in ["files", "config"]:
        notes = run(repos[form], "git", "notes", "--ref", "seal", "list").stdout.count(b"\n")
        if notes != args.runs + 1:
            sys.exit(f"{form}: {notes} seals for {args.runs + 1} commits")
    med = {form: statistics.median(t) * 1000 for form, t in times.items()}
    print(f"{version}, {args.runs} commits each, 200-file repository")
    print(f"post-commit via shim file     : {med['files']:.1f} ms (median)")
    print(f"post-commit via config hook   : {med['config']:.1f} ms (median)")
    print(f"floor: commit with no hook    : {med['none']:.1f} ms (median)")
    print(f"ratio config / shim           : {med['config'] / med['files']:.3f} (bar: <= 1.0)")
    print(f"git-seal's cost over the floor: shim {med['files'] - med['none']:.1f} ms, "
          f"config {med['config'] - med['none']:.1f} ms")


if __name__ == "__main__":
    main()
