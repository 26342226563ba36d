"""Callaway & Sant'Anna (2021) group-time effects, aggregation, multiplier bootstrap, pre-trend test."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats


from socialquality.effects._common import (
    FEW_TREATED, PretrendResult, _ci_frame, _IQR_NORMAL, _multipliers, _quantile_type1, _table_text, _wald,
)
from socialquality.effects.did import DidResult


# --------------------------------------------------------------------------
# multiplier bootstrap (as in R did::mboot)
# --------------------------------------------------------------------------



def _mboot_draws(inf: np.ndarray, reps: int, entropy: int, kind: str) -> np.ndarray:
    """Bootstrap draws ``sqrt(n) * mean_i(V_i * psi_i)`` (reps x K).

    The multipliers come from ``entropy`` so repeated calls (e.g. for the
    aggregations) reuse exactly the same draws V_i^(b).
    """
    inf = np.atleast_2d(np.asarray(inf, dtype=float).T).T
    n, k = inf.shape
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    out = np.empty((reps, k))
    chunk = max(1, min(reps, 4_000_000 // max(n, 1)))
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        v = _multipliers(rng, (m, n), kind)
        out[start : start + m] = v @ inf / n
    return out * math.sqrt(n)


def _mboot_se(bres: np.ndarray, n: int, alpha: float) -> tuple[np.ndarray, float]:
    """Robust bootstrap SE (IQR / 1.349) and sup-t critical value, as did::mboot."""
    k = bres.shape[1]
    ok = np.isfinite(bres).all(axis=0) & ((bres**2).sum(axis=0) > math.sqrt(np.finfo(float).eps) * 10)
    se = np.full(k, np.nan)
    crit = np.nan
    if ok.any():
        b = bres[:, ok]
        sigma = (_quantile_type1(b, 0.75) - _quantile_type1(b, 0.25)) / _IQR_NORMAL
        good = sigma > math.sqrt(np.finfo(float).eps) * 10
        sig = np.where(good, sigma, np.nan)
        se_ok = sig / math.sqrt(n)
        se[np.where(ok)[0]] = se_ok
        if good.any():
            bt = np.nanmax(np.abs(b[:, good] / sig[good]), axis=1)
            bt = bt[np.isfinite(bt)]
            crit = float(_quantile_type1(bt, 1.0 - alpha))
    return se, crit




# --------------------------------------------------------------------------
# Callaway & Sant'Anna (2021)
# --------------------------------------------------------------------------



@dataclass
class AggregateResult:
    """An aggregation of ATT(g,t) (did::aggte)."""

    kind: str
    overall_att: float
    overall_se: float
    alpha: float
    table: pd.DataFrame
    crit_val: float
    se_method: str
    influence: np.ndarray = field(repr=False)
    n_units: int = 0
    parent: "AttGtResult | None" = field(default=None, repr=False)

    @property
    def estimable(self) -> bool:
        return bool(math.isfinite(self.overall_att) and math.isfinite(self.overall_se))

    @property
    def ci_low(self) -> float:
        return float(self.conf_int(self.alpha).loc["overall", "lower"])

    @property
    def ci_high(self) -> float:
        return float(self.conf_int(self.alpha).loc["overall", "upper"])

    @property
    def pvalue(self) -> float:
        if not self.estimable or self.overall_se <= 0:
            return float("nan")
        return float(2 * stats.norm.sf(abs(self.overall_att / self.overall_se)))

    def _label_col(self) -> str | None:
        return {"dynamic": "event_time", "group": "group", "calendar": "time"}.get(self.kind)

    def conf_int(self, alpha: float = 0.05, uniform: bool = False) -> pd.DataFrame:
        """Normal-based intervals; ``uniform=True`` gives the simultaneous band
        (bootstrap sup-t critical value, only at the alpha used for fitting)."""
        z = stats.norm.ppf(1 - alpha / 2)
        names: list[Any] = ["overall"]
        est = [self.overall_att]
        se = [self.overall_se]
        crit = [z]
        col = self._label_col()
        if col is not None and len(self.table):
            if uniform and not math.isfinite(self.crit_val):
                raise ValueError("uniform bands need bootstrap draws (bootstrap_reps > 0)")
            if uniform and alpha != self.alpha:
                raise ValueError("uniform bands are only available at the fitted alpha")
            names += [f"{col}={v:g}" for v in self.table[col]]
            est += list(self.table["att"])
            se += list(self.table["se"])
            crit += [self.crit_val if uniform else z] * len(self.table)
        return _ci_frame(names, est, se, crit)

    def summary(self) -> str:
        lo, hi = self.conf_int(self.alpha).loc["overall"]
        pct = f"{100 * (1 - self.alpha):g}%"
        lines = [
            f"Aggregated ATT ({self.kind}), Callaway & Sant'Anna (2021)",
            f"  overall ATT {self.overall_att:.4f}  SE {self.overall_se:.4f} ({self.se_method})  "
            f"{pct} CI [{lo:.4f}, {hi:.4f}]  n units {self.n_units}",
        ]
        if len(self.table):
            lines.append(_table_text(self.table))
            if math.isfinite(self.crit_val):
                lines.append(f"  simultaneous band critical value {self.crit_val:.3f}")
        return "\n".join(lines)


@dataclass
class AttGtResult:
    """Group-time average treatment effects ATT(g,t)."""

    table: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    unit_ids: np.ndarray = field(repr=False)
    unit_groups: np.ndarray = field(repr=False)
    periods: np.ndarray
    groups: np.ndarray
    control_group: str
    base_period: str
    est_method: str
    anticipation: float
    alpha: float
    bootstrap_reps: int
    bootstrap_weights: str
    boot_entropy: int = field(repr=False)
    crit_val: float = float("nan")
    yname: str = ""

    @property
    def n_units(self) -> int:
        return int(len(self.unit_ids))

    @property
    def se_method(self) -> str:
        return "bootstrap" if self.bootstrap_reps > 0 else "analytic"

    def conf_int(self, alpha: float = 0.05, uniform: bool = False) -> pd.DataFrame:
        """Pointwise normal intervals per ATT(g,t); ``uniform=True`` gives the
        simultaneous band from the bootstrap (only at the fitted alpha)."""
        if uniform:
            if not math.isfinite(self.crit_val):
                raise ValueError("uniform bands need bootstrap draws (bootstrap_reps > 0)")
            if alpha != self.alpha:
                raise ValueError("uniform bands are only available at the fitted alpha")
            crit = self.crit_val
        else:
            crit = stats.norm.ppf(1 - alpha / 2)
        names = list(zip(self.table["group"], self.table["time"]))
        out = _ci_frame(names, self.table["att"], self.table["se"], crit)
        out.index = pd.MultiIndex.from_tuples(names, names=["group", "time"])
        return out

    def summary(self) -> str:
        cols = ["group", "time", "att", "se", "ci_low", "ci_high", "post", "n_treated", "n_control"]
        head = (
            f"Group-time ATT (Callaway & Sant'Anna 2021), outcome {self.yname!r}, est_method="
            f"{self.est_method}, comparison={self.control_group}, base period={self.base_period}, "
            f"anticipation={self.anticipation:g}\n"
            f"n units {self.n_units}; SE {self.se_method}"
            + (f" ({self.bootstrap_reps} reps, {self.bootstrap_weights} weights)" if self.bootstrap_reps else "")
        )
        pre = pretrend_test(self)
        return "\n".join([head, _table_text(self.table[cols]), pre.summary()])

    # -- aggregation ----------------------------------------------------------

    def _se_for(self, psi: np.ndarray) -> tuple[np.ndarray, float]:
        psi = np.atleast_2d(psi.T).T
        n = psi.shape[0]
        analytic = np.sqrt((psi**2).sum(axis=0)) / n
        if self.bootstrap_reps <= 0:
            return np.where(analytic > 0, analytic, np.nan), float("nan")
        bres = _mboot_draws(psi, self.bootstrap_reps, self.boot_entropy, self.bootstrap_weights)
        return _mboot_se(bres, n, self.alpha)

    def aggregate(
        self,
        kind: Literal["simple", "dynamic", "group", "calendar"] = "simple",
        min_e: float = -np.inf,
        max_e: float = np.inf,
        balance_e: int | None = None,
    ) -> AggregateResult:
        """Aggregate ATT(g,t) as ``did::aggte`` (type = kind).

        Weights are the group shares P(G=g) among the cells used; their
        estimation is reflected in the influence function (``wif``).
        Cells whose ATT could not be estimated are left out (did's na.rm=TRUE).
        """
        if kind not in ("simple", "dynamic", "group", "calendar"):
            raise ValueError(f"unknown aggregation {kind!r}")
        tab = self.table
        valid = np.isfinite(tab["att"].to_numpy())
        att = tab["att"].to_numpy(dtype=float)
        grp = tab["group"].to_numpy(dtype=float)
        tt = tab["time"].to_numpy(dtype=float)
        inf = self.influence
        Gu = self.unit_groups
        n = inf.shape[0]
        pgg = np.array([np.mean(Gu == g) for g in self.groups])
        pg = pgg[np.searchsorted(self.groups, grp)]

        def wif(keep: np.ndarray, pgk: np.ndarray, gk: np.ndarray) -> np.ndarray:
            ind = (Gu[:, None] == gk[None, :]).astype(float)
            s = pgk.sum()
            if1 = (ind - pgk[None, :]) / s
            if2 = (ind - pgk[None, :]).sum(axis=1, keepdims=True) * (pgk / s**2)[None, :]
            return if1 - if2

        def agg(keep: np.ndarray, with_wif: bool = True) -> tuple[float, np.ndarray]:
            w = pg[keep] / pg[keep].sum()
            est = float(np.sum(w * att[keep]))
            psi = inf[:, keep] @ w
            if with_wif:
                psi = psi + wif(keep, pg[keep], grp[keep]) @ att[keep]
            return est, psi

        z = stats.norm.ppf(1 - self.alpha / 2)
        label = None
        rows: list[tuple[float, float, np.ndarray]] = []

        if kind == "simple":
            keep = np.where(valid & (grp <= tt) & (tt <= grp + max_e))[0]
            if len(keep) == 0:
                raise ValueError("no post-treatment ATT(g,t) to aggregate")
            overall, psi = agg(keep)
        elif kind == "dynamic":
            label = "event_time"
            e_all = tt - grp
            include = valid.copy()
            eseq = np.unique(e_all[valid])
            if balance_e is not None:
                tmax, tmin = self.periods.max(), self.periods.min()
                eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - tmax + tmin)]
                include &= (tmax - grp) >= balance_e
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            for e in eseq:
                keep = np.where(include & (e_all == e))[0]
                if len(keep):
                    est, psi_e = agg(keep)
                    rows.append((float(e), est, psi_e))
            epos = [r for r in rows if r[0] >= 0]
            if not epos:
                raise ValueError("no event times e >= 0 to aggregate")
            overall = float(np.mean([r[1] for r in epos]))
            psi = np.mean(np.column_stack([r[2] for r in epos]), axis=1)
        elif kind == "group":
            label = "group"
            atts, psis, gs = [], [], []
            for g in self.groups:
                keep = np.where(valid & (grp == g) & (g <= tt) & (tt <= g + max_e))[0]
                if len(keep) == 0:
                    continue
                est = float(att[keep].mean())
                psi_g = inf[:, keep].mean(axis=1)
                rows.append((float(g), est, psi_g))
                atts.append(est)
                psis.append(psi_g)
                gs.append(g)
            if not rows:
                raise ValueError("no post-treatment ATT(g,t) to aggregate")
            gs_a = np.array(gs, dtype=float)
            pgk = pgg[np.searchsorted(self.groups, gs_a)]
            w = pgk / pgk.sum()
            atts_a = np.array(atts)
            overall = float(np.sum(w * atts_a))
            psi = np.column_stack(psis) @ w + wif(np.arange(len(gs_a)), pgk, gs_a) @ atts_a
        else:  # calendar
            label = "time"
            post_valid = valid & (grp <= tt)
            if not post_valid.any():
                raise ValueError("no post-treatment ATT(g,t) to aggregate")
            for t1 in self.periods[self.periods >= grp[post_valid].min()]:
                keep = np.where(post_valid & (tt == t1))[0]
                if len(keep):
                    est, psi_t = agg(keep)
                    rows.append((float(t1), est, psi_t))
            overall = float(np.mean([r[1] for r in rows]))
            psi = np.mean(np.column_stack([r[2] for r in rows]), axis=1)

        se_all, _ = self._se_for(psi[:, None])
        overall_se = float(se_all[0])
        crit = float("nan")
        if rows:
            mat = np.column_stack([r[2] for r in rows])
            se_rows, crit = self._se_for(mat)
            est_rows = np.array([r[1] for r in rows])
            table = pd.DataFrame(
                {
                    label: [r[0] for r in rows],
                    "att": est_rows,
                    "se": se_rows,
                    "ci_low": est_rows - z * se_rows,
                    "ci_high": est_rows + z * se_rows,
                }
            )
            if math.isfinite(crit):
                table["cband_low"] = est_rows - crit * se_rows
                table["cband_high"] = est_rows + crit * se_rows
            if label == "group":
                table["group"] = table["group"].astype(self.groups.dtype)
        else:
            table = pd.DataFrame(columns=["att", "se", "ci_low", "ci_high"], dtype=float)
        return AggregateResult(
            kind=kind,
            overall_att=overall,
            overall_se=overall_se,
            alpha=self.alpha,
            table=table,
            crit_val=crit,
            se_method=self.se_method,
            influence=psi,
            n_units=n,
            parent=self,
        )


#: Groups smaller than this get R did's "small groups" warning.
SMALL_GROUP = 5


def att_gt(
    data: pd.DataFrame,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    control_group: Literal["nevertreated", "notyettreated"] = "nevertreated",
    base_period: Literal["varying", "universal"] = "varying",
    est_method: Literal["reg"] = "reg",
    anticipation: float = 0,
    bootstrap_reps: int = 999,
    alpha: float = 0.05,
    seed: int | None = None,
    bootstrap_weights: Literal["rademacher", "mammen"] = "rademacher",
) -> AttGtResult:
    """Callaway & Sant'Anna (2021) ATT(g,t) for a balanced panel.

    ``gname`` holds the first period of treatment; 0, NaN or +inf means never
    treated.  Units first treated after the last period (+anticipation) count
    as never treated; units already treated in the first period are dropped;
    units not observed in every period are dropped (balanced panel).

    Outcome regression without covariates (``est_method="reg"``):
    ATT(g,t) = mean change of group g minus mean change of the comparison
    units between the base period and t.  Standard errors from the multiplier
    bootstrap of the influence functions (``bootstrap_reps``; 0 = analytic
    standard errors from the influence functions).
    """
    if est_method != "reg":
        raise ValueError("only est_method='reg' (outcome regression without covariates) is implemented")
    if control_group not in ("nevertreated", "notyettreated"):
        raise ValueError("control_group must be 'nevertreated' or 'notyettreated'")
    if base_period not in ("varying", "universal"):
        raise ValueError("base_period must be 'varying' or 'universal'")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if anticipation < 0:
        raise ValueError("anticipation must be >= 0")
    missing = [c for c in (yname, tname, idname, gname) if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")

    df = data[[idname, tname, yname, gname]].copy()
    if not pd.api.types.is_numeric_dtype(df[tname]):
        raise ValueError(f"{tname!r} must be numeric")
    if df.duplicated([idname, tname]).any():
        raise ValueError(f"{idname!r} x {tname!r} is not unique")
    gvals = pd.to_numeric(df[gname], errors="raise").astype(float)
    gvals = gvals.where(np.isfinite(gvals), 0.0).fillna(0.0)
    df[gname] = gvals
    if (df.groupby(idname)[gname].nunique() > 1).any():
        raise ValueError(f"{gname!r} must be constant within each unit")

    df = df[df[yname].notna()]
    wide = df.pivot(index=idname, columns=tname, values=yname).sort_index(axis=1)
    tlist = wide.columns.to_numpy(dtype=float)
    G = df.groupby(idname)[gname].first().reindex(wide.index).to_numpy(dtype=float)
    complete = wide.notna().all(axis=1).to_numpy()
    if not complete.all():
        warnings.warn(
            f"dropped {int((~complete).sum())} units not observed in every period (balanced panel)",
            stacklevel=2,
        )
    # units treated after the window count as never treated
    G = np.where(G > tlist.max() + anticipation, 0.0, G)
    already = (G > 0) & (G <= tlist.min() + anticipation)
    if already.any():
        warnings.warn(f"dropped {int(already.sum())} units already treated in the first period", stacklevel=2)
    keep = complete & ~already
    wide = wide[keep]
    G = G[keep]
    ids = wide.index.to_numpy()
    Y = wide.to_numpy(dtype=float)

    if not (G == 0).any():
        if control_group == "nevertreated":
            raise ValueError("there are no never-treated units; use control_group='notyettreated'")
        gmax = G.max()
        tkeep = tlist < gmax - anticipation
        Y, tlist = Y[:, tkeep], tlist[tkeep]
        G = np.where(G == gmax, 0.0, G)
    glist = np.unique(G[G > 0])
    if len(glist) == 0:
        raise ValueError("no treated groups")
    # as R did (pre_process_did): groups with fewer than 5 units get a warning. A group of one unit has
    # an influence function of exactly 0, so its own variability never enters the standard errors.
    sizes = {float(g): int((G == g).sum()) for g in np.unique(G)}
    small = [g for g, k in sizes.items() if k < SMALL_GROUP]
    if small:
        warnings.warn("Be aware that there are some small groups in your dataset. Check groups: "
                      + ",".join(f"{g:g}" for g in small) + " (a group of one unit contributes no variance "
                      "of its own; use socialquality.effects.panel_did with few units)", stacklevel=2)
    n, T = Y.shape
    if T < 2:
        raise ValueError("need at least two periods")

    tfac = 1 if base_period == "varying" else 0
    recs: list[dict[str, Any]] = []
    cols: list[np.ndarray] = []
    for g in glist:
        pre_idx = np.where(tlist + anticipation < g)[0]
        if len(pre_idx) == 0:  # pragma: no cover - excluded above
            warnings.warn(f"no pre-treatment period for group {g:g}; dropped", stacklevel=2)
            continue
        b_univ = int(pre_idx[-1])
        D = G == g
        for ti in range(tfac, T):
            tc = tlist[ti]
            post = bool(g <= tc)
            b = b_univ if (base_period == "universal" or post) else ti - 1
            rec: dict[str, Any] = {"group": g, "time": tc, "base_time": tlist[b], "post": post}
            psi = np.zeros(n)
            if base_period == "universal" and b == ti:
                rec.update(att=0.0, n_treated=int(D.sum()), n_control=0, reference=True)
                recs.append(rec)
                cols.append(psi)
                continue
            if control_group == "nevertreated":
                C = G == 0
            else:
                cutoff = tlist[max(ti, b)] + anticipation
                C = (G == 0) | ((G > cutoff) & (G != g))
            nD, nC = int(D.sum()), int(C.sum())
            rec.update(n_treated=nD, n_control=nC, reference=False)
            if nD == 0 or nC == 0:
                warnings.warn(f"no comparison units for group {g:g} in period {tc:g}", stacklevel=2)
                rec["att"] = float("nan")
            else:
                dy = Y[:, ti] - Y[:, b]
                mu_d, mu_c = dy[D].mean(), dy[C].mean()
                rec["att"] = float(mu_d - mu_c)
                psi[D] = n * (dy[D] - mu_d) / nD
                psi[C] = -n * (dy[C] - mu_c) / nC
            recs.append(rec)
            cols.append(psi)

    inf = np.column_stack(cols)
    table = pd.DataFrame(recs)
    analytic = np.sqrt((inf**2).sum(axis=0)) / n
    analytic = np.where(analytic > 0, analytic, np.nan)
    entropy = int(seed) if seed is not None else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    crit = float("nan")
    if bootstrap_reps > 0:
        bres = _mboot_draws(inf, bootstrap_reps, entropy, bootstrap_weights)
        se, crit = _mboot_se(bres, n, alpha)
        se = np.where(np.isfinite(analytic), se, np.nan)
    else:
        se = analytic
    z = stats.norm.ppf(1 - alpha / 2)
    att = table["att"].to_numpy(dtype=float)
    table["se"] = se
    table["se_analytic"] = analytic
    table["ci_low"] = att - z * se
    table["ci_high"] = att + z * se
    if math.isfinite(crit):
        table["cband_low"] = att - crit * se
        table["cband_high"] = att + crit * se
    order = ["group", "time", "att", "se", "ci_low", "ci_high", "post", "n_treated", "n_control", "base_time", "se_analytic", "reference"]
    order += [c for c in table.columns if c not in order]
    table = table[order]
    int_like = np.all(np.mod(np.r_[tlist, glist], 1) == 0)
    if int_like:
        for c in ("group", "time", "base_time"):
            table[c] = table[c].astype("int64")
    table["post"] = table["post"].astype(bool)
    return AttGtResult(
        table=table,
        influence=inf,
        unit_ids=ids,
        unit_groups=G,
        periods=tlist,
        groups=glist,
        control_group=control_group,
        base_period=base_period,
        est_method=est_method,
        anticipation=anticipation,
        alpha=alpha,
        bootstrap_reps=int(bootstrap_reps),
        bootstrap_weights=bootstrap_weights,
        boot_entropy=entropy,
        crit_val=crit,
        yname=yname,
    )





def pretrend_test(
    result: "AttGtResult | DidResult", cov: Literal["analytic", "bootstrap"] = "analytic"
) -> PretrendResult:
    """Wald test that all pre-treatment effects are zero.

    For :class:`AttGtResult`: all ATT(g,t) with t < g (the reference cells of
    the universal base period excluded), W = n theta' (Psi'Psi/n)^+ theta with
    the influence functions Psi (``cov="analytic"``, as did's printed pre-test)
    or the covariance of the bootstrap draws (``cov="bootstrap"``); W ~ chi2(q).
    For :class:`DidResult` it returns the test computed at fit time.
    """
    if isinstance(result, DidResult):
        return result.pretrend or PretrendResult(False, reason=result.reason or "no pre-periods to test")
    tab = result.table
    pre = (~tab["post"].to_numpy()) & (~tab["reference"].to_numpy()) & np.isfinite(tab["att"].to_numpy(dtype=float))
    pre &= np.isfinite(tab["se_analytic"].to_numpy(dtype=float))
    idx = np.where(pre)[0]
    if len(idx) == 0:
        return PretrendResult(False, reason="no pre-treatment ATT(g,t) to test")
    # The covariance of a group's pre-period effects is estimated from its treated units; with fewer
    # units than effects to test it is (near) singular and the Wald statistic explodes.
    for group in np.unique(tab["group"].to_numpy()[idx]):
        in_group = idx[tab["group"].to_numpy()[idx] == group]
        n_treated = int(tab["n_treated"].to_numpy()[in_group][0])
        if n_treated < max(FEW_TREATED, len(in_group) + 2):
            return PretrendResult(False, reason=(
                f"too few treated units in group {group:g} ({n_treated}) to test its {len(in_group)} "
                "pre-treatment effects reliably"))
    theta = tab["att"].to_numpy(dtype=float)[idx]
    psi = result.influence[:, idx]
    n = psi.shape[0]
    if cov == "analytic":
        V = psi.T @ psi / n**2
    elif cov == "bootstrap":
        if result.bootstrap_reps <= 1:
            raise ValueError("cov='bootstrap' needs bootstrap_reps > 1")
        bres = _mboot_draws(psi, result.bootstrap_reps, result.boot_entropy, result.bootstrap_weights)
        V = np.atleast_2d(np.cov(bres, rowvar=False)) / n
    else:
        raise ValueError("cov must be 'analytic' or 'bootstrap'")
    W, q = _wald(theta, V)
    if q == 0:
        return PretrendResult(False, reason="degenerate covariance of pre-treatment effects")
    return PretrendResult(
        True,
        statistic=W,
        df=q,
        pvalue=float(stats.chi2.sf(W, q)),
        method=f"Wald chi2, {cov} covariance",
        n_restrictions=len(idx),
    )


