"""Demo city generator: a synthetic but realistic resident survey for Amsterdam's 99 districts.

`generate_demo_city(out_dir, seed)` writes what a research department would receive and keep:

    out_dir/landing/wijkmonitor/<wave>/wijkmonitor_<wave>_levering.<ext>   survey deliveries
    out_dir/feedback/deelnemersfeedback/<year>/deelnemersfeedback_<year>.<ext>
    out_dir/truth/  (answer key for tests; the pipeline never reads it)
        manifest.json, effects.json, district_truth.csv, buurt_truth.csv, population_cells.csv

The model, in short (all choices are documented here and in truth/manifest.json):

* Population: the real CBS 2019 figures (table 84583NED) of the 99 Amsterdam districts, by sex and
  the age groups 15-24, 25-44, 45-64, 65+. CBS gives sex only for all ages, so the sex x age cells
  of the 15+ population are age-group counts x the district's male/female share (independence;
  the same assumption a pipeline raking on separate sex and age margins makes). The survey
  population is 16+: the 15-24 group is treated as 16-24. The population is kept fixed at the 2019
  figures for every wave (the demo has one CBS edition; districts are the 2019 districts).
* Districts with fewer than 500 residents aged 15+ get no sample; the smallest district above that
  line gets only a handful (< 30) of respondents so the minimum-respondents rule fires.
* District latent scores for the four conditions (socio-economic security, inclusion, cohesion,
  empowerment) are correlated, related to the CBS low-income share, with slow district trends and
  small wave shocks; city-wide there is a secular rise in digital skills, a COVID bump in loneliness
  (2020-2022) and a mode effect on `veilig` and `gehoord` from 2021 (the codebook's method break).
* Answers: each item is an ordered-logit draw from a person trait = district latent + individual
  effects + age/sex effects (older: lonelier, fewer digital skills, more cohesion and volunteering;
  younger: less cohesion). De Jong Gierveld items share one loneliness trait, Pearlin items one
  mastery trait, the Cantril ladders follow well-being, digital items follow age.
* Sampling and unit non-response: a net sample per district proportional to its 15+ population
  with a floor (60 at the default size; most districts get >= 60), respondents drawn from the
  sex x age cells in proportion to population x response propensity (by age 0.12 / 0.20 / 0.30 /
  0.45, women x1.08, men x0.92), so the respondents are older than the population and unweighted
  estimates of age-related indicators (loneliness, digital skills) are biased; weighting by sex
  and age removes that. 2-5 % item non-response (missing completely at random within a cell)
  with the codebook's missing codes; no natural straight-liners, speeders or out-of-range codes.
* Interventions from surveys/interventions.yaml: computer lessons (65+ of the site, from the first
  wave whose fieldwork starts after the site's start; growing in later waves) and the closure of
  the Landlust community centre (everyone in WK036337).
* Deliveries (WAVE_FORMATS): 2017 and 2020 SPSS .sav with the codebook's labels, 2018 and 2021
  .xlsx (sheet "data"), 2019 CSV ';' + decimal comma in UTF-8 with BOM, 2022 the same in
  Windows-1252 with CRLF, 2023 CSV ';' + decimal point in UTF-8. Agency quirks: `veilig` delivered
  as `onveilig_buurt` until 2019, `gezondheid` in the old (reversed) coding in 2017-2018,
  `coh_contact` only from 2019, an `email` column in 2020, Mixed/UPPER case names in 2021, free
  text with accents and a few e-mail addresses / phone numbers, no `duur_min` for paper
  questionnaires in the mixed-mode waves (2017-2020).
* Defects, only in wave 2022 and listed in the manifest with file, 1-based data row, column, rule.
* Truth: population values per district and wave from a large simulated draw per sex x age cell
  without unit non-response, weighted by the CBS cell counts, scored with `socialquality.scales`.
  The draw has the same item non-response as the deliveries, because the scale rules make it
  matter (De Jong Gierveld counts lonely answers over the answered items), so the truth is what
  a design-unbiased estimator from the delivered data targets.

Everything is deterministic for a seed: CSV and parquet outputs are byte-identical between runs
(xlsx and sav embed a timestamp; their parsed content is identical).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from socialquality.codebook import AGE_GROUPS, Codebook, load_codebook

ROOT = Path(__file__).resolve().parents[2]
CODEBOOK_PATH = ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml"
FEEDBACK_CODEBOOK_PATH = ROOT / "surveys" / "codebooks" / "deelnemersfeedback.yaml"
INDICATORS_PATH = ROOT / "surveys" / "indicators.yaml"
INTERVENTIONS_PATH = ROOT / "surveys" / "interventions.yaml"
CBS_PATH = ROOT / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv"

GENERATOR_VERSION = 1

# Delivery format per wave (the agency changed systems over the years).
WAVE_FORMATS: dict[str, str] = {
    "2017": "sav",
    "2018": "xlsx",
    "2019": "csv-nl",          # ';' + decimal comma, UTF-8 with BOM
    "2020": "sav",
    "2021": "xlsx",
    "2022": "csv-nl-cp1252",   # ';' + decimal comma, Windows-1252, CRLF
    "2023": "csv",             # ';' + decimal point, UTF-8 without BOM
}
FORMATS: dict[str, dict[str, Any]] = {
    "sav": {"ext": "sav"},
    "xlsx": {"ext": "xlsx", "sheet": "data"},
    "csv-nl": {"ext": "csv", "sep": ";", "decimal": ",", "encoding": "utf-8-sig", "lineterminator": "\n"},
    "csv-nl-cp1252": {"ext": "csv", "sep": ";", "decimal": ",", "encoding": "cp1252", "lineterminator": "\r\n"},
    "csv": {"ext": "csv", "sep": ";", "decimal": ".", "encoding": "utf-8", "lineterminator": "\n"},
    "parquet": {"ext": "parquet"},
}
FORMAT_ALIASES = {"spss": "sav", "excel": "xlsx", "csv_nl": "csv-nl", "dutch_csv": "csv-nl", "dutch-csv": "csv-nl",
                  "csv-nl-utf8": "csv-nl", "csv_nl_cp1252": "csv-nl-cp1252", "pq": "parquet"}
FEEDBACK_FORMATS: dict[str, str] = {"2020": "xlsx"}  # other years: "csv"

# Agency quirks per wave (the codebook resolves them: aliases, recodes, case-insensitive names).
ALIAS_UNTIL = {"veilig": ("onveilig_buurt", "2019")}  # item -> (delivered name, last wave using it)
EMAIL_WAVE = "2020"            # a direct identifier delivered by mistake (drop_columns)
CASE_WAVE = "2021"             # background columns in Mixed case, De Jong Gierveld items in UPPER
DEFECT_WAVE = "2022"
MIXED_CASE = {"resp_id": "Resp_ID", "wijkcode": "WijkCode", "buurtcode": "BuurtCode", "geslacht": "Geslacht", "leeftijd": "Leeftijd",
              "duur_min": "Duur_Min"}

# The manifest's `rule` uses the demo's rule names; `quality_rule_id` names the rule of the
# generated expectation suite (socialquality.quality.suites) that catches the same row where it
# differs, and `quality_column` the column as the quarantine table names it (normalised names).
QUALITY_RULE_IDS = {("allowed_codes", "ladder_nu"): "value_range",
                    ("straight_lining", "cohesie_grid"): "straightlining",
                    ("straight_lining", "regie_grid"): "straightlining"}
# Delivered background column -> its name in the normalised responses (docs/data-contracts.md).
NORMALISED_COLUMNS = {"resp_id": "respondent_pid", "wijkcode": "district_code", "buurtcode": "buurt_code", "geslacht": "sex",
                      "leeftijd": "age", "duur_min": "duration_min"}

MIN_POP_SAMPLED = 500          # residents 15+ below which a district gets no sample
SMALL_DISTRICT_MAX = 29        # the one small district gets fewer than 30 respondents
FLOOR_RESPONDENTS = 60
PROPENSITY = np.array([0.12, 0.20, 0.30, 0.45])   # response propensity by age group
SEX_PROPENSITY = np.array([0.92, 1.08])            # men, women
TRUTH_MIN_PER_CELL = 400       # truth draw: >= 3,200 persons per district and wave ...
TRUTH_SAMPLE_FACTOR = 20       # ... or 20 x the district's expected sample
DEMO_EMAIL_DOMAINS = ("example.nl", "example.com", "voorbeeld.example")

CONDITIONS = ("socio_economic_security", "social_inclusion", "social_cohesion", "social_empowerment")
SES, INC, COH, EMP = range(4)

# Injected intervention effects on the person traits (latent scale, individual sd about 1.1).
# `dynamic` multiplies the effect in the k-th wave after the start (k = 0, 1, 2, ...).
EFFECT_MODEL: dict[str, dict[str, Any]] = {
    "computerles65": {"latent": {"digital": 0.47, "loneliness": -0.24}, "dynamic": [1.0, 1.2, 1.3, 1.35]},
    "sluiting_buurthuis_landlust": {"latent": {"cohesion": -0.32, "facilities": -0.55, "loneliness": 0.06},
                                    "dynamic": [1.0]},
}
TRAIT_OF_EFFECT = {"digital": "dig", "loneliness": "lon", "cohesion": "coh", "facilities": "fac"}

# Item model: item -> (trait, loading, cuts on the "up" code, up_means_low_code).
# The "up" code rises with the trait; when up_means_low_code is True the delivered (current) code is
# K + 1 - up (e.g. agreeing = 1 for a positive statement). Cuts were calibrated once on the 2019
# city population to realistic Amsterdam marginals (see tests for the sanity ranges).
ITEM_MODEL: dict[str, tuple[str, float, tuple[float, ...], bool]] = {
    "rondkomen": ("ses", 1.6, (-4.1, -1.9, 1.0), False),
    "veilig": ("safe", 1.6, (-4.6, -1.3), False),
    "gezondheid": ("health", 1.6, (-6.2, -4.2, -1.9, 1.7), True),
    "dj_leegte": ("lon", 1.9, (1.9, 3.8), True),
    "dj_mensen_om_mij_heen": ("lon", 1.9, (1.3, 3.3), True),
    "dj_in_de_steek": ("lon", 1.9, (2.5, 4.4), True),
    "dj_terugvallen": ("lon", 1.9, (1.7, 3.7), False),
    "dj_vertrouwen": ("lon", 1.9, (1.1, 3.1), False),
    "dj_verbonden": ("lon", 1.9, (1.5, 3.5), False),
    "voorzieningen": ("fac", 1.6, (-3.9, -2.0, -0.5, 2.6), True),
    "coh_kennen": ("coh", 1.7, (-3.2, -1.2, 0.3, 2.7), False),
    "coh_prettig": ("coh", 1.7, (-4.8, -3.2, -1.3, 1.7), True),
    "coh_gezellig": ("coh", 1.7, (-3.8, -1.9, -0.1, 2.8), True),
    "coh_thuis": ("coh", 1.7, (-4.4, -2.6, -0.8, 2.2), True),
    "coh_contact": ("coh", 1.7, (-4.2, -2.2, -0.6, 2.2), True),
    "pm_controle": ("mas", 1.7, (-4.7, -3.0, -1.3, 1.5), False),
    "pm_problemen": ("mas", 1.7, (-4.0, -2.1, -0.5, 2.3), False),
    "pm_veranderen": ("mas", 1.7, (-4.8, -3.1, -1.3, 1.5), False),
    "pm_hulpeloos": ("mas", 1.7, (-4.9, -3.3, -1.5, 1.3), False),
    "pm_speelbal": ("mas", 1.7, (-4.3, -2.5, -0.9, 1.8), False),
    "pm_toekomst": ("mas", 1.7, (-4.5, -2.8, -0.7, 2.1), True),
    "pm_alles": ("mas", 1.7, (-4.1, -2.4, -0.5, 2.4), True),
    "gehoord": ("heard", 1.5, (-2.9, -1.3, 1.2, 3.6), True),
    "vrijwilliger": ("vol", 1.6, (1.4,), True),
    "dig_informatie": ("dig", 1.8, (-4.0, -1.9), True),
    "dig_communicatie": ("dig", 1.8, (-4.3, -2.4), True),
    "dig_probleem": ("dig", 1.8, (-3.5, -1.0), True),
    "dig_software": ("dig", 1.8, (-3.0, -0.2), True),
}
LADDER_ITEMS = ("ladder_nu", "ladder_5jaar")
MODEL_ITEMS: tuple[str, ...] = (*ITEM_MODEL, *LADDER_ITEMS)
N_INDIVIDUAL = 15  # individual normal effects per person (see _traits)

# City-wide wave effects (on traits), by wave year.
COVID_LONELINESS = {2020: 0.15, 2021: 0.2, 2022: 0.05}
MODE_EFFECT_FROM = 2021                        # web-only from 2021 (codebook method break)
MODE_EFFECT = {"safe": -0.2, "heard": -0.25}
DIGITAL_TREND_PER_YEAR = 0.08

FIRST_NAMES = ("jan", "anna", "mohamed", "fatima", "pieter", "sanne", "kees", "noor", "ahmet", "emma",
               "daan", "sara", "youssef", "lotte", "henk", "ria", "kevin", "ayse", "bram", "ines")
LAST_NAMES = ("devries", "jansen", "bakker", "visser", "smit", "elamrani", "yilmaz", "mulder", "degroot",
              "bos", "vos", "peters", "hendriks", "dekker", "brouwer", "kaya", "dijkstra", "vandam")
COMMENTS = (
    "Meer groen in de straat graag.",
    "Te veel verkeer en te hard rijden in onze straat.",
    "Het café op de hoek is een fijne ontmoetingsplek.",
    "De vuilnis wordt niet op tijd opgehaald.",
    "Fijne buurt, aardige buren.",
    "Er is te weinig te doen voor jongeren.",
    "Ik mis een pinautomaat in de buurt.",
    "Overlast van scooters op de stoep.",
    "Graag meer bankjes in het park, ook voor ouderen.",
    "Het idee van een buurtmoestuin vind ik geweldig.",
    "Geen opmerkingen.",
    "De crèche in de buurt heeft een lange wachtlijst.",
    "Ik voel me hier thuis, maar de huren zijn te hoog.",
    "Het beleid van de gemeente is één grote chaos.",
    "Meer controle op fietsen die overal gestald worden.",
    "Leuke activiteiten in het buurthuis, ga zo door!",
    "Het is hier 's avonds erg donker, meer verlichting graag.",
    "Mijn buurvrouw helpt me met boodschappen, daar ben ik blij mee.",
    "De café's en restaurants geven overlast in het weekend.",
    "Te weinig parkeerplaatsen.",
)
CLOSURE_COMMENTS = ("Sinds het buurthuis dicht is zie ik mijn buren veel minder.",
                    "Jammer dat het buurthuis Landlust gesloten is, er is nu geen plek meer om te ontmoeten.")
LESSON_COMMENTS = ("De computerles in het buurtcentrum was erg leuk, nu kan ik videobellen.",
                   "Dankzij de computerles regel ik nu zelf mijn zaken met DigiD.")
PII_COMMENTS = ("Neem gerust contact met mij op via {email}.", "Mail mij op {email} als u vragen heeft.",
                "Bel me gerust: {mobile}.", "U kunt mij bereiken op {landline}.")

FEEDBACK_TEXTS = {
    (1, 1): ("Ik videobel nu elke week met mijn kleinkinderen.",
             "Via WhatsApp heb ik weer contact met oude vrienden.",
             "In de les leerde ik mensen uit de buurt kennen, we drinken nu samen koffie.",
             "Ik durf nu zelf berichten te sturen naar mijn familie.",
             "Na de les gaan we met een paar mensen naar het café, heel gezellig."),
    (1, 2): ("Mijn dochter is bij mij in de buurt komen wonen.", "Ik ben lid geworden van een koor."),
    (1, 3): ("De les hielp, maar ik ben ook vaker naar de kerk gegaan.",
             "Door de cursus en door mijn nieuwe buren heb ik meer contact."),
    (1, 4): ("Ik weet niet precies waardoor het komt.",),
    (2, 0): ("Ik had al genoeg contacten.", "Het was leuk, maar mijn contacten zijn niet veranderd.",
             "Ik vergeet het weer snel, ik heb meer herhaling nodig.", "Mijn familie woont ver weg, dat blijft zo."),
    (3, 0): ("Door mijn gezondheid kom ik minder buiten.", "Mijn man is overleden, ik ben veel alleen."),
    (9, 0): ("", "Weet ik niet."),
}


# ---------------------------------------------------------------------------------------------
# Public result
# ---------------------------------------------------------------------------------------------
@dataclass
class DemoManifest:
    """What was generated. Paths in the object are absolute; truth/manifest.json stores them
    relative to out_dir (so the file is identical for any out_dir)."""

    out_dir: Path
    seed: int
    survey_files: list[dict[str, Any]]       # wave, path, format, rows
    feedback_files: list[dict[str, Any]]     # year, path, format, rows
    defects: list[dict[str, Any]]            # wave, file, row (1-based data row), column, rule, value,
    #                                          quality_rule_id, quality_column, description (+ columns /
    #                                          duplicate_of_row for straight-liners / the duplicate)
    truth_dir: Path
    respondents_per_wave: int = 0
    waves: list[str] = field(default_factory=list)
    unsampled_districts: list[str] = field(default_factory=list)
    small_district: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        def rel(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: rel(v) for k, v in value.items()}
            if isinstance(value, list):
                return [rel(v) for v in value]
            if isinstance(value, Path) or (isinstance(value, str) and value.startswith(str(self.out_dir))):
                path = Path(value)
                try:
                    return path.relative_to(self.out_dir).as_posix()
                except ValueError:
                    return path.as_posix()
            return value

        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "respondents_per_wave": self.respondents_per_wave,
            "waves": self.waves,
            "survey_files": rel(self.survey_files),
            "feedback_files": rel(self.feedback_files),
            "defects": self.defects,
            "truth_dir": rel(self.truth_dir),
            "unsampled_districts": self.unsampled_districts,
            "small_district": self.small_district,
            "info": self.info,
        }


# ---------------------------------------------------------------------------------------------
# Population (CBS 2019)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _City:
    codes: np.ndarray          # (D,) district codes
    cells: np.ndarray          # (D, 2, 4) residents 15+ by sex (m, v) and age group
    low_income: np.ndarray     # (D,) % households with a low income (NaN filled with the median)
    municipality: str

    @property
    def pop15(self) -> np.ndarray:
        return self.cells.sum(axis=(1, 2))


def _read_cbs_districts(path: Path = CBS_PATH) -> _City:
    frame = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    frame = frame.apply(lambda column: column.str.strip())
    municipality = frame.loc[frame["SoortRegio_2"] == "Gemeente", "Codering_3"].iloc[0]
    wijk = frame[frame["SoortRegio_2"] == "Wijk"].sort_values("Codering_3").reset_index(drop=True)

    def number(column: str) -> np.ndarray:
        return pd.to_numeric(wijk[column].replace(".", None), errors="coerce").to_numpy(dtype=float)

    ages = np.stack([np.nan_to_num(number(c)) for c in
                     ("k_15Tot25Jaar_9", "k_25Tot45Jaar_10", "k_45Tot65Jaar_11", "k_65JaarOfOuder_12")], axis=1)
    men, women = np.nan_to_num(number("Mannen_6")), np.nan_to_num(number("Vrouwen_7"))
    total = men + women
    male_share = np.divide(men, total, out=np.full_like(men, 0.5), where=total > 0)
    cells = np.stack([ages * male_share[:, None], ages * (1 - male_share)[:, None]], axis=1)
    low_income = number("HuishoudensMetEenLaagInkomen_78")
    low_income = np.where(np.isnan(low_income), np.nanmedian(low_income), low_income)
    return _City(codes=wijk["Codering_3"].to_numpy(dtype=object), cells=cells, low_income=low_income,
                 municipality=municipality)


def _design(city: _City, respondents_per_wave: int) -> dict[str, Any]:
    """Which districts are sampled and the expected net sample per district (fixed across waves)."""
    pop15 = city.pop15
    sampled = pop15 >= MIN_POP_SAMPLED
    candidates = np.flatnonzero(sampled)
    small = int(candidates[np.argmin(pop15[candidates])])
    floor = min(float(FLOOR_RESPONDENTS), 0.5 * respondents_per_wave / max(len(candidates), 1))
    small_target = min(20.0, floor)
    regular = sampled.copy()
    regular[small] = False
    share = pop15 * regular / (pop15 * regular).sum()
    rest = respondents_per_wave - small_target
    target = rest * share
    low = np.zeros_like(regular)
    while True:  # raise districts below the floor to it; share the rest proportionally
        newly = regular & ~low & (target < floor)
        if not newly.any():
            break
        low |= newly
        free = regular & ~low
        target = np.where(low, floor, 0.0)
        target[free] = (rest - floor * low.sum()) * share[free] / share[free].sum()
    target[small] = small_target
    return {"sampled": sampled, "small": small, "target": target, "floor": floor}


# ---------------------------------------------------------------------------------------------
# Interventions
# ---------------------------------------------------------------------------------------------
def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _read_interventions(codebook: Codebook, path: Path = INTERVENTIONS_PATH) -> list[dict[str, Any]]:
    """Sites with their first post wave (first wave whose fieldwork starts after the start)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    sites = []
    for spec in raw.get("interventions", []):
        model = EFFECT_MODEL.get(spec["id"])
        if model is None:
            continue
        age_min = (spec.get("target_group") or {}).get("age_min")
        participants = {(a["district"], int(a["year"])): int(a["participants"]) for a in spec.get("activity", [])}
        for site in spec.get("sites", []):
            start = _as_date(site["start"])
            post = [w.id for w in codebook.waves if w.fieldwork_start and w.fieldwork_start > start]
            sites.append({
                "intervention_id": spec["id"], "kind": spec.get("kind"), "district_code": site["district"],
                "start": start, "first_wave": post[0] if post else None, "post_waves": post,
                "age_min": age_min, "indicators": list(spec.get("indicators", [])), "model": model,
                "feedback_survey": spec.get("feedback_survey"),
                "participants": {year: n for (d, year), n in participants.items() if d == site["district"]},
            })
    return sites


def _effect_shifts(people: dict[str, np.ndarray], wave: str, sites: list[dict[str, Any]],
                   codes: np.ndarray) -> dict[str, np.ndarray]:
    n = len(people["age"])
    shifts = {trait: np.zeros(n) for trait in TRAIT_OF_EFFECT.values()}
    for site in sites:
        if wave not in site["post_waves"]:
            continue
        k = site["post_waves"].index(wave)
        dynamic = site["model"]["dynamic"]
        factor = dynamic[min(k, len(dynamic) - 1)]
        where = codes[people["d"]] == site["district_code"]
        if site["age_min"] is not None:
            where &= people["age"] >= site["age_min"]
        for name, size in site["model"]["latent"].items():
            shifts[TRAIT_OF_EFFECT[name]][where] += size * factor
    return shifts


def _site_latent(site: dict[str, Any], wave: str) -> dict[str, float]:
    k = site["post_waves"].index(wave)
    dynamic = site["model"]["dynamic"]
    factor = dynamic[min(k, len(dynamic) - 1)]
    return {name: round(size * factor, 4) for name, size in site["model"]["latent"].items()}


# ---------------------------------------------------------------------------------------------
# District latents
# ---------------------------------------------------------------------------------------------
def _district_latents(seed: int, city: _City, years: list[int]) -> np.ndarray:
    """(W, D, 4) latent district scores for the four conditions (higher = better)."""
    rng = np.random.default_rng([seed, 10])
    n = len(city.codes)
    li = city.low_income
    li_std = np.clip((li - li.mean()) / li.std(), -2.5, 2.5)
    corr = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    u = rng.standard_normal((n, 4)) @ np.linalg.cholesky(corr).T
    rho = np.array([0.75, 0.45, 0.4, 0.45])
    sd = np.array([0.4, 0.25, 0.3, 0.3])
    base = sd * (-rho * li_std[:, None] + np.sqrt(1 - rho**2) * u)
    slope = rng.normal(0.0, 0.025, (n, 4))
    city_trend = np.array([0.01, 0.0, -0.015, 0.01])
    shocks = rng.normal(0.0, 0.03, (len(years), n, 4))
    t = np.array(years, dtype=float)[:, None, None] - 2019
    return base[None] + (slope + city_trend)[None] * t + shocks


# ---------------------------------------------------------------------------------------------
# People and answers
# ---------------------------------------------------------------------------------------------
def _draw_ages(rng: np.random.Generator, age_group: np.ndarray) -> np.ndarray:
    u = rng.random(len(age_group))
    lows = np.array([16, 25, 45, 65])[age_group]
    widths = np.array([9, 20, 20, 0])[age_group]
    age = lows + np.floor(u * widths)
    old = age_group == 3
    # 65+: truncated exponential (mean about 74.5, max 100)
    scale, span = 9.5, 36.0
    age[old] = 65 + np.floor(-scale * np.log1p(-u[old] * (1 - math.exp(-span / scale))))
    return np.minimum(age, 100.0)


def _draw_noise(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"normal": rng.standard_normal((n, N_INDIVIDUAL)),
            "logistic": rng.logistic(size=(n, len(ITEM_MODEL)))}


def _traits(people: dict[str, np.ndarray], z: np.ndarray, noise: dict[str, np.ndarray], year: int,
            shifts: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Person traits (higher = more of the trait) for n persons; z is (n, 4) district latents."""
    e = noise["normal"]
    age, female, ag = people["age"], people["female"], people["ag"]
    young, old = (age < 25).astype(float), (age >= 65).astype(float)
    over75 = np.maximum(age - 75, 0)
    zs, zi, zc, ze = z[:, SES], z[:, INC], z[:, COH], z[:, EMP]
    g = e[:, 0]
    s = shifts or {}
    zero = 0.0
    t = {}
    t["ses"] = zs + 0.5 * g + 0.85 * e[:, 1] - 0.15 * young + 0.1 * old
    t["safe"] = 0.8 * zs + 0.25 * g + 0.9 * e[:, 2] - 0.35 * female - 0.1 * old + (
        MODE_EFFECT["safe"] if year >= MODE_EFFECT_FROM else 0.0)
    t["health"] = 0.4 * zs + 0.5 * g + 0.8 * e[:, 3] - 0.025 * (age - 45)
    lon_age = np.array([0.0, -0.05, 0.05, 0.45])[ag] + 0.03 * over75
    t["lon"] = (-zi - 0.45 * g + 0.85 * e[:, 4] + lon_age + 0.05 * female + COVID_LONELINESS.get(year, 0.0)
                + s.get("lon", zero))
    t["coh"] = zc + 0.3 * g + 0.8 * e[:, 5] + np.array([-0.3, -0.1, 0.1, 0.25])[ag] + s.get("coh", zero)
    t["fac"] = 0.6 * zi + 0.4 * zc + 0.15 * g + 0.9 * e[:, 6] + 0.2 * e[:, 5] + s.get("fac", zero)
    t["mas"] = ze + 0.55 * g + 0.8 * e[:, 7] - 0.2 * e[:, 4] - 0.15 * old - 0.02 * over75
    t["heard"] = 0.8 * ze + 0.3 * g + 0.9 * e[:, 8] + 0.1 * old + (
        MODE_EFFECT["heard"] if year >= MODE_EFFECT_FROM else 0.0)
    vol_age = np.array([-0.3, -0.1, 0.1, 0.35])[ag] - 0.04 * over75
    t["vol"] = 0.6 * ze + 0.3 * e[:, 5] + 0.8 * e[:, 9] + 0.1 * g + vol_age
    t["dig"] = (0.3 * ze + 0.25 * g + 0.7 * e[:, 10] - 0.05 * np.maximum(age - 55, 0) + 0.3 * (age < 35)
                - 0.15 * female * old + DIGITAL_TREND_PER_YEAR * (year - 2019) + s.get("dig", zero))
    t["wb"] = 0.45 * t["ses"] + 0.25 * t["health"] - 0.35 * t["lon"] + 0.5 * e[:, 11]
    return t


def _answers(people: dict[str, np.ndarray], z: np.ndarray, noise: dict[str, np.ndarray], year: int,
             shifts: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Answer codes in the CURRENT codebook coding (no missing codes) for all modelled items."""
    traits = _traits(people, z, noise, year, shifts)
    answers: dict[str, np.ndarray] = {}
    logistic = noise["logistic"]
    for j, (item, (trait, loading, cuts, low_code)) in enumerate(ITEM_MODEL.items()):
        y = loading * traits[trait] + logistic[:, j]
        up = 1 + (y[:, None] > np.asarray(cuts)[None, :]).sum(axis=1)
        answers[item] = (len(cuts) + 2 - up) if low_code else up
    e = noise["normal"]
    age = people["age"]
    optimism = np.select([age < 25, age < 45, age < 65], [0.8, 0.5, 0.0], -0.5)
    now = 7.3 + 1.1 * traits["wb"] + 1.1 * e[:, 12]
    future = now + 0.35 + optimism + 0.5 * e[:, 13] + 0.6 * e[:, 14]
    answers["ladder_nu"] = np.clip(np.rint(now), 0, 10).astype(int)
    answers["ladder_5jaar"] = np.clip(np.rint(future), 0, 10).astype(int)
    return answers


# ---------------------------------------------------------------------------------------------
# One wave of the survey
# ---------------------------------------------------------------------------------------------
def _missing_codes(codebook: Codebook, item_id: str) -> list[int]:
    scale = codebook.items[item_id].scale
    return sorted(scale.missing) if scale is not None else []


def _item_nonresponse(seed: int, rng: np.random.Generator, age_group: np.ndarray) -> np.ndarray:
    """(n, items) True where an answer is missing: 2-5 % per item (fixed per seed), x1.3 among 65+,
    x0.9 below 65; missing completely at random within a sex x age cell."""
    rates = 0.02 + 0.03 * np.random.default_rng([seed, 11]).random(len(MODEL_ITEMS))
    boost = np.where(age_group == 3, 1.3, 0.9)
    return rng.random((len(age_group), len(MODEL_ITEMS))) < rates[None, :] * boost[:, None]


def _delivered_name(item_id: str, wave: str, wave_order: list[str]) -> str:
    if item_id in ALIAS_UNTIL:
        alias, until = ALIAS_UNTIL[item_id]
        if wave_order.index(wave) <= wave_order.index(until):
            return alias
    return item_id


def _simulate_sample(seed: int, wave: str, codebook: Codebook, city: _City, design: dict[str, Any],
                     latents: np.ndarray, sites: list[dict[str, Any]]) -> pd.DataFrame:
    """The clean delivered frame of one wave (delivered names and coding, rows in id order)."""
    wave_order = codebook.wave_ids
    w = wave_order.index(wave)
    year = int(wave)
    rng = np.random.default_rng([seed, 20, year])

    # 1. net sample per district (target x a little wave noise, never below the floor), drawn from
    #    the sex x age cells in proportion to population x response propensity
    prop = (SEX_PROPENSITY[:, None] * PROPENSITY[None, :]).ravel()          # cells: (m, v) x age groups
    d_list, cell_list = [], []
    for d in np.flatnonzero(design["sampled"]):
        cells = city.cells[d].ravel()
        target = design["target"][d] * math.exp(0.05 * rng.standard_normal())
        if d == design["small"]:
            n_d = min(int(round(target)), SMALL_DISTRICT_MAX)
        else:
            n_d = max(int(round(target)), int(math.ceil(design["floor"])))
        weights = cells * prop
        counts = rng.multinomial(n_d, weights / weights.sum())
        idx = np.repeat(np.arange(8), counts)
        d_list.append(np.full(len(idx), d))
        cell_list.append(idx)
    d_idx = np.concatenate(d_list)
    cell = np.concatenate(cell_list)
    n = len(d_idx)
    female = cell // 4
    ag = cell % 4
    people = {"d": d_idx, "female": female.astype(float), "ag": ag, "age": _draw_ages(rng, ag)}

    # 2. answers
    noise = _draw_noise(rng, n)
    shifts = _effect_shifts(people, wave, sites, city.codes)
    answers = _answers(people, latents[w][d_idx], noise, year, shifts)

    # 3. item non-response (rates fixed per item for a seed; a bit higher among 65+)
    asked = [i.id for i in codebook.items_asked(wave) if i.type != "text"]
    gone_all = _item_nonresponse(seed, rng, ag)
    u_which = rng.random((n, len(MODEL_ITEMS)))
    coded: dict[str, np.ndarray] = {}
    for j, item in enumerate(MODEL_ITEMS):
        values = answers[item].astype(np.int64)
        missing = _missing_codes(codebook, item)
        gone = gone_all[:, j]
        if missing:
            choice = np.where(u_which[:, j] < 0.55, missing[0], missing[-1])
            values = np.where(gone, choice, values)
        coded[item] = values

    # 4. no natural straight-lining (only the documented defects should trip that rule)
    for grid_items in codebook.grids.values():
        items = [i for i in grid_items if i in asked]
        block = np.stack([coded[i] for i in items], axis=1)
        valid = np.stack([np.isin(coded[i], list(codebook.items[i].scale.codes)) for i in items], axis=1)
        first = np.where(valid, block, -1).max(axis=1)
        same = (valid.sum(axis=1) >= 3) & np.all(~valid | (block == first[:, None]), axis=1)
        rows = np.flatnonzero(same)
        picks = rng.random((len(rows), 2))
        for r, (u_col, u_dir) in zip(rows, picks):   # nudge one answer one step, up or down at random
            cols = np.flatnonzero(valid[r])
            c = cols[int(u_col * len(cols))]
            value = block[r, c]
            step = 1 if u_dir < 0.5 else -1
            coded[items[c]][r] = value + step if 1 <= value + step <= 5 else value - step

    # 5. background, paradata, free text
    sex_code = np.where(female == 1, 2, 1)
    sex_code = np.where(rng.random(n) < 0.005, 9, sex_code)
    paper_share = {"mixed": np.array([0.15, 0.2, 0.35, 0.6])}.get(codebook.wave(wave).mode)
    paper = rng.random(n) < (paper_share[ag] if paper_share is not None else 0.0)
    duration = np.exp(np.log(11.5) + 0.35 * rng.standard_normal(n)) + 0.06 * np.maximum(people["age"] - 40, 0)
    duration = np.maximum(np.round(duration, 1), 4.5)
    duration = np.where(paper, np.nan, duration)
    comment = _comments(rng, n, wave, people, city, sites)
    order = rng.permutation(n)

    district_codes = city.codes[d_idx[order]].astype(str)
    frame = pd.DataFrame({
        "resp_id": [f"R{wave}-{i + 1:06d}" for i in range(n)],
        "wijkcode": district_codes,
        "buurtcode": _buurt_codes(seed, year, district_codes),
        "geslacht": sex_code[order],
        "leeftijd": people["age"][order].astype(np.int64),
    })
    for item_id, item in codebook.items.items():
        if item.type == "text" or item_id not in asked:
            continue
        values = coded[item_id][order]
        recode = item.recode.get(wave)
        if recode:  # deliver in the old coding: invert the codebook's recode
            inverse = {new: old for old, new in recode.items()}
            values = np.array([inverse.get(int(v), int(v)) for v in values], dtype=np.int64)
        frame[_delivered_name(item_id, wave, wave_order)] = values
    frame["opmerking"] = comment[order]
    frame["duur_min"] = duration[order]
    if wave == EMAIL_WAVE:
        frame.insert(1, "email", _emails(rng, n, share=0.35))
    if wave == CASE_WAVE:
        frame = frame.rename(columns=lambda c: MIXED_CASE.get(c, c.upper() if c.startswith("dj_") else c))
    return frame


def _buurt_codes(seed: int, year: int, district_codes: np.ndarray) -> np.ndarray:
    """The respondent's buurt within the district, drawn in proportion to the buurt's residents
    aged 15+ (CBS 2019) from a random stream of its own, so that every other column of a delivery
    is the same as without buurt codes. The demo's population values are defined per district:
    all buurten of a district share its true values (truth/buurt_truth.csv)."""
    rng = np.random.default_rng([seed, 21, year])
    buurten = _cbs_buurten()
    out = np.full(len(district_codes), "", dtype=object)
    for district in np.unique(district_codes):
        rows = np.flatnonzero(district_codes == district)
        members = buurten[buurten["district_code"] == district]
        if members.empty or members["pop15"].sum() <= 0:
            continue
        p = members["pop15"].to_numpy(dtype=float)
        out[rows] = members["buurt_code"].to_numpy()[rng.choice(len(members), size=len(rows), p=p / p.sum())]
    return out.astype(str)


_BUURTEN_CACHE: dict[str, pd.DataFrame] = {}


def _cbs_buurten(path: Path = CBS_PATH) -> pd.DataFrame:
    """Buurt code, its district and residents aged 15+ from the CBS file (cached)."""
    key = str(path)
    if key not in _BUURTEN_CACHE:
        frame = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
        frame = frame.apply(lambda column: column.str.strip())
        buurt = frame[frame["SoortRegio_2"] == "Buurt"].sort_values("Codering_3")
        ages = sum(pd.to_numeric(buurt[c].replace(".", None), errors="coerce").fillna(0.0) for c in
                   ("k_15Tot25Jaar_9", "k_25Tot45Jaar_10", "k_45Tot65Jaar_11", "k_65JaarOfOuder_12"))
        _BUURTEN_CACHE[key] = pd.DataFrame({"buurt_code": buurt["Codering_3"].to_numpy(),
                                            "district_code": ["WK" + c[2:8] for c in buurt["Codering_3"]],
                                            "pop15": ages.to_numpy(dtype=float)})
    return _BUURTEN_CACHE[key]


def _email(rng: np.random.Generator) -> str:
    first = FIRST_NAMES[rng.integers(len(FIRST_NAMES))]
    last = LAST_NAMES[rng.integers(len(LAST_NAMES))]
    return f"{first}.{last}{rng.integers(10, 99)}@{DEMO_EMAIL_DOMAINS[rng.integers(len(DEMO_EMAIL_DOMAINS))]}"


def _emails(rng: np.random.Generator, n: int, share: float) -> list[str]:
    has = rng.random(n) < share
    return [_email(rng) if h else "" for h in has]


def _comments(rng: np.random.Generator, n: int, wave: str, people: dict[str, np.ndarray], city: _City,
              sites: list[dict[str, Any]]) -> np.ndarray:
    u = rng.random(n)
    pick = rng.integers(0, 1 << 30, n)
    out = np.full(n, "", dtype=object)
    codes = city.codes[people["d"]]
    closed = {s["district_code"] for s in sites if s["kind"] == "closure" and wave in s["post_waves"]}
    lessons = {s["district_code"] for s in sites if s["kind"] != "closure" and wave in s["post_waves"]}
    for r in np.flatnonzero(u < 0.22):
        if u[r] < 0.004:
            template = PII_COMMENTS[pick[r] % len(PII_COMMENTS)]
            out[r] = template.format(email=_email(rng), mobile=f"06-{rng.integers(10_000_000, 99_999_999)}",
                                     landline=f"020 {rng.integers(100, 999)} {rng.integers(1000, 9999)}")
        elif codes[r] in closed and u[r] < 0.12:
            out[r] = CLOSURE_COMMENTS[pick[r] % len(CLOSURE_COMMENTS)]
        elif codes[r] in lessons and people["age"][r] >= 65 and u[r] < 0.10:
            out[r] = LESSON_COMMENTS[pick[r] % len(LESSON_COMMENTS)]
        else:
            out[r] = COMMENTS[pick[r] % len(COMMENTS)]
    return out


# ---------------------------------------------------------------------------------------------
# Defects (wave 2022)
# ---------------------------------------------------------------------------------------------
def _inject_defects(frame: pd.DataFrame, seed: int, wave: str, file_name: str,
                    codebook: Codebook) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    rng = np.random.default_rng([seed, 30, int(wave)])
    frame = frame.copy()
    n = len(frame)
    rows = rng.choice(n, size=9, replace=False)
    marks = np.full(n, "", dtype=object)
    defects: list[tuple[str, str, str, Any, str]] = []  # (mark, column, rule, value, description)

    def put(pos: int, mark: str, column: str, value: Any, rule: str, description: str, store: Any = None) -> None:
        if store is not None:
            frame.iat[pos, frame.columns.get_loc(column)] = store
        marks[pos] = mark
        defects.append((mark, column, rule, value, description))

    put(rows[0], "d1", "rondkomen", 7, "allowed_codes", "rondkomen = 7: not an answer code of rondkomen4", 7)
    put(rows[1], "d2", "ladder_nu", 12, "allowed_codes", "ladder_nu = 12: outside the range 0-10", 12)
    put(rows[2], "d3", "wijkcode", "WK036399", "known_district",
        "WK036399 is not a 2019 Amsterdam district", "WK036399")
    coh = [i for i in codebook.grids["cohesie_grid"] if i in frame.columns]
    for item in coh:
        frame.iat[rows[3], frame.columns.get_loc(item)] = 2
    put(rows[3], "d4", "cohesie_grid", 2, "straight_lining",
        f"same answer (2) on all items of the cohesion grid ({', '.join(coh)}), incl. the reversed coh_kennen")
    pm = [i for i in codebook.grids["regie_grid"] if i in frame.columns]
    for item in pm:
        frame.iat[rows[4], frame.columns.get_loc(item)] = 4
    put(rows[4], "d5", "regie_grid", 4, "straight_lining",
        f"same answer (4) on all items of the mastery grid ({', '.join(pm)}), incl. the positive items")
    put(rows[5], "d6", "duur_min", 1.5, "speeder", "interview took 1.5 minutes (speeder_below 4.0)", 1.5)
    put(rows[6], "d7", "leeftijd", 14, "minimum_age", "respondent aged 14 (minimum_age 16)", 14)
    # duplicate: a copy of a clean row, delivered again further down the file
    original = rows[7]
    if pd.isna(frame.iat[original, frame.columns.get_loc("duur_min")]):
        frame.iat[original, frame.columns.get_loc("duur_min")] = 12.5
    copy = frame.iloc[[original]].copy()
    marks_list = list(marks)
    marks_list[original] = "dup_original"
    position = int(rows[8]) if rows[8] > original else n
    frame = pd.concat([frame.iloc[:position], copy, frame.iloc[position:]], ignore_index=True)
    marks_list.insert(position, "d8")
    dup_id = str(copy["resp_id"].iloc[0])
    defects.append(("d8", "resp_id", "unique_respondent", dup_id,
                    f"resp_id {dup_id} delivered twice; this row is an exact copy of an earlier row"))
    marks_arr = np.array(marks_list, dtype=object)
    original_row = int(np.flatnonzero(marks_arr == "dup_original")[0]) + 1
    records = []
    for mark, column, rule, value, description in defects:
        row = int(np.flatnonzero(marks_arr == mark)[0]) + 1
        record = {"wave": wave, "file": file_name, "row": row, "column": column, "rule": rule,
                  "quality_rule_id": QUALITY_RULE_IDS.get((rule, column), rule),
                  "quality_column": NORMALISED_COLUMNS.get(column, column), "value": value,
                  "description": description}
        if mark == "d4":
            record["columns"] = coh
        if mark == "d5":
            record["columns"] = pm
        if mark == "d8":
            record["duplicate_of_row"] = original_row
        records.append(record)
    records.sort(key=lambda r: r["row"])
    return frame, records


# ---------------------------------------------------------------------------------------------
# Writing files as an agency would
# ---------------------------------------------------------------------------------------------
BACKGROUND_LABELS = {"resp_id": "Respondentnummer", "wijkcode": "Wijkcode (CBS)", "buurtcode": "Buurtcode (CBS)", "geslacht": "Geslacht",
                     "leeftijd": "Leeftijd in jaren", "duur_min": "Duur van het interview (minuten)",
                     "email": "E-mailadres (voor de verloting)", "opmerking": "Opmerkingen over de buurt"}


def _item_for_column(column: str, codebook: Codebook) -> str | None:
    key = column.lower()
    for item in codebook.items.values():
        if key == item.id.lower() or key in (a.lower() for a in item.aliases):
            return item.id
    return None


def _value_labels(column: str, codebook: Codebook, wave: str | None) -> dict[float, str] | None:
    key = column.lower()
    if codebook.sex_column and key == codebook.sex_column.lower():
        labels = {float(k): ("man" if v == "m" else "vrouw" if v == "v" else str(v))
                  for k, v in codebook.sex_codes.items()}
        labels.update({float(k): "onbekend" for k in codebook.sex_missing})
        return labels
    item_id = _item_for_column(column, codebook)
    if item_id is None or codebook.items[item_id].scale is None:
        return None
    item = codebook.items[item_id]
    scale = item.scale
    if scale.value_range is not None:
        low, high = scale.value_range
        labels = {low: f"{int(low)} (slechtst)", high: f"{int(high)} (best)"}
    elif wave is not None and wave in item.recode:   # old coding: delivered code -> label of its meaning
        labels = {float(old): scale.codes[new] for old, new in item.recode[wave].items()}
    else:
        labels = {float(k): v for k, v in scale.codes.items()}
    labels.update({float(k): v for k, v in scale.missing.items()})
    return labels


def write_wave_file(frame: pd.DataFrame, path: str | Path, fmt: str, codebook: Codebook,
                    wave: str | None = None) -> Path:
    """Write a delivered-shape frame in one of the agency formats.

    fmt: "sav" (SPSS, value and variable labels from the codebook), "xlsx" (sheet "data"),
    "csv-nl" (';', decimal comma, UTF-8 with BOM), "csv-nl-cp1252" (';', decimal comma,
    Windows-1252, CRLF), "csv" (';', decimal point, UTF-8), "parquet". `wave` selects the value
    labels of a wave with an old coding (sav only). Empty strings are written as empty cells.
    """
    fmt = FORMAT_ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = FORMATS[fmt]
    if fmt.startswith("csv"):
        frame.to_csv(path, sep=spec["sep"], decimal=spec["decimal"], encoding=spec["encoding"], index=False,
                     lineterminator=spec["lineterminator"])
    elif fmt == "xlsx":
        _write_xlsx(frame, path, spec["sheet"])
    elif fmt == "sav":
        _write_sav(frame, path, codebook, wave)
    else:
        frame.to_parquet(path, index=False, engine="pyarrow")
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    worksheet.append([str(c) for c in frame.columns])
    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_integer_dtype(series.dtype):
            columns.append([int(v) for v in series.to_numpy()])
        elif pd.api.types.is_float_dtype(series.dtype):
            columns.append([None if v != v else float(v) for v in series.to_numpy()])
        else:
            columns.append([None if (v is None or v != v or v == "") else v for v in series.astype(object)])
    for row in zip(*columns):
        worksheet.append(row)
    workbook.save(path)


def _write_sav(frame: pd.DataFrame, path: Path, codebook: Codebook, wave: str | None) -> None:
    import pyreadstat

    out = pd.DataFrame(index=range(len(frame)))
    labels, value_labels = [], {}
    for name in frame.columns:
        series = frame[name].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            out[name] = series.astype("float64")
        else:
            out[name] = pd.Series([("" if (v is None or v != v) else str(v)) for v in series.astype(object)],
                                  dtype=object)
        item_id = _item_for_column(name, codebook)
        labels.append(codebook.items[item_id].text if item_id else BACKGROUND_LABELS.get(name.lower(), name))
        vl = _value_labels(name, codebook, wave)
        if vl:
            value_labels[name] = vl
    pyreadstat.write_sav(out, str(path), column_labels=labels, variable_value_labels=value_labels)


# ---------------------------------------------------------------------------------------------
# Participant feedback
# ---------------------------------------------------------------------------------------------
def _site_strength(site: dict[str, Any], year: int) -> float:
    """Injected loneliness effect (latent) of a site in a calendar year (0 before the start)."""
    if site["start"].year > year:
        return 0.0
    dynamic = site["model"]["dynamic"]
    factor = dynamic[min(year - site["start"].year, len(dynamic) - 1)]
    return site["model"]["latent"].get("loneliness", 0.0) * factor


def _write_feedback(seed: int, out_dir: Path, sites: list[dict[str, Any]],
                    feedback_codebook: Codebook) -> list[dict[str, Any]]:
    files = []
    for year_id in feedback_codebook.wave_ids:
        year = int(year_id)
        rng = np.random.default_rng([seed, 40, year])
        parts = []
        for s_index, site in enumerate(sites):
            if site.get("feedback_survey") != feedback_codebook.survey or site["start"].year > year:
                continue
            registered = site["participants"].get(year)
            n = int(rng.binomial(registered, 0.9)) if registered else int(np.clip(rng.poisson(40), 30, 52))
            # the stronger the injected effect in that year, the more participants report more contacts
            p_more = 0.5 + 0.3 * abs(_site_strength(site, year))
            change = rng.choice([1, 2, 3, 9], size=n, p=[p_more, 0.93 - p_more, 0.04, 0.03])
            attrib = np.where(change == 1, rng.choice([1, 2, 3, 4], size=n, p=[0.65, 0.1, 0.2, 0.05]),
                              rng.choice([2, 4, 9], size=n, p=[0.45, 0.5, 0.05]))
            happy = np.clip(np.rint(rng.normal(np.where(change == 1, 8.1, np.where(change == 2, 7.2, 6.2)), 1.0)),
                            1, 10).astype(int)
            happy = np.where(rng.random(n) < 0.02, 99, happy)
            texts = []
            for c, a in zip(change, attrib):
                key = (int(c), int(a)) if c == 1 else (int(c), 0)
                pool = FEEDBACK_TEXTS.get(key, ("",))
                texts.append(pool[rng.integers(len(pool))] if rng.random() < 0.7 else "")
            age_group = np.where(rng.random(n) < 0.92, 4, 3)
            parts.append(pd.DataFrame({
                "wijkcode": site["district_code"], "leeftijdsgroep": age_group, "interventie": 1,
                "contacten_verandering": change, "toeschrijving": attrib, "toelichting": texts,
                "tevredenheid": happy, "_site": s_index,
            }))
        if not parts:
            continue
        frame = pd.concat(parts, ignore_index=True).drop(columns="_site")
        frame.insert(0, "deelnemer_id", [f"D{year}-{i + 1:04d}" for i in range(len(frame))])
        fmt = FEEDBACK_FORMATS.get(year_id, "csv")
        path = out_dir / "feedback" / feedback_codebook.survey / year_id / \
            f"{feedback_codebook.survey}_{year_id}.{FORMATS[fmt]['ext']}"
        write_wave_file(frame, path, fmt, feedback_codebook)
        files.append({"year": year_id, "path": str(path), "format": fmt, "rows": len(frame)})
    return files


# ---------------------------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------------------------
def _read_indicators(path: Path = INDICATORS_PATH) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["indicators"])


def _truth_people(seed: int, city: _City, design: dict[str, Any], min_per_cell: int = TRUTH_MIN_PER_CELL
                  ) -> dict[str, np.ndarray]:
    """A fixed large draw per district and sex x age cell (common random numbers across waves)."""
    rng = np.random.default_rng([seed, 50])
    districts = np.flatnonzero(city.pop15 > 0)
    per_cell = np.maximum(min_per_cell,
                          np.ceil(TRUTH_SAMPLE_FACTOR * design["target"][districts] / 8)).astype(int)
    d_idx = np.repeat(districts, per_cell * 8)
    cell = np.concatenate([np.repeat(np.arange(8), k) for k in per_cell])
    ag = cell % 4
    people = {"d": d_idx, "female": (cell // 4).astype(float), "ag": ag, "cell": cell,
              "age": _draw_ages(rng, ag)}
    return people


def _indicator_values(scored: pd.DataFrame, indicators: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-person indicator values (0/1 or score; NaN when not applicable)."""
    values = {}
    for spec in indicators:
        source = scored[spec["source"]].to_numpy(dtype=float)
        if spec["statistic"] == "share":
            x = np.where(np.isnan(source), np.nan, np.isin(source, spec["values"]).astype(float))
        else:
            x = source
        age_min = (spec.get("target_group") or {}).get("age_min")
        if age_min is not None:
            x = np.where(scored["age"].to_numpy(dtype=float) >= age_min, x, np.nan)
        values[spec["id"]] = x
    return values


def _cell_means(x: np.ndarray, key: np.ndarray, n_keys: int) -> np.ndarray:
    ok = ~np.isnan(x)
    total = np.bincount(key[ok], weights=x[ok], minlength=n_keys)
    count = np.bincount(key[ok], minlength=n_keys)
    return np.divide(total, count, out=np.full(n_keys, np.nan), where=count > 0)


def _score(answers: dict[str, np.ndarray], age: np.ndarray, wave: str, codebook: Codebook,
           missing: np.ndarray) -> pd.DataFrame:
    from socialquality.scales import score_scales

    asked = {i.id for i in codebook.items_asked(wave)}
    frame = pd.DataFrame({item: (np.where(missing[:, j], np.nan, answers[item].astype(float)) if item in asked
                                 else np.nan) for j, item in enumerate(MODEL_ITEMS)})
    frame["age"] = age
    return score_scales(frame, codebook)


def _population_values(answers: dict[str, np.ndarray], people: dict[str, np.ndarray], wave: str,
                       codebook: Codebook, indicators: list[dict[str, Any]], city: _City, missing: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """Indicator -> (D,) population value per district (NaN where not computed)."""
    scored = _score(answers, people["age"], wave, codebook, missing)
    values = _indicator_values(scored, indicators)
    n_d = len(city.codes)
    key = people["d"] * 8 + people["cell"]
    weights = city.cells.reshape(n_d, 8)
    out = {}
    for ind_id, x in values.items():
        means = _cell_means(x, key, n_d * 8).reshape(n_d, 8)
        ok = ~np.isnan(means) & (weights > 0)
        w = np.where(ok, weights, 0.0)
        num = (np.where(ok, means, 0.0) * w).sum(axis=1)
        den = w.sum(axis=1)
        out[ind_id] = np.divide(num, den, out=np.full(n_d, np.nan), where=den > 0)
        out[ind_id + "__popw"] = den  # relevant population, for the city total
    return out


def _truth(seed: int, waves: list[str], codebook: Codebook, city: _City, design: dict[str, Any],
           latents: np.ndarray, sites: list[dict[str, Any]], indicators: list[dict[str, Any]],
           min_per_cell: int = TRUTH_MIN_PER_CELL
           ) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, dict[str, float]]]]:
    people = _truth_people(seed, city, design, min_per_cell)
    treated_codes = sorted({s["district_code"] for s in sites})
    treated_idx = [int(np.flatnonzero(city.codes == c)[0]) for c in treated_codes if c in set(city.codes)]
    in_treated = np.isin(people["d"], treated_idx)
    sub = {k: v[in_treated] for k, v in people.items()}
    rows = []
    effects: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    noise = _draw_noise(np.random.default_rng([seed, 51]), len(people["d"]))  # the same draws every wave
    sub_noise = {k: v[in_treated] for k, v in noise.items()}
    # item non-response as in the deliveries (the scale rules, e.g. De Jong Gierveld's count over
    # the answered items, make it matter), so the truth is what an unbiased estimator targets
    missing = _item_nonresponse(seed, np.random.default_rng([seed, 52]), people["ag"])
    sub_missing = missing[in_treated]
    for wave in waves:
        w = codebook.wave_ids.index(wave)
        year = int(wave)
        shifts = _effect_shifts(people, wave, sites, city.codes)
        answers = _answers(people, latents[w][people["d"]], noise, year, shifts)
        actual = _population_values(answers, people, wave, codebook, indicators, city, missing)
        # counterfactual (no intervention) for the treated districts: same draws, no shifts
        cf_answers = _answers(sub, latents[w][sub["d"]], sub_noise, year, None)
        counterfactual = _population_values(cf_answers, sub, wave, codebook, indicators, city, sub_missing)
        for spec in indicators:
            ind = spec["id"]
            value = actual[ind]
            cf = np.where(np.isin(np.arange(len(city.codes)), treated_idx), counterfactual[ind], value)
            popw = actual[ind + "__popw"]
            for d in np.flatnonzero(~np.isnan(value)):
                rows.append((wave, city.codes[d], ind, value[d], cf[d]))
            ok = ~np.isnan(value)
            city_value = float((value[ok] * popw[ok]).sum() / popw[ok].sum())
            city_cf = float((np.where(np.isnan(cf), value, cf)[ok] * popw[ok]).sum() / popw[ok].sum())
            rows.append((wave, city.municipality, ind, city_value, city_cf))
        for site in sites:
            if wave not in site["post_waves"]:
                continue
            d = int(np.flatnonzero(city.codes == site["district_code"])[0])
            diff = {spec["id"]: float(actual[spec["id"]][d] - counterfactual[spec["id"]][d]) for spec in indicators}
            effects.setdefault((site["intervention_id"], site["district_code"]), {})[wave] = diff
    truth = pd.DataFrame(rows, columns=["wave", "district_code", "indicator_id", "true_value",
                                        "true_value_without_interventions"])
    truth["true_value"] = truth["true_value"].round(6)
    truth["true_value_without_interventions"] = truth["true_value_without_interventions"].round(6)
    return truth, effects


# ---------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    seed: int
    codebook: Codebook
    city: _City
    design: dict[str, Any]
    latents: np.ndarray
    sites: list[dict[str, Any]]


def _inputs(root: str | Path | None) -> dict[str, Path]:
    """The project files the generator reads (default: this repository)."""
    if root is None:
        return {"codebook": CODEBOOK_PATH, "feedback_codebook": FEEDBACK_CODEBOOK_PATH,
                "indicators": INDICATORS_PATH, "interventions": INTERVENTIONS_PATH, "cbs": CBS_PATH}
    root = Path(root)
    return {"codebook": root / CODEBOOK_PATH.relative_to(ROOT),
            "feedback_codebook": root / FEEDBACK_CODEBOOK_PATH.relative_to(ROOT),
            "indicators": root / INDICATORS_PATH.relative_to(ROOT),
            "interventions": root / INTERVENTIONS_PATH.relative_to(ROOT), "cbs": root / CBS_PATH.relative_to(ROOT)}


def _context(seed: int, respondents_per_wave: int, codebook: Codebook | None = None,
             root: str | Path | None = None) -> _Context:
    inputs = _inputs(root)
    codebook = codebook or load_codebook(inputs["codebook"])
    city = _read_cbs_districts(inputs["cbs"])
    design = _design(city, respondents_per_wave)
    latents = _district_latents(seed, city, [int(w) for w in codebook.wave_ids])
    sites = _read_interventions(codebook, inputs["interventions"])
    return _Context(seed, codebook, city, design, latents, sites)


def simulate_wave(wave: str, seed: int = 2026, respondents_per_wave: int = 12000,
                  codebook: Codebook | None = None, *, root: str | Path | None = None) -> pd.DataFrame:
    """The clean delivered frame of one wave (delivered column names and coding, no defects):
    exactly the rows `generate_demo_city` writes for that wave before injecting defects."""
    ctx = _context(seed, respondents_per_wave, codebook, root)
    return _simulate_sample(seed, wave, ctx.codebook, ctx.city, ctx.design, ctx.latents, ctx.sites)


def wave_file_name(codebook: Codebook, wave: str, fmt: str | None = None) -> str:
    fmt = fmt or WAVE_FORMATS[wave]
    return f"{codebook.survey}_{wave}_levering.{FORMATS[fmt]['ext']}"


def generate_demo_city(out_dir: str | Path, seed: int = 2026, respondents_per_wave: int = 12000,
                       waves: list[str] | None = None, *, truth: bool = True,
                       truth_per_cell: int = TRUTH_MIN_PER_CELL, root: str | Path | None = None) -> DemoManifest:
    """Write the demo city's deliveries, feedback files and truth under out_dir (see module doc).

    `respondents_per_wave` ~ 2,000 gives a fast small mode (district samples mostly below 30).
    `truth=False` skips the truth simulation; `truth_per_cell` is the minimum size of the truth
    draw per district and sex x age cell (8 cells; lower it only to speed up tests). `root` is the
    project folder holding surveys/ and data/cbs/ (default: this repository)."""
    out_dir = Path(out_dir).resolve()
    inputs = _inputs(root)
    codebook = load_codebook(inputs["codebook"])
    feedback_codebook = load_codebook(inputs["feedback_codebook"])
    waves = list(waves) if waves is not None else codebook.wave_ids
    unknown = [w for w in waves if w not in codebook.wave_ids]
    if unknown:
        raise ValueError(f"unknown wave(s) {unknown}; the codebook has {codebook.wave_ids}")
    waves = [w for w in codebook.wave_ids if w in waves]
    ctx = _context(seed, respondents_per_wave, codebook, root)
    city, design = ctx.city, ctx.design

    survey_files, defects = [], []
    for wave in waves:
        frame = _simulate_sample(seed, wave, codebook, city, design, ctx.latents, ctx.sites)
        fmt = WAVE_FORMATS.get(wave, "csv")
        name = wave_file_name(codebook, wave, fmt)
        from socialquality.demo.fieldwork import fieldwork_records, write_fieldwork  # invitations (planner)

        write_fieldwork(out_dir, codebook.survey, wave, fieldwork_records(seed, wave, frame, city))
        if wave == DEFECT_WAVE:
            frame, wave_defects = _inject_defects(frame, seed, wave, name, codebook)
            defects.extend(wave_defects)
        path = out_dir / "landing" / codebook.survey / wave / name
        write_wave_file(frame, path, fmt, codebook, wave)
        survey_files.append({"wave": wave, "path": str(path), "format": fmt, "rows": len(frame)})

    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    effects: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    if truth:
        indicators = _read_indicators(inputs["indicators"])
        table, effects = _truth(seed, waves, codebook, city, design, ctx.latents, ctx.sites, indicators,
                                truth_per_cell)
        table.to_csv(truth_dir / "district_truth.csv", index=False, lineterminator="\n")
        buurt_truth = _cbs_buurten()[["buurt_code", "district_code"]].merge(table, on="district_code")
        buurt_truth.to_csv(truth_dir / "buurt_truth.csv", index=False, lineterminator="\n")
        _write_effects(truth_dir / "effects.json", ctx.sites, effects, waves)
    feedback_files = _write_feedback(seed, out_dir, ctx.sites, feedback_codebook)
    _write_population(truth_dir / "population_cells.csv", city, design)

    unsampled = [str(c) for c in city.codes[~design["sampled"]]]
    manifest = DemoManifest(
        out_dir=out_dir, seed=seed, survey_files=survey_files, feedback_files=feedback_files, defects=defects,
        truth_dir=truth_dir, respondents_per_wave=respondents_per_wave, waves=waves,
        unsampled_districts=unsampled, small_district=str(city.codes[design["small"]]),
        info={
            "population": "CBS Kerncijfers wijken en buurten 2019 (84583NED), Amsterdam; fixed for all waves; "
                          "sex x age cells = age-group counts x district sex shares; 15-24 treated as 16-24",
            "unsampled_rule": f"districts with fewer than {MIN_POP_SAMPLED} residents aged 15+ get no sample",
            "small_district_rule": "the smallest sampled district gets fewer than "
                                   f"{SMALL_DISTRICT_MAX + 1} respondents",
            "floor_respondents": design["floor"],
            "response_propensity": dict(zip(AGE_GROUPS, PROPENSITY.tolist())),
            "response_propensity_sex_factor": {"m": SEX_PROPENSITY[0], "v": SEX_PROPENSITY[1]},
            "wave_formats": {w: WAVE_FORMATS.get(w, "csv") for w in waves},
            "quirks": {
                "aliases": {item: {"delivered_as": a, "until": u} for item, (a, u) in ALIAS_UNTIL.items()},
                "old_coding": {i.id: sorted(i.recode) for i in codebook.items.values() if i.recode},
                "introduced": {i.id: i.introduced for i in codebook.items.values() if i.introduced},
                "direct_identifier_column": {"wave": EMAIL_WAVE, "column": "email"},
                "column_case": {"wave": CASE_WAVE, "mixed": list(MIXED_CASE.values()), "upper": "dj_* items"},
                "duration_missing": "paper questionnaires in mixed-mode waves have no duur_min",
                "free_text_pii": "a few opmerking answers contain an e-mail address or phone number",
            },
            "city_effects": {"covid_loneliness": COVID_LONELINESS, "mode_effect_from": str(MODE_EFFECT_FROM),
                             "mode_effect": MODE_EFFECT, "digital_trend_per_year": DIGITAL_TREND_PER_YEAR},
            "truth": f"population values from a simulated draw of >= {truth_per_cell} persons per district, "
                     f"sex x age cell and wave ({TRUTH_SAMPLE_FACTOR} x the expected sample in large districts), "
                     "without non-response, weighted by the CBS sex x age cell counts; the same draws in every "
                     "wave (common random numbers)" if truth else "not computed",
            "truth_per_cell": truth_per_cell,
        },
    )
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest.to_json_dict(), indent=2, ensure_ascii=False, default=_json_default) + "\n",
        encoding="utf-8")
    return manifest


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (dt.date, Path)):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _write_effects(path: Path, sites: list[dict[str, Any]], effects: dict[tuple[str, str], dict[str, dict[str, float]]],
                   waves: list[str]) -> None:
    out_sites, flat = [], []
    for site in sites:
        per_wave = effects.get((site["intervention_id"], site["district_code"]), {})
        entries = []
        for wave in site["post_waves"]:
            if wave not in waves:
                continue
            diff = per_wave.get(wave, {})
            entries.append({
                "wave": wave,
                "waves_since_first": site["post_waves"].index(wave),
                "latent": _site_latent(site, wave),
                "indicators": {k: round(diff[k], 6) for k in site["indicators"] if k in diff},
                "all_indicators": {k: round(v, 6) for k, v in diff.items() if abs(v) >= 1e-9},
            })
            for indicator, value in diff.items():
                if abs(value) >= 1e-9:
                    flat.append({"intervention_id": site["intervention_id"], "district_code": site["district_code"],
                                 "wave": wave, "indicator_id": indicator, "effect": round(value, 6)})
        out_sites.append({
            "intervention_id": site["intervention_id"], "district_code": site["district_code"],
            "start": site["start"].isoformat(), "first_wave": site["first_wave"],
            "target_group": {"age_min": site["age_min"]} if site["age_min"] is not None else {},
            "traits": {name: TRAIT_OF_EFFECT[name] for name in site["model"]["latent"]},
            "waves": entries,
        })
    document = {
        "description": "Injected intervention effects. `latent`: shift of the person trait (individual sd about "
                       "1.1; digital: higher = more skills; loneliness: higher = lonelier; cohesion, facilities: "
                       "higher = better) for the target group in the site from the first wave whose fieldwork "
                       "starts after the site's start. `indicators`: expected change of the district's population "
                       "value (shares as proportions 0-1, cohesie on 0-10) = simulated with minus without the "
                       "effect on the same large population draw. No effect before first_wave.",
        "sites": out_sites,
        "effects": flat,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_population(path: Path, city: _City, design: dict[str, Any]) -> None:
    rows = []
    for d, code in enumerate(city.codes):
        for s, sex in enumerate(("m", "v")):
            for a, group in enumerate(AGE_GROUPS):
                rows.append((code, sex, group, round(float(city.cells[d, s, a]), 3), bool(design["sampled"][d]),
                             round(float(design["target"][d]), 2)))
    pd.DataFrame(rows, columns=["district_code", "sex", "age_group", "population", "sampled",
                                "expected_respondents"]).to_csv(path, index=False, lineterminator="\n")

