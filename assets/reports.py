"""Stage 5, reports: the trend report (HTML, figures, map, Excel) and the audit index."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.costs import intervention_costs
from assets.effects import intervention_effects
from assets.indicators import indicator_trends
from assets.ingest import participant_feedback
from assets.quality import validated_wave
from pipelines.resources import MonitorResource
from socialquality import stages
from socialquality.i18n import use_language


@asset(group_name="reports", deps=[indicator_trends, intervention_effects, intervention_costs], kinds={"html", "excel"},
       description="The trend report for policy teams in the configured language (nl or en): trend lines, maps, "
                   "intervals, Excel.")
def trend_report(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    m = monitor.get()
    with use_language(m.settings.language):  # config `language: nl | en`: every text of the report
        return MaterializeResult(metadata=stages.render_trend_report(m, context.run.run_id))


# after the feedback files too: a rejected feedback file's receipt must be on the page
@asset(group_name="reports", deps=[validated_wave, participant_feedback], kinds={"html"},
       description="The audit index for auditors: runs, suites, results, reconciliation counts, quarantine.")
def audit_index(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    return MaterializeResult(metadata=stages.render_audit_index(monitor.get(), context.run.run_id))
