"""postsrsd 1.x's settings, as Debian's package starts it, turned into pysrsd's.

Debian's launcher (/usr/share/postsrsd/postsrsd-systemd-launcher, and the init script) sets
defaults, sources /etc/default/postsrsd as a shell script and builds postsrsd's command line
from the variables; ``read_defaults`` does the same (the file must be root's, as for every
config file pysrsd trusts) and ``convert`` maps each variable to the pysrsd setting that does
what postsrsd did with it:

  SRS_DOMAIN (unset: postconf -h mydomain) -d   domain
  SRS_SECRET                               -s   secrets-file, a copy (postsrsd's first line
                                                keeps signing, so old and new addresses verify)
  SRS_EXCLUDE_DOMAINS (split at , ; space) -X   exclude-file, one domain per line
  SRS_SEPARATOR, SRS_HASHLENGTH/HASHMIN    -a -n -N   separator, hash-length, hash-min
  SRS_FORWARD_PORT, SRS_REVERSE_PORT       -f -r      forward-port, reverse-port
  SRS_LISTEN_ADDR                          -l   listen
  RUN_AS                                   -u   user = "pysrsd" (its own account)
  CHROOT                                   -c   none (pysrsd does not chroot)
  SRS_EXTRA_OPTIONS -A, -t N, -p FILE, -4, -6, -D   always-rewrite, idle-timeout, pidfile;
                                                the family of listen; none (never forks)

Values only, apart from running ``sh`` on the defaults file: nothing is written here.
"""

from __future__ import annotations

import getopt
import json
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pysrsd.config.files import read_config
from pysrsd.ctl import layout
from pysrsd.errors import ConfigError

DEFAULTS = Path("/etc/default/postsrsd")
EXCLUDE = layout.ETC / "exclude"
# The launcher's values before it sources the file (SRS_DOMAIN: postconf -h mydomain).
LAUNCHER = {
    "SRS_FORWARD_PORT": "10001",
    "SRS_REVERSE_PORT": "10002",
    "SRS_DOMAIN": "",
    "SRS_SECRET": "/etc/postsrsd.secret",
    "SRS_SEPARATOR": "=",
    "SRS_HASHLENGTH": "4",
    "SRS_HASHMIN": "4",
    "SRS_EXTRA_OPTIONS": "",
    "RUN_AS": "postsrsd",
    "SRS_LISTEN_ADDR": "127.0.0.1",
    "CHROOT": "/var/lib/postsrsd",
    "SRS_EXCLUDE_DOMAINS": "",
}
Value = str | int | bool | date | list[str]


@dataclass(frozen=True)
class Migration:
    """What postsrsd's variables say, in pysrsd's terms."""

    settings: dict[str, Value]  # pysrsd.toml's keys, in the order written
    secret: Path  # postsrsd's secrets file
    exclusions: tuple[str, ...]
    notes: list[str] = field(default_factory=list)  # what pysrsd does not take over


def read_defaults(path: Path) -> dict[str, str]:
    """The variables after the launcher's defaults and ``. path``, as postsrsd got them."""
    text = read_config(path, 1 << 20, "--defaults").decode("utf-8", "surrogateescape")
    prologue = "".join(f"{name}={shlex.quote(value)}\n" for name, value in LAUNCHER.items())
    epilogue = "printf '%s\\0' " + " ".join(f'"{name}=${name}"' for name in LAUNCHER)
    try:
        # sh reads the root-owned file with the launcher's defaults, as the launcher does
        done = subprocess.run(
            ["/bin/sh", "-s"],
            input=f"{prologue}{text}\n{epilogue}\n".encode("utf-8", "surrogateescape"),
            capture_output=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"--defaults: cannot run sh on {path}: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(f"--defaults: sh failed on {path}: {done.stderr.decode().strip()}")
    pairs = (item.split(b"=", 1) for item in done.stdout.split(b"\0") if b"=" in item)
    return {name.decode(): value.decode("utf-8", "surrogateescape") for name, value in pairs}


def convert(variables: Mapping[str, str], mydomain: Callable[[], str | None]) -> Migration:
    """pysrsd's settings for postsrsd's ``variables``; ``mydomain()`` when SRS_DOMAIN is unset."""
    domain = variables["SRS_DOMAIN"].strip() or (mydomain() or "").strip()
    if not domain:
        raise ConfigError("migrate-from: SRS_DOMAIN is not set and postconf -h mydomain is empty")
    exclusions = tuple(_split(variables["SRS_EXCLUDE_DOMAINS"]))
    settings: dict[str, Value] = {"domain": domain.removeprefix(".")}
    settings["secrets-file"] = str(layout.SECRETS)
    if exclusions:
        settings["exclude-file"] = str(EXCLUDE)
    settings["user"] = layout.ACCOUNT
    settings["listen"] = [variables["SRS_LISTEN_ADDR"]]
    for key, name in (("forward-port", "SRS_FORWARD_PORT"), ("reverse-port", "SRS_REVERSE_PORT")):
        settings[key] = _number(variables, name)
    settings["separator"] = variables["SRS_SEPARATOR"]
    settings["hash-length"] = _number(variables, "SRS_HASHLENGTH")
    settings["hash-min"] = _number(variables, "SRS_HASHMIN")
    notes = [
        f"RUN_AS={variables['RUN_AS']}: pysrsd serves as its own account, {layout.ACCOUNT}",
        f"CHROOT={variables['CHROOT']}: pysrsd does not chroot (its systemd unit sandboxes it)",
        "postsrsd reverses SRS addresses of any domain, pysrsd only those at its domain: "
        "add reverse-any-domain = true if bounces reach you at another SRS domain",
    ]
    notes += _extra_options(variables["SRS_EXTRA_OPTIONS"], settings)
    return Migration(settings, Path(variables["SRS_SECRET"]), exclusions, notes)


def _split(text: str) -> list[str]:
    """postsrsd splits SRS_EXCLUDE_DOMAINS at commas, semicolons, spaces and tabs."""
    for sep in ",;\t":
        text = text.replace(sep, " ")
    return text.split()


def _number(variables: Mapping[str, str], name: str) -> int:
    try:
        return int(variables[name])
    except ValueError:
        raise ConfigError(f"migrate-from: {name}={variables[name]!r} is not a number") from None


def _extra_options(text: str, settings: dict[str, Value]) -> list[str]:
    """SRS_EXTRA_OPTIONS into ``settings``; notes for what needs no setting. An option that
    pysrsd cannot take over stops the migration rather than be dropped silently."""
    try:
        options, rest = getopt.getopt(shlex.split(text), "46ADp:t:")
    except (getopt.GetoptError, ValueError) as exc:
        raise ConfigError(f"migrate-from: SRS_EXTRA_OPTIONS={text!r}: {exc}") from None
    if rest:
        raise ConfigError(f"migrate-from: SRS_EXTRA_OPTIONS: unexpected {' '.join(rest)!r}")
    notes = []
    for option, value in options:
        if option == "-A":
            settings["always-rewrite"] = True
        elif option == "-t":
            settings["idle-timeout"] = _number({"-t": value}, "-t")
        elif option == "-p":
            settings["pidfile"] = value
        elif option == "-D":
            notes.append("-D: pysrsd never forks; its supervisor keeps it running")
        else:
            notes.append(f"{option}: the address family follows listen")
    return notes


def render(settings: Mapping[str, Value]) -> str:
    """TOML lines for a flat table of strings, numbers, booleans, dates and string lists."""
    return "".join(f"{key} = {_value(value)}\n" for key, value in settings.items())


def _value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | int):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
