"""Dagster code location of socialquality: Definitions, jobs, schedules, sensors, resources."""
