"""Ingestion benchmark: read 1,000,000 rows x 65 columns, match the columns, pseudonymise the ids.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ingest.py [--rows N] [--dir /tmp/socialquality_bench]

The data are generated once (cached in --dir, regenerated when --rows changes): a `;`-separated
UTF-8 CSV with a decimal comma in `duur_min`, and the same data as Parquet. Columns: resp_id,
wijkcode, leeftijd, geslacht, duur_min and 60 integer item columns (the 30 answer items of the
wijkmonitor codebook plus 30 extra eens5 items added to a benchmark copy of that codebook).

Each format is measured in a fresh Python process so that its peak RSS (resource.getrusage) is
its own. Targets: CSV < 20 s, Parquet < 5 s, peak memory < 3 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = {"csv": 20.0, "parquet": 5.0}
TARGET_PEAK_GB = 3.0
N_EXTRA_ITEMS = 30


def benchmark_codebook(directory: Path):
    """The wijkmonitor codebook with 30 extra eens5 items, written next to the data."""
    import yaml

    from socialquality.codebook import load_codebook

    document = yaml.safe_load((ROOT / "surveys" / "codebooks" / "wijkmonitor.yaml").read_text(encoding="utf-8"))
    document["items"] += [
        {"id": f"extra_{i:02d}", "text": f"Extra stelling {i}", "scale": "eens5"} for i in range(1, N_EXTRA_ITEMS + 1)
    ]
    path = directory / "bench_codebook.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_codebook(path)


def generate(directory: Path, rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    csv_path = directory / f"wijkmonitor_{rows}.csv"
    parquet_path = directory / f"wijkmonitor_{rows}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    codebook = benchmark_codebook(directory)
    rng = np.random.default_rng(2024)
    districts = np.array([f"WK0363{i:02d}" for i in range(99)])
    frame = pd.DataFrame(
        {
            "resp_id": pd.Series(np.arange(1, rows + 1)).map("R{:07d}".format),
            "wijkcode": districts[rng.integers(0, len(districts), rows)],
            "leeftijd": rng.integers(16, 96, rows),
            "geslacht": rng.choice([1, 2, 9], rows, p=[0.49, 0.49, 0.02]),
            "duur_min": np.round(rng.gamma(4.0, 4.0, rows), 1),
        }
    )
    items = [item for item in codebook.items.values() if item.type != "text"]
    assert len(items) == 60, len(items)
    for item in items:
        low, high = item.scale.bounds
        frame[item.id] = rng.integers(int(low), int(high) + 1, rows)
    start = time.perf_counter()
    frame.to_csv(csv_path, sep=";", decimal=",", index=False, encoding="utf-8")
    frame.to_parquet(parquet_path, index=False)
    print(f"generated {rows:,} rows x {frame.shape[1]} columns in {time.perf_counter() - start:.1f} s "
          f"({csv_path.stat().st_size / 1e6:.0f} MB CSV, {parquet_path.stat().st_size / 1e6:.0f} MB Parquet)")
    return csv_path, parquet_path


def measure(path: Path, directory: Path, repeat: int) -> dict[str, object]:
    """Runs in the child process: `repeat` runs of read + match + pseudonymise. The first run is
    in a fresh process (memory not yet touched: the honest figure); later runs show the warm
    figure (in small VMs first-touch page faults can cost ~2 s per GB)."""
    runs = [measure_once(path, directory) for _ in range(repeat)]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {"first": runs[0], "warm": min(runs[1:], key=lambda r: r["total_s"]) if repeat > 1 else None,
            "peak_rss_gb": round(peak_kb / 1024**2, 2)}


def measure_once(path: Path, directory: Path) -> dict[str, float | int | str]:
    from socialquality.privacy import pseudonymisation_key, pseudonymise
    from socialquality.readers import match_columns, read_survey_file, require_columns, survey_string_columns

    codebook = benchmark_codebook(directory)
    start = time.perf_counter()
    raw = read_survey_file(path, string_columns=survey_string_columns(codebook))
    read_s = time.perf_counter() - start
    t = time.perf_counter()
    match = match_columns(list(raw.frame.columns), codebook, codebook.wave_ids[-1])
    require_columns(match, path)
    match_s = time.perf_counter() - t
    t = time.perf_counter()
    id_column = next(c for c, role in match.background.items() if role == "respondent_id")
    pids = pseudonymise(raw.frame[id_column], codebook.survey, pseudonymisation_key({}, demo=True))
    pseudonymise_s = time.perf_counter() - t
    total_s = time.perf_counter() - start
    assert pids.notna().all() and raw.n_rows == len(pids)
    return {
        "format": raw.format,
        "rows": raw.n_rows,
        "columns": raw.frame.shape[1],
        "decimal": raw.decimal or "",
        "read_s": round(read_s, 2),
        "match_s": round(match_s, 3),
        "pseudonymise_s": round(pseudonymise_s, 2),
        "total_s": round(total_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/socialquality_bench"))
    parser.add_argument("--repeat", type=int, default=2, help="runs per format in one process (first = cold)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(measure(args.child, args.dir, max(args.repeat, 1))))
        return 0

    csv_path, parquet_path = generate(args.dir, args.rows)
    failed = False
    for fmt, path in (("csv", csv_path), ("parquet", parquet_path)):
        completed = subprocess.run(
            [sys.executable, __file__, "--dir", str(args.dir), "--repeat", str(args.repeat), "--child", str(path)],
            capture_output=True, text=True, check=False,
        )
        if completed.returncode != 0:
            print(completed.stderr, file=sys.stderr)
            return 1
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        first, warm, peak = result["first"], result["warm"], result["peak_rss_gb"]
        ok = first["total_s"] < TARGET_SECONDS[fmt] and peak < TARGET_PEAK_GB
        failed |= not ok
        for label, run in (("first run", first), ("warm run", warm)):
            if run is None:
                continue
            print(
                f"{fmt:8s} {label:9s} {run['rows']:>9,} rows x {run['columns']} cols  read {run['read_s']:6.2f} s  "
                f"match {run['match_s']:.3f} s  pseudonymise {run['pseudonymise_s']:5.2f} s  total {run['total_s']:6.2f} s"
            )
        print(
            f"{fmt:8s} target total < {TARGET_SECONDS[fmt]:.0f} s (first run), peak RSS {peak:.2f} GB "
            f"(target < {TARGET_PEAK_GB:.0f} GB): {'OK' if ok else 'MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
