#!/usr/bin/python3
"""Regenerate the Predictive Exit paper's figures and headline table from pesim result databases.

    analysis/report.py DB... --out DIR [--acc-tol POINTS] [--miss-tol FRACTION]

(`pesim report DB... --out DIR` runs this script.) Every finished run of every database is read
through analysis/runs.sql (the run_summary view plus the swept parameters); runs are grouped by
network and dataset (arch, width, input, data, and the trace or model file they replay), and each
group gets its own figures, named GROUP-FIGURE.png in DIR, plus one report.html with every figure
and the headline table. A figure whose runs are missing from the databases is skipped with a
note in the HTML. The per-run queries live in analysis/*.sql. Figures and the selection rule of
the headline table are described in docs/figures.md.

Needs Debian's python3 and python3-matplotlib (Agg backend, no display). Exit status: 0 ok,
1 bad input (missing or foreign database, no finished runs, matplotlib missing), 2 usage error.
"""
import argparse
import html
import math
import os
import sqlite3
import sys
from collections import OrderedDict, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))

# The paper's abstract (Li et al., AAAI 2023): Predictive Exit against the classic network and
# against early exit with state-of-the-art exiting strategies, at the same accuracy and latency.
PAPER = {
    "comp_vs_classic": 96.2,
    "energy_vs_classic": 72.9,
    "comp_vs_ee": 12.8,
    "energy_vs_ee": 37.6,
}

POLICIES = ["none", "coarse", "passive", "predictive", "predictive_single", "oracle"]
POLICY_LABEL = {
    "none": "classic (no exit)",
    "coarse": "coarse (few exits)",
    "passive": "passive (every exit)",
    "predictive": "Predictive Exit",
    "predictive_single": "predictive, single shot",
    "oracle": "oracle exit",
}
POLICY_COLOR = {
    "none": "#444444",
    "coarse": "#8c564b",
    "passive": "#1f77b4",
    "predictive": "#d62728",
    "predictive_single": "#ff7f0e",
    "oracle": "#2ca02c",
}
GOVERNORS = ["max", "race_to_idle", "paper", "deadline", "oracle", "static"]
GOV_LABEL = {
    "max": "f_max",
    "race_to_idle": "race to idle",
    "paper": "paper DVFS",
    "deadline": "deadline DVFS",
    "oracle": "oracle DVFS",
    "static": "static level",
}
GOV_STYLE = {"max": "-", "race_to_idle": "--", "paper": "-.", "deadline": ":",
             "oracle": (0, (5, 1, 1, 1)), "static": (0, (1, 3))}
GOV_MARKER = {"max": "o", "race_to_idle": "s", "paper": "^", "deadline": "v", "oracle": "D",
              "static": "x"}
KINDS = ["backbone", "exit", "predictor", "dvfs", "idle"]
KIND_LABEL = {"backbone": "backbone layers", "exit": "exit heads", "predictor": "predictor",
              "dvfs": "DVFS switching", "idle": "idle"}
KIND_COLOR = {"backbone": "#4c72b0", "exit": "#dd8452", "predictor": "#c44e52",
              "dvfs": "#8172b3", "idle": "#bbbbbb"}
ARCH_LABEL = {"vgg19": "VGG-19", "resnet34": "ResNet-34", "vgg11": "VGG-11"}
DATA_LABEL = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
DEFAULT_KERNEL = "1, 1, 1"

FIGURES = [
    ("exit_distribution", "Exit distribution against β"),
    ("accuracy_vs_computation", "Accuracy against computation (β sweep) per policy"),
    ("hit_rate", "Prediction hit rate against L0 and β"),
    ("computation_breakdown", "Normalised computation per policy"),
    ("energy_latency", "Energy and latency with and without prediction-driven DVFS"),
    ("energy_deadline", "Energy under looser deadlines (duty-cycled requests)"),
    ("time_split", "Where the time and energy go"),
    ("jump_sizes", "Predicted jump sizes and prediction error"),
    ("repredictions", "Predictions per inference (re-predictions)"),
    ("rounds", "Prediction rounds R"),
    ("kernel", "Predictor kernel"),
]


def fail(msg, code=1):
    print(f"pesim report: {msg}", file=sys.stderr)
    sys.exit(code)


def load_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("the python3 module matplotlib is missing; install the Debian package "
             "python3-matplotlib (apt-get install python3-matplotlib)")
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "font.size": 9, "axes.titlesize": 10,
        "axes.labelsize": 9, "legend.fontsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    })
    return plt


def sql(name):
    with open(os.path.join(HERE, name + ".sql"), encoding="utf-8") as f:
        return f.read()


# ---- reading the databases ----

class Run(dict):
    """One finished run: the columns of runs.sql plus db (the connection) and key (db, run_id)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k)

    def rows(self, query):
        return self.db.execute(sql(query), {"run_id": self.run_id}).fetchall()


def open_db(path):
    if not os.path.exists(path):
        fail(f"{path}: no such file")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("PRAGMA busy_timeout = 5000")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as e:
        fail(f"{path}: not a pesim result database ({e})")
    missing = {"runs", "run_params", "inferences", "run_summary"} - tables
    if missing:
        fail(f"{path}: not a pesim result database (no {sorted(missing)[0]})")
    return db


def load_runs(paths):
    runs = []
    for i, path in enumerate(paths):
        db = open_db(path)
        cur = db.execute(sql("runs"))
        cols = [c[0] for c in cur.description]
        for row in cur:
            r = Run(zip(cols, row))
            r["db"] = db
            r["db_path"] = path
            r["key"] = (i, r["run_id"])
            runs.append(r)
    return runs


def fmt_width(w):
    if w is None:
        return ""
    if w >= 1:
        return f" ×{w:g}"
    inv = 1 / w
    return f" ×1/{inv:g}" if abs(inv - round(inv)) < 1e-6 else f" ×{w:g}"


def group_of(r):
    src = r.trace or r.model or ""
    base = os.path.splitext(os.path.basename(src))[0] if src else ""
    slug = base or f"{r.arch}-w{r.width:g}-{r.data}"
    title = f"{ARCH_LABEL.get(r.arch, r.arch)}{fmt_width(r.width)} · {DATA_LABEL.get(r.data, r.data)}"
    return (r.arch, r.width, r.input, r.data, base), slug, title


def scenario_of(r):
    """(arrival, period ratio, deadline ratio) relative to the classic latency at f_max."""
    lat = r.classic_latency_ns
    dl = r.deadline_ns if r.deadline_ns else lat
    dratio = round(dl / lat, 2) if lat and dl else None
    pratio = None
    if r.arrival == "periodic" and lat:
        pratio = round(r.period_us * 1000.0 / lat, 2)
    return (r.arrival or "back_to_back", pratio, dratio)


def scenario_label(s):
    arrival, pratio, dratio = s
    d = f"deadline {dratio:.2f}× classic" if dratio else "no deadline"
    if arrival == "back_to_back":
        return f"back-to-back requests, {d}"
    if arrival == "periodic":
        return f"a request every {pratio:.2f}× classic latency, {d}"
    return f"{arrival} arrivals, {d}"


def is_std(r):
    """The paper's defaults: activation rule, L0 = 0, R = 8, kernel [1,1,1]."""
    return ((r.rule or "activation") == "activation" and (r.l0 or 0) == 0
            and (r.rounds or 8) == 8 and (r.kernel or DEFAULT_KERNEL) == DEFAULT_KERNEL)


BASE_SCENARIO = ("back_to_back", None, 1.0)


def in_base(r):
    return scenario_of(r) == BASE_SCENARIO


# ---- selection rule (headline table, computation breakdown, time split) ----

class Rule:
    def __init__(self, acc_tol, miss_tol):
        self.acc_tol = acc_tol      # percentage points
        self.miss_tol = miss_tol    # fraction of inferences

    def eligible(self, r, acc_ref, latency="deadline", lat_ref=None):
        """Equal accuracy, and latency: "deadline" (miss rate <= miss_tol), "mean" (mean latency
        <= lat_ref, the classic network's) or None/False (not constrained)."""
        if r.accuracy is None or r.accuracy < acc_ref - self.acc_tol / 100.0 - 1e-12:
            return False
        if latency == "deadline" or latency is True:
            if r.deadline_miss_rate is None or r.deadline_miss_rate > self.miss_tol + 1e-12:
                return False
        elif latency == "mean":
            if r.mean_latency_ns is None or lat_ref is None or r.mean_latency_ns > lat_ref * (1 + 1e-9):
                return False
        return True

    def best(self, runs, acc_ref, metric, latency="deadline", lat_ref=None):
        """The eligible run with the smallest metric, or None."""
        ok = [r for r in runs
              if self.eligible(r, acc_ref, latency, lat_ref) and r.get(metric) is not None]
        return min(ok, key=lambda r: (r[metric], -r.accuracy)) if ok else None


# the latency conditions of the headline table, strictest first
CONSTRAINTS = ["deadline", "mean", None]


def classic_ref(runs, scenario=BASE_SCENARIO):
    c = [r for r in runs if r.policy == "none" and r.governor == "max" and scenario_of(r) == scenario]
    if not c:
        c = [r for r in runs if r.policy == "none" and r.governor == "max"]
    return c[0] if c else None


def dedupe(runs, key):
    seen = OrderedDict()
    for r in runs:
        seen.setdefault(key(r), r)
    return list(seen.values())


def short_params(r):
    bits = []
    if r.policy in ("none",):
        pass
    elif (r.rule or "activation") == "patience":
        bits.append(f"patience {r.patience}")
    else:
        rule = r.rule or "activation"
        bits.append(("β" if rule == "activation" else f"{rule} β") + f" {r.beta:g}")
    if r.policy in ("predictive", "predictive_single"):
        if (r.l0 or 0) != 0:
            bits.append(f"L0 {r.l0}")
        if (r.rounds or 8) != 8:
            bits.append(f"R {r.rounds}")
        if (r.kernel or DEFAULT_KERNEL) != DEFAULT_KERNEL:
            bits.append(f"kernel [{r.kernel}]")
    return ", ".join(bits)


# ---- figures ----

class Report:
    def __init__(self, plt, out, rule):
        self.plt = plt
        self.out = out
        self.rule = rule
        self.sections = []  # (group title, slug, [(fig name, title, file or None, caption)])

    def save(self, fig, slug, name):
        fn = f"{slug}-{name}.png"
        path = os.path.join(self.out, fn)
        # written beside, then renamed: a killed report never leaves a half-written figure
        fig.savefig(path + ".tmp", bbox_inches="tight", format="png")
        os.replace(path + ".tmp", path)
        self.plt.close(fig)
        return fn


def exit_names(runs, n_exits):
    for r in runs:
        try:
            names = [x[0] for x in r.rows("exit_names")]
        except sqlite3.DatabaseError:
            names = []
        if len(names) == n_exits:
            return names + ["final"]
    return [str(i) for i in range(n_exits)] + ["final"]


def fig_exit_distribution(rep, g, slug, title):
    plt = rep.plt
    cand = [r for r in g if r.policy in ("passive", "oracle", "predictive") and is_std(r)
            and r.beta is not None]
    # exits taken do not depend on the governor or the workload; passive first
    order = {"passive": 0, "oracle": 1, "predictive": 2}
    cand.sort(key=lambda r: (order[r.policy], r.governor != "max"))
    runs = sorted(dedupe(cand, lambda r: r.beta), key=lambda r: r.beta)
    if len(runs) < 2:
        return None, "needs passive (or oracle) runs at two or more β (configs/paper/*/policies.ini)"
    n_exits = max(r.n_exits or 0 for r in runs)
    names = exit_names(runs, n_exits)
    import numpy as np
    m = np.zeros((len(runs), n_exits + 1))
    for i, r in enumerate(runs):
        for layer, n in r.rows("exit_histogram"):
            if 0 <= layer <= n_exits:
                m[i, layer] = 100.0 * n / r.n_inferences
    fig, ax = plt.subplots(figsize=(max(8, 0.42 * (n_exits + 1) + 3), 0.36 * len(runs) + 2.6))
    im = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0, vmax=100, origin="lower")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] >= 0.95:
                ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=6.5,
                        color="white" if m[i, j] < 60 else "black")
    ax.set_xticks(range(n_exits + 1))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(runs)))
    ax.set_yticklabels([f"β = {r.beta:g}  (acc {100 * r.accuracy:.1f} %)" for r in runs])
    ax.set_xlabel("exit taken (backbone position; 'final' = the final classifier)")
    ax.set_ylabel("activation-rule β")
    ax.grid(False)
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("share of inferences (%)")
    ax.set_title(f"Exit distribution against β — {title}\n"
                 f"(policy {runs[0].policy}, activation rule, {runs[0].n_inferences} test images; "
                 "cells: % of inferences, blank below 1 %)")
    return rep.save(fig, slug, "exit_distribution"), None


def fig_accuracy_vs_computation(rep, g, slug, title):
    plt = rep.plt
    classic = classic_ref(g)
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    drawn = 0
    for pol in POLICIES[1:]:
        rs = [r for r in g if r.policy == pol and is_std(r) and r.beta is not None]
        rs = sorted(dedupe(sorted(rs, key=lambda r: r.governor != "max"), lambda r: r.beta),
                    key=lambda r: r.beta)
        if not rs:
            continue
        ax.plot([100 * r.rel_computation for r in rs], [100 * r.accuracy for r in rs],
                marker="o", ms=3.5, color=POLICY_COLOR[pol], label=f"{POLICY_LABEL[pol]} (activation β)")
        drawn += 1
    extra = [("softmax", "passive, softmax rule", "s"), ("entropy", "passive, entropy rule", "^"),
             ("patience", "passive, patience rule", "v")]
    for rule, lab, mk in extra:
        rs = [r for r in g if r.policy == "passive" and r.rule == rule and (r.l0 or 0) == 0]
        key = (lambda r: r.patience) if rule == "patience" else (lambda r: r.beta)
        rs = sorted(dedupe(rs, key), key=lambda r: r.rel_computation)
        if not rs:
            continue
        ax.plot([100 * r.rel_computation for r in rs], [100 * r.accuracy for r in rs],
                ls="--", marker=mk, ms=3.5, color=POLICY_COLOR["passive"], alpha=0.55, label=lab)
        drawn += 1
    if classic:
        ax.plot([100 * classic.rel_computation], [100 * classic.accuracy], marker="*", ms=14,
                color=POLICY_COLOR["none"], ls="none", label=POLICY_LABEL["none"])
        ax.axhline(100 * classic.accuracy - rep.rule.acc_tol, color="grey", ls=":", lw=1,
                   label=f"classic accuracy − {rep.rule.acc_tol:g} points")
        drawn += 1
    if drawn < 2:
        plt.close(fig)
        return None, "needs runs of several policies over β (configs/paper/*/policies.ini)"
    ax.set_xlabel("computation (% of the classic network: backbone + exit heads + predictor)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"Accuracy against computation (β sweep) — {title}")
    lo = min(100 * r.accuracy for r in g if r.accuracy is not None)
    hi = max(100 * r.accuracy for r in g if r.accuracy is not None)
    ax.set_ylim(max(0, lo - 2), min(100, hi + 1.5))
    ax.legend(loc="lower right")
    return rep.save(fig, slug, "accuracy_vs_computation"), None


def fig_hit_rate(rep, g, slug, title):
    plt = rep.plt
    base = [r for r in g if r.policy == "predictive" and (r.rule or "activation") == "activation"
            and (r.rounds or 8) == 8 and (r.kernel or DEFAULT_KERNEL) == DEFAULT_KERNEL
            and r.prediction_hit_rate is not None]
    base = dedupe(sorted(base, key=lambda r: r.governor != "max"), lambda r: (r.l0, r.beta))
    l0s = sorted({r.l0 for r in base})
    if not base:
        return None, "needs predictive runs (configs/paper/*/policies.ini, l0.ini)"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8))
    betas = sorted({r.beta for r in base if sum(1 for q in base if q.beta == r.beta) >= 2})
    cmap = plt.get_cmap("viridis")
    for i, b in enumerate(betas):
        rs = sorted([r for r in base if r.beta == b], key=lambda r: r.l0)
        a1.plot([r.l0 for r in rs], [100 * r.prediction_hit_rate for r in rs], marker="o", ms=3,
                color=cmap(i / max(1, len(betas) - 1)), label=f"β = {b:g}")
    if len(l0s) < 2:
        a1.text(0.5, 0.5, "no L0 sweep in the databases\n(configs/paper/*/l0.ini)",
                ha="center", va="center", transform=a1.transAxes)
    a1.set_xlabel("L0: first exit evaluated (exit index)")
    a1.set_ylabel("prediction hit rate (% of predictions whose exit fired)")
    a1.set_ylim(-2, 102)
    a1.set_title("Hit rate against L0")
    if betas and len(l0s) >= 2:
        a1.legend(ncol=2)
    for pol in ("predictive", "predictive_single"):
        rs = [r for r in g if r.policy == pol and is_std(r) and r.prediction_hit_rate is not None]
        rs = sorted(dedupe(rs, lambda r: r.beta), key=lambda r: r.beta)
        if rs:
            a2.plot([r.beta for r in rs], [100 * r.prediction_hit_rate for r in rs], marker="o",
                    ms=3.5, color=POLICY_COLOR[pol], label=f"{POLICY_LABEL[pol]}: hit rate")
    a2.set_xlabel("activation-rule β")
    a2.set_ylabel("prediction hit rate (%)")
    a2.set_ylim(-2, 102)
    rs = sorted(dedupe([r for r in g if r.policy == "predictive" and is_std(r)], lambda r: r.beta),
                key=lambda r: r.beta)
    if rs:
        a3 = a2.twinx()
        a3.plot([r.beta for r in rs], [r.n_predictions / r.n_inferences for r in rs], ls="--",
                color="grey", marker=".", label="Predictive Exit: predictions per inference")
        a3.set_ylabel("predictions per inference", color="grey")
        a3.grid(False)
        h1, l1 = a2.get_legend_handles_labels()
        h2, l2 = a3.get_legend_handles_labels()
        a2.legend(h1 + h2, l1 + l2, loc="center right")
    a2.set_title("Hit rate against β (L0 = 0, R = 8)")
    fig.suptitle(f"Prediction hit rate — {title}")
    return rep.save(fig, slug, "hit_rate"), None


def pick_per_policy(rep, g, acc_ref, policies):
    """Per policy: the std, f_max run of least computation at equal accuracy, else the most
    accurate run (flagged)."""
    out = []
    for pol in policies:
        rs = [r for r in g if r.policy == pol and is_std(r) and in_base(r)]
        if pol != "none":
            rs = [r for r in rs if r.beta is not None]
        if not rs:
            continue
        best = rep.rule.best(rs, acc_ref, "rel_computation", latency=None)
        flagged = best is None
        if flagged:
            best = max(rs, key=lambda r: (r.accuracy, -r.rel_computation))
        out.append((pol, best, flagged))
    return out


def fig_computation_breakdown(rep, g, slug, title):
    plt = rep.plt
    classic = classic_ref(g)
    if not classic:
        return None, "needs the classic run (configs/paper/*/classic.ini)"
    acc_ref = classic.accuracy
    picks = pick_per_policy(rep, g, acc_ref, POLICIES)
    if len(picks) < 2:
        return None, "needs runs of several policies (configs/paper/*/policies.ini)"
    # panel b: every policy at the beta that Predictive Exit picked in panel a
    pe = [p for p in picks if p[0] == "predictive"]
    beta_b = pe[0][1].beta if pe else None
    picks_b = []
    if beta_b is not None:
        for pol in POLICIES:
            rs = [r for r in g if r.policy == pol and is_std(r) and in_base(r)
                  and (pol == "none" or (r.beta is not None and abs(r.beta - beta_b) < 1e-9))]
            if rs:
                picks_b.append((pol, rs[0], False))
    fig, axes = plt.subplots(1, 2 if picks_b else 1, figsize=(14 if picks_b else 7.5, 5.2),
                             squeeze=False)

    def bars(ax, picks, subtitle):
        x = range(len(picks))
        bottom = [0.0] * len(picks)
        parts = [("rel_backbone", "backbone layers", KIND_COLOR["backbone"]),
                 ("rel_exits", "exit heads", KIND_COLOR["exit"]),
                 ("rel_predictor", "predictor", KIND_COLOR["predictor"])]
        for col, lab, color in parts:
            vals = [100 * (p[1][col] or 0.0) for p in picks]
            ax.bar(x, vals, bottom=bottom, color=color, label=lab, width=0.65,
                   hatch=None, edgecolor="white")
            bottom = [b + v for b, v in zip(bottom, vals)]
        for i, (pol, r, flagged) in enumerate(picks):
            txt = f"{bottom[i]:.1f} %\nacc {100 * r.accuracy:.1f}"
            if flagged:
                txt += "\n(acc target\nnot met)"
            ax.text(i, bottom[i] + 1.5, txt, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(x))
        ax.set_xticklabels([POLICY_LABEL[p[0]] + ("\n" + short_params(p[1]) if short_params(p[1]) else "")
                            for p in picks], rotation=20, ha="right", fontsize=7.5)
        ax.set_ylabel("computation (% of the classic network)")
        ax.set_ylim(0, max(bottom) * 1.28 + 5)
        ax.set_title(subtitle)
        ax.legend(loc="upper left")

    bars(axes[0][0], picks, f"(a) each policy at equal accuracy (≥ classic − {rep.rule.acc_tol:g} "
         "points),\nleast computation; accuracy in %")
    if picks_b:
        bars(axes[0][1], picks_b, f"(b) every policy at β = {beta_b:g} "
             "(the β Predictive Exit needs in (a))")
    fig.suptitle(f"Normalised computation per policy — {title}")
    return rep.save(fig, slug, "computation_breakdown"), None


ENERGY_LINES = [("none", "max"), ("coarse", "race_to_idle"), ("passive", "max"), ("passive", "race_to_idle"),
                ("passive", "oracle"), ("predictive", "max"), ("predictive", "paper"),
                ("predictive", "deadline"), ("predictive", "oracle"), ("oracle", "oracle")]


def fig_energy_latency(rep, g, slug, title):
    plt = rep.plt
    classic = classic_ref(g)
    base = [r for r in g if is_std(r) and in_base(r) and r.rel_energy is not None]
    lines = []
    for pol, gov in ENERGY_LINES:
        if pol == "none":
            continue
        rs = sorted(dedupe([r for r in base if r.policy == pol and r.governor == gov and r.beta is not None],
                           lambda r: r.beta), key=lambda r: r.beta)
        if len(rs) >= 2:
            lines.append((pol, gov, rs))
    if not lines:
        return None, "needs runs with latency and energy (configs/paper/*/dvfs.ini)"
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    metrics = [("rel_energy", 100, "energy per inference (% of the classic network at f_max)",
                "Energy"),
               ("rel_latency", 100, "mean latency (% of the classic network at f_max)", "Latency"),
               ("deadline_miss_rate", 100, "deadline misses (% of inferences)", "Deadline misses")]
    for ax, (col, scale, ylab, t) in zip(axes, metrics):
        for pol, gov, rs in lines:
            ax.plot([r.beta for r in rs], [scale * (r[col] or 0.0) for r in rs],
                    color=POLICY_COLOR[pol], ls=GOV_STYLE[gov], marker=GOV_MARKER[gov], ms=3.5,
                    label=f"{POLICY_LABEL[pol]} + {GOV_LABEL[gov]}")
        if classic and col != "deadline_miss_rate":
            ax.axhline(scale * classic[col], color=POLICY_COLOR["none"], lw=1.2,
                       label="classic network, f_max")
        if col == "rel_latency":
            ax.axhline(100.0, color="black", lw=0.8, ls=":", label="deadline (classic latency)")
        ax.set_xlabel("activation-rule β")
        ax.set_ylabel(ylab)
        ax.set_title(t)
    if max((r.rel_latency or 0) for _, _, rs in lines for r in rs) > 5:
        axes[1].set_yscale("log")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Energy and latency with and without prediction-driven DVFS — {title}\n"
                 "(back-to-back requests; each inference's deadline is the classic network's "
                 "latency at f_max)")
    return rep.save(fig, slug, "energy_latency"), None


def fig_energy_deadline(rep, g, slug, title):
    plt = rep.plt
    periodic = [r for r in g if scenario_of(r)[0] == "periodic" and is_std(r)]
    scen = sorted({scenario_of(r) for r in periodic}, key=lambda s: (s[1] or 0, s[2] or 0))
    if not scen:
        return None, "needs duty-cycled runs (configs/paper/*/duty.ini, classic-duty.ini)"
    combos = [("none", "max"), ("none", "race_to_idle"), ("none", "oracle"),
              ("coarse", "max"), ("coarse", "race_to_idle"), ("passive", "max"), ("passive", "race_to_idle"), ("passive", "oracle"),
              ("predictive", "max"), ("predictive", "paper"), ("predictive", "deadline"),
              ("predictive", "oracle")]
    classic = classic_ref(g)
    acc_ref = classic.accuracy if classic else None
    if acc_ref is None:
        return None, "needs the classic run (configs/paper/*/classic.ini)"
    import numpy as np
    vals = np.full((len(combos), len(scen)), np.nan)
    for j, s in enumerate(scen):
        for i, (pol, gov) in enumerate(combos):
            rs = [r for r in periodic if scenario_of(r) == s and r.policy == pol and r.governor == gov]
            best = rep.rule.best(rs, acc_ref, "mean_energy_nj")
            if best is not None:
                vals[i, j] = best.mean_energy_nj / 1000.0
    have = {(r.policy, r.governor) for r in periodic}
    keep = [i for i, c in enumerate(combos) if c in have]
    fig, ax = plt.subplots(figsize=(13, 5.5))
    w = 0.8 / len(keep)
    for k, i in enumerate(keep):
        pol, gov = combos[i]
        xs = [j - 0.4 + w * (k + 0.5) for j in range(len(scen))]
        ax.bar(xs, np.nan_to_num(vals[i]), width=w, color=POLICY_COLOR[pol],
               hatch={"max": "", "race_to_idle": "//", "paper": "..", "deadline": "xx",
                      "oracle": "\\\\"}.get(gov, ""), edgecolor="white", linewidth=0.3,
               label=f"{POLICY_LABEL[pol]} + {GOV_LABEL[gov]}")
        for x, v in zip(xs, vals[i]):
            if np.isnan(v):
                ax.text(x, 0, " n/a", ha="center", va="bottom", fontsize=7, rotation=90,
                        color=POLICY_COLOR[pol])
    ax.set_xticks(range(len(scen)))
    ax.set_xticklabels([scenario_label(s).replace(", ", ",\n") for s in scen])
    ax.set_ylabel("energy per inference (µJ, idle time included)")
    ax.set_title(f"Energy under looser deadlines — {title}\nleast energy at equal accuracy "
                 f"(≥ classic − {rep.rule.acc_tol:g} points) with ≤ {100 * rep.rule.miss_tol:g} % "
                 "deadline misses; n/a: no run met both")
    top = np.nanmax(vals) if not np.all(np.isnan(vals)) else 1.0
    ax.set_ylim(0, top * 1.45)
    ax.legend(ncol=3, fontsize=7, loc="upper center")
    return rep.save(fig, slug, "energy_deadline"), None


TIME_SPLIT_SET = [("none", "max"), ("coarse", "race_to_idle"), ("passive", "race_to_idle"), ("predictive", "max"),
                  ("predictive", "paper"), ("predictive", "deadline"), ("predictive", "oracle")]


def fig_time_split(rep, g, slug, title):
    plt = rep.plt
    classic = classic_ref(g)
    if not classic:
        return None, "needs the classic run (configs/paper/*/classic.ini)"
    picks = []
    for pol, gov in TIME_SPLIT_SET:
        rs = [r for r in g if r.policy == pol and r.governor == gov and is_std(r) and in_base(r)
              and r.mean_energy_nj is not None]
        if not rs:
            continue
        best = rep.rule.best(rs, classic.accuracy, "mean_energy_nj", latency=None)
        flagged = best is None
        if flagged:
            best = max(rs, key=lambda r: (r.accuracy, -r.mean_energy_nj))
        split = {k: (0.0, 0.0) for k in KINDS}
        try:
            for kind, t, e, *_ in best.rows("time_split"):
                split[kind] = (t or 0.0, e or 0.0)
        except sqlite3.DatabaseError:
            continue
        picks.append((pol, gov, best, flagged, split))
    if len(picks) < 2 or not any(sum(v[0] for v in p[4].values()) > 0 for p in picks):
        return None, "needs runs with segments (any run that simulates the accelerator)"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 0.55 * len(picks) + 2.8), sharey=True)
    labels = []
    for pol, gov, r, flagged, _ in picks:
        lab = f"{POLICY_LABEL[pol]} + {GOV_LABEL[gov]}"
        sp = short_params(r)
        if sp:
            lab += f"\n{sp}" + (" (acc target not met)" if flagged else "")
        labels.append(lab)
    y = list(range(len(picks)))
    for ax, idx, unit, scale in ((a1, 0, "mean time per inference (µs)", 1e-3),
                                 (a2, 1, "mean energy per inference (µJ)", 1e-3)):
        left = [0.0] * len(picks)
        for kind in KINDS:
            vals = [p[4][kind][idx] * scale for p in picks]
            if not any(vals):
                continue
            ax.barh(y, vals, left=left, color=KIND_COLOR[kind], label=KIND_LABEL[kind], height=0.6)
            left = [a + b for a, b in zip(left, vals)]
        for i, v in enumerate(left):
            ax.text(v, i, f" {v:.1f}", va="center", fontsize=7)
        ax.set_xlabel(unit)
        ax.set_xlim(0, max(left) * 1.15)
    a1.set_yticks(y)
    a1.set_yticklabels(labels, fontsize=7.5)
    a1.invert_yaxis()
    a1.set_title("time split")
    a2.set_title("energy split")
    a1.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"Where the time and energy go — {title}\n(each setting at equal accuracy, "
                 "least energy; back-to-back requests)")
    return rep.save(fig, slug, "time_split"), None


def predictive_runs_for_hist(g, k=4):
    rs = [r for r in g if r.policy == "predictive" and is_std(r) and r.beta is not None
          and r.n_predictions and r.n_predictions >= 0.05 * r.n_inferences]
    rs = sorted(dedupe(sorted(rs, key=lambda r: r.governor != "max"), lambda r: r.beta),
                key=lambda r: r.beta)
    if len(rs) <= k:
        return rs
    idx = sorted({round(i * (len(rs) - 1) / (k - 1)) for i in range(k)})
    return [rs[i] for i in idx]


def fig_jump_sizes(rep, g, slug, title):
    plt = rep.plt
    rs = predictive_runs_for_hist(g)
    if not rs:
        return None, "needs Predictive Exit runs that made predictions (configs/paper/*/policies.ini)"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.6))
    cmap = plt.get_cmap("plasma")
    w = 0.8 / len(rs)
    maxj = 1
    for k, r in enumerate(rs):
        rows = r.rows("jumps")
        tot = sum(n for _, n in rows) or 1
        xs = [j - 0.4 + w * (k + 0.5) for j, _ in rows]
        a1.bar(xs, [100 * n / tot for _, n in rows], width=w, color=cmap(k / max(1, len(rs))),
               label=f"β = {r.beta:g} ({tot} predictions)")
        if rows:
            maxj = max(maxj, max(j for j, _ in rows))
        err = r.rows("prediction_error")
        tot_e = sum(n for _, n in err) or 1
        if err:
            a2.plot([e for e, _ in err], [100 * n / tot_e for _, n in err], marker="o", ms=3,
                    color=cmap(k / max(1, len(rs))), label=f"β = {r.beta:g}")
    a1.set_xticks(range(1, maxj + 1))
    a1.set_xlabel(f"predicted jump J (exits ahead; R = {rs[0].rounds})")
    a1.set_ylabel("share of predictions (%)")
    a1.set_title("Jump sizes")
    a1.legend()
    a2.axvline(0, color="black", lw=0.8)
    from matplotlib.ticker import MaxNLocator
    a2.xaxis.set_major_locator(MaxNLocator(integer=True))
    a2.set_xlabel("first prediction − first exit that fires (exits; > 0: predicted too late)")
    a2.set_ylabel("share of inferences with a prediction (%)")
    a2.set_title("Error of the first prediction")
    a2.legend()
    fig.suptitle(f"Predicted jump sizes — {title} (Predictive Exit, L0 = 0)")
    return rep.save(fig, slug, "jump_sizes"), None


def fig_repredictions(rep, g, slug, title):
    plt = rep.plt
    rs = predictive_runs_for_hist(g)
    if not rs:
        return None, "needs Predictive Exit runs that made predictions (configs/paper/*/policies.ini)"
    fig, ax = plt.subplots(figsize=(9, 4.6))
    cmap = plt.get_cmap("plasma")
    w = 0.8 / len(rs)
    maxn = 0
    for k, r in enumerate(rs):
        rows = r.rows("repredictions")
        xs = [n - 0.4 + w * (k + 0.5) for n, _, _ in rows]
        ax.bar(xs, [100 * c / r.n_inferences for _, c, _ in rows], width=w,
               color=cmap(k / max(1, len(rs))),
               label=f"β = {r.beta:g} (mean {r.n_predictions / r.n_inferences:.2f}, "
                     f"hit rate {100 * (r.prediction_hit_rate or 0):.0f} %)")
        if rows:
            maxn = max(maxn, max(n for n, _, _ in rows))
    ax.set_xticks(range(0, maxn + 1))
    ax.set_xlabel("predictions made for one inference (1 + re-predictions after misses)")
    ax.set_ylabel("share of inferences (%)")
    ax.legend()
    ax.set_title(f"Predictions per inference — {title} (Predictive Exit, L0 = 0, R = 8)")
    return rep.save(fig, slug, "repredictions"), None


def fig_rounds(rep, g, slug, title):
    plt = rep.plt
    rs = [r for r in g if r.policy == "predictive" and (r.rule or "activation") == "activation"
          and (r.l0 or 0) == 0 and (r.kernel or DEFAULT_KERNEL) == DEFAULT_KERNEL and in_base(r)]
    if len({r.rounds for r in rs}) < 2:
        return None, "needs Predictive Exit runs at several R (configs/paper/*/rounds.ini)"
    betas = sorted({r.beta for r in rs if len({q.rounds for q in rs if q.beta == r.beta}) >= 2})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    cmap = plt.get_cmap("viridis")
    for i, b in enumerate(betas):
        c = cmap(i / max(1, len(betas) - 1))
        mx = sorted(dedupe([r for r in rs if r.beta == b and r.governor == "max"], lambda r: r.rounds),
                    key=lambda r: r.rounds)
        pp = sorted(dedupe([r for r in rs if r.beta == b and r.governor == "paper"], lambda r: r.rounds),
                    key=lambda r: r.rounds)
        src = mx or pp
        axes[0].plot([r.rounds for r in src], [100 * r.rel_computation for r in src], marker="o",
                     ms=3, color=c, label=f"β = {b:g}")
        axes[1].plot([r.rounds for r in src], [100 * (r.prediction_hit_rate or 0) for r in src],
                     marker="o", ms=3, color=c, label=f"β = {b:g}")
        if pp:
            axes[2].plot([r.rounds for r in pp], [100 * r.rel_energy for r in pp], marker="^",
                         ms=3, color=c, ls="-.", label=f"β = {b:g}, paper DVFS")
        if mx and pp:
            axes[2].plot([r.rounds for r in mx], [100 * r.rel_energy for r in mx], marker="o",
                         ms=3, color=c, ls="-", alpha=0.5)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("prediction rounds R (largest predicted jump)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("computation (% of the classic network)")
    axes[0].set_title("Computation")
    axes[1].set_ylabel("prediction hit rate (%)")
    axes[1].set_title("Hit rate")
    axes[2].set_ylabel("energy per inference (% of classic at f_max)")
    axes[2].set_title("Energy (dash-dot: paper DVFS; solid, faint: f_max)")
    fig.suptitle(f"Prediction rounds R — {title} (Predictive Exit, L0 = 0)")
    return rep.save(fig, slug, "rounds"), None


def fig_kernel(rep, g, slug, title):
    plt = rep.plt
    rs = [r for r in g if r.policy == "predictive" and (r.rule or "activation") == "activation"
          and (r.l0 or 0) == 0 and (r.rounds or 8) == 8 and in_base(r)]
    kernels = sorted({r.kernel for r in rs})
    if len(kernels) < 2:
        return None, "needs Predictive Exit runs with several kernels (configs/paper/*/kernel.ini)"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for i, k in enumerate(kernels):
        ks = [r for r in rs if r.kernel == k]
        pref = sorted(ks, key=lambda r: r.governor != "paper")
        ks = sorted(dedupe(pref, lambda r: r.beta), key=lambda r: r.beta)
        lab = f"kernel [{k}]" + (" (the paper's)" if k == DEFAULT_KERNEL else "")
        c = plt.get_cmap("tab10")(i)
        axes[0].plot([r.beta for r in ks], [100 * (r.prediction_hit_rate or 0) for r in ks],
                     marker="o", ms=3, color=c, label=lab)
        axes[1].plot([r.beta for r in ks], [100 * r.rel_computation for r in ks], marker="o",
                     ms=3, color=c, label=lab)
        pk = [r for r in ks if r.governor == "paper"]
        axes[2].plot([r.beta for r in pk], [100 * r.rel_energy for r in pk], marker="o", ms=3,
                     color=c, label=lab)
    for ax in axes:
        ax.set_xlabel("activation-rule β")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("prediction hit rate (%)")
    axes[0].set_title("Hit rate")
    axes[1].set_ylabel("computation (% of the classic network)")
    axes[1].set_title("Computation")
    axes[2].set_ylabel("energy per inference (% of classic at f_max)")
    axes[2].set_title("Energy with paper DVFS")
    fig.suptitle(f"Predictor kernel — {title} (Predictive Exit, L0 = 0, R = 8)")
    return rep.save(fig, slug, "kernel"), None


FIG_FUNCS = {
    "exit_distribution": fig_exit_distribution,
    "accuracy_vs_computation": fig_accuracy_vs_computation,
    "hit_rate": fig_hit_rate,
    "computation_breakdown": fig_computation_breakdown,
    "energy_latency": fig_energy_latency,
    "energy_deadline": fig_energy_deadline,
    "time_split": fig_time_split,
    "jump_sizes": fig_jump_sizes,
    "repredictions": fig_repredictions,
    "rounds": fig_rounds,
    "kernel": fig_kernel,
}


# ---- headline table ----

def headline(rule, g, scenario):
    """Rows for one group and scenario, or None when the classic reference is missing."""
    classic = [r for r in g if r.policy == "none" and r.governor == "max" and scenario_of(r) == scenario]
    if not classic:
        return None
    classic = classic[0]
    acc_ref = classic.accuracy
    sc = [r for r in g if scenario_of(r) == scenario]
    pe = [r for r in sc if r.policy == "predictive"]
    ee = [r for r in sc if r.policy in ("coarse", "passive")]
    # (key, label, runs for the computation figure, runs for the energy figure): computation
    # does not depend on the governor (only whether the deadline is met does), energy does
    methods = [
        ("pe", "Predictive Exit (computation: any governor; energy: paper or deadline DVFS)",
         pe, [r for r in pe if r.governor in ("paper", "deadline")]),
        ("pe_max", "Predictive Exit at f_max (no DVFS)",
         [r for r in pe if r.governor == "max"], [r for r in pe if r.governor == "max"]),
        ("ee", "best early exit: coarse or passive, any rule (energy: race to idle)",
         ee, [r for r in ee if r.governor == "race_to_idle"]),
    ]
    res = {"classic": classic, "acc_ref": acc_ref, "scenario": scenario, "by": {}}
    lat_ref = classic.mean_latency_ns
    for latency in CONSTRAINTS:
        for key, label, rs_c, rs_e in methods:
            res["by"][(key, latency)] = (
                label, rule.best(rs_c, acc_ref, "rel_computation", latency, lat_ref),
                rule.best(rs_e, acc_ref, "mean_energy_nj", latency, lat_ref))
    return res


def pct_red(a, b):
    """1 - a/b in %, or None."""
    if a is None or b is None or b == 0:
        return None
    return 100.0 * (1.0 - a / b)


def claims(res, latency):
    """The four numbers of the abstract for one headline result."""
    c = res["classic"]
    _, pe_c, pe_e = res["by"][("pe", latency)]
    _, ee_c, ee_e = res["by"][("ee", latency)]
    return {
        "comp_vs_classic": pct_red(pe_c.rel_computation if pe_c else None, c.rel_computation),
        "energy_vs_classic": pct_red(pe_e.mean_energy_nj if pe_e else None, c.mean_energy_nj),
        "comp_vs_ee": pct_red(pe_c.rel_computation if pe_c else None,
                              ee_c.rel_computation if ee_c else None),
        "energy_vs_ee": pct_red(pe_e.mean_energy_nj if pe_e else None,
                                ee_e.mean_energy_nj if ee_e else None),
    }


# ---- HTML ----

CSS = """
body { font-family: sans-serif; max-width: 1400px; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em 0; font-size: 0.88em; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #eee; } td.l, th.l { text-align: left; }
.claim { background: #f6f6ff; border-left: 4px solid #55c; padding: 0.6em 1em; margin: 0.8em 0; }
.note { color: #666; font-size: 0.9em; } img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 1.2em 0; } figcaption { font-size: 0.9em; color: #444; }
"""


def f1(x, suffix=" %", nd=1):
    return "–" if x is None else f"{x:.{nd}f}{suffix}"


def run_cell(r):
    if r is None:
        return "<td class=l colspan=6>no run meets the constraints</td>"
    what = short_params(r) or ("classic network" if r.policy == "none" else r.policy)
    return (f"<td class=l>{html.escape(what)} · {GOV_LABEL.get(r.governor, r.governor)}"
            f" <span class=note>({html.escape(os.path.basename(r.db_path))} run {r.run_id})</span></td>"
            f"<td>{100 * r.accuracy:.2f}</td><td>{100 * r.rel_computation:.1f}</td>"
            f"<td>{f1(r.mean_energy_nj / 1000 if r.mean_energy_nj is not None else None, '', 2)}</td>"
            f"<td>{f1(r.mean_latency_ns / 1000 if r.mean_latency_ns is not None else None, '', 1)}</td>"
            f"<td>{f1(100 * r.deadline_miss_rate if r.deadline_miss_rate is not None else None, '', 2)}</td>")


def write_html(rep, groups, results, dbs, nruns):
    rule = rep.rule
    out = []
    w = out.append
    w("<!DOCTYPE html><html><head><meta charset='utf-8'><title>pesim report</title>"
      f"<style>{CSS}</style></head><body>")
    w("<h1>Predictive Exit — pesim report</h1>")
    w("<p class=note>From " + ", ".join(html.escape(d) for d in dbs) + f": {nruns} finished runs in "
      f"{len(groups)} network/dataset group(s). Regenerate with <code>pesim report "
      + " ".join(html.escape(d) for d in dbs) + f" --out {html.escape(rep.out)}</code>; "
      "figures and commands: docs/figures.md.</p>")

    # headline
    w("<h2>Headline: computation reduction and energy saving</h2>")
    w("<div class=note><p><b>Selection rule.</b> For each network/dataset group and workload "
      "scenario, the reference is the classic network (<code>policy = none</code>, governor "
      "<code>max</code>) in the same scenario. A run is <i>eligible</i> when (1) its accuracy is at "
      f"least the classic network's minus {rule.acc_tol:g} percentage points (equal accuracy) and "
      f"(2) at most {100 * rule.miss_tol:g} % of its inferences miss their deadline (equal "
      "latency; the deadline is the classic network's latency at f_max unless the scenario says "
      "otherwise). Two weaker latency conditions are shown too: (2′) mean latency no longer than "
      "the classic network's in the same scenario, and none (accuracy only). "
      "<b>Predictive Exit</b> is every run with <code>policy = predictive</code>, any β, L0, R and "
      "kernel; its energy figure only counts runs with a prediction-driven governor "
      "(<code>paper</code> or <code>deadline</code>). <b>Early exit with state-of-the-art exiting "
      "strategies</b> is every run with <code>policy = coarse</code> (the paper's baseline exits) "
      "or <code>passive</code> (every exit), any rule (activation, softmax, entropy, patience) and "
      "parameter; its energy figure only counts runs with governor <code>race_to_idle</code>. "
      "(Computation does not depend on the governor; whether the deadline is met does.) Among the eligible runs of each "
      "method, the computation figure takes the run of least computation "
      "(<code>rel_computation</code>: backbone + exit-head MACs + predictor operations relative to "
      "the classic backbone) and the energy figure the run of least mean energy per inference, "
      "separately. Reduction = 1 − method / reference; negative: the method costs more. \"Up to\" "
      "is the largest value over all groups and scenarios.</p></div>")

    best = {lat: {k: None for k in PAPER} for lat in CONSTRAINTS}
    best_src = {lat: {k: "" for k in PAPER} for lat in CONSTRAINTS}
    for (gkey, slug, title), res_list in results:
        for res in res_list:
            if res is None:
                continue
            for lat in CONSTRAINTS:
                for k, v in claims(res, lat).items():
                    if v is not None and (best[lat][k] is None or v > best[lat][k]):
                        best[lat][k] = v
                        best_src[lat][k] = f"{title}, {scenario_label(res['scenario'])}"

    def lat_text(latency):
        if latency == "deadline":
            return f"and latency (≤ {100 * rule.miss_tol:g} % deadline misses)"
        if latency == "mean":
            return "and mean latency (no longer than the classic network's)"
        return "(latency not constrained)"

    def claim_text(c, latency="deadline"):
        lat = lat_text(latency)
        return (f"Predictive Exit achieves {f1(c['comp_vs_classic'])} computation reduction and "
                f"{f1(c['energy_vs_classic'])} energy saving compared with the classic network, and "
                f"{f1(c['comp_vs_ee'])} computation reduction and {f1(c['energy_vs_ee'])} energy "
                "saving compared with early exit under the best exiting strategy, at the "
                f"same accuracy (within {rule.acc_tol:g} points of the classic network) {lat}.")

    for lat in CONSTRAINTS:
        w("<div class=claim><b>pesim, in the form of the paper's abstract (up to: best over the "
          "groups and scenarios below):</b> " + html.escape(claim_text(best[lat], lat)) + "</div>")
    w("<div class=claim><b>The paper (Li et al., AAAI 2023):</b> up to 96.2 % computation reduction "
      "and 72.9 % energy saving compared with classic deep learning networks; 12.8 % computation "
      "reduction and 37.6 % energy saving compared with early exit under state-of-the-art exiting "
      "strategies, given the same inference accuracy and latency.</div>")
    w("<table><tr><th class=l rowspan=2>claim</th><th rowspan=2>paper</th>"
      "<th colspan=2>pesim, up to: accuracy and deadline</th>"
      "<th colspan=2>accuracy and mean latency</th><th colspan=2>accuracy only</th></tr>"
      "<tr>" + "<th>value</th><th class=l>from</th>" * 3 + "</tr>")
    names = {"comp_vs_classic": "computation reduction vs classic",
             "energy_vs_classic": "energy saving vs classic",
             "comp_vs_ee": "computation reduction vs early exit",
             "energy_vs_ee": "energy saving vs early exit"}
    for k in PAPER:
        w(f"<tr><td class=l>{names[k]}</td><td>{PAPER[k]:.1f} %</td>"
          + "".join(f"<td>{f1(best[lat][k])}</td><td class=l>{html.escape(best_src[lat][k])}</td>"
                    for lat in CONSTRAINTS) + "</tr>")
    w("</table>")

    for (gkey, slug, title), res_list in results:
        for res in res_list:
            if res is None:
                continue
            for latency in CONSTRAINTS:
                c = res["classic"]
                cl = claims(res, latency)
                cons = {"deadline": "accuracy and deadline", "mean": "accuracy and mean latency",
                        None: "accuracy only"}[latency]
                w(f"<h3>{html.escape(title)} — {html.escape(scenario_label(res['scenario']))} — "
                  f"constraint: {cons}</h3>")
                w(f"<p>{html.escape(claim_text(cl, latency))}</p>")
                w("<table><tr><th class=l>method</th><th class=l>selected for</th>"
                  "<th class=l>run (parameters, governor)</th><th>accuracy %</th>"
                  "<th>computation %</th><th>energy µJ</th><th>latency µs</th>"
                  "<th>deadline misses %</th></tr>")
                w("<tr><td class=l>classic network (reference)</td><td class=l>-</td>" + run_cell(c) + "</tr>")
                for key in ("pe", "pe_max", "ee"):
                    label, rc, re_ = res["by"][(key, latency)]
                    w(f"<tr><td class=l rowspan=2>{html.escape(label)}</td><td class=l>least computation</td>"
                      + run_cell(rc) + "</tr>")
                    w("<tr><td class=l>least energy</td>" + run_cell(re_) + "</tr>")
                w("</table>")

    # figures
    for title, slug, figs in rep.sections:
        w(f"<h2>{html.escape(title)}</h2>")
        for name, ftitle, fn, note in figs:
            if fn:
                w(f"<figure><img src='{html.escape(fn)}' alt='{html.escape(ftitle)}'>"
                  f"<figcaption>{html.escape(ftitle)} ({html.escape(fn)})</figcaption></figure>")
            else:
                w(f"<p class=note>{html.escape(ftitle)}: skipped — {html.escape(note)}.</p>")
    w("</body></html>")
    path = os.path.join(rep.out, "report.html")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    os.replace(path + ".tmp", path)
    return path


def main():
    ap = argparse.ArgumentParser(description="Figures and headline table from pesim result databases.")
    ap.add_argument("dbs", nargs="+", metavar="DB", help="pesim result database(s)")
    ap.add_argument("--out", default="report", help="output folder (default: report)")
    ap.add_argument("--acc-tol", type=float, default=0.5,
                    help="equal accuracy: percentage points below the classic network (0.5)")
    ap.add_argument("--miss-tol", type=float, default=0.01,
                    help="equal latency: largest share of deadline misses (0.01)")
    a = ap.parse_args()
    if a.acc_tol < 0 or not math.isfinite(a.acc_tol):
        fail("--acc-tol must be a finite number >= 0", 2)
    if not (0 <= a.miss_tol <= 1):
        fail("--miss-tol must be between 0 and 1", 2)
    plt = load_matplotlib()
    runs = load_runs(a.dbs)
    if not runs:
        fail("no finished runs in " + ", ".join(a.dbs))
    try:
        os.makedirs(a.out, exist_ok=True)
    except OSError as e:
        fail(f"{a.out}: {e.strerror}")
    rep = Report(plt, a.out, Rule(a.acc_tol, a.miss_tol))
    groups = OrderedDict()
    titles = defaultdict(set)
    for r in runs:
        gkey, slug, title = group_of(r)
        titles[title].add(gkey)
        groups.setdefault((gkey, slug, title), []).append(r)
    # two groups with one title (same network and data, different traces): name the file
    groups = OrderedDict(((gk, sl, t + (f" ({gk[4]})" if len(titles[t]) > 1 and gk[4] else "")), g)
                         for (gk, sl, t), g in groups.items())
    # slugs must be unique across groups
    seen = defaultdict(int)
    results = []
    written = 0
    for (gkey, slug, title), g in groups.items():
        seen[slug] += 1
        if seen[slug] > 1:
            slug = f"{slug}-{seen[slug]}"
        figs = []
        for name, ftitle in FIGURES:
            fn, note = FIG_FUNCS[name](rep, g, slug, title)
            figs.append((name, ftitle, fn, note))
            written += fn is not None
        rep.sections.append((title, slug, figs))
        scen = sorted({scenario_of(r) for r in g}, key=lambda s: (s != BASE_SCENARIO, s[0], s[1] or 0, s[2] or 0))
        results.append(((gkey, slug, title), [headline(rep.rule, g, s) for s in scen]))
    path = write_html(rep, groups, results, a.dbs, len(runs))
    print(f"pesim report: {written} figures and {path} from {len(runs)} runs in {len(groups)} group(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
