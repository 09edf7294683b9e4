"""The project's own documentation: the settings reference is complete, the licence and the
changelog agree with pyproject, and nothing points to a document outside the repository."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from pysrsd.config_errors import flag, variable
from pysrsd.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_settings_reference_documents_every_setting(name: str) -> None:
    reference = (ROOT / "docs" / "settings.md").read_text()
    rows = [
        line for line in reference.splitlines() if line[:2] == "| " and f"`{flag(name)}`" in line
    ]
    assert rows, f"no row for {flag(name)}"
    assert f"`{variable(name)}`" in rows[0]
    if name != "config":
        assert f"`{name.replace('_', '-')}`" in rows[0]


def test_no_reference_to_a_design_document_outside_the_project() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "DESIGN" + ".md"
    offenders = [
        name
        for name in files
        if (ROOT / name).is_file() and outside in (ROOT / name).read_text(errors="replace")
    ]
    assert offenders == []


def test_licence_file_is_the_licence_pyproject_declares() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the pysrsd authors\n")


def test_changelog_has_the_released_version_and_an_unreleased_section() -> None:
    headings = [
        line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line[:3] == "## "
    ]
    assert headings[0] == "## [Unreleased]"
    assert f"## [{PYPROJECT['project']['version']}]" in headings
