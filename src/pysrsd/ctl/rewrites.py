"""``pysrsctl rewrites [--log FILE] [--since TIME] [ADDRESS]``: which addresses were rewritten.

Reads the daemon's own log, the ``rewrite`` lines it writes at info (one per rewrite: table,
address, result), in either format (``key='value'`` or JSON), with or without a journal
priority prefix (``<6>``) or multilog's TAI64N stamp (``@4000...``). Where from: ``--log FILE``
(``-``: standard input); else daemontools' multilog file ``/var/log/pysrsd/current`` if there
is one; else the journal (``journalctl -u pysrsd -o cat``). ADDRESS keeps the lines whose
address or result is it (case-insensitive): what a sender became, or what an SRS address came
back to. ``--since`` keeps lines stamped at or after a UTC time (``2026-12-02`` or
``2026-12-02T18:30``). One line per rewrite on stdout: ``TIME TABLE ADDRESS -> RESULT``.
Exit 0 when some were found, 1 when none, 2 when there is no log to read.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from pysrsd.ctl import layout
from pysrsd.errors import ConfigError

_PREFIX = re.compile(r"^(?:@[0-9a-f]{24} )?(?:<\d>)?")
_FIELD = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)""")


def parse(line: str) -> dict[str, str] | None:
    """The fields of one log line (None if it is not one of the daemon's lines)."""
    line = _PREFIX.sub("", line.rstrip("\n"), count=1)
    if line.startswith("{"):
        try:
            found = json.loads(line)
        except ValueError:
            return None
        return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else None
    fields = {}
    for key, value in _FIELD.findall(line):
        if value[:1] in "'\"":
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return None
        fields[key] = value
    return fields or None


def rewrites(lines: Iterable[str], address: str | None, since: str | None) -> Iterator[str]:
    wanted = address.lower() if address else None
    for line in lines:
        fields = parse(line)
        if not fields or fields.get("event") != "rewrite":
            continue
        if since and fields.get("ts", "") < since:
            continue
        pair = (fields.get("address", ""), fields.get("result", ""))
        if wanted and wanted not in (pair[0].lower(), pair[1].lower()):
            continue
        yield f"{fields.get('ts', '-')} {fields.get('table', '-')} {pair[0]} -> {pair[1]}"


def _source(log: str | None) -> Iterator[str]:
    """The log's lines, read as they come (a journal or a log file may be large)."""
    if log == "-":
        yield from sys.stdin
        return
    path = Path(log) if log else layout.LOG_DIR / "current"
    if log or path.exists():
        try:
            handle = path.open(errors="backslashreplace")
        except OSError as exc:
            raise ConfigError(f"rewrites: cannot read {path}: {exc.strerror}") from None
        with handle:
            yield from handle
        return
    if shutil.which("journalctl") is None:
        raise ConfigError(f"rewrites: no {path} and no journalctl: give --log FILE (or -)")
    command = ["journalctl", "-u", "pysrsd", "-o", "cat", "--no-pager"]
    with subprocess.Popen(  # noqa: S603 -- a fixed command
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as journal:
        assert journal.stdout is not None
        assert journal.stderr is not None
        yield from journal.stdout
        if journal.wait() != 0:
            problem = journal.stderr.read().strip()
            raise ConfigError(f"rewrites: {' '.join(command)}: {problem or 'failed'}")


def run(args: argparse.Namespace) -> int:
    since = args.since.replace(" ", "T") if args.since else None
    found = 0
    try:
        for line in rewrites(_source(args.log), args.address, since):
            print(line)
            found += 1
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (head, less) has seen enough: no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0 if found else 1
