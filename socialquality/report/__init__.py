"""The report renderer: trend reports for policy teams (HTML, district pages, figures, Excel).

Pure library code (pandas, matplotlib with the Agg backend, Jinja2, openpyxl); never imports dagster.
"""

from socialquality.report.render import ReportInputs, ReportOutputs, interventions_frames, render_report

__all__ = ["ReportInputs", "ReportOutputs", "interventions_frames", "render_report"]
