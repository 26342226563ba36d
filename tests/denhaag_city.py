"""The second city of the tests: Den Haag (GM0518), built from the real CBS figures.

Everything the demo city is not: 42 inhabited districts of the CBS 2019 figures (44 in all), an 18+
survey with its own questionnaire (the "Haagse Stadsenquête": other item names, agree scales that
run the other way, a school-mark item, free text), background columns as text codes and value labels
(`man`/`vrouw`, `M`/`V`, `18-34` ... `75 jaar en ouder`), age in bands (18-34/35-54/55-74/75+) from the
sample frame plus the age in years as the respondent wrote it (often blank), a few blank sexes and
bands, invalid codes, an identifier column; delivered as SPSS .zsav (value labels, user-missing),
Stata .dta, CSV with ',' in Windows-1252 and TSV; its population is a plain 18+ table
(tests/data/denhaag/bevolking_18plus.csv). Two interventions with ids with hyphens: the closure of two
libraries (cohesion drops by a known amount) and meeting rooms for older people (less loneliness
among the 65+). The answers are synthetic; the population figures are CBS's. Bron: CBS, CC BY 4.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "denhaag"
WAVES = {"2021": "haagse_stadsenquete_2021.zsav", "2022": "stadsenquete_2022.dta",
         "2023": "Stadsenquete 2023.csv", "2024": "stadsenquete-2024.tsv"}
BANDS = ("18-34", "35-54", "55-74", "75+")
BAND_LABELS = {1: "18-34", 2: "35-54", 3: "55-74", 4: "75 jaar en ouder"}
PROPENSITY = {"18-34": 0.55, "35-54": 0.9, "55-74": 1.4, "75+": 1.3}
CLOSURE_SITES = ("WK051838", "WK051829")  # libraries closed mid-2022: first wave after = 2023
CLOSURE_EFFECT = -1.8  # points on the 0-10 cohesion scale
ROOM_SITES = ("WK051818", "WK051817", "WK051833")  # meeting rooms for 65+ from autumn 2022
ROOM_EFFECT = -1.2  # log-odds of feeling lonely often, 65+

AGREE = {1: "helemaal mee eens", 2: "mee eens", 3: "neutraal", 4: "mee oneens", 5: "helemaal mee oneens",
         9: "weet niet"}
LABELS = {
    "tevr_buurt": {1: "zeer ontevreden", 2: "ontevreden", 3: "neutraal", 4: "tevreden", 5: "zeer tevreden",
                   9: "weet niet"},
    "samenh_kennen": AGREE, "samenh_omgang": AGREE, "samenh_thuis": AGREE, "samenh_nauwelijks": AGREE,
    "gehoord_gem": AGREE,
    "eenzaam_gev": {1: "nooit", 2: "soms", 3: "vaak", 4: "altijd", 9: "zeg ik liever niet"},
    "rondkomen": {1: "met grote moeite", 2: "met enige moeite", 3: "zonder moeite", 9: "weet niet"},
    "vrijwillig": {1: "ja", 2: "nee"},
    "cijfer_leven": {99: "weet niet"},
}
TEXTS = {
    "tevr_buurt": "Hoe tevreden bent u met uw buurt?",
    "samenh_kennen": "De mensen in mijn buurt kennen elkaar goed.",
    "samenh_omgang": "De mensen gaan in deze buurt op een prettige manier met elkaar om.",
    "samenh_thuis": "Ik voel me thuis bij de mensen in deze buurt.",
    "samenh_nauwelijks": "De mensen in deze buurt kennen elkaar nauwelijks.",
    "gehoord_gem": "De gemeente luistert naar wat bewoners zeggen.",
    "eenzaam_gev": "Hoe vaak voelt u zich eenzaam?",
    "rondkomen": "Kan uw huishouden rondkomen van het inkomen?",
    "vrijwillig": "Doet u vrijwilligerswerk?",
    "cijfer_leven": "Welk rapportcijfer geeft u uw leven (1-10)?",
    "opmerking": "Wilt u nog iets kwijt?",
}


def population() -> pd.DataFrame:
    return pd.read_csv(DATA / "bevolking_18plus.csv", sep=";")


def _respondents(rng: np.random.Generator, wave: int, per_wave: int, district_level: dict[str, float]) -> pd.DataFrame:
    pop = population()
    totals = pop.groupby("wijkcode")["aantal"].sum()
    sizes = np.maximum(4, np.round(per_wave * totals / totals.sum())).astype(int)
    frames = []
    for district, n in sizes.items():
        cells = pop[pop["wijkcode"] == district]
        weight = cells["aantal"].to_numpy(float) * cells["leeftijd"].map(PROPENSITY).to_numpy(float)
        pick = rng.choice(len(cells), size=int(n), p=weight / weight.sum())
        chosen = cells.iloc[pick]
        frames.append(pd.DataFrame({"wijk": district, "band": chosen["leeftijd"].to_numpy(),
                                    "sex": chosen["geslacht"].to_numpy()}))
    people = pd.concat(frames, ignore_index=True)
    n = len(people)
    lows = people["band"].map({"18-34": 18, "35-54": 35, "55-74": 55, "75+": 75}).to_numpy()
    widths = people["band"].map({"18-34": 17, "35-54": 20, "55-74": 20, "75+": 18}).to_numpy()
    people["age"] = lows + np.floor(rng.random(n) * widths).astype(int)
    after = wave >= 2023
    older = people["age"] >= 65
    level = people["wijk"].map(district_level).to_numpy()
    cohesion = 5.5 + level + 0.8 * older + rng.normal(0, 1.4, n)
    if after:
        cohesion += np.where(people["wijk"].isin(CLOSURE_SITES), CLOSURE_EFFECT, 0.0)
    cohesion = np.clip(cohesion, 0, 10)

    def agree(direction: int) -> np.ndarray:
        """1 = helemaal mee eens ... 5; direction +1: agreeing means cohesion."""
        a = np.clip(np.round(cohesion / 10 * 4 + rng.normal(0, 0.5, n)), 0, 4)
        return (5 - a if direction > 0 else 1 + a).astype(int)

    logit = -1.7 + 0.5 * (people["age"] >= 75) - 0.15 * (cohesion - 5.5) + 0.3 * level
    if after:
        logit += np.where(people["wijk"].isin(ROOM_SITES) & older, ROOM_EFFECT, 0.0)
    lonely = rng.random(n) < 1 / (1 + np.exp(-logit))
    people["eenzaam_gev"] = np.where(lonely, rng.choice([3, 4], n, p=[0.8, 0.2]), rng.choice([1, 2], n, p=[0.55, 0.45]))
    people["samenh_kennen"] = agree(+1)
    people["samenh_omgang"] = agree(+1)
    people["samenh_thuis"] = agree(+1)
    people["samenh_nauwelijks"] = agree(-1)
    people["tevr_buurt"] = np.clip(np.round(1 + cohesion / 10 * 4 + rng.normal(0, 0.7, n)), 1, 5).astype(int)
    people["gehoord_gem"] = rng.choice([1, 2, 3, 4, 5], n, p=[0.08, 0.27, 0.3, 0.25, 0.1])
    people["rondkomen"] = rng.choice([1, 2, 3], n, p=[0.08, 0.2, 0.72])
    people["vrijwillig"] = rng.choice([1, 2], n, p=[0.3, 0.7])
    people["cijfer_leven"] = np.clip(np.round(7.4 - 1.2 * lonely + rng.normal(0, 1.0, n)), 1, 10).astype(int)
    for column, rate, code in (("tevr_buurt", 0.03, 9), ("samenh_thuis", 0.03, 9), ("eenzaam_gev", 0.04, 9),
                               ("cijfer_leven", 0.03, 99), ("gehoord_gem", 0.05, 9)):
        people.loc[rng.random(n) < rate, column] = code
    people["opmerking"] = np.where(rng.random(n) < 0.05, "Meer bankjes graag, mail me op iemand@voorbeeld.nl",
                                   np.where(rng.random(n) < 0.05, "Prima buurt, café is fijn", ""))
    people["resp_nr"] = [f"DH{wave}-{i:05d}" for i in range(n)]
    # what the respondent left blank: age in years often, sex and the band rarely
    people["age"] = people["age"].astype(float)
    people.loc[rng.random(n) < 0.25, "age"] = np.nan
    people["sex_blank"] = rng.random(n) < 0.01
    people["band_blank"] = rng.random(n) < 0.005
    return people


def write_deliveries(folder: Path, *, per_wave: int = 1500, seed: int = 518) -> dict[str, Path]:
    """The four delivered files (one per wave) in `folder`; returns wave -> path."""
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    codes = sorted(population()["wijkcode"].unique())
    district_level = dict(zip(codes, rng.normal(0, 0.6, len(codes))))
    items = list(TEXTS)
    out: dict[str, Path] = {}
    for wave, name in WAVES.items():
        people = _respondents(rng, int(wave), per_wave, district_level)
        band_code = people["band"].map({v: k for k, v in {1: "18-34", 2: "35-54", 3: "55-74", 4: "75+"}.items()})
        path = folder / name
        if wave in ("2021", "2022"):  # SPSS / Stata: numeric codes with value labels
            frame = pd.DataFrame({"resp_nr": people["resp_nr"], "wijk": people["wijk"],
                                  "geslacht": np.where(people["sex_blank"], 9, people["sex"].map({"m": 1, "v": 2})),
                                  "lftklasse": np.where(people["band_blank"], np.nan, band_code).astype(float),
                                  "leeftijd": people["age"]})
            for item in items:
                frame[item] = people[item]
            for item in items:
                if item != "opmerking":
                    frame[item] = frame[item].astype(float)
            labels = {item: {float(k): v for k, v in LABELS[item].items()} for item in LABELS}
            labels["geslacht"] = {1.0: "man", 2.0: "vrouw", 9.0: "onbekend"}
            labels["lftklasse"] = {float(k): v for k, v in BAND_LABELS.items()}
            texts = {"resp_nr": "Respondentnummer", "wijk": "Wijkcode (CBS)", "geslacht": "Geslacht (BRP)",
                     "lftklasse": "Leeftijdsklasse (steekproefkader)", "leeftijd": "Wat is uw leeftijd?", **TEXTS}
            if wave == "2021":
                missing = {item: [9.0] for item, lab in LABELS.items() if 9 in lab}
                missing["cijfer_leven"] = [99.0]
                missing["geslacht"] = [9.0]
                pyreadstat.write_sav(frame, str(path), column_labels=texts, variable_value_labels=labels,
                                     missing_ranges=missing, compress=True)
            else:
                frame["geslacht"] = frame["geslacht"].astype(float)
                pyreadstat.write_dta(frame, str(path), column_labels=[texts[c] for c in frame.columns],
                                     variable_value_labels=labels)
        else:  # text files: background as words, as the agency's survey tool exports them
            if wave == "2023":
                sex = people["sex"].map({"m": "man", "v": "vrouw"})
                band = people["band"].replace({"75+": "75 jaar en ouder"})
            else:
                sex = people["sex"].str.upper()
                band = people["band"].str.replace("-", " - ", regex=False)
            sex = sex.where(~people["sex_blank"], "")
            band = band.where(~people["band_blank"], "")
            frame = pd.DataFrame({"Resp_Nr": people["resp_nr"], "Wijk": people["wijk"], "Geslacht": sex,
                                  "LftKlasse": band,
                                  "Leeftijd": people["age"].map(lambda a: "" if a != a else str(int(a)))})
            for item in items:
                frame[item.upper() if wave == "2023" else item] = people[item]
            if wave == "2023":  # invalid background codes and an identifier column
                frame.loc[[3, 40], "Geslacht"] = "3"
                frame.loc[77, "Geslacht"] = "x"
                frame.loc[5, ["LftKlasse", "Leeftijd"]] = ["12-17", ""]  # no age in years: the band decides
                frame["email"] = ""
                frame.to_csv(path, sep=",", index=False, encoding="cp1252", lineterminator="\r\n")
            else:
                frame["gewicht_bureau"] = np.round(rng.uniform(0.5, 2.0, len(frame)), 3)
                frame.to_csv(path, sep="\t", index=False, encoding="utf-8", lineterminator="\n")
        out[wave] = path
    return out
