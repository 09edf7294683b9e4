"""Postfix's configuration through its own ``postconf``: main.cf parameters, master.cf services
and their ``-o`` options, read and edited.

An edit is planned by comparing with what is there: an ``Edit`` names what is missing or
wrong (for ``pysrsctl check``) and the ``postconf`` commands that fix it (``-e`` a parameter,
``-X`` remove one, ``-M`` a service entry, ``-P`` one of its options), exactly as an
administrator would type them; an edit already in place has no command, so planning again after
applying changes nothing. ``Postfix()`` is the system's configuration (or ``$MAIL_CONFIG``,
which postconf honours); ``Postfix(DIR)`` adds ``-c DIR`` to every command.
"""

from __future__ import annotations

import re
import shlex
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pysrsd.ctl.steps import Step, run_checked, system
from pysrsd.errors import ConfigError

_OPTION = re.compile(r"^(\S+/\S+)/(\S+) =(?: (.*))?$")


@dataclass(frozen=True)
class Postfix:
    config_dir: Path | None = None

    def command(self, tool: str, *args: str) -> list[str]:
        where = ["-c", str(self.config_dir)] if self.config_dir is not None else []
        return [tool, *where, *args]

    def available(self) -> bool:
        return shutil.which("postconf") is not None and (self.directory() / "main.cf").exists()

    def directory(self) -> Path:
        if self.config_dir is not None:
            return self.config_dir
        return Path(self._read("-h", "config_directory").strip() or "/etc/postfix")

    def _read(self, *args: str) -> str:
        command = self.command("postconf", *args)
        try:
            result = system(*command)
        except OSError as exc:
            raise ConfigError(f"{shlex.join(command)}: {exc}") from None
        if result.returncode != 0:
            raise ConfigError(f"{shlex.join(command)}: {result.stderr.strip() or 'failed'}")
        return result.stdout

    def get(self, name: str) -> str:
        """The raw main.cf value ($names not expanded); empty if unset and empty by default."""
        return self._read("-h", name).rstrip("\n")

    def explicit(self, name: str) -> bool:
        """Whether main.cf sets ``name`` (rather than leaving it to Postfix's default)."""
        return bool(self._read("-n", name).strip())

    def service(self, key: str) -> tuple[str, ...] | None:
        """The eight master.cf columns of service ``name/type``, or None if there is none."""
        fields = tuple(self._read("-M", key).split()[:8])
        return fields if len(fields) == 8 else None

    def services_with(self, name: str, value: str) -> list[str]:
        """The services (``name/type``) that have the option ``-o name=value``."""
        found = (_OPTION.match(line) for line in self._read("-P").splitlines())
        return [m.group(1) for m in found if m and (m.group(2), m.group(3) or "") == (name, value)]

    def all_options(self) -> list[tuple[str, str, str]]:
        """Every ``-o`` option of master.cf: (service ``name/type``, parameter, value)."""
        found = (_OPTION.match(line) for line in self._read("-P").splitlines())
        return [(m.group(1), m.group(2), m.group(3) or "") for m in found if m]

    def options(self, key: str) -> dict[str, str]:
        """The ``-o name=value`` options of service ``name/type``."""
        found = (_OPTION.match(line) for line in self._read("-P", key).splitlines())
        return {m.group(2): m.group(3) or "" for m in found if m}


@dataclass(frozen=True)
class Service:
    """A master.cf entry of ours; its chroot column follows the stock service ``model``
    (Debian chroots smtpd, cleanup and smtp), or the entry's own if it exists already."""

    name: str
    kind: str
    columns: tuple[str, str, str, str, str]  # private, unpriv, wakeup, maxproc, command
    model: str
    options: tuple[tuple[str, str], ...]
    purpose: str

    @property
    def key(self) -> str:
        return f"{self.name}/{self.kind}"

    def fields(self, chroot: str) -> tuple[str, ...]:
        private, unprivileged, wakeup, maxproc, command = self.columns
        return (self.name, self.kind, private, unprivileged, chroot, wakeup, maxproc, command)


@dataclass(frozen=True)
class Edit:
    """One item of a layout: ``fine`` when it is in place, else ``problem`` and the
    ``commands`` that fix it."""

    fine: str
    problem: str = ""
    commands: tuple[tuple[str, ...], ...] = ()


def parameter(postfix: Postfix, name: str, value: str, why: str) -> Edit:
    found = postfix.get(name)
    if found == value:
        return Edit(f"main.cf: {name} = {value}")
    problem = f"main.cf: {name} = {found or '(empty)'}; {why}"
    return Edit("", problem, (tuple(postfix.command("postconf", "-e", f"{name} = {value}")),))


def removal(postfix: Postfix, name: str, why: str) -> Edit:
    """``name`` back to its default (``postconf -X``)."""
    found = postfix.get(name)
    if found == "":
        return Edit(f"main.cf: {name} is empty")
    return Edit("", f"main.cf: {name} = {found}; {why}", (_remove(postfix, name),))


def _remove(postfix: Postfix, name: str) -> tuple[str, ...]:
    return tuple(postfix.command("postconf", "-X", name))


def service(postfix: Postfix, wanted: Service) -> Edit:
    current = postfix.service(wanted.key)
    chroot = (current or postfix.service(wanted.model) or ("-",) * 8)[4]
    fields = wanted.fields(chroot)
    entry = f"{wanted.key} = {' '.join(fields)}"
    commands = []
    if current != fields:
        commands.append(tuple(postfix.command("postconf", "-M", entry)))
    have = postfix.options(wanted.key) if current == fields else {}
    for name, value in wanted.options:
        if have.get(name) != value:
            option = f"{wanted.key}/{name}={value}"
            commands.append(tuple(postfix.command("postconf", "-P", option)))
    if not commands:
        return Edit(f"master.cf: {wanted.key} ({wanted.purpose})")
    state = "has no" if current is None else "has another"
    if current == fields:
        state = "lacks options of"
    return Edit("", f"master.cf {state} {wanted.key} ({wanted.purpose})", tuple(commands))


def split_maps(value: str) -> list[str]:
    """A list of tables as main.cf writes it (commas or blanks), ``{...}`` kept whole."""
    tables, current, depth = [], "", 0
    for char in value:
        depth += (char == "{") - (char == "}")
        if depth == 0 and (char == "," or char.isspace()):
            if current:
                tables.append(current)
            current = ""
        else:
            current += char
    return [*tables, current] if current else tables


def steps(postfix: Postfix, edits: Iterable[Edit]) -> list[Step]:
    """Setup's steps for ``edits``: main.cf and master.cf backed up before the first change,
    one step per command, then ``postfix check``."""
    plan: list[Step] = []
    for edit in edits:
        if not edit.commands:
            plan.append(Step(edit.fine))
        for command in edit.commands:
            plan.append(Step(shlex.join(command), _runner(list(command))))
    if all(step.action is None for step in plan):
        return plan
    directory = postfix.directory()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backups = [_backup(directory / name, stamp) for name in ("main.cf", "master.cf")]
    check = postfix.command("postfix", "check")
    return [*backups, *plan, Step(shlex.join(check), _runner(check))]


def _runner(command: list[str]) -> Callable[[], None]:
    return lambda: run_checked(command)


def _backup(path: Path, stamp: str) -> Step:
    backup = path.with_name(f"{path.name}.pysrsd-{stamp}")
    for count in range(1, 100):  # another run this second: never over an earlier backup
        if not backup.exists():
            break
        backup = path.with_name(f"{path.name}.pysrsd-{stamp}.{count}")

    def copy() -> None:
        shutil.copy2(path, backup)

    return Step(f"back up {path} to {backup}", copy)
