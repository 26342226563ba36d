"""Model-based figures for every district and buurt: the Fay-Herriot stage of the pipeline.

Per indicator, wave and geographic level (district = CBS wijk, buurt = CBS buurt):

1. Direct estimates per area from the raked survey design (``SurveyDesign.mean`` by area), with
   their design variance; the variance is *smoothed* (generalised variance function
   psi_d = k / n_d, k the respondent-weighted mean of se_d^2 n_d over areas with at least
   ``smooth_below`` respondents) where it is unstable: fewer than ``smooth_below`` respondents,
   or a zero/undefined variance (a share of 0% or 100% in a small area).
2. Register covariates from the CBS Kerncijfers wijken en buurten (``area_covariates``), chosen per
   indicator by forward selection: starting from the intercept, add the candidate that lowers the
   Fay-Herriot ML AIC most, while it lowers the AIC by at least ``min_aic_gain`` and at most
   ``max_terms`` covariates are in (ML, because REML likelihoods with different fixed effects are
   not comparable). The final model is fitted by REML (``socialquality.sae.fay_herriot``).
3. EBLUP and MSE for areas with respondents, the synthetic estimate and its MSE for areas without;
   optional benchmarking to the city's direct estimate.
4. The publication rule per area (``publication.rule``):
   * ``n_below`` (default): the direct figure when the area has at least ``n_threshold``
     respondents (and is not suppressed), otherwise the model figure;
   * ``smaller_mse``: the direct figure when it is not suppressed and its sampling variance (the
     smoothed one where the design variance is unstable) is at most the model figure's MSE,
     otherwise the model figure.
   A direct figure is never published below the catalogue's ``minimum_respondents`` (suppression);
   a model figure is labelled "modelschatting" with the interval eblup +- 1.96 sqrt(mse).

Settings live in ``surveys/small_area.yaml`` next to the catalogue (optional; defaults below).
The method is documented in docs/methods_sae.md. No dagster import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.errors import ConfigError
from socialquality.sae import FayHerriotResult, fay_herriot, ml_aic

Z95 = 1.959963984540054
LEVELS = {"district": ("Wijk", "district_code"), "buurt": ("Buurt", "buurt_code")}
MODEL_LABEL = "modelschatting"


def _share(numerator: str, denominator: str = "AantalInwoners", per: float = 100.0) -> Callable[[pd.DataFrame], pd.Series]:
    def compute(frame: pd.DataFrame) -> pd.Series:
        return per * frame[numerator].astype(float) / frame[denominator].astype(float).replace(0, np.nan)
    return compute


def _field(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda frame: frame[name].astype(float)


def _log_density(frame: pd.DataFrame) -> pd.Series:
    return np.log1p(frame["Bevolkingsdichtheid"].astype(float))


#: Candidate register covariates (CBS KWB field keys without the edition suffix): name -> (label, rule).
COVARIATES: dict[str, tuple[str, Callable[[pd.DataFrame], pd.Series]]] = {
    "pct_laag_inkomen": ("% huishoudens met een laag inkomen", _field("HuishoudensMetEenLaagInkomen")),
    "pct_sociaal_minimum": ("% huishoudens rond het sociaal minimum", _field("HuishOnderOfRondSociaalMinimum")),
    "inkomen_per_inwoner": ("gemiddeld inkomen per inwoner (x 1.000 euro)", _field("GemiddeldInkomenPerInwoner")),
    "pct_bijstand": ("% inwoners met bijstand", _share("PersonenPerSoortUitkeringBijstand")),
    "pct_65plus": ("% inwoners 65 jaar of ouder", _share("k_65JaarOfOuder")),
    "pct_15_24": ("% inwoners 15-24 jaar", _share("k_15Tot25Jaar")),
    "pct_niet_westers": ("% inwoners met een niet-westerse migratieachtergrond", _share("NietWestersTotaal")),
    "pct_eenpersoons": ("% eenpersoonshuishoudens", _share("Eenpersoonshuishoudens", "HuishoudensTotaal")),
    "wmo_per_1000": ("Wmo-cliënten per 1.000 inwoners", _field("WmoClientenRelatief")),
    "pct_corporatie": ("% woningen in bezit van een corporatie", _field("InBezitWoningcorporatie")),
    "afstand_huisarts": ("afstand tot huisartsenpraktijk (km)", _field("AfstandTotHuisartsenpraktijk")),
    "afstand_supermarkt": ("afstand tot grote supermarkt (km)", _field("AfstandTotGroteSupermarkt")),
    "log_dichtheid": ("log(1 + inwoners per km²)", _log_density),
}


@dataclass(frozen=True)
class SmallAreaConfig:
    levels: tuple[str, ...] = ("district", "buurt")
    rule: str = "n_below"
    n_threshold: int = 50
    smooth_below: int = 50
    candidates: tuple[str, ...] = tuple(COVARIATES)
    max_terms: int = 3
    min_aic_gain: float = 2.0
    benchmark: str = "none"
    min_areas: int = 10
    path: str | None = None


def load_small_area_config(path: str | Path | None) -> SmallAreaConfig:
    """Read surveys/small_area.yaml (absent: the defaults), with clear messages on bad values."""
    if path is None or not Path(path).is_file():
        return SmallAreaConfig()
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    known = {"levels", "publication", "variance_smoothing", "covariates", "benchmark", "min_areas"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    publication = raw.get("publication") or {}
    covariates = raw.get("covariates") or {}
    config = SmallAreaConfig(
        levels=tuple(raw.get("levels", SmallAreaConfig.levels)),
        rule=str(publication.get("rule", "n_below")),
        n_threshold=int(publication.get("n_threshold", 50)),
        smooth_below=int((raw.get("variance_smoothing") or {}).get("below_n", 50)),
        candidates=tuple(covariates.get("candidates", tuple(COVARIATES))),
        max_terms=int(covariates.get("max_terms", 3)),
        min_aic_gain=float(covariates.get("min_aic_gain", 2.0)),
        benchmark=str(raw.get("benchmark", "none")),
        min_areas=int(raw.get("min_areas", 10)),
        path=str(path),
    )
    if bad := [lv for lv in config.levels if lv not in LEVELS]:
        raise ConfigError(f"{path}: levels must be among {', '.join(LEVELS)}, not {', '.join(bad)}")
    if config.rule not in ("n_below", "smaller_mse"):
        raise ConfigError(f"{path}: publication.rule must be 'n_below' or 'smaller_mse', not {config.rule!r}")
    if bad := [c for c in config.candidates if c not in COVARIATES]:
        raise ConfigError(f"{path}: unknown covariate(s) {', '.join(bad)}; known: {', '.join(COVARIATES)}")
    if config.benchmark not in ("none", "ratio", "difference"):
        raise ConfigError(f"{path}: benchmark must be 'none', 'ratio' or 'difference', not {config.benchmark!r}")
    if config.max_terms < 0 or config.smooth_below < 1 or config.n_threshold < 1:
        raise ConfigError(f"{path}: max_terms must be >= 0, below_n and n_threshold >= 1")
    return config


# ----------------------------------------------------------------------------- areas and covariates
def area_frame(kwb: pd.DataFrame, municipality: str, level: str,
               candidates: tuple[str, ...] = tuple(COVARIATES)) -> pd.DataFrame:
    """All areas of a level with population and covariates (one row per area).

    Columns: area_code, parent_code (the district of a buurt; the municipality for a district),
    population, pop15 (15 and older), then one column per covariate and ``imputed`` (the number
    of covariates filled in). A covariate CBS does not publish for an area (".", small areas) is
    taken from the area's district, else the median over the level's areas; a covariate whose
    field the file lacks altogether (another edition or the Excel layout) is left out.
    """
    region_type, _ = LEVELS[level]
    prefix = ("WK" if level == "district" else "BU") + municipality[2:]
    rows = kwb[(kwb["region_type"] == region_type) & kwb["region_code"].str.startswith(prefix)].copy()
    if rows.empty:
        raise ConfigError(f"no {region_type} rows of {municipality} in the CBS figures")
    out = pd.DataFrame({"area_code": rows["region_code"].to_numpy()})
    out["parent_code"] = ["WK" + code[2:8] for code in out["area_code"]] if level == "buurt" else municipality
    out["population"] = rows["AantalInwoners"].astype(float).to_numpy()
    ages = [c for c in ("k_15Tot25Jaar", "k_25Tot45Jaar", "k_45Tot65Jaar", "k_65JaarOfOuder") if c in rows]
    out["pop15"] = rows[ages].astype(float).sum(axis=1).to_numpy()
    imputed = np.zeros(len(out), dtype=int)
    districts = kwb[(kwb["region_type"] == "Wijk") & kwb["region_code"].str.startswith("WK" + municipality[2:])]
    for name in candidates:
        _, rule = COVARIATES[name]
        try:
            values = pd.Series(rule(rows).to_numpy(dtype=float))
        except KeyError:  # an edition or layout without this field (e.g. the Excel download): not a candidate
            continue
        values[~np.isfinite(values)] = np.nan
        imputed += values.isna().to_numpy().astype(int)
        if level == "buurt" and values.isna().any():
            parent = pd.Series(rule(districts).to_numpy(dtype=float), index=districts["region_code"].to_numpy())
            values = values.fillna(out["parent_code"].map(parent))
        out[name] = values.fillna(values.median() if values.notna().any() else 0.0).to_numpy()
    out["imputed"] = imputed
    return out


def covariates_long(areas: pd.DataFrame, level: str, candidates: tuple[str, ...]) -> pd.DataFrame:
    """The covariates as a long table for the warehouse (level, area_code, covariate, value)."""
    present = [c for c in candidates if c in areas.columns]
    long = areas.melt(id_vars=["area_code"], value_vars=present, var_name="covariate", value_name="value")
    return long.assign(level=level)[["level", "area_code", "covariate", "value"]]


# ----------------------------------------------------------------------------- direct estimates
def direct_estimates(design: Any, catalogue: Any, by: str) -> pd.DataFrame:
    """Unsuppressed direct estimates per area and indicator: area_code, indicator_id, direct, direct_se, n."""
    pieces = []
    for indicator in catalogue.indicators:
        variable = f"ind__{indicator.id}"
        if variable not in design.data or design.data[variable].notna().sum() == 0:
            continue
        table = design.mean(variable, by=by)
        pieces.append(pd.DataFrame({"area_code": table[by].astype(str).to_numpy(), "indicator_id": indicator.id,
                                    "direct": table["estimate"].to_numpy(), "direct_se": table["se"].to_numpy(),
                                    "n": table["n"].to_numpy()}))
    if not pieces:
        return pd.DataFrame(columns=["area_code", "indicator_id", "direct", "direct_se", "n"])
    return pd.concat(pieces, ignore_index=True)


def smooth_variances(direct_se: np.ndarray, n: np.ndarray, below_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sampling variances for the model: the design variance where stable, else k / n
    (k = respondent-weighted mean of se^2 n over the stable areas). Returns (variance, smoothed?)."""
    se = np.asarray(direct_se, dtype=float)
    n = np.asarray(n, dtype=float)
    variance = se**2
    stable = (n >= below_n) & np.isfinite(variance) & (variance > 0)
    if stable.sum() >= 3:
        k = float(np.sum(n[stable] * variance[stable] * n[stable]) / np.sum(n[stable]))
    else:  # too few stable areas: pool over all areas with a positive variance
        ok = np.isfinite(variance) & (variance > 0) & (n > 0)
        k = float(np.sum(n[ok] * variance[ok] * n[ok]) / np.sum(n[ok])) if ok.any() else float("nan")
    smoothed = ~stable
    result = np.where(smoothed, k / np.maximum(n, 1.0), variance)
    return result, smoothed


# ----------------------------------------------------------------------------- covariate selection
def select_covariates(data: pd.DataFrame, candidates: list[str], max_terms: int = 3,
                      min_aic_gain: float = 2.0, forced: tuple[str, ...] = ()) -> tuple[list[str], list[dict[str, Any]]]:
    """Forward selection on the Fay-Herriot ML AIC (columns ``direct`` and ``variance`` in data).

    Covariates constant over the fitted areas are skipped. Returns the chosen covariates and the
    steps taken (covariate, aic) for the record."""
    usable = [c for c in candidates if data[c].std() > 0]
    chosen: list[str] = [c for c in forced if data[c].std() > 0]
    y = data["direct"].to_numpy(dtype=float)
    psi = data["variance"].to_numpy(dtype=float)
    values = {c: data[c].to_numpy(dtype=float) for c in usable}
    ones = np.ones(len(y))

    def aic(columns: list[str]) -> float:
        X = np.column_stack([ones, *(values[c] for c in columns)])
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise ValueError("collinear")
        return ml_aic(y, X, psi)

    try:
        best = aic(chosen)
    except (ValueError, np.linalg.LinAlgError):
        return [], []
    steps = [{"covariate": "(intercept)" + "".join(f" + {c}" for c in chosen), "aic": round(float(best), 4)}]
    while len(chosen) < max_terms + len(forced) and len(data) > len(chosen) + 3:
        trial: dict[str, float] = {}
        for name in usable:
            if name in chosen:
                continue
            try:
                trial[name] = aic(chosen + [name])
            except (ValueError, np.linalg.LinAlgError):
                continue
        if not trial:
            break
        name = min(trial, key=trial.get)
        if best - trial[name] < min_aic_gain:
            break
        chosen.append(name)
        best = trial[name]
        steps.append({"covariate": name, "aic": round(float(best), 4)})
    return chosen, steps


# ----------------------------------------------------------------------------- the estimates
PARENT_FIGURE = "wijkcijfer"


def _isin(series: pd.Series, values: pd.Series) -> np.ndarray:
    """Membership of codes by a hash table (pandas' isin on arrow strings converts value by value)."""
    return series.astype(object).isin(set(values.astype(object))).to_numpy()


def _measurement_error_adjustment(e: pd.DataFrame, fit: FayHerriotResult, term: int, scale: float) -> pd.DataFrame:
    """Ybarra & Lohr (2008): the parent district's figure is an estimate with variance C_d (its MSE)."""
    e = e.copy()
    b = float(fit.coefficients["estimate"].iloc[term]) / scale  # per unit of the district figure
    extra = b**2 * e["_parent_mse"].to_numpy(dtype=float)
    sampled = e["n"].to_numpy() > 0
    psi = e["variance"].to_numpy(dtype=float)
    total = fit.sigma2_u + extra
    gamma = np.where(sampled, total / (total + np.where(sampled, psi, 1.0)), 0.0)
    direct = e["direct"].to_numpy(dtype=float)
    synthetic = e["synthetic"].to_numpy(dtype=float)
    e["gamma"] = gamma
    e["eblup"] = np.where(sampled, gamma * direct + (1 - gamma) * synthetic, synthetic)
    g2, g3 = e["g2"].to_numpy(dtype=float), e["g3"].to_numpy(dtype=float)
    e["mse"] = np.where(sampled, gamma * psi + (1 - gamma) ** 2 * g2 + 2 * g3, total + g2)
    return e


ESTIMATE_COLUMNS = ["wave", "level", "area_code", "indicator_id", "parent_code", "population", "n", "direct",
                    "direct_se", "variance_model", "variance_smoothed", "synthetic", "eblup", "mse", "model_ci_low",
                    "model_ci_high", "gamma", "std_residual", "direct_suppressed", "source", "estimate", "se",
                    "ci_low", "ci_high"]
MODEL_COLUMNS = ["wave", "level", "indicator_id", "method", "n_areas", "n_predicted", "sigma2_u", "sigma2_u_se",
                 "covariates", "coefficients", "selection", "loglik", "aic", "r2", "mean_gamma", "converged",
                 "benchmark", "smoothed_areas"]


@dataclass
class SmallAreaResult:
    estimates: pd.DataFrame
    models: pd.DataFrame
    fits: dict[tuple[str, str], FayHerriotResult] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def estimate_small_areas(direct: pd.DataFrame, areas: pd.DataFrame, catalogue: Any, wave: str, level: str,
                         config: SmallAreaConfig, minimum_respondents: int,
                         city_direct: dict[str, float] | None = None,
                         parent: pd.DataFrame | None = None) -> SmallAreaResult:
    """Fay-Herriot figures for every area of `areas` (with residents) and every indicator in `direct`.

    `parent` (buurt level): the district figures (area_code, indicator_id, eblup, mse). The parent
    district's model figure enters the buurt model as a covariate (``wijkcijfer``, always in the
    model), and its MSE as the covariate's measurement-error variance C_d (Ybarra & Lohr 2008):
    gamma_d = (sigma2_u + b^2 C_d) / (sigma2_u + b^2 C_d + psi_d), mse_d = gamma_d psi_d +
    (1 - gamma_d)^2 g2_d + 2 g3_d; without respondents mse_d = sigma2_u + b^2 C_d + g2_d.
    """
    areas = areas[areas["population"] > 0].reset_index(drop=True)
    candidates = [c for c in config.candidates if c in areas.columns]
    forced: tuple[str, ...] = ()
    if parent is not None and not parent.empty:
        forced = (PARENT_FIGURE,)
    units = {i.id: i.unit for i in catalogue.indicators}
    rows, models, fits, log = [], [], {}, []
    for indicator_id, group in direct.groupby("indicator_id", sort=False):
        if forced:
            figures = parent[parent["indicator_id"] == indicator_id].set_index("area_code")
            if figures.empty:
                continue
            areas = areas.assign(**{PARENT_FIGURE: areas["parent_code"].map(figures["eblup"]),
                                    "_parent_mse": areas["parent_code"].map(figures["mse"])})
            areas = areas[areas[PARENT_FIGURE].notna()].reset_index(drop=True)
        group = group[_isin(group["area_code"], areas["area_code"])]
        group = group[np.isfinite(group["direct"].to_numpy(dtype=float)) & (group["n"] > 0)]
        if len(group) < config.min_areas:
            log.append(f"{level}/{indicator_id}: {len(group)} areas with respondents, fewer than {config.min_areas}: "
                       "no model")
            continue
        data = group.merge(areas, on="area_code", how="left")
        data["variance"], data["smoothed"] = smooth_variances(data["direct_se"].to_numpy(), data["n"].to_numpy(),
                                                              config.smooth_below)
        if not np.isfinite(data["variance"]).all():
            log.append(f"{level}/{indicator_id}: no usable sampling variance: no model")
            continue
        # covariates standardised over the fitted areas (coefficients per standard deviation)
        columns = [*forced, *candidates]
        centre = data[columns].mean()
        scale = data[columns].std().replace(0, 1.0)
        standard = data.copy()
        standard[columns] = (data[columns] - centre) / scale
        chosen, steps = select_covariates(standard, columns, config.max_terms, config.min_aic_gain, forced)
        fit = fay_herriot(standard, "direct", "variance", chosen, area="area_code", method="REML")
        fits[(level, indicator_id)] = fit
        keep = ["area_code", "n", "direct_se", "smoothed", "parent_code", "population"]
        e = fit.estimates.merge(data[keep + (["_parent_mse"] if forced else [])], left_on="area",
                                right_on="area_code")
        others = areas[~_isin(areas["area_code"], e["area_code"])].copy()
        if not others.empty:
            others_std = others.copy()
            others_std[columns] = (others[columns] - centre) / scale
            predicted = fit.predict(others_std, area="area_code").merge(
                others[["area_code", "parent_code", "population"] + (["_parent_mse"] if forced else [])],
                left_on="area", right_on="area_code")
            predicted = predicted.assign(n=0, direct=np.nan, direct_se=np.nan, variance=np.nan, smoothed=False,
                                         std_residual=np.nan, g2=predicted["mse"] - fit.sigma2_u, g3=0.0)
            e = pd.concat([e, predicted], ignore_index=True)
        if forced and PARENT_FIGURE in chosen:
            e = _measurement_error_adjustment(e, fit, chosen.index(PARENT_FIGURE) + 1, float(scale[PARENT_FIGURE]))
        if config.benchmark != "none" and city_direct and indicator_id in city_direct:
            target = city_direct[indicator_id]
            weights = e["population"].to_numpy(dtype=float)
            current = float(np.sum(weights * e["eblup"]) / np.sum(weights))
            if config.benchmark == "ratio" and current != 0:
                e["eblup"] = e["eblup"] * target / current
            elif config.benchmark == "difference":
                e["eblup"] = e["eblup"] + (target - current)
        se = np.sqrt(e["mse"].to_numpy(dtype=float))
        low, high = e["eblup"] - Z95 * se, e["eblup"] + Z95 * se
        if units.get(indicator_id) == "percent":  # shares stay within [0, 1]
            e["eblup"] = e["eblup"].clip(0.0, 1.0)
            low, high = low.clip(0.0, 1.0), high.clip(0.0, 1.0)
        n = e["n"].to_numpy(dtype=float)
        direct_var = e["variance"].to_numpy(dtype=float)  # the (smoothed where unstable) sampling variance
        suppressed = n < minimum_respondents
        if config.rule == "n_below":
            use_direct = ~suppressed & (n >= config.n_threshold)
        else:
            use_direct = ~suppressed & np.isfinite(direct_var) & (direct_var <= e["mse"].to_numpy(dtype=float))
        use_direct &= np.isfinite(e["direct"].to_numpy(dtype=float))
        direct_se = e["direct_se"].to_numpy(dtype=float)
        part = pd.DataFrame({
            "wave": wave, "level": level, "area_code": e["area_code"].to_numpy(), "indicator_id": indicator_id,
            "parent_code": e["parent_code"].to_numpy(), "population": e["population"].to_numpy(dtype=float),
            "n": n.astype(int), "direct": np.where(suppressed, np.nan, e["direct"]),
            "direct_se": np.where(suppressed, np.nan, direct_se), "variance_model": e["variance"].to_numpy(),
            "variance_smoothed": e["smoothed"].astype(bool).to_numpy(), "synthetic": e["synthetic"].to_numpy(),
            "eblup": e["eblup"].to_numpy(), "mse": e["mse"].to_numpy(), "model_ci_low": low.to_numpy(),
            "model_ci_high": high.to_numpy(), "gamma": e["gamma"].to_numpy(),
            "std_residual": e["std_residual"].to_numpy(), "direct_suppressed": suppressed,
            "source": np.where(use_direct, "direct", "model"),
        })
        part["estimate"] = np.where(use_direct, e["direct"], part["eblup"])
        part["se"] = np.where(use_direct, direct_se, se)
        part["ci_low"] = np.where(use_direct, e["direct"] - Z95 * direct_se, part["model_ci_low"])
        part["ci_high"] = np.where(use_direct, e["direct"] + Z95 * direct_se, part["model_ci_high"])
        rows.append(part)
        coefficients = fit.coefficients.reset_index()
        models.append({
            "wave": wave, "level": level, "indicator_id": indicator_id, "method": fit.method, "n_areas": fit.m,
            "n_predicted": len(others), "sigma2_u": fit.sigma2_u, "sigma2_u_se": fit.sigma2_u_se,
            "covariates": json.dumps(chosen),
            "coefficients": json.dumps([{"term": r["term"], "estimate": float(r["estimate"]), "se": float(r["se"]),
                                         "p_value": float(r["p_value"])} for r in coefficients.to_dict("records")]),
            "selection": json.dumps(steps), "loglik": fit.loglik, "aic": fit.aic, "r2": fit.r2_synthetic,
            "mean_gamma": float(fit.estimates["gamma"].mean()), "converged": bool(fit.converged),
            "benchmark": config.benchmark, "smoothed_areas": int(data["smoothed"].sum()),
        })
    estimates = pd.concat(rows, ignore_index=True)[ESTIMATE_COLUMNS] if rows else pd.DataFrame(columns=ESTIMATE_COLUMNS)
    return SmallAreaResult(estimates=estimates, models=pd.DataFrame(models, columns=MODEL_COLUMNS), fits=fits, log=log)


def small_area_wave(design: Any, catalogue: Any, wave: str, municipality: str, covariates: pd.DataFrame,
                    population: pd.DataFrame, config: SmallAreaConfig) -> SmallAreaResult:
    """All levels of one wave: direct estimates from the design, then the models (for the stage).

    `covariates` is the long warehouse table (level, area_code, covariate, value); `population` the
    areas (level, area_code, parent_code, population)."""
    from threadpoolctl import threadpool_limits

    # thousands of tiny (p x p) BLAS products: threads only add overhead (10-20x on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return _small_area_wave(design, catalogue, wave, municipality, covariates, population, config)


def _small_area_wave(design: Any, catalogue: Any, wave: str, municipality: str, covariates: pd.DataFrame,
                     population: pd.DataFrame, config: SmallAreaConfig) -> SmallAreaResult:
    results = []
    city = {}
    for indicator in catalogue.indicators:
        variable = f"ind__{indicator.id}"
        if variable in design.data and design.data[variable].notna().any():
            city[indicator.id] = float(design.mean(variable)["estimate"].iloc[0])
    parent = None
    for level in sorted(config.levels, key=list(LEVELS).index):  # districts first: they feed the buurten
        _, column = LEVELS[level]
        if column not in design.data or design.data[column].notna().sum() == 0:
            continue
        wide = covariates[covariates["level"] == level].pivot(index="area_code", columns="covariate", values="value")
        areas = population[population["level"] == level][["area_code", "parent_code", "population"]].merge(
            wide.reset_index(), on="area_code", how="left")
        if areas.empty:
            continue
        direct = direct_estimates(design, catalogue, column)
        result = estimate_small_areas(direct, areas, catalogue, wave, level, config, catalogue.minimum_respondents,
                                      city, parent if level == "buurt" else None)
        if level == "district":
            parent = result.estimates[["area_code", "indicator_id", "eblup", "mse"]]
        results.append(result)
    if not results:
        return SmallAreaResult(pd.DataFrame(columns=ESTIMATE_COLUMNS), pd.DataFrame(columns=MODEL_COLUMNS))
    return SmallAreaResult(
        estimates=pd.concat([r.estimates for r in results], ignore_index=True),
        models=pd.concat([r.models for r in results], ignore_index=True),
        fits={k: v for r in results for k, v in r.fits.items()}, log=[line for r in results for line in r.log])


# ----------------------------------------------------------------------------- reference data
def buurt_boundaries_path(district_boundaries: Path | None) -> Path | None:
    """The buurt boundaries beside the district boundaries: ``wijken_<...>.geojson`` ->
    ``buurten_<...>.geojson`` in the same folder (None when there is no such file)."""
    if district_boundaries is None:
        return None
    path = Path(district_boundaries)
    candidate = path.with_name(path.name.replace("wijken", "buurten", 1))
    return candidate if candidate != path and candidate.is_file() else None


def small_area_reference(kwb: pd.DataFrame, municipality: str, year: int, config: SmallAreaConfig,
                         district_boundaries: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The buurten of the municipality (buurt_code, district_code, municipality, buurt_name,
    population, year) and the register covariates of every district and buurt (long).
    Without a CBS file (a plain population table and no paths.register_figures) there are no buurten and
    no covariates: the small-area stage then has no model and publishes direct figures only."""
    if kwb is None:
        return (pd.DataFrame(columns=["buurt_code", "district_code", "municipality", "buurt_name", "population", "year"]),
                pd.DataFrame(columns=["level", "area_code", "covariate", "value"]))
    buurt_areas = area_frame(kwb, municipality, "buurt", config.candidates) \
        if ((kwb["region_type"] == "Buurt") & kwb["region_code"].str.startswith("BU" + municipality[2:])).any() \
        else None
    names: dict[str, str] = {}
    boundaries = buurt_boundaries_path(district_boundaries)
    if boundaries is not None:
        from socialquality.report.maps import load_districts

        names = {b.code: b.name for b in load_districts(boundaries)}
    covariates = [covariates_long(area_frame(kwb, municipality, "district", config.candidates), "district",
                                  config.candidates)]
    if buurt_areas is None:
        buurten = pd.DataFrame(columns=["buurt_code", "district_code", "municipality", "buurt_name", "population",
                                        "year"])
    else:
        buurten = pd.DataFrame({
            "buurt_code": buurt_areas["area_code"], "district_code": buurt_areas["parent_code"],
            "municipality": municipality, "buurt_name": [names.get(c, c) for c in buurt_areas["area_code"]],
            "population": buurt_areas["population"].round().astype(int), "year": year})
        covariates.append(covariates_long(buurt_areas, "buurt", config.candidates))
    return buurten, pd.concat(covariates, ignore_index=True)
