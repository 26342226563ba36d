"""Design-based estimation for complex survey samples (Taylor linearisation).

This module estimates means, totals and proportions -- overall and for domains
(subpopulations such as districts) -- from a weighted survey sample, with standard
errors that respect the sampling design: stratification, (one-stage) clustering,
finite population correction and calibration of the weights by raking.

The numbers agree with R's ``survey`` package (Lumley), which is the reference used in
``tests/test_survey_reference.py``.  The formulas are written out in
``docs/methods_survey.md``.

Quick start (in a notebook)::

    from socialquality.survey import SurveyDesign

    design = SurveyDesign(df, weights="pw", strata="district", fpc="N_district")
    design.mean("satisfaction", by="district")
    raked = design.rake({"sex": {"m": 2400, "v": 1890},
                         "age": {"18-44": 2000, "45+": 2290}})
    print(raked.summary())
    raked.proportion("trust_level")

Conventions shared by every estimator
-------------------------------------
* Missing values of the analysis variable are left out like R's ``na.rm=TRUE``: the rows
  stay in the design, with a zero score, so the variance is a domain variance over the
  whole sample.
* ``by`` gives domain estimates.  The variance is computed over the whole design with the
  scores set to zero outside the domain (R's ``svyby``), never by subsetting the data.
  Rows with a missing value in a ``by`` column belong to no domain (but stay in the design).
* Confidence intervals use the normal distribution (R's ``confint``).
* ``deff`` is Kish's design effect *due to unequal weighting* in the domain,
  ``n * sum(w^2) / sum(w)^2 = 1 + CV^2(w)``, and ``n_eff = n / deff``.  It is a property of
  the weights, not the ratio of the design variance to an SRS variance.

The package never imports dagster: it is plain pandas/numpy/scipy.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["SurveyDesign", "CalibrationReport", "LonelyPSU", "ipf"]

LonelyPSU = Literal["adjust", "remove", "certainty", "fail"]

_LONELY_OPTIONS = ("adjust", "remove", "certainty", "fail")
_RESULT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "n", "deff", "n_eff"]
#: Largest PSU-by-domain table for which the variance of a calibrated design is computed
#: from a dense table of residual PSU totals; above it the same totals are kept as a sparse
#: matrix (only the PSUs a domain's residuals touch), see ``SurveyDesign._calibrated_variance``.
_DENSE_LIMIT = 4_000_000
#: R's survey package treats a stratum whose fpc factor (N-n)/N is below this as sampled
#: completely (zero variance contribution).
_SELF_REPRESENTING = 1e-7


@dataclass(frozen=True)
class CalibrationReport:
    """Convergence report of :meth:`SurveyDesign.rake`, kept as ``design.calibration``.

    Attributes:
        method: always ``"raking"`` (iterative proportional fitting).
        margins: names of the raked variables, in raking order.
        iterations: number of full sweeps over all margins that were carried out.
        converged: True when every margin is met within ``tol`` (relative error).
        max_abs_error: largest ``|sum of weights - population total|`` over all levels.
        max_rel_error: the same error relative to the level's population total.
        n_trimmed: number of units whose g-weight (new/old weight) sits on a bound.
        bounds: the trimming bounds on g that were asked for, or None (per-row bounds: the
            smallest lower and the largest upper bound).
        tol: the convergence tolerance that was asked for.
        g_min: smallest g-weight (new weight / weight before raking), over units with a
            positive weight before raking.
        g_max: largest g-weight.
    """

    method: str
    margins: tuple[str, ...]
    iterations: int
    converged: bool
    max_abs_error: float
    max_rel_error: float
    n_trimmed: int
    bounds: tuple[float, float] | None
    tol: float
    g_min: float
    g_max: float

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        bounds = "none" if self.bounds is None else f"[{self.bounds[0]:g}, {self.bounds[1]:g}]"
        return (
            f"raking on {', '.join(self.margins)}: {state} after {self.iterations} "
            f"iteration(s); max margin error {self.max_abs_error:.3g} "
            f"(relative {self.max_rel_error:.2e}, tol {self.tol:g}); g-weights in "
            f"[{self.g_min:.4g}, {self.g_max:.4g}], bounds {bounds}, "
            f"{self.n_trimmed} trimmed"
        )


@dataclass
class _CalStep:
    """One calibration (raking) step, kept for the calibration-residual variance.

    The step's linearised estimator is the regression of a score ``z`` on the margin
    indicators ``X`` weighted by ``reg_w`` (the weights before this step):
    ``B = ginv @ X' diag(reg_w) z``; the variance uses ``w * (z - X B)``.

    ``ginv`` and ``cross`` are sparse: the Gram matrix is block-diagonal over its connected
    components (margins nested in districts give one block per district), and its
    generalised inverse is the block-diagonal of the blocks' inverses, so memory and time
    grow linearly with the number of districts.
    """

    names: tuple[str, ...]
    codes: list[np.ndarray]  # per margin: level code of every row
    sizes: list[int]  # per margin: number of levels
    offset: int  # first column of this step in the combined indicator matrix
    reg_w: np.ndarray  # regression weights (design weights before the step)
    ginv: sparse.csr_matrix  # generalised inverse of X' diag(reg_w) X (block-diagonal)
    cross: list[sparse.csr_matrix]  # X' diag(reg_w) X_j for every earlier step j
    component: np.ndarray  # calibration block (connected component of the Gram matrix) of every level

    @property
    def k(self) -> int:
        return int(sum(self.sizes))


@dataclass
class _Domains:
    """Cached row-to-domain bookkeeping for one ``by`` specification."""

    labels: pd.DataFrame  # one row per domain, the by columns
    n_dom: int
    dcode: np.ndarray  # domain of each row, -1 = none
    sel: np.ndarray | None  # rows that belong to some domain (None = all rows)
    d_sel: np.ndarray  # domain code of the selected rows
    # (domain, PSU) combinations: "g"
    g_row: np.ndarray | None  # combination of each selected row (None = identity)
    n_g: int
    g_dom: np.ndarray
    g_psu: np.ndarray
    g_h: np.ndarray
    # (domain, stratum) pairs
    pair_of_g: np.ndarray
    n_pair: int
    pair_dom: np.ndarray
    pair_h: np.ndarray
    pair_m: np.ndarray  # number of PSUs of the stratum that touch the domain


class SurveyDesign:
    """A survey sample with its design, for design-based (Taylor) estimation.

    Args:
        data: one row per respondent (sampled unit).  The frame is referenced, not
            copied: do not modify it after building the design (the design columns are
            read once, analysis and ``by`` columns when first used).
        weights: column with the sampling weights (>= 0, no missing values).
        strata: column with the (first-stage) stratum, or None for an unstratified design.
        psu: column with the primary sampling unit (cluster) id, or None when every row
            is its own unit.  PSU ids must be nested in strata unless ``nest=True``.
        fpc: column with the finite population correction, as in R's ``svydesign``:
            either the population size of the stratum in PSUs (all values >= 1; for an
            unstratified one-stage cluster sample, the number of PSUs in the population,
            e.g. 757) or the sampling fraction (all values <= 1).  Constant within a
            stratum.  None means sampling with replacement (no correction).
        nest: if True, PSU ids are only unique within strata (R's ``nest=TRUE``).
        lonely_psu: what to do with a stratum that has a single PSU (R's
            ``options(survey.lonely.psu=)``):

            * ``"adjust"`` (default): the stratum contributes ``(1 - f_h) * t_h^2``, its PSU
              total of the linearised score measured from zero (the centre of the scores
              of a mean) instead of from the stratum mean; conservative (R >= 4 code).
            * ``"remove"`` / ``"certainty"``: the stratum contributes no variance.
            * ``"fail"``: raise ValueError when the design is built (R's default).

    Multistage designs: only the first stage is used ("ultimate cluster" variance, with
    the first-stage fpc).  Pass the first-stage cluster as ``psu`` and the first-stage
    population size as ``fpc``; later-stage fpc's are ignored.

    Raises:
        ValueError: missing columns, missing/negative/non-finite weights, missing strata or
            PSU ids, PSUs not nested in strata, an invalid or inconsistent fpc (varying
            within a stratum, or smaller than the number of sampled PSUs), an unknown
            ``lonely_psu`` option or a single-PSU stratum with ``lonely_psu="fail"``.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        *,
        nest: bool = False,
        lonely_psu: LonelyPSU = "adjust",
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        if len(data) == 0:
            raise ValueError("data has no rows")
        if lonely_psu not in _LONELY_OPTIONS:
            raise ValueError(f"lonely_psu must be one of {_LONELY_OPTIONS}, not {lonely_psu!r}")
        roles = {"weights": weights, "strata": strata, "psu": psu, "fpc": fpc}
        missing = [f"{role}={col!r}" for role, col in roles.items()
                   if col is not None and col not in data.columns]
        if missing:
            raise ValueError(f"column(s) not in data: {', '.join(missing)}")

        self.data = data
        self.weights_column = weights
        self.strata_column = strata
        self.psu_column = psu
        self.fpc_column = fpc
        self.nest = bool(nest)
        self.lonely_psu: str = lonely_psu
        #: Convergence report when the weights were calibrated (see :meth:`rake`).
        self.calibration: CalibrationReport | None = None

        n = len(data)
        self._n = n
        self._w = _weights_array(data[weights], weights)

        # strata
        if strata is None:
            self._strata = np.zeros(n, dtype=np.int64)
            self._strata_labels = pd.Index([None], dtype=object)
        else:
            col = data[strata]
            if col.isna().any():
                raise ValueError(f"strata column {strata!r} has {int(col.isna().sum())} "
                                 "missing value(s)")
            codes, uniques = pd.factorize(col, sort=True)
            self._strata = codes.astype(np.int64)
            self._strata_labels = pd.Index(uniques)
        n_strata = len(self._strata_labels)

        # primary sampling units, numbered 0..P-1
        if psu is None:
            self._psu = np.arange(n, dtype=np.int64)
            self._psu_is_row = True
            psu_stratum = self._strata.copy()
        else:
            col = data[psu]
            if col.isna().any():
                raise ValueError(f"psu column {psu!r} has {int(col.isna().sum())} "
                                 "missing value(s)")
            pcodes, puniq = pd.factorize(col, sort=True)
            radix = len(puniq)
            # a PSU is a (stratum, psu id) combination, numbered in sorted order
            ukey, inverse = np.unique(self._strata * radix + pcodes.astype(np.int64),
                                      return_inverse=True)
            if not self.nest and len(ukey) != radix:
                raise ValueError(
                    f"PSU ids in {psu!r} are not nested in strata {strata!r}: some PSU id "
                    "occurs in more than one stratum; pass nest=True if PSU ids are only "
                    "unique within strata")
            self._psu = inverse.astype(np.int64)
            self._psu_is_row = bool(len(ukey) == n)
            psu_stratum = ukey // radix
        self._psu_stratum = psu_stratum.astype(np.int64)
        self._n_psu = len(self._psu_stratum)
        self._n_h = np.bincount(self._psu_stratum, minlength=n_strata).astype(np.float64)

        # finite population correction: factor (N_h - n_h) / N_h per stratum
        if fpc is None:
            self._fpc_factor = np.ones(n_strata)
            self._pop_psu = None
        else:
            self._pop_psu = _population_sizes(data[fpc], fpc, self._strata, n_strata, self._n_h,
                                              self._strata_labels)
            self._fpc_factor = (self._pop_psu - self._n_h) / self._pop_psu

        # per-stratum variance scale c_h and centring switch kappa_h
        lonely = self._n_h == 1
        if lonely.any() and lonely_psu == "fail":
            bad = list(self._strata_labels[lonely][:10])
            raise ValueError(
                f"{int(lonely.sum())} stratum/strata have a single PSU (e.g. {bad}); the variance "
                "is not identified. Use lonely_psu='adjust' or 'remove', or merge strata")
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(lonely, self._fpc_factor,
                             self._fpc_factor * self._n_h / (self._n_h - 1))
        if lonely_psu in ("remove", "certainty"):
            scale = np.where(lonely, 0.0, scale)
        scale = np.where(self._fpc_factor < _SELF_REPRESENTING, 0.0, scale)
        self._c_h = scale.astype(np.float64)
        self._kappa_h = np.where(lonely, 0.0, 1.0)
        self._n_lonely = int(lonely.sum())

        self._cal_steps: list[_CalStep] = []
        self._dom_cache: dict[tuple[str, ...], _Domains] = {}
        self._cal_cache: dict[str, Any] | None = None
        self._pair_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ properties
    @property
    def weights(self) -> pd.Series:
        """The (possibly calibrated) weights, aligned with ``data.index``."""
        return pd.Series(self._w, index=self.data.index, name=self.weights_column, copy=True)

    @property
    def n(self) -> int:
        """Number of rows (sampled units)."""
        return self._n

    @property
    def n_strata(self) -> int:
        """Number of (first-stage) strata."""
        return len(self._strata_labels)

    @property
    def n_psu(self) -> int:
        """Number of primary sampling units."""
        return self._n_psu

    @property
    def kish_deff(self) -> float:
        """Kish design effect of the weights over the whole sample, 1 + CV^2."""
        w = self._w
        return float(self._n * np.sum(w * w) / np.sum(w) ** 2)

    def __repr__(self) -> str:
        parts = [f"n={self._n}", f"weights={self.weights_column!r}"]
        if self.strata_column is not None:
            parts.append(f"strata={self.strata_column!r} ({self.n_strata})")
        if self.psu_column is not None:
            parts.append(f"psu={self.psu_column!r} ({self.n_psu})")
        if self.fpc_column is not None:
            parts.append(f"fpc={self.fpc_column!r}")
        if self.calibration is not None:
            parts.append("raked on " + "+".join(self.calibration.margins))
        return f"SurveyDesign({', '.join(parts)})"

    def summary(self) -> str:
        """A short text description: sizes, sum of weights, Kish deff, calibration."""
        w = self._w
        if self.psu_column is None:
            kind = "independent sampling of units"
        else:
            kind = "one-stage cluster sampling (first stage of a multistage design)"
        if self.strata_column is not None:
            kind = "stratified " + kind
        lines = [
            f"Survey design: {kind}",
            f"  rows (n):              {self._n:,}",
            f"  strata:                {self.n_strata:,}"
            + ("" if self.strata_column is None else f"  ({self.strata_column})"),
            f"  PSUs:                  {self.n_psu:,}"
            + ("  (each row)" if self.psu_column is None else f"  ({self.psu_column})"),
            f"  sum of weights:        {np.sum(w):,.6g}",
            f"  weights min/mean/max:  {np.min(w):.4g} / {np.mean(w):.4g} / {np.max(w):.4g}",
            f"  Kish deff (weights):   {self.kish_deff:.4f}   effective n: "
            f"{self._n / self.kish_deff:,.1f}",
        ]
        if self._pop_psu is None:
            lines.append("  fpc:                   none (with-replacement variance)")
        else:
            lines.append(f"  fpc:                   {self.fpc_column}  (population PSUs: "
                         f"{np.sum(self._pop_psu):,.6g}, sampling fraction "
                         f"{np.sum(self._n_h) / np.sum(self._pop_psu):.4g})")
        lines.append(f"  single-PSU strata:     {self._n_lonely}  (lonely_psu={self.lonely_psu!r})")
        if self.calibration is not None:
            lines.append(f"  calibration:           {self.calibration}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ estimators
    def mean(self, variable: str, by: str | Sequence[str] | None = None, *,
             level: float = 0.95) -> pd.DataFrame:
        """Weighted mean (ratio estimator sum(w y) / sum(w)) with its design-based SE.

        Args:
            variable: a numeric or boolean column; missing values are left out (na.rm).
            by: column name(s) defining domains; None for one overall row.
            level: confidence level of the normal-theory interval.

        Returns:
            DataFrame with the ``by`` columns (if any) and ``estimate``, ``se``,
            ``ci_low``, ``ci_high``, ``n`` (unweighted non-missing count), ``deff`` (Kish,
            weights only) and ``n_eff``; one row per domain, sorted by the ``by`` values.
        """
        y = self._numeric(variable)
        return self._estimate("mean", y, self._domains(by), level, variable)

    def total(self, variable: str, by: str | Sequence[str] | None = None, *,
              level: float = 0.95) -> pd.DataFrame:
        """Horvitz-Thompson total sum(w y) with its design-based SE.

        Same arguments and columns as :meth:`mean`.  Missing values count as zero in the
        total (R's ``svytotal(na.rm=TRUE)``).
        """
        y = self._numeric(variable)
        return self._estimate("total", y, self._domains(by), level, variable)

    def proportion(self, variable: str, by: str | Sequence[str] | None = None, *,
                   categorical: bool | None = None, level: float = 0.95) -> pd.DataFrame:
        """Weighted proportions with design-based SEs.

        Two modes:

        * a 0/1 (or boolean) variable gives the proportion of 1s (True): one row per
          domain, no ``category`` column -- the same as :meth:`mean`;
        * any other variable (strings, categoricals, or numbers other than 0/1) is
          categorical: one row per domain *and* observed category, with a ``category``
          column; within a domain the proportions add up to 1.

        ``categorical=None`` picks the mode from the data; True forces one row per category
        (also for a 0/1 variable); False requires a 0/1 variable.  Missing values are left
        out (they are not a category).
        """
        col = self._column(variable)
        binary = _is_binary(col)
        if categorical is None:
            categorical = not binary
        dom = self._domains(by)
        if not categorical:
            if not binary:
                raise ValueError(f"variable {variable!r} is not 0/1 (or boolean); "
                                 "use categorical=True for one row per category")
            y = col.to_numpy(dtype=np.float64, na_value=np.nan)
            out = self._estimate("mean", y, dom, level, variable)
            out.attrs["statistic"] = "proportion"
            return out
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        if len(uniques) == 0:
            raise ValueError(f"variable {variable!r} has no non-missing values")
        pieces = []
        for k in range(len(uniques)):
            y = (codes == k).astype(np.float64)
            y[codes < 0] = np.nan
            part = self._estimate("mean", y, dom, level, variable)
            part.insert(dom.labels.shape[1], "category", [uniques[k]] * len(part))
            part["_dom"] = np.arange(len(part))
            part["_cat"] = k
            pieces.append(part)
        out = pd.concat(pieces, ignore_index=True)
        out = out.sort_values(["_dom", "_cat"], kind="stable").drop(columns=["_dom", "_cat"])
        out = out.reset_index(drop=True)
        out.attrs.update({"statistic": "proportion", "variable": variable, "level": level})
        return out

    # ------------------------------------------------------------------ raking
    def rake(self, margins: Mapping[str, Mapping[Any, float]], max_iter: int = 100,
             tol: float = 1e-6, bounds: Any = None, *, fitted: np.ndarray | None = None) -> SurveyDesign:
        """Rake (iterative proportional fitting) the weights to population margins.

        Args:
            margins: ``{column: {level: population total}}``, e.g.
                ``{"sex": {"m": 2400, "v": 1890}, "age": {...}}``.  Every level that occurs
                in the data must have a total; all margins must have the same grand total
                (relative difference <= 1e-6).  A level with total 0 and no sample units is
                ignored.
            max_iter: maximum number of sweeps over all margins.
            tol: convergence when every level's weighted count is within ``tol`` (relative)
                of its population total.
            bounds: ``(lower, upper)`` bounds on the g-weights (new weight / weight before
                raking), with ``0 <= lower <= 1 <= upper``; or a pair of arrays with one lower and
                one upper bound per row (``upper`` may be ``inf``), e.g. bounds widened in some
                districts only (the report then gives the smallest lower and largest upper bound).  Each margin adjustment then
                solves ``sum d_i clip(g_i r, lower, upper) = T`` per level (bounded raking,
                as R's ``calibrate(..., calfun="raking", bounds=)``); units on a bound are
                counted as trimmed.
            fitted: weights already raked to these margins (e.g. by an earlier stage, read back):
                the fitting is skipped, the margin errors of ``fitted`` are reported (``iterations``
                0) and the calibration matrices for the variances are built as after raking.

        Returns:
            A NEW design with the raked weights (this design is unchanged).  Its
            ``calibration`` attribute holds a :class:`CalibrationReport`.  Variances of the
            new design use the calibration residuals: the linearised scores are replaced by
            the residuals of their regression, weighted by the weights before raking, on the
            margin indicators (as R's ``rake``/``calibrate`` + ``svyrecvar``).

        Raises:
            ValueError: unknown column, missing values in a margin variable, a data level
                without a population total, a level with a positive total but no sample
                weight, a level with sample units but a zero total, negative or missing
                totals, margins with different grand totals, invalid bounds.

        A RuntimeWarning is issued (and ``calibration.converged`` is False) when the
        margins are not met within ``max_iter`` sweeps, e.g. when bounds are infeasible.
        """
        if not isinstance(margins, Mapping) or len(margins) == 0:
            raise ValueError("margins must be a non-empty dict {column: {level: total}}")
        if max_iter < 1:
            raise ValueError("max_iter must be >= 1")
        if not tol > 0:
            raise ValueError("tol must be > 0")
        if bounds is not None:
            if np.ndim(bounds[0]) == 0 and np.ndim(bounds[1]) == 0:
                lo, hi = (float(b) for b in bounds)
                if not (0.0 <= lo <= 1.0 <= hi):
                    raise ValueError(f"bounds must satisfy 0 <= lower <= 1 <= upper, got {bounds}")
                bounds = (lo, hi)
            else:  # one pair of bounds per row (e.g. widened in some districts only)
                lo_rows = np.broadcast_to(np.asarray(bounds[0], dtype=np.float64), (self._n,))
                hi_rows = np.broadcast_to(np.asarray(bounds[1], dtype=np.float64), (self._n,))
                if np.isnan(lo_rows).any() or np.isnan(hi_rows).any() or not (
                        (lo_rows >= 0).all() and (lo_rows <= 1).all() and (hi_rows >= 1).all()):
                    raise ValueError("per-row bounds must satisfy 0 <= lower <= 1 <= upper on every row")
                bounds = (lo_rows, hi_rows)

        d = self._w
        names: list[str] = []
        codes_list: list[np.ndarray] = []
        totals_list: list[np.ndarray] = []
        for var, spec in margins.items():
            if var not in self.data.columns:
                raise ValueError(f"margin column {var!r} not in data")
            if not isinstance(spec, Mapping) or len(spec) == 0:
                raise ValueError(f"margin {var!r} must be a non-empty dict {{level: total}}")
            col = self.data[var]
            if col.isna().any():
                raise ValueError(f"margin column {var!r} has {int(col.isna().sum())} missing "
                                 "value(s); impute or drop them before raking")
            levels = list(spec.keys())
            totals = np.array([_as_float(spec[k], f"margin {var!r} level {k!r}") for k in levels])
            if np.any(~np.isfinite(totals)) or np.any(totals < 0):
                raise ValueError(f"margin {var!r}: population totals must be finite and >= 0")
            typed = pd.Index(levels)
            if typed.dtype.kind in "iu" and col.dtype.kind in "iu":
                codes = typed.get_indexer(col.to_numpy())  # integer codes: no object conversion
            else:
                codes = pd.Index(levels, dtype=object).get_indexer(pd.Index(col.astype(object)))
            if (codes < 0).any():
                absent = pd.unique(col[codes < 0].astype(object))[:10]
                raise ValueError(
                    f"margin {var!r}: level(s) {list(absent)} occur in the data but have no "
                    f"population total (margin levels: {levels[:10]})")
            wsum = np.bincount(codes, weights=d, minlength=len(levels))
            nsum = np.bincount(codes, minlength=len(levels))
            zero_sample = (totals > 0) & (wsum <= 0)
            if zero_sample.any():
                bad = [levels[i] for i in np.flatnonzero(zero_sample)][:10]
                raise ValueError(f"margin {var!r}: level(s) {bad} have a positive population "
                                 "total but no sample (or only zero weights); merge levels")
            zero_pop = (totals == 0) & (nsum > 0) & (wsum > 0)
            if zero_pop.any():
                bad = [levels[i] for i in np.flatnonzero(zero_pop)][:10]
                raise ValueError(f"margin {var!r}: level(s) {bad} have sample units but a "
                                 "population total of 0")
            names.append(str(var))
            codes_list.append(codes.astype(np.int64))
            totals_list.append(totals)

        grand = np.array([t.sum() for t in totals_list])
        if grand.max() - grand.min() > 1e-6 * grand.max():
            detail = ", ".join(f"{nm}: {g:.10g}" for nm, g in zip(names, grand))
            raise ValueError(f"margins have different grand totals ({detail}); "
                             "rescale them to a common population size first")

        if fitted is None:
            w, iterations, converged, max_abs, max_rel = _ipf(d, codes_list, totals_list,
                                                              max_iter, tol, bounds)
        else:
            w = np.asarray(fitted, dtype=np.float64).copy()
            if w.shape != d.shape or not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("fitted weights must be finite, >= 0 and one per row")
            iterations = 0
            max_abs, max_rel = _margin_errors(w, codes_list, totals_list)
            converged = max_rel <= tol
        pos = d > 0
        g = np.where(pos, w / np.where(pos, d, 1.0), 1.0)
        n_trimmed = 0
        if bounds is not None:
            lo, hi = bounds
            at_bound = pos & ((g <= lo * (1 + 1e-9)) | (g >= hi * (1 - 1e-9)))
            n_trimmed = int(at_bound.sum())
        if not converged:
            warnings.warn(f"raking did not converge in {max_iter} iterations (max relative "
                          f"margin error {max_rel:.3g}); see design.calibration",
                          RuntimeWarning, stacklevel=2)
        report = CalibrationReport(
            method="raking", margins=tuple(names), iterations=iterations,
            converged=converged, max_abs_error=max_abs, max_rel_error=max_rel,
            n_trimmed=n_trimmed, bounds=_bounds_summary(bounds), tol=tol,
            g_min=float(g[pos].min()) if pos.any() else float("nan"),
            g_max=float(g[pos].max()) if pos.any() else float("nan"))

        sizes = [len(t) for t in totals_list]
        offset = sum(s.k for s in self._cal_steps)
        # built once, after the final sweep; sparse and inverted block by block
        gram = _crosstab_sparse(codes_list, sizes, codes_list, sizes, d)
        cross = [_crosstab_sparse(codes_list, sizes, prev.codes, prev.sizes, d)
                 for prev in self._cal_steps]
        ginv, component = _block_ginv(gram, with_components=True)
        step = _CalStep(names=tuple(names), codes=codes_list, sizes=sizes, offset=offset,
                        reg_w=d.copy(), ginv=ginv, cross=cross, component=component)

        new = copy.copy(self)
        new._w = w
        new._cal_steps = [*self._cal_steps, step]
        new._dom_cache = self._dom_cache  # domains do not depend on the weights
        new._cal_cache = None
        new._pair_cache = {}
        new.calibration = report
        return new

    # ------------------------------------------------------------------ internals
    def _column(self, variable: str) -> pd.Series:
        if isinstance(variable, (list, tuple, set, dict, pd.Series, np.ndarray)):
            raise ValueError(f"variable must be a single column name, got {variable!r}")
        if variable not in self.data.columns:
            raise ValueError(f"variable {variable!r} not in data")
        return self.data[variable]

    def _numeric(self, variable: str) -> np.ndarray:
        col = self._column(variable)
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise ValueError(f"variable {variable!r} is not numeric (dtype {col.dtype}); "
                             "use proportion() for a categorical variable")
        y = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(y).any():
            raise ValueError(f"variable {variable!r} has infinite values")
        return y

    def _domains(self, by: str | Sequence[str] | None) -> _Domains:
        by_cols = _as_list(by)
        key = tuple(by_cols)
        cached = self._dom_cache.get(key)
        if cached is not None:
            return cached
        missing = [c for c in by_cols if c not in self.data.columns]
        if missing:
            raise ValueError(f"by column(s) not in data: {missing}")
        n = self._n
        if not by_cols:
            dcode = np.zeros(n, dtype=np.int64)
            labels = pd.DataFrame(index=pd.RangeIndex(1))
        else:
            dcode, first = _group_codes(self.data, by_cols)
            labels = self.data[by_cols].iloc[first].reset_index(drop=True)
        n_dom = len(labels)
        if (dcode < 0).any():
            sel = np.flatnonzero(dcode >= 0)
            d_sel = dcode[sel]
            psu_sel = self._psu[sel]
        else:
            sel = None
            d_sel = dcode
            psu_sel = self._psu
        n_psu = self._n_psu
        if self._psu_is_row:
            g_row = None
            g_dom = d_sel
            g_psu = psu_sel
        else:
            gkeys, g_row = np.unique(d_sel * n_psu + psu_sel, return_inverse=True)
            g_row = g_row.astype(np.int64)
            g_dom = gkeys // n_psu
            g_psu = gkeys % n_psu
        g_h = self._psu_stratum[g_psu]
        n_h = self.n_strata
        pkeys, pair_of_g = _compact(g_dom * n_h + g_h, max(n_dom, 1) * n_h)
        dom = _Domains(
            labels=labels, n_dom=n_dom, dcode=dcode, sel=sel, d_sel=d_sel,
            g_row=g_row, n_g=len(g_dom), g_dom=g_dom, g_psu=g_psu, g_h=g_h,
            pair_of_g=pair_of_g.astype(np.int64), n_pair=len(pkeys),
            pair_dom=pkeys // n_h, pair_h=pkeys % n_h,
            pair_m=np.bincount(pair_of_g, minlength=len(pkeys)).astype(np.float64))
        self._dom_cache[key] = dom
        return dom

    def _estimate(self, kind: str, y: np.ndarray, dom: _Domains, level: float,
                  variable: str) -> pd.DataFrame:
        if not 0 < level < 1:
            raise ValueError("level must be between 0 and 1")
        nd = dom.n_dom
        est, u, n_d, sw, sw2 = self._linearise(kind, y, dom)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = self._variance(u, dom)
            se = np.sqrt(var)
            deff = n_d * sw2 / sw**2
            n_eff = sw**2 / sw2
        empty = sw <= 0
        if kind == "mean":
            est[empty] = np.nan
            se[empty] = np.nan
        deff[empty] = np.nan
        n_eff[empty] = np.nan
        z = NormalDist().inv_cdf(0.5 + level / 2)
        out = dom.labels.copy()
        out["estimate"] = est
        out["se"] = se
        out["ci_low"] = est - z * se
        out["ci_high"] = est + z * se
        out["n"] = n_d.astype(np.int64)
        out["deff"] = deff
        out["n_eff"] = n_eff
        out.attrs.update({"statistic": kind, "variable": variable, "level": level})
        return out

    def _linearise(self, kind: str, y: np.ndarray, dom: _Domains
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Estimates and linearised values of the domain means (or totals) of ``y``.

        Returns ``(estimate, u, n, sum w, sum w^2)`` per domain, ``u`` on the selected rows (zero
        where y is missing).  Written for speed: one pass per operation, the weight sums of a
        variable without missing values come from a cache, a single domain uses plain sums.
        """
        nd = dom.n_dom
        if dom.sel is None:
            y_s, w_s = y, self._w
        else:
            y_s, w_s = y[dom.sel], self._w[dom.sel]
        d_s = dom.d_sel
        nan = np.isnan(y_s)
        if nan.any():
            ok = ~nan
            y0 = np.where(ok, y_s, 0.0)
            wok = np.where(ok, w_s, 0.0)
            n_d = _domain_sum(d_s, ok, nd)
            sw = _domain_sum(d_s, wok, nd)
            sw2 = _domain_sum(d_s, wok * wok, nd)
        else:
            ok = None
            y0, wok = y_s, w_s
            n_d, sw, sw2 = self._weight_sums(dom)
        swy = _domain_sum(d_s, wok * y0, nd)
        if kind != "mean":
            return np.asarray(swy, dtype=np.float64), y0, n_d, sw, sw2
        with np.errstate(divide="ignore", invalid="ignore"):
            est = swy / sw
        positive = sw > 0
        inv = np.divide(1.0, sw, out=np.zeros(nd), where=positive)
        centre = np.where(positive, est, 0.0)
        if nd == 1:
            u = y0 - centre[0]
            u *= inv[0]
        else:
            u = y0 - np.take(centre, d_s)
            u *= np.take(inv, d_s)
        if ok is not None:
            u *= ok
        return est, u, n_d, sw, sw2

    def _weight_sums(self, dom: _Domains) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, sum of weights and sum of squared weights per domain (cached per design)."""
        key = ("weights", id(dom))
        hit = self._pair_cache.get(key)
        if hit is None:
            w_s = self._w if dom.sel is None else self._w[dom.sel]
            ones = np.ones(len(w_s))
            hit = (_domain_sum(dom.d_sel, ones, dom.n_dom), _domain_sum(dom.d_sel, w_s, dom.n_dom),
                   _domain_sum(dom.d_sel, w_s * w_s, dom.n_dom))
            self._pair_cache[key] = hit  # type: ignore[assignment]
        return hit  # type: ignore[return-value]

    def mean_covariance(self, variable_a: str, variable_b: str,
                        by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Covariance of the weighted means of two variables, per domain (design-based).

        Both means are linearised as in :meth:`mean` (each over its own non-missing rows); the
        covariance follows from Var(a + b) = Var(a) + Var(b) + 2 Cov(a, b) with the same variance
        routine, so strata, PSUs, fpc and raking (calibration residuals) are all accounted for.
        Used for intervals of composite indices, whose indicators come from the same respondents.
        """
        dom = self._domains(by)
        u_a = self._mean_scores(self._numeric(variable_a), dom)
        u_b = self._mean_scores(self._numeric(variable_b), dom)
        with np.errstate(invalid="ignore"):
            cov = (self._variance(u_a + u_b, dom) - self._variance(u_a, dom) - self._variance(u_b, dom)) / 2
        out = dom.labels.copy()
        out["cov"] = cov
        return out

    def mean_covariances(self, variables: Sequence[str], by: str | Sequence[str] | None = None
                         ) -> pd.DataFrame:
        """:meth:`mean_covariance` for every pair of ``variables`` (``a`` before ``b`` in the given
        order), per domain: the ``by`` columns, ``variable_a``, ``variable_b``, ``cov``.

        Each variable is linearised once and its variance computed once, so k variables cost
        k + k(k-1)/2 variance evaluations instead of 3 k(k-1)/2.
        """
        variables = list(variables)
        dom = self._domains(by)
        scores = [self._mean_scores(self._numeric(v), dom) for v in variables]
        variances = [self._variance(u, dom) for u in scores]
        pieces = []
        for i in range(len(variables)):
            for j in range(i + 1, len(variables)):
                with np.errstate(invalid="ignore"):
                    cov = (self._variance(scores[i] + scores[j], dom) - variances[i] - variances[j]) / 2
                out = dom.labels.copy()
                out["variable_a"] = variables[i]
                out["variable_b"] = variables[j]
                out["cov"] = cov
                pieces.append(out)
        if not pieces:
            return pd.DataFrame(columns=[*dom.labels.columns, "variable_a", "variable_b", "cov"])
        return pd.concat(pieces, ignore_index=True)

    def _mean_scores(self, y: np.ndarray, dom: _Domains) -> np.ndarray:
        """Linearised values of the domain means of y (zero where y is missing), selected rows."""
        return self._linearise("mean", y, dom)[1]

    def _variance(self, u: np.ndarray, dom: _Domains) -> np.ndarray:
        """Taylor variance of the domain estimators whose linearised value is ``u``.

        ``u`` is given for the selected rows (rows in some domain); the score of domain d is
        ``w_i u_i`` on the rows of d and zero elsewhere.  Returns one variance per domain:
        ``sum_h c_h * sum_{p in h} (t_p - kappa_h * tbar_h)^2`` with PSU totals ``t_p`` of the
        (calibration-residual) score, ``c_h = (1 - f_h) n_h / (n_h - 1)``.
        """
        if self._cal_steps:
            residuals = self._nested_residuals(u, dom)
            if residuals is not None:
                return self._stratified_ss(residuals, dom)
        w_s = self._w if dom.sel is None else self._w[dom.sel]
        s = w_s * u
        a = s if dom.g_row is None else np.bincount(dom.g_row, weights=s, minlength=dom.n_g)
        if not self._cal_steps:
            return self._stratified_ss(a, dom)
        return self._calibrated_variance(u, a, dom)

    def _stratified_ss(self, a: np.ndarray, dom: _Domains) -> np.ndarray:
        """``sum_h c_h sum_{p in h} (t_p - kappa_h tbar_h)^2`` per domain for PSU totals ``a``
        given on the (domain, PSU) combinations; exact centred sums: PSUs of stratum h outside
        the domain have t_p = 0."""
        c_h, kappa, n_h = self._c_h, self._kappa_h, self._n_h
        A = np.bincount(dom.pair_of_g, weights=a, minlength=dom.n_pair)
        ph = dom.pair_h
        mu = kappa[ph] * A / n_h[ph]
        dev = a - np.take(mu, dom.pair_of_g)
        dev *= dev
        ss = np.bincount(dom.pair_of_g, weights=dev, minlength=dom.n_pair)
        ss += (n_h[ph] - dom.pair_m) * mu * mu
        return np.bincount(dom.pair_dom, weights=c_h[ph] * ss, minlength=dom.n_dom)

    def _nested_plan(self, dom: _Domains) -> list[tuple[np.ndarray, list[np.ndarray]]] | None:
        """Per calibration step: (regression weights, level codes offset into the step) of the
        selected rows, when the domains are nested in the calibration blocks; else None (cached).

        Nested: every PSU is one row, and every calibration block (connected component of a
        step's Gram matrix, e.g. one district when the margins are district x sex and district x
        age) holds rows of at most one domain and no rows outside the domains.  Then a domain's
        regression coefficients live on its own blocks only, and a row's calibration residual is
        nonzero for its own domain only (:meth:`_nested_residuals`).  Decided from the structure
        once per domain specification, not per estimate.
        """
        key = ("nested", id(dom))
        if key in self._pair_cache:
            return self._pair_cache[key]  # type: ignore[return-value]
        plan: list[tuple[np.ndarray, list[np.ndarray]]] | None = [] if self._psu_is_row else None
        outside = None
        if plan is not None and dom.sel is not None:
            outside = np.ones(self._n, dtype=bool)
            outside[dom.sel] = False
        for st in self._cal_steps:
            if plan is None:
                break
            n_comp = int(st.component.max()) + 1 if st.component.size else 0
            comp_dom = np.full(n_comp, -1, dtype=np.int64)
            comps_sel = []
            codes_sel = []
            off = 0
            for codes, size in zip(st.codes, st.sizes):
                shifted = codes + off if off else codes
                off += size
                comp = st.component[shifted]
                if outside is None:
                    codes_sel.append(shifted)
                else:
                    codes_sel.append(shifted[dom.sel])
                    comp = comp[dom.sel]
                comps_sel.append(comp)
                comp_dom[comp] = dom.d_sel  # any row's domain; checked below (linear, no sorting)
            if any((comp_dom[comp] != dom.d_sel).any() for comp in comps_sel):
                plan = None  # a calibration block shared by two domains
                break
            if outside is not None:
                off = 0
                for codes, size in zip(st.codes, st.sizes):
                    if (comp_dom[st.component[codes[outside] + off]] >= 0).any():
                        plan = None  # rows outside the domains share a block with a domain
                        break
                    off += size
                if plan is None:
                    break
            rw = st.reg_w if dom.sel is None else st.reg_w[dom.sel]
            plan.append((rw, codes_sel))
        self._pair_cache[key] = plan  # type: ignore[assignment]
        return plan

    def _nested_residuals(self, u: np.ndarray, dom: _Domains) -> np.ndarray | None:
        """Calibration-residual scores ``w (u - x'B)`` of the selected rows, when the domains are
        nested in the calibration blocks (:meth:`_nested_plan`); None otherwise.

        Nested, the coefficients of all domains fit in one vector over the margin levels (a
        level's coefficient belongs to the domain of its rows), so ``B`` costs one bincount per
        margin and a block-diagonal sparse product, and the variance is the uncalibrated
        formula applied to the residuals: a few passes over the rows per estimate.
        """
        plan = self._nested_plan(dom)
        if plan is None:
            return None
        fitted: np.ndarray | None = None
        coefs: list[np.ndarray] = []
        for st, (rw, codes_sel) in zip(self._cal_steps, plan):
            v = rw * u
            r = np.bincount(codes_sel[0], weights=v, minlength=st.k)
            for c in codes_sel[1:]:
                r += np.bincount(c, weights=v, minlength=st.k)
            for j, prev in enumerate(coefs):
                r -= st.cross[j] @ prev
            b = st.ginv.T @ r
            coefs.append(b)
            for c in codes_sel:
                if fitted is None:
                    fitted = np.take(b, c)
                else:
                    fitted += np.take(b, c)
        assert fitted is not None
        w_s = self._w if dom.sel is None else self._w[dom.sel]
        np.subtract(u, fitted, out=fitted)
        fitted *= w_s
        return fitted

    def _cal_matrices(self) -> dict[str, Any]:
        """PSU totals of w * (margin indicators), sparse PSUs x levels (cached)."""
        if self._cal_cache is not None:
            return self._cal_cache
        n_psu, n_h = self._n_psu, self.n_strata
        k_all = sum(st.k for st in self._cal_steps)
        rows, cols = [], []
        for st in self._cal_steps:
            off = st.offset
            for codes, size in zip(st.codes, st.sizes):
                rows.append(self._psu)
                cols.append(codes + off)
                off += size
        vals = np.tile(self._w, len(rows))
        m = sparse.csr_matrix((vals, (np.concatenate(rows), np.concatenate(cols))),
                              shape=(n_psu, k_all))
        m.sum_duplicates()
        hmat = sparse.csr_matrix((np.ones(n_psu), (np.arange(n_psu), self._psu_stratum)),
                                 shape=(n_psu, n_h))
        self._cal_cache = {"m": m, "hmat": hmat, "cw": self._c_h[self._psu_stratum],
                           "coef": self._c_h * self._kappa_h / self._n_h, "k": k_all}
        return self._cal_cache

    def _domain_level_pairs(self, dom: _Domains, step_no: int, margin_no: int
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(domain, margin level) combinations of the selected rows for one margin (cached):
        the combination of every row, and the domain and level of every combination."""
        key = (id(dom), step_no, margin_no)
        hit = self._pair_cache.get(key)
        if hit is not None:
            return hit
        st = self._cal_steps[step_no]
        codes, size = st.codes[margin_no], st.sizes[margin_no]
        c = codes if dom.sel is None else codes[dom.sel]
        if dom.n_dom == 1:
            ukeys, inv = _compact(c, size)
            out = (inv, np.zeros(len(ukeys), dtype=np.int64), ukeys)
        else:
            ukeys, inv = _compact(dom.d_sel * size + c, dom.n_dom * size)
            out = (inv, ukeys // size, ukeys % size)
        self._pair_cache[key] = out
        return out

    def _cal_coefficients(self, u: np.ndarray, dom: _Domains) -> sparse.csr_matrix:
        """Per-domain regression coefficients B (domains x all margin levels), sparse: a
        domain only has coefficients on the calibration blocks (districts) its rows are in."""
        nd = dom.n_dom
        blocks: list[sparse.csr_matrix] = []
        for step_no, st in enumerate(self._cal_steps):
            rw = st.reg_w if dom.sel is None else st.reg_w[dom.sel]
            v = rw * u
            rr, cc, vv = [], [], []
            off = 0
            for margin_no, size in enumerate(st.sizes):
                inv, p_dom, p_lev = self._domain_level_pairs(dom, step_no, margin_no)
                rr.append(p_dom)
                cc.append(p_lev + off)
                vv.append(np.bincount(inv, weights=v, minlength=len(p_dom)))
                off += size
            r = sparse.csr_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))),
                                  shape=(nd, st.k))
            for j, prev_b in enumerate(blocks):
                r = r - prev_b @ st.cross[j].T
            blocks.append(sparse.csr_matrix(r @ st.ginv))
        return sparse.hstack(blocks, format="csr")

    def _calibrated_variance(self, u: np.ndarray, a: np.ndarray, dom: _Domains) -> np.ndarray:
        """Variance from the residual PSU totals t = a - M B' (M: PSU totals of w times the
        margin indicators).  Per domain ``sum_h c_h [sum_p t_p^2 - kappa_h T_h^2 / n_h]`` with
        stratum totals T_h; PSUs outside the domain and its calibration blocks have t_p = 0,
        so only the nonzero residual totals are visited (linear in rows and districts)."""
        cal = self._cal_matrices()
        b = self._cal_coefficients(u, dom)
        nd = dom.n_dom
        m, hmat = cal["m"], cal["hmat"]
        mb = m @ b.T
        if self._n_psu * nd <= _DENSE_LIMIT:
            t = np.zeros((self._n_psu, nd))
            t[dom.g_psu, dom.g_dom] = a
            t -= mb.toarray() if sparse.issparse(mb) else mb
            sh = hmat.T @ t
            mu = (self._kappa_h / self._n_h)[:, None] * sh
            dev = t - mu[self._psu_stratum]
            return (cal["cw"][:, None] * dev * dev).sum(axis=0)
        a_mat = sparse.csr_matrix((a, (dom.g_psu, dom.g_dom)), shape=(self._n_psu, nd))
        t = sparse.csr_matrix(a_mat - mb)
        p_of = np.repeat(np.arange(self._n_psu), np.diff(t.indptr))
        term1 = np.bincount(t.indices, weights=cal["cw"][p_of] * t.data * t.data, minlength=nd)
        th = sparse.csr_matrix(hmat.T @ t)  # strata x domains
        h_of = np.repeat(np.arange(self.n_strata), np.diff(th.indptr))
        term2 = np.bincount(th.indices, weights=cal["coef"][h_of] * th.data * th.data,
                            minlength=nd)
        return np.maximum(term1 - term2, 0.0)


# ---------------------------------------------------------------------- helpers
def _as_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    out = list(by)
    if not all(isinstance(b, str) for b in out):
        raise ValueError(f"by must be a column name or a list of column names, got {by!r}")
    return out


def _as_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: population total {value!r} is not a number") from None


def _weights_array(col: pd.Series, name: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise ValueError(f"weights column {name!r} is not numeric (dtype {col.dtype})")
    w = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad_nan = np.isnan(w)
    if bad_nan.any():
        raise ValueError(f"weights column {name!r} has {int(bad_nan.sum())} missing value(s)")
    if np.isinf(w).any():
        raise ValueError(f"weights column {name!r} has infinite values")
    if (w < 0).any():
        raise ValueError(f"weights column {name!r} has {int((w < 0).sum())} negative value(s)")
    if not w.sum() > 0:
        raise ValueError(f"weights column {name!r} sums to zero")
    return w.copy()


def _population_sizes(col: pd.Series, name: str, strata: np.ndarray, n_strata: int,
                      n_h: np.ndarray, labels: pd.Index) -> np.ndarray:
    """Population number of PSUs per stratum from an fpc column (R's as.fpc)."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ValueError(f"fpc column {name!r} is not numeric (dtype {col.dtype})")
    v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(v).any() or np.isinf(v).any():
        raise ValueError(f"fpc column {name!r} has missing or infinite values")
    if (v <= 0).any():
        raise ValueError(f"fpc column {name!r} must be > 0")
    agg = pd.Series(v).groupby(strata).agg(["min", "max"])
    lo = agg["min"].to_numpy()
    hi = agg["max"].to_numpy()
    varying = hi - lo > 1e-9 * hi
    if varying.any():
        bad = list(labels[np.flatnonzero(varying)][:10])
        raise ValueError(f"fpc column {name!r} varies within stratum/strata {bad}")
    if (v > 1).any():
        if (v < 1).any():
            raise ValueError(f"fpc column {name!r} mixes population sizes (> 1) and sampling "
                             "fractions (< 1)")
        pop = hi
    elif (v < 1).any():
        pop = n_h / hi  # sampling fractions (a fraction of 1 is a census of the stratum)
    else:
        raise ValueError(f"fpc column {name!r} is 1 everywhere: ambiguous (population of one "
                         "PSU or a census?); give population sizes or sampling fractions")
    short = pop < n_h - 1e-9 * n_h
    if short.any():
        bad = [(labels[i], float(pop[i]), int(n_h[i])) for i in np.flatnonzero(short)[:10]]
        raise ValueError(f"fpc column {name!r} is smaller than the number of sampled PSUs "
                         f"(stratum, fpc, sampled PSUs): {bad}")
    return np.maximum(pop, n_h).astype(np.float64)


def _compact(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative integer keys below ``size``.

    Counting instead of sorting when the key range is not much larger than the data (linear
    instead of n log n on a million rows); the same result, sorted unique keys and the inverse."""
    keys = np.asarray(keys, dtype=np.int64)
    if size <= max(4 * len(keys), 1 << 20):
        present = np.bincount(keys, minlength=size) > 0
        position = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.int64), position[keys].astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq.astype(np.int64), inverse.astype(np.int64).ravel()


def _domain_sum(codes: np.ndarray, values: np.ndarray, n_dom: int) -> np.ndarray:
    """Sum of ``values`` per domain code (a plain sum for a single domain)."""
    if n_dom == 1:
        return np.array([values.sum(dtype=np.float64)])
    return np.bincount(codes, weights=values, minlength=n_dom)


def _is_binary(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return True
    if not pd.api.types.is_numeric_dtype(col):
        return False
    v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    v = v[~np.isnan(v)]
    return bool(np.all((v == 0) | (v == 1)))


def _group_codes(data: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Dense domain codes (sorted by the by values, -1 for missing) and a first row each."""
    n = len(data)
    if len(cols) == 1:  # factorize(sort=True) already gives dense codes in the order of the values
        cc, uniq = pd.factorize(data[cols[0]], sort=True, use_na_sentinel=True)
        cc = cc.astype(np.int64)
        first = np.empty(len(uniq), dtype=np.int64)
        rows = np.flatnonzero(cc >= 0)
        first[cc[rows[::-1]]] = rows[::-1]  # the last write is the first row of each value
        return cc, first
    code = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    for c in cols:
        cc, uniq = pd.factorize(data[c], sort=True, use_na_sentinel=True)
        missing |= cc < 0
        code = code * (len(uniq) + 1) + (cc.astype(np.int64) + 1)
        _, code = np.unique(code, return_inverse=True)  # compact, keeps the order
        code = code.astype(np.int64)
    code[missing] = -1
    sel = np.flatnonzero(~missing)
    ukeys, first, inverse = np.unique(code[sel], return_index=True, return_inverse=True)
    out = np.full(n, -1, dtype=np.int64)
    out[sel] = inverse
    return out, sel[first]


def _crosstab_sparse(codes_a: list[np.ndarray], sizes_a: list[int],
                     codes_b: list[np.ndarray], sizes_b: list[int], w: np.ndarray
                     ) -> sparse.csr_matrix:
    """X_a' diag(w) X_b for indicator matrices given by level codes, as a sparse matrix.

    A margin with itself is diagonal (one bincount); two different margins are tabulated over
    the level pairs that occur (linear in rows, whatever the number of levels)."""
    done: dict[tuple[int, int], sparse.spmatrix] = {}
    blocks: list[list[sparse.spmatrix]] = []
    for ca, ka in zip(codes_a, sizes_a):
        row = []
        for cb, kb in zip(codes_b, sizes_b):
            if ca is cb:
                block = sparse.diags(np.bincount(ca, weights=w, minlength=ka))
            elif (id(cb), id(ca)) in done:
                block = done[(id(cb), id(ca))].T
            else:
                # hashing, not sorting: linear in rows (the order of the pairs does not matter)
                inverse, keys = pd.factorize(ca.astype(np.int64) * kb + cb)
                keys = np.asarray(keys, dtype=np.int64)
                values = np.bincount(inverse, weights=w, minlength=len(keys))
                block = sparse.coo_matrix((values, (keys // kb, keys % kb)), shape=(ka, kb))
            done[(id(ca), id(cb))] = block
            row.append(block)
        blocks.append(row)
    out = sparse.csr_matrix(sparse.bmat(blocks, format="csr"))
    out.sum_duplicates()
    return out


def _sym_ginv(g: np.ndarray) -> np.ndarray:
    """Generalised inverse of symmetric PSD matrices (indicator Gram matrices are singular).

    ``g`` is one matrix or a stack of matrices (..., k, k); each is inverted on its own."""
    g = np.asarray(g, dtype=np.float64)
    dg = np.diagonal(g, axis1=-2, axis2=-1)
    s = np.where(dg > 0, 1.0 / np.sqrt(np.where(dg > 0, dg, 1.0)), 0.0)
    gs = g * s[..., :, None] * s[..., None, :]
    vals, vecs = np.linalg.eigh(gs)
    top = np.maximum(vals.max(axis=-1, keepdims=True), 1e-300)
    keep = vals > 1e-10 * top
    inv_vals = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    inv = (vecs * inv_vals[..., None, :]) @ np.swapaxes(vecs, -1, -2)
    return inv * s[..., :, None] * s[..., None, :]


def _block_ginv(gram: sparse.spmatrix, with_components: bool = False) -> Any:
    """Generalised inverse of a sparse symmetric PSD Gram matrix, block by block.

    The blocks are the connected components of the matrix (levels that share respondents);
    with margins nested in districts every district is one small block.  Blocks of equal
    size are inverted together in one batched ``eigh``, so the cost is linear in the number
    of blocks instead of cubic in the number of levels.  With ``with_components`` the block
    of every level is returned too: ``(inverse, component labels)``.
    """
    from scipy.sparse.csgraph import connected_components

    gram = sparse.csr_matrix(gram)
    k = gram.shape[0]
    n_comp, label = connected_components(gram, directed=False)
    order = np.argsort(label, kind="stable")
    comp_size = np.bincount(label, minlength=n_comp)
    start = np.concatenate([[0], np.cumsum(comp_size)[:-1]])
    local = np.empty(k, dtype=np.int64)
    local[order] = np.arange(k) - start[label[order]]
    coo = gram.tocoo()
    out_r, out_c, out_v = [], [], []
    for size in np.unique(comp_size):
        comps = np.flatnonzero(comp_size == size)
        slot = np.full(n_comp, -1, dtype=np.int64)
        slot[comps] = np.arange(len(comps))
        sel = slot[label[coo.row]] >= 0
        stack = np.zeros((len(comps), size, size))
        np.add.at(stack, (slot[label[coo.row[sel]]], local[coo.row[sel]], local[coo.col[sel]]),
                  coo.data[sel])
        inv = _sym_ginv(stack)
        idx = order[start[comps][:, None] + np.arange(size)[None, :]]  # levels of each block
        out_r.append(np.broadcast_to(idx[:, :, None], inv.shape).ravel())
        out_c.append(np.broadcast_to(idx[:, None, :], inv.shape).ravel())
        out_v.append(inv.ravel())
    res = sparse.csr_matrix((np.concatenate(out_v), (np.concatenate(out_r), np.concatenate(out_c))),
                            shape=(k, k))
    res.eliminate_zeros()
    if with_components:
        return res, label.astype(np.int64)
    return res


def _margin_errors(w: np.ndarray, codes_list: list[np.ndarray],
                   totals_list: list[np.ndarray]) -> tuple[float, float]:
    max_abs = 0.0
    max_rel = 0.0
    for codes, totals in zip(codes_list, totals_list):
        err = np.abs(np.bincount(codes, weights=w, minlength=len(totals)) - totals)
        max_abs = max(max_abs, float(err.max()))
        rel = np.divide(err, totals, out=np.zeros_like(err), where=totals > 0)
        max_rel = max(max_rel, float(rel.max()))
    return max_abs, max_rel


def _bounds_summary(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    return float(np.min(bounds[0])), float(np.max(bounds[1]))


def ipf(d: np.ndarray, codes_list: list[np.ndarray], totals_list: list[np.ndarray],
        max_iter: int, tol: float, bounds: Any = None) -> tuple[np.ndarray, int, bool, float, float]:
    """Iterative proportional fitting of weights ``d`` to margins given as level codes (one
    array per margin, every row's level) and totals (one array per margin).

    ``bounds``: None, ``(lower, upper)`` on g = w / d, or a pair of per-row arrays.  Returns
    ``(weights, sweeps, converged, max abs error, max relative error)``.  This is the fitting
    step of :meth:`SurveyDesign.rake` without its checks and calibration matrices, for callers
    that rake parts of a sample (e.g. one district at a time)."""
    return _ipf(d, codes_list, totals_list, max_iter, tol, bounds)


def _ipf(d: np.ndarray, codes_list: list[np.ndarray], totals_list: list[np.ndarray],
         max_iter: int, tol: float, bounds: Any
         ) -> tuple[np.ndarray, int, bool, float, float]:
    """Iterative proportional fitting, optionally with bounds on g = w / d (scalars or per row)."""
    w = d.copy()
    converged = False
    iterations = 0
    max_abs, max_rel = _margin_errors(w, codes_list, totals_list)
    while True:
        if max_rel <= tol:
            converged = True
            break
        if iterations >= max_iter:
            break
        for codes, totals in zip(codes_list, totals_list):
            if bounds is None:
                s = np.bincount(codes, weights=w, minlength=len(totals))
                factor = np.divide(totals, s, out=np.zeros_like(totals), where=s > 0)
                w = w * factor[codes]
            else:
                w = _bounded_step(d, w, codes, totals, bounds)
        iterations += 1
        max_abs, max_rel = _margin_errors(w, codes_list, totals_list)
    return w, iterations, converged, max_abs, max_rel


def _bounded_step(d: np.ndarray, w: np.ndarray, codes: np.ndarray, totals: np.ndarray,
                  bounds: Any) -> np.ndarray:
    """Scale each level by r so that sum d*clip(g*r, L, U) = T (safeguarded Newton).

    ``L`` and ``U`` are scalars or one value per row.  A level whose total cannot be reached
    within the bounds gets all its g-weights on the nearest bound (the outer loop then reports
    non-convergence).
    """
    lo_b, hi_b = bounds
    k = len(totals)
    pos = d > 0
    g = np.where(pos, w / np.where(pos, d, 1.0), 1.0)
    dg = d * g
    dsum = np.bincount(codes, weights=d, minlength=k)
    empty = dsum <= 0  # only zero-weight units (population total 0): nothing to do
    if np.ndim(hi_b) == 0:
        reach_hi, reach_lo = hi_b * dsum, lo_b * dsum
    else:  # per-row bounds: the most and least a level can reach
        with np.errstate(invalid="ignore"):
            reach_hi = np.bincount(codes, weights=np.where(pos, d * hi_b, 0.0), minlength=k)
        reach_lo = np.bincount(codes, weights=d * lo_b, minlength=k)
    too_high = (totals >= reach_hi) & ~empty  # even all on the upper bound is too little
    too_low = (totals <= reach_lo) & ~empty
    sdg = np.bincount(codes, weights=dg, minlength=k)
    r = np.divide(totals, sdg, out=np.ones(k), where=sdg > 0)
    r_lo = np.zeros(k)
    r_hi = np.full(k, np.inf)
    active = ~(too_high | too_low | empty)
    for _ in range(100):
        if not active.any():
            break
        gr = g * r[codes]
        s = np.bincount(codes, weights=d * np.clip(gr, lo_b, hi_b), minlength=k)
        diff = s - totals
        active &= np.abs(diff) > 1e-12 * totals
        if not active.any():
            break
        r_lo = np.where(diff < 0, np.maximum(r_lo, r), r_lo)
        r_hi = np.where(diff > 0, np.minimum(r_hi, r), r_hi)
        free = (gr > lo_b) & (gr < hi_b)
        slope = np.bincount(codes, weights=dg * free, minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = r - diff / slope
        bisect = np.where(np.isfinite(r_hi), 0.5 * (r_lo + r_hi), 2.0 * r)
        ok = (slope > 0) & (newton > r_lo) & (newton < r_hi)
        r_new = np.where(active, np.where(ok, newton, bisect), r)
        if np.all(r_new == r):
            break
        r = r_new
    g_new = np.clip(g * r[codes], lo_b, hi_b)
    g_new = np.where(too_high[codes], hi_b, np.where(too_low[codes], lo_b, g_new))
    return d * g_new
