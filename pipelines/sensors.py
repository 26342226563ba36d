"""Sensors: a file dropped in the landing folder starts its wave; a finished wave refreshes the city."""

from __future__ import annotations

import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from pipelines.jobs import city_job, wave_job
from pipelines.partitions import wave_partitions
from pipelines.resources import MonitorResource
from socialquality.landing import landing_fingerprints


def make_sensors(wave_job, city_job, default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED):
    """The three sensors for the given wave and city jobs (one set per municipality)."""

    @sensor(job=wave_job, minimum_interval_seconds=60, default_status=default_status,
            description="Watches the landing folder. A new wave folder becomes a new partition; a new or corrected "
                        "file (other checksum) starts a run of that wave. The same file dropped twice does nothing.")
    def landing_sensor(context: SensorEvaluationContext, monitor: MonitorResource):
        m = monitor.get()
        seen: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        current = landing_fingerprints(m.landing_dir(), m.codebook.wave_ids)
        # a wave changes when a file with new content lands; a copy of a file already there does not
        changed = [wave for wave, checksums in current.items() if set(checksums) != set(seen.get(wave, []))]
        if not changed:
            return SkipReason("no new or changed survey files")
        known = set(context.instance.get_dynamic_partitions(wave_partitions.name))
        new_waves = [w for w in changed if w not in known]
        requests = [RunRequest(partition_key=wave, run_key=f"{wave}:{','.join(sorted(current[wave]))}")
                    for wave in changed]
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[wave_partitions.build_add_request(new_waves)] if new_waves else [],
            cursor=json.dumps(current, sort_keys=True),
        )


    @run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[wave_job], request_job=city_job,
                       default_status=default_status,
                       description="After a wave run succeeds, recompute trends, effects and the reports.")
    def city_after_wave(context):
        return RunRequest(run_key=f"city-after-{context.dagster_run.run_id}")


    @run_status_sensor(run_status=DagsterRunStatus.FAILURE, monitored_jobs=[wave_job], request_job=city_job,
                       default_status=default_status,
                       description="After a wave run fails (e.g. a blocking data-quality check), recompute trends, "
                                   "effects and reports so that a wave that is no longer usable is not published.")
    def city_after_failed_wave(context):
        return RunRequest(run_key=f"city-after-{context.dagster_run.run_id}")

    return landing_sensor, city_after_wave, city_after_failed_wave


landing_sensor, city_after_wave, city_after_failed_wave = make_sensors(wave_job, city_job)
