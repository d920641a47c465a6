#!/usr/bin/env python3
"""Recomputes a seal's digest (git-seal brief §2.2) independently of git-seal.

Usage: git notes --ref=seal show REV | scripts/seal-digest.py
Prints the stated digest and the recomputed one; exits 1 if they differ.

Seals are YAML 1.2. PyYAML implements YAML 1.1, which would turn RFC 3339 times
into datetime objects and words like `yes` into booleans, so this loader keeps
every plain scalar that is not an integer or null as the string it is.
"""
import hashlib
import json
import sys

import yaml


class Yaml12Loader(yaml.SafeLoader):
    pass


# Drop YAML 1.1's implicit bool, float, timestamp and sexagesimal resolvers.
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp",
                           "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def seal_digest(seal):
    body = {k: v for k, v in seal.items() if k != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def main():
    seal = yaml.load(sys.stdin.read(), Loader=Yaml12Loader)
    computed = seal_digest(seal)
    print(json.dumps({"stated": seal["digest"], "computed": computed,
                      "manifest": seal["manifest"]["digest"]}))
    return 0 if computed == seal["digest"] else 1


if __name__ == "__main__":
    sys.exit(main())
