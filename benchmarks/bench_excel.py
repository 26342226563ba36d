"""Writing the Excel workbook rapport.xlsx (socialquality.report.excel.write_workbook), timed.

Two sizes:

* ``demo``: the synthetic city of tests/test_report.py (4 districts, 3 waves, 5 survey indicators);
* ``national``: the same catalogue for a synthetic country of 3,400 districts (issue 12's national
  size): 3 waves x 5 survey indicators x 3,401 areas in "Indicatoren", 3 comparisons each in
  "Veranderingen", 4 themes in "Index", 2 register figures per district -- about 2.2 million cells.

The model is built first (not timed); the time is that of ``write_workbook`` alone, best of
``--repeat`` runs, with the number of cells written and the file size. The workbook is opened
again with openpyxl afterwards to check that every sheet is an Excel table and that numeric
columns hold numbers (a benchmark that writes a broken file would prove nothing).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_excel.py               # both sizes
    PYTHONPATH=. .venv/bin/python benchmarks/bench_excel.py --size demo --repeat 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from socialquality.report.render import Model  # noqa: E402
from socialquality.report import excel  # noqa: E402
from test_report import CATALOGUE, CITY, CONDITIONS, SURVEY, WAVES, build_inputs  # noqa: E402


def national_inputs(n_districts: int = 3400, seed: int = 1):
    """ReportInputs of a synthetic country: every frame at national size, same catalogue."""
    rng = np.random.default_rng(seed)
    codes = [f"WK{k:06d}" for k in range(n_districts)]
    areas = [CITY] + codes
    base = {"moeite_rondkomen": 0.21, "eenzaam": 0.31, "eenzaam_65plus": 0.36, "cohesie": 6.1, "gehoord": 0.33}
    rows = []
    for wave in WAVES:
        for code in areas:
            n = int(rng.integers(10, 400)) if code != CITY else 100_000
            for ind in SURVEY:
                est = base[ind] * (1 + rng.normal(0, 0.1))
                se = 0.02 if ind != "cohesie" else 0.08
                rows.append((wave, code, ind, est, se, est - 1.96 * se, est + 1.96 * se, n, n * 0.8, 1.25, n < 30))
    di = pd.DataFrame(rows, columns=["wave", "district_code", "indicator_id", "estimate", "se", "ci_low", "ci_high",
                                     "n", "n_eff", "deff", "suppressed"])
    changes = []
    for code in areas:
        for ind in SURVEY:
            for wave, ref, comp in (("2021", "2019", "previous"), ("2023", "2021", "previous"), ("2023", "2019", "base")):
                c = float(rng.normal(0, 0.02))
                changes.append((code, ind, wave, comp, ref, c, c - 0.03, c + 0.03, 0.4, 0.6, "no_significant_change",
                                wave == "2021"))
    changes = pd.DataFrame(changes, columns=["district_code", "indicator_id", "wave", "compared_to", "reference_wave",
                                             "change", "ci_low", "ci_high", "p_value", "p_adjusted", "verdict",
                                             "method_break"])
    index = pd.DataFrame([(wave, code, cond, 100 + rng.normal(0, 3), 97.0, 103.0, 1)
                          for wave in WAVES for code in areas for cond in CONDITIONS],
                         columns=["wave", "district_code", "condition", "index", "ci_low", "ci_high", "n_indicators"])
    register = pd.DataFrame([(code, ind, float(rng.uniform(0, 20)), 2019) for code in areas
                             for ind in ("laag_inkomen", "afstand_huisarts")],
                            columns=["district_code", "indicator_id", "value", "year"])
    districts = pd.DataFrame({"district_code": codes, "district_name": [f"Wijk {k}" for k in range(n_districts)],
                              "population": rng.integers(500, 30_000, n_districts)})
    return build_inputs(districts=districts, district_indicators=di, changes=changes, composite_index=index,
                        register_indicators=register, index_decomposition=pd.DataFrame(), geojson_path=None)


def check(path: Path) -> tuple[int, int]:
    """(sheets, cells) of the written workbook; fails when a sheet is no table or a number column holds text."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    cells = 0
    for ws in wb.worksheets:
        cells += ws.max_row * ws.max_column
        if ws.title in ("Toelichting", "Explanation"):
            continue
        if ws.max_row > 1:
            assert ws.tables, f"sheet {ws.title} is not an Excel table"
        for col in ws.iter_cols(min_row=2):
            kinds = {type(c.value) for c in col if c.value is not None}
            assert not (kinds & {int, float} and str in kinds), f"{ws.title}: a column mixes numbers and text"
    return len(wb.worksheets), cells


def run(size: str, repeat: int) -> None:
    inputs = build_inputs() if size == "demo" else national_inputs()
    model = Model(inputs)
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rapport.xlsx"
        for _ in range(repeat):
            start = time.perf_counter()
            excel.write_workbook(model, path)
            best = min(best, time.perf_counter() - start)
        sheets, cells = check(path)
        print(f"excel {size}: write_workbook {best:.2f} s (best of {repeat}), {sheets} sheets, {cells:,} cells, "
              f"{path.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["demo", "national", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for size in (["demo", "national"] if args.size == "both" else [args.size]):
        run(size, args.repeat if size == "national" else max(args.repeat, 3))


if __name__ == "__main__":
    main()
