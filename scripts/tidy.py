#!/usr/bin/env python3
"""The runner of scripts/tidy.sh (not meant to be called by hand).

    tidy.py BUILD_DIR ROOT CLANG_TIDY JOBS CACHE_DIR UNIT...

Runs one clang-tidy per translation unit, JOBS at once, the longest first
(by the durations of the last run, kept in CACHE_DIR), and prints the
findings of each failing unit, then one summary line. Exits 1 on any
finding (or clang-tidy failure).

CACHE_DIR ("off": none) remembers the units that passed, like ccache does
for objects: the key is a hash of clang-tidy's version and arguments, every
.clang-tidy from the unit's directory up to ROOT, the unit's compile
command, and the path and content of every file the unit includes (ninja's
dependency log of its object, so the build must be current: a unit whose
object is older than one of its files is run and not remembered). A unit
whose key passed before is not run again; one with findings always is.
At most CACHE_LIMIT entries are kept (the least recently used go first).
"""
import concurrent.futures
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time

ARGS = ["--quiet", "--warnings-as-errors=*"]
CACHE_LIMIT = 4096
NOISE = re.compile(
    r"^(\d+ warnings? generated\.|Suppressed \d+ warnings|Use -header-filter"
    r"|\d+ warnings? treated as errors$)"
)
DEPS_HEAD = re.compile(r"^(.*): #deps \d+, deps mtime \d+ \((\w+)\)$")


def ninja_deps(build):
    """Object (relative to BUILD_DIR) -> the files it was built from."""
    out = subprocess.run(
        ["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True, check=True
    ).stdout
    deps, cur = {}, None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            m = DEPS_HEAD.match(line)
            cur = m.group(1) if m and m.group(2) == "VALID" else None
            if cur:
                deps[cur] = []
        elif cur:
            deps[cur].append(line.strip())
    return deps


class keys:
    def __init__(self, build, root, tidy):
        self.build, self.root = build, root
        self.deps = ninja_deps(build)
        self.hashes = {}
        version = subprocess.run([tidy, "--version"], capture_output=True, text=True).stdout
        self.base = hashlib.sha256(
            "\0".join(["ping-tidy 1", version, *ARGS]).encode()
        ).digest()

    def content(self, path):
        h = self.hashes.get(path)
        if h is None:
            with open(path, "rb") as f:
                h = hashlib.sha256(f.read()).digest()
            self.hashes[path] = h
        return h

    def of(self, entry, unit):
        """The unit's key, or None when its dependencies are unknown or newer
        than its object."""
        files = self.deps.get(entry["output"])
        if not files:
            return None
        h = hashlib.sha256(self.base)
        try:
            built = os.stat(os.path.join(entry["directory"], entry["output"])).st_mtime_ns
            d = os.path.dirname(unit)
            while d.startswith(self.root):
                cfg = os.path.join(d, ".clang-tidy")
                if os.path.exists(cfg):
                    h.update(cfg.encode() + b"\0" + self.content(cfg))
                d = os.path.dirname(d)
            h.update(entry["command"].encode() + b"\0" + entry["file"].encode() + b"\0")
            for f in files:
                p = os.path.join(entry["directory"], f)
                if os.stat(p).st_mtime_ns > built:
                    return None
                h.update(f.encode() + b"\0" + self.content(p))
        except OSError:
            return None
        return h.hexdigest()


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def store_json(path, value):
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=0, sort_keys=True)
    os.replace(tmp, path)


def prune(cache):
    entries = [e for e in os.scandir(cache) if len(e.name) == 64]
    if len(entries) > CACHE_LIMIT:
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for e in entries[: len(entries) - CACHE_LIMIT]:
            os.unlink(e.path)


def main():
    build, root, tidy, jobs, cache = sys.argv[1:6]
    build, root = os.path.realpath(build), os.path.realpath(root)
    units = sys.argv[6:]
    cache = None if cache == "off" else cache
    started = time.monotonic()

    with open(os.path.join(build, "compile_commands.json")) as f:
        db = {os.path.realpath(os.path.join(e["directory"], e["file"])): e for e in json.load(f)}
    key = {}
    passed_before = 0
    durations = {}
    if cache:
        os.makedirs(cache, exist_ok=True)
        durations = load_json(os.path.join(cache, "durations.json"))
        k = keys(build, root, tidy)
        todo = []
        for u in units:
            key[u] = k.of(db[u], u)
            if key[u] and os.path.exists(os.path.join(cache, key[u])):
                os.utime(os.path.join(cache, key[u]))
                passed_before += 1
            else:
                todo.append(u)
        units = todo

    def rel(u):
        return os.path.relpath(u, root)

    # Longest first (unknown ones count as longest): the last unit started
    # is a short one, so both cores stay busy to the end.
    units.sort(key=lambda u: -durations.get(rel(u), math.inf))

    def run(unit):
        t = time.monotonic()
        p = subprocess.run(
            [tidy, "-p", build, *ARGS, unit],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return unit, p.returncode, p.stdout, time.monotonic() - t

    failed = []
    took = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(jobs)) as pool:
        for unit, rc, out, secs in pool.map(run, units):
            took[rel(unit)] = secs
            if rc != 0:
                failed.append(unit)
                print("\n".join(line for line in out.splitlines() if not NOISE.match(line)))
            elif cache and key.get(unit):
                open(os.path.join(cache, key[unit]), "w").close()

    if cache:
        durations.update({u: round(s, 1) for u, s in took.items()})
        store_json(os.path.join(cache, "durations.json"), durations)
        prune(cache)
    slowest = sorted(took.items(), key=lambda kv: -kv[1])[:3]
    print(
        f"tidy: {len(units) + passed_before} translation units"
        + (f" ({passed_before} unchanged since they passed, {len(units)} run)" if cache else "")
        + f", {len(failed)} with findings, {round(time.monotonic() - started)} s"
        + (
            "; slowest: " + ", ".join(f"{u} {round(s)} s" for u, s in slowest)
            if slowest
            else ""
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
