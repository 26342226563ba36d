"""`validate_wave`: run the generated and custom rules on one wave and split clean from quarantined rows.

Order of work (docs/audit.md describes it for auditors):

1. The generated GX suite runs on the delivered (normalised) frame, result_format COMPLETE with the
   failing rows identified by (source_file, source_row). Expectations on items that the codebook
   does not ask in this wave are recorded as "not applicable".
2. The pandas row rules declared in the generated suite's meta run (straight-lining per grid).
3. The custom row rules run on the delivered frame: fieldwork dates (GX, only with an
   ``interview_date`` column), identical answer patterns (pandas) and any extra GX row
   expectations of the custom file.
4. A row with at least one failed ``blocking_row`` rule is quarantined; all others are clean.
5. The custom dataset rules run on the clean rows: missing share per item and minimum clean
   respondents (GX, result_format SUMMARY), respondents per district and sample composition
   (pandas), share of quarantined rows (arithmetic).
6. received == clean + quarantined is checked (total and per source file); a mismatch raises.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialquality.codebook import Codebook
from socialquality.quality import rules as R
from socialquality.quality import suites as S
from socialquality.quality.gx_adapter import (
    GXValidator,
    expectation_columns,
    gx_version,
    result_to_dict,
    truncate_unexpected_lists,
)
from socialquality.quality.model import (
    BLOCKING_ROW,
    DATASET,
    QUARANTINE_COLUMNS,
    ROW,
    WARNING,
    CheckResult,
    QualityOutcome,
    Reconciliation,
    jsonable,
)

_THRESHOLD_KEYS = ("value_set", "min_value", "max_value", "strict_min", "strict_max", "mostly")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


class _Records:
    """Collects (row, rule) violations as column arrays; turned into the quarantine frame at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, positions: np.ndarray, rule_id: str, column: str | None, values: np.ndarray,
            severity: str, message: str | np.ndarray) -> None:
        if len(positions) == 0:
            return
        self.parts.append(pd.DataFrame({
            "pos": np.asarray(positions, dtype=np.int64),
            "rule_id": rule_id,
            "column": column or "",
            "value": values,
            "severity": severity,
            "message": message,
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"pos": pd.Series(dtype=np.int64), **{c: pd.Series(dtype=object) for c in
                                 ("rule_id", "column", "value", "severity", "message")}})
        return pd.concat(self.parts, ignore_index=True)


class _RowKeys:
    """Maps GX's failing-row identifiers (source_file, source_row) back to frame positions."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._index: pd.MultiIndex | None = None

    def positions(self, index_list: list[dict[str, Any]]) -> np.ndarray:
        if not index_list:
            return np.empty(0, dtype=np.int64)
        if self._index is None:
            self._index = pd.MultiIndex.from_arrays(
                [self.frame[S.SOURCE_FILE].astype(str).to_numpy(dtype=object), self.frame[S.SOURCE_ROW].to_numpy()]
            )
        wanted = pd.DataFrame(index_list, columns=[S.SOURCE_FILE, S.SOURCE_ROW])
        found = self._index.get_indexer(pd.MultiIndex.from_arrays(
            [wanted[S.SOURCE_FILE].astype(str).to_numpy(dtype=object), wanted[S.SOURCE_ROW].to_numpy()]))
        if (found < 0).any():
            raise RuntimeError("GX reported a failing row that is not in the frame (source_file/source_row)")
        return np.unique(found.astype(np.int64))

    def positions_in_order(self, wanted: pd.DataFrame) -> np.ndarray:
        """Frame position of every (source_file, source_row) pair, in the given order (not unique)."""
        self.positions(wanted.head(1).to_dict("records"))  # builds the index
        found = self._index.get_indexer(pd.MultiIndex.from_arrays(
            [wanted[S.SOURCE_FILE].astype(str).to_numpy(dtype=object), wanted[S.SOURCE_ROW].to_numpy()]))
        if (found < 0).any():
            raise RuntimeError("an ingest finding names a row that is not in the frame (source_file/source_row)")
        return found.astype(np.int64)


INGEST_RULES = {
    "parseable_value": ("Een cel in een numerieke kolom bevat tekst die geen getal is; de rij gaat naar quarantaine "
                        "met de geleverde waarde (niet stilzwijgend ontbrekend).",
                        "A cell in a numeric column holds text that is not a number; the row is quarantined with "
                        "the delivered value (not silently missing)."),
    "whole_number": ("Een antwoord op een schaal van gehele getallen is geen geheel getal (bijv. 7,5 op de ladder); "
                     "de rij gaat naar quarantaine.",
                     "An answer on a whole-number scale is not a whole number (e.g. 7.5 on the ladder); the row is "
                     "quarantined."),
    "allowed_codes": ("De geleverde code staat niet in het codeboek (bijv. geslacht 3 of 'x'); de rij gaat naar "
                      "quarantaine met de geleverde code.",
                      "The delivered code is not in the codebook (e.g. sex 3 or 'x'); the row is quarantined with "
                      "the delivered code."),
    "complete_row": ("De rij heeft minder velden dan de kopregel (een afgebroken rij of een voetregel zoals "
                     "'Totaal;200'); de rij gaat naar quarantaine.",
                     "The row has fewer fields than the header (a cut-off row or a footer such as 'Totaal;200'); "
                     "the row is quarantined."),
}


def _ingest_checks(run: "_Run", findings: pd.DataFrame | None, suite: str) -> list[CheckResult]:
    """One row check per ingest rule and column: passed when ingestion found nothing."""
    columns = {"parseable_value": [], "whole_number": [], "allowed_codes": [], "complete_row": [None]}
    found = findings if findings is not None and not findings.empty else None
    if found is not None:
        for (rule_id, column), _ in found.groupby(["rule_id", found["column_name"].fillna("")], sort=True):
            if rule_id in columns and (column or None) not in columns[rule_id]:
                columns[rule_id].append(column or None)
    checks = []
    for rule_id, rule_columns in columns.items():
        nl, en = INGEST_RULES[rule_id]
        for column in rule_columns:
            if found is not None:
                hits = found[(found["rule_id"] == rule_id) & (found["column_name"].fillna("") == (column or ""))]
            else:
                hits = pd.DataFrame(columns=["source_file", "source_row", "value", "message"])
            positions = run.keys.positions(hits[[S.SOURCE_FILE, S.SOURCE_ROW]].to_dict("records")) if len(hits) else \
                np.empty(0, dtype=np.int64)
            if len(hits):
                order = run.keys.positions_in_order(hits[[S.SOURCE_FILE, S.SOURCE_ROW]])
                run.records.add(order, rule_id, column, hits["value"].astype(object).to_numpy(), BLOCKING_ROW,
                                hits["message"].astype(object).to_numpy())
            n = len(positions)
            checks.append(CheckResult(
                rule_id=rule_id, expectation_type=f"socialquality.ingest.{rule_id}", column=column, kind=ROW,
                severity=BLOCKING_ROW, success=n == 0, observed_value={"rows": n, "share": n / run.n if run.n else 0.0},
                threshold=None, rows_affected=n, check_id=f"{rule_id}:{column or '*'}:delivered", suite=suite,
                unexpected_count=len(hits), description_nl=nl, description_en=en,
                message=f"{n} rows quarantined ({len(hits)} delivered values)" if n else "passed: nothing found"))
    return checks


def _prepare(responses: pd.DataFrame, codebook: Codebook) -> tuple[pd.DataFrame, str | None]:
    missing = [c for c in (S.SOURCE_FILE, S.SOURCE_ROW, S.WAVE) if c not in responses.columns]
    if missing:
        raise ValueError(f"responses lack the contract column(s) {missing}: every row must name its wave, "
                         "source_file and source_row (docs/data-contracts.md section 1)")
    frame = responses.reset_index(drop=True)
    if frame[S.SOURCE_FILE].isna().any() or frame[S.SOURCE_ROW].isna().any():
        raise ValueError("source_file and source_row must be filled on every row")
    if frame.duplicated([S.SOURCE_FILE, S.SOURCE_ROW]).any():
        raise ValueError("(source_file, source_row) must identify each delivered row; duplicates found")
    if frame[S.WAVE].isna().any():
        raise ValueError("wave must be filled on every row")
    waves = sorted(frame[S.WAVE].astype(str).unique())
    if len(waves) > 1:
        raise ValueError(f"validate_wave validates one wave at a time; got waves {waves}")
    wave = waves[0] if waves else None
    if wave is not None and wave not in codebook.wave_ids:
        raise ValueError(f"wave {wave!r} is not in codebook {codebook.survey} (waves: {codebook.wave_ids})")
    return frame, wave


def _exception(result) -> str | None:
    info = getattr(result, "exception_info", None) or {}
    if isinstance(info, dict) and "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values() if isinstance(info, dict) else []:
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "exception"
    return None


def _threshold(kwargs: dict[str, Any]) -> dict[str, Any]:
    return jsonable({k: kwargs[k] for k in _THRESHOLD_KEYS if k in kwargs and kwargs[k] is not None})


def _observed(result_dict: dict[str, Any]) -> Any:
    if "observed_value" in result_dict:
        return jsonable(result_dict["observed_value"])
    keys = ("element_count", "unexpected_count", "unexpected_percent", "missing_count")
    return jsonable({k: result_dict[k] for k in keys if k in result_dict})


def _violation(rule_id: str, column: str | None, threshold: dict[str, Any]) -> str:
    """Short Dutch / English message stored with each quarantine record."""
    low, high = threshold.get("min_value"), threshold.get("max_value")
    if rule_id == "allowed_codes":
        codes = ", ".join(str(v) for v in threshold.get("value_set", []))
        return f"{column}: code niet in codeboek / code not in codebook (allowed: {codes})"
    if rule_id == "value_range":
        return f"{column}: waarde buiten bereik / value out of range [{low if low is not None else ''}, {high if high is not None else ''}]"
    if rule_id == "minimum_age":
        return f"leeftijd onder minimumleeftijd / age below the survey's minimum age {low:g}"
    if rule_id == "speeder":
        return f"interview korter dan {low:g} min / speeder: interview shorter than {low:g} minutes"
    if rule_id == "known_district":
        return "onbekende wijkcode / district code not in the municipality's district list"
    if rule_id == "district_present":
        return "wijkcode ontbreekt / district code missing"
    if rule_id == "respondent_id_present":
        return "respondentnummer ontbreekt / respondent id missing"
    if rule_id == "fieldwork_dates":
        return "interviewdatum buiten veldwerkperiode / interview date outside the fieldwork period"
    return f"{rule_id} {column or ''}".strip()


class _Run:
    def __init__(self, frame: pd.DataFrame, codebook: Codebook, wave: str | None, run_label: str = "") -> None:
        self.run_label = run_label
        self.frame = frame
        self.codebook = codebook
        self.wave = wave
        self.records = _Records()
        self.keys = _RowKeys(frame)
        self.n = len(frame)

    # --- helpers -----------------------------------------------------------------------------
    def asked(self, item_id: str) -> bool:
        item = self.codebook.items.get(item_id)
        if item is None or self.wave is None:
            return True
        return item.asked_in(self.wave, self.codebook.wave_ids)

    def answer_items(self) -> list[str]:
        """Required, non-text items asked in this wave and present in the frame."""
        return [i.id for i in self.codebook.items.values()
                if i.required and i.type != "text" and self.asked(i.id) and i.id in self.frame.columns]

    def not_applicable(self, meta: dict[str, Any], type_: str, suite: str, reason: str,
                       threshold: Any = None) -> CheckResult:
        return CheckResult(
            rule_id=meta["rule_id"], expectation_type=type_, column=meta.get("column"), kind=meta["kind"],
            severity=meta["severity"], success=True, threshold=threshold, message=f"not applicable: {reason}",
            check_id=meta["check_id"], suite=suite, applicable=False,
            description_nl=meta.get("description_nl", ""), description_en=meta.get("description_en", ""),
        )

    def gx_check(self, expectation: dict[str, Any], result, suite: str) -> CheckResult:
        """Turn one GX expectation result into a CheckResult; row failures become records."""
        meta = expectation["meta"]
        rule_id, column, severity, kind = meta["rule_id"], meta.get("column"), meta["severity"], meta["kind"]
        kwargs = dict(result.expectation_config.kwargs)
        threshold = _threshold(kwargs)
        data = result.result or {}
        error = _exception(result)
        check = CheckResult(
            rule_id=rule_id, expectation_type=expectation["type"], column=column, kind=kind, severity=severity,
            success=bool(result.success) and error is None, observed_value=_observed(data), threshold=threshold,
            check_id=meta["check_id"], suite=suite, unexpected_count=data.get("unexpected_count"),
            description_nl=meta.get("description_nl", ""), description_en=meta.get("description_en", ""),
            error=error,
        )
        if expectation["type"] == "expect_column_to_exist":
            check.observed_value = {"column_present": bool(result.success)}
        if error is not None:
            check.message = f"could not be evaluated / kon niet worden beoordeeld: {error}"
            return check
        if kind == ROW and not result.success and "unexpected_index_list" in data:
            positions = self.keys.positions(data["unexpected_index_list"])
            if rule_id == "unique_respondent":
                later = R.later_duplicates(self.frame[column])
                keep = np.isin(later.positions, positions)
                partner = later.partner[keep]
                positions = later.positions[keep]
                firsts = self.frame.iloc[partner]
                message = ("latere kopie van respondent / later copy of a respondent first delivered at "
                           + firsts[S.SOURCE_FILE].astype(str).to_numpy(dtype=object) + " row "
                           + R.as_text(firsts[S.SOURCE_ROW]))
                self.records.add(positions, rule_id, column, later.values[keep], severity, message)
            else:
                values = R.as_text(self.frame[column].iloc[positions]) if column in self.frame.columns else \
                    np.full(len(positions), "", dtype=object)
                self.records.add(positions, rule_id, column, values, severity,
                                 _violation(rule_id, column, threshold))
            check.rows_affected = int(len(positions))
        check.message = self._gx_message(check, data)
        return check

    def _gx_message(self, check: CheckResult, data: dict[str, Any]) -> str:
        if check.expectation_type == "expect_column_to_exist":
            return "column present" if check.success else f"column {check.column} is missing / kolom ontbreekt"
        if "unexpected_count" in data:
            count = data.get("unexpected_count") or 0
            text = f"{count} of {data.get('element_count', 0)} values unexpected"
            if check.kind == ROW and check.rows_affected:
                verb = "quarantined" if check.severity == BLOCKING_ROW else "flagged"
                text += f"; {check.rows_affected} rows {verb}"
            return text if count else "passed: no unexpected values"
        if "observed_value" in data:
            return f"observed {jsonable(data['observed_value'])}"
        return "passed" if check.success else "failed"

    def run_gx(self, validator: GXValidator, expectations: list[dict[str, Any]], suite: str, *,
               parameters: dict[str, Any], frame: pd.DataFrame | None = None, complete: bool = True,
               row_mask: Any = None, frame_label: str = "delivered") -> tuple[dict[str, CheckResult], Any]:
        if not expectations:
            return {}, None
        result = validator.validate(self.frame if frame is None else frame, expectations, name=suite,
                                    parameters=parameters, complete=complete, row_mask=row_mask,
                                    frame_label=frame_label,
                                    run_name=self.run_label or f"{self.codebook.survey}-{self.wave}")
        by_id = {r.expectation_config.meta["check_id"]: r for r in result.results}
        checks = {e["meta"]["check_id"]: self.gx_check(e, by_id[e["meta"]["check_id"]], suite) for e in expectations}
        truncate_unexpected_lists(result)
        return checks, result


def _custom_meta(rule: S.CustomRule, column: str | None = None, check_id: str | None = None) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "check_id": check_id or (f"{rule.rule_id}:{column}" if column else rule.rule_id),
        "column": column,
        "kind": rule.kind,
        "severity": rule.severity,
        "description_nl": rule.description_nl,
        "description_en": rule.description_en,
        "source": "custom",
    }


def validate_wave(
    responses: pd.DataFrame,
    codebook: Codebook,
    *,
    known_districts: set[str],
    expectations_dir: Path,
    population_shares: pd.DataFrame | None = None,
    run_label: str = "",
    ingest_findings: pd.DataFrame | None = None,
) -> QualityOutcome:
    """Validate one wave of normalised responses (docs/data-contracts.md section 1).

    known_districts: the municipality's CBS district codes (GX suite parameter ``known_districts``).
    population_shares: city population shares for the sample-composition rule (see
    `rules.population_margins` for the accepted layouts); None = rule not applicable.
    ingest_findings: what ingestion could not take at face value (columns source_file, source_row,
    rule_id, column_name, value, message; see socialquality.normalise): each row found is
    quarantined with the delivered value (rules parseable_value, whole_number, allowed_codes,
    complete_row), so no bad value becomes silently missing.
    Raises ValueError when the frame breaks the contract (no wave/source columns, more than one
    wave, duplicate (source_file, source_row)); ConfigError when the generated suite is missing or
    was generated from another codebook version.
    """
    started = _now()
    if not known_districts:
        raise ValueError("known_districts is empty: pass the municipality's CBS district codes")
    expectations_dir = Path(expectations_dir)
    suite, suite_path = S.load_generated_suite(codebook, expectations_dir)
    custom = S.load_custom_rules(codebook.survey, expectations_dir)
    custom_name = S.suite_name(codebook.survey, "custom")
    generated_name = suite["name"]
    checksums = {f"{S.GENERATED_DIR}/{suite_path.name}": S.file_sha256(suite_path)}
    checksums[f"{S.CUSTOM_DIR}/{codebook.survey}.json" if custom.path else "custom (built-in defaults)"] = custom.checksum

    frame, wave = _prepare(responses, codebook)
    run = _Run(frame, codebook, wave, run_label)
    validator = GXValidator()
    parameters = {"known_districts": sorted(str(d) for d in known_districts)}
    gx_objects = []

    # 1. Generated suite on the delivered rows.
    generated_checks: dict[str, CheckResult] = {}
    to_run = []
    for expectation in suite["expectations"]:
        meta = expectation["meta"]
        item = meta.get("item")
        columns = expectation_columns(expectation)
        if item and not run.asked(item):
            generated_checks[meta["check_id"]] = run.not_applicable(
                meta, expectation["type"], generated_name, f"item {item} is not asked in wave {wave}",
                _threshold(expectation["kwargs"]))
        elif expectation["type"] != "expect_column_to_exist" and any(c not in frame.columns for c in columns):
            generated_checks[meta["check_id"]] = run.not_applicable(
                meta, expectation["type"], generated_name, f"column {', '.join(columns)} absent from the data",
                _threshold(expectation["kwargs"]))
        else:
            to_run.append(expectation)
    checks_run, result = run.run_gx(validator, to_run, generated_name, parameters=parameters)
    generated_checks.update(checks_run)
    if result is not None:
        gx_objects.append(result)
    ordered = [generated_checks[e["meta"]["check_id"]] for e in suite["expectations"]]

    # 2. Pandas row rules declared in the generated suite (straight-lining per grid).
    for rule in suite["meta"]["socialquality"].get("row_rules", []):
        type_ = "socialquality.straightlining"
        items = [i for i in rule["items"] if run.asked(i) and i in frame.columns]
        threshold = {"min_answered": rule["min_answered"], "items": items}
        if not rule["enabled"]:
            ordered.append(run.not_applicable(rule, type_, generated_name, rule["reason"], threshold))
            continue
        if len(items) < rule["min_answered"]:
            ordered.append(run.not_applicable(rule, type_, generated_name,
                                              f"only {len(items)} grid items in the data for wave {wave}", threshold))
            continue
        hits = R.straightlining(frame, items, rule["min_answered"])
        run.records.add(hits.positions, rule["rule_id"], rule["column"], hits.values, rule["severity"],
                        f"zelfde antwoord op alle vragen van {rule['column']} / same answer on all answered "
                        f"items of grid {rule['column']}")
        ordered.append(CheckResult(
            rule_id=rule["rule_id"], expectation_type=type_, column=rule["column"], kind=ROW,
            severity=rule["severity"], success=len(hits) == 0,
            observed_value={"rows": len(hits), "share": len(hits) / run.n if run.n else 0.0},
            threshold=threshold, rows_affected=len(hits), check_id=rule["check_id"], suite=generated_name,
            unexpected_count=len(hits), description_nl=rule["description_nl"], description_en=rule["description_en"],
            message=f"{len(hits)} straight-lining rows quarantined" if len(hits) else "passed: no straight-lining",
        ))

    # 2b. What ingestion could not take at face value (the delivered value is kept with the record).
    ordered += _ingest_checks(run, ingest_findings, generated_name)

    # 3. Custom row rules on the delivered rows.
    custom_checks: dict[str, list[CheckResult]] = {}
    custom_row_gx: list[dict[str, Any]] = []
    custom_parameters: dict[str, Any] = dict(parameters)
    custom_frame = frame
    rule = custom.get("fieldwork_dates")
    if rule is not None:
        column = rule.params["column"]
        meta = _custom_meta(rule, column)
        wave_info = codebook.wave(wave) if wave else None
        type_ = "expect_column_values_to_be_between"
        if column not in frame.columns:
            custom_checks[rule.rule_id] = [run.not_applicable(meta, type_, custom_name,
                                                              f"the data carry no {column} column")]
        elif wave_info is None or wave_info.fieldwork_start is None or wave_info.fieldwork_end is None:
            custom_checks[rule.rule_id] = [run.not_applicable(meta, type_, custom_name,
                                                              f"wave {wave} has no fieldwork dates in the codebook")]
        else:
            dates = pd.to_datetime(frame[column], errors="coerce")
            if getattr(dates.dt, "tz", None) is not None:
                dates = dates.dt.tz_convert("Europe/Amsterdam").dt.tz_localize(None)
            custom_frame = frame.assign(**{column: dates})
            custom_parameters["fieldwork_start"] = pd.Timestamp(wave_info.fieldwork_start)
            custom_parameters["fieldwork_end_exclusive"] = (pd.Timestamp(wave_info.fieldwork_end)
                                                            + pd.Timedelta(days=1 + rule.params["grace_days"]))
            custom_row_gx.append({
                "type": type_,
                "kwargs": {"column": column, "min_value": {"$PARAMETER": "fieldwork_start"},
                           "max_value": {"$PARAMETER": "fieldwork_end_exclusive"}, "strict_max": True},
                "meta": meta,
                "severity": S.GX_SEVERITY[rule.severity],
            })
    row_extras = [e for e in custom.gx_expectations if e["meta"]["kind"] == ROW]
    custom_row_gx += row_extras
    checks_run, result = run.run_gx(validator, custom_row_gx, custom_name, parameters=custom_parameters,
                                    frame=custom_frame)
    if result is not None:
        gx_objects.append(result)
    if rule is not None and rule.rule_id not in custom_checks:
        check = checks_run[f"fieldwork_dates:{rule.params['column']}"]
        unparsable = int((frame[rule.params["column"]].notna() & custom_frame[rule.params["column"]].isna()).sum())
        if unparsable:
            check.message += f"; {unparsable} dates could not be read and were not judged"
        custom_checks[rule.rule_id] = [check]
    for extra in row_extras:
        custom_checks.setdefault(f"gx:{extra['meta']['check_id']}", []).append(checks_run[extra["meta"]["check_id"]])

    rule = custom.get("duplicate_answer_pattern")
    if rule is not None:
        items = run.answer_items()
        hits = R.duplicate_answer_patterns(frame, items, rule.params["min_answered"])
        if len(hits):
            partners = frame.iloc[hits.partner]
            message = ("zelfde antwoorden als / same answers as " + partners[S.SOURCE_FILE].astype(str).to_numpy(dtype=object)
                       + " row " + R.as_text(partners[S.SOURCE_ROW]) + " (other respondent id)")
            values = partners[S.SOURCE_FILE].astype(str).to_numpy(dtype=object) + ":" + R.as_text(partners[S.SOURCE_ROW])
            run.records.add(hits.positions, rule.rule_id, "*", values, rule.severity, message)
        verb = "quarantined" if rule.severity == BLOCKING_ROW else "flagged"
        custom_checks[rule.rule_id] = [CheckResult(
            rule_id=rule.rule_id, expectation_type="socialquality.duplicate_answer_pattern", column=None,
            kind=ROW, severity=rule.severity, success=len(hits) == 0, observed_value={"rows": len(hits)},
            threshold={"min_answered": rule.params["min_answered"], "items": len(items)},
            rows_affected=len(hits), check_id=rule.rule_id, suite=custom_name, unexpected_count=len(hits),
            description_nl=rule.description_nl, description_en=rule.description_en,
            message=f"{len(hits)} rows repeat an earlier row's answers; {verb}" if len(hits) else "passed",
        )]

    # 4. Clean versus quarantined rows.
    records = run.records.frame()
    blocked = np.zeros(run.n, dtype=bool)
    blocked[records.loc[records["severity"] == BLOCKING_ROW, "pos"].to_numpy(dtype=np.int64)] = True
    clean_mask = ~blocked
    n_quarantined = int(blocked.sum())
    n_clean = run.n - n_quarantined

    # 5. Custom dataset rules on the clean rows.
    dataset_gx: list[dict[str, Any]] = []
    rule = custom.get("max_missing_share")
    if rule is not None:
        wanted = run.answer_items() if rule.params["items"] == "*" else list(rule.params["items"])
        for item in wanted:
            meta = _custom_meta(rule, item)
            if item not in frame.columns or not run.asked(item):
                custom_checks.setdefault(rule.rule_id, []).append(run.not_applicable(
                    meta, "expect_column_values_to_not_be_null", custom_name,
                    f"item {item} not in the data / not asked in wave {wave}"))
                continue
            dataset_gx.append({"type": "expect_column_values_to_not_be_null",
                               "kwargs": {"column": item, "mostly": round(1.0 - rule.params["max_share"], 6)},
                               "meta": meta, "severity": S.GX_SEVERITY[rule.severity]})
    rule = custom.get("min_clean_respondents")
    if rule is not None:
        dataset_gx.append({"type": "expect_table_row_count_to_be_between",
                           "kwargs": {"min_value": int(rule.params["minimum"])},
                           "meta": _custom_meta(rule), "severity": S.GX_SEVERITY[rule.severity]})
    dataset_extras = [e for e in custom.gx_expectations if e["meta"]["kind"] == DATASET]
    checks_run, result = run.run_gx(validator, dataset_gx + dataset_extras, custom_name + ".clean_rows",
                                    parameters=parameters, complete=False, row_mask=clean_mask, frame_label="clean")
    if result is not None:
        gx_objects.append(result)
    for expectation in dataset_gx:
        check = checks_run[expectation["meta"]["check_id"]]
        check.suite = custom_name
        if check.rule_id == "max_missing_share" and check.error is None:
            observed = check.observed_value or {}
            count = observed.get("unexpected_count") or 0
            total = observed.get("element_count") or 0
            share = count / total if total else 0.0
            check.observed_value = {"missing_count": count, "clean_rows": total, "missing_share": share}
            check.threshold = {"max_share": custom.get("max_missing_share").params["max_share"]}
            check.message = f"{share:.1%} missing among clean respondents"
        elif check.rule_id == "min_clean_respondents" and check.error is None:
            check.message = f"{n_clean} clean respondents (minimum {expectation['kwargs']['min_value']})"
        custom_checks.setdefault(check.rule_id, []).append(check)
    for extra in dataset_extras:
        check = checks_run[extra["meta"]["check_id"]]
        check.suite = custom_name
        custom_checks.setdefault(f"gx:{extra['meta']['check_id']}", []).append(check)

    clean_view = frame.loc[clean_mask, [c for c in (S.DISTRICT, S.SEX, S.AGE_GROUP) if c in frame.columns]]
    rule = custom.get("min_respondents_per_district")
    if rule is not None:
        meta = _custom_meta(rule, S.DISTRICT)
        type_ = "socialquality.min_respondents_per_district"
        if S.DISTRICT not in frame.columns:
            custom_checks[rule.rule_id] = [run.not_applicable(meta, type_, custom_name, "no district_code column")]
        else:
            counts = R.respondents_per_district(clean_view[S.DISTRICT], set(parameters["known_districts"]))
            low = counts[counts < rule.params["minimum"]]
            custom_checks[rule.rule_id] = [CheckResult(
                rule_id=rule.rule_id, expectation_type=type_, column=S.DISTRICT, kind=DATASET,
                severity=rule.severity, success=low.empty,
                observed_value={"districts": int(len(counts)), "districts_below_minimum": low.to_dict()},
                threshold={"minimum": rule.params["minimum"]}, rows_affected=int(low.sum()),
                check_id=meta["check_id"], suite=custom_name, unexpected_count=int(len(low)),
                description_nl=rule.description_nl, description_en=rule.description_en,
                message=(f"{len(low)} of {len(counts)} districts have fewer than {rule.params['minimum']} clean "
                         "respondents; their figures will be suppressed" if len(low) else
                         f"all {len(counts)} districts have at least {rule.params['minimum']} clean respondents"),
            )]

    rule = custom.get("sample_composition")
    if rule is not None:
        type_ = "socialquality.sample_composition"
        meta = _custom_meta(rule, ",".join(rule.params["dimensions"]), check_id=rule.rule_id)
        dims = [d for d in rule.params["dimensions"] if d in frame.columns]
        if population_shares is None:
            custom_checks[rule.rule_id] = [run.not_applicable(meta, type_, custom_name, "no population shares given",
                                                              {"tolerance_pp": rule.params["tolerance_pp"]})]
        elif not dims:
            custom_checks[rule.rule_id] = [run.not_applicable(meta, type_, custom_name, "no sex/age_group columns")]
        else:
            table = R.sample_composition(clean_view, R.population_margins(population_shares), dims)
            outside = table[table["difference_pp"].abs() > rule.params["tolerance_pp"]]
            custom_checks[rule.rule_id] = [CheckResult(
                rule_id=rule.rule_id, expectation_type=type_, column=meta["column"], kind=DATASET,
                severity=rule.severity, success=outside.empty,
                observed_value=table.round(4).to_dict(orient="records"),
                threshold={"tolerance_pp": rule.params["tolerance_pp"]}, check_id=meta["check_id"],
                suite=custom_name, unexpected_count=int(len(outside)),
                description_nl=rule.description_nl, description_en=rule.description_en,
                message=("outside tolerance: " + ", ".join(
                    f"{r.dimension}={r.category} sample {r.sample_share:.0%} vs population {r.population_share:.0%}"
                    for r in outside.itertuples()) + " (unweighted; weighting corrects this)")
                if len(outside) else "sample composition within tolerance (unweighted)",
            )]

    rule = custom.get("max_quarantine_share")
    if rule is not None:
        share = n_quarantined / run.n if run.n else 0.0
        custom_checks[rule.rule_id] = [CheckResult(
            rule_id=rule.rule_id, expectation_type="socialquality.max_quarantine_share", column=None,
            kind=DATASET, severity=rule.severity, success=share <= rule.params["max_share"],
            observed_value={"quarantined": n_quarantined, "received": run.n, "share": share},
            threshold={"max_share": rule.params["max_share"]}, rows_affected=n_quarantined,
            check_id=rule.rule_id, suite=custom_name, unexpected_count=n_quarantined,
            description_nl=rule.description_nl, description_en=rule.description_en,
            message=f"{share:.1%} of received rows quarantined (maximum {rule.params['max_share']:.0%})",
        )]

    for rule in custom.rules:
        if not rule.enabled:
            custom_checks[rule.rule_id] = [run.not_applicable(
                _custom_meta(rule), f"socialquality.{rule.rule_id}", custom_name, "disabled in the custom rules file")]
    if custom.path is None:
        ordered.append(CheckResult(
            rule_id="custom_rules_present", expectation_type="socialquality.custom_rules_present", column=None,
            kind=DATASET, severity=WARNING, success=False, check_id="custom_rules_present", suite=custom_name,
            message=f"no file {S.CUSTOM_DIR}/{codebook.survey}.json: built-in default rules applied",
            description_en="The research department's rules file exists.",
            description_nl="Het bestand met regels van de onderzoeksafdeling bestaat.",
        ))
    for rule in custom.rules:
        ordered.extend(custom_checks.get(rule.rule_id, []))
    for extra in custom.gx_expectations:
        ordered.extend(custom_checks.get(f"gx:{extra['meta']['check_id']}", []))

    # 6. Quarantine records, clean rows, reconciliation.
    ident = frame[[c for c in (S.WAVE, S.SOURCE_FILE, S.SOURCE_ROW, S.RESPONDENT) if c in frame.columns]]
    picked = ident.iloc[records["pos"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    quarantine = pd.DataFrame({
        "wave": picked[S.WAVE].astype(str) if len(picked) else pd.Series(dtype=str),
        "source_file": picked[S.SOURCE_FILE].astype(str) if len(picked) else pd.Series(dtype=str),
        "source_row": picked[S.SOURCE_ROW].astype(np.int64) if len(picked) else pd.Series(dtype=np.int64),
        "respondent_pid": (picked[S.RESPONDENT].astype(object) if S.RESPONDENT in picked else pd.Series([None] * len(picked), dtype=object)),
        "rule_id": records["rule_id"].astype(str).to_numpy(),
        "column": records["column"].astype(str).to_numpy(),
        "value": records["value"].astype(str).to_numpy(),
        "severity": records["severity"].astype(str).to_numpy(),
        "message": records["message"].astype(str).to_numpy(),
    }, columns=list(QUARANTINE_COLUMNS))
    quarantine = quarantine.sort_values(["source_file", "source_row", "rule_id", "column"], kind="stable").reset_index(drop=True)

    clean = responses[clean_mask] if len(responses) else responses.copy()
    by_file = (pd.DataFrame({"source_file": frame[S.SOURCE_FILE].astype(str), "blocked": blocked})
               .groupby("source_file", sort=True)["blocked"].agg(received="size", quarantined="sum"))
    by_file["clean"] = by_file["received"] - by_file["quarantined"]
    reconciliation = Reconciliation(
        received=run.n, clean=len(clean), quarantined=n_quarantined,
        by_file=[{"source_file": f, "received": int(r.received), "clean": int(r.clean),
                  "quarantined": int(r.quarantined)} for f, r in by_file.iterrows()],
    )
    if reconciliation.received != reconciliation.clean + reconciliation.quarantined:
        raise RuntimeError(f"reconciliation failed: received {reconciliation.received} != clean "
                           f"{reconciliation.clean} + quarantined {reconciliation.quarantined}")
    for row in reconciliation.by_file:
        if row["received"] != row["clean"] + row["quarantined"]:
            raise RuntimeError(f"reconciliation failed for {row['source_file']}: {row}")
    if quarantine.loc[quarantine["severity"] == BLOCKING_ROW, ["source_file", "source_row"]].drop_duplicates().shape[0] \
            != n_quarantined:
        raise RuntimeError("reconciliation failed: quarantine records do not match the quarantined rows")

    blocking = [c for c in ordered if c.is_blocking_failure]
    return QualityOutcome(
        survey=codebook.survey, wave=wave, run_label=run_label, clean=clean, quarantine=quarantine,
        checks=ordered, blocking_failures=blocking, reconciliation=reconciliation,
        gx_results=[result_to_dict(r) for r in gx_objects], suite_checksums=checksums,
        codebook_version=codebook.version, codebook_checksum=codebook.checksum, gx_version=gx_version(),
        started_at=started, finished_at=_now(), gx_result_objects=gx_objects,
    )
