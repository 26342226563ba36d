"""Time of the report stage (render_report) against the number of districts (issue 10c).

The synthetic city of tests/test_report.py, its districts copied under new codes until there are
``--districts`` of them (every frame with a ``district_code`` column is copied; boundaries only for
the original districts), rendered once per size. Prints wall time, CPU time of this process and its
children, and the size of one district page.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_report.py [--districts 100,1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def scaled_inputs(n_districts: int):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_report import CITY, build_inputs
    finally:
        sys.path.pop(0)
    base = build_inputs()
    originals = [c for c in base.districts["district_code"] if c != CITY]
    copies = max(1, -(-n_districts // len(originals)))
    mapping = [(f"{c}{'' if k == 0 else f'x{k}'}", c, k) for k in range(copies) for c in originals][:n_districts]

    def grow(frame):
        if frame is None or "district_code" not in frame.columns or frame.empty:
            return frame
        parts = [frame[~frame["district_code"].isin(originals)]]
        for new, old, k in mapping:
            part = frame[frame["district_code"] == old].copy()
            part["district_code"] = new
            if "district_name" in part.columns and k:
                part["district_name"] = part["district_name"] + f" {k}"
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    changes = {f.name: grow(getattr(base, f.name)) for f in dataclasses.fields(base)
               if isinstance(getattr(base, f.name), pd.DataFrame) and f.name not in ("effects", "chain",
                                                                                     "intervention_sites")}
    return dataclasses.replace(base, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", default="100,1000")
    args = parser.parse_args()
    from socialquality.report import render_report

    for d in [int(x) for x in args.districts.split(",")]:
        inputs = scaled_inputs(d)
        with tempfile.TemporaryDirectory() as tmp:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = render_report(inputs, Path(tmp))
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
                   + c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
            page = out.district_pages[0].stat().st_size
            print(f"districts={len(out.district_pages):5d}  wall={wall:7.1f} s  cpu={cpu:7.1f} s  "
                  f"figures={len(out.figure_paths):4d}  district page={page / 1024:.0f} KiB", flush=True)


if __name__ == "__main__":
    main()
