"""The only module that talks to Great Expectations (GX Core 1.x).

- A quiet, in-memory (ephemeral) data context: analytics off, progress bars off.
- One pandas data source with one dataframe asset and a whole-dataframe batch definition.
- `GXValidator.validate` runs a list of expectation configurations (GX 1.x JSON dicts) on a frame
  through `ValidationDefinition.run`, with run-time suite parameters (``{"$PARAMETER": name}``)
  passed as ``expectation_parameters``.

Column slicing (performance, measured on 1,000,000 rows x 63 columns): GX's pandas engine filters
the *whole* batch frame several times per column expectation (``df[df[col].notnull()]`` and the
unexpected-row look-ups), so one ``ExpectColumnValuesToBeInSet`` costs ~0.55 s on a wide frame and
a 60-item suite ~33 s. The same expectations on frames holding only their own column(s) plus the
row-key columns cost ~0.08 s each. `validate` therefore runs column expectations in slices of a few
columns (each slice is a normal GX validation of the same expectations on ``frame[cols + keys]``)
and merges the slices into one ExpectationSuiteValidationResult per suite. Table-level
expectations (column existence, row counts) run on a frame with all columns.

GX is imported lazily so that importing `socialquality.quality` stays cheap.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any, Iterable

import pandas as pd

SLICE_COLUMNS = 4  # columns per GX validation slice (4 was fastest at 1M rows; see module doc)
SAMPLE_LIMIT = 20  # unexpected values/rows kept in stored GX results (full lists: quarantine table)
ROW_KEYS = ["source_file", "source_row"]

_LIST_KEYS = (
    "unexpected_list",
    "unexpected_index_list",
    "partial_unexpected_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)
_TABLE_TYPES_WITH_COLUMN = {"expect_column_to_exist"}


def _gx():
    # No usage statistics are ever sent. GX 1.24 reads this variable when a context starts; we also
    # set analytics_enabled=False in the context config below.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def gx_version() -> str:
    return _gx().__version__


def quiet_context():
    """An ephemeral GX context with analytics and progress bars switched off."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def suite_from_dict(document: dict[str, Any]):
    """A GX ExpectationSuite from its JSON dict (raises when GX does not accept an expectation)."""
    gx = _gx()
    document = dict(document)
    document.setdefault("expectations", [])
    return gx.ExpectationSuite(**document)


def expectation_columns(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs", {})
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    columns += list(kwargs.get("column_list") or [])
    return columns


def is_table_level(expectation: dict[str, Any]) -> bool:
    return expectation["type"] in _TABLE_TYPES_WITH_COLUMN or not expectation_columns(expectation)


class GXValidator:
    """One ephemeral context for one quality run; validates suites (as dicts) on pandas frames."""

    def __init__(self) -> None:
        self.gx = _gx()
        self.context = quiet_context()
        source = self.context.data_sources.add_pandas("socialquality")
        asset = source.add_dataframe_asset("responses")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole_wave")
        self._counter = 0

    def _run_one(self, frame: pd.DataFrame, expectations: list[dict[str, Any]], name: str,
                 parameters: dict[str, Any], result_format: dict[str, Any], run_id=None):
        gx = self.gx
        self._counter += 1
        unique = f"{name}#{self._counter}"
        suite = self.context.suites.add(gx.ExpectationSuite(name=unique, expectations=[dict(e) for e in expectations]))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=unique, data=self.batch_definition, suite=suite)
        )
        return definition.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters or None,
            result_format=result_format,
            run_id=run_id,
        )

    def validate(
        self,
        frame: pd.DataFrame,
        expectations: list[dict[str, Any]],
        *,
        name: str,
        parameters: dict[str, Any] | None = None,
        complete: bool = True,
        row_mask: Any = None,
        frame_label: str = "delivered",
        slice_columns: int | None = None,
        run_name: str | None = None,
    ):
        """Validate; returns one merged GX ExpectationSuiteValidationResult (or None when empty).

        complete=True asks GX for COMPLETE results with the failing rows identified by
        ``source_file`` and ``source_row`` (``unexpected_index_column_names``); otherwise SUMMARY.
        row_mask (boolean array) validates only those rows (the clean rows) without copying the frame.
        """
        if not expectations:
            return None
        slice_columns = slice_columns or SLICE_COLUMNS
        keys = [k for k in ROW_KEYS if k in frame.columns]
        if complete:
            result_format = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": keys,
                "return_unexpected_index_query": False,
                "partial_unexpected_count": SAMPLE_LIMIT,
            }
        else:
            result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_LIMIT}

        # The row keys travel with every slice; a categorical source_file is much cheaper for GX's
        # repeated boolean filtering than a string column (same values in GX's results).
        key_frame = frame[keys]
        if "source_file" in keys and not isinstance(key_frame["source_file"].dtype, pd.CategoricalDtype):
            key_frame = key_frame.assign(source_file=key_frame["source_file"].astype("category"))

        def take(columns: Iterable[str]) -> pd.DataFrame:
            columns = [c for c in dict.fromkeys(columns) if c not in keys]
            part = pd.concat([frame[columns], key_frame], axis=1) if columns else key_frame
            return part if row_mask is None else part.loc[row_mask]

        table = [e for e in expectations if is_table_level(e)]
        per_column = [e for e in expectations if not is_table_level(e)]
        slices: list[tuple[list[str], list[dict[str, Any]]]] = []
        if table:
            wanted = [c for e in table for c in expectation_columns(e) if c in frame.columns]
            slices.append((wanted, table))
        current_cols: list[str] = []
        current: list[dict[str, Any]] = []
        for expectation in per_column:
            new_cols = [c for c in expectation_columns(expectation) if c not in current_cols]
            if current and len(current_cols) + len(new_cols) > slice_columns:
                slices.append((current_cols, current))
                current_cols, current = [], []
                new_cols = expectation_columns(expectation)
            current_cols += new_cols
            current.append(expectation)
        if current:
            slices.append((current_cols, current))

        from great_expectations.core.run_identifier import RunIdentifier

        run_id = RunIdentifier(run_name=run_name or "socialquality")
        results = []
        first_meta: dict[str, Any] = {}
        for columns, group in slices:
            outcome = self._run_one(take(columns), group, name, parameters or {}, result_format, run_id)
            if not first_meta:
                first_meta = dict(outcome.meta or {})
            results.extend(outcome.results)
        return self._merge(name, results, first_meta, parameters or {}, len(slices), frame_label,
                           int(len(frame)) if row_mask is None else int(pd.Series(row_mask).sum()))

    def _merge(self, name, results, meta, parameters, n_slices, frame_label, n_rows):
        from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

        evaluated = len(results)
        successful = sum(1 for r in results if r.success)
        meta = {k: v for k, v in meta.items() if k != "validation_id"}
        meta["socialquality"] = {
            "validated_frame": frame_label,
            "rows": n_rows,
            "gx_validation_slices": n_slices,
            "note": "column expectations ran in slices of a few columns (see socialquality.quality.gx_adapter)",
        }
        return ExpectationSuiteValidationResult(
            success=successful == evaluated,
            results=results,
            suite_name=name,
            suite_parameters=_plain(parameters),
            statistics={
                "evaluated_expectations": evaluated,
                "successful_expectations": successful,
                "unsuccessful_expectations": evaluated - successful,
                "success_percent": 100.0 * successful / evaluated if evaluated else None,
            },
            meta=_plain(meta),
            id=str(uuid.uuid4()),
        )


def _plain(value: Any) -> Any:
    from great_expectations.util import convert_to_json_serializable

    return convert_to_json_serializable(value)


def truncate_unexpected_lists(result, limit: int = SAMPLE_LIMIT) -> None:
    """Cut the per-row lists of a (merged) GX result to `limit` entries, in place.

    The complete list of failing rows is kept in the quarantine records; the stored GX result keeps
    counts and a sample, which keeps it small and keeps microdata out of the audit trail.
    """
    for expectation_result in result.results:
        data = expectation_result.result or {}
        cut = False
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list) and len(data[key]) > limit:
                data[key] = data[key][:limit]
                cut = True
        config_meta = (expectation_result.expectation_config.meta or {}) if expectation_result.expectation_config else {}
        if config_meta.get("redact_values"):
            _redact(data, config_meta.get("column"))
        if cut:
            meta = dict(expectation_result.meta or {})
            meta["socialquality"] = {"unexpected_lists_truncated_to": limit,
                                     "complete_list": "quarantine records"}
            expectation_result.meta = meta


def _redact(data: dict[str, Any], column: str | None) -> None:
    """Replace the failing values (respondent ids) by a marker; keep counts and row keys."""
    marker = "(redacted)"
    for key in ("unexpected_list", "partial_unexpected_list"):
        if isinstance(data.get(key), list):
            data[key] = [marker] * len(data[key])
    for key in ("unexpected_index_list", "partial_unexpected_index_list"):
        if isinstance(data.get(key), list):
            data[key] = [{**row, column: marker} if isinstance(row, dict) and column in row else row
                         for row in data[key]]
    if isinstance(data.get("partial_unexpected_counts"), list):
        data["partial_unexpected_counts"] = [{"value": marker, "count": sum(c.get("count", 0) for c in
                                              data["partial_unexpected_counts"])}]


def result_to_dict(result) -> dict[str, Any]:
    """JSON-serialisable dict of a GX ExpectationSuiteValidationResult."""
    return result.to_json_dict()
