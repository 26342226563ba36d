"""Stage 1, ingest: population figures, the intervention register, survey waves, feedback."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from socialquality import stages


@asset(group_name="ingest", kinds={"python", "sql"},
       description="CBS Kerncijfers wijken en buurten: districts, population margins (sex, age) and register indicators.")
def population_figures(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    report = stages.load_population(monitor.get())
    return MaterializeResult(metadata=report)


@asset(group_name="ingest", kinds={"yaml", "sql"}, deps=[population_figures],
       description="The intervention register (surveys/interventions.yaml), validated against the districts of "
                   "the population figures and stored (not loaded when the population step failed).")
def intervention_register(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    return MaterializeResult(metadata=stages.load_interventions(monitor.get()))


@asset(group_name="ingest", partitions_def=wave_partitions, kinds={"python", "sql"},
       deps=[population_figures],
       description="One wave of the resident survey: the latest file in the landing folder, read, mapped to the "
                   "codebook, pseudonymised and stored (every received row, with its file receipt).")
def survey_wave(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    report = stages.ingest_wave(monitor.get(), context.partition_key, context.run.run_id)
    for line in report.pop("log", []):
        context.log.info(line)
    return MaterializeResult(metadata=report)


@asset(group_name="ingest", kinds={"python", "sql"}, deps=[intervention_register],
       description="Participant feedback files of the interventions (layer 3 of the accountability chain).")
def participant_feedback(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    report = stages.ingest_feedback(monitor.get(), context.run.run_id)
    for line in report.pop("log", []):
        context.log.info(line)
    return MaterializeResult(metadata=report)


__all__ = ["population_figures", "intervention_register", "survey_wave", "participant_feedback"]
