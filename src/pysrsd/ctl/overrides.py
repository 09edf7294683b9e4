"""Variables that override the config file where the service starts, as ``setup`` checks them.

The daemon takes ``PYSRSD_*`` variables over ``/etc/pysrsd/pysrsd.toml``. Two places set them
for the service: the daemontools service's ``env/`` directory (envdir: one file per variable,
its first line the value, an empty file unsets it) and ``/etc/default/pysrsd`` (systemd's
``EnvironmentFile=``: ``NAME=VALUE`` lines, the value optionally quoted). ``setup`` points
Postfix at the listeners it writes into the config file; a listener variable in either place
that says otherwise would leave Postfix asking where nothing answers, so ``setup`` stops first,
naming the file.
"""

from __future__ import annotations

from pathlib import Path

from pysrsd.ctl import layout
from pysrsd.errors import ConfigError

ENVDIR = layout.SERVICE_DIR / "env"
DEFAULTS = Path("/etc/default/pysrsd")
LISTENERS = ("PYSRSD_LISTEN", "PYSRSD_FORWARD_PORT", "PYSRSD_REVERSE_PORT", "PYSRSD_SOCKETMAP")


def read(envdir: Path = ENVDIR, defaults: Path = DEFAULTS) -> list[tuple[str, str, Path]]:
    """The listener variables set in ``defaults`` and ``envdir``: (name, value, file) each
    (the systemd service reads one, the daemontools service the other: both count)."""
    found: list[tuple[str, str, Path]] = []
    try:
        lines = defaults.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        name, equals, value = line.strip().partition("=")
        if equals and name.strip() in LISTENERS:
            found.append((name.strip(), _unquote(value.strip()), defaults))
    for name in LISTENERS:
        path = envdir / name
        try:
            first = path.read_text(errors="replace").partition("\n")[0].rstrip(" \t")
        except OSError:
            continue
        if first:
            found.append((name, first.replace("\0", "\n"), path))
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_HOST = layout.TCP[0]
_PORTS = {"PYSRSD_FORWARD_PORT": str(layout.TCP[1]), "PYSRSD_REVERSE_PORT": str(layout.TCP[2])}


def _problem(name: str, value: str, tcp: bool, socket: Path | None) -> str | None:
    """What is wrong with ``name=value`` for the listeners Postfix will be pointed at."""
    if tcp and name == "PYSRSD_LISTEN" and _HOST not in _items(value):
        return f"without {_HOST}"
    if tcp and name in _PORTS and value.strip() != _PORTS[name]:
        return f"not {_PORTS[name]}"
    if socket is not None and name == "PYSRSD_SOCKETMAP" and f"unix:{socket}" not in _items(value):
        return f"without 'unix:{socket}'"
    return None


def _items(value: str) -> list[str]:
    """A list setting as the daemon reads it from a variable: commas or spaces between."""
    return value.replace(",", " ").split()


def check(tcp: bool, socket: Path | None, envdir: Path = ENVDIR, defaults: Path = DEFAULTS) -> None:
    """Refuse when a variable would move a listener away from where Postfix will be pointed:
    with ``tcp``, tcp:127.0.0.1:10001 and 10002; with ``socket``, that unix socket."""
    wrong = []
    for name, value, where in read(envdir, defaults):
        problem = _problem(name, value, tcp, socket)
        if problem is not None:
            wrong.append(f"{where} sets {name}={value!r}, {problem}")
    if wrong:
        forward, reverse = layout.maps(False)
        wanted = f"{forward} and {reverse}" if socket is None else f"unix:{socket}"
        raise ConfigError(
            f"setup: {'; '.join(wrong)}: it overrides {layout.CONFIG}, so pysrsd would not "
            f"serve {wanted}, where Postfix is to be pointed. Remove it (settings belong in "
            f"{layout.CONFIG}), or set main.cf's maps by hand"
        )
