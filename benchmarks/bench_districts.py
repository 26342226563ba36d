"""Weighting and estimation against the number of districts (issue 12).

A wave of ``--rows`` respondents (default 1,000,000) in D districts (default 340, 1,000 and
3,400), raked to per-district margins -- district x sex and district x age group, as the
pipeline does -- and 40 indicators estimated per district and for the whole area.  For each D
the same run times, side by side:

* ``numpy IPF``: a plain iterative proportional fitting on the two margins (bincount + scale,
  until every level is within 1e-6), the floor for raking;
* ``SurveyDesign.rake``: the package's raking with the same margins and tolerance, which also
  builds the calibration matrices (block-diagonal by district) for the variances;
* ``weight_wave``: the pipeline's weighting stage (collapse rules, trimming bounds widened per
  district where they cannot be met, diagnostics per district) on the same respondents and
  CBS-style margins; at 3,400 districts the default bounds [0.3, 3] cannot be met in some
  districts, so this column includes the per-district widening;
* ``plain linearisation``: the 40 district means and the overall mean with a stratified Taylor
  variance computed with a few bincounts (no calibration residuals) -- the floor for estimation;
* ``SurveyDesign.mean``: the same 80 estimates on the raked design, with the variance from the
  calibration residuals (as R's ``svymean`` on a ``rake``d design); this includes the one-off
  bookkeeping of the two domain specifications (district, whole area) on the first call.

Targets (issue 12): rake within 10x the numpy IPF, the means within 3x the plain
linearisation, at every D.  Peak memory is the process's maximum RSS.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_districts.py [--rows N] [--districts 340,1000,3400]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd

N_BINARY = 15
N_SCALE = 25
SEX = np.array(["m", "v"])


def age_groups() -> list[str]:
    from socialquality.codebook import AGE_GROUPS

    return list(AGE_GROUPS)


def make_wave(rows: int, districts: int, seed: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Respondents and long margins (district_code, variable, level, count) for one wave."""
    rng = np.random.default_rng(seed)
    groups = age_groups()
    n_age = len(groups)
    size = rng.gamma(4.0, 1.0, districts) + 1.0
    p_dist = size / size.sum()
    pop_total = np.maximum(np.round(p_dist * 14_000_000), 400)
    age_share = rng.dirichlet(np.full(n_age, 20.0), districts)
    male_share = rng.uniform(0.45, 0.53, districts)
    # response propensity rises with age; sample sizes follow the population
    propensity = np.linspace(0.6, 1.4, n_age)
    district = rng.choice(districts, size=rows, p=p_dist)
    cell_p = age_share[district] * propensity
    cell_p /= cell_p.sum(axis=1, keepdims=True)
    age = (cell_p.cumsum(axis=1) > rng.random(rows)[:, None]).argmax(axis=1)
    sex = (rng.random(rows) > male_share[district] * 0.95).astype(np.int64)
    codes = np.array([f"WK{d:06d}" for d in range(districts)])
    frame = pd.DataFrame({
        "district_code": codes[district], "sex": SEX[sex], "age_group": np.array(groups)[age],
        "respondent_pid": np.arange(rows), "source_row": np.arange(rows)})
    effect = rng.normal(0.0, 0.4, districts)[district] + 0.1 * age
    for i in range(N_BINARY + N_SCALE):
        prob = 1.0 / (1.0 + np.exp(-(rng.uniform(-1.5, 1.5) + effect)))
        if i < N_BINARY:
            frame[f"v{i:02d}"] = (rng.random(rows) < prob).astype(np.float64)
        else:
            y = rng.binomial(10, prob).astype(np.float64)
            y[rng.random(rows) < 0.05] = np.nan
            frame[f"v{i:02d}"] = y
    long = []
    for d in range(districts):
        total = pop_total[d]
        ages = np.floor(age_share[d] * total)
        ages[0] += total - ages.sum()
        men = np.round(male_share[d] * total)
        long += [(codes[d], "sex", "m", men), (codes[d], "sex", "v", total - men)]
        long += [(codes[d], "age_group", g, a) for g, a in zip(groups, ages)]
    margins = pd.DataFrame(long, columns=["district_code", "variable", "level", "count"])
    return frame, margins


def numpy_ipf(base: np.ndarray, codes: list[np.ndarray], totals: list[np.ndarray],
              tol: float = 1e-6, max_iter: int = 1000) -> tuple[np.ndarray, int]:
    w = base.copy()
    for it in range(1, max_iter + 1):
        for c, t in zip(codes, totals):
            s = np.bincount(c, weights=w, minlength=len(t))
            w *= np.divide(t, s, out=np.zeros_like(t), where=s > 0)[c]
        err = max(np.max(np.abs(np.bincount(c, weights=w, minlength=len(t)) - t) / np.maximum(t, 1e-300))
                  for c, t in zip(codes, totals))
        if err <= tol:
            return w, it
    return w, max_iter


def plain_linearisation(y: np.ndarray, w: np.ndarray, dist: np.ndarray, nd: int) -> tuple[np.ndarray, ...]:
    """District means and the overall mean with a stratified (strata = districts) Taylor SE."""
    ok = ~np.isnan(y)
    y0 = np.where(ok, y, 0.0)
    wk = np.where(ok, w, 0.0)
    n_h = np.bincount(dist, minlength=nd).astype(float)
    out = []
    # district means: the domain is the stratum
    sw = np.bincount(dist, weights=wk, minlength=nd)
    est = np.bincount(dist, weights=wk * y0, minlength=nd) / sw
    z = wk * (y0 - est[dist]) / sw[dist]
    s1 = np.bincount(dist, weights=z, minlength=nd)
    s2 = np.bincount(dist, weights=z * z, minlength=nd)
    out.append((est, np.sqrt(n_h / (n_h - 1) * (s2 - s1 * s1 / n_h))))
    # overall mean
    tot = wk.sum()
    m = float((wk * y0).sum() / tot)
    z = wk * (y0 - m) / tot
    s1 = np.bincount(dist, weights=z, minlength=nd)
    s2 = np.bincount(dist, weights=z * z, minlength=nd)
    out.append((m, np.sqrt(np.sum(n_h / (n_h - 1) * (s2 - s1 * s1 / n_h)))))
    return tuple(out)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def run(rows: int, districts: int) -> dict:
    from socialquality.survey import SurveyDesign
    from socialquality.weighting import weight_wave

    frame, margins = make_wave(rows, districts)
    variables = [c for c in frame.columns if c.startswith("v")]
    groups = age_groups()
    dist_codes, dist_labels = pd.factorize(frame["district_code"], sort=True)
    nd = len(dist_labels)
    pop = margins.pivot_table(index="district_code", columns=["variable", "level"], values="count",
                              aggfunc="sum").reindex(dist_labels)
    n_d = np.bincount(dist_codes, minlength=nd)
    total_d = pop["age_group"].sum(axis=1).to_numpy()
    base = (total_d / n_d)[dist_codes]
    sex_code = dist_codes * 2 + (frame["sex"].to_numpy() == "v")
    age_code = dist_codes * len(groups) + pd.Index(groups).get_indexer(frame["age_group"])
    sex_tot = pop["sex"][["m", "v"]].to_numpy().ravel()
    age_tot = pop["age_group"][groups].to_numpy().ravel()
    res: dict = {"districts": nd, "rows": rows}

    t0 = time.perf_counter()
    w_np, it_np = numpy_ipf(base, [sex_code, age_code], [sex_tot, age_tot])
    res["ipf_s"] = time.perf_counter() - t0
    res["ipf_iter"] = it_np

    data = pd.DataFrame({"district": dist_codes, "base": base, "ms": sex_code, "ma": age_code})
    for v in variables:
        data[v] = frame[v].to_numpy()
    margins_spec = {"ms": dict(enumerate(sex_tot)), "ma": dict(enumerate(age_tot))}
    t0 = time.perf_counter()
    design = SurveyDesign(data, weights="base", strata="district")
    raked = design.rake(margins_spec, max_iter=1000, tol=1e-6)
    res["rake_s"] = time.perf_counter() - t0
    res["rake_iter"] = raked.calibration.iterations
    res["rake_vs_ipf_maxdiff"] = float(np.max(np.abs(raked.weights.to_numpy() - w_np) / w_np))

    t0 = time.perf_counter()
    plain = [plain_linearisation(data[v].to_numpy(), w_np, dist_codes, nd) for v in variables]
    res["plain_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = [(raked.mean(v, by="district"), raked.mean(v)) for v in variables]
    res["means_s"] = time.perf_counter() - t0
    res["est_maxdiff"] = max(float(np.nanmax(np.abs(o[0]["estimate"].to_numpy() - p[0][0])))
                             for o, p in zip(ours, plain))
    # calibration removes the variance explained by sex and age within districts
    res["se_ratio_median"] = float(np.nanmedian(np.concatenate(
        [o[0]["se"].to_numpy() / p[0][1] for o, p in zip(ours, plain)])))

    t0 = time.perf_counter()
    result = weight_wave(frame, margins)
    res["weight_wave_s"] = time.perf_counter() - t0
    res["weight_wave_report"] = str(result.design.calibration)
    res["widened"] = int(result.bounds["widened"].sum())
    t0 = time.perf_counter()
    design_ww = result.design
    for v in variables:
        design_ww.mean(v, by="district_code")
        design_ww.mean(v)
    res["ww_means_s"] = time.perf_counter() - t0
    res["peak_gb"] = peak_gb()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--districts", default="340,1000,3400")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(f"{'districts':>9} {'numpy IPF':>10} {'rake':>8} {'ratio':>6} {'plain lin.':>10} "
          f"{'means':>8} {'ratio':>6} {'weight_wave':>11} {'+means':>8} {'peak GB':>8}")
    for d in (int(x) for x in args.districts.split(",")):
        r = run(args.rows, d)
        print(f"{r['districts']:>9,} {r['ipf_s']:>9.2f}s {r['rake_s']:>7.2f}s "
              f"{r['rake_s'] / r['ipf_s']:>6.1f} {r['plain_s']:>9.2f}s {r['means_s']:>7.2f}s "
              f"{r['means_s'] / r['plain_s']:>6.1f} {r['weight_wave_s']:>10.2f}s "
              f"{r['ww_means_s']:>7.2f}s {r['peak_gb']:>8.2f}", flush=True)
        print(f"          IPF {r['ipf_iter']} sweeps, rake {r['rake_iter']}; weights max rel. diff "
              f"{r['rake_vs_ipf_maxdiff']:.1e}; estimates max diff {r['est_maxdiff']:.1e}; "
              f"median SE raked/plain {r['se_ratio_median']:.3f}", flush=True)
        print(f"          weight_wave: {r['weight_wave_report']}; bounds widened in {r['widened']} of "
              f"{r['districts']:,} districts", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
