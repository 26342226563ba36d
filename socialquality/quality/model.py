"""Result types of the quality stage: one `CheckResult` per rule, one `QualityOutcome` per wave.

Everything here is plain data (no GX objects in the public fields), so a Dagster asset can turn a
`CheckResult` into an `AssetCheckResult` (``check.to_dict()`` as metadata) and the warehouse owner
can store checks, quarantine records and reconciliation counts as tables.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Severities (docs/audit.md explains them to auditors).
BLOCKING_ROW = "blocking_row"  # the row goes to quarantine
BLOCKING_DATASET = "blocking_dataset"  # the wave's indicators must not be computed
WARNING = "warning"  # reported only
SEVERITIES = (BLOCKING_ROW, BLOCKING_DATASET, WARNING)

ROW = "row"  # a check that judges each delivered row
DATASET = "dataset"  # a check that judges the wave as a whole

# Columns of the quarantine records (docs/data-contracts.md section 4).
QUARANTINE_COLUMNS = (
    "wave",
    "source_file",
    "source_row",
    "respondent_pid",
    "rule_id",
    "column",
    "value",
    "severity",
    "message",
)


def jsonable(value: Any) -> Any:
    """Turn numpy/pandas scalars, sets, tuples and dates into plain JSON values (NaN -> None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in sorted(value, key=str)]
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    return str(value)


@dataclass
class CheckResult:
    """The outcome of one rule (one GX expectation or one pandas rule) on one wave."""

    rule_id: str
    expectation_type: str  # GX expectation type, or "socialquality.<rule>" for a pandas rule
    column: str | None
    kind: str  # "row" | "dataset"
    severity: str  # blocking_row | blocking_dataset | warning
    success: bool
    observed_value: Any = None
    threshold: Any = None
    rows_affected: int = 0  # delivered rows quarantined (blocking_row) or flagged (warning) by this check
    message: str = ""
    check_id: str = ""  # "<rule_id>:<column or grid>", unique within a run
    suite: str = ""  # the suite or rules file the check comes from
    applicable: bool = True  # False: skipped and recorded as "not applicable" (success is then True)
    unexpected_count: int | None = None  # GX's count of unexpected values (all copies, for uniqueness)
    description_nl: str = ""
    description_en: str = ""
    error: str | None = None  # the rule could not be evaluated (GX raised); success is then False

    @property
    def status(self) -> str:
        if not self.applicable:
            return "not_applicable"
        if self.error is not None:
            return "error"
        return "passed" if self.success else "failed"

    @property
    def is_blocking_failure(self) -> bool:
        """A failed dataset rule with severity blocking_dataset, or a blocking row rule that could
        not be evaluated at all (its rows cannot be quarantined, so the wave cannot be trusted)."""
        if not self.applicable or self.success:
            return False
        return self.severity == BLOCKING_DATASET or (self.severity == BLOCKING_ROW and self.error is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for Dagster metadata and a warehouse table)."""
        data = asdict(self)
        data["status"] = self.status
        return jsonable(data)


@dataclass
class Reconciliation:
    """Every received row is either clean or quarantined: received == clean + quarantined."""

    received: int
    clean: int
    quarantined: int
    by_file: list[dict[str, Any]] = field(default_factory=list)  # source_file, received, clean, quarantined

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass
class QualityOutcome:
    survey: str
    wave: str | None
    run_label: str
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    checks: list[CheckResult]
    blocking_failures: list[CheckResult]
    reconciliation: Reconciliation
    gx_results: list[dict[str, Any]]
    suite_checksums: dict[str, str]
    codebook_version: int | None = None
    codebook_checksum: str | None = None
    gx_version: str = ""
    started_at: str = ""
    finished_at: str = ""
    # The GX ExpectationSuiteValidationResult objects behind gx_results (for GX's own renderer).
    gx_result_objects: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when no dataset-level blocking rule failed: the wave's indicators may be computed."""
        return not self.blocking_failures

    def checks_frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.to_dict() for c in self.checks])

    def summary(self) -> dict[str, Any]:
        """Aggregate counts without microdata (for the Data Docs index and Dagster metadata)."""
        statuses = [c.status for c in self.checks]
        by_rule = (
            self.quarantine.groupby(["rule_id", "severity"]).size().reset_index(name="records")
            if len(self.quarantine)
            else pd.DataFrame(columns=["rule_id", "severity", "records"])
        )
        return jsonable(
            {
                "survey": self.survey,
                "wave": self.wave,
                "run_label": self.run_label,
                "ok": self.ok,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "gx_version": self.gx_version,
                "codebook_version": self.codebook_version,
                "codebook_checksum": self.codebook_checksum,
                "suite_checksums": self.suite_checksums,
                "reconciliation": self.reconciliation.to_dict(),
                "checks": {
                    "total": len(statuses),
                    "passed": statuses.count("passed"),
                    "failed": statuses.count("failed"),
                    "not_applicable": statuses.count("not_applicable"),
                    "error": statuses.count("error"),
                },
                "blocking_failures": [c.check_id for c in self.blocking_failures],
                "quarantine_records_by_rule": by_rule.to_dict(orient="records"),
            }
        )
