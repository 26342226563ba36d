"""Jobs: reference data first, then one run per wave (partitioned), then the city-wide stages.

`make_jobs(prefix, tags)` builds the same three jobs for one municipality of a regional
installation (asset keys under the municipality's prefix, runs tagged with the municipality so
the run queue can limit concurrency per municipality, see pipelines/region.py)."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

#: Run tag naming the municipality; the QueuedRunCoordinator limits runs per value (deploy/).
MUNICIPALITY_TAG = "socialquality/municipality"


def make_jobs(prefix: str | None = None, tags: dict[str, str] | None = None):
    def keys(*names: str) -> AssetSelection:
        return AssetSelection.assets(*[AssetKey([prefix, n]) if prefix else AssetKey(n) for n in names])

    reference = define_asset_job(
        "reference_job", selection=keys("population_figures", "intervention_register"), tags=tags,
        description="CBS population figures and the intervention register.")
    wave = define_asset_job(
        "wave_job", selection=keys("survey_wave", "validated_wave", "wave_weights", "wave_indicators"), tags=tags,
        description="One survey wave: ingest, validate, weight, estimate.")
    city = define_asset_job(
        "city_job",
        selection=keys("intervention_register", "participant_feedback", "indicator_trends", "intervention_effects",
                       "intervention_costs", "trend_report", "audit_index"), tags=tags,
        description="City-wide stages over all usable waves: trends, index, effects, reports.")
    return reference, wave, city


reference_job, wave_job, city_job = make_jobs()
