"""The man pages: generated from the parsers behind --help, committed, and rendered by man."""

from __future__ import annotations

import argparse
import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from harness import require

from pysrsd import cli, ctl
from pysrsd.ctl.manpage import Page, escape, main, pages, render

ROOT = Path(__file__).resolve().parents[3]
SECTIONS = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "ENVIRONMENT",
    "FILES",
    "SIGNALS",
    "EXIT STATUS",
    "SEE ALSO",
]
PAGES = {page.name: page for page in pages()}


def man(path: Path) -> subprocess.CompletedProcess[str]:
    require("man", "groff")
    env = {**os.environ, "MANWIDTH": "100", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        ["man", "--warnings", "-E", "UTF-8", "-P", "cat", "-l", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("name", ["pysrsd", "pysrsctl"])
def test_committed_page_is_the_generators_output(name: str) -> None:
    committed = (ROOT / "man" / f"{name}.8").read_text()
    assert committed == render(PAGES[name]), "run: python -m pysrsd.ctl.manpage"


def test_check_mode_finds_a_stale_page(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0  # writes both
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "pysrsctl.8").write_text(".TH OLD 8\n")
    assert main(["--check", str(tmp_path)]) == 1


@pytest.mark.parametrize("name", ["pysrsd", "pysrsctl"])
def test_man_renders_the_page_without_warnings(name: str) -> None:
    done = man(ROOT / "man" / f"{name}.8")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    headings = [line for line in done.stdout.splitlines() if line in SECTIONS]
    assert headings == SECTIONS


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string, and the metavar of every positional argument."""
    found = {o for a in parser._actions for o in a.option_strings}
    found |= {str(a.metavar or a.dest) for a in parser._actions if not a.option_strings}
    found -= {"COMMAND", "command"}  # the sub-command slot: each command has its section
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


@pytest.mark.parametrize(
    ("name", "parser"),
    [
        pytest.param("pysrsd", cli._daemon_parser(), id="pysrsd"),
        pytest.param("pysrsctl", ctl.build_parser(), id="pysrsctl"),
    ],
)
def test_every_option_of_the_parser_is_in_the_rendered_page(
    name: str, parser: argparse.ArgumentParser
) -> None:
    page = man(ROOT / "man" / f"{name}.8").stdout
    if name == "pysrsctl":  # its SETTING OPTIONS are described once, in pysrsd(8)
        page += man(ROOT / "man" / "pysrsd.8").stdout
    missing = {option for option in _options(parser) if option not in page}
    assert not missing


def test_every_variable_is_in_the_environment_section() -> None:
    page = man(ROOT / "man" / "pysrsd.8").stdout
    environment = page[page.index("\nENVIRONMENT") : page.index("\nFILES")]
    assert "PYSRSD_SECRETS_FILE" in environment
    assert "PYSRSD_CONFIG" in environment
    assert environment.count("PYSRSD_") >= len(cli.Settings.model_fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("--max-age", "\\-\\-max\\-age", id="hyphens"),
        pytest.param("a\\b", "a\\eb", id="backslash"),
        pytest.param(".hidden", "\\&.hidden", id="control-line"),
        pytest.param("x\n'quote", "x\n\\&'quote", id="control-line-after-newline"),
    ],
)
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_pages_are_installed_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = pyproject["tool"]["setuptools"]["data-files"]["share/man/man8"]
    assert sorted(installed) == ["man/pysrsctl.8", "man/pysrsd.8"]


def test_page_is_independent_of_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    page: Page = PAGES["pysrsctl"]
    monkeypatch.setenv("COLUMNS", "40")
    narrow = render(page)
    monkeypatch.setenv("COLUMNS", "200")
    assert render(page) == narrow
