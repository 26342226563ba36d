"""The effect verdicts on the demo city agree with its truth, and every verdict reads as Dutch.

The demo generator injects known effects (truth/effects.json: per site, wave and indicator) for a
staggered programme (computer lessons for 65+, 8 districts in 3 start years) and a closure (one
community centre, Landlust). This test builds the demo city as `make demo` does (seed 2026,
9,000 respondents a wave, all waves), runs the statistical core of the wave stages (as
tests/test_demo_statistics.py does: normalise -> drop what the quality stage quarantines ->
score -> rake -> design-based estimates with suppression below 30 respondents) and then the very
core of the effects stage, `stages.intervention_effects`, which calls
`effects.analyse_intervention`. It checks, for every intervention and indicator:

* one headline verdict (district "") and supporting rows per site;
* the headline interval covers the true average effect over the sites it used (the estimand);
* a significant verdict has the truth's direction; an effect larger than twice the minimum
  detectable effect is found;
* every verdict text (headline and supporting) is a Dutch sentence with a number, an interval
  that never shows 0 as the bound of a significant interval, the minimum detectable effect, and
  no Python residue (`[{`, `{'`, `nan`, `None`).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from socialquality.catalogue import load_catalogue, load_register
from socialquality.codebook import load_codebook
from socialquality.demo import generate_demo_city
from socialquality.demo.generator import CBS_PATH, CODEBOOK_PATH, INDICATORS_PATH, INTERVENTIONS_PATH
from socialquality.demo.replay import clean_scored_wave
from socialquality.indicators import estimate_indicators
from socialquality.population import district_population, population_margins, read_kwb
from socialquality.privacy import pseudonymisation_key
from socialquality.scales import scale_columns
from socialquality.stages import codebook_first_treated_wave, codebook_wave_times, intervention_effects
from socialquality.weighting import weight_wave

MUNICIPALITY = "GM0363"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_effects")
    manifest = generate_demo_city(out, seed=2026, respondents_per_wave=9000)
    codebook = load_codebook(CODEBOOK_PATH)
    derived = {c for spec in codebook.scales for c in scale_columns(spec)}
    catalogue = load_catalogue(INDICATORS_PATH, codebook, derived)
    register = load_register(INTERVENTIONS_PATH, catalogue)
    districts = district_population(read_kwb(CBS_PATH), MUNICIPALITY)
    margins = population_margins(districts, 2019)
    key = pseudonymisation_key({}, demo=True)
    frames = []
    for entry in manifest.survey_files:
        wave = entry["wave"]
        scored = clean_scored_wave(entry["path"], codebook, catalogue, wave, set(districts["district_code"]), key)
        result = weight_wave(scored, margins, min_cell=5)
        frames.append(estimate_indicators(result.design, catalogue, wave, MUNICIPALITY,
                                          minimum_respondents=catalogue.minimum_respondents))
    indicators = pd.concat(frames, ignore_index=True)
    names = dict(zip(districts["district_code"], districts["district_name"]))
    effects, log = intervention_effects(indicators, register, catalogue, codebook, MUNICIPALITY, names)
    truth = pd.DataFrame(json.loads((manifest.truth_dir / "effects.json").read_text())["effects"])
    return {"effects": effects, "log": log, "truth": truth, "indicators": indicators, "codebook": codebook,
            "register": register, "catalogue": catalogue}


def _true_att(demo: dict, row: pd.Series) -> float:
    """The estimand: mean over the sites used of the true effect over their published post waves."""
    details = json.loads(row["details"])
    left = {s["district_code"] for s in details["sites_left_out"]}
    codebook, catalogue = demo["codebook"], demo["catalogue"]
    times = codebook_wave_times(codebook)
    scale = 100.0 if catalogue.indicator(row["indicator_id"]).unit == "percent" else 1.0
    ind = demo["indicators"]
    published = ind[(ind["indicator_id"] == row["indicator_id"]) & ~ind["suppressed"].astype(bool)]
    intervention = next(i for i in demo["register"] if i.id == row["intervention_id"])
    truth = demo["truth"]
    per_site = []
    for site in intervention.sites:
        if site.district in left:
            continue
        first = codebook_first_treated_wave(codebook, site.start)
        post = [w for w in published.loc[published["district_code"] == site.district, "wave"]
                if times[w] >= times[first]]
        true = truth[(truth["intervention_id"] == row["intervention_id"]) & (truth["district_code"] == site.district)
                     & (truth["indicator_id"] == row["indicator_id"]) & truth["wave"].isin(post)]
        assert len(true) == len(post), (site.district, post)
        per_site.append(true["effect"].mean() * scale)
    return float(np.mean(per_site))


def test_one_headline_verdict_per_intervention_and_indicator(demo):
    effects = demo["effects"]
    heads = effects[effects["role"] == "headline"]
    expected = {(i.id, ind) for i in demo["register"] for ind in i.indicators}
    assert set(zip(heads["intervention_id"], heads["indicator_id"])) == expected
    assert not heads.duplicated(["intervention_id", "indicator_id"]).any()
    assert (heads["district_code"] == "").all()
    assert set(heads["method"]) == {"did", "staggered_did"}  # the closure: common start; the programme: staggered
    support = effects[effects["role"] == "supporting"]
    assert set(support["method"]) == {"did", "its"} and (support["district_code"] != "").all()


def test_headline_verdicts_agree_with_the_truth(demo):
    effects = demo["effects"]
    heads = effects[effects["role"] == "headline"]
    found = {}
    for _, row in heads.iterrows():
        true = _true_att(demo, row)
        key = (row["intervention_id"], row["indicator_id"])
        assert row["estimable"], key
        assert row["ci_low"] <= true <= row["ci_high"], (key, true, row["ci_low"], row["ci_high"])
        if row["verdict_code"] != "no_significant_change":
            assert np.sign(row["estimate"]) == np.sign(true), key
        if abs(true) > 2 * row["mde"]:
            assert row["verdict_code"] != "no_significant_change", (key, true, row["mde"])
        found[key] = row["verdict_code"]
    # the injected effects that are large against the design's precision are found, in the right direction
    assert found[("computerles65", "digitaal_basis_65plus")] == "improved"
    assert found[("computerles65", "eenzaam_65plus")] == "improved"
    assert found[("sluiting_buurthuis_landlust", "voorzieningen_voldoende")] == "worsened"
    # the closure's tiny effect on loneliness (about 2 points against a detectable 15) is not claimed
    assert found[("sluiting_buurthuis_landlust", "eenzaam")] == "no_significant_change"


BAD = ("[{", "{'", "nan", "None", "inf", "NaN")


def test_every_demo_verdict_is_a_clean_dutch_sentence(demo):
    effects = demo["effects"]
    assert len(effects) > 10
    prefix = "Ondersteunende analyse van alleen deze wijk (niet het oordeel): "
    for _, row in effects.iterrows():
        text = row["verdict_nl"]
        assert isinstance(text, str) and text.endswith("."), text
        for bad in BAD:
            assert bad not in text, (bad, text)
        if row["role"] == "supporting":
            assert text.startswith(prefix) and "Het oordeel rust op" not in text, text
            text = text[len(prefix)].upper() + text[len(prefix) + 1:]
        else:
            assert not text.startswith(prefix)
        if not row["estimable"]:
            assert text.startswith(("Geen uitspraak mogelijk", "Te weinig metingen", "Geen vergelijking")), text
            continue
        unit = r"(procentpunt|punt)"
        if row["verdict_code"] == "no_significant_change":
            assert re.match(r"Er is geen effect van de (start van computerlessen voor 65-plussers|sluiting van buurthuis "
                            r"Landlust) op .+ aangetoond: de geschatte verandering is −?\d+,\d+ " + unit, text), text
            assert re.search(r"was een effect kleiner dan \d+,\d+ " + unit + r" niet aan te tonen; dat er geen effect "
                             r"was, volgt hier dus niet uit\.", text), text
        else:
            m = re.match(r"In de (wijk|\d wijken) nam .+ na de (start van computerlessen voor 65-plussers|sluiting "
                         r"van buurthuis Landlust) (toe|af) met (\d+,\d+) " + unit + r" (vergeleken met \d+ andere wijken|"
                         r"ten opzichte van de trend van vóór de start) \(95%-interval: (−?\d+,\d+) tot (−?\d+,\d+)\)\.",
                         text)
            assert m, text
            low, high = (float(x.replace(",", ".").replace("−", "-")) for x in m.group(7, 8))
            assert low != 0 and high != 0 and low <= high, text  # a significant interval never shows 0 as a bound
            assert re.search(r"waren effecten vanaf ongeveer \d+,\d+ " + unit + " aan te tonen\\.", text), text
    heads = effects[effects["role"] == "headline"].set_index(["intervention_id", "indicator_id"])
    closure = heads.loc[("sluiting_buurthuis_landlust", "voorzieningen_voldoende"), "verdict_nl"]
    assert "Het oordeel rust op één wijk" in closure
    assert "ongeveer 1" in closure and "respondenten per wijk per meting" in closure
    programme = heads.loc[("computerles65", "eenzaam_65plus"), "verdict_nl"]
    assert "In de 8 wijken nam eenzaam, 65-plussers" in programme or "Niet meegeteld" in programme
    assert "Let op: de wijken begonnen in kleine groepen (2020: 3 wijken, 2021: 3 wijken en 2022: 2 wijken)" \
        in programme
