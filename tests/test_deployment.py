"""The deployment files: compose files valid against the Compose Specification's schema
(no Docker daemon needed), and the Dockerfile and Procfiles saying what the README says."""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.cli.main import app
from bot.config import Settings
from bot.store.db import parse_url
from tests.conftest import PROJECT_ROOT

SCHEMA = json.loads(
    (PROJECT_ROOT / "deploy" / "compose-spec" / "compose-spec.json").read_text(encoding="utf-8")
)
COMPOSE_FILES = [PROJECT_ROOT / "compose.yaml", PROJECT_ROOT / "deploy" / "compose.sqlite.yaml"]
SETTINGS = {name.upper() for name in Settings.model_fields}
COMMANDS = {command.name for command in app.registered_commands} | {
    group.name for group in app.registered_groups
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_follow_the_compose_specification(path: Path) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(_load(path))


def test_the_schema_check_catches_mistakes() -> None:
    broken = _load(PROJECT_ROOT / "compose.yaml")
    broken["services"]["web"]["healthcheck"]["retries"] = "three"
    broken["services"]["web"]["depends_on"]["postgres"]["condition"] = "whenever"
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))
    assert len(errors) >= 1


def _agentdesk_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [""])[0] == "agentdesk"
    }


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_runs_real_commands_with_real_settings(path: Path) -> None:
    for name, service in _agentdesk_services(_load(path)).items():
        assert service["command"][1] in COMMANDS, name
        unknown = set(service.get("environment", {})) - SETTINGS
        assert unknown == set(), f"{name} sets variables agentdesk does not read: {unknown}"
        url = (
            service["environment"]["DATABASE_URL"]
            .replace("${POSTGRES_PASSWORD:-", "")
            .replace("}", "")
        )
        parse_url(url.replace("/app/data/", "/tmp/"))  # a URL agentdesk accepts


def test_postgresql_compose_has_web_one_scheduler_and_a_migration_first() -> None:
    compose = _load(PROJECT_ROOT / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "web", "scheduler"}
    schedulers = [s for s in services.values() if s.get("command", [""])[-1] == "scheduler"]
    assert len(schedulers) == 1 and schedulers[0]["deploy"]["replicas"] == 1
    assert services["web"]["environment"]["SCHEDULER_IN_PROCESS"] == "false"
    assert services["migrate"]["command"] == ["agentdesk", "db", "upgrade"]
    for name in ("web", "scheduler"):
        after = services[name]["depends_on"]
        assert after["postgres"]["condition"] == "service_healthy"
        assert after["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in ("migrate", "scheduler"):  # no HTTP server to probe there
        assert services[name]["healthcheck"] == {"disable": True}


def test_sqlite_compose_is_one_process_with_the_scheduler_inside() -> None:
    compose = _load(PROJECT_ROOT / "deploy" / "compose.sqlite.yaml")
    (service,) = compose["services"].values()
    assert service["environment"]["SCHEDULER_IN_PROCESS"] == "true"
    assert service["environment"]["DATABASE_URL"].startswith("sqlite:////app/data/")
    assert "/readyz" in " ".join(service["healthcheck"]["test"])


def test_the_dockerfile_is_small_non_root_and_installs_from_registries_only() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^FROM python:\$\{PYTHON_VERSION\}-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "ARG AGENTDESK_EXTRAS" in dockerfile and "${AGENTDESK_EXTRAS}" in dockerfile
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    installs = re.findall(r"pip install[^\n&]*", dockerfile)
    assert installs
    for install in installs:  # no URLs, VCS links or local wheels: PyPI only
        assert not re.search(r"https?://|git\+|\.whl|--index-url|--extra-index-url", install)
    assert not re.search(r"\b(curl|wget)\b", dockerfile)
    assert "apt-get install -y --no-install-recommends" in dockerfile


@pytest.mark.parametrize(
    ("path", "processes"),
    [
        ("Procfile", {"release", "web", "clock", "implement"}),
        ("deploy/Procfile.sqlite", {"web"}),
    ],
)
def test_procfiles_run_real_commands(path: str, processes: set[str]) -> None:
    lines = (PROJECT_ROOT / path).read_text(encoding="utf-8").splitlines()
    entries = dict(line.split(": ", 1) for line in lines if line.strip())
    assert set(entries) == processes
    for command in entries.values():
        words = command.split()
        assert words[0] == "agentdesk" and words[1] in COMMANDS
