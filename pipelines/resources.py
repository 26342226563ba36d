"""The one resource: the Monitor of an installation (config file -> settings, warehouse, codebooks)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from socialquality.monitor import Monitor

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"


def default_config_path() -> str:
    return os.environ.get("SOCIALQUALITY_CONFIG", str(DEFAULT_CONFIG))


class MonitorResource(ConfigurableResource):
    """Settings, warehouse and declarative files of one installation (see docs/operations.md)."""

    config_path: str

    _monitor: Monitor | None = PrivateAttr(default=None)

    def get(self) -> Monitor:
        if self._monitor is None:
            self._monitor = Monitor.from_config(self.config_path)
        return self._monitor
