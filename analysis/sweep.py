#!/usr/bin/python3
"""Expand a config's [sweep] section and run every point with `pesim run -s ...`.

A stand-in for `pesim sweep` where that command is not available, and a grid counter:

    analysis/sweep.py CONFIG [--count] [-j N] [--pesim PATH] [-s SECTION.KEY=VALUE]...

--count prints the number of points and of inferences (samples per point from
[experiment] samples, else from the trace's sample count) and runs nothing. Every point is one
`pesim run -q CONFIG -s KEY=VALUE ...` into the config's own result database, so a point that is
already done is skipped by pesim itself (runs are keyed by their config hash) and rerunning the
script resumes an interrupted grid. The reader follows the syntax of docs/config.md: `include`
anywhere (relative to the including file), `;`/`#` comments, indented continuation lines, later
keys override earlier ones; values are lists (commas and/or spaces), ranges first:last:step, or
for list-valued keys (exit.kernel, exit.exits) lists separated by `;`; mode = cross | zip.
"""
import argparse
import concurrent.futures
import itertools
import os
import re
import sqlite3
import subprocess
import sys

LIST_KEYS = {"exit.kernel", "exit.exits"}


def strip_comment(line):
    """Drop a ';'/'#' comment: a whole-line one, or one after a value preceded by a blank."""
    s = line.lstrip()
    if s.startswith(";") or s.startswith("#"):
        return ""
    m = re.search(r"\s[;#]", line)
    return line[: m.start()] if m else line


def read_ini(path, keys, depth=0):
    """Fill keys[(section, key)] = value from path and its includes, in file order."""
    if depth > 16:
        sys.exit(f"{path}: includes nested deeper than 16")
    section = None
    last = None
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    for raw in lines:
        cont = raw[:1] in (" ", "\t")
        line = strip_comment(raw).strip()
        if not line:
            continue
        if cont and last is not None:
            keys[last] = (keys[last] + " " + line).strip()
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            last = None
            continue
        if "=" not in line:
            sys.exit(f"{path}: cannot read line '{raw}'")
        k, v = (p.strip() for p in line.split("=", 1))
        if k == "include":
            read_ini(os.path.join(os.path.dirname(path), v), keys, depth + 1)
            last = None
            continue
        last = (section, k)
        keys.pop(last, None)  # re-insert so that file order follows the latest definition
        keys[last] = v


def fmt_num(x):
    if abs(x - round(x)) < 1e-9:
        return str(int(round(x)))
    return ("%.10f" % x).rstrip("0").rstrip(".")


def expand(param, text):
    """The list of values of one sweep line."""
    if param in LIST_KEYS:
        return [v.strip() for v in text.split(";") if v.strip()]
    out = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        m = re.fullmatch(r"([^:]+):([^:]+):([^:]+)", item)
        if m:
            a, b, step = (float(g) for g in m.groups())
            if step <= 0 or b < a:
                sys.exit(f"[sweep] {param}: bad range '{item}'")
            n = int((b - a) / step + 1e-9)
            out += [fmt_num(a + i * step) for i in range(n + 1)]
        else:
            out.append(item)
    return out


def points(keys):
    """(mode, [(param, [values])], [[(param, value), ...] per point])."""
    sweep = [(k, v) for (s, k), v in keys.items() if s == "sweep" and k != "mode"]
    mode = keys.get(("sweep", "mode"), "cross")
    lists = [(k, expand(k, v)) for k, v in sweep]
    if not lists:
        return mode, lists, [[]]
    if mode == "zip":
        n = {len(v) for _, v in lists}
        if len(n) != 1:
            sys.exit("[sweep] mode = zip needs lists of the same length")
        pts = [[(k, v[i]) for k, v in lists] for i in range(n.pop())]
    else:
        pts = [list(zip([k for k, _ in lists], combo))
               for combo in itertools.product(*[v for _, v in lists])]
    return mode, lists, pts


def samples_per_point(keys, overrides):
    eff = {f"{s}.{k}": v for (s, k), v in keys.items()}
    eff.update(overrides)
    n = int(eff.get("experiment.samples", "0") or 0)
    trace = eff.get("experiment.trace", "")
    if n == 0 and trace and os.path.exists(trace):
        db = sqlite3.connect(f"file:{trace}?mode=ro", uri=True)
        first = int(eff.get("experiment.first_sample", "0") or 0)
        n = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] - first
        db.close()
    return n if n > 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--count", action="store_true", help="print the grid size, run nothing")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="points run at once")
    ap.add_argument("--pesim", default=os.environ.get("PESIM", "pesim"), help="pesim binary")
    ap.add_argument("-s", "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override applied to every point (after the sweep values)")
    a = ap.parse_args()
    keys = {}
    read_ini(a.config, keys)
    overrides = dict(s.split("=", 1) for s in a.set)
    mode, lists, pts = points(keys)
    n = samples_per_point(keys, overrides)
    if a.count:
        shape = " x ".join(f"{k} ({len(v)})" for k, v in lists) or "(no sweep)"
        inf = f"{n * len(pts)}" if n else "unknown (no trace yet)"
        print(f"{a.config}: {len(pts)} points [{mode}: {shape}], "
              f"{n if n else '?'} samples each, {inf} inferences")
        return 0

    def run(i, pt):
        cmd = [a.pesim, "run", "-q", a.config]
        for k, v in pt + list(overrides.items()):
            cmd += ["-s", f"{k}={v}"]
        desc = " ".join(f"{k}={v}" for k, v in pt)
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            return i, 1, desc, f"cannot run {a.pesim}: {e.strerror}"
        return i, r.returncode, desc, r.stdout.strip()

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        futs = [ex.submit(run, i, p) for i, p in enumerate(pts)]
        for f in concurrent.futures.as_completed(futs):
            i, rc, desc, out = f.result()
            if rc:
                failed += 1
                print(f"point {i + 1}/{len(pts)} {desc}: exit {rc}\n{out}", file=sys.stderr)
    print(f"{a.config}: {len(pts) - failed}/{len(pts)} points done")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
