"""Interrupted time series: segmented regression on one district's survey estimates."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


from socialquality.effects._common import _ci_frame, _table_text
from socialquality.i18n import _, ngettext



@dataclass
class ItsResult:
    """Segmented regression y = b0 + b1 (t-t0) + b2 post + b3 (t-t0) post."""

    estimable: bool
    intervention_time: float
    n_pre: int
    n_post: int
    alpha: float = 0.05
    reason: str | None = None
    reason_nl: str | None = None
    params: pd.Series | None = None
    cov: pd.DataFrame | None = None
    df_resid: int = 0
    scale: float = float("nan")
    weighted: bool = False
    distribution: str = "t"
    data: pd.DataFrame | None = field(default=None, repr=False)

    def _crit(self, alpha: float) -> float:
        if self.distribution == "t" and self.df_resid > 0:
            return float(stats.t.ppf(1 - alpha / 2, self.df_resid))
        return float(stats.norm.ppf(1 - alpha / 2))

    @property
    def bse(self) -> pd.Series:
        if self.cov is None:
            return pd.Series(dtype=float)
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.cov.index)

    @property
    def pvalues(self) -> pd.Series:
        if self.params is None:
            return pd.Series(dtype=float)
        tv = self.params / self.bse
        if self.distribution == "t" and self.df_resid > 0:
            return pd.Series(2 * stats.t.sf(np.abs(tv), self.df_resid), index=tv.index)
        return pd.Series(2 * stats.norm.sf(np.abs(tv)), index=tv.index)

    def _get(self, name: str, se: bool = False) -> float:
        if not self.estimable or self.params is None:
            return float("nan")
        return float(self.bse[name] if se else self.params[name])

    @property
    def level_change(self) -> float:
        return self._get("level_change")

    @property
    def level_change_se(self) -> float:
        return self._get("level_change", se=True)

    @property
    def slope_change(self) -> float:
        return self._get("slope_change")

    @property
    def slope_change_se(self) -> float:
        return self._get("slope_change", se=True)

    # headline effect used by the verdicts: the level change at t0
    @property
    def effect(self) -> float:
        return self.level_change

    @property
    def effect_se(self) -> float:
        return self.level_change_se

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        if not self.estimable or self.params is None:
            return pd.DataFrame(columns=["lower", "upper"], dtype=float)
        return _ci_frame(self.params.index, self.params, self.bse, self._crit(alpha))

    def effect_at(self, time: float, alpha: float | None = None) -> tuple[float, float, float, float]:
        """Effect b2 + b3 (time - t0) at a post time: (estimate, se, lower, upper)."""
        if not self.estimable or self.params is None or self.cov is None:
            nan = float("nan")
            return nan, nan, nan, nan
        a = np.array([0.0, 0.0, 1.0, float(time) - self.intervention_time])
        est = float(a @ self.params.to_numpy())
        se = float(math.sqrt(a @ self.cov.to_numpy() @ a))
        c = self._crit(self.alpha if alpha is None else alpha)
        return est, se, est - c * se, est + c * se

    def summary(self) -> str:
        head = (
            f"Interrupted time series (segmented {'WLS, weights 1/se^2' if self.weighted else 'OLS'}), "
            f"intervention at {self.intervention_time:g}; {self.n_pre} waves before, {self.n_post} from it on"
        )
        if not self.estimable:
            return f"{head}\nNot estimable: {self.reason}"
        ci = self.conf_int(self.alpha)
        tab = pd.DataFrame(
            {
                "param": self.params.index,
                "coef": self.params.to_numpy(),
                "se": self.bse.to_numpy(),
                "p": self.pvalues.to_numpy(),
                "lower": ci["lower"].to_numpy(),
                "upper": ci["upper"].to_numpy(),
            }
        )
        dist = f"t({self.df_resid})" if (self.distribution == "t" and self.df_resid > 0) else "normal"
        return f"{head}\n{_table_text(tab)}\nresidual df {self.df_resid}, scale {self.scale:.4g}, intervals {dist}"


def interrupted_time_series(
    series: pd.DataFrame,
    intervention_time: float,
    min_pre: int = 3,
    min_post: int = 2,
    *,
    time_col: str = "time",
    estimate_col: str = "estimate",
    se_col: str = "se",
    alpha: float = 0.05,
) -> ItsResult:
    """Segmented regression on one district's series of survey estimates.

    Waves with ``time >= intervention_time`` are "post".  Model (t0 =
    intervention_time): y = b0 + b1 (t - t0) + b2 post + b3 (t - t0) post;
    b2 = level change at t0, b3 = change in slope.  With a ``se`` column the
    fit is WLS with weights 1/se^2 and the residual scale is floored at 1
    (the sampling variance is known, extra variation can only add to it);
    otherwise OLS.  Intervals use t(residual df) when df > 0.
    Fewer than ``min_pre`` waves before or ``min_post`` from t0 on gives
    ``estimable=False`` with a reason, never a number.
    """
    if min_pre < 2 or min_post < 2:
        raise ValueError("the segmented model needs min_pre >= 2 and min_post >= 2")
    for c in (time_col, estimate_col):
        if c not in series.columns:
            raise KeyError(f"column {c!r} not in series")
    cols = [time_col, estimate_col] + ([se_col] if se_col in series.columns else [])
    d = series[cols].copy()
    d = d[d[estimate_col].notna() & d[time_col].notna()]
    use_se = se_col in d.columns and d[se_col].notna().any()
    if use_se:
        bad = d[se_col].isna() | ~(d[se_col] > 0)
        if bad.any():
            warnings.warn(f"dropped {int(bad.sum())} waves without a positive standard error", stacklevel=2)
            d = d[~bad]
    if d[time_col].duplicated().any():
        raise ValueError("time values must be unique")
    d = d.sort_values(time_col)
    t0 = float(intervention_time)
    t = d[time_col].to_numpy(dtype=float)
    post = (t >= t0).astype(float)
    n_pre, n_post = int((post == 0).sum()), int(post.sum())
    base = dict(intervention_time=t0, n_pre=n_pre, n_post=n_post, alpha=alpha, weighted=bool(use_se), data=d)
    if n_pre < min_pre:
        return ItsResult(
            False,
            reason=f"{n_pre} waves before the intervention; at least {min_pre} needed",
            reason_nl=ngettext("Te weinig metingen voor een uitspraak: er is %(num)s meting vóór de start; "
                                "minimaal %(needed)s nodig.",
                                "Te weinig metingen voor een uitspraak: er zijn %(num)s metingen vóór de start; "
                                "minimaal %(needed)s nodig.", n_pre, needed=min_pre),
            **base,
        )
    if n_post < min_post:
        return ItsResult(
            False,
            reason=f"{n_post} waves from the intervention on; at least {min_post} needed",
            reason_nl=ngettext("Te weinig metingen voor een uitspraak: er is %(num)s meting vanaf de start; "
                                "minimaal %(needed)s nodig.",
                                "Te weinig metingen voor een uitspraak: er zijn %(num)s metingen vanaf de start; "
                                "minimaal %(needed)s nodig.", n_post, needed=min_post),
            **base,
        )
    y = d[estimate_col].to_numpy(dtype=float)
    tc = t - t0
    X = np.column_stack([np.ones_like(tc), tc, post, tc * post])
    names = ["intercept", "trend", "level_change", "slope_change"]
    w = 1.0 / d[se_col].to_numpy(dtype=float) ** 2 if use_se else np.ones_like(y)
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    XtWX_inv = np.linalg.inv(Xw.T @ Xw)
    df_resid = len(y) - X.shape[1]
    rss = float(np.sum((yw - Xw @ beta) ** 2))
    if use_se:
        scale = max(1.0, rss / df_resid) if df_resid > 0 else 1.0
    else:
        if df_resid <= 0:  # only with min_pre = min_post = 2 and exactly 4 waves
            return ItsResult(
                False,
                reason="no residual degrees of freedom and no survey standard errors",
                reason_nl=_("Te weinig metingen voor een uitspraak: zonder standaardfouten zijn minimaal "
                            "5 metingen nodig."),
                **base,
            )
        scale = rss / df_resid
    cov = XtWX_inv * scale
    return ItsResult(
        True,
        params=pd.Series(beta, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        df_resid=int(df_resid),
        scale=float(scale),
        distribution="t" if df_resid > 0 else "normal",
        **base,
    )


