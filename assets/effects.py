"""Stage 4, effects: did the district change after an intervention, and how sure are we?"""


from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.indicators import indicator_trends
from assets.ingest import intervention_register, participant_feedback
from pipelines.resources import MonitorResource
from socialquality import stages


@asset(group_name="effects", deps=[indicator_trends, intervention_register, participant_feedback],
       kinds={"python", "sql"},
       description="Effects of each intervention on its indicators: interrupted time series per site, "
                   "difference-in-differences with an event-study pre-trend check, staggered adoption "
                   "(Callaway & Sant'Anna), and a plain-Dutch verdict; plus the accountability chain.")
def intervention_effects(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    report = stages.estimate_effects(monitor.get(), context.run.run_id)
    for line in report.pop("log", []):
        context.log.info(line)
    return MaterializeResult(metadata=report)
