"""Deployment files (issue 12): what can be checked without Docker, Helm or a cluster."""

from __future__ import annotations

import re

import yaml

from tests.support import ROOT

DEPLOY = ROOT / "deploy"


def test_dockerfile_copies_existing_paths_and_installs_the_pinned_k8s_extra() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    sources = [part for line in text.splitlines() if line.startswith("COPY ")
               for part in line.split()[1:-1]]
    assert sources and all((ROOT / s).exists() for s in sources), sources
    assert 'pip install -c constraints.txt ".[k8s]"' in text
    constraints = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    dagster = re.search(r"^dagster==(\d+)\.(\d+)\.(\d+)$", constraints, re.M)
    k8s = re.search(r"^dagster-k8s==0\.(\d+)\.(\d+)$", constraints, re.M)
    postgres = re.search(r"^dagster-postgres==0\.(\d+)\.(\d+)$", constraints, re.M)
    # dagster libraries move in lock-step: 1.x.y <-> 0.(x+16).y
    for lib in (k8s, postgres):
        assert lib and int(lib.group(1)) == int(dagster.group(2)) + 16 and lib.group(2) == dagster.group(3)


def test_helm_values_and_instance_agree_on_the_queue() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    helm_limits = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    local_limits = instance["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert helm_limits == local_limits == [{"key": "socialquality/municipality",
                                            "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert instance["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    deployments = values["dagster-user-deployments"]["deployments"]
    for d in deployments:  # one code location per municipality, loaded through pipelines.region
        args = d["dagsterApiGrpcArgs"]
        assert args[:3] == ["--module-name", "pipelines.region", "--attribute"]
        assert d["name"] == args[3].lower()
        assert {"name", "image", "dagsterApiGrpcArgs", "port"} <= set(d)
    assert len({d["name"] for d in deployments}) == len(deployments)
