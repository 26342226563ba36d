"""Compatibility layer: the report's texts and numbers moved to :mod:`socialquality.report.text`
(language-aware through :mod:`socialquality.i18n`). Kept for modules that import the old name."""

from socialquality.report.text import *  # noqa: F401,F403
from socialquality.report.text import __all__  # noqa: F401
