"""The one resource: the Monitor of an installation (config file -> settings, warehouse, codebooks)."""

from __future__ import annotations

import os
from contextlib import ExitStack
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
    _lock: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        """Every run holds the installation's writer lock (socialquality.runlock): a run the
        daemon launches while `socialquality run` writes fails at once with one line. Within the
        CLI's own process the lock is re-entrant."""
        from socialquality.runlock import installation_lock

        run = context.run  # InitResourceContext.run; `dagster_run` is deprecated
        if run is None:  # a sensor or schedule evaluation only reads
            return
        monitor = self.get()
        stack = ExitStack()
        run_id = run.run_id
        stack.enter_context(installation_lock(monitor.engine, monitor.settings.warehouse_url,
                                              monitor.settings.path("dagster_home"), f"Dagster run {run_id[:8]}"))
        self._lock = stack

    def teardown_after_execution(self, context) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def get(self) -> Monitor:
        if self._monitor is None:
            self._monitor = Monitor.from_config(self.config_path)
        return self._monitor
