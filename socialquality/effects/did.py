"""Difference-in-differences for one common start, event study, cluster and wild bootstrap inference."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd
from scipy import stats


from socialquality.i18n import _, ngettext
from socialquality.effects._common import (
    PretrendResult, _ci_frame, _multipliers, _table_text, _wald,
)


# --------------------------------------------------------------------------
# difference-in-differences with an event study (common start)
# --------------------------------------------------------------------------


@dataclass
class DidResult:
    """DiD for one intervention (common start) against comparison units."""

    estimable: bool
    start_time: float
    reference_time: float | None
    alpha: float = 0.05
    reason: str | None = None
    reason_nl: str | None = None
    att: float = float("nan")
    se: float = float("nan")
    df: float = float("nan")
    pvalue: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    se_method: str = "pooled"
    event_study: pd.DataFrame | None = None
    pretrend: PretrendResult | None = None
    n_treated: int = 0
    n_comparison: int = 0
    n_pre: int = 0
    n_post: int = 0
    treated_units: list = field(default_factory=list)
    comparison_units: list = field(default_factory=list)
    dropped_units: list = field(default_factory=list)
    used_survey_se: bool = False
    _inference: "_DidInference | None" = field(default=None, repr=False)

    @property
    def effect(self) -> float:
        return self.att

    @property
    def effect_se(self) -> float:
        return self.se

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Interval for the overall ATT and each event-time coefficient."""
        if not self.estimable or self._inference is None:
            return pd.DataFrame(columns=["lower", "upper"], dtype=float)
        return self._inference.intervals(alpha)[0]

    def summary(self) -> str:
        head = (
            f"Difference-in-differences (common start {self.start_time:g}, reference "
            f"{'-' if self.reference_time is None else format(self.reference_time, 'g')}), "
            f"{self.n_treated} treated vs {self.n_comparison} comparison units, "
            f"{self.n_pre} pre / {self.n_post} post waves"
        )
        if not self.estimable:
            return f"{head}\nNot estimable: {self.reason}"
        pct = f"{100 * (1 - self.alpha):g}%"
        lines = [
            head,
            f"  ATT (mean of post event-time effects) {self.att:.4f}  SE {self.se:.4f} "
            f"[{self.se_method}, df {self.df:g}]  p {self.pvalue:.4f}  {pct} CI [{self.ci_low:.4f}, {self.ci_high:.4f}]"
            + ("  (survey SEs used)" if self.used_survey_se else ""),
        ]
        if self.event_study is not None:
            lines.append(_table_text(self.event_study))
        if self.pretrend is not None:
            lines.append(self.pretrend.summary())
        if self.dropped_units:
            lines.append(f"  dropped units with missing waves: {self.dropped_units}")
        return "\n".join(lines)


@dataclass
class _DidInference:
    """What DidResult needs to recompute intervals at any alpha (picklable)."""

    names: list
    est: np.ndarray
    se: np.ndarray
    df: float
    method: str
    combos: np.ndarray
    contrasts: np.ndarray
    treated: np.ndarray
    reps: int
    entropy: int

    def intervals(self, alpha: float) -> tuple[pd.DataFrame, np.ndarray]:
        """(intervals for overall ATT and each event time, p-values for 0)."""
        if self.method == "wild":
            out = np.array(
                [_wild_bootstrap(self.contrasts @ c, self.treated, alpha, self.reps, self.entropy) for c in self.combos]
            )
            ci = pd.DataFrame({"lower": out[:, 1], "upper": out[:, 2]}, index=self.names)
            return ci, out[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            tv = np.where(self.se > 0, self.est / self.se, np.where(self.est == 0, 0.0, np.inf))
        pvals = 2 * stats.t.sf(np.abs(tv), self.df)
        return _ci_frame(self.names, self.est, self.se, stats.t.ppf(1 - alpha / 2, self.df)), pvals


def _wild_bootstrap(z: np.ndarray, D: np.ndarray, alpha: float, reps: int, entropy: int) -> tuple[float, float, float]:
    """Wild cluster restricted bootstrap-t (Webb weights) for beta in z_i = a + beta D_i + e_i.

    Each unit is a cluster.  Returns (p-value for beta = 0, lower, upper);
    the interval inverts the test (Cameron, Gelbach & Miller 2008).
    """
    n = len(z)
    T, C = D, ~D
    nT, nC = T.sum(), C.sum()
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    V = _multipliers(rng, (reps, n), "webb")
    corr = n / (n - 2)

    def beta_se(zz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mt = zz[..., T].mean(axis=-1, keepdims=True)
        mc = zz[..., C].mean(axis=-1, keepdims=True)
        et, ec = zz[..., T] - mt, zz[..., C] - mc
        var = corr * ((et**2).sum(axis=-1) / nT**2 + (ec**2).sum(axis=-1) / nC**2)
        return (mt - mc)[..., 0], np.sqrt(var)

    bhat, sehat = beta_se(z)
    bhat, sehat = float(bhat), float(sehat)

    def pval(b: float) -> float:
        if sehat == 0:
            return 0.0 if b != bhat else 1.0
        t_obs = abs(bhat - b) / sehat
        zr = z - b * D
        a = zr.mean()
        e = zr - a
        zs = a + b * D + V * e[None, :]
        bs, ses = beta_se(zs)
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = np.abs((bs - b) / ses)
        ts = np.where(np.isfinite(ts), ts, 0.0)
        return float(np.mean(ts >= t_obs - 1e-12))

    p0 = pval(0.0)
    if sehat == 0:
        return p0, bhat, bhat

    def bound(sign: int) -> float:
        inner = bhat
        step = sehat
        outer = bhat + sign * step
        k = 0
        while pval(outer) > alpha and k < 60:
            inner = outer
            step *= 2
            outer = bhat + sign * step
            k += 1
        for _iteration in range(50):
            mid = (inner + outer) / 2
            if pval(mid) > alpha:
                inner = mid
            else:
                outer = mid
            if abs(outer - inner) < 1e-7 * max(1.0, sehat):
                break
        return (inner + outer) / 2

    return p0, bound(-1), bound(+1)


#: Fewest treated units for which cluster-robust (CR1) inference is accepted (Cameron & Miller 2015).
MIN_TREATED_CLUSTER = 10
#: Fewest treated units for which the wild cluster bootstrap is accepted (MacKinnon & Webb 2017).
MIN_TREATED_WILD = 5


def did_event_study(
    panel: pd.DataFrame,
    treated_units: Iterable[Any],
    start_time: float,
    comparison_units: Iterable[Any] | None = None,
    reference_time: float | None = None,
    *,
    unit_col: str = "unit",
    time_col: str = "time",
    estimate_col: str = "estimate",
    se_col: str = "se",
    se_method: Literal["pooled", "cluster", "wild"] = "pooled",
    alpha: float = 0.05,
    min_pre: int = 2,
    bootstrap_reps: int = 999,
    seed: int | None = None,
) -> DidResult:
    """Difference-in-differences with an event study for one intervention.

    All ``treated_units`` start at ``start_time`` (waves with time >=
    start_time are post); comparison units default to all other units,
    assumed never treated.  Per unit i the contrasts c_ik = y_ik - y_i,ref
    against ``reference_time`` (default: last wave before the start) give
    event-time effects beta_k = mean_treated(c_k) - mean_comparison(c_k);
    in a balanced panel this equals the two-way fixed-effects event-study
    regression.  The overall ATT is the mean of the post beta_k.

    Inference on these unit-level contrasts (each unit one independent
    observation; Bertrand, Duflo & Mullainathan 2004):

    * ``"pooled"`` (default, valid with a single treated unit): the
      between-unit covariance is pooled over treated and comparison units,
      minus the known survey sampling covariance when a ``se`` column is
      given; each group's own sampling covariance is added back; t with
      n_treated + n_comparison - 2 df.
    * ``"cluster"``: cluster-robust (CR1) by unit, t with G - 1 df; refused
      (not estimable, with the reason) below ``MIN_TREATED_CLUSTER`` (10) treated units.
    * ``"wild"``: wild cluster restricted bootstrap-t (Webb weights), p-value
      and test-inversion interval; refused below ``MIN_TREATED_WILD`` (5) treated units.

    The pre-trend test (joint test that all pre-period beta_k are 0) always
    uses the pooled covariance (two-sample Hotelling F).  Units with a missing
    wave are dropped (listed in ``dropped_units``).  ``estimable=False`` with a
    reason when fewer than ``min_pre`` (2) pre waves, no post wave, no treated
    or no comparison units, or too few units for the chosen method.
    """
    if se_method not in ("pooled", "cluster", "wild"):
        raise ValueError("se_method must be 'pooled', 'cluster' or 'wild'")
    if min_pre < 2:
        raise ValueError("min_pre must be >= 2 (a reference wave plus one to check pre-trends)")
    for c in (unit_col, time_col, estimate_col):
        if c not in panel.columns:
            raise KeyError(f"column {c!r} not in panel")
    treated = list(dict.fromkeys(treated_units))
    all_units = list(pd.unique(panel[unit_col]))
    comp = [u for u in all_units if u not in set(treated)] if comparison_units is None else list(
        dict.fromkeys(comparison_units)
    )
    overlap = set(treated) & set(comp)
    if overlap:
        raise ValueError(f"units both treated and comparison: {sorted(map(str, overlap))}")
    st = float(start_time)
    res = DidResult(False, start_time=st, reference_time=reference_time, alpha=alpha, se_method=se_method)

    def not_estimable(reason: str, reason_nl: str) -> DidResult:
        res.reason, res.reason_nl = reason, reason_nl
        return res

    cols = [unit_col, time_col, estimate_col] + ([se_col] if se_col in panel.columns else [])
    d = panel.loc[panel[unit_col].isin(treated + comp), cols]
    d = d[d[estimate_col].notna()]
    if d.duplicated([unit_col, time_col]).any():
        raise ValueError("unit x time is not unique")
    use_se = se_col in d.columns and d[se_col].notna().any()
    if use_se and (d[se_col].isna() | ~(d[se_col] > 0)).any():
        warnings.warn("some standard errors missing or not positive: survey SEs not used", stacklevel=2)
        use_se = False
    Yw = d.pivot(index=unit_col, columns=time_col, values=estimate_col).sort_index(axis=1)
    times = Yw.columns.to_numpy(dtype=float)
    pre_times = times[times < st]
    post_times = times[times >= st]
    res.n_pre, res.n_post = len(pre_times), len(post_times)
    if len(pre_times) < min_pre:
        k = len(pre_times)
        return not_estimable(
            f"{k} waves before the start; at least {min_pre} needed",
            ngettext("Te weinig metingen voor een uitspraak: er is %(num)s meting vóór de start; "
                     "minimaal %(needed)s nodig.",
                     "Te weinig metingen voor een uitspraak: er zijn %(num)s metingen vóór de start; "
                     "minimaal %(needed)s nodig.", k, needed=min_pre),
        )
    if len(post_times) == 0:
        return not_estimable(
            "no waves from the start on",
            "Te weinig metingen voor een uitspraak: er zijn nog geen metingen vanaf de start.",
        )
    complete = Yw.notna().all(axis=1)
    if use_se:
        Sw = d.pivot(index=unit_col, columns=time_col, values=se_col).reindex(index=Yw.index, columns=Yw.columns)
        complete &= Sw.notna().all(axis=1)
    res.dropped_units = [u for u in Yw.index[~complete.to_numpy()]]
    if res.dropped_units:
        warnings.warn(f"dropped units with missing waves: {res.dropped_units}", stacklevel=2)
    Yw = Yw[complete]
    units = list(Yw.index)
    tset = set(treated)
    D = np.array([u in tset for u in units])
    res.treated_units = [u for u in units if u in tset]
    res.comparison_units = [u for u in units if u not in tset]
    nT, nC = int(D.sum()), int((~D).sum())
    res.n_treated, res.n_comparison = nT, nC
    if nT == 0:
        return not_estimable(
            "no treated unit with complete data",
            _("Geen uitspraak mogelijk: er zijn geen volledige metingen voor de wijk(en) met het programma."),
        )
    if nC == 0:
        return not_estimable(
            "no comparison units",
            _("Geen uitspraak mogelijk: er zijn geen vergelijkingswijken."),
        )
    if se_method == "pooled" and nT + nC < 3:
        return not_estimable(
            "too few units to estimate the variance (need treated + comparison >= 3)",
            _("Geen uitspraak mogelijk: er zijn te weinig vergelijkingswijken (minimaal 2 nodig)."),
        )
    needed = {"cluster": MIN_TREATED_CLUSTER, "wild": MIN_TREATED_WILD}.get(se_method, 0)
    if se_method in ("cluster", "wild") and (nT < needed or nC < 2):
        # refused, not "estimated badly": with 2 treated districts cluster-robust SEs give about a third
        # false positives, and the wild bootstrap's p-value cannot fall below about 0.06
        return not_estimable(
            f"se_method={se_method!r} is not reliable with {nT} treated and {nC} comparison units (needs >= "
            f"{needed} treated and >= 2 comparison units); use 'pooled' or socialquality.effects.panel_did",
            _("Geen uitspraak mogelijk met deze methode: die vraagt minimaal %(needed)s wijken met de "
              "interventie (er zijn er %(n)s).", needed=needed, n=nT),
        )
    ref = float(pre_times.max()) if reference_time is None else float(reference_time)
    if ref not in set(pre_times):
        raise ValueError(f"reference_time {reference_time} is not a pre-start wave")
    res.reference_time = ref

    Y = Yw.to_numpy(dtype=float)
    ref_i = int(np.where(times == ref)[0][0])
    kidx = [i for i in range(len(times)) if i != ref_i]
    ktimes = times[kidx]
    Cm = Y[:, kidx] - Y[:, [ref_i]]  # n x K contrasts
    K = len(kidx)
    n = nT + nC
    if use_se:
        S2 = Sw[complete].to_numpy(dtype=float) ** 2
        S = np.zeros((n, K, K))
        S[:] = S2[:, ref_i][:, None, None]
        S[:, np.arange(K), np.arange(K)] += S2[:, kidx]
    else:
        S = np.zeros((n, K, K))
    beta = Cm[D].mean(axis=0) - Cm[~D].mean(axis=0)
    post_mask = ktimes >= st
    lvec = post_mask / post_mask.sum()
    att = float(lvec @ beta)

    # pooled covariance (also used for the pre-trend test)
    Et = Cm[D] - Cm[D].mean(axis=0)
    Ec = Cm[~D] - Cm[~D].mean(axis=0)
    df_pool = n - 2
    Wsc = Et.T @ Et + Ec.T @ Ec
    Sbar_T, Sbar_C = S[D].mean(axis=0), S[~D].mean(axis=0)
    Sigma_raw = (Wsc - ((nT - 1) * Sbar_T + (nC - 1) * Sbar_C)) / df_pool
    Sigma_raw = (Sigma_raw + Sigma_raw.T) / 2
    S_part = Sbar_T / nT + Sbar_C / nC
    # matrix form (for the joint pre-trend test): project the between-unit
    # covariance on the PSD cone; scalar combinations are floored one by one
    ev, U = np.linalg.eigh(Sigma_raw)
    V_pool = (U * np.clip(ev, 0, None)) @ U.T * (1 / nT + 1 / nC) + S_part

    pre_mask = ktimes < st
    if pre_mask.any():
        th = beta[pre_mask]
        Vp = V_pool[np.ix_(pre_mask, pre_mask)]
        W, q = _wald(th, Vp)
        if q == 0:
            res.pretrend = PretrendResult(False, reason="degenerate covariance of pre-period effects")
        elif df_pool - q + 1 >= 1:
            F = W / q * (df_pool - q + 1) / df_pool
            res.pretrend = PretrendResult(
                True,
                statistic=F,
                df=q,
                df_denom=df_pool - q + 1,
                pvalue=float(stats.f.sf(F, q, df_pool - q + 1)),
                method="two-sample Hotelling F, pooled covariance",
                n_restrictions=int(pre_mask.sum()),
            )
        else:
            res.pretrend = PretrendResult(
                True,
                statistic=W,
                df=q,
                pvalue=float(stats.chi2.sf(W, q)),
                method="Wald chi2, pooled covariance (few units: approximate)",
                n_restrictions=int(pre_mask.sum()),
            )

    entropy = int(seed) if seed is not None else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    combos = np.vstack([lvec, np.eye(K)])  # overall, then each event time
    names = ["att"] + [f"time={t:g}" for t in ktimes]
    def quad(M: np.ndarray) -> np.ndarray:
        return np.einsum("ij,jk,ik->i", combos, M, combos)

    if se_method == "pooled":
        var_all = np.clip(quad(Sigma_raw), 0, None) * (1 / nT + 1 / nC) + quad(S_part)
        df = float(df_pool)
    else:
        corr = n / (n - 2)
        var_all = quad(corr * (Et.T @ Et / nT**2 + Ec.T @ Ec / nC**2))
        df = float(n - 1)
    est_all = combos @ beta
    se_all = np.sqrt(np.clip(var_all, 0, None))

    res._inference = _DidInference(
        names=names, est=est_all, se=se_all, df=df, method=se_method,
        combos=combos, contrasts=Cm, treated=D, reps=int(bootstrap_reps), entropy=entropy,
    )  # fmt: skip
    ci, pvals = res._inference.intervals(alpha)

    res.event_study = pd.DataFrame(
        {
            "time": ktimes,
            "event_time": ktimes - st,
            "estimate": beta,
            "se": se_all[1:],
            "ci_low": ci["lower"].to_numpy()[1:],
            "ci_high": ci["upper"].to_numpy()[1:],
            "pvalue": pvals[1:],
            "post": post_mask,
        }
    )
    res.estimable = True
    res.att, res.se, res.df = att, float(se_all[0]), df
    res.pvalue = float(pvals[0])
    res.ci_low, res.ci_high = float(ci["lower"].iloc[0]), float(ci["upper"].iloc[0])
    res.used_survey_se = bool(use_se)
    return res


