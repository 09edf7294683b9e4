"""Shared fixtures. This directory is on sys.path (pytest's rootdir-relative conftest import),
so tests import helper modules such as ``oracles`` directly."""

from __future__ import annotations

import pytest
from oracles import require_oracles


@pytest.fixture(scope="session")
def oracle_programs() -> None:
    """Debian's ``srs``, ``postsrsd`` and ``faketime`` are installed: skip if not, or fail when
    PYSRSD_REQUIRE_SYSTEM=1 (CI)."""
    require_oracles()
