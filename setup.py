"""Optional compiled build. Without PYSRSD_MYPYC=1 this is a pure-Python package (the
metadata is in pyproject.toml). With it, the modules every lookup runs through are compiled
with mypyc into C extensions (the package behaves the same; tests run against both builds):

    PYSRSD_MYPYC=1 pip install --no-build-isolation .

which needs mypy, setuptools and wheel in the environment, a C compiler and the Python headers
(Debian: gcc python3-dev). `pysrsctl --version` says which build is running.
"""

import os
from typing import Any

from setuptools import setup  # type: ignore[import-untyped]

# The lookup path: codecs, policy, engine, hashes, connection bookkeeping. Not srs/guarded.py
# (it extends pysrs's interpreted class) nor service/server.py (it extends asyncio's protocol
# class).
COMPILED = [
    "wire/lookup",
    "wire/tcp_table",
    "wire/socketmap",
    "srs/hashing",
    "srs/engine",
    "policy/tables",
    "policy/refusals",
    "service/hub",
]


def ext_modules() -> list[Any]:
    if os.environ.get("PYSRSD_MYPYC") != "1":
        return []
    from mypyc.build import mypycify

    return mypycify([f"src/pysrsd/{name}.py" for name in COMPILED], opt_level="3")


setup(ext_modules=ext_modules())
