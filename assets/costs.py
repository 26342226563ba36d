"""Stage 4b, costs: what each intervention cost (or saved) next to what it brought."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.effects import intervention_effects
from assets.ingest import intervention_register
from pipelines.resources import MonitorResource
from socialquality.costs_stage import compute_costs


@asset(group_name="effects", deps=[intervention_effects, intervention_register], kinds={"python", "sql"},
       description="Costs and savings per intervention and year (register) and the derived measures: cost per "
                   "participant, per resident, per point of effect (with the effect's interval), a closure's "
                   "saving next to its measured effects and later-cost register figures.")
def intervention_costs(context: AssetExecutionContext, monitor: MonitorResource) -> MaterializeResult:
    return MaterializeResult(metadata=compute_costs(monitor.get()))
