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


# --- deploy/helm/values.yaml against the official chart's values schema ---------------------------------------
SCHEMA = ROOT / "tests" / "data" / "dagster_helm" / "values.schema.excerpt.json"


def _without_kubernetes_refs(node):
    """The chart's schema points Kubernetes objects (volumes, env, resources) at kubernetesjsonschema.dev, which
    cannot be fetched here: drop those references and keep the chart's own keywords beside them."""
    if isinstance(node, dict):
        return {k: _without_kubernetes_refs(v) for k, v in node.items()
                if not (k == "$ref" and str(v).startswith("https://kubernetesjsonschema.dev/"))}
    if isinstance(node, list):
        return [_without_kubernetes_refs(v) for v in node]
    return node


def _errors(values: dict) -> list[str]:
    """Draft 7 (as Helm) with `required` off except in the `if/then` rules (a launcher or coordinator type needs
    its config): the file holds overrides, which Helm checks merged with the chart's defaults (those satisfy the
    plain `required` lists)."""
    import json

    from jsonschema import Draft7Validator, validators

    schema = _without_kubernetes_refs(json.loads(SCHEMA.read_text(encoding="utf-8")))
    Draft7Validator.check_schema(schema)
    plain_required = Draft7Validator.VALIDATORS["required"]
    conditional: set[int] = set()

    def collect(node, inside_then: bool = False) -> None:
        if isinstance(node, dict):
            if inside_then:
                conditional.add(id(node))
            for key, value in node.items():
                collect(value, inside_then or key == "then")
        elif isinstance(node, list):
            for value in node:
                collect(value, inside_then)

    collect(schema)

    def required(validator, fields, instance, node):
        if id(node) in conditional:
            yield from plain_required(validator, fields, instance, node)

    overrides = validators.extend(Draft7Validator, {"required": required})

    def leaves(error):  # anyOf reports one error at its parent: list the errors of every alternative instead
        if not error.context:
            yield error
        for sub in error.context:
            yield from leaves(sub)

    return sorted({f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                   for top in overrides(schema).iter_errors(values) for e in leaves(top)})


def test_helm_values_validate_against_the_official_chart_schema() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    assert _errors(values) == []


def test_the_schema_check_finds_misspelt_keys_wrong_types_and_a_missing_launcher_config() -> None:
    import copy

    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    broken = copy.deepcopy(values)
    broken["runLauncher"]["config"]["k8sRunLauncher"]["envVar"] = ["A=1"]  # the key is envVars
    broken["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] = "eight"
    broken["dagster-user-deployments"]["deployments"][0]["port"] = "3030"
    limits = broken["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    limits[0]["value"]["perValue"] = True  # applyLimitPerUniqueValue is the only key
    errors = _errors(broken)
    assert any(e.startswith("runLauncher/config/k8sRunLauncher:") and "'envVar'" in e for e in errors), errors
    assert any(e.startswith("dagsterDaemon/runCoordinator/config/queuedRunCoordinator/maxConcurrentRuns") for e in errors)
    assert any(e.startswith("dagster-user-deployments/deployments/0/port:") for e in errors), errors
    assert any("tagConcurrencyLimits/0/value" in e for e in errors), errors
    no_config = copy.deepcopy(values)
    no_config["runLauncher"]["config"] = {}  # type K8sRunLauncher needs config.k8sRunLauncher (the schema's if/then)
    assert any("k8sRunLauncher" in e for e in _errors(no_config))


# --- the Dockerfile: hadolint and the project's own rules --------------------------------------------------------
def test_dockerfile_passes_hadolint() -> None:
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([binary, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _dockerfile():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=open(DEPLOY / "Dockerfile", "rb"))
    return parser


def test_dockerfile_rules_pinned_base_non_root_no_secrets_constraints() -> None:
    parser = _dockerfile()
    # a base image pinned to a Python patch release and a Debian release, not a moving tag
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", parser.baseimage), parser.baseimage
    instructions = parser.structure
    users = [i["value"].strip() for i in instructions if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0"), users  # runs as a non-root user
    # no secrets baked into the image: no ENV/ARG/LABEL with a secret-looking name or value
    secret = re.compile(r"(PASSWORD|SECRET|TOKEN|PSEUDONYM_KEY|API_KEY|PRIVATE)", re.I)
    for i in instructions:
        if i["instruction"] in ("ENV", "ARG", "LABEL"):
            assert not secret.search(i["value"]), i["content"]
    # nothing fetched from outside at build time but the package index; no ADD of URLs
    assert not any(i["instruction"] == "ADD" for i in instructions)
    assert not any(re.search(r"\b(curl|wget)\b", i["value"]) for i in instructions if i["instruction"] == "RUN")
    # every pip install is held to constraints.txt
    pip = [i["value"] for i in instructions if i["instruction"] == "RUN" and "pip install" in i["value"]]
    assert pip and all("-c constraints.txt" in line for line in pip), pip


def test_dockerfile_rules_catch_a_broken_file(tmp_path) -> None:
    from dockerfile_parse import DockerfileParser

    bad = DockerfileParser(path=str(tmp_path))
    bad.content = "FROM python:latest\nENV SOCIALQUALITY_PSEUDONYM_KEY=abc\nRUN pip install socialquality\n"
    assert not re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", bad.baseimage)
    assert not [i for i in bad.structure if i["instruction"] == "USER"]
    assert any(re.search("PSEUDONYM_KEY", i["value"]) for i in bad.structure if i["instruction"] == "ENV")
