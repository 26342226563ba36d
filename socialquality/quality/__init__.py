"""Data quality of normalised survey responses: GX suites as files, row rules, quarantine, Data Docs.

Public API:

- `generate_suite(codebook) -> dict` / `write_generated_suite(codebook, expectations_dir) -> Path`
- `load_custom_rules(survey, expectations_dir) -> CustomRules`
- `validate_wave(responses, codebook, *, known_districts, expectations_dir, population_shares=None,
  run_label="") -> QualityOutcome`
- `build_data_docs(outcome, out_dir, title) -> Path`
- result types `QualityOutcome`, `CheckResult`, `Reconciliation`; severities `BLOCKING_ROW`,
  `BLOCKING_DATASET`, `WARNING`.

Great Expectations (GX Core 1.x) is imported lazily, on the first validation or suite generation.
"""

from socialquality.quality.docs import build_data_docs
from socialquality.quality.model import (
    BLOCKING_DATASET,
    BLOCKING_ROW,
    QUARANTINE_COLUMNS,
    WARNING,
    CheckResult,
    QualityOutcome,
    Reconciliation,
)
from socialquality.quality.runner import validate_wave
from socialquality.quality.suites import (
    CustomRules,
    generate_suite,
    load_custom_rules,
    load_generated_suite,
    write_generated_suite,
)

__all__ = [
    "BLOCKING_DATASET",
    "BLOCKING_ROW",
    "QUARANTINE_COLUMNS",
    "WARNING",
    "CheckResult",
    "CustomRules",
    "QualityOutcome",
    "Reconciliation",
    "build_data_docs",
    "generate_suite",
    "load_custom_rules",
    "load_generated_suite",
    "validate_wave",
    "write_generated_suite",
]
