"""Checks on what the repository ships: AsyncAPI documents, docker-compose.yml, Dockerfiles, docs."""
from __future__ import annotations

import importlib
import re
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


def test_compose_runs_every_service_from_the_one_dockerfile_on_its_port():
    services = compose()["services"]
    for name, (_, port) in SERVICES.items():
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/service.Dockerfile"
        assert service["build"]["args"]["SERVICE"] == name
        # The name build-images.sh tags, so `docker-compose up --no-build` finds what it built.
        assert service["image"] == f"${{IMAGE_PREFIX:-pur}}/{name}:${{IMAGE_TAG:-latest}}"
        assert f"127.0.0.1:${{{name.upper()}_PORT:-{port}}}:{port}" in service["ports"]
        assert service["environment"][f"{name.upper()}_HTTP_PORT"] == str(port)
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in service
    for infra in ("rabbitmq", "postgres", "mail"):
        assert "healthcheck" in services[infra]
        assert services[infra]["image"].startswith(f"${{{infra.upper()}_IMAGE:-"), "overridable image"


def test_the_service_dockerfile_builds_from_wheels_as_a_non_root_user():
    text = (ROOT / "deploy" / "service.Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text and "ARG SERVICE" in text
    assert "pip wheel" in text and "--no-index" in text and " -e " not in text, "wheels, no editable install"
    assert "USER app" in text and "HEALTHCHECK" in text and "/readyz" in (ROOT / "deploy" / "service-entrypoint.sh").read_text()
    assert "type=secret,id=pip_cert,required=false" in text
    assert "/etc/ssl" not in text and "ca-certificates.crt" not in text, "no machine-specific path"
    assert not list(ROOT.glob("services/*/Dockerfile")), "one Dockerfile for the four services"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", "**/.venv", ".run", "test-artifacts", "bench/out", "**/__pycache__"):
        assert entry in ignored, f".dockerignore lacks {entry}"


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


# Split so that this file does not name them itself: it is checked too.
OUTSIDE_DOCUMENTS = ("../" "shared", "DESIGN" ".md", "ONEROSTER" ".md", "STYLE" ".md")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    """What a clone holds: tracked files plus new ones not ignored; without git, every file outside
    .git and .venv."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and not {".git", ".venv"} & set(p.relative_to(ROOT).parts)]
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_nothing_in_the_repository_points_at_documents_a_clone_does_not_have():
    found = []
    for path in repository_files():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue  # images and other binary files
        found += [f"{path.relative_to(ROOT)}:{number}: {name}" for number, line in enumerate(lines, 1)
                  for name in OUTSIDE_DOCUMENTS if name in line]
    assert not found, "point at docs/ instead:\n" + "\n".join(found)


def test_every_event_is_on_the_messages_page_and_every_docs_link_leads_somewhere():
    from pur_contracts import ALL_EVENTS

    messages = (ROOT / "docs" / "messages.md").read_text()
    assert [e.event_name for e in ALL_EVENTS if f"`{e.event_name}`" not in messages] == []
    broken = [f"{page.name}: {target}" for page in sorted((ROOT / "docs").glob("*.md"))
              for target in MARKDOWN_LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]
    assert not broken, broken
