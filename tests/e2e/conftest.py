"""Fixtures for end-to-end mail tests. Starting a forwarder (sink, pysrsd, Postfix) takes about
a second, so the scenarios that do not change the daemon's state share one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postfix_instance import World, world


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    with world() as running:
        yield running
