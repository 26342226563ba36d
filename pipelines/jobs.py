"""Jobs: reference data first, then one run per wave (partitioned), then the city-wide stages."""

from dagster import AssetSelection, define_asset_job


reference_job = define_asset_job(
    "reference_job", selection=AssetSelection.assets("population_figures", "intervention_register"),
    description="CBS population figures and the intervention register.")

wave_job = define_asset_job(
    "wave_job",
    selection=AssetSelection.assets("survey_wave", "validated_wave", "wave_weights", "wave_indicators"),
    description="One survey wave: ingest, validate, weight, estimate.")

city_job = define_asset_job(
    "city_job",
    selection=AssetSelection.assets("intervention_register", "participant_feedback", "indicator_trends", "intervention_effects",
                                    "intervention_costs",
                                    "trend_report", "audit_index"),
    description="City-wide stages over all usable waves: trends, index, effects, reports.")
