"""Interop tests against peers built from source (pfix-srsd, postsrsd 2.4), outside CI.

They run only when ``SRS_PEERS`` names the directory the peers were built into: it holds
``bin/pfix-srsd``, ``bin/postsrsd2`` and the start scripts ``start-pfix-srsd.sh DOMAIN
SECRETS FWD REV [OPTIONS]`` and ``start-postsrsd2.sh DOMAIN SECRETS PORT [MODE [DBURI]]``.
Without it every test here is skipped, whatever ``PYSRSD_REQUIRE_SYSTEM`` says (CI does not
build the peers); with it set, a missing piece is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VARIABLE = "SRS_PEERS"
NEEDED = ("bin/pfix-srsd", "bin/postsrsd2", "start-pfix-srsd.sh", "start-postsrsd2.sh")


@pytest.fixture(scope="session")
def peers() -> Path:
    root = os.environ.get(VARIABLE)
    if not root:
        pytest.skip(
            f"peers not built here: set {VARIABLE}=/work/peers (a directory with "
            f"{', '.join(NEEDED)}) to run the interop tests against pfix-srsd and postsrsd 2.4"
        )
    path = Path(root)
    missing = [name for name in NEEDED if not os.access(path / name, os.X_OK)]
    if missing:
        pytest.fail(f"{VARIABLE}={root}: missing or not executable: {', '.join(missing)}")
    return path
