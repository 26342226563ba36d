"""The code location loaded by workspace.yaml: assets, checks, jobs, schedule, sensors, resources."""

from __future__ import annotations

from datetime import timedelta

from dagster import DefaultScheduleStatus, Definitions, FreshnessPolicy, ScheduleDefinition, load_assets_from_modules

from assets import costs, effects, indicators, ingest, quality, reports
from pipelines.jobs import city_job, reference_job, wave_job
from pipelines.resources import MonitorResource, default_config_path
from pipelines.sensors import city_after_failed_wave, city_after_wave, landing_sensor

all_assets = load_assets_from_modules([ingest, quality, indicators, effects, costs, reports])

# The survey runs every one or two years: a report older than ~13 months is stale.
all_assets = [
    a.map_asset_specs(lambda spec: spec.replace_attributes(
        freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(days=400), warn_window=timedelta(days=370)))
        if spec.key.path[-1] == "trend_report" else spec)
    for a in all_assets
]

weekly_refresh = ScheduleDefinition(
    name="weekly_refresh", job=city_job, cron_schedule="0 6 * * 1", execution_timezone="Europe/Amsterdam",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Mondays 06:00: re-read the register and feedback, recompute effects and the reports.")


def build_definitions(config_path: str | None = None) -> Definitions:
    return Definitions(
        assets=all_assets,
        jobs=[reference_job, wave_job, city_job],
        schedules=[weekly_refresh],
        sensors=[landing_sensor, city_after_wave, city_after_failed_wave],
        resources={"monitor": MonitorResource(config_path=config_path or default_config_path())},
    )


defs = build_definitions()
