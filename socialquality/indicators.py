"""District indicators: estimates with intervals per district and wave, changes between waves,
and the composite index per condition of social quality (docs/methods.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from socialquality.catalogue import Catalogue, Indicator
from socialquality.codebook import Codebook
from socialquality.survey import SurveyDesign

INDICATOR_COLUMNS = ["wave", "district_code", "indicator_id", "estimate", "se", "ci_low", "ci_high", "n", "n_eff",
                     "deff", "suppressed", "suppression_reason"]


def indicator_variable(scored: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """The respondent-level variable whose weighted mean is the indicator.

    share: 1 when the source is in `values`, 0 when it is another valid answer, NA when missing;
    mean: the source itself. Respondents outside the target group are NA, which makes the
    estimate a domain estimate with the variance over the whole design (as R's svyby/na.rm).
    """
    source = pd.to_numeric(scored[indicator.source], errors="coerce") if indicator.source in scored else \
        pd.Series(np.nan, index=scored.index)
    if indicator.statistic == "share":
        values = source.isin(indicator.values).astype(float)
        values[source.isna()] = np.nan
    else:
        values = source.astype(float)
    in_group = pd.Series(True, index=scored.index)
    if indicator.age_min is not None or indicator.age_max is not None:
        in_group &= in_age_group(scored, indicator.age_min, indicator.age_max)
    if indicator.sex is not None:
        in_group &= scored["sex"] == indicator.sex
    return values.where(in_group.fillna(False).astype(bool))


def in_age_group(scored: pd.DataFrame, age_min: float | None, age_max: float | None) -> pd.Series:
    """Membership of a target group by age: from the age in years where known, else from the age band
    (a band wholly inside the group counts, wholly outside does not). A respondent whose band lies
    partly inside, or whose age is unknown, is left out of the domain (catalogue check: a target group
    that the codebook's bands cannot form is an error, docs/codebook.md)."""
    from socialquality.agebands import parse_band

    age = pd.to_numeric(scored["age"], errors="coerce") if "age" in scored else pd.Series(np.nan, index=scored.index)
    by_years = pd.Series(True, index=scored.index)
    if age_min is not None:
        by_years &= age >= age_min
    if age_max is not None:
        by_years &= age <= age_max
    if "age_group" not in scored:
        return by_years & age.notna()
    # parse each distinct band label once (not once per respondent)
    codes, labels = pd.factorize(scored["age_group"], use_na_sentinel=True)
    parsed = [parse_band(label) for label in labels]
    inside = np.array([b is not None and b.within(age_min, age_max) for b in parsed] + [False],
                      dtype=bool)  # the last slot: missing band (code -1)
    by_band = pd.Series(inside[codes], index=scored.index)
    return by_years.where(age.notna(), by_band).astype(bool)


def add_indicator_variables(scored: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    variables = {f"ind__{i.id}": indicator_variable(scored, i) for i in catalogue.indicators}
    return pd.concat([scored, pd.DataFrame(variables, index=scored.index)], axis=1)


def estimate_indicators(design: SurveyDesign, catalogue: Catalogue, wave: str, municipality: str,
                        minimum_respondents: int | None = None) -> pd.DataFrame:
    """Per district and for the city: estimate, SE, 95% CI, n, n_eff, deff, suppression.

    `design` must hold the `ind__<id>` columns (add_indicator_variables) and a `district_code`.
    """
    minimum = minimum_respondents if minimum_respondents is not None else catalogue.minimum_respondents
    pieces = []
    for indicator in catalogue.indicators:
        variable = f"ind__{indicator.id}"
        if design.data[variable].notna().sum() == 0:
            continue  # not asked in this wave (e.g. an item introduced later)
        by_district = design.mean(variable, by="district_code")
        city = design.mean(variable)
        city.insert(0, "district_code", municipality)
        both = pd.concat([by_district, city], ignore_index=True)
        both.insert(0, "indicator_id", indicator.id)
        pieces.append(both)
    if not pieces:
        return pd.DataFrame(columns=INDICATOR_COLUMNS)
    result = pd.concat(pieces, ignore_index=True)
    result.insert(0, "wave", wave)
    small = result["n"] < minimum
    result["suppressed"] = small
    result["suppression_reason"] = np.where(small, "minder dan " + str(minimum) + " respondenten", None)
    # suppressed figures keep no number (intervals are Wald intervals, as R's confint: not clipped)
    for column in ("estimate", "se", "ci_low", "ci_high"):
        result.loc[small, column] = np.nan
    return result[INDICATOR_COLUMNS]


def indicator_covariances(design: SurveyDesign, catalogue: Catalogue, wave: str, municipality: str) -> pd.DataFrame:
    """Sampling covariances between the index indicators of one condition, per district and city.

    The indicators of a district come from the same respondents, so their errors are correlated;
    the composite index needs these covariances for an honest interval.
    """
    pieces = []
    by_condition: dict[str, list[Indicator]] = {}
    for indicator in catalogue.indicators:
        if indicator.in_index and design.data[f"ind__{indicator.id}"].notna().any():
            by_condition.setdefault(indicator.condition, []).append(indicator)
    for members in by_condition.values():
        if len(members) < 2:
            continue
        variables = [f"ind__{m.id}" for m in members]
        by_district = design.mean_covariances(variables, by="district_code")
        city = design.mean_covariances(variables)
        city.insert(0, "district_code", municipality)
        both = pd.concat([by_district, city], ignore_index=True)
        both["indicator_a"] = both.pop("variable_a").str.removeprefix("ind__")
        both["indicator_b"] = both.pop("variable_b").str.removeprefix("ind__")
        pieces.append(both)
    columns = ["wave", "district_code", "indicator_a", "indicator_b", "cov"]
    if not pieces:
        return pd.DataFrame(columns=columns)
    result = pd.concat(pieces, ignore_index=True)
    result["wave"] = wave
    return result[columns]


def _bh_adjust(p_values: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), NaN kept."""
    p = p_values.dropna()
    if p.empty:
        return p_values
    order = np.argsort(p.to_numpy())
    ranked = p.to_numpy()[order] * len(p) / (np.arange(len(p)) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    result = pd.Series(np.nan, index=p_values.index)
    result.loc[p.index[order]] = adjusted
    return result


def indicator_items(indicator: Indicator, codebook: Codebook) -> list[str]:
    """The questionnaire items behind an indicator (for method-break checks)."""
    if indicator.source in codebook.items:
        return [indicator.source]
    for spec in codebook.scales:
        if indicator.source.startswith(spec.id + "_"):
            return spec.item_ids()
    return []


def compare_waves(indicators: pd.DataFrame, catalogue: Catalogue, codebook: Codebook, waves: list[str],
                  alpha: float = 0.05) -> pd.DataFrame:
    """Change of every district indicator since the previous and since the base wave.

    The two waves are independent samples: se = sqrt(se1^2 + se2^2), z-test. Across all districts
    of one indicator, wave and comparison the p-values are adjusted (Benjamini-Hochberg), so that
    among the changes called significant at most 5% are expected to be false. A method break
    between the waves that touches the indicator's items makes the verdict `not_comparable`.
    """
    rows = []
    table = indicators[~indicators["suppressed"].astype(bool)]
    keyed = table.set_index(["indicator_id", "district_code", "wave"])
    base = catalogue.base_wave if catalogue.base_wave in waves else waves[0]
    for position, wave in enumerate(waves):
        comparisons = []
        if position > 0:
            comparisons.append(("previous", waves[position - 1]))
        if waves.index(base) < position:
            comparisons.append(("base", base))
        for compared_to, reference in comparisons:
            for indicator in catalogue.indicators:
                items = indicator_items(indicator, codebook)
                broken = bool(codebook.breaks_between(reference, wave, items)) if items else False
                try:
                    now = keyed.loc[(indicator.id, slice(None), wave)]
                    then = keyed.loc[(indicator.id, slice(None), reference)]
                except KeyError:
                    continue
                now = now.reset_index().set_index("district_code")
                then = then.reset_index().set_index("district_code")
                common = now.index.intersection(then.index)
                change = now.loc[common, "estimate"] - then.loc[common, "estimate"]
                se = np.sqrt(now.loc[common, "se"] ** 2 + then.loc[common, "se"] ** 2)
                z = change / se.replace(0, np.nan)
                p = pd.Series(2 * stats.norm.sf(np.abs(z)), index=common)
                p[se == 0] = np.where(change[se == 0] == 0, 1.0, 0.0)
                part = pd.DataFrame({
                    "district_code": common, "indicator_id": indicator.id, "wave": wave,
                    "compared_to": compared_to, "reference_wave": reference, "change": change.values,
                    "se": se.values, "ci_low": (change - 1.959964 * se).values,
                    "ci_high": (change + 1.959964 * se).values, "p_value": p.values, "method_break": broken,
                })
                part["p_adjusted"] = _bh_adjust(part["p_value"]).values
                sign = 1 if indicator.higher_is_better else -1
                significant = part["p_adjusted"] < alpha
                part["verdict"] = np.where(
                    broken, "not_comparable",
                    np.where(~significant, "no_significant_change",
                             np.where(sign * part["change"] > 0, "improved", "worsened")))
                rows.append(part)
    columns = ["district_code", "indicator_id", "wave", "compared_to", "reference_wave", "change", "se", "ci_low",
               "ci_high", "p_value", "p_adjusted", "verdict", "method_break"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def composite_index(indicators: pd.DataFrame, catalogue: Catalogue, municipality: str,
                    waves: list[str], covariances: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index per condition, district and wave: 100 = the city in the base wave (Rotterdam style).

    Each indicator k is standardised as I_k = 100 + 10 * s_k * (x_k - c_k) / sd_k, with c_k the city
    value in the base wave, sd_k the spread between districts in the base wave and s_k = +1 when
    higher is better, -1 otherwise. The index is the weighted mean of the available I_k (at least
    half of the condition's indicators must be available). Its SE follows by the delta method,
    Var = sum_j sum_k c_j c_k Cov(x_j, x_k) with c_k = w_k / sum(w) * 10 s_k / sd_k, using the
    sampling covariances between a district's indicators (`indicator_covariances`) when given;
    without them the errors are taken as independent. The decomposition gives each indicator's
    contribution to the change since the previous wave.
    """
    base = catalogue.base_wave if catalogue.base_wave in waves else waves[0]
    usable = indicators[~indicators["suppressed"].astype(bool) & indicators["wave"].isin(waves)]
    in_index = [i for i in catalogue.indicators if i.in_index]
    scaled_parts = []
    for indicator in in_index:
        rows = usable[usable["indicator_id"] == indicator.id]
        base_rows = rows[rows["wave"] == base]
        city = base_rows.loc[base_rows["district_code"] == municipality, "estimate"]
        spread = base_rows.loc[base_rows["district_code"] != municipality, "estimate"].std()
        if city.empty or not np.isfinite(spread) or spread == 0:
            continue
        sign = 1.0 if indicator.higher_is_better else -1.0
        part = rows[["wave", "district_code", "estimate", "se"]].copy()
        part["indicator_id"] = indicator.id
        part["condition"] = indicator.condition
        part["weight"] = indicator.index_weight
        part["scaled"] = 100 + 10 * sign * (part["estimate"] - float(city.iloc[0])) / spread
        part["scaled_se"] = 10 * part["se"] / spread
        part["per_unit"] = 10 * sign / spread  # index points per unit of the indicator
        scaled_parts.append(part)
    if not scaled_parts:
        empty = pd.DataFrame(columns=["wave", "district_code", "condition", "index", "ci_low", "ci_high", "n_indicators"])
        return empty, pd.DataFrame(columns=["wave", "district_code", "condition", "indicator_id", "contribution"])
    scaled = pd.concat(scaled_parts, ignore_index=True)
    needed = {c: max(1, int(np.ceil(sum(1 for i in in_index if i.condition == c) / 2))) for c in catalogue.conditions}

    keys = ["wave", "district_code", "condition"]
    scaled["w_norm"] = scaled["weight"] / scaled.groupby(keys)["weight"].transform("sum")
    scaled["_value"] = scaled["w_norm"] * scaled["scaled"]
    scaled["_variance"] = (scaled["w_norm"] * scaled["scaled_se"]) ** 2
    scaled["_coef"] = scaled["w_norm"] * scaled["per_unit"]  # d index / d indicator
    scaled["_unknown"] = scaled["_variance"].isna().astype(int)  # an indicator without SE: no interval
    index = scaled.groupby(keys).agg(index=("_value", "sum"), variance=("_variance", "sum"),
                                     unknown=("_unknown", "sum"), n_indicators=("indicator_id", "size")).reset_index()
    index.loc[index.pop("unknown") > 0, "variance"] = np.nan
    if covariances is not None and not covariances.empty:
        # each unordered pair of indicators of one district and wave once (the last given value)
        cov = covariances[["wave", "district_code", "indicator_a", "indicator_b", "cov"]].copy()
        swap = cov["indicator_a"] > cov["indicator_b"]
        cov.loc[swap, ["indicator_a", "indicator_b"]] = cov.loc[swap, ["indicator_b", "indicator_a"]].to_numpy()
        cov = cov.drop_duplicates(["wave", "district_code", "indicator_a", "indicator_b"], keep="last")
        cov = cov[np.isfinite(pd.to_numeric(cov["cov"], errors="coerce"))]
        side = scaled[["wave", "district_code", "condition", "indicator_id", "_coef"]]
        pairs = (cov.merge(side.rename(columns={"indicator_id": "indicator_a", "_coef": "coef_a"}),
                           on=["wave", "district_code", "indicator_a"])
                 .merge(side.rename(columns={"indicator_id": "indicator_b", "_coef": "coef_b"}),
                        on=["wave", "district_code", "indicator_b", "condition"]))
        pairs["_term"] = 2 * pairs["coef_a"] * pairs["coef_b"] * pairs["cov"].astype(float)
        extra = pairs.groupby(keys)["_term"].sum()
        index = index.merge(extra.rename("_extra").reset_index(), on=keys, how="left")
        index["variance"] = index["variance"] + index.pop("_extra").fillna(0.0)
    index["se"] = np.sqrt(np.maximum(index["variance"].to_numpy(dtype=float), 0.0))
    index = index[index["n_indicators"] >= index["condition"].map(needed)]
    index["ci_low"] = index["index"] - 1.959964 * index["se"]
    index["ci_high"] = index["index"] + 1.959964 * index["se"]
    index["n_indicators"] = index["n_indicators"].astype(int)

    # decomposition: contribution of each indicator to the change since the previous wave
    scaled = scaled.sort_values("wave")
    order = {w: i for i, w in enumerate(waves)}
    scaled["position"] = scaled["wave"].map(order)
    previous = scaled.copy()
    previous["position"] = previous["position"] + 1
    joined = scaled.merge(previous[["district_code", "indicator_id", "position", "scaled"]],
                          on=["district_code", "indicator_id", "position"], suffixes=("", "_prev"))
    joined["contribution"] = joined["w_norm"] * (joined["scaled"] - joined["scaled_prev"])
    decomposition = joined[["wave", "district_code", "condition", "indicator_id", "contribution"]]
    return index[["wave", "district_code", "condition", "index", "ci_low", "ci_high", "n_indicators"]], decomposition
