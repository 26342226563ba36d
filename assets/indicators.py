"""Stage 3, indicators: weights per wave, district indicators per wave, trends and the index."""


from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, \
    MaterializeResult, asset

from assets.ingest import population_figures
from assets.quality import validated_wave
from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from socialquality import check_metadata, stages
from socialquality.i18n import use_language


@asset(group_name="indicators", partitions_def=wave_partitions, deps=[validated_wave, population_figures],
       kinds={"python", "sql"},
       check_specs=[AssetCheckSpec("weighting_stable", asset="wave_weights",
                                   description="Warning per district where weighting hurts: design effect > 2, no "
                                               "convergence, or effective n below the publication minimum "
                                               "(socialquality/weighting_check.py).")],
       description="Weights of a wave's clean respondents, raked per district to the CBS population by sex and "
                   "age group (separate margins), trimmed, with design effects per district.")
def wave_weights(context: AssetExecutionContext, monitor: MonitorResource):
    report = stages.weight_wave_stage(monitor.get(), context.partition_key, context.run.run_id)
    yield MaterializeResult(metadata=report.metadata)
    with use_language(monitor.get().settings.language):  # the wave label and yes/no in the configured language
        labelled = [(check, check_metadata.readable(context.partition_key, check.metadata),
                     check_metadata.description(context.partition_key, check.description)) for check in report.checks]
    for check, metadata, description in labelled:
        yield AssetCheckResult(check_name=check.name, passed=check.passed, severity=AssetCheckSeverity.WARN,
                               metadata=metadata, description=description)


@asset(group_name="indicators", partitions_def=wave_partitions, deps=[wave_weights], kinds={"python", "sql"},
       description="Per district and for the city: every catalogue indicator with SE, 95% interval, n, effective "
                   "n and suppression below the minimum number of respondents; with its lineage.")
def wave_indicators(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    report = stages.estimate_wave(monitor.get(), context.partition_key, context.run.run_id)
    if report.get("indicators_without_respondents", "-") != "-":
        context.log.warning(f"no respondent for indicator(s) {report['indicators_without_respondents']} in wave "
                            f"{context.partition_key} (item not asked, or nobody in the target group)")
    return MaterializeResult(metadata=report)


@asset(group_name="indicators", deps=[wave_indicators, population_figures], kinds={"python", "sql"},
       description="Changes since the previous and the base wave (improved / worsened / no significant change, "
                   "false discovery rate controlled), and the composite index per condition with its decomposition.")
def indicator_trends(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    return MaterializeResult(metadata=stages.compute_trends(monitor.get(), context.run.run_id))
