"""The optional compiled build (setup.py, PYSRSD_MYPYC=1) behaves as the pure-Python package.

The lookup-path modules are compiled with mypyc in a scratch copy of the tree; then the tests
of those modules (the oracle comparisons with Mail::SRS and postsrsd included) and the daemon's
black-box tests run again against the compiled copy, in a child pytest whose imports, and whose
daemons' imports, come from it. Needs a C compiler and the Python headers (skipped without
them, a failure under PYSRSD_REQUIRE_SYSTEM=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from harness import require

ROOT = Path(__file__).resolve().parents[2]
# The tests of the compiled modules, and the real daemon answering over sockets.
AGAIN = [
    "tests/unit/srs/test_engine.py",
    "tests/unit/srs/test_engine_oracles.py",
    "tests/unit/srs/test_hashing.py",
    "tests/unit/srs/test_hash_boundaries.py",
    "tests/unit/srs/test_known_answers.py",
    "tests/unit/wire/test_tcp_table.py",
    "tests/unit/wire/test_socketmap.py",
    "tests/unit/wire/test_stream_limits.py",
    "tests/unit/policy/test_tables.py",
    "tests/unit/policy/test_properties_policy.py",
    "tests/integration/test_daemon.py",
]


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("gcc")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    require(str(headers))
    tree = tmp_path_factory.mktemp("compiled")
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tree,
        env={**os.environ, "PYSRSD_MYPYC": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return tree


def test_the_lookup_path_is_compiled(compiled_tree: Path) -> None:
    built = sorted(p.name.split(".")[0] for p in (compiled_tree / "src/pysrsd").rglob("*.so"))
    assert built == sorted(
        ["engine", "hashing", "hub", "lookup", "refusals", "socketmap", "tables", "tcp_table"]
    )
    version = subprocess.run(
        [sys.executable, "-m", "pysrsd", "--version"],
        env={**os.environ, "PYTHONPATH": str(compiled_tree / "src")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout == "pysrsd 1.0.0 (mypyc)\n"


def test_the_compiled_build_passes_the_same_tests(compiled_tree: Path) -> None:
    src = str(compiled_tree / "src")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*argv, "-o", f"pythonpath={src}", *AGAIN],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": src},  # the daemons the tests start, too
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
