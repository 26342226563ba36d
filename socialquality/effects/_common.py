"""Shared helpers of the effect estimators: formatting, intervals, Wald tests, multipliers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats


_IQR_NORMAL = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "nan"
    return f"{x:.{digits}f}"


def _table_text(df: pd.DataFrame, digits: int = 4) -> str:
    formatters = {}
    for c in df.columns:
        if pd.api.types.is_float_dtype(df[c]):
            col = df[c].to_numpy(dtype=float)
            fin = col[np.isfinite(col)]
            if len(fin) and np.all(np.mod(fin, 1) == 0) and c in ("event_time", "group", "time"):
                formatters[c] = lambda v: f"{float(v):g}"
            else:
                formatters[c] = lambda v, d=digits: _fmt(float(v), d)
    return df.to_string(index=False, formatters=formatters)


def _ci_frame(names: Sequence[Any], est, se, crit) -> pd.DataFrame:
    est = np.asarray(est, dtype=float)
    se = np.asarray(se, dtype=float)
    crit = np.broadcast_to(np.asarray(crit, dtype=float), est.shape)
    return pd.DataFrame(
        {"lower": est - crit * se, "upper": est + crit * se}, index=pd.Index(list(names))
    )


def _quantile_type1(x: np.ndarray, q: float, axis: int = 0) -> np.ndarray:
    """R's ``quantile(type=1)`` (inverse of the empirical CDF), as ``did`` uses."""
    return np.quantile(x, q, axis=axis, method="inverted_cdf")



def _multipliers(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    if kind == "rademacher":
        return rng.integers(0, 2, size=shape).astype(float) * 2.0 - 1.0
    if kind == "mammen":
        s5 = math.sqrt(5.0)
        p = (s5 + 1.0) / (2.0 * s5)  # P(V = -(sqrt5-1)/2)
        u = rng.random(shape)
        return np.where(u < p, -(s5 - 1.0) / 2.0, (s5 + 1.0) / 2.0)
    if kind == "webb":
        vals = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
        return vals[rng.integers(0, 6, size=shape)]
    raise ValueError(f"unknown multiplier weights {kind!r}")



@dataclass
class PretrendResult:
    """Joint test that all pre-treatment effects are zero."""

    estimable: bool
    statistic: float = float("nan")
    df: float = float("nan")
    df_denom: float | None = None
    pvalue: float = float("nan")
    method: str = ""
    n_restrictions: int = 0
    reason: str | None = None

    def rejects(self, alpha: float = 0.05) -> bool:
        return bool(self.estimable and math.isfinite(self.pvalue) and self.pvalue < alpha)

    def summary(self) -> str:
        if not self.estimable:
            return f"Pre-trend test: not available ({self.reason})"
        dist = f"F({self.df:g}, {self.df_denom:g})" if self.df_denom else f"chi2({self.df:g})"
        return (
            f"Pre-trend test ({self.method}): statistic {self.statistic:.4f} ~ {dist}, "
            f"p-value {self.pvalue:.4f}, {self.n_restrictions} restriction(s)"
        )



def _wald(theta: np.ndarray, V: np.ndarray) -> tuple[float, int]:
    """theta' V^+ theta and the rank of V (restrictions that can be tested)."""
    w, U = np.linalg.eigh((V + V.T) / 2)
    tol = max(w.max(initial=0.0), 0.0) * len(w) * np.finfo(float).eps * 10
    pos = w > tol
    if not pos.any():
        return float("nan"), 0
    proj = U[:, pos].T @ theta
    return float(np.sum(proj**2 / w[pos])), int(pos.sum())


#: Below this many treated units in a group, its pre-trend covariance is not trusted.
FEW_TREATED = 5
#: Below this many treated districts a verdict says it rests on few districts (few-cluster inference).
FEW_TREATED_NOTE = 10
