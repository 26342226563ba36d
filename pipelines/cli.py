"""Command line: `socialquality run|demo|init|check|release|accept|why|plan|dagster-home`.

`run` materialises the whole asset graph in-process through Dagster (runs are recorded in the
Dagster instance under paths.dagster_home, so `make ui` shows them). Configuration problems stop
with one line that says what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from socialquality.errors import SocialQualityError

DEFAULT_CONFIG = "config/demo.yaml"
BLOCKING_CHECKS = {"wave_usable", "rows_reconcile"}
DEMO_RESPONDENTS_PER_WAVE = 9000


def _fail(message: str, code: int = 2) -> int:
    print(f"socialquality: error: {message}", file=sys.stderr)
    return code


def prepare_dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(path.resolve())
    return path


def _error_of(event) -> str:
    """The innermost error of a failed step, on one line (our own errors already are one line)."""
    error = event.step_failure_data.error if event.step_failure_data else None
    innermost = error
    while error is not None:
        innermost = error
        error = error.cause
    if innermost is None:
        return "unknown error"
    message = innermost.message.strip().splitlines()[0] if innermost.message.strip() else innermost.cls_name
    return message


def run_pipeline(config_path: str, waves: list[str] | None = None, quiet: bool = False) -> int:
    """Materialise reference data, every landed wave, then the city-wide stages (one writer at a
    time: a second run of the same installation stops with one line, see socialquality.runlock)."""
    from socialquality.monitor import Monitor
    from socialquality.runlock import installation_lock

    started = time.monotonic()
    monitor = Monitor.from_config(config_path)
    monitor.engine  # checks the database and upgrades the schema before Dagster starts
    with installation_lock(monitor.engine, monitor.settings.warehouse_url, monitor.settings.path("dagster_home"),
                           f"socialquality run --config {Path(config_path).name}"):
        return _run_locked(monitor, config_path, waves, quiet, started)


def mark_abandoned_runs(instance) -> list[str]:
    """Runs left STARTED/STARTING/CANCELING by a killed process are marked failed. Called while
    holding the installation lock, so no other run of this installation can still be going."""
    from dagster import DagsterRunStatus, RunsFilter

    stale = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING,
                                                           DagsterRunStatus.CANCELING]))
    for run in stale:
        instance.report_run_failed(run, message="the process running it ended without finishing (killed?); "
                                                "marked failed by the next `socialquality run`")
    return [run.run_id for run in stale]


def _run_locked(monitor, config_path: str, waves: list[str] | None, quiet: bool, started: float) -> int:
    monitor.catalogue, monitor.register  # validates the declarative files with clear messages
    from socialquality.privacy import pseudonymisation_key

    pseudonymisation_key(demo=monitor.settings.demo)  # a production run without a key stops here
    prepare_dagster_home(monitor.settings.path("dagster_home"))

    from dagster import DagsterInstance, DagsterEventType

    from pipelines.definitions import build_definitions
    from pipelines.partitions import wave_partitions

    def say(text: str, *, important: bool = False) -> None:
        if important and quiet:
            print(f"socialquality: {text}", file=sys.stderr, flush=True)
        elif not quiet:
            elapsed = time.monotonic() - started
            print(f"[{elapsed:6.1f}s] {text}", flush=True)

    defs = build_definitions(str(Path(config_path).resolve()))
    instance = DagsterInstance.get()
    for run_id in mark_abandoned_runs(instance):
        say(f"warning: run {run_id[:8]} was left unfinished by a killed process; marked failed")
    materialised_now: set[str] = set()
    landed = monitor.landed_waves()
    if waves:
        unknown = [w for w in waves if w not in landed]
        if unknown:
            raise SocialQualityError(f"no files for wave(s) {', '.join(unknown)} in {monitor.landing_dir()}")
        landed = [w for w in landed if w in waves]
    for folder in monitor.unknown_wave_folders():
        say(f"warning: folder {folder!r} in the landing area is not a wave of the codebook; ignored")
    if not landed:
        raise SocialQualityError(f"no survey files in {monitor.landing_dir()} (expected <wave>/<file>)")
    existing = set(instance.get_dynamic_partitions(wave_partitions.name))
    new = [w for w in landed if w not in existing]
    if new:
        instance.add_dynamic_partitions(wave_partitions.name, new)
    quiet_logs = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

    def execute(job_name: str, label: str, partition_key: str | None = None) -> str:
        """Run one job; returns 'ok', 'blocked' (a blocking data-quality check stopped it) or 'failed'."""
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(instance=instance, partition_key=partition_key, raise_on_error=False,
                                        run_config=quiet_logs)
        checks_failed, blocking = [], []
        for event in result.all_events:
            if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    checks_failed.append(f"{evaluation.check_name} ({evaluation.severity.value.lower()})")
                    if evaluation.check_name in BLOCKING_CHECKS:
                        description = evaluation.description or ""
                        blocking.append(f"{evaluation.check_name}: {description}")
        failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
        materialised = [e.asset_key.path[-1] for e in result.all_events
                        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
        materialised_now.update(materialised)
        status = "ok" if result.success else ("blocked" if blocking and not failures else "failed")
        say(f"{label}: {status.upper() if status != 'ok' else status}; materialised {', '.join(materialised) or 'nothing'}"
            + (f"; checks not passed: {', '.join(checks_failed)}" if checks_failed else "")
            + f" (run {result.run_id[:8]})")
        for line in blocking:
            say(f"{label}: blocked by {line}; its indicators are not computed (see the audit page)", important=True)
        for failure in failures:
            say(f"{label}: {failure.step_key} failed: {_error_of(failure)}", important=True)
        return status

    if execute("reference_job", "reference data (population figures, intervention register)") != "ok":
        say("FAILED: the reference data did not load; no wave was processed (see the error above)", important=True)
        return 1
    failed_waves, blocked_waves = [], []
    for wave in landed:
        status = execute("wave_job", f"wave {wave}", partition_key=wave)
        if status == "failed":
            failed_waves.append(wave)
        elif status == "blocked":
            blocked_waves.append(wave)
    ok = execute("city_job", "trends, effects and reports") == "ok"
    reports = monitor.settings.path("reports")
    from socialquality.config import redact_url

    say(f"warehouse: {redact_url(monitor.settings.warehouse_url)}")
    if "trend_report" in materialised_now:
        say(f"trend report: {reports / 'index.html'}")
        say(f"Excel: {reports / 'rapport.xlsx'}")
    else:
        say(f"trend report NOT rebuilt in this run: {reports / 'index.html'} (if present) is from an earlier run "
            "and out of date", important=True)
    if "audit_index" in materialised_now:
        say(f"audit page: {monitor.settings.path('audit') / 'index.html'}")
    else:
        say(f"audit page NOT rebuilt in this run: {monitor.settings.path('audit') / 'index.html'}", important=True)
    if blocked_waves:
        say(f"waves blocked by data-quality rules (not published): {', '.join(blocked_waves)}")
    if failed_waves:
        say(f"FAILED: wave(s) {', '.join(failed_waves)} did not complete and are not in the report "
            "(see the errors above; fix and run again)", important=True)
    if not ok:
        say("FAILED: the city-wide stages (trends, effects, report) did not all complete", important=True)
    if ok and not failed_waves:
        say("done: every stage completed" + (f" ({len(blocked_waves)} wave(s) blocked by data-quality rules)"
                                            if blocked_waves else ""))
    return 0 if ok and not failed_waves else 1


def ensure_demo_city(config_path: str, quiet: bool = False) -> None:
    """Generate the demo city's files into the configured landing folder when it is empty."""
    from socialquality.config import load_settings

    settings = load_settings(config_path, check_inputs=False)
    if not settings.demo:
        raise SocialQualityError(f"{config_path} is not a demo configuration (demo: true); refusing to generate data")
    landing = settings.path("landing")
    if landing.is_dir() and any(landing.rglob("*.*")):
        return
    from socialquality.demo.generator import generate_demo_city

    out_dir = landing.parent
    if not quiet:
        print(f"generating the demo city into {out_dir} ...", flush=True)
    # 9,000 respondents a wave (a mid-sized city's survey): the whole demo stays within ~3 minutes
    generate_demo_city(out_dir, respondents_per_wave=DEMO_RESPONDENTS_PER_WAVE)


def init_installation(args) -> int:
    from socialquality.installer import draft_installation

    result = draft_installation(args.wave_file, args.population, args.out, survey=args.survey, wave=args.wave,
                                municipality=args.municipality, boundaries=args.boundaries,
                                register_figures=args.register_figures, answers_file=args.answers, force=args.force)
    print(f"new installation in {result.folder}")
    print(f"  configuration: {result.config}")
    print(f"  codebook:      {result.codebook}")
    if result.questions:
        print(f"{len(result.questions)} decision(s) still need a person (also in {result.folder / 'REVIEW.md'}):")
        for number, question in enumerate(result.questions, start=1):
            print(f"  {number}. [{question.subject}] {question.text}")
    else:
        print("no open decisions")
    print(f"next: socialquality check --config {result.config}")
    return 0


def check_installation(config_path: str) -> int:
    from socialquality.installcheck import check_installation as run_checks

    problems = run_checks(config_path)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem)
    print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
          + (": ready to run" if not errors else ": fix the errors, then check again"))
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socialquality", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialise the whole pipeline (through Dagster)")
    run.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    run.add_argument("--wave", action="append", help="only these waves (repeatable)")
    run.add_argument("--quiet", action="store_true")
    demo = sub.add_parser("demo", help="generate the demo city (if needed) and run the pipeline on it")
    demo.add_argument("--config", default=DEFAULT_CONFIG)
    demo.add_argument("--quiet", action="store_true")
    home = sub.add_parser("dagster-home", help="print the Dagster instance folder of a configuration")
    home.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    release = sub.add_parser("release", help="release a quarantined row after review (recorded)")
    release.add_argument("quarantine_id", type=int)
    release.add_argument("--by", required=True, help="who reviewed and released it")
    release.add_argument("--reason", required=True)
    release.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    accept = sub.add_parser("accept", help="accept a wave's delivery that was held for review (recorded)")
    accept.add_argument("--wave", required=True)
    accept.add_argument("--by", required=True, help="who reviewed and accepted it")
    accept.add_argument("--reason", required=True)
    accept.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    why = sub.add_parser("why", help="why is respondent X of wave Y (not) in the figures?")
    why.add_argument("respondent_id", help="the respondent id as delivered by the fieldwork agency")
    why.add_argument("--wave", required=True)
    why.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    init = sub.add_parser("init", help="a new installation from a delivered wave and a population file")
    init.add_argument("wave_file", help="a delivered wave: .sav/.zsav (value labels are used), .dta, .xlsx, .csv")
    init.add_argument("--population", required=True, help="CBS Kerncijfers file or a plain population table")
    init.add_argument("--out", required=True, help="the new installation folder")
    init.add_argument("--survey", help="survey id (default: the folder name)")
    init.add_argument("--wave", help="wave id of the file (default: the year in its name)")
    init.add_argument("--municipality", help="CBS code GMxxxx (default: read from the district codes)")
    init.add_argument("--boundaries", help="district boundaries (GeoJSON) for the maps")
    init.add_argument("--register-figures", help="CBS Kerncijfers file for the register indicators")
    init.add_argument("--answers", help="decisions made earlier (YAML: codebook, catalogue, interventions, config)")
    init.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    check = sub.add_parser("check", help="validate a whole installation without running it; lists every problem")
    check.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    plan = sub.add_parser("plan", help="plan the next wave's sample: invitations per district and age group")
    plan.add_argument("--config", default=os.environ.get("SOCIALQUALITY_CONFIG", DEFAULT_CONFIG))
    plan.add_argument("--wave", required=True, help="the wave to plan, e.g. 2025")
    plan.add_argument("--settings", help="planning settings (default: planning.yaml next to the register)")
    plan.add_argument("--out", help="output folder (default: <reports>/steekproefplan_<wave>)")
    plan.add_argument("--check", type=int, default=0, metavar="N",
                      help="demo only: draw the planned wave N times and check the promised margins and power")
    regional = sub.add_parser("region-report", help="the regional overview over every municipality of a region file")
    regional.add_argument("--region", default=os.environ.get("SOCIALQUALITY_REGION"),
                          help="the region file (pipelines/region.py); default $SOCIALQUALITY_REGION")
    regional.add_argument("--out", help="output folder (default: regio/ next to the region file)")
    regional.add_argument("--language", choices=("nl", "en"), help="default: the region file's language, else nl")
    args = parser.parse_args(argv)

    try:
        if args.command == "run":
            return run_pipeline(args.config, args.wave, args.quiet)
        if args.command == "init":
            return init_installation(args)
        if args.command == "check":
            return check_installation(args.config)
        if args.command == "demo":
            ensure_demo_city(args.config, args.quiet)
            return run_pipeline(args.config, None, args.quiet)
        if args.command == "dagster-home":
            from socialquality.config import load_settings

            path = prepare_dagster_home(load_settings(args.config, check_inputs=False).path("dagster_home"))
            print(path.resolve())
            return 0
        if args.command == "release":
            from socialquality.monitor import Monitor
            from socialquality.warehouse.store import release_quarantined

            release_quarantined(Monitor.from_config(args.config).engine, args.quarantine_id, args.by, args.reason)
            print(f"quarantine record {args.quarantine_id} released by {args.by}; rerun the wave to include it")
            return 0
        if args.command == "accept":
            from socialquality.monitor import Monitor
            from socialquality.stages import accept_held_delivery

            files = accept_held_delivery(Monitor.from_config(args.config), args.wave, args.by, args.reason)
            print(f"held delivery of wave {args.wave} ({', '.join(files)}) accepted by {args.by}; "
                  "run the wave again to load it")
            return 0
        if args.command == "plan":
            from socialquality.planner_io import print_plan, run_plan

            print_plan(run_plan(args.config, args.wave, args.settings, args.out, args.check))
            return 0
        if args.command == "region-report":
            from pipelines.region import region_report

            if not args.region:
                return _fail("give --region <file> or set SOCIALQUALITY_REGION")
            try:
                page = region_report(args.region, args.out, args.language)
            except (RuntimeError, OSError) as error:
                return _fail(str(error))
            print(f"regional overview written: {page}")
            return 0
        if args.command == "why":
            from socialquality.audit import explain_respondent
            from socialquality.monitor import Monitor

            print(explain_respondent(Monitor.from_config(args.config), args.respondent_id, args.wave))
            return 0
    except SocialQualityError as error:
        return _fail(str(error))
    except ValueError as error:
        return _fail(str(error))
    return 2


if __name__ == "__main__":
    sys.exit(main())
