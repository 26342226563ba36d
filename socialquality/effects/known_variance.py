"""Difference-in-differences on district-wave survey estimates with a known sampling variance.

The pipeline's estimator for every intervention with comparison districts, common start or
staggered starts alike (docs/methods_effects.md, section 2).

Model for district ``i`` and wave ``t`` (``y`` the published survey estimate, ``se`` its standard
error from the survey design)::

    y_it = a_i + b_t + tau_i D_it + u_it + e_it,   e_it ~ (0, se_it^2) known, independent over waves
                                                   u_i  ~ (0, Sigma)   the same for every district

``u`` is everything that moves one district and not the city: AR(1) drift, district-by-wave
shocks. ``Sigma`` (waves x waves) is estimated by the method of moments from the comparison
districts only: the covariance of their estimates across districts minus their mean known
sampling variance. A treated site's effect compares the mean of its own waves from the start on
with the mean of its waves before (so all pre waves serve as baseline, and a site with a
suppressed wave keeps its other waves), minus the same contrast in the comparison districts that
have those waves. Every estimate is thus a linear combination ``sum_i w_i' y_i``, whose variance
is exactly ``sum_i w_i' (Sigma + diag(se_i^2)) w_i``: each site carries its own sampling variance
(a cohort of one district included), and the district part is learned from the comparison
districts, which is what makes one or two treated districts possible (Conley & Taber 2011, with
the heteroskedasticity from unequal sample sizes taken from the survey design, as Ferman & Pinto
2019 ask). Intervals use a t distribution with Satterthwaite degrees of freedom for the estimated
part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from socialquality.effects._common import PretrendResult, _table_text, _wald
from socialquality.i18n import _, ngettext

__all__ = ["PanelDidResult", "panel_did", "MIN_COMPARISON", "minimum_detectable_effect"]

#: Fewer comparison districts with data than this: the district variance cannot be learned.
MIN_COMPARISON = 5
#: Cap on the Satterthwaite degrees of freedom (beyond it t and normal agree to 3 digits).
MAX_DF = 1000.0


def minimum_detectable_effect(se: float, df: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true effect found significant (two-sided ``alpha``) with probability ``power``:
    ``(t_{1-alpha/2} + t_{power}) * se`` on ``df`` degrees of freedom."""
    if not (math.isfinite(se) and se > 0):
        return float("nan")
    d = df if math.isfinite(df) and df > 0 else MAX_DF
    return float((stats.t.ppf(1 - alpha / 2, d) + stats.t.ppf(power, d)) * se)


@dataclass
class PanelDidResult:
    """Effect of one intervention (one or more sites, common or staggered starts)."""

    estimable: bool
    design: str  # "common" | "staggered"
    alpha: float = 0.05
    reason: str | None = None
    reason_nl: str | None = None
    att: float = float("nan")
    se: float = float("nan")
    df: float = float("nan")
    pvalue: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    mde: float = float("nan")
    var_sampling: float = float("nan")
    var_district: float = float("nan")
    n_treated: int = 0
    n_comparison: int = 0
    treated_units: list = field(default_factory=list)
    comparison_units: list = field(default_factory=list)
    #: sites left out of the estimate -> reason (English); ``left_out_nl`` the Dutch reason
    left_out: dict = field(default_factory=dict)
    left_out_nl: dict = field(default_factory=dict)
    cohorts: dict = field(default_factory=dict)  # start time -> sites used
    mean_n: float = float("nan")  # mean respondents per treated district-wave (when known)
    site_effects: pd.DataFrame | None = None
    event_study: pd.DataFrame | None = None
    pretrend: PretrendResult | None = None
    start_time: float = float("nan")
    used_survey_se: bool = True

    @property
    def effect(self) -> float:
        return self.att

    @property
    def effect_se(self) -> float:
        return self.se

    @property
    def n_cohorts(self) -> int:
        return len(self.cohorts)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        if not self.estimable:
            return pd.DataFrame(columns=["lower", "upper"], dtype=float)
        c = float(stats.t.ppf(1 - alpha / 2, self.df))
        return pd.DataFrame({"lower": [self.att - c * self.se], "upper": [self.att + c * self.se]}, index=["att"])

    def summary(self) -> str:
        head = (f"Difference-in-differences with known sampling variance ({self.design} start), "
                f"{self.n_treated} treated vs {self.n_comparison} comparison districts")
        if not self.estimable:
            return f"{head}\nNot estimable: {self.reason}"
        pct = f"{100 * (1 - self.alpha):g}%"
        lines = [
            head,
            f"  ATT {self.att:.4f}  SE {self.se:.4f} (sampling {math.sqrt(self.var_sampling):.4f}, district "
            f"{math.sqrt(max(self.var_district, 0.0)):.4f})  t df {self.df:.1f}  p {self.pvalue:.4f}  "
            f"{pct} CI [{self.ci_low:.4f}, {self.ci_high:.4f}]  MDE {self.mde:.4f}",
        ]
        if self.site_effects is not None and len(self.site_effects):
            lines.append(_table_text(self.site_effects))
        if self.event_study is not None and len(self.event_study):
            lines.append(_table_text(self.event_study))
        if self.pretrend is not None:
            lines.append(self.pretrend.summary())
        if self.left_out:
            lines.append(f"  sites left out: {self.left_out}")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# the variance of a linear combination of district-wave estimates
# --------------------------------------------------------------------------


def _district_covariance(Yc: np.ndarray, S2c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Method-of-moments estimate of Sigma from comparison districts (pairwise complete).

    Returns (Sigma_hat, Psi_hat, counts): Psi is the raw covariance of the comparison estimates
    (Sigma + mean sampling variance), counts the number of districts behind each entry.
    """
    T = Yc.shape[1]
    obs = np.isfinite(Yc) & np.isfinite(S2c)
    sig = np.full((T, T), np.nan)
    psi = np.full((T, T), np.nan)
    cnt = np.zeros((T, T), dtype=int)
    for s in range(T):
        for t in range(s, T):
            mk = obs[:, s] & obs[:, t]
            k = int(mk.sum())
            cnt[s, t] = cnt[t, s] = k
            if k < 2:
                continue
            a, b = Yc[mk, s], Yc[mk, t]
            c = float(((a - a.mean()) * (b - b.mean())).sum() / (k - 1))
            psi[s, t] = psi[t, s] = c
            if s == t:
                c -= float(S2c[mk, s].mean())
            sig[s, t] = sig[t, s] = c
    return sig, psi, cnt


def _wave_effect_map(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-way fixed effects y_jt = a_j + b_t + e on the observed cells ``obs`` (districts x waves).

    Returns (B, per_wave): B (waves x observed cells, in row-major order of ``obs``) with
    b_hat = B @ y_obs, identified up to a constant (only contrasts summing to 0 are used), and the
    number of districts observed per wave. With a balanced panel lambda'b_hat is the plain mean of
    lambda'y_j over the comparison districts.
    """
    # normal equations with the district effects eliminated (Schur complement):
    # C b = R y, C = diag(n_t) - N' diag(1/n_j) N, R[:, (j,t)] = e_t - N_j / n_j
    N = obs.astype(float)
    nj = N.sum(axis=1)
    jj, tt = np.nonzero(obs)
    C = np.diag(N.sum(axis=0)) - (N / nj[:, None]).T @ N
    R = -(N[jj] / nj[jj, None]).T
    R[tt, np.arange(len(jj))] += 1.0
    B = np.linalg.pinv(C) @ R  # C has rank T - 1 (a common constant): contrasts of b are unique
    return B, obs.sum(axis=0)


def _psd(M: np.ndarray) -> np.ndarray:
    M = np.nan_to_num((M + M.T) / 2)
    w, U = np.linalg.eigh(M)
    return (U * np.clip(w, 0, None)) @ U.T


@dataclass
class _VarianceModel:
    sigma: np.ndarray
    sigma_psd: np.ndarray
    psi_psd: np.ndarray
    counts: np.ndarray
    S2: np.ndarray  # all units x T (NaN where missing)

    def variance(self, W: np.ndarray) -> tuple[float, float, float]:
        """(sampling variance, district variance (may be < 0), Satterthwaite df) of sum_u W_u' y_u."""
        nz = W != 0
        known = float(np.sum(np.where(nz, W**2 * np.nan_to_num(self.S2), 0.0)))
        G = W.T @ W
        support = np.abs(G) > 0
        if np.isnan(self.sigma[support]).any():
            return known, float("nan"), float("nan")
        dist = float(np.sum(G[support] * self.sigma[support]))
        m = int(self.counts[support].min()) if support.any() else 0
        total = known + max(dist, 0.0)
        GP = G @ self.psi_psd
        denom = float(np.sum(GP * GP.T))
        if m < 2:
            df = float("nan")
        elif denom <= 0:
            df = MAX_DF
        else:
            df = float(min(MAX_DF, max(1.0, total**2 * (m - 1) / denom)))
        return known, dist, df

    def covariance(self, Ws: np.ndarray) -> np.ndarray:
        """Covariance matrix of several combinations (Ws: K x units x T), Sigma projected on the PSD cone."""
        known = np.einsum("kut,jut,ut->kj", Ws, Ws, np.nan_to_num(self.S2))
        G = np.einsum("kut,jus->kjts", Ws, Ws)
        dist = np.einsum("kjts,ts->kj", G, self.sigma_psd)
        return known + dist


def _intervals(est, known, dist, df, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(se, p, lower, upper) for arrays of estimates (one scipy call for all: it is the slow part)."""
    est, known, dist, df = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (est, known, dist, df))
    var = known + np.clip(np.nan_to_num(dist, nan=np.nan), 0.0, None)
    se = np.where(var > 0, np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    ok = np.isfinite(se) & np.isfinite(df)
    c = np.full(est.shape, np.nan)
    p = np.full(est.shape, np.nan)
    if ok.any():
        c[ok] = stats.t.ppf(1 - alpha / 2, df[ok])
        p[ok] = 2 * stats.t.sf(np.abs(est[ok]) / se[ok], df[ok])
    return se, p, est - c * se, est + c * se


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


def panel_did(
    panel: pd.DataFrame,
    starts: Mapping[Any, float],
    comparison_units: Sequence[Any] | None = None,
    *,
    unit_col: str = "unit",
    time_col: str = "time",
    estimate_col: str = "estimate",
    se_col: str = "se",
    n_col: str = "n",
    alpha: float = 0.05,
    min_comparison: int = MIN_COMPARISON,
) -> PanelDidResult:
    """DiD of the sites in ``starts`` (site -> first post time) against ``comparison_units``.

    ``panel`` holds one row per district and wave with the survey estimate and its standard
    error (the known sampling variance is the heart of the method; without a ``se`` column all
    variance is learned from the comparison districts, assuming equal sample sizes); missing or
    suppressed district-waves may simply be absent or NaN. ``comparison_units`` default to all
    units without a start. See the module docstring for the model.

    A site is left out (named in ``left_out`` with the reason) only when it has no estimate
    before or none from its start on, or fewer than ``min_comparison`` comparison districts have
    estimates in the same waves.
    """
    for c in (unit_col, time_col, estimate_col):
        if c not in panel.columns:
            raise KeyError(f"column {c!r} not in panel")
    starts = {u: float(g) for u, g in starts.items()}
    if not starts:
        raise ValueError("no treated sites")
    if se_col in panel.columns and panel[se_col].notna().any():
        d = panel[panel[estimate_col].notna() & panel[se_col].notna() & (panel[se_col] > 0)]
    else:
        # no standard errors: everything district-level is estimated from the comparison districts
        # (sampling variance assumed equal across districts; the classic Conley & Taber setting)
        se_col = "_no_se"
        d = panel[panel[estimate_col].notna()].assign(_no_se=0.0)
    if d.duplicated([unit_col, time_col]).any():
        raise ValueError("unit x time is not unique")
    comp = [u for u in (comparison_units if comparison_units is not None else pd.unique(panel[unit_col]))
            if u not in starts]
    design = "common" if len(set(starts.values())) == 1 else "staggered"
    res = PanelDidResult(False, design, alpha=alpha)
    if len(set(starts.values())) == 1:
        res.start_time = next(iter(starts.values()))

    def fail(reason: str, reason_nl: str) -> PanelDidResult:
        res.reason, res.reason_nl = reason, reason_nl
        return res

    times = np.sort(pd.unique(d[time_col].to_numpy(dtype=float)))
    units = list(dict.fromkeys(list(starts) + comp))
    U, T = len(units), len(times)
    row = pd.Index(units).get_indexer(d[unit_col])
    inside = row >= 0
    row = row[inside]
    col = np.searchsorted(times, d[time_col].to_numpy(dtype=float)[inside])

    def grid(column: str) -> np.ndarray:
        out = np.full((U, T), np.nan)
        out[row, col] = pd.to_numeric(d[column], errors="coerce").to_numpy(dtype=float)[inside]
        return out

    Y = grid(estimate_col)
    S2 = grid(se_col) ** 2
    obs = np.isfinite(Y) & np.isfinite(S2)
    res.used_survey_se = se_col != "_no_se"
    Ncount = grid(n_col) if n_col in d.columns else None
    nS = len(starts)
    ci = np.arange(nS, len(units))
    comp_ok = ci[obs[ci].sum(axis=1) >= 2]
    res.comparison_units = [units[j] for j in comp_ok]
    res.n_comparison = len(comp_ok)
    if len(comp_ok) < min_comparison:
        return fail(f"{len(comp_ok)} comparison districts with data; at least {min_comparison} needed",
                    ngettext("Geen vergelijking met andere wijken mogelijk: er is %(num)s vergelijkingswijk met cijfers; "
                             "minimaal %(needed)s nodig.",
                             "Geen vergelijking met andere wijken mogelijk: er zijn %(num)s vergelijkingswijken met "
                             "cijfers; minimaal %(needed)s nodig.", len(comp_ok), needed=min_comparison))
    sigma, psi, counts = _district_covariance(Y[comp_ok], S2[comp_ok])
    # the comparison districts' common wave effects b_t: two-way fixed effects on their (possibly
    # unbalanced) panel; lambda'b_hat is linear in their estimates, B maps them (rows: waves)
    B, per_wave = _wave_effect_map(obs[comp_ok])
    vm = _VarianceModel(sigma, _psd(sigma), _psd(psi), counts, np.where(obs, S2, np.nan))

    sites: list[dict[str, Any]] = []
    for i, (u, g) in enumerate(starts.items()):
        pre = obs[i] & (times < g)
        post = obs[i] & (times >= g)
        if not pre.any() or not post.any():
            what = "before" if not pre.any() else "from"
            res.left_out[u] = f"no estimate {what} the start"
            res.left_out_nl[u] = _("geen cijfer vóór de start") if not pre.any() else _("geen cijfer vanaf de start")
            continue
        lam = np.where(post, 1.0 / post.sum(), 0.0) - np.where(pre, 1.0 / pre.sum(), 0.0)
        supp = lam != 0
        fewest = int(per_wave[supp].min())
        if fewest < min_comparison:
            res.left_out[u] = f"{fewest} comparison districts with an estimate in one of its waves"
            res.left_out_nl[u] = _("te weinig vergelijkingswijken met cijfers in dezelfde jaren")
            continue
        sites.append({"row": i, "unit": u, "start": g, "lam": lam, "comp": comp_ok, "pre": pre, "post": post})
    if not sites:
        reasons = "; ".join(f"{u}: {r}" for u, r in res.left_out.items())
        return fail(f"no site can be estimated ({reasons})",
                    _("Geen uitspraak mogelijk: voor geen van de wijken zijn cijfers van vóór én na de start."))
    nT = len(sites)
    res.n_treated = nT
    res.treated_units = [s["unit"] for s in sites]
    res.cohorts = {}
    for s in sites:
        res.cohorts.setdefault(s["start"], []).append(s["unit"])
    res.cohorts = dict(sorted(res.cohorts.items()))

    comp_obs = obs[comp_ok]

    def weights(row: int, lam: np.ndarray, cset: np.ndarray, scale: float) -> np.ndarray:
        """Weights of site `row`'s contrast lam minus the comparison districts' lam'b_hat."""
        W = np.zeros((U, T))
        W[row] = lam * scale
        Wc = np.zeros((len(comp_ok), T))
        Wc[comp_obs] = lam @ B
        W[comp_ok] -= Wc * scale
        return W

    # site effects and the overall ATT
    Y0 = np.nan_to_num(Y)
    W_all = np.zeros((U, T))
    site_rows, parts = [], []
    for s in sites:
        Ws = weights(s["row"], s["lam"], s["comp"], 1.0)
        parts.append((float(np.sum(Ws * Y0)), *vm.variance(Ws)))
        n_mean = float(np.nanmean(Ncount[s["row"]][s["pre"] | s["post"]])) if Ncount is not None else float("nan")
        site_rows.append({"unit": s["unit"], "start": s["start"], "n_pre": int(s["pre"].sum()),
                          "n_post": int(s["post"].sum()), "n_comparison": len(s["comp"]), "mean_n": n_mean})
        W_all += Ws / nT
    att = float(np.sum(W_all * Y0))
    known, dist, df = vm.variance(W_all)
    parts.append((att, known, dist, df))
    est_a, known_a, dist_a, df_a = (np.array(x) for x in zip(*parts))
    se_a, p_a, lo_a, hi_a = _intervals(est_a, known_a, dist_a, df_a, alpha)
    cols = {k: [r[k] for r in site_rows] for k in ("unit", "start")}
    cols.update(estimate=est_a[:-1], se=se_a[:-1], df=df_a[:-1], pvalue=p_a[:-1], ci_low=lo_a[:-1],
                ci_high=hi_a[:-1])
    cols.update({k: [r[k] for r in site_rows] for k in ("n_pre", "n_post", "n_comparison", "mean_n")})
    res.site_effects = pd.DataFrame(cols)
    if not math.isfinite(df) or not math.isfinite(dist):
        return fail("the district variance could not be estimated (too few comparison districts per wave)",
                    _("Geen uitspraak mogelijk: te weinig vergelijkingswijken met cijfers in dezelfde jaren."))
    se, p, lo, hi = float(se_a[-1]), float(p_a[-1]), float(lo_a[-1]), float(hi_a[-1])
    if not math.isfinite(se):
        return fail("zero variance", _("Geen uitspraak mogelijk: het effect kon niet worden geschat."))
    res.estimable = True
    res.att, res.se, res.df, res.pvalue, res.ci_low, res.ci_high = att, se, df, p, lo, hi
    res.var_sampling, res.var_district = known, dist
    res.mde = minimum_detectable_effect(se, df, alpha)
    if Ncount is not None:
        rows = [s["row"] for s in sites]
        res.mean_n = float(np.nanmean(np.where(obs[rows], Ncount[rows], np.nan)))

    # event study: baseline = mean of each site's pre waves
    cells: dict[float, list[tuple[dict, int]]] = {}
    for s in sites:
        for t in np.where(obs[s["row"]])[0]:
            cells.setdefault(float(times[t] - s["start"]), []).append((s, t))
    es_rows, es_parts, Ws_pre, e_pre = [], [], [], []
    for e in sorted(cells):
        W = np.zeros((U, T))
        used = 0
        for s, t in cells[e]:
            lam = -np.where(s["pre"], 1.0 / s["pre"].sum(), 0.0)
            lam[t] += 1.0
            if not (lam != 0).any() or per_wave[lam != 0].min() < min_comparison:  # the baseline itself
                continue
            W += weights(s["row"], lam, comp_ok, 1.0)
            used += 1
        if not used:
            continue
        W /= used
        es_parts.append((float(np.sum(W * Y0)), *vm.variance(W)))
        es_rows.append({"event_time": e, "n_sites": used, "post": e >= 0})
        if e < 0:
            Ws_pre.append(W)
            e_pre.append(e)
    if es_parts:
        est_e, k_e, d_e, df_e = (np.array(x) for x in zip(*es_parts))
        se_e, p_e, lo_e, hi_e = _intervals(est_e, k_e, d_e, df_e, alpha)
    else:
        est_e = se_e = p_e = lo_e = hi_e = np.array([])
    res.event_study = pd.DataFrame({
        "event_time": [r["event_time"] for r in es_rows], "estimate": est_e, "se": se_e, "ci_low": lo_e,
        "ci_high": hi_e, "pvalue": p_e, "n_sites": [r["n_sites"] for r in es_rows],
        "post": np.array([r["post"] for r in es_rows], dtype=bool)})

    # pre-trend test: all pre event-time effects (against the pre mean) are 0
    if len(Ws_pre) >= 2:
        Wp = np.stack(Ws_pre)
        theta = np.einsum("kut,ut->k", Wp, Y0)
        V = vm.covariance(Wp)
        Wstat, q = _wald(theta, V)
        m = int(counts[np.isfinite(sigma)].min()) if np.isfinite(sigma).any() else 0
        if q == 0 or m < 3:
            res.pretrend = PretrendResult(False, reason="degenerate covariance of the pre-start effects")
        else:
            F = Wstat / q
            res.pretrend = PretrendResult(True, statistic=F, df=q, df_denom=float(m - 1),
                                          pvalue=float(stats.f.sf(F, q, m - 1)),
                                          method="Wald F on the pre-start event-time effects, known sampling "
                                                 "variance + district covariance from the comparison districts",
                                          n_restrictions=len(e_pre))
    else:
        res.pretrend = PretrendResult(False, reason="only one wave before the start: parallel trends cannot be tested")
    return res
