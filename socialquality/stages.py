"""The pipeline's stages as plain functions: read from the warehouse, compute, write back.

Each Dagster asset calls one of these (assets/), and so can a notebook or a test. Every stage
that replaces data does it in one transaction (a failure leaves the earlier results intact).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, select, update

from socialquality import __version__
from socialquality.errors import InputFileError, SocialQualityError
from socialquality.landing import wave_files
from socialquality.monitor import Monitor, code_version, dumps
from socialquality.warehouse import schema as s
from socialquality.warehouse.microdata import write_answers
from socialquality.warehouse.store import (
    delete_where,
    insert_frame,
    read_table,
    replace_rows,
    set_wave_status,
    storable_pids,
    usable_waves,
    wave_responses,
)

BACKGROUND = ["respondent_pid", "wave", "district_code", "sex", "age", "age_group", "duration_min", "source_file",
              "source_row"]


@dataclass
class CheckOutcome:
    """One asset check's result, free of Dagster types."""

    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageReport:
    metadata: dict[str, Any]
    checks: list[CheckOutcome] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- Reference data ----------------------------------------------------------------------------

def load_population(m: Monitor) -> dict[str, Any]:
    """Districts, population margins and register indicators from the CBS figures."""
    from socialquality.population import district_population, population_margins, read_kwb, register_values
    from socialquality.report.maps import load_districts  # names come with the boundaries

    settings = m.settings
    kwb = read_kwb(settings.path("population"))
    year = _kwb_year(settings.path("population"))
    districts = district_population(kwb, settings.municipality)
    boundaries = settings.path("boundaries")
    names = {d.code: d.name for d in load_districts(boundaries)} if boundaries.is_file() else {}
    districts["district_name"] = [names.get(code) or name or code for code, name in
                                  zip(districts["district_code"], districts["district_name"])]
    margins = population_margins(districts, year)
    register = register_values(kwb, settings.municipality,
                               [{"id": r.id, "cbs_field": r.cbs_field, "denominator_field": r.denominator_field}
                                for r in m.catalogue.register], year)
    with m.engine.begin() as connection:
        replace_rows(connection, s.districts, districts.assign(municipality=settings.municipality, year=year))
        replace_rows(connection, s.population_margins, margins)
        replace_rows(connection, s.register_indicators, register)
    return {"districts": len(districts), "population": int(districts["population"].sum()), "year": year,
            "register_indicators": len(register), "source": "Bron: CBS, CC BY 4.0"}


def _kwb_year(path: Path) -> int:
    import re

    found = re.search(r"(20\d\d)", path.name)
    return int(found.group(1)) if found else dt.date.today().year


def known_districts(m: Monitor) -> set[str]:
    return set(read_table(m.engine, s.districts)["district_code"])


def load_interventions(m: Monitor) -> dict[str, Any]:
    from socialquality.catalogue import load_register

    register = load_register(m.settings.path("interventions"), m.catalogue, known_districts(m) or None)
    interventions = pd.DataFrame([{
        "intervention_id": i.id, "name": i.name, "kind": i.kind, "sphere": i.sphere, "mechanism": i.mechanism,
        "goal": i.goal, "target_age_min": i.age_min, "indicators": dumps(list(i.indicators))} for i in register])
    sites = pd.DataFrame([{"intervention_id": i.id, "district_code": site.district,
                           "start_date": site.start.isoformat()} for i in register for site in i.sites])
    activity = pd.DataFrame([{"intervention_id": i.id, "district_code": a["district"], "year": a["year"],
                              "sessions_planned": a.get("sessions_planned"), "sessions_held": a.get("sessions_held"),
                              "participants": a.get("participants")} for i in register for a in i.activity])
    with m.engine.begin() as connection:
        replace_rows(connection, s.intervention_activity, activity)
        replace_rows(connection, s.intervention_sites, sites)
        replace_rows(connection, s.interventions, interventions)
    closures = sum(1 for i in register if i.kind == "closure")
    return {"interventions": len(register), "sites": len(sites), "closures": closures}


# --- Ingest --------------------------------------------------------------------------------------

def _record_receipt(connection, survey: str, landed, fmt: str, run_id: str, **fields: Any) -> int:
    existing = connection.execute(select(s.file_receipts.c.id).where(and_(
        s.file_receipts.c.survey == survey, s.file_receipts.c.wave == landed.wave,
        s.file_receipts.c.checksum == landed.checksum))).scalar()
    values = {"survey": survey, "wave": landed.wave, "file_name": landed.path.name, "checksum": landed.checksum,
              "format": fmt, "size_bytes": landed.size_bytes, "received_at": landed.received_at,
              "recorded_at": _now(), "run_id": run_id, **fields}
    if existing is not None:
        connection.execute(update(s.file_receipts).where(s.file_receipts.c.id == existing).values(**values))
        return int(existing)
    return int(connection.execute(s.file_receipts.insert().values(**values)).inserted_primary_key[0])


def ingest_wave(m: Monitor, wave: str, run_id: str) -> dict[str, Any]:
    """Load the newest file of a wave (unless it is the one already loaded)."""
    from socialquality.landing import SUPPORTED
    from socialquality.normalise import normalise_file
    from socialquality.privacy import pseudonymisation_key

    codebook = m.codebook
    if wave not in codebook.wave_ids:
        raise SocialQualityError(f"wave {wave!r} is not in codebook {codebook.path}; add it there first")
    files = wave_files(m.landing_dir(), wave)
    if not files:
        raise InputFileError(m.landing_dir() / wave, "no survey file for this wave in the landing folder")
    latest = files[-1]
    fmt = SUPPORTED.get(latest.path.suffix.lower())
    receipts = read_table(m.engine, s.file_receipts, survey=codebook.survey, wave=wave)
    loaded = receipts[receipts["status"] == "loaded"]
    log = [f"{len(files)} file(s) for wave {wave}; using {latest.path.name} ({latest.checksum[:12]})"]
    if not loaded.empty and loaded["checksum"].iloc[0] == latest.checksum:
        return {"status": "unchanged", "file": latest.path.name, "checksum": latest.checksum,
                "rows": int(loaded["rows"].iloc[0]), "log": log + ["same checksum as the loaded file: nothing to do"]}
    key = pseudonymisation_key(demo=m.settings.demo)
    try:
        if fmt is None:
            raise InputFileError(latest.path, f"unsupported file type {latest.path.suffix!r}; "
                                              f"use one of {', '.join(sorted(SUPPORTED))}")
        result = normalise_file(latest.path, codebook, wave, key)
    except InputFileError as error:
        with m.engine.begin() as connection:
            _record_receipt(connection, codebook.survey, latest, fmt or "unknown", run_id, status="rejected",
                            error=str(error))
        raise
    frame = result.frame
    frame["respondent_pid"] = storable_pids(frame["respondent_pid"], frame["source_row"])
    # free-form codes longer than the column are cut for storage; the row is set aside anyway
    frame["district_code"] = frame["district_code"].str.slice(0, s.respondents.c.district_code.type.length)
    items = [i.id for i in codebook.items.values() if i.type != "text"]
    texts = [i.id for i in codebook.items.values() if i.type == "text"]
    with m.engine.begin() as connection:
        for old in loaded["id"]:
            connection.execute(update(s.file_receipts).where(s.file_receipts.c.id == int(old)).values(status="superseded"))
        receipt_id = _record_receipt(
            connection, codebook.survey, latest, fmt, run_id, status="loaded", rows=len(frame), error=None,
            encoding=result.encoding, delimiter=result.delimiter, unknown_columns=dumps(result.unknown_columns),
            dropped_columns=dumps(result.dropped_columns), label_mismatches=dumps(result.label_mismatches))
        for table in (s.answers, s.text_answers, s.weights):  # `answers`: rows of loads before issue 12
            delete_where(connection, table, survey=codebook.survey, wave=wave)
        people = frame[["respondent_pid", "source_row", "district_code", "sex", "age", "age_group",
                        "duration_min"]].assign(survey=codebook.survey, wave=wave, receipt_id=receipt_id,
                                                status="received")
        replace_rows(connection, s.respondents, people, survey=codebook.survey, wave=wave)
        # not usable until validated: a failure before validation must not leave old figures published
        set_wave_status(connection, codebook.survey, wave, "received", "new file not yet validated", run_id)
        present = [i for i in items if i in frame.columns]
        write_answers(connection, m.microdata_dir(), codebook.survey, wave, receipt_id, frame, present)
        present_texts = [t for t in texts if t in frame.columns]
        if present_texts:
            text_long = frame[["respondent_pid", "source_row", *present_texts]].melt(
                id_vars=["respondent_pid", "source_row"], var_name="item_id", value_name="text").dropna(subset=["text"])
            insert_frame(connection, s.text_answers, text_long.assign(survey=codebook.survey, wave=wave))
    log.append(f"loaded {len(frame)} rows from {latest.path.name}")
    if result.unknown_columns:
        log.append(f"unknown columns (not stored): {', '.join(result.unknown_columns)}")
    if result.dropped_columns:
        log.append(f"direct identifiers dropped (never stored): {', '.join(result.dropped_columns)}")
    return {
        "status": "loaded", "file": latest.path.name, "checksum": latest.checksum, "format": fmt,
        "rows": len(frame), "encoding": result.encoding or "", "versions_on_record": len(files),
        "unknown_columns": ", ".join(result.unknown_columns) or "-",
        "dropped_identifier_columns": ", ".join(result.dropped_columns) or "-",
        "label_mismatches": len(result.label_mismatches), "log": log,
    }


# --- Quality -------------------------------------------------------------------------------------

def validate_wave(m: Monitor, wave: str, run_id: str) -> StageReport:
    from socialquality.quality import build_data_docs, validate_wave as run_quality

    codebook = m.codebook
    responses = wave_responses(m.engine, codebook.survey, wave, statuses=(),
                               items=[i.id for i in codebook.items.values() if i.type != "text"])
    if responses.empty:
        raise SocialQualityError(f"wave {wave} has no ingested rows; materialise survey_wave first")
    receipts = read_table(m.engine, s.file_receipts, survey=codebook.survey, wave=wave)
    receipt = receipts[receipts["status"] == "loaded"].iloc[0]
    responses["wave"] = wave
    frame = responses[[c for c in responses.columns if c not in ("survey", "status", "receipt_id")]]
    regenerated = _ensure_generated_suite(m)
    outcome = run_quality(frame, codebook, known_districts=known_districts(m),
                          expectations_dir=m.settings.path("expectations"),
                          population_shares=_city_population_shares(m), run_label=f"{wave} {run_id[:8]}")
    docs_path = build_data_docs(outcome, m.settings.path("audit") / "data_docs",
                                title=f"{codebook.title}, golf {wave}")
    blocking = list(outcome.blocking_failures)
    blocked = bool(blocking)
    reason = "; ".join(c.message for c in blocking) if blocked else None
    recon = {k: int(v) for k, v in outcome.reconciliation.to_dict().items() if k != "by_file"}
    with m.engine.begin() as connection:
        # releases made by a person survive re-validation of the same file
        earlier = read_table(connection, s.quarantine, survey=codebook.survey, wave=wave)
        released = earlier.dropna(subset=["released_by"]) if not earlier.empty else earlier
        run_row = connection.execute(s.validation_runs.insert().values(
            run_id=run_id, survey=codebook.survey, wave=wave, receipt_id=int(receipt["id"]), validated_at=_now(),
            suites=dumps(outcome.suite_checksums), success=not blocked and all(c.success for c in outcome.checks),
            received=recon["received"], clean=recon["clean"], quarantined=recon["quarantined"], blocked=blocked,
            blocked_reason=reason, data_docs_path=str(docs_path), gx_results=dumps(outcome.gx_results)))
        validation_id = int(run_row.inserted_primary_key[0])
        checks = pd.DataFrame([{
            "validation_run_id": validation_id, "rule_id": c.rule_id, "expectation_type": c.expectation_type,
            "column_name": c.column, "kind": c.kind, "severity": c.severity, "success": bool(c.success),
            "observed_value": None if c.observed_value is None else str(c.observed_value),
            "threshold": None if c.threshold is None else str(c.threshold), "rows_affected": c.rows_affected,
            "message": c.message} for c in outcome.checks])
        insert_frame(connection, s.check_results, checks)
        quarantine = outcome.quarantine.rename(columns={"column": "column_name"}).copy()
        quarantine["survey"] = codebook.survey
        quarantine["validation_run_id"] = validation_id
        # A release carries over to the same record only: same file, row, respondent, rule and
        # column (one record each, so the join cannot multiply records; a corrected file's other
        # respondent at the same row number does not inherit it).
        release_keys = ["source_file", "source_row", "respondent_pid", "rule_id", "column_name"]
        if not released.empty:
            keep = released.drop_duplicates(release_keys).set_index(release_keys)[
                ["released_by", "released_at", "release_reason"]]
            quarantine = quarantine.join(keep, on=release_keys)
        replace_rows(connection, s.quarantine, quarantine, survey=codebook.survey, wave=wave)
        quarantined_rows = set(outcome.quarantine.loc[outcome.quarantine["severity"] == "blocking_row", "source_row"])
        # released: every blocking record of the row carries a release (a new rule's finding does not)
        blocking_records = quarantine[quarantine["severity"] == "blocking_row"]
        released_rows = (set(blocking_records.groupby("source_row")["released_by"].agg(lambda v: v.notna().all())
                             .loc[lambda all_released: all_released].index)
                         if "released_by" in blocking_records and not blocking_records.empty else set())
        statuses = responses[["respondent_pid", "source_row"]].copy()
        statuses["status"] = np.where(statuses["source_row"].isin(quarantined_rows),
                                      np.where(statuses["source_row"].isin(released_rows), "released", "quarantined"),
                                      "clean")
        # every row clean in one statement, then the few set aside by row number, in chunks (an IN
        # list of a national wave's 1,000,000 rows exceeds SQLite's limit on bound variables)
        wave_rows = and_(s.respondents.c.survey == codebook.survey, s.respondents.c.wave == wave)
        connection.execute(update(s.respondents).where(wave_rows).values(status="clean"))
        for status, rows in statuses[statuses["status"] != "clean"].groupby("status")["source_row"]:
            numbers = [int(r) for r in rows]
            for start in range(0, len(numbers), 10_000):
                connection.execute(update(s.respondents).where(and_(
                    wave_rows, s.respondents.c.source_row.in_(numbers[start:start + 10_000]))).values(status=status))
        set_wave_status(connection, codebook.survey, wave, "blocked" if blocked else "usable", reason, run_id)

    by_rule = (outcome.quarantine.groupby("rule_id")["source_row"].nunique().to_dict()
               if not outcome.quarantine.empty else {})
    metadata = {"received": recon["received"], "clean": recon["clean"], "quarantined": recon["quarantined"],
                "blocked": blocked, "blocked_reason": reason or "-", "data_docs": str(docs_path),
                "rows_set_aside_by_rule": dumps(by_rule), "file": receipt["file_name"],
                "suite_regenerated": regenerated}
    row_checks = [c for c in outcome.checks if c.kind == "row"]
    failed_rows = [c for c in row_checks if not c.success]
    district_checks = [c for c in outcome.checks if c.rule_id == "min_respondents_per_district"]
    composition = [c for c in outcome.checks if c.rule_id.startswith("sample_composition")]
    checks_out = [
        CheckOutcome("wave_usable", not blocked,
                     reason or "no blocking dataset rule failed",
                     {c.rule_id: f"observed {c.observed_value}, threshold {c.threshold}" for c in outcome.checks
                      if c.kind == "dataset" and c.severity == "blocking_dataset"}),
        CheckOutcome("rows_reconcile", recon["received"] == recon["clean"] + recon["quarantined"],
                     f"received {recon['received']} = clean {recon['clean']} + quarantined {recon['quarantined']}",
                     dict(recon)),
        CheckOutcome("row_rules", not failed_rows,
                     f"{len(failed_rows)} of {len(row_checks)} row rules found rows to set aside",
                     {f"{c.rule_id}:{c.column or '*'}": int(c.rows_affected or 0) for c in failed_rows}),
        CheckOutcome("district_coverage", all(c.success for c in district_checks),
                     "; ".join(c.message for c in district_checks) or "not evaluated",
                     {"observed": str(district_checks[0].observed_value) if district_checks else "-"}),
        CheckOutcome("sample_composition", all(c.success for c in composition),
                     "; ".join(c.message for c in composition if not c.success) or "within tolerance",
                     {c.rule_id + ":" + str(c.column): str(c.observed_value) for c in composition}),
    ]
    return StageReport(metadata=metadata, checks=checks_out)


def _ensure_generated_suite(m: Monitor) -> bool:
    """The generated suite is derived from the codebook: when the codebook changed, regenerate it
    (hand-written rules live apart in expectations/custom and are never touched)."""
    from socialquality.errors import ConfigError
    from socialquality.quality import load_generated_suite, write_generated_suite

    try:
        load_generated_suite(m.codebook, m.settings.path("expectations"))
        return False
    except ConfigError:
        try:
            write_generated_suite(m.codebook, m.settings.path("expectations"))
        except OSError as error:
            raise ConfigError(f"the expectation suite of {m.codebook.survey} is out of date and cannot be "
                              f"regenerated in {m.settings.path('expectations')}: {error.strerror}") from None
        return True


def _city_population_shares(m: Monitor) -> pd.DataFrame:
    margins = read_table(m.engine, s.population_margins)
    if margins.empty:
        return margins
    totals = margins.groupby(["variable", "level"], as_index=False)["count"].sum()
    totals["share"] = totals["count"] / totals.groupby("variable")["count"].transform("sum")
    return totals.rename(columns={"variable": "dimension", "level": "category"})[["dimension", "category", "share"]]


# --- Weights and indicators ---------------------------------------------------------------------

def _require_usable(m: Monitor, wave: str) -> None:
    status = read_table(m.engine, s.wave_status, survey=m.codebook.survey, wave=wave)
    if status.empty:
        raise SocialQualityError(f"wave {wave} has not been validated; materialise validated_wave first")
    if status["status"].iloc[0] != "usable":
        raise SocialQualityError(f"wave {wave} is blocked by a data-quality rule ({status['reason'].iloc[0]}); "
                                 "its indicators are not computed")


_WEIGHTED_CACHE: dict[tuple[str, str, str], tuple[tuple, Any]] = {}


def _wave_fingerprint(m: Monitor, wave: str) -> tuple:
    """Changes whenever the wave's usable rows can have changed (new validation, a release)."""
    from sqlalchemy import func

    with m.engine.connect() as connection:
        statuses = connection.execute(
            select(s.respondents.c.status, func.count()).where(and_(
                s.respondents.c.survey == m.codebook.survey, s.respondents.c.wave == wave))
            .group_by(s.respondents.c.status)).all()
        last_validation = connection.execute(select(func.max(s.validation_runs.c.id)).where(and_(
            s.validation_runs.c.survey == m.codebook.survey, s.validation_runs.c.wave == wave))).scalar()
    return tuple(sorted(statuses)), last_validation, m.codebook.checksum


def _scored_wave(m: Monitor, wave: str) -> pd.DataFrame:
    """The wave's usable rows with derived scales and indicator variables."""
    from socialquality.indicators import add_indicator_variables
    from socialquality.scales import score_scales

    codebook = m.codebook
    clean = wave_responses(m.engine, codebook.survey, wave, statuses=("clean", "released"),
                           items=[i.id for i in codebook.items.values() if i.type != "text"])
    return add_indicator_variables(score_scales(clean, codebook), m.catalogue)


def _weighted_wave(m: Monitor, wave: str):
    """The wave raked to the district population (a WeightingResult), computed once per state.

    wave_weights stores its weights and wave_indicators estimates from its design; the design
    (not the stored weights) is what the SEs need, because they account for the raking. Within
    one process the result is kept for the next stage, keyed by a fingerprint of the wave's state.
    """
    from socialquality.weighting import weight_wave

    key = (m.settings.warehouse_url, m.codebook.survey, wave)
    fingerprint = (_wave_fingerprint(m, wave), m.catalogue.path, m.settings.trim_bounds, m.settings.min_cell)
    cached = _WEIGHTED_CACHE.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    margins = read_table(m.engine, s.population_margins)
    result = weight_wave(_scored_wave(m, wave), margins, trim_bounds=m.settings.trim_bounds,
                         min_cell=m.settings.min_cell)
    _WEIGHTED_CACHE.clear()  # one wave at a time: memory stays bounded
    _WEIGHTED_CACHE[key] = (fingerprint, result)
    return result


def weight_wave_stage(m: Monitor, wave: str, run_id: str) -> StageReport:
    _require_usable(m, wave)
    result = _weighted_wave(m, wave)
    diagnostics = result.diagnostics.assign(survey=m.codebook.survey, wave=wave)
    with m.engine.begin() as connection:
        replace_rows(connection, s.weights, result.weights.assign(survey=m.codebook.survey, wave=wave),
                     survey=m.codebook.survey, wave=wave)
        replace_rows(connection, s.weighting_diagnostics, diagnostics, survey=m.codebook.survey, wave=wave)
    unstable = diagnostics[diagnostics["warning"].notna()]
    report = result.design.calibration
    metadata = {"respondents": len(result.weights), "districts": len(diagnostics), "converged": bool(report.converged),
                "iterations": int(report.iterations), "trimmed": int(report.n_trimmed),
                "median_deff": float(diagnostics["deff"].median()), "unstable_districts": len(unstable)}
    check = CheckOutcome(
        "weighting_stable", unstable.empty,
        f"{len(unstable)} district(s) with unstable weighting" if len(unstable) else "weighting stable in every district",
        {row.district_code: row.warning for row in unstable.head(25).itertuples()})
    return StageReport(metadata=metadata, checks=[check])


def estimate_wave(m: Monitor, wave: str, run_id: str) -> dict[str, Any]:
    from socialquality.indicators import estimate_indicators, indicator_covariances

    _require_usable(m, wave)
    codebook, catalogue = m.codebook, m.catalogue
    if read_table(m.engine, s.weighting_diagnostics, survey=codebook.survey, wave=wave).empty:
        raise SocialQualityError(f"wave {wave} has no weights; materialise wave_weights first")
    design = _weighted_wave(m, wave).design
    indicators = estimate_indicators(design, catalogue, wave, m.settings.municipality)
    covariances = indicator_covariances(design, catalogue, wave, m.settings.municipality)
    receipts = read_table(m.engine, s.file_receipts, survey=codebook.survey, wave=wave)
    loaded = receipts[receipts["status"] == "loaded"]
    last_validation = read_table(m.engine, s.validation_runs, survey=codebook.survey, wave=wave)
    suites = last_validation.sort_values("id")["suites"].iloc[-1] if not last_validation.empty else "{}"
    with m.engine.begin() as connection:
        lineage_id = connection.execute(s.lineage.insert().values(
            run_id=run_id, survey=codebook.survey, wave=wave, created_at=_now(),
            files=dumps(loaded[["file_name", "checksum"]].to_dict("records")), codebook_version=codebook.version,
            codebook_checksum=codebook.checksum, catalogue_version=catalogue.version, suites=suites,
            code_version=code_version(), package_version=__version__)).inserted_primary_key[0]
        replace_rows(connection, s.district_indicators, indicators.assign(survey=codebook.survey, lineage_id=lineage_id),
                     survey=codebook.survey, wave=wave)
        replace_rows(connection, s.indicator_covariances, covariances.assign(survey=codebook.survey),
                     survey=codebook.survey, wave=wave)
    return {"rows": len(indicators), "indicators": int(indicators["indicator_id"].nunique()),
            "districts": int(indicators["district_code"].nunique()) - 1,
            "suppressed": int(indicators["suppressed"].sum()), "lineage_id": int(lineage_id)}


def compute_trends(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.indicators import compare_waves, composite_index

    waves = usable_waves(m.engine, m.codebook.survey)
    waves = [w for w in m.codebook.wave_ids if w in waves]
    indicators = read_table(m.engine, s.district_indicators, survey=m.codebook.survey)
    indicators = indicators[indicators["wave"].isin(waves)]
    if not waves:  # nothing publishable: empty the trend tables rather than keep stale figures
        with m.engine.begin() as connection:
            for table in (s.indicator_changes, s.composite_index, s.index_decomposition):
                delete_where(connection, table)
        return {"waves": "-", "changes": 0, "index_rows": 0, "note": "no usable wave yet"}
    changes = compare_waves(indicators, m.catalogue, m.codebook, waves)
    covariances = read_table(m.engine, s.indicator_covariances, survey=m.codebook.survey)
    index, decomposition = composite_index(indicators, m.catalogue, m.settings.municipality, waves, covariances)
    with m.engine.begin() as connection:
        replace_rows(connection, s.indicator_changes, changes)
        replace_rows(connection, s.composite_index, index)
        replace_rows(connection, s.index_decomposition, decomposition)
    latest = changes[(changes["wave"] == waves[-1]) & (changes["compared_to"] == "previous")] if waves else changes
    counts = latest["verdict"].value_counts().to_dict() if not latest.empty else {}
    return {"waves": ", ".join(waves), "changes": len(changes), "index_rows": len(index),
            "latest_improved": int(counts.get("improved", 0)), "latest_worsened": int(counts.get("worsened", 0))}


# --- Participant feedback -----------------------------------------------------------------------

CONTACT_CHANGE = {1: "more", 2: "same", 3: "fewer"}
ATTRIBUTION = {1: "activity", 2: "other", 3: "both", 4: "unknown"}


def ingest_feedback(m: Monitor, run_id: str) -> dict[str, Any]:
    """Participant feedback files: <feedback>/<survey>/<year>/<file>, newest file per year."""
    from socialquality.landing import SUPPORTED
    from socialquality.normalise import normalise_file
    from socialquality.privacy import pseudonymisation_key

    codebook = m.feedback_codebook
    if codebook is None:
        return {"files": 0, "rows": 0, "log": ["no feedback survey configured"]}
    base = m.settings.path("feedback") / codebook.survey
    key = pseudonymisation_key(demo=m.settings.demo)
    districts = known_districts(m)
    intervention_ids = {code: label for code, label in codebook.items["interventie"].scale.codes.items()} \
        if "interventie" in codebook.items else {}
    frames, log, set_aside, received, receipts = [], [], 0, 0, []
    for wave in codebook.wave_ids:
        files = [f for f in wave_files(base, wave) if f.path.suffix.lower() in SUPPORTED]
        if not files:
            continue
        latest = files[-1]
        fmt = SUPPORTED[latest.path.suffix.lower()]
        try:
            result = normalise_file(latest.path, codebook, wave, key)
        except InputFileError as error:
            with m.engine.begin() as connection:
                _record_receipt(connection, codebook.survey, latest, fmt, run_id, status="rejected", error=str(error))
            raise
        frame = result.frame
        received += len(frame)
        receipts.append((latest, fmt, len(frame), result))
        receipt_id = len(receipts) - 1  # replaced by the stored receipt's id below
        unknown = ~frame["district_code"].isin(districts)
        if unknown.any():
            log.append(f"{latest.path.name}: {int(unknown.sum())} row(s) with an unknown district set aside "
                       f"(rows {', '.join(str(r) for r in frame.loc[unknown, 'source_row'].head(10))})")
            set_aside += int(unknown.sum())
        frame = frame[~unknown]
        frames.append(pd.DataFrame({
            "intervention_id": frame["interventie"].map(intervention_ids) if "interventie" in frame else None,
            "wave": wave, "participant_pid": frame["respondent_pid"], "source_row": frame["source_row"],
            "receipt_id": receipt_id, "district_code": frame["district_code"], "age_group": frame["age_group"],
            "contacts_change": frame["contacten_verandering"].map(CONTACT_CHANGE),
            "attribution": frame["toeschrijving"].map(ATTRIBUTION), "satisfaction": frame["tevredenheid"],
            "comment": frame.get("toelichting"),
        }))
        log.append(f"{latest.path.name}: {len(frame)} rows")
    feedback = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with m.engine.begin() as connection:  # receipts and rows in one transaction
        ids = [_record_receipt(connection, codebook.survey, landed, fmt, run_id, status="loaded", rows=rows,
                               error=None, unknown_columns=dumps(result.unknown_columns),
                               dropped_columns=dumps(result.dropped_columns), label_mismatches="[]")
               for landed, fmt, rows, result in receipts]
        if not feedback.empty:
            feedback["receipt_id"] = feedback["receipt_id"].map(dict(enumerate(ids)))
        replace_rows(connection, s.participant_feedback, feedback)
    return {"rows_received": received, "rows_stored": len(feedback), "rows_set_aside": set_aside,
            "waves": len(frames), "log": log}


# --- Effects --------------------------------------------------------------------------------------

def wave_times(m: Monitor) -> dict[str, float]:
    """Time of each wave for the effect models: the calendar year of its fieldwork (so event times
    are whole years), or the wave's position when two waves share a year."""
    years = {}
    for position, wave in enumerate(m.codebook.waves):
        if wave.fieldwork_start and wave.fieldwork_end:
            middle = wave.fieldwork_start + (wave.fieldwork_end - wave.fieldwork_start) / 2
            years[wave.id] = float(middle.year)
        else:
            try:
                years[wave.id] = float(int(wave.id))
            except ValueError:
                years[wave.id] = float(position)
    if len(set(years.values())) < len(years):
        return {wave.id: float(position) for position, wave in enumerate(m.codebook.waves)}
    return years


def first_treated_wave(m: Monitor, start: dt.date) -> str | None:
    """The first wave whose fieldwork starts on or after the intervention's start."""
    for wave in m.codebook.waves:
        if wave.fieldwork_start and wave.fieldwork_start >= start:
            return wave.id
        if wave.fieldwork_start is None and wave.id.isdigit() and int(wave.id) >= start.year + 1:
            return wave.id  # no fieldwork dates: a wave named by its year counts from 1 January
    return None


def estimate_effects(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality import effects as fx

    waves = [w for w in m.codebook.wave_ids if w in usable_waves(m.engine, m.codebook.survey)]
    times = wave_times(m)
    indicators = read_table(m.engine, s.district_indicators, survey=m.codebook.survey)
    indicators = indicators[indicators["wave"].isin(waves) & ~indicators["suppressed"].astype(bool)
                            & (indicators["district_code"] != m.settings.municipality)]
    all_sites = {site.district for i in m.register for site in i.sites}
    rows, log = [], []
    for intervention in m.register:
        for indicator_id in intervention.indicators:
            indicator = m.catalogue.indicator(indicator_id)
            scale = 100.0 if indicator.unit == "percent" else 1.0
            unit = "procentpunt" if indicator.unit == "percent" else "punt"
            name = intervention.name[:1].lower() + intervention.name[1:]  # keep proper nouns ("Landlust")
            event = f"de {name}" if intervention.kind == "closure" else f"de start van {name}"
            panel = indicators[indicators["indicator_id"] == indicator_id].copy()
            panel["time"] = panel["wave"].map(times)
            panel["estimate"] *= scale
            panel["se"] *= scale
            panel = panel.rename(columns={"district_code": "unit"})[["unit", "time", "estimate", "se", "wave"]]

            def add(district: str, method: str, result: Any, details: dict[str, Any] | None = None) -> None:
                estimate, se, low, high = _headline_numbers(result)
                estimable = bool(np.isfinite(estimate))
                pretrend_p = _pretrend_p(fx, result)
                rows.append({
                    "intervention_id": intervention.id, "district_code": district, "indicator_id": indicator_id,
                    "method": method, "estimate": estimate, "se": se, "ci_low": low, "ci_high": high,
                    "estimable": estimable, "reason": getattr(result, "reason", None),
                    "pretrend_p": pretrend_p, "pretrend_warning": bool(pretrend_p is not None and pretrend_p < 0.05),
                    "verdict_code": fx.verdict_code(result, indicator.higher_is_better),
                    "verdict_nl": fx.verdict_nl(result, indicator.label.lower(), indicator.higher_is_better, unit=unit,
                                                event=event),
                    "details": dumps(details or {}),
                })

            starts = {}
            for site in intervention.sites:
                treated_wave = first_treated_wave(m, site.start)
                if treated_wave is None:
                    log.append(f"{intervention.id} {site.district}: no wave after the start yet")
                    continue
                starts[site.district] = times[treated_wave]
                series = panel[panel["unit"] == site.district].sort_values("time")
                its = fx.interrupted_time_series(series, times[treated_wave])
                add(site.district, "its", its, {"start_wave": treated_wave})
            comparison = sorted(set(panel["unit"]) - all_sites)
            if not starts:
                continue
            if len(set(starts.values())) == 1:
                start = next(iter(starts.values()))
                did = fx.did_event_study(panel, list(starts), start, comparison_units=comparison, seed=2026,
                                         se_method="wild" if len(starts) > 1 else "pooled")
                event = did.event_study.to_dict("records") if did.event_study is not None else []
                add("", "did", did, {"event_study": event, "n_comparison": len(comparison)})
            else:
                balanced = panel[panel["unit"].isin(list(starts) + comparison)]
                counts = balanced.groupby("unit")["time"].nunique()
                complete = counts[counts == balanced["time"].nunique()].index
                balanced = balanced[balanced["unit"].isin(complete)].copy()
                balanced["first_treat"] = balanced["unit"].map(starts).fillna(0.0)
                dropped = sorted(set(starts) - set(complete))
                if dropped:
                    log.append(f"{intervention.id}/{indicator_id}: sites {dropped} lack a figure in some wave "
                               "(suppressed); left out of the staggered estimate")
                try:
                    result = fx.att_gt(balanced, yname="estimate", tname="time", idname="unit", gname="first_treat",
                                       bootstrap_reps=499, seed=2026)
                    dynamic = result.aggregate("dynamic")
                    add("", "staggered_did", result,
                        {"dynamic": dynamic.table.to_dict("records"), "att_gt": result.table.to_dict("records"),
                         "sites_left_out": dropped})
                except (ValueError, np.linalg.LinAlgError) as error:
                    log.append(f"{intervention.id}/{indicator_id}: staggered estimate not possible ({error})")
    effects = pd.DataFrame(rows)
    with m.engine.begin() as connection:
        replace_rows(connection, s.intervention_effects, effects)
    verdicts = effects["verdict_code"].value_counts().to_dict() if not effects.empty else {}
    return {"estimates": len(effects), **{f"verdict_{k}": int(v) for k, v in verdicts.items()}, "log": log}


def _pretrend_p(fx: Any, result: Any) -> float | None:
    """p-value of the pre-trend test where the method has one (DiD, staggered DiD)."""
    if isinstance(result, fx.AttGtResult):
        test = fx.pretrend_test(result)
    elif isinstance(result, fx.DidResult):
        test = result.pretrend
    else:
        return None
    return float(test.pvalue) if test is not None and np.isfinite(test.pvalue) else None


def _headline_numbers(result: Any) -> tuple[float, float, float, float]:
    """(estimate, se, ci_low, ci_high) of the headline effect of any result (NaN when not estimable)."""
    from socialquality import effects as fx

    headline = fx.headline(result)
    if not headline.estimable:
        return (float("nan"),) * 4
    if isinstance(result, fx.AttGtResult):
        se = result.aggregate("group").overall_se
    elif isinstance(result, fx.AggregateResult):
        se = result.overall_se
    elif isinstance(result, fx.ItsResult):
        se = result.level_change_se
    else:
        se = result.se
    return float(headline.effect), float(se), float(headline.lower), float(headline.upper)


# --- Reports ---------------------------------------------------------------------------------------

def render_audit_index(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.audit import render_audit_page

    page = render_audit_page(m.engine, m.settings.path("audit"), f"Auditoverzicht {m.codebook.title}")
    return {"page": str(page)}


def accountability_chain(m: Monitor) -> pd.DataFrame:
    """Per intervention site and year: delivered as intended, reach, participants' feedback."""
    activity = read_table(m.engine, s.intervention_activity)
    feedback = read_table(m.engine, s.participant_feedback)
    margins = read_table(m.engine, s.population_margins)
    interventions = {i.id: i for i in m.register}
    rows = []
    for record in activity.itertuples():
        intervention = interventions.get(record.intervention_id)
        age = margins[(margins["district_code"] == record.district_code) & (margins["variable"] == "age_group")]
        if intervention is not None and intervention.age_min is not None:
            lower = {"15-24": 15, "25-44": 25, "45-64": 45, "65+": 65}
            age = age[age["level"].map(lower) >= intervention.age_min]
        target = float(age["count"].sum()) if not age.empty else np.nan
        answers = feedback[(feedback["intervention_id"] == record.intervention_id)
                           & (feedback["district_code"] == record.district_code)
                           & (feedback["wave"] == str(record.year))]
        answered = answers.dropna(subset=["contacts_change"])
        more = answered["contacts_change"] == "more"
        attributed = more & answered["attribution"].isin(["activity", "both"])
        rows.append({
            "intervention_id": record.intervention_id, "district_code": record.district_code, "year": record.year,
            "sessions_planned": record.sessions_planned, "sessions_held": record.sessions_held,
            "participants": record.participants, "target_population": target,
            "reach": record.participants / target if target and record.participants is not None else np.nan,
            "feedback_n": len(answered),
            "share_more_contacts": more.mean() if len(answered) else np.nan,
            "share_attributed_to_activity": attributed.mean() if len(answered) else np.nan,
            "mean_satisfaction": answers["satisfaction"].mean() if len(answers) else np.nan,
        })
    return pd.DataFrame(rows)


def render_trend_report(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.report.render import ReportInputs, interventions_frames, render_report

    codebook, catalogue, settings = m.codebook, m.catalogue, m.settings
    waves = [w for w in codebook.wave_ids if w in usable_waves(m.engine, codebook.survey)]
    if not waves:
        raise SocialQualityError("no usable wave: nothing to report (see the audit page for blocked waves)")
    districts = read_table(m.engine, s.districts)[["district_code", "district_name", "population"]]
    survey_catalogue = pd.DataFrame([{"indicator_id": i.id, "label": i.label, "unit": i.unit,
                                      "condition": i.condition, "direction": i.direction, "kind": "survey",
                                      "in_index": i.in_index} for i in catalogue.indicators])
    register_catalogue = pd.DataFrame([{"indicator_id": r.id, "label": r.label, "unit": r.unit,
                                        "condition": r.condition, "direction": r.direction, "kind": "register",
                                        "in_index": False} for r in catalogue.register])
    indicators = read_table(m.engine, s.district_indicators, survey=codebook.survey)
    effects = read_table(m.engine, s.intervention_effects)
    info, sites = interventions_frames(m.register)
    names = dict(zip(info["intervention_id"], info["name"]))
    kinds = dict(zip(info["intervention_id"], info["kind"]))
    effects["intervention_name"] = effects["intervention_id"].map(names)
    effects["kind"] = effects["intervention_id"].map(kinds)
    event_rows = []
    for record in effects.itertuples():
        details = json.loads(record.details or "{}")
        for row in details.get("event_study", []):
            event_rows.append({"intervention_id": record.intervention_id, "district_code": record.district_code,
                               "indicator_id": record.indicator_id, "event_time": row["event_time"],
                               "estimate": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]})
        for row in details.get("dynamic", []):
            event_rows.append({"intervention_id": record.intervention_id, "district_code": record.district_code,
                               "indicator_id": record.indicator_id, "event_time": row["event_time"],
                               "estimate": row["att"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]})
    validations = read_table(m.engine, s.validation_runs, survey=codebook.survey).sort_values("id")
    quality = validations.groupby("wave").tail(1)[["wave", "received", "clean", "quarantined", "blocked",
                                                   "blocked_reason"]]
    lineage_rows = read_table(m.engine, s.lineage, survey=codebook.survey).sort_values("id").groupby("wave").tail(1)
    inputs = ReportInputs(
        municipality_code=settings.municipality, municipality_name=settings.municipality_name, waves=waves,
        latest_wave=waves[-1], base_wave=catalogue.base_wave if catalogue.base_wave in waves else waves[0],
        districts=districts, catalogue=pd.concat([survey_catalogue, register_catalogue], ignore_index=True),
        conditions=catalogue.conditions, district_indicators=indicators[indicators["wave"].isin(waves)],
        changes=read_table(m.engine, s.indicator_changes), composite_index=read_table(m.engine, s.composite_index),
        index_decomposition=read_table(m.engine, s.index_decomposition),
        register_indicators=read_table(m.engine, s.register_indicators), effects=effects,
        chain=accountability_chain(m), quality=quality,
        method_breaks=[{"wave": b.wave, "description": b.description, "items": list(b.items)}
                       for b in codebook.method_breaks],
        geojson_path=settings.path("boundaries") if settings.path("boundaries").is_file() else None,
        minimum_respondents=catalogue.minimum_respondents,
        lineage={"run_id": run_id, "git_commit": code_version(), "generated_at": _now().isoformat(),
                 "codebook": f"{codebook.survey} v{codebook.version} ({codebook.checksum[:12]})",
                 "catalogue_version": catalogue.version,
                 "files": "; ".join(f"{r.wave}: " + ", ".join(f"{f['file_name']} ({f['checksum'][:12]})"
                                                             for f in json.loads(r.files))
                                    for r in lineage_rows.itertuples())},
        event_study=pd.DataFrame(event_rows) if event_rows else None,
        intervention_sites=sites, intervention_info=info, effect_scale="points",
    )
    outputs = render_report(inputs, settings.path("reports"))
    return {"report": str(outputs.html_path), "excel": str(outputs.excel_path),
            "figures": len(outputs.figure_paths), "district_pages": len(outputs.district_pages)}
