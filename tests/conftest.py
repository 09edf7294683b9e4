"""Shared fixtures. This directory is on sys.path (pytest's rootdir-relative conftest import),
so tests import helper modules such as ``oracles`` directly."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import host_free_environment
from oracles import require_oracles

import pysrsd.config.settings

# Before any test: no PYSRSD_* setting of the caller's and no /etc/pysrsd/pysrsd.toml, in this
# process and every command a test starts (they inherit the environment).
_ISOLATED = host_free_environment()
os.environ.clear()
os.environ.update(_ISOLATED)


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


_FAKETIME_SHM = re.compile(r"(?:sem\.)?faketime_(?:sem|shm)_(\d+)")


def _remove_stale_faketime_shm() -> None:
    """libfaketime keeps a semaphore and a shared memory object named by the pid of each
    process it runs in, and leaves them behind when that process is killed (postsrsd and other
    oracles are). Once pids wrap around, a process given the same pid finds them and complains
    on stderr. Remove those of processes that no longer exist."""
    for entry in Path("/dev/shm").glob("*faketime_*"):
        match = _FAKETIME_SHM.fullmatch(entry.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                entry.unlink()
        except OSError:
            pass  # alive, another account's


@pytest.fixture(scope="session", autouse=True)
def stale_faketime_shm() -> Iterator[None]:
    _remove_stale_faketime_shm()
    yield
    _remove_stale_faketime_shm()
