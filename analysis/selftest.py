#!/usr/bin/python3
"""End-to-end check of the figure pipeline, fast enough for ctest (a few seconds).

    analysis/selftest.py [--pesim PATH] [--keep DIR]

Builds a synthetic logit trace (300 samples, the 20 exits of VGG-19 at width 1/4, confidence and
accuracy growing with depth) with `pesim trace import`, runs a small grid through `pesim run`
that touches every figure (every policy over a few beta values, every governor, an L0, R and
kernel variant, the softmax/entropy/patience rules, a duty-cycled workload), then runs
`pesim report` (or analysis/report.py directly when the binary has no report command) and checks
that every PNG and report.html were written and that the HTML names each of them. It also checks
that a missing interpreter gives the one-line error naming the Debian package.

The pesim binary: --pesim, else $PESIM, else build/default/sim/pesim, else pesim on PATH.
Exit status: 0 pass, 1 fail, 77 skipped (matplotlib missing: ctest's SKIP_RETURN_CODE).
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # importing report.py must leave no __pycache__ in the sources
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

EXITS = 20
CLASSES = 10
SAMPLES = 300
ARCH = "arch=vgg19 width=0.25 input=32x32x1 classes=10"
PERIOD_US = 280.35  # 2x the classic latency of VGG-19 x1/4 on the default accelerator


def find_pesim(arg):
    for p in (arg, os.environ.get("PESIM"), os.path.join(REPO, "build", "default", "sim", "pesim")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return os.path.abspath(p)
    p = shutil.which("pesim")
    if p:
        return p
    sys.exit("selftest: no pesim binary (give --pesim PATH or set PESIM)")


def synthetic_csv(path):
    rng = random.Random(7)
    with open(path, "w") as f:
        f.write("sample,label,exit," + ",".join(f"z{c}" for c in range(CLASSES)) + "\n")
        for s in range(SAMPLES):
            label = rng.randrange(CLASSES)
            hard = rng.random()
            for e in range(EXITS + 1):
                depth = (e + 1) / (EXITS + 1)
                strength = 9.0 * depth * (1.25 - hard)
                guess = label if rng.random() < 0.45 + 0.55 * depth else rng.randrange(CLASSES)
                z = [rng.gauss(0.0, 1.0) for _ in range(CLASSES)]
                z[guess] += strength
                f.write(f"{s},{label},{e}," + ",".join(f"{v:.4f}" for v in z) + "\n")


def grid():
    """Lists of -s overrides, one per run."""
    pts = [["exit.policy=none"]]
    for b in ("0.8", "1.1", "1.4", "2"):
        for pol in ("coarse", "passive", "predictive", "predictive_single", "oracle"):
            pts.append([f"exit.policy={pol}", f"exit.beta={b}"])
    for b in ("1.1", "1.4", "2"):
        pts.append(["exit.policy=coarse", f"exit.beta={b}", "dvfs.governor=race_to_idle"])
        for pol in ("passive", "predictive"):
            for gov in ("race_to_idle", "paper", "deadline", "oracle"):
                pts.append([f"exit.policy={pol}", f"exit.beta={b}", f"dvfs.governor={gov}"])
    for b in ("1.1", "1.4"):
        for l0 in ("3", "6"):
            pts.append(["exit.policy=predictive", f"exit.beta={b}", f"exit.l0={l0}"])
        for gov in ("max", "paper"):
            pts.append(["exit.policy=predictive", f"exit.beta={b}", "exit.rounds=2",
                        f"dvfs.governor={gov}"])
        pts.append(["exit.policy=predictive", f"exit.beta={b}", "exit.kernel=1",
                    "dvfs.governor=paper"])
    for rule, vals in (("softmax", ("0.8", "0.95")), ("entropy", ("0.3", "1"))):
        for v in vals:
            pts.append(["exit.policy=passive", f"exit.rule={rule}", f"exit.beta={v}",
                        "dvfs.governor=race_to_idle"])
    for k in ("2", "3"):
        pts.append(["exit.policy=passive", "exit.rule=patience", f"exit.patience={k}",
                    "dvfs.governor=race_to_idle"])
    duty = ["workload.arrival=periodic", f"workload.period_us={PERIOD_US}"]
    for dl in ("0", str(PERIOD_US)):
        for gov in ("max", "race_to_idle"):
            pts.append(duty + [f"workload.deadline_us={dl}", "exit.policy=none", f"dvfs.governor={gov}"])
        for pol in ("passive", "predictive"):
            for gov in ("race_to_idle", "deadline"):
                pts.append(duty + [f"workload.deadline_us={dl}", f"exit.policy={pol}",
                                   "exit.beta=1.4", f"dvfs.governor={gov}"])
    return pts


def main():
    ap = argparse.ArgumentParser(description="end-to-end check of analysis/report.py")
    ap.add_argument("--pesim")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    a = ap.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("selftest: SKIP: python3-matplotlib is not installed")
        return 77
    import report
    pesim = find_pesim(a.pesim)
    work = a.keep or tempfile.mkdtemp(prefix="pesim-selftest-")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    fails = []
    try:
        csv = os.path.join(work, "syn.csv")
        trace = os.path.join(work, "syn.trace")
        db = os.path.join(work, "selftest.db")
        out = os.path.join(work, "report")
        for p in (trace, db, db + "-wal", db + "-shm"):
            if os.path.exists(p):
                os.remove(p)
        synthetic_csv(csv)
        subprocess.run([pesim, "trace", "import", csv, "--classes", str(CLASSES), "--out", trace,
                        "--meta", f"arch={ARCH}", "--meta", "dataset=synthetic"],
                       check=True, stdout=subprocess.DEVNULL)
        ini = os.path.join(work, "selftest.ini")
        with open(ini, "w") as f:
            f.write(f"include = {os.path.join(REPO, 'configs', 'paper', 'common.ini')}\n"
                    f"include = {os.path.join(REPO, 'configs', 'nets', 'vgg19-w4-32x32x1.ini')}\n"
                    f"[experiment]\ntrace = {trace}\ndata = fashion-mnist\nout = {db}\nlog = all\n")
        for pt in grid():
            cmd = [pesim, "run", "-q", ini]
            for s in pt:
                cmd += ["-s", s]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode:
                fails.append(f"pesim run {' '.join(pt)}: exit {r.returncode}: {r.stdout.strip()}")
        if fails:
            raise RuntimeError
        env = dict(os.environ, PESIM_ANALYSIS_DIR=HERE)
        has_report = subprocess.run([pesim, "report", "--help"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0
        cmd = ([pesim, "report", db, "--out", out] if has_report
               else [sys.executable, os.path.join(HERE, "report.py"), db, "--out", out])
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode:
            fails.append(f"{' '.join(cmd)}: exit {r.returncode}: {r.stdout.strip()}")
            raise RuntimeError
        html_path = os.path.join(out, "report.html")
        if not os.path.isfile(html_path):
            fails.append("report.html missing")
            raise RuntimeError
        with open(html_path, encoding="utf-8") as f:
            page = f.read()
        for name, _ in report.FIGURES:
            fn = f"syn-{name}.png"
            path = os.path.join(out, fn)
            if not os.path.isfile(path) or os.path.getsize(path) < 5000:
                fails.append(f"{fn} missing or empty")
            elif f"src='{fn}'" not in page:
                fails.append(f"report.html does not show {fn}")
        for must in ("Selection rule", "96.2", "72.9", "12.8", "37.6", "classic network (reference)"):
            if must not in page:
                fails.append(f"report.html lacks '{must}'")
        if has_report:
            r = subprocess.run([pesim, "report", db, "--out", out],
                               env=dict(env, PESIM_PYTHON=os.path.join(work, "no-python")),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode != 1 or "python3-matplotlib" not in r.stderr or r.stderr.count("\n") != 1:
                fails.append(f"missing python: exit {r.returncode}, stderr {r.stderr!r}")
            r = subprocess.run([pesim, "report", os.path.join(work, "nope.db"), "--out", out],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode != 1 or "nope.db" not in r.stderr:
                fails.append(f"missing database: exit {r.returncode}, stderr {r.stderr!r}")
    except RuntimeError:
        pass
    except subprocess.CalledProcessError as e:
        fails.append(f"{' '.join(e.cmd)}: exit {e.returncode}")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    if fails:
        for f in fails:
            print(f"selftest: FAIL: {f}")
        return 1
    print(f"selftest: ok ({len(grid())} runs, {len(report.FIGURES)} figures, {time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
