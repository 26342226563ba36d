"""The code location loads, and its asset graph matches the reviewed snapshot.

A change to the graph (a new asset, a moved dependency, a dropped check) fails this test until the
snapshot is regenerated on purpose: UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import Definitions

from pipelines.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
ROOT = Path(__file__).resolve().parent.parent


def graph_snapshot(definitions: Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitioned": node.partitions_def is not None,
            "checks": sorted(c.name for c in node.check_keys),
        }
    jobs = sorted(job.name for job in definitions.jobs)
    sensors = sorted(sensor.name for sensor in definitions.sensors)
    schedules = sorted(schedule.name for schedule in definitions.schedules)
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_asset_graph_matches_snapshot():
    current = graph_snapshot(defs)
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert current == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_stages_are_grouped_and_blocking_checks_attached():
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {"ingest", "quality", "indicators", "effects", "reports"}
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert checks["wave_usable"].blocking and checks["rows_reconcile"].blocking
    assert not checks["row_rules"].blocking


def test_every_job_resolves():
    for name in ("reference_job", "wave_job", "city_job"):
        assert defs.resolve_job_def(name).name == name


def test_dagster_cli_validates_workspace(tmp_path):
    """What `make validate` runs: the workspace loads with no error in a fresh process."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_library_has_no_dagster_import():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "socialquality").rglob("*.py")
                 if any(line.strip().startswith(("import dagster", "from dagster"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []
