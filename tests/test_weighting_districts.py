"""weight_wave vectorised over districts (issue 12): missing background keeps its base-weighted
share, thin cells are collapsed per district, and trimming bounds are widened only in the
districts that need them (the others keep the asked bounds and their weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialquality.weighting import bound_candidates, weight_wave

GROUPS = ["15-24", "25-44", "45-64", "65+"]


def wave(n_districts: int = 6, per_district: int = 300, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Respondents (older people answer more often) and CBS-style margins per district."""
    rng = np.random.default_rng(seed)
    rows, margins = [], []
    for d in range(n_districts):
        code = f"WK{d:04d}"
        share = rng.dirichlet(np.full(4, 8.0))
        pop = float(rng.integers(3000, 9000))
        ages = np.floor(share * pop)
        ages[0] += pop - ages.sum()
        men = round(pop * rng.uniform(0.46, 0.52))
        margins += [(code, "sex", "m", men), (code, "sex", "v", pop - men)]
        margins += [(code, "age_group", g, a) for g, a in zip(GROUPS, ages)]
        p = share * np.array([0.6, 0.8, 1.1, 1.5])
        age = rng.choice(4, size=per_district, p=p / p.sum())
        sex = np.where(rng.random(per_district) < 0.55, "v", "m")
        for i in range(per_district):
            rows.append((code, sex[i], GROUPS[age[i]], f"{code}-{i}", i, rng.normal(5 + age[i], 1)))
    frame = pd.DataFrame(rows, columns=["district_code", "sex", "age_group", "respondent_pid", "source_row", "y"])
    frame["age"] = np.nan
    return frame, pd.DataFrame(margins, columns=["district_code", "variable", "level", "count"])


def test_missing_sex_and_age_keep_their_base_weighted_share_in_every_district():
    frame, margins = wave()
    rng = np.random.default_rng(2)
    frame.loc[rng.random(len(frame)) < 0.05, "sex"] = None
    frame.loc[rng.random(len(frame)) < 0.05, "age_group"] = None
    result = weight_wave(frame, margins)
    w = result.weights.assign(sex=frame["sex"].to_numpy(), age_group=frame["age_group"].to_numpy())
    population = margins[margins["variable"] == "age_group"].groupby("district_code")["count"].sum()
    assert w.groupby("district_code")["weight"].sum().to_numpy() == pytest.approx(population.to_numpy(), rel=1e-6)
    no_age = w[w["age_group"].isna()]
    assert no_age.groupby("district_code")["weight"].sum().to_numpy() == pytest.approx(
        no_age.groupby("district_code")["base_weight"].sum().to_numpy(), rel=1e-6)
    no_sex = w[w["sex"].isna()]
    assert no_sex.groupby("district_code")["weight"].sum().to_numpy() == pytest.approx(
        no_sex.groupby("district_code")["base_weight"].sum().to_numpy(), rel=1e-6)
    # the known levels share the rest in the population's proportions
    men = w[w["sex"] == "m"].groupby("district_code")["weight"].sum()
    women = w[w["sex"] == "v"].groupby("district_code")["weight"].sum()
    sex_pop = margins[margins["variable"] == "sex"].pivot(index="district_code", columns="level", values="count")
    assert (men / (men + women)).to_numpy() == pytest.approx((sex_pop["m"] / sex_pop.sum(axis=1)).to_numpy(), rel=1e-6)
    assert result.diagnostics["converged"].all()


def test_each_district_is_weighted_as_if_it_were_alone():
    """The labelling over all districts at once gives each district the weights it gets on its own."""
    frame, margins = wave()
    frame.loc[(frame["district_code"] == "WK0002") & (frame["age_group"] == "15-24"), "age_group"] = "25-44"
    frame = frame[~((frame["district_code"] == "WK0002") & (frame.index % 7 == 0))]
    together = weight_wave(frame, margins).weights.set_index("respondent_pid")["weight"]
    for code in ["WK0000", "WK0002", "WK0005"]:
        alone = weight_wave(frame[frame["district_code"] == code], margins[margins["district_code"] == code])
        got = together.loc[alone.weights["respondent_pid"]].to_numpy()
        assert got == pytest.approx(alone.weights["weight"].to_numpy(), rel=1e-5)


def test_thin_cells_are_collapsed_and_a_thin_sex_is_not_weighted_in_that_district_only():
    frame, margins = wave()
    thin = frame["district_code"] == "WK0001"
    young = thin & frame["age_group"].isin(["15-24"])
    frame = frame[~young | (frame.index % 50 == 0)]  # 15-24 nearly empty in WK0001
    frame.loc[(frame["district_code"] == "WK0003"), "sex"] = "v"
    frame.loc[frame[frame["district_code"] == "WK0003"].index[:2], "sex"] = "m"
    diagnostics = weight_wave(frame, margins, min_cell=5).diagnostics.set_index("district_code")
    assert diagnostics.loc["WK0001", "collapsed"].startswith("leeftijdsgroepen samengevoegd: 15-24+25-44")
    assert "cellen samengevoegd" in diagnostics.loc["WK0001", "warning"]
    assert diagnostics.loc["WK0003", "collapsed"] == "geslacht niet gewogen (te weinig mannen of vrouwen)"
    others = diagnostics.drop(index=["WK0001", "WK0003"])
    assert others["collapsed"].isna().all()


@pytest.mark.parametrize("first_sweeps", [1, 25])
def test_bounds_are_widened_only_in_the_district_that_needs_them(first_sweeps, monkeypatch):
    """Also when the first raking of the whole wave stops after one sweep: a district that is only
    slow goes on raking within the asked bounds and is not widened."""
    import socialquality.weighting as weighting

    monkeypatch.setattr(weighting, "FIRST_SWEEPS", first_sweeps)
    frame, margins = wave(seed=8)
    # WK0004: hardly any young respondents, so their g-weights must be far above the bound 2.5
    skew = (frame["district_code"] == "WK0004") & (frame["age_group"] == "15-24")
    frame = frame[~skew | (frame.index % 4 == 0)]
    bounds = (0.4, 2.5)
    result = weight_wave(frame, margins, trim_bounds=bounds)
    diagnostics = result.diagnostics.set_index("district_code")
    widened = diagnostics["collapsed"].fillna("").str.contains("afkapgrenzen verruimd")
    assert widened.to_dict() == {f"WK{d:04d}": d == 4 for d in range(6)}
    steps = bound_candidates(bounds)
    table = result.bounds.set_index("district_code")
    low, high = table.loc["WK0004", ["bound_low", "bound_high"]]
    assert (low, high) in [s for s in steps[1:] if s is not None] or np.isinf(high)
    label = "onbegrensd" if np.isinf(high) else f"[{low:g}, {high:g}]"
    assert diagnostics.loc["WK0004", "collapsed"].endswith(f"afkapgrenzen verruimd tot {label}")
    assert "afkapgrenzen verruimd" in diagnostics.loc["WK0004", "warning"]
    assert table.drop(index="WK0004")[["bound_low", "bound_high"]].to_numpy().tolist() == [list(bounds)] * 5
    assert diagnostics["converged"].all()
    # the other districts keep their g-weights within the asked bounds and weigh as on their own
    w = result.weights
    g = w["weight"] / w["base_weight"]
    assert g[w["district_code"] != "WK0004"].between(bounds[0] - 1e-9, bounds[1] + 1e-9).all()
    assert g[w["district_code"] == "WK0004"].max() > bounds[1]
    alone = weight_wave(frame[frame["district_code"] == "WK0001"], margins[margins["district_code"] == "WK0001"],
                        trim_bounds=bounds)
    assert w.loc[w["district_code"] == "WK0001", "weight"].to_numpy() == pytest.approx(
        alone.weights["weight"].to_numpy(), rel=1e-5)
    # the margins of the widened district are met
    target = margins[(margins["district_code"] == "WK0004") & (margins["variable"] == "age_group")]
    in_four = (w["district_code"] == "WK0004").to_numpy()
    got = pd.Series(w["weight"].to_numpy()[in_four]).groupby(frame["age_group"].to_numpy()[in_four]).sum()
    assert got.reindex(target["level"]).to_numpy() == pytest.approx(target["count"].to_numpy(), rel=1e-5)
