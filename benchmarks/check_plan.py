"""Full check of the sampling planner's promises on the demo city (`make plan-check`).

    .venv/bin/python benchmarks/check_plan.py [--config config/demo.yaml] [--wave 2025] [--replicates 40]

Needs the demo warehouse (`make demo`) and the demo's fieldwork files (written by the demo
generator; for a demo city generated before they existed, this script writes them first). It
plans the wave with surveys/planning.yaml, draws the planned wave `--replicates` times with the
demo generator, runs the pipeline's own weighting and estimation on every draw
(socialquality.planner_check), prints the promised and simulated margins and power with their
Monte Carlo errors, and exits with 1 when a promise is missed by more than its tolerance:

* margins: the pipeline's reported SE and the spread of the estimates over the draws, relative
  to the promised SE, within 5% + 3 MC errors of 1 (median over district x indicator);
  districts promised to be within the target margin: at least 95% of them within it (+5%);
* power: |simulated - promised| <= 3 MC errors + 0.03 for every intervention x indicator.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--wave", default="2025")
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--out", default=None, help="output folder (default: <reports>/steekproefplan_<wave>)")
    args = parser.parse_args(argv)

    from socialquality.config import load_settings
    from socialquality.planner_io import print_plan, run_plan

    settings = load_settings(args.config, check_inputs=False)
    fieldwork = settings.path("landing").parent / "fieldwork"
    if settings.demo and not fieldwork.is_dir():
        from pipelines.cli import DEMO_RESPONDENTS_PER_WAVE
        from socialquality.demo.fieldwork import write_demo_fieldwork

        print(f"writing the demo's fieldwork files into {fieldwork} ...", flush=True)
        write_demo_fieldwork(settings.path("landing").parent, respondents_per_wave=DEMO_RESPONDENTS_PER_WAVE)
    started = time.perf_counter()
    result = run_plan(args.config, args.wave, out_dir=args.out, check_replicates=args.replicates)
    print_plan(result)
    print(f"done in {time.perf_counter() - started:.0f} s")
    check, plan = result["check"], result["plan"]
    m = check["margins"]
    failures = []
    tolerance = 0.05 + 3 * m["mc_error_empirical_ratio"]
    if abs(m["median_reported_over_promised"] - 1) > tolerance:
        failures.append(f"reported SE / promised = {m['median_reported_over_promised']:.3f}")
    if abs(m["empirical_over_promised"] - 1) > tolerance:
        failures.append(f"empirical SD / promised = {m['empirical_over_promised']:.3f}")
    if plan.settings.margin_pp and m["districts_promised_within_target"]:
        share = m["of_those_simulated_within_target_plus_5pct"] / m["districts_promised_within_target"]
        if share < 0.95:
            failures.append(f"only {share:.0%} of the districts promised within the margin are within it")
    for r in check["power"].to_dict("records"):
        if abs(r["simulated_power"] - r["promised_power"]) > 3 * r["mc_error"] + 0.03:
            failures.append(f"power {r['intervention_id']}/{r['indicator_id']}: promised {r['promised_power']:.2f}, "
                            f"simulated {r['simulated_power']:.2f} (MC error {r['mc_error']:.2f})")
    print("RESULT: " + ("all promises met within Monte Carlo error" if not failures else "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
