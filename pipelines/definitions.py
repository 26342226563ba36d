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


def build_definitions(config_path: str | None = None, *, prefix: str | None = None,
                      sensors_running: bool = False) -> Definitions:
    """The code location of one installation. With `prefix` (a municipality of a regional
    installation, pipelines/region.py) every asset key is put under the prefix and every run is
    tagged with it, so several municipalities share one Dagster instance without mixing."""
    if prefix is None:
        assets, (reference, wave, city) = all_assets, (reference_job, wave_job, city_job)
        sensors = [landing_sensor, city_after_wave, city_after_failed_wave]
    else:
        from dagster import DefaultSensorStatus

        from pipelines.jobs import MUNICIPALITY_TAG, make_jobs
        from pipelines.sensors import make_sensors

        assets = load_assets_from_modules([ingest, quality, indicators, effects, costs, reports], key_prefix=prefix)
        reference, wave, city = make_jobs(prefix, {MUNICIPALITY_TAG: prefix})
        sensors = list(make_sensors(wave, city, DefaultSensorStatus.RUNNING if sensors_running
                                    else DefaultSensorStatus.STOPPED))
    schedule = weekly_refresh if prefix is None else ScheduleDefinition(
        name="weekly_refresh", job=city, cron_schedule="0 6 * * 1", execution_timezone="Europe/Amsterdam",
        default_status=DefaultScheduleStatus.STOPPED, description=weekly_refresh.description)
    return Definitions(
        assets=assets,
        jobs=[reference, wave, city],
        schedules=[schedule],
        sensors=sensors,
        resources={"monitor": MonitorResource(config_path=config_path or default_config_path())},
    )


defs = build_definitions()
