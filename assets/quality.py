"""Stage 2, quality: Great Expectations suites and survey rules on each wave; quarantine; checks.

The asset `validated_wave` records every rule's result and sets aside failing rows. Its checks
are what auditors and the Dagster UI see; `wave_usable` is blocking: when it fails, the wave's
weights and indicators are not computed in that run and the wave is marked blocked.
"""


from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, MaterializeResult, asset

from assets.ingest import survey_wave
from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from socialquality import check_metadata, stages
from socialquality.i18n import use_language

CHECKS = {
    "wave_usable": ("Blocking: the wave passed every dataset-level blocking rule (share of quarantined rows, "
                    "minimum clean respondents). Failure stops its indicators.", True),
    "rows_reconcile": ("Blocking: received rows = clean + quarantined, for every file of the wave.", True),
    "row_rules": ("Warning: row rules (allowed codes, duplicates, unknown districts, straight-lining, speeders, "
                  "minimum age) and how many rows each set aside.", False),
    "district_coverage": ("Warning: districts with fewer respondents than the minimum (their figures are suppressed).",
                          False),
    "sample_composition": ("Warning: sample composition by age group and sex within tolerance of the population.",
                           False),
}


@asset(
    group_name="quality",
    partitions_def=wave_partitions,
    deps=[survey_wave],
    kinds={"great_expectations", "sql"},
    check_specs=[AssetCheckSpec(name, asset="validated_wave", description=text, blocking=blocking)
                 for name, (text, blocking) in CHECKS.items()],
    description="A wave validated with its expectation suites: clean rows go on, failing rows go to quarantine "
                "with rule, column and value; results, Data Docs and reconciliation are stored for auditors.",
)
def validated_wave(context: AssetExecutionContext, monitor: MonitorResource):
    report = stages.validate_wave(monitor.get(), context.partition_key, context.run.run_id)
    yield MaterializeResult(metadata=report.metadata)
    with use_language(monitor.get().settings.language):  # the wave label and yes/no in the configured language
        labelled = [(check, check_metadata.readable(context.partition_key, check.metadata),
                     check_metadata.description(context.partition_key, check.description)) for check in report.checks]
    for check, metadata, description in labelled:
        severity = AssetCheckSeverity.ERROR if CHECKS[check.name][1] else AssetCheckSeverity.WARN
        yield AssetCheckResult(check_name=check.name, passed=check.passed, severity=severity, metadata=metadata,
                               description=description)


__all__ = ["validated_wave"]
