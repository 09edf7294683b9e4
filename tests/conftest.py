"""Shared fixtures. This directory is on sys.path (pytest's rootdir-relative conftest import),
so tests import helper modules such as ``oracles`` directly."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracles import require_oracles

import pysrsd.config.settings


@pytest.fixture(scope="session")
def oracle_programs() -> None:
    """Debian's ``srs``, ``postsrsd`` and ``faketime`` are installed: skip if not, or fail when
    PYSRSD_REQUIRE_SYSTEM=1 (CI)."""
    require_oracles()


@pytest.fixture
def hermetic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PYSRSD_* from the caller's environment, no /etc/pysrsd/pysrsd.toml."""
    for name in list(os.environ):
        if name.upper().startswith("PYSRSD_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(
        pysrsd.config.settings, "DEFAULT_CONFIG", tmp_path / "absent" / "pysrsd.toml"
    )


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory every account can traverse (pytest's tmp_path is under a 0700
    directory), for tests where the daemon or a check runs as another account."""
    path = Path(tempfile.mkdtemp(prefix="pysrsd-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
