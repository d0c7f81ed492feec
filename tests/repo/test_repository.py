"""Checks on what the repository ships: AsyncAPI documents, docker-compose.yml, Dockerfiles."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"requests": ("requests_service", 8000), "settings": ("settings_service", 8001),
            "digest": ("digest_service", 8002), "sis_sync": ("sis_sync_service", 8003)}
SHARED_ENV = {"JWT_SECRET"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_asyncapi_documents_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_asyncapi.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_service_from_its_dockerfile_on_its_port():
    services = compose()["services"]
    for name, (_, port) in SERVICES.items():
        service = services[name]
        dockerfile = ROOT / service["build"]["dockerfile"]
        assert dockerfile.exists(), dockerfile
        text = dockerfile.read_text()
        assert "USER " in text and "HEALTHCHECK" in text, f"{dockerfile}: non-root user and healthcheck"
        assert f"{port}:{port}" in service["ports"]
        assert service["environment"][f"{name.upper()}_HTTP_PORT"] == str(port)
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in service
    for infra in ("rabbitmq", "postgres", "mailpit"):
        assert "healthcheck" in services[infra]


def test_every_environment_variable_in_compose_is_a_real_setting():
    services = compose()["services"]
    for name, (package, _) in SERVICES.items():
        fields = set(importlib.import_module(f"{package}.config").Settings.model_fields)
        prefix = f"{name.upper()}_"
        for variable in services[name]["environment"]:
            if variable in SHARED_ENV:
                continue
            assert variable.startswith(prefix), f"{name}: {variable} lacks the {prefix} prefix"
            assert variable[len(prefix):].lower() in fields, f"{name}: {variable} is not a setting"


def test_compose_creates_one_database_per_service():
    init = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    for name in SERVICES:
        assert f"CREATE DATABASE pur_{name};" in init
        url = compose()["services"][name]["environment"][f"{name.upper()}_DATABASE_URL"]
        assert url.endswith(f"/pur_{name}")
