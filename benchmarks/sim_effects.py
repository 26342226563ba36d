"""Simulation study of the effect verdicts: coverage, placebo rejections, power and bias of the
method the pipeline chooses (`make bench-effects`).

    .venv/bin/python benchmarks/sim_effects.py [--reps 1000] [--workers 2] [--out FILE] [--check]

Every replication draws a city from `socialquality.effects.simulation.simulate_city` (40 districts,
8 annual waves, district levels, AR(1) district drift, city-wide year shocks, district-by-wave
noise, 60-250 respondents per district and wave, design effect 1.2, estimated standard errors)
and calls `socialquality.effects.analyse_intervention` -- the very function
`stages.estimate_effects` calls -- then `verdict_code` on its result. Grid: 1, 2, 3, 5, 10 and 20
treated districts; common start (wave 5 of 8) and staggered starts (waves 4, 5 and 6); true
effect 0 (placebo) and 0.35 individual SD. Extra rows: 2 treated districts with about 120
respondents each (the power target), and a target group (35% of the respondents, district-waves
under 30 of them suppressed, so panels are unbalanced).

Per cell: the design the chooser picked, coverage of the 95% interval (truth = the average effect
over the sites it could use), rejection rate (placebo: false positives; 0.35: power), bias, the
mean reported SE against the SD of the estimates, the median minimum detectable effect, and the
placebo rate of the pre-trend test. Monte Carlo standard errors: coverage sqrt(.95 x .05 / reps).
With --check the exit status is 1 when a target is missed beyond Monte Carlo error (coverage
outside 93-97% by more than 2 MC SE; placebo rejections above 6% by more than 2 MC SE; power
below 80% in the 2-districts-of-120 cell).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

# one BLAS thread per process: the matrices are tiny and the workers already use the cores
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from socialquality.effects import analyse_intervention, verdict_code  # noqa: E402
from socialquality.effects.simulation import simulate_city  # noqa: E402

EFFECT = 0.35
TREATED = (1, 2, 3, 5, 10, 20)


def cells() -> list[dict]:
    out = []
    for design in ("common", "staggered"):
        for n in TREATED:
            for effect in (0.0, EFFECT):
                out.append({"design": design, "treated": n, "effect": effect, "label": "60-250", "kw": {}})
    for effect in (0.0, EFFECT):
        out.append({"design": "common", "treated": 2, "effect": effect, "label": "about 120",
                    "kw": {"n_min": 105, "n_max": 135}})
    for design, n in (("common", 2), ("staggered", 5)):
        for effect in (0.0, EFFECT):
            out.append({"design": design, "treated": n, "effect": effect, "label": "target group 35%",
                        "kw": {"target_share": 0.35}})
    return out


def run_block(args: tuple[int, dict, int, int]) -> dict:
    index, cell, start, reps = args
    rng = np.random.default_rng([2026, index, start])
    est, se, cover, reject, mde, pre, methods, left, truth = [], [], [], [], [], [], [], [], []
    for _ in range(reps):
        city = simulate_city(rng, cell["treated"], cell["design"], cell["effect"], **cell["kw"])
        a = analyse_intervention(city.panel, city.starts, city.comparison)
        h = a.headline
        methods.append(a.method)
        if not a.estimable:
            continue
        lo, hi = h.conf_int(0.05).iloc[0] if a.method != "its" else h.conf_int(0.05).loc["level_change"]
        effect = h.att if a.method != "its" else h.level_change
        est.append(effect - city.true_att)
        truth.append(city.true_att)
        se.append(h.se if a.method != "its" else h.level_change_se)
        cover.append(lo <= city.true_att <= hi)
        reject.append(verdict_code(a) != "no_significant_change")
        mde.append(getattr(h, "mde", float("nan")))
        pt = getattr(h, "pretrend", None)
        pre.append(bool(pt is not None and pt.rejects(0.05)))
        left.append(len(a.did.left_out))
    return {"index": index, "est": est, "se": se, "cover": cover, "reject": reject, "mde": mde, "pre": pre,
            "methods": methods, "left": left}


def summarise(cell: dict, parts: list[dict]) -> dict:
    cat = {k: sum((p[k] for p in parts), []) for k in ("est", "se", "cover", "reject", "mde", "pre", "methods", "left")}
    n = len(cat["est"])
    methods = {m: cat["methods"].count(m) for m in set(cat["methods"])}
    return {
        **{k: cell[k] for k in ("design", "treated", "effect", "label")},
        "reps": len(cat["methods"]), "estimable": n,
        "method": ", ".join(f"{m}" if c == len(cat["methods"]) else f"{m} {c}" for m, c in sorted(methods.items())),
        "coverage": float(np.mean(cat["cover"])) if n else math.nan,
        "reject": float(np.mean(cat["reject"])) if n else math.nan,
        "bias": float(np.mean(cat["est"])) if n else math.nan,
        "sd": float(np.std(cat["est"], ddof=1)) if n > 1 else math.nan,
        "se": float(np.mean(cat["se"])) if n else math.nan,
        "mde": float(np.nanmedian(cat["mde"])) if n else math.nan,
        "pretrend": float(np.mean(cat["pre"])) if n else math.nan,
        "left": float(np.mean(cat["left"])) if n else math.nan,
    }


def check(row: dict) -> list[str]:
    mc = math.sqrt(0.95 * 0.05 / max(row["estimable"], 1))
    problems = []
    if not 0.93 - 2 * mc <= row["coverage"] <= 0.97 + 2 * mc:
        problems.append(f"coverage {row['coverage']:.3f}")
    if row["effect"] == 0 and row["reject"] > 0.06 + 2 * math.sqrt(0.06 * 0.94 / max(row["estimable"], 1)):
        problems.append(f"placebo rejections {row['reject']:.3f}")
    if row["effect"] > 0 and row["treated"] == 2 and row["label"] == "about 120" and row["reject"] < 0.80:
        problems.append(f"power {row['reject']:.3f}")
    return problems


def table(rows: list[dict]) -> str:
    head = ("| start | treated | respondents per district-wave | true effect (SD) | design chosen | coverage 95% CI | "
            "rejections (placebo: false positives; 0.35: power) | bias | SD of estimate | mean SE | median MDE | "
            "pre-trend test rejections | sites left out (mean) |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['design']} | {r['treated']} | {r['label']} | {r['effect']:.2f} | {r['method']} | "
            f"{100 * r['coverage']:.1f}% | {100 * r['reject']:.1f}% | {r['bias']:+.4f} | {r['sd']:.4f} | "
            f"{r['se']:.4f} | {r['mde']:.3f} | {100 * r['pretrend']:.1f}% | {r['left']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000, help="replications per cell (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    grid = cells()
    block = 100
    tasks = [(i, c, s, min(block, args.reps - s)) for i, c in enumerate(grid) for s in range(0, args.reps, block)]
    started = time.perf_counter()
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(run_block, tasks, chunksize=1)
    else:
        results = [run_block(t) for t in tasks]
    elapsed = time.perf_counter() - started
    rows = [summarise(c, [r for r in results if r["index"] == i]) for i, c in enumerate(grid)]
    text = table(rows)
    mc = math.sqrt(0.95 * 0.05 / args.reps)
    note = (f"\n{args.reps} replications per cell; Monte Carlo SE of a coverage near 95%: {100 * mc:.2f} points, "
            f"of a rejection rate near 5%: {100 * math.sqrt(0.05 * 0.95 / args.reps):.2f} points. "
            f"Run time {elapsed:.0f} s with {args.workers} process(es).")
    print(text + "\n" + note)
    if args.out:
        args.out.write_text(text + "\n" + note + "\n", encoding="utf-8")
    problems = [(r, check(r)) for r in rows]
    missed = [(r, p) for r, p in problems if p]
    for r, p in missed:
        print(f"TARGET MISSED: {r['design']} {r['treated']} treated, {r['label']}, effect {r['effect']}: "
              + "; ".join(p))
    if not missed:
        print("all targets met (coverage 93-97%, placebo rejections <= 6%, power >= 80% for 2 districts of ~120)")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
