"""The demo-city generator: deliveries, quirks, defects, non-response and truth (small mode)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from socialquality.codebook import load_codebook
from socialquality.demo import generate_demo_city, simulate_wave, write_wave_file
from socialquality.demo.__main__ import main as demo_main
from socialquality.demo.generator import CBS_PATH, CODEBOOK_PATH, FEEDBACK_CODEBOOK_PATH, _read_cbs_districts

SEED = 7
SMALL = 2000
TRUTH_PER_CELL = 150  # a smaller truth draw keeps the tests fast


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK_PATH)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return generate_demo_city(out, seed=SEED, respondents_per_wave=SMALL, truth_per_cell=TRUTH_PER_CELL)


@pytest.fixture(scope="module")
def frames(demo):
    """Every delivered survey file, read once: wave -> raw frame."""
    return {entry["wave"]: read_delivery(entry) for entry in demo.survey_files}


def read_delivery(entry: dict) -> pd.DataFrame:
    """Read a delivered survey file the way its format needs (raw: codes as delivered)."""
    path, fmt = Path(entry["path"]), entry["format"]
    if fmt == "sav":
        frame, _ = pyreadstat.read_sav(str(path))
        return frame
    if fmt == "xlsx":
        return pd.read_excel(path, sheet_name="data")
    encoding = {"csv-nl": "utf-8-sig", "csv-nl-cp1252": "cp1252", "csv": "utf-8"}[fmt]
    decimal = "." if fmt == "csv" else ","
    return pd.read_csv(path, sep=";", decimal=decimal, encoding=encoding, keep_default_na=False,
                       na_values=[""])


def by_wave(demo) -> dict[str, dict]:
    return {f["wave"]: f for f in demo.survey_files}


def lower(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=str.lower)


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
def test_files_and_formats_per_wave(demo, frames):
    files = by_wave(demo)
    assert list(files) == ["2017", "2018", "2019", "2020", "2021", "2022", "2023"]
    expected = {"2017": "sav", "2018": "xlsx", "2019": "csv", "2020": "sav", "2021": "xlsx", "2022": "csv",
                "2023": "csv"}
    for wave, entry in files.items():
        path = Path(entry["path"])
        assert path.is_file()
        assert path.name == f"wijkmonitor_{wave}_levering.{expected[wave]}"
        assert path.parent == demo.out_dir / "landing" / "wijkmonitor" / wave
        assert len(frames[wave]) == entry["rows"] > 1500

    raw_2019 = Path(files["2019"]["path"]).read_bytes()
    assert raw_2019.startswith(b"\xef\xbb\xbf")
    text_2019 = raw_2019.decode("utf-8-sig")
    assert text_2019.splitlines()[0].startswith("resp_id;wijkcode;")
    assert re.search(r";\d+,\d\r?$", text_2019, flags=re.M)  # duur_min with a decimal comma at line end

    raw_2022 = Path(files["2022"]["path"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw_2022.decode("utf-8")  # Windows-1252: é is one byte
    text_2022 = raw_2022.decode("cp1252")
    assert "é" in text_2022 and "\r\n" in text_2022
    assert re.search(r";\d+,\d\r$", text_2022, flags=re.M)

    raw_2023 = Path(files["2023"]["path"]).read_bytes()
    assert not raw_2023.startswith(b"\xef\xbb\xbf")
    assert re.search(r";\d+\.\d$", raw_2023.decode("utf-8"), flags=re.M)

    _, meta = pyreadstat.read_sav(files["2017"]["path"], metadataonly=True)
    assert meta.variable_value_labels["gezondheid"][1.0] == "zeer slecht"  # the old coding, labelled
    assert meta.variable_value_labels["dj_leegte"][8.0] == "weet niet"
    assert meta.column_names_to_labels["dj_leegte"].startswith("Ik ervaar een leegte")
    _, meta = pyreadstat.read_sav(files["2020"]["path"], metadataonly=True)
    assert meta.variable_value_labels["gezondheid"][1.0] == "zeer goed"
    assert pd.ExcelFile(files["2018"]["path"]).sheet_names == ["data"]


def test_delivery_quirks(frames, codebook):
    for wave, frame in frames.items():
        names = set(lower(frame).columns)
        if wave <= "2019":
            assert "onveilig_buurt" in names and "veilig" not in names
        else:
            assert "veilig" in names and "onveilig_buurt" not in names
        assert ("coh_contact" in names) == (wave >= "2019")
        assert ("email" in names) == (wave == "2020")
        ids = lower(frame)["resp_id"].astype(str)
        assert ids.str.fullmatch(rf"R{wave}-\d{{6}}").all()
        sexes = set(lower(frame)["geslacht"].astype(int))
        assert {1, 2} <= sexes <= {1, 2, 9}
    # 2021: Mixed case background columns and UPPER De Jong Gierveld items; other waves lower case
    assert {"Resp_ID", "WijkCode", "Leeftijd", "DJ_LEEGTE"} <= set(frames["2021"].columns)
    assert all(c == c.lower() for c in frames["2023"].columns)
    # an e-mail column with addresses in 2020 (a direct identifier the pipeline must drop)
    emails = frames["2020"]["email"].replace("", np.nan).dropna()
    pattern = r"[a-z]+\.[a-z]+\d\d@(example\.nl|example\.com|voorbeeld\.example)"
    assert len(emails) > 100 and emails.str.fullmatch(pattern).all()
    # free text with e-mail addresses and phone numbers somewhere
    text = pd.concat([lower(f)["opmerking"].dropna().astype(str) for f in frames.values()])
    assert text.str.contains(r"[\w.]+@[\w.]+\.\w+").any()
    assert text.str.contains(r"06-\d{8}|020 \d{3} \d{4}").any()
    # gezondheid in the old coding in 2017-2018 (1 = zeer slecht): health worsens with age, so the
    # delivered code falls with age in the old coding and rises with age in the current coding
    for wave, frame in frames.items():
        frame = lower(frame)
        valid = frame["gezondheid"].isin([1, 2, 3, 4, 5])
        corr = frame.loc[valid, "gezondheid"].corr(frame.loc[valid, "leeftijd"])
        assert (corr < -0.1) if wave in ("2017", "2018") else (corr > 0.1), (wave, corr)
    # missing codes present, item non-response 2-5 %
    frame = lower(frames["2023"])
    for item in ("dj_leegte", "rondkomen", "dig_software"):
        share = frame[item].isin([8, 9]).mean()
        assert 0.01 < share < 0.08, (item, share)
    assert frame["ladder_nu"].isin([98, 99]).mean() > 0.01
    # mixed-mode waves: paper questionnaires have no duration; web waves always have one
    assert lower(frames["2019"])["duur_min"].isna().mean() > 0.1
    assert lower(frames["2023"])["duur_min"].notna().all()


def test_defects_are_where_the_manifest_says(demo, codebook):
    files = by_wave(demo)
    rules = {d["rule"] for d in demo.defects}
    assert rules == {"allowed_codes", "unique_respondent", "known_district", "straight_lining", "speeder",
                     "minimum_age"}
    assert {d["wave"] for d in demo.defects} == {"2022"}
    assert len(demo.defects) == 8
    raw = pd.read_csv(files["2022"]["path"], sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    for defect in demo.defects:
        assert defect["file"] == "wijkmonitor_2022_levering.csv"
        row = raw.iloc[defect["row"] - 1]
        if defect["rule"] == "straight_lining":
            values = {row[c] for c in defect["columns"]}
            assert values == {str(defect["value"])}
            grid = codebook.grids[defect["column"]]
            assert set(defect["columns"]) == set(grid)
        elif defect["rule"] == "speeder":
            assert row["duur_min"] == "1,5"
        elif defect["rule"] == "unique_respondent":
            original = raw.iloc[defect["duplicate_of_row"] - 1]
            assert row["resp_id"] == defect["value"] == original["resp_id"]
            assert row.tolist() == original.tolist()
            assert (raw["resp_id"] == defect["value"]).sum() == 2
        else:
            assert row[defect["column"]] == str(defect["value"])
    # the manifest on disk says the same, with paths relative to out_dir
    stored = json.loads((demo.truth_dir / "manifest.json").read_text(encoding="utf-8"))
    assert stored["defects"] == demo.defects
    assert stored["survey_files"][5]["path"] == "landing/wijkmonitor/2022/wijkmonitor_2022_levering.csv"


def _violations(frame: pd.DataFrame, codebook, known: set[str]) -> dict[str, set[int]]:
    """Rows (1-based) that break the quality rules, with simple reference implementations."""
    frame = lower(frame).rename(columns={"onveilig_buurt": "veilig"})
    found: dict[str, set[int]] = {}

    def add(rule, mask):
        found.setdefault(rule, set()).update((np.flatnonzero(np.asarray(mask)) + 1).tolist())

    for item in codebook.items.values():
        if item.scale is None or item.id not in frame:
            continue
        values = frame[item.id]
        allowed = set(item.scale.missing)
        if item.scale.value_range is not None:
            low, high = item.scale.value_range
            ok = values.between(low, high) | values.isin(allowed)
        else:
            ok = values.isin(set(item.scale.codes) | allowed | set(item.recode.get("2017", {})))
        add("allowed_codes", ~ok)
    add("unique_respondent", frame["resp_id"].duplicated())
    add("known_district", ~frame["wijkcode"].isin(known))
    add("speeder", frame["duur_min"] < 4.0)
    add("minimum_age", frame["leeftijd"] < 16)
    for grid in codebook.grids.values():
        cols = [c for c in grid if c in frame]
        block = frame[cols].where(frame[cols] < 8)
        answered = block.notna().sum(axis=1)
        add("straight_lining", (answered >= 3) & (block.nunique(axis=1) == 1))
    return found


def test_no_other_rule_violations_than_the_documented_defects(demo, frames, codebook):
    known = set(_read_cbs_districts().codes)
    for entry in demo.survey_files:
        found = _violations(frames[entry["wave"]], codebook, known)
        expected: dict[str, set[int]] = {}
        for d in demo.defects:
            if d["wave"] == entry["wave"]:
                expected.setdefault(d["rule"], set()).add(d["row"])
        assert {r: rows for r, rows in found.items() if rows} == expected, entry["wave"]


def test_sample_design_and_age_bias(demo, frames):
    city = _read_cbs_districts()
    pop = pd.Series(city.pop15, index=city.codes)
    cells = city.cells.sum(axis=(0, 1))
    population_65 = cells[3] / cells.sum()
    for entry in demo.survey_files:
        frame = lower(frames[entry["wave"]])
        share_65 = (frame["leeftijd"] >= 65).mean()
        assert share_65 > population_65 + 0.05, (entry["wave"], share_65, population_65)
        counts = frame[frame["wijkcode"].isin(pop.index)].groupby("wijkcode").size()
        assert not set(demo.unsampled_districts) & set(counts.index)
        assert set(demo.unsampled_districts) == set(pop.index[pop < 500])
        assert 0 < counts[demo.small_district] < 30
        assert abs(len(frame) - SMALL) < 0.1 * SMALL
        # larger districts get larger samples
        assert counts.corr(pop[counts.index]) > 0.7


def test_truth_files(demo, codebook):
    truth = pd.read_csv(demo.truth_dir / "district_truth.csv", dtype={"wave": str})
    assert set(truth.columns) >= {"wave", "district_code", "indicator_id", "true_value"}
    assert set(truth["wave"]) == set(codebook.wave_ids)
    assert truth["true_value"].notna().all()
    shares = truth[truth["indicator_id"] != "cohesie"]
    assert shares["true_value"].between(0, 1).all()
    assert truth.loc[truth["indicator_id"] == "cohesie", "true_value"].between(0, 10).all()
    assert len(set(truth["indicator_id"])) == 15
    assert "GM0363" in set(truth["district_code"])
    city = truth[truth["district_code"] == "GM0363"].set_index(["indicator_id", "wave"])["true_value"]
    assert 0.3 < city["eenzaam", "2019"] < 0.6
    assert city["eenzaam_65plus", "2019"] > city["eenzaam", "2019"]
    assert city["digitaal_basis_65plus", "2019"] < city["digitaal_basis", "2019"] - 0.15
    assert 5 < city["cohesie", "2019"] < 7

    effects = json.loads((demo.truth_dir / "effects.json").read_text(encoding="utf-8"))
    pivot = truth.set_index(["district_code", "indicator_id", "wave"])["true_value"]
    lessons = [s for s in effects["sites"] if s["intervention_id"] == "computerles65"]
    assert len(lessons) == 8
    for site in lessons:
        first = site["first_wave"]
        assert first == site["start"][:4]  # starts in January, fieldwork later that year
        before = codebook.wave_ids[codebook.wave_ids.index(first) - 1]
        rise = pivot[site["district_code"], "digitaal_basis_65plus", first] - \
            pivot[site["district_code"], "digitaal_basis_65plus", before]
        assert rise > 0.08, (site["district_code"], rise)
        first_effect = site["waves"][0]["indicators"]
        assert 0.08 < first_effect["digitaal_basis_65plus"] < 0.25
        assert -0.15 < first_effect["eenzaam_65plus"] < -0.03
        assert site["waves"][-1]["latent"]["digital"] >= site["waves"][0]["latent"]["digital"]
    closure = [s for s in effects["sites"] if s["intervention_id"] == "sluiting_buurthuis_landlust"]
    assert len(closure) == 1 and closure[0]["district_code"] == "WK036337"
    assert closure[0]["first_wave"] == "2021"
    effect = closure[0]["waves"][0]["indicators"]
    assert -0.9 < effect["cohesie"] < -0.35
    assert effect["voorzieningen_voldoende"] < -0.05
    assert 0 < effect["eenzaam"] < 0.06
    # the counterfactual column differs only where and when an intervention acts
    differs = truth[(truth["true_value"] - truth["true_value_without_interventions"]).abs() > 1e-9]
    treated = {s["district_code"] for s in effects["sites"]} | {"GM0363"}
    assert set(differs["district_code"]) <= treated
    assert set(differs["wave"]) <= {"2020", "2021", "2022", "2023"}


def test_feedback_files(demo):
    feedback = load_codebook(FEEDBACK_CODEBOOK_PATH)
    years = {f["year"]: f for f in demo.feedback_files}
    assert list(years) == ["2020", "2021", "2022", "2023"]
    assert years["2020"]["format"] == "xlsx" and years["2021"]["format"] == "csv"
    frame_2020 = pd.read_excel(years["2020"]["path"], sheet_name="data")
    columns = ["deelnemer_id", "wijkcode", "leeftijdsgroep", "interventie", "contacten_verandering",
               "toeschrijving", "toelichting", "tevredenheid"]
    assert list(frame_2020.columns) == columns
    # about as many as the register's participants in the start year (62, 55, 41)
    counts = frame_2020.groupby("wijkcode").size()
    assert set(counts.index) == {"WK036394", "WK036393", "WK036396"}
    assert 45 <= counts["WK036394"] <= 62
    frame_2023 = pd.read_csv(years["2023"]["path"], sep=";")
    assert list(frame_2023.columns) == columns
    assert frame_2023["wijkcode"].nunique() == 8
    for frame in (frame_2020, frame_2023):
        assert (frame["interventie"] == 1).all()
        assert frame["contacten_verandering"].isin(feedback.items["contacten_verandering"].scale.codes.keys()
                                                   | {9}).all()
        assert (frame["contacten_verandering"] == 1).mean() > 0.5
        attributed = frame.loc[frame["contacten_verandering"] == 1, "toeschrijving"]
        assert (attributed == 1).mean() > 0.5
        valid = frame["tevredenheid"].between(1, 10) | (frame["tevredenheid"] == 99)
        assert valid.all()


def test_reproducible_for_a_seed(demo, frames, tmp_path):
    again = generate_demo_city(tmp_path, seed=SEED, respondents_per_wave=SMALL, waves=["2017", "2021", "2022"],
                               truth_per_cell=TRUTH_PER_CELL)
    first, second = by_wave(demo), by_wave(again)
    assert md5(first["2022"]["path"]) == md5(second["2022"]["path"])
    pd.testing.assert_frame_equal(frames["2017"], read_delivery(second["2017"]))
    pd.testing.assert_frame_equal(frames["2021"], read_delivery(second["2021"]))
    assert again.defects == demo.defects
    for year in ("2021", "2022", "2023"):
        a = demo.out_dir / "feedback" / "deelnemersfeedback" / year / f"deelnemersfeedback_{year}.csv"
        b = tmp_path / "feedback" / "deelnemersfeedback" / year / f"deelnemersfeedback_{year}.csv"
        assert md5(a) == md5(b)
    # truth of a wave does not depend on which other waves were generated
    full = pd.read_csv(demo.truth_dir / "district_truth.csv", dtype={"wave": str})
    part = pd.read_csv(again.truth_dir / "district_truth.csv", dtype={"wave": str})
    pd.testing.assert_frame_equal(full[full["wave"].isin(["2017", "2021", "2022"])].reset_index(drop=True), part)
    # another seed gives other data
    other = generate_demo_city(tmp_path / "other", seed=SEED + 1, respondents_per_wave=SMALL, waves=["2022"],
                               truth=False)
    assert md5(other.survey_files[0]["path"]) != md5(second["2022"]["path"])


def test_write_wave_file_formats_load_identically(codebook, tmp_path):
    frame = pd.DataFrame({
        "resp_id": ["R2019-000001", "R2019-000002", "R2019-000003"],
        "wijkcode": ["WK036301", "WK036302", "WK036303"],
        "geslacht": [1, 2, 9],
        "leeftijd": [34, 81, 19],
        "gezondheid": [1, 5, 9],
        "ladder_nu": [7, 98, 10],
        "opmerking": ["Het café is fijn.", "", "Geen opmerkingen."],
        "duur_min": [12.5, np.nan, 7.25],
    })
    loaded = {}
    for fmt in ("sav", "xlsx", "csv-nl", "csv-nl-cp1252", "csv", "parquet"):
        path = write_wave_file(frame, tmp_path / f"wave_{fmt}.x", fmt, codebook, wave="2019")
        if fmt == "sav":
            result, _ = pyreadstat.read_sav(str(path))
        elif fmt == "xlsx":
            result = pd.read_excel(path, sheet_name="data")
        elif fmt == "parquet":
            result = pd.read_parquet(path)
        else:
            encoding = {"csv-nl": "utf-8-sig", "csv-nl-cp1252": "cp1252", "csv": "utf-8"}[fmt]
            result = pd.read_csv(path, sep=";", decimal="." if fmt == "csv" else ",", encoding=encoding)
        result["opmerking"] = result["opmerking"].replace("", np.nan)
        loaded[fmt] = result
    reference = loaded["parquet"].assign(opmerking=frame["opmerking"].replace("", np.nan))
    for fmt, result in loaded.items():
        assert list(result.columns) == list(frame.columns), fmt
        for column in frame.columns:
            a, b = result[column], reference[column]
            if pd.api.types.is_numeric_dtype(b.dtype):
                np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), err_msg=fmt)
            else:
                assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), (fmt, column)
    with pytest.raises(ValueError):
        write_wave_file(frame, tmp_path / "x.txt", "txt", codebook)


def test_simulate_wave_is_the_delivered_wave(frames):
    simulated = simulate_wave("2023", seed=SEED, respondents_per_wave=SMALL)
    delivered = frames["2023"]
    assert list(simulated.columns) == list(delivered.columns)
    assert simulated["resp_id"].tolist() == delivered["resp_id"].tolist()
    np.testing.assert_array_equal(simulated["dj_leegte"].to_numpy(), delivered["dj_leegte"].to_numpy())
    np.testing.assert_allclose(simulated["duur_min"].to_numpy(dtype=float), delivered["duur_min"].to_numpy(dtype=float))


def test_cli(tmp_path, capsys):
    assert demo_main([str(tmp_path), "--seed", "3", "--respondents", "1000", "--waves", "2023", "--no-truth"]) == 0
    assert (tmp_path / "landing" / "wijkmonitor" / "2023" / "wijkmonitor_2023_levering.csv").is_file()
    assert (tmp_path / "truth" / "manifest.json").is_file()
    assert "done in" in capsys.readouterr().out


def test_cbs_population_parsed():
    city = _read_cbs_districts(CBS_PATH)
    assert len(city.codes) == 99 and city.municipality == "GM0363"
    assert city.cells.shape == (99, 2, 4)
    assert 700_000 < city.pop15.sum() < 800_000
