"""Similar districts: for each district the k districts of the same municipality that are most alike
on CBS register figures, and a test of the district against them (issue 10).

Profile. The variables (:data:`SIMILARITY_VARIABLES`, computed from the CBS "Kerncijfers wijken en
buurten" by :mod:`socialquality.small_areas` and stored in ``area_covariates``) describe age
structure (% 15-24, % 65+), migration background (% non-Western), income (average income per
inhabitant, % low-income households), housing (% dwellings owned by a housing corporation, i.e.
social rent), household size (% one-person households) and density (log of inhabitants per km²).
Only the variables the municipality's file has are used; a variable without variation between the
districts is dropped. A value CBS does not publish (".") is filled with the median of the
municipality's districts before standardising (``area_frame`` already does this when the table is
built; this module does it again so any input is safe), so a missing figure makes a district
neither near nor far on that variable.

Distance. Each variable is standardised over the districts (z-score: minus the mean, divided by
the standard deviation) and the distance between two districts is the root mean square of their
z-differences (Euclidean distance divided by the square root of the number of variables, so the
scale does not depend on how many variables the file has). The k nearest (default
:data:`DEFAULT_K` = 5; fewer when the municipality has fewer other districts) are the district's
"vergelijkbare wijken"; ties are broken by district code so the list is reproducible.

Test. A district's figure is compared with the unweighted mean of its similar districts' figures
(those that are published: suppressed or missing figures are left out; at least two are needed).
The districts are independent samples, so the difference has variance
se_d² + Σ se_j² / k'² (k' = the similar districts with a figure). The p-values are adjusted with
Benjamini-Hochberg across the districts of one indicator (or index) and wave -- the same rule as
"hoger/lager dan de stad" (:func:`socialquality.report.significance.versus_city`) -- and the mark
says "hoger/lager dan vergelijkbare wijken" only when the adjusted p < alpha.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import cdist

from statsmodels.stats.multitest import multipletests

Z95 = 1.959963984540054

#: register variables (names of socialquality.small_areas.COVARIATES) that define "alike"
SIMILARITY_VARIABLES: tuple[str, ...] = ("pct_15_24", "pct_65plus", "pct_niet_westers", "inkomen_per_inwoner",
                                         "pct_laag_inkomen", "pct_corporatie", "pct_eenpersoons", "log_dichtheid")
DEFAULT_K = 5
NEIGHBOUR_COLUMNS = ["district_code", "similar_code", "rank", "distance"]
VERSUS_COLUMNS = ["wave", "district_code", "similar_mean", "diff", "n_similar", "p_value", "p_adjusted", "vs_similar"]


def profile(covariates: pd.DataFrame, districts: list[str],
            variables: tuple[str, ...] = SIMILARITY_VARIABLES) -> pd.DataFrame:
    """Wide table (index district_code, one column per usable variable) from the long
    ``area_covariates`` (level, area_code, covariate, value). Missing values become the median;
    variables the file lacks, or without variation, are left out."""
    if covariates is None or covariates.empty:
        return pd.DataFrame(index=pd.Index(districts, name="district_code"))
    rows = covariates[(covariates["level"] == "district") & covariates["covariate"].isin(variables)]
    wide = rows.pivot_table(index="area_code", columns="covariate", values="value", aggfunc="first")
    wide = wide.reindex(index=districts, columns=[v for v in variables if v in wide.columns])
    wide.index.name = "district_code"
    wide = wide.apply(pd.to_numeric, errors="coerce")
    wide = wide.loc[:, wide.notna().any()]
    wide = wide.fillna(wide.median())
    keep = [c for c in wide.columns if wide[c].std(ddof=0) > 0]
    return wide[keep]


def nearest(profile_table: pd.DataFrame, k: int = DEFAULT_K) -> pd.DataFrame:
    """The k most similar districts of every district: district_code, similar_code, rank (1 = most
    similar), distance (root mean square of the z-score differences)."""
    codes = [str(c) for c in profile_table.index]
    if len(codes) < 2 or profile_table.shape[1] == 0 or k < 1:
        return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    x = profile_table.to_numpy(dtype=float)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    dist = cdist(z, z) / np.sqrt(z.shape[1])
    # per row: nearest first, ties by code; the district itself last (one sort of the matrix, not a
    # Python sort per district: 3,400 districts are 11.6 million pairs)
    rounded = np.round(dist, 12)
    np.fill_diagonal(rounded, np.inf)
    code_rank = np.argsort(np.argsort(np.array(codes, dtype=object)))
    order = np.lexsort((np.broadcast_to(code_rank, rounded.shape), rounded), axis=-1)[:, :min(k, len(codes) - 1)]
    rows_i = np.repeat(np.arange(len(codes)), order.shape[1])
    cols_j = order.ravel()
    return pd.DataFrame({"district_code": [codes[i] for i in rows_i], "similar_code": [codes[j] for j in cols_j],
                         "rank": np.tile(np.arange(1, order.shape[1] + 1), len(codes)),
                         "distance": dist[rows_i, cols_j].astype(float)}, columns=NEIGHBOUR_COLUMNS)


def versus_similar(frame: pd.DataFrame, neighbours: pd.DataFrame, *, key: str, value: str,
                   alpha: float = 0.05, min_similar: int = 2) -> pd.DataFrame:
    """Each district against the mean of its similar districts, per (key, wave).

    ``frame``: wave, district_code, ``key``, ``value``, ci_low, ci_high (95%), with suppressed or
    missing figures as NaN. Returns :data:`VERSUS_COLUMNS` plus ``key``; ``vs_similar`` is
    "higher", "lower", "same" (not significant after BH) or None (no test).
    """
    cols = ["wave", "district_code", key] + VERSUS_COLUMNS[2:]
    if frame is None or frame.empty or neighbours is None or neighbours.empty:
        return pd.DataFrame(columns=cols)
    df = frame[["wave", "district_code", key, value, "ci_low", "ci_high"]].copy()
    df["se"] = (df["ci_high"] - df["ci_low"]) / (2 * Z95)
    df = df[df[value].notna() & df["se"].notna()]
    pairs = neighbours[["district_code", "similar_code"]]
    joined = pairs.merge(df.rename(columns={"district_code": "similar_code", value: "v_j", "se": "se_j"})
                         [["similar_code", "wave", key, "v_j", "se_j"]], on="similar_code")
    agg = joined.groupby(["district_code", "wave", key]).agg(
        similar_mean=("v_j", "mean"), n_similar=("v_j", "size"),
        var_sum=("se_j", lambda s: float((s ** 2).sum()))).reset_index()
    out = df.merge(agg, on=["district_code", "wave", key], how="inner")
    out = out[out["n_similar"] >= min_similar].copy()
    if out.empty:
        return pd.DataFrame(columns=cols)
    out["diff"] = out[value] - out["similar_mean"]
    sd = np.sqrt(out["se"] ** 2 + out["var_sum"] / out["n_similar"] ** 2)
    z = out["diff"] / sd.replace(0, np.nan)
    out["p_value"] = 2 * stats.norm.sf(np.abs(z))
    out["p_adjusted"] = np.nan
    for _, idx in out.groupby(["wave", key]).groups.items():
        p = out.loc[idx, "p_value"]
        ok = p.notna().to_numpy()
        if ok.any():  # Benjamini-Hochberg (statsmodels), as report.significance.bh_adjust
            out.loc[idx[ok], "p_adjusted"] = multipletests(p[ok].to_numpy(), method="fdr_bh")[1]
    sig = out["p_adjusted"] < alpha
    out["vs_similar"] = np.where(out["p_adjusted"].isna(), None,
                                 np.where(~sig, "same", np.where(out["diff"] > 0, "higher", "lower")))
    return out[cols].reset_index(drop=True)
