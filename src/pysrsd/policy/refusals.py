"""Refused SRS bounces → info lines an administrator can read, bounded under a flood.

A bounce to one of our SRS addresses that the engine refuses (bad hash, expired day stamp,
malformed, too long) is logged at info as ``refused`` with the reason and the address: that is
forged or stale backscatter, or a secret that was removed too early. At most ``limit`` such
lines are written per ``interval`` seconds; beyond that, refusals are only counted per reason,
and one ``refused_summary`` line with the counts closes the interval (written by the first
refusal after it, or by ``flush``, which housekeeping calls every second). A flood of any size
thus costs at most ``limit + 1`` lines per interval. Ordinary recipients never come here: the
table layer calls ``refused`` only after the engine has looked at an SRS address.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import structlog

from pysrsd.observe.logs import printable

log = structlog.get_logger("pysrsd.lookup")

LIMIT = 10  # individual lines per interval
INTERVAL = 60.0  # seconds


class InfoLogger(Protocol):
    def info(self, event: str, **values: object) -> object: ...


class RefusalLog:
    """Counts and logs refusals; the clock (monotonic seconds) and the logger are injected."""

    def __init__(
        self,
        limit: int = LIMIT,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: InfoLogger = log,
    ) -> None:
        self._log = logger
        self._limit = limit
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._logged = 0
        self._suppressed: Counter[str] = Counter()

    def refused(self, table: str, address: bytes, reason: str) -> None:
        now = self._clock()
        if now - self._start >= self._interval:
            self._next_interval(now)
        if self._logged < self._limit:
            self._logged += 1
            self._log.info("refused", table=table, address=printable(address), reason=reason)
        else:
            self._suppressed[reason] += 1

    def flush(self) -> None:
        """Close the interval if it is over, so a summary does not wait for a refusal."""
        now = self._clock()
        if now - self._start >= self._interval:
            self._next_interval(now)

    def _next_interval(self, now: float) -> None:
        if self._suppressed:
            self._log.info(
                "refused_summary",
                not_logged=sum(self._suppressed.values()),
                seconds=round(now - self._start),
                reasons=dict(self._suppressed.most_common()),
            )
            self._suppressed.clear()
        self._start, self._logged = now, 0
