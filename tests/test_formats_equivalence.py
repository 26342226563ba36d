"""Done-when of the ingestion issue: the same wave delivered as SPSS .sav, Excel .xlsx, Dutch CSV
(';' and decimal comma; UTF-8 with BOM, and Windows-1252 with CRLF) and Parquet loads and gives
identical answers, and identical district indicators.

Wave 2017 is used because it exercises the codebook's mapping most: `veilig` delivered under its
old name `onveilig_buurt`, `gezondheid` in the old (reversed) coding, missing codes, free text
with accents, and durations with decimals that are missing for paper questionnaires.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from socialquality import stages
from socialquality.codebook import load_codebook
from socialquality.demo.generator import CODEBOOK_PATH, simulate_wave, write_wave_file
from socialquality.indicators import add_indicator_variables, estimate_indicators
from socialquality.monitor import Monitor
from socialquality.normalise import normalise_file
from socialquality.privacy import DEMO_PSEUDONYM_KEY
from socialquality.scales import score_scales
from socialquality.warehouse import schema as s
from socialquality.warehouse.store import read_table, wave_responses
from socialquality.weighting import weight_wave
from tests.support import write_config

WAVE = "2017"
SURVEY = "wijkmonitor"
FORMATS = {"sav": "sav", "xlsx": "xlsx", "csv-nl": "csv", "csv-nl-cp1252": "csv", "parquet": "parquet"}


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK_PATH)


@pytest.fixture(scope="module")
def delivered(codebook) -> pd.DataFrame:
    frame = simulate_wave(WAVE, seed=5, respondents_per_wave=400, codebook=codebook)
    # what makes the comparison worth something
    assert "onveilig_buurt" in frame.columns and "veilig" not in frame.columns
    assert WAVE in codebook.items["gezondheid"].recode
    assert frame["duur_min"].isna().any() and (frame["duur_min"].dropna() % 1 != 0).any()
    assert frame["opmerking"].str.contains("[éëïöü]", regex=True).any()
    frame.loc[0, "opmerking"] = "Mail mij: a.b@example.nl, of bel 06-12345678. Café ’t Hoekje is fijn."
    frame.loc[1, "rondkomen"] = 9  # a missing code ("geen antwoord")
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory, codebook, delivered) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("formats")
    return {fmt: write_wave_file(delivered, folder / f"{fmt}" / f"wijkmonitor_{WAVE}_levering.{ext}", fmt,
                                 codebook, WAVE)
            for fmt, ext in FORMATS.items()}


def test_the_formats_are_what_they_claim(files):
    head = files["csv-nl"].read_bytes()[:4000]
    assert head.startswith(b"\xef\xbb\xbf") and b";" in head
    lines = files["csv-nl-cp1252"].read_bytes().split(b"\r\n")
    assert len(lines) > 100 and any(b"," in field for field in lines[1].split(b";"))  # decimal comma
    assert files["sav"].read_bytes()[:4] == b"$FL2"
    assert files["xlsx"].read_bytes()[:2] == b"PK" and files["parquet"].read_bytes()[:4] == b"PAR1"


def test_every_format_normalises_to_the_same_frame(files, codebook, delivered):
    results = {fmt: normalise_file(path, codebook, WAVE, DEMO_PSEUDONYM_KEY) for fmt, path in files.items()}
    reference = results["sav"].frame
    assert len(reference) == len(delivered)
    for fmt, result in results.items():
        assert (result.frame["source_file"] == files[fmt].name).all()
        pd.testing.assert_frame_equal(result.frame.drop(columns="source_file"), reference.drop(columns="source_file"),
                                      check_exact=True, obj=f"{fmt} vs sav")
        assert result.unknown_columns == [] and result.dropped_columns == [] and result.label_mismatches == []

    # and the shared result is the codebook's current coding
    frame = reference
    assert "veilig" in frame.columns and "onveilig_buurt" not in frame.columns
    recode = codebook.items["gezondheid"].recode[WAVE]
    expected = delivered["gezondheid"].map(lambda code: float(recode.get(int(code), code))).where(
        ~delivered["gezondheid"].isin([int(c) for c in codebook.items["gezondheid"].scale.missing]))
    np.testing.assert_array_equal(frame["gezondheid"].to_numpy(), expected.to_numpy())
    assert pd.isna(frame.loc[1, "rondkomen"])
    np.testing.assert_allclose(frame["duration_min"].to_numpy(), delivered["duur_min"].to_numpy(dtype=float))
    assert frame.loc[0, "opmerking"] == ("Mail mij: [e-mail verwijderd], of bel [telefoonnummer verwijderd]. "
                                         "Café ’t Hoekje is fijn.")


def _indicators(m: Monitor, frame: pd.DataFrame) -> pd.DataFrame:
    """District indicators of a wave's rows, as estimate_wave computes them (score, rake, estimate)."""
    scored = add_indicator_variables(score_scales(frame, m.codebook), m.catalogue)
    margins = read_table(m.engine, s.population_margins)
    design = weight_wave(scored, margins, trim_bounds=m.settings.trim_bounds, min_cell=m.settings.min_cell).design
    return estimate_indicators(design, m.catalogue, WAVE, m.settings.municipality) \
        .sort_values(["district_code", "indicator_id"]).reset_index(drop=True)


def test_every_format_loads_the_same_rows_and_gives_the_same_indicators(tmp_path, files, codebook, delivered):
    """Each format in turn is the newest delivery of the wave (a corrected file), loaded through the
    ingest stage; what the warehouse then holds, and the indicators computed from it, are identical."""
    landing = tmp_path / "landing"
    folder = landing / SURVEY / WAVE
    folder.mkdir(parents=True)
    (tmp_path / "feedback").mkdir()
    m = Monitor.from_config(write_config(tmp_path, landing=landing, feedback=tmp_path / "feedback"))
    stages.load_population(m)
    stored, indicators = {}, {}
    items = [i.id for i in codebook.items.values() if i.type != "text"]
    start = time.time() - 3600
    for step, (fmt, path) in enumerate(files.items()):
        target = folder / f"{fmt}_{path.name}"
        target.write_bytes(path.read_bytes())
        os.utime(target, (start + 60 * step, start + 60 * step))
        result = stages.ingest_wave(m, WAVE, f"run-{fmt}")
        assert result["status"] == "loaded" and result["file"] == target.name, result
        rows = wave_responses(m.engine, SURVEY, WAVE, statuses=("received",), items=items)
        texts = read_table(m.engine, s.text_answers, wave=WAVE).sort_values("source_row").reset_index(drop=True)
        stored[fmt] = (rows.drop(columns=["receipt_id", "source_file"]), texts)
        indicators[fmt] = _indicators(m, rows)
    m.engine.dispose()

    statuses = read_table(m.engine, s.file_receipts).sort_values("id")["status"].tolist()
    assert statuses == ["superseded"] * (len(files) - 1) + ["loaded"]
    reference_rows, reference_texts = stored["sav"]
    reference = indicators["sav"]
    assert len(reference_rows) == len(delivered) and len(reference_texts) > 0
    city = reference[reference["district_code"] == m.settings.municipality]
    assert city["estimate"].notna().all() and len(city) == len(m.catalogue.indicators)
    for fmt in files:
        rows, texts = stored[fmt]
        pd.testing.assert_frame_equal(rows, reference_rows, check_exact=True, obj=f"{fmt} rows")
        pd.testing.assert_frame_equal(texts, reference_texts, check_exact=True, obj=f"{fmt} texts")
        pd.testing.assert_frame_equal(indicators[fmt], reference, check_exact=True, obj=f"{fmt} indicators")
