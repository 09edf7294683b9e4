"""SIGHUP → a reload of the runtime, then of what it changed outside the State.

A reload reads the config file again and validates every setting (a few milliseconds of the
event loop, against tens of microseconds for the two files alone). Signals that come closer
together than ``GAP`` seconds are served by one reload, started after the last of them: a
storm of SIGHUPs costs at most one reload per ``GAP``, lookups keep their pace, and every
signal is still followed by a reload that reads the files as they were when it was sent. A
SIGHUP after a quiet spell reloads at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pysrsd.config.settings import Settings
from pysrsd.policy.runtime import Runtime
from pysrsd.service import systemd

GAP = 0.1  # seconds between the start of one reload and the next


class Reloads:
    def __init__(self, runtime: Runtime, apply: Callable[[Settings], None]) -> None:
        self.runtime = runtime
        self.apply = apply  # what the daemon itself does with the new settings
        self._due: asyncio.TimerHandle | None = None
        self._last = float("-inf")  # loop time of the last reload's start

    def signalled(self) -> None:
        """The SIGHUP handler."""
        if self._due is not None:
            return  # a reload is due: it will start after this signal
        loop = asyncio.get_running_loop()
        wait = self._last + GAP - loop.time()
        if wait <= 0:
            self.reload()
        else:
            self._due = loop.call_later(wait, self.reload)

    def reload(self) -> None:
        self._due = None
        self._last = asyncio.get_running_loop().time()
        systemd.notify("RELOADING=1")
        self.runtime.reload("SIGHUP")
        self.apply(self.runtime.settings)
        systemd.notify("READY=1", f"STATUS=serving {self.runtime.settings.domain}")
