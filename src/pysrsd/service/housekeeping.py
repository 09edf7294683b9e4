"""Housekeeping, once a second on the event loop: idle connections closed, changed files
reloaded, the summary of a refusal flood that has stopped, expired envelope rows purged.
Whatever fails is logged and the next tick goes on."""

from __future__ import annotations

import asyncio

import structlog

from pysrsd.policy import tables
from pysrsd.service.hub import Hub

log = structlog.get_logger("pysrsd.server")


async def housekeeping(hub: Hub, interval: float = 1.0) -> None:
    """Every ``interval`` s: close idle connections, reload files that changed, purge."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            closed = hub.sweep(loop.time())
            if closed:
                log.debug("idle_closed", connections=closed)
            hub.runtime.check_files()
            tables.REFUSALS.flush()  # the summary of a flood that has stopped
            if hub.runtime.envelopes is not None:
                hub.runtime.envelopes.tick(loop.time())  # purges expired SQLite rows
        except Exception:  # housekeeping must go on whatever happens
            log.exception("housekeeping_failed")
