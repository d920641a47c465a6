#!/usr/bin/env python3
"""Cost of the evtag's submodule lookup (issue 9.2): `git seal verify TAG` of a tag whose
target has a submodule of 4,000 files, with this build and with a baseline binary (the
one before the lookup by gitlink), alternated in one run; median of N runs and the
ratio. Also the same verify in a clone without the submodule (evtag not checkable).

    python3 bench/submodules.py --baseline /path/to/old/git-seal [--runs 9]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CURRENT = os.path.join(HERE, "..", "target", "release", "git-seal")


def env_for(home):
    env = {k: v for k, v in os.environ.items() if k == "PATH"}
    env.update(HOME=home, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@example.com",
               GIT_COMMITTER_NAME="C", GIT_COMMITTER_EMAIL="c@example.com", LC_ALL="C")
    return env


def run(cwd, env, *args):
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def fill(root, count, prefix):
    for i in range(count):
        d = os.path.join(root, f"d{i % 40}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{prefix}{i}.txt"), "w") as f:
            f.write(f"{prefix} file {i}\n" * 30)


def timed(cwd, env, binary, *args):
    """CPU time (user + system) of the child: steadier than wall time on a shared
    machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run(cwd, env, binary, *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--runs", type=int, default=9)
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="seal-bench-sub-")
    env = env_for(base)
    sub, up, clone = (os.path.join(base, n) for n in ("sub", "up", "clone"))
    for r in (sub, up):
        run(base, env, "git", "init", "-q", "-b", "main", r)
    fill(sub, 4000, "s")
    run(sub, env, "git", "add", "-A")
    run(sub, env, "git", "commit", "-q", "-m", "sub")
    fill(up, 1000, "u")
    run(up, env, "git", "add", "-A")
    run(up, env, "git", "commit", "-q", "-m", "up")
    run(up, env, "git", "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        "../sub", "m/sub")
    run(up, env, "git", "commit", "-q", "-m", "with sub")
    run(up, env, a.baseline, "seal", "HEAD~1", "HEAD")
    run(up, env, "git", "tag", "v1")
    run(up, env, a.baseline, "seal", "v1")
    run(base, env, "git", "clone", "-q", up, clone)
    run(clone, env, CURRENT, "install")
    run(clone, env, "git", "fetch", "-q")
    cur, old, partial = [], [], []
    for _ in range(a.runs):
        old.append(timed(up, env, a.baseline, "verify", "v1"))
        cur.append(timed(up, env, CURRENT, "verify", "v1"))
        partial.append(timed(clone, env, CURRENT, "verify", "v1"))
    m_old, m_cur = statistics.median(old), statistics.median(cur)
    print(f"verify TAG, submodule of 4,000 files checked out: {m_cur * 1000:.1f} ms CPU "
          f"(baseline {m_old * 1000:.1f} ms, ratio {m_cur / m_old:.2f}, median of {a.runs})")
    print(f"verify TAG in a clone without the submodule (evtag not checkable): "
          f"{statistics.median(partial) * 1000:.1f} ms CPU")


if __name__ == "__main__":
    sys.exit(main())
