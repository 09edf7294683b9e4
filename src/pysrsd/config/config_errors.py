"""Configuration mistakes → one line naming where the value came from, the key, and a fix.

Every message starts with the source of the value it is about:
  ``--max-age: ...``                           a command-line flag
  ``PYSRSD_MAX_AGE: ...``                      an environment variable (as it is spelt)
  ``/etc/pysrsd/pysrsd.toml:3: max-age: ...``  a key of the config file, with its line
  ``max-age (default 4): ...``                 a default that conflicts with another setting
A near-miss (difflib) is suggested for an unknown key of the config file, for an unknown
``PYSRSD_*`` variable (reported as a warning at start: pydantic-settings would silently ignore
it), and for a required setting that is missing while a similar variable is set.
No I/O except reading the config file again on the error path, for line numbers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

ENV_PREFIX = "PYSRSD_"
# PYSRSD_* variables that are not settings: the test suite's "system tools are required",
# and the benchmarks' own (PYSRSD_BENCH_*).
NOT_SETTINGS = frozenset({"PYSRSD_REQUIRE_SYSTEM"})
NOT_SETTINGS_PREFIX = "PYSRSD_BENCH_"
# Required settings that can also be given as positional arguments (pfix-srsd's form).
POSITIONAL = {"domain": "the first argument", "secrets_file": "the second argument"}
# A key at the start of a line of a flat TOML table, or a [table] header.
_KEY = re.compile(r"""^\s*\[*\s*["']?([A-Za-z0-9_.-]+)["']?\s*[=\]]""")
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def variable(name: str) -> str:
    return ENV_PREFIX + name.upper()


def near_miss(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def key_lines(text: str) -> dict[str, int]:
    """Keys of a flat TOML document (as field names) → the line that sets them."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _KEY.match(line)
        if match:
            lines.setdefault(match.group(1).replace("-", "_"), number)
    return lines


def toml_syntax(path: Path, message: str, text: str) -> str:
    """``tomllib``'s "Invalid value (at line 3, column 9)" → ``PATH:3: not valid TOML: ...``."""
    where = _TOML_WHERE.search(message)
    if where is not None:
        line, problem = where.group(1), f"{message[: where.start()]} (column {where.group(2)})"
    elif message.endswith(" (at end of document)"):  # e.g. an unterminated array
        line, problem = str(max(1, len(text.splitlines()))), message
    else:
        return f"{path}: not valid TOML: {message}"
    return f"{path}:{line}: not valid TOML: {problem}"


def unknown_key(path: Path, line: int | None, key: str, fields: Collection[str]) -> str:
    where = f"{path}:{line}" if line else str(path)
    dashed = [name.replace("_", "-") for name in fields]
    guess = near_miss(key.replace("_", "-"), dashed)
    hint = f"did you mean {guess}?" if guess else "see pysrsd --help for the settings"
    return f"{where}: {key}: unknown setting; {hint}"


def unknown_variables(
    environ: Mapping[str, str], fields: Collection[str]
) -> list[tuple[str, str | None]]:
    """``PYSRSD_*`` variables that name no setting, each with its nearest real variable."""
    known = [name.upper() for name in fields]
    found: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        if upper.startswith(NOT_SETTINGS_PREFIX):
            continue
        if upper.removeprefix(ENV_PREFIX).lower() not in fields:
            guess = near_miss(upper.removeprefix(ENV_PREFIX), known)  # not on the prefix
            found.append((name, ENV_PREFIX + guess if guess else None))
    return found


@dataclass(frozen=True, slots=True)
class Origins:
    """Where the values given to ``Settings`` came from, to name them in an error."""

    cli: Collection[str]  # field names given on the command line
    env: Mapping[str, str]  # field name → the variable as spelt in the environment
    config: Path  # the config file read, or the one that would be read
    lines: Mapping[str, int]  # field name → its line in the config file
    defaults: Mapping[str, object]  # field name → default
    unknown_env: list[tuple[str, str | None]]  # misspelt variables and their near-miss

    def source(self, name: str) -> str:
        if name in self.cli:
            return flag(name)
        if name in self.env:
            return self.env[name]
        if name in self.lines:
            return f"{self.config}:{self.lines[name]}: {name.replace('_', '-')}"
        return f"{name.replace('_', '-')} (default {self.defaults.get(name)})"

    def missing(self, name: str) -> str:
        ways = [flag(name), variable(name), f"{name.replace('_', '-')} in {self.config}"]
        if name in POSITIONAL:
            ways.insert(1, POSITIONAL[name])
        message = f"{flag(name)}: missing; give it as {', '.join(ways[:-1])} or {ways[-1]}"
        for spelt, guess in self.unknown_env:
            if guess == variable(name):
                message += f" ({spelt} is set: did you mean {guess}?)"
        return message


def explain(exc: ValidationError, origins: Origins) -> str:
    """The first validation error, as one line that starts with the value's source."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    if first["type"] == "missing":
        return origins.missing(name)
    message = first["msg"].removeprefix("Value error, ")
    return f"{origins.source(name)}: {message}"
