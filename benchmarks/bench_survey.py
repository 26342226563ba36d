"""Benchmark of socialquality.survey at pipeline scale.

Synthetic monitor: ``--rows`` responses (default 1,000,000) spread over ``--waves`` waves
(default 10) and ``--districts`` districts (default 3,400), with 40 indicators (15 yes/no
without missing values, 25 on a 0-10 scale with about 5% missing).  Timed:

1. per wave: build a design (weights, strata=district, fpc=district population) and compute
   ``.mean(v, by="district")`` for all 40 variables plus the city-wide ``.mean(v)`` and
   ``.total(v)``;
2. all waves pooled into one design of ``--rows`` rows: 40 means by district;
3. the pooled design raked to sex x age margins: 40 means by district (calibration-residual
   variance).

Peak memory is the process's maximum resident set size (``resource.getrusage``).

Comparison with samplics (optional): samplics' domain estimation loops over domains and
strata in Python, so it is timed on subsets of one wave (the first K districts) and the
full run is extrapolated from the fitted growth rate.  samplics must not be installed into
the project venv; put it in a separate one and point the benchmark at it::

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install samplics pandas numpy
    python benchmarks/bench_survey.py --samplics-python /tmp/benchvenv/bin/python

(``/tmp/benchvenv/bin/python`` is also picked up automatically when it exists.)

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_survey.py [--rows N] [--no-samplics]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLICS_PYTHON = "/tmp/benchvenv/bin/python"
N_BINARY = 15
N_SCALE = 25


def variable_names() -> list[str]:
    return [f"yn{i:02d}" for i in range(1, N_BINARY + 1)] + [
        f"sc{i:02d}" for i in range(1, N_SCALE + 1)]


def make_data(rows: int, districts: int, waves: int, seed: int) -> pd.DataFrame:
    """Deterministic synthetic survey responses (same data for the same arguments)."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 1.0, districts) + 0.05  # unequal district sizes
    p = size / size.sum()
    district = rng.choice(districts, size=rows, p=p)
    wave = rng.integers(1, waves + 1, size=rows)
    pop = np.maximum(np.round(p * 700_000), 50).astype(np.int64)  # adults per district
    labels = np.array([f"WK{d:05d}" for d in range(districts)])
    df = pd.DataFrame({
        "district": labels[district],
        "wave": wave.astype(np.int16),
        "N": pop[district],
        "sex": rng.choice(np.array(["m", "v"]), size=rows, p=[0.47, 0.53]),
        "age": rng.choice(np.array(["18-29", "30-44", "45-64", "65+"]), size=rows,
                          p=[0.15, 0.25, 0.35, 0.25]),
    })
    # design weight: district population / responses in that district and wave, with a
    # nonresponse adjustment that varies by person
    n_dw = df.groupby(["wave", "district"])["N"].transform("size").to_numpy()
    df["w"] = df["N"].to_numpy() / n_dw * rng.lognormal(0.0, 0.35, rows)
    effect = rng.normal(0.0, 0.4, districts)[district]
    for i, name in enumerate(variable_names()):
        if i < N_BINARY:
            base = rng.uniform(-1.5, 1.5)
            prob = 1.0 / (1.0 + np.exp(-(base + effect)))
            df[name] = (rng.random(rows) < prob).astype(np.int8)
        else:
            prob = 1.0 / (1.0 + np.exp(-(rng.uniform(-1, 1) + effect)))
            y = rng.binomial(10, prob).astype(np.float64)
            y[rng.random(rows) < 0.05] = np.nan
            df[name] = y
    return df


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def subset_for(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Wave 1, first k districts: the data the samplics comparison runs on."""
    first = np.sort(df["district"].unique())[:k]
    sub = df[(df["wave"] == 1) & df["district"].isin(first)]
    return sub.sort_values("district", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- our estimator
def run_ours(df: pd.DataFrame, waves: int) -> dict:
    from socialquality.survey import SurveyDesign

    names = variable_names()
    out: dict = {"per_wave": []}
    t_all = time.perf_counter()
    for k in range(1, waves + 1):
        t0 = time.perf_counter()
        sub = df[df["wave"] == k]
        design = SurveyDesign(sub, weights="w", strata="district", fpc="N")
        for v in names:
            design.mean(v, by="district")
            design.mean(v)
            design.total(v)
        out["per_wave"].append((len(sub), time.perf_counter() - t0))
    out["waves_s"] = time.perf_counter() - t_all

    t0 = time.perf_counter()
    pooled = SurveyDesign(df, weights="w", strata="district")
    for v in names:
        pooled.mean(v, by="district")
    out["pooled_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    total = float(df["w"].sum())
    margins = {
        "sex": {"m": 0.49 * total, "v": 0.51 * total},
        "age": {"18-29": 0.22 * total, "30-44": 0.27 * total, "45-64": 0.31 * total,
                "65+": 0.20 * total},
    }
    raked = pooled.rake(margins)
    out["rake_s"] = time.perf_counter() - t0
    out["rake_report"] = str(raked.calibration)
    t0 = time.perf_counter()
    for v in names:
        raked.mean(v, by="district")
    out["raked_means_s"] = time.perf_counter() - t0
    return out


def ours_on_subset(sub: pd.DataFrame, variables: list[str],
                   drop_na: bool = False) -> tuple[float, dict]:
    """Means by district on a subset; drop_na=True mimics samplics' remove_nan (subsetting)."""
    from socialquality.survey import SurveyDesign

    t0 = time.perf_counter()
    res = {}
    design = SurveyDesign(sub, weights="w", strata="district", fpc="N", lonely_psu="remove")
    for v in variables:
        if drop_na:
            kept = sub[sub[v].notna()]
            design = SurveyDesign(kept, weights="w", strata="district", fpc="N",
                                  lonely_psu="remove")
        res[v] = design.mean(v, by="district")
    return time.perf_counter() - t0, {
        v: {"domain": r["district"].tolist(), "estimate": r["estimate"].tolist(),
            "se": r["se"].tolist()} for v, r in res.items()}


# ---------------------------------------------------------------- samplics
def samplics_on_subset(sub: pd.DataFrame, variables: list[str]) -> tuple[float, dict]:
    import warnings

    warnings.filterwarnings("ignore")
    from samplics import PopParam, SinglePSUEst, TaylorEstimator

    t0 = time.perf_counter()
    res = {}
    for v in variables:
        y = sub[v].to_numpy(dtype=float)
        keep = ~np.isnan(y)
        strata = sub["district"].to_numpy()[keep]
        n_h = sub[keep].groupby("district")["N"].agg(["size", "first"])
        fpc = (1.0 - n_h["size"] / n_h["first"]).to_dict()  # keys sorted like np.unique
        est = TaylorEstimator(PopParam.mean)
        est.estimate(y=y[keep], samp_weight=sub["w"].to_numpy()[keep], stratum=strata,
                     psu=np.arange(len(strata)), domain=strata, fpc=fpc,
                     single_psu=SinglePSUEst.skip)
        doms = sorted(est.point_est)
        res[v] = {"domain": [str(d) for d in doms],
                  "estimate": [float(est.point_est[d]) for d in doms],
                  "se": [float(est.stderror[d]) for d in doms]}
    return time.perf_counter() - t0, res


def samplics_child(args: argparse.Namespace) -> None:
    """Entry point inside the samplics venv: print timings and results as JSON."""
    df = make_data(args.rows, args.districts, args.waves, args.seed)
    out = []
    for k in args.samplics_districts:
        sub = subset_for(df, k)
        secs, res = samplics_on_subset(sub, args.compare_vars)
        out.append({"districts": k, "rows": len(sub), "seconds": secs, "results": res})
    print("JSON:" + json.dumps(out))


def compare_with_samplics(df: pd.DataFrame, args: argparse.Namespace, ours_full_s: float) -> None:
    print("\n== comparison with samplics ==")
    runs = None
    try:
        import samplics  # noqa: F401
        in_process = True
    except ImportError:
        in_process = False
    if in_process:
        runs = []
        for k in args.samplics_districts:
            sub = subset_for(df, k)
            secs, res = samplics_on_subset(sub, args.compare_vars)
            runs.append({"districts": k, "rows": len(sub), "seconds": secs, "results": res})
    else:
        py = args.samplics_python or (DEFAULT_SAMPLICS_PYTHON
                                      if os.path.exists(DEFAULT_SAMPLICS_PYTHON) else None)
        if py is None:
            print("samplics is not importable here: skipped. To enable it (without touching "
                  "the project venv):\n  python3 -m venv /tmp/benchvenv && "
                  "/tmp/benchvenv/bin/pip install samplics pandas numpy\n  then rerun with "
                  "--samplics-python /tmp/benchvenv/bin/python")
            return
        cmd = [py, str(Path(__file__).resolve()), "--samplics-child", "--rows", str(args.rows),
               "--districts", str(args.districts), "--waves", str(args.waves),
               "--seed", str(args.seed), "--samplics-districts",
               ",".join(map(str, args.samplics_districts)),
               "--compare-vars", ",".join(args.compare_vars)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:")), None)
        if proc.returncode != 0 or line is None:
            print(f"samplics run with {py} failed (exit {proc.returncode}):\n"
                  f"{proc.stderr[-2000:]}")
            return
        runs = json.loads(line[5:])
        print(f"(samplics {py})")

    print(f"{'districts':>9} {'rows':>7} {'samplics s':>11} {'ours s':>8} {'speed-up':>9} "
          f"{'max |d est|':>12} {'max rel d SE, same rows':>24} {'max rel d SE, na.rm':>20}")
    xs, ys = [], []

    def max_diffs(ours: dict, theirs: dict) -> tuple[float, float]:
        d_est, d_se = 0.0, 0.0
        for v in args.compare_vars:
            a = pd.DataFrame(ours[v]).set_index("domain")
            b = pd.DataFrame(theirs[v]).set_index("domain")
            j = a.merge(b, left_index=True, right_index=True, suffixes=("_o", "_s"))
            d_est = max(d_est, float(np.nanmax(np.abs(j["estimate_o"] - j["estimate_s"]))))
            ok = j["se_s"] > 0
            d_se = max(d_se, float(np.nanmax(np.abs(j.loc[ok, "se_o"] / j.loc[ok, "se_s"] - 1))))
        return d_est, d_se

    for run in runs:
        sub = subset_for(df, run["districts"])
        assert len(sub) == run["rows"], "data differ between the two interpreters"
        ours_s, ours = ours_on_subset(sub, args.compare_vars)
        _, ours_dropped = ours_on_subset(sub, args.compare_vars, drop_na=True)
        d_est, d_se_same = max_diffs(ours_dropped, run["results"])
        _, d_se_narm = max_diffs(ours, run["results"])
        print(f"{run['districts']:>9} {run['rows']:>7} {run['seconds']:>11.2f} {ours_s:>8.3f} "
              f"{run['seconds'] / ours_s:>9.0f} {d_est:>12.2e} {d_se_same:>24.2e} "
              f"{d_se_narm:>20.2e}")
        xs.append(run["districts"])
        ys.append(run["seconds"] / len(args.compare_vars))
    if len(xs) >= 2:
        # growth rate from the two largest subsets (fixed overhead dominates small ones)
        slope = float(np.log(ys[-1] / ys[-2]) / np.log(xs[-1] / xs[-2]))
        per_var_wave = float(ys[-1] * (args.districts / xs[-1]) ** slope)
        full = per_var_wave * len(variable_names()) * args.waves
        print(f"samplics time per variable grows like districts^{slope:.2f} between the two "
              f"largest subsets (rows grow with districts); extrapolated to {args.districts} "
              f"districts x {len(variable_names())} variables x {args.waves} waves (means by "
              f"district "
              f"only): about {full:,.0f} s = {full / 3600:,.1f} h, against {ours_full_s:.1f} s "
              "for ours (which also did city means and totals).  EXTRAPOLATED, not measured.")
    print("'same rows': ours on the rows without a missing value (samplics' remove_nan); "
          "'na.rm': ours as used, rows with a missing value stay in the design (R's na.rm), "
          "which changes the stratum sizes n_h and so the SEs, most in strata with few rows.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--districts", type=int, default=3_400)
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--no-samplics", action="store_true", help="skip the samplics comparison")
    ap.add_argument("--samplics-python", default=None,
                    help="python of a venv with samplics (default: /tmp/benchvenv/bin/python "
                         "if it exists)")
    ap.add_argument("--samplics-districts", default="50,100,200",
                    type=lambda s: [int(x) for x in s.split(",")],
                    help="subset sizes (first K districts of wave 1) for samplics")
    ap.add_argument("--compare-vars", default="sc01,sc02", type=lambda s: s.split(","))
    ap.add_argument("--samplics-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.samplics_child:
        samplics_child(args)
        return

    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    df = make_data(args.rows, args.districts, args.waves, args.seed)
    gen_s = time.perf_counter() - t0
    rss_data = peak_rss_mb()
    print(f"synthetic data: {len(df):,} rows, {df['district'].nunique():,} districts, "
          f"{args.waves} waves, {len(variable_names())} indicators; generated in {gen_s:.1f} s; "
          f"peak RSS after generation {rss_data:,.0f} MB")

    res = run_ours(df, args.waves)
    rows_w = [r for r, _ in res["per_wave"]]
    secs_w = [s for _, s in res["per_wave"]]
    total_s = res["waves_s"] + res["pooled_s"] + res["rake_s"] + res["raked_means_s"]
    print("\n== socialquality.survey ==")
    print(f"1. {args.waves} wave designs (~{np.mean(rows_w):,.0f} rows each), 40 x "
          f"mean by district + city mean + city total: {res['waves_s']:.2f} s "
          f"(per wave {min(secs_w):.2f}-{max(secs_w):.2f} s)")
    print(f"2. pooled design ({len(df):,} rows), 40 x mean by district: {res['pooled_s']:.2f} s")
    print(f"3. raking the pooled design: {res['rake_s']:.2f} s  [{res['rake_report']}]")
    print(f"   raked design, 40 x mean by district (calibration residuals): "
          f"{res['raked_means_s']:.2f} s")
    print(f"total estimation wall time: {total_s:.2f} s (target < 30 s)")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (target < 4096 MB; includes the data)")

    if not args.no_samplics:
        compare_with_samplics(df, args, res["waves_s"])


if __name__ == "__main__":
    main()
