"""structlog set-up: one event per line on stderr, ``key=value`` (default) or JSON.

Under systemd, when stderr is the journal, each line starts with a ``<N>`` syslog priority
prefix (sd-daemon(3)) so that journalctl shows levels. Nothing here ever formats a secret:
callers log fingerprints only.

``configure`` may be called again (a reload changes the level or the format): loggers that
structlog has already cached keep one wrapper class, one processor list and one writer, and
``configure`` changes those in place, so every logger follows.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import structlog

_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  # structlog's map_method_name
_UTC = datetime.UTC
_KV_FIRST = ("ts", "level", "event")


_second: list[object] = [None, ""]  # the last second seen and its "YYYY-MM-DDTHH:MM:SS"


def _now_iso() -> str:
    """``datetime.now(UTC).isoformat()`` with ``Z`` for ``+00:00`` (TimeStamper's format: no
    fraction when the microsecond is 0), with the date and time part made once per second."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    if seconds != _second[0]:
        moment = datetime.datetime.fromtimestamp(seconds, _UTC)
        _second[:] = [seconds, moment.isoformat(timespec="seconds")[:19]]
    micros = nanos // 1000
    return f"{_second[1]}.{micros:06d}Z" if micros else f"{_second[1]}Z"


def _stamp(logger: Any, method: str, event_dict: Any) -> Any:
    """``add_log_level``, ``TimeStamper(fmt="iso", utc=True, key="ts")`` and
    ``format_exc_info`` in one processor call: every rewrite is logged at info, so the chain
    runs once per lookup. Same keys, same values, same insertion order as the three."""
    event_dict["level"] = _LEVEL_NAMES.get(method, method)
    event_dict["ts"] = _now_iso()
    if "exc_info" in event_dict:
        return structlog.processors.format_exc_info(logger, method, event_dict)
    return event_dict


def _render_kv(_logger: Any, _method: str, event_dict: Any) -> str:
    """``KeyValueRenderer(key_order=["ts", "level", "event"], drop_missing=True)``."""
    parts = []
    for key in _KV_FIRST:
        value = event_dict.pop(key, None)
        if value is not None:
            parts.append(key + "=" + repr(value))
    parts += [key + "=" + repr(value) for key, value in event_dict.items()]
    return " ".join(parts)


def _journal_prefix(_logger: Any, method: str, event: str) -> str:
    return f"<{_PRIORITY.get(method, 6)}>{event}"


class TurnWriter:
    """The structlog logger: info and debug lines logged during one turn of the event loop go
    out in one ``write(2)`` at the start of the next turn (a rewrite is logged per lookup, and
    a write per line cost as much as answering the lookup). Warnings and above, and anything
    logged outside a running loop, are written at once, after what is pending, so order is
    kept. At most one turn of info lines (and never more than ``MAX_PENDING``) can be lost if
    the process is killed outright; at exit the rest is flushed."""

    MAX_PENDING = 256

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.pending: list[str] = []  # lines, with their LF

    def __call__(self, *_args: object) -> TurnWriter:  # structlog's logger_factory
        return self

    def _deferred(self, message: str) -> None:
        self.line(message + "\n")

    def line(self, line: str) -> None:
        """Write ``line`` (with its LF) at the next turn, as an info or debug line."""
        pending = self.pending
        if not pending:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: nobody would flush later
                self._stream.write(line)
                self._stream.flush()
                return
        pending.append(line)
        if len(pending) >= self.MAX_PENDING:
            self.flush()

    def write_to(self, stream: TextIO) -> None:
        """Send what follows to ``stream`` (what is pending goes where it was meant to)."""
        self.flush()
        self._stream = stream

    def _now(self, message: str) -> None:
        self.pending.append(message + "\n")
        self.flush()

    def flush(self) -> None:
        if self.pending:
            data = "".join(self.pending)
            self.pending.clear()
            self._stream.write(data)  # one call: lines of several writers never interleave
            self._stream.flush()

    debug = info = msg = _deferred
    warning = warn = error = err = critical = exception = failure = fatal = _now


class _Logger(structlog.BoundLoggerBase):
    """The wrapper class of every logger; ``_set_level`` gives it the level methods of
    structlog's filtering logger for the level asked for (the disabled ones do nothing)."""


def _set_level(level: int) -> None:
    methods = vars(structlog.make_filtering_bound_logger(level))
    for name, method in methods.items():
        if not name.startswith("__"):
            setattr(_Logger, name, method)


_writer: TurnWriter | None = None
_processors: list[Any] = []  # the chain every logger holds: changed in place
# Whether debug events are wanted: callers on the per-lookup path check it before building
# the event's values (a disabled structlog call still costs its arguments, ~1.3 us).
debug_enabled = False


@atexit.register
def flush() -> None:
    """Write the lines waiting for the next turn of the event loop now (at exit, on SIGTERM)."""
    if _writer is not None:
        with contextlib.suppress(ValueError, OSError):  # stream closed or gone
            _writer.flush()


# ``pysrsctl health``'s probe address (.invalid: no real mail has it). Its rewrites, forward
# of exactly this address and reverse back to exactly it, are logged at debug as ``probe``, so
# a monitor asking every minute does not fill the log; any other address, one differing in
# case included, is logged as a rewrite: no client can hide a real rewrite as a probe.
PROBE = "pysrsd-health-probe@health.invalid"


def _probe(table: str, address: str, result: str) -> None:
    if debug_enabled:
        structlog.get_logger("pysrsd.lookup").debug(
            "probe", table=table, address=address, result=result
        )


def _rewrite_structlog(table: str, address: str, result: str) -> None:
    if address == PROBE or result == PROBE:
        _probe(table, address, result)
        return
    structlog.get_logger("pysrsd.lookup").info(
        "rewrite", table=table, address=address, result=result
    )


def _rewrite_off(table: str, address: str, result: str) -> None:
    return None


def _rewrite_kv(prefix: str) -> Callable[[str, str, str], None]:
    """The rewrite line in the kv format, without structlog's call chain: the very text
    ``_stamp`` and ``_render_kv`` (and the journal prefix) make, in one %-format, with the
    date and time part of the timestamp made once per second (as ``_now_iso``)."""
    writer = _writer
    assert writer is not None
    pending, first, limit = writer.pending, writer.line, writer.MAX_PENDING
    second: list[object] = [None, ""]  # the last second seen, and the line's head up to it
    clock = time.time_ns

    def rewrite(table: str, address: str, result: str) -> None:
        if address == PROBE or result == PROBE:
            _probe(table, address, result)
            return
        seconds, micros = divmod(clock() // 1000, 1_000_000)
        if seconds != second[0]:
            moment = datetime.datetime.fromtimestamp(seconds, _UTC)
            second[:] = [seconds, f"{prefix}ts='{moment.isoformat(timespec='seconds')[:19]}"]
        line = (_REWRITE if micros else _REWRITE_WHOLE) % (
            second[1],
            micros,
            table,
            address,
            result,
        )
        if not pending:
            first(line)
            return
        pending.append(line)
        if len(pending) >= limit:
            writer.flush()

    return rewrite


_REWRITE = "%s.%06dZ' level='info' event='rewrite' table=%r address=%r result=%r\n"
_REWRITE_WHOLE = "%s%.0sZ' level='info' event='rewrite' table=%r address=%r result=%r\n"


# ``rewrite(table, address, result)``: the info event logged for every rewrite (the one log
# line per lookup), the same line as ``log.info("rewrite", ...)`` would make; set by configure.
rewrite: Callable[[str, str, str], None] = _rewrite_structlog


def configure(
    level: str = "info", fmt: str = "kv", *, journal: bool = False, stream: TextIO | None = None
) -> None:
    renderer: Any = _render_kv
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    processors: list[Any] = [_stamp, renderer]
    if journal:
        processors.append(_journal_prefix)
    global _writer, debug_enabled, rewrite
    debug_enabled = level == "debug"
    if _writer is None:
        _writer = TurnWriter(stream or sys.stderr)
    else:
        _writer.write_to(stream or sys.stderr)
    _processors[:] = processors
    _set_level(logging.getLevelNamesMapping()[level.upper()])
    structlog.configure(
        processors=_processors,
        wrapper_class=_Logger,
        logger_factory=_writer,
        cache_logger_on_first_use=True,
    )
    if level not in ("debug", "info"):
        rewrite = _rewrite_off
    elif fmt == "kv":
        rewrite = _rewrite_kv(f"<{_PRIORITY['info']}>" if journal else "")
    else:
        rewrite = _rewrite_structlog


def printable(data: bytes) -> str:
    """An address for a log line: UTF-8 where it is, escapes elsewhere."""
    return data.decode("utf-8", "backslashreplace")
