"""python -m socialquality.demo OUT_DIR [--seed N] [--respondents N] [--waves 2019 2020 ...] [--no-truth]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from socialquality.demo.generator import generate_demo_city


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m socialquality.demo",
        description="Write the demo city's survey deliveries, participant feedback and truth files.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write landing/, feedback/ and truth/ into")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--respondents", type=int, default=12000, help="respondents per wave (default 12000)")
    parser.add_argument("--waves", nargs="+", default=None, help="waves to write (default: all codebook waves)")
    parser.add_argument("--no-truth", action="store_true", help="skip the truth simulation (faster)")
    args = parser.parse_args(argv)
    if args.respondents < 500:
        parser.error("--respondents must be at least 500")
    started = time.perf_counter()
    try:
        manifest = generate_demo_city(args.out_dir, seed=args.seed, respondents_per_wave=args.respondents,
                                      waves=args.waves, truth=not args.no_truth)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    for f in manifest.survey_files:
        print(f"survey   {f['wave']}  {f['format']:<14} {f['rows']:>6} rows  {f['path']}")
    for f in manifest.feedback_files:
        print(f"feedback {f['year']}  {f['format']:<14} {f['rows']:>6} rows  {f['path']}")
    print(f"defects: {len(manifest.defects)} (listed in {manifest.truth_dir / 'manifest.json'})")
    print(f"done in {elapsed:.1f} s (seed {manifest.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
