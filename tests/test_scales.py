"""Hand-worked cases for every derived scale (socialquality.scales) and the score_scales dispatch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialquality.codebook import ScaleSpec, load_codebook
from socialquality.errors import CodebookError
from socialquality.scales import (
    SCALE_COLUMNS,
    cantril,
    cbs_social_cohesion,
    dejong_gierveld_6,
    dejong_gierveld_11,
    digital_skills,
    pearlin_mastery,
    scale_columns,
    score_scales,
)

ROOT = Path(__file__).resolve().parents[1]
WIJKMONITOR = ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml"
NA = np.nan
YES, MOL, NO = 1.0, 2.0, 3.0


def rows(*answers: str) -> list[list[float]]:
    """'3.1' -> [3, NaN, 1]: one string per respondent, one character per item ('.' = missing)."""
    return [[NA if ch == "." else float(ch) for ch in row] for row in answers]


def columns(*answers: str) -> list[pd.Series]:
    table = np.array(rows(*answers), dtype=float)
    return [pd.Series(table[:, j]) for j in range(table.shape[1])]


def assert_float_list(series: pd.Series, expected: list[float]) -> None:
    np.testing.assert_array_equal(series.to_numpy(dtype=float), np.array(expected, dtype=float))


def assert_labels(series: pd.Series, expected: list[str | None]) -> None:
    assert [None if pd.isna(v) else v for v in series] == expected


# ----------------------------------------------------------------------------- De Jong Gierveld 6
def djg6(*answers: str) -> pd.DataFrame:
    # item order: emptiness, miss_people, rejected (negative) | rely_on, trust, close (positive)
    return dejong_gierveld_6(*columns(*answers))


def test_djg6_item_dichotomisation() -> None:
    result = djg6(
        "333111",  # no on negatives, yes on positives: nobody lonely
        "111333",  # yes on negatives, no on positives: all six lonely
        "222222",  # "more or less" counts as lonely on both kinds of item
        "333333",  # only the positive items score
        "111111",  # only the negative items score
    )
    assert_float_list(result["total"], [0, 6, 6, 3, 3])
    assert_float_list(result["emotional"], [0, 3, 3, 0, 3])
    assert_float_list(result["social"], [0, 3, 3, 3, 0])


def test_djg6_category_boundaries() -> None:
    result = djg6("133111", "113111", "111311", "111331", "111333")
    # "133111": 1 negative yes -> 1;  "113111": 2;  "111311": 3 + 1 = 4;  "111331": 5;  "111333": 6
    assert_float_list(result["total"], [1, 2, 4, 5, 6])
    assert_labels(result["category"], ["not_lonely", "moderate", "moderate", "severe", "severe"])
    assert_float_list(result["lonely"], [0, 1, 1, 1, 1])
    assert_float_list(result["severe"], [0, 0, 0, 1, 1])


def test_djg6_no_missing_item() -> None:
    result = djg6("213321")
    # emptiness mol=1, miss yes=1, rejected no=0 | rely no=1, trust mol=1, close yes=0
    assert_float_list(result["total"], [4])
    assert_float_list(result["emotional"], [2])
    assert_float_list(result["social"], [2])
    assert_labels(result["category"], ["moderate"])


def test_djg6_one_missing_item_counts_the_five_valid_items() -> None:
    result = djg6(".13321", "2133.1", ".11333")
    # 1 missing: total = lonely answers among the 5 valid items (manual: missing only if > 1)
    assert_float_list(result["total"], [3, 3, 5])
    # the subscale holding the missing item is missing, the other is computed
    assert_float_list(result["emotional"], [NA, 2, NA])
    assert_float_list(result["social"], [2, NA, 3])
    assert_labels(result["category"], ["moderate", "moderate", "severe"])
    assert_float_list(result["lonely"], [1, 1, 1])
    assert_float_list(result["severe"], [0, 0, 1])


def test_djg6_two_missing_items_give_missing_total() -> None:
    result = djg6("..3111", "1.13.3", "......")
    assert result["total"].isna().all()
    assert result["category"].isna().all()
    assert result["lonely"].isna().all() and result["severe"].isna().all()
    assert_float_list(result["emotional"], [NA, NA, NA])
    assert_float_list(result["social"], [0, NA, NA])


def test_djg6_invalid_code_counts_as_missing_and_codes_are_configurable() -> None:
    result = djg6("813111", "913111")
    assert_float_list(result["total"], [1, 1])
    assert result["emotional"].isna().all()
    # a scale coded the manual's way round (1 = no, 2 = more or less, 3 = yes)
    reversed_coding = dejong_gierveld_6(*columns("333111"), codes={"yes": 3, "more_or_less": 2, "no": 1})
    assert_float_list(reversed_coding["total"], [6])


def test_djg6_keeps_the_index_and_accepts_absent_items() -> None:
    index = pd.Index([10, 20], name="row")
    e = pd.Series([YES, NO], index=index)
    result = dejong_gierveld_6(e, e, e, None, pd.Series([NO, YES], index=index), pd.Series([NO, YES], index=index))
    assert list(result.index) == [10, 20]
    assert_float_list(result["total"], [5, 0])  # rely_on not asked: one missing item


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([YES, MOL, NO]), min_size=6, max_size=6), min_size=1, max_size=30))
def test_djg6_total_is_emotional_plus_social_when_complete(answers: list[list[float]]) -> None:
    table = np.array(answers)
    result = dejong_gierveld_6(*[pd.Series(table[:, j]) for j in range(6)])
    np.testing.assert_array_equal(result["total"], result["emotional"] + result["social"])
    assert result["total"].between(0, 6).all()
    assert result["emotional"].between(0, 3).all() and result["social"].between(0, 3).all()
    expected = pd.cut(result["total"], [-1, 1, 4, 6], labels=["not_lonely", "moderate", "severe"]).astype(str)
    assert list(result["category"]) == list(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([YES, MOL, NO, NA]), min_size=6, max_size=6), min_size=1, max_size=30))
def test_djg6_missing_rule_property(answers: list[list[float]]) -> None:
    table = np.array(answers)
    result = dejong_gierveld_6(*[pd.Series(table[:, j]) for j in range(6)])
    n_missing = np.isnan(table).sum(axis=1)
    assert (result["total"].isna().to_numpy() == (n_missing > 1)).all()
    valid = result["total"].dropna()
    assert valid.between(0, 6).all()
    assert (result["emotional"].isna().to_numpy() == np.isnan(table[:, :3]).any(axis=1)).all()


# ----------------------------------------------------------------------------- De Jong Gierveld 11
def djg11(negative: str, positive: str) -> pd.DataFrame:
    return dejong_gierveld_11(columns(negative), columns(positive))


def test_djg11_scoring_and_cut_offs() -> None:
    cases = [
        ("333333", "11111", 0, "not_lonely"),
        ("133333", "11113", 2, "not_lonely"),
        ("123333", "11113", 3, "moderate"),
        ("111133", "22221", 8, "moderate"),
        ("111113", "22221", 9, "severe"),
        ("222222", "33333", 11, "severe"),
    ]
    for negative, positive, total, category in cases:
        result = djg11(negative, positive)
        assert result["total"].iloc[0] == total, (negative, positive)
        assert result["category"].iloc[0] == category
        assert result["lonely"].iloc[0] == float(total >= 3)
        assert result["severe"].iloc[0] == float(total >= 9)
        assert result["emotional"].iloc[0] + result["social"].iloc[0] == total


def test_djg11_missing_rules() -> None:
    two_missing = djg11("1.3333", "1111.")
    assert two_missing["total"].iloc[0] == 1  # at most 2 missing: count over valid items
    assert two_missing["emotional"].iloc[0] == 1 and two_missing["social"].iloc[0] == 0
    three_missing = djg11("1..333", "1111.")
    assert pd.isna(three_missing["total"].iloc[0]) and pd.isna(three_missing["category"].iloc[0])
    assert pd.isna(three_missing["emotional"].iloc[0])  # 2 of its 6 items missing
    assert three_missing["social"].iloc[0] == 0  # 1 of its 5 items missing


def test_djg11_needs_six_and_five_items() -> None:
    with pytest.raises(ValueError, match="6 negative and 5 positive"):
        dejong_gierveld_11(columns("33333"), columns("11111"))


# ----------------------------------------------------------------------------- CBS social cohesion
REVERSE = [True, False, False, False, False]  # "people here hardly know each other" comes first


def test_cohesion_reversed_item_and_scoring() -> None:
    # kennen (reversed) 5 -> 4; prettig 1 -> 4; gezellig 2 -> 3; thuis 3 -> 2; contact 5 -> 0
    result = cbs_social_cohesion(columns("51235"), REVERSE)
    assert result["score"].iloc[0] == pytest.approx(6.5)  # 13 / 5 * 2.5 = sum / 2
    extremes = cbs_social_cohesion(columns("51111", "15555", "33333"), REVERSE)
    assert_float_list(extremes["score"], [10, 0, 5])


def test_cohesion_min_valid() -> None:
    items = columns("5123.", "512..", "51235")
    default = cbs_social_cohesion(items, REVERSE)  # default: all but one
    assert default["score"].iloc[0] == pytest.approx(13 / 4 * 2.5)
    assert pd.isna(default["score"].iloc[1])
    lenient = cbs_social_cohesion(items, REVERSE, min_valid=3)
    assert lenient["score"].iloc[1] == pytest.approx(11 / 3 * 2.5)
    strict = cbs_social_cohesion(items, REVERSE, min_valid=5)
    assert strict["score"].isna().tolist() == [True, True, False]


def test_cohesion_item_not_asked_and_out_of_range() -> None:
    kennen, prettig, gezellig, thuis = columns("5123")
    result = cbs_social_cohesion([kennen, prettig, gezellig, thuis, None], REVERSE, min_valid=4)
    assert result["score"].iloc[0] == pytest.approx(8.125)
    out_of_range = cbs_social_cohesion(columns("51237"), REVERSE, min_valid=4)  # 7 is no answer code
    assert out_of_range["score"].iloc[0] == pytest.approx(8.125)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, NA]), min_size=5, max_size=5), min_size=1, max_size=30))
def test_cohesion_bounds_property(answers: list[list[float]]) -> None:
    table = np.array(answers)
    result = cbs_social_cohesion([pd.Series(table[:, j]) for j in range(5)], REVERSE, min_valid=4)
    n_valid = (~np.isnan(table)).sum(axis=1)
    assert (result["score"].notna().to_numpy() == (n_valid >= 4)).all()
    assert result["score"].dropna().between(0, 10).all()


# ----------------------------------------------------------------------------- Cantril
def test_cantril_categories_and_boundaries() -> None:
    now = pd.Series([7, 6, 4, 5, 4, 7, 0, 10, NA, 7, 11])
    future = pd.Series([8, 8, 4, 4, 5, 7, 0, 10, 8, NA, 8])
    result = cantril(now, future)
    assert_labels(
        result["category"],
        ["thriving", "struggling", "suffering", "struggling", "struggling", "struggling",
         "suffering", "thriving", None, None, None],
    )
    assert_float_list(result["thriving"], [1, 0, 0, 0, 0, 0, 0, 1, NA, NA, NA])
    assert_float_list(result["suffering"], [0, 0, 1, 0, 0, 0, 1, 0, NA, NA, NA])
    assert_float_list(result["now"], [7, 6, 4, 5, 4, 7, 0, 10, NA, 7, NA])  # 11 is out of range
    assert_float_list(result["future"], [8, 8, 4, 4, 5, 7, 0, 10, 8, NA, 8])


# ----------------------------------------------------------------------------- Pearlin mastery
def mastery(negative: str, positive: str, **kwargs) -> pd.DataFrame:
    # codes 1 = helemaal mee eens ... 5 = helemaal mee oneens (eens5)
    return pearlin_mastery(columns(negative), columns(positive), **kwargs)


def test_pearlin_direction_and_range() -> None:
    assert mastery("11111", "55")["total"].iloc[0] == 7  # agrees with every "little control" item
    assert mastery("55555", "11")["total"].iloc[0] == 35  # full mastery
    assert mastery("33333", "33")["total"].iloc[0] == 21


def test_pearlin_low_boundary_19_20() -> None:
    result = pearlin_mastery(columns("33333", "33333"), columns("44", "34"))
    assert_float_list(result["total"], [19, 20])  # 15 + (2 + 2); 15 + (3 + 2)
    assert_float_list(result["low"], [1, 0])


def test_pearlin_missing_and_prorating() -> None:
    default = mastery("3333.", "44")
    assert pd.isna(default["total"].iloc[0]) and pd.isna(default["low"].iloc[0])  # default min_valid 7
    result = pearlin_mastery(columns("3333.", "3333.", "1112.", "333..",), columns("44", "34", "44", "44"), min_valid=6)
    # 16 * 7 / 6 = 18.67 -> 19 (low); 17 * 7 / 6 = 19.83 -> 20; 9 * 7 / 6 = 10.5 -> 11 (half up)
    assert_float_list(result["total"], [19, 20, 11, NA])
    assert_float_list(result["low"], [1, 0, 1, NA])


def test_pearlin_needs_seven_items() -> None:
    with pytest.raises(ValueError, match="7 items"):
        pearlin_mastery(columns("3333"), columns("33"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, NA]), min_size=7, max_size=7), min_size=1, max_size=30))
def test_pearlin_bounds_property(answers: list[list[float]]) -> None:
    table = np.array(answers)
    cols = [pd.Series(table[:, j]) for j in range(7)]
    result = pearlin_mastery(cols[:5], cols[5:], min_valid=5)
    totals = result["total"].dropna()
    assert totals.between(7, 35).all() and (totals == totals.round()).all()
    assert (result["low"].dropna() == (totals <= 19).astype(float)).all()


# ----------------------------------------------------------------------------- digital skills
def test_digital_skills_levels() -> None:
    result = digital_skills(*columns("1111", "1112", "2222", "1333", "2323", "3333", "111.", "9111"))
    assert_labels(result["level"], ["above_basic", "basic", "basic", "low", "low", "none", None, None])
    assert_float_list(result["basic_or_above"], [1, 1, 1, 0, 0, 0, NA, NA])
    assert_float_list(result["above_basic"], [1, 0, 0, 0, 0, 0, NA, NA])


# ----------------------------------------------------------------------------- score_scales
@pytest.fixture(scope="module")
def codebook():
    return load_codebook(WIJKMONITOR)


def small_wijkmonitor_frame(codebook) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"respondent_pid": [f"p_{i}" for i in range(8)], "wave": "2019"})
    for item in codebook.items.values():
        if item.type == "text":
            frame[item.id] = "geen opmerking"
        else:
            low, high = item.scale.bounds
            frame[item.id] = rng.integers(int(low), int(high) + 1, len(frame)).astype(float)
    return frame


def test_score_scales_adds_every_contract_column(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook)
    scored = score_scales(frame, codebook)
    expected = [
        "eenzaamheid_total", "eenzaamheid_emotional", "eenzaamheid_social", "eenzaamheid_category",
        "eenzaamheid_lonely", "eenzaamheid_severe", "cohesie_score", "ladder_now", "ladder_future",
        "ladder_category", "ladder_thriving", "ladder_suffering", "regie_total", "regie_low",
        "digitaal_level", "digitaal_basic_or_above", "digitaal_above_basic",
    ]
    assert [c for c in scored.columns if c not in frame.columns] == expected
    assert expected == [c for spec in codebook.scales for c in scale_columns(spec)]
    assert list(scored.columns[: len(frame.columns)]) == list(frame.columns)
    assert scored[expected].notna().all().all()  # complete answers: nothing missing
    assert "eenzaamheid_total" not in frame.columns  # the input is not modified
    # re-scoring replaces, it does not duplicate
    assert list(score_scales(scored, codebook).columns) == list(scored.columns)


def test_score_scales_matches_the_scale_functions(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook)
    scored = score_scales(frame, codebook)
    direct = dejong_gierveld_6(
        frame.dj_leegte, frame.dj_mensen_om_mij_heen, frame.dj_in_de_steek,
        frame.dj_terugvallen, frame.dj_vertrouwen, frame.dj_verbonden,
    )
    pd.testing.assert_series_equal(scored["eenzaamheid_total"], direct["total"], check_names=False)
    reverse = [codebook.items[i].reverse for i in codebook.scales[1].items]
    assert reverse == [True, False, False, False, False]


def test_score_scales_item_not_asked_in_wave(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook).drop(columns=["coh_contact", "dj_leegte"])
    frame[["coh_kennen", "coh_prettig", "coh_gezellig", "coh_thuis"]] = [5.0, 1.0, 2.0, 3.0]
    scored = score_scales(frame, codebook)
    assert (scored["cohesie_score"] == 8.125).all()  # 4 valid of 5, min_valid 4
    assert scored["eenzaamheid_total"].notna().all()  # one DJG item absent: still scored
    assert scored["eenzaamheid_emotional"].isna().all()


def test_score_scales_empty_frame(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook).iloc[:0]
    scored = score_scales(frame, codebook)
    assert len(scored) == 0
    assert set(c for spec in codebook.scales for c in scale_columns(spec)) <= set(scored.columns)


def test_score_scales_reports_a_bad_spec(codebook) -> None:
    bad = ScaleSpec(id="eenzaam2", method="dejong_gierveld_6", items={"emptiness": "dj_leegte"})
    broken = dataclasses.replace(codebook, scales=(bad,))
    with pytest.raises(CodebookError, match="scales/eenzaam2"):
        score_scales(small_wijkmonitor_frame(codebook), broken)
    bad_codes = ScaleSpec(id="digi", method="digital_skills", items=dict(codebook.scales[4].items), codes={"expert": 1})
    with pytest.raises(CodebookError, match="unknown code role 'expert'"):
        score_scales(small_wijkmonitor_frame(codebook), dataclasses.replace(codebook, scales=(bad_codes,)))


def test_score_scales_alternative_item_layouts(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook)
    by_role = score_scales(frame, codebook)["eenzaamheid_total"]
    as_lists = ScaleSpec(
        id="eenzaamheid",
        method="dejong_gierveld_6",
        items={"negative": ["dj_leegte", "dj_mensen_om_mij_heen", "dj_in_de_steek"],
               "positive": ["dj_terugvallen", "dj_vertrouwen", "dj_verbonden"]},
    )
    published_order = ScaleSpec(
        id="eenzaamheid",
        method="dejong_gierveld_6",
        items=["dj_leegte", "dj_terugvallen", "dj_vertrouwen", "dj_mensen_om_mij_heen", "dj_verbonden", "dj_in_de_steek"],
    )
    for spec in (as_lists, published_order):
        scored = score_scales(frame, dataclasses.replace(codebook, scales=(spec,)))
        pd.testing.assert_series_equal(scored["eenzaamheid_total"], by_role)


def test_contract_column_table_is_complete() -> None:
    assert set(SCALE_COLUMNS) == {
        "dejong_gierveld_6", "dejong_gierveld_11", "cbs_social_cohesion", "cantril", "pearlin_mastery", "digital_skills",
        "mean", "sum",
    }


def test_score_scales_is_fast_on_many_rows(codebook) -> None:
    frame = small_wijkmonitor_frame(codebook)
    big = frame.loc[np.repeat(frame.index.to_numpy(), 25_000)].reset_index(drop=True)  # 200,000 rows
    import time

    start = time.perf_counter()
    scored = score_scales(big, codebook)
    assert time.perf_counter() - start < 5
    assert len(scored) == len(big)
