"""Run every benchmark, each in its own process, and print one summary table (`make bench`).

    .venv/bin/python benchmarks/run_all.py [--only ingest,quality,survey,sae] [--timeout 1800]

The benchmarks run at full size with their default options (the targets are about full size):

* bench_ingest.py  -- 1,000,000 rows x 65 columns: read + match + pseudonymise, CSV and Parquet
                      (it starts one fresh process per format itself);
* bench_quality.py -- 1,000,000 responses x 60 items through `validate_wave`;
* bench_survey.py  -- 1,000,000 responses, 3,400 districts, 10 waves, 40 indicators: design-based
                      estimation (and, when /tmp/benchvenv has samplics, the comparison with it).

Each script runs in a separate subprocess so that its peak memory is its own. Their printed
output is kept (shown with --verbose, always shown for a benchmark that fails to run) and the
figures are parsed from it into the table: benchmark, measured, target, pass/fail. The exit
status is 1 when a benchmark fails to run or misses a target.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Row:
    benchmark: str
    measure: str
    measured: float | None
    unit: str
    target: float | None  # None: the benchmark states no target (the figure is shown for information)
    passed: bool | None  # None: the figure was not found in the output (or there is no target)

    def cells(self) -> list[str]:
        value = "?" if self.measured is None else f"{self.measured:,.2f} {self.unit}"
        if self.target is None:
            return [self.benchmark, self.measure, value, "none", "info" if self.measured is not None else "no result"]
        verdict = {True: "pass", False: "FAIL", None: "no result"}[self.passed]
        return [self.benchmark, self.measure, value, f"< {self.target:,.0f} {self.unit}", verdict]

    @property
    def ok(self) -> bool:
        return self.passed is True or (self.target is None and self.measured is not None)


def _number(pattern: str, text: str, group: int = 1) -> float | None:
    found = re.search(pattern, text, flags=re.MULTILINE)
    return float(found.group(group).replace(",", "")) if found else None


def _row(benchmark: str, measure: str, measured: float | None, unit: str, target: float | None) -> Row:
    passed = None if measured is None or target is None else measured < target
    return Row(benchmark, measure, measured, unit, target, passed)


def parse_ingest(out: str) -> list[Row]:
    rows = []
    for fmt, seconds in (("csv", 20.0), ("parquet", 5.0)):
        total = _number(rf"^{fmt}\s+first run\s.*total\s+([\d.,]+) s", out)
        peak = _number(rf"^{fmt}\s+target total .*peak RSS ([\d.,]+) GB", out)
        rows.append(_row("ingest", f"{fmt}: read+match+pseudonymise 1M rows (first run)", total, "s", seconds))
        rows.append(_row("ingest", f"{fmt}: peak memory", peak, "GB", 3.0))
    return rows


def parse_quality(out: str) -> list[Row]:
    rows = [_row("quality", "validate_wave 1M rows x 60 items", _number(r"^validate_wave: ([\d.,]+) s", out), "s", 30.0)]
    peak = _number(r"^peak RSS: ([\d.,]+) MiB", out)
    # bench_quality states no memory target: the figure is reported for information
    rows.append(_row("quality", "peak memory (incl. the data)", None if peak is None else peak / 1024, "GB", None))
    return rows


def parse_survey(out: str) -> list[Row]:
    total = _number(r"^total estimation wall time: ([\d.,]+) s", out)
    peak = _number(r"^peak RSS: ([\d.,]+) MB", out)
    return [_row("survey", "estimation 1M rows, 3,400 districts, 40 indicators", total, "s", 30.0),
            _row("survey", "peak memory (incl. the data)", None if peak is None else peak / 1024, "GB", 4.0)]


def parse_sae(out: str) -> list[Row]:
    seconds = _number(r"^RESULT sae_seconds=([\d.,]+)", out)
    peak = _number(r"peak memory ([\d.,]+) GB", out)
    return [_row("sae", "small areas: 15 indicators, 3,400 districts + 13,000 buurten", seconds, "s", 30.0),
            _row("sae", "peak memory (incl. the data)", peak, "GB", None)]


BENCHMARKS: dict[str, tuple[str, Callable[[str], list[Row]]]] = {
    "ingest": ("bench_ingest.py", parse_ingest),
    "quality": ("bench_quality.py", parse_quality),
    "survey": ("bench_survey.py", parse_survey),
    "sae": ("bench_sae.py", parse_sae),
}


def run_one(name: str, timeout: float, verbose: bool) -> tuple[list[Row], float, int]:
    script, parse = BENCHMARKS[name]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print(f"--- {script} ...", flush=True)
    start = time.perf_counter()
    # own session, so that on a timeout the benchmark and the processes it started go together
    process = subprocess.Popen([sys.executable, str(HERE / script)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err = (err or "") + f"\ntimed out after {timeout:.0f} s"
        code = -1
    wall = time.perf_counter() - start
    rows = parse(out)
    broken = code != 0 and any(r.measured is None for r in rows)
    if verbose or broken:
        print(out.rstrip())
        if err.strip():
            print(err.rstrip()[-3000:], file=sys.stderr)
    print(f"    done in {wall:.0f} s (exit {code})", flush=True)
    return rows, wall, code


def table(rows: list[list[str]]) -> str:
    header = ["benchmark", "measure", "measured", "target", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    parser.add_argument("--verbose", action="store_true", help="print each benchmark's own output")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")

    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    print(f"{os.cpu_count()} CPU(s), {load} before the run", flush=True)
    all_rows: list[Row] = []
    failed = False
    for name in names:
        rows, wall, code = run_one(name, args.timeout, args.verbose)
        all_rows.extend(rows)
        failed |= code != 0 and name != "ingest"  # bench_ingest exits 1 exactly when it misses a target
        failed |= not all(r.ok for r in rows)
    print()
    print(table([r.cells() for r in all_rows]))
    print("\nall targets met" if not failed else "\nsome targets missed or a benchmark did not run")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
