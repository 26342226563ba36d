"""The demo's fieldwork records (invitations per district, sex and age group) and a wave drawn
from a planned allocation of invitations — what the sampling planner needs and is checked with.

Fieldwork file (what an agency reports besides the answers; docs/methods.md, "Sampling planner"):
`<out_dir>/fieldwork/<survey>/<wave>/veldwerk_<wave>.csv`, ';'-separated UTF-8, columns
`wijkcode;geslacht;leeftijdsgroep;uitnodigingen;respons` (geslacht m/v, leeftijdsgroep as in the
codebook's age groups, respons = completed questionnaires with a known sex).

The demo generator draws its net sample directly (respondents per cell in proportion to
population x response propensity, see generator.py). The invitations that go with it are drawn
afterwards so that they are consistent with the same propensities: per cell
`uitnodigingen = max(respons, Poisson(expected respons / propensity))`, where the expected
respons is the district's net sample x the cell's share of population x propensity. A response
rate estimated from the file is then an unbiased estimate of the generator's propensity.

`simulate_planned_wave` draws a wave the other way round, as real fieldwork works: invitations
per district x age group (split over sex in proportion to the population, a stratified register
sample), each invitee responds with the generator's propensity, and the respondents answer from
the generator's model of that year without intervention effects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.codebook import AGE_GROUPS
from socialquality.demo import generator as g

COLUMNS = ["wijkcode", "geslacht", "leeftijdsgroep", "uitnodigingen", "respons"]
SEXES = ("m", "v")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    for column in frame.columns:
        if column.lower() == name:
            return frame[column]
    raise KeyError(name)


def _age_group(age: np.ndarray) -> np.ndarray:
    return np.select([age < 25, age < 45, age < 65], [0, 1, 2], 3)


def fieldwork_records(seed: int, wave: str, frame: pd.DataFrame, city: Any) -> pd.DataFrame:
    """Invitations and completes per district, sex and age group for a delivered wave frame."""
    rng = np.random.default_rng([seed, 60, int(wave)])
    codes = _column(frame, "wijkcode").astype(str).to_numpy()
    sex = pd.to_numeric(_column(frame, "geslacht"), errors="coerce").to_numpy()
    age = pd.to_numeric(_column(frame, "leeftijd"), errors="coerce").to_numpy()
    index = {c: i for i, c in enumerate(city.codes)}
    prop = g.SEX_PROPENSITY[:, None] * g.PROPENSITY[None, :]  # (2, 4)
    rows = []
    totals = pd.Series(codes).value_counts()
    for code, n_d in totals.items():
        d = index.get(code)
        if d is None:
            continue  # a defect row with an unknown district: not part of the fieldwork
        here = codes == code
        weights = city.cells[d] * prop
        expected = n_d * weights / weights.sum()
        for s in range(2):
            for a in range(4):
                observed = int(np.sum(here & (sex == s + 1) & (_age_group(age) == a) & (age >= 16)))
                invited = max(observed, int(rng.poisson(expected[s, a] / prop[s, a])))
                rows.append((code, SEXES[s], AGE_GROUPS[a], invited, observed))
    return pd.DataFrame(rows, columns=COLUMNS)


def write_fieldwork(out_dir: str | Path, survey: str, wave: str, records: pd.DataFrame) -> Path:
    path = Path(out_dir) / "fieldwork" / survey / wave / f"veldwerk_{wave}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    records.to_csv(path, sep=";", index=False, lineterminator="\n")
    return path


def write_demo_fieldwork(out_dir: str | Path, seed: int = 2026, respondents_per_wave: int = 12000,
                         waves: list[str] | None = None, *, root: str | Path | None = None) -> list[Path]:
    """Fieldwork files for a demo city generated earlier (re-simulates the same deliveries)."""
    ctx = g._context(seed, respondents_per_wave, None, root)
    paths = []
    for wave in waves or ctx.codebook.wave_ids:
        frame = g._simulate_sample(seed, wave, ctx.codebook, ctx.city, ctx.design, ctx.latents, ctx.sites)
        paths.append(write_fieldwork(out_dir, ctx.codebook.survey, wave, fieldwork_records(seed, wave, frame, ctx.city)))
    return paths


def true_response_rates() -> pd.DataFrame:
    """The generator's response propensities per sex and age group (the truth the planner estimates)."""
    return pd.DataFrame([{"sex": SEXES[s], "age_group": AGE_GROUPS[a],
                          "rate": float(g.SEX_PROPENSITY[s] * g.PROPENSITY[a])} for s in range(2) for a in range(4)])


class PlannedWaveSimulator:
    """Draws waves from a planned allocation with the demo's model (one city, many draws)."""

    def __init__(self, year: int, seed: int = 2026, *, root: str | Path | None = None):
        self.seed, self.year = seed, year
        ctx = g._context(seed, 9000, None, root)
        self.codebook, self.city = ctx.codebook, ctx.city
        years = [int(w) for w in ctx.codebook.wave_ids]
        if year not in years:
            years = years + [year]  # the latents of the existing waves stay the same (drawn in order)
        self.latents = g._district_latents(seed, ctx.city, years)[years.index(year)]
        self.index = {c: i for i, c in enumerate(ctx.city.codes)}

    def draw(self, invitations: pd.DataFrame, replicate: int) -> pd.DataFrame:
        """Respondents (normalised columns: respondent_pid, source_row, district_code, sex, age,
        age_group and the items in the current coding, missing answers NaN) for one replicate.

        invitations: district_code, age_group, invitations."""
        rng = np.random.default_rng([self.seed, 70, self.year, replicate])
        d_list, cell_list = [], []
        for row in invitations.itertuples(index=False):
            d = self.index[row.district_code]
            a = AGE_GROUPS.index(row.age_group)
            n_inv = int(row.invitations)
            if n_inv <= 0:
                continue
            pop = self.city.cells[d, :, a]
            by_sex = rng.multinomial(n_inv, pop / pop.sum()) if pop.sum() > 0 else np.array([n_inv, 0])
            for s in range(2):
                responded = int(rng.binomial(by_sex[s], g.SEX_PROPENSITY[s] * g.PROPENSITY[a]))
                d_list.append(np.full(responded, d))
                cell_list.append(np.full(responded, s * 4 + a))
        d_idx = np.concatenate(d_list).astype(int)
        cell = np.concatenate(cell_list).astype(int)
        female, ag = cell // 4, cell % 4
        people = {"d": d_idx, "female": female.astype(float), "ag": ag, "age": g._draw_ages(rng, ag)}
        noise = g._draw_noise(rng, len(d_idx))
        answers = g._answers(people, self.latents[d_idx], noise, self.year, None)
        missing = g._item_nonresponse(self.seed, rng, ag)
        asked = {i.id for i in self.codebook.items_asked(self.codebook.wave_ids[-1])}
        frame = pd.DataFrame({item: np.where(missing[:, j], np.nan, answers[item].astype(float))
                              for j, item in enumerate(g.MODEL_ITEMS) if item in asked})
        frame.insert(0, "respondent_pid", [f"S{replicate}-{i:06d}" for i in range(len(d_idx))])
        frame.insert(1, "source_row", np.arange(1, len(d_idx) + 1))
        frame.insert(2, "district_code", self.city.codes[d_idx].astype(str))
        frame.insert(3, "sex", np.where(female == 1, "v", "m"))
        frame.insert(4, "age", people["age"].astype(float))
        frame.insert(5, "age_group", np.array(AGE_GROUPS, dtype=object)[ag])
        return frame


def planned_wave_estimates(simulator: PlannedWaveSimulator, invitations: pd.DataFrame, replicate: int,
                           catalogue: Any, margins: pd.DataFrame, *, trim_bounds: tuple[float, float] = (0.3, 3.0),
                           min_cell: int = 5) -> pd.DataFrame:
    """The pipeline's own estimates (scales, indicators, raking, survey SEs) for one drawn wave."""
    from socialquality.indicators import add_indicator_variables, estimate_indicators
    from socialquality.scales import score_scales
    from socialquality.weighting import weight_wave

    frame = simulator.draw(invitations, replicate)
    scored = add_indicator_variables(score_scales(frame, simulator.codebook), catalogue)
    sampled = margins[margins["district_code"].isin(set(frame["district_code"]))]
    design = weight_wave(scored, sampled, trim_bounds=trim_bounds, min_cell=min_cell).design
    return estimate_indicators(design, catalogue, str(simulator.year), "CITY", minimum_respondents=0)
