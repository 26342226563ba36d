"""The pipeline's stages as plain functions: read from the warehouse, compute, write back.

Each Dagster asset calls one of these (assets/), and so can a notebook or a test. Every stage
that replaces data does it in one transaction (a failure leaves the earlier results intact).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, select, update

from socialquality import __version__
from socialquality.errors import InputFileError, SocialQualityError
from socialquality.i18n import _, lower_first, use_language
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
    """Districts, population margins and register indicators: from the CBS KWB file or a plain
    population table (socialquality.population_table); register indicators from the CBS file
    (paths.register_figures, or the population file when it is the CBS file)."""
    from socialquality.population import read_kwb, register_values
    from socialquality.population_table import read_population
    from socialquality.report.maps import load_districts  # names come with the boundaries

    settings = m.settings
    figures = read_population(settings.path("population"), settings.municipality,
                              settings.extra.get("population_year"))
    districts, margins, year = figures.districts, figures.margins, figures.year
    boundaries = settings.path("boundaries")
    names = {d.code: d.name for d in load_districts(boundaries)} if boundaries.is_file() else {}
    districts["district_name"] = [names.get(code) or name or code for code, name in
                                  zip(districts["district_code"], districts["district_name"])]
    specs = [{"id": r.id, "cbs_field": r.cbs_field, "denominator_field": r.denominator_field}
             for r in m.catalogue.register]
    kwb = figures.kwb
    register_path = settings.paths.get("register_figures")
    if register_path is not None:
        kwb = read_kwb(register_path)
    if specs and kwb is None:
        raise SocialQualityError("the catalogue lists register indicators but the population file is not a CBS "
                                 "KWB table: set paths.register_figures to the CBS Kerncijfers file, or remove "
                                 "register_indicators from the catalogue")
    register = register_values(kwb, settings.municipality, specs, year) if specs else pd.DataFrame(
        columns=["district_code", "indicator_id", "value", "year", "source"])
    from socialquality.small_areas import small_area_reference

    from socialquality.similar import SIMILARITY_VARIABLES

    config = _small_area_config(m)  # the similar-districts profile needs its variables too (socialquality.similar)
    config = dataclasses.replace(config, candidates=tuple(dict.fromkeys((*config.candidates, *SIMILARITY_VARIABLES))))
    buurten, covariates = small_area_reference(kwb, settings.municipality, year, config,
                                               settings.path("boundaries"))
    with m.engine.begin() as connection:
        replace_rows(connection, s.districts, districts.assign(municipality=settings.municipality, year=year))
        replace_rows(connection, s.population_margins, margins)
        replace_rows(connection, s.register_indicators, register)
        replace_rows(connection, s.buurten, buurten)
        replace_rows(connection, s.area_covariates, covariates)
    return {"districts": len(districts), "population": int(districts["population"].sum()), "year": year,
            "format": figures.kind, "age_bands": ", ".join(
                margins.loc[margins["variable"] == "age_group", "level"].drop_duplicates()),
            "register_indicators": len(register), "buurten": len(buurten), "source": "Bron: CBS, CC BY 4.0"}


def _small_area_config(m: Monitor):
    """surveys/small_area.yaml beside the catalogue (defaults when absent)."""
    from socialquality.small_areas import load_small_area_config

    return load_small_area_config(Path(m.catalogue.path).with_name("small_area.yaml"))


def known_districts(m: Monitor) -> set[str]:
    return set(read_table(m.engine, s.districts)["district_code"])


def load_interventions(m: Monitor) -> dict[str, Any]:
    from socialquality.catalogue import load_register

    districts = known_districts(m)
    if not districts:
        raise SocialQualityError("the population figures are not loaded (the population step failed or has not "
                                 "run): the register's districts cannot be checked")
    register = load_register(m.settings.path("interventions"), m.catalogue, districts)
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
    """The receipt of a file's content (one per survey, wave and checksum), with its current status;
    every status given is also appended to `receipt_events` (the history is never overwritten)."""
    existing = connection.execute(select(s.file_receipts.c.id).where(and_(
        s.file_receipts.c.survey == survey, s.file_receipts.c.wave == landed.wave,
        s.file_receipts.c.checksum == landed.checksum))).scalar()
    values = {"survey": survey, "wave": landed.wave, "file_name": landed.path.name, "checksum": landed.checksum,
              "format": fmt, "size_bytes": landed.size_bytes, "received_at": landed.received_at,
              "run_id": run_id, **fields}
    if existing is not None:
        connection.execute(update(s.file_receipts).where(s.file_receipts.c.id == existing).values(**values))
        receipt_id = int(existing)
    else:
        receipt_id = int(connection.execute(s.file_receipts.insert().values(recorded_at=_now(), **values))
                         .inserted_primary_key[0])
    if "status" in fields:
        _receipt_event(connection, receipt_id, survey, landed.wave, landed.path.name, fields["status"], run_id,
                       fields.get("error"))
    return receipt_id


def _receipt_event(connection, receipt_id: int, survey: str, wave: str, file_name: str, event: str,
                   run_id: str | None, detail: str | None = None) -> None:
    connection.execute(s.receipt_events.insert().values(
        receipt_id=receipt_id, survey=survey, wave=wave, file_name=file_name, event=event, run_id=run_id,
        at=_now(), detail=detail))


def _public_error(error: Exception, root: Path | None = None) -> str:
    """An error for receipts and the audit page: file names only, no absolute server paths."""
    text = str(error)
    if isinstance(error, InputFileError) and getattr(error, "path", None) is not None:
        path = Path(error.path)
        text = text.replace(str(path), path.name)
    if root is not None:
        text = text.replace(str(root) + "/", "").replace(str(root), ".")
    from socialquality.audit import without_paths

    return without_paths(text)


def _note_unused(connection, survey: str, plan, run_id: str, known: pd.DataFrame) -> None:
    """Receipts for the files of a wave folder that are not (or no longer) part of its delivery."""
    from socialquality.landing import SUPPORTED

    seen = set(known["checksum"]) if not known.empty else set()
    for landed in plan.refused:
        if landed.checksum in seen:
            continue
        fmt = SUPPORTED.get(landed.path.suffix.lower(), "unknown")
        reason = landed.problem or (f"unsupported file type {landed.path.suffix or '(no extension)'!r}; "
                                    f"use one of {', '.join(sorted(SUPPORTED))}")
        _record_receipt(connection, survey, landed, fmt, run_id, status="rejected", error=f"{landed.path.name}: {reason}")
        seen.add(landed.checksum)
    for landed in plan.older:
        if landed.checksum in seen:
            continue
        _record_receipt(connection, survey, landed, SUPPORTED.get(landed.path.suffix.lower(), "unknown"), run_id,
                        status="not_used", error="an earlier delivery or a file outside the delivery: not loaded")
        seen.add(landed.checksum)


def ingest_wave(m: Monitor, wave: str, run_id: str) -> dict[str, Any]:
    """Load a wave's delivery (one file, or all parts of a multi-part delivery; see
    socialquality.deliveries) unless it is the one already loaded. Every file in the wave folder
    gets a receipt; a delivery far smaller than the one it would replace is held for review."""
    from socialquality.deliveries import plan_delivery, row_count_hold
    from socialquality.landing import SUPPORTED
    from socialquality.normalise import normalise_file
    from socialquality.privacy import pseudonymisation_key

    codebook = m.codebook
    if wave not in codebook.wave_ids:
        raise SocialQualityError(f"wave {wave!r} is not in codebook {codebook.path}; add it there first")
    plan = plan_delivery(m.landing_dir(), wave)
    if plan.newest is None:
        raise InputFileError(Path(wave), "no survey file for this wave in the landing folder")
    receipts = read_table(m.engine, s.file_receipts, survey=codebook.survey, wave=wave)
    loaded = receipts[receipts["status"] == "loaded"]
    names = ", ".join(f.path.name for f in plan.use) or plan.newest.path.name
    log = [f"{len(plan.use) + len(plan.older) + len(plan.refused)} file(s) for wave {wave}; using {names}"]
    if not plan.use or plan.error:  # the newest entry is refused, or the delivery is incomplete
        with m.engine.begin() as connection:
            _note_unused(connection, codebook.survey, plan, run_id, receipts)
            for landed in plan.use:
                _record_receipt(connection, codebook.survey, landed, SUPPORTED.get(landed.path.suffix.lower(), "unknown"),
                                run_id, status="rejected", error=f"{landed.path.name}: {plan.error}")
        if plan.error:
            raise InputFileError(plan.use[0].path if plan.use else Path(wave), plan.error)
        newest = plan.newest
        raise InputFileError(newest.path, newest.problem or f"unsupported file type {newest.path.suffix!r}; "
                                                            f"use one of {', '.join(sorted(SUPPORTED))}")
    if not loaded.empty and set(loaded["checksum"]) == {f.checksum for f in plan.use}:
        with m.engine.begin() as connection:
            _note_unused(connection, codebook.survey, plan, run_id, receipts)
        return {"status": "unchanged", "file": ", ".join(f.path.name for f in plan.use),
                "checksum": plan.use[-1].checksum, "rows": int(loaded["rows"].sum()),
                "log": log + ["same checksum as the loaded file: nothing to do"]}
    key = pseudonymisation_key(demo=m.settings.demo)
    results = []
    for landed in plan.use:
        fmt = SUPPORTED[landed.path.suffix.lower()]
        try:
            result = normalise_file(landed.path, codebook, wave, key)
            expected = plan.manifest.get(landed.path.name).rows if plan.manifest else None
            if expected is not None and expected != len(result.frame):
                raise InputFileError(landed.path, f"{len(result.frame)} data rows, but the delivery manifest "
                                                  f"declares {expected}: an incomplete or different file")
        except InputFileError as error:
            with m.engine.begin() as connection:
                _note_unused(connection, codebook.survey, plan, run_id, receipts)
                _record_receipt(connection, codebook.survey, landed, fmt, run_id, status="rejected",
                                error=_public_error(error, m.landing_dir()))
                for other in plan.use:
                    if other is not landed:
                        _record_receipt(connection, codebook.survey, other, SUPPORTED[other.path.suffix.lower()],
                                        run_id, status="rejected",
                                        error=f"part of a delivery with a rejected file ({landed.path.name})")
            raise
        results.append((landed, fmt, result))
    total = sum(len(r.frame) for _, _, r in results)
    accepted = _accepted_checksums(m, wave)
    declared = plan.manifest is not None and all(plan.manifest[l.path.name].rows is not None for l, _, _ in results)
    hold = None if declared or {l.checksum for l, _, _ in results} <= accepted else \
        row_count_hold(total, int(loaded["rows"].sum()) if not loaded.empty else None)
    if hold:
        with m.engine.begin() as connection:
            _note_unused(connection, codebook.survey, plan, run_id, receipts)
            for landed, fmt, result in results:
                _record_receipt(connection, codebook.survey, landed, fmt, run_id, status="held", rows=len(result.frame),
                                error=hold)
        raise InputFileError(Path(", ".join(l.path.name for l, _, _ in results)), hold)
    frame = pd.concat([r.frame for _, _, r in results], ignore_index=True) if len(results) > 1 else results[0][2].frame
    frame["respondent_pid"] = storable_pids(frame["respondent_pid"], frame["source_row"])
    clash = frame.duplicated(["respondent_pid", "source_row"], keep=False)
    if clash.any():
        first = frame[clash].iloc[0]
        raise InputFileError(Path(first["source_file"]), f"row {first['source_row']}: the same respondent at the "
                                                         "same row number in two parts of the delivery")
    # free-form codes longer than the column are cut for storage; the row is set aside anyway
    frame["district_code"] = frame["district_code"].str.slice(0, s.respondents.c.district_code.type.length)
    for column in ("sex", "age_group"):  # an invalid code is kept (cut for storage) so the rules see it
        frame[column] = frame[column].str.slice(0, getattr(s.respondents.c, column).type.length)
    frame["buurt_code"] = frame["buurt_code"].str.slice(0, s.respondents.c.buurt_code.type.length)
    items = [i.id for i in codebook.items.values() if i.type != "text"]
    texts = [i.id for i in codebook.items.values() if i.type == "text"]
    with m.engine.begin() as connection:
        for old in loaded["id"]:
            connection.execute(update(s.file_receipts).where(s.file_receipts.c.id == int(old)).values(status="superseded"))
            old_row = loaded[loaded["id"] == old].iloc[0]
            _receipt_event(connection, int(old), codebook.survey, wave, old_row["file_name"], "superseded", run_id,
                           f"replaced by {', '.join(l.path.name for l, _, _ in results)}")
        receipt_ids = {}
        for landed, fmt, result in results:
            receipt_ids[landed.path.name] = _record_receipt(
                connection, codebook.survey, landed, fmt, run_id, status="loaded", rows=len(result.frame), error=None,
                encoding=result.encoding, delimiter=result.delimiter, unknown_columns=dumps(result.unknown_columns),
                dropped_columns=dumps(result.dropped_columns), label_mismatches=dumps(result.label_mismatches))
        _note_unused(connection, codebook.survey, plan, run_id,
                     read_table(connection, s.file_receipts, survey=codebook.survey, wave=wave))
        frame["receipt_id"] = frame["source_file"].map(receipt_ids)
        for table in (s.answers, s.text_answers, s.weights, s.ingest_findings):  # `answers`: loads before Parquet
            delete_where(connection, table, survey=codebook.survey, wave=wave)
        people = frame[["respondent_pid", "source_row", "receipt_id", "district_code", "buurt_code", "sex", "age",
                        "age_group", "duration_min"]].assign(survey=codebook.survey, wave=wave, status="received")
        replace_rows(connection, s.respondents, people, survey=codebook.survey, wave=wave)
        findings = [r.findings.assign(receipt_id=receipt_ids[l.path.name]) for l, _, r in results if len(r.findings)]
        if findings:
            insert_frame(connection, s.ingest_findings,
                         pd.concat(findings, ignore_index=True).assign(survey=codebook.survey, wave=wave))
        # not usable until validated: a failure before validation must not leave old figures published
        set_wave_status(connection, codebook.survey, wave, "received", "new file not yet validated", run_id)
        present = [i for i in items if i in frame.columns]
        # one Parquet file for the whole delivery (all its parts), named after its first receipt
        write_answers(connection, m.microdata_dir(), codebook.survey, wave, min(receipt_ids.values()), frame, present)
        present_texts = [t for t in texts if t in frame.columns]
        if present_texts:
            text_long = frame[["respondent_pid", "source_row", *present_texts]].melt(
                id_vars=["respondent_pid", "source_row"], var_name="item_id", value_name="text").dropna(subset=["text"])
            insert_frame(connection, s.text_answers, text_long.assign(survey=codebook.survey, wave=wave))
    names = ", ".join(l.path.name for l, _, _ in results)
    log.append(f"loaded {len(frame)} rows from {names}")
    unknown = sorted({c for _, _, r in results for c in r.unknown_columns})
    dropped = sorted({c for _, _, r in results for c in r.dropped_columns})
    n_findings = sum(len(r.findings) for _, _, r in results)
    if unknown:
        log.append(f"unknown columns (not stored): {', '.join(unknown)}")
    if dropped:
        log.append(f"direct identifiers dropped (never stored): {', '.join(dropped)}")
    if n_findings:
        log.append(f"{n_findings} value(s) or row(s) not taken at face value (kept for the quality rules)")
    code_mismatches = [p for _, _, r in results for p in r.code_mismatches]
    for problem in code_mismatches:
        log.append(f"column {problem['column']!r}: value {problem['value']!r} in {problem['rows']} row(s) is not a "
                   f"code of the codebook ({', '.join(problem['expected'])}); those rows are set aside by the "
                   "quality rules")
    first = results[-1]
    return {
        "status": "loaded", "file": names, "checksum": first[0].checksum, "format": first[1],
        "rows": len(frame), "encoding": first[2].encoding or "", "parts": len(results),
        "versions_on_record": len(plan.use) + len(plan.older) + len(plan.refused),
        "unknown_columns": ", ".join(unknown) or "-", "dropped_identifier_columns": ", ".join(dropped) or "-",
        "label_mismatches": sum(len(r.label_mismatches) for _, _, r in results), "ingest_findings": n_findings,
        "background_code_mismatches": "; ".join(f"{p['column']}={p['value']!r}: {p['rows']} rows"
                                                for p in code_mismatches) or "-",
        "log": log,
    }


def _accepted_checksums(m: Monitor, wave: str) -> set[str]:
    """Checksums of held deliveries that a person accepted (`socialquality accept`)."""
    events = read_table(m.engine, s.receipt_events, survey=m.codebook.survey, wave=wave)
    if events.empty:
        return set()
    ids = set(events.loc[events["event"] == "accepted", "receipt_id"])
    receipts = read_table(m.engine, s.file_receipts, survey=m.codebook.survey, wave=wave)
    return set(receipts.loc[receipts["id"].isin(ids), "checksum"])


def accept_held_delivery(m: Monitor, wave: str, by: str, reason: str) -> list[str]:
    """Record that a person accepted the held delivery of a wave; the next run loads it."""
    if not by.strip() or not reason.strip():
        raise SocialQualityError("accepting a held delivery needs the name of the person and a reason")
    receipts = read_table(m.engine, s.file_receipts, survey=m.codebook.survey, wave=wave)
    held = receipts[receipts["status"] == "held"]
    if held.empty:
        raise SocialQualityError(f"wave {wave} has no delivery held for review")
    with m.engine.begin() as connection:
        for row in held.itertuples():
            _receipt_event(connection, int(row.id), m.codebook.survey, wave, row.file_name, "accepted", None,
                           f"accepted by {by.strip()}: {reason.strip()}")
    return list(held["file_name"])


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
    findings = read_table(m.engine, s.ingest_findings, survey=codebook.survey, wave=wave)
    if not findings.empty:
        findings["source_file"] = findings["receipt_id"].map(dict(zip(receipts["id"], receipts["file_name"])))
    outcome = run_quality(frame, codebook, known_districts=known_districts(m),
                          expectations_dir=m.settings.path("expectations"),
                          population_shares=_city_population_shares(m), run_label=f"{wave} {run_id[:8]}",
                          ingest_findings=findings)
    with use_language(m.settings.language):
        docs_path = build_data_docs(outcome, m.settings.path("audit") / "data_docs",
                                    title=_("%(title)s, meting %(wave)s", title=codebook.title, wave=wave),
                                    audit_href="../index.html")
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
        # rows are known by (file, row number): a multi-part delivery has a row 1 in every part
        set_aside = outcome.quarantine[outcome.quarantine["severity"] == "blocking_row"]
        quarantined_rows = set(zip(set_aside["source_file"], set_aside["source_row"].astype(int)))
        # released: every blocking record of the row carries a release (a new rule's finding does not)
        blocking_records = quarantine[quarantine["severity"] == "blocking_row"]
        released_rows = (set(blocking_records.groupby(["source_file", "source_row"])["released_by"]
                             .agg(lambda v: v.notna().all()).loc[lambda all_released: all_released].index)
                         if "released_by" in blocking_records and not blocking_records.empty else set())
        released_rows = {(f, int(r)) for f, r in released_rows}
        statuses = responses[["respondent_pid", "source_row", "receipt_id", "source_file"]].copy()
        keys = list(zip(statuses["source_file"], statuses["source_row"].astype(int)))
        statuses["status"] = ["released" if k in released_rows else "quarantined" if k in quarantined_rows else "clean"
                              for k in keys]
        # every row clean in one statement, then the few set aside by receipt and row number, in chunks
        # (an IN list of a national wave's 1,000,000 rows exceeds SQLite's limit on bound variables)
        wave_rows = and_(s.respondents.c.survey == codebook.survey, s.respondents.c.wave == wave)
        connection.execute(update(s.respondents).where(wave_rows).values(status="clean"))
        aside = statuses[statuses["status"] != "clean"]
        for (status, receipt_id), rows in aside.groupby(["status", "receipt_id"])["source_row"]:
            numbers = [int(r) for r in rows]
            for start in range(0, len(numbers), 10_000):
                connection.execute(update(s.respondents).where(and_(
                    wave_rows, s.respondents.c.receipt_id == int(receipt_id),
                    s.respondents.c.source_row.in_(numbers[start:start + 10_000]))).values(status=status))
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
    """City population shares by sex and by the codebook's age groups (for the composition rule).

    The population's bands are brought onto the normalised `age_group` labels; when the population
    cannot express them (coarser or other bands), age is left out of the comparison."""
    from socialquality.agebands import common_bands, sorted_bands

    margins = read_table(m.engine, s.population_margins)
    if margins.empty:
        return margins
    is_age = margins["variable"] == "age_group"
    try:
        labels = m.codebook.age_group_labels
        survey = sorted_bands(labels)
        mapping = common_bands(survey, sorted_bands(set(margins.loc[is_age, "level"])))
    except ValueError:
        mapping, labels = {}, []
    if set(mapping.values()) == set(labels):
        margins.loc[is_age, "level"] = margins.loc[is_age, "level"].map(mapping)
    else:
        margins = margins[~is_age]
    totals = margins.groupby(["variable", "level"], as_index=False)["count"].sum()
    totals["share"] = totals["count"] / totals.groupby("variable")["count"].transform("sum")
    return totals.rename(columns={"variable": "dimension", "level": "category"})[["dimension", "category", "share"]]


# --- Weights and indicators ---------------------------------------------------------------------

def _require_usable(m: Monitor, wave: str) -> None:
    status = read_table(m.engine, s.wave_status, survey=m.codebook.survey, wave=wave)
    if status.empty:
        raise SocialQualityError(f"wave {wave} has not been validated; materialise validated_wave first")
    if status["status"].iloc[0] == "failed":
        raise SocialQualityError(f"wave {wave} failed in an earlier stage ({status['reason'].iloc[0]})")
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


def _weighted_wave(m: Monitor, wave: str, *, reuse: bool = False):
    """The wave raked to the district population (a WeightingResult), computed once per state.

    wave_weights stores its weights and wave_indicators estimates from its design; the design
    (not the stored weights) is what the SEs need, because they account for the raking. Within
    one process the result is kept for the next stage, keyed by a fingerprint of the wave's state.
    Across processes (Dagster's multiprocess executor runs each stage in its own), the weighting
    stage leaves the scored rows and their weights in a cache file next to the answers
    (`weighted-<key>.parquet`); with `reuse` the estimation stage reads that file instead of
    reading the wave back from the warehouse, scoring and raking it again, and only rebuilds the
    calibration matrices (`weight_wave(fitted_weights=...)`).
    """
    from socialquality.warehouse.microdata import read_weighted_wave, write_weighted_wave
    from socialquality.weighting import weight_wave

    key = (m.settings.warehouse_url, m.codebook.survey, wave)
    state = _wave_fingerprint(m, wave)
    fingerprint = (state, m.catalogue.path, m.settings.trim_bounds, m.settings.min_cell)
    cached = _WEIGHTED_CACHE.get(key)
    if cached is not None and cached[0] == fingerprint and (reuse or not cached[1].reused):
        return cached[1]  # (the weighting stage itself never takes a read-back result: no widening notes)
    margins = read_table(m.engine, s.population_margins)
    if margins.empty:
        raise SocialQualityError("no population figures in the warehouse: the population step did not complete")
    codebook = m.codebook
    survey_bands = None
    if codebook.age_group_column and codebook.age_group_codes:
        from socialquality.agebands import sorted_bands

        survey_bands = sorted_bands(set(codebook.age_group_codes.values()))
    file_key = _weighted_file_key(m, fingerprint, margins)
    usable_rows = sum(count for status, count in state[0] if status in ("clean", "released"))
    options = {"trim_bounds": m.settings.trim_bounds, "min_cell": m.settings.min_cell, "survey_bands": survey_bands}
    stored = read_weighted_wave(m.microdata_dir(), codebook.survey, wave, file_key, usable_rows) if reuse else None
    if stored is not None:
        fitted = stored.pop("_weight").to_numpy(dtype=float)
        result = weight_wave(stored, margins, fitted_weights=fitted, **options)
        result.reused = True
    else:
        scored = _scored_wave(m, wave)
        result = weight_wave(scored, margins, **options)
        keep = [c for c in scored.columns if c in _WEIGHTED_COLUMNS or c.startswith("ind__")]
        write_weighted_wave(m.microdata_dir(), codebook.survey, wave, file_key,
                            scored[keep].assign(_weight=result.weights["weight"].to_numpy()))
    _WEIGHTED_CACHE.clear()  # one wave at a time: memory stays bounded
    _WEIGHTED_CACHE[key] = (fingerprint, result)
    return result


#: The columns of the scored wave the estimation stage needs besides the indicator variables (ind__*):
#: the keys, the weighting variables and the areas of the small-area estimates.
_WEIGHTED_COLUMNS = ("respondent_pid", "source_row", "district_code", "buurt_code", "sex", "age", "age_group")


def _weighted_file_key(m: Monitor, fingerprint: tuple, margins: pd.DataFrame) -> str:
    """What the cached weighted rows depend on: the wave's rows and validation, codebook, catalogue
    (its text), weighting settings, the population margins and the code."""
    import hashlib

    catalogue_text = Path(m.catalogue.path).read_bytes() if m.catalogue.path and Path(m.catalogue.path).is_file() else b""
    margins_hash = int(pd.util.hash_pandas_object(margins.sort_index(axis=1), index=False).sum())
    digest = hashlib.sha256(repr((fingerprint, margins_hash, code_version(), __version__)).encode())
    digest.update(catalogue_text)
    return digest.hexdigest()[:24]


def _mark_failed(m: Monitor, wave: str, stage: str, error: Exception, run_id: str) -> None:
    """A stage after validation failed: the wave is no longer usable (never published half-done)."""
    reason = f"{stage} failed: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}"
    with m.engine.begin() as connection:
        set_wave_status(connection, m.codebook.survey, wave, "failed", reason[:500], run_id)


def _after_validation(stage: str, run: Any, m: Monitor, wave: str, run_id: str) -> Any:
    """Run a stage of a usable wave; when it fails the wave is marked failed, then the error goes on."""
    _require_usable(m, wave)
    try:
        return run(m, wave, run_id)
    except Exception as error:
        _mark_failed(m, wave, stage, error, run_id)
        raise


def weight_wave_stage(m: Monitor, wave: str, run_id: str) -> StageReport:
    return _after_validation("weighting", _weight_wave_stage, m, wave, run_id)


def _weight_wave_stage(m: Monitor, wave: str, run_id: str) -> StageReport:
    result = _weighted_wave(m, wave)
    diagnostics = result.diagnostics.assign(survey=m.codebook.survey, wave=wave)
    with m.engine.begin() as connection:
        replace_rows(connection, s.weights, result.weights.assign(survey=m.codebook.survey, wave=wave),
                     survey=m.codebook.survey, wave=wave)
        replace_rows(connection, s.weighting_diagnostics, diagnostics, survey=m.codebook.survey, wave=wave)
    from socialquality.weighting_check import unstable_districts  # the threshold: see that module

    with use_language(m.settings.language):
        unstable = unstable_districts(diagnostics, m.catalogue.minimum_respondents).rename(columns={"reason": "warning"})
    report = result.design.calibration
    metadata = {"respondents": len(result.weights), "districts": len(diagnostics), "converged": bool(report.converged),
                "iterations": int(report.iterations), "trimmed": int(report.n_trimmed),
                "median_deff": float(diagnostics["deff"].median()), "unstable_districts": len(unstable),
                **_widened_bounds_metadata(result.bounds)}
    check = CheckOutcome(
        "weighting_stable", unstable.empty,
        f"{len(unstable)} district(s) with unstable weighting" if len(unstable) else "weighting stable in every district",
        {row.district_code: row.warning for row in unstable.head(25).itertuples()})
    return StageReport(metadata=metadata, checks=[check])


def _widened_bounds_metadata(bounds: pd.DataFrame | None) -> dict[str, Any]:
    """Which districts got wider trimming bounds than configured, and which (operator-facing)."""
    if bounds is None or bounds.empty:
        return {}
    widened = bounds[bounds["widened"]]
    listed = "; ".join(f"{row.district_code}: " + ("unbounded" if np.isinf(row.bound_high)
                                                    else f"[{row.bound_low:g}, {row.bound_high:g}]")
                       for row in widened.head(50).itertuples())
    if len(widened) > 50:
        listed += f"; ... ({len(widened) - 50} more, see weighting_diagnostics)"
    return {"districts_with_widened_bounds": len(widened), "widened_bounds": listed or "-"}


def estimate_wave(m: Monitor, wave: str, run_id: str) -> dict[str, Any]:
    return _after_validation("estimation", _estimate_wave, m, wave, run_id)


def _estimate_wave(m: Monitor, wave: str, run_id: str) -> dict[str, Any]:
    from socialquality.indicators import estimate_indicators, indicator_covariances

    codebook, catalogue = m.codebook, m.catalogue
    if read_table(m.engine, s.weighting_diagnostics, survey=codebook.survey, wave=wave).empty:
        raise SocialQualityError(f"wave {wave} has no weights; materialise wave_weights first")
    weighted = _weighted_wave(m, wave, reuse=True)
    design = weighted.design
    indicators = estimate_indicators(design, catalogue, wave, m.settings.municipality)
    covariances = indicator_covariances(design, catalogue, wave, m.settings.municipality)
    from socialquality.breakdowns import estimate_breakdowns

    breakdowns = estimate_breakdowns(design, catalogue, wave, m.settings.municipality)
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
        replace_rows(connection, s.district_breakdowns, breakdowns.assign(survey=codebook.survey),
                     survey=codebook.survey, wave=wave)
    small_areas = _small_area_stage(m, design, wave)
    # an indicator without a single respondent (an item not asked, or an empty target group) is named
    absent = [i.id for i in catalogue.indicators if i.id not in set(indicators["indicator_id"])]
    return {"rows": len(indicators), "indicators": int(indicators["indicator_id"].nunique()),
            "districts": int(indicators["district_code"].nunique()) - 1,
            "suppressed": int(indicators["suppressed"].sum()), "lineage_id": int(lineage_id),
            "breakdown_cells": len(breakdowns), "breakdown_cells_suppressed": int(breakdowns["suppressed"].sum()),
            "indicators_without_respondents": ", ".join(absent) or "-",
            "weights": "read back from the weighting stage" if weighted.reused else "raked in this stage",
            **small_areas}


def _small_area_stage(m: Monitor, design: Any, wave: str) -> dict[str, Any]:
    """Fay-Herriot figures for every district and buurt (socialquality.small_areas), stored per wave."""
    from socialquality.small_areas import small_area_wave

    survey = m.codebook.survey
    population = pd.concat([
        read_table(m.engine, s.districts).rename(columns={"district_code": "area_code", "municipality": "parent_code"})
        .assign(level="district"),
        read_table(m.engine, s.buurten).rename(columns={"buurt_code": "area_code", "district_code": "parent_code"})
        .assign(level="buurt")], ignore_index=True)
    result = small_area_wave(design, m.catalogue, wave, m.settings.municipality,
                             read_table(m.engine, s.area_covariates), population, _small_area_config(m))
    with m.engine.begin() as connection:
        replace_rows(connection, s.small_area_estimates, result.estimates.assign(survey=survey), survey=survey, wave=wave)
        replace_rows(connection, s.small_area_models, result.models.assign(survey=survey), survey=survey, wave=wave)
    counts = result.estimates.groupby(["level", "source"]).size().to_dict() if not result.estimates.empty else {}
    return {f"small_area_{level}_{source}": int(n) for (level, source), n in counts.items()} | {
        "small_area_models": len(result.models), "small_area_log": result.log}


def compute_trends(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.indicators import composite_index
    from socialquality.trends import compare_waves  # column-wise: linear in districts x waves

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
    frames, log, set_aside, received, receipts, rejected = [], [], 0, 0, [], []
    for wave in codebook.wave_ids:
        entries = wave_files(base, wave)
        refused = [f for f in entries if f.problem is not None]
        if refused:
            with m.engine.begin() as connection:
                for landed in refused:
                    _record_receipt(connection, codebook.survey, landed, "unknown", run_id, status="rejected",
                                    error=f"{landed.path.name}: {landed.problem}")
                    log.append(f"REJECTED {landed.path.name}: {landed.problem}")
        files = [f for f in entries if f.path.suffix.lower() in SUPPORTED and f.problem is None]
        if not files:
            continue
        latest = files[-1]
        fmt = SUPPORTED[latest.path.suffix.lower()]
        try:
            result = normalise_file(latest.path, codebook, wave, key)
        except InputFileError as error:
            # one bad file stops neither the other years nor the reports: rejected with a receipt
            # (on the audit page), and that year keeps the rows of its earlier file
            public = _public_error(error, base)
            with m.engine.begin() as connection:
                _record_receipt(connection, codebook.survey, latest, fmt, run_id, status="rejected", error=public)
            rejected.append(wave)
            log.append(f"REJECTED {latest.path.name}: {public}; the earlier rows of {wave} are kept")
            continue
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
            "receipt_id": receipt_id, "district_code": frame["district_code"],
            "age_group": frame["age_group"].str.slice(0, s.participant_feedback.c.age_group.type.length),
            "contacts_change": frame["contacten_verandering"].map(CONTACT_CHANGE),
            "attribution": frame["toeschrijving"].map(ATTRIBUTION), "satisfaction": frame["tevredenheid"],
            "comment": frame.get("toelichting"), "_new": True,
        }))
        log.append(f"{latest.path.name}: {len(frame)} rows")
    if rejected:
        earlier = read_table(m.engine, s.participant_feedback)
        earlier = earlier[earlier["wave"].isin(rejected)] if not earlier.empty else earlier
        if not earlier.empty:
            frames.append(earlier)
    feedback = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with m.engine.begin() as connection:  # receipts and rows in one transaction
        ids = [_record_receipt(connection, codebook.survey, landed, fmt, run_id, status="loaded", rows=rows,
                               error=None, unknown_columns=dumps(result.unknown_columns),
                               dropped_columns=dumps(result.dropped_columns), label_mismatches="[]")
               for landed, fmt, rows, result in receipts]
        if not feedback.empty:
            new = feedback["_new"].fillna(False).astype(bool) if "_new" in feedback else pd.Series(False, index=feedback.index)
            feedback.loc[new, "receipt_id"] = feedback.loc[new, "receipt_id"].map(dict(enumerate(ids)))
        feedback = feedback.drop(columns=["_new"], errors="ignore")
        replace_rows(connection, s.participant_feedback, feedback)
    return {"rows_received": received, "rows_stored": len(feedback), "rows_set_aside": set_aside,
            "waves": len(frames), "rejected_files": len(rejected), "log": log}


# --- Effects --------------------------------------------------------------------------------------

def wave_times(m: Monitor) -> dict[str, float]:
    """Time of each wave for the effect models (see :func:`codebook_wave_times`)."""
    return codebook_wave_times(m.codebook)


def codebook_wave_times(codebook: Any) -> dict[str, float]:
    """Time of each wave for the effect models: the calendar year of its fieldwork (so event times
    are whole years), or the wave's position when two waves share a year."""
    years = {}
    for position, wave in enumerate(codebook.waves):
        if wave.fieldwork_start and wave.fieldwork_end:
            middle = wave.fieldwork_start + (wave.fieldwork_end - wave.fieldwork_start) / 2
            years[wave.id] = float(middle.year)
        else:
            try:
                years[wave.id] = float(int(wave.id))
            except ValueError:
                years[wave.id] = float(position)
    if len(set(years.values())) < len(years):
        return {wave.id: float(position) for position, wave in enumerate(codebook.waves)}
    return years


def first_treated_wave(m: Monitor, start: dt.date) -> str | None:
    """The first wave whose fieldwork starts on or after the intervention's start."""
    return codebook_first_treated_wave(m.codebook, start)


def codebook_first_treated_wave(codebook: Any, start: dt.date) -> str | None:
    """The first wave whose fieldwork starts on or after the intervention's start."""
    for wave in codebook.waves:
        if wave.fieldwork_start and wave.fieldwork_start >= start:
            return wave.id
        if wave.fieldwork_start is None and wave.id.isdigit() and int(wave.id) >= start.year + 1:
            return wave.id  # no fieldwork dates: a wave named by its year counts from 1 January
    return None


def estimate_effects(m: Monitor, run_id: str) -> dict[str, Any]:
    """One verdict per intervention and indicator (see :func:`intervention_effects`)."""
    waves = [w for w in m.codebook.wave_ids if w in usable_waves(m.engine, m.codebook.survey)]
    indicators = read_table(m.engine, s.district_indicators, survey=m.codebook.survey)
    indicators = indicators[indicators["wave"].isin(waves)]
    districts = read_table(m.engine, s.districts)
    names = dict(zip(districts["district_code"], districts["district_name"])) if not districts.empty else {}
    with use_language(m.settings.language):  # verdicts, reasons and warnings in the report's language
        effects, log = intervention_effects(indicators, m.register, m.catalogue, m.codebook, m.settings.municipality,
                                            names)
    with m.engine.begin() as connection:
        replace_rows(connection, s.intervention_effects, effects)
    verdicts = (effects.loc[effects["role"] == "headline", "verdict_code"].value_counts().to_dict()
                if not effects.empty else {})
    return {"estimates": len(effects), **{f"verdict_{k}": int(v) for k, v in verdicts.items()}, "log": log}


def intervention_effects(indicators: pd.DataFrame, register: list[Any], catalogue: Any, codebook: Any,
                         municipality: str, names: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The rows of table intervention_effects from the district indicators of the usable waves (pure).

    One verdict per intervention and indicator (socialquality.effects.analyse_intervention picks the
    headline design, docs/methods_effects.md section 1), plus each site's own analyses as supporting
    evidence. The headline row has district_code "" and role "headline"."""
    from socialquality import effects as fx

    names = names or {}
    times = codebook_wave_times(codebook)
    # suppressed figures carry no number; the analysis uses every published district-wave (unbalanced panel)
    indicators = indicators[~indicators["suppressed"].astype(bool) & (indicators["district_code"] != municipality)]
    all_sites = {site.district for i in register for site in i.sites}
    rows, log = [], []
    for intervention in register:
        starts, not_started = {}, []
        for site in intervention.sites:
            treated_wave = codebook_first_treated_wave(codebook, site.start)
            if treated_wave is None or treated_wave not in times:
                not_started.append(site.district)
                log.append(f"{intervention.id} {site.district}: no wave after the start yet")
                continue
            starts[site.district] = times[treated_wave]
        if not starts:
            continue
        event_text = event_phrase(intervention.name, intervention.kind, intervention.english.get("name"))
        for indicator_id in intervention.indicators:
            indicator = catalogue.indicator(indicator_id)
            scale = 100.0 if indicator.unit == "percent" else 1.0
            unit = _("procentpunt") if indicator.unit == "percent" else _("punt")
            label = lower_first(indicator.label)  # "eenzaam (De Jong Gierveld, ...)": names keep their capitals
            panel = indicators[indicators["indicator_id"] == indicator_id].copy()
            panel["time"] = panel["wave"].map(times)
            panel["estimate"] *= scale
            panel["se"] *= scale
            panel = panel.rename(columns={"district_code": "unit"})[["unit", "time", "estimate", "se", "n", "wave"]]
            comparison = sorted(set(panel["unit"]) - all_sites)
            analysis = fx.analyse_intervention(panel, starts, comparison)
            rows.append(_effect_row(fx, intervention.id, "", indicator_id, analysis.method if analysis.method != "none"
                                    else ("did" if len(set(starts.values())) == 1 else "staggered_did"),
                                    analysis, "headline", indicator.higher_is_better, label, unit, event_text, names,
                                    _headline_details(fx, analysis, names, not_started)))
            for site, start in starts.items() if analysis.method != "its" else ():
                if len(starts) > 1:  # with one site its own comparison is the headline itself
                    own = fx.panel_did(panel, {site: start}, comparison)
                    rows.append(_effect_row(fx, intervention.id, site, indicator_id, "did", own, "supporting",
                                            indicator.higher_is_better, label, unit, event_text, names,
                                            {"start": start, "n_comparison": own.n_comparison}))
                rows.append(_effect_row(fx, intervention.id, site, indicator_id, "its", analysis.its[site],
                                        "supporting", indicator.higher_is_better, label, unit, event_text, names,
                                        {"start": start}))
            left = analysis.did.left_out
            if left:
                log.append(f"{intervention.id}/{indicator_id}: {len(left)} of {len(starts)} sites left out: "
                           + "; ".join(f"{u} ({r})" for u, r in left.items()))
    return pd.DataFrame(rows), log


def event_phrase(name: str, kind: str, name_en: str | None = None) -> str:
    """What happened, for the verdict sentence in the current language: "de start van computerlessen
    voor 65-plussers", "de sluiting van buurthuis Landlust"; in English from the register's `name_en`
    ("the closure of the Landlust community centre"), or the Dutch name quoted when there is none."""
    from socialquality.i18n import language

    if language() != "nl" and name_en:  # the English name in the same (translated) sentence frames
        lowered = name_en[:1].lower() + name_en[1:]
        if kind == "closure":
            for prefix in ("closure of ", "closing of "):
                if lowered.startswith(prefix):
                    return _("de sluiting van %(name)s", name=lowered[len(prefix):])
            return _("de %(name)s", name=lowered)
        return _("de start van %(name)s", name=lowered)
    lowered = name[:1].lower() + name[1:]  # keep proper nouns ("Landlust")
    if kind == "closure":
        for prefix in ("sluiting van ", "sluiting "):
            if lowered.startswith(prefix):  # "na de sluiting van buurthuis Landlust"
                return _("de sluiting van %(name)s", name=lowered[len(prefix):])
        return _("de %(name)s", name=lowered)
    return _("de start van %(name)s", name=lowered)


def _effect_row(fx: Any, intervention_id: str, district: str, indicator_id: str, method: str, result: Any,
                role: str, higher_is_better: bool, label: str, unit: str, event_text: str,
                names: dict[str, str], details: dict[str, Any]) -> dict[str, Any]:
    head = fx.headline(result)
    estimable = bool(head.estimable and np.isfinite(head.effect))
    inner = getattr(result, "headline", result)
    pretrend = getattr(inner, "pretrend", None)
    pretrend_p = float(pretrend.pvalue) if pretrend is not None and pretrend.estimable else None
    nan = float("nan")
    return {
        "intervention_id": intervention_id, "district_code": district, "indicator_id": indicator_id,
        "method": method, "role": role,
        "estimate": head.effect if estimable else nan, "se": head.se if estimable else nan,
        "ci_low": head.lower if estimable else nan, "ci_high": head.upper if estimable else nan,
        "mde": head.mde if estimable else nan, "estimable": estimable,
        "reason": getattr(inner, "reason", None),
        "pretrend_p": pretrend_p, "pretrend_warning": bool(pretrend_p is not None and pretrend_p < 0.05),
        "verdict_code": fx.verdict_code(result, higher_is_better),
        "verdict_nl": fx.verdict_nl(result, label, higher_is_better, unit=unit, event=event_text, names=names,
                                    supporting=role == "supporting"),
        "details": dumps(details),
    }


def _headline_details(fx: Any, analysis: Any, names: dict[str, str], not_started: list[str]) -> dict[str, Any]:
    """What the headline rests on, for the warehouse and the report (plain JSON: no numpy, no NaN)."""
    did = analysis.did

    def clean(records: list[dict]) -> list[dict]:
        return [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                     (v.item() if hasattr(v, "item") else v)) for k, v in r.items()} for r in records]

    event_records = []
    if analysis.method in ("did", "staggered_did") and did.event_study is not None:
        finite = did.event_study[["estimate", "ci_low", "ci_high"]].notna().all(axis=1)
        event_records = clean(did.event_study[finite].to_dict("records"))
    return {
        "choice": analysis.choice, "n_treated": did.n_treated, "n_comparison": did.n_comparison,
        "cohorts": {f"{g:g}": [str(u) for u in units] for g, units in did.cohorts.items()},
        "sites_left_out": [{"district_code": str(u), "name": fx.district_name(names, u),
                            "reason": did.left_out_nl.get(u, r)} for u, r in did.left_out.items()],
        "sites_not_started": [str(u) for u in not_started],
        "df": did.df if np.isfinite(did.df) else None,
        "refused_methods": fx.refused_methods(max(did.n_treated, len(analysis.starts))),
        "event_study": event_records,
    }


# --- Reports ---------------------------------------------------------------------------------------

def render_audit_index(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.audit import render_audit_page

    with use_language(m.settings.language):
        page = render_audit_page(m.engine, m.settings.path("audit"),
                                 _("Auditoverzicht %(title)s", title=m.codebook.title),
                                 report_href=os.path.relpath(m.settings.path("reports") / "index.html",
                                                             m.settings.path("audit")),
                                 minimum_respondents=m.catalogue.minimum_respondents)
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
            from socialquality.agebands import share_at_or_above

            # any bands: a band partly above age_min counts pro rata (ages evenly spread within it)
            age = age.assign(count=age["count"] * age["level"].map(lambda b: share_at_or_above(b, intervention.age_min)))
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


def _small_area_report_inputs(m: Monitor, waves: list[str]) -> dict[str, Any]:
    from socialquality.small_areas import buurt_boundaries_path

    estimates = read_table(m.engine, s.small_area_estimates, survey=m.codebook.survey)
    models = read_table(m.engine, s.small_area_models, survey=m.codebook.survey)
    boundaries = m.settings.path("boundaries")
    return {"small_areas": estimates[estimates["wave"].isin(waves)], "small_area_models": models[models["wave"].isin(waves)],
            "buurten": read_table(m.engine, s.buurten),
            "buurt_geojson_path": buurt_boundaries_path(boundaries if boundaries.is_file() else None)}


def _breakdowns_for_report(m: Monitor, waves: list[str]) -> pd.DataFrame:
    frame = read_table(m.engine, s.district_breakdowns, survey=m.codebook.survey)
    return frame[frame["wave"].isin(waves)]


def render_trend_report(m: Monitor, run_id: str) -> dict[str, Any]:
    from socialquality.report.render import ReportInputs, interventions_frames, render_report

    codebook, catalogue, settings = m.codebook, m.catalogue, m.settings
    waves = [w for w in codebook.wave_ids if w in usable_waves(m.engine, codebook.survey)]
    if not waves:
        raise SocialQualityError("no usable wave: nothing to report (see the audit page for blocked or failed waves)")
    districts = read_table(m.engine, s.districts)[["district_code", "district_name", "population"]]
    from socialquality.indicators import indicator_items

    def question(indicator) -> str:  # the wording shown next to the indicator in the report
        items = [i for i in indicator_items(indicator, codebook) if i in codebook.items]
        return " / ".join(codebook.items[i].text for i in items[:3]) + (" …" if len(items) > 3 else "")

    survey_catalogue = pd.DataFrame([{"indicator_id": i.id, "label": i.label, "unit": i.unit,
                                      "condition": i.condition, "direction": i.direction, "kind": "survey",
                                      "in_index": i.in_index, "question": question(i)} for i in catalogue.indicators])
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
        method_breaks=[{"wave": b.wave, "description": b.description, "items": list(b.items),
                        "questions": [codebook.items[i].text for i in b.items if i in codebook.items],
                        # the themes whose indicators use the changed questions: the break line is drawn there only
                        "conditions": sorted({i.condition for i in catalogue.indicators
                                              if set(indicator_items(i, codebook)) & set(b.items)})}
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
        **_small_area_report_inputs(m, waves),
        intervention_costs=read_table(m.engine, s.intervention_costs),
        cost_measures=read_table(m.engine, s.intervention_cost_measures),
        audit_href=os.path.relpath(settings.path("audit") / "index.html", settings.path("reports")),
        district_covariates=read_table(m.engine, s.area_covariates),
        breakdowns=_breakdowns_for_report(m, waves),
        weighting_diagnostics=read_table(m.engine, s.weighting_diagnostics, survey=codebook.survey),
    )
    final = settings.path("reports")
    staging = final.parent / f".{final.name}.new-{run_id[:8]}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        outputs = render_report(inputs, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a crash leaves the published report as it was
        raise
    swap_folder(staging, final)
    return {"report": str(final / outputs.html_path.relative_to(staging)),
            "excel": str(final / outputs.excel_path.relative_to(staging)),
            "figures": len(outputs.figure_paths), "district_pages": len(outputs.district_pages)}


def swap_folder(new: Path, final: Path) -> None:
    """Publish a fully written folder in place of `final`: two renames on the same file system,
    so readers see the old report or the new one, never a mix of both."""
    old = final.parent / f".{final.name}.old-{new.name.rsplit('-', 1)[-1]}"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(new, final)
    except OSError:
        if old.exists() and not final.exists():
            os.replace(old, final)  # put the published report back
        raise
    shutil.rmtree(old, ignore_errors=True)
