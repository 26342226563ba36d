"""National benchmark (issue 12): a synthetic country through the real pipeline stages.

The country is built from the real CBS figures: the districts (wijken) of Amsterdam and Den Haag
(data/cbs/kwb_2019_*) replicated with perturbed populations (x lognormal, sd 0.25) up to
``--districts`` (default 3,400), in one installation (municipality code GM0363, so that the demo
register, codebook and catalogue apply unchanged; the replicated districts get codes WK0363nnnn).
The respondents are drawn by the demo generator (same questionnaire, non-response, latent
district effects) from that synthetic CBS table, ``--respondents`` per wave (default 1,000,000),
written as ``;``-CSV deliveries into the landing folder, and then every stage runs as the
pipeline runs it -- each in its own process, as Dagster's multiprocess executor does:

    per wave: ingest_wave -> validate_wave -> weight_wave_stage -> estimate_wave
    once:     load_population, load_interventions (before); compute_trends, estimate_effects,
              render_trend_report (after the last wave, unless --no-city)

Wall time and peak memory (VmHWM, the high-water resident set of the stage's process) are printed per stage,
with the load average. ``--fractions 0.0625,0.25,1`` runs the cost curve (respondents and
districts scaled together); ``--backend sqlite|postgresql`` picks the warehouse (PostgreSQL: a
fresh database on 127.0.0.1:5432, dropped afterwards).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_national.py --fractions 0.0625 --waves 1 --backend sqlite
    make bench-national      # = --fractions 0.0625,0.25,1 --waves 1 --backend sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CBS = ROOT / "data" / "cbs"
KWB_NAME = "kwb_2019_amsterdam_84583NED.csv"  # the file name the generator and demo config read


# ------------------------------------------------------------------------------ the country
def build_country(districts: int, seed: int, out: Path) -> int:
    """A KWB-like CSV with one municipality row and `districts` district rows."""
    rng = np.random.default_rng(seed)
    ams = pd.read_csv(CBS / "kwb_2019_amsterdam_84583NED.csv", sep=";", encoding="utf-8-sig", dtype=str,
                      keep_default_na=False)
    haag = pd.read_csv(CBS / "kwb_2019_den_haag_84583NED.csv", sep=";", encoding="utf-8-sig", dtype=str,
                       keep_default_na=False)
    for frame in (ams, haag):
        for column in frame.columns:
            frame[column] = frame[column].str.strip()
    municipality = ams[ams["SoortRegio_2"] == "Gemeente"].copy()
    base = pd.concat([ams[ams["SoortRegio_2"] == "Wijk"], haag[haag["SoortRegio_2"] == "Wijk"]],
                     ignore_index=True)
    counts = ["AantalInwoners_5", "Mannen_6", "Vrouwen_7", "k_0Tot15Jaar_8", "k_15Tot25Jaar_9",
              "k_25Tot45Jaar_10", "k_45Tot65Jaar_11", "k_65JaarOfOuder_12"]
    people = pd.to_numeric(base["AantalInwoners_5"].replace(".", None), errors="coerce")
    # every Amsterdam district (the demo register refers to them); Den Haag's inhabited ones
    base = base[base["Codering_3"].str.startswith("WK0363") | (people >= 500).fillna(False)].reset_index(drop=True)
    rows = []
    n_ams = int((base["Codering_3"].str.startswith("WK0363")).sum())
    districts = max(districts, n_ams)
    for i in range(districts):
        source = base.iloc[i % len(base)].copy()
        if i < n_ams:  # the Amsterdam districts keep their codes (the demo register refers to them)
            code = source["Codering_3"]
        else:
            code = f"WK0363{1000 + i:04d}"[:10] if i < 9000 else f"WK0363{i:05d}"
            factor = float(rng.lognormal(0.0, 0.25))
            for c in counts:
                value = pd.to_numeric(source[c], errors="coerce")
                if pd.notna(value):
                    source[c] = str(int(round(float(value) * factor)))
        source["Codering_3"] = code
        source["WijkenEnBuurten"] = code
        source["Gemeentenaam_1"] = municipality["Gemeentenaam_1"].iloc[0]
        rows.append(source)
    wijken = pd.DataFrame(rows)
    for c in counts:
        municipality[c] = str(int(pd.to_numeric(wijken[c], errors="coerce").fillna(0).sum()))
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([municipality, wijken], ignore_index=True).to_csv(out, sep=";", index=False, encoding="utf-8")
    return len(wijken)


def extend_waves(codebook_path: Path, waves: int) -> None:
    """Append yearly waves (fieldwork March-May, web) to a codebook copy until it has `waves`."""
    import yaml

    raw = yaml.safe_load(codebook_path.read_text(encoding="utf-8"))
    last = int(raw["waves"][-1]["id"])
    while len(raw["waves"]) < waves:
        last += 1
        raw["waves"].append({"id": str(last), "mode": "web",
                             "fieldwork": {"start": f"{last}-03-01", "end": f"{last}-05-15"}})
    codebook_path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")


def make_root(work: Path, districts: int, seed: int, waves: int = 1) -> tuple[Path, int]:
    """A project folder for the generator: a copy of the repo's surveys/ (its codebook extended to
    `waves` yearly waves when it has fewer) and the synthetic CBS table."""
    root = work / "country"
    (root / "data" / "cbs").mkdir(parents=True, exist_ok=True)
    if not (root / "surveys").exists():
        shutil.copytree(ROOT / "surveys", root / "surveys")
        extend_waves(root / "surveys" / "codebooks" / "wijkmonitor.yaml", waves)
        # the generated suite follows the (extended) codebook: a copy, so the repository's stays as it is
        shutil.copytree(ROOT / "expectations", root / "expectations")
    count = build_country(districts, seed, root / "data" / "cbs" / KWB_NAME)
    return root, count


# ------------------------------------------------------------------------------ stages
def run_stage(config: Path, stage: str, wave: str | None) -> None:
    """Runs in the child process."""
    from socialquality import stages
    from socialquality.monitor import Monitor

    m = Monitor.from_config(config)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    if stage in ("ingest_wave", "validate_wave", "weight_wave_stage", "estimate_wave"):
        getattr(stages, stage)(m, wave, run_id)
    elif stage in ("load_population", "load_interventions"):
        getattr(stages, stage)(m)
    elif stage == "region_report":
        from pipelines.region import region_report

        region_report(str(config.parent / "region.yaml"), str(config.parent / "regio"))
    else:
        getattr(stages, stage)(m, run_id)
    # peak memory of this process image: VmHWM (ru_maxrss would include the forking parent's pages)
    report = os.environ.get("SQ_BENCH_PEAK_FILE")
    if report:
        status = Path("/proc/self/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        Path(report).write_text(str(kb))


def timed(config: Path, stage: str, wave: str | None, env: dict) -> tuple[float, float, int]:
    args = [sys.executable, __file__, "--stage", stage, "--config", str(config)] + (["--wave", wave] if wave else [])
    peak_file = Path(tempfile.mkstemp(prefix="sq_peak_")[1])
    t0 = time.perf_counter()
    child = subprocess.Popen(args, env={**env, "SQ_BENCH_PEAK_FILE": str(peak_file)}, cwd=ROOT)
    _, status, _usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    text = peak_file.read_text().strip()
    peak_file.unlink(missing_ok=True)
    return wall, (int(text) / 1024 ** 2 if text else float("nan")), code


def one_run(fraction: float, args, backend: str, work: Path) -> list[dict]:
    from socialquality.codebook import load_codebook
    from socialquality.demo.generator import simulate_wave, write_wave_file

    sys.path.insert(0, str(ROOT))
    from tests.support import write_config

    districts = max(50, int(round(args.districts * fraction)))
    respondents = int(round(args.respondents * fraction))
    run_dir = work / f"{backend}-{fraction:g}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    root, districts = make_root(run_dir, districts, args.seed, args.waves)
    codebook = load_codebook(root / "surveys" / "codebooks" / "wijkmonitor.yaml")
    waves = codebook.wave_ids[: args.waves]
    landing = run_dir / "landing"
    t0 = time.perf_counter()
    for wave in waves:
        frame = simulate_wave(wave, seed=args.seed, respondents_per_wave=respondents, codebook=codebook, root=root)
        write_wave_file(frame, landing / codebook.survey / wave / f"{codebook.survey}_{wave}_levering.csv",
                        "csv-nl", codebook)
        del frame
    generate_s = time.perf_counter() - t0
    (run_dir / "feedback").mkdir()
    admin_url, db_url = None, None
    if backend == "postgresql":
        from sqlalchemy import create_engine, text

        name = f"sq_bench_{uuid.uuid4().hex[:10]}"
        admin_url = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        db_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    config = write_config(run_dir, landing=landing, feedback=run_dir / "feedback", database_url=db_url)
    cfg = __import__("yaml").safe_load(config.read_text())
    cfg["paths"]["population"] = str(root / "data" / "cbs" / KWB_NAME)
    for key in ("codebooks", "indicators", "interventions", "expectations"):  # the copies (extended codebook)
        cfg["paths"][key] = str(root / Path(cfg["paths"][key]).relative_to(ROOT))
    config.write_text(__import__("yaml").safe_dump(cfg, sort_keys=False))
    (run_dir / "region.yaml").write_text(f"municipalities:\n  {cfg['municipality']}: {config}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOCIALQUALITY_MICRODATA": str(run_dir / "microdata")}
    results = []

    def stage(name: str, wave: str | None = None) -> None:
        load = os.getloadavg()[0]
        wall, peak, code = timed(config, name, wave, env)
        row = {"backend": backend, "fraction": fraction, "respondents": respondents, "districts": districts,
               "waves": len(waves),
               "wave": wave or "-", "stage": name, "wall_s": round(wall, 2), "peak_gb": round(peak, 2),
               "load": round(load, 1), "ok": code == 0}
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.out:  # row by row: a run stopped half-way keeps what it measured
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if code != 0:
            raise RuntimeError(f"stage {name} failed (exit {code})")

    try:
        print(json.dumps({"generated_s": round(generate_s, 1), "respondents": respondents, "districts": districts,
                          "waves": waves}), flush=True)
        stage("load_population")
        stage("load_interventions")
        for wave in waves:
            for name in ("ingest_wave", "validate_wave", "weight_wave_stage", "estimate_wave"):
                stage(name, wave)
        if not args.no_city:
            for name in ("compute_trends", "estimate_effects", "render_trend_report", "render_audit_index",
                         "region_report"):
                if name == "render_trend_report" and args.report_up_to is not None and fraction > args.report_up_to:
                    continue
                stage(name)
    finally:
        if db_url:
            from sqlalchemy import create_engine, text

            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--wave", help=argparse.SUPPRESS)
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--districts", type=int, default=3_400)
    parser.add_argument("--fractions", default="0.0625,0.25,1")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--waves", type=int, default=1,
                        help="number of waves; beyond the codebook's 7 it gets yearly waves appended (copy)")
    parser.add_argument("--backend", default="sqlite", help="sqlite, postgresql or both (comma-separated)")
    parser.add_argument("--runs", default=None,
                        help="backend:fraction[:waves] list run in this order, e.g. postgresql:1:3,"
                             "postgresql:0.0625,sqlite:0.0625 (instead of --backend x --fractions)")
    parser.add_argument("--no-city", action="store_true", help="skip trends, effects and reports")
    parser.add_argument("--report-up-to", type=float, default=None, metavar="FRACTION",
                        help="render the trend report only in runs of at most this fraction (it does not "
                             "scale yet: docs/operations.md 10.1)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--out", default=None, help="append the JSON rows to this file")
    parser.add_argument("--table", default=None, help="print the markdown table of a --out file and stop")
    args = parser.parse_args()
    if args.stage:
        run_stage(Path(args.config), args.stage, args.wave)
        return
    if args.table:  # the table of rows recorded earlier with --out
        print(markdown(pd.read_json(args.table, lines=True)))
        return
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sq_national_"))
    print(json.dumps({"load_before": os.getloadavg(), "cores": os.cpu_count()}), flush=True)
    rows = []
    runs = ([(r.split(":")[0], float(r.split(":")[1]), int(r.split(":")[2]) if r.count(":") == 2 else args.waves)
             for r in args.runs.split(",")] if args.runs else
            [(b, float(f), args.waves) for b in args.backend.split(",") for f in args.fractions.split(",")])
    for backend, fraction, waves in runs:
        rows += one_run(fraction, argparse.Namespace(**{**vars(args), "waves": waves}), backend, work)
    table = pd.DataFrame(rows)
    if not table.empty:
        print(table.pivot_table(index=["stage"], columns=["backend", "respondents"], values=["wall_s", "peak_gb"],
                                aggfunc="sum", sort=False).round(2).to_string())
        print()
        print(markdown(table))


def markdown(table: pd.DataFrame) -> str:
    """The docs/operations.md table: stage x (backend, respondents, waves): wall time (summed over the waves) / peak
    memory (the largest of the stage's processes)."""
    if "waves" not in table:
        table = table.assign(waves=1)
    keys = ["backend", "respondents", "waves"]
    cols = list(dict.fromkeys(tuple(r) for r in table[keys].itertuples(index=False)))
    lines = ["| stage | " + " | ".join(f"{b} {n:,} x {w} waves" for b, n, w in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]

    def part_of(b, n, w):
        return table[(table["backend"] == b) & (table["respondents"] == n) & (table["waves"] == w)]

    for stage in dict.fromkeys(table["stage"]):
        cells = []
        for b, n, w in cols:
            part = part_of(b, n, w)
            part = part[part["stage"] == stage]
            cells.append(f"{part['wall_s'].sum():.1f} s / {part['peak_gb'].max():.2f} GB" if len(part) else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = []
    for b, n, w in cols:
        part = part_of(b, n, w)
        totals.append(f"**{part['wall_s'].sum():.1f} s** / {part['peak_gb'].max():.2f} GB")
    lines.append("| all stages | " + " | ".join(totals) + " |")
    lines.append("")
    lines.append("Load average (2 cores, shared) during the runs: " + "; ".join(
        f"{b} {n:,} x {w}: {part_of(b, n, w)['load'].min():.1f}-{part_of(b, n, w)['load'].max():.1f}"
        for b, n, w in cols))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
