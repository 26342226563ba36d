"""Benchmark of the quality stage: 1,000,000 responses x 60 items through `validate_wave`.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_quality.py [--rows 1000000] [--docs]

The codebook is the Wijkmonitor's with every answer item (and grid) doubled (60 items), written
to a temporary folder together with its generated suite and a copy of the Wijkmonitor's custom
rules. The frame is random but realistic (about 2% missing answers, 99 districts) with injected
defects: out-of-range codes, duplicate respondents, unknown districts, speeders, underage rows.
Prints the time of each phase and the peak resident memory; target: validation < 30 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socialquality.codebook import AGE_GROUPS, load_codebook  # noqa: E402
from socialquality.quality import build_data_docs, validate_wave, write_generated_suite  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_codebook(folder: Path):
    raw = yaml.safe_load((ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml").read_text(encoding="utf-8"))
    raw["survey"] = "bench60"
    raw["title"] = "Benchmark: Wijkmonitor with every item doubled"
    items = [i for i in raw["items"] if i.get("type") != "text"]
    copies = []
    for item in items:
        twin = copy.deepcopy(item)
        twin["id"] = f"{item['id']}_2"
        twin.pop("aliases", None)
        copies.append(twin)
    raw["items"] = items + copies
    raw["grids"] = raw["grids"] + [{"id": f"{g['id']}_2", "items": [f"{i}_2" for i in g["items"]]} for g in raw["grids"]]
    path = folder / "bench60.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    codebook = load_codebook(path)
    assert sum(1 for i in codebook.items.values() if i.type != "text") == 60
    return codebook


def synthetic_wave(codebook, n: int, districts: list[str], seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(16, 95, n).astype(float)
    columns = {
        "respondent_pid": pd.array(np.char.add("p", np.arange(n).astype(str)), dtype="str"),
        "wave": pd.array(np.full(n, "2023"), dtype="str"),
        "district_code": pd.array(np.asarray(districts)[rng.integers(0, len(districts), n)], dtype="str"),
        "sex": pd.array(np.where(rng.random(n) < 0.5, "m", "v"), dtype="str"),
        "age": age,
        "age_group": pd.array(np.asarray(AGE_GROUPS)[np.searchsorted([25, 45, 65], age, side="right")], dtype="str"),
        "duration_min": rng.uniform(6, 45, n).round(1),
        "source_file": pd.array(np.where(np.arange(n) < n // 2, "web_2023.csv", "papier_2023.xlsx"), dtype="str"),
        "source_row": np.where(np.arange(n) < n // 2, np.arange(n) + 1, np.arange(n) - n // 2 + 1).astype(np.int64),
    }
    for item in codebook.items.values():
        if item.scale.value_range is not None:
            values = rng.integers(int(item.scale.value_range[0]), int(item.scale.value_range[1]) + 1, n).astype(float)
        else:
            values = np.asarray(sorted(item.scale.codes), dtype=float)[rng.integers(0, len(item.scale.codes), n)]
        values[rng.random(n) < 0.02] = np.nan
        columns[item.id] = values
    frame = pd.DataFrame(columns)
    # Injected defects (positions spread over the frame).
    picks = rng.choice(n, 3300, replace=False)
    bad_code, dup, bad_district, speed, young = np.split(picks, [1000, 1500, 2000, 3000])
    frame.loc[bad_code, "rondkomen"] = 7.0
    frame.loc[dup, "respondent_pid"] = frame["respondent_pid"].iloc[rng.integers(0, n, len(dup))].to_numpy()
    frame.loc[bad_district, "district_code"] = "WK999999"
    frame.loc[speed, "duration_min"] = 2.5
    frame.loc[young, "age"] = 14.0
    return frame


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--docs", action="store_true", help="also time build_data_docs")
    parser.add_argument("--slice-columns", type=int, default=None,
                        help="columns per GX validation slice (default: gx_adapter.SLICE_COLUMNS; "
                             "a large number = one GX validation on the whole frame, for comparison)")
    args = parser.parse_args()
    if args.slice_columns:
        from socialquality.quality import gx_adapter

        gx_adapter.SLICE_COLUMNS = args.slice_columns
    print(f"GX slice size: {args.slice_columns or 'default'} columns", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        codebook = bench_codebook(folder)
        write_generated_suite(codebook, folder / "expectations")
        custom = json.loads((ROOT / "expectations" / "custom" / "wijkmonitor.json").read_text(encoding="utf-8"))
        custom["survey"] = codebook.survey
        (folder / "expectations" / "custom").mkdir()
        (folder / "expectations" / "custom" / "bench60.json").write_text(json.dumps(custom), encoding="utf-8")
        districts = [f"WK0363{i:02d}" for i in range(99)]

        t0 = time.perf_counter()
        frame = synthetic_wave(codebook, args.rows, districts)
        t1 = time.perf_counter()
        rss_data = peak_rss_mb()
        print(f"frame: {len(frame):,} rows x {frame.shape[1]} columns "
              f"({frame.memory_usage(deep=True).sum() / 2**20:.0f} MiB), built in {t1 - t0:.1f} s; "
              f"peak RSS so far {rss_data:.0f} MiB", flush=True)

        t2 = time.perf_counter()
        outcome = validate_wave(frame, codebook, known_districts=set(districts),
                                expectations_dir=folder / "expectations", run_label="benchmark")
        t3 = time.perf_counter()
        rec = outcome.reconciliation
        statuses = [c.status for c in outcome.checks]
        print(f"validate_wave: {t3 - t2:.1f} s  (target < 30 s)")
        print(f"  checks: {len(statuses)} ({statuses.count('passed')} passed, {statuses.count('failed')} failed, "
              f"{statuses.count('not_applicable')} n.a.); GX expectations evaluated: "
              f"{sum(r['statistics']['evaluated_expectations'] for r in outcome.gx_results)}")
        print(f"  received {rec.received:,} = clean {rec.clean:,} + quarantined {rec.quarantined:,}; "
              f"quarantine records {len(outcome.quarantine):,}; blocking: "
              f"{[c.check_id for c in outcome.blocking_failures]}")
        print("  records by rule: " + ", ".join(f"{k}={v:,}" for k, v in
                                                outcome.quarantine["rule_id"].value_counts().items()))
        if args.docs:
            t4 = time.perf_counter()
            page = build_data_docs(outcome, folder / "docs", "benchmark")
            print(f"build_data_docs: {time.perf_counter() - t4:.1f} s ({page.stat().st_size / 1024:.0f} KiB page)")
        print(f"peak RSS: {peak_rss_mb():.0f} MiB (of which data generation {rss_data:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
