"""The envelope database's URI as it may be shown, and where its password may live.

Contract:

* ``display(uri)`` is ``uri`` fit for a log line, an error or ``pysrsctl check``: the userinfo
  (``redis://user:password@host``) becomes ``***``, and so does the value of every query
  parameter but a few that carry no credential (``?password=...``, ``?username=...``: redis-py
  takes any of its connection options there), and a fragment. It never fails, whatever the
  text, malformed URIs included (they are shown in the settings' error).
* ``carries_password(uri)``: whether the URI itself holds a password (userinfo or query).
* ``load_password(path)``: the password for the database from a file that is checked like the
  secrets file (a regular file, opened without blocking; ``too_open`` when its group can write
  it or others can read it: root:pysrsd 0640 is the layout). Its first line is the password,
  the trailing CR/LF removed. Neither a config file readable by all (0644) nor the command line
  (``/proc/PID/cmdline``) is a place for a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pysrsd.config.files import read_trusted, too_open
from pysrsd.errors import ConfigError

SETTING = "envelope-database-password-file"
MAX_PASSWORD_FILE = 4096
HIDDEN = "***"
# redis-py's connection options that are never a credential: shown as they are.
_SHOWN = frozenset(
    {
        "db",
        "protocol",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "retry_on_timeout",
        "max_connections",
        "health_check_interval",
        "client_name",
    }
)


def display(uri: str) -> str:
    """``uri`` with every credential replaced by ``***`` (see the module docstring); a
    ``sqlite:`` file name is shown as it is."""
    if uri.startswith("sqlite:"):
        return uri
    scheme, sep, rest = uri.partition("://")
    if not sep:  # malformed (refused by the settings, and said so): hide all the same
        scheme, rest = "", uri
    rest, hash_, _fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    where, slash, path = rest.partition("/")
    if "@" in where:
        where = f"{HIDDEN}@{where.rpartition('@')[2]}"
    shown = f"{scheme}{sep}{where}{slash}{path}"
    if question:
        shown += "?" + "&".join(_parameter(pair) for pair in query.split("&"))
    return shown + (f"#{HIDDEN}" if hash_ else "")


def _parameter(pair: str) -> str:
    name, equals, _value = pair.partition("=")
    return pair if not equals or name.lower() in _SHOWN else f"{name}={HIDDEN}"


def carries_password(uri: str) -> bool:
    """Whether ``uri`` holds a password: in its userinfo, or as a query parameter."""
    rest = uri.partition("://")[2]
    where, _, query = rest.partition("#")[0].partition("?")
    userinfo = where.partition("/")[0].rpartition("@")[0]
    names = {pair.partition("=")[0].lower() for pair in query.split("&")}
    return bool(userinfo.partition(":")[2]) or "password" in names


@dataclass(frozen=True, slots=True)
class Password:
    value: str = field(repr=False)
    too_open: bool  # its group can write it, or others can read it


def load_password(path: Path) -> Password:
    """The password in ``path`` (first line); a ``ConfigError`` naming the setting if the file
    is missing, unreadable, not a regular file, too large, not UTF-8 or empty."""
    data, info = read_trusted(path, MAX_PASSWORD_FILE, SETTING)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        value = line.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{SETTING}: {path} is not UTF-8") from None
    if not value:
        raise ConfigError(f"{SETTING}: {path}: the first line is empty, no password")
    return Password(value, too_open(info))
