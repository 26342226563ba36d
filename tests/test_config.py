"""Configuration: the demo config, environment overrides, and one-line errors that say what to fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from socialquality.config import (
    ENV_PREFIX,
    PATH_KEYS,
    TOP_KEYS,
    check_database,
    check_settings,
    load_settings,
    redact_url,
)
from socialquality.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "config" / "demo.yaml"
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def installation(tmp_path: Path) -> Path:
    """A copy of the demo installation: config/demo.yaml plus (linked) inputs and an empty landing folder."""
    root = tmp_path / "city"
    (root / "config").mkdir(parents=True)
    shutil.copy(DEMO, root / "config" / "demo.yaml")
    for rel in ("surveys", "expectations", "data/cbs"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(REPO / rel, target_is_directory=True)
    (root / "var" / "demo" / "landing").mkdir(parents=True)
    return root / "config" / "demo.yaml"


def edit(config: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    change(raw)
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return config


def config_error(config: Path | None, environ: dict[str, str] | None = None, **kwargs: Any) -> str:
    """The ConfigError message for this configuration; it must be one line."""
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={} if environ is None else environ, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


# ----------------------------------------------------------------------------- loading
def test_demo_config_resolves_relative_paths_against_the_repo_root() -> None:
    settings = load_settings(DEMO, environ={}, check_inputs=False)
    assert settings.config_path == DEMO.resolve()
    assert settings.municipality == "GM0363"
    assert settings.municipality_name == "Amsterdam (demostad)"
    assert settings.survey == "wijkmonitor"
    assert settings.feedback_survey == "deelnemersfeedback"
    assert settings.demo is True
    assert set(settings.paths) == set(PATH_KEYS)
    assert settings.path("codebooks") == REPO / "surveys" / "codebooks"
    assert settings.path("indicators") == REPO / "surveys" / "indicators.yaml"
    assert settings.path("population") == REPO / "data" / "cbs" / "kwb_2019_amsterdam_84583NED.csv"
    assert settings.path("landing") == REPO / "var" / "demo" / "landing"
    assert settings.path("dagster_home") == REPO / "var" / "dagster_home"
    assert all(p.is_absolute() for p in settings.paths.values())
    assert settings.warehouse_url == f"sqlite:///{REPO}/var/warehouse.sqlite"
    assert settings.codebook_path == REPO / "surveys" / "codebooks" / "wijkmonitor.yaml"
    assert settings.codebook_path.is_file()
    assert settings.feedback_codebook_path == REPO / "surveys" / "codebooks" / "deelnemersfeedback.yaml"
    assert settings.feedback_codebook_path.is_file()
    assert settings.trim_bounds == (0.3, 3.0)
    assert settings.min_cell == 5


def test_copied_installation_resolves_against_its_own_root_and_passes_the_input_check(tmp_path: Path) -> None:
    config = installation(tmp_path)
    root = config.parent.parent
    settings = load_settings(config, environ={})  # check_inputs=True
    assert settings.path("landing") == root / "var" / "demo" / "landing"
    assert settings.path("codebooks") == root / "surveys" / "codebooks"
    assert settings.warehouse_url == f"sqlite:///{root}/var/warehouse.sqlite"


def test_config_outside_a_config_folder_resolves_against_its_own_folder(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere" / "city.yaml"
    config.parent.mkdir()
    shutil.copy(DEMO, config)
    settings = load_settings(config, environ={}, check_inputs=False)
    assert settings.path("landing") == config.parent / "var" / "demo" / "landing"
    assert settings.warehouse_url == f"sqlite:///{config.parent}/var/warehouse.sqlite"


def test_absolute_and_special_sqlite_urls_are_kept(tmp_path: Path) -> None:
    config = installation(tmp_path)
    for url in (f"sqlite:///{tmp_path}/w.sqlite", "sqlite:///:memory:", "postgresql://u@db.example/wh"):
        settings = load_settings(config, environ={f"{ENV_PREFIX}DATABASE_URL": url})
        assert settings.warehouse_url == url


def test_environment_overrides_win(tmp_path: Path) -> None:
    config = installation(tmp_path)
    landing = tmp_path / "other-landing"
    landing.mkdir()
    env = {
        f"{ENV_PREFIX}DATABASE_URL": "postgresql://monitor@db.example:5432/warehouse",
        f"{ENV_PREFIX}LANDING": str(landing),
        f"{ENV_PREFIX}REPORTS": "out/reports",  # relative: against the installation root
    }
    settings = load_settings(config, environ=env)
    assert settings.warehouse_url == "postgresql://monitor@db.example:5432/warehouse"
    assert settings.path("landing") == landing
    assert settings.path("reports") == config.parent.parent / "out" / "reports"
    # the other paths still come from the file
    assert settings.path("codebooks") == config.parent.parent / "surveys" / "codebooks"


def test_relative_sqlite_url_from_the_environment_follows_the_same_rule(tmp_path: Path) -> None:
    config = installation(tmp_path)
    settings = load_settings(config, environ={f"{ENV_PREFIX}DATABASE_URL": "sqlite:///db/wh.sqlite"})
    assert settings.warehouse_url == f"sqlite:///{config.parent.parent}/db/wh.sqlite"


def test_config_path_from_the_environment_and_os_environ_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = installation(tmp_path)
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.setenv(f"{ENV_PREFIX}CONFIG", str(config))
    monkeypatch.setenv(f"{ENV_PREFIX}DATABASE_URL", "sqlite:////tmp/from-os-environ.sqlite")
    settings = load_settings()
    assert settings.config_path == config.resolve()
    assert settings.warehouse_url == "sqlite:////tmp/from-os-environ.sqlite"


def test_weighting_settings_are_read(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r.update(weighting={"trim_bounds": [0.5, 2], "min_cell": 10}))
    settings = load_settings(config, environ={})
    assert settings.trim_bounds == (0.5, 2.0)
    assert settings.min_cell == 10


# ----------------------------------------------------------------------------- errors
def test_no_configuration_at_all() -> None:
    message = config_error(None, environ={})
    assert "--config" in message and f"{ENV_PREFIX}CONFIG" in message


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    message = config_error(missing)
    assert str(missing) in message and "does not exist" in message


def test_a_folder_is_not_a_config_file(tmp_path: Path) -> None:
    assert "does not exist" in config_error(tmp_path)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("municipality: GM0363\nsurvey: wijkmonitor\npaths:\n  codebooks: a\n   landing: b\n",
                      encoding="utf-8")
    message = config_error(config)
    assert str(config) in message and "invalid YAML" in message
    assert "line 5" in message


def test_unclosed_bracket_is_invalid_yaml(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("municipality: [GM0363\nsurvey: x\n", encoding="utf-8")
    assert "invalid YAML" in config_error(config)


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("municipality_name: 's-Hertogenbosch \xe9\n".encode("latin-1"))
    assert "UTF-8" in config_error(config)


def test_impossible_date_in_config(tmp_path: Path) -> None:
    config = tmp_path / "date.yaml"
    config.write_text("municipality: 2021-02-30\n", encoding="utf-8")
    assert str(config) in config_error(config)


def test_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    config = tmp_path / "list.yaml"
    config.write_text("- municipality\n- survey\n", encoding="utf-8")
    assert "mapping" in config_error(config)


def test_unknown_top_level_key_names_it_and_the_allowed_keys(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r.update(warehouse="sqlite:///x.sqlite"))
    message = config_error(config)
    assert "unknown key(s) warehouse;" in message
    assert "allowed:" in message
    allowed = message.split("allowed:", 1)[1]
    assert all(key in allowed for key in TOP_KEYS)


def test_unknown_key_under_paths(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r["paths"].update(landig="var/landing"))
    message = config_error(config)
    assert "under paths: landig" in message
    assert "landing" in message.split("allowed:", 1)[1]


def test_unknown_key_under_weighting(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r["weighting"].update(trim=1))
    assert "under weighting: trim" in config_error(config)


@pytest.mark.parametrize("section, value", [("paths", ["surveys"]), ("weighting", "strict")])
def test_section_that_is_not_a_mapping(tmp_path: Path, section: str, value: Any) -> None:
    config = edit(installation(tmp_path), lambda r: r.update({section: value}))
    message = config_error(config)
    assert section in message and "mapping" in message


def test_path_that_is_not_text(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r["paths"].update(landing=5))
    assert "paths.landing" in config_error(config)


@pytest.mark.parametrize("key", ["municipality", "survey"])
def test_required_key_missing(tmp_path: Path, key: str) -> None:
    config = edit(installation(tmp_path), lambda r: r.pop(key))
    assert f"`{key}` is required" in config_error(config)


def test_path_not_set(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r["paths"].pop("reports"))
    message = config_error(config)
    assert "paths.reports" in message and f"{ENV_PREFIX}REPORTS" in message


def test_warehouse_url_not_set(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r.pop("warehouse_url"))
    message = config_error(config)
    assert "warehouse_url" in message and f"{ENV_PREFIX}DATABASE_URL" in message


@pytest.mark.parametrize("key", ["landing", "codebooks", "population", "expectations"])
def test_missing_input_names_the_key_the_path_and_the_variable(tmp_path: Path, key: str) -> None:
    config = installation(tmp_path)
    missing = tmp_path / "not-there" / key
    config = edit(config, lambda r: r["paths"].update({key: str(missing)}))
    message = config_error(config)
    assert f"paths.{key}" in message
    assert str(missing) in message
    assert f"{ENV_PREFIX}{key.upper()}" in message
    assert "demo.yaml" in message
    # without the input check the same file loads
    assert load_settings(config, environ={}, check_inputs=False).path(key) == missing


def test_missing_landing_folder_from_the_environment(tmp_path: Path) -> None:
    config = installation(tmp_path)
    missing = tmp_path / "landing-typo"
    message = config_error(config, environ={f"{ENV_PREFIX}LANDING": str(missing)})
    assert "paths.landing" in message and str(missing) in message and f"{ENV_PREFIX}LANDING" in message


def test_optional_inputs_may_be_missing(tmp_path: Path) -> None:
    config = installation(tmp_path)  # no data/geo, no var/demo/feedback
    settings = load_settings(config, environ={})
    assert not settings.path("boundaries").exists()
    assert not settings.path("feedback").exists()
    check_settings(settings)


def test_codebook_of_the_survey_missing(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r.update(survey="buurtpeiling"))
    message = config_error(config)
    assert "'buurtpeiling'" in message and "buurtpeiling.yaml" in message


@pytest.mark.parametrize("bounds", [[1.5, 3.0], [0.3, 0.9], [0, 3], [0.3], [0.3, 3.0, 5.0], "0.3-3", 3,
                                    [0.3, "3"], [0.3, None], [True, 3]])
def test_bad_trim_bounds(tmp_path: Path, bounds: Any) -> None:
    config = edit(installation(tmp_path), lambda r: r["weighting"].update(trim_bounds=bounds))
    message = config_error(config)
    assert "weighting.trim_bounds must be [low < 1, high > 1]" in message
    assert repr(bounds) in message


@pytest.mark.parametrize("min_cell", ["five", -1, 2.5, None])
def test_bad_min_cell(tmp_path: Path, min_cell: Any) -> None:
    config = edit(installation(tmp_path), lambda r: r["weighting"].update(min_cell=min_cell))
    assert "weighting.min_cell" in config_error(config)


# ----------------------------------------------------------------------------- the database
def database_error(url: str) -> str:
    with pytest.raises(ConfigError) as info:
        check_database(url)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_reachable_sqlite_warehouse(tmp_path: Path) -> None:
    check_database(f"sqlite:///{tmp_path}/warehouse.sqlite")


def test_unreachable_database() -> None:
    message = database_error(UNREACHABLE)
    assert message.startswith(f"cannot reach the warehouse at {UNREACHABLE}: ")


def test_unreachable_database_hides_the_password() -> None:
    message = database_error("postgresql://nobody:s3cr3t-pw@127.0.0.1:1/none")
    assert message.startswith("cannot reach the warehouse at postgresql://nobody:***@127.0.0.1:1/none")
    assert "s3cr3t-pw" not in message


def test_sqlite_file_in_a_folder_that_does_not_exist() -> None:
    message = database_error("sqlite:////nonexistent-folder-sq/warehouse.sqlite")
    assert message.startswith("cannot reach the warehouse at sqlite:////nonexistent-folder-sq/warehouse.sqlite")


@pytest.mark.parametrize("url", [
    "not a url",
    "postgres://nobody@127.0.0.1/none",          # not a SQLAlchemy dialect name
    "nosuchdb://nobody@127.0.0.1/none",
    "postgresql://nobody:s3cr3t-pw@127.0.0.1:port/none",  # port left as a placeholder
])
def test_malformed_database_url(url: str) -> None:
    message = database_error(url)
    assert "is not a valid SQLAlchemy URL" in message
    assert "s3cr3t-pw" not in message


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"
    assert "pw" not in redact_url("postgresql://u:pw@h:port/d")


# ----------------------------------------------------------------------------- the command line
def cli_module() -> str:
    """The module behind the `socialquality` command (pyproject [project.scripts])."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    return scripts["socialquality"].split(":", 1)[0]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", cli_module(), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("socialquality: error: ")
    return lines[0]


def test_cli_run_with_a_missing_config(tmp_path: Path) -> None:
    line = assert_one_line_error(run_cli("run", "--config", str(tmp_path / "missing.yaml")))
    assert "missing.yaml does not exist" in line


def test_cli_run_with_an_unknown_key(tmp_path: Path) -> None:
    config = edit(installation(tmp_path), lambda r: r.update(warehose_url="sqlite:///x.sqlite"))
    line = assert_one_line_error(run_cli("run", "--config", str(config)))
    assert "unknown key(s) warehose_url" in line


def test_cli_run_with_an_unreachable_warehouse(tmp_path: Path) -> None:
    config = edit(installation(tmp_path),
                  lambda r: r.update(warehouse_url="postgresql://nobody:s3cr3t-pw@127.0.0.1:1/none"))
    result = run_cli("run", "--config", str(config))
    line = assert_one_line_error(result)
    assert "cannot reach the warehouse at postgresql://nobody:***@127.0.0.1:1/none" in line
    assert "s3cr3t-pw" not in result.stderr + result.stdout
