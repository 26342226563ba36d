"""Verdicts, reasons, weighting warnings and check metadata in Dutch and English (issue 10).

The verdict sentences are tested as sentences: the same estimate read in both languages, with the
locale's decimal separator and a real minus sign."""

from __future__ import annotations

import pandas as pd
import pytest

from socialquality.check_metadata import description, readable
from socialquality.effects import analyse_intervention, interrupted_time_series, verdict, verdict_nl
from socialquality.i18n import use_language
from socialquality.weighting_check import wave_weighting_warnings, weighting_sentence
from tests.test_effects import _its_series
from tests.test_effects_simulation import _panel


def test_the_same_verdict_in_dutch_and_english():
    d, t0 = _its_series(level=-4.2, slope=0.0, noise=0.3, seed=1)
    r = interrupted_time_series(d, t0)
    lo, hi = r.conf_int().loc["level_change"]
    nl = verdict_nl(r, "het aandeel eenzame ouderen", higher_is_better=False)
    with use_language("en"):
        en = verdict(r, "the share of lonely older people", higher_is_better=False)
    effect = abs(r.level_change)
    def comma(x: float) -> str:
        return f"{x:.1f}".replace(".", ",")

    assert nl.startswith(f"In de wijk nam het aandeel eenzame ouderen na de start van het programma af met "
                         f"{comma(effect)} procentpunt ten opzichte van de trend van vóór de start "
                         f"(95%-interval: {comma(-hi)} tot {comma(-lo)}). Dit is waarschijnlijk geen toeval.")
    assert en.startswith(f"In the district, the share of lonely older people fell by {effect:.1f} percentage points "
                         f"after the start of the programme relative to the trend before the start "
                         f"(95% interval: {-hi:.1f} to {-lo:.1f}). This is unlikely to be chance.")
    assert "With 1 district, effects of about" in en and en.endswith("percentage points or more could be detected.")


def test_reasons_and_warnings_in_english_use_plurals_and_names():
    d, t0 = _its_series(n_pre=2, n_post=4)
    with use_language("en"):
        r = interrupted_time_series(d, t0)
        assert verdict_nl(r, "x") == "Too few waves for a verdict: there are 2 waves before the start; at least 3 needed."
    starts = {"w0": 2020.0, "w1": 2020.0, "w2": 2020.0}
    panel = _panel(treated=starts)
    panel = panel[~((panel["unit"] == "w1") & (panel["time"] < 2020))]
    with use_language("en"):
        a = analyse_intervention(panel, starts)
        text = verdict(a, "the score", unit="points", names={"w1": "Noord"})
    assert "Not counted: 1 of the 3 districts (Noord: no figure before the start)." in text
    assert "wijk" not in text and "meting" not in text


def test_a_negative_number_has_a_real_minus_sign():
    d, t0 = _its_series(level=0.0, slope=0.0, noise=1.0, seed=2)
    r = interrupted_time_series(d, t0)
    lo, _hi = r.conf_int().loc["level_change"]
    assert lo < 0
    text = verdict_nl(r, "het aandeel")
    assert f"\u2212{abs(lo):.1f}".replace(".", ",") in text and " -" not in text


DIAGNOSTICS = pd.DataFrame({
    "wave": ["2023"] * 4 + ["2021"], "district_code": ["A", "B", "C", "D", "B"], "n": [100, 100, 40, 20, 90],
    "deff": [1.3, 2.6, 1.5, 1.0, 1.2], "n_eff": [77.0, 38.0, 26.7, 20.0, 75.0],
    "converged": [True, True, True, True, True], "warning": ["afkapgrenzen verruimd", None, None, None, None]})


def test_the_weighting_warnings_of_a_wave_as_data_and_as_a_sentence():
    names = {"B": "Noord", "C": "Oost"}
    warnings = wave_weighting_warnings(DIAGNOSTICS, "2023", 30, names)
    assert list(warnings["district_code"]) == ["B", "C"]  # worst design effect first
    assert [tuple(r) for r in warnings["reasons"]] == [("high_deff",), ("low_n_eff",)]
    assert warnings["district_name"].tolist() == ["Noord", "Oost"]
    assert wave_weighting_warnings(DIAGNOSTICS, "2021", 30).empty
    assert weighting_sentence(warnings, 99, "2023") == (
        "In meting 2023 vergroot de weging de onzekerheid sterk in 2 van de 99 wijken: Noord (design-effect 2,60 "
        "boven 2,0) en Oost (effectieve n 26,7 onder het minimum 30).")
    with use_language("en"):
        warnings = wave_weighting_warnings(DIAGNOSTICS, "2023", 30, names)
        assert weighting_sentence(warnings, 99, "2023") == (
            "In wave 2023 the weighting makes the figures much less certain in 2 of the 99 districts: Noord (design "
            "effect 2.60 above 2.0) and Oost (effective n 26.7 below the minimum 30).")
    assert weighting_sentence(warnings.iloc[0:0], 99, "2023") == ""


@pytest.mark.parametrize("lang,key,yes,prefix", [("nl", "meting", "ja", "Meting 2023: "),
                                                 ("en", "wave", "yes", "Wave 2023: ")])
def test_check_metadata_is_labelled_with_the_wave_in_the_language(lang, key, yes, prefix):
    with use_language(lang):
        out = readable("2023", {"ok": True, "observed": {"districts": 99}})
        assert out[key] == "2023" and out["ok"] == yes and out["observed · districts"] == 99
        assert description("2023", "3 districts") == prefix + "3 districts"


def test_weight_spread_is_relative_to_the_district_mean():
    from socialquality.weighting_check import weight_distribution

    weights = pd.DataFrame({"wave": "2023", "district_code": ["A", "A", "B", "B"], "weight": [1.0, 3.0, 10.0, 10.0]})
    row = weight_distribution(weights).iloc[0]
    # A: 0.5 and 1.5 of its mean; B: 1.0 and 1.0 -- the level difference between districts does not count
    assert (row["respondents"], row["w_min"], row["w_max"], row["ratio"]) == (4, 0.5, 1.5, 3.0)


def test_the_event_in_an_english_verdict_uses_the_registers_english_name():
    from socialquality.stages import event_phrase

    assert event_phrase("Sluiting van buurthuis Landlust", "closure") == "de sluiting van buurthuis Landlust"
    with use_language("en"):
        assert (event_phrase("Sluiting van buurthuis Landlust", "closure", "Closure of the Landlust community centre")
                == "the closure of ‘the Landlust community centre’")
        assert (event_phrase("Computerlessen voor 65-plussers", "programme", "Computer classes for people aged 65 and over")
                == "the start of ‘computer classes for people aged 65 and over’")
        # no English name in the register: the Dutch name, quoted
        assert event_phrase("Computerlessen voor 65-plussers", "programme") == "the start of ‘computerlessen voor 65-plussers’"
