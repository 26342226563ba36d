"""Dagster assets and asset checks, one module per stage; they only wire socialquality functions."""
