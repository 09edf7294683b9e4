"""structlog set-up: one event per line on stderr, ``key=value`` (default) or JSON.

Under systemd, when stderr is the journal, each line starts with a ``<N>`` syslog priority
prefix (sd-daemon(3)) so that journalctl shows levels. Nothing here ever formats a secret:
callers log fingerprints only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}


def _journal_prefix(_logger: Any, method: str, event: str) -> str:
    return f"<{_PRIORITY.get(method, 6)}>{event}"


def configure(
    level: str = "info", fmt: str = "kv", *, journal: bool = False, stream: TextIO | None = None
) -> None:
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.processors.KeyValueRenderer(
            key_order=["ts", "level", "event"], drop_missing=True
        )
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.format_exc_info,
        renderer,
    ]
    if journal:
        processors.append(_journal_prefix)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )


def printable(data: bytes) -> str:
    """An address for a log line: UTF-8 where it is, escapes elsewhere."""
    return data.decode("utf-8", "backslashreplace")
