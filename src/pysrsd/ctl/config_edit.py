"""``pysrsctl setup`` and an existing config file: bring it to what was asked, or refuse.

A config file that is not there is written whole (``layout.config_text``). One that is there
is kept, with the administrator's comments and lines, and gets only the lines it lacks,
appended at its end (``socketmap = [...]`` and ``socketmap-mode`` for ``--socketmap``,
``exclude-file`` for the
host's own domains); a value that contradicts what was asked (another domain, a socketmap
list without our socket, a table header after which an appended key would land in a table)
is never changed: setup stops before anything else, naming the line to write. A file that
needs nothing is left untouched, byte for byte, so a second run changes nothing. The new text
replaces the old by a rename, with the old file's owner and mode.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path

from pysrsd.ctl import layout
from pysrsd.ctl.steps import Step, write_new
from pysrsd.errors import ConfigError

HEADER = "# added by pysrsctl setup"


def config_step(
    path: Path, domain: str, socket: Path | None, exclude: Path | None, tcp: bool = False
) -> Step:
    """The step that makes ``path`` hold ``domain`` (and the socketmap endpoint ``socket``,
    and the exclusion file ``exclude`` when given); with ``tcp``, the config must serve the
    tcp_table ports Postfix is about to be pointed at."""
    if not path.exists():
        text = layout.config_text(domain, socket, exclude)
        return Step(f"write {path} root:root 0644", lambda: write_new(path, text.encode(), 0o644))
    text = path.read_text()
    try:
        found = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"setup: {path} is not valid TOML ({exc}): fix it first") from None
    have = found.get("domain")
    if have is not None and str(have).lower().rstrip(".") != domain.lower().rstrip("."):
        raise ConfigError(
            f"setup: {path} has domain = {found.get('domain')!r}, not {domain!r}: "
            f'write domain = "{domain}" there (or run setup {found.get("domain")})'
        )
    if tcp:
        _check_tcp(path, found)
    lines = [f'domain = "{domain}"'] if have is None else []
    lines += _missing(path, found, socket, exclude)
    if not lines:
        return Step(f"{path} exists, kept (it has what was asked)")
    if any(line.lstrip().startswith("[") for line in text.splitlines()):
        raise ConfigError(
            f"setup: {path} has a [table]: add {' and '.join(lines)} above it, then run setup again"
        )
    added = "".join(f"{line}\n" for line in lines)
    new = text + ("" if text.endswith("\n") or not text else "\n") + f"{HEADER}\n{added}"
    return Step(f"add to {path}: {'; '.join(lines)}", lambda: _replace(path, new))


def _missing(
    path: Path, found: dict[str, object], socket: Path | None, exclude: Path | None
) -> list[str]:
    lines = []
    if socket is not None:
        wanted = f"unix:{socket}"
        have = found.get("socketmap")
        if have is None:
            lines.append(f'socketmap = ["{wanted}"]')
        elif have != wanted and not (isinstance(have, list) and wanted in have):
            raise ConfigError(
                f"setup: {path} has socketmap = {have!r}, without {wanted!r}: "
                f'add "{wanted}" to that line (Postfix will be pointed at it), then run '
                "setup again"
            )
        if "socketmap-mode" not in found:
            lines.append(layout.SOCKETMAP_MODE)
    if exclude is not None and "exclude-file" not in found:
        lines.append(f'exclude-file = "{exclude}"')
    return lines


def _check_tcp(path: Path, found: dict[str, object]) -> None:
    """main.cf is about to name tcp:127.0.0.1:10001 and 10002: the config must serve them."""
    have_listen = found.get("listen", [layout.TCP[0]])
    listen = [have_listen] if isinstance(have_listen, str) else have_listen
    listen = listen if isinstance(listen, list) else []
    wanted = dict(zip(("listen", "forward-port", "reverse-port"), layout.TCP, strict=True))
    for key, value in wanted.items():
        have = found.get(key, value)
        if (key == "listen" and value not in listen) or (key != "listen" and have != value):
            raise ConfigError(
                f"setup: {path} has {key} = {have!r}, but Postfix would be pointed at "
                f"tcp:127.0.0.1:10001 and 10002: make it {key} = {value!r} (or set main.cf's maps "
                "by hand: pysrsctl health probes what main.cf names)"
            )


def configured(path: Path, key: str) -> str | None:
    """The string value of ``key`` in the config file ``path``, if any."""
    try:
        value = tomllib.loads(path.read_text()).get(key)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) else None


def _replace(path: Path, text: str) -> None:
    """``path`` replaced whole by ``text``, keeping its owner and mode."""
    info = path.stat()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
        os.fchmod(fd, info.st_mode & 0o7777)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
