"""Weighting and district indicators with honest uncertainty, checked on the demo city.

Pure functions only (no Dagster, no warehouse). The demo generator draws respondents with a
response propensity that rises steeply with age (0.12 / 0.20 / 0.30 / 0.45) and slightly with
sex, so unweighted estimates of age-related indicators are biased; it also writes the true
district population values (truth/district_truth.csv: a large simulated draw per district and
sex x age cell without unit non-response, weighted by the CBS cell counts). For each wave the
test runs the statistical core of the pipeline, as the `wave_weights` and `wave_indicators`
stages do:

    normalise_file -> drop what the quality stage quarantines -> score_scales
    -> add_indicator_variables -> weight_wave (raking per district to CBS sex and age margins)
    -> estimate_indicators (Taylor linearisation with calibration residuals)

and the unweighted equivalent (equal weights, strata = district), then checks that

1. weighting removes the age bias: for the age-related indicators the weighted estimates are
   closer to the truth than the unweighted ones (district mean error, district mean absolute
   error, city error);
2. the 95% intervals cover the true district value in about 95% of district-waves;
3. the raking invariant holds on real demo data: weighted counts per district equal the CBS
   15+ margins (sex and age group) wherever cells were not collapsed.

The numbers are printed (`pytest -s`) and quoted in docs/methods.md, section 7.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from socialquality.catalogue import load_catalogue
from socialquality.codebook import AGE_GROUPS, load_codebook
from socialquality.demo import generate_demo_city
from socialquality.demo.generator import CBS_PATH, CODEBOOK_PATH, INDICATORS_PATH
from socialquality.demo.replay import clean_scored_wave
from socialquality.indicators import estimate_indicators
from socialquality.population import district_population, population_margins, read_kwb
from socialquality.privacy import pseudonymisation_key
from socialquality.scales import scale_columns
from socialquality.survey import SurveyDesign
from socialquality.weighting import SEX_LEVELS, collapse_age_groups, weight_wave

SEED = 2026
RESPONDENTS_PER_WAVE = 10_000  # about 60-250 respondents per district, as in a real district monitor
WAVES = ["2017", "2019", "2021", "2023"]  # sav, csv-nl, xlsx, csv; 2022 (the defects wave) left out
MUNICIPALITY = "GM0363"
MINIMUM_RESPONDENTS = 30
MIN_CELL = 5  # weight_wave's default, as in config/demo.yaml

# Indicators whose person traits depend on age in the generator (loneliness, digital skills,
# health, well-being, cohesion, volunteering): non-response by age biases their unweighted
# estimates. eenzaam_65plus and digitaal_basis_65plus are left out: within the 65+ domain there
# is a single age group, so weighting hardly changes them.
AGE_RELATED = ["eenzaam", "ernstig_eenzaam", "digitaal_basis", "goede_gezondheid", "bloeiend",
               "thuis_bij_buren", "vrijwilligerswerk", "cohesie"]
# Of these, the ones whose unweighted bias (3-12 points) is large against the sampling error of
# a district (SE about 4-5 points with 60-120 respondents): there weighting must also lower the
# mean absolute error per district. For eenzaam, thuis_bij_buren and vrijwilligerswerk the bias
# (about 2 points) is about half a district SE; weighting removes it, but the extra variance of
# the weights (Kish deff about 1.2) costs as much, so their district MAE is about equal.
LARGE_AGE_BIAS = ["digitaal_basis", "goede_gezondheid", "bloeiend", "cohesie"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Weighted and unweighted indicators of every wave, joined to the truth; raking details."""
    started = time.perf_counter()
    out = tmp_path_factory.mktemp("demo_statistics")
    manifest = generate_demo_city(out, seed=SEED, respondents_per_wave=RESPONDENTS_PER_WAVE, waves=WAVES)
    generated = time.perf_counter() - started

    codebook = load_codebook(CODEBOOK_PATH)
    derived = {c for spec in codebook.scales for c in scale_columns(spec)}
    catalogue = load_catalogue(INDICATORS_PATH, codebook, derived)
    districts = district_population(read_kwb(CBS_PATH), MUNICIPALITY)
    margins = population_margins(districts, 2019)
    key = pseudonymisation_key({}, demo=True)

    estimates, weighted_rows = [], {}
    for entry in manifest.survey_files:
        wave = entry["wave"]
        # without what the quality stage would quarantine (the demo has such rows only in 2022)
        scored = clean_scored_wave(entry["path"], codebook, catalogue, wave, set(districts["district_code"]), key)

        result = weight_wave(scored, margins, min_cell=MIN_CELL)
        weighted = estimate_indicators(result.design, catalogue, wave, MUNICIPALITY,
                                       minimum_respondents=MINIMUM_RESPONDENTS)
        equal = SurveyDesign(scored.assign(_equal_weight=1.0), weights="_equal_weight", strata="district_code")
        unweighted = estimate_indicators(equal, catalogue, wave, MUNICIPALITY, minimum_respondents=MINIMUM_RESPONDENTS)
        base_only = SurveyDesign(scored.assign(_base_weight=result.weights["base_weight"].to_numpy()),
                                 weights="_base_weight", strata="district_code")
        base = estimate_indicators(base_only, catalogue, wave, MUNICIPALITY, minimum_respondents=MINIMUM_RESPONDENTS)
        estimates += [weighted.assign(kind="weighted"), unweighted.assign(kind="unweighted"),
                      base.assign(kind="base_weights")]
        weighted_rows[wave] = (scored[["district_code", "sex", "age_group"]].assign(
            base_weight=result.weights["base_weight"].to_numpy(), weight=result.weights["weight"].to_numpy()),
            result)

    truth = pd.read_csv(manifest.truth_dir / "district_truth.csv", dtype={"wave": str, "district_code": str})
    table = pd.concat(estimates, ignore_index=True).merge(
        truth[["wave", "district_code", "indicator_id", "true_value"]],
        on=["wave", "district_code", "indicator_id"], how="left", validate="many_to_one")
    table["error"] = table["estimate"] - table["true_value"]
    table["covered"] = (table["ci_low"] <= table["true_value"]) & (table["true_value"] <= table["ci_high"])
    return {"table": table, "weighted_rows": weighted_rows, "margins": margins, "generated_s": generated,
            "total_s": time.perf_counter() - started}


def _usable(table: pd.DataFrame, kind: str, city: bool = False) -> pd.DataFrame:
    part = table[(table["kind"] == kind) & ~table["suppressed"].astype(bool)]
    return part[(part["district_code"] == MUNICIPALITY) == city]


def test_every_estimate_has_a_truth(results):
    table = results["table"]
    published = table[~table["suppressed"].astype(bool)]
    assert published["true_value"].notna().all()
    assert set(published["wave"]) == set(WAVES)
    # the small district (< 30 respondents) is suppressed, never shown
    assert table["suppressed"].any()
    print(f"\n[demo statistics] {RESPONDENTS_PER_WAVE} respondents x {len(WAVES)} waves {WAVES}, seed {SEED}: "
          f"generated in {results['generated_s']:.0f} s, everything in {results['total_s']:.0f} s")


def test_weighting_removes_the_age_bias(results):
    table = results["table"]
    weighted = _usable(table, "weighted").set_index(["wave", "district_code", "indicator_id"])
    unweighted = _usable(table, "unweighted").set_index(["wave", "district_code", "indicator_id"])
    common = weighted.index.intersection(unweighted.index)
    w, u = weighted.loc[common], unweighted.loc[common]
    rows = []
    for indicator in AGE_RELATED:
        wi = w.xs(indicator, level="indicator_id")["error"]
        ui = u.xs(indicator, level="indicator_id")["error"]
        rows.append({"indicator": indicator, "district_bias_w": wi.mean(), "district_bias_u": ui.mean(),
                     "mae_w": wi.abs().mean(), "mae_u": ui.abs().mean(), "district_waves": len(wi)})
    summary = pd.DataFrame(rows).set_index("indicator")

    city = {kind: _usable(table, kind, city=True).set_index(["indicator_id", "wave"])["error"]
            for kind in ("weighted", "unweighted", "base_weights")}
    for kind, errors in city.items():
        summary[f"city_abs_error_{kind}"] = errors.abs().groupby(level="indicator_id").mean()
    print("\n[demo statistics] estimate - truth over districts and waves (shares as proportions, cohesie 0-10):")
    print(summary.round(4).to_string())

    for indicator, row in summary.iterrows():
        # the unweighted estimate is visibly biased, and weighting removes most of that bias
        assert abs(row["district_bias_u"]) > 0.0075, indicator
        assert abs(row["district_bias_w"]) < 0.5 * abs(row["district_bias_u"]), indicator
        # at city level (thousands of respondents) the bias dominates: weighted error much smaller;
        # base weights alone (district allocation) do not remove it, raking to sex and age does
        assert row["city_abs_error_weighted"] < 0.5 * row["city_abs_error_unweighted"], indicator
        assert row["city_abs_error_weighted"] < 0.5 * row["city_abs_error_base_weights"], indicator
    for indicator in LARGE_AGE_BIAS:
        assert summary.loc[indicator, "mae_w"] < summary.loc[indicator, "mae_u"], indicator
    shares = summary.drop(index="cohesie")
    pooled_w = float((shares["mae_w"] * shares["district_waves"]).sum() / shares["district_waves"].sum())
    pooled_u = float((shares["mae_u"] * shares["district_waves"]).sum() / shares["district_waves"].sum())
    print(f"[demo statistics] district MAE over the age-related shares: weighted {pooled_w:.4f}, "
          f"unweighted {pooled_u:.4f}")
    assert pooled_w < pooled_u


def test_intervals_cover_the_true_district_values(results):
    table = results["table"]
    districts = _usable(table, "weighted")
    coverage = float(districts["covered"].mean())
    by_indicator = districts.groupby("indicator_id")["covered"].mean()
    by_wave = districts.groupby("wave")["covered"].mean()
    unweighted = float(_usable(table, "unweighted")["covered"].mean())
    city = _usable(table, "weighted", city=True)
    z = (districts["error"] / districts["se"]).replace([np.inf, -np.inf], np.nan).dropna()
    print(f"\n[demo statistics] 95% interval coverage of the true district value: {coverage:.4f} over "
          f"{len(districts)} district x wave x indicator estimates (unweighted intervals: {unweighted:.4f}); "
          f"sd of (estimate - truth)/SE {z.std():.3f}; city level {city['covered'].mean():.3f} of {len(city)}")
    print("  by wave: " + ", ".join(f"{w} {c:.3f}" for w, c in by_wave.items()))
    print("  by indicator: " + ", ".join(f"{i} {c:.3f}" for i, c in by_indicator.items()))
    assert len(districts) > 3000
    assert 0.90 <= coverage <= 0.985
    # no indicator is badly off (small shares such as ernstig_eenzaam come out lowest: Wald intervals)
    assert by_indicator.min() >= 0.85
    assert city["covered"].mean() >= 0.85


def test_raking_meets_the_cbs_margins(results):
    margins = results["margins"]
    pop = margins.pivot_table(index="district_code", columns=["variable", "level"], values="count", aggfunc="sum")
    checked = {"age": 0, "age_merged": 0, "sex": 0, "sex_scaled": 0, "sex_dropped": 0}
    for wave, (rows, result) in results["weighted_rows"].items():
        assert result.design.calibration.converged, wave
        notes = result.diagnostics.set_index("district_code")["collapsed"]
        warnings = result.diagnostics.set_index("district_code")["warning"]
        for district, part in rows.groupby("district_code"):
            total = float(pop.loc[district, "age_group"].sum())
            assert part["weight"].sum() == pytest.approx(total, rel=1e-5)
            # age groups: each (possibly merged) group meets its CBS count
            mapping = collapse_age_groups(part["age_group"].value_counts().to_dict(), MIN_CELL)
            merged = {label for label in mapping.values() if "+" in label.replace("65+", "")}
            assert bool(merged) == ("samengevoegd" in (notes.get(district) or "")), (wave, district)
            # the warning names what happened (merged cells only when cells were merged)
            assert bool(merged) == ("cellen samengevoegd" in (warnings.get(district) or "")), (wave, district)
            for label in set(mapping.values()):
                groups = [g for g in AGE_GROUPS if mapping[g] == label]
                target = float(sum(pop.loc[district, ("age_group", g)] for g in groups))
                achieved = float(part.loc[part["age_group"].isin(groups), "weight"].sum())
                assert achieved == pytest.approx(target, rel=1e-5, abs=1e-6), (wave, district, label)
                checked["age_merged" if label in merged else "age"] += 1
            # sex: the CBS counts (scaled to 15+), unless a sex was too thin to rake on
            if "geslacht niet gewogen" in (notes.get(district) or ""):
                checked["sex_dropped"] += 1
                continue
            unknown = ~part["sex"].isin(SEX_LEVELS)
            fixed = float(part.loc[unknown, "base_weight"].sum())
            # respondents without a sex keep their base-weighted share; the other levels shrink with it
            assert part.loc[unknown, "weight"].sum() == pytest.approx(fixed, rel=1e-5, abs=1e-6)
            sex_pop = {s: float(pop.loc[district, ("sex", s)]) for s in SEX_LEVELS}
            scale = (total - fixed) / sum(sex_pop.values())
            for s in SEX_LEVELS:
                achieved = float(part.loc[part["sex"] == s, "weight"].sum())
                assert achieved == pytest.approx(sex_pop[s] * scale, rel=1e-5), (wave, district, s)
                if fixed == 0:
                    assert achieved == pytest.approx(sex_pop[s], rel=1e-5)
            checked["sex_scaled" if fixed else "sex"] += 1
    print(f"\n[demo statistics] raking invariant checked: {checked}")
    for wave, (rows, result) in results["weighted_rows"].items():
        diagnostics = result.diagnostics
        print(f"  {wave}: {result.design.calibration}; median Kish deff {diagnostics['deff'].median():.2f} "
              f"(max {diagnostics['deff'].max():.2f}); districts with merged age groups "
              f"{int(diagnostics['collapsed'].fillna('').str.contains('leeftijdsgroepen').sum())} of {len(diagnostics)}")
    # the check is not vacuous: most age groups are raked on their own (15-24, with the lowest response,
    # is the one that gets merged in small districts), and in well over a hundred district-waves the
    # CBS sex counts are met exactly (elsewhere a respondent without a sex scales them down)
    assert checked["age"] > 5 * checked["age_merged"]
    assert checked["sex"] >= 100
